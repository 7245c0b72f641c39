"""ae-conv: the smoke run saves the sheet's model and judges its lessons; dead units in the notes."""

import json  # noqa: I001  (ruff files `torch` under stridelab.torch)

import numpy as np
import pytest
import torch

from stridelab.data import load_dataset
from stridelab.experiments import ae_conv
from stridelab.experiments.autoencoding import ConvAEConfig
from stridelab.programs.prob6_CAE import ConvAutoencoder


def test_ae_conv_study_saves_the_models_and_judges_its_lessons(smoke_runs, lessons_by_metric):
    result = smoke_runs.ok("ae-conv")
    m = result.metrics
    assert m["dataset"] == "mnist-5k" and m["n_parameters"] == 16859
    assert "target_met" not in m and "target" not in m  # lessons replace hand-made targets
    assert 0 < m["test_mse"] < 0.3 and 0 < m["pca2_test_mse"] < 0.1
    assert 0 <= m["knn_accuracy"] <= 1
    assert [(r["in_features"], r["out_features"]) for r in m["dead_relu_units"]] == [
        (392, 20), (2, 20), (20, 392)]
    assert all(0 <= r["dead"] <= r["out_features"] for r in m["dead_relu_units"])
    # the code's separation: one recall per digit, best and worst among them
    recall = m["knn_recall_by_digit"]
    assert len(recall) == 10 and recall[m["best_separated_digit"]] == max(recall)
    assert recall[m["worst_separated_digit"]] == min(recall)
    ConvAutoencoder().load_state_dict(torch.load(result.out / "mnist_cae.pt", weights_only=True))
    for fig in ("reconstructions", "embeddings", "loss_curves"):
        assert (result.out / "figures" / f"{fig}.png").exists()
    lessons = lessons_by_metric(result)
    knn = lessons["knn_accuracy"]
    assert knn["target_metric"] == "pca2_knn_accuracy" and knn["target"] == m["pca2_knn_accuracy"]
    assert knn["met"] == (m["knn_accuracy"] > m["pca2_knn_accuracy"])
    mse = [r for r in json.loads((result.out / "lessons.json").read_text())
           if r["metric"] == "test_mse"]
    assert [r["target"] is None for r in mse] == [False, True]  # 0.040: full runs only


def test_ae_conv_measures_what_its_figures_show(smoke_runs):
    """Per-digit errors that average to the test MSE, the code's geometry, and a figure of
    each digit's reconstruction."""
    result = smoke_runs.ok("ae-conv")
    m = result.metrics
    y = load_dataset("mnist-5k").y_test[:m["n_test"]]
    counts = np.bincount(y, minlength=10)
    per_digit = np.array([v if v is not None else 0.0 for v in m["mse_by_digit"]])
    assert (per_digit * counts).sum() / counts.sum() == pytest.approx(m["test_mse"], rel=1e-5)
    assert m["worst_reconstructed_digit"]["mse"] == pytest.approx(per_digit[counts > 0].max())
    assert {r["digit"] for r in m["read_as_by_digit"]} == set(np.flatnonzero(counts).tolist())
    assert all(r["read_as"] != r["digit"] for r in m["misread_digits"])
    assert 0 <= m["read_as_own_digit"] <= 1 and 0 <= m["originals_read_as_own_digit"] <= 1
    pairs = m["closest_pairs"]
    assert [p["separation"] for p in pairs] == sorted(p["separation"] for p in pairs)
    assert sum(m["variance_by_axis"]) == pytest.approx(1.0)
    assert sum(m["pca2_geometry"]["variance_by_axis"]) == pytest.approx(1.0)
    assert 0.5 - 1e-9 <= m["main_axis_share"] <= 1 + 1e-9
    assert m["training"]["epochs"] == 1 and m["training"]["seed"] == 0
    assert (result.out / "figures" / "reconstructions_by_digit.png").stat().st_size > 1000


def test_conv_notes_count_dead_units_per_layer(single_model_metrics):
    none = single_model_metrics(0.045, 0.056, 0.61, 0.42, dead_relu_units=[
        {"in_features": 392, "out_features": 20, "dead": 0}])
    assert ae_conv.narrate(none, ConvAEConfig()).branches["none_dead"] is True
    some = ae_conv.narrate(single_model_metrics(0.045, 0.056, 0.61, 0.42),
                           ConvAEConfig(relu_bias=0.5))
    assert some.branches["none_dead"] is False
    notes = str(some)
    assert "3 of 20 in the layer from 392" in notes and "11 of 392 in the layer from 20" in notes
    assert "bias 0.5" in notes
