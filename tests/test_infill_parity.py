"""Infill parity: the project's sampler in infill mode against an independent implementation of the
Diffutron fork's `LLaDAGenerator.infill` (tests/dllm_reference_infill.py, sampler-contract §4).

- Temperature 0, float32: token-for-token equality of the final canvas, and of the canvas after
  every step, over 156 random cases on six seeded random tiny checkpoints (the four of conftest,
  one with a SentencePiece-shaped tokenizer, one that proposes the eos id): random blank layouts (start / middle / end,
  several blanks, own lengths, literal underscores, raw and chat-shaped), block lengths (1, not
  dividing the canvas, as long as and longer than the canvas), steps 1..64, penalties, CFG, both
  remasking modes, stochastic transfer, eos ids planted in the given text (hidden from attention).
- Temperature > 0: the committed token follows softmax(processed logits / T) (chi-square).
- Given text is never overwritten (the fork's stop check is off in infill), and what the model
  writes into a blank stays as written, stop strings included.
- Canvas building equals the tokenizer applied to the text with mask-token strings at the blanks.
- Blocks without a blank cost no forward pass.
"""

from __future__ import annotations

import random

import pytest
import torch

from diffutron_demo.core.blanks import build_infill
from diffutron_demo.core.checkpoints import build_random_checkpoint
from diffutron_demo.core.layout import Layout
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import Run
from diffutron_demo.settings import SamplerSettings
from tests.dllm_reference_infill import reference_infill, reference_row_logits
from tests.test_sampling_distribution import chi_square_p

NAMES = ["tiny-a", "tiny-b", "tiny-stop", "tiny-mask", "tiny-sp", "tiny-eos"]
CASES_PER_CHECKPOINT = 26  # x 6 checkpoints = 156 cases
SETTING_KEYS = ("steps", "block_length", "temperature", "repetition_penalty", "remasking", "stochastic_transfer",
                "cfg_scale")

WORDS = ["Bugün", "hava", "çok", "güzel", "ve", "ben", "parka", "gittim", "Ankara", "Türkiye'nin", "başkenti",
         "kitap", "okumak", "insanın", "hayal", "gücünü", "geliştirir", "Merhaba!", "Nasılsın?", "su", "yüz",
         "derecede", "kaynar", "öğrenciler", "okulda", "matematik", "dersleri", "alır", "İstanbul", "The", "quick",
         "fox", "(", ")", "1", "2", ".", ",", "?", ";", "şiir", "ğüşıöç"]
PUNCT = {".", ",", "?", ";", ")"}
QUESTIONS = ["Ne oldu?", "Boşlukları doldur.", "Türkiye'nin başkenti neresidir?", "Bir cümle yaz", "  Kısa cevap ver  "]


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory):
    """A fifth checkpoint with the real model's (Gemma's) tokenizer shape. Its larger init makes it
    look at its context (conftest's barely do: their logits move ~1e-4 when a key is hidden), so
    the planted eos ids and CFG change its proposals and the sweep can tell a sampler that got
    them wrong."""
    path = build_random_checkpoint(tmp_path_factory.mktemp("ckpt-sp") / "tiny-sp", seed=5,
                                   tokenizer_shape="sentencepiece", config_overrides={"initializer_range": 0.2})
    return load_model(str(path), device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def eos_model(tmp_path_factory):
    """A sixth, context-sensitive checkpoint that likes to propose the eos id: an eos written into a
    blank must stay visible to attention (the mask is taken once, from the initial canvas)."""
    path = build_random_checkpoint(tmp_path_factory.mktemp("ckpt-eos") / "tiny-eos", seed=6, token_bias={1: 3.0},
                                   config_overrides={"initializer_range": 0.2})
    return load_model(str(path), device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def lms(models, sp_model, eos_model):
    return [*models, sp_model, eos_model]


# ------------------------------------------------------------------ texts with blanks


def random_items(rng: random.Random) -> list:
    """A text as items: words (str), blanks ("blank", own length or None, underscores), literal
    underscores ("literal", count). Blanks land at the start, the end or in between."""
    items: list = [rng.choice(WORDS) for _ in range(rng.randint(0, 14))]
    for _ in range(rng.choice([1, 1, 2, 2, 3, 4])):
        where = rng.choice(["start", "end", "mid", "mid"])
        pos = 0 if where == "start" else len(items) if where == "end" else rng.randint(0, len(items))
        items.insert(pos, ("blank", rng.choice([None, None, rng.randint(1, 8)]), rng.randint(3, 6)))
    if rng.random() < 0.15:
        items.insert(rng.randint(0, len(items)), ("literal", rng.randint(3, 5)))
    return items


def render(items: list, blank_length: int, mask_token: str | None = None) -> str:
    """The blank syntax (mask_token None) or the text a plain tokenizer call should see: each blank
    as its mask-token strings, literal underscores without their backslash."""
    out = ""
    for it in items:
        if isinstance(it, str):
            piece = it
        elif it[0] == "blank":
            _, own, under = it
            n = blank_length if own is None else own
            piece = "_" * under + ("" if own is None else "{%d}" % own) if mask_token is None else mask_token * n
        else:
            piece = ("\\" if mask_token is None else "") + "_" * it[1]
        glue = "" if not out or (isinstance(it, str) and it in PUNCT) else " "
        out += glue + piece
    return out


def chat_text(question: str, answer: str) -> str:
    """dllm's template for a finished turn (trim_blocks/lstrip_blocks; question and answer trimmed)."""
    return f"[Question]\n{question.strip()}\n[/Question]\n\n[Answer]\n{answer.strip()}\n[/Answer]\n\n"


# ------------------------------------------------------------------ the parity sweep


def random_settings(rng: random.Random, T: int) -> SamplerSettings:
    return SamplerSettings(
        steps=rng.randint(1, 64),
        block_length=rng.choice([1, rng.randint(1, 8), rng.randint(1, 64), T, T + rng.randint(1, 40)]),
        temperature=0.0,
        repetition_penalty=rng.choice([1.0, round(rng.uniform(1.0, 1.5), 3), 2.0]),
        remasking=rng.choice(["low_confidence", "random"]),
        stochastic_transfer=rng.random() < 0.35,
        cfg_scale=rng.choice([0.0, 0.0, round(rng.uniform(0.1, 3.0), 2)]),
    )


def run_both(lm, ids: list[int], prompt_len: int, settings: SamplerSettings, seed: int):
    traj = Run(lm, ids[:prompt_len], settings, seed, layout=Layout.infill(ids)).run_to_end()
    stats: dict = {}
    final, hist, passes = reference_infill(
        lm.model, lm.tokenizer, ids, generator=torch.Generator().manual_seed(seed), stats=stats,
        **{k: getattr(settings, k) for k in SETTING_KEYS})
    return traj, final, hist, passes, stats


_RESULTS: dict = {}


def check_case(lms, which: int, case: int) -> dict:
    """One random case through both implementations, every check asserted; memoized per module."""
    key = (id(lms[which]), which, case)
    if key in _RESULTS:
        return _RESULTS[key]
    lm = lms[which]
    rng = random.Random(7919 * which + case)
    items = random_items(rng)
    blank_length = rng.randint(1, 8)
    question = rng.choice(QUESTIONS) if rng.random() < 0.4 else None
    text = render(items, blank_length)
    canvas = build_infill(lm.tokenizer, text, blank_length=blank_length, context_window=lm.context_window,
                          question=question)
    ids = list(canvas.ids)
    planted = []
    if rng.random() < 0.3:  # eos ids in the given text: hidden from attention, not in CFG's "given"
        given = [i for i, t in enumerate(ids) if t != lm.mask_id]
        planted = sorted(rng.sample(given, min(len(given), rng.randint(1, 2))))
        for i in planted:
            ids[i] = lm.eos_id
    settings = random_settings(rng, len(ids))
    seed = rng.randint(0, 2**31 - 1)
    where = (f"{NAMES[which]} case {case}: settings={settings} seed={seed} text={text!r} question={question!r} "
             f"blank_length={blank_length} eos planted at {planted} canvas={ids}")

    traj, final, hist, passes, stats = run_both(lm, ids, canvas.prompt_len, settings, seed)

    assert traj.mode == "infill" and traj.initial_ids == ids, where
    assert traj.final_ids == final, where
    # one step per model call, the same steps in the same blocks with the same scheduled counts
    assert len(traj.steps) == len(hist) - 1 == stats["calls"], where
    assert passes == stats["calls"] * (2 if settings.cfg_scale > 0 else 1), where
    assert [st.block for st in traj.steps] == stats["step_blocks"], where
    assert [st.scheduled for st in traj.steps] == stats["step_counts"], where
    # the canvas after every step, rebuilt from the record, equals the reference's history
    now = list(ids)
    for i, (st, after) in enumerate(zip(traj.steps, hist[1:])):
        assert not st.forced and not st.overflow, (i, where)
        proposed = {c.pos: c.token for c in st.candidates}
        for pos in st.committed:
            assert ids[pos] == lm.mask_id and st.window[0] <= pos < st.window[1], (i, pos, where)
            now[pos] = proposed[pos]
        assert now == after, (f"step {i}", where)
    # given text is never changed
    assert all(f == g for f, g in zip(final, ids) if g != lm.mask_id), where

    out = dict(traj=traj, stats=stats, settings=settings, planted=planted, raw=question is None, ids=ids,
               mask_id=lm.mask_id, seed=seed, lm=lm)
    _RESULTS[key] = out
    return out


@pytest.mark.parametrize("which", range(len(NAMES)), ids=NAMES)
@pytest.mark.parametrize("case", range(CASES_PER_CHECKPOINT))
def test_infill_equals_reference(lms, which, case):
    check_case(lms, which, case)


def test_the_sweep_reaches_the_rare_paths(lms):
    """The sweep is only as good as the paths it walks."""
    seen = dict.fromkeys(["mask_commit", "mask_left_behind", "multi_commit", "cfg", "random", "stochastic",
                          "stochastic_random_multiblock", "eos_planted", "empty_block", "block_1",
                          "block_past_canvas", "block_not_dividing", "blank_at_0", "blank_at_end", "chat", "raw",
                          "several_blanks", "mask_matters", "cfg_matters", "eos_committed_then_more_steps"], 0)
    for which in range(len(NAMES)):
        for case in range(CASES_PER_CHECKPOINT):
            r = check_case(lms, which, case)
            traj, stats, s, ids, mask_id = r["traj"], r["stats"], r["settings"], r["ids"], r["mask_id"]
            T = len(ids)
            seen["mask_commit"] += any(c.token == mask_id and c.pos in st.committed
                                       for st in traj.steps for c in st.candidates)
            seen["mask_left_behind"] += mask_id in traj.final_ids and len(traj.steps) > 0
            seen["multi_commit"] += any(len(st.committed) > 1 for st in traj.steps)
            seen["cfg"] += s.cfg_scale > 0
            seen["random"] += s.remasking == "random"
            seen["stochastic"] += s.stochastic_transfer
            seen["stochastic_random_multiblock"] += (s.stochastic_transfer and s.remasking == "random"
                                                     and sum(bool(k) for k in stats["schedules"]) >= 2)
            seen["eos_planted"] += bool(r["planted"])
            seen["empty_block"] += any(not k for k in stats["schedules"]) and len(traj.steps) > 0
            seen["block_1"] += s.block_length == 1
            seen["block_past_canvas"] += s.block_length > T
            seen["block_not_dividing"] += T % s.block_length != 0 and stats["num_blocks"] > 1
            seen["blank_at_0"] += ids[0] == mask_id
            seen["blank_at_end"] += ids[-1] == mask_id
            seen["chat"] += not r["raw"]
            seen["raw"] += r["raw"]
            seen["several_blanks"] += len(traj.blanks) >= 3
            eos_id = r["lm"].eos_id
            seen["eos_committed_then_more_steps"] += any(
                c.token == eos_id and c.pos in st.committed for st in traj.steps[:-1] for c in st.candidates)
            # would a sampler that forgot the attention mask, or CFG, have failed this case?
            kw = {k: getattr(s, k) for k in SETTING_KEYS}
            if r["planted"]:
                blind, _, _ = reference_infill(r["lm"].model, r["lm"].tokenizer, ids, hide_eos=False,
                                               generator=torch.Generator().manual_seed(r["seed"]), **kw)
                seen["mask_matters"] += blind != traj.final_ids
            if s.cfg_scale > 0:
                plain, _, _ = reference_infill(r["lm"].model, r["lm"].tokenizer, ids,
                                               generator=torch.Generator().manual_seed(r["seed"]),
                                               **{**kw, "cfg_scale": 0.0})
                seen["cfg_matters"] += plain != traj.final_ids
    print(f"\nrare paths over {len(NAMES) * CASES_PER_CHECKPOINT} cases: {seen}")
    assert all(count >= 3 for count in seen.values()), seen


# ------------------------------------------------------------------ temperature > 0

N_DRAWS = 2500
ALPHA = 1e-3
# name -> (checkpoint, text, question, eos planted at (offsets from the blank), settings). One 1-token
# blank, one step. (Offsets, not positions: the tiny BPE's merges may differ from one build to the next.)
ONE = dict(steps=1, block_length=64)
DIST_CASES = {
    "sharp_t07_pen_cfg": (1, "Bugün hava ___ ve ben parka gittim.", None, [],
                          SamplerSettings(**ONE, temperature=0.7, repetition_penalty=1.3, cfg_scale=1.0)),
    # eos ids on both sides of the blank (its neighbours' keys hidden): the context-sensitive model
    "sp_chat_t05_cfg_eos": (4, "Ankara ___ başkentidir.", "Türkiye'nin başkenti neresidir?", [-1, 1],
                            SamplerSettings(**ONE, temperature=0.5, repetition_penalty=1.2, cfg_scale=1.0)),
    "stop_t05_pen2": (2, "merhaba <s> ___ dünya </s>", None, [],
                      SamplerSettings(**ONE, temperature=0.5, repetition_penalty=2.0)),
}


def _dist_canvas(lm, text, question, planted):
    canvas = build_infill(lm.tokenizer, text, blank_length=1, context_window=256, question=question)
    ids = list(canvas.ids)
    (blank,) = canvas.blanks
    for offset in planted:
        ids[blank[0] + offset] = lm.eos_id
    return ids, canvas.prompt_len, blank[0]


@pytest.fixture(scope="module")
def dist_samples(lms):
    out = {}
    for name, (which, text, question, planted, settings) in DIST_CASES.items():
        lm = lms[which]
        ids, prompt_len, row = _dist_canvas(lm, text, question, planted)
        layout, counts = Layout.infill(ids), {}
        for seed in range(N_DRAWS):
            run = Run(lm, ids[:prompt_len], settings, seed, layout=layout, record=False)
            step = next(run)
            assert step.committed == [row]
            token = run.final_ids[row]
            counts[token] = counts.get(token, 0) + 1
        logits = reference_row_logits(lm.model, lm.tokenizer, ids, row, repetition_penalty=settings.repetition_penalty,
                                      cfg_scale=settings.cfg_scale)
        out[name] = (lm, ids, row, counts, logits)
    return out


@pytest.mark.parametrize("name", list(DIST_CASES))
def test_first_commit_follows_softmax_over_temperature(dist_samples, name):
    settings = DIST_CASES[name][4]
    _, _, _, counts, logits = dist_samples[name]
    p, df = chi_square_p(counts, torch.softmax(logits / settings.temperature, dim=-1), N_DRAWS)
    print(f"\n{name}: chi-square p={p:.3g}, df={df}")
    assert df >= 2
    assert p > ALPHA, (p, df, name)


def test_the_reference_samples_the_same_distribution(dist_samples):
    """The oracle's own float64 Gumbel-max draws (the fork's way) fit the same softmax."""
    settings = DIST_CASES["sharp_t07_pen_cfg"][4]
    lm, ids, row, _, logits = dist_samples["sharp_t07_pen_cfg"]
    counts = {}
    n = 1200
    for seed in range(n):
        final, _, _ = reference_infill(lm.model, lm.tokenizer, ids, generator=torch.Generator().manual_seed(seed),
                                       **{k: getattr(settings, k) for k in SETTING_KEYS})
        counts[final[row]] = counts.get(final[row], 0) + 1
    p, df = chi_square_p(counts, torch.softmax(logits / settings.temperature, dim=-1), n)
    assert df >= 10 and p > ALPHA, (p, df)


def _unhidden_logits(lm, ids, row, penalty, cfg_scale):
    """The same processing as reference_row_logits, but every key visible (the eos ids not hidden)."""
    with torch.inference_mode():
        x = torch.tensor([ids])
        un = x.clone()
        un[(x != lm.mask_id) & (x != lm.eos_id)] = lm.mask_id
        both = lm.model(input_ids=torch.cat([x, un])).logits.double()
    out = (both[1:] + (cfg_scale + 1) * (both[:1] - both[1:]))[0, row].clone()
    present = sorted(set(ids) - {lm.mask_id, lm.eos_id})
    out[present] = torch.where(out[present] > 0, out[present] / penalty, out[present] * penalty)
    return out


def test_the_fit_has_power(dist_samples):
    """The same samples against wrong distributions are rejected, so a sampler that ignored the
    temperature, the penalty, CFG or the attention mask would fail the fit above."""
    def p_value(name, logits, temperature):
        return chi_square_p(dist_samples[name][3], torch.softmax(logits / temperature, dim=-1), N_DRAWS)[0]

    lm, ids, row, _, logits = dist_samples["sharp_t07_pen_cfg"]
    assert p_value("sharp_t07_pen_cfg", logits, 1.0) < 1e-9  # temperature ignored
    lm, ids, row, _, logits = dist_samples["sp_chat_t05_cfg_eos"]
    assert [ids[row - 1], ids[row + 1]] == [lm.eos_id, lm.eos_id]
    assert p_value("sp_chat_t05_cfg_eos", _unhidden_logits(lm, ids, row, 1.2, 1.0), 0.5) < 1e-6  # eos not hidden
    no_cfg = reference_row_logits(lm.model, lm.tokenizer, ids, row, repetition_penalty=1.2, cfg_scale=0.0)
    assert p_value("sp_chat_t05_cfg_eos", no_cfg, 0.5) < 1e-6  # CFG ignored
    lm, ids, row, _, logits = dist_samples["stop_t05_pen2"]
    no_pen = reference_row_logits(lm.model, lm.tokenizer, ids, row, repetition_penalty=1.0, cfg_scale=0.0)
    assert p_value("stop_t05_pen2", no_pen, 0.5) < 1e-9  # penalty ignored


# ------------------------------------------------------------------ given text stays, stop strings too

STOP_IDS = (600, 601)  # "<s>", "</s>" in the tiny-stop checkpoint
STOP_TEXTS = [
    ("merhaba <s> ___ dünya ___ </s> bitti", None),
    ("___ <s> Bugün hava ___ ve ben </s> parka ___.", None),
    ("Bir <s> iki ___ üç", "Ne <s> oldu </s>?"),
    ("___ ve ___", None),  # no stop string given: only the model writes them
]


def test_given_text_is_never_overwritten_and_blanks_keep_stop_strings(lms):
    lm = lms[2]
    assert lm.tokenizer.convert_ids_to_tokens(list(STOP_IDS)) == ["<s>", "</s>"]
    rng = random.Random(31)
    kept_stop = fork_wiped = 0
    for case in range(24):
        text, question = STOP_TEXTS[case % len(STOP_TEXTS)]
        canvas = build_infill(lm.tokenizer, text, blank_length=rng.randint(1, 4), context_window=256, question=question)
        ids = canvas.ids
        settings = SamplerSettings(steps=rng.randint(1, 16), block_length=rng.choice([4, 16, 64]),
                                   temperature=rng.choice([0.0, 0.0, 0.8]), repetition_penalty=rng.choice([1.0, 1.2]),
                                   remasking=rng.choice(["low_confidence", "random"]))
        seed = rng.randint(0, 2**31 - 1)
        where = f"case {case}: {settings} seed={seed} text={text!r} question={question!r}"
        traj, final, _, _, _ = run_both(lm, ids, canvas.prompt_len, settings, seed)
        if settings.temperature == 0:
            assert traj.final_ids == final, where
        # (a) every given position as it was
        assert all(f == g for f, g in zip(traj.final_ids, ids) if g != lm.mask_id), where
        # (c) no forced edit
        assert not any(st.forced for st in traj.steps), where
        # (b) a committed stop string stays where the model wrote it
        for st in traj.steps:
            tokens = {c.pos: c.token for c in st.candidates}
            for pos in st.committed:
                if tokens[pos] in STOP_IDS:
                    assert traj.final_ids[pos] == tokens[pos], where
                    kept_stop += 1
        # what the fork would do with its stop check on: wipe given text after the first stop string
        fork, _, _ = reference_infill(lm.model, lm.tokenizer, ids, generator=torch.Generator().manual_seed(seed),
                                      fork_stop_check=True, **{k: getattr(settings, k) for k in SETTING_KEYS})
        fork_wiped += any(f != g for f, g in zip(fork, ids) if g != lm.mask_id)
    print(f"\nstop strings committed into blanks and kept: {kept_stop}; cases the fork's stop check would have "
          f"overwritten given text in: {fork_wiped}/24")
    assert kept_stop >= 3, kept_stop
    assert fork_wiped >= 10, fork_wiped  # the difference from the fork is real, so (a) can fail


# ------------------------------------------------------------------ canvas building

HANDPICKED = [
    "Bugün hava ___ ve ben ___ gittim.",
    "___ başkenti Ankara'dır.",
    "Türkiye'nin başkenti ___",
    "___",
    "___{5} ve ___{1}, ___.",
    "Dosya \\___ adı ___ ile",
    "  iki boşluk ___  sonra  ",
    "satır\n___\nsonraki satır",
    "(___) ve \"___\" ile ___?",
    "ğüşıöç ___ İstanbul",
]


@pytest.mark.parametrize("shape", ["bytelevel", "sentencepiece"])
@pytest.mark.parametrize("chat", [False, True], ids=["raw", "chat"])
def test_canvas_equals_the_tokenizer_on_mask_strings(lms, shape, chat):
    lm = lms[0] if shape == "bytelevel" else lms[4]
    tok = lm.tokenizer
    rng = random.Random(5 + chat)
    cases = [(t, None) for t in HANDPICKED] + [(render(items, 3), items) for items in (random_items(rng) for _ in range(30))]
    mismatches = []
    for text, items in cases:
        blank_length = 3
        question = rng.choice(QUESTIONS) if chat else None
        canvas = build_infill(tok, text, blank_length=blank_length, context_window=256, question=question)
        if items is not None:
            seen = render(items, blank_length, tok.mask_token)
        else:  # the handpicked texts: own lengths and literal underscores rewritten by hand
            seen = (text.replace("___{5}", tok.mask_token * 5).replace("___{1}", tok.mask_token * 1)
                    .replace("\\___", "\0").replace("___", tok.mask_token * blank_length).replace("\0", "___"))
        full = chat_text(question, seen) if chat else seen
        expected = list(tok(full, add_special_tokens=False).input_ids)
        if canvas.ids != expected:
            mismatches.append((text, question, canvas.ids, expected, tok.convert_ids_to_tokens(canvas.ids),
                               tok.convert_ids_to_tokens(expected)))
            continue
        assert canvas.text == full, (text, question)
        runs, i = [], 0
        while i < len(expected):
            if expected[i] == tok.mask_token_id:
                j = i
                while j < len(expected) and expected[j] == tok.mask_token_id:
                    j += 1
                runs.append((i, j))
                i = j
            else:
                i += 1
        assert [tuple(b) for b in canvas.blanks] == runs, (text, question)
        prompt = list(tok(chat_text(question, "X").split("X")[0], add_special_tokens=False).input_ids) if chat else []
        assert canvas.prompt_len <= len(prompt) and canvas.ids[: canvas.prompt_len] == prompt[: canvas.prompt_len]
        assert canvas.prompt_len >= len(prompt) - 1, (canvas.prompt_len, len(prompt))
    assert not mismatches, mismatches[:3]


# ------------------------------------------------------------------ blocks without a blank, pass counts


class CallCounter:
    """Counts calls of the model's backbone (every forward, the project's and the reference's)."""

    def __init__(self, lm):
        self.n = 0
        self.handle = lm.model.model.register_forward_hook(lambda *a: self._hit())

    def _hit(self):
        self.n += 1

    def take(self) -> int:
        n, self.n = self.n, 0
        return n

    def close(self):
        self.handle.remove()


LONG = ("Bugün hava çok güzel; güneş parlıyor ve insanlar dışarıda vakit geçiriyor. Öğrenciler okulda "
        "matematik, tarih, fizik ve edebiyat dersleri alır. Kitap okumak insanın hayal gücünü ___{3}.")


@pytest.mark.parametrize("cfg", [0.0, 1.5])
def test_blocks_without_a_blank_cost_no_forward_pass(lms, cfg):
    lm = lms[0]
    canvas = build_infill(lm.tokenizer, LONG, blank_length=4, context_window=256)
    (blank,) = canvas.blanks
    T = len(canvas.ids)
    # a block length that puts the blank in the last block, with at least four blank-free blocks before it
    L = next(L for L in (8, 7, 9, 6, 10, 5, 11) if blank[0] // L == (T - 1) // L)
    assert T - blank[1] <= 3 and T > 4 * L
    settings = SamplerSettings(steps=64, block_length=L, temperature=0.0, cfg_scale=cfg)
    counter = CallCounter(lm)
    try:
        traj = Run(lm, [], settings, 3, layout=Layout.infill(canvas.ids)).run_to_end()
        ours = counter.take()
        stats: dict = {}
        final, hist, passes = reference_infill(lm.model, lm.tokenizer, canvas.ids, stats=stats,
                                               generator=torch.Generator().manual_seed(3),
                                               **{k: getattr(settings, k) for k in SETTING_KEYS})
        theirs = counter.take()
    finally:
        counter.close()
    assert traj.final_ids == final
    budget = stats["steps_per_block"]
    assert budget >= 3
    assert [bool(k) for k in stats["schedules"]] == [False] * (stats["num_blocks"] - 1) + [True]
    assert len(traj.steps) == stats["calls"] == theirs == ours == 3  # one per blank token
    assert passes == 3 * (2 if cfg else 1)
    assert {st.block for st in traj.steps} == {stats["num_blocks"] - 1}


def test_print_forward_passes_fork_vs_project(lms):
    """One line for the README: forward passes the fork and the project spend on one infill."""
    text = "Bugün hava ___ ve ben ___ gittim."
    settings = SamplerSettings(steps=64, block_length=32)  # the dllm preset otherwise (temperature 0.1, penalty 1.2)
    lines = []
    for lm, name in ((lms[0], "tiny-a"), (lms[4], "tiny-sp")):
        for question in (None, "Ne yaptın?"):
            canvas = build_infill(lm.tokenizer, text, blank_length=4, context_window=256, question=question)
            counter = CallCounter(lm)
            try:
                traj = Run(lm, list(canvas.ids[: canvas.prompt_len]), settings, 42,
                           layout=Layout.infill(canvas.ids)).run_to_end()
                ours = counter.take()
                stats: dict = {}
                reference_infill(lm.model, lm.tokenizer, canvas.ids, stats=stats,
                                 generator=torch.Generator().manual_seed(42),
                                 **{k: getattr(settings, k) for k in SETTING_KEYS})
                fork = counter.take()
            finally:
                counter.close()
            assert fork == stats["calls"] and ours == len(traj.steps) == fork == canvas.blank_tokens
            lines.append(f"{name} {'chat' if question else 'raw'} ({len(canvas.ids)} tokens, "
                         f"{stats['num_blocks']} block(s)): fork {fork}, project {ours}")
    print(f"\nforward passes for {text!r}, blank_length 4, steps=64 block_length=32: " + "; ".join(lines))
