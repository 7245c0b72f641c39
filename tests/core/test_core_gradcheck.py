"""gradcheck finds a wrong gradient and says where it is."""

import numpy as np
import pytest

from stridelab.core import GradcheckResult, Tensor, gradcheck


def _mul_with_a_bug(a: Tensor, b: Tensor) -> Tensor:
    """a * b whose gradient for b is wrong at element (1, 2) only."""
    out = Tensor._make(a.data * b.data, (a, b), "buggy*")

    def _backward(g):
        a._add_grad(g * b.data)
        gb = g * a.data
        gb[1, 2] += 1.0
        b._add_grad(gb)

    out._backward = _backward
    return out


def test_gradcheck_passes_a_correct_function():
    rng = np.random.default_rng(0)
    result = gradcheck(lambda a, b: (a * b).tanh(), rng.standard_normal((2, 3)),
                       rng.standard_normal((2, 3)))
    assert isinstance(result, GradcheckResult)
    assert result and result.ok and result.n_checked == 12
    assert result.max_abs_error < 1e-8


def test_gradcheck_names_the_failing_input_and_element():
    rng = np.random.default_rng(1)
    result = gradcheck(_mul_with_a_bug, rng.standard_normal((2, 3)), rng.standard_normal((2, 3)))
    assert not result
    assert (result.input_index, result.index) == (1, (1, 2))
    assert result.analytic - result.numeric == pytest.approx(1.0, abs=1e-6)
    assert "FAILED" in str(result) and "input 1, element (1, 2)" in str(result)


def test_gradcheck_leaves_inputs_alone_and_works_in_float64():
    x = np.array([1.0, 2.0], dtype=np.float32)
    seen = []
    gradcheck(lambda t: seen.append(t.dtype) or t * t, x)
    assert set(seen) == {np.dtype(np.float64)}
    np.testing.assert_array_equal(x, [1.0, 2.0])


def test_gradcheck_needs_a_tensor_output():
    with pytest.raises(ValueError, match="fn must return a Tensor"):
        gradcheck(lambda t: t.data, np.ones(2))
