"""The engine's functions on :class:`Tensor` (or ndarray): the import path for all of them.

Convolutions live in :mod:`stridelab.core.conv`, pooling in :mod:`stridelab.core.pooling`, the
window they share in :mod:`stridelab.core._window`; this module re-exports them and holds
upsampling, dropout, flatten and the activations.

Shapes use fixed letters: N batch, C input channels, F filters (output channels),
D, H, W depth, height and width, L length, KD, KH, KW (or K) kernel size, OH, OW output size,
G groups. Padding conventions are described in :mod:`stridelab.core.conv`.
"""

from __future__ import annotations

import numpy as np

from stridelab.core._window import as_tensor as _as_tensor
from stridelab.core._window import int_tuple as _int_tuple
from stridelab.core._window import same_padding
from stridelab.core.conv import (
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
)
from stridelab.core.pooling import (
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
)
from stridelab.core.tensor import Tensor, concat, stack

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "max_unpool1d", "max_unpool2d", "max_unpool3d",
    "upsample", "dropout", "flatten",
    "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax", "concat", "stack",
    "same_padding",
]


# ---------------------------------------------------------------------- other layers


def upsample(x, scale_factor=2) -> Tensor:
    """Nearest-neighbour upsampling: each pixel becomes an (sh, sw) block.

    x: (N, C, H, W) -> (N, C, H·sh, W·sw). The gradient of a pixel is the sum over its block.
    """
    x = _as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"upsample: x must have shape (N, C, H, W), got x shape {x.shape}")
    sh, sw = _int_tuple(scale_factor, 2, "scale_factor", "upsample")
    N, C, H, W = x.shape
    out = Tensor._make(x.data.repeat(sh, axis=2).repeat(sw, axis=3), (x,), "upsample")

    def _backward(g):                                                   # g: (N, C, H·sh, W·sw)
        x._add_grad(g.reshape(N, C, H, sh, W, sw).sum(axis=(3, 5)))

    out._backward = _backward
    return out


def dropout(x, p: float = 0.5, training: bool = True, rng=None) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 − p)``.

    Inverted dropout: the expected value is unchanged, so evaluation (``training=False``)
    is the identity. ``rng`` is a ``np.random.Generator``, a seed, or None (fresh entropy).
    """
    x = _as_tensor(x)
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p must be in [0, 1), got p={p!r}")
    if not training or p == 0:
        return x
    rng = np.random.default_rng(rng)
    keep = (rng.random(x.shape) >= p).astype(x.dtype) / x.dtype.type(1 - p)
    return x * keep


def flatten(x, start_dim: int = 1) -> Tensor:
    """Merge the axes from ``start_dim`` on: (N, C, H, W) -> (N, C·H·W)."""
    x = _as_tensor(x)
    return x.reshape(x.shape[:start_dim] + (-1,))


def relu(x) -> Tensor:
    return _as_tensor(x).relu()


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    return _as_tensor(x).leaky_relu(negative_slope)


def sigmoid(x) -> Tensor:
    return _as_tensor(x).sigmoid()


def tanh(x) -> Tensor:
    return _as_tensor(x).tanh()


def softmax(x, axis: int = -1) -> Tensor:
    return _as_tensor(x).softmax(axis)


def log_softmax(x, axis: int = -1) -> Tensor:
    return _as_tensor(x).log_softmax(axis)
