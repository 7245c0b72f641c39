"""The sheets package reads one way: no two of its modules import each other (directly or round a
longer circle, imports inside functions included), none imports the command line, the command
lines of tasks are built in one module, and there is no fallback to a printer that does not
exist."""

import ast
from pathlib import Path

import stridelab.sheets

PACKAGE = Path(stridelab.sheets.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every stridelab module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("stridelab"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("stridelab"))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {f"stridelab.sheets.{p.stem}": p for p in PACKAGE.glob("*.py")
               if p.stem != "__init__"}
    return {name: {m for m in _imports(path) if m in modules and m != name}
            for name, path in modules.items()}


def test_no_module_of_the_package_imports_itself_round_a_circle():
    graph = _graph()
    assert "stridelab.sheets.notebook" in graph and "stridelab.sheets.solve" in graph

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph[start]:
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    circles = [m for m in graph if reaches(m, m, {m})]
    assert circles == []


def test_nothing_imports_the_command_line():
    for path in PACKAGE.glob("*.py"):
        imported = _imports(path)
        assert "stridelab.cli" not in imported, path.name


def test_the_command_lines_are_built_in_one_module():
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        builders = defined & {"worked_command_line", "experiment_command_line", "worked_argv",
                              "command_parser"}
        if path.stem == "commands":
            assert builders == {"worked_command_line", "experiment_command_line",
                                "worked_argv", "command_parser"}
        else:
            assert not builders, (path.name, builders)


def test_no_module_reaches_for_a_printer_that_does_not_exist():
    for path in PACKAGE.glob("*.py"):
        assert "stridelab.report.render import print_pdf" not in path.read_text(), path.name


def test_no_source_file_of_the_package_is_over_800_lines():
    for path in list(PACKAGE.glob("*.py")) + list(PACKAGE.parent.joinpath("report").glob("*.py")):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 800, path.name
