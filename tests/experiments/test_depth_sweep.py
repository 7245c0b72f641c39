"""depth-sweep: the sheet's MLP as Keras builds it, the measured gradients, and the notes."""

from __future__ import annotations  # noqa: I001  (ruff takes tests/torch/ for `torch`)

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from stridelab.errors import ConfigError
from stridelab.experiments.depth_sweep import (
    NOTEBOOK,
    DepthConfig,
    _runs,
    activation_slopes,
    narrate,
)
from stridelab.experiments.registry import get
from stridelab.programs.deep_mlp import MLP

# ---------------------------------------------------------------------------------------------
# the architecture


def test_mlp_of_the_sheet_layer_by_layer():
    model = MLP(3, 512, "sigmoid", 0.2, init="glorot_uniform")
    kinds = [type(m).__name__ for m in model.layers]
    assert kinds == ["Flatten"] + ["Linear", "Sigmoid", "Dropout"] * 3 + ["Linear"]
    assert [(m.in_features, m.out_features) for m in model.linear_layers()] == \
        [(784, 512), (512, 512), (512, 512), (512, 10)]
    assert all(m.p == 0.2 for m in model.layers if isinstance(m, nn.Dropout))
    # the notebook's summaries: 401,920 + 262,656 per extra layer + 5,130
    assert sum(p.numel() for p in model.parameters()) == 401_920 + 2 * 262_656 + 5_130
    assert model(torch.zeros(4, 1, 28, 28)).shape == (4, 10)


def test_glorot_uniform_is_keras_default_with_zero_biases():
    torch.manual_seed(0)
    first, second, out = MLP(2, 512, "sigmoid", init="glorot_uniform").linear_layers()
    for layer, (fan_in, fan_out) in ((first, (784, 512)), (second, (512, 512)),
                                     (out, (512, 10))):
        w = layer.weight.detach()
        limit = math.sqrt(6 / (fan_in + fan_out))  # 0.0684 for 784 → 512
        assert float(w.abs().max()) <= limit
        assert float(w.abs().max()) > 0.99 * limit
        # uniform in ±limit: variance limit² / 3 = 2 / (fan_in + fan_out)
        assert float(w.std()) == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.05)
        assert float(layer.bias.detach().abs().max()) == 0.0


def test_he_and_torch_initialisations():
    torch.manual_seed(0)
    he = MLP(2, 512, "relu", init="he").linear_layers()[0]
    assert float(he.weight.detach().std()) == pytest.approx(math.sqrt(2 / 784), rel=0.02)
    assert float(he.bias.detach().abs().max()) == 0.0
    default = MLP(2, 512, "relu").linear_layers()[0]  # PyTorch: U(±1/√fan_in)
    assert float(default.weight.detach().abs().max()) <= 1 / math.sqrt(784)
    assert float(default.bias.detach().abs().max()) > 0.0


@pytest.mark.parametrize("study, key, value, match", [
    ("depth-sweep", "activations", "sigmoid,swish", "expected one of sigmoid, relu, tanh"),
    ("depth-sweep", "width", "0", "width must be at least 1"),
    ("batch-size", "width", "0", "width must be at least 1"),
    ("mnist-cnn", "channels", "16,0", "each value of channels must be at least 1"),
    ("mlp-vs-cnn", "cnn_channels", "8,-1", "each value of cnn_channels must be at least 1"),
    ("mnist-calculator", "e2e_sharpen", "0", "e2e_sharpen must be greater than 0"),
    ("mnist-calculator", "e2e_dropout", "1", "e2e_dropout must be less than 1"),
])
def test_bad_architecture_settings_are_refused_by_the_config(study, key, value, match):
    # the programs' networks do not check their arguments: the study's bounds do, before any work
    with pytest.raises(ConfigError, match=match):
        get(study).make_config(overrides={key: value})


def test_activation_slopes_on_hand_made_inputs():
    # one hidden layer whose pre-activations are z = x: σ'(0) = 1/4, ReLU's share of z > 0
    model = nn.Sequential(nn.Identity(), nn.Sigmoid())
    assert activation_slopes(model, torch.zeros(5, 3), "cpu") == [pytest.approx(0.25)]
    model = nn.Sequential(nn.Identity(), nn.ReLU())
    x = torch.tensor([[1.0, -1.0, 2.0, -3.0]])
    assert activation_slopes(model, x, "cpu") == [pytest.approx(0.5)]


@pytest.mark.parametrize("field, value, fragment", [
    ("variants", ("adam", "dropout"), "unknown dropout"),
    ("depths", (), "at least one hidden-layer count"),
    ("activations", ("relu", "tanh"), "compares sigmoid with relu"),
])
def test_run_list_refuses_configs_the_study_cannot_answer(field, value, fragment):
    with pytest.raises(ConfigError, match=fragment):
        _runs(DepthConfig(**{field: value}))


def test_hidden_layer_counts_are_bounded_beside_the_field():
    with pytest.raises(ConfigError, match="each value of depths must be at least 1"):
        get("depth-sweep").make_config(overrides={"depths": "0,1"})


def test_run_list_is_every_activation_at_every_depth_then_the_variants():
    runs = _runs(DepthConfig(depths=(2, 1), variants=("he", "torch-init")))
    assert [r.key for r in runs] == ["sigmoid_1", "sigmoid_2", "relu_1", "relu_2", "he",
                                     "torch_init"]
    assert [(r.depth, r.init) for r in runs[-2:]] == [(2, "he"), (2, "torch")]
    assert all(r.init == "glorot_uniform" for r in runs[:4])


# ---------------------------------------------------------------------------------------------
# the smoke run


@pytest.fixture
def depth_run(smoke_runs):
    return smoke_runs.ok("depth-sweep")


def test_depth_sweep_records_per_layer_gradient_norms(depth_run):
    m = depth_run.metrics
    # smoke: depths (1, 2) × (sigmoid, relu), and Adam and He on the deepest net
    assert set(m["runs"]) == {"sigmoid_1", "sigmoid_2", "relu_1", "relu_2", "adam", "he"}
    for key, r in m["runs"].items():
        profile = np.asarray(r["grad_norm_first_epoch"])
        assert profile.shape == (r["depth"] + 1,), key  # hidden layers + the output layer
        assert np.all(np.isfinite(profile)) and np.all(profile > 0), key
        assert r["grad_ratio"] == pytest.approx(profile[0] / profile[-1])
        assert m[f"{key}_test_accuracy"] == r["test_accuracy"]
    for s in m["sigmoid_deepest_slopes_init"]:
        assert 0 < s <= 0.25  # σ'(z) = σ(1 − σ) never exceeds 1/4
    assert (m["deepest"], m["shallowest"]) == (2, 1)
    assert m["relu_deepest_test_accuracy"] == m["relu_2_test_accuracy"]
    assert m["sigmoid_shallowest_test_accuracy"] == m["sigmoid_1_test_accuracy"]
    assert m["chance_accuracy"] == pytest.approx(0.1)
    assert m["comparable_to_notebook"] is False  # mnist-5k, 256 images
    assert m["notebook_reference"]["test_accuracy"] == NOTEBOOK["test_accuracy"]
    np.testing.assert_allclose(
        m["sigmoid_over_relu_grad_per_layer"],
        np.asarray(m["runs"]["sigmoid_2"]["grad_norm_first_epoch"])
        / np.asarray(m["runs"]["relu_2"]["grad_norm_first_epoch"]))
    results = json.loads((depth_run.out / "results.json").read_text())
    g = np.asarray(results["sigmoid_2"]["grad_norms"])
    assert g.shape == (2, 3)  # 256 images / batch 128 = 2 steps; 2 hidden + output layer
    for fig in ("accuracy_by_depth", "accuracy_curves", "gradient_norms"):
        assert (depth_run.out / "figures" / f"{fig}.png").stat().st_size > 1000


def test_depth_sweep_lessons_compare_relu_and_sigmoid_at_the_deepest_depth(depth_run):
    m = depth_run.metrics
    relu, sigmoid, gap = depth_run.lessons
    assert relu["target"] == 0.85 and relu["met"] == (m["relu_deepest_test_accuracy"] >= 0.85)
    assert sigmoid["target"] == 0.2 and sigmoid["op"] == "<="
    assert gap["target"] == pytest.approx(m["sigmoid_deepest_test_accuracy"] + 0.3)


# ---------------------------------------------------------------------------------------------
# narrate, from fabricated metrics

def _fake(*, relu3=0.869, sigmoid3=0.1, sig_ratio=0.0228, relu_ratio=1.65,
          comparable=False, variants=False) -> dict:
    acc = {"sigmoid": [0.775, 0.426, sigmoid3], "relu": [0.884, 0.869, relu3]}
    m = {"dataset": "mnist-5k", "n_train": 4000, "n_test": 1000, "n_classes": 10,
         "chance_accuracy": 0.1, "steps_per_epoch": 32, "deepest": 3, "shallowest": 1,
         "notebook_reference": NOTEBOOK, "comparable_to_notebook": comparable,
         "sigmoid_deepest_grad_ratio": sig_ratio, "relu_deepest_grad_ratio": relu_ratio,
         "sigmoid_deepest_slopes_init": [0.242, 0.237, 0.234],
         "relu_deepest_active_fraction_init": [0.48, 0.51, 0.52],
         "relu_3_first_grad": 0.65}
    for act, values in acc.items():
        for d, a in enumerate(values, start=1):
            m[f"{act}_{d}_test_accuracy"] = a
        m[f"{act}_deepest_test_accuracy"] = values[-1]
        m[f"{act}_shallowest_test_accuracy"] = values[0]
    if variants:
        m.update({"batchnorm_test_accuracy": 0.91, "batchnorm_grad_ratio": 0.5,
                  "adam_test_accuracy": 0.05, "adam_grad_ratio": 0.02,
                  "he_test_accuracy": 0.95, "he_grad_ratio": 1.1, "he_first_grad": 0.9,
                  "torch_init_test_accuracy": 0.6, "torch_init_grad_ratio": 0.4})
    return m


@pytest.mark.parametrize("metrics, branches", [
    (_fake(), {"relu_wins": True, "sigmoid_at_chance": True, "depth_hurts_sigmoid": True,
               "vanishing_gradient": True, "comparable_to_notebook": False}),
    (_fake(relu3=0.3, sigmoid3=0.5, sig_ratio=2.0),
     {"relu_wins": False, "sigmoid_at_chance": False, "depth_hurts_sigmoid": True,
      "vanishing_gradient": False, "comparable_to_notebook": False}),
    (_fake(sigmoid3=0.8, comparable=True),
     {"relu_wins": True, "sigmoid_at_chance": False, "depth_hurts_sigmoid": False,
      "vanishing_gradient": True, "comparable_to_notebook": True}),
])
def test_narrate_takes_the_branches_the_numbers_decide(metrics, branches):
    notes = narrate(metrics, DepthConfig(epochs=20, variants=()))
    assert notes.branches == branches
    assert f"{metrics['sigmoid_deepest_grad_ratio']:.3g}" in str(notes) and "48%" in str(notes)
    assert "0.9471" in str(notes)  # the notebook's ReLU-3, either way


def test_narrate_judges_each_variant_against_its_base():
    notes = narrate(_fake(variants=True), DepthConfig())
    # BatchNorm 0.91 > sigmoid 0.1 helps; Adam 0.05 < 0.1 does not; He 0.95 > ReLU 0.869
    assert {k: v for k, v in notes.branches.items() if k.endswith("_helps")} == {
        "batchnorm_helps": True, "adam_helps": False, "he_helps": True, "torch_init_helps": False}
    assert notes.branches["he_larger_first_gradient"] and notes.branches["torch_init_loses"]
    assert "0.9100" in str(notes) and "0.0500" in str(notes)


def test_narrate_refuses_a_missing_metric():
    m = _fake()
    del m["relu_deepest_grad_ratio"]
    with pytest.raises(KeyError):
        narrate(m, DepthConfig(variants=()))
