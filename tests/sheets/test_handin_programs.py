"""The hand-in carries the programs its sheet asks for, and a notebook that stands alone.

Each built-in sheet, solved in its smoke configuration: the hand-in folder holds every program its
tasks name (and the programs those import), each program imports only what a course allows and
the other programs beside it, and the page lists each under its task. The folder, zipped and
unzipped somewhere else, runs its notebook to the end; no cell imports stridelab, climbs out of
the folder or names an absolute path. A sheet file can name only the package's own programs.
"""

import ast
import re
import shutil
import sys
import zipfile

import pytest

from stridelab.sheets.loader import builtin_names, load_sheet
from stridelab.sheets.programs import dependencies, describe

BUILTIN = builtin_names()
ALLOWED = {"numpy", "scipy", "sklearn", "torch", "matplotlib"}
# a string literal that starts an absolute path: /home/..., C:\..., ~/...
ABSOLUTE = re.compile(r"""["'](/[A-Za-z_.]|[A-Za-z]:[\\/]|~/)""")


def _wanted(name: str) -> set[str]:
    names = {p for t in load_sheet(name).tasks for p in t.programs}
    return names | {d for p in names for d in dependencies(p)}


def _top_imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_every_built_in_sheet_names_programs_for_its_build_tasks():
    expected = {
        "lmu-4": {"cnn_vs_mlp.py"},
        "rptu-2": {"cnn_vs_mlp.py", "cifar10.py", "depthwise_separable.py"},
        "tue-4": {"deep_mlp.py", "sepia_blur_cnn.py", "video_captioner.py",
                  "mnist_calculator.py"},
        "tuwien-4": {"conv_layer.py", "svc_baseline.py", "mnist_cnn.py", "kmeans.py"},
        "yale-663-2": {"prob4_CNN.py", "prob5_AE.py", "prob6_CAE.py"},
    }
    assert {name: _wanted(name) for name in BUILTIN} == expected
    for names in expected.values():
        for program in names:
            assert describe(program).endswith(".") and len(describe(program)) > 20, program


@pytest.mark.parametrize("name", BUILTIN)
def test_the_hand_in_holds_the_programs_and_they_import_only_allowed_libraries(
        builtin_solution, name):
    code, out = builtin_solution(name)
    assert code == 0
    folder = out / "hand-in"
    wanted = _wanted(name)
    assert wanted and wanted <= {p.name for p in folder.glob("*.py")}
    beside = {p.stem for p in folder.glob("*.py")}
    for path in folder.glob("*.py"):
        modules = _top_imports(path.read_text(encoding="utf-8"))
        bad = {m for m in modules if m not in sys.stdlib_module_names and m not in ALLOWED
               and m not in beside and m != "__future__"}
        assert bad == set(), (path.name, bad)
    html = (out / "solution.html").read_text(encoding="utf-8")
    for program in wanted:
        assert f'<a href="hand-in/{program}"><code>{program}</code></a>' in html


def test_yale_hand_in_is_complete_with_the_three_scripts(builtin_solution):
    code, out = builtin_solution("yale-663-2")
    folder = out / "hand-in"
    for script in ("prob4_CNN.py", "prob5_AE.py", "prob6_CAE.py"):
        assert (folder / script).read_bytes() == _package_file(script).read_bytes()
    assert "not in the hand-in" not in (out / "solution.html").read_text(encoding="utf-8")


def _package_file(name: str):
    from stridelab.sheets.programs import program_path

    return program_path(name)


def _notebook(folder):
    (path,) = folder.glob("*.ipynb")
    return path


@pytest.mark.parametrize("name", BUILTIN)
def test_the_notebook_runs_to_the_end_elsewhere(builtin_solution, name, tmp_path):
    import nbformat

    from stridelab.sheets.notebook import execute_notebook

    code, out = builtin_solution(name)
    assert code == 0
    # the folder zipped and unzipped somewhere else, as a course receives it
    archive = shutil.make_archive(str(tmp_path / "handed-in"), "zip", out / "hand-in")
    elsewhere = tmp_path / "elsewhere" / "unpacked"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(elsewhere)
    nb = nbformat.read(str(_notebook(elsewhere)), as_version=4)
    for cell in nb.cells:  # run afresh: no output of the solve's own run counts
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    sources = [c.source for c in code_cells]
    importing = [i for i, s in enumerate(sources) if "stridelab" in _top_imports(s)]
    assert importing == [], f"cells {importing} import stridelab"
    assert not [s for s in sources if "../" in s or "..\\" in s]
    assert not [m.group(0) for s in sources for m in ABSOLUTE.finditer(s)]
    nb, error = execute_notebook(nb, elsewhere, timeout=300)
    assert error is None, error
    assert all(c.execution_count for c in code_cells)


# the CIFAR-10 run is skipped where its data cannot be had: nothing to use its program on
NOT_USED = {"cifar10.py"}
PRINTING = {"mnist_calculator.py", "video_captioner.py"}  # they write sums and captions
USED_IN_SMOKE = {  # the smoke run's CNN is not prob4_CNN.py's (40 then 64 filters)
    "yale-663-2": {"prob5_AE.py", "prob6_CAE.py"},
}


@pytest.mark.parametrize("name", BUILTIN)
def test_the_notebook_uses_each_program_on_what_the_solve_trained(builtin_solution, name):
    """Each program is used in the notebook on the solve's weights, inputs and records, and
    draws its figure there; the cell ran without error as the solve executed it."""
    import nbformat

    code, out = builtin_solution(name)
    assert code == 0
    nb = nbformat.read(str(_notebook(out / "hand-in")), as_version=4)
    used, drawn = set(), set()
    for i, cell in enumerate(nb.cells[:-1]):
        found = re.match(r"`([\w.]+)` on what this solve trained and recorded:", cell.source)
        if cell.cell_type != "markdown" or not found:
            continue
        program, nxt = found.group(1), nb.cells[i + 1]
        assert nxt.cell_type == "code" and nxt.execution_count, program
        assert not [o for o in nxt.outputs if o.output_type == "error"], program
        used.add(program)
        if any(o.output_type == "display_data" for o in nxt.outputs):
            drawn.add(program)
    wanted = {p for t in load_sheet(name).tasks for p in t.programs} - NOT_USED
    assert used == USED_IN_SMOKE.get(name, wanted)
    assert drawn == used - PRINTING


@pytest.mark.parametrize("name", BUILTIN)
def test_the_notebook_shows_the_programs_and_recomputes_the_worked_values(builtin_solution,
                                                                         name):
    import nbformat

    code, out = builtin_solution(name)
    nb = nbformat.read(str(_notebook(out / "hand-in")), as_version=4)
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    for program in _wanted(name) - set().union(*(dependencies(p) for p in _wanted(name))):
        # the program's own source, whole up to its command line, is a cell
        body = _package_file(program).read_text(encoding="utf-8").split(
            'if __name__ == "__main__":')[0].rstrip()
        assert any(body in s for s in sources), program
    kinds = {t.command for t in load_sheet(name).tasks if t.kind == "worked"}
    joined = "\n".join(sources)
    if "conv" in kinds:
        assert "conv_layer(X" in joined and "assert np.allclose(Y" in joined
    if "shape" in kinds:
        assert "nn.Conv2d(" in joined or "nn.MaxPool2d(" in joined
    if "backprop" in kinds:
        assert "gradient_steps(spec)" in joined
    topics = {t.args[0] for t in load_sheet(name).tasks if t.kind == "worked"
              and t.command == "derive" and t.args}
    if "conv1d" in topics:  # TU Wien 4.1.2 on numbers: autograd recomputes its gradients
        assert "J.backward()" in joined and "assert np.allclose(x.grad" in joined
    if "ridge" in topics:  # RPTU 2.3: least squares on the augmented system
        assert "np.linalg.lstsq(A" in joined
    if topics & {"softmax-cross-entropy", "softmax-jacobian"}:  # autograd at random points
        assert "derived = torch" in joined
    if topics & {"mlp-update", "linear-backprop", "neuron-f"}:  # the delta rules by autograd
        assert "with torch.no_grad():  # the rules derived above" in joined
    if "cross-entropy-minimum" in topics:  # Yale 3.2: a numerical minimiser
        assert "minimize_scalar(" in joined
    if "softmax-name" in topics:  # the Yale bonus: the temperature table again
        assert "torch.logsumexp(c * zc" in joined


@pytest.mark.parametrize("argv", [
    ["conv1d", "--x", "3 1 4 1 5 9", "--w", "1 0 -1", "--b", "0", "--y", "0 1 0 1"],
    ["conv1d", "--x", "3 1 4 1 5 9; 2 7 1 8 2 8", "--w", "1 0 -1; 0.5 1 0", "--b", "1/2",
     "--y", "0 1", "--stride", "2", "--activation", "sigmoid"],
    ["conv1d", "--x", "3 1 4 1 5 9", "--w", "1 0 -1", "--y", "0 1 0 1", "--activation", "tanh"],
    ["ridge", "--X", "1 2; 3 1; 2 4", "--y", "2 1 3", "--lam", "0.5"],
    ["cross-entropy-minimum", "--y", "0.3"],
    ["cross-entropy-minimum", "--y", "0.1 0.8"],
    ["softmax-name", "--z", "1 2 3"],
])
def test_a_derivation_on_numbers_is_recomputed_a_second_way_and_agrees(argv, run_cli):
    import json
    import types

    from stridelab.sheets.notebook_worked import recompute_cell

    code, out, _ = run_cli("derive", *argv, "--format", "json")
    assert code == 0
    result = types.SimpleNamespace(data=json.loads(out), task=types.SimpleNamespace(
        command="derive"))
    source = recompute_cell(result)
    assert source and "stridelab" not in source
    exec(compile(source, "<cell>", "exec"), {})  # its asserts compare with the answer
    # a wrong answer is caught: the cell's own assert fails
    wrong = json.loads(out)
    key, bad = {"conv1d": ("J", 99.0), "ridge": ("w", [9.0, 9.0]),
                "cross-entropy-minimum": ("a_star", [0.5, 0.5]),
                "softmax-name": ("softmax", [[1 / 3] * 3] * 7)}[argv[0]]
    wrong["values"][key] = bad
    result.data = wrong
    with pytest.raises(AssertionError):
        exec(compile(recompute_cell(result), "<cell>", "exec"), {})


@pytest.mark.parametrize("topic", ["softmax-jacobian", "softmax-cross-entropy", "mlp-update",
                                   "linear-backprop", "neuron-f"])
def test_a_formula_is_checked_by_autograd_at_random_points(run_cli, topic):
    import json
    import types

    from stridelab.sheets.notebook_worked import recompute_cell

    code, out, _ = run_cli("derive", topic, "--format", "json")
    assert code == 0
    result = types.SimpleNamespace(data=json.loads(out), task=types.SimpleNamespace(
        command="derive"))
    source = recompute_cell(result)
    assert source and "stridelab" not in source and "random points" in source
    exec(compile(source, "<cell>", "exec"), {})  # its asserts compare autograd with the formula
    # the same cell with a wrong formula fails
    wrong = (source.replace("torch.softmax(z, 0) - y", "torch.softmax(z, 0) + y")
             .replace("torch.diag(s) - torch.outer", "torch.diag(s) + torch.outer")
             .replace("(a - y) * df", "(y - a) * df"))
    assert wrong != source
    with pytest.raises(AssertionError):
        exec(compile(wrong, "<cell>", "exec"), {})


def test_a_symbolic_derivation_without_a_check_here_has_no_recompute_cell(run_cli):
    import json
    import types

    from stridelab.sheets.notebook_worked import recompute_cell

    code, out, _ = run_cli("derive", "cross-entropy-swapped", "--a", "0.7", "--format", "json")
    assert code == 0
    result = types.SimpleNamespace(data=json.loads(out), task=types.SimpleNamespace(
        command="derive"))
    assert recompute_cell(result) is None


@pytest.mark.parametrize("bad", ["../cli.py", "/etc/passwd", "kmeans", "__init__.py",
                                 "programs/kmeans.py", "nope.py", "..py"])
def test_a_sheet_names_only_the_packages_own_programs(tmp_path, run_cli, bad):
    sheet = tmp_path / "s.toml"
    sheet.write_text(f"""
course = "C"
title = "T"
[[task]]
label = "1"
statement = "Write k-means."
kind = "answer"
answer = "See the program."
programs = [{bad!r}]
""".replace("'", '"'), encoding="utf-8")
    code, _, err = run_cli("sheet", "show", str(sheet))
    assert code == 2
    assert err.startswith("stridelab: error: ") and err.count("\n") == 1
    assert "programs" in err and "is not a hand-in program" in err
