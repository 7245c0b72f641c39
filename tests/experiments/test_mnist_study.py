"""MNIST study: mnist-cnn against the SVC with what it learned, and the depth sweep's gradients."""

import json  # noqa: I001  (ruff takes tests/torch/ for `torch`)
import math

import numpy as np
import pytest
import torch

from stridelab.experiments.mnist_study import find_svc_run, random_affine
from stridelab.experiments.runner import run_experiment
from stridelab.torch.models.classifiers import MnistCNN


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models train fastest on one thread (and do not fight other processes for cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _run(name, out, **overrides):
    result = run_experiment(name, smoke=True, out=out, echo=False, device="cpu",
                            dataset="mnist-5k",
                            overrides={k: str(v) for k, v in overrides.items()})
    assert result.status == "ok", result.reason
    return result


def _fake_svc_run(root, name, accuracy, n_test, status="ok", dataset="mnist-5k"):
    d = root / name
    d.mkdir(parents=True)
    (d / "status.json").write_text(json.dumps({"status": status}))
    (d / "metrics.json").write_text(json.dumps({"test_accuracy": accuracy, "dataset": dataset,
                                                "n_test": n_test, "n_train": 123}))


# ---------------------------------------------------------------------------------------------
# mnist-cnn


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    return _run("mnist-cnn", tmp_path_factory.mktemp("cnn-runs"))


def test_cnn_metrics_hold_both_accuracies_and_the_comparison(cnn_run):
    m = cnn_run.metrics
    assert m["dataset"] == "mnist-5k" and m["n_train"] == 128 and m["n_test"] == 64
    assert 0.0 <= m["test_accuracy"] <= 1.0 and 0.0 <= m["svc_accuracy"] <= 1.0
    assert isinstance(m["beats_svc"], bool)
    assert m["beats_svc"] == (m["test_accuracy"] > m["svc_accuracy"])
    assert "fitted here on 100" in m["svc_source"]  # no svc-baseline run next to it
    assert m["epoch_time_s"] > 0 and math.isfinite(m["final_train_loss"])
    assert "target_met" not in m  # smoke/quick runs are not judged against the target
    cm = np.asarray(m["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 64
    assert np.trace(cm) == round(m["test_accuracy"] * 64)
    metrics_file = json.loads((cnn_run.out / "metrics.json").read_text())
    assert {"test_accuracy", "svc_accuracy", "beats_svc"} <= set(metrics_file)


def test_cnn_summary_formulas_for_the_smoke_model(cnn_run):
    # channels (4, 8), two 3×3 convs per block (no bias: BatchNorm follows), hidden 16
    s = json.loads((cnn_run.out / "model_summary.json").read_text())
    by_name = {layer["name"]: layer for layer in s["layers"]}
    expected = {
        "features.0": ([4, 28, 28], 36, "4·(3·3·1) = 36"),
        "features.1": ([4, 28, 28], 8, "2·4 = 8"),
        "features.3": ([4, 28, 28], 144, "4·(3·3·4) = 144"),
        "features.6": ([4, 14, 14], 0, "0"),
        "features.7": ([8, 14, 14], 288, "8·(3·3·4) = 288"),
        "features.10": ([8, 14, 14], 576, "8·(3·3·8) = 576"),
        "features.13": ([8, 7, 7], 0, "0"),
        "classifier.0": ([392], 0, "0"),
        "classifier.1": ([16], 6288, "16·(392 + 1) = 6288"),
        "classifier.4": ([10], 170, "10·(16 + 1) = 170"),
    }
    for name, (shape, params, formula) in expected.items():
        layer = by_name[name]
        assert (layer["output_shape"], layer["params"], layer["formula"]) == \
            (shape, params, formula), name
    # 36 + 8 + 144 + 8 + 288 + 16 + 576 + 16 + 6288 + 170
    assert s["total_params"] == 7550 == cnn_run.metrics["n_params"]
    notes = (cnn_run.out / "notes.md").read_text()
    assert "logits, not softmax" in notes and "16·(392 + 1) = 6288" in notes


def test_cnn_figures_and_the_saved_model(cnn_run):
    for fig in ("learning_curves", "misclassified", "confusion_matrix", "feature_maps",
                "first_layer_filters"):
        assert (cnn_run.out / "figures" / f"{fig}.png").stat().st_size > 1000, fig
    history = json.loads((cnn_run.out / "history.json").read_text())
    assert len(history["epoch_time"]) == 1 and len(history["test_accuracy"]) == 1
    model = MnistCNN((4, 8), hidden=16)
    model.load_state_dict(torch.load(cnn_run.out / "model.pt", weights_only=True))
    model.eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    m = cnn_run.metrics
    wrong = int(64 - np.trace(np.asarray(m["confusion_matrix"])))
    assert len(m["misclassified_shown"]) == min(10, wrong)
    assert len(m["feature_maps_shown"]["first conv"]) == 2  # n_maps = 2 in the smoke config
    assert all(0 <= k < 4 for k in m["feature_maps_shown"]["first conv"])
    assert all(0 <= k < 8 for k in m["feature_maps_shown"]["last conv"])


def test_cnn_takes_the_svc_figure_from_an_svc_baseline_run(tmp_path):
    _fake_svc_run(tmp_path, "svc-baseline", 0.25, n_test=64)
    _fake_svc_run(tmp_path, "svc-baseline-2", 0.99, n_test=1000)  # another test set: ignored
    _fake_svc_run(tmp_path, "svc-baseline-3", 0.98, n_test=64, status="failed")  # ignored
    result = _run("mnist-cnn", tmp_path, epochs=1)
    assert result.metrics["svc_accuracy"] == 0.25
    assert "svc-baseline run svc-baseline " in result.metrics["svc_source"]
    assert find_svc_run(tmp_path, "fashion-mnist", 64) is None


def test_random_affine_is_the_identity_without_shift_or_rotation_and_keeps_shapes():
    x = torch.rand(3, 1, 28, 28)
    assert random_affine(x, 0.0, 0.0) is x
    torch.manual_seed(0)
    y = random_affine(x, 2.0, 10.0)
    assert y.shape == x.shape and not torch.equal(x, y)
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0 + 1e-6  # bilinear: no overshoot


# ---------------------------------------------------------------------------------------------
# depth-sweep


def test_depth_sweep_records_per_layer_gradient_norms(tmp_path):
    result = _run("depth-sweep", tmp_path)
    m = result.metrics
    # smoke: depths (1, 2) × (sigmoid, relu) and Adam on the deepest sigmoid net
    assert set(m["runs"]) == {"sigmoid, 1 hidden", "sigmoid, 2 hidden", "relu, 1 hidden",
                              "relu, 2 hidden", "sigmoid + adam, 2 hidden"}
    for label, r in m["runs"].items():
        profile = np.asarray(r["grad_norm_first_epoch"])
        assert profile.shape == (r["depth"] + 1,), label  # hidden layers + the output layer
        assert np.all(np.isfinite(profile)) and np.all(profile > 0), label
        assert r["first_last_ratio"] == pytest.approx(profile[0] / profile[-1])
    for s in m["runs"]["sigmoid, 2 hidden"]["activation_slope_init"]:
        assert 0 < s <= 0.25  # σ'(z) = σ(1 − σ) never exceeds 1/4
    assert m["sigma_prime_max"] == 0.25
    assert m["sigmoid_grad_ratio"] == m["runs"]["sigmoid, 2 hidden"]["first_last_ratio"]
    per_layer = np.asarray(m["sigmoid_over_relu_per_layer"])
    assert per_layer.shape == (3,)
    results = json.loads((result.out / "results.json").read_text())
    g = np.asarray(results["sigmoid, 2 hidden"]["grad_norms"])
    assert g.shape == (2, 3)  # 256 images / batch 128 = 2 steps; 2 hidden + output layer
    for fig in ("accuracy_curves", "gradient_norms", "gradient_profile"):
        assert (result.out / "figures" / f"{fig}.png").exists()
    assert "0.25" in (result.out / "notes.md").read_text()


# ---------------------------------------------------------------------------------------------
# architectures


def test_mlp_of_the_sheet_layer_by_layer():
    from torch import nn

    from stridelab.torch.models.classifiers import MLP

    model = MLP(3, 512, "sigmoid", 0.2)
    kinds = [type(m).__name__ for m in model.layers]
    assert kinds == ["Flatten"] + ["Linear", "Sigmoid", "Dropout"] * 3 + ["Linear"]
    assert [(m.in_features, m.out_features) for m in model.linear_layers()] == \
        [(784, 512), (512, 512), (512, 512), (512, 10)]
    assert all(m.p == 0.2 for m in model.layers if isinstance(m, nn.Dropout))
    # 512·(784 + 1) + 2·512·(512 + 1) + 10·(512 + 1)
    assert sum(p.numel() for p in model.parameters()) == 401_920 + 525_312 + 5_130
    assert model(torch.zeros(4, 1, 28, 28)).shape == (4, 10)


def test_mlp_he_initialisation_has_variance_two_over_fan_in():
    from stridelab.torch.models.classifiers import MLP

    torch.manual_seed(0)
    first = MLP(2, 512, "relu", init="he").linear_layers()[0]
    assert float(first.weight.detach().std()) == pytest.approx(math.sqrt(2 / 784), rel=0.02)  # 0.0505
    assert float(first.bias.detach().abs().max()) == 0.0


def test_bad_architecture_arguments_are_user_errors():
    from stridelab.errors import ConfigError
    from stridelab.torch.models.classifiers import MLP

    with pytest.raises(ConfigError, match="activation 'swish'"):
        MLP(1, 8, "swish")
    with pytest.raises(ConfigError, match="kernel_size must be odd"):
        MnistCNN((4,), kernel_size=4)
    with pytest.raises(ConfigError, match="shrink"):
        MnistCNN((4, 4, 4, 4, 4, 4))  # 28 → 14 → 7 → 3 → 1 → 0


def test_cnn_default_is_two_blocks_of_two_convolutions():
    model = MnistCNN()
    convs = model.conv_layers()
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 32), (32, 32), (32, 64),
                                                                (64, 64)]
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
