"""Tensor: every primitive against PyTorch, hand-computed gradients, accumulation, dtypes."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from core_helpers import check_op

from stridelab.core import Tensor, concat, no_grad, stack

rng = np.random.default_rng(0)
A = rng.standard_normal((3, 4))
B = rng.standard_normal((3, 4))
ROW = rng.standard_normal((1, 4))
VEC = rng.standard_normal(4)
POS = rng.uniform(0.5, 2.0, (3, 4))
M = rng.standard_normal((4, 5))
BATCH = rng.standard_normal((2, 3, 4))

# (name, engine fn, torch fn, inputs): each line is one op.
CASES = [
    ("add", lambda a, b: a + b, lambda a, b: a + b, (A, B)),
    ("add broadcast row", lambda a, b: a + b, lambda a, b: a + b, (A, ROW)),
    ("add broadcast vector", lambda a, b: a + b, lambda a, b: a + b, (A, VEC)),
    ("sub", lambda a, b: a - b, lambda a, b: a - b, (A, ROW)),
    ("mul", lambda a, b: a * b, lambda a, b: a * b, (A, VEC)),
    ("div", lambda a, b: a / b, lambda a, b: a / b, (A, POS)),
    ("scalar ops", lambda a: 2.0 - a * 3.0 / 1.5 + 1.0, lambda a: 2.0 - a * 3.0 / 1.5 + 1.0,
     (A,)),
    ("rdiv", lambda a: 1.0 / a, lambda a: 1.0 / a, (POS,)),
    ("neg", lambda a: -a, lambda a: -a, (A,)),
    ("pow scalar", lambda a: a ** 3, lambda a: a ** 3, (A,)),
    ("pow tensor", lambda a, b: a ** b, lambda a, b: a ** b, (POS, B)),
    ("matmul", lambda a, b: a @ b, lambda a, b: a @ b, (A, M)),
    ("matmul batched", lambda a, b: a @ b, lambda a, b: a @ b, (BATCH, M)),
    ("matmul vector", lambda a, v: a @ v, lambda a, v: a @ v, (A, VEC)),
    ("vector matmul", lambda v, m: v @ m, lambda v, m: v @ m, (VEC, M)),
    ("sum all", lambda a: a.sum(), lambda a: a.sum(), (A,)),
    ("sum axis", lambda a: a.sum(axis=1), lambda a: a.sum(dim=1), (BATCH,)),
    ("sum axes keepdims", lambda a: a.sum(axis=(0, 2), keepdims=True),
     lambda a: a.sum(dim=(0, 2), keepdim=True), (BATCH,)),
    ("mean", lambda a: a.mean(axis=-1), lambda a: a.mean(dim=-1), (BATCH,)),
    ("max all", lambda a: a.max(), lambda a: a.max(), (A,)),
    ("max axis", lambda a: a.max(axis=1), lambda a: a.amax(dim=1), (BATCH,)),
    ("max keepdims", lambda a: a.max(axis=0, keepdims=True),
     lambda a: a.amax(dim=0, keepdim=True), (A,)),
    ("reshape", lambda a: a.reshape(4, 3) * 2, lambda a: a.reshape(4, 3) * 2, (A,)),
    ("transpose", lambda a: a.transpose(2, 0, 1), lambda a: a.permute(2, 0, 1), (BATCH,)),
    ("T", lambda a: a.T @ a, lambda a: a.T @ a, (A,)),
    ("slice", lambda a: a[1:, ::2], lambda a: a[1:, ::2], (A,)),
    ("int index", lambda a: a[1], lambda a: a[1], (BATCH,)),
    ("fancy index repeats", lambda a: a[[0, 2, 0]], lambda a: a[[0, 2, 0]], (A,)),
    ("pairs index", lambda a: a[np.array([0, 1, 2]), np.array([3, 0, 3])],
     lambda a: a[torch.tensor([0, 1, 2]), torch.tensor([3, 0, 3])], (A,)),
    ("concat", lambda a, b: concat([a, b], axis=1), lambda a, b: torch.cat([a, b], dim=1),
     (A, B)),
    ("stack", lambda a, b: stack([a, b], axis=1), lambda a, b: torch.stack([a, b], dim=1),
     (A, B)),
    ("exp", lambda a: a.exp(), torch.exp, (A,)),
    ("log", lambda a: a.log(), torch.log, (POS,)),
    ("tanh", lambda a: a.tanh(), torch.tanh, (A,)),
    ("sigmoid", lambda a: a.sigmoid(), torch.sigmoid, (A * 10,)),
    ("relu", lambda a: a.relu(), torch.relu, (A,)),
    ("leaky_relu", lambda a: a.leaky_relu(0.1),
     lambda a: torch.nn.functional.leaky_relu(a, 0.1), (A,)),
    ("abs", lambda a: a.abs(), torch.abs, (A,)),
    ("clip", lambda a: a.clip(-0.5, 0.5), lambda a: a.clamp(-0.5, 0.5), (A,)),
    ("softmax", lambda a: a.softmax(axis=1), lambda a: torch.softmax(a, dim=1), (A,)),
    ("softmax axis 0", lambda a: a.softmax(axis=0), lambda a: torch.softmax(a, dim=0), (A,)),
    ("log_softmax", lambda a: a.log_softmax(), lambda a: torch.log_softmax(a, dim=-1), (A,)),
    ("composite", lambda a, b: ((a * b).tanh() + a.exp() / (1 + b * b)).sum(axis=0),
     lambda a, b: ((a * b).tanh() + a.exp() / (1 + b * b)).sum(dim=0), (A, B)),
]


@pytest.mark.parametrize("name, ours, theirs, inputs", CASES, ids=[c[0] for c in CASES])
def test_op_matches_torch_and_gradcheck(name, ours, theirs, inputs):
    check_op(ours, theirs, *inputs)


def test_hand_computed_gradients():
    x = Tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = Tensor([4.0, 5.0, 6.0], requires_grad=True)
    loss = (x * y + x * x).sum()        # ∂/∂x = y + 2x, ∂/∂y = x
    loss.backward()
    assert loss.item() == (4 - 10 + 18) + (1 + 4 + 9)
    np.testing.assert_array_equal(x.grad, [6.0, 1.0, 12.0])
    np.testing.assert_array_equal(y.grad, [1.0, -2.0, 3.0])


def test_broadcast_gradient_is_summed_back_to_the_input_shape():
    x = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * b).sum().backward()
    np.testing.assert_array_equal(b.grad, [2.0, 2.0, 2.0])      # summed over the 2 rows
    np.testing.assert_array_equal(x.grad, [[1, 2, 3], [1, 2, 3]])


def test_backward_twice_accumulates_and_zero_grad_resets():
    x = Tensor([2.0, -1.0], requires_grad=True)
    y = x * x
    z = (y + y).sum()                   # shared intermediate: dz/dx = 4x
    z.backward()
    np.testing.assert_array_equal(x.grad, [8.0, -4.0])
    z.backward()                        # the intermediate y starts from zero again
    np.testing.assert_array_equal(x.grad, [16.0, -8.0])
    x.zero_grad()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    z.backward()
    np.testing.assert_array_equal(x.grad, [8.0, -4.0])


def test_a_tensor_used_twice_gets_both_contributions():
    x = Tensor(3.0, requires_grad=True)
    (x * x * x).backward()              # 3x² = 27
    assert x.grad == 27.0


def test_backward_needs_grad_for_non_scalars_and_a_graph():
    x = Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(ValueError, match=r"single-element tensor, got shape \(3,\)"):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"grad has shape \(2,\) but the tensor has shape"):
        (x * 2).backward(np.ones(2))
    with pytest.raises(ValueError, match="does not require grad"):
        Tensor([1.0]).backward()


def test_no_grad_records_nothing():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        y = x * 2
    assert not y.requires_grad and y._parents == ()
    assert (x * 2).requires_grad


def test_constants_get_no_grad():
    x = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert c.grad is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_through_scalars_and_backward(dtype):
    x = Tensor(np.array([1.0, 2.0], dtype=dtype), requires_grad=True)
    y = (x * 0.5 + 1 - 2.0 / (x + 1)) ** 2
    y.sum().backward()
    assert y.dtype == dtype and x.grad.dtype == dtype


def test_integer_data_becomes_float():
    assert Tensor([1, 2]).dtype == np.float64


def test_ndarray_on_the_left_calls_the_tensor_operator():
    x = Tensor([1.0, 2.0], requires_grad=True)
    out = np.array([3.0, 4.0]) * x
    assert isinstance(out, Tensor)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_deep_chain_does_not_hit_the_recursion_limit():
    x = Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    y.backward()
    assert x.grad == 1.0


def test_leaf_grad_is_writable_after_broadcast_backward():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    x.sum().backward()
    x.grad *= 2                          # optimizers update grads in place
    np.testing.assert_array_equal(x.grad, np.full((2, 2), 2.0))


def test_log_softmax_is_stable_for_huge_logits():
    x = Tensor([[1000.0, 0.0, -1000.0]], requires_grad=True)
    out = x.log_softmax()
    np.testing.assert_allclose(out.data, [[0.0, -1000.0, -2000.0]])
    out[0, 0].backward()
    assert np.isfinite(x.grad).all()


def test_core_never_imports_torch():
    code = "import sys, stridelab.core; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_concat_and_stack_are_also_tensor_methods():
    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0], requires_grad=True)
    out = Tensor.concat([a, b]) * Tensor([1.0, 2.0, 3.0])
    out.sum().backward()
    np.testing.assert_array_equal(a.grad, [1.0, 2.0])
    np.testing.assert_array_equal(b.grad, [3.0])
    assert Tensor.stack([a, a]).shape == (2, 2)
