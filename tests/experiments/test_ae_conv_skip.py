"""ae-conv-skip: the smoke run's skip model and bypass numbers, and its notes both ways."""

import json  # noqa: I001  (ruff files `torch` under stridelab.torch)
import math

import pytest
import torch

from stridelab.experiments import ae_conv_skip
from stridelab.experiments.autoencoding import ConvAEConfig
from stridelab.experiments.runner import run_experiment
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


def test_the_model_without_skips_is_ae_convs_own(smoke_runs):
    """One plain model in 6.1 and 6.2: the skip study reads ae-conv's run, model and numbers."""
    plain = smoke_runs.ok("ae-conv")
    result = smoke_runs.ok("ae-conv-skip")
    m = result.metrics
    assert m["plain_model_run"] == str(plain.out)
    assert m["test_mse_no_skip"] == plain.metrics["test_mse"]
    assert m["knn_accuracy_no_skip"] == plain.metrics["knn_accuracy"]
    assert m["training"] == plain.metrics["training"]
    config = json.loads((result.out / "config.json").read_text())
    assert config["dependencies"]["ae-conv"] == {"run": str(plain.out), "source": "found"}
    history = json.loads((result.out / "history.json").read_text())
    assert history["no skips"] == json.loads((plain.out / "history.json").read_text())
    # the same model scored again here: its per-digit errors are ae-conv's
    assert m["no_skips"]["mse_by_digit"] == pytest.approx(plain.metrics["mse_by_digit"])
    for seen in (m["no_skips"], m["with_skips"]):
        assert len(seen["mse_by_digit"]) == 10 and seen["closest_pairs"]
        assert math.isfinite(seen["final_train_loss"])


def test_a_changed_training_trains_the_plain_model_here_to_the_same_numbers(smoke_runs,
                                                                           tmp_path):
    """--set on a training field rules out ae-conv's run; trained here from the same config and
    seed, the plain model scores what ae-conv's does."""
    plain = smoke_runs.ok("ae-conv")
    result = run_experiment("ae-conv-skip", smoke=True, out=tmp_path, echo=False, device="cpu",
                            dataset="mnist-5k", overrides={"epochs": "1"})
    assert result.status == "ok", result.reason
    m = result.metrics
    assert m["plain_model_run"] == "" and not (tmp_path / "ae-conv").exists()
    assert m["test_mse_no_skip"] == pytest.approx(plain.metrics["test_mse"], rel=1e-5)
    assert ae_conv_skip.narrate(m, ConvAEConfig()).branches["plain_from_ae_conv"] is False


def _skip_metrics(fake_seen, skip_mse, plain_mse, mean_code_mse, knn, knn_plain, *,
                  plain_run="runs/ae-conv", skip_seen=None):
    return {"test_mse": skip_mse, "test_mse_no_skip": plain_mse, "mse_skips_only": mean_code_mse,
            "mse_embedding_only": 0.11, "knn_accuracy": knn, "knn_accuracy_no_skip": knn_plain,
            "dataset": "mnist-5k", "n_train": 4000, "n_parameters": 16859,
            "plain_model_run": plain_run, "no_skips": fake_seen(train_loss=0.05),
            "with_skips": skip_seen or fake_seen(overlap=False, misread=False, train_loss=0.004)}


@pytest.mark.parametrize("numbers, plain_run, branches", [
    ((0.0023, 0.046, 0.0024, 0.30, 0.55), "runs/ae-conv",
     {"lower_error": True, "bypassed": True, "code_loses_digits": True,
      "plain_from_ae_conv": True, "skips_train_lower": True, "no_skips_misread": True,
      "with_skips_misread": False, "no_skips_closest_overlap": True,
      "with_skips_closest_overlap": False}),
    ((0.0300, 0.046, 0.0800, 0.60, 0.55), "",
     {"lower_error": True, "bypassed": False, "code_loses_digits": False,
      "plain_from_ae_conv": False}),
    ((0.0500, 0.046, 0.0800, 0.30, 0.55), "runs/ae-conv",
     {"lower_error": False, "bypassed": False, "code_loses_digits": True}),
])
def test_skip_notes_take_the_branches_the_numbers_decide(numbers, plain_run, branches,
                                                         fake_seen):
    metrics = _skip_metrics(fake_seen, *numbers, plain_run=plain_run)
    notes = ae_conv_skip.narrate(metrics, ConvAEConfig())
    assert {k: notes.branches[k] for k in branches} == branches
    assert f"{metrics['mse_skips_only']:.4f}" in str(notes)  # the mean-code MSE, both ways


def test_skip_notes_compare_the_training_losses_both_ways(fake_seen):
    higher = _skip_metrics(fake_seen, 0.0023, 0.046, 0.0024, 0.30, 0.55,
                           skip_seen=fake_seen(train_loss=0.06))
    notes = ae_conv_skip.narrate(higher, ConvAEConfig())
    assert notes.branches["skips_train_lower"] is False
    assert "0.0500 without skips and 0.0600 with them" in str(notes)
