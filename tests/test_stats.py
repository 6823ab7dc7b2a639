"""The figures of one run read from its record (record/stats.py): which answer positions make the
reply, its tokens and its mean confidence at commit, and why an empty reply is empty.

The trajectories here are written by hand, so each case holds exactly what it is about: an end
marker and padding committed early with high confidence (as trained models do), an eos, a redo, an
infill run, and each reason an answer can be empty.
"""

from __future__ import annotations

import pytest

from diffutron_demo.app.service import shown_answer
from diffutron_demo.record.stats import (
    answer_tokens, empty_reason, mean_committed_conf, reply_rows, run_stats)
from diffutron_demo.record.step import Candidate, Edit, Step
from diffutron_demo.record.trajectory import Trajectory
from diffutron_demo.settings import SamplerSettings

MASK, PAD, EOS, BOS = 4, 0, 1, 2
PIECES = {10: "Soru", 20: "Ev", 21: "ler", 22: " gel", 30: "\n", 31: "[/", 32: "Answer", 33: "]", 40: " ",
          PAD: "<pad>", EOS: "</s>", BOS: "<s>", MASK: "<mask>"}
MARKER = [31, 32, 33]  # "[/Answer]": how the template ends an answer
P = 1  # the prompt is one token


def step(i: int, commits: list[tuple[int, int, float]], *, forced: list[Edit] = (), waiting=()) -> Step:
    """Step i committing (answer position, token, confidence) by confidence; `waiting` are drafts
    of positions left masked."""
    drafts = [(P + r, t, c, True) for r, t, c in commits] + [(P + r, t, c, False) for r, t, c in waiting]
    order = sorted(drafts, key=lambda d: (-d[2], d[0]))
    rank = {d[0]: k for k, d in enumerate(order, start=1)}
    candidates = [Candidate(pos, t, c, c, rank[pos], [[t, c]], 0.5, 0.1, 0.0) for pos, t, c, _ in sorted(drafts)]
    committed = [pos for pos, _, _, kept in order if kept]
    return Step(step=i, block=0, scheduled=len(commits), quota=len(commits), window=(P, P + 64),
                candidates=candidates, committed=committed,
                rule={"kind": "quota", "quota": len(commits), "by": "confidence", "committed": len(commits)},
                forced=list(forced))


def run(answer: list[int], steps: list[Step], *, reply: str = "", stop: str = "complete", mode: str = "generate",
        history: int = 0, penalty: float = 1.0, initial: list[int] | None = None) -> Trajectory:
    settings = SamplerSettings(max_new_tokens=len(answer), repetition_penalty=penalty).to_dict()
    return Trajectory(model={"name": "hand", "device": "cpu", "dtype": "float32", "context_window": 64},
                      settings=settings, seed=0, prompt={"text": "Soru", "history_turns": history}, prompt_ids=[10],
                      special_ids={"mask": MASK, "pad": PAD, "eos": EOS, "bos": BOS}, final_ids=[10] + answer,
                      reply=reply, stop_reason=stop, wall_ms=1.0, pieces=dict(PIECES), steps=steps, mode=mode,
                      initial_ids=initial)


def marked_run() -> Trajectory:
    """"Evler[/Answer]" then padding: the marker and the pads were committed first, at 0.99."""
    answer = [20, 21] + MARKER + [PAD, PAD]
    first = step(0, [(2, 31, 0.99), (3, 32, 0.99), (4, 33, 0.99), (5, PAD, 0.99), (6, PAD, 0.99)],
                 waiting=[(0, 20, 0.2), (1, 21, 0.3)])
    second = step(1, [(0, 20, 0.3), (1, 21, 0.5)])
    return run(answer, [first, second], reply="Evler")


# -- the reply's rows, tokens and confidence ------------------------------------------------------------
def test_the_reply_leaves_out_the_end_marker_and_the_padding():
    traj = marked_run()
    assert reply_rows(traj) == [0, 1]
    assert answer_tokens(traj) == [20, 21]
    # 0.4 over the reply's two tokens; the five committed at 0.99 would have made it 0.82.
    assert mean_committed_conf(traj) == pytest.approx(0.4)
    stats = run_stats(traj)
    assert stats["answer tokens"] == 2 and stats["mean conf"] == pytest.approx(0.4)
    assert stats["tokens / step"] == 3.5, "the speed counts every commit, marker and pads included"


def test_text_before_the_marker_is_kept_as_the_reply_keeps_it():
    """The template writes "\n[/Answer]": the newline is text before the marker, and the reply
    (dllm's decode_trim) keeps it too; the marker's pieces are left out."""
    answer = [20, 40, 30] + MARKER + [PAD]
    traj = run(answer, [step(0, [(k, t, 0.9) for k, t in enumerate(answer)])], reply="Ev \n")
    assert reply_rows(traj) == [0, 1, 2]
    assert answer_tokens(traj) == [20, 40, 30]
    assert "".join(PIECES[t] for t in answer_tokens(traj)) == traj.reply


def test_the_reply_ends_at_the_first_eos_or_pad():
    traj = run([20, 21, EOS, 22, PAD], [step(0, [(0, 20, 0.6), (1, 21, 0.4), (2, EOS, 0.99), (3, 22, 0.99),
                                                (4, PAD, 0.99)])], reply="Evler")
    assert reply_rows(traj) == [0, 1]
    assert answer_tokens(traj) == [20, 21]
    assert mean_committed_conf(traj) == pytest.approx(0.5)


def test_a_position_redone_counts_once_as_it_stands():
    traj = marked_run()
    redo = step(2, [(0, 22, 0.9)], forced=[Edit(P, MASK, 20, "redo")])
    traj = run([22, 21] + MARKER + [PAD, PAD], traj.steps + [redo], reply=" gelr")
    assert reply_rows(traj) == [0, 1]
    assert mean_committed_conf(traj) == pytest.approx((0.9 + 0.5) / 2)


def test_a_reply_with_no_commit_by_rank_has_no_mean():
    traj = run([20, 21], [step(0, [], waiting=[(0, 20, 0.1)])], reply="")
    assert mean_committed_conf(traj) is None


def test_in_infill_every_blank_is_the_reply():
    """A fill's reply is its blanks, whatever they hold."""
    canvas = [20, MASK, MASK, 22, MASK]
    traj = run([20, PAD, 21, 22, 31], [step(0, [(1, PAD, 0.9), (2, 21, 0.7), (4, 31, 0.5)])], mode="infill",
               initial=[10] + canvas, reply="Ev<pad>ler gel[/")
    assert traj.slots == [P + 1, P + 2, P + 4]
    assert reply_rows(traj) == [0, 1, 2]
    assert answer_tokens(traj) == [21, 31], "special ids are not answer tokens"
    assert mean_committed_conf(traj) == pytest.approx((0.9 + 0.7 + 0.5) / 3)


# -- why an empty reply is empty ------------------------------------------------------------------------
def why(traj: Trajectory, lang: str = "en") -> str:
    """The reason without its closing full stop (the sentence's words are what is checked)."""
    reason = empty_reason(traj, lang)
    assert reason and reason.endswith("."), reason
    return reason[:-1]


def test_a_reply_with_text_has_no_empty_reason():
    assert empty_reason(marked_run()) is None


def test_cancelled_before_any_text():
    traj = run([MASK] * 4, [step(0, [], waiting=[(0, 20, 0.1)])], stop="cancelled")
    assert why(traj) == "stopped at step 1, before the answer had any text"
    assert why(traj, "tr") == "cevapta hiç metin yokken 1. adımda durduruldu"


def test_a_stop_string_at_the_start():
    edits = [Edit(P + k, t, MASK, "stop_string") for k, t in enumerate([30] + MARKER + [PAD])]
    traj = run([30] + MARKER + [PAD], [step(0, [(0, 31, 0.9)], forced=edits)])
    assert why(traj) == ("a stop string was generated at answer position 0; the stop check wrote the end "
                                  "marker there")


def test_masks_left_at_the_start():
    traj = run([MASK, MASK, 20], [step(0, [(0, MASK, 0.9), (2, 20, 0.5)]), step(1, [(1, MASK, 0.8)])])
    assert why(traj) == "the answer's first positions are still masks: the model proposed the mask token itself"


@pytest.mark.parametrize("first", [PAD, EOS])
def test_the_first_position_is_a_special_token(first):
    traj = run([first, PAD, PAD], [step(0, [(1, PAD, 0.99), (2, PAD, 0.98)]), step(1, [(0, first, 0.97)])])
    assert why(traj) == (f"the model's first answer position became {PIECES[first]} at step 2 "
                         "(confidence 0.97): it chose to write nothing")


def test_a_blank_then_padding_is_not_called_an_end_marker():
    """A reply of whitespace alone, then padding: the model wrote nothing; there is no end marker."""
    traj = run([40, PAD, PAD], [step(0, [(1, PAD, 0.99), (2, PAD, 0.98)]), step(1, [(0, 40, 0.97)])])
    assert traj.reply.strip() == ""
    reason = why(traj)
    assert "end marker" not in reason and "it chose to write nothing" in reason, reason


def test_the_end_marker_at_once():
    traj = run([31, 32, 33, PAD], [step(0, [(3, PAD, 0.99)]), step(1, [(0, 31, 0.9), (1, 32, 0.9), (2, 33, 0.9)])])
    assert reply_rows(traj) == []
    assert why(traj) == ("the model closed the answer at once: the end marker begins at answer position 0, "
                                  "written at step 2")
    assert why(traj, "tr") == ("model cevabı hemen kapattı: bitiş işareti 0. konumda başlıyor, 2. adımda "
                               "yazıldı")


@pytest.mark.parametrize("history, penalty, said", [(2, 1.2, True), (0, 1.2, False), (2, 1.0, False)])
def test_the_repetition_penalty_on_a_long_history_is_named(history, penalty, said):
    traj = run([31, 32, 33], [step(0, [(0, 31, 0.9), (1, 32, 0.9), (2, 33, 0.9)])], history=history, penalty=penalty)
    reason = empty_reason(traj)
    assert reason.startswith("the model closed the answer at once")
    assert ("pushed down by the repetition penalty" in reason) == said


def test_the_chat_shows_why_an_answer_is_empty():
    traj = run([31, 32, 33], [step(0, [(0, 31, 0.9), (1, 32, 0.9), (2, 33, 0.9)])])
    assert shown_answer(traj, 1) == f"(empty answer: {empty_reason(traj)})"
    stopped = run([MASK] * 2, [], stop="cancelled")
    assert why(stopped) == "stopped at step 0, before the answer had any text"
    assert shown_answer(stopped, 8) == (f"(empty answer: {empty_reason(stopped)})\n\n"
                                        "■ stopped at step 0 of ~8: partial answer")
