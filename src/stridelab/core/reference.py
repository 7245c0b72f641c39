"""Naive loop convolutions: the readable references that the fast paths are tested against.

Every formula is written out with one loop per index, exactly as on the blackboard. These
functions work on plain float64 ndarrays, take explicit padding (an int or
(top, bottom, left, right)) and are slow on purpose: use them on tiny inputs only.

Notation: x (N, C, H, W), w (F, C/G, KH, KW), xp the padded x (N, C, Hp, Wp),
dZ (N, F, OH, OW) the gradient of the loss with respect to the output.
"""

from __future__ import annotations

import numpy as np


def _explicit(padding) -> tuple[int, int, int, int]:
    if isinstance(padding, (int, np.integer)):
        return (int(padding),) * 4
    top, bottom, left, right = padding
    return int(top), int(bottom), int(left), int(right)


def _pad(x: np.ndarray, pads) -> np.ndarray:
    top, bottom, left, right = pads
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def conv2d_reference(x, w, bias=None, stride: int = 1, padding=0, dilation: int = 1,
                     groups: int = 1) -> np.ndarray:
    """Cross-correlation by loops: ``out[n, f, i, j] = b[f] + Σ_{c,a,b} w[f, c, a, b] ·
    xp[n, g·C/G + c, i·s + a·d, j·s + b·d]``, with g the group of filter f.

    Returns an ndarray of shape (N, F, OH, OW).
    """
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    xp = _pad(x, _explicit(padding))
    N, C, Hp, Wp = xp.shape
    F, Cg, KH, KW = w.shape
    Fg = F // groups
    OH = (Hp - dilation * (KH - 1) - 1) // stride + 1
    OW = (Wp - dilation * (KW - 1) - 1) // stride + 1
    out = np.zeros((N, F, OH, OW))
    for n in range(N):
        for f in range(F):
            g = f // Fg                                     # the group this filter reads
            for i in range(OH):
                for j in range(OW):
                    total = 0.0 if bias is None else float(bias[f])
                    for c in range(Cg):
                        for a in range(KH):
                            for b in range(KW):
                                total += (w[f, c, a, b]
                                          * xp[n, g * Cg + c, i * stride + a * dilation,
                                               j * stride + b * dilation])
                    out[n, f, i, j] = total
    return out


def conv2d_backward_reference(x, w, dz, stride: int = 1, padding=0, dilation: int = 1,
                              groups: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of a convolution, each written as a convolution.

    * ``db[f] = Σ_{n,i,j} dZ[n, f, i, j]``.
    * dW is the padded input cross-correlated with dZ: dZ slides over xp as a kernel whose
      taps are ``stride`` apart, moving ``dilation`` at a time.
    * dX is dZ fully convolved with the flipped kernel: insert ``stride − 1`` zeros between the
      entries of dZ, pad it by the dilated kernel size − 1 on every side, and cross-correlate
      it with W rotated by 180° (F and C exchanged), dilated by ``dilation``; then drop the
      rows/columns that were padding.

    Returns
    -------
    dx : ndarray of shape (N, C, H, W)
    dw : ndarray of shape (F, C/G, KH, KW)
    db : ndarray of shape (F,)
    """
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    dz = np.asarray(dz, dtype=np.float64)
    pads = _explicit(padding)
    xp = _pad(x, pads)
    N, C, Hp, Wp = xp.shape
    F, Cg, KH, KW = w.shape
    Fg = F // groups
    _, _, OH, OW = dz.shape

    db = dz.sum(axis=(0, 2, 3))

    # dW: correlate the input with dZ.
    dw = np.zeros_like(w)
    for f in range(F):
        g = f // Fg
        for c in range(Cg):
            for a in range(KH):
                for b in range(KW):
                    total = 0.0
                    for n in range(N):
                        for i in range(OH):
                            for j in range(OW):
                                total += (xp[n, g * Cg + c, i * stride + a * dilation,
                                             j * stride + b * dilation] * dz[n, f, i, j])
                    dw[f, c, a, b] = total

    # dX: the full convolution of the stride-spread dZ with the flipped kernel.
    EH, EW = dilation * (KH - 1), dilation * (KW - 1)               # dilated kernel size − 1
    spread = np.zeros((N, F, (OH - 1) * stride + 1, (OW - 1) * stride + 1))
    spread[:, :, ::stride, ::stride] = dz
    full = np.pad(spread, ((0, 0), (0, 0), (EH, EH), (EW, EW)))
    flipped = w[:, :, ::-1, ::-1]                                   # rotated by 180°
    covered_h, covered_w = spread.shape[2] + EH, spread.shape[3] + EW   # rows windows reach
    dxp = np.zeros_like(xp)
    for n in range(N):
        for c in range(C):
            g = c // Cg
            for p in range(covered_h):
                for q in range(covered_w):
                    total = 0.0
                    for f in range(g * Fg, (g + 1) * Fg):
                        for a in range(KH):
                            for b in range(KW):
                                total += (flipped[f, c - g * Cg, a, b]
                                          * full[n, f, p + a * dilation, q + b * dilation])
                    dxp[n, c, p, q] = total
    # Rows/columns beyond `covered` were never read by any window: their gradient stays 0.
    top, bottom, left, right = pads
    dx = dxp[:, :, top:Hp - bottom, left:Wp - right]
    return dx, dw, db


def conv_transpose2d_reference(x, w, bias=None, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1,
                               groups: int = 1) -> np.ndarray:
    """Transposed convolution by loops, in its scatter form.

    Every input pixel ``x[n, c, i, j]`` adds a copy of its filter, scaled by its value, onto
    the output at ``(i·s + a·d − padding, j·s + b·d − padding)`` for every tap (a, b):
    ``y[n, g·F/G + f, i·s + a·d − p, j·s + b·d − p] += x[n, c, i, j] · w[c, f, a, b]`` with g
    the group of input channel c. That is the adjoint of :func:`conv2d_reference`: the same
    products, summed into the input's positions instead of the output's.

    x: (N, C, H, W), w: (C, F/G, KH, KW) (PyTorch's layout) -> (N, F, OH, OW) with
    ``OH = (H − 1)·s − 2·p + d·(KH − 1) + output_padding + 1``.
    """
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    N, C, H, W = x.shape
    _, Fg, KH, KW = w.shape
    Cg = C // groups
    OH = (H - 1) * stride - 2 * padding + dilation * (KH - 1) + output_padding + 1
    OW = (W - 1) * stride - 2 * padding + dilation * (KW - 1) + output_padding + 1
    y = np.zeros((N, Fg * groups, OH, OW))
    for n in range(N):
        for c in range(C):
            g = c // Cg                                     # the group this channel feeds
            for i in range(H):
                for j in range(W):
                    for f in range(Fg):
                        for a in range(KH):
                            for b in range(KW):
                                p = i * stride + a * dilation - padding
                                q = j * stride + b * dilation - padding
                                if 0 <= p < OH and 0 <= q < OW:
                                    y[n, g * Fg + f, p, q] += x[n, c, i, j] * w[c, f, a, b]
    if bias is not None:
        y += np.asarray(bias, dtype=np.float64).reshape(1, -1, 1, 1)
    return y
