"""The word view: token pieces merged into Turkish words, and each word's state and confidence.

`word_spans` is checked on hand-written pieces (several pieces per word, apostrophes, punctuation,
whitespace) and on the pieces a real (tiny, byte-level BPE) tokenizer cuts Turkish text into.
`word_grid`, `word_heatmap_figure` and `word_canvas_html` are checked against the token grid
(`views.cell_grid`) and the canvas (`Trajectory.canvas_at`) of real runs on tiny checkpoints.
"""

from __future__ import annotations

import random
import re
from html.parser import HTMLParser

import pytest

from diffutron_demo.render import figures

from diffutron_demo.render import fragments
from diffutron_demo.core.chat import build_prompt
from diffutron_demo.core.models import load_model
from diffutron_demo.core.sampler import Run
from diffutron_demo.settings import SamplerSettings
from diffutron_demo.record.trajectory import Trajectory
from diffutron_demo.record.cells import COMMITTED, COMMITTED_NOW, FORCED, MASKED, cell_grid
from diffutron_demo.record.words import PARTIAL, answer_words, word_grid, word_spans

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
    assert_partition([(a, b) for a, b, _ in words], traj.answer_len)
    P = traj.prompt_len
    for a, b, text in words:
        assert text == "".join(traj.piece(t) for t in traj.final_ids[P + a : P + b])


def test_word_states_and_confidences_follow_the_pieces(run):
    name, traj = run
    words, grid = word_grid(traj)
    cells = cell_grid(traj)
    P, mask = traj.prompt_len, traj.special_ids["mask"]
    assert len(grid) == len(cells) == len(traj.steps) > 0
    if name == "plain":
        assert any(b - a > 1 for a, b, _ in words), "the run has no word of several pieces to test with"
    seen = set()
    for s, (row, token_row) in enumerate(zip(grid, cells)):
        canvas = traj.canvas_at(s + 1)
        assert len(row) == len(words)
        for (a, b, text), cell in zip(words, row):
            states = [c.state for c in token_row[a:b]]
            done = [st in (COMMITTED, COMMITTED_NOW, FORCED) for st in states]
            # Independently: a piece is filled after step s iff the canvas holds a non-mask there.
            assert done == [canvas[P + k] != mask for k in range(a, b)], (s, text, states)
            if FORCED in states:
                expected = FORCED
            elif all(done):
                expected = COMMITTED
            elif not any(done):
                expected = MASKED
            else:
                expected = PARTIAL
            assert cell.state == expected, (s, text, states)
            seen.add(cell.state)
            assert (cell.committed, cell.pieces) == (sum(done), b - a)
            confs = [c.conf for c in token_row[a:b] if c.conf is not None]
            assert cell.conf == (min(confs) if confs else None), (s, text)
    assert COMMITTED in seen and (MASKED in seen or PARTIAL in seen), seen
    # `upto` cuts the grid like the token grid.
    for upto in (0, 1, len(traj.steps) // 2):
        assert word_grid(traj, upto)[1] == grid[:upto]


def test_word_heatmap_has_one_row_per_word(run):
    _, traj = run
    words, _ = word_grid(traj)
    fig = figures.word_heatmap_figure(traj, marker_step=2)
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    assert len(heatmaps) == 2
    for trace in heatmaps:
        assert len(trace.z) == len(words)
        assert all(len(row) == len(traj.steps) for row in trace.z)
    assert list(fig.layout.yaxis.tickvals) == list(range(len(words)))
    assert len(fig.layout.yaxis.ticktext) == len(words)


class _Spans(HTMLParser):
    """The text inside each top-level .dd-tok span of a canvas (<br> dropped)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts, self._depth = [], 0

    def handle_starttag(self, tag, attrs):
        if tag == "span":
            if self._depth == 0:
                self.texts.append("")
            self._depth += 1

    def handle_endtag(self, tag):
        if tag == "span":
            self._depth -= 1

    def handle_data(self, data):
        if self._depth:
            self.texts[-1] += data


def test_word_canvas_shows_the_tokens_on_the_canvas_at_that_step(run):
    # A forced edit (stop string) can overwrite pieces committed earlier: before it, the canvas
    # holds the committed tokens, not the final ones.
    _, traj = run
    P, mask = traj.prompt_len, traj.special_ids["mask"]
    words = answer_words(traj)
    for step in range(len(traj.steps) + 1):
        canvas = traj.canvas_at(step)
        parser = _Spans()
        parser.feed(fragments.word_canvas_html(traj, step))
        expected = []
        for a, b, _ in words:
            if all(canvas[P + k] == mask for k in range(a, b)):
                expected.append(fragments.MASK_GLYPH * (b - a))
            else:
                expected.append("".join(traj.piece(canvas[P + k]).replace("\n", "⏎")
                                        if canvas[P + k] != mask else fragments.MASK_GLYPH for k in range(a, b)))
        assert parser.texts == expected, f"step {step}"


def test_word_canvas_escapes_a_planted_payload(run):
    traj = Trajectory.from_dict(run[1].to_dict())  # a copy: the fixture is shared
    P = traj.prompt_len
    for token in set(traj.final_ids[P:]):
        traj.pieces[token] = IMG
    for step in sorted({0, 1, len(traj.steps) // 2, len(traj.steps)}):
        page = fragments.word_canvas_html(traj, step)
        assert "<img" not in page.lower() and "onerror=alert(1)>" not in page
        if step == len(traj.steps):
            assert "&lt;img" in page
        assert f"step {step} of {len(traj.steps)}" in page
    fig = figures.word_heatmap_figure(traj)
    texts = list(fig.layout.yaxis.ticktext) + [h for t in fig.data if t.type == "heatmap" for row in t.text for h in row]
    assert not any("<img" in t for t in texts)
    assert any("&lt;img" in t for t in texts)
