"""The import rules of docs/architecture.md, checked on the source: every import statement of
every module (at the top or inside a function, absolute or relative) is read with `ast`."""

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "stridelab"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module that ``path`` imports, by absolute dotted name (``from a import b`` gives
    ``a`` and ``a.b``, since b may be a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    # `if TYPE_CHECKING:` blocks name types for annotations only: no import at run time
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


MODULES = {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _offenders(packages: tuple[str, ...], forbidden) -> list[str]:
    return sorted(f"{m} imports {i}" for m, imports in MODULES.items()
                  if any(_in(m, p) for p in packages) for i in imports if forbidden(i))


def test_the_scan_sees_the_whole_package():
    assert {"stridelab.core.tensor", "stridelab.cli", "stridelab.worked.commands",
            "stridelab.experiments.registry", "stridelab.report.render"} <= set(MODULES)
    assert "numpy" in MODULES["stridelab.core.tensor"]


def test_core_imports_only_numpy():
    assert _offenders(("stridelab.core",), lambda i: i.split(".")[0] not in STDLIB
                      and not _in(i, "numpy") and not _in(i, "stridelab.core")) == []


def test_data_imports_no_torch():
    assert _offenders(("stridelab.data",),
                      lambda i: _in(i, "torch") or _in(i, "stridelab.torch")) == []


def test_report_reads_only_files():
    assert _offenders(("stridelab.report",), lambda i: _in(i, "torch") or _in(i, "stridelab.torch")
                      or _in(i, "stridelab.experiments")) == []


def test_nothing_below_experiments_imports_them():
    below = ("stridelab.core", "stridelab.data", "stridelab.cluster", "stridelab.torch",
             "stridelab.worked", "stridelab.report", "stridelab.programs")
    assert _offenders(below, lambda i: _in(i, "stridelab.experiments")) == []


def test_nothing_imports_the_command_line():
    # `python -m stridelab` is the one way in besides the console script
    assert [o for o in _offenders(("stridelab",), lambda i: _in(i, "stridelab.cli"))
            if not o.startswith("stridelab.__main__ ")] == []


@pytest.mark.skipif(not (PACKAGE / "programs").is_dir(), reason="no hand-in programs yet")
def test_programs_stand_alone():
    allowed = ("numpy", "scipy", "sklearn", "torch", "matplotlib")
    assert _offenders(("stridelab.programs",), lambda i: i.split(".")[0] not in STDLIB
                      and not any(_in(i, a) for a in allowed)) == []


def test_no_two_modules_import_each_other():
    def imported_modules(m):
        return {i for i in MODULES[m] if i in MODULES and i != m}

    pairs = sorted({tuple(sorted((a, b))) for a in MODULES for b in imported_modules(a)
                    if a in imported_modules(b)
                    # a package's __init__ re-exporting its own submodule is not a circle
                    and not _in(b, a) and not _in(a, b)})
    assert pairs == []
