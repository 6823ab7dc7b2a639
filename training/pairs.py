"""Question/answer pairs from the documents' own structure, in dllm's SFT layout.

Why these pairs (also in the model card): neither corpus has questions, but both have structure a
question can point at. A help page's title names what its first paragraphs explain, so "title ->
first sentences" is a real question and its answer. A speech's title and date name the occasion
and the opening sentences are how he began, so "title -> opening" works the same way. Beyond the
openings, "sentence -> the sentences that follow it" (continuation, starting at every sentence)
uses the rest of each text: it teaches the model Turkish, not facts, and that is all a
2M-parameter model can learn. Questions are the bare title/sentence or one of two fixed Turkish
frames, chosen by a hash of the document, so the model also sees question-like prompts. Answers
always end at a sentence boundary, so every target ends with a complete sentence followed by
`\\n[/Answer]\\n\\n`.

Layout of one training/eval row (dllm's `default_sft_map_fn` plus its padding):

    encode(render_turn(q))            -> prompt ids, label -100, never masked
    encode(a + "\\n[/Answer]\\n\\n")  -> answer ids (<= ANSWER_SLOTS)
    <pad> ... up to ANSWER_SLOTS      -> labelled with the pad id, as dllm's SFT does
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

from diffutron_demo.core.chat import encode_text, render_turn
from diffutron_demo.core.checkpoints import PAD_ID

from .sources import BIBLIO

ANSWER_SLOTS = 64  # answer + end marker + pads; generate with --max-new-tokens 64
MAX_QUESTION_TOKENS = 40
MAX_SENTENCE_QUESTION_TOKENS = 30
MIN_ANSWER_TOKENS = 24  # most answers fill the first 32-token block: pads come after the words
END = "\n[/Answer]\n\n"
HELDOUT_PERCENT = 4

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'(]?[A-ZÇĞİÖŞÜ0-9])")
_MONTHS = ["Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran", "Temmuz", "Ağustos", "Eylül", "Ekim",
           "Kasım", "Aralık"]

HELP_FRAMES = ("{}", "{} hakkında bilgi verir misin?", "{} konusunu açıklar mısın?")
TITLE_FRAMES = ("{}", "{} ({})", "{} nasıl başlar?")
CONTINUE_FRAMES = ("{}", "Devamını getir: {}", "Sonrasını yaz: {}")


def is_heldout(doc_id: str) -> bool:
    return zlib.crc32(doc_id.encode()) % 100 < HELDOUT_PERCENT


def _pick(key: str, n: int) -> int:
    return zlib.crc32(key.encode()) % n


def turkish_date(iso: str | None) -> str | None:
    if not iso or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso):
        return None
    y, m, d = (int(x) for x in iso.split("-"))
    return f"{d} {_MONTHS[m - 1]} {y}" if 1 <= m <= 12 and d >= 1 else str(y)


def sentences(paragraph: str) -> list[str]:
    out = []
    for s in _SENTENCE_END.split(paragraph):
        s = s.strip()
        if len(s) >= 2 and not BIBLIO.search(s):
            out.append(s)
    return out


class Builder:
    def __init__(self, tokenizer):
        self.tok = tokenizer
        self.end_len = len(encode_text(tokenizer, END))
        self._cache: dict[str, int] = {}

    def n(self, text: str) -> int:
        if text not in self._cache:
            self._cache[text] = len(encode_text(self.tok, text))
        return self._cache[text]

    def answer_fits(self, text: str) -> bool:
        return len(encode_text(self.tok, text + END)) <= ANSWER_SLOTS

    def take(self, units: list[tuple[str, bool]], start: int) -> tuple[str, int]:
        """Greedy: whole sentences from `start` while the answer fits; ('', start) if none does.

        `units` are (sentence, starts_paragraph); paragraphs are joined with a newline."""
        text, i = "", start
        while i < len(units):
            sentence, new_par = units[i]
            candidate = sentence if not text else text + ("\n" if new_par else " ") + sentence
            if not self.answer_fits(candidate):
                break
            text, i = candidate, i + 1
        if text and self.n(text) < MIN_ANSWER_TOKENS:
            return "", start
        return text, i

    def continuation(self, units, i, doc_id, source, out):
        while i < len(units) - 1:
            question = units[i][0]
            if not 3 <= self.n(question) <= MAX_SENTENCE_QUESTION_TOKENS:
                i += 1
                continue
            answer, _ = self.take(units, i + 1)
            if not answer:
                i += 1
                continue
            frame = CONTINUE_FRAMES[_pick(f"{doc_id}#{i}", len(CONTINUE_FRAMES))]
            out.append({"q": frame.format(question), "a": answer, "source": source, "doc": doc_id,
                        "kind": "continuation"})
            i += 1  # every sentence starts a pair: overlapping windows, about 3x the pairs of i = j

    def doc_pairs(self, doc) -> list[dict]:
        if doc.source == "ataturk":
            units = [(s, k == 0) for p in doc.sections[0][1] for k, s in enumerate(sentences(p))]
            date = turkish_date(doc.meta.get("date")) or (str(doc.meta["year"]) if doc.meta.get("year") else None)
            frames = TITLE_FRAMES if date else TITLE_FRAMES[::2]
            frame = frames[_pick(doc.doc_id, len(frames))]
            question = frame.format(doc.title, date) if "({})" in frame else frame.format(doc.title)
        else:  # a help page: its title -> the page's first sentences (across its sections)
            units = [(s, n == 0) for _, paragraphs in doc.sections for p in paragraphs
                     for n, s in enumerate(sentences(p))]
            frame = HELP_FRAMES[_pick(doc.doc_id, len(HELP_FRAMES))]
            question = frame.format(doc.title.rstrip(":").strip())
        # The title pair, then continuation pairs over the rest of the text.
        out: list[dict] = []
        answer, i = self.take(units, 0)
        if answer and self.n(question) <= MAX_QUESTION_TOKENS:
            out.append({"q": question, "a": answer, "source": doc.source, "doc": doc.doc_id, "kind": "title"})
        else:
            i = 0
        self.continuation(units, i, doc.doc_id, doc.source, out)
        return out


def build_pairs(docs, tokenizer) -> tuple[list[dict], list[dict], dict]:
    """(train, heldout, stats). Held-out = 4% of documents (by a hash of the id), never split."""
    builder = Builder(tokenizer)
    train, heldout, seen = [], [], {}
    for doc in docs:
        for pair in builder.doc_pairs(doc):
            if pair["q"] == pair["a"]:
                continue
            seen[pair["a"]] = seen.get(pair["a"], 0) + 1
            if seen[pair["a"]] > 2:  # help boilerplate repeated on many pages
                continue
            (heldout if is_heldout(doc.doc_id) else train).append(pair)
    stats = {"train": _count(train), "heldout": _count(heldout)}
    return train, heldout, stats


def _count(pairs: list[dict]) -> dict:
    out = {"pairs": len(pairs)}
    for p in pairs:
        key = f"{p['source']}/{p['kind']}"
        out[key] = out.get(key, 0) + 1
    return out


def encode_pair(tokenizer, pair: dict) -> tuple[list[int], list[int], int]:
    """(prompt ids, answer region of exactly ANSWER_SLOTS ids, number of answer-text tokens)."""
    prompt = encode_text(tokenizer, render_turn(pair["q"]))
    text_ids = encode_text(tokenizer, pair["a"].strip())
    region = encode_text(tokenizer, pair["a"].strip() + END)
    if len(region) > ANSWER_SLOTS:
        raise ValueError(f"answer too long for {ANSWER_SLOTS} slots: {pair['a'][:60]!r}")
    # Answer-text tokens: the prefix the region shares with the bare text's tokens.
    n_text = 0
    while n_text < min(len(text_ids), len(region)) and text_ids[n_text] == region[n_text]:
        n_text += 1
    return prompt, region + [PAD_ID] * (ANSWER_SLOTS - len(region)), n_text


def save_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
