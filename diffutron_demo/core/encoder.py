"""The encoder pass the sampler makes each step: eager, or padded to a few fixed lengths and compiled.

On a GPU one eager forward of the 307M model is launch-bound (~13 ms on an H200 at any length up to
256); compiled with CUDA graphs it is about 1 ms. CUDA graphs need fixed shapes, so a canvas is
right-padded to the next bucket length with an attention mask that hides the padding: the real
positions see exactly the keys they see unpadded, and one graph per (rows, bucket) serves every
canvas length in that bucket. Numerics differ from the eager pass only by matmul shape (in bf16,
this can flip near-ties; the benchmark counts them).

A compile that succeeds can still give wrong numbers, so each graph is checked against the eager
pass on its first use (compile_guard.py) and served only if it agrees; the first use itself is
answered by the eager pass. Graphs are capped (MAX_GRAPHS): shapes past the cap run eagerly.
"""

from __future__ import annotations

import logging
import threading
import time

import torch
import torch.nn.functional as F

from .compile_guard import CHECK_MODES, MAX_GRAPHS, CompileCheckFailed, GraphReport, check_graph

log = logging.getLogger(__name__)

BUCKETS = (64, 128, 192, 256)


class EagerEncoder:
    """model.model(input_ids) -> last hidden states [rows, T, H]."""

    label = "eager"

    def __init__(self, model):
        self.backbone = model.model

    def __call__(self, input_ids: torch.Tensor, lengths: list[int] | None = None,
                 attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if attention_mask is None and lengths is not None:
            attention_mask = _mask(lengths, input_ids.shape[1], input_ids.device)
        return self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


class BucketedEncoder:
    """Pads to a bucket length with an attention mask; optionally torch.compile'd per shape.

    `compile_mode` None pads without compiling (what CPU tests check for parity); "reduce-overhead"
    is CUDA graphs on a GPU. A canvas longer than the last bucket, a compile that fails, a graph
    the check rejects, or a new shape past `max_graphs` runs the eager pass (logged once), so a
    run never breaks, or goes wrong, on the fast path.

    `compile_check`: "off" serves each graph unchecked; "warn" checks each graph on its first use
    and runs its shape eagerly if it disagrees with the eager pass; "strict" turns the whole
    compiled path off at the first disagreement, and warm_up() then raises CompileCheckFailed.
    `compiler` stands in for torch.compile: given the padded forward, it returns the compiled one
    (tests plant wrong ones). `tolerance` overrides the hidden-state tolerance of the dtype.
    """

    def __init__(self, model, pad_id: int, buckets=BUCKETS, compile_mode: str | None = "reduce-overhead",
                 compile_check: str = "warn", max_graphs: int = MAX_GRAPHS, compiler=None,
                 tolerance: float | None = None):
        if compile_check not in CHECK_MODES:
            raise ValueError(f"compile_check is one of {', '.join(CHECK_MODES)}, not {compile_check!r}")
        self.model = model  # its head gives the check's top-1
        self.backbone = model.model
        self.pad_id = int(pad_id)
        self.buckets = tuple(sorted(buckets))
        self.compile_mode = compile_mode
        self.compile_check = compile_check
        self.max_graphs = int(max_graphs)
        self.tolerance = tolerance
        self.first_call_s: dict[tuple[int, int], float] = {}  # (rows, bucket) -> seconds, compile and capture included
        self.graphs: dict[tuple[int, int], GraphReport] = {}  # every compiled shape met, with its check
        self.failed: str | None = None  # a compile raised: every shape runs eager
        self.strict_off: str | None = None  # strict: a graph disagreed, so none is trusted
        self._lock = threading.Lock()  # the app's workers share one set of graphs (and their buffers)
        self._forward = self._padded_forward
        if compile_mode:
            self._forward = (compiler or self._torch_compile)(self._padded_forward)

    def _torch_compile(self, fn):
        import torch._dynamo

        # one graph per (rows, bucket); the default limit of 8 would fall back to eager early
        limit = max(torch._dynamo.config.cache_size_limit, 64, self.max_graphs)
        torch._dynamo.config.cache_size_limit = limit
        return torch.compile(fn, mode=self.compile_mode, dynamic=False)

    @property
    def label(self) -> str:
        if self.failed:
            return "eager (compile failed)"
        if self.strict_off:
            return "eager (strict compile check: a compiled graph disagreed)"
        buckets = "/".join(map(str, self.buckets))
        if not self.compile_mode:
            return f"padded to {buckets}"
        checked = ", unchecked" if self.compile_check == "off" else ", each graph checked against eager"
        return f"compiled ({self.compile_mode}{checked}), buckets {buckets}"

    def verdict_note(self) -> str:
        """For the banner: the graphs the check turned off, in one sentence ("" when none)."""
        # a snapshot, without the lock: a page load must not wait for a compile in progress
        rejected = [r for r in list(self.graphs.values()) if r.verdict == "rejected"]
        if not rejected:
            return ""
        shapes = ", ".join(r.shape for r in rejected)
        if self.strict_off:
            return f"Compiled path off (strict): it disagreed with eager on {shapes} ({rejected[0].reason}); " \
                   "every shape runs eager."
        runs = "that shape runs" if len(rejected) == 1 else "those shapes run"
        return f"Compiled path off for {shapes}: it disagreed with eager on {rejected[0].reason}; {runs} eager."

    def report_lines(self) -> list[str]:
        """One line per graph: verdict, compile / capture / check seconds, memory, uses."""
        return [r.line() for r in list(self.graphs.values())]

    @property
    def _vocab(self) -> int:
        return self.backbone.get_input_embeddings().num_embeddings

    def _padded_forward(self, input_ids, attention_mask):
        return self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def _eager(self, input_ids, lengths=None):
        """`lengths`: each row's real length, or an attention mask [rows, T] (0 hides a key)."""
        mask = lengths if isinstance(lengths, torch.Tensor) or lengths is None else \
            _mask(lengths, input_ids.shape[1], input_ids.device)
        return self.backbone(input_ids=input_ids, attention_mask=mask).last_hidden_state

    def bucket_for(self, length: int) -> int | None:
        return next((b for b in self.buckets if b >= length), None)

    def _pad(self, input_ids, bucket, lengths=None):
        rows, length = input_ids.shape
        if isinstance(lengths, torch.Tensor):  # an attention mask: the padding is hidden too
            mask = F.pad(lengths.long(), (0, bucket - length))
        else:
            mask = _mask(lengths or [length] * rows, bucket, input_ids.device)
        return F.pad(input_ids, (0, bucket - length), value=self.pad_id), mask

    def __call__(self, input_ids: torch.Tensor, lengths: list[int] | None = None,
                 attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """`lengths`: each row's real length when rows of several lengths share the pass (the rest is
        padding, hidden by the mask); None: every row is real up to input_ids' length.
        `attention_mask` [rows, T] says it position by position (an infill hides its eos ids)."""
        if attention_mask is not None:
            lengths = attention_mask  # the checks and the padding below take either
        rows, length = input_ids.shape
        bucket = self.bucket_for(length)
        if bucket is None or self.failed or self.strict_off:
            return self._eager(input_ids, lengths)
        key = (rows, bucket)
        ids, mask = self._pad(input_ids, bucket, lengths)
        if not self.compile_mode:
            t0 = time.perf_counter()
            hidden = self._padded_forward(ids, mask)[:, :length]
            self.first_call_s.setdefault(key, time.perf_counter() - t0)
            return hidden
        try:
            with self._lock:
                report = self.graphs.get(key)
                if report is None:
                    report, hidden = self._first_use(key, input_ids, ids, mask, lengths)
                    if hidden is not None:
                        return hidden
                else:
                    report.uses += 1
                if report.serves_compiled and not self.strict_off:
                    # CUDA graphs reuse their output buffer on the next replay: copy the real rows out.
                    return self._compiled(ids, mask)[:, :length].clone()
        except Exception as exc:  # a backend without a compiler, an unsupported op...
            self.failed = f"{type(exc).__name__}: {exc}"
            if key in self.graphs:
                self.graphs[key].verdict = "failed"
            log.warning("compiled encoder failed, using the eager pass from now on: %s", self.failed)
        return self._eager(input_ids, lengths)

    def run_graph(self, input_ids: torch.Tensor) -> torch.Tensor:
        """The compiled graph of this input's shape whatever its verdict, for the benchmark to time.
        Only a shape already compiled: this never adds a graph."""
        rows, length = input_ids.shape
        bucket = self.bucket_for(length)
        ids, mask = self._pad(input_ids, bucket)
        with self._lock:
            report = self.graphs.get((rows, bucket))
            if report is None or report.verdict in ("over cap", "failed"):
                raise KeyError(f"no compiled graph for rows {rows} x bucket {bucket}")
            return self._compiled(ids, mask)[:, :length].clone()

    def length_in(self, bucket: int) -> int:
        """A canvas length that pads to `bucket` with some padding: 3/4 of it, past the bucket below."""
        below = max((b for b in self.buckets if b < bucket), default=0)
        return max(below + 1, bucket - bucket // 4)

    def _compiled(self, ids, mask):
        if ids.is_cuda:
            torch.compiler.cudagraph_mark_step_begin()
        return self._forward(ids, mask)

    def _first_use(self, key, input_ids, ids, mask, lengths=None):
        """Compile, capture and check a new shape (the lock held). Returns its report and the hidden
        states to answer with (the eager pass's when checked), or None to run it eagerly."""
        kept = sum(r.verdict != "over cap" for r in self.graphs.values())
        report = self.graphs[key] = GraphReport(*key, verdict="checking", uses=1)
        if kept >= self.max_graphs:
            # No call frees one graph alone (they share the compiler's pool): run new shapes eagerly.
            report.verdict, report.reason = "over cap", f"past the cap of {self.max_graphs} graphs, runs eager"
            log.warning("compiled encoder: %s is past the cap of %d graphs and runs eager", report.shape,
                        self.max_graphs)
            return report, None
        length = input_ids.shape[1]
        before = torch.cuda.memory_reserved(ids.device) if ids.is_cuda else None
        if self.compile_check == "off":
            t0 = time.perf_counter()
            hidden = self._compiled(ids, mask)[:, :length].clone()
            report.compile_s = self.first_call_s[key] = _since(t0, ids)
            report.memory_mb = _grown_mb(before, ids)
            report.verdict = "unchecked"
            return report, hidden
        probe_ids, probe_mask = self._probe(ids)
        t0 = time.perf_counter()
        self._compiled(probe_ids, probe_mask)
        report.compile_s = _since(t0, ids)
        t0 = time.perf_counter()
        for _ in range(2):  # CUDA graphs (trees) record on the second call; the third is a replay at the latest
            self._compiled(probe_ids, probe_mask)
        report.capture_s = _since(t0, ids)
        report.memory_mb = _grown_mb(before, ids)
        self.first_call_s[key] = report.compile_s + report.capture_s
        t0 = time.perf_counter()
        served = self._compiled(ids, mask)[:, :length].clone()  # a replay, on the real input
        repadded = self._compiled(self._repad(ids, length), mask)[:, :length].clone()
        with torch.inference_mode():
            eager = self._eager(input_ids, lengths)
            if not check_graph(report, self.model, served, eager, repadded, self.tolerance):
                self._reject(report)
        report.check_s = _since(t0, ids)
        return report, eager

    def _probe(self, ids):
        """Another input of the same shape, every position real. The graph is captured on it and
        checked on a replay with the real input, so a graph that kept its capture's ids or mask fails."""
        probe = torch.randint(5, self._vocab, ids.shape, generator=torch.Generator().manual_seed(0))
        return probe.to(ids.device), torch.ones_like(ids)

    def _repad(self, ids, length):
        """The same real tokens with other tokens in the padding: a working mask hides them."""
        other = ids.clone()
        pads = other[:, length:]
        pads.copy_(torch.randint(5, self._vocab, pads.shape, generator=torch.Generator().manual_seed(2)))
        return other

    def _reject(self, report: GraphReport) -> None:
        strict = self.compile_check == "strict"
        if strict:
            self.strict_off = f"{report.shape} ({report.reason})"
        log.warning("compiled encoder: %s disagreed with the eager pass (%s); %s", report.shape, report.reason,
                    "every shape runs eager (strict)" if strict else "that shape runs eager")

    def warm_up(self, rows=(1,), lengths=None) -> float:
        """Compile and check every (rows, bucket) now; returns the seconds it took. Inputs are seeded
        random tokens filling part of the bucket, so the check sees padding behind the mask.
        strict: raises CompileCheckFailed when a compile failed or a graph disagreed."""
        t0 = time.perf_counter()
        device = next(self.backbone.parameters()).device
        generator = torch.Generator().manual_seed(1)
        with torch.inference_mode():
            for r in rows:
                for bucket in filter(None, map(self.bucket_for, lengths or self.buckets)):
                    shape = (r, self.length_in(bucket))
                    self(torch.randint(5, self._vocab, shape, generator=generator).to(device))
        if self.compile_check == "strict" and (self.failed or self.strict_off):
            what = f"the compile failed ({self.failed})" if self.failed else \
                f"a compiled graph disagreed with the eager pass on {self.strict_off}"
            raise CompileCheckFailed(f"Strict compile check: {what}; start with --compile-check warn to serve "
                                     "such shapes eagerly, or with --eager.")
        return time.perf_counter() - t0


def _mask(lengths: list[int], width: int, device) -> torch.Tensor:
    """Attention mask [rows, width]: 1 up to each row's real length, 0 on its padding."""
    return (torch.arange(width, device=device)[None, :] < torch.tensor(lengths, device=device)[:, None]).long()


def _since(t0: float, like: torch.Tensor) -> float:
    if like.is_cuda:
        torch.cuda.synchronize(like.device)
    return time.perf_counter() - t0


def _grown_mb(before: int | None, like: torch.Tensor) -> float | None:
    """CUDA memory reserved since `before` (the graph's private pool shows there); None off CUDA."""
    if before is None:
        return None
    torch.cuda.synchronize(like.device)
    return (torch.cuda.memory_reserved(like.device) - before) / 2**20
