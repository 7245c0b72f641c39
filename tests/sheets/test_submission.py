"""Submission rules as data: every built-in sheet declares how it is handed in, the names come out
as the sheets ask (Yale's 452_riddletm_assignment2.pdf), and bad identity input is one line and
exit 2 before anything is computed or written. Nothing here trains."""

import sys

import pytest

from stridelab.errors import ConfigError
from stridelab.sheets.loader import builtin_names, load_sheet
from stridelab.sheets.submission import (
    Identity,
    Rules,
    Student,
    check_identity,
    hand_in_name,
    identity_from_options,
    read_identity,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RIDDLE = Identity((Student("Riddle, Tom Marvolo", "123456"),), "7")


def test_every_builtin_sheet_declares_its_submission_rules():
    from stridelab.sheets.loader import sheet_path

    for name in builtin_names():
        raw = tomllib.loads(sheet_path(name).read_text(encoding="utf-8"))
        assert "submission" in raw, name
        assert load_sheet(name).submission != Rules(), name


@pytest.mark.parametrize("name, pdf, notebook, extra", [
    # "452_<lastname and initials>_assignment2.pdf", the scripts and the models, one student
    ("yale-663-2", "452_riddletm_assignment2.pdf", "riddletm_assignment2.ipynb",
     ["prob4_CNN.py", "prob5_AE.py", "prob6_CAE.py", "mnist_ae.pt", "mnist_cae.pt",
      "mnist-cae-skip.pt"]),
    # one zip with the PDF and the code, the group on the PDF
    ("rptu-2", "exercise2_group7.pdf", "exercise2_group7.ipynb", []),
    # "this notebook, as well as a PDF version"
    ("tue-4", "assignment4.pdf", "assignment4.ipynb", []),
    ("lmu-4", "exercise-sheet-4.pdf", "exercise-sheet-4.ipynb", []),
    ("tuwien-4", "problems-4.1-4.3.pdf", "problems-4.1-4.3.ipynb", []),
])
def test_the_hand_in_names_each_sheet_asks_for(name, pdf, notebook, extra):
    rules = load_sheet(name).submission
    assert hand_in_name(rules.pdf, RIDDLE) == pdf
    assert hand_in_name(rules.notebook, RIDDLE) == notebook
    assert list(rules.files) == extra


def test_what_each_sheet_asks_to_be_printed():
    rptu = load_sheet("rptu-2").submission
    assert set(rptu.identity) == {"group", "name", "number"} and rptu.students == "group"
    assert hand_in_name(rptu.zip, RIDDLE) == "exercise2_group7.zip"
    assert load_sheet("yale-663-2").submission.students == "one"
    tue = load_sheet("tue-4").submission
    assert "number" in tue.identity and tue.number == "student number"


@pytest.mark.parametrize("name, expected", [
    ("Riddle, Tom Marvolo", "riddletm"),
    ("Tom Marvolo Riddle", "riddletm"),
    ("Riddle", "riddle"),
    ("Müller-Lüdenscheidt, Hans-Peter", "mullerludenscheidthp"),
    ("O'Brien, Siobhán", "obriens"),
])
def test_last_name_and_initials(name, expected):
    identity = Identity((Student(name),))
    assert hand_in_name("{lastname}{initials}.pdf", identity) == f"{expected}.pdf"


def test_without_an_identity_the_names_hold_marked_placeholders():
    rules = load_sheet("yale-663-2").submission
    assert hand_in_name(rules.pdf, Identity()) == "452_LASTNAMEINITIALS_assignment2.pdf"
    assert hand_in_name("g{group}.zip", Identity()) == "gGROUP.zip"


def test_what_is_missing_is_named():
    rptu = load_sheet("rptu-2").submission
    checked = check_identity(rptu, identity_from_options(["Riddle, Tom"], None, None), "rptu-2")
    assert checked.missing == ("number", "group")
    assert check_identity(rptu, Identity(), "rptu-2").missing == ("name", "number", "group")
    assert check_identity(Rules(), Identity(), "mine").missing == ()


BAD_OPTIONS = {
    "an empty name": (["--student", " "], "--student: a student's name must not be empty"),
    "a name that makes a path": (["--student", "../../etc/passwd"],
                                 "--student '../../etc/passwd': a name may not hold '/'"),
    "a name with a slash": (["--student", "Riddle/Tom"], "a name may not hold '/'"),
    "a name with a control character": (["--student", "Riddle\x1b[2J, Tom"],
                                        "control characters"),
    "a matriculation number with letters": (
        ["--group", "7", "--student", "Riddle, Tom", "--matriculation", "12a456"],
        "rptu-2: matriculation number of 'Riddle, Tom' '12a456': the sheet wants a number"),
    "a group that is not a number": (["--group", "seven", "--student", "Riddle, Tom"],
                                     "rptu-2: group 'seven': the sheet wants a number"),
    "fewer numbers than students": (
        ["--student", "Riddle, Tom", "--student", "Granger, Hermione", "--matriculation", "1"],
        "--matriculation: 1 number(s) for 2 student(s)"),
    "a group without members": (["--group", "7"], "--group: give the group's members too"),
}


@pytest.mark.parametrize("case", list(BAD_OPTIONS))
def test_bad_identity_input_is_one_line_before_any_work(tmp_path, run_cli, case):
    argv, fragment = BAD_OPTIONS[case]
    code, out, err = run_cli("sheet", "solve", "rptu-2", "--smoke", "--out", tmp_path / "out",
                             "--runs", tmp_path / "runs", *argv)
    assert code == 2, (case, out, err)
    assert err.count("\n") == 1 and err.startswith("stridelab: error: "), err
    assert fragment in err, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def test_a_name_that_cannot_name_the_files(tmp_path, run_cli):
    code, _, err = run_cli("sheet", "solve", "yale-663-2", "--smoke", "--out", tmp_path / "o",
                           "--student", "李, 小龙")
    assert code == 2
    assert "the last name of '李, 小龙' has no Latin letter to name the files" in err
    # a sheet whose file names hold no name takes it as it is
    assert check_identity(load_sheet("rptu-2").submission,
                          identity_from_options(["李, 小龙"], None, None), "rptu-2").given


def test_one_student_sheets_refuse_a_group(tmp_path, run_cli):
    code, _, err = run_cli("sheet", "solve", "yale-663-2", "--smoke", "--out", tmp_path / "o",
                           "--student", "Riddle, Tom", "--student", "Granger, Hermione")
    assert code == 2
    assert "yale-663-2: this sheet is handed in by one student; 2 were given" in err
    assert not (tmp_path / "o").exists()


STUDENT_FILES = {
    "not TOML": ("group = \n", "invalid TOML"),
    "an unknown key": ('team = 7\n[[student]]\nname = "Riddle, Tom"\n', "unknown key 'team'"),
    "no student": ("group = 7\n", "expected at least one [[student]] table"),
    "a student without a name": ('[[student]]\nmatriculation = 1\n',
                                 "student[0].name: a student's name must not be empty"),
    "a name that makes a path": ('[[student]]\nname = "a/../b"\n', "a name may not hold '/'"),
}


@pytest.mark.parametrize("case", list(STUDENT_FILES))
def test_a_bad_student_file_is_one_line(tmp_path, run_cli, case):
    text, fragment = STUDENT_FILES[case]
    path = tmp_path / "student.toml"
    path.write_text(text, encoding="utf-8")
    code, _, err = run_cli("sheet", "solve", "rptu-2", "--smoke", "--out", tmp_path / "o",
                           "--student-file", path)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"stridelab: error: --student-file {path}: "), err
    assert fragment in err, err
    assert not (tmp_path / "o").exists()


def test_a_student_file_gives_the_group_and_its_members(tmp_path):
    path = tmp_path / "student.toml"
    path.write_text('group = 7\n[[student]]\nname = "Riddle, Tom Marvolo"\n'
                    'matriculation = 123456\n[[student]]\nname = "Granger, Hermione"\n'
                    'matriculation = "234567"\n', encoding="utf-8")
    identity = read_identity(path)
    assert identity.group == "7"
    assert identity.students == (Student("Riddle, Tom Marvolo", "123456"),
                                 Student("Granger, Hermione", "234567"))
    assert check_identity(load_sheet("rptu-2").submission, identity, "rptu-2").missing == ()


def test_the_file_and_the_options_are_not_mixed(tmp_path, run_cli):
    path = tmp_path / "student.toml"
    path.write_text('[[student]]\nname = "Riddle, Tom"\n', encoding="utf-8")
    code, _, err = run_cli("sheet", "solve", "rptu-2", "--smoke", "--out", tmp_path / "o",
                           "--student-file", path, "--group", "7")
    assert code == 2
    assert "--student-file: give it or --group, not both" in err


def test_identity_values_are_checked_once_in_one_place():
    with pytest.raises(ConfigError, match="must not be empty"):
        identity_from_options([""], None, None)
    with pytest.raises(ConfigError, match="at most 40 characters"):
        identity_from_options(["Riddle, Tom"], ["1" * 41], None)
