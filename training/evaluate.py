"""Held-out masked-token accuracy and loss at fixed masking ratios, against two baselines.

For each held-out pair the answer region (ANSWER_SLOTS positions: answer text, end marker, pads)
gets exactly round(ratio * ANSWER_SLOTS) positions masked, chosen by a seeded generator, so every
model sees the same masks. Scored positions:

- "answer": masked positions holding answer-text tokens (the words; the headline number);
- "region": all masked positions (words, the end marker and the pads).

Baselines: the same architecture with its initial weights (same seed, before any training), and a
unigram model from the training answers (predict the most frequent token; loss = -log of the
add-one-smoothed unigram probability), computed separately for the two position sets.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from diffutron_demo.core.checkpoints import MASK_ID

from .pairs import ANSWER_SLOTS
from .train import collate

RATIOS = (0.15, 0.5, 0.9)


def masks_for(examples, ratio: float, seed: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    k = max(1, round(ratio * ANSWER_SLOTS))
    return [torch.randperm(ANSWER_SLOTS, generator=gen)[:k] for _ in examples]


@torch.no_grad()
def evaluate_model(model, examples, ratio: float, seed: int = 1234, batch_size: int = 64) -> dict:
    model.eval()
    picks = masks_for(examples, ratio, seed)
    sums = {"answer": [0.0, 0, 0], "region": [0.0, 0, 0]}  # loss sum, correct, count
    for start in range(0, len(examples), batch_size):
        index = list(range(start, min(start + batch_size, len(examples))))
        ids, _, content = collate(examples, index)
        masked = torch.zeros_like(content)
        for r, i in enumerate(index):
            masked[r, len(examples[i][0]) + picks[i]] = True
        noised = torch.where(masked, torch.full_like(ids, MASK_ID), ids)
        hidden = model.model(input_ids=noised).last_hidden_state
        logits = model.decoder(model.head(hidden[masked])).float()
        targets = ids[masked]
        ce = F.cross_entropy(logits, targets, reduction="none")
        hit = logits.argmax(-1) == targets
        is_text = content[masked]
        for key, sel in (("answer", is_text), ("region", torch.ones_like(is_text))):
            sums[key][0] += ce[sel].sum().item()
            sums[key][1] += hit[sel].sum().item()
            sums[key][2] += int(sel.sum())
    return _summary(sums)


def _summary(sums: dict) -> dict:
    out = {}
    for key, (loss, correct, count) in sums.items():
        out[key] = {"accuracy": correct / max(count, 1), "loss": loss / max(count, 1), "tokens": count}
    return out


class Unigram:
    def __init__(self, train_examples, vocab_size: int):
        self.vocab_size = vocab_size
        self.counts = {"answer": torch.zeros(vocab_size), "region": torch.zeros(vocab_size)}
        for _, answer, n_text in train_examples:
            a = torch.tensor(answer)
            self.counts["answer"] += torch.bincount(a[:n_text], minlength=vocab_size).float()
            self.counts["region"] += torch.bincount(a, minlength=vocab_size).float()
        self.logp = {k: torch.log((c + 1) / (c.sum() + vocab_size)) for k, c in self.counts.items()}
        self.top = {k: int(c.argmax()) for k, c in self.counts.items()}

    def evaluate(self, examples, ratio: float, seed: int = 1234) -> dict:
        picks = masks_for(examples, ratio, seed)
        sums = {"answer": [0.0, 0, 0], "region": [0.0, 0, 0]}
        for (_, answer, n_text), pick in zip(examples, picks):
            for pos in pick.tolist():
                token = answer[pos]
                keys = ("answer", "region") if pos < n_text else ("region",)
                for key in keys:
                    sums[key][0] += -self.logp[key][token].item()
                    sums[key][1] += int(token == self.top[key])
                    sums[key][2] += 1
        return _summary(sums)


def eval_table(models: dict, unigram: Unigram, examples, seed: int = 1234) -> dict:
    """{ratio: {name: {"answer": {...}, "region": {...}}}} for every model and the unigram baseline."""
    table = {}
    for ratio in RATIOS:
        row = {name: evaluate_model(m, examples, ratio, seed) for name, m in models.items()}
        row["unigram"] = unigram.evaluate(examples, ratio, seed)
        table[str(ratio)] = row
    return table


def format_table(table: dict, names: list[str]) -> str:
    lines = ["| masking ratio | model | answer-token accuracy | answer-token loss | all-masked accuracy | all-masked loss |",
             "|---|---|---|---|---|---|"]
    for ratio, row in table.items():
        for name in names:
            r = row[name]
            lines.append(f"| {ratio} | {name} | {100 * r['answer']['accuracy']:.1f}% | {r['answer']['loss']:.3f} | "
                         f"{100 * r['region']['accuracy']:.1f}% | {r['region']['loss']:.3f} |")
    return "\n".join(lines)


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 50))
