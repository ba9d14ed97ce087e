"""Count the hand-written Chinese vocabulary in the answering code and its data files (issue 15.3).

Usage::

    python scripts/count_wordlists.py [--root DIR] [--rev COMMIT] [--json] [--detail]

``--rev`` reads the files of a git commit (``git show``) instead of the work tree, so the figures of an
old commit are reproducible without checking it out.

Scope. *Code* is every ``.py`` file of the ``assistant/`` package (query understanding, retrieval,
answering, the kinds, the app): that is where words stand in for understanding a question or judging
a paragraph, the class of rule the embedder and the fitted support model are meant to replace.
Four parts of ``assistant/`` are not vocabulary standing in for meaning and are counted on the
informational row instead: the app (``assistant/app/``, ``assistant/app.py`` at older commits — table
column labels and a greeting filter), the ingest progress labels (``assistant/progress.py``: the unit
shown for each stage name, user-interface text like the app's), the planted-instruction detector (``assistant/injection.py``, a
security filter over documents, issue 18) and the benchmark harness (``assistant/bench.py`` at older
commits, whose lists are test data).
``ingest/`` is counted on that informational row too and is not part of the target: its patterns
describe how documents are *written* (GB/T 9704 catalogue fields such as 发文机关/成文日期, the
一、/（一）/一是 enumerations, 落款 lines, page-break debris) — document-format rules that a model of
meaning does not replace. ``vectorstore/*.py`` holds no question vocabulary (its word list is
``vectorstore/data/domain_terms.txt``, counted with the data files).

What counts, read from the AST (so a comment or a docstring never counts):

* a *Chinese-alternative regex*: a string literal (plain, implicitly concatenated, or the literal parts
  of an f-string) that reaches a ``re`` call (``re.compile``/``search``/``match``/``fullmatch``/``sub``/
  ``subn``/``findall``/``finditer``/``split``) as its pattern — directly, or through a module-level or
  local name, or as an element of a list/tuple of patterns — and has an alternation ``a|b`` in which
  some alternative holds a Chinese character. Each literal counts once however often it is used.
  *Branches* are the alternatives of every such alternation (a group ``(?:镇|乡|街道)`` adds 3);
* an *inline word list*: a list/tuple/set literal, the key set of a dict literal, or a whitespace-split
  string literal (``"甲 乙 丙".split()``) with at least three Chinese *words* — strings of 1–12 characters
  holding a Chinese character and no whitespace, sentence punctuation or regex syntax (so a list of
  example questions, of UI messages or of regex patterns is not a word list);
* *data-file lines*: groups in ``assistant/data/synonyms.txt``, lines of ``abbreviations.txt``,
  ``en_zh.tsv`` and ``vectorstore/data/domain_terms.txt``, and the ``[[metric]]`` tables and their list
  strings (units, cues, aliases, hints) in ``metrics.toml``; the patterns and measure-word classes of
  ``answer_shapes.toml`` (interrogatives and figure formats, a closed class of the language) on their own
  column with their alternation branches. A data line is *cited* when the comment
  block right above it (or its trailing comment) quotes, in 「…」, text found in a real report
  (``data/reports/*.txt`` or ``tests/data/realworld/*.txt``, whitespace removed).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE_DIRS = ("assistant",)
INFO_DIRS = ("ingest",)
# Parts of CODE_DIRS counted on the informational row (see the module docstring).
INFO_PATHS = (
    "assistant/app/",
    "assistant/app.py",
    "assistant/progress.py",
    "assistant/injection.py",
    "assistant/bench.py",
)
DATA_FILES = {
    "synonyms": "assistant/data/synonyms.txt",
    "abbreviations": "assistant/data/abbreviations.txt",
    "en_zh": "assistant/data/en_zh.tsv",
    "metrics": "assistant/data/metrics.toml",
    "answer_shapes": "assistant/data/answer_shapes.toml",
    "domain_terms": "vectorstore/data/domain_terms.txt",
}
REPORT_GLOBS = ("data/reports/*.txt", "tests/data/realworld/*.txt")

RE_FUNCS = {"compile", "search", "match", "fullmatch", "sub", "subn", "findall", "finditer", "split"}
CJK = re.compile(r"[\u3400-\u9fff]")
# A word holds no whitespace, no sentence punctuation and no regex syntax.
NOT_WORD = re.compile(r"[\s，。？！：；、,.?!:;|()\[\]{}*+\\^$]")
QUOTE = re.compile(r"「([^」]+)」")
PLACEHOLDER = "\x00"


@dataclass
class Counts:
    """Vocabulary counts of one tree (a commit or the work tree)."""

    regexes: int = 0
    branches: int = 0
    lists: int = 0
    words: int = 0
    info_regexes: int = 0
    info_branches: int = 0
    info_lists: int = 0
    info_words: int = 0
    data: dict[str, int] = field(default_factory=dict)
    cited: dict[str, int] = field(default_factory=dict)
    detail: list[str] = field(default_factory=list)


class Tree:
    """Files of the work tree or of one git commit."""

    def __init__(self, root: Path, rev: str | None) -> None:
        self.root, self.rev = root, rev

    def files(self, prefix: str, suffix: str) -> list[str]:
        """Repository-relative paths under ``prefix`` ending in ``suffix``, sorted."""
        if self.rev:
            out = subprocess.run(
                ["git", "-C", str(self.root), "ls-tree", "-r", "--name-only", self.rev, "--", prefix],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.split()
        else:
            out = [str(p.relative_to(self.root)) for p in (self.root / prefix).rglob("*")]
        return sorted(p for p in out if p.endswith(suffix))

    def read(self, path: str) -> str | None:
        """The text of ``path``, or None when the tree lacks it."""
        if self.rev:
            res = subprocess.run(
                ["git", "-C", str(self.root), "show", f"{self.rev}:{path}"], capture_output=True, text=True
            )
            return res.stdout if res.returncode == 0 else None
        p = self.root / path
        return p.read_text(encoding="utf-8") if p.exists() else None


def alternation_branches(pattern: str) -> int:
    """Alternatives of every alternation in ``pattern`` with a Chinese character in one of its alternatives.

    >>> alternation_branches(r"(?:乡镇|镇|乡)的?(?:a|b)")
    3
    >>> alternation_branches(r"[镇乡]|ab")
    2
    >>> alternation_branches(r"镇\\|乡")
    0
    """
    # Each open group: [alternatives so far, any alternative holds Chinese].
    stack: list[list] = [[1, False]]
    total, i, in_class = 0, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "]":
                i += 1
        elif ch == "(":
            stack.append([1, False])
        elif ch == ")" and len(stack) > 1:
            alts, cjk = stack.pop()
            total += alts if alts > 1 and cjk else 0
        elif ch == "|":
            stack[-1][0] += 1
        if CJK.match(ch):
            stack[-1][1] = True
        i += 1
    for alts, cjk in stack:
        total += alts if alts > 1 and cjk else 0
    return total


def _literal(node: ast.AST) -> str | None:
    """The text of a string literal; an f-string's placeholders become PLACEHOLDER."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else PLACEHOLDER for v in node.values)
    return None


def _is_word(text: str) -> bool:
    return 1 <= len(text) <= 12 and bool(CJK.search(text)) and not NOT_WORD.search(text)


class ModuleScan(ast.NodeVisitor):
    """Regex literals and word lists of one module."""

    def __init__(self, tree: ast.Module) -> None:
        # Every string-ish value a name is bound to, anywhere in the module.
        self.bindings: dict[str, list[ast.AST]] = {}
        for node in ast.walk(tree):
            targets: list[ast.AST] = []
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            for target in targets:
                if isinstance(target, ast.Name):
                    self.bindings.setdefault(target.id, []).append(value)
        self.regex_nodes: dict[int, tuple[int, str]] = {}
        self.lists: list[tuple[int, list[str]]] = []
        self._seen_names: set[str] = set()
        self.visit(tree)

    def _collect_pattern(self, node: ast.AST) -> None:
        """Record every string literal that flows into a regex pattern through ``node``."""
        for sub in ast.walk(node):
            text = _literal(sub)
            if text is not None and not isinstance(getattr(sub, "_parent_joined", None), ast.JoinedStr):
                self.regex_nodes.setdefault(id(sub), (sub.lineno, text))
            if isinstance(sub, ast.JoinedStr):
                for v in sub.values:
                    v._parent_joined = sub  # type: ignore[attr-defined]
            if isinstance(sub, ast.Name) and sub.id not in self._seen_names:
                self._seen_names.add(sub.id)
                for value in self.bindings.get(sub.id, []):
                    self._collect_pattern(value)

    def visit_Call(self, node: ast.Call) -> None:  # noqa: N802 - ast API
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "re"
            and func.attr in RE_FUNCS
            and node.args
        ):
            self._collect_pattern(node.args[0])
        if isinstance(func, ast.Attribute) and func.attr == "split" and not node.args:
            text = _literal(func.value)
            if text is not None:
                words = [w for w in text.split() if _is_word(w)]
                if len(words) >= 3:
                    self.lists.append((node.lineno, words))
        self.generic_visit(node)

    def _container(self, node: ast.AST, elts: list[ast.AST]) -> None:
        words = [t for t in (_literal(e) for e in elts) if t is not None and _is_word(t)]
        if len(words) >= 3:
            self.lists.append((node.lineno, words))

    def visit_List(self, node: ast.List) -> None:  # noqa: N802 - ast API
        self._container(node, node.elts)
        self.generic_visit(node)

    def visit_Tuple(self, node: ast.Tuple) -> None:  # noqa: N802 - ast API
        self._container(node, node.elts)
        self.generic_visit(node)

    def visit_Set(self, node: ast.Set) -> None:  # noqa: N802 - ast API
        self._container(node, node.elts)
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:  # noqa: N802 - ast API
        self._container(node, [k for k in node.keys if k is not None])
        self.generic_visit(node)


def scan_code(tree: Tree, prefix: str, info: bool = False) -> tuple[int, int, int, int, list[str]]:
    """Regexes, branches, lists and words of the ``.py`` files under ``prefix``.

    Args:
        tree: The files.
        prefix: Directory to scan.
        info: Scan only the INFO_PATHS under it (else: all but them).
    """
    regexes = branches = lists = words = 0
    detail: list[str] = []
    for path in tree.files(prefix, ".py"):
        if path.startswith(INFO_PATHS) != info:
            continue
        source = tree.read(path)
        if not source:
            continue
        scan = ModuleScan(ast.parse(source))
        for lineno, text in sorted(scan.regex_nodes.values()):
            n = alternation_branches(text.replace(PLACEHOLDER, "X"))
            if n:
                regexes, branches = regexes + 1, branches + n
                detail.append(f"regex {path}:{lineno} branches={n} {text[:60]!r}")
        for lineno, found in scan.lists:
            lists, words = lists + 1, words + len(found)
            detail.append(f"list  {path}:{lineno} words={len(found)} {' '.join(found[:8])}")
    return regexes, branches, lists, words, detail


def report_text(tree: Tree) -> str:
    """All real report text (demo and real-world corpora), whitespace removed."""
    parts = []
    for pattern in REPORT_GLOBS:
        prefix, _, suffix = pattern.partition("/*")
        for path in tree.files(prefix, suffix):
            parts.append(tree.read(path) or "")
    return re.sub(r"\s+", "", "\n".join(parts))


def data_lines(text: str) -> list[tuple[str, str]]:
    """(entry line, its comment: the block right above plus any trailing comment) of a line-based data file."""
    out, block = [], []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            block = []
        elif stripped.startswith("#"):
            block.append(stripped)
        else:
            entry, _, trailing = line.partition("#")
            out.append((entry.strip(), " ".join(block) + " " + trailing))
            block = []
    return out


def cited(comment: str, reports: str) -> bool:
    """Whether ``comment`` quotes, in 「…」, text found in a real report."""
    quotes = QUOTE.findall(comment)
    return bool(quotes) and all(re.sub(r"\s+", "", q) in reports for q in quotes)


def count(root: Path, rev: str | None) -> Counts:
    """All counts of one tree."""
    tree = Tree(root, rev)
    c = Counts()
    for prefix in CODE_DIRS:
        r, b, lst, w, d = scan_code(tree, prefix)
        c.regexes, c.branches, c.lists, c.words = c.regexes + r, c.branches + b, c.lists + lst, c.words + w
        c.detail += d
    for prefix, info in [(p, True) for p in CODE_DIRS] + [(p, False) for p in INFO_DIRS]:
        r, b, lst, w, _ = scan_code(tree, prefix, info)
        c.info_regexes, c.info_branches = c.info_regexes + r, c.info_branches + b
        c.info_lists, c.info_words = c.info_lists + lst, c.info_words + w
    reports = report_text(tree)
    for name, path in DATA_FILES.items():
        text = tree.read(path) or ""
        if name == "metrics":
            metrics = tomllib.loads(text).get("metric", []) if text else []
            c.data["metrics"] = len(metrics)
            c.data["metric strings"] = sum(
                len(m.get(k, [])) for m in metrics for k in ("units", "cues", "after_cues", "aliases", "hints")
            )
            continue
        if name == "answer_shapes":  # interrogatives, measure words, figure formats (assistant/answerable.py)
            shapes = tomllib.loads(text) if text else {}
            patterns = [e["pattern"] for e in shapes.get("ask", [])]
            patterns += [e["pattern"] for k, e in shapes.items() if isinstance(e, dict) and "pattern" in e]
            patterns += list(shapes.get("stated", {}).values())
            c.data["answer shapes"] = len(patterns) + len(shapes.get("units", {}).get("classes", []))
            c.data["answer shape branches"] = sum(alternation_branches(p) for p in patterns)
            continue
        lines = data_lines(text)
        c.data[name] = len(lines)
        c.cited[name] = sum(cited(comment, reports) for _, comment in lines)
        if name == "synonyms":
            c.data["synonym words"] = sum(len(entry.split()) for entry, _ in lines)
    return c


def main(argv: list[str] | None = None) -> int:
    """Print the counts of one tree, or a table comparing several revisions."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(ROOT))
    ap.add_argument("--rev", action="append", help="git commit(s); the work tree when omitted")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--detail", action="store_true", help="list every regex and word list found")
    args = ap.parse_args(argv)
    revs = args.rev or [None]
    rows = [(rev or "work tree", count(Path(args.root), rev)) for rev in revs]
    if args.json:
        print(json.dumps({name: asdict(c) for name, c in rows}, ensure_ascii=False, indent=1))
        return 0
    keys = list(rows[0][1].data)
    head = ["tree", "regexes", "branches", "lists", "words", "not counted re/br/li/wo"] + keys
    print(" | ".join(head))
    for name, c in rows:
        data = [f"{c.data[k]}" + (f" ({c.cited[k]} cited)" if k in c.cited and c.data[k] else "") for k in keys]
        info = f"{c.info_regexes}/{c.info_branches}/{c.info_lists}/{c.info_words}"
        print(" | ".join([name, str(c.regexes), str(c.branches), str(c.lists), str(c.words), info] + data))
        if args.detail:
            print("\n".join("    " + line for line in c.detail))
    return 0


if __name__ == "__main__":
    sys.exit(main())
