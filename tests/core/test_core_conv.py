"""conv2d / conv1d: hand-computed cases, PyTorch and gradcheck properties, the loop reference."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from core_helpers import check_op, tf_same
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stridelab.core import Tensor, _window, parallel
from stridelab.core import functional as F
from stridelab.core.reference import (
    conv2d_backward_reference,
    conv2d_reference,
    conv_transpose2d_reference,
)

PROPERTY = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------- hand-computed


def test_conv2d_hand_computed_forward_and_backward():
    # x[i, j] = 4i + j; w = [[1, 0], [0, -1]] gives x[i, j] - x[i+1, j+1] = -5 everywhere.
    x = Tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    w = Tensor(np.array([[[[1.0, 0.0], [0.0, -1.0]]]]), requires_grad=True)
    b = Tensor(np.array([0.5]), requires_grad=True)
    out = F.conv2d(x, w, b)
    np.testing.assert_array_equal(out.data, np.full((1, 1, 3, 3), -4.5))

    out.sum().backward()
    # dW[a, b] = Σ_{i,j<3} x[i+a, j+b] = 45 + 9·(4a + b).
    np.testing.assert_array_equal(w.grad[0, 0], [[45.0, 54.0], [81.0, 90.0]])
    # dX[p, q] = +1 where tap (0,0) reads it (p, q < 3) and −1 where tap (1,1) does (p, q ≥ 1).
    expected_dx = [[1, 1, 1, 0], [1, 0, 0, -1], [1, 0, 0, -1], [0, -1, -1, -1]]
    np.testing.assert_array_equal(x.grad[0, 0], expected_dx)
    np.testing.assert_array_equal(b.grad, [9.0])


def test_conv2d_stride_and_padding_hand_computed():
    # A 3x3 input of ones, a 3x3 kernel of ones, padding 1, stride 2: the four outputs sit on
    # the corners, each window sees 2x2 ones.
    out = F.conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), stride=2, padding=1)
    np.testing.assert_array_equal(out.data, [[[[4.0, 4.0], [4.0, 4.0]]]])


def test_conv1d_hand_computed():
    # Moving difference: out[i] = x[i+1] − x[i].
    x = Tensor(np.array([[[1.0, 4.0, 9.0, 16.0]]]), requires_grad=True)
    out = F.conv1d(x, np.array([[[-1.0, 1.0]]]))
    np.testing.assert_array_equal(out.data, [[[3.0, 5.0, 7.0]]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [[[-1.0, 0.0, 0.0, 1.0]]])


@pytest.mark.parametrize(
    "n, k, s, d, expected",
    [
        (28, 5, 2, 1, (1, 2)),   # out 14: 13·2 + 5 − 28 = 3, extra at the bottom
        (14, 4, 1, 1, (1, 2)),   # even kernel: 3, extra at the bottom
        (14, 3, 1, 1, (1, 1)),
        (7, 3, 2, 1, (1, 1)),    # out 4: 3·2 + 3 − 7 = 2
        (10, 3, 1, 2, (2, 2)),   # dilated span 5: 4
        (6, 2, 2, 1, (0, 0)),    # out 3: 2·2 + 2 − 6 = 0
        (5, 1, 3, 1, (0, 0)),    # out 2: 3 + 1 − 5 < 0
    ],
)
def test_same_padding_follows_the_tensorflow_rule(n, k, s, d, expected):
    assert F.same_padding(n, k, s, d) == expected
    out = F.conv2d(np.zeros((1, 1, n, n)), np.zeros((1, 1, k, k)), stride=s, dilation=d,
                   padding="same")
    assert out.shape[2:] == (-(-n // s),) * 2


def test_same_padding_puts_the_extra_row_at_the_bottom():
    # Even kernel 2 on a 3x3 input at stride 1: total padding 1, all of it bottom/right, so the
    # output's last row/column reads the padding zeros.
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    out = F.conv2d(x, np.ones((1, 1, 2, 2)), padding="same")
    np.testing.assert_array_equal(out.data[0, 0], [[12, 16, 9], [24, 28, 15], [15, 17, 9]])


def test_mode_convolve_flips_the_kernel():
    x = np.array([[[0.0, 1.0, 0.0, 0.0]]])
    w = np.array([[[1.0, 2.0, 3.0]]])
    # Correlating an impulse reads the kernel backwards; convolving reads it forwards.
    np.testing.assert_array_equal(F.conv1d(x, w, padding=2).data, [[[0, 3, 2, 1, 0, 0]]])
    np.testing.assert_array_equal(F.conv1d(x, w, padding=2, mode="convolve").data,
                                  [[[0, 1, 2, 3, 0, 0]]])


# ---------------------------------------------------------------------- PyTorch properties


def _explicit_padding(form, value, H, W, k, s, d):
    if form == "valid":
        return (0, 0, 0, 0)
    if form == "same":
        return (*tf_same(H, k[0], s[0], d[0]), *tf_same(W, k[1], s[1], d[1]))
    if form == "int":
        return (value,) * 4
    if form == "pair":
        return (value[0], value[0], value[1], value[1])
    return value


@st.composite
def conv2d_cases(draw):
    if draw(st.booleans()):                                 # depthwise: one group per channel
        C = G = draw(st.integers(1, 3))
        F_ = C * draw(st.integers(1, 2))
    else:
        G = draw(st.integers(1, 2))
        C, F_ = G * draw(st.integers(1, 2)), G * draw(st.integers(1, 2))
    k = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    form = draw(st.sampled_from(["int", "pair", "explicit", "valid", "same"]))
    p = st.integers(0, 2)
    value = {"int": draw(p), "pair": (draw(p), draw(p)),
             "explicit": (draw(p), draw(p), draw(p), draw(p))}.get(form)
    fixed = _explicit_padding(form, value, 0, 0, k, s, d) if form != "same" else (0,) * 4
    span = [d[i] * (k[i] - 1) + 1 for i in range(2)]
    H = draw(st.integers(max(1, span[0] - fixed[0] - fixed[1]), span[0] + 3))
    W = draw(st.integers(max(1, span[1] - fixed[2] - fixed[3]), span[1] + 3))
    padding = form if form in ("valid", "same") else value
    return dict(N=draw(st.integers(1, 2)), C=C, F=F_, G=G, H=H, W=W, k=k, s=s, d=d, form=form,
                padding=padding, bias=draw(st.booleans()), seed=draw(st.integers(0, 2**16)))


@PROPERTY
@given(conv2d_cases())
def test_conv2d_matches_torch_and_gradcheck(case):
    c = case
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["N"], c["C"], c["H"], c["W"]))
    w = rng.standard_normal((c["F"], c["C"] // c["G"], *c["k"]))
    arrays = [x, w] + ([rng.standard_normal(c["F"])] if c["bias"] else [])
    pads = _explicit_padding(c["form"], c["padding"], c["H"], c["W"], c["k"], c["s"], c["d"])

    def ours(x, w, b=None):
        return F.conv2d(x, w, b, stride=c["s"], padding=c["padding"], dilation=c["d"],
                        groups=c["G"])

    def theirs(x, w, b=None):
        if c["form"] in ("int", "pair"):                    # torch pads symmetric forms itself
            return TF.conv2d(x, w, b, stride=c["s"], padding=c["padding"], dilation=c["d"],
                             groups=c["G"])
        x = TF.pad(x, (pads[2], pads[3], pads[0], pads[1]))
        return TF.conv2d(x, w, b, stride=c["s"], dilation=c["d"], groups=c["G"])

    check_op(ours, theirs, *arrays)


@st.composite
def conv1d_cases(draw):
    G = draw(st.integers(1, 3))
    C, F_ = G * draw(st.integers(1, 2)), G * draw(st.integers(1, 2))
    k, s, d = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
    form = draw(st.sampled_from(["int", "pair", "valid", "same"]))
    p = st.integers(0, 3)
    padding = {"int": draw(p), "pair": (draw(p), draw(p))}.get(form, form)
    fixed = {"int": 2 * padding if form == "int" else 0,
             "pair": sum(padding) if form == "pair" else 0}.get(form, 0)
    span = d * (k - 1) + 1
    L = draw(st.integers(max(1, span - fixed), span + 6))
    return dict(N=draw(st.integers(1, 3)), C=C, F=F_, G=G, L=L, k=k, s=s, d=d, form=form,
                padding=padding, seed=draw(st.integers(0, 2**16)))


@PROPERTY
@given(conv1d_cases())
def test_conv1d_matches_torch_and_gradcheck(case):
    c = case
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["N"], c["C"], c["L"]))
    w = rng.standard_normal((c["F"], c["C"] // c["G"], c["k"]))
    b = rng.standard_normal(c["F"])
    left, right = {"valid": (0, 0), "same": tf_same(c["L"], c["k"], c["s"], c["d"]),
                   "int": (c["padding"],) * 2, "pair": c["padding"]}[c["form"]]

    def ours(x, w, b):
        return F.conv1d(x, w, b, stride=c["s"], padding=c["padding"], dilation=c["d"],
                        groups=c["G"])

    def theirs(x, w, b):
        return TF.conv1d(TF.pad(x, (left, right)), w, b, stride=c["s"], dilation=c["d"],
                         groups=c["G"])

    check_op(ours, theirs, x, w, b)


@pytest.mark.parametrize("stride, padding", [(1, 1), (2, "same"), (1, (0, 1, 2, 0))])
def test_conv2d_mode_convolve_matches_torch_with_flipped_kernel(stride, padding):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 2, 6, 5)), rng.standard_normal((3, 2, 3, 2))
    pads = padding if isinstance(padding, tuple) else (
        (padding,) * 4 if isinstance(padding, int)
        else (*tf_same(6, 3, stride, 1), *tf_same(5, 2, stride, 1)))
    check_op(lambda x, w: F.conv2d(x, w, stride=stride, padding=padding, mode="convolve"),
             lambda x, w: TF.conv2d(TF.pad(x, (pads[2], pads[3], pads[0], pads[1])),
                                    w.flip(-2, -1), stride=stride),
             x, w)


def test_conv2d_float32_stays_float32_and_agrees_with_float64():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 3, 8, 8)), rng.standard_normal((4, 3, 3, 3))
    x32, w32 = Tensor(x.astype(np.float32), True), Tensor(w.astype(np.float32), True)
    out = F.conv2d(x32, w32, padding="same")
    out.sum().backward()
    assert out.dtype == x32.grad.dtype == w32.grad.dtype == np.float32
    np.testing.assert_allclose(out.data, F.conv2d(x, w, padding="same").data, atol=1e-4)


# ---------------------------------------------------------------------- loop reference


@pytest.mark.parametrize(
    "N, C, H, W, F_, k, stride, padding, dilation, groups",
    [
        (1, 1, 5, 5, 1, 3, 1, 0, 1, 1),
        (2, 2, 6, 7, 3, 2, 2, (1, 0, 2, 1), 1, 1),
        (1, 4, 7, 6, 4, 3, 2, 1, 2, 4),          # depthwise, dilated, strided
        (2, 4, 5, 5, 2, 3, 3, 2, 1, 2),          # trailing rows no window reaches
        # stride 1: padding beyond the kernel's reach, asymmetric, grouped and dilated, and
        # a 1x1 depthwise kernel
        (2, 2, 4, 5, 3, 2, 1, (3, 0, 1, 4), 1, 1),
        (1, 4, 6, 6, 6, 3, 1, (0, 2, 1, 0), 2, 2),
        (2, 3, 5, 4, 3, 1, 1, 2, 1, 3),
    ],
)
def test_fast_path_matches_the_loop_reference(N, C, H, W, F_, k, stride, padding, dilation,
                                              groups):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F_, C // groups, k, k))
    b = rng.standard_normal(F_)
    X, Wt, B = Tensor(x, True), Tensor(w, True), Tensor(b, True)
    out = F.conv2d(X, Wt, B, stride=stride, padding=padding, dilation=dilation, groups=groups)
    np.testing.assert_allclose(out.data, conv2d_reference(x, w, b, stride, padding, dilation,
                                                          groups), atol=1e-12)
    dz = rng.standard_normal(out.shape)
    out.backward(dz)
    dx, dw, db = conv2d_backward_reference(x, w, dz, stride, padding, dilation, groups)
    np.testing.assert_allclose(X.grad, dx, atol=1e-12)
    np.testing.assert_allclose(Wt.grad, dw, atol=1e-12)
    np.testing.assert_allclose(B.grad, db, atol=1e-12)


@pytest.mark.parametrize("stride, dilation", [(1, 1), (2, 1), (1, 2), (3, 2)])
def test_backward_is_made_of_convolutions(stride, dilation):
    """dW = x correlated with dZ; dX = dZ (spread by the stride) fully convolved with W."""
    rng = np.random.default_rng(4)
    N, C, H, W, F_, K = 2, 3, 9, 8, 4, 3
    x, w = rng.standard_normal((N, C, H, W)), rng.standard_normal((F_, C, K, K))
    X, Wt = Tensor(x, True), Tensor(w, True)
    out = F.conv2d(X, Wt, stride=stride, dilation=dilation)
    dz = rng.standard_normal(out.shape)
    out.backward(dz)

    # dW: dZ is the kernel (taps `stride` apart), sliding `dilation` at a time over x;
    # batch plays the channel axis. Extra trailing taps (rows no window read) are cropped.
    dw = F.conv2d(x.transpose(1, 0, 2, 3), dz.transpose(1, 0, 2, 3), stride=dilation,
                  dilation=stride).data                     # (C, F, ≥K, ≥K)
    np.testing.assert_allclose(Wt.grad, dw[:, :, :K, :K].transpose(1, 0, 2, 3), atol=1e-12)

    # dX: full convolution (mode="convolve") of the spread dZ with W, channels exchanged.
    OH, OW = dz.shape[2:]
    spread = np.zeros((N, F_, (OH - 1) * stride + 1, (OW - 1) * stride + 1))
    spread[:, :, ::stride, ::stride] = dz
    reach = dilation * (K - 1)
    dx = F.conv2d(spread, w.transpose(1, 0, 2, 3), padding=reach, dilation=dilation,
                  mode="convolve").data                     # (N, C, rows read, cols read)
    expected = np.zeros((N, C, H, W))
    expected[:, :, :dx.shape[2], :dx.shape[3]] = dx
    np.testing.assert_allclose(X.grad, expected, atol=1e-12)

    # ... which is the transposed convolution of dZ with W (4.1.2's "which operation?"), the
    # output padding giving back the rows and columns that no window reached.
    extra = [(n - dilation * (K - 1) - 1) % stride for n in (H, W)]
    np.testing.assert_allclose(X.grad, F.conv_transpose2d(dz, w, stride=stride,
                                                          output_padding=extra,
                                                          dilation=dilation).data, atol=1e-12)


# ---------------------------------------------------------------------- transposed convolution


def test_conv_transpose_hand_computed():
    # Each input pixel stamps the kernel, scaled by its value, stride 2 apart; overlaps add.
    x = Tensor(np.array([[[1.0, 10.0]]]), requires_grad=True)
    w = Tensor(np.array([[[1.0, 2.0, 3.0]]]), requires_grad=True)
    y = F.conv_transpose1d(x, w, stride=2)
    np.testing.assert_array_equal(y.data, [[[1, 2, 3 + 10, 20, 30]]])
    y.backward(np.array([[[1.0, 0.0, 0.0, 0.0, 1.0]]]))
    # dJ/dx[i] = Σ_a w[a]·g[2i + a]: the convolution of g with w, stride 2
    np.testing.assert_array_equal(x.grad, [[[1.0, 3.0]]])
    # dJ/dw[a] = Σ_i x[i]·g[2i + a]: g correlated with x
    np.testing.assert_array_equal(w.grad, [[[1.0, 0.0, 10.0]]])
    # padding crops the output; output_padding adds a position at the end
    np.testing.assert_array_equal(F.conv_transpose1d(x, w, stride=2, padding=1).data,
                                  [[[2, 13, 20]]])
    np.testing.assert_array_equal(F.conv_transpose1d(x, w, stride=2, output_padding=1).data,
                                  [[[1, 2, 13, 20, 30, 0]]])


@st.composite
def conv_transpose_cases(draw, d):
    G = draw(st.integers(1, 2))
    C, F_ = G * draw(st.integers(1, 2)), G * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(d))
    s = tuple(draw(st.integers(1, 3)) for _ in range(d))
    dl = tuple(draw(st.integers(1, 2)) for _ in range(d))
    size = tuple(draw(st.integers(1, 4)) for _ in range(d))
    # PyTorch's padding is symmetric and may crop up to the whole output but one position
    full = [(n - 1) * si + di * (ki - 1) + 1 for n, si, di, ki in zip(size, s, dl, k)]
    p = tuple(draw(st.integers(0, max(0, (f - 1) // 2))) for f in full)
    op = tuple(draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, dl))
    return dict(N=draw(st.integers(1, 2)), C=C, F=F_, G=G, size=size, k=k, s=s, d=dl, p=p,
                op=op, bias=draw(st.booleans()), seed=draw(st.integers(0, 2**16)))


@pytest.mark.parametrize("d", [1, 2, 3])
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_conv_transpose_matches_torch_and_gradcheck(d, data):
    c = data.draw(conv_transpose_cases(d))
    rng = np.random.default_rng(c["seed"])
    arrays = [rng.standard_normal((c["N"], c["C"], *c["size"])),
              rng.standard_normal((c["C"], c["F"] // c["G"], *c["k"]))]
    arrays += [rng.standard_normal(c["F"])] if c["bias"] else []
    ours = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[d]
    theirs = {1: TF.conv_transpose1d, 2: TF.conv_transpose2d, 3: TF.conv_transpose3d}[d]
    kwargs = dict(stride=c["s"], padding=c["p"], output_padding=c["op"], groups=c["G"],
                  dilation=c["d"])
    check_op(lambda x, w, b=None: ours(x, w, b, **kwargs),
             lambda x, w, b=None: theirs(x, w, b, **kwargs), *arrays)


@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs",
    [
        ((2, 3, 4, 5), (3, 2, 3, 3), {}),
        ((1, 2, 3, 4), (2, 3, 2, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
        ((2, 4, 3, 3), (4, 1, 3, 2), {"stride": (2, 1), "groups": 2, "dilation": (1, 2)}),
        ((1, 2, 4, 3), (2, 2, 3, 3), {"stride": 3, "padding": (1, 2), "output_padding": (2, 0)}),
        ((2, 2, 3, 3), (2, 1, 2, 2), {"dilation": 3, "output_padding": 2}),  # op >= stride
    ],
)
def test_conv_transpose_matches_the_loop_reference(x_shape, w_shape, kwargs):
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[1] * kwargs.get("groups", 1))
    ours = F.conv_transpose2d(x, w, b, **kwargs).data
    stride, dilation = kwargs.get("stride", 1), kwargs.get("dilation", 1)
    padding, output_padding = kwargs.get("padding", 0), kwargs.get("output_padding", 0)
    if all(isinstance(v, int) for v in (stride, dilation, padding, output_padding)):
        expected = conv_transpose2d_reference(x, w, b, stride, padding, output_padding,
                                              dilation, kwargs.get("groups", 1))
        np.testing.assert_allclose(ours, expected, atol=1e-12)
    expected = TF.conv_transpose2d(torch.tensor(x), torch.tensor(w), torch.tensor(b),
                                   **kwargs).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-12)


def test_conv_transpose_is_the_adjoint_of_conv():
    # <conv(u, W), v> = <u, conv_transpose(v, W)> for every u, v: the defining property.
    rng = np.random.default_rng(8)
    w = rng.standard_normal((4, 3, 3, 2))
    u = rng.standard_normal((2, 3, 9, 8))
    z = F.conv2d(u, w, stride=2, padding=(1, 2, 0, 1), dilation=(1, 2))
    v = rng.standard_normal(z.shape)
    back = F.conv_transpose2d(v, w, stride=2, padding=(1, 2, 0, 1), dilation=(1, 2),
                              output_padding=(1, 0))
    assert back.shape == u.shape
    np.testing.assert_allclose((z.data * v).sum(), (u * back.data).sum(), rtol=1e-12)


# ---------------------------------------------------------------------- 3-D convolution


@pytest.mark.parametrize(
    "x_shape, w_shape, kwargs",
    [
        ((2, 2, 4, 5, 3), (3, 2, 2, 3, 2), {}),
        ((1, 4, 5, 4, 4), (4, 2, 3, 3, 3), {"padding": 1, "groups": 2}),
        ((2, 1, 6, 5, 5), (2, 1, 3, 2, 3), {"stride": (2, 1, 2), "dilation": (1, 2, 1)}),
        ((1, 2, 4, 4, 4), (2, 2, 3, 3, 3), {"padding": "same", "stride": 2}),
        ((2, 3, 3, 4, 5), (3, 1, 1, 3, 3), {"padding": (0, 1, 1, 0, 2, 1), "groups": 3}),
    ],
)
def test_conv3d_matches_torch_and_gradcheck(x_shape, w_shape, kwargs):
    rng = np.random.default_rng(9)
    x, w, b = (rng.standard_normal(x_shape), rng.standard_normal(w_shape),
               rng.standard_normal(w_shape[0]))
    pads = kwargs.get("padding", 0)
    if pads == "same":
        s = kwargs["stride"]
        pads = tuple(p for n, k in zip(x_shape[2:], w_shape[2:]) for p in tf_same(n, k, s, 1))
    elif isinstance(pads, int):
        pads = (pads,) * 6
    theirs = {k: v for k, v in kwargs.items() if k != "padding"}
    torch_pads = (pads[4], pads[5], pads[2], pads[3], pads[0], pads[1])
    check_op(lambda x, w, b: F.conv3d(x, w, b, **kwargs),
             lambda x, w, b: TF.conv3d(TF.pad(x, torch_pads), w, b, **theirs), x, w, b)


def test_conv3d_with_depth_1_is_conv2d():
    rng = np.random.default_rng(10)
    x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((4, 3, 3, 2))
    np.testing.assert_array_equal(
        F.conv3d(x[:, :, None], w[:, :, None], padding=(0, 1, 1), stride=(1, 2, 1)).data[:, :, 0],
        F.conv2d(x, w, padding=1, stride=(2, 1)).data)


# ---------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, x_shape, w_shape, match",
    [
        ({}, (1, 3, 5, 5), (2, 2, 3, 3), r"channel mismatch.*C=3.*\(1, 3, 5, 5\).*\(2, 2, 3, 3\)"),
        ({"groups": 2}, (1, 3, 5, 5), (2, 1, 3, 3), r"groups=2.*C=3.*\(1, 3, 5, 5\)"),
        ({"groups": 2}, (1, 4, 5, 5), (3, 2, 3, 3), r"groups=2.*F=3.*\(3, 2, 3, 3\)"),
        ({}, (1, 1, 4, 4), (1, 1, 5, 5), r"kernel.*\(1, 1, 5, 5\).*padded input 4x4"),
        ({"dilation": 2}, (1, 1, 4, 4), (1, 1, 3, 3), r"spans 5x5.*padded input 4x4"),
        ({"padding": 1}, (1, 1, 2, 2), (1, 1, 5, 5), r"padded input 4x4.*\(1, 1, 2, 2\)"),
        ({"stride": 0}, (1, 1, 4, 4), (1, 1, 3, 3), r"stride must be >= 1.*stride=0"),
        ({"dilation": (1, 0)}, (1, 1, 4, 4), (1, 1, 3, 3), r"dilation must be >= 1"),
        ({"padding": -1}, (1, 1, 4, 4), (1, 1, 3, 3), r"padding must hold ints >= 0"),
        ({"padding": "full"}, (1, 1, 4, 4), (1, 1, 3, 3), r"padding must be.*'full'"),
        ({"padding": (1, 2, 3)}, (1, 1, 4, 4), (1, 1, 3, 3), r"padding must be"),
        ({"mode": "flip"}, (1, 1, 4, 4), (1, 1, 3, 3), r"mode must be"),
        ({}, (3, 4, 4), (1, 1, 3, 3), r"x must have shape \(N, C, H, W\).*\(3, 4, 4\)"),
        ({}, (1, 1, 4, 4), (1, 3, 3), r"w must have shape"),
        ({"bias": np.zeros(3)}, (1, 1, 4, 4), (2, 1, 3, 3), r"bias must have shape \(2,\)"),
    ],
)
def test_conv2d_rejects_bad_input(kwargs, x_shape, w_shape, match):
    with pytest.raises(ValueError, match=match):
        F.conv2d(np.zeros(x_shape), np.zeros(w_shape), **kwargs)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("which", ["x", "w"])
def test_conv2d_rejects_nan_and_inf(bad, which):
    x, w = np.zeros((1, 2, 4, 4)), np.zeros((1, 2, 3, 3))
    (x if which == "x" else w)[0, 1, 0, 0] = bad
    with pytest.raises(ValueError, match=rf"{which} contains NaN or Inf \({which} shape"):
        F.conv2d(x, w)


@pytest.mark.parametrize(
    "kwargs, x_shape, w_shape, match",
    [
        ({}, (1, 2, 8), (1, 3, 3), r"conv1d: channel mismatch.*C=2.*\(1, 2, 8\).*\(1, 3, 3\)"),
        ({}, (1, 1, 4), (1, 1, 5), r"conv1d: .*\(1, 1, 5\)\) spans 5 .*padded input 4 "),
        ({"stride": 0}, (1, 1, 8), (1, 1, 3), r"conv1d: stride must be an int >= 1"),
        ({"dilation": 0}, (1, 1, 8), (1, 1, 3), r"conv1d: dilation must be an int >= 1"),
        ({"groups": 3}, (1, 2, 8), (3, 1, 3), r"conv1d: groups=3 must divide.*C=2"),
        ({}, (1, 1, 4, 4), (1, 1, 3), r"conv1d: x must have shape \(N, C, L\)"),
    ],
)
def test_conv1d_rejects_bad_input(kwargs, x_shape, w_shape, match):
    with pytest.raises(ValueError, match=match):
        F.conv1d(np.zeros(x_shape), np.zeros(w_shape), **kwargs)


@pytest.mark.parametrize(
    "fn, kwargs, x_shape, w_shape, match",
    [
        (F.conv_transpose2d, {}, (1, 3, 4, 4), (2, 1, 3, 3), r"channel mismatch.*C=3.*w has 2"),
        (F.conv_transpose2d, {"groups": 2}, (1, 3, 4, 4), (3, 1, 3, 3), r"groups=2 must divide"),
        (F.conv_transpose2d, {"stride": 2, "output_padding": 2}, (1, 1, 3, 3), (1, 1, 3, 3),
         r"output_padding must be smaller than the stride or the dilation"),
        (F.conv_transpose2d, {"padding": 2}, (1, 1, 2, 2), (1, 1, 3, 3),
         r"output would have size 0x0.*crop less"),
        (F.conv_transpose2d, {"padding": "same"}, (1, 1, 3, 3), (1, 1, 3, 3),
         r"padding must be .* or 'valid', got padding='same'"),
        (F.conv_transpose1d, {"bias": np.zeros(2)}, (1, 1, 4), (1, 3, 2),
         r"bias must have shape \(3,\)"),
        (F.conv_transpose3d, {}, (1, 1, 4, 4), (1, 1, 2, 2, 2),
         r"conv_transpose3d: x must have shape \(N, C, D, H, W\)"),
        (F.conv3d, {}, (1, 1, 2, 4, 4), (1, 1, 3, 3, 3), r"conv3d: .*spans 3x3x3.*input 2x4x4"),
        (F.conv3d, {"stride": (1, 0, 1)}, (1, 1, 4, 4, 4), (1, 1, 2, 2, 2),
         r"conv3d: stride must be >= 1"),
        (F.conv3d, {"padding": (1, 2)}, (1, 1, 4, 4, 4), (1, 1, 2, 2, 2),
         r"conv3d: padding must be an int, a triple, \(front, back"),
    ],
)
def test_transposed_and_3d_convolutions_reject_bad_input(fn, kwargs, x_shape, w_shape, match):
    with pytest.raises(ValueError, match=match):
        fn(np.zeros(x_shape), np.zeros(w_shape), **kwargs)


def test_conv_inputs_may_be_tensors_or_arrays():
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal((1, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    a = F.conv2d(x, w).data
    b = F.conv2d(Tensor(x), Tensor(w)).data
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, TF.conv2d(torch.tensor(x), torch.tensor(w)).numpy(),
                               atol=1e-12)


@pytest.mark.parametrize("stride, padding, groups", [(1, "same", 1), (2, (1, 0, 2, 1), 2)])
def test_conv2d_over_batch_chunks_matches_torch(monkeypatch, stride, padding, groups):
    # A tiny chunk budget forces several batch chunks (one sample, or two, per chunk); on one
    # thread the budget is used as it is (several threads multiply it).
    monkeypatch.setattr(_window, "CHUNK_ELEMENTS", 100)
    monkeypatch.setattr(parallel, "_num_threads", 1)
    assert len(_window.batch_chunks(5, 60)) == 5 and len(_window.batch_chunks(5, 50)) == 3
    rng = np.random.default_rng(6)
    x, w, b = (rng.standard_normal((5, 4, 7, 6)), rng.standard_normal((6, 4 // groups, 3, 3)),
               rng.standard_normal(6))
    pads = padding if isinstance(padding, tuple) else (*tf_same(7, 3, 1, 1), *tf_same(6, 3, 1, 1))
    check_op(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding, groups=groups),
             lambda x, w, b: TF.conv2d(TF.pad(x, (pads[2], pads[3], pads[0], pads[1])), w, b,
                                       stride=stride, groups=groups),
             x, w, b, grad_check=False)
