"""Variants: a student's numbers drawn from the sheet and their id, the same every time, checked
by computing their answers, written as a sheet file that refuses hand edits; the exercise page
shows the numbers and no answer. Worked tasks only: nothing here trains."""

import html
import re
import shutil
import textwrap
import unicodedata
from pathlib import Path

import pytest

from stridelab.errors import ConfigError
from stridelab.sheets import vary
from stridelab.sheets.answers import read_answers
from stridelab.sheets.course import write_variants
from stridelab.sheets.loader import builtin_names, load_sheet
from stridelab.sheets.model import SheetError
from stridelab.sheets.run import compute_worked, worked_checks
from stridelab.sheets.variant import (
    check_flags,
    compute_answer,
    make_variant,
    read_roster,
    seed_for,
    variant_text,
    verify_variant,
)

BUILTIN = builtin_names()
STUDENTS = [f"s{1000 + i}" for i in range(50)]


def _write(tmp_path: Path, text: str, name: str = "sheet.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


SMALL = """\
    course = "A course"
    title = "Sheet 1"

    [[task]]
    label = "1"
    statement = "Correlate $X = <<X:tex>>$ with the kernel <<K:literal>>, 'valid'."
    kind = "worked"
    command = "conv"
    args = ["--input", "<<X>>", "--kernel", "<<K>>"]
    answer = "The first output is {worked.1.results.0.output.0.0}; X had <<n>> rows."

    [task.vary]
    X = { value = "1 2 3; 4 5 6; 7 8 9", range = [0, 9] }
    K = { value = "1 0; 0 -1", choice = ["1 0; 0 -1", "0 1; -1 0"] }
    n = { expr = "3" }
    """


# ---------------------------------------------------------------------------------------------
# the same student, the same variant


def test_the_same_student_gets_the_same_variant_byte_for_byte(tmp_path):
    sheet = load_sheet("rptu-2")
    a = write_variants(sheet, [("s1234", "")], tmp_path / "a", pdf=False)[0]
    b = write_variants(sheet, [("s1234", "")], tmp_path / "b", pdf=False)[0]
    file_a, file_b = a.dir / "rptu-2.toml", b.dir / "rptu-2.toml"
    assert file_a.read_bytes() == file_b.read_bytes()
    assert f'seed = "{seed_for(sheet, "s1234")}"' in file_a.read_text()
    assert 'student = "s1234"' in file_a.read_text()


@pytest.mark.parametrize("name", BUILTIN)
def test_two_students_get_different_numbers(name):
    sheet = load_sheet(name)
    one, two = make_variant(sheet, "s1"), make_variant(sheet, "s2")
    assert one.seed != two.seed
    assert one.record.values != two.record.values
    # and a variant is not the sheet's own numbers
    own = {t.id: {d.name: d.value.literal() for d in t.vary if d.value is not None}
           for t in sheet.tasks if t.vary}
    drawn = {tid: {n: v for n, v in vals.items() if n in own[tid]}
             for tid, vals in one.record.values.items()}
    assert drawn != own


def test_the_seed_follows_the_numbers_declarations_not_the_wording(tmp_path):
    base = _write(tmp_path, SMALL)
    reworded = _write(tmp_path, SMALL.replace("Correlate", "Cross-correlate"), "b.toml")
    ranged = _write(tmp_path, SMALL.replace("range = [0, 9]", "range = [0, 8]"), "c.toml")
    seeds = [seed_for(load_sheet(p), "s1") for p in (base, reworded, ranged)]
    assert seeds[0] == seeds[1] != seeds[2]


def test_a_statement_shows_its_variants_numbers(tmp_path):
    sheet = load_sheet(_write(tmp_path, SMALL))
    task = sheet.task("1")
    assert task.args[1] == "1 2 3; 4 5 6; 7 8 9"
    assert r"\begin{bmatrix} 1 & 2 & 3 \\ 4 & 5 & 6 \\ 7 & 8 & 9 \end{bmatrix}" in task.statement
    v = make_variant(sheet, "s7")
    drawn = v.sheet.task("1")
    x = v.values["1"]["X"]
    assert drawn.args[1] == x.literal() != task.args[1]
    assert x.markdown("tex") in drawn.statement
    assert v.values["1"]["K"].literal() in drawn.statement
    assert drawn.answer.endswith("X had 3 rows.")


# ---------------------------------------------------------------------------------------------
# every built-in sheet: 50 variants solve and pass their second-way checks


@pytest.mark.parametrize("name", BUILTIN)
def test_fifty_variants_of_each_builtin_sheet_solve_and_pass_their_checks(name, tmp_path):
    sheet = load_sheet(name)
    original = sheet.path.read_bytes()
    varied = [t.id for t in sheet.tasks if t.vary]
    assert varied, f"{name} varies no task"
    for student in STUDENTS:
        v = make_variant(sheet, student)
        path = tmp_path / f"{student}.toml"
        path.write_text(variant_text(v, original), encoding="utf-8")
        loaded = load_sheet(path)
        assert loaded.variant is not None and loaded.variant.student == student
        for task in loaded.tasks:
            if task.kind != "worked" or not task.vary:
                continue
            assert task.args == v.sheet.task(task.id).args
            answer, _ = compute_answer(loaded, task, data=False)
            flags = check_flags(answer)
            assert all(flags), f"{name} {student} {task.id}: a second-way check failed"


@pytest.mark.parametrize("name", BUILTIN)
def test_a_variants_whole_worked_solution_renders(name, tmp_path):
    """Every worked task of two variants computed as a solve computes it, with every reference
    of every answer resolved against it."""
    from stridelab.sheets.plan import check_references

    sheet = load_sheet(name)
    for student in STUDENTS[:2]:
        v = make_variant(sheet, student)
        worked = {t.id: compute_worked(v.sheet, t, tmp_path / student / "fig",
                                       tmp_path / student / "spec")
                  for t in v.sheet.tasks if t.kind == "worked"}
        for result in worked.values():
            assert all(worked_checks(result.data))
        check_references(v.sheet, [t for t in v.sheet.tasks if t.kind != "experiment"], None,
                         worked)


# ---------------------------------------------------------------------------------------------
# the exercise


def test_the_exercise_pdf_holds_the_numbers_and_no_answer(tmp_path):
    from stridelab.report.pdf import find_chromium

    if None in find_chromium():
        pytest.skip("Chromium and chromedriver are needed to print the exercise")
    from pypdf import PdfReader

    sheet = load_sheet("rptu-2")
    done = write_variants(sheet, [("s42", "Riddle, Tom")], tmp_path, pdf=True)[0]
    assert done.pdf_reason is None
    pdf = done.dir / "exercise.pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(str(pdf)).pages)
    flat = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text))  # the "ﬁ" ligature
    v = done.variant
    values = v.values
    h, k, s = (values["2.1v"][n].literal() for n in ("H", "k", "s"))
    assert f"{h}×{h} input with {k}×{k} filters" in flat
    assert f"stride {s}" in flat
    vi = values["2.1vi"]
    assert f"{vi['H'].literal()}×{vi['H'].literal()}×{vi['C'].literal()}" in flat
    assert "Riddle, Tom (s42)" in flat and v.seed in flat
    # the answers: the parameter counts, the output sizes, the ridge weights, the outputs
    shape = v.answers["2.1vi"]
    def shows(number: str) -> bool:  # as a number of its own, not inside another or a hash
        return re.search(rf"(?<![\w.,/]){re.escape(number)}(?![\w/]|[.,]\d)", flat) is not None

    counts = [layer["params"] for layer in shape.to_dict()["layers"]]
    assert all(not shows(str(n)) and not shows(f"{n:,}") for n in counts if n >= 100)
    ridge = v.answers["2.3"].exact
    assert all(not shows(w) for w in re.findall(r"\d+/\d+", str(ridge)))
    assert shows(str(values["2.3"]["lam"].literal()))
    for phrase in ("Computed with", "stridelab conv", "Check.", "passed", "max_abs_error"):
        assert phrase not in flat
    assert len(PdfReader(str(pdf)).pages) >= 2


def test_the_exercise_html_shows_a_networks_numbers_not_its_gradients(tmp_path):
    sheet = load_sheet("yale-663-2")
    done = write_variants(sheet, [("s9", "")], tmp_path, pdf=False)[0]
    page = html.unescape((done.dir / "exercise.html").read_text())
    spec = done.variant.sheet.task("problem-3.3").spec
    assert '"loss": "binary_cross_entropy"' in page
    assert str(spec["layers"][0]["W"][0][0]) in page
    step = done.variant.answers["problem-3.3"].to_dict()["steps"][0]
    assert "delta2" not in page and "params_after" not in page
    assert f"{step['grads']['W2'][0][0]:.4f}" not in page


# ---------------------------------------------------------------------------------------------
# a variant file edited by hand


def _variant_file(tmp_path, run_cli):
    code, _, err = run_cli("sheet", "variant", "tue-4", "--student", "s77", "--out",
                           tmp_path / "v", "--no-pdf")
    assert code == 0, err
    return tmp_path / "v" / "s77" / "tue-4.toml"


def test_an_unedited_variant_file_loads_and_shows(tmp_path, run_cli):
    path = _variant_file(tmp_path, run_cli)
    code, out, err = run_cli("sheet", "show", path)
    assert code == 0, err
    values = load_sheet(path).variant.values["backpropagation"]
    assert f"weights\nw₀ = {values['w0']} and w₁ = {values['w1']}" in out.replace("  ", "") \
        or f"w₀ = {values['w0']}" in out


@pytest.mark.parametrize("edit", ["value", "seed", "student", "statement"])
def test_a_variant_file_edited_by_hand_is_refused_in_one_line(tmp_path, run_cli, edit):
    path = _variant_file(tmp_path, run_cli)
    text = path.read_text()
    if edit == "value":
        m = re.search(r'^y2 = "(\d+)"$', text, re.M)
        text = text[:m.start(1)] + str(int(m.group(1)) + 1) + text[m.end(1):]
    elif edit == "seed":
        text = re.sub(r'^seed = "([0-9a-f]{16})"$', 'seed = "0123456789abcdef"', text,
                      flags=re.M)
    elif edit == "student":
        text = text.replace('student = "s77"', 'student = "s78"')
    else:
        text = text.replace("do one step of", "do two steps of", 1)
    path.write_text(text)
    code, out, err = run_cli("sheet", "show", path)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("stridelab: error: ")
    assert "edited by hand" in err


def test_a_variant_cannot_be_varied_again(tmp_path, run_cli):
    path = _variant_file(tmp_path, run_cli)
    code, _, err = run_cli("sheet", "variant", path, "--student", "s1", "--out", tmp_path / "w")
    assert code == 2 and "already the variant of student 's77'" in err
    assert not (tmp_path / "w").exists()


# ---------------------------------------------------------------------------------------------
# rosters and the command


def test_a_roster_writes_one_folder_per_student(tmp_path, run_cli):
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name\ns1,\"Riddle, Tom\"\ns2,Granger Hermione\n\ns3\n")
    assert read_roster(roster) == [("s1", "Riddle, Tom"), ("s2", "Granger Hermione"),
                                   ("s3", "")]
    code, out, err = run_cli("sheet", "variant", "lmu-4", "--roster", roster, "--out",
                             tmp_path / "out", "--no-pdf")
    assert code == 0, err
    for sid in ("s1", "s2", "s3"):
        folder = tmp_path / "out" / sid
        assert sorted(p.name for p in folder.iterdir()) == ["answers.toml", "exercise.html",
                                                            "lmu-4.toml"]
        variant = load_sheet(folder / "lmu-4.toml").variant
        assert variant.student == sid
        blank = read_answers(folder / "answers.toml")  # the student's own blank answers file
        assert (blank.student, blank.seed) == (sid, variant.seed)
    assert "Riddle, Tom (s1)" in (tmp_path / "out" / "s1" / "exercise.html").read_text()
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("rows, message", [
    ("s1\ns1\n", "row 2: 's1' is also in row 1"),
    ("s1\n../etc\n", "row 2: student id '../etc'"),
    ("id\n", "no students"),
])
def test_a_bad_roster_is_one_line_and_writes_nothing(tmp_path, run_cli, rows, message):
    roster = tmp_path / "roster.csv"
    roster.write_text(rows)
    code, _, err = run_cli("sheet", "variant", "lmu-4", "--roster", roster, "--out",
                           tmp_path / "out", "--no-pdf")
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_a_student_id_must_be_a_plain_name(tmp_path, run_cli):
    code, _, err = run_cli("sheet", "variant", "lmu-4", "--student", "a/b", "--out", tmp_path)
    assert code == 2 and "student id 'a/b'" in err


# ---------------------------------------------------------------------------------------------
# the declarations: every mistake one line naming file, task and key


@pytest.mark.parametrize("change, key, message", [
    ('X = { value = "1 2 3; 4 5 6; 7 8 9", range = [0, 9] }',
     "vary.X.rang", "unknown key"),
    ('X = { value = "1 2 3; 4 5 6; 7 8 9", range = [9, 0] }', "vary.X.range", "is above high"),
    ('X = { value = "1 2 3; 4 5 6; 7 8 9", range = [0, 9], choice = [1] }', "vary.X",
     "exactly one of"),
    ('X = { value = "1 2 3; 4 5", range = [0, 9] }', "vary.X.value", "same length"),
    ('X = { value = "1 2 3; 4 5 6; 7 8 9", range = [0, 1], distinct = true }',
     "vary.X.distinct", "fewer than the 9 distinct"),
    ('X = { value = "1 2 3; 4 5 6; 7 8 9", range = [0, 9] }\nrequire = ["X >"]',
     "vary.require[0]", "not an expression"),
    ('X = { value = "1 2 3; 4 5 6; 7 8 9", range = [0, 9] }\nrequire = ["y > 1"]',
     "vary.require[0]", "'y' is not a value"),
    ('X = { value = "1 2 3; 4 5 6; 7 8 9", range = [0, 9] }\nrequire = ["__import__(1) > 1"]',
     "vary.require[0]", "only numbers"),
    ('X = { same = "0.X" }', "vary.X.same", "no earlier worked task"),
])
def test_a_bad_vary_table_is_one_line(tmp_path, change, key, message):
    text = SMALL.replace('    X = { value = "1 2 3; 4 5 6; 7 8 9", range = [0, 9] }\n',
                         textwrap.indent(change, "    ") + "\n")
    if "rang" in key:
        text = text.replace("range = [0, 9] }", "rang = [0, 9] }", 1)
    with pytest.raises(SheetError) as err:
        load_sheet(_write(tmp_path, text))
    line = str(err.value)
    assert "\n" not in line and "task '1'" in line and key in line and message in line


def test_an_undeclared_placeholder_is_one_line(tmp_path):
    text = SMALL.replace("<<K:literal>>", "<<Q>>")
    with pytest.raises(SheetError, match=r"task '1': statement: <<Q>>: no value of this task"):
        load_sheet(_write(tmp_path, text))


def test_a_condition_the_sheets_own_numbers_break_is_named(tmp_path):
    text = SMALL.replace('    n = { expr = "3" }\n',
                         '    n = { expr = "3" }\n    require = ["answer.results.0.output.0.0 > '
                         '100"]\n')
    sheet = load_sheet(_write(tmp_path, text))
    with pytest.raises(SheetError, match="does not hold for the sheet's own numbers"):
        make_variant(sheet, "s1")


def test_a_condition_no_draw_meets_is_named_after_bounded_tries(tmp_path):
    text = SMALL.replace('range = [0, 9] }', 'range = [0, 9000] }').replace(
        '    n = { expr = "3" }\n',
        '    n = { expr = "3" }\n    require = ["answer.results.0.output.0.0 == X[0, 0] - 5"]\n')
    sheet = load_sheet(_write(tmp_path, text))
    with pytest.raises(SheetError) as err:
        make_variant(sheet, "s1")
    assert "no draw in 100 tries for student 's1' meets: require " \
           "'answer.results.0.output.0.0 == X[0, 0] - 5'" in str(err.value)


def test_expressions_are_exact_and_safe():
    values = {"a": vary.Value("number", vary.Fraction(1, 10)),
              "w": vary.Value("vector", (vary.Fraction(2), vary.Fraction(-3)))}
    assert vary.evaluate("a * 3 + w[1]", values) == vary.Fraction(-27, 10)
    assert vary.condition_holds("abs(w[1]) > w[0]", values, {})
    assert not vary.condition_holds("answer.missing.path > 0", values, {})
    assert not vary.condition_holds("a / (w[0] - 2) > 0", values, {})  # division by zero
    for bad in ("a.__class__", "open('x')", "a ** 1000", "[a][0]", "lambda: 1"):
        with pytest.raises(vary.VaryError):
            vary._check_expression(bad, {"a", "w"}, "vary.x.expr", allow_answer=False)


def test_a_stream_is_the_same_everywhere():
    stream = vary.Stream("seed\x1ftask\x1f0\x1fX")
    # fixed forever: a variant must be rebuilt years later on another machine
    assert [stream.below(10) for _ in range(8)] == [stream_ref for stream_ref in
                                                   _reference_draws()]


def _reference_draws():
    import hashlib

    out, pool, counter = [], b"", 0
    while len(out) < 8:
        if len(pool) < 8:
            pool += hashlib.sha256(b"seed\x1ftask\x1f0\x1fX\x00" + counter.to_bytes(8, "big"))\
                .digest()
            counter += 1
        x, pool = int.from_bytes(pool[:8], "big"), pool[8:]
        if x < (1 << 64) - (1 << 64) % 10:
            out.append(x % 10)
    return out


def test_numbers_are_written_exactly():
    assert [vary.number_text(vary.Fraction(x)) for x in ("3", "-0.25", "1/3", "0.5", "-7")] \
        == ["3", "-0.25", "1/3", "0.5", "-7"]


def test_verify_rebuilds_the_variant(tmp_path):
    sheet = load_sheet(_write(tmp_path, SMALL))
    v = make_variant(sheet, "s5")
    path = tmp_path / "v.toml"
    path.write_text(variant_text(v, sheet.path.read_bytes()))
    rebuilt = verify_variant(load_sheet(path))
    assert rebuilt.record.values == v.record.values


def test_write_variants_refuses_a_file_as_out(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        write_variants(load_sheet("lmu-4"), [("s1", "")], tmp_path / "f", pdf=False)


def test_nothing_is_left_half_written_when_a_student_fails(tmp_path, monkeypatch):
    from stridelab.sheets import course

    calls = []

    def broken(sheet, out_dir, pdf=True):
        calls.append(out_dir)
        raise OSError("disk full")

    monkeypatch.setattr(course, "write_exercise", broken)
    with pytest.raises(OSError):
        write_variants(load_sheet("lmu-4"), [("s1", "")], tmp_path, pdf=False)
    assert calls and not list(tmp_path.iterdir())
    shutil.rmtree(tmp_path, ignore_errors=True)
