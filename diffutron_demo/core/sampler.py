"""The instrumented sampler: dllm's LLaDA-style masked diffusion loop, one record per step.

`Run.loop` reads top to bottom like the reference (shared/docs/dllm-reference.md §4): for each
block, for each count in its plan, one step. It is a generator that yields the model input it
needs and is sent the encoder's hidden states back, so many runs can share one batched forward
(`drive`); iterating a Run steps it alone. Every decision goes into its Step record: each
candidate's score and rank under the strategy, and the rule that set the count.

The same loop generates an answer after a prompt and fills blanks anywhere in a text (infill,
the fork's `LLaDAGenerator.infill`): the run's Layout says where blocks start, which masks are
candidates, whether eos ids are hidden from attention and whether the stop check runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Generator, Iterator

import torch

from ..record.step import Candidate, Edit, Step
from ..record.trajectory import Trajectory
from ..settings import SamplerSettings
from ..record.branch import blanks_of
from .chat import Prompt, StopCheck, build_prompt, decode_reply
from .layout import Layout
from .batching import ModelInput, encode_group, group_key
from .models import LoadedModel
from .proposals import draft_spread, overflow_rows, penalized_logits, propose
from .schedule import transfer_schedule
from .strategies import Candidates, get_strategy, stable_desc

TOP_K = 5


@dataclass(frozen=True)
class Start:
    """Where the loop begins: block 0 for a new run; a branch resumes a block part-way through its plan."""
    block: int = 0
    index: int = 0  # the first count of that block's plan to run
    plan: tuple[int, ...] | None = None  # that block's plan (None: made from the canvas, as a new block's is)
    step: int = 0  # the number of the first step (a branch numbers on from its split)


class Run:
    """One generation or infill. Iterate it for its Step records; `trajectory()` at any point after.

    Generation: `prompt_ids`, then `settings.max_new_tokens` masks. Infill: `layout` (Layout.infill)
    gives the whole canvas with masks at the blanks, and `prompt_ids` the template's part before
    the answer (empty for raw text). `canvas` (a branch) is where the loop resumes, `pins` the
    edits it records with its first step, `before` a redo's canvas before it masked the blanks."""

    def __init__(self, lm: LoadedModel, prompt_ids: list[int], settings: SamplerSettings, seed: int = 0, *,
                 record: bool = True, prompt_text: str = "", prompt_meta: dict | None = None,
                 canvas: list[int] | None = None, start: Start = Start(), pins: list[Edit] = (),
                 layout: Layout | None = None, before: list[int] | None = None):
        layout = layout or Layout.generation(prompt_ids, settings.max_new_tokens, lm.mask_id)
        if not prompt_ids and not layout.is_infill or not layout.initial:
            raise ValueError("The prompt has no tokens.")
        settings.validate()
        self.lm, self.settings, self.seed, self.record = lm, settings, int(seed), record
        self.prompt_ids, self.prompt_text, self.prompt_meta = list(prompt_ids), prompt_text, prompt_meta or {}
        self.layout, self.before = layout, before
        self.strategy = get_strategy(settings.remasking)
        self.generator = torch.Generator(device="cpu").manual_seed(self.seed)
        self.canvas = torch.tensor(canvas or list(layout.initial), device=lm.device).unsqueeze(0)
        start_ids = torch.tensor(layout.initial, device=lm.device)
        # CFG's unconditional pass hides the given text as it was at the start (dllm's `given`).
        self.given = (start_ids != lm.mask_id) & (start_ids != lm.eos_id)
        # Infill hides the canvas's eos ids from attention, as they were at the start (the fork's infill).
        self.keys = (start_ids != lm.eos_id).long().unsqueeze(0) if layout.is_infill else None
        self.writable = torch.ones_like(start_ids, dtype=torch.bool)  # all but the masks a redo leaves
        self.writable[list(layout.fixed)] = False
        self.stops = None if layout.is_infill else StopCheck(lm.tokenizer, self.prompt_ids, lm.bos_id, lm.pad_id)
        self.num_blocks = layout.num_blocks(settings.block_length)
        self.steps_per_block = layout.steps_per_block(settings.steps, settings.block_length)
        self.start, self.pins = start, list(pins)
        self.steps: list[Step] = []
        self.stop_reason = "running"
        self.started, self.finished = time.perf_counter(), None
        self.loop = self._loop()
        self.pending_input: ModelInput | None = None  # what the loop waits for, between steps
        self._pieces: dict[int, str] = {}

    # -- the loop ---------------------------------------------------------------------------------
    def _loop(self) -> Generator[ModelInput, tuple[torch.Tensor, float], None]:
        """For each block, for each count in its plan: yield the model input, receive (hidden
        states, encoder ms), take one step. Returns when the run is over."""
        first = self.start
        for block in range(first.block, self.num_blocks):
            window = self.window(block)
            resumed = block == first.block and first.plan is not None
            plan = first.plan if resumed else self.plan(window)
            for count in plan[first.index if block == first.block else 0 :]:
                if self.nothing_to_do(window):
                    break
                hidden, encode_ms = yield self.model_input()
                self.steps.append(self._step(block, count, window, hidden, encode_ms))
                if self.stop_reason != "running":
                    return
        self._finish("complete")

    def window(self, block: int) -> tuple[int, int]:
        """Canvas positions [start, end) that block `block` may commit in."""
        return self.layout.window(block, self.settings.block_length)

    def plan(self, window: tuple[int, int]) -> tuple[int, ...]:
        """The block's per-step counts. Unscheduled strategies get an upper bound (each step commits
        at least one) and end when the block is full. Stochastic transfer draws here."""
        s = self.settings
        n_masks = int(self._masks()[window[0] : window[1]].sum())
        if not self.strategy.follows_schedule:
            return (0,) * (n_masks + self.steps_per_block)
        return tuple(transfer_schedule(n_masks, self.steps_per_block, self.generator if s.stochastic_transfer else None))

    def nothing_to_do(self, window: tuple[int, int]) -> bool:
        """dllm's early exit (no mask left anywhere); unscheduled strategies also stop once no
        candidate is left (generation: the block and all left of it are full)."""
        is_mask = self._masks()
        lo = self.layout.candidates_from(window)
        return not is_mask.any() or (not self.strategy.follows_schedule and not is_mask[lo : window[1]].any())

    def _masks(self) -> torch.Tensor:
        """The canvas's masks this run may fill."""
        return (self.canvas[0] == self.lm.mask_id) & self.writable

    def expected_steps(self) -> int:
        """About how many steps the run takes (exact for the scheduled strategies without stochastic transfer)."""
        s = self.settings
        return self.layout.expected_steps(s.steps, s.block_length, self.lm.mask_id)

    def model_input(self) -> ModelInput:
        """The rows this run's next forward pass needs: the canvas, plus CFG's prompt-masked copy."""
        x, keys = self.canvas, self.keys
        if self.settings.cfg_scale > 0:
            un = x.clone()
            un[0, self.given] = self.lm.mask_id
            x = torch.cat([x, un], dim=0)
            keys = None if keys is None else keys.expand(2, -1)
        return ModelInput(x, keys)

    # -- one step ---------------------------------------------------------------------------------
    @torch.inference_mode()
    def _step(self, block: int, count: int, window: tuple[int, int], hidden: torch.Tensor,
              encode_ms: float) -> Step:
        lm, s, x = self.lm, self.settings, self.canvas[0]
        t0 = time.perf_counter()
        is_mask = self._masks()
        # Candidates: the masks left of the window's end (generation: earlier blocks' leftovers
        # included; infill: inside the window only).
        lo = self.layout.candidates_from(window)
        cand = torch.nonzero(is_mask[lo : window[1]]).flatten() + lo
        logits = penalized_logits(lm.model, hidden, cand, s, x, lm.mask_id, lm.eos_id)
        tokens, conf, probs = propose(logits, s.temperature, self.generator)
        masks_left = int(is_mask.sum())
        quota = min(count, masks_left) if self.strategy.follows_schedule else masks_left
        decision = self.strategy.decide(Candidates(conf, cand, x.numel(), self.generator), quota, s)
        order = stable_desc(decision.scores)
        take = min(decision.count, len(cand), quota)
        chosen = order[:take]
        overflow = self._overflow(quota - len(cand), cand, hidden) if self.strategy.follows_schedule else []
        forward_ms = (time.perf_counter() - t0) * 1000
        x[cand[chosen]] = tokens[chosen]
        for edit in overflow:
            x[edit.pos] = edit.token
        forced, self.pins = self.pins + (self._stop_check() if self.stops else []), []
        record = Step(
            step=self.start.step + len(self.steps), block=block, scheduled=count, quota=quota, window=window,
            candidates=self._describe(cand, tokens, conf, decision.scores, order, probs) if self.record else [],
            committed=cand[chosen].tolist() + [o.pos for o in overflow],
            rule={**decision.rule, "by": self.strategy.ranks_by, "committed": take},
            overflow=overflow, forced=forced, forward_ms=round(forward_ms + encode_ms, 3),
        )
        if s.early_stop and self.stops and self.stops.answer_closed(x.tolist(), lm.mask_id):
            self._finish("end_marker")
        record.step_ms = round((time.perf_counter() - t0) * 1000 + encode_ms, 3)  # as the file stores it
        return record

    def _overflow(self, extra: int, cand: torch.Tensor, hidden: torch.Tensor) -> list[Edit]:
        if extra <= 0:
            return []
        picked = overflow_rows(self.canvas[0].masked_fill(~self.writable, -1), cand, extra, self.lm.mask_id)
        if len(picked) == 0:
            return []
        logits = penalized_logits(self.lm.model, hidden, picked, self.settings, self.canvas[0], self.lm.mask_id,
                                  self.lm.eos_id)
        tokens, _, _ = propose(logits, self.settings.temperature, self.generator)
        return [Edit(int(p), int(t)) for p, t in zip(picked.tolist(), tokens.tolist())]

    def _stop_check(self) -> list[Edit]:
        x = self.canvas[0]
        hit = self.stops.overwrite(x.tolist())
        if hit is None:
            return []
        index, new = hit
        old = x[index:].tolist()
        x[index:] = torch.tensor(new, device=x.device)
        return [Edit(index + k, token, was, "stop_string") for k, (token, was) in enumerate(zip(new, old))
                if token != was]

    def _describe(self, cand, tokens, conf, scores, order, probs) -> list[Candidate]:
        if len(cand) == 0:
            return []
        rank = torch.empty_like(order)
        rank[order] = torch.arange(1, len(order) + 1, device=order.device)
        top_probs, top_ids = probs.topk(min(TOP_K, probs.shape[1]), dim=-1)
        entropy, margin, rest = draft_spread(probs, top_probs)
        rows = zip(cand.tolist(), tokens.tolist(), conf.tolist(), scores.tolist(), rank.tolist(), top_ids.tolist(),
                   top_probs.tolist(), entropy.tolist(), margin.tolist(), rest.tolist())
        return [Candidate(p, t, c, sc, r, [[i, q] for i, q in zip(ids, ps)], e, m, o)
                for p, t, c, sc, r, ids, ps, e, m, o in rows]

    # -- the result -------------------------------------------------------------------------------
    def _finish(self, reason: str) -> None:
        self.stop_reason = reason
        self.finished = time.perf_counter()

    def cancel(self) -> None:
        """End the run between steps (safe from another thread: the loop is not touched)."""
        if self.stop_reason == "running":
            self._finish("cancelled")

    def __iter__(self) -> "Run":
        return self

    def __next__(self) -> Step:
        """Step the run on its own: one round of `drive`, one step."""
        next(drive([self]))
        return self.steps[-1]

    def run_to_end(self) -> Trajectory:
        for _ in drive([self]):
            pass
        return self.trajectory()

    @property
    def final_ids(self) -> list[int]:
        return self.canvas[0].tolist()

    def reply(self) -> str:
        """Generation: dllm's trimmed answer. Infill: the filled text (raw), or the answer filled (chat)."""
        return decode_reply(self.lm.tokenizer, self.final_ids, len(self.prompt_ids))

    def pieces(self, ids: set[int]) -> dict[int, str]:
        """Each id's text, decoded once per run (a live view asks for them every frame)."""
        for i in ids - self._pieces.keys():
            self._pieces[i] = self.lm.tokenizer.decode([i], skip_special_tokens=False)
        return {i: self._pieces[i] for i in sorted(ids)}

    def snapshot(self) -> Trajectory:
        """The run so far, cheaply, for a live frame: the steps list is shared and each id is
        decoded when a view first asks for it; no reply yet (see `trajectory()` for the record)."""
        lm = self.lm
        return Trajectory(
            model={"name": lm.name, "device": lm.device, "dtype": lm.dtype, "context_window": lm.context_window},
            settings=self.settings.to_dict(), seed=self.seed, prompt={"text": self.prompt_text, **self.prompt_meta},
            prompt_ids=self.prompt_ids, special_ids={"mask": lm.mask_id, "pad": lm.pad_id, "eos": lm.eos_id,
                                                     "bos": lm.bos_id},
            final_ids=self.final_ids, reply="", stop_reason=self.stop_reason, wall_ms=0.0, pieces=DecodedPieces(self),
            steps=self.steps, mode=self.layout.mode, initial_ids=list(self.layout.initial),
        )

    def trajectory(self) -> Trajectory:
        ids = self.final_ids
        seen = set(ids) | set(self.layout.initial) | set(self.before or ())
        for st in self.steps:
            for c in st.candidates:
                seen.add(c.token)
                seen.update(t for t, _ in c.top)
            seen.update(e.token for e in st.overflow + st.forced)
            seen.update(e.was for e in st.forced if e.was is not None)
        end = self.finished or time.perf_counter()
        lm = self.lm
        return Trajectory(
            model={"name": lm.name, "device": lm.device, "dtype": lm.dtype, "context_window": lm.context_window},
            settings=self.settings.to_dict(), seed=self.seed, prompt={"text": self.prompt_text, **self.prompt_meta},
            prompt_ids=list(self.prompt_ids),
            special_ids={"mask": lm.mask_id, "pad": lm.pad_id, "eos": lm.eos_id, "bos": lm.bos_id},
            final_ids=ids, reply=self.reply(), stop_reason=self.stop_reason,
            wall_ms=round((end - self.started) * 1000, 3), pieces=self.pieces(seen), steps=list(self.steps),
            mode=self.layout.mode, initial_ids=list(self.layout.initial),
            blanks=blanks_of(self.layout.writes(), lm.mask_id, self.before),
        )


class DecodedPieces(dict):
    """A run's token texts, each decoded the first time a view asks for it (a live frame's snapshot)."""

    def __init__(self, run: Run):
        super().__init__()
        self.run = run

    def get(self, token, default=None):
        if token not in self:
            self[token] = self.run.pieces({token})[token]
        return self[token]


def drive(runs: list[Run], batched: bool = False) -> Iterator[list[int]]:
    """Step runs round by round until each is over; yields the indices stepped in each round.

    Batched, runs whose inputs have the same shape share one encoder pass per round (a GPU is
    launch-bound and gains; a CPU is compute-bound and doesn't); with a bucketed encoder, runs of
    different lengths in one bucket share it too, each row's padding hidden by the attention mask.
    Each run is charged its share of a shared pass's time. Unbatched, each run's numbers are
    bit-identical to the run stepped alone. A run cancelled between rounds drops out."""
    inputs = {i: run.pending_input if run.pending_input is not None else _send(run, None)
              for i, run in enumerate(runs)}
    while inputs := {i: x for i, x in inputs.items() if x is not None and runs[i].stop_reason == "running"}:
        groups: dict[tuple, list[int]] = {}
        for i, x in inputs.items():
            groups.setdefault(group_key(runs[i].lm, x) if batched else (i,), []).append(i)
        for group in groups.values():
            t0 = time.perf_counter()
            hidden = encode_group(runs[group[0]].lm, [inputs[i] for i in group])
            share_ms = (time.perf_counter() - t0) * 1000 / sum(inputs[i].shape[0] for i in group)
            for i, h in zip(group, hidden):
                inputs[i] = _send(runs[i], (h, share_ms * h.shape[0]))
        yield [i for group in groups.values() for i in group]


def _send(run: Run, value) -> ModelInput | None:
    """The run's next model input after sending `value` into its loop; None once the loop is over."""
    try:
        run.pending_input = run.loop.send(value)
    except StopIteration:
        run.pending_input = None
    return run.pending_input


def start_run(lm: LoadedModel, question: str, settings: SamplerSettings, seed: int, *,
              history: list[tuple[str, str]] | None = None, raw: bool = False) -> tuple[Run, Prompt]:
    """Build the prompt (dropping old turns to fit the window) and a Run ready to iterate."""
    prompt = build_prompt(lm.tokenizer, question, history=history, raw=raw,
                          max_new_tokens=settings.max_new_tokens, context_window=lm.context_window)
    meta = {"raw": raw, "history_turns": len(prompt.history), "dropped_turns": prompt.dropped_turns}
    return Run(lm, prompt.ids, settings, seed, prompt_text=prompt.text, prompt_meta=meta), prompt


def generate(lm: LoadedModel, prompt_ids: list[int], settings: SamplerSettings, seed: int = 0, **kw) -> Trajectory:
    """Run to the end and return the trajectory."""
    return Run(lm, prompt_ids, settings, seed, **kw).run_to_end()
