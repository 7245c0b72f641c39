"""Sheet files: the built-in sheets validate, every kind of mistake is one line naming file, task
and key (exit 2), and references read and format values as documented. Nothing here trains."""

import re
import textwrap

import pytest

from stridelab.sheets import refs
from stridelab.sheets.loader import builtin_names, load_sheet, task_id

BUILTIN = ["lmu-4", "rptu-2", "tue-4", "tuwien-4", "yale-663-2"]




def test_the_five_sheets_are_built_in():
    assert builtin_names() == BUILTIN


@pytest.mark.parametrize("name", BUILTIN)
@pytest.mark.parametrize("quick", [False, True])
def test_builtin_sheet_validates(name, quick):
    sheet = load_sheet(name, quick=quick)
    assert sheet.course and sheet.title and sheet.tasks
    labels = [t.label for t in sheet.tasks]
    assert len(set(labels)) == len(labels), "labels repeat"
    for task in sheet.tasks:
        assert task.statement
        if task.kind == "answer":
            assert task.answer


def test_builtin_sheets_keep_the_sheets_order_and_numbers():
    rptu = [t.label for t in load_sheet("rptu-2").tasks]
    assert rptu == ["2.1 i)", "2.1 ii)", "2.1 iii)", "2.1 iv)", "2.1 v)", "2.1 vi)", "2.2 i)",
                    "2.2 ii)", "2.3", "2.4", "2.5"]
    task = load_sheet("rptu-2").task("2.1i")
    assert "8 2 9 8 3; 3 4 6 2 7; 5 9 3 9 7; 6 1 3 6 8; 5 1 6 8 1" in task.args
    assert task.args.count("--kernel") == 3 and "same" in task.args
    lmu = load_sheet("lmu-4").task("4-2a")
    assert "5 5 2 5 5; 5 5 2 5 5; 7 7 5 7 7; 5 5 2 5 5; 5 5 2 5 5" in lmu.args
    assert "valid" in lmu.args
    tue = load_sheet("tue-4").task("backpropagation")
    assert tue.spec["lr"] == 0.1 and tue.spec["data"] == [{"x": [1], "y": [2]},
                                                           {"x": [2], "y": [3]}]
    yale = [t.args for t in load_sheet("yale-663-2").tasks if t.label.startswith("Problem 4.1")]
    assert [a[-1] for a in yale] == ["conv:k=4,s=1,p=1", "conv:k=8,s=5,p=0",
                                     "pool:k=10,s=2,p=2", "pool:k=2,s=1,p=0"]


def test_sheet_list_shows_every_sheet(run_cli):
    code, out, _ = run_cli("sheet", "list")
    assert code == 0
    for name in BUILTIN:
        assert name in out
    assert "22" in out and "17" in out  # task counts of the Yale and TU Wien sheets


def test_sheet_show_lists_what_each_task_runs(run_cli):
    code, out, _ = run_cli("sheet", "show", "lmu-4", "--quick")
    assert code == 0
    assert "4-2 (a)" in out and "stridelab conv" in out
    assert "stridelab run mlp-vs-cnn --quick" in out
    assert "hand in: exercise-sheet-4.pdf, exercise-sheet-4.ipynb" in out


@pytest.mark.parametrize("label, expected", [
    ("2.1 i)", "2.1i"), ("Problem 6.2", "problem-6.2"), ("4-1 (a)", "4-1a"),
    ("4.1.1 (2)", "4.1.1-2"), ("Model design", "model-design"), ("4.2.3", "4.2.3"),
])
def test_task_ids_from_labels(label, expected):
    assert task_id(label) == expected


# ---------------------------------------------------------------------------------------------
# one line per mistake

_GOOD_WORKED = """
[[task]]
label = "1 a)"
statement = "Filter it."
kind = "worked"
command = "conv"
args = ["--input", "1 2; 3 4", "--kernel", "1 0; 0 1"]
"""

_GOOD_EXPERIMENT = """
[[task]]
label = "1 b)"
statement = "Run it."
kind = "experiment"
name = "svc-baseline"
"""

_HEAD = 'course = "C"\ntitle = "T"\n'


def _sheet(tmp_path, body, name="bad.toml"):
    path = tmp_path / name
    path.write_text(_HEAD + textwrap.dedent(body), encoding="utf-8")
    return path


BAD_SHEETS = {
    "unknown kind": ('[[task]]\nlabel = "1"\nstatement = "s"\nkind = "essay"\n',
                     "task '1': kind: unknown kind 'essay'"),
    "unknown command": ('[[task]]\nlabel = "1"\nstatement = "s"\nkind = "worked"\n'
                        'command = "convolve"\n', "task '1': command: unknown command 'convolve'"),
    "unknown option": (_GOOD_WORKED.replace('"1 0; 0 1"]', '"1 0; 0 1", "--paddin", "same"]'),
                       "task '1 a)': args: stridelab conv: unrecognized arguments: --paddin"),
    "unknown experiment": (_GOOD_EXPERIMENT.replace("svc-baseline", "svc-basline"),
                           "task '1 b)': name: unknown experiment 'svc-basline'"),
    "unknown config key": (_GOOD_EXPERIMENT + "set = { n_trian = 5 }\n",
                           "task '1 b)': set.n_trian: "),
    "config value of the wrong type": (_GOOD_EXPERIMENT + 'set = { n_train = "many" }\n',
                                       "task '1 b)': set.n_train: "),
    "unknown task key": (_GOOD_EXPERIMENT + 'metric = ["test_accuracy"]\n',
                         "task '1 b)': metric: unknown key for a experiment task"),
    "reference to a missing task": (
        _GOOD_WORKED + '\n[[task]]\nlabel = "2"\nstatement = "s"\nkind = "answer"\n'
        'answer = "It is {worked.1b.results.0.output}."\n',
        "task '2': answer: {worked.1b.results.0.output}: no worked task has that id"),
    "reference to an experiment no task runs": (
        _GOOD_WORKED + '\n[[task]]\nlabel = "2"\nstatement = "s"\nkind = "answer"\n'
        'answer = "It is {mnist-cnn.test_accuracy}."\n',
        "task '2': answer: {mnist-cnn.test_accuracy}: no task of this sheet runs mnist-cnn"),
    "reference to an unknown head": (
        _GOOD_WORKED + '\n[[task]]\nlabel = "2"\nstatement = "s"\nkind = "answer"\n'
        'answer = "It is {wrked.1a.output}."\n',
        "task '2': answer: {wrked.1a.output}: 'wrked' is neither a task nor an experiment"),
    "reference to an unknown config field": (
        _GOOD_EXPERIMENT + 'answer = "C = {svc-baseline.config.CC}."\n',
        "task '1 b)': answer: {svc-baseline.config.CC}: svc-baseline has no config field 'CC'"),
    "reference to a missing given number": (
        '[given]\nlimit = 0.7\n' + _GOOD_EXPERIMENT + 'answer = "{given.limt}"\n',
        "task '1 b)': answer: {given.limt}: the sheet's [given] table has no 'limt'"),
    "reference to a record by a path": (
        _GOOD_EXPERIMENT + 'answer = "{record.\\"../secret\\".metrics.a}"\n',
        "task '1 b)': answer: {record.\"../secret\".metrics.a}: write {record.\"STEM\".path}"),
    "claim without else": (
        _GOOD_EXPERIMENT + 'answer = "{{if svc-baseline.test_accuracy > 0.9}}good{{end}}"\n',
        "task '1 b)': answer: {{if svc-baseline.test_accuracy > 0.9}} has no {{else}}"),
    "missing statement": ('[[task]]\nlabel = "1"\nkind = "answer"\nanswer = "a"\n',
                          "task '1': statement: missing"),
    "duplicate id": (_GOOD_WORKED + _GOOD_WORKED, "task '1 a)': id: '1a' is also the id of"),
    "invalid TOML": ('[[task]]\nlabel = \n', "invalid TOML"),
    "lessons in a solution": (_GOOD_EXPERIMENT + "lessons = true\n",
                              "task '1 b)': lessons: a solution shows no lessons"),
    "unknown placeholder in a hand-in name": (
        '[submission]\npdf = "hw_{surname}.pdf"\n' + _GOOD_WORKED,
        "submission.pdf: 'hw_{surname}.pdf': {surname} is not a placeholder"),
    "a hand-in name that makes a path": ('[submission]\npdf = "../hw.pdf"\n' + _GOOD_WORKED,
                                         "submission.pdf: '../hw.pdf': give a plain file name"),
    "a zip that is not a zip": ('[submission]\nzip = "hand-in.tar"\n' + _GOOD_WORKED,
                                "submission.zip: 'hand-in.tar': give a plain file name ending in "
                                ".zip"),
    "a group placeholder without a group": (
        '[submission]\npdf = "g{group}.pdf"\nidentity = ["name"]\n' + _GOOD_WORKED,
        "submission.pdf: uses {group} but identity has no group"),
    "an unknown submission key": ('[submission]\npfd = "a.pdf"\n' + _GOOD_WORKED,
                                  "submission.pfd: unknown key"),
}


@pytest.mark.parametrize("case", list(BAD_SHEETS))
def test_each_mistake_is_one_line_naming_file_task_and_key(tmp_path, run_cli, case):
    body, fragment = BAD_SHEETS[case]
    path = _sheet(tmp_path, body)
    code, out, err = run_cli("sheet", "show", str(path))
    assert code == 2, (case, out, err)
    assert err.count("\n") == 1, err
    assert err.startswith(f"stridelab: error: {path}: "), err
    assert fragment in err, err


def test_a_bad_path_into_a_worked_answer_stops_before_anything_is_written(tmp_path, run_cli):
    path = _sheet(tmp_path, _GOOD_WORKED + '\n[[task]]\nlabel = "2"\nstatement = "s"\n'
                  'kind = "answer"\nanswer = "{worked.1a.results.0.outptu}"\n')
    out_dir = tmp_path / "out"
    code, _, err = run_cli("sheet", "solve", str(path), "--out", str(out_dir),
                           "--runs", str(tmp_path / "runs"), "--no-pdf", "--no-notebook")
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("stridelab: error:")]
    assert errors == [err.splitlines()[-1]], err  # progress lines, then the one error
    assert "task '2': answer: {worked.1a.results.0.outptu}: no 'results.0.outptu'" in err
    assert not (out_dir / "bad").exists()
    assert not list(out_dir.glob(".*")), "a partial solution was left behind"


def test_unknown_sheet_name(run_cli):
    code, _, err = run_cli("sheet", "show", "rptu-3")
    assert code == 2
    assert "unknown sheet 'rptu-3'" in err and "rptu-2" in err


def test_tasks_selection_that_matches_nothing(tmp_path, run_cli):
    path = _sheet(tmp_path, _GOOD_WORKED)
    code, _, err = run_cli("sheet", "solve", str(path), "--tasks", "7",
                           "--out", str(tmp_path / "o"), "--no-pdf", "--no-notebook")
    assert code == 2
    assert "--tasks 7: no task" in err and "1 a)" in err


# ---------------------------------------------------------------------------------------------
# references and claims


def test_references_are_found_outside_code_and_math_braces_are_left_alone():
    text = ("Acc {mnist-cnn.test_accuracy:.3f}, `{not.a.ref}` and $e^{z_i} + \\frac{1}{2}$ "
            'and {depth-sweep.test_accuracy."relu, 3 hidden"}')
    found = refs.references(text)
    assert [(r.head, r.rest, r.spec) for r in found] == [
        ("mnist-cnn", ("test_accuracy",), ".3f"),
        ("depth-sweep", ("test_accuracy", "relu, 3 hidden"), ""),
    ]


def test_render_fills_values_and_takes_the_measured_branch():
    values = {"a": 0.98765, "b": 0.5}

    def resolve(ref):
        return values[ref.head]

    text = "{a.x:.3f} {{if a.x > b.x}}higher{{else}}lower{{end}}; {{if b.x >= 0.6}}y{{else}}n{{end}}"
    assert refs.render(refs.parse(text), resolve) == "0.988 higher; n"


def test_nested_claims():
    text = "{{if a.x > 1}}{{if a.x > 2}}big{{else}}mid{{end}}{{else}}small{{end}}"
    for value, expected in ((3, "big"), (1.5, "mid"), (0, "small")):
        assert refs.render(refs.parse(text), lambda r, v=value: v) == expected


def test_a_claim_on_a_value_not_measured_takes_the_else_branch():
    text = "{{if a.x > 0.5}}met{{else}}not shown to be met{{end}} ({a.x})"
    rendered = refs.render(refs.parse(text), lambda r: refs.NotMeasured("cifar10 skipped"))
    assert rendered == "not shown to be met (*not measured (cifar10 skipped)*)"


@pytest.mark.parametrize("value, spec, expected", [
    (12345, "", "12,345"),
    (0.946666, "", "0.9467"),
    (0.946666, ".1%", "94.7%"),
    (3.0, "", "3"),
    (True, "", "yes"),
    (None, "", "–"),
    ([1, 2.5], "", "(1, 2.5)"),
    ([[1, -2], [3, 4]], "tex", r"\begin{bmatrix} 1 & -2 \\ 3 & 4 \end{bmatrix}"),
    ([[1, -2]], "", r"$\begin{bmatrix} 1 & -2 \end{bmatrix}$"),
    (["1/9", 2], "tex", r"\begin{bmatrix} \tfrac{1}{9} \\ 2 \end{bmatrix}"),
    (1e-7, "tex", r"1\times 10^{-7}"),
])
def test_format_value(value, spec, expected):
    assert refs.format_value(value, spec) == expected


@pytest.mark.parametrize("text, fragment", [
    ("{{if a.x}}x", "never closed"),
    ("{{else}}", "without an open"),
    ("{{end}}", "without an open"),
    ("{{if a.x > }}x{{else}}y{{end}}", "write {{if A > B}}"),
    ("{{if a.x > 1}x{{else}}y{{end}}", "a claim is"),
])
def test_malformed_claims(text, fragment):
    with pytest.raises(refs.RefSyntaxError) as exc:
        refs.parse(text)
    assert fragment in str(exc.value)


def test_task_ids_with_dots_are_matched_longest_first():
    assert refs.split_task_id(["4", "2", "3", "results", "0"], ["4.2", "4.2.3"]) == \
        ("4.2.3", ["results", "0"])
    assert refs.split_task_id(["9", "x"], ["4.2"]) == (None, ["9", "x"])


# ---------------------------------------------------------------------------------------------
# committed result records


_RECORD_SHEET = """
[[task]]
label = "1"
statement = "What does the full run give?"
kind = "answer"
answer = '''
{{if record."calc--mnist--seed0".experiment}}The full run on {record."calc--mnist--seed0".dataset.name}
writes {record."calc--mnist--seed0".metrics.end_to_end.exact_sum_accuracy:.1%} of the sums
exactly{{else}}No full run is recorded{{end}}.
'''
"""


def _record_answer(tmp_path, results_dir) -> str:
    from stridelab.sheets.values import Values

    sheet = load_sheet(_sheet(tmp_path, _RECORD_SHEET, name="records.toml"))
    task = sheet.tasks[0]
    return " ".join(Values(sheet, {}, {}, results_dir=results_dir)
                    .render(task, "answer", task.answer).split())


def test_an_answer_reads_a_committed_result_record(tmp_path):
    import json

    results = tmp_path / "results"
    results.mkdir()
    (results / "calc--mnist--seed0.json").write_text(json.dumps(
        {"experiment": "calc", "dataset": {"name": "mnist"},
         "metrics": {"end_to_end": {"exact_sum_accuracy": 0.8125}}}), encoding="utf-8")
    assert _record_answer(tmp_path, results) == \
        "The full run on mnist writes 81.2% of the sums exactly."


def test_a_missing_or_linked_record_reads_not_measured(tmp_path):
    assert _record_answer(tmp_path, None) == "No full run is recorded."
    assert _record_answer(tmp_path, tmp_path / "nowhere") == "No full run is recorded."
    outside = tmp_path / "elsewhere.json"
    outside.write_text('{"experiment": "calc", "dataset": {"name": "x"}}', encoding="utf-8")
    results = tmp_path / "results"
    results.mkdir()
    (results / "calc--mnist--seed0.json").symlink_to(outside)
    assert _record_answer(tmp_path, results) == "No full run is recorded."
    (results / "calc--mnist--seed0.json").unlink()
    (results / "calc--mnist--seed0.json").write_text("[1, 2]", encoding="utf-8")
    assert _record_answer(tmp_path, results) == "No full run is recorded."


def test_length_counts_a_list_so_a_claim_can_guard_an_index():
    from stridelab.sheets.values import value_at

    metrics = {"pairs": [{"a": 4, "b": 9}], "name": "x"}
    assert value_at(metrics, ["pairs", "length"]) == 1
    assert value_at(metrics, ["pairs", "0", "b"]) == 9
    with pytest.raises(KeyError, match="index out of range"):
        value_at(metrics, ["pairs", "1", "a"])
    text = "{{if m.pairs.length > 1}}then {m.pairs.1.a}{{else}}only {m.pairs.0.a}{{end}}"

    def resolve(ref):
        return value_at(metrics, list(ref.rest))

    assert refs.render(refs.parse(text), resolve) == "only 4"


# ---------------------------------------------------------------------------------------------
# answers that interpret


# Each task whose sheet says describe, interpret, compare or explain what a figure shows, and the
# metrics that measure what that figure shows: its answer must read at least one of them.
INTERPRETS = {
    ("yale-663-2", "Problem 4.2 (b)"): {"confused_pairs", "most_confused"},
    ("yale-663-2", "Problem 5.4"): {"closest_pairs", "knn_confused_pairs", "misread_digits"},
    ("yale-663-2", "Problem 6.1"): {"closest_pairs", "knn_confused_pairs", "misread_digits"},
    ("yale-663-2", "Problem 6.2"): {"with_skips", "no_skips"},
    ("yale-663-2", "Problem 6.3"): {"with_skips", "no_skips"},
    ("tuwien-4", "4.1.3"): {"images"},
    ("tuwien-4", "4.2.4"): {"confused_pairs", "most_confused"},
    ("tuwien-4", "4.2.5"): {"last_conv_active_fraction"},
    ("tuwien-4", "4.3.3"): {"region_init_indices"},
    ("tuwien-4", "4.3.5"): {"most_mixed", "shared_clusters", "split_classes"},
    ("rptu-2", "2.5"): {"separable_train_accuracy", "network_param_ratio"},
    ("tue-4", "MNIST calculator"): {"most_frequent_sum_share"},
    ("tue-4", "Model design"): {"clip_frames", "architecture_batch"},
}


@pytest.mark.parametrize("name, label", sorted(INTERPRETS))
def test_an_answer_that_interprets_reads_what_its_figures_show(name, label):
    task = next(t for t in load_sheet(name).tasks if t.label == label)
    read = {segment for ref in refs.references(task.answer) for segment in ref.rest}
    assert read & INTERPRETS[name, label], (label, sorted(read))


def test_the_calculator_answer_says_what_the_full_configuration_gives():
    task = next(t for t in load_sheet("tue-4").tasks if t.label == "MNIST calculator")
    records = {ref.rest[0] for ref in refs.references(task.answer) if ref.head == "record"}
    assert records
    from stridelab.report.runs import default_results_dir

    results = default_results_dir()
    if results is not None:  # a source checkout: the records it cites are committed
        assert all((results / f"{stem}.json").is_file() for stem in records), records


@pytest.mark.parametrize("name", BUILTIN)
def test_no_claim_branch_starts_after_a_line_break_with_punctuation(name):
    """A line break before ``{{if`` becomes a space before the branch: "components , so"."""
    from stridelab.sheets.model import BUILTIN_DIR

    text = (BUILTIN_DIR / f"{name}.toml").read_text(encoding="utf-8")
    then = re.findall(r"\s\{\{if [^}]*\}\}[,.;:)]", text)
    otherwise = re.findall(r"\s\{\{if [^}]*\}\}(?:(?!\{\{)[^\n]|\n)*?\{\{else\}\}[,.;:)]", text)
    assert then + otherwise == []
