"""mlp-vs-cnn: shifts, the parameter match, the smoke run and its notes."""

from __future__ import annotations

import numpy as np
import pytest
from torch import nn

from stridelab.experiments.mlp_vs_cnn import (
    SHIFT_DIRECTIONS,
    MLPvsCNNConfig,
    matched_mlp_width,
    narrate,
    shift_images,
)
from stridelab.experiments.runner import run_experiment
from stridelab.programs.cnn_vs_mlp import count_parameters


def test_shift_images_moves_pixels_and_fills_zeros():
    X = np.arange(1, 10, dtype=np.uint8).reshape(1, 3, 3)
    np.testing.assert_array_equal(shift_images(X, 0, 1)[0],
                                  [[0, 1, 2], [0, 4, 5], [0, 7, 8]])
    np.testing.assert_array_equal(shift_images(X, -1, 0)[0],
                                  [[4, 5, 6], [7, 8, 9], [0, 0, 0]])
    np.testing.assert_array_equal(shift_images(X, 0, 0), X)


def test_shift_images_equals_roll_on_a_blank_border():
    rng = np.random.default_rng(0)
    X = np.zeros((2, 10, 10), dtype=np.uint8)
    X[:, 3:7, 3:7] = rng.integers(1, 255, size=(2, 4, 4))
    for dy, dx in SHIFT_DIRECTIONS:
        for s in (1, 2, 3):
            np.testing.assert_array_equal(shift_images(X, s * dy, s * dx),
                                          np.roll(X, (s * dy, s * dx), axis=(1, 2)))


def test_matched_mlp_width():
    # (784 + 1)·h + (h + 1)·10 = 795 h + 10
    assert matched_mlp_width(795 * 11 + 10) == 11
    assert matched_mlp_width(8778) == 11  # 8,745 + 10 = 8,755 is the nearest
    assert matched_mlp_width(5) == 1


def test_count_parameters():
    assert count_parameters(nn.Linear(784, 10)) == 7850


def test_mlp_vs_cnn_smoke_parameters_and_shifts(smoke_runs):
    result = smoke_runs.ok("mlp-vs-cnn")
    m = result.metrics
    # smoke CNN (4, 8): convs 1·4·9 + 4 = 40 and 4·8·9 + 8 = 296; 28 → 14 → 7, so the
    # dense layer maps 8·7·7 = 392 features to 10 classes: 3,930; total 4,266
    assert m["cnn_params"] == 40 + 296 + 3930
    assert m["cnn_conv_params"] == 336
    assert m["cnn_conv_positions"] == [28 * 28, 14 * 14]
    # MLP width round((4266 − 10) / 795) = 5: 785·5 + 6·10 = 3,985
    assert m["mlp_width"] == 5
    assert m["mlp_params"] == 3985
    assert m["shifts"] == [0, 1, 2] and m["max_shift"] == 2
    for key in ("mlp", "cnn"):
        acc = m[f"{key}_accuracy_by_shift"]
        assert len(acc) == 3
        assert all(0.0 <= a <= 1.0 for a in acc)
        assert acc[0] == m[f"{key}_test_accuracy"]
        assert m[f"{key}_accuracy_at_max_shift"] == acc[-1]
        assert m[f"{key}_drop_at_max_shift"] == pytest.approx(acc[0] - acc[-1])
    assert (result.out / "figures" / "accuracy_vs_shift.png").exists()
    assert [lesson["target_metric"] for lesson in result.lessons] == [
        "mlp_test_accuracy", "cnn_drop_at_max_shift"]


def test_a_shift_as_large_as_the_image_is_refused(tmp_path):
    result = run_experiment("mlp-vs-cnn", smoke=True, out=tmp_path, echo=False,
                            dataset="mnist-5k", overrides={"max_shift": "28"})
    assert result.status == "failed" and result.user_error and "28×28" in result.reason


# ---------------------------------------------------------------------------------------------
# narrate, from fabricated metrics

def _fake(*, cnn_acc=0.884, mlp_acc=0.807, cnn_drop=0.29, mlp_drop=0.538) -> dict:
    return {"dataset": "mnist-5k", "n_train": 2000, "n_test": 1000, "n_inputs": 784,
            "n_classes": 10, "mlp_width": 11, "mlp_params": 8755, "cnn_params": 8778,
            "cnn_conv_params": 5888, "cnn_conv_positions": [784, 196, 49], "max_shift": 3,
            "cnn_test_accuracy": cnn_acc, "mlp_test_accuracy": mlp_acc,
            "cnn_drop_at_max_shift": cnn_drop, "mlp_drop_at_max_shift": mlp_drop,
            "cnn_accuracy_at_max_shift": cnn_acc - cnn_drop,
            "mlp_accuracy_at_max_shift": mlp_acc - mlp_drop}


@pytest.mark.parametrize("metrics, branches", [
    (_fake(), {"cnn_better": True, "cnn_tolerates_shift": True, "cnn_loses_under_shift": True}),
    (_fake(cnn_acc=0.7, cnn_drop=0.6),
     {"cnn_better": False, "cnn_tolerates_shift": False, "cnn_loses_under_shift": True}),
    (_fake(cnn_drop=0.0),
     {"cnn_better": True, "cnn_tolerates_shift": True, "cnn_loses_under_shift": False}),
])
def test_narrate_takes_the_branches_the_numbers_decide(metrics, branches):
    notes = narrate(metrics, MLPvsCNNConfig())
    assert notes.branches == branches
    assert "0.538" in str(notes) and "5,888" in str(notes)
