"""Learning-dynamics studies: gd-1d, batch-size, mlp-vs-cnn."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from stridelab.experiments.dynamics import (
    FUNCTIONS,
    SHIFT_DIRECTIONS,
    classify_run,
    count_parameters,
    gradient_descent_1d,
    gradient_variance,
    matched_mlp_width,
    shift_images,
)
from stridelab.experiments.runner import run_experiment

# ---------------------------------------------------------------------------------------------
# gd-1d


def test_gradient_descent_on_quadratic_matches_hand_iterates():
    # f = x², f' = 2x: x ← x (1 − 2η); η = 0.4 gives factor 0.2, η = 1.05 gives −1.1
    xs = gradient_descent_1d(lambda x: 2 * x, 2.5, 0.4, 3)
    np.testing.assert_allclose(xs, [2.5, 0.5, 0.1, 0.02])
    xs = gradient_descent_1d(lambda x: 2 * x, 2.5, 1.05, 2)
    np.testing.assert_allclose(xs, [2.5, -2.75, 3.025])


def test_gradient_descent_stops_once_beyond_the_bound():
    xs = gradient_descent_1d(lambda x: 2 * x, 1.0, 10.0, 100, bound=1e3)
    # factor −19: 1, −19, 361, −6859 (> 1e3, stop)
    np.testing.assert_allclose(xs, [1.0, -19.0, 361.0, -6859.0])


def test_classify_run_verdicts():
    minima = (0.0,)
    assert classify_run(np.array([1.0, 0.5, 0.25, 1e-5]), minima) == "converged"
    assert classify_run(np.array([1.0, 0.9, 0.81, 0.729]), minima) == "slow"
    assert classify_run(np.array([1.0, -1.0, 1.0, -1.0, 1.0]), minima) == "oscillating"
    assert classify_run(np.array([1.0, -1.1, 1.21, -1.331, 1.4641]), minima) == "diverging"
    assert classify_run(np.array([1.0, np.inf]), minima) == "diverged"


def test_quartic_minima_are_stationary_with_positive_curvature():
    fn = FUNCTIONS["quartic"]
    assert len(fn.minima) == 2
    for m in fn.minima:
        assert abs(fn.df(m)) < 1e-9
        assert 12 * m**2 - 6 > 0
    # the left minimum is the global one: f(−1.3008) ≈ −3.514 < f(1.1309) ≈ −1.070
    assert fn.f(fn.minima[0]) == pytest.approx(-3.5139, abs=1e-3)
    assert fn.f(fn.minima[1]) == pytest.approx(-1.0702, abs=1e-3)


def test_gd_1d_run_shows_slow_good_and_too_large(tmp_path):
    result = run_experiment("gd-1d", quick=True, out=tmp_path, echo=False)
    assert result.status == "ok", result.reason
    m = result.metrics
    # x² from 2.5 with η = 0.05: 2.5 · 0.9^40
    assert m["quadratic_small_final_x"] == pytest.approx(2.5 * 0.9**40)
    assert m["quadratic_small_verdict"] == "slow"
    assert m["quadratic_good_verdict"] == "converged"
    assert m["quadratic_large_verdict"] == "diverging"
    assert abs(m["quadratic_large_final_x"]) == pytest.approx(2.5 * 1.1**40)
    assert m["quartic_good_verdict"] == "converged"
    assert m["quartic_good_final_x"] == pytest.approx(FUNCTIONS["quartic"].minima[0], abs=1e-3)
    assert m["quartic_large_verdict"] in ("oscillating", "diverging", "diverged")
    table = (result.out / "iterates.md").read_text()
    assert table.count("| k | x_k |") == 6  # one table per (function, η)
    for fig in ("gd_quartic", "gd_quadratic", "iterates"):
        assert (result.out / "figures" / f"{fig}.png").stat().st_size > 0
    notes = (result.out / "notes.md").read_text()
    assert "converged" in notes and "2 / f''" in notes


# ---------------------------------------------------------------------------------------------
# helpers of the torch studies


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


# ---------------------------------------------------------------------------------------------
# batch-size and mlp-vs-cnn, tiny


def test_batch_size_smoke_counts_updates_and_noise(tmp_path):
    result = run_experiment("batch-size", smoke=True, out=tmp_path, echo=False)
    assert result.status == "ok", result.reason
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
    assert m["online_test_accuracy"] == m["equal_epochs_b1_test_accuracy"]
    curves = json.loads((result.out / "curves.json").read_text())
    online = curves["equal epochs"]["1"]
    assert online["updates"][0] == 0 and online["updates"][-1] == 200
    assert online["seconds"] == sorted(online["seconds"])
    assert (result.out / "figures" / "loss_curves.png").exists()
    assert (result.out / "figures" / "gradient_noise.png").exists()
    assert "Advantage of online learning" in (result.out / "notes.md").read_text()


def test_mlp_vs_cnn_smoke_parameters_and_shifts(tmp_path):
    result = run_experiment("mlp-vs-cnn", smoke=True, out=tmp_path, echo=False)
    assert result.status == "ok", result.reason
    m = result.metrics
    # smoke CNN (4, 8): convs 1·4·9 + 4 = 40 and 4·8·9 + 8 = 296; 28 → 14 → 7, so the
    # dense layer maps 8·7·7 = 392 features to 10 classes: 3,930; total 4,266
    assert m["cnn_params"] == 40 + 296 + 3930
    assert m["cnn_conv_params"] == 336
    # MLP width round((4266 − 10) / 795) = 5: 785·5 + 6·10 = 3,985
    assert m["mlp_width"] == 5
    assert m["mlp_params"] == 3985
    assert m["shifts"] == [0, 1, 2]
    for key in ("mlp", "cnn"):
        acc = m[f"{key}_accuracy_by_shift"]
        assert len(acc) == 3
        assert all(0.0 <= a <= 1.0 for a in acc)
        assert acc[0] == m[f"{key}_test_accuracy"]
        assert m[f"{key}_drop_at_max_shift"] == pytest.approx(acc[0] - acc[-1])
    assert (result.out / "figures" / "accuracy_vs_shift.png").exists()
    assert "weight" in (result.out / "notes.md").read_text()


def test_count_parameters():
    assert count_parameters(nn.Linear(784, 10)) == 7850
