"""Pooling, upsampling, dropout and flatten."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from core_helpers import check_op, tf_same
from hypothesis import given, settings
from hypothesis import strategies as st

from stridelab.core import Tensor
from stridelab.core import functional as F


def test_max_and_avg_pool_hand_computed():
    x = Tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    out = F.max_pool2d(x, 2)
    np.testing.assert_array_equal(out.data[0, 0], [[5, 7], [13, 15]])
    out.sum().backward()
    expected = np.zeros((4, 4))
    expected[[1, 1, 3, 3], [1, 3, 1, 3]] = 1
    np.testing.assert_array_equal(x.grad[0, 0], expected)

    x.zero_grad()
    out = F.avg_pool2d(x, 2)
    np.testing.assert_array_equal(out.data[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], np.full((4, 4), 0.25))


def test_overlapping_max_pool_routes_gradient_to_each_window_winner():
    # Windows of width 2, stride 1, over [1, 3, 2, 0]: the 3 wins two windows, the 2 one.
    x = Tensor(np.array([[[[1.0, 3.0, 2.0, 0.0]]]]), requires_grad=True)
    out = F.max_pool2d(x, (1, 2), stride=1)
    np.testing.assert_array_equal(out.data, [[[[3.0, 3.0, 2.0]]]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [[[[0.0, 2.0, 1.0, 0.0]]]])


@st.composite
def pool_cases(draw):
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    form = draw(st.sampled_from(["int", "pair", "explicit", "valid", "same"]))
    half = min(k) // 2
    p = st.integers(0, half)
    value = {"int": draw(p),
             "pair": (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[1] // 2))),
             "explicit": (draw(st.integers(0, k[0] // 2)), draw(st.integers(0, k[0] // 2)),
                          draw(st.integers(0, k[1] // 2)), draw(st.integers(0, k[1] // 2)))
             }.get(form, form)
    H = draw(st.integers(k[0], k[0] + 5))
    W = draw(st.integers(k[1], k[1] + 5))
    return dict(N=draw(st.integers(1, 2)), C=draw(st.integers(1, 3)), H=H, W=W, k=k, s=s,
                form=form, padding=value, seed=draw(st.integers(0, 2**16)))


def _pads(c):
    form, v = c["form"], c["padding"]
    if form == "valid":
        return (0, 0, 0, 0)
    if form == "same":
        return (*tf_same(c["H"], c["k"][0], c["s"][0], 1),
                *tf_same(c["W"], c["k"][1], c["s"][1], 1))
    if form == "int":
        return (v,) * 4
    if form == "pair":
        return (v[0], v[0], v[1], v[1])
    return v


@settings(max_examples=40, deadline=None, derandomize=True)
@given(pool_cases(), st.sampled_from(["max", "avg"]))
def test_pooling_matches_torch_and_gradcheck(c, kind):
    # Distinct values: a tie inside a max window has no unique gradient.
    rng = np.random.default_rng(c["seed"])
    size = c["N"] * c["C"] * c["H"] * c["W"]
    x = rng.permutation(size).reshape(c["N"], c["C"], c["H"], c["W"]) / size
    top, bottom, left, right = _pads(c)
    ours_fn = F.max_pool2d if kind == "max" else F.avg_pool2d
    theirs_fn = TF.max_pool2d if kind == "max" else TF.avg_pool2d
    fill = -np.inf if kind == "max" else 0.0
    check_op(lambda x: ours_fn(x, c["k"], c["s"], c["padding"]),
             lambda x: theirs_fn(TF.pad(x, (left, right, top, bottom), value=fill),
                                 c["k"], c["s"]),
             x)


def test_pool_stride_defaults_to_the_kernel():
    out = F.max_pool2d(np.zeros((1, 1, 6, 6)), 3)
    assert out.shape == (1, 1, 2, 2)


@pytest.mark.parametrize(
    "fn, kwargs, x_shape, match",
    [
        (F.max_pool2d, {"kernel_size": 3, "padding": 2}, (1, 1, 6, 6), r"padding .* half"),
        (F.avg_pool2d, {"kernel_size": 5}, (1, 1, 4, 4), r"kernel \(5, 5\).*padded input 4x4"),
        (F.max_pool2d, {"kernel_size": 0}, (1, 1, 4, 4), r"kernel_size must be >= 1"),
        (F.max_pool2d, {"kernel_size": 2, "stride": 0}, (1, 1, 4, 4), r"stride must be >= 1"),
        (F.avg_pool2d, {"kernel_size": 2}, (1, 4, 4), r"x must have shape \(N, C, H, W\)"),
    ],
)
def test_pooling_rejects_bad_input(fn, kwargs, x_shape, match):
    with pytest.raises(ValueError, match=match):
        fn(np.zeros(x_shape), **kwargs)


def test_average_pooling_rejects_nan():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 2] = np.nan
    with pytest.raises(ValueError, match=r"x contains NaN or Inf \(x shape \(1, 1, 4, 4\)\)"):
        F.avg_pool2d(x, 2)


def test_max_pooling_takes_nan_and_inf_as_torch_does():
    # A NaN is the maximum of its window; +inf and -inf are values like any other.
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1], x[0, 0, 1, 2], x[0, 0, 3, 3] = np.nan, np.inf, -np.inf
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    expected, expected_idx = TF.max_pool2d(torch.tensor(x), 2, return_indices=True)
    np.testing.assert_array_equal(out.data, expected.numpy())
    np.testing.assert_array_equal(idx, expected_idx.numpy())


@pytest.mark.parametrize("scale", [2, (1, 3)])
def test_upsample_matches_torch(scale):
    x = np.random.default_rng(0).standard_normal((2, 2, 3, 4))
    factor = scale if isinstance(scale, tuple) else (scale, scale)
    check_op(lambda x: F.upsample(x, scale),
             lambda x: TF.interpolate(x, scale_factor=factor, mode="nearest"), x)


def test_upsample_hand_computed():
    x = Tensor(np.array([[[[1.0, 2.0]]]]), requires_grad=True)
    out = F.upsample(x, 2)
    np.testing.assert_array_equal(out.data, [[[[1, 1, 2, 2], [1, 1, 2, 2]]]])
    out.backward(np.arange(8.0).reshape(1, 1, 2, 4))
    np.testing.assert_array_equal(x.grad, [[[[0 + 1 + 4 + 5, 2 + 3 + 6 + 7]]]])


def test_dropout_scales_kept_values_and_is_identity_in_eval():
    x = Tensor(np.ones((200, 50)), requires_grad=True)
    out = F.dropout(x, p=0.2, rng=0)
    kept = out.data != 0
    assert 0.75 < kept.mean() < 0.85
    np.testing.assert_allclose(out.data[kept], 1 / 0.8)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, out.data)        # d(x·mask)/dx = mask
    assert F.dropout(x, p=0.2, training=False) is x
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        F.dropout(x, p=1.0)


def test_flatten():
    x = Tensor(np.arange(24.0).reshape(2, 3, 2, 2), requires_grad=True)
    out = F.flatten(x)
    assert out.shape == (2, 12)
    out.backward(np.ones((2, 12)))
    np.testing.assert_array_equal(x.grad, np.ones((2, 3, 2, 2)))
