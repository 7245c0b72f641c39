"""Losses against PyTorch and by hand; optimizers step for step with torch.optim."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from core_helpers import check_op

from stridelab.core import (
    SGD,
    Adam,
    Tensor,
    binary_cross_entropy,
    cross_entropy,
    l2,
    mse,
    sse_half,
)

rng = np.random.default_rng(0)
Y_HAT, Y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
LOGITS = rng.standard_normal((5, 4)) * 3
LABELS = np.array([0, 3, 1, 1, 2])
SOFT = rng.dirichlet(np.ones(4), size=5)
PROBS = rng.uniform(0.05, 0.95, (6,))
BITS = np.array([0.0, 1.0, 1.0, 0.0, 1.0, 0.0])


def test_mse_and_sse_half_match_torch():
    check_op(lambda a: mse(a, Y), lambda a: TF.mse_loss(a, torch.tensor(Y)), Y_HAT)
    check_op(lambda a: sse_half(a, Y), lambda a: 0.5 * ((a - torch.tensor(Y)) ** 2).sum(), Y_HAT)


def test_mse_and_sse_half_by_hand():
    y_hat, y = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 1.0])
    assert mse(y_hat, y).item() == pytest.approx((1 + 0 + 9) / 3)
    assert sse_half(y_hat, y).item() == pytest.approx(5.0)
    t = Tensor(y_hat, requires_grad=True)
    sse_half(t, y).backward()
    np.testing.assert_array_equal(t.grad, y_hat - y)       # the reason for the ½


def test_cross_entropy_matches_torch_for_labels_and_soft_targets():
    check_op(lambda z: cross_entropy(z, LABELS),
             lambda z: TF.cross_entropy(z, torch.tensor(LABELS)), LOGITS)
    check_op(lambda z: cross_entropy(z, SOFT),
             lambda z: TF.cross_entropy(z, torch.tensor(SOFT)), LOGITS)


def test_cross_entropy_by_hand_and_stable():
    assert cross_entropy(np.zeros((1, 2)), np.array([0])).item() == pytest.approx(np.log(2))
    z = Tensor([[1000.0, 0.0], [0.0, 1000.0]], requires_grad=True)
    loss = cross_entropy(z, np.array([1, 1]))      # first row wrong by 1000, second right
    assert loss.item() == pytest.approx(500.0)
    loss.backward()
    np.testing.assert_allclose(z.grad, [[0.5, -0.5], [0.0, 0.0]], atol=1e-12)


def test_cross_entropy_rejects_bad_targets():
    with pytest.raises(ValueError, match=r"class indices y must lie in \[0, 4\)"):
        cross_entropy(LOGITS, np.array([0, 1, 2, 3, 4]))
    with pytest.raises(ValueError, match=r"y must be integer class indices of shape \(5,\)"):
        cross_entropy(LOGITS, np.zeros(3, dtype=int))


def test_binary_cross_entropy_matches_torch():
    check_op(lambda p: binary_cross_entropy(p, BITS),
             lambda p: TF.binary_cross_entropy(p, torch.tensor(BITS)), PROBS)
    z = rng.standard_normal(6) * 4
    check_op(lambda z: binary_cross_entropy(z, BITS, from_logits=True),
             lambda z: TF.binary_cross_entropy_with_logits(z, torch.tensor(BITS)), z)


def test_binary_cross_entropy_by_hand_and_stable_from_logits():
    assert binary_cross_entropy(np.array([0.5]), np.array([1.0])).item() == \
        pytest.approx(np.log(2))
    loss = binary_cross_entropy(np.array([800.0, -800.0]), np.array([0.0, 0.0]),
                                from_logits=True)
    assert loss.item() == pytest.approx(400.0)


def test_l2_penalty_by_hand():
    w1 = Tensor([1.0, 2.0], requires_grad=True)
    w2 = Tensor([[3.0]], requires_grad=True)
    penalty = l2([w1, w2], lam=0.1)
    assert penalty.item() == pytest.approx(0.05 * (1 + 4 + 9))
    penalty.backward()
    np.testing.assert_allclose(w1.grad, [0.1, 0.2])
    np.testing.assert_allclose(w2.grad, [[0.3]])


def test_sgd_momentum_by_hand():
    p = Tensor([1.0], requires_grad=True)
    opt = SGD([p], lr=0.1, momentum=0.9)
    for expected in (0.8, 0.46):          # loss p²: g = 2p; v = 0.9v + g; p -= 0.1v
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()
        assert p.data[0] == pytest.approx(expected)


def _run_both(make_ours, make_theirs, steps=6):
    w0 = rng.standard_normal((3, 2))
    X, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    ours, theirs = Tensor(w0.copy(), requires_grad=True), torch.tensor(w0, requires_grad=True)
    opt_ours, opt_theirs = make_ours([ours]), make_theirs([theirs])
    for _ in range(steps):
        opt_ours.zero_grad()
        mse(Tensor(X) @ ours, y).backward()
        opt_ours.step()
        opt_theirs.zero_grad()
        TF.mse_loss(torch.tensor(X) @ theirs, torch.tensor(y)).backward()
        opt_theirs.step()
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=0, atol=1e-12)


def test_sgd_steps_like_torch():
    _run_both(lambda p: SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
              lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01))


def test_adam_steps_like_torch():
    _run_both(lambda p: Adam(p, lr=0.05, betas=(0.8, 0.99), weight_decay=0.01),
              lambda p: torch.optim.Adam(p, lr=0.05, betas=(0.8, 0.99), weight_decay=0.01))


def test_optimizers_reject_bad_settings():
    p = Tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="lr must be > 0"):
        SGD([p], lr=0)
    with pytest.raises(ValueError, match="params is empty"):
        Adam([])
    with pytest.raises(ValueError, match="momentum must be in"):
        SGD([p], momentum=1.5)
