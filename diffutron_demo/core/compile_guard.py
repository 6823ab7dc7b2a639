"""The check a compiled encoder graph passes before it serves: same input, eager pass, compare.

A compile that succeeds can still be wrong (a graph captured with a stale buffer, a mask
broadcast wrongly, a dtype an older card rounds differently), so the first time each
(rows, bucket) graph is used, BucketedEncoder also runs the eager pass on the same input and
compares the real positions (padding excluded) here: hidden states relative to their own scale,
and the head's top-1. A graph that disagrees is never served; its shape runs eager.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

CHECK_MODES = ("off", "warn", "strict")  # off: serve unchecked; warn: drop a graph that disagrees; strict: refuse

# Graphs kept per encoder, at most: each (rows, bucket) holds its own CUDA-graph memory. The app
# uses rows 1 and 2 (a run, a run with CFG) at 4 buckets, and compare batches up to 8 rows.
MAX_GRAPHS = 16
# strict checks these before serving (load_model): a run, and a run with CFG (conditional and
# unconditional rows), at every bucket. Compare's batched shapes (up to 8 rows) are checked on first use.
STRICT_WARM_UP_ROWS = (1, 2)

# The largest relative error allowed at a real position: |compiled - eager| / |eager| over the
# hidden size, worst position. The two paths differ by kernel fusion and by the padded matmul
# shapes; the error compounds over the 22 layers. Another input's states are off by about 1.4
# (two unrelated vectors of one norm), far above all of these.
HIDDEN_TOLERANCE = {
    # 24-bit mantissa (2^-24 per rounding): 22 layers in another summation order drift ~1e-6..1e-5.
    torch.float32: 1e-3,
    # 11-bit mantissa, 8x finer than bf16 (overflow shows as inf, which fails anyway).
    torch.float16: 2e-2,
    # 8-bit mantissa (2^-9 per rounding): eager rounds every op to bf16 where fused kernels keep
    # fp32, so single positions can end a few 1e-2 apart after 22 layers.
    torch.bfloat16: 8e-2,
}
# fp32 matmuls in TF32 round to a 10-bit mantissa: about fp16's error.
TF32_TOLERANCE = 2e-2
# A mask that leaks can move the real positions by less than the tolerance (it does on the tiny
# random test model in bf16: README, Benchmark), so the check also replays the graph with other
# tokens in the padding: masked keys weigh exactly 0, so the real positions must come out the same.
# The slack (a hundredth of the tolerance) only allows for a kernel that sums in another order.
PAD_SLACK = 1e-2

# The head's top-1 may flip where eager's best two logits are nearly tied: a hidden error of
# relative size r moves a logit by about r x the logits' spread over the vocabulary. A flip
# counts as a disagreement only when eager prefers its token by more than NEAR_TIE x tolerance
# x that spread; more than TOP1_SHARE of the real positions flipping that way rejects the graph.
NEAR_TIE = 2.0
TOP1_SHARE = 0.02


class CompileCheckFailed(RuntimeError):
    """strict: a compiled graph disagreed with the eager pass (or the compile failed)."""


def tolerance_for(dtype: torch.dtype, device_type: str) -> float:
    if dtype == torch.float32 and device_type == "cuda" and torch.backends.cuda.matmul.allow_tf32:
        return TF32_TOLERANCE
    return HIDDEN_TOLERANCE.get(dtype, HIDDEN_TOLERANCE[torch.bfloat16])


@dataclass
class GraphReport:
    """One (rows, bucket) graph: what it cost and what the check found."""

    rows: int
    bucket: int
    verdict: str = "unchecked"  # ok | rejected | unchecked (check off) | over cap (runs eager) | failed | checking
    compile_s: float | None = None  # first compiled call: trace, compile, one run
    capture_s: float | None = None  # the next two calls: the CUDA-graph capture and a replay (plain runs off CUDA)
    check_s: float | None = None  # the check alone: a replay on the real input, the eager pass, compare
    memory_mb: float | None = None  # CUDA memory reserved by compile + capture; None off CUDA
    rel_error: float | None = None
    tolerance: float | None = None
    pad_shift: float | None = None  # how far the real positions moved when only the padding changed
    top1_flips: int = 0  # real positions whose top-1 differs
    top1_beyond_tie: int = 0  # ... of them, where eager's preference is beyond a near-tie
    positions: int = 0
    reason: str = ""  # why it was rejected, in words
    uses: int = 0

    @property
    def shape(self) -> str:
        return f"rows {self.rows} x bucket {self.bucket}"

    @property
    def serves_compiled(self) -> bool:
        return self.verdict in ("ok", "unchecked")

    def line(self) -> str:
        def sec(x):
            return "-" if x is None else f"{x:.2f} s" if x >= 1 else f"{1000 * x:.1f} ms"

        memory = "n/a (not CUDA)" if self.memory_mb is None else f"{self.memory_mb:.0f} MB"
        text = (f"{self.shape}: {self.verdict}; compile {sec(self.compile_s)}, capture {sec(self.capture_s)}, "
                f"check {sec(self.check_s)}; memory {memory}; {self.uses} uses")
        if self.rel_error is not None:
            text += (f"; hidden rel. error {self.rel_error:.1e} (tolerance {self.tolerance:.0e}), other padding "
                     f"moved it {self.pad_shift:.1e}, top-1 differs at {self.top1_flips}/{self.positions} "
                     f"positions ({self.top1_beyond_tie} beyond a near-tie)")
        return text + (f"; {self.reason}" if self.reason else "")


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """|a - b| / |b| over the hidden size, at the worst position; inf if `a` is not finite."""
    if not torch.isfinite(a).all():
        return float("inf")
    a, b = a.float(), b.float()
    return ((a - b).norm(dim=-1) / b.norm(dim=-1).clamp_min(1e-12)).max().item()


def check_graph(report: GraphReport, model, compiled: torch.Tensor, eager: torch.Tensor,
                repadded: torch.Tensor, tolerance: float | None = None) -> bool:
    """Compare a compiled pass's real positions with the eager pass's; fills `report`, True if ok.
    `compiled`, `eager` and `repadded` (the compiled pass again, other tokens in the padding) are
    [rows, length, H], padding cut off; `model` has the head. `tolerance` overrides the dtype's
    for the hidden states; near-ties stay the dtype's (what its rounding can flip)."""
    dtype_tol = tolerance_for(eager.dtype, eager.device.type)
    tol = dtype_tol if tolerance is None else tolerance
    rel, shift = relative_error(compiled, eager), relative_error(repadded, compiled)
    flips = beyond = 0
    for row in range(eager.shape[0]):  # row by row: [length, 256k] logits stay small
        logits_e = model.decoder(model.head(eager[row])).float()
        top_c = model.decoder(model.head(compiled[row])).float().argmax(-1)
        top_e = logits_e.argmax(-1)
        margin = logits_e.gather(1, top_e[:, None]) - logits_e.gather(1, top_c[:, None])
        spread = logits_e.std(dim=-1, keepdim=True)
        flips += int((top_c != top_e).sum())
        beyond += int((margin > NEAR_TIE * dtype_tol * spread).sum())
    positions = eager.shape[0] * eager.shape[1]
    report.rel_error, report.tolerance, report.pad_shift, report.positions = rel, tol, shift, positions
    report.top1_flips, report.top1_beyond_tie = flips, beyond
    reasons = []
    if not rel <= tol:
        reasons.append(f"hidden states {rel:.1e} relative at the worst real position "
                       f"(tolerance {tol:.0e} for {str(eager.dtype).replace('torch.', '')})")
    if not shift <= PAD_SLACK * dtype_tol:
        reasons.append(f"the padding: other pad tokens moved the real positions {shift:.1e} (the mask leaks, or the graph is not deterministic)")
    if beyond > TOP1_SHARE * positions:
        reasons.append(f"the head's top-1 at {beyond} of {positions} real positions beyond a near-tie "
                       f"(at most {TOP1_SHARE:.0%})")
    report.reason = "; ".join(reasons)
    report.verdict = "rejected" if reasons else "ok"
    return not reasons
