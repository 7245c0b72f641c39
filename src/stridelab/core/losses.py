"""Loss functions and the L2 penalty, composed from Tensor primitives.

Targets ``y`` are plain arrays (no gradient flows into them). Every loss returns a scalar
Tensor.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from stridelab.core.tensor import Tensor

__all__ = ["mse", "sse_half", "cross_entropy", "binary_cross_entropy", "l2"]


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _target(y, like: Tensor, op: str) -> np.ndarray:
    y = np.asarray(y.data if isinstance(y, Tensor) else y)
    if y.shape != like.shape:
        raise ValueError(f"{op}: y has shape {y.shape} but y_hat has shape {like.shape}")
    return y.astype(like.dtype)


def mse(y_hat, y) -> Tensor:
    """Mean squared error ``mean((y_hat − y)²)`` over every element."""
    y_hat = _as_tensor(y_hat)
    diff = y_hat - _target(y, y_hat, "mse")
    return (diff * diff).mean()


def sse_half(y_hat, y) -> Tensor:
    """Half the sum of squared errors ``½ Σ (y_hat − y)²``: its gradient is ``y_hat − y``."""
    y_hat = _as_tensor(y_hat)
    diff = y_hat - _target(y, y_hat, "sse_half")
    return (diff * diff).sum() * 0.5


def cross_entropy(logits, y) -> Tensor:
    """Mean cross-entropy of softmax(logits) against the targets, computed from the logits.

    ``log_softmax`` subtracts the row maximum first, so large logits do not overflow.

    Parameters
    ----------
    logits : Tensor of shape (N, K)
    y : ndarray of shape (N,) with class indices in [0, K), or of shape (N, K) with a
        probability distribution per row (e.g. one-hot).
    """
    logits = _as_tensor(logits)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, K), got {logits.shape}")
    N, K = logits.shape
    log_p = logits.log_softmax(axis=1)                          # (N, K)
    y = np.asarray(y.data if isinstance(y, Tensor) else y)
    if y.shape == (N,) and np.issubdtype(y.dtype, np.integer):
        if y.size and (y.min() < 0 or y.max() >= K):
            raise ValueError(
                f"cross_entropy: class indices y must lie in [0, {K}) for logits of shape "
                f"{logits.shape}, got values in [{y.min()}, {y.max()}]"
            )
        return -log_p[np.arange(N), y].mean()
    if y.shape == (N, K):
        return -(log_p * y.astype(logits.dtype)).sum() / N
    raise ValueError(
        f"cross_entropy: y must be integer class indices of shape ({N},) or probabilities of "
        f"shape ({N}, {K}), got y shape {y.shape} ({y.dtype})"
    )


def binary_cross_entropy(y_hat, y, from_logits: bool = False, eps: float = 1e-7) -> Tensor:
    """Mean binary cross-entropy ``−mean(y·log p + (1 − y)·log(1 − p))``.

    Parameters
    ----------
    y_hat : Tensor
        Probabilities p in (0, 1), clipped to ``[eps, 1 − eps]``; or, with
        ``from_logits=True``, scores z with p = σ(z), computed stably as
        ``max(z, 0) − z·y + log(1 + exp(−|z|))``.
    y : ndarray of the same shape with values in [0, 1]
    """
    y_hat = _as_tensor(y_hat)
    y = _target(y, y_hat, "binary_cross_entropy")
    if from_logits:
        z = y_hat
        return (z.relu() - z * y + ((-z.abs()).exp() + 1).log()).mean()
    p = y_hat.clip(eps, 1 - eps)
    return -(p.log() * y + (1 - p).log() * (1 - y)).mean()


def l2(parameters: Iterable[Tensor], lam: float) -> Tensor:
    """L2 penalty ``(lam / 2) · Σ_w ‖w‖²``: its gradient with respect to each w is ``lam·w``."""
    params = list(parameters)
    if not params:
        raise ValueError("l2: parameters is empty; pass the tensors to penalise")
    total = sum(((p * p).sum() for p in params[1:]), (params[0] * params[0]).sum())
    return total * (0.5 * lam)
