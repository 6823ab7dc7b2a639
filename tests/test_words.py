"""The word view: token pieces merged into Turkish words, and each word's state and confidence.

`word_spans` is checked on hand-written pieces (several pieces per word, apostrophes, punctuation,
whitespace) and on the pieces a real (tiny, byte-level BPE) tokenizer cuts Turkish text into.
`answer_words` (what the player's word rows are) folds the padding after an answer into one row;
`word_grid` is checked against the token grid (`cell_grid`) and the canvas (`Trajectory.canvas_at`)
of real runs on tiny checkpoints. The player draws the word view from these (tests/test_player.py
drives that in a browser).
"""

from __future__ import annotations

import random
import re

import pytest

from diffutron_demo.core.chat import build_prompt
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import Run
from diffutron_demo.settings import SamplerSettings
from diffutron_demo.record.trajectory import Trajectory
from diffutron_demo.record.cells import COMMITTED, COMMITTED_NOW, DONE, FORCED, MASKED, cell_grid
from diffutron_demo.record.words import PARTIAL, Word, answer_words, word_grid, word_spans
from diffutron_demo.render.export import standalone_html
from diffutron_demo.render.runview import run_value

IMG = "<img src=x onerror=alert(1)>"


def words_of(pieces: list[str]) -> list[str]:
    return ["".join(pieces[a:b]) for a, b in word_spans(pieces)]


def assert_partition(spans: list[tuple[int, int]], n: int) -> None:
    """Every index 0..n-1 in exactly one span, spans non-empty and in order."""
    covered = [i for a, b in spans for i in range(a, b)]
    assert covered == list(range(n)), spans
    assert all(a < b for a, b in spans), spans


# -- word_spans on hand-written pieces ------------------------------------------------------------
@pytest.mark.parametrize("pieces, words", [
    (["Ev", "ler", "imiz", "den", " çık", "tık", "."], ["Evlerimizden", " çıktık", "."]),
    (["Ev", "ler", "imiz", "den", " çık", "tık", " ve", " park", "a", " yürü", "dük", "."],
     ["Evlerimizden", " çıktık", " ve", " parka", " yürüdük", "."]),
    (["Gök", "yüz", "ü", " mavi", ",", " deniz", " der", "in", ";", " rüz", "gâr", " eser", "."],
     ["Gökyüzü", " mavi", ",", " deniz", " derin", ";", " rüzgâr", " eser", "."]),
    (["Öğ", "ren", "ci", "ler", " okul", "da"], ["Öğrenciler", " okulda"]),
])
def test_several_pieces_make_one_word(pieces, words):
    assert words_of(pieces) == words


@pytest.mark.parametrize("pieces, words", [
    (["Ankara", "'", "nın", " nüfusu"], ["Ankara'nın", " nüfusu"]),
    (["Ankara", "'nın"], ["Ankara'nın"]),
    (["Ankara", "’", "nın", " nüfusu"], ["Ankara’nın", " nüfusu"]),
    (["Ankara", "’nın"], ["Ankara’nın"]),
    (["Türkiye", "'", "nin", " başkenti", " Ankara", "'", "dır", "."], ["Türkiye'nin", " başkenti", " Ankara'dır", "."]),
    ([" Boğaz", "'ın", " iki", " yaka", "sında"], [" Boğaz'ın", " iki", " yakasında"]),
])
def test_apostrophes_stay_inside_the_word(pieces, words):
    assert words_of(pieces) == words


@pytest.mark.parametrize("mark", [",", ".", "!", "?", ";", ":"])
def test_punctuation_stands_alone(mark):
    pieces = ["Merhaba", mark, " dünya", mark, mark, "ev", "ler"]
    assert words_of(pieces) == ["Merhaba", mark, " dünya", mark, mark, "evler"]


def test_newlines_and_whitespace_only_pieces_are_their_own_units():
    pieces = ["Bir", "\n", "İki", "\n\n", " ", "Üç", "ler", " ", " dört", "\t", "beş"]
    assert words_of(pieces) == ["Bir", "\n", "İki", "\n\n", " ", "Üçler", " ", " dört", "\t", "beş"]


def test_a_piece_starting_with_a_space_starts_a_word():
    assert words_of(["ev", " ev", "ler", " \nde", "n"]) == ["ev", " evler", " \nden"]
    assert word_spans(["a", " b", " c"]) == [(0, 1), (1, 2), (2, 3)]


def test_empty_list():
    assert word_spans([]) == []


def test_spans_cover_every_index_once_in_order():
    rng = random.Random(7)
    alphabet = ["ev", "ler", " çık", "tık", "'", "’nın", ",", ".", "!", "?", "\n", " ", "", "\ufffd", "<pad>",
                "Ankara", " ", "\t", "…", " (", "1", "23"]
    for _ in range(300):
        pieces = [rng.choice(alphabet) for _ in range(rng.randint(0, 25))]
        spans = word_spans(pieces)
        assert_partition(spans, len(pieces))
        if pieces:
            assert spans[0][0] == 0


def test_a_letter_split_across_byte_pieces_stays_in_its_word():
    # A byte-level BPE (the demo model's tokenizer) can cut a two-byte letter such as "Ş" into two
    # pieces that each decode to U+FFFD. They are parts of a letter, not punctuation.
    assert words_of(["\ufffd", "\ufffd", "eh", "ir", "de", " ağaç", "lar"]) == ["\ufffd\ufffdehirde", " ağaçlar"]
    assert words_of([" ", "\ufffd", "\ufffd", "ık", "tık"]) == [" ", "\ufffd\ufffdıktık"]


# -- word_spans on a real tokenizer's pieces ------------------------------------------------------
SENTENCES = [
    "Evlerimizden çıktık ve parka yürüdük.",
    "Ankara'nın nüfusu beş milyondan fazladır.",
    "Gökyüzü mavi, deniz derin; rüzgâr eser.",
    "Şehirde ağaçlar öğleden sonra çiçek açtı!",
    "Öğrenciler okulda matematik dersi alır mı?",
]


@pytest.fixture(scope="module")
def lm(tiny_checkpoint):
    return load_model(str(tiny_checkpoint), device="cpu", dtype="float32")


@pytest.mark.parametrize("text", SENTENCES)
def test_real_tokenizer_pieces_group_into_the_sentences_words(lm, text):
    tok = lm.tokenizer
    ids = tok(text, add_special_tokens=False)["input_ids"]
    pieces = [tok.decode([i]) for i in ids]
    spans = word_spans(pieces)
    assert_partition(spans, len(ids))
    got = [w.strip() for w in (tok.decode(ids[a:b]) for a, b in spans) if w.strip()]
    expected = re.findall(r"[\w'’]+|[^\w\s]", text)
    assert got == expected, f"pieces {pieces} grouped as {[pieces[a:b] for a, b in spans]}"


# -- word_grid, the figure and the canvas on real runs ---------------------------------------------
QUESTION = "Evlerimizden çıktık, Ankara'nın nüfusu?"
SETTINGS = SamplerSettings(steps=12, max_new_tokens=24, block_length=8, temperature=0.8)
CASES = {"plain": 1, "stop": 2, "mask": 3}  # tiny_checkpoints index: 2 forces stop edits, 3 commits the mask id


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def run(request, tiny_checkpoints, tmp_path_factory):
    """A recorded run, saved and loaded back (what the app draws from)."""
    model = load_model(str(tiny_checkpoints[CASES[request.param]]), device="cpu", dtype="float32")
    prompt = build_prompt(model.tokenizer, QUESTION, max_new_tokens=SETTINGS.max_new_tokens,
                          context_window=model.context_window)
    traj = Run(model, prompt.ids, SETTINGS, 3, prompt_text=prompt.text).run_to_end()
    path = traj.save(tmp_path_factory.mktemp(f"words-{request.param}") / "run.json")
    return request.param, Trajectory.load(path)


def test_answer_words_partition_the_answer(run):
    _, traj = run
    words = answer_words(traj)
    assert [r for w in words for r in w.rows] == list(range(traj.answer_len)), "every row in one word, in order"
    specials = {traj.special_ids[k] for k in ("pad", "eos", "mask")}
    token = [traj.final_ids[p] for p in traj.slots]
    for k, w in enumerate(words):
        assert list(w.rows) == list(range(w.rows[0], w.rows[-1] + 1)), "a word is consecutive pieces"
        if w.pads:  # the padding after the answer, folded into the last row
            assert k == len(words) - 1 and all(token[r] in specials for r in w.rows)
            assert w.label == f"pads ×{len(w.rows)}"
        else:
            assert w.text == w.label == "".join(traj.piece(token[r]) for r in w.rows)
    last = max((r for r, t in enumerate(token) if t not in specials), default=-1)
    tail = [r for w in words if w.pads for r in w.rows]
    assert tail == [] or tail[0] > last, "only what follows the last real token is folded"


def test_word_states_and_confidences_follow_the_pieces(run):
    name, traj = run
    words, grid = word_grid(traj)
    cells = cell_grid(traj)
    mask = traj.special_ids["mask"]
    assert len(grid) == len(cells) == len(traj.steps) > 0
    if name == "plain":
        assert any(len(w.rows) > 1 for w in words), "the run has no word of several pieces to test with"
    seen = set()
    for s, (row, token_row) in enumerate(zip(grid, cells)):
        canvas = traj.canvas_at(s + 1)
        assert len(row) == len(words)
        for word, cell in zip(words, row):
            states = [token_row[r].state for r in word.rows]
            done = [st in (COMMITTED, COMMITTED_NOW, FORCED) for st in states]
            # Independently: a piece is filled after step s iff the canvas holds a non-mask there.
            assert done == [canvas[traj.slots[r]] != mask for r in word.rows], (s, word.text, states)
            if FORCED in states:
                expected = FORCED
            elif all(done):
                expected = COMMITTED
            elif not any(done):
                expected = MASKED
            else:
                expected = PARTIAL
            assert cell.state == expected, (s, word.text, states)
            seen.add(cell.state)
            assert (cell.committed, cell.pieces) == (sum(done), len(word.rows))
            confs = [token_row[r].conf for r in word.rows if token_row[r].conf is not None]
            assert cell.conf == (min(confs) if confs else None), (s, word.text)
    assert COMMITTED in seen and (MASKED in seen or PARTIAL in seen), seen
    # `upto` cuts the grid like the token grid.
    for upto in (0, 1, len(traj.steps) // 2):
        assert word_grid(traj, upto)[1] == grid[:upto]


def test_the_players_word_rows_are_the_answer_words(run):
    _, traj = run
    value = run_value(traj, label="words")
    words = answer_words(traj)
    assert value["words"] == [{"rows": list(w.rows), "text": w.label, "pads": w.pads} for w in words]
    assert len(value["words"]) == len(word_grid(traj)[0])


def test_the_word_view_reads_the_tokens_on_the_canvas_at_that_step(run):
    # A forced edit (stop string) can overwrite pieces committed earlier: before it, the canvas
    # holds the committed tokens, not the final ones, and so does every written cell of the grid.
    _, traj = run
    for s, row in enumerate(cell_grid(traj)):
        canvas = traj.canvas_at(s + 1)
        for r, cell in enumerate(row):
            if cell.state in DONE:
                assert cell.token == canvas[traj.slots[r]], (s, r)


def test_word_text_carries_a_planted_payload_as_data_and_the_export_escapes_it(run):
    traj = Trajectory.from_dict(run[1].to_dict())  # a copy: the fixture is shared
    for token in set(traj.final_ids[traj.prompt_len:]):
        traj.pieces[token] = IMG
    value = run_value(traj, label="words")
    texts = [w["text"] for w in value["words"] if not w["pads"]]
    assert texts and all(IMG in t for t in texts), "the exact text: the player writes it with textContent"
    page = standalone_html(traj)
    data = page.split('<script id="data" type="application/json">', 1)[1].split("</script>", 1)[0]
    assert "onerror=alert(1)" in data and "<" not in data


# -- trailing padding folds into one row --------------------------------------------------------------
PIECES = {10: "Soru", 20: "Ev", 21: "ler", 22: " gel", 23: "di", 24: ".", 0: "<pad>", 1: "</s>", 4: "<mask>"}


def synthetic(answer: list[int]) -> Trajectory:
    """A finished generation run with this answer (no steps needed for the words)."""
    return Trajectory(model={"name": "x", "device": "cpu", "dtype": "float32", "context_window": 64},
                      settings=SamplerSettings(max_new_tokens=len(answer)).to_dict(), seed=0,
                      prompt={"text": "Soru"}, prompt_ids=[10], special_ids={"mask": 4, "pad": 0, "eos": 1, "bos": 2},
                      final_ids=[10] + answer, reply="", stop_reason="complete", wall_ms=0.0, pieces=dict(PIECES),
                      steps=[])


@pytest.mark.parametrize("answer, expected", [
    ([20, 21, 22, 23, 24, 1, 0, 0, 0], [((0, 1), "Evler"), ((2, 3), " geldi"), ((4,), "."),
                                        ((5, 6, 7, 8), "pads ×4")]),
    ([20, 0, 22, 0, 0], [((0,), "Ev"), ((1,), "<pad>"), ((2,), " gel"), ((3, 4), "pads ×2")]),
    ([20, 21, 1], [((0, 1), "Evler"), ((2,), "pads ×1")]),
    ([20, 21, 22], [((0, 1), "Evler"), ((2,), " gel")]),
    ([0, 0], [((0, 1), "pads ×2")]),
])
def test_trailing_pads_fold_into_one_word(answer, expected):
    words = answer_words(synthetic(answer))
    assert [(w.rows, w.label) for w in words] == expected
    assert [w.pads for w in words] == [label.startswith("pads ×") for _, label in expected], \
        "only the trailing padding is a pads row; a pad inside the answer stays shown"
    assert all(isinstance(w, Word) for w in words)
