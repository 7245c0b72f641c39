"""engine-cnn: its pieces by hand, and a smoke run that writes every artifact."""

import json

import numpy as np
import pytest

from stridelab.experiments import engine_cnn
from stridelab.experiments.engine_cnn import (
    EngineCNNConfig,
    build_lenet,
    cosine_lr,
    random_shift,
    standardise,
)


def test_random_shift_moves_each_image_within_the_limit():
    X = np.zeros((50, 1, 5, 5), dtype=np.float32)
    X[:, 0, 2, 2] = 1.0                                       # one bright pixel in the centre
    shifted = random_shift(X, 2, np.random.default_rng(0))
    assert shifted.shape == X.shape
    assert all(img[0].sum() == 1.0 for img in shifted)        # a 2-pixel move keeps it inside
    positions = {divmod(int(np.argmax(img[0])), 5) for img in shifted}
    assert positions <= {(r, c) for r in range(5) for c in range(5)}
    assert len(positions) > 10                                # images move independently
    assert random_shift(X, 0, np.random.default_rng(0)) is X


def test_random_shift_fills_with_the_background():
    X = np.full((4, 1, 3, 3), -0.5, dtype=np.float32)
    X[:, 0, 1, 1] = 2.0
    out = random_shift(X, 1, np.random.default_rng(1))
    assert set(np.unique(out)) == {-0.5, 2.0}


def test_cosine_lr_endpoints():
    assert cosine_lr(0, 100, 0.01) == pytest.approx(0.01)
    assert cosine_lr(50, 100, 0.01) == pytest.approx(0.005)
    assert cosine_lr(100, 100, 0.01) == pytest.approx(0.0)


def test_standardise_uses_the_training_statistics():
    X_train = np.array([[[0, 255]], [[255, 0]]], dtype=np.uint8)       # mean 0.5, std 0.5
    X_test = np.array([[[255, 255]]], dtype=np.uint8)
    train, test = standardise(X_train, X_test)
    assert train.shape == (2, 1, 1, 2) and train.dtype == np.float32
    np.testing.assert_allclose(train[0, 0, 0], [-1.0, 1.0])
    np.testing.assert_allclose(test[0, 0, 0], [1.0, 1.0])


def test_lenet_has_the_lenet_parameter_count():
    model = build_lenet(EngineCNNConfig(), (28, 28), 10, np.random.default_rng(0))
    # 6·(5·5·1 + 1) + 16·(5·5·6 + 1) + 120·(16·5·5 + 1) + 10·(120 + 1)
    assert model.num_parameters() == 156 + 2416 + 48120 + 1210
    assert model(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 10)


def test_smoke_run_writes_metrics_and_figures(tmp_path):
    from stridelab.experiments.runner import run_experiment

    assert engine_cnn.TARGETS["mnist-5k"] == 0.97
    result = run_experiment("engine-cnn", smoke=True, out=tmp_path, echo=False)
    assert result.status == "ok", result.reason
    run_dir = tmp_path / "engine-cnn"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["epoch_time_s"] > 0 and len(metrics["epoch_times_s"]) == 1
    assert metrics["n_train"] == 256 and "target" not in metrics   # target only on full data
    for name in ("learning_curves", "first_layer_filters", "first_layer_feature_maps",
                 "confusion_matrix"):
        assert (run_dir / "figures" / f"{name}.png").stat().st_size > 0
    with np.load(run_dir / "model.npz") as state:
        assert state["layers.0.weight"].shape == (6, 1, 5, 5)
    history = json.loads((run_dir / "history.json").read_text())
    assert history["epoch"] == [1]
