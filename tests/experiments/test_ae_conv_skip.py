"""ae-conv-skip: the smoke run's skip model and bypass numbers, and its notes both ways."""

import json  # noqa: I001  (ruff files `torch` under stridelab.torch)
import math

import pytest
import torch

from stridelab.experiments import ae_conv_skip
from stridelab.experiments.autoencoding import ConvAEConfig
from stridelab.programs.prob6_CAE import ConvAutoencoder


def test_ae_conv_skip_study_saves_a_loadable_skip_model_and_bypass_numbers(smoke_runs, lessons_by_metric):
    result = smoke_runs.ok("ae-conv-skip")
    m = result.metrics
    for key in ("test_mse", "test_mse_no_skip", "knn_accuracy", "knn_accuracy_no_skip",
                "mse_skips_only", "mse_embedding_only", "pca2_test_mse"):
        assert key in m and math.isfinite(m[key])
    assert 0 < m["test_mse"] < 0.3 and 0 <= m["knn_accuracy"] <= 1
    assert m["n_parameters"] == 16859  # addition: the skips add no parameter
    state = torch.load(result.out / "mnist-cae-skip.pt", weights_only=True)
    model = ConvAutoencoder(skip=True)
    model.load_state_dict(state)
    for fig in ("skip_reconstructions", "skip_embeddings", "skip_losses"):
        assert (result.out / "figures" / f"{fig}.png").stat().st_size > 1000
    history = json.loads((result.out / "history.json").read_text())
    assert set(history) == {"no skips", "with skips"}
    lessons = lessons_by_metric(result)
    assert lessons["mse_skips_only"]["met"] == (m["mse_skips_only"] < m["test_mse_no_skip"])
    assert lessons["test_mse"]["met"] == (m["test_mse"] < m["test_mse_no_skip"])


def _skip_metrics(skip_mse, plain_mse, mean_code_mse, knn, knn_plain):
    return {"test_mse": skip_mse, "test_mse_no_skip": plain_mse, "mse_skips_only": mean_code_mse,
            "mse_embedding_only": 0.11, "knn_accuracy": knn, "knn_accuracy_no_skip": knn_plain,
            "dataset": "mnist-5k", "n_train": 4000, "n_parameters": 16859}


@pytest.mark.parametrize("metrics, branches", [
    (_skip_metrics(0.0023, 0.046, 0.0024, 0.30, 0.55),
     {"lower_error": True, "bypassed": True, "code_loses_digits": True}),
    (_skip_metrics(0.0300, 0.046, 0.0800, 0.60, 0.55),
     {"lower_error": True, "bypassed": False, "code_loses_digits": False}),
    (_skip_metrics(0.0500, 0.046, 0.0800, 0.30, 0.55),
     {"lower_error": False, "bypassed": False, "code_loses_digits": True}),
])
def test_skip_notes_take_the_branches_the_numbers_decide(metrics, branches):
    notes = ae_conv_skip.narrate(metrics, ConvAEConfig())
    assert notes.branches == branches
    assert f"{metrics['mse_skips_only']:.4f}" in str(notes)  # the mean-code MSE, both ways
