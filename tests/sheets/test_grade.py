"""Grading: answers files in, marks, slips and reasons out. A right file scores full marks, a
planted slip is named, a malformed value scores 0 with its reason and the grading goes on, and
a file that is not its student's stops everything in one line (exit 2) with nothing written."""

import csv
import importlib.util
import io
import textwrap
from pathlib import Path

import pytest

from stridelab.errors import ConfigError
from stridelab.sheets import marks
from stridelab.sheets.answers import answers_text, read_answers
from stridelab.sheets.course import grade_class
from stridelab.sheets.grade import Grader, answers_gradables
from stridelab.sheets.loader import builtin_names, load_sheet
from stridelab.sheets.model import SheetError

ROOT = Path(__file__).resolve().parents[2]
BUILTIN = builtin_names()


def _bench():
    spec = importlib.util.spec_from_file_location("grading_bench",
                                                  ROOT / "benchmarks" / "grading.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_answers(tmp_path, sheet_name, student, change=None, grader=None):
    """An answers file of ``student`` with every value right, then ``change(filled, grader,
    variant)`` applied; its path."""
    grader = grader or Grader(load_sheet(sheet_name))
    variant = grader.variant(student)
    gs = answers_gradables(grader, variant)
    filled = {tid: {g.key: g.literal for g in lst} for tid, lst in gs.items()}
    if change is not None:
        change(filled, grader, variant)
    path = tmp_path / student / "answers.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(answers_text(variant.sheet, student, variant.seed, gs, filled))
    return path


# ---------------------------------------------------------------------------------------------
# right files, full marks


@pytest.mark.parametrize("name", BUILTIN)
def test_a_right_answers_file_scores_full_marks(name, tmp_path):
    sheet = load_sheet(name)
    grader = Grader(sheet)
    grade = grader.grade(read_answers(_write_answers(tmp_path, name, "s1", grader=grader)))
    assert grade.tasks and grade.right == grade.values > 0
    for t in grade.tasks:
        assert t.right == t.n_graded, t.label
        if t.points is not None:
            assert t.earned == pytest.approx(t.points), t.label
    auto = sum(t.points or 0 for t in grade.tasks)
    assert grade.total == pytest.approx(auto)
    hand = {h.task_id for h in grade.by_hand}
    assert hand | {t.task_id for t in grade.tasks} == {t.id for t in sheet.tasks}
    if sheet.max_points is not None:
        assert auto + sum(sheet.points[t] for t in hand) == pytest.approx(sheet.max_points)


def test_the_class_csv_and_the_feedback_pages(tmp_path, run_cli):
    sheet_name = "rptu-2"
    grader = Grader(load_sheet(sheet_name))
    right = _write_answers(tmp_path, sheet_name, "s1", grader=grader)

    def slipped(filled, grader, variant):
        a = variant.answers["2.1i"]
        g = a.gradable()[2]  # laplace4: a product's sign, or the window off by one
        bench = _bench()
        filled["2.1i"]["output.3"] = dict(bench.plantings(variant.sheet.task("2.1i"), a, g))[
            "shifted"]
        filled["2.2ii"]["dL_dz_i"] = "-(y_hat_i - y_i)"

    wrong = _write_answers(tmp_path, sheet_name, "s2", slipped, grader)
    code, out, err = run_cli("sheet", "grade", sheet_name, right, wrong, "--out",
                             tmp_path / "g", "--no-pdf", "--roster", _roster(tmp_path))
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO((tmp_path / "g" / "grades.csv").read_text())))
    assert [r["student"] for r in rows] == ["s1", "s2"]
    assert rows[0]["name"] == "Riddle, Tom" and rows[1]["name"] == "'=HYPERLINK()"
    assert rows[0]["points"] == "17" and rows[0]["max points"] == "30"
    assert rows[0]["points by hand"] == "13" and rows[0]["2.4 (by hand)"] == ""
    assert rows[0]["values right"] == rows[0]["values"]
    # the window off by one keeps half the laplace output's point; the sign half of 2.2 ii)'s 4
    assert float(rows[1]["2.1 i)"]) == pytest.approx(2.5)
    assert rows[1]["2.2 ii)"] == "2" and rows[1]["points"] == "14.5"
    page = (tmp_path / "g" / "feedback" / "s2.html").read_text()
    assert "slip: shifted" in page and "slip: sign" in page
    assert "14.5 of 17 graded here, 13 more to grade by hand" in page
    models = (tmp_path / "g" / "model-answers.html").read_text()
    assert "mlp-vs-cnn" in models and 'id="model-2.1ii--s2"' in models
    assert not [p for p in (tmp_path / "g").iterdir() if p.name.startswith(".grading")]


def _roster(tmp_path) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text('id,name\ns1,"Riddle, Tom"\ns2,=HYPERLINK()\n')
    return path


# ---------------------------------------------------------------------------------------------
# planted slips are named


PLANTED = [  # (sheet, task id, value key, slip planted)
    ("rptu-2", "2.1i", "output.1", "transposed"),
    ("rptu-2", "2.1i", "output.3", "shifted"),
    ("rptu-2", "2.2ii", "dL_dz_i", "sign"),
    ("rptu-2", "2.2i", "dyhat_i_dz_j", "factor"),
    ("tuwien-4", "4.1.1-1", "output.1", "activation"),
    ("tuwien-4", "4.1.1-1", "output.2", "flipped"),
    ("yale-663-2", "problem-4.1a", "output_shape", "plus_one"),
    ("yale-663-2", "problem-4.1a", "total_params", "bias"),
    ("yale-663-2", "problem-4.1b", "output_shape", "ceil"),  # its stride leaves a remainder
    ("yale-663-2", "problem-4.1c", "output_shape", "padding"),
    ("yale-663-2", "problem-3.3", "W2", "lr"),
    ("yale-663-2", "problem-3.3", "delta1", "fprime"),
    ("lmu-4", "4-1b", "W1", "new_weights"),
    ("lmu-4", "4-1b", "dW2", "grad_sign"),
    ("tue-4", "backpropagation-batch-of-2", "dW1", "half"),
]


def _slip_texts() -> dict[str, str]:
    from stridelab.worked.backprop.check import SLIPS
    from stridelab.worked.shape.check import PARAM_SLIPS, SHAPE_SLIPS

    return {**SLIPS, **PARAM_SLIPS, **SHAPE_SLIPS}


_SLIP_TEXT = _slip_texts()


@pytest.mark.parametrize("sheet_name, tid, key, slip", PLANTED,
                         ids=[f"{p[0]}:{p[1]}:{p[3]}" for p in PLANTED])
def test_each_planted_slip_kind_is_named_by_the_grade(sheet_name, tid, key, slip, tmp_path):
    bench = _bench()
    grader = Grader(load_sheet(sheet_name))
    planted = {}

    def plant(filled, grader, variant):
        task = variant.sheet.task(tid)
        answer = grader.answer(variant, task)
        g = next(g for g in answer.gradable() if g.key == key)
        options = dict(bench.plantings(task, answer, g))
        assert slip in options, sorted(options)
        filled[tid][key] = planted["value"] = options[slip]
        # slips that give this very value (with s = 1 and p = 1, padding one side only and
        # forgetting the +1 both take one off, as with the sheet's own numbers)
        planted["same"] = {s for s, v in options.items() if v == options[slip]}

    for student in ("s1", "s2", "s3"):  # three variants: the slip is named in each
        path = _write_answers(tmp_path, sheet_name, student, plant, grader)
        grade = grader.grade(read_answers(path))
        task = next(t for t in grade.tasks if t.task_id == tid)
        check = next(c for c in task.checks if c.key == key)
        assert not check.correct, (student, check)
        if planted["same"] == {slip}:
            assert check.slip == slip, (student, check)
        else:  # one slip that gives this value is named; shape and backprop say the others
            assert check.slip in planted["same"], (student, check)
            for other in planted["same"] - {check.slip}:
                if other in _SLIP_TEXT:
                    assert _SLIP_TEXT[other] in check.message, (student, other, check.message)
        others = [c for c in task.checks if c.key != key]
        assert all(c.correct for c in others)


def test_a_slip_that_gives_the_right_value_is_no_slip():
    """Yale 4.1 (c)'s windows tile the padded image exactly, as the sheet's do: ceil for floor
    changes nothing there, so the planter offers no such slip and the grade counts the value
    right; in 4.1 (b) the stride leaves a remainder and the same slip is wrong and named."""
    bench = _bench()
    grader = Grader(load_sheet("yale-663-2"))
    for student in ("s1", "s2", "s3"):
        variant = grader.variant(student)
        for tid, named in (("problem-4.1c", False), ("problem-4.1b", True)):
            task = variant.sheet.task(tid)
            answer = grader.answer(variant, task)
            g = next(g for g in answer.gradable() if g.key == "output_shape")
            ceil = _ceil_shape(task.args)
            assert ("ceil" in dict(bench.plantings(task, answer, g))) is named
            check = answer.check_value("output_shape", ceil)
            assert check.correct is not named and (check.slip == "ceil") is named, (tid, check)


def _ceil_shape(args) -> str:
    """The output shape of one layer ``--input HxWx1 (conv|pool):k=..,s=..,p=..`` computed with
    ceil in place of floor, as an answers file writes it (a conv layer's depth is the n the
    sheet leaves open)."""
    import math

    h, w, c = args[1].split("x")
    kind, params = args[2].split(":")
    p = dict(kv.split("=") for kv in params.split(","))
    k, s, pad = int(p["k"]), int(p.get("s", 1)), int(p.get("p", 0))
    sizes = [math.ceil((int(d) + 2 * pad - k) / s) + 1 for d in (h, w)]
    return "x".join(map(str, sizes + ["n" if kind == "conv" else c]))


@pytest.mark.parametrize("name", ["lmu-4", "tue-4", "yale-663-2"])
def test_a_variant_shows_every_slip_its_sheets_own_numbers_show(name):
    """A variant is the same kind of case as the sheet: a slip that changes a value with the
    sheet's own numbers (the learning rate, the padding, an input's weights) changes it in
    every variant too, so it can be named there."""
    from stridelab.sheets.variant import compute_answer

    bench = _bench()
    grader = Grader(load_sheet(name))
    own = {}
    for task in grader.sheet.tasks:
        if task.kind == "worked" and task.grade != "by hand":
            answer = compute_answer(grader.sheet, task, data=False)[0]
            for g in answer.gradable():
                own[(task.id, g.key)] = {s for s, _ in bench.plantings(task, answer, g)}
    for student in [f"s{i}" for i in range(12)]:
        variant = grader.variant(student)
        for tid, gs in answers_gradables(grader, variant).items():
            task = variant.sheet.task(tid)
            answer = grader.answer(variant, task)
            for g in gs:
                shown = {s for s, _ in bench.plantings(task, answer, g)}
                assert own.get((tid, g.key), set()) <= shown, (student, tid, g.key)


def test_every_slip_kind_a_sheet_can_show_is_planted_somewhere():
    """The planter covers the slips of every command the built-in sheets use."""
    bench = _bench()
    kinds = set()
    for name in BUILTIN:
        grader = Grader(load_sheet(name))
        variant = grader.variant("s1")
        for tid, gs in answers_gradables(grader, variant).items():
            task = variant.sheet.task(tid)
            answer = grader.answer(variant, task)
            for g in gs:
                kinds |= {s for s, _ in bench.plantings(task, answer, g)}
    assert {"flipped", "shifted", "padding", "sign", "factor", "transposed", "activation",
            "bias", "stride", "arithmetic", "plus_one", "one_side", "ceil", "depth",
            "channels", "lr", "fprime", "fprime_out", "fprime_hidden", "half", "new_weights",
            "grad_sign", "sum"} <= kinds


# ---------------------------------------------------------------------------------------------
# bad values: 0 with the reason, and the grading goes on


def test_malformed_values_score_zero_with_reasons_and_the_grading_goes_on(tmp_path):
    sheet_name = "rptu-2"
    grader = Grader(load_sheet(sheet_name))

    def spoil(filled, grader, variant):
        filled["2.1i"]["output.1"] = "abc"
        filled["2.1i"]["output.2"] = filled["2.1i"]["output.2"].rsplit(";", 1)[0]  # a row short
        filled["2.1v"]["output_shape"] = "1e400"
        filled["2.2i"]["dyhat_i_dz_i"] = "__import__('os').system('true')"

    path = _write_answers(tmp_path, sheet_name, "s1", spoil, grader)
    text = path.read_text().replace('[task."2.3"]\n', '[task."2.3"]\nno_such_value = "3"\n'
                                    'flag = true\n')
    text += '\n[task."9.9"]\nx = "1"\n'
    path.write_text(text)
    grade = grader.grade(read_answers(path))
    by = {(t.task_id, c.key): (c, s) for t in grade.tasks for c, s in zip(t.checks, t.shares)}
    for key in [("2.1i", "output.1"), ("2.1i", "output.2"), ("2.1v", "output_shape"),
                ("2.2i", "dyhat_i_dz_i"), ("2.3", "no_such_value"), ("2.3", "flag")]:
        check, share = by[key]
        assert check.problem and share == 0 and check.message, key
    assert by[("2.1i", "output.2")][0].problem == "shape"
    assert by[("2.3", "no_such_value")][0].problem == "unknown key"
    assert by[("2.1i", "output.3")][0].correct  # the rest is graded as usual
    t23 = next(t for t in grade.tasks if t.task_id == "2.3")
    assert t23.earned == pytest.approx(5)  # values the task does not have cost nothing
    assert grade.ignored == ["9.9"]


# ---------------------------------------------------------------------------------------------
# files that stop the grading: one line, exit 2, nothing written


def _hostile(tmp_path, kind):
    grader = Grader(load_sheet("tue-4"))
    good = _write_answers(tmp_path, "tue-4", "s1", grader=grader)
    other = _write_answers(tmp_path, "tue-4", "s2", grader=grader)
    bad = tmp_path / "bad.toml"
    if kind == "another student's variant":
        bad.write_text(good.read_text().replace('student = "s1"', 'student = "s2"'))
        return [other, bad], "names variant"
    if kind == "another sheet":
        bad.write_text(good.read_text().replace('sheet = "tue-4"', 'sheet = "rptu-2"'))
        return [bad], "answers to sheet 'rptu-2', not 'tue-4'"
    if kind == "not TOML":
        bad.write_text("[answers\nstudent = 1")
        return [good, bad], "invalid TOML"
    if kind == "binary":
        bad.write_bytes(b"\xff\xfe\x00\x01" * 100)
        return [good, bad], "not UTF-8 text"
    if kind == "no answers table":
        bad.write_text('[task."x"]\na = "1"\n')
        return [good, bad], "no [answers] table"
    if kind == "a folder":
        return [good, tmp_path], "not a regular file"
    if kind == "missing":
        return [good, tmp_path / "nope.toml"], "no such answers file"
    if kind == "huge":
        bad.write_text("#" * 1_100_000)
        return [good, bad], "larger than 1,000,000 bytes"
    if kind == "twice":
        return [good, good], "a second answers file of student 's1'"
    if kind == "a bad student id":
        bad.write_text(good.read_text().replace('student = "s1"', 'student = "../x"'))
        return [bad], "student id '../x'"
    raise AssertionError(kind)


HOSTILE = ["another student's variant", "another sheet", "not TOML", "binary",
           "no answers table", "a folder", "missing", "huge", "twice", "a bad student id"]


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_file_that_is_not_its_students_stops_the_grading_in_one_line(kind, tmp_path,
                                                                       run_cli):
    files, message = _hostile(tmp_path, kind)
    out = tmp_path / "grades"
    out.mkdir()
    (out / "grades.csv").write_text("the previous grades\n")
    code, stdout, err = run_cli("sheet", "grade", "tue-4", *files, "--out", out, "--no-pdf")
    assert code == 2, err
    assert err.startswith("stridelab: error: ") and err.count("\n") == 1 and message in err
    assert sorted(p.name for p in out.iterdir()) == ["grades.csv"]
    assert (out / "grades.csv").read_text() == "the previous grades\n"


def test_a_hand_edited_variant_given_as_the_sheet_stops_the_grading(tmp_path, run_cli):
    code, _, err = run_cli("sheet", "variant", "lmu-4", "--student", "s1", "--out",
                           tmp_path / "v", "--no-pdf")
    assert code == 0, err
    variant = tmp_path / "v" / "s1" / "lmu-4.toml"
    variant.write_text(variant.read_text().replace('a = "', 'a = "1', 1))
    code, _, err = run_cli("sheet", "grade", variant, tmp_path / "v" / "s1" / "answers.toml",
                           "--out", tmp_path / "g", "--no-pdf")
    assert code == 2 and "edited by hand" in err and err.count("\n") == 1
    assert not (tmp_path / "g").exists()


def test_nothing_is_half_written_when_a_page_fails(tmp_path, monkeypatch):
    from stridelab.sheets import feedback

    grader = Grader(load_sheet("tue-4"))
    files = [_write_answers(tmp_path, "tue-4", s, grader=grader) for s in ("s1", "s2")]
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return original(*args, **kwargs)

    original = feedback.write_feedback
    monkeypatch.setattr(feedback, "write_feedback", broken)
    with pytest.raises(OSError):
        grade_class(load_sheet("tue-4"), files, tmp_path / "g", pdf=False)
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == [".cache"]


# ---------------------------------------------------------------------------------------------
# the cache, the student's own check, the blank files


def test_grading_again_reads_the_checks_from_disk(tmp_path, monkeypatch):
    sheet = load_sheet("yale-663-2")
    files = [_write_answers(tmp_path, "yale-663-2", s) for s in ("s1", "s2")]
    first = grade_class(sheet, files, tmp_path / "g", pdf=False)
    assert len(list((tmp_path / "g" / ".cache").glob("*.json"))) == 2

    def no_variant(self, student):
        raise AssertionError("a cached file computed its variant again")

    monkeypatch.setattr(Grader, "variant", no_variant)
    monkeypatch.setattr(Grader, "_model", lambda self, student, task: "cached")
    again = grade_class(sheet, files, tmp_path / "g", pdf=False)
    assert [g.total for g in again.grades] == [g.total for g in first.grades]
    assert [g.right for g in again.grades] == [g.right for g in first.grades]
    # a damaged cache entry is computed again, not trusted
    for p in (tmp_path / "g" / ".cache").glob("*.json"):
        p.write_text(p.read_text().replace('"correct": true', '"correct": "yes"'))
    monkeypatch.undo()
    third = grade_class(sheet, files, tmp_path / "g", pdf=False)
    assert [g.right for g in third.grades] == [g.right for g in first.grades]


def test_the_students_own_check(tmp_path, run_cli):
    def slip(filled, grader, variant):
        filled["2.2ii"]["dL_dz_i"] = "2*(y_hat_i - y_i)"

    path = _write_answers(tmp_path, "rptu-2", "s5", slip)
    code, out, err = run_cli("sheet", "check", "rptu-2", path)
    assert code == 0, err
    assert "s5 (variant " in out and "22 of 23 values right" in out
    assert "dL_dz_i: Not the expected formula; most likely slip: a constant factor" in out
    assert "output.1: right" in out and "graded by hand: 2.1 ii)" in out


def test_blank_answers_files(tmp_path, run_cli):
    roster = tmp_path / "r.csv"
    roster.write_text("s1\ns2\n")
    code, out, err = run_cli("sheet", "answers", "yale-663-2", "--roster", roster, "--out",
                             tmp_path / "a")
    assert code == 0, err
    text = (tmp_path / "a" / "s1" / "answers.toml").read_text()
    answers = read_answers(tmp_path / "a" / "s1" / "answers.toml")
    assert answers.student == "s1" and answers.answered("problem-3.3") == {}
    assert '[task."problem-3.3"]' in text and 'W1 = ""' in text
    assert "# Problem 2.2\n# ∂C/∂z_j^L" in text or "symbols: y_hat_i, y_i" in text
    grade = Grader(load_sheet("yale-663-2")).grade(answers)
    assert grade.right == 0 and all(c.problem == "missing" for t in grade.tasks
                                    for c in t.checks)


# ---------------------------------------------------------------------------------------------
# marks


def _check(correct=False, problem=None, slip=None, n=4, wrong=4):
    from stridelab.worked.grading import ValueCheck

    return ValueCheck("k", "x", "y", correct, n, 0 if correct else wrong, slip, "m", problem)


def test_credit_per_value_per_cell_per_task_and_per_slip():
    c = marks.Credit(per="cell", slip=0.5, slips={"sign": 0.25})
    earned, each = marks.score_task(4, c, ["a", "b"], [_check(True), _check(wrong=1)])
    assert earned == pytest.approx(2 + 2 * 0.75) and each == [2, 1.5]
    earned, _ = marks.score_task(4, c, ["a", "b"], [_check(True), _check(slip="flipped")])
    assert earned == pytest.approx(3)  # the slip's half beats the cells' nothing
    earned, _ = marks.score_task(4, c, ["a", "b"], [_check(True), _check(slip="sign")])
    assert earned == pytest.approx(2.5)
    earned, _ = marks.score_task(4, c, ["a", "b"], [_check(True), _check(problem="shape",
                                                                         slip="padding")])
    assert earned == 2  # a value that cannot be compared earns nothing, slip or not
    per_task = marks.Credit(per="task", slip=0.5)
    assert marks.score_task(3, per_task, ["a", "b"], [_check(True), _check(True)])[0] == 3
    assert marks.score_task(3, per_task, ["a", "b"], [_check(True), _check(slip="x")])[0] \
        == 1.5
    assert marks.score_task(3, per_task, ["a", "b"], [_check(True), _check()])[0] == 0
    weighted = marks.Credit(weights={"a": 3})
    assert marks.score_task(4, weighted, ["a", "b"], [_check(True), _check()])[0] == 3
    assert marks.score_task(None, weighted, ["a"], [_check(True)]) == (None, [None])


SHEET = """\
    course = "C"
    title = "T"
    {top}

    [[task]]
    label = "1"
    statement = "s"
    kind = "worked"
    command = "shape"
    args = ["--input", "5x5x1", "conv:k=3,n=2"]
    {task}

    [[task]]
    label = "2"
    statement = "s"
    kind = "answer"
    answer = "a"
    """


@pytest.mark.parametrize("top, task, key, message", [
    ("[grading]\ntotal = 5", "points = 3", "grading.total", "add up to 3, not the sheet's total 5"),
    ("", 'credit = { per = "row" }', "credit.per", "'row': use one of value, cell, task"),
    ("", 'credit = { slipz = 1 }', "credit.slipz", "unknown key"),
    ("", "points = -1", "points", "expected a number of points"),
    ('[[marks]]\ntasks = ["1"]\npoints = 2', "points = 3", "marks[0].tasks",
     "has points of its own"),
    ('[[marks]]\ntasks = ["9"]\npoints = 2', "", "marks[0].tasks", "no task is labelled '9'"),
    ("", 'grade = ["a", 1]', "grade", "expected \"all\""),
])
def test_a_bad_mark_is_one_line(tmp_path, top, task, key, message):
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(SHEET).replace("{top}", top).replace("{task}", task))
    with pytest.raises(SheetError) as err:
        load_sheet(path)
    assert key in str(err.value) and message in str(err.value) and "\n" not in str(err.value)


def test_marks_of_a_group_are_shared_by_weight(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(textwrap.dedent(SHEET).replace(
        "{top}", '[grading]\ntotal = 6\n\n[[marks]]\ntasks = ["1", "2"]\npoints = 6')
        .replace("{task}", "weight = 2"))
    sheet = load_sheet(path)
    assert sheet.points == {"1": 4, "2": 2} and sheet.max_points == 6


def test_grade_needs_answers_files(tmp_path):
    with pytest.raises(ConfigError, match="at least one answers file"):
        grade_class(load_sheet("lmu-4"), [], tmp_path)
