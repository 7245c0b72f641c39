"""svc-baseline: the fit on a case with a known answer, the smoke run and its notes."""

from __future__ import annotations

import numpy as np
import pytest

from stridelab.experiments.runner import run_experiment
from stridelab.experiments.svc_baseline import SVCConfig, fit_svc, narrate


def test_fit_svc_separates_two_constant_grey_levels():
    # class 0: dark images, class 1: bright ones; the RBF SVC gets every test image right
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.integers(0, 40, (20, 4, 4)), rng.integers(200, 255, (20, 4, 4))])
    y = np.repeat([0, 1], 20)
    result = fit_svc(X.astype(np.uint8), y, X[::5].astype(np.uint8), y[::5], SVCConfig())
    assert result["test_accuracy"] == 1.0
    np.testing.assert_array_equal(result["y_pred"], y[::5])
    assert 2 <= result["n_support_vectors"] <= 40


def test_svc_smoke_run_counts(smoke_runs):
    result = smoke_runs.ok("svc-baseline")
    m = result.metrics
    assert (m["n_train"], m["n_test"], m["n_features"]) == (200, 100, 784)
    cm = np.asarray(m["confusion_matrix"])
    assert cm.sum() == 100 and m["n_errors"] == 100 - np.trace(cm)
    assert m["test_accuracy"] == pytest.approx(np.trace(cm) / 100)
    assert m["support_vector_fraction"] == pytest.approx(m["n_support_vectors"] / 200)
    for p in m["most_confused"]:
        assert cm[p["true_label"], p["predicted_label"]] == p["count"]
    assert result.lessons[0]["target"] == 0.92  # a smoke run is judged like a quick run


def test_a_gamma_that_is_no_number_is_a_user_error(tmp_path):
    result = run_experiment("svc-baseline", smoke=True, out=tmp_path, echo=False,
                            dataset="mnist-5k", overrides={"gamma": "wide"})
    assert result.status == "failed" and result.user_error and "gamma" in result.reason


def _fake(pairs: list[dict]) -> dict:
    return {"dataset": "mnist-5k", "n_train": 2000, "n_test": 1000, "n_features": 784,
            "test_accuracy": 0.938, "n_support_vectors": 1317,
            "support_vector_fraction": 0.6585, "fit_time_s": 0.54, "most_confused": pairs}


def test_narrate_names_the_most_frequent_mistake_or_says_there_was_none():
    pair = {"true": "4", "predicted": "9", "count": 7, "fraction_of_true": 0.07,
            "true_label": 4, "predicted_label": 9}
    notes = narrate(_fake([pair]), SVCConfig())
    assert notes.branches == {"mistakes": True}
    assert "0.9380" in str(notes) and "65.8%" in str(notes) and "7.0%" in str(notes)
    clean = narrate(_fake([]), SVCConfig())
    assert clean.branches == {"mistakes": False} and "7.0%" not in str(clean)
