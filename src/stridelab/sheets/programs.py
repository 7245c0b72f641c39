"""The hand-in programs a sheet names: found in :mod:`stridelab.programs` only, and described.

A sheet's task lists the programs that answer it (``programs = ["prob4_CNN.py"]``); each name
is a file of the :mod:`stridelab.programs` package, never a path, so a sheet file cannot make a
solve copy anything else into a hand-in. A program is handed in with the other programs it
imports (they are then in the same folder), and its one-line description is the first sentence
of its own docstring, so the page and the program cannot disagree.

The notebook shows a program's source in a cell: :func:`cell_source` is the file without its
``if __name__ == "__main__":`` block (in a notebook ``__name__`` is ``"__main__"``, and the
program's command line would read the kernel's arguments).
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import stridelab.programs

__all__ = ["PROGRAMS_DIR", "program_names", "program_path", "describe", "dependencies",
           "cell_source"]

PROGRAMS_DIR = Path(stridelab.programs.__file__).resolve().parent
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\.py")


def program_names() -> list[str]:
    """Every hand-in program's file name, sorted."""
    return sorted(p.name for p in PROGRAMS_DIR.glob("*.py") if p.name != "__init__.py")


def program_path(name: str) -> Path | None:
    """The file of the program ``name`` (``"kmeans.py"``), or None when there is none.

    Only a plain file name of the package's own directory is accepted: no separators, no
    ``..``, no links that lead elsewhere.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name == "__init__.py":
        return None
    path = PROGRAMS_DIR / name
    if path.is_symlink() or not path.is_file() or path.resolve().parent != PROGRAMS_DIR:
        return None
    return path


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=path.name)


@cache
def describe(name: str) -> str:
    """The first sentence of the program's docstring (one line), e.g. for ``kmeans.py``:
    "k-means (Lloyd's algorithm) and k-means++ in NumPy, written like a scikit-learn estimator."
    """
    path = program_path(name)
    doc = ast.get_docstring(_tree(path)) if path else None
    if not doc:
        return ""
    paragraph = " ".join(doc.split("\n\n")[0].split())
    m = re.match(r"(.+?[.!?])(\s|$)", paragraph)
    return m.group(1) if m else paragraph


def _imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def dependencies(name: str) -> list[str]:
    """The other programs ``name`` imports, directly or through each other, sorted."""
    known = {n[:-3]: n for n in program_names()}
    seen: set[str] = set()
    todo = [name]
    while todo:
        path = program_path(todo.pop())
        if path is None:
            continue
        for module in _imported_modules(path):
            dep = known.get(module)
            if dep and dep != name and dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return sorted(seen)


def cell_source(name: str) -> str:
    """The program's source for a notebook cell: the file up to its ``__main__`` block."""
    path = program_path(name)
    if path is None:
        raise ValueError(f"no program {name!r}")
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    for node in _tree(path).body:
        if isinstance(node, ast.If) and "__name__" in ast.unparse(node.test) \
                and "__main__" in ast.unparse(node.test):
            lines = lines[:node.lineno - 1]
            break
    return "\n".join(lines).rstrip() + "\n"
