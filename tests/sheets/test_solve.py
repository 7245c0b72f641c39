"""Solving a sheet end to end: a tiny three-task sheet (one worked convolution, one experiment in
its smoke configuration, one answer reading both) solves into HTML and a hand-in folder with the
PDF and an executed notebook; the PDF holds every label, the worked numbers and a measured value;
solving again reuses the run; a skipped experiment is said to be skipped; hand-in models come with
their torch.export copy; a zip holds the hand-in; a solve that cannot print its PDF says so."""

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from stridelab.cli import main

# the worked answer by hand: sobel_x = [-1 0 1; -2 0 2; -1 0 1] slid over the zero-padded input
#   Y[0][0]: the padding row gives 0, then -2·0 + 2·2 = 4 and -1·0 + 1·4 = 4, so 8
#   Y[1][1]: (9 - 8) + 2·(6 - 3) + (3 - 5) = 1 + 6 - 2 = 5
EXPECTED_Y = [[8, 5, -8], [19, 5, -19], [22, -1, -22]]

TINY = """
course = "A course"
title = "Sheet 1"
source = "three tasks"

[[task]]
label = "1 a)"
statement = "Correlate the 3x3 input with the Sobel filter, same padding."
kind = "worked"
command = "conv"
args = ["--input", "8 2 9; 3 4 6; 5 9 3", "--kernel", "sobel_x", "--padding", "same",
        "--explain", "1,1"]

[[task]]
label = "1 b)"
statement = "Fit an RBF SVC to MNIST pixels."
kind = "experiment"
name = "svc-baseline"
set = { C = 1.0 }
metrics = ["test_accuracy", "n_train"]
figures = ["confusion_matrix"]

[[task]]
label = "1 c)"
statement = "Compare the two answers."
kind = "answer"
answer = '''
The centre of the filtered image is {worked.1a.results.0.output.1.1}, the whole output
$Y = {worked.1a.results.0.output:tex}$. The SVC, trained on {svc-baseline.n_train} images,
classifies {svc-baseline.test_accuracy:.4f} of the test digits correctly
{{if svc-baseline.test_accuracy >= 0.5}}(at least half){{else}}(fewer than half){{end}}.
'''
"""


def _chromium() -> bool:
    return bool((shutil.which("chromium") or shutil.which("chromium-browser"))
                and shutil.which("chromedriver"))


def _solve(tmp, sheet, *extra):
    return main(["sheet", "solve", str(sheet), "--smoke", "--out", str(tmp / "solutions"),
                 "--runs", str(tmp / "runs"), *extra])


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sheet")
    sheet = tmp / "sheet1.toml"
    sheet.write_text(TINY, encoding="utf-8")
    code = _solve(tmp, sheet)
    return tmp, sheet, code, tmp / "solutions" / "sheet1"


def _run_dir(tmp) -> Path:
    (run,) = [p for p in (tmp / "runs").iterdir() if p.name.startswith("svc-baseline")]
    return run


def test_solve_writes_html_pdf_and_notebook(solved):
    tmp, _, code, out = solved
    assert code == 0
    assert (out / "solution.html").is_file()
    # a sheet without submission rules hands in solution.pdf and solution.ipynb
    assert sorted(p.name for p in (out / "hand-in").iterdir() if p.is_file()) == \
        ["solution.ipynb", "solution.pdf"] if _chromium() else ["solution.ipynb"]
    assert (out / "hand-in" / "runs" / "svc-baseline.json").is_file()  # what the notebook reads
    assert not list(out.parent.glob(".*")), "a staging directory was left behind"
    html = (out / "solution.html").read_text(encoding="utf-8")
    for label in ("1 a)", "1 b)", "1 c)"):
        assert f">{label}" in html
    assert html.index(">1 a)") < html.index(">1 b)") < html.index(">1 c)")
    assert "<details" not in html  # every answer expanded
    assert "data:image/png;base64," in html  # the run's figure inlined


def test_answer_reads_the_worked_and_measured_values(solved):
    tmp, _, _, out = solved
    html = (out / "solution.html").read_text(encoding="utf-8")
    metrics = json.loads((_run_dir(tmp) / "metrics.json").read_text())
    assert f"The centre of the filtered image is {EXPECTED_Y[1][1]}" in html
    assert f"classifies {metrics['test_accuracy']:.4f} of the test digits" in html
    branch = "(at least half)" if metrics["test_accuracy"] >= 0.5 else "(fewer than half)"
    assert branch in html
    assert f"trained on {metrics['n_train']} images" in html


def test_pdf_holds_every_label_the_worked_numbers_and_a_measured_value(solved):
    if not _chromium():
        pytest.skip("Chromium and chromedriver are not installed "
                    "(Debian: apt-get install chromium chromium-driver)")
    pypdf = pytest.importorskip("pypdf")
    tmp, _, _, out = solved
    reader = pypdf.PdfReader(str(out / "hand-in" / "solution.pdf"))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for label in ("1 a)", "1 b)", "1 c)"):
        assert label in text
    metrics = json.loads((_run_dir(tmp) / "metrics.json").read_text())
    assert f"{metrics['test_accuracy']:.4f}" in text
    tokens = text.replace("−", "-").split()
    for row in EXPECTED_Y:  # KaTeX lays a matrix out cell by cell: each value is a token
        for v in row:
            assert str(v) in tokens, v
    assert "page 1 of" in text  # page numbers
    assert "sha256" in text  # the title block names the data set


def test_notebook_executed_without_errors(solved):
    import nbformat

    _, _, _, out = solved
    nb = nbformat.read(str(out / "hand-in" / "solution.ipynb"), as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert code_cells and all(c.execution_count for c in code_cells)
    errors = [o for c in code_cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    sources = "\n".join(c.source for c in code_cells)
    # the worked convolution computed again with SciPy, the run read from the folder
    assert "conv_layer(X" in sources and "[[8, 2, 9], [3, 4, 6], [5, 9, 3]]" in sources
    assert "load_run('svc-baseline')" in sources
    assert "import stridelab" not in sources and "from stridelab" not in sources
    conv = next(c for c in code_cells if "Y = conv_layer(X" in c.source)
    shown = json.dumps(conv.outputs)
    assert "-19" in shown and "22" in shown  # the answer as Jupyter rendered it


def test_solving_again_reuses_the_run(solved):
    tmp, sheet, _, out = solved
    run = _run_dir(tmp)
    before = (run / "metrics.json").stat().st_mtime_ns
    runs_before = sorted(p.name for p in (tmp / "runs").iterdir())
    code = _solve(tmp, sheet, "--no-pdf", "--no-notebook")
    assert code == 0
    assert sorted(p.name for p in (tmp / "runs").iterdir()) == runs_before
    assert (run / "metrics.json").stat().st_mtime_ns == before
    html = (out / "solution.html").read_text(encoding="utf-8")
    assert f"reused the finished run <code>{run}</code>" in html


def test_a_metric_the_run_does_not_record_is_one_line(solved, capsys):
    tmp, sheet, _, _ = solved
    bad = tmp / "bad-metric.toml"
    bad.write_text(TINY.replace('metrics = ["test_accuracy", "n_train"]',
                                'metrics = ["test_acuracy"]'), encoding="utf-8")
    capsys.readouterr()
    code = _solve(tmp, bad, "--no-pdf", "--no-notebook")
    err = capsys.readouterr().err
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("stridelab: error:")]
    assert len(errors) == 1
    assert f"{bad}: task '1 b)': metrics: 'test_acuracy': svc-baseline records no metric" \
        in errors[0]
    assert not (tmp / "solutions" / "bad-metric").exists()


def test_a_figure_the_run_did_not_draw_is_one_line(solved, capsys):
    tmp, _, _, _ = solved
    bad = tmp / "bad-figure.toml"
    bad.write_text(TINY.replace('figures = ["confusion_matrix"]', 'figures = ["confusion"]'),
                   encoding="utf-8")
    capsys.readouterr()
    code = _solve(tmp, bad, "--no-pdf", "--no-notebook")
    err = capsys.readouterr().err
    assert code == 2
    assert "task '1 b)': figures: 'confusion': svc-baseline drew no such figure" in err


def test_tasks_selects_and_computes_what_the_selection_reads(solved):
    tmp, sheet, _, out = solved
    code = _solve(tmp, sheet, "--tasks", "1 c)", "--no-pdf", "--no-notebook")
    assert code == 0
    html = (out / "solution.html").read_text(encoding="utf-8")
    assert ">1 c)" in html and ">1 a)" not in html
    assert f"The centre of the filtered image is {EXPECTED_Y[1][1]}" in html


def test_a_skipped_experiment_is_said_to_be_skipped(tmp_path):
    sheet = tmp_path / "cifar.toml"
    sheet.write_text(textwrap.dedent('''
        course = "C"
        title = "T"
        [given]
        target = 0.7
        [[task]]
        label = "2.4"
        statement = "Reach 70 % on CIFAR-10."
        kind = "experiment"
        name = "cifar10"
        metrics = ["test_accuracy"]
        answer = "Reached {cifar10.test_accuracy:.3f}."
        if_skipped = "CIFAR-10 is not here: nothing is measured against {given.target:.0%}."
        [[task]]
        label = "2.4 b)"
        statement = "Say whether the target is met."
        kind = "answer"
        answer = "{{if cifar10.test_accuracy >= given.target}}Met.{{else}}Not shown to be met.{{end}}"
        '''), encoding="utf-8")
    code = main(["sheet", "solve", str(sheet), "--smoke", "--out", str(tmp_path / "o"),
                 "--runs", str(tmp_path / "runs"), "--no-pdf", "--no-notebook"])
    assert code == 0
    html = (tmp_path / "o" / "cifar" / "solution.html").read_text(encoding="utf-8")
    assert "skipped" in html and "cifar" in html.lower()
    assert "CIFAR-10 is not here: nothing is measured against 70%." in html
    assert "Reached" not in html
    assert "Not shown to be met." in html


def test_hand_in_files_copy_the_model_and_its_export(tmp_path):
    from stridelab.sheets.handin import HandIn
    from stridelab.sheets.loader import Task
    from stridelab.sheets.run import RunRecord
    from stridelab.sheets.submission import Identity, Rules

    run = tmp_path / "run"
    run.mkdir()
    (run / "mnist_ae.pt").write_bytes(b"state dict")
    (run / "mnist_ae.pt2").write_bytes(b"exported program")
    (run / "mnist_cae.pt").write_bytes(b"another state dict")
    task = Task(label="5.4", id="5.4", kind="experiment", statement="s", name="ae-linear",
                files={"mnist_ae.pt": "mnist_ae.pt", "mnist_cae.pt": "mnist_cae.pt"})
    record = RunRecord(task=task, status="ok", run_dir=run, reused=True, seconds=0.0)
    hand_in = HandIn(tmp_path / "hand-in", Rules(files=("mnist_ae.pt", "prob5_AE.py")),
                     Identity())
    notes = dict(hand_in.add_run_files(task, record))
    dest = hand_in.dir
    assert (dest / "mnist_ae.pt").read_bytes() == b"state dict"
    assert (dest / "mnist_ae.pt2").read_bytes() == b"exported program"
    assert "torch.export.load('mnist_ae.pt2').module()" in notes["mnist_ae.pt2"]
    assert (dest / "mnist_cae.pt").is_file() and not (dest / "mnist_cae.pt2").exists()
    assert notes["mnist_cae.pt2"].startswith("**missing**")
    # what the sheet names and nobody wrote is missing, the PDF first
    assert hand_in.missing() == ["solution.pdf", "prob5_AE.py"]


GROUP_SHEET = TINY.replace('source = "three tasks"', '''source = "three tasks"

[submission]
pdf = "sheet1_group{group}_{lastname}.pdf"
notebook = "sheet1_group{group}.ipynb"
zip = "sheet1_group{group}.zip"
identity = ["group", "name", "number"]
students = "group"
number = "matriculation number"
''')


def test_a_group_hand_in_is_named_zipped_and_printed_with_its_members(tmp_path):
    if not _chromium():
        pytest.skip("Chromium and chromedriver are not installed")
    import zipfile

    import pypdf

    sheet = tmp_path / "group.toml"
    sheet.write_text(GROUP_SHEET, encoding="utf-8")
    code = _solve(tmp_path, sheet, "--tasks", "1 a)", "--no-notebook", "--group", "7",
                  "--student", "Riddle, Tom Marvolo", "--matriculation", "123456",
                  "--student", "Granger, Hermione Jean", "--matriculation", "234567")
    assert code == 0
    out = tmp_path / "solutions" / "group"
    assert sorted(p.name for p in (out / "hand-in").iterdir()) == ["sheet1_group7_riddle.pdf"]
    with zipfile.ZipFile(out / "sheet1_group7.zip") as zf:
        assert zf.namelist() == ["sheet1_group7_riddle.pdf"]
        assert zf.read("sheet1_group7_riddle.pdf") == \
            (out / "hand-in" / "sheet1_group7_riddle.pdf").read_bytes()
    reader = pypdf.PdfReader(str(out / "hand-in" / "sheet1_group7_riddle.pdf"))
    first = " ".join(reader.pages[0].extract_text().split())
    assert "group 7" in first
    assert "Riddle, Tom Marvolo, matriculation number 123456" in first
    assert "Granger, Hermione Jean, matriculation number 234567" in first


def test_without_an_identity_the_hand_in_holds_marked_placeholders(tmp_path, run_cli):
    sheet = tmp_path / "group.toml"
    sheet.write_text(GROUP_SHEET, encoding="utf-8")
    code, _, err = run_cli("sheet", "solve", str(sheet), "--smoke", "--tasks", "1 a)",
                           "--no-pdf", "--out", str(tmp_path / "o"), "--runs",
                           str(tmp_path / "runs"))
    assert code == 0
    out = tmp_path / "o" / "group"
    assert (out / "hand-in" / "sheet1_groupGROUP.ipynb").is_file()
    assert not (out / "sheet1_groupGROUP.zip").exists()  # no PDF: an incomplete hand-in
    html = (out / "solution.html").read_text(encoding="utf-8")
    assert "[not given: solve with --group N]" in html
    assert "[not given: solve with --student" in html
    said = " ".join(err.split())
    assert "not given: name, number, group" in said
    assert "no zip" in said


def test_a_solve_that_cannot_print_its_pdf_says_where_the_page_is(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STRIDELAB_CHROMIUM", str(tmp_path / "no-chromium"))
    sheet = tmp_path / "sheet1.toml"
    sheet.write_text(TINY, encoding="utf-8")
    code = _solve(tmp_path, sheet, "--tasks", "1 a)", "--no-notebook")
    err = capsys.readouterr().err
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("stridelab: error:")]
    assert len(errors) == 1, err
    html = tmp_path / "solutions" / "sheet1" / "solution.html"
    assert html.is_file()
    assert f"the HTML is at {html}:" in errors[0]
    assert "Chromium not found" in errors[0] and "--no-pdf" in errors[0]
    assert "apt-get install chromium chromium-driver" in errors[0]
    assert not list((tmp_path / "solutions").glob(".*")), "a staging directory was left behind"
    # --no-pdf is how a user asks for none: then the same solve succeeds
    assert _solve(tmp_path, sheet, "--tasks", "1 a)", "--no-notebook", "--no-pdf") == 0
    assert "stridelab: error" not in capsys.readouterr().err
