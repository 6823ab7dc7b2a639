"""Every step's decision is explained by its record, and every view says what the record says.

Real runs on tiny checkpoints, with each remasking strategy, CFG on and off, stochastic transfer
(for the scheduled strategies), several seeds, temperatures and short settings. On every step:
the committed positions are the record's first n by rank (plus overflow), ranks are a permutation
ordered by score with ties toward the lowest position, and the rule matches its strategy (the
factor rule recomputed here with Fast-dLLM's formula). What the player shows of a step ("why
this step", the hover, the drafts: its value's entry, render/runview.py) and the lesson must say
the same. The checkers return their problems as sentences, so the mutation tests can show that a
wrong record, or a wrong entry, is caught. Older files (schema 1 to 3) made from these runs load
with derived ranks and rules (and unrecorded spreads) and say so.
"""

from __future__ import annotations

import dataclasses
import json
import random
from typing import NamedTuple

import pytest

from diffutron_demo.core.branching import branch_run
from diffutron_demo.core.chat import build_prompt
from diffutron_demo.core.checkpoints import build_random_checkpoint
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import Start, generate
from diffutron_demo.core.strategies import STRATEGIES
from diffutron_demo.record.explain import rule_words
from diffutron_demo.record.step import Step
from diffutron_demo.record.trajectory import SCHEMA_VERSION, Trajectory
from diffutron_demo.render.runview import run_value
from diffutron_demo.settings import REMASKING, SamplerSettings
from diffutron_demo.teach.lesson import Lesson
from tests.helpers_schema import downgrade

QUESTIONS = ["Türkiye'nin başkenti neresidir?", "Merhaba! Nasılsın?", "Bana kısa bir şiir yazar mısın?"]
# The shared tiny checkpoints (plain, sharper, stop-string, mask-proposing) plus two built here:
# "sharp" spreads its confidences widely (threshold and factor commit several at once) and
# "flat" gives every position the same distribution, so every score ties.
MODELS = ("a", "b", "stop", "mask", "sharp", "flat")
TAU = {"a": 0.01, "b": 0.01, "stop": 0.01, "mask": 0.01, "sharp": 0.3, "flat": 0.05}
FACTORS = (1.0, 3.0, 6.0)
SCHEDULED = tuple(name for name in REMASKING if STRATEGIES[name].follows_schedule)


class Case(NamedTuple):
    name: str
    model: str
    settings: SamplerSettings
    seed: int
    question: str
    raw: bool = False
    start: Start = Start()


def make_cases() -> list[Case]:
    """Every strategy on every model, CFG off and on; the scheduled strategies draw their counts
    (stochastic transfer) on half of them."""
    rng = random.Random(11)
    cases = []
    for remasking in REMASKING:
        for m, model in enumerate(MODELS):
            for cfg in (0.0, 1.5):
                stochastic = remasking in SCHEDULED and (m + (cfg > 0)) % 2 == 1
                settings = SamplerSettings(
                    steps=rng.randint(8, 16), max_new_tokens=rng.randint(8, 16), block_length=rng.randint(4, 8),
                    temperature=rng.choice([0.0, 0.3, 1.0]), cfg_scale=cfg, remasking=remasking,
                    stochastic_transfer=stochastic, threshold=TAU[model], factor=rng.choice(FACTORS))
                name = f"{remasking}-{model}-cfg{cfg:g}{'-stochastic' if stochastic else ''}"
                cases.append(Case(name, model, settings, rng.randint(0, 2**31), rng.choice(QUESTIONS)))
    # A quota larger than the candidates commits past the window (dllm's top-k over the whole row).
    # A plan made from the canvas never asks more than the block holds, so this one is given: a
    # one-token prompt, a block of 4 and a first count of 12.
    for remasking in SCHEDULED:
        settings = SamplerSettings(steps=8, max_new_tokens=16, block_length=4, remasking=remasking, temperature=0.5)
        cases.append(Case(f"{remasking}-a-overflow", "a", settings, 5, "a", True, Start(plan=(12, 0, 0))))
    return cases


CASES = make_cases()
CASE_IDS = [c.name for c in CASES]


@pytest.fixture(scope="module")
def lms(tiny_checkpoints, tmp_path_factory):
    root = tmp_path_factory.mktemp("decisions")
    paths = list(tiny_checkpoints) + [
        build_random_checkpoint(root / "sharp", seed=5, logit_scale=100.0),
        build_random_checkpoint(root / "flat", seed=6, logit_scale=0.0, token_bias={100: 4.0, 101: 3.0}),
    ]
    return {name: load_model(str(p), device="cpu", dtype="float32") for name, p in zip(MODELS, paths)}


@pytest.fixture(scope="module")
def runs(lms) -> dict[str, Trajectory]:
    out = {}
    for c in CASES:
        lm = lms[c.model]
        prompt = build_prompt(lm.tokenizer, c.question, raw=c.raw, max_new_tokens=c.settings.max_new_tokens,
                              context_window=lm.context_window)
        out[c.name] = generate(lm, prompt.ids, c.settings, c.seed, prompt_text=prompt.text, start=c.start)
    return out


# -- the checkers ---------------------------------------------------------------------------------
def fast_dllm_n(confs: list[float], f: float) -> int:
    """Fast-dLLM's factor rule, from the confidences alone: the largest n with (n + 1)(1 - c_n) < f,
    c sorted from high to low (c_1 the highest); at least 1."""
    c = sorted(confs, reverse=True)
    return max([n for n in range(1, len(c) + 1) if (n + 1) * (1 - c[n - 1]) < f], default=1)


def decision_problems(step: Step, settings: dict) -> list[str]:
    """What is wrong with one step's recorded decision, as sentences (empty: the record is right)."""
    out = []
    rule, cands = step.rule, step.candidates
    ranked = sorted(cands, key=lambda c: c.rank)
    n = rule.get("committed")
    strategy = STRATEGIES[settings["remasking"]]
    if [c.pos for c in cands] != sorted({c.pos for c in cands}):
        out.append("candidates are not in canvas order")
    if sorted(c.rank for c in cands) != list(range(1, len(cands) + 1)):
        out.append(f"ranks {sorted(c.rank for c in cands)} are not 1..{len(cands)} each once")
    if not isinstance(n, int) or not 0 <= n <= len(cands):
        return out + [f"rule['committed'] = {n!r} is not a count of the {len(cands)} candidates"]
    expected = [c.pos for c in ranked[:n]] + [o.pos for o in step.overflow]
    if step.committed != expected:
        out.append(f"committed {step.committed} != the first {n} by rank plus overflow {expected}")
    if all(c.score is not None for c in cands):
        by_score = sorted(cands, key=lambda c: (-c.score, c.pos))  # ties toward the lowest position
        if [c.pos for c in ranked] != [c.pos for c in by_score]:
            out.append(f"rank order {[c.pos for c in ranked]} != score order (ties by position) "
                       f"{[c.pos for c in by_score]}")
    if rule.get("by") != strategy.ranks_by:
        out.append(f"rule['by'] = {rule.get('by')!r}, the strategy ranks by {strategy.ranks_by!r}")
    if strategy.ranks_by == "confidence":
        if any(c.score != c.conf for c in cands):
            out.append("a confidence strategy's score is not the confidence")
    elif cands and any(c.score is not None for c in cands):
        if not any(c.score != c.conf for c in cands):
            out.append("the random draw's scores are the confidences")
        if not all(0.0 <= c.score < 1.0 for c in cands):
            out.append("a random draw's score is outside [0, 1)")
    return out + rule_problems(step, settings, n)


def rule_problems(step: Step, settings: dict, n: int) -> list[str]:
    rule, cands = step.rule, step.candidates
    confs = [c.conf for c in cands]
    remasking, out = settings["remasking"], []
    if remasking in SCHEDULED:
        if rule.get("kind") != "quota" or rule.get("quota") != step.quota:
            out.append(f"rule {rule} is not the quota rule with the step's quota {step.quota}")
        if n != min(step.quota, len(cands)):
            out.append(f"committed {n} != min(quota {step.quota}, {len(cands)} candidates)")
        if step.quota > step.scheduled or len(step.overflow) > max(0, step.quota - len(cands)):
            out.append("the quota or the overflow exceeds what the schedule allowed")
    elif remasking == "threshold":
        tau = settings["threshold"]
        above = sum(c >= tau for c in confs)
        if rule.get("kind") != "threshold" or rule.get("tau") != tau or rule.get("above") != above:
            out.append(f"rule {rule} != threshold τ = {tau} with {above} candidates at or above it")
        if n != max(1, above):
            out.append(f"committed {n} != max(1, {above} above τ)")
    elif remasking == "factor":
        f, expected = settings["factor"], fast_dllm_n(confs, settings["factor"])
        if rule.get("kind") != "factor" or rule.get("f") != f or rule.get("n") != expected:
            out.append(f"rule {rule} != factor f = {f} with Fast-dLLM's n = {expected}")
        if n != expected:
            out.append(f"committed {n} != Fast-dLLM's n = {expected}")
    if remasking not in SCHEDULED and step.overflow:
        out.append("an unscheduled strategy committed past the window")
    return out


def entries(traj: Trajectory) -> list[dict]:
    """The player's entry for each step (what "why this step", the hover and the drafts draw)."""
    return run_value(traj, label="decisions")["steps"]


def why_problems(traj: Trajectory, i: int, entry: dict | None = None) -> list[str]:
    """What the player's entry for step i (0-based) gets wrong about the step, against the record."""
    step = traj.steps[i]
    entry = entries(traj)[i] if entry is None else entry
    ranked, n = step.ranked(), step.rule["committed"]
    rows = {p: r for r, p in enumerate(traj.slots)}
    out = []
    by_rank = sorted(entry["c"], key=lambda c: c[3])
    if [(c[3], c[0]) for c in by_rank] != [(c.rank, rows[c.pos]) for c in ranked]:
        out.append(f"candidates {[(c[3], c[0]) for c in by_rank]} are not the record's ranks")
    marked = [c[0] for c in by_rank if c[8]]
    if marked != [rows[c.pos] for c in ranked[:n]]:
        out.append(f"rows marked committed {marked} != the first {n} by rank")
    cut = max((c[3] for c in entry["c"] if c[8]), default=0)  # the cutoff line: under the last committed
    if cut != n:
        out.append(f"the cutoff line is under rank {cut}, not under rank {n}")
    if entry["k"] != [rows[p] for p in step.committed]:
        out.append(f"committed rows {entry['k']} are not the step's commits in rank order")
    why = entry["why"]
    if why != rule_words(step):
        out.append("the rule in words is not the step's")
    kind, by = step.rule.get("kind"), step.rule.get("by")
    if by == "random draw":
        if "drawn at random" not in why or "most confident" in why:
            out.append("a random step is not called a random draw")
    elif "drawn at random" in why:
        out.append("a confidence step is called a random draw")
    if kind == "threshold" and f"τ = {step.rule['tau']:g}" not in why:
        out.append("the threshold τ is not shown")
    if kind == "factor" and not (f"f = {step.rule['f']:g}" in why and f"is {step.rule['n']}," in why):
        out.append("the factor f and its n are not shown")
    return out


def all_problems(traj: Trajectory) -> list[str]:
    shown = entries(traj)
    return [f"step {i + 1}: {p}" for i, st in enumerate(traj.steps)
            for p in decision_problems(st, traj.settings) + why_problems(traj, i, shown[i])]


# -- every step of every run ---------------------------------------------------------------------
@pytest.mark.parametrize("case", CASE_IDS)
def test_every_step_is_explained_by_its_record(runs, case):
    traj = runs[case]
    assert traj.steps
    assert all_problems(traj) == []


def test_the_runs_exercise_every_kind_of_decision(runs):
    """Without these the checks above would pass vacuously on some path."""
    steps = {name: runs[name].steps for name in CASE_IDS}

    def some(prefix, pred):
        return any(pred(st) for name, sts in steps.items() if name.startswith(prefix) for st in sts)

    assert some("", lambda st: len({c.score for c in st.candidates}) < len(st.candidates) > 1), "no tie"
    assert some("", lambda st: st.overflow), "no overflow"
    assert some("", lambda st: st.forced), "no forced edit"
    assert some("", lambda st: st.rule["committed"] == 0), "no step with a quota of 0"
    for strategy in SCHEDULED:
        assert some(strategy, lambda st: 1 < st.rule["committed"] < len(st.candidates)), strategy
    assert some("threshold", lambda st: st.rule["above"] == 0), "never below τ"
    assert some("threshold", lambda st: 1 < st.rule["above"] < len(st.candidates)), "never several above τ"
    assert some("factor", lambda st: 1 < st.rule["n"] < len(st.candidates)), "factor never took several"
    assert some("factor", lambda st: st.rule["n"] == 1 < len(st.candidates)), "factor never took one"
    assert any("stochastic" in name for name in CASE_IDS if name.startswith("random"))


# -- the checkers catch a wrong record ------------------------------------------------------------
def _at_cut(st: Step) -> bool:
    """Committed and uncommitted candidates whose scores differ at the cut."""
    ranked, n = st.ranked(), st.rule["committed"]
    return 0 < n < len(ranked) and ranked[n - 1].score != ranked[n].score


def _first(traj: Trajectory, pick=_at_cut) -> int:
    return next(i for i, st in enumerate(traj.steps) if pick(st))


def _swap_ranks(step: Step, a: int, b: int) -> Step:
    swap = {a: b, b: a}
    return dataclasses.replace(step, candidates=[dataclasses.replace(c, rank=swap.get(c.rank, c.rank))
                                                 for c in step.candidates])


@pytest.mark.parametrize("case", ["low_confidence-sharp-cfg0", "random-a-cfg0", "threshold-sharp-cfg0",
                                  "factor-sharp-cfg0", "low_confidence-a-overflow"])
def test_flipping_one_rank_across_the_cut_is_caught(runs, case):
    traj = runs[case]
    assert all_problems(traj) == []
    i = _first(traj)
    n = traj.steps[i].rule["committed"]
    bad = dataclasses.replace(traj, steps=list(traj.steps))
    bad.steps[i] = _swap_ranks(traj.steps[i], n, n + 1)  # the last committed and the first left masked
    problems = decision_problems(bad.steps[i], bad.settings)
    assert any("by rank" in p for p in problems), problems
    assert why_problems(bad, i), "why this step should show the cut in the wrong place"


def _set_rule(step: Step, **changes) -> Step:
    return dataclasses.replace(step, rule={**step.rule, **changes})


def _scores(step: Step, score) -> Step:
    return dataclasses.replace(step, candidates=[dataclasses.replace(c, score=score(c)) for c in step.candidates])


def _ties(st: Step) -> bool:
    return len(st.candidates) > 1 and len({c.score for c in st.candidates}) == 1


MUTATIONS = {  # name: (run, which step, the mutation)
    "two ranks the same": ("low_confidence-sharp-cfg0", _at_cut, lambda st: dataclasses.replace(
        st, candidates=[dataclasses.replace(c, rank=1) if c.rank == 2 else c for c in st.candidates])),
    "committed in another order": ("threshold-sharp-cfg0", lambda st: len(st.committed) > 1,
                                   lambda st: dataclasses.replace(st, committed=st.committed[::-1])),
    "a tie ranked toward the higher position": ("low_confidence-flat-cfg1.5", _ties, lambda st: _swap_ranks(st, 1, 2)),
    "one more committed": ("low_confidence-sharp-cfg0", _at_cut,
                           lambda st: _set_rule(st, committed=st.rule["committed"] + 1)),
    "an overflow commit left out": ("low_confidence-a-overflow", lambda st: st.overflow,
                                    lambda st: dataclasses.replace(st, committed=st.committed[:-1])),
    "the wrong quota": ("random-a-cfg0", _at_cut, lambda st: _set_rule(st, quota=st.quota + 1)),
    "a random draw called confidence": ("random-a-cfg0", _at_cut, lambda st: _set_rule(st, by="confidence")),
    "a random draw scored by confidence": ("random-a-cfg0", _at_cut, lambda st: _scores(st, lambda c: c.conf)),
    "a confidence run scored otherwise": ("threshold-sharp-cfg0", _at_cut,
                                          lambda st: _scores(st, lambda c: c.conf / 2)),
    "a miscounted threshold": ("threshold-sharp-cfg0", _at_cut, lambda st: _set_rule(st, above=st.rule["above"] + 1)),
    "the wrong τ": ("threshold-sharp-cfg0", _at_cut, lambda st: _set_rule(st, tau=0.5)),
    "the wrong factor n": ("factor-sharp-cfg0", _at_cut, lambda st: _set_rule(st, n=st.rule["n"] + 1)),
}


@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_a_wrong_record_is_caught(runs, mutation):
    case, pick, mutate = MUTATIONS[mutation]
    traj = runs[case]
    step = traj.steps[_first(traj, pick)]
    assert decision_problems(step, traj.settings) == []
    assert decision_problems(mutate(step), traj.settings), mutation


def test_a_wrong_player_entry_is_caught(runs):
    traj = runs["threshold-sharp-cfg0"]
    i = _first(traj)
    entry = entries(traj)[i]
    assert why_problems(traj, i, entry) == []

    def changed(**parts) -> dict:
        return {**entry, **parts}

    first = next(k for k, c in enumerate(entry["c"]) if c[8])
    unmarked = [c[:8] + [0] if k == first else c for k, c in enumerate(entry["c"])]
    assert why_problems(traj, i, changed(c=unmarked))  # a committed row unmarked
    assert why_problems(traj, i, changed(why=""))  # no rule in words
    assert why_problems(traj, i, changed(k=entry["k"][::-1] + [0]))  # the wrong commits
    a, b = sorted(entry["c"], key=lambda c: c[3])[:2]
    swapped = [c[:3] + [b[3] if c is a else a[3] if c is b else c[3]] + c[4:] for c in entry["c"]]
    assert why_problems(traj, i, changed(c=swapped))  # two ranks out of the record's order


# -- the lesson and the player's hover say the same -----------------------------------------------
def _lesson_texts(traj: Trajectory, lang: str) -> list[tuple[Step, str]]:
    lesson, out = Lesson(traj, lang=lang), []
    assert lesson.asked
    while not lesson.finished:
        step = traj.steps[lesson.step]
        _, text = lesson.guess(lesson.choices()[-1])
        out.append((step, text))
        lesson.next()
    return out


@pytest.mark.parametrize("case", ["random-sharp-cfg0", "random-a-cfg1.5-stochastic"])
def test_the_lesson_calls_a_random_run_a_random_draw(runs, case):
    for step, text in _lesson_texts(runs[case], "en"):
        mine = step.candidates[-1]  # the pick: the last choice in canvas order
        assert "drawn at random" in text and "most confident" not in text
        assert f"drawn rank {mine.rank} of {len(step.candidates)}" in text
    for _, text in _lesson_texts(runs[case], "tr"):
        assert "rastgele" in text and "en güvenli" not in text


@pytest.mark.parametrize("case", ["threshold-sharp-cfg0", "threshold-a-cfg0"])
def test_the_lesson_names_the_threshold(runs, case):
    tau = runs[case].settings["threshold"]
    for lang, words in (("en", f"With threshold τ = {tau}"), ("tr", f"τ = {tau} eşiğiyle")):
        for step, text in _lesson_texts(runs[case], lang):
            assert words in text
            assert f"({step.rule['above']} " in text


def test_the_lesson_names_the_factor_and_n(runs):
    traj = runs["factor-sharp-cfg0"]
    for step, text in _lesson_texts(traj, "en"):
        assert f"(f = {traj.settings['factor']}) chose n = {step.rule['n']}" in text
        assert "drawn at random" not in text


def test_the_lesson_of_a_confidence_run_says_most_confident(runs):
    for step, text in _lesson_texts(runs["low_confidence-sharp-cfg0"], "en"):
        assert f"the {step.rule['committed']} most confident" in text and "random" not in text


def _hovers(traj: Trajectory):
    """(step, candidate, its tuple in the player's entry, the entry) for every candidate the heatmap's
    hover describes (its rank of the step's candidates, and the step's rule in words)."""
    rows = {p: r for r, p in enumerate(traj.slots)}
    for st, entry in zip(traj.steps, entries(traj)):
        cells = {c[0]: c for c in entry["c"]}
        for c in st.candidates:
            yield st, c, cells[rows[c.pos]], entry


@pytest.mark.parametrize("case", ["random-a-cfg0", "random-sharp-cfg1.5-stochastic", "random-flat-cfg1.5"])
def test_the_hover_of_a_random_run_shows_the_drawn_rank_and_calls_it_a_random_draw(runs, case):
    seen = 0
    for st, c, cell, entry in _hovers(runs[case]):
        assert cell[3] == c.rank and len(entry["c"]) == len(st.candidates), "rank r of n, as drawn"
        assert cell[8] == int(c.pos in st.committed)
        assert "drawn at random" in entry["why"] and "most confident" not in entry["why"]
        seen += 1
    assert seen


@pytest.mark.parametrize("case", ["low_confidence-sharp-cfg0", "factor-sharp-cfg0", "threshold-sharp-cfg0"])
def test_the_hover_of_a_confidence_run_shows_the_rank_and_the_rule(runs, case):
    for st, c, cell, entry in _hovers(runs[case]):
        assert cell[3] == c.rank and cell[2] == round(c.conf, 4)
        if st.rule["kind"] == "threshold":
            assert f"τ = {st.rule['tau']:g}" in entry["why"]
            assert (c.conf >= st.rule["tau"]) <= bool(cell[8]), "every candidate at or above τ is committed"
        else:
            assert f"the {st.rule['committed']} most confident" in entry["why"] or st.rule["kind"] == "factor"
        assert "random" not in entry["why"]


# -- older files -----------------------------------------------------------------------------------
OLD_CASES = ["low_confidence-sharp-cfg0", "random-sharp-cfg0", "threshold-sharp-cfg0", "factor-sharp-cfg0",
             "low_confidence-flat-cfg1.5", "random-stop-cfg1.5-stochastic", "threshold-flat-cfg0", "factor-flat-cfg1.5",
             "random-a-overflow"]


@pytest.fixture(scope="module")
def with_branch(runs, lms) -> dict[str, dict]:
    """Each OLD_CASES run as schema 4 JSON, with one branch from step 2 (so a schema 2 file has one)."""
    out = {}
    for case in OLD_CASES:
        traj = Trajectory.from_json(runs[case].to_json())
        model = next(c.model for c in CASES if c.name == case)
        traj.add_branch(branch_run(lms[model], traj, 2).run_to_end(), 2)
        out[case] = json.loads(traj.to_json())
    return out


def _old_and_new(data: dict, version: int) -> tuple[Trajectory, Trajectory, list[list[Step]], list[list[Step]]]:
    new = Trajectory.from_dict(json.loads(json.dumps(data)))
    old = Trajectory.from_json(json.dumps(downgrade(data, version)))
    new_runs = [new.steps] + [b.steps for b in new.branches]
    old_runs = [old.steps] + [b.steps for b in old.branches]
    return old, new, old_runs, new_runs


def no_spread(step: Step) -> Step:
    """The step as a file older than schema 4 holds it: no entropy, margin or rest recorded."""
    return dataclasses.replace(step, candidates=[dataclasses.replace(c, entropy=None, margin=None, rest=None)
                                                 for c in step.candidates])


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("case", OLD_CASES)
def test_an_old_file_gets_its_ranks_and_rules_derived(with_branch, case, version):
    data = with_branch[case]
    old, new, old_runs, new_runs = _old_and_new(data, version)
    assert len(old.branches) == (1 if version == 2 else 0)
    random_run = data["settings"]["remasking"] == "random"
    for old_steps, new_steps in zip(old_runs, new_runs):
        assert all(st.derived for st in old_steps) and not any(st.derived for st in new_steps)
        for was, now in zip(new_steps, old_steps):
            assert decision_problems(now, data["settings"]) == []
            assert all(c.entropy is None and c.margin is None and c.rest is None for c in now.candidates)
            if not random_run:  # the order and the rule are exactly the recorded ones
                assert dataclasses.replace(now, derived=False) == no_spread(was)
                continue
            n = was.rule["committed"]
            chosen = [p for p in was.committed if p not in {o.pos for o in was.overflow}]
            assert [c.pos for c in now.ranked()[:n]] == chosen  # the committed first, in recorded order
            assert [c.pos for c in now.ranked()[n:]] == sorted(set(c.pos for c in now.candidates) - set(chosen))
            assert all(c.score is None for c in now.candidates)
            assert now.rule == {**was.rule} and now.committed == was.committed
    shown = entries(old)
    for i, st in enumerate(old.steps):
        why = shown[i]["why"]
        assert shown[i]["derived"] is True
        assert "Scores and ranks were derived when this older file was loaded" in why
        assert ("the random draw itself was not recorded" in why) == random_run
        assert all(c[4] is None and c[5] is None and c[6] is None for c in shown[i]["c"]), "spread: not recorded"
        assert why_problems(old, i, shown[i]) == []


@pytest.mark.parametrize("case", OLD_CASES)
def test_a_schema_3_file_loads_with_its_decisions_and_no_spread(with_branch, case):
    data = with_branch[case]
    old, new, old_runs, new_runs = _old_and_new(data, 3)
    assert old.mode == "generate" and old.initial_ids == new.initial_ids and old.blanks == new.blanks
    assert [(b.kind, b.parent, b.blanks) for b in old.branches] == [("what_if", None, [])]
    for old_steps, new_steps in zip(old_runs, new_runs):
        assert not any(st.derived for st in old_steps), "schema 3 recorded its scores, ranks and rules"
        assert old_steps == [no_spread(st) for st in new_steps]
    assert all_problems(old) == []


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("case", ["random-sharp-cfg0", "factor-sharp-cfg0"])
def test_an_upgraded_file_saves_as_schema_4(with_branch, case, version, tmp_path):
    old_path = tmp_path / "old.json"
    old_path.write_text(json.dumps(downgrade(with_branch[case], version), ensure_ascii=False), encoding="utf-8")
    loaded = Trajectory.load(old_path)
    saved = json.loads(loaded.save(tmp_path / "new.json").read_text(encoding="utf-8"))
    assert saved["schema_version"] == SCHEMA_VERSION == 4
    assert saved["mode"] == "generate" and saved["initial_ids"] == with_branch[case]["initial_ids"]
    assert [b["kind"] for b in saved["branches"]] == ["what_if"] * (version > 1)
    for steps in [saved["steps"]] + [b["steps"] for b in saved["branches"]]:
        assert all(st.get("derived", False) is (version < 3) and "rule" in st for st in steps)
        assert all("rank" in c and "score" in c for st in steps for c in st["candidates"])
        assert all(c["entropy"] is None and c["margin"] is None and c["rest"] is None
                   for st in steps for c in st["candidates"])
    again = Trajectory.load(tmp_path / "new.json")
    assert again.steps == loaded.steps and all(st.derived is (version < 3) for st in again.steps)
