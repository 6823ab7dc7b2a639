"""One command: data, tokenizer, training, evaluation, export.

    python -m training.run                 # ~38 min of training, ~40 min in all on 2 CPU cores
    python -m training.run --resume        # continue from the last checkpoint in .cache/training/
    python -m training.run --minutes 5 --out /tmp/demo-model   # a quick, weaker run

Work files (downloads, unpacked corpora, pairs, tokenizer, checkpoints) go to .cache/training/
(git-ignored). A checkpoint is written every 3 minutes and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m training.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=38.0, help="training time budget (default: %(default)s)")
    p.add_argument("--out", default=str(ROOT / "diffutron_demo" / "demo_model"), help="export folder")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in the work folder")
    p.add_argument("--work", default=str(ROOT / ".cache" / "training"), help="work folder (default: .cache/training)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--eval-pairs", type=int, default=800, help="held-out pairs scored (default: %(default)s)")
    return p.parse_args(argv)


def stage(name: str, t0: float) -> None:
    print(f"\n== {name} (at {(time.monotonic() - t0) / 60:.1f} min)", flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.monotonic()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    os.environ.setdefault("RAYON_NUM_THREADS", "2")
    import torch

    torch.set_num_threads(2)
    from . import evaluate, export, pairs, sources, tokenizer, train

    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    ckpt_dir = work / "checkpoints"
    if not args.resume and (ckpt_dir / "latest.pt").exists():
        print(f"[train] starting over: the old checkpoint in {ckpt_dir} is removed (use --resume to continue it)")
        shutil.rmtree(ckpt_dir)

    stage("1/6 data", t0)
    try:
        docs, provenance = sources.load_corpora(work)
    except sources.SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    train_docs = [d for d in docs if not pairs.is_heldout(d.doc_id)]
    print(f"[data] {provenance['ataturk']['documents']} speeches, {provenance['libreoffice-help']['documents']} "
          f"help pages; {len(train_docs)} documents for training, {len(docs) - len(train_docs)} held out")

    stage("2/6 tokenizer", t0)
    tok_dir = work / "tokenizer"
    if args.resume and (tok_dir / "tokenizer.json").exists():
        tok = tokenizer.load_tokenizer(tok_dir)
        print(f"[tokenizer] reusing {tok_dir}")
    else:
        tok = tokenizer.train_tokenizer(train_docs)
        tok.save_pretrained(tok_dir)
        tok = tokenizer.load_tokenizer(tok_dir)  # exactly what AutoTokenizer gives the app
    tok_info = tokenizer.check_tokenizer(tok)
    print(f"[tokenizer] {tok_info}")

    stage("3/6 question/answer pairs", t0)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # long documents are measured, not fed to the model
    train_pairs, heldout_pairs, pair_stats = pairs.build_pairs(docs, tok)
    pairs.save_jsonl(work / "data" / "train.jsonl", train_pairs)
    pairs.save_jsonl(work / "data" / "heldout.jsonl", heldout_pairs)
    print(f"[pairs] {json.dumps(pair_stats, ensure_ascii=False)}")
    train_examples = [pairs.encode_pair(tok, p) for p in train_pairs]
    rng = random.Random(args.seed)
    eval_pairs = list(heldout_pairs)
    rng.shuffle(eval_pairs)
    eval_pairs = eval_pairs[: args.eval_pairs]
    eval_examples = [pairs.encode_pair(tok, p) for p in eval_pairs]
    longest = max(len(p) for p, _, _ in train_examples) + pairs.ANSWER_SLOTS
    print(f"[pairs] longest training row {longest} tokens; {len(eval_examples)} held-out pairs for evaluation")

    stage("4/6 training", t0)
    cfg = train.TrainConfig(minutes=args.minutes, batch_size=args.batch_size, seed=args.seed)
    try:
        model, summary = train.train(train_examples, len(tok), cfg, ckpt_dir, resume=args.resume)
    except KeyboardInterrupt:
        return 130
    params = train.n_params(model)
    print(f"[train] {summary['steps']} steps, {summary['epochs']} epochs, {summary['train_minutes']} min, {params:,} parameters")

    stage("5/6 evaluation", t0)
    untrained = train.make_model(len(tok), args.seed).eval()
    unigram = evaluate.Unigram(train_examples, len(tok))
    table = evaluate.eval_table({"trained": model, "untrained": untrained}, unigram, eval_examples)
    half = copy.deepcopy(model)
    with torch.no_grad():
        for p in half.parameters():
            p.copy_(p.half().float())
    fp16_acc = evaluate.evaluate_model(half, eval_examples, 0.5)["answer"]["accuracy"]
    fp32_acc = table["0.5"]["trained"]["answer"]["accuracy"]
    keep_fp16 = fp32_acc - fp16_acc <= 0.005  # half a point
    fp16_check = {"fp32_acc": fp32_acc, "fp16_acc": fp16_acc, "kept_fp16": keep_fp16}
    print(evaluate.format_table(table, ["trained", "untrained", "unigram"]))
    print(f"[eval] fp16 check at ratio 0.5: fp32 {100 * fp32_acc:.2f}%, fp16 {100 * fp16_acc:.2f}% -> "
          f"{'fp16' if keep_fp16 else 'fp32'}")

    stage("6/6 export", t0)
    size = export.save_model(model, tok, out, fp16=keep_fp16)
    heldout_rows = export.heldout_sample(heldout_pairs, 100, args.seed)
    generation = export.samples_and_endings(out, heldout_rows)
    for s in generation["samples"]:
        print(f"[sample/{s['settings']}] {s['prompt']} -> {s['reply'][:160]!r} (clean end: {s['ends_cleanly']})")
    print(f"[sample] greedy clean endings: {generation['greedy_clean_endings']}")
    info = {
        "params": params, "size_bytes": size, "tokenizer": tok_info, "training": summary, "eval": table,
        "eval_pairs": len(eval_examples), "unigram_top": unigram.top, "fp16_check": fp16_check,
        "generation": generation,
        "data": {**provenance, "pairs": pair_stats, "heldout_percent": pairs.HELDOUT_PERCENT},
    }
    info["wall_minutes"] = (time.monotonic() - t0) / 60 + 0.5
    export.write_side_files(out, info, heldout_rows)
    export.write_card(out, info)
    size = export.folder_size(out)
    print(f"\n[done] {out} ({size / 1e6:.1f} MB, {params:,} parameters) in {(time.monotonic() - t0) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
