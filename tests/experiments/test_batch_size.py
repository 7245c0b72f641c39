"""batch-size: gradient noise, the smoke run's bookkeeping, config checks and its notes."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from stridelab.errors import ConfigError
from stridelab.experiments.batch_size import BatchSizeConfig, gradient_variance, narrate
from stridelab.experiments.runner import run_experiment


def test_gradient_variance_is_zero_for_the_full_batch_and_falls_with_batch_size():
    torch.manual_seed(0)
    X = torch.randn(64, 5)
    y = torch.randint(0, 3, (64,))
    model = nn.Linear(5, 3)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(0)
    full = gradient_variance(model, loss_fn, X, y, 64, 3, rng, "cpu")
    assert full["variance"] < 1e-12  # every batch is the whole set
    assert full["full_grad_sq_norm"] > 0
    v1 = gradient_variance(model, loss_fn, X, y, 1, 200, rng, "cpu")["variance"]
    v16 = gradient_variance(model, loss_fn, X, y, 16, 200, rng, "cpu")["variance"]
    # without replacement Var(g_B) = Var(g_1)/B · (N − B)/(N − 1): 16 → ratio ≈ 21
    assert v1 > 5 * v16 > 0


def test_batch_size_smoke_counts_updates_and_noise(smoke_runs):
    result = smoke_runs.ok("batch-size")
    m = result.metrics
    # smoke: 200 images, 1 epoch → 200, 10 and ⌈200/128⌉ = 2 updates; 40 updates each
    assert m["n_train"] == 200
    assert (m["equal_epochs_b1_updates"], m["equal_epochs_b20_updates"],
            m["equal_epochs_b128_updates"]) == (200, 10, 2)
    for B in (1, 20, 128):
        assert m[f"equal_epochs_b{B}_epochs"] == pytest.approx(1.0)
        assert m[f"equal_updates_b{B}_updates"] == 40
        assert m[f"equal_updates_b{B}_epochs"] == pytest.approx(40 * B / 200)
        for phase in ("equal_epochs", "equal_updates"):
            assert 0.0 <= m[f"{phase}_b{B}_test_accuracy"] <= 1.0
            assert math.isfinite(m[f"{phase}_b{B}_final_train_loss"])
    v = [m[f"gradient_variance_b{B}"] for B in (1, 20, 128)]
    assert v[0] > v[1] > v[2] > 0
    # the lesson metrics are the B = 1 and B = 20 entries, per epoch
    assert m["online_loss_equal_epochs"] == m["equal_epochs_b1_final_train_loss"]
    assert m["minibatch_seconds_per_epoch"] == m["equal_epochs_b20_train_seconds"] / 1
    assert m["noise_ratio_online_minibatch"] == pytest.approx(v[0] / v[1])
    slope = np.polyfit(np.log([1, 20, 128]), np.log(v), 1)[0]
    assert m["noise_slope"] == pytest.approx(slope)
    curves = json.loads((result.out / "curves.json").read_text())
    online = curves["equal epochs"]["1"]
    assert online["updates"][0] == 0 and online["updates"][-1] == 200
    assert online["seconds"] == sorted(online["seconds"])
    assert (result.out / "figures" / "loss_curves.png").exists()
    assert (result.out / "figures" / "gradient_noise.png").exists()
    assert [lesson["metric"] for lesson in result.lessons] == [
        "online_loss_equal_epochs", "online_seconds_per_epoch", "online_gradient_variance"]


@pytest.mark.parametrize("overrides, fragment", [
    ({"batch_sizes": "20,128"}, "must include 1"),
    ({"minibatch": "32"}, "must be one of batch_sizes"),
    ({"batch_sizes": "1,20,500"}, "exceeds the 200 training images"),
])
def test_batch_size_config_problems_are_one_line_user_errors(tmp_path, overrides, fragment):
    result = run_experiment("batch-size", smoke=True, out=tmp_path, echo=False,
                            dataset="mnist-5k", overrides=overrides)
    assert result.status == "failed" and result.user_error
    assert fragment in result.reason and "\n" not in result.reason


def test_non_positive_sizes_are_refused_by_the_field_bounds():
    from stridelab.experiments.registry import get

    with pytest.raises(ConfigError, match="each value of batch_sizes must be at least 1"):
        get("batch-size").make_config(overrides={"batch_sizes": "0,1"})


# ---------------------------------------------------------------------------------------------
# narrate, from fabricated metrics

def _fake(*, online_loss=0.26, online_s=5.1, online_var=13.6, slope=-1.0) -> dict:
    return {
        "dataset": "mnist-5k", "n_train": 2000, "n_test": 1000, "n_inputs": 784,
        "n_classes": 10, "n_params": 79510, "batch_sizes": [1, 20, 128], "largest_batch": 128,
        "online_loss_equal_epochs": online_loss, "minibatch_loss_equal_epochs": 0.586,
        "online_test_accuracy_equal_epochs": 0.874, "minibatch_test_accuracy_equal_epochs": 0.845,
        "online_updates_equal_epochs": 4000, "minibatch_updates_equal_epochs": 200,
        "online_seconds_per_epoch": online_s, "minibatch_seconds_per_epoch": 0.376,
        "time_ratio_online_minibatch": online_s / 0.376,
        "online_gradient_variance": online_var, "minibatch_gradient_variance": 0.743,
        "noise_ratio_online_minibatch": online_var / 0.743,
        "gradient_variance_b1": online_var, "gradient_variance_b20": 0.743,
        "gradient_variance_b128": 0.102, "full_gradient_sq_norm": 0.161, "noise_slope": slope,
        "equal_updates_b128_final_train_loss": 0.181, "equal_updates_b1_final_train_loss": 0.612,
    }


@pytest.mark.parametrize("metrics, branches", [
    (_fake(), {"online_goes_further": True, "online_slower": True, "online_noisier": True,
               "noise_falls_as_inverse_B": True, "larger_batch_more_per_update": True}),
    (_fake(online_loss=0.9, online_s=0.2, online_var=0.5, slope=-0.5),
     {"online_goes_further": False, "online_slower": False, "online_noisier": False,
      "noise_falls_as_inverse_B": False, "larger_batch_more_per_update": True}),
])
def test_narrate_names_the_measured_advantage_and_disadvantage(metrics, branches):
    notes = narrate(metrics, BatchSizeConfig())
    assert notes.branches == branches
    assert f"{metrics['online_gradient_variance']:.3g}" in str(notes)
    assert f"{metrics['noise_slope']:.2f}" in str(notes) and "0.743" in str(notes)
