"""Independent test oracle: the Diffutron fork of dllm's `LLaDAGenerator.generate`, batch of one.

Written from /work/shared/docs/dllm-reference.md ("ref §N" below) only, bugs included:
the stop check scans the whole canvas (prompt too), user text is tokenized normally (so
"<mask>" typed by a user becomes the mask id), there is no context limit, and the top-k over
the whole row may pick -inf rows. Ties in confidence go to the lowest position (stable sort),
as the project's contract asks. Plain torch, no imports from the package's sampler.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

STOP_STRINGS = ("|USER|>", "<|USER|>", "<s>", "</s>")  # ref §5
STOP_REPLACEMENT = "\n[/Answer]\n"  # ref §5 step 4
EOT_TEXT = "[/Answer]"  # tokenizer.eot_token set by get_tokenizer, ref §2


# ---------------------------------------------------------------- chat template (ref §3)


def render_chat(messages: list[dict], add_generation_prompt: bool = True) -> str:
    """The string dllm's forced BERT chat template renders (trim_blocks, lstrip_blocks)."""
    out = []
    loop = list(messages)
    if loop and loop[0]["role"] == "system":
        out.append(f"[SYS]\n{loop[0]['content'].strip()}\n[/SYS]\n\n")
        loop = loop[1:]
    for m in loop:  # other roles render nothing
        if m["role"] == "user":
            out.append(f"[Question]\n{m['content'].strip()}\n[/Question]\n\n")
        elif m["role"] == "assistant":
            out.append(f"[Answer]\n{m['content'].strip()}\n[/Answer]\n\n")
    if add_generation_prompt and (not loop or loop[-1]["role"] != "assistant"):
        out.append("[Answer]\n")
    return "".join(out)


def reference_prompt_ids(tokenizer, messages_or_text, chat: bool) -> list[int]:
    """chat: template then encode without special tokens (ref §3); raw: the text (ref §6)."""
    if chat:
        msgs = messages_or_text
        if isinstance(msgs, str):
            msgs = [{"role": "user", "content": msgs}]
        text = render_chat(msgs, add_generation_prompt=True)
    else:
        text = messages_or_text
    return list(tokenizer(text, add_special_tokens=False).input_ids)


# ---------------------------------------------------------------- transfer schedule (ref §4.5)


def _reverse_mask_prob(s: float, t: float) -> float:
    """LinearAlphaScheduler.reverse_mask_prob with its float32 detour: alpha = 1 - x."""
    s32 = torch.tensor(s, dtype=torch.float32)
    t32 = torch.tensor(t, dtype=torch.float32)
    alpha_s, alpha_t = 1 - s32, 1 - t32
    return float((1 - alpha_s) / (1 - alpha_t))


def _transfer_schedule(n: int, steps: int, stochastic: bool, generator=None) -> list[int]:
    m, row = n, []
    for j in range(steps):
        p = 1.0 - _reverse_mask_prob((steps - 1 - j) / steps, (steps - j) / steps)  # float64
        if stochastic:
            c = int(torch.binomial(torch.tensor([float(m)]), torch.tensor([p]), generator=generator).item())
        else:
            c = int(torch.round(torch.tensor(float(m) * p, dtype=torch.float64)).item())  # half-to-even
        c = min(c, m)
        row.append(c)
        m -= c
        if m == 0:
            break
    return [c for c in row if c != 0]  # compaction: zero steps are skipped


def reference_schedule(n: int, steps: int) -> list[int]:
    """Deterministic per-step transfer counts for n masks in S steps (ref §4.5)."""
    return _transfer_schedule(n, steps, stochastic=False)


# ---------------------------------------------------------------- stop criterion (ref §5)


def _apply_stop_criteria(tokenizer, row: list[int]) -> list[int]:
    T = len(row)
    text = tokenizer.decode(row, skip_special_tokens=False)  # batch_decode defaults, whole canvas
    hits = [text.find(s) for s in STOP_STRINGS]
    hits = [h for h in hits if h >= 0]
    if not hits:
        return row
    prefix = tokenizer(text[: min(hits)], add_special_tokens=False).input_ids
    idx = len(prefix)
    bos = tokenizer.bos_token_id
    if row[0] == bos and not (prefix and prefix[0] == bos):
        idx += 1
    if idx >= T:
        return row
    repl = tokenizer(STOP_REPLACEMENT, add_special_tokens=False).input_ids[: T - idx]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return row[:idx] + list(repl) + [pad] * (T - idx - len(repl))


# ---------------------------------------------------------------- generate (ref §4)


def _repetition_penalty(logits: torch.Tensor, x: torch.Tensor, penalty: float, mask_id, eos_id):
    """Presence penalty over distinct canvas ids minus mask/eos, all positions (ref §4.6.2)."""
    if penalty == 1.0:
        return logits
    ids = sorted(set(x[0].tolist()) - {mask_id, eos_id})
    if ids:
        cols = torch.tensor(ids, device=logits.device)
        v = logits[..., cols]
        logits[..., cols] = torch.where(v > 0, v / penalty, v * penalty)
    return logits


def _sample_and_confidence(logits: torch.Tensor, temperature: float, remasking: str, generator):
    """x0 by argmax or float64 Gumbel-max over the whole [1, T, V] tensor (ref §4.6.3), and each
    position's confidence (ref §4.7): the sampled token's probability, or a uniform draw."""
    dev, T = logits.device, logits.shape[1]
    if temperature == 0:
        x0 = torch.argmax(logits, dim=-1)
    else:
        l64 = logits.to(torch.float64)
        u = torch.rand(l64.shape, dtype=torch.float64, generator=generator).to(dev)
        x0 = torch.argmax(l64.exp() / (-torch.log(u)) ** temperature, dim=-1)
    if remasking == "low_confidence":
        p = F.softmax(logits, dim=-1)
        conf = torch.gather(p, -1, x0.unsqueeze(-1)).squeeze(-1)
    else:
        conf = torch.rand((1, T), generator=generator, dtype=torch.float32).to(dev)
    return x0, conf


@torch.inference_mode()
def reference_generate(
    model,
    tokenizer,
    prompt_ids: list[int],
    *,
    steps: int = 64,
    max_new_tokens: int = 64,
    block_length: int = 32,
    temperature: float = 0.1,
    repetition_penalty: float = 1.2,
    remasking: str = "low_confidence",
    stochastic_transfer: bool = False,
    cfg_scale: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[list[int], list[list[int]]]:
    """Return (final canvas incl. prompt, histories); histories = initial + one per executed step."""
    assert steps >= 1 and block_length >= 1 and max_new_tokens >= 1  # ref §4.1
    if remasking not in ("low_confidence", "random"):
        raise NotImplementedError(remasking)
    if generator is None:
        generator = torch.Generator().manual_seed(42)  # dllm's default seed
    mask_id, eos_id = tokenizer.mask_token_id, tokenizer.eos_token_id
    dev = model.device

    # Canvas: prompt + N masks, B = 1, attention mask None (ref §3)
    P, N = len(prompt_ids), max_new_tokens
    T = P + N
    x = torch.tensor([list(prompt_ids) + [mask_id] * N], dtype=torch.long, device=dev)
    given = (x != mask_id) & (x != eos_id)  # CFG "prompt" positions, fixed at start (ref §4.2)

    L = block_length
    num_blocks = math.ceil(N / L)
    S = math.ceil(steps / num_blocks)  # ref §4.3
    histories = [x[0].tolist()]

    for b in range(num_blocks):
        start, end = P + b * L, min(P + (b + 1) * L, T)
        n = int((x[0, start:end] == mask_id).sum())
        K = _transfer_schedule(n, S, stochastic_transfer, generator)
        for s in range(len(K)):
            if not (x == mask_id).any():  # fork-only early exit
                break
            M = x == mask_id

            # Forward, CFG in one batched pass (ref §4.6.1)
            if cfg_scale > 0:
                un_x = x.clone()
                un_x[given] = mask_id
                both = model(input_ids=torch.cat([x, un_x])).logits
                cond, un = both[:1], both[1:]
                logits = un + (cfg_scale + 1) * (cond - un)
            else:
                logits = model(input_ids=x).logits
            logits = _repetition_penalty(logits, x, repetition_penalty, mask_id, eos_id)

            x0, conf = _sample_and_confidence(logits, temperature, remasking, generator)
            conf[:, P + (b + 1) * L :] = -math.inf  # upper bound only (ref §9)
            x0 = torch.where(M, x0, x)
            conf = torch.where(M, conf, torch.full_like(conf, -math.inf))

            # Commit the top k over the whole row, ties toward the lowest position
            k = min(K[s], int(M[0].sum()))
            if k > 0:
                order = torch.sort(conf[0], descending=True, stable=True).indices[:k]
                x[0, order] = x0[0, order]

            row = _apply_stop_criteria(tokenizer, x[0].tolist())  # ref §5
            x = torch.tensor([row], dtype=torch.long, device=dev)
            histories.append(row)

    return x[0].tolist(), histories


# ---------------------------------------------------------------- reply trimming (ref §6)


def reference_decode_trim(tokenizer, canvas: list[int], prompt_len: int) -> str:
    full = list(canvas)
    pad = tokenizer.pad_token_id
    if pad is not None:
        while full and full[0] == pad:  # leading pads dropped before slicing by prompt length
            full.pop(0)
    start, end = prompt_len, len(full)
    eos_id = tokenizer.eos_token_id
    for i in range(start, len(full)):
        if full[i] == eos_id:  # eot_token_id is None for BERT models (ref §2)
            end = i
            break
    text = tokenizer.decode(full[start:end], skip_special_tokens=True)
    if tokenizer.eos_token:
        text = text.split(tokenizer.eos_token)[0]
    return text.split(EOT_TEXT)[0]
