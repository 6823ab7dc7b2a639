"""House rules, read from the package's source with `ast` (nothing is imported or run).

- Layers: `core` reaches no gradio or plotly, `record` and `render` reach no torch, through any
  package module they import (lazy imports in functions count: they run when called); nothing
  under `app/ui/` imports the sampler, branching or proposals directly (it goes through the
  service); `settings.py` imports nothing of the package.
- Size: no module over 350 lines, no function over 60.
- No module imports another module's `_private` names.
- No measured figures in strings: no "N× faster", "N ms per answer", "N tokens/s", no "measured"
  next to a number anywhere; no percentage in the texts people read in the UI and the CLI (help,
  info, labels, Markdown). Figures belong in the README and the benchmarks, with how they were got.

Each checker returns its findings as "file:line: what" sentences and is tried here on a small
synthetic package, so a rule that stopped catching anything would fail too.
"""

from __future__ import annotations

import ast
import re
import textwrap
from pathlib import Path

import diffutron_demo

PACKAGE_DIR = Path(diffutron_demo.__file__).parent
PACKAGE = "diffutron_demo"
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 60

# (module prefix, forbidden imports, through the package's own imports too?). Internal names are
# relative to the package; "*" forbids every module of the package.
LAYER_RULES = [
    ("core", ("gradio", "plotly"), True),
    ("record", ("torch",), True),
    ("render", ("torch",), True),
    ("app.ui", ("@core.sampler", "@core.branching", "@core.proposals"), False),
    ("settings", ("@*",), False),
]

# Already there when these rules were written; each should be fixed and then removed from here.


# -- reading the source -----------------------------------------------------------------------------
def modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under root (root is the package `package`)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports_of(name: str, path: Path, known: dict[str, Path]) -> list[tuple[int, str, str]]:
    """(line, imported module, the statement) for every import in the file, nested ones included;
    relative imports resolved; `from package import submodule` gives the submodule as well."""
    is_package = path.name == "__init__.py"
    here = name.split(".") if is_package else name.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name, ast.unparse(node)) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base_parts = here[: len(here) - node.level + 1] if node.level else []
            base = ".".join(base_parts + (node.module.split(".") if node.module else []))
            out.append((node.lineno, base, ast.unparse(node)))
            out += [(node.lineno, f"{base}.{alias.name}", ast.unparse(node)) for alias in node.names
                    if f"{base}.{alias.name}" in known]
    return out


def _with_parents(target: str, package: str) -> list[str]:
    """Importing a.b.c runs a/__init__ and a/b/__init__ too."""
    parts = target.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts) + 1)] if parts[0] == package else [target]


def _matches(target: str, pattern: str, package: str) -> bool:
    if pattern.startswith("@"):
        inner = pattern[1:]
        if inner == "*":
            return target == package or target.startswith(package + ".")
        pattern = f"{package}.{inner}"
    return target == pattern or target.startswith(pattern + ".")


def import_violations(root: Path, package: str, rules=LAYER_RULES) -> list[str]:
    """Each forbidden import a layer reaches, as "file:line: `statement` brings in X (via ...)"."""
    known = modules(root, package)
    graph = {m: imports_of(m, p, known) for m, p in known.items()}
    found = []
    for subject, path in known.items():
        for prefix, forbidden, transitive in rules:
            full = f"{package}.{prefix}"
            if not (subject == full or subject.startswith(full + ".")):
                continue
            for line, text, bad, chain in _reach(subject, graph, forbidden, transitive, package):
                via = f" (via {' -> '.join(chain)})" if chain else ""
                found.append(f"{path.relative_to(root)}:{line}: `{text}` brings in {bad}{via}")
    return sorted(set(found))


def _reach(subject, graph, forbidden, transitive, package):
    """(line in subject, statement, forbidden module, chain of package modules between) found by a
    walk of the import graph from `subject` (its own imports only unless `transitive`)."""
    out, seen = [], {subject}
    stack = [(line, text, target, []) for line, target, text in graph[subject]]
    while stack:
        line, text, target, chain = stack.pop()
        hit = next((p for p in forbidden if _matches(target, p, package)), None)
        if hit:
            out.append((line, text, target, chain))
            continue
        if not transitive:
            continue
        for module in _with_parents(target, package):
            if module in graph and module not in seen:
                seen.add(module)
                stack += [(line, text, t, chain + [module]) for _, t, _ in graph[module]]
    return out


def size_violations(root: Path) -> list[tuple[str, str, int]]:
    """(file, function name or "" for the module, lines) for each module or function too long."""
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = str(path.relative_to(root))
        source = path.read_text(encoding="utf-8")
        if (n := len(source.splitlines())) > MAX_MODULE_LINES:
            out.append((rel, "", n))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if (n := node.end_lineno - node.lineno + 1) > MAX_FUNCTION_LINES:
                    out.append((rel, node.name, n))
    return out


def private_imports(root: Path, package: str) -> list[str]:
    """`from x import _y` (or a `_private` module) across the package's modules."""
    known, out = modules(root, package), []
    for name, path in known.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(package)):
                names = (node.module or "").split(".") + [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                names = [part for a in node.names if a.name.startswith(package) for part in a.name.split(".")]
            else:
                continue
            if any(n.startswith("_") and not n.startswith("__") for n in names):
                out.append(f"{path.relative_to(root)}:{node.lineno}: `{ast.unparse(node)}`")
    return out


FIGURE = re.compile(
    r"\d+(\.\d+)?\s?[x×]\s+(faster|slower|quicker|the speed)"  # "3x faster"
    r"|\d+(\.\d+)?\s?(ms|s|seconds?)\s?(/|per\s)\s?(answer|step|token|run|reply)"  # "0.8 s/answer"
    r"|\d+(\.\d+)?\s?(tokens?|tok)\s?/\s?s\b"  # "40 tokens/s"
    r"|\bmeasured\W+(\w+\W+){0,3}?\d+(\.\d+)?%?|\d+(\.\d+)?%?\s(\w+\s){0,2}?measured\b",  # "measured 97.3% agreement"
    re.IGNORECASE)
PERCENT = re.compile(r"\d+(\.\d+)?\s?%")
READ_KEYWORDS = {"info", "help", "label", "description", "placeholder"}  # what gradio and argparse show


def _strings(node) -> list[str]:
    """The literal text in a str constant or an f-string's constant parts (format specs aside)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return ["".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)]
    if isinstance(node, ast.BinOp):  # "a" + "b" across lines
        return _strings(node.left) + _strings(node.right)
    return []


def _read_texts(tree) -> list[tuple[int, str]]:
    """Texts people read: help/info/label arguments, a knob's help, Markdown, *_MD/*_INFO/*_HELP."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = ast.unparse(node.func)
            out += [(kw.value.lineno, s) for kw in node.keywords if kw.arg in READ_KEYWORDS
                    for s in _strings(kw.value)]
            if func in ("knob", "gr.Markdown", "gr.HTML") or func.endswith(".add_argument"):
                picked = node.args[1:2] if func == "knob" else node.args[:1]
                out += [(a.lineno, s) for a in picked for s in _strings(a)]
        elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and re.search(r"_(MD|INFO|HELP|TEXT)$", t.id) for t in node.targets):
            out += [(node.lineno, s) for s in _strings(node.value)]
    return out


def figure_violations(root: Path) -> list[tuple[str, int, str]]:
    """(file, line, the offending words) for each figure in a string of the package."""
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = str(path.relative_to(root))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        specs = {id(n.format_spec) for n in ast.walk(tree) if isinstance(n, ast.FormattedValue) and n.format_spec}
        for node in ast.walk(tree):
            if id(node) in specs or not isinstance(node, (ast.Constant, ast.JoinedStr)):
                continue
            for text in _strings(node):
                out += [(rel, node.lineno, m.group(0)) for m in _figures(text, FIGURE)]
        for line, text in _read_texts(tree):
            out += [(rel, line, m.group(0)) for m in _figures(text, PERCENT)]
    return sorted(set(out))


def _figures(text: str, pattern: re.Pattern) -> list[re.Match]:
    # "about 3x faster" is reported with its lead-in word, so the known list reads as the text does.
    return [re.search(r"(\w+\s)?" + re.escape(m.group(0)), text) or m for m in pattern.finditer(text)]


# -- the package ------------------------------------------------------------------------------------
def test_the_layers_import_only_what_they_may():
    assert import_violations(PACKAGE_DIR, PACKAGE) == []


def test_the_import_walk_sees_the_package():
    """The walk reaches what the package really imports (a broken resolver would find nothing)."""
    known = modules(PACKAGE_DIR, PACKAGE)
    graph = {m: imports_of(m, p, known) for m, p in known.items()}
    assert {t for _, t, _ in graph["diffutron_demo.render.figures"]} >= {
        "plotly.graph_objects", "diffutron_demo.record.cells", "diffutron_demo.render.palette"}
    assert "diffutron_demo.core.sampler" in {t for _, t, _ in graph["diffutron_demo.app.service"]}
    # The facts the rules rest on: core does use torch, the UI does use gradio.
    reached = import_violations(PACKAGE_DIR, PACKAGE, [("core", ("torch",), True), ("app.ui", ("gradio",), False)])
    assert any(v.startswith("core/sampler.py") for v in reached) and any(v.startswith("app/ui/") for v in reached)


def test_no_module_or_function_is_too_long():
    found = {(f, name): n for f, name, n in size_violations(PACKAGE_DIR)}
    assert found == {}, f"over {MAX_MODULE_LINES} lines a module or {MAX_FUNCTION_LINES} a function: {found}"


def test_no_private_names_are_imported_across_modules():
    assert private_imports(PACKAGE_DIR, PACKAGE) == []


def test_no_measured_figures_in_strings():
    found = {(f, words) for f, _, words in figure_violations(PACKAGE_DIR)}
    assert found == set(), "figures belong in the README and the benchmarks"


# -- the checkers on a synthetic package ------------------------------------------------------------
def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, source in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    return root


SYNTHETIC = {
    "__init__.py": "",
    "settings.py": "import math\nfrom .core import a\n",
    "core/__init__.py": "",
    "core/a.py": "import plotly.graph_objects as go\n",
    "core/b.py": "def later():\n    import gradio as gr\n    return gr\n",
    "core/sampler.py": "import torch\n",
    "core/branching.py": "from .sampler import torch\n",
    "core/helper.py": "from . import deep\n",
    "core/deep.py": "import torch.nn\n",
    "record/__init__.py": "",
    "record/x.py": "from ..core import helper\n",
    "record/clean.py": "import json\n",
    "render/__init__.py": "",
    "render/ok.py": "import html\nfrom ..record import clean\n",
    "render/viaparent.py": "from ..app import thing\n",
    "app/__init__.py": "import torch\n",
    "app/thing.py": "",
    "app/service.py": "from ..core.sampler import torch\n",
    "app/ui/__init__.py": "",
    "app/ui/tab.py": "from ...core.sampler import torch\n",
    "app/ui/tab2.py": "from ...core import branching, helper\n",
    "app/ui/tab3.py": "import pkg.core.proposals\n",
    "core/proposals.py": "",
}


def test_the_import_checker_reports_each_forbidden_import_with_file_and_statement(tmp_path):
    root = _tree(tmp_path / "pkg", SYNTHETIC)
    found = import_violations(root, "pkg")
    assert found == sorted([
        "app/ui/tab.py:1: `from ...core.sampler import torch` brings in pkg.core.sampler",
        "app/ui/tab2.py:1: `from ...core import branching, helper` brings in pkg.core.branching",
        "app/ui/tab3.py:1: `import pkg.core.proposals` brings in pkg.core.proposals",
        "core/a.py:1: `import plotly.graph_objects as go` brings in plotly.graph_objects",
        "core/b.py:2: `import gradio as gr` brings in gradio",
        "record/x.py:1: `from ..core import helper` brings in torch.nn (via pkg.core.helper -> pkg.core.deep)",
        "render/viaparent.py:1: `from ..app import thing` brings in torch (via pkg.app)",
        "settings.py:2: `from .core import a` brings in pkg.core",
        "settings.py:2: `from .core import a` brings in pkg.core.a",
    ]), found


def test_the_size_checker_counts_module_and_function_lines(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES - 1))
    root = _tree(tmp_path / "pkg", {
        "ok.py": f"def fits():\n{body}\n",  # exactly the limit
        "long.py": f"def too_long():\n{body}\n    return 1\n",
        "big.py": "\n" * MAX_MODULE_LINES + "x = 1\n",
    })
    assert sorted(size_violations(root)) == [("big.py", "", MAX_MODULE_LINES + 1),
                                             ("long.py", "too_long", MAX_FUNCTION_LINES + 1)]


def test_the_private_import_checker(tmp_path):
    root = _tree(tmp_path / "pkg", {
        "__init__.py": "", "a.py": "_x = 1\ny = 2\n",
        "b.py": "from .a import y\nfrom .a import _x\nfrom os import _exit\nfrom .a import __doc__\n",
        "c.py": "from pkg.a import y, _x\nimport pkg._hidden\n",
    })
    assert private_imports(root, "pkg") == ["b.py:2: `from .a import _x`", "c.py:1: `from pkg.a import y, _x`",
                                            "c.py:2: `import pkg._hidden`"]


def test_the_figure_checker(tmp_path):
    root = _tree(tmp_path / "pkg", {"ui.py": '''
        import gradio as gr
        WIDTH = "width: 100%"  # CSS is not a figure
        LEARN_MD = "Threshold 0.9 commits 85% of tokens early."
        SHOWN = f"{0.5:.0%} done"
        def tab(parser):
            gr.Checkbox(label="int8", info="int8 is " "2.5x faster on a CPU")
            parser.add_argument("--x", help=f"the {'exact'} path, 12 ms per answer")
            gr.Markdown("We measured 97% agreement.")
            gr.Slider(info="Temperature: 0 is greedy, 1.0 samples.")
            return "40 tokens/s", "3 x slower"
        '''})
    assert [(line, words) for _, line, words in figure_violations(root)] == [
        (4, "commits 85%"), (7, "is 2.5x faster"), (8, "12 ms per answer"), (9, "We measured 97%"),
        (9, "measured 97%"), (11, "3 x slower"), (11, "40 tokens/s")]
