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


@pytest.mark.parametrize(
    "fn, kwargs, x_shape, match",
    [
        (F.max_pool2d, {"kernel_size": 3, "padding": 2, "dilation": 1}, (1, 1, 6, 6),
         r"at most half the kernel"),
        (F.max_pool2d, {"kernel_size": 2, "padding": 2, "dilation": 2}, (1, 1, 6, 6),
         r"at most half the kernel \(2, 2\)"),
        (F.max_pool3d, {"kernel_size": (2, 2)}, (1, 1, 4, 4, 4),
         r"max_pool3d: kernel_size must be an int or a triple"),
        (F.avg_pool1d, {"kernel_size": 2}, (1, 4, 4, 4), r"avg_pool1d: x must have shape \(N, C, L\)"),
        (F.max_pool1d, {"kernel_size": 5}, (1, 1, 4), r"max_pool1d: the kernel \(5,\) spans 5"),
    ],
)
def test_pooling_in_any_dims_rejects_bad_input(fn, kwargs, x_shape, match):
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


# ---------------------------------------------------------------------- PyTorch's options

_MAX = {1: (F.max_pool1d, TF.max_pool1d), 2: (F.max_pool2d, TF.max_pool2d),
        3: (F.max_pool3d, TF.max_pool3d)}
_AVG = {1: (F.avg_pool1d, TF.avg_pool1d), 2: (F.avg_pool2d, TF.avg_pool2d),
        3: (F.avg_pool3d, TF.avg_pool3d)}
_UNPOOL = {1: (F.max_unpool1d, TF.max_unpool1d), 2: (F.max_unpool2d, TF.max_unpool2d),
           3: (F.max_unpool3d, TF.max_unpool3d)}


@st.composite
def torch_pool_cases(draw, d, kind):
    """Arguments PyTorch accepts: symmetric padding of at most half the kernel."""
    k = tuple(draw(st.integers(1, 3)) for _ in range(d))
    s = tuple(draw(st.integers(1, 3)) for _ in range(d))
    dl = tuple(draw(st.integers(1, 2)) for _ in range(d)) if kind == "max" else (1,) * d
    p = tuple(draw(st.integers(0, ki // 2)) for ki in k)
    # at least one dilated kernel long, so that every window reads some of the input
    size = tuple(draw(st.integers(di * (ki - 1) + 1, 6)) for ki, di in zip(k, dl))
    kwargs = dict(kernel_size=k, stride=s, padding=p, ceil_mode=draw(st.booleans()))
    if kind == "max":
        kwargs["dilation"] = dl
    else:
        kwargs["count_include_pad"] = draw(st.booleans())
    return dict(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 2)), *size), kwargs=kwargs,
                seed=draw(st.integers(0, 2**16)))


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("d", [1, 2, 3])
@settings(max_examples=30, deadline=None, derandomize=True)
@given(data=st.data())
def test_pooling_options_match_torch_and_gradcheck(d, kind, data):
    c = data.draw(torch_pool_cases(d, kind))
    size = int(np.prod(c["shape"]))
    x = np.random.default_rng(c["seed"]).permutation(size).reshape(c["shape"]) / size
    ours, theirs = (_MAX if kind == "max" else _AVG)[d]
    check_op(lambda x: ours(x, **c["kwargs"]), lambda x: theirs(x, **c["kwargs"]), x)


@pytest.mark.parametrize("d", [1, 2, 3])
@settings(max_examples=20, deadline=None, derandomize=True)
@given(data=st.data())
def test_return_indices_and_max_unpool_match_torch(d, data):
    c = data.draw(torch_pool_cases(d, "max"))
    size = int(np.prod(c["shape"]))
    x = np.random.default_rng(c["seed"]).permutation(size).reshape(c["shape"]) / size
    pool, torch_pool = _MAX[d]
    out, idx = pool(x, **c["kwargs"], return_indices=True)
    expected, expected_idx = torch_pool(torch.tensor(x), **c["kwargs"], return_indices=True)
    np.testing.assert_array_equal(out.data, expected.numpy())
    np.testing.assert_array_equal(idx, expected_idx.numpy())
    assert idx.dtype == np.int64
    # Unpooling with the pooling's own arguments (dilation and ceil_mode are not among them)
    # puts each maximum back; the gradient of a value is the gradient at its place.
    unpool, torch_unpool = _UNPOOL[d]
    args = {k: c["kwargs"][k] for k in ("kernel_size", "stride", "padding")}
    default = [(o - 1) * s - 2 * p + k for o, s, p, k in
               zip(out.shape[2:], args["stride"], args["padding"], args["kernel_size"])]
    if min(default) < 1 or any(m <= n - s for m, n, s in zip(default, x.shape[2:],
                                                             args["stride"])):
        return                      # PyTorch cannot place these indices back either
    kw = dict(args, output_size=x.shape[2:])
    # Overlapping windows that share a maximum write it twice; the later write wins, so the
    # earlier value has no effect that finite differences could see (PyTorch's gradient, as
    # the engine's, still gathers at both).
    flat = idx.reshape(idx.shape[0] * idx.shape[1], -1)
    unique = all(len(set(row)) == len(row) for row in flat.tolist())
    check_op(lambda v: unpool(v, idx, **kw),
             lambda v: torch_unpool(v, torch.from_numpy(idx), **kw), out.data,
             grad_check=unique)


def test_ceil_mode_and_count_include_pad_hand_computed():
    # 1 2 3 4 5, kernel 2, stride 2, padding 1: windows [pad, 1] [2, 3] [4, 5]; ceil_mode adds
    # none (a window would start in the end padding). Kernel 2, stride 2 without padding:
    # [1, 2] [3, 4], and ceil_mode adds the partial window [5].
    x = np.array([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    np.testing.assert_array_equal(F.avg_pool1d(x, 2, padding=1).data, [[[0.5, 2.5, 4.5]]])
    np.testing.assert_array_equal(F.avg_pool1d(x, 2, padding=1, count_include_pad=False).data,
                                  [[[1.0, 2.5, 4.5]]])
    np.testing.assert_array_equal(F.avg_pool1d(x, 2, padding=1, ceil_mode=True).data,
                                  [[[0.5, 2.5, 4.5]]])
    np.testing.assert_array_equal(F.avg_pool1d(x, 2, ceil_mode=True).data, [[[1.5, 3.5, 5.0]]])
    np.testing.assert_array_equal(F.max_pool1d(x, 2, ceil_mode=True).data, [[[2.0, 4.0, 5.0]]])
    # dilation 2: taps two apart, windows {1, 3} {2, 4} {3, 5}
    np.testing.assert_array_equal(F.max_pool1d(-x, 2, stride=1, dilation=2).data,
                                  [[[-1.0, -2.0, -3.0]]])


def test_max_unpool_puts_values_back_and_routes_gradients():
    x = Tensor(np.array([[[[1.0, 5.0], [3.0, 2.0]]]]), requires_grad=True)
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(idx, [[[[1]]]])
    y = F.max_unpool2d(out, idx, 2)
    np.testing.assert_array_equal(y.data, [[[[0.0, 5.0], [0.0, 0.0]]]])
    y.backward(np.arange(4.0).reshape(1, 1, 2, 2))
    np.testing.assert_array_equal(x.grad, [[[[0.0, 1.0], [0.0, 0.0]]]])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"indices": np.zeros((1, 1, 2, 2), dtype=np.int64) + 16}, r"indices must lie in \[0, 16\)"),
        ({"indices": np.zeros((1, 1, 2, 2))}, r"indices must be an integer array"),
        ({"indices": np.zeros((1, 1, 2, 1), dtype=np.int64)}, r"indices must be .* shape"),
        ({"output_size": (9, 9)}, r"output_size must give 2 sizes, each within stride of the "
                                  r"default \(4, 4\)"),
    ],
)
def test_max_unpool_rejects_bad_input(kwargs, match):
    args = {"indices": np.zeros((1, 1, 2, 2), dtype=np.int64), **kwargs}
    with pytest.raises(ValueError, match=match):
        F.max_unpool2d(np.ones((1, 1, 2, 2)), kernel_size=2, **args)


# ---------------------------------------------------------------------- integer inputs


def _torch_takes(fn, x):
    try:
        return fn(torch.from_numpy(x)).numpy()
    except (NotImplementedError, RuntimeError):
        return None


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_])
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("kind", ["max", "max-indices", "avg"])
def test_integer_inputs_are_taken_as_torch_takes_them(kind, d, dtype):
    x = (np.arange(3 * 4**d).reshape(1, 3, *(4,) * d) * 7 % 11 - 5).astype(dtype)
    pool, torch_pool = (_MAX if kind.startswith("max") else _AVG)[d]
    kwargs = dict(kernel_size=2, padding=1) if kind == "avg" else dict(kernel_size=3, padding=1)
    if kind == "max-indices":
        ours = lambda x: pool(x, return_indices=True, **kwargs)[0]
        theirs = lambda t: torch_pool(t, return_indices=True, **kwargs)[0]
    else:
        ours, theirs = (lambda x: pool(x, **kwargs)), (lambda t: torch_pool(t, **kwargs))
    expected = _torch_takes(theirs, x)
    if kind == "max" and d == 1 and dtype != np.bool_:
        # PyTorch's max_pool1d has no integer kernel unless return_indices=True (then it runs
        # max_pool2d's); the engine takes integers the same way either way.
        assert expected is None
        expected = _torch_takes(lambda t: torch_pool(t, return_indices=True, **kwargs)[0], x)
    if expected is None:
        with pytest.raises(ValueError, match=r"(boolean|dtype)") as err:
            ours(x)
        assert len(str(err.value).splitlines()) == 1
    else:
        got = ours(x).data
        assert got.dtype == np.float64               # the engine's Tensor holds floats
        np.testing.assert_array_equal(got, expected)


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
