"""worked-answers: the sheets' own numbers, solved and checked; notes narrated per branch.

Expected values are computed by hand from the sheets (RPTU exercise 2, LMU sheet 4, Yale CPSC
663 problem 4.1, TU Eindhoven assignment 4).
"""

import copy
import json
import re

import pytest

from stridelab.experiments.narrate import NarrationError
from stridelab.experiments.registry import get
from stridelab.experiments.runner import run_experiment
from stridelab.experiments.worked_answers import WorkedAnswersConfig, narrate, yale_torch_side


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    result = run_experiment("worked-answers", smoke=True, out=out, echo=False, device="cpu")
    assert result.status == "ok", result.reason
    return result


def test_registered_without_data_with_its_lesson():
    exp = get("worked-answers")
    assert exp.needs is None and exp.quick == {} and exp.key_metric == "checks_passed"
    (lesson,) = exp.lessons
    assert (lesson.metric, lesson.op, lesson.quick, lesson.full) == ("checks_failed", "<=", 0, 0)


def test_every_check_passes(smoke_run):
    m = smoke_run.metrics
    assert m["all_checks_passed"] is True and m["checks_failed"] == 0
    # 3 + 3 + 3 filters × 2 routes, 4 sizes, 2 + 1 gradient steps, one per derivation
    assert m["checks_total"] == 18 + 4 + 3 + m["n_derivations"]
    assert m["checks_passed"] == m["checks_total"]
    assert m["max_abs_error"] < 1e-6
    assert smoke_run.lessons[0]["met"] is True


def test_rptu_filters_on_the_sheets_image_by_hand(smoke_run):
    r = smoke_run.metrics["rptu"]
    # X₃,₄ = 9; its window (rows 2..4, columns 3..5 from 1) is 6 2 7 / 3 9 7 / 3 6 8:
    # K₁: (6 − 7) + 2(3 − 7) + (3 − 8) = −14; K₂: (6 + 4 + 7) − (3 + 12 + 8) = −6;
    # K₃: 2 + 3 + 7 + 6 − 4·9 = −18
    assert r["x_at"] == 9 and r["same_at"] == [-14, -6, -18]
    assert r["same_shape"] == [5, 5] and r["valid_shape"] == [3, 3] and r["padding"] == 1
    assert r["valid_is_interior"] is True


def test_lmu_filters_on_the_cross_image_by_hand(smoke_run):
    lmu = smoke_run.metrics["lmu"]
    # the centre window 5 2 5 / 7 5 7 / 5 2 5 is symmetric: K₁ and K₂ give 0,
    # K₃ gives 2 + 7 + 7 + 2 − 4·5 = −2
    assert lmu["valid_shape"] == [3, 3] and lmu["centre"] == [0, 0, -2]
    # K₁ at the top left: window 5 5 2 / 5 5 2 / 7 7 5: (5 − 2) + 2(5 − 2) + (7 − 5) = 11
    assert lmu["outputs"][0][0][0] == 11


def test_yale_output_sizes_by_hand(smoke_run):
    # ⌊(50 + 2p − k)/s⌋ + 1: (a) 49, (b) ⌊42/5⌋ + 1 = 9, (c) ⌊44/2⌋ + 1 = 23, (d) 49
    sizes = [y["output"] for y in smoke_run.metrics["yale"]]
    assert sizes == [[49, 49], [9, 9], [23, 23], [49, 49]]
    assert [y["torch_output"] for y in smoke_run.metrics["yale"]] == sizes


def test_yale_torch_side_is_an_independent_route():
    assert yale_torch_side(("pool:k=3,s=2,p=1", "pool", 3, 2, 1), (7, 7, 1)) == [4, 4]
    assert yale_torch_side(("conv:k=3,s=1,p=0", "conv", 3, 1, 0), (7, 9, 2)) == [5, 7]


def test_tue_relu_chain_by_hand(smoke_run):
    t = smoke_run.metrics["tue"]
    # point (1, 2): ŷ = 2·1·1 = 2, no loss; point (2, 3): ŷ = 4, ∂L/∂ŷ = 1,
    # ∂L/∂w₀ = w₁·x = 4, ∂L/∂w₁ = w₀·x = 2; w₀ = 1 − 0.4, w₁ = 2 − 0.2
    assert t["sequential"]["losses"] == [0.0, 0.5]
    assert t["point2_grads"] == [4.0, 2.0]
    assert (t["sequential"]["w0"], t["sequential"]["w1"]) == pytest.approx((0.6, 1.8))
    # one batch: the gradients averaged, (0 + 4)/2 and (0 + 2)/2
    assert (t["batch"]["w0"], t["batch"]["w1"]) == pytest.approx((0.8, 1.9))


def test_answers_are_written_as_files(smoke_run):
    out = smoke_run.out
    files = sorted(p.name for p in (out / "answers").glob("*.md"))
    assert len(files) == smoke_run.metrics["n_answers"]
    assert any(f.endswith("derive-neuron-f.md") for f in files)
    same = next((out / "answers").glob("*-rptu-2.1i-same.md")).read_text()
    assert r"\underline{0}" in same  # the padding zeros are visible
    answers = json.loads((out / "answers.json").read_text())
    assert answers["rptu-2.1i-same"]["results"][0]["output"][2][3] == -14
    assert answers["yale-4.1c"]["output_shape"][:2] == [23, 23]
    figures = {p.name for p in (out / "figures").glob("*.png")}
    assert {"conv_rptu_same.png", "conv_lmu_valid.png", "backprop_tue_graph.png"} <= figures
    assert not list(out.rglob(".*.tmp"))


# ---------------------------------------------------------------------------------------------
# narrate, from fabricated metrics


def _words(text: str) -> str:
    """The text with every number replaced by #: equal when the same branches were taken."""
    return re.sub(r"-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?", "#", text)


def _metrics() -> dict:
    return {
        "checks_passed": 37, "checks_total": 37, "checks_failed": 0, "max_abs_error": 1.5e-8,
        "n_answers": 21, "n_derivations": 12,
        "rptu": {"input_shape": [5, 5], "at": [3, 4], "x_at": 9, "same_shape": [5, 5],
                 "same_at": [-14, -6, -18], "valid_shape": [3, 3], "padding": 1,
                 "valid_is_interior": True},
        "lmu": {"input_shape": [5, 5], "valid_shape": [3, 3], "centre": [0, 0, -2]},
        "yale_input": [50, 50, 1],
        "yale": [{"part": "a", "spec": "conv:k=4,s=1,p=1", "k": 4, "s": 1, "p": 1,
                  "output": [49, 49], "torch_output": [49, 49]}],
        "tue": {"sequential": {"w0": 0.6, "w1": 1.8, "losses": [0.0, 0.5]},
                "point2_grads": [4.0, 2.0],
                "batch": {"w0": 0.8, "w1": 1.9, "losses": [0.25]}},
    }


@pytest.mark.parametrize("change", [
    lambda m: m["rptu"].update(valid_is_interior=False),
    lambda m: m["yale"][0].update(torch_output=[48, 49]),
    lambda m: m["tue"]["sequential"].update(losses=[0.125, 0.5]),
    lambda m: m["tue"]["batch"].update(w0=0.2),
    lambda m: m.update(checks_failed=2, checks_passed=35),
])
def test_each_claim_follows_its_metric(change):
    config = WorkedAnswersConfig()
    base = str(narrate(_metrics(), config))
    changed = copy.deepcopy(_metrics())
    change(changed)
    assert _words(str(narrate(changed, config))) != _words(base)


def test_narrate_prints_the_sheets_numbers_from_the_metrics():
    notes = str(narrate(_metrics(), WorkedAnswersConfig(derive_points=3)))
    assert "-14, -6 and -18" in notes and "50×50" in notes and "w₀ = 0.6" in notes
    assert "at 3 random point(s)" in notes  # from the config


def test_narrate_refuses_a_missing_metric():
    m = _metrics()
    del m["tue"]["point2_grads"]
    with pytest.raises(NarrationError):
        narrate(m, WorkedAnswersConfig())
