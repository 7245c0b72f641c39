"""The worked-answers experiment: runs without data, writes one Markdown file per answer."""

import json

import pytest

import stridelab.experiments.worked_answers  # noqa: F401  (registers worked-answers)
from stridelab.experiments.registry import get
from stridelab.experiments.runner import run_experiment


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return run_experiment("worked-answers", smoke=True, out=out, echo=False, device="cpu")


def test_registered_without_data():
    exp = get("worked-answers")
    assert exp.needs is None and exp.quick == {} and exp.key_metric == "checks_passed"


def test_every_check_passes(smoke_run):
    assert smoke_run.status == "ok", smoke_run.reason
    metrics = json.loads((smoke_run.out / "metrics.json").read_text())
    assert metrics["all_checks_passed"] is True
    assert metrics["checks_passed"] == metrics["checks_total"] >= 30
    assert metrics["max_abs_error"] < 1e-6


def test_answers_are_written_as_files(smoke_run):
    files = sorted(p.name for p in (smoke_run.out / "answers").glob("*.md"))
    assert len(files) == json.loads((smoke_run.out / "metrics.json").read_text())["n_answers"]
    assert any(f.endswith("derive-neuron-f.md") for f in files)
    same = next((smoke_run.out / "answers").glob("*-conv-same.md")).read_text()
    assert r"\underline{0}" in same  # the padding zeros are visible
    answers = json.loads((smoke_run.out / "answers.json").read_text())
    # hand-computed: the sheet edge kernel on the 3x3 input with 'same' padding
    assert answers["conv-same"]["results"][0]["output"] == [
        [-8, -5, 8],
        [-19, -5, 19],
        [-22, 1, 22],
    ]
    assert answers["shapes"]["shape-sheet"]["total_params"] == 136 + 46090
    relu = answers["backprop-relu-exact"]
    assert relu["exact"] is True and relu["steps"][0]["loss"] == 2
    assert {f"derive-{t}" for t in ("ridge", "conv1d", "neuron-f")} <= set(answers)
    figures = {p.name for p in (smoke_run.out / "figures").glob("*.png")}
    assert {"conv_sheet_example.png", "backprop_graph.png"} <= figures
    assert not list(smoke_run.out.rglob(".*.tmp"))


def test_written_questions_carry_computed_numbers():
    from stridelab.experiments.worked_answers import written_questions

    padding, stride, name = written_questions()
    assert "1×1 output (-5)" in padding  # the sheet's input and kernel, valid padding
    assert "28 → 26 → 24 → 22 → 20 → 18" in padding
    assert "corner pixel enters 1 of" in padding and "centre pixel 9" in padding
    assert "28×28, 14×14, 10×10" in stride and "(checked numerically: equal)" in stride
    assert "T = 1: (0.09, 0.245, 0.665)" in name and "= 3.408" in name
