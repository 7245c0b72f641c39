"""gd-1d: the iteration, the verdicts, the step factor and its notes."""

from __future__ import annotations

import numpy as np
import pytest

from stridelab.errors import ConfigError
from stridelab.experiments.gd_1d import (
    FUNCTIONS,
    GD1DConfig,
    classify_run,
    gradient_descent_1d,
    measured_factor,
    narrate,
    step_factors,
)
from stridelab.experiments.runner import run_experiment

# ---------------------------------------------------------------------------------------------
# the iteration


def test_gradient_descent_on_quadratic_matches_hand_iterates():
    # f = x², f' = 2x: x ← x (1 − 2η); η = 0.4 gives factor 0.2, η = 1.05 gives −1.1
    xs = gradient_descent_1d(lambda x: 2 * x, 2.5, 0.4, 3)
    np.testing.assert_allclose(xs, [2.5, 0.5, 0.1, 0.02])
    xs = gradient_descent_1d(lambda x: 2 * x, 2.5, 1.05, 2)
    np.testing.assert_allclose(xs, [2.5, -2.75, 3.025])


def test_gradient_descent_stops_once_beyond_the_bound():
    xs = gradient_descent_1d(lambda x: 2 * x, 1.0, 10.0, 100, bound=1e3)
    # factor −19: 1, −19, 361, −6859 (> 1e3, stop)
    np.testing.assert_allclose(xs, [1.0, -19.0, 361.0, -6859.0])


def test_classify_run_verdicts():
    minima = (0.0,)
    assert classify_run(np.array([1.0, 0.5, 0.25, 1e-5]), minima) == "converged"
    assert classify_run(np.array([1.0, 0.9, 0.81, 0.729]), minima) == "slow"
    assert classify_run(np.array([1.0, -1.0, 1.0, -1.0, 1.0]), minima) == "oscillating"
    assert classify_run(np.array([1.0, -1.1, 1.21, -1.331, 1.4641]), minima) == "diverging"
    assert classify_run(np.array([1.0, np.inf]), minima) == "diverged"


def test_quartic_minima_are_stationary_with_the_curvature_of_its_second_derivative():
    fn = FUNCTIONS["quartic"]
    assert len(fn.minima) == 2
    for m in fn.minima:
        assert abs(fn.df(m)) < 1e-9
    # the left minimum is the global one: f(−1.3008) ≈ −3.514 < f(1.1309) ≈ −1.070
    assert fn.f(fn.minima[0]) == pytest.approx(-3.5139, abs=1e-3)
    assert fn.f(fn.minima[1]) == pytest.approx(-1.0702, abs=1e-3)
    # f'' = 12x² − 6: 12 · 1.3008² − 6 = 14.305, 12 · 1.1309² − 6 = 9.347
    assert float(fn.d2f(fn.minima[0])) == pytest.approx(14.305, abs=2e-3)
    assert float(fn.d2f(fn.minima[1])) == pytest.approx(9.347, abs=2e-3)


def test_step_factors_are_one_minus_lr_times_the_curvature():
    np.testing.assert_allclose(step_factors(FUNCTIONS["quadratic"], 0.4), [0.2])
    np.testing.assert_allclose(step_factors(FUNCTIONS["quadratic"], 1.05), [-1.1])
    # quartic at η = 0.25: 1 − 0.25 · 14.305 = −2.576, 1 − 0.25 · 9.347 = −1.337
    np.testing.assert_allclose(step_factors(FUNCTIONS["quartic"], 0.25), [-2.576, -1.337],
                               atol=1e-3)


def test_measured_factor_is_the_last_ratio_of_distances():
    assert measured_factor(np.array([2.5, 0.5, 0.1]), 0.0) == pytest.approx(0.2)
    assert measured_factor(np.array([2.5, -2.75, 3.025]), 0.0) == pytest.approx(-1.1)
    # the last iterate sits on the minimum: the ratio before it is used
    assert measured_factor(np.array([4.0, 2.0, 0.0]), 0.0) == pytest.approx(0.5)
    assert measured_factor(np.array([1.0, np.inf]), 0.0) is None


# ---------------------------------------------------------------------------------------------
# the run


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    result = run_experiment("gd-1d", quick=True, out=tmp_path_factory.mktemp("gd"), echo=False)
    assert result.status == "ok", result.reason
    return result


def test_gd_1d_run_measures_each_learning_rate(quick_run):
    m = quick_run.metrics
    # x² from 2.5 with η = 0.05, 0.4, 1.05: factors 0.9, 0.2, −1.1
    assert m["quadratic_0_final_x"] == pytest.approx(2.5 * 0.9**40)
    assert m["quadratic_0_verdict"] == "slow"
    assert m["quadratic_1_verdict"] == "converged"
    assert m["quadratic_2_verdict"] == "diverging"
    assert abs(m["quadratic_2_final_x"]) == pytest.approx(2.5 * 1.1**40)
    assert m["quadratic_0_measured_factor"] == pytest.approx(0.9)
    assert m["quadratic_2_measured_factor"] == pytest.approx(-1.1)
    assert m["quadratic_2_factor_min_abs"] == pytest.approx(1.1)
    assert m["quadratic_2_predicted_converges"] is False
    assert m["quartic_1_verdict"] == "converged"
    assert m["quartic_1_final_x"] == pytest.approx(FUNCTIONS["quartic"].minima[0], abs=1e-3)
    assert m["quartic_2_verdict"] in ("oscillating", "diverging", "diverged")
    assert m["n_runs"] == 6 and m["factor_rule_agreement"] == 1.0
    assert m["functions"]["quadratic"]["curvature"] == [2.0]
    table = (quick_run.out / "iterates.md").read_text()
    assert table.count("| k | x_k |") == 6  # one table per (function, η)
    for fig in ("gd_quartic", "gd_quadratic", "iterates"):
        assert (quick_run.out / "figures" / f"{fig}.png").stat().st_size > 0
    assert quick_run.lessons[0]["met"] is True


def test_an_unstable_rate_on_the_quadratic_is_predicted_to_fail(tmp_path):
    # η = 1: factor −1, |factor| = 1 is not < 1; the iterates flip between ±2.5 forever
    result = run_experiment("gd-1d", quick=True, out=tmp_path, echo=False,
                            overrides={"quadratic_lrs": "1.0", "n_steps": "8"})
    m = result.metrics
    assert m["quadratic_0_verdict"] == "oscillating"
    assert m["quadratic_0_predicted_converges"] is False and m["quadratic_0_agrees"] is True
    assert m["quadratic_0_measured_factor"] == pytest.approx(-1.0)


def test_non_positive_learning_rates_are_refused():
    from stridelab.experiments.registry import get

    with pytest.raises(ConfigError, match="each value of quartic_lrs must be greater than 0"):
        get("gd-1d").make_config(overrides={"quartic_lrs": "0.1,-0.1"})
    with pytest.raises(ConfigError, match="need at least one learning rate"):
        get("gd-1d").run(GD1DConfig(quartic_lrs=()), ctx=None)


# ---------------------------------------------------------------------------------------------
# narrate, from fabricated metrics

def _fake_metrics(*, agrees: bool = True, reached: int = 1) -> dict:
    m = {"n_steps": 4, "n_runs": 2, "factor_rule_agreement": 1.0 if agrees else 0.5,
         "quartic_minima_reached": reached, "quartic_n_runs": 1, "quadratic_n_runs": 1,
         "functions": {
             "quadratic": {"formula": "x²", "minima": [0.0], "curvature": [2.0]},
             "quartic": {"formula": "x⁴ − 3x² + x", "minima": [-1.3008, 1.1309],
                         "curvature": [14.305, 9.347]}}}
    for key, lr, factor, verdict, measured in (("quadratic_0", 0.4, 0.2, "converged", 0.2),
                                               ("quartic_0", 0.25, 1.337, "oscillating", -0.549)):
        m.update({f"{key}_lr": lr, f"{key}_verdict": verdict, f"{key}_steps": 4,
                  f"{key}_final_x": 0.004, f"{key}_factor_min_abs": factor,
                  f"{key}_measured_factor": measured,
                  f"{key}_predicted_converges": factor < 1, f"{key}_agrees": True})
    if not agrees:
        m["quartic_0_agrees"] = False
    return m


def test_narrate_states_each_run_with_its_factor_and_verdict():
    notes = narrate(_fake_metrics(), GD1DConfig())
    assert notes.branches == {
        "quadratic_0_predicted_converges": True, "quadratic_0_jumps_across": False,
        "quadratic_0_agrees": True, "quartic_0_predicted_converges": False,
        "quartic_0_jumps_across": True, "quartic_0_agrees": True, "different_minima": False,
        "factor_predicts_every_run": True}
    assert "1.34" in str(notes) and "-0.549" in str(notes)  # at .3g
    assert "-0.3" in str(notes)  # x₀ of the quartic, from the config


def test_narrate_says_when_the_factor_failed_to_predict():
    notes = narrate(_fake_metrics(agrees=False), GD1DConfig())
    assert notes.branches["quartic_0_agrees"] is False
    assert notes.branches["factor_predicts_every_run"] is False
    assert "0.5" in str(notes)  # the measured agreement, not "all"


def test_narrate_tells_whether_the_quartic_runs_found_different_minima():
    one = narrate(_fake_metrics(reached=1), GD1DConfig())
    two = narrate(_fake_metrics(reached=2), GD1DConfig())
    assert not one.branches["different_minima"] and two.branches["different_minima"]


def test_narrate_refuses_a_missing_metric():
    m = _fake_metrics()
    del m["quartic_0_factor_min_abs"]
    with pytest.raises(KeyError):
        narrate(m, GD1DConfig())
