"""engine-cnn: its pieces by hand, a smoke run that writes every artifact, and its notes
narrated from fabricated metrics through each branch."""

import json

import numpy as np
import pytest

from stridelab.experiments.engine_cnn import (
    EngineCNNConfig,
    build_lenet,
    cosine_lr,
    narrate,
    random_shift,
    standardise,
)
from stridelab.experiments.narrate import NarrationError
from stridelab.experiments.registry import get


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


def test_lesson_targets_are_registered_data():
    (lesson,) = get("engine-cnn").lessons
    assert (lesson.metric, lesson.op, lesson.quick, lesson.full) == (
        "test_accuracy", ">=", 0.96, 0.97)


def test_smoke_run_writes_metrics_and_figures(smoke_runs):
    run_dir = smoke_runs.ok("engine-cnn").out
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["epoch_time_s"] > 0 and len(metrics["epoch_times_s"]) == 1
    assert metrics["n_train"] == 256 and metrics["n_test"] == 200
    assert "target" not in metrics and "target_met" not in metrics  # lessons.json judges
    cm = np.asarray(metrics["confusion_matrix"])
    assert cm.sum() == 200 and metrics["n_errors"] == 200 - np.trace(cm)
    assert metrics["n_errors"] == round(200 * (1 - metrics["test_accuracy"]))
    for pair in metrics["most_confused"]:
        assert cm[pair["true_index"], pair["predicted_index"]] == pair["count"]
    judged = json.loads((run_dir / "lessons.json").read_text())
    assert judged[0]["target"] == 0.96 and judged[0]["value"] == metrics["test_accuracy"]
    for name in ("learning_curves", "first_layer_filters", "first_layer_feature_maps",
                 "confusion_matrix"):
        assert (run_dir / "figures" / f"{name}.png").stat().st_size > 0
    with np.load(run_dir / "model.npz") as state:
        assert state["layers.0.weight"].shape == (6, 1, 5, 5)
    history = json.loads((run_dir / "history.json").read_text())
    assert history["epoch"] == [1]


def _metrics(*, best=0.981, final=0.974, confused=True) -> dict:
    return {"n_params": 51902, "test_accuracy": final, "dataset": "fabricated digits",
            "n_errors": 26, "n_test": 1000, "epochs": 15, "n_train": 4000,
            "epoch_time_s": 3.27, "train_time_s": 52.96, "best_test_accuracy": best,
            "best_epoch": 11, "train_accuracy": 0.9893,
            "most_confused": [{"true": "4", "predicted": "9", "count": 6, "true_index": 4,
                               "predicted_index": 9}] if confused else []}


def test_narrate_names_an_earlier_better_epoch_only_when_there_was_one():
    earlier = narrate(_metrics(best=0.981), EngineCNNConfig())
    last = narrate(_metrics(best=0.974), EngineCNNConfig())
    assert earlier.branches["earlier_epoch_better"] and not last.branches["earlier_epoch_better"]
    assert "0.9810" in str(earlier) and "epoch 11" in str(earlier)
    assert "epoch 11" not in str(last)


def test_narrate_takes_shift_and_dropout_from_the_config():
    plain = narrate(_metrics(), EngineCNNConfig(shift=0, dropout=0.0))
    augmented = narrate(_metrics(), EngineCNNConfig(shift=3, dropout=0.4))
    assert plain.branches == {"earlier_epoch_better": True, "shifted": False, "dropout": False}
    assert augmented.branches == {"earlier_epoch_better": True, "shifted": True, "dropout": True}
    plain, augmented = str(plain), str(augmented)
    assert " 0.4" in augmented and " 0.4" not in plain
    assert " 3 pixel" in augmented and " 3 pixel" not in plain


def test_narrate_writes_the_confusion_only_when_there_is_one():
    some = str(narrate(_metrics(confused=True), EngineCNNConfig()))
    none = str(narrate(_metrics(confused=False), EngineCNNConfig()))
    assert "(6 times)" in some and "(6 times)" not in none


def test_narrate_refuses_a_missing_metric():
    m = _metrics()
    del m["n_errors"]
    with pytest.raises(NarrationError):
        narrate(m, EngineCNNConfig())
