"""The encoder pass the sampler makes each step: eager, or padded to a few fixed lengths and compiled.

On a GPU one eager forward of the 307M model is launch-bound (~13 ms on an H200 at any length up to
256); compiled with CUDA graphs it is about 1 ms. CUDA graphs need fixed shapes, so a canvas is
right-padded to the next bucket length with an attention mask that hides the padding: the real
positions see exactly the keys they see unpadded, and one graph per (rows, bucket) serves every
canvas length in that bucket. Numerics differ from the eager pass only by matmul shape (in bf16,
this can flip near-ties; the benchmark counts them).
"""

from __future__ import annotations

import logging
import threading
import time

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

BUCKETS = (64, 128, 192, 256)


class EagerEncoder:
    """model.model(input_ids) -> last hidden states [rows, T, H]."""

    label = "eager"

    def __init__(self, model):
        self.backbone = model.model

    def __call__(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.backbone(input_ids=input_ids).last_hidden_state


class BucketedEncoder:
    """Pads to a bucket length with an attention mask; optionally torch.compile'd per shape.

    `compile_mode` None pads without compiling (what CPU tests check for parity); "reduce-overhead"
    is CUDA graphs on a GPU. A canvas longer than the last bucket, or a compile that fails, falls
    back to the eager pass (logged once), so a run never breaks on the fast path.
    """

    def __init__(self, model, pad_id: int, buckets=BUCKETS, compile_mode: str | None = "reduce-overhead"):
        self.backbone = model.model
        self.pad_id = int(pad_id)
        self.buckets = tuple(sorted(buckets))
        self.compile_mode = compile_mode
        self.first_call_s: dict[tuple[int, int], float] = {}  # (rows, bucket) -> seconds, compile included
        self.failed: str | None = None
        self._lock = threading.Lock()  # the app's workers share one set of graphs
        self._forward = self._padded_forward
        if compile_mode:
            import torch._dynamo

            # one graph per (rows, bucket); the default limit of 8 would fall back to eager early
            torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
            self._forward = torch.compile(self._padded_forward, mode=compile_mode, dynamic=False)

    @property
    def label(self) -> str:
        if self.failed:
            return "eager (compile failed)"
        return f"compiled ({self.compile_mode}), buckets {'/'.join(map(str, self.buckets))}" \
            if self.compile_mode else f"padded to {'/'.join(map(str, self.buckets))}"

    def _padded_forward(self, input_ids, attention_mask):
        return self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def bucket_for(self, length: int) -> int | None:
        return next((b for b in self.buckets if b >= length), None)

    def __call__(self, input_ids: torch.Tensor, lengths: list[int] | None = None) -> torch.Tensor:
        """`lengths`: each row's real length when rows of several lengths share the pass (the rest is
        padding, hidden by the mask); None: every row is real up to input_ids' length."""
        rows, length = input_ids.shape
        bucket = self.bucket_for(length)
        if bucket is None or self.failed:
            mask = None if lengths is None else self._mask(lengths, length, input_ids.device)
            return self.backbone(input_ids=input_ids, attention_mask=mask).last_hidden_state
        ids = F.pad(input_ids, (0, bucket - length), value=self.pad_id)
        mask = self._mask(lengths or [length] * rows, bucket, input_ids.device)
        key = (rows, bucket)
        first = key not in self.first_call_s
        t0 = time.perf_counter()
        try:
            with self._lock:
                if self.compile_mode and input_ids.is_cuda:
                    torch.compiler.cudagraph_mark_step_begin()
                # CUDA graphs reuse their output buffer on the next replay: copy the real rows out.
                hidden = self._forward(ids, mask)[:, :length].clone()
        except Exception as exc:  # a backend without a compiler, an unsupported op...
            if not self.compile_mode:
                raise
            self.failed = f"{type(exc).__name__}: {exc}"
            log.warning("compiled encoder failed, using the eager pass from now on: %s", self.failed)
            return self(input_ids, lengths)
        if first:
            if input_ids.is_cuda:
                torch.cuda.synchronize()
            self.first_call_s[key] = time.perf_counter() - t0
        return hidden

    @staticmethod
    def _mask(lengths: list[int], width: int, device) -> torch.Tensor:
        return (torch.arange(width, device=device)[None, :] < torch.tensor(lengths, device=device)[:, None]).long()

    def warm_up(self, rows=(1,), lengths=None) -> float:
        """Compile every (rows, bucket) now; returns the seconds it took."""
        t0 = time.perf_counter()
        device = next(self.backbone.parameters()).device
        with torch.inference_mode():
            for r in rows:
                for b in lengths or self.buckets:
                    self(torch.full((r, b), self.pad_id, dtype=torch.long, device=device))
        return time.perf_counter() - t0
