"""The contract's four deliberate differences from the reference (sampler-contract.md §2).

Each test fails on the reference's behaviour; where the oracle can show that behaviour, the
test also runs it and asserts the oracle does the buggy thing while the package does not.
"""

import pytest
import torch

import tests.dllm_reference as ref
from diffutron_demo.core import sampler
from diffutron_demo.core.chat import build_prompt, encode_text, render_chat
from diffutron_demo.core.models import load_model
from diffutron_demo.core.chat import STOP_REPLACEMENT, STOP_STRINGS
from diffutron_demo.core.sampler import generate
from diffutron_demo.core.strategies import stable_desc
from diffutron_demo.settings import SamplerSettings, SettingsError

SPECIAL_TEXT = "<mask> <pad> <eos> <bos> <unk>"


def ref_kwargs(settings: SamplerSettings) -> dict:
    names = ("steps", "max_new_tokens", "block_length", "temperature", "repetition_penalty", "remasking",
             "stochastic_transfer", "cfg_scale")
    return {k: getattr(settings, k) for k in names}


# ------------------------------------------------------------------ 1. ties -> lowest position


@pytest.fixture
def flat_lm(tiny_checkpoint):
    """A model whose logits are the same for every row and every token (decoder weight and
    bias zero): every confidence ties exactly, whatever the canvas, penalty, CFG or sample."""
    lm = load_model(str(tiny_checkpoint), device="cpu", dtype="float32")
    with torch.no_grad():
        lm.model.decoder.weight.zero_()  # tied to the input embeddings; that's fine here
        lm.model.decoder.bias.zero_()
    return lm


def expected_order(scores: list[float]) -> list[int]:
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


@pytest.mark.parametrize("size", [2, 8, 40, 1000, 5000])
def test_stable_desc_breaks_ties_toward_the_lowest_position(size):
    gen = torch.Generator().manual_seed(size)
    # Few distinct values, so almost everything ties with something.
    scores = torch.randint(0, 3, (size,), generator=gen).float() / 4
    scores[::7] = float("-inf")
    assert stable_desc(scores).tolist() == expected_order(scores.tolist())
    assert stable_desc(torch.zeros(size)).tolist() == list(range(size))


@pytest.mark.parametrize(
    "settings, expected_groups",
    [
        # one commit per step: strictly left to right
        (SamplerSettings(steps=8, max_new_tokens=8, block_length=8, temperature=0.0), [[i] for i in range(8)]),
        # sampled tokens differ per row but their probabilities still tie (flat logits); CFG too
        (SamplerSettings(steps=8, max_new_tokens=8, block_length=4, temperature=1.0, cfg_scale=1.5),
         [[i] for i in range(8)]),
        # four per step: the four lowest positions, best (= lowest) first
        (SamplerSettings(steps=2, max_new_tokens=8, block_length=8, temperature=0.0), [[0, 1, 2, 3], [4, 5, 6, 7]]),
        (SamplerSettings(steps=3, max_new_tokens=10, block_length=10, temperature=0.7),
         [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]),
    ],
)
def test_tied_confidences_commit_left_to_right(flat_lm, settings, expected_groups):
    ids = build_prompt(flat_lm.tokenizer, "Merhaba", max_new_tokens=settings.max_new_tokens,
                       context_window=flat_lm.context_window).ids
    P = len(ids)
    traj = generate(flat_lm, ids, settings, seed=3)
    confs = {c.conf for st in traj.steps for c in st.candidates}
    assert len(confs) == 1  # the setup really ties
    assert [st.committed for st in traj.steps] == [[P + i for i in g] for g in expected_groups]


def test_reference_topk_order_is_caught(flat_lm, monkeypatch):
    """The reference commits with torch.topk, whose order on ties is unspecified; on this torch
    it is not left to right, and the check above would catch it."""
    monkeypatch.setattr(sampler, "stable_desc", lambda s: torch.topk(s, len(s)).indices)
    ids = build_prompt(flat_lm.tokenizer, "Merhaba", max_new_tokens=8, context_window=256).ids
    traj = generate(flat_lm, ids, SamplerSettings(steps=8, max_new_tokens=8, block_length=8, temperature=0.0))
    P = len(ids)
    assert [st.committed for st in traj.steps] != [[P + i] for i in range(8)]


# ------------------------------------------------------------------ 2. stop strings in the prompt


def generated_only_stop(prompt_len: int):
    """The oracle's stop check, looking only past the prompt's text (the contract's fix). Token
    index mapping as the reference does it, corrected by how much the prompt itself re-encodes
    differently (zero for ordinary prompts)."""

    def apply(tokenizer, row):
        prompt_text = tokenizer.decode(row[:prompt_len], skip_special_tokens=False)
        text = tokenizer.decode(row, skip_special_tokens=False)
        assert text.startswith(prompt_text)
        hits = [h for h in (text.find(s, len(prompt_text)) for s in ref.STOP_STRINGS) if h >= 0]
        if not hits:
            return row
        delta = prompt_len - len(tokenizer(prompt_text, add_special_tokens=False).input_ids)
        idx = len(tokenizer(text[: min(hits)], add_special_tokens=False).input_ids) + delta
        assert idx >= prompt_len
        if idx >= len(row):
            return row
        repl = tokenizer(ref.STOP_REPLACEMENT, add_special_tokens=False).input_ids[: len(row) - idx]
        return row[:idx] + list(repl) + [tokenizer.pad_token_id] * (len(row) - idx - len(repl))

    return apply


STOP_CASES = [
    # (checkpoint, question, raw): "</s>" as plain characters (plain) or as its own token (stop-prone)
    (0, "merhaba </s> dünya", True),
    (0, "Bu bir test <s> cümlesi", False),
    (2, "merhaba </s> dünya", True),
    (2, "<s> Merhaba! Nasılsın?", False),
    (2, "Türkiye'nin başkenti </s>", False),
]


@pytest.mark.parametrize("which, question, raw", STOP_CASES)
@pytest.mark.parametrize("cfg", [0.0, 1.0])
def test_stop_string_in_prompt_does_not_wipe_the_reply(models, monkeypatch, which, question, raw, cfg):
    lm = models[which]
    settings = SamplerSettings(steps=12, max_new_tokens=12, block_length=6, temperature=0.0, cfg_scale=cfg)
    prompt = build_prompt(lm.tokenizer, question, raw=raw, max_new_tokens=12, context_window=lm.context_window)
    ids, P = prompt.ids, len(prompt.ids)
    assert any(s in lm.tokenizer.decode(ids) for s in STOP_STRINGS)

    # The reference: its stop check finds the prompt's string and overwrites from inside the prompt.
    theirs, hist = ref.reference_generate(lm.model, lm.tokenizer, ids, generator=torch.Generator().manual_seed(0),
                                          **ref_kwargs(settings))
    assert theirs[:P] != ids
    assert len(hist) == 2  # one step, then nothing is left to fill
    assert lm.mask_id not in theirs

    ours = generate(lm, ids, settings, seed=0)
    assert ours.final_ids[:P] == ids  # the prompt is never rewritten
    assert all(f.pos >= P for st in ours.steps for f in st.forced)
    assert len(ours.steps) > 1
    # Token for token what the reference does once its stop check ignores the prompt.
    monkeypatch.setattr(ref, "_apply_stop_criteria", generated_only_stop(P))
    fixed, _ = ref.reference_generate(lm.model, lm.tokenizer, ids, generator=torch.Generator().manual_seed(0),
                                      **ref_kwargs(settings))
    assert ours.final_ids == fixed


def test_stop_string_in_prompt_plain_model_keeps_every_commit(models):
    # The plain model never writes a stop string here: no forced edit at all, the whole answer
    # is the model's, and the reply is not empty (the reference's is).
    lm = models[0]
    settings = SamplerSettings(steps=16, max_new_tokens=16, block_length=8, temperature=0.0)
    ids = build_prompt(lm.tokenizer, "merhaba </s> dünya", raw=True, max_new_tokens=16, context_window=256).ids
    ours = generate(lm, ids, settings, seed=0)
    assert all(not st.forced for st in ours.steps)
    assert sum(len(st.committed) for st in ours.steps) == 16
    assert ours.reply.strip() != ""
    theirs, _ = ref.reference_generate(lm.model, lm.tokenizer, ids, **ref_kwargs(settings))
    assert ref.reference_decode_trim(lm.tokenizer, theirs, len(ids)) == ""


def test_stop_string_written_after_a_typed_special_string_maps_to_the_right_token(models, monkeypatch):
    """User-typed "<mask>" re-encodes as one token but sits on the canvas as five; the stop check's
    text-offset -> token-index mapping must still put the replacement on the stop token."""
    lm = models[2]  # stop-prone: it writes "<s>" / "</s>" (ids 600 / 601) itself
    settings = SamplerSettings(steps=12, max_new_tokens=12, block_length=12, temperature=0.0)
    ids = build_prompt(lm.tokenizer, "<mask> <pad> Merhaba", max_new_tokens=12, context_window=256).ids
    P = len(ids)
    ours = generate(lm, ids, settings, seed=0)
    fired = [i for i, st in enumerate(ours.steps) if st.forced]
    assert fired, "the stop-prone model should write a stop token in this case"
    step = fired[0]
    before = ours.canvas_at(step)
    for pos in ours.steps[step].committed:  # the step's commits, before its stop check
        before[pos] = next(c.token for c in ours.steps[step].candidates if c.pos == pos)
    first_stop = min(i for i in range(P, len(before)) if before[i] in (600, 601))
    newline = encode_text(lm.tokenizer, STOP_REPLACEMENT)
    after = ours.canvas_at(step + 1)
    assert after[:first_stop] == before[:first_stop]
    assert after[first_stop : first_stop + len(newline)] == newline[: len(after) - first_stop]
    monkeypatch.setattr(ref, "_apply_stop_criteria", generated_only_stop(P))
    fixed, _ = ref.reference_generate(lm.model, lm.tokenizer, ids, generator=torch.Generator().manual_seed(0),
                                      **ref_kwargs(settings))
    assert ours.final_ids == fixed


# ------------------------------------------------------------------ 3. user text is text


@pytest.mark.parametrize("which", [0, 2])
@pytest.mark.parametrize("raw", [False, True])
def test_typed_special_strings_stay_text(models, which, raw):
    tok = models[which].tokenizer
    specials = set(tok.all_special_ids)
    assert {0, 1, 2, 3, 4} <= specials
    prompt = build_prompt(tok, SPECIAL_TEXT, raw=raw, max_new_tokens=8, context_window=256)
    assert not specials & set(prompt.ids)
    assert SPECIAL_TEXT in tok.decode(prompt.ids)  # the characters survive
    # The reference tokenizes the same text with the special ids, the mask id included (§9).
    theirs = ref.reference_prompt_ids(tok, SPECIAL_TEXT, chat=not raw)
    assert tok.mask_token_id in theirs and tok.pad_token_id in theirs
    assert len(theirs) < len(prompt.ids)


def test_typed_special_strings_in_history_stay_text(models):
    tok = models[0].tokenizer
    history = [(SPECIAL_TEXT, "cevap <mask> burada"), ("soru", "<eos>")]
    prompt = build_prompt(tok, "ve <bos>?", history=history, max_new_tokens=8, context_window=256)
    assert prompt.dropped_turns == 0
    assert not set(tok.all_special_ids) & set(prompt.ids)
    assert tok.decode(prompt.ids) == render_chat(history, "ve <bos>?")


def test_typed_mask_is_never_a_candidate(models):
    lm = models[0]
    ids = build_prompt(lm.tokenizer, "a <mask> b", max_new_tokens=8, context_window=256).ids
    P = len(ids)
    traj = generate(lm, ids, SamplerSettings(steps=8, max_new_tokens=8, block_length=4, temperature=0.0))
    assert traj.final_ids[:P] == ids
    assert all(c.pos >= P for st in traj.steps for c in st.candidates)
    # The reference's prompt holds the mask id, and its sampler fills that prompt position.
    ref_ids = ref.reference_prompt_ids(lm.tokenizer, "a <mask> b", chat=True)
    where = ref_ids.index(lm.mask_id)
    theirs, _ = ref.reference_generate(lm.model, lm.tokenizer, ref_ids, steps=8, max_new_tokens=8, block_length=4,
                                       temperature=0.0)
    assert theirs[where] != lm.mask_id


# ------------------------------------------------------------------ 4. context budget


def long_history(turns: int):
    return [(f"Soru {i}: Türkiye'nin başkenti neresidir? {i}",
             f"Cevap {i}: Türkiye'nin başkenti Ankara'dır. Ankara, İç Anadolu Bölgesi'nde yer alır.")
            for i in range(turns)]


@pytest.mark.parametrize("max_new_tokens, window", [(64, 256), (128, 256), (16, 128), (200, 256)])
def test_long_history_drops_the_oldest_turns(models, max_new_tokens, window):
    tok = models[0].tokenizer
    history = long_history(30)
    question = "Peki İstanbul?"
    # Without a budget (the reference) the prompt would not fit.
    assert len(encode_text(tok, render_chat(history, question))) + max_new_tokens > window
    prompt = build_prompt(tok, question, history=history, max_new_tokens=max_new_tokens, context_window=window)
    assert len(prompt.ids) + max_new_tokens <= window
    dropped = prompt.dropped_turns
    assert 0 < dropped <= len(history)
    assert prompt.history == history[dropped:]  # a suffix: the oldest went first
    assert tok.decode(prompt.ids) == render_chat(history[dropped:], question)
    # Nothing dropped that would have fit.
    one_more = encode_text(tok, render_chat(history[dropped - 1 :], question))
    assert len(one_more) + max_new_tokens > window


def test_short_history_is_kept_whole(models):
    tok = models[0].tokenizer
    history = long_history(2)
    prompt = build_prompt(tok, "Peki İstanbul?", history=history, max_new_tokens=64, context_window=256)
    assert prompt.dropped_turns == 0 and prompt.history == history


@pytest.mark.parametrize("raw", [False, True])
def test_question_alone_too_long_names_the_window(models, raw):
    tok = models[0].tokenizer
    question = "Türkiye'nin başkenti Ankara'dır. " * 40
    with pytest.raises(SettingsError) as info:
        build_prompt(tok, question, history=long_history(3), raw=raw, max_new_tokens=64, context_window=256)
    assert "256" in str(info.value) and "window" in str(info.value)
    assert info.value.field == "max_new_tokens"


def test_context_window_is_the_trained_one(tiny_checkpoint):
    lm = load_model(str(tiny_checkpoint), device="cpu")
    assert lm.model.config.max_position_embeddings == 512  # the architecture's limit...
    assert lm.context_window == 256  # ...but the trained window wins
    assert load_model(str(tiny_checkpoint), device="cpu", context_window=128).context_window == 128
    assert load_model(str(tiny_checkpoint), device="cpu", context_window=384).context_window == 384


def test_canvas_fits_the_window_end_to_end(tiny_checkpoint):
    lm = load_model(str(tiny_checkpoint), device="cpu", context_window=96)
    settings = SamplerSettings(steps=4, max_new_tokens=40, block_length=20, temperature=0.0)
    prompt = build_prompt(lm.tokenizer, "Peki İstanbul?", history=long_history(10),
                          max_new_tokens=settings.max_new_tokens, context_window=lm.context_window)
    assert prompt.dropped_turns > 0
    traj = generate(lm, prompt.ids, settings)
    assert len(traj.final_ids) <= 96
