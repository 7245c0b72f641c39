"""svc-baseline: the fit on a case with a known answer, the smoke run and its notes."""

from __future__ import annotations

import numpy as np
import pytest

from stridelab.experiments.plots import confusion_summary
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
    assert m["train_subset"] == "first"  # the sheet's hint: the first training images
    for p in m["confused_pairs"]:
        i, j = p["labels"]
        assert p["count"] == cm[i, j] + cm[j, i]


def test_a_gamma_that_is_no_number_is_a_user_error(tmp_path):
    result = run_experiment("svc-baseline", smoke=True, out=tmp_path, echo=False,
                            dataset="mnist-5k", overrides={"gamma": "wide"})
    assert result.status == "failed" and result.user_error and "gamma" in result.reason


def _fake(pairs: list[dict], **changes) -> dict:
    cm = np.diag([93, 100, 90, 95, 93, 90, 96, 95, 92, 94])
    cm[4, 9], cm[9, 4] = 7, 1
    return {"dataset": "mnist-5k", "n_train": 2000, "n_test": 1000, "n_features": 784,
            "test_accuracy": 0.938, "n_support_vectors": 1317,
            "support_vector_fraction": 0.6585, "fit_time_s": 0.54, "most_confused": pairs,
            "train_subset": "first", "all_training_images": False,
            **confusion_summary(cm, [str(d) for d in range(10)]), **changes}


def test_narrate_names_the_most_frequent_mistake_or_says_there_was_none():
    pair = {"true": "4", "predicted": "9", "count": 7, "fraction_of_true": 0.07,
            "true_label": 4, "predicted_label": 9}
    notes = narrate(_fake([pair]), SVCConfig())
    assert notes.branches == {"all_training_images": False, "mistakes": True, "one_way": True}
    assert "0.9380" in str(notes) and "65.8%" in str(notes) and "7.0%" in str(notes)
    assert "the first 2,000 training images" in str(notes)
    assert "4 is commonly mislabelled as 9" in str(notes)
    clean = narrate(_fake([]), SVCConfig())
    assert clean.branches == {"all_training_images": False, "mistakes": False}
    assert "7.0%" not in str(clean)


@pytest.mark.parametrize("changes, words", [
    ({"all_training_images": True}, "all 2,000 training images"),
    ({"train_subset": "stratified"}, "a stratified random 2,000 of the training images"),
])
def test_narrate_says_which_training_images(changes, words):
    notes = narrate(_fake([], **changes), SVCConfig())
    assert notes.branches["all_training_images"] is changes.get("all_training_images", False)
    assert words in str(notes)


def test_the_svc_trains_on_the_first_images_or_a_stratified_subset(tmp_path):
    """The sheet's hint: the first n training images; the stratified subset on request."""
    from stridelab.data import load_dataset

    first = run_experiment("svc-baseline", smoke=True, out=tmp_path, echo=False,
                           dataset="mnist-5k", overrides={"n_train": "60"})
    strat = run_experiment("svc-baseline", smoke=True, out=tmp_path, echo=False,
                           dataset="mnist-5k",
                           overrides={"n_train": "60", "train_subset": "stratified"})
    assert first.metrics["train_subset"] == "first" and first.metrics["n_train"] == 60
    ds = load_dataset("mnist-5k")
    # the first 60 images hold each digit as often as they happen to; the stratified draw
    # keeps the split's shares, so the two fits differ
    expected = fit_svc(ds.X_train[:60], ds.y_train[:60], ds.X_test[:100], ds.y_test[:100],
                       SVCConfig())
    assert first.metrics["test_accuracy"] == expected["test_accuracy"]
    assert first.metrics["n_support_vectors"] == expected["n_support_vectors"]
    assert strat.metrics["train_subset"] == "stratified"
    assert not first.metrics["all_training_images"]
