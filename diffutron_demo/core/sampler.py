"""The instrumented sampler: dllm's LLaDA-style masked diffusion loop, one record per step.

Reads top to bottom like the reference (shared/docs/dllm-reference.md §4), with two changes
that keep its decisions and cut its cost: the 256k-vocabulary head, the penalty, the sampling
and the softmax run only on the rows that can be committed this step, and sampling draws one
uniform per row (inverse CDF) instead of a float64 Gumbel tensor over the whole vocabulary:
the same distribution, a different random stream.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterator

import torch

from .models import LoadedModel
from .schedule import transfer_schedule
from ..settings import SamplerSettings
from .strategies import get_strategy
from ..record.trajectory import Trajectory

STOP_STRINGS = ("|USER|>", "<|USER|>", "<s>", "</s>")
END_MARKER = "[/Answer]"
STOP_REPLACEMENT = "\n[/Answer]\n"
TOP_K = 5


@dataclass
class StepRecord:
    step: int
    block: int
    scheduled: int  # the transfer schedule's count for this step (0 for unscheduled strategies)
    quota: int  # what the step could commit: min(scheduled, masks left on the canvas)
    window: tuple[int, int]  # canvas positions the block may commit in: [start, end)
    candidates: list[dict]  # {"pos", "token", "conf", "top": [[token, prob], ...]}, canvas order
    committed: list[int]  # positions committed this step, best first
    overflow: list[dict] = field(default_factory=list)  # commits past the window (quota > candidates)
    forced: list[dict] = field(default_factory=list)  # {"pos", "token", "was", "kind"}: not decisions
    forward_ms: float = 0.0  # encoder + head + logit processing
    step_ms: float = 0.0  # the whole step, stop check included

    def to_dict(self) -> dict:
        return {
            "step": self.step,
            "block": self.block,
            "scheduled": self.scheduled,
            "quota": self.quota,
            "window": list(self.window),
            "candidates": self.candidates,
            "committed": self.committed,
            "overflow": self.overflow,
            "forced": self.forced,
            "forward_ms": round(self.forward_ms, 3),
            "step_ms": round(self.step_ms, 3),
        }


class Run:
    """One generation. Iterate it for the step records; `trajectory()` at any point after."""

    def __init__(
        self,
        lm: LoadedModel,
        prompt_ids: list[int],
        settings: SamplerSettings,
        seed: int = 0,
        *,
        record: bool = True,
        prompt_text: str = "",
        prompt_meta: dict | None = None,
    ):
        if not prompt_ids:
            raise ValueError("The prompt has no tokens.")
        settings.validate()
        self.lm, self.settings, self.seed, self.record = lm, settings, int(seed), record
        self.prompt_ids = list(prompt_ids)
        self.prompt_text = prompt_text
        self.prompt_meta = prompt_meta or {}
        self.strategy = get_strategy(settings.remasking)
        self.generator = torch.Generator(device="cpu").manual_seed(self.seed)
        P, N = len(self.prompt_ids), settings.max_new_tokens
        self.canvas = torch.tensor(self.prompt_ids + [lm.mask_id] * N, device=lm.device).unsqueeze(0)
        # CFG's unconditional pass hides the prompt as it was at the start (dllm's `given`).
        self.given = (self.canvas[0] != lm.mask_id) & (self.canvas[0] != lm.eos_id)
        self.steps: list[StepRecord] = []
        self.step_offset = 0  # a branch numbers its steps from the step it split at
        self.stop_reason = "running"
        self.started = time.perf_counter()
        self.finished = None
        self._prompt_text_len = len(self._decode(self.canvas[0, :P].tolist()))
        # How many more tokens the prompt has than a plain re-encode of its text (user-typed
        # special strings); the stop check's offset-to-index mapping corrects by this.
        self._reencode_delta = P - len(self._encode(self._decode(self.prompt_ids)))
        self._block = -1  # the block whose plan is running
        self._plan: list[int] = []  # that block's per-step counts
        self._plan_pos = 0
        self._pin_edits: list[dict] = []  # a branch's pinned tokens, recorded with its first step

    @classmethod
    def branch(cls, lm: LoadedModel, traj: Trajectory, at_step: int, settings: SamplerSettings | None = None,
               seed: int | None = None, pins: dict[int, int] | None = None) -> "Run":
        """Continue `traj` from the canvas after `at_step` steps, with new settings and/or pinned tokens.

        With the same schedule settings the branch resumes the original block and its plan, so at
        temperature 0 (low_confidence) it reproduces the original run from there, token for token.
        Otherwise the schedule restarts over the masks left. `pins` maps answer positions to token ids.
        """
        settings = settings or SamplerSettings.from_dict(traj.settings)
        if settings.max_new_tokens != traj.answer_len:
            raise ValueError("A branch keeps the canvas: max new tokens can't change.")
        if not 0 <= at_step <= len(traj.steps):
            raise ValueError(f"Branch step must be between 0 and {len(traj.steps)}.")
        run = cls(lm, traj.prompt_ids, settings, traj.seed if seed is None else seed,
                  prompt_text=traj.prompt.get("text", ""),
                  prompt_meta={k: v for k, v in traj.prompt.items() if k != "text"})
        canvas = traj.canvas_at(at_step)
        P = traj.prompt_len
        for pos, token in sorted((pins or {}).items()):
            if not 0 <= pos < traj.answer_len:
                raise ValueError(f"Pinned position {pos} is outside the answer (0..{traj.answer_len - 1}).")
            # Recorded as forced edits of the first step, so a replay of the branch shows the pins.
            run._pin_edits.append({"pos": P + pos, "token": int(token), "was": canvas[P + pos], "kind": "pin"})
            canvas[P + pos] = int(token)
        run.canvas[0] = torch.tensor(canvas, device=run.canvas.device)
        run.step_offset = at_step
        same_schedule = all(traj.settings.get(k) == getattr(settings, k)
                            for k in ("steps", "block_length", "remasking")) and not settings.stochastic_transfer
        if same_schedule and traj.steps and run.strategy.follows_schedule:
            # Resume the block of step `at_step`; at the end, the last step's block with its plan
            # used up, so the branch, like the run, has nothing left to do.
            ref = traj.steps[min(at_step, len(traj.steps) - 1)]
            block = ref["block"]
            first = next(i for i, st in enumerate(traj.steps) if st["block"] == block)
            start, end = ref["window"]
            n_masks = traj.canvas_at(first)[start:end].count(traj.special_ids["mask"])
            run._block, run._plan_pos = block, at_step - first
            run._plan = transfer_schedule(n_masks, settings.steps_per_block)
        return run

    # -- the loop: pending() says what the next step is, advance() runs it -------------------------
    def __iter__(self) -> Iterator[StepRecord]:
        return self

    def __next__(self) -> StepRecord:
        if self.pending() is None:
            raise StopIteration
        t0 = time.perf_counter()
        with torch.inference_mode():
            hidden = self._encode_canvas()
        return self.advance(hidden, encode_ms=(time.perf_counter() - t0) * 1000)

    def run_to_end(self) -> Trajectory:
        for _ in self:
            pass
        return self.trajectory()

    def pending(self) -> tuple[int, int, tuple[int, int]] | None:
        """(block, scheduled count, window) of the next step, or None when the run is over."""
        s, lm = self.settings, self.lm
        P, N, L = len(self.prompt_ids), s.max_new_tokens, s.block_length
        while self.stop_reason == "running":
            if self._plan_pos < len(self._plan):
                window = (P + self._block * L, min(P + (self._block + 1) * L, P + N))
                if not (self.canvas == lm.mask_id).any():
                    self._plan_pos = len(self._plan)  # dllm's early exit: nothing left to fill
                elif not self.strategy.follows_schedule and not (self.canvas[0, : window[1]] == lm.mask_id).any():
                    self._plan_pos = len(self._plan)  # this block (and all left of it) is full
                else:
                    return self._block, self._plan[self._plan_pos], window
                continue
            self._block += 1
            if self._block >= s.num_blocks:
                self.stop_reason = "complete"
                self.finished = time.perf_counter()
                return None
            start, end = P + self._block * L, min(P + (self._block + 1) * L, P + N)
            n_masks = int((self.canvas[0, start:end] == lm.mask_id).sum())
            if self.strategy.follows_schedule:
                self._plan = transfer_schedule(n_masks, s.steps_per_block,
                                               self.generator if s.stochastic_transfer else None)
            else:
                self._plan = [0] * (n_masks + s.steps_per_block)  # an upper bound: each step commits >= 1
            self._plan_pos = 0
        return None

    def model_input(self) -> torch.Tensor:
        """The rows this run's next forward pass needs: the canvas, plus CFG's prompt-masked copy."""
        x = self.canvas
        if self.settings.cfg_scale > 0:
            un = x.clone()
            un[0, self.given] = self.lm.mask_id
            x = torch.cat([x, un], dim=0)
        return x

    def _encode_canvas(self) -> torch.Tensor:
        """Last hidden states [rows, T, H] for model_input()."""
        return self.lm.encode(self.model_input())

    def advance(self, hidden: torch.Tensor, encode_ms: float = 0.0) -> StepRecord:
        """Run the pending step given the encoder's output for model_input(); returns its record.
        `encode_ms` (the encoder's time) is added to the step's recorded model time."""
        block, scheduled, window = self.pending()
        with torch.inference_mode():
            record = self._step(self.step_offset + len(self.steps), block, scheduled, window, hidden)
        record.forward_ms += encode_ms
        record.step_ms += encode_ms
        self.steps.append(record)
        self._plan_pos += 1
        return record

    def _step(self, index: int, block: int, scheduled: int, window: tuple[int, int],
              hidden: torch.Tensor) -> StepRecord:
        lm, s, x = self.lm, self.settings, self.canvas[0]
        t0 = time.perf_counter()
        is_mask = x == lm.mask_id
        # Candidates: every mask left of the window's end, earlier blocks' leftovers included.
        cand = torch.nonzero(is_mask[: window[1]]).flatten()
        logits = self._logits(hidden, cand)
        proposals, conf, probs = self._propose(logits)
        scores = self.strategy.scores(conf, cand, x.numel(), self.generator)
        order = _stable_desc(scores)
        masks_left = int(is_mask.sum())
        quota = min(scheduled, masks_left) if self.strategy.follows_schedule else masks_left
        take = min(self.strategy.count(scores[order], quota, s), len(cand), quota)
        chosen = order[:take]
        commit_pos = cand[chosen]
        commit_tok = proposals[chosen]
        overflow = []
        if self.strategy.follows_schedule and quota > len(cand):
            overflow = self._overflow(quota - len(cand), cand, hidden)
        forward_ms = (time.perf_counter() - t0) * 1000
        x[commit_pos] = commit_tok
        for item in overflow:
            x[item["pos"]] = item["token"]
        committed = commit_pos.tolist() + [o["pos"] for o in overflow]
        forced = self._pin_edits + self._stop_check()
        self._pin_edits = []
        record = StepRecord(
            step=index,
            block=block,
            scheduled=scheduled,
            quota=quota,
            window=window,
            candidates=self._describe(cand, proposals, conf, probs) if self.record else [],
            committed=committed,
            overflow=overflow,
            forced=forced,
            forward_ms=forward_ms,
        )
        if s.early_stop and self.stop_reason == "running" and self._answer_closed():
            self.stop_reason = "end_marker"
            self.finished = time.perf_counter()
        record.step_ms = (time.perf_counter() - t0) * 1000
        return record

    # -- model ------------------------------------------------------------------------------------
    def _logits(self, hidden: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Penalized logits [len(rows), V] for the given canvas rows only, in float32."""
        model = self.lm.model
        out = model.decoder(model.head(hidden[:, rows])).float()
        if self.settings.cfg_scale > 0:
            cond, un = out[0], out[1]
            out = un + (self.settings.cfg_scale + 1) * (cond - un)
        else:
            out = out[0]
        return self._penalize(out)

    def _penalize(self, logits: torch.Tensor) -> torch.Tensor:
        theta = self.settings.repetition_penalty
        if theta == 1.0 or logits.numel() == 0:
            return logits
        # Presence penalty over every distinct id on the canvas but mask and eos (dllm's fork).
        present = torch.unique(self.canvas[0])
        present = present[(present != self.lm.mask_id) & (present != self.lm.eos_id)]
        cols = logits[:, present]
        logits[:, present] = torch.where(cols > 0, cols / theta, cols * theta)
        return logits

    def _propose(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sampled token per row, its confidence (probability under the temperature-free logits),
        and those probabilities."""
        if logits.shape[0] == 0:
            empty = torch.empty(0, device=logits.device)
            return empty.long(), empty, logits
        temperature = self.settings.temperature
        if temperature == 0:
            tokens = logits.argmax(dim=-1)
        else:
            probs = torch.softmax(logits.double() / temperature, dim=-1)
            cdf = probs.cumsum(dim=-1)
            u = torch.rand(logits.shape[0], generator=self.generator, dtype=torch.float64).to(logits.device)
            tokens = torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(1), right=True).squeeze(1)
            tokens = tokens.clamp_max(logits.shape[1] - 1)
        # softmax then gather, as dllm does, so near-ties round the same way and rank the same.
        probs = torch.softmax(logits, dim=-1)
        conf = probs.gather(1, tokens.unsqueeze(1)).squeeze(1)
        return tokens, conf, probs

    def _overflow(self, extra: int, cand: torch.Tensor, hidden: torch.Tensor) -> list[dict]:
        """dllm's top-k over the whole row can reach past the candidates when the quota exceeds
        them; ties among those -inf rows go to the lowest positions. Only masks among them change."""
        x = self.canvas[0]
        outside = torch.ones_like(x, dtype=torch.bool)
        outside[cand] = False
        picked = torch.nonzero(outside).flatten()[:extra]
        picked = picked[x[picked] == self.lm.mask_id]
        if len(picked) == 0:
            return []
        tokens, _, _ = self._propose(self._logits(hidden, picked))
        return [{"pos": int(p), "token": int(t)} for p, t in zip(picked.tolist(), tokens.tolist())]

    # -- the fork's stop check (fixed: it looks at generated positions only) ----------------------
    def _stop_check(self) -> list[dict]:
        x = self.canvas[0]
        text = self._decode(x.tolist())
        hits = [i for i in (text.find(s, self._prompt_text_len) for s in STOP_STRINGS) if i >= 0]
        if not hits:
            return []
        offset = min(hits)
        P, T = len(self.prompt_ids), x.numel()
        prefix = self._encode(text[:offset])
        index = len(prefix) + self._reencode_delta
        if self.lm.bos_id is not None and int(x[0]) == self.lm.bos_id and (not prefix or prefix[0] != self.lm.bos_id):
            index += 1
        index = max(index, P)
        if index >= T:
            return []
        fill = self._encode(STOP_REPLACEMENT)[: T - index]
        new = fill + [self.lm.pad_id] * (T - index - len(fill))
        forced = []
        for offset_in_fill, token in enumerate(new):
            pos = index + offset_in_fill
            was = int(x[pos])
            if was != token:
                forced.append({"pos": pos, "token": token, "was": was, "kind": "stop_string"})
        x[index:] = torch.tensor(new, device=x.device)
        return forced

    def _answer_closed(self) -> bool:
        """The end marker is on the canvas with every position before it filled."""
        x = self.canvas[0].tolist()
        P = len(self.prompt_ids)
        filled = P
        while filled < len(x) and x[filled] != self.lm.mask_id:
            filled += 1
        return END_MARKER in self._decode(x[P:filled])

    def _describe(self, cand, proposals, conf, probs) -> list[dict]:
        if len(cand) == 0:
            return []
        top_probs, top_ids = probs.topk(min(TOP_K, probs.shape[1]), dim=-1)
        rows = zip(cand.tolist(), proposals.tolist(), conf.tolist(), top_ids.tolist(), top_probs.tolist())
        return [
            {"pos": p, "token": t, "conf": c, "top": [[i, q] for i, q in zip(ids, probs)]}
            for p, t, c, ids, probs in rows
        ]

    # -- text -------------------------------------------------------------------------------------
    def _decode(self, ids: list[int]) -> str:
        return self.lm.tokenizer.decode(ids, skip_special_tokens=False)

    def _encode(self, text: str) -> list[int]:
        # Plain encode, as the reference's stop check does (special strings become special ids).
        return list(self.lm.tokenizer(text, add_special_tokens=False)["input_ids"])

    # -- result -----------------------------------------------------------------------------------
    def cancel(self) -> None:
        if self.stop_reason == "running":
            self.stop_reason = "cancelled"
            self.finished = time.perf_counter()

    @property
    def final_ids(self) -> list[int]:
        return self.canvas[0].tolist()

    def reply(self) -> str:
        return decode_reply(self.lm.tokenizer, self.final_ids, len(self.prompt_ids))

    def trajectory(self) -> Trajectory:
        ids = self.final_ids
        seen = set(ids) | set(self.prompt_ids)
        for st in self.steps:
            for c in st.candidates:
                seen.add(c["token"])
                seen.update(t for t, _ in c["top"])
            seen.update(f["was"] for f in st.forced)
        tok = self.lm.tokenizer
        pieces = {int(i): tok.decode([i], skip_special_tokens=False) for i in sorted(seen)}
        end = self.finished or time.perf_counter()
        return Trajectory(
            model={"name": self.lm.name, "device": self.lm.device, "dtype": self.lm.dtype,
                   "context_window": self.lm.context_window},
            settings=self.settings.to_dict(),
            seed=self.seed,
            prompt={"text": self.prompt_text, **self.prompt_meta},
            prompt_ids=list(self.prompt_ids),
            special_ids={"mask": self.lm.mask_id, "pad": self.lm.pad_id, "eos": self.lm.eos_id,
                         "bos": self.lm.bos_id},
            final_ids=ids,
            reply=self.reply(),
            stop_reason=self.stop_reason,
            wall_ms=round((end - self.started) * 1000, 3),
            pieces=pieces,
            steps=[st.to_dict() for st in self.steps],
        )


def decode_reply(tokenizer, ids: list[int], prompt_len: int) -> str:
    """dllm's decode_trim: the generated text before the first eos / [/Answer], specials removed."""
    body = ids[prompt_len:]
    eos = tokenizer.eos_token_id
    if eos in body:
        body = body[: body.index(eos)]
    text = tokenizer.decode(body, skip_special_tokens=True)
    if tokenizer.eos_token and tokenizer.eos_token in text:
        text = text.split(tokenizer.eos_token, 1)[0]
    return text.split(END_MARKER, 1)[0]


def _stable_desc(scores: torch.Tensor) -> torch.Tensor:
    """Indices from high to low score; equal scores keep canvas order (ties go to the lowest position)."""
    return torch.sort(scores, descending=True, stable=True).indices


def generate(lm: LoadedModel, prompt_ids: list[int], settings: SamplerSettings, seed: int = 0, **kw) -> Trajectory:
    """Run to the end and return the trajectory."""
    return Run(lm, prompt_ids, settings, seed, **kw).run_to_end()
