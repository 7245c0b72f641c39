"""One helper checks any engine op against PyTorch (float64) and finite differences."""

from __future__ import annotations

import numpy as np
import torch

from stridelab.core import Tensor, gradcheck

ATOL = 1e-8


def check_op(engine_fn, torch_fn, *arrays, atol: float = ATOL, grad_check: bool = True,
             seed: int = 0):
    """Assert that ``engine_fn`` matches ``torch_fn`` in value and in every input gradient.

    Both functions receive one tensor per array (engine Tensors / torch tensors, float64,
    requiring grad). The output is back-propagated with the same random upstream gradient in
    both engines; then :func:`stridelab.core.gradcheck` checks the engine against central
    differences. Returns the engine output.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    ours = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]

    out = engine_fn(*ours)
    expected = torch_fn(*theirs)
    assert out.shape == tuple(expected.shape), (out.shape, tuple(expected.shape))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=0, atol=atol,
                               err_msg="forward")

    upstream = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(upstream)
    expected.backward(torch.from_numpy(upstream))
    for k, (t, tt) in enumerate(zip(ours, theirs)):
        want = np.zeros(t.shape) if tt.grad is None else tt.grad.numpy()
        got = np.zeros(t.shape) if t.grad is None else t.grad
        np.testing.assert_allclose(got, want, rtol=0, atol=atol, err_msg=f"grad of input {k}")

    if grad_check:
        result = gradcheck(engine_fn, *arrays)
        assert result, str(result)
    return out


def tf_same(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """The TensorFlow/Keras "same" padding of one side, written out for the tests."""
    out = (n + s - 1) // s
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2
