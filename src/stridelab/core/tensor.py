"""Tensor: an n-dimensional NumPy array that remembers how it was computed.

Every operation builds its output and, right below it, the closure ``_backward(g)`` that
receives ``g``, the gradient of the loss with respect to that output, and adds to each input's
``.grad`` its share ``g · ∂out/∂input``. :meth:`Tensor.backward` calls the closures in reverse
topological order. When an input was broadcast, its gradient is summed back to its own shape.

Leaves (tensors created by the user, such as parameters) accumulate: calling ``backward()``
twice without ``zero_grad()`` adds the two gradients. Intermediate tensors start from zero on
every ``backward()`` call, so a repeated call never counts a path twice.

Only NumPy is imported here. Data keeps its floating dtype (float32 stays float32, Python
scalars adopt the dtype of the tensor they meet); integer and boolean data become float64.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np

_grad_enabled = True


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context manager that records no graph: outputs have ``requires_grad=False``."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    """Whether operations currently record the graph for ``backward()``."""
    return _grad_enabled


def _unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` over the axes along which an input of ``shape`` was broadcast."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g


def _normalize_axes(axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if np.isscalar(axis) else tuple(axis)
    return tuple(int(a) % ndim for a in axes)


def _is_basic_index(idx) -> bool:
    """True for ints, slices, None and Ellipsis only: such an index never repeats an element."""
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(
        isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items
    )


class Tensor:
    """An array with an optional gradient.

    Parameters
    ----------
    data : array_like
        The values. Floating dtypes are kept; anything else becomes float64.
    requires_grad : bool, default=False
        Whether ``backward()`` should compute ``.grad`` for this tensor.

    Attributes
    ----------
    data : ndarray
        The values.
    grad : ndarray or None
        The gradient of the last ``backward()`` call(s), same shape as ``data``.
    """

    # Makes `ndarray + Tensor` call Tensor.__radd__ instead of broadcasting over objects.
    __array_ufunc__ = None

    def __init__(self, data, requires_grad: bool = False, _parents: tuple = (), _op: str = ""):
        if isinstance(data, Tensor):
            data = data.data
        data = np.asarray(data)
        if not np.issubdtype(data.dtype, np.floating):
            data = data.astype(np.float64)
        self.data: np.ndarray = data
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self._parents: tuple[Tensor, ...] = _parents
        self._op = _op
        self._backward_fn = None

    @property
    def _backward(self):
        """The closure that pushes ``.grad`` to the parents (None for leaves and constants)."""
        return self._backward_fn

    @_backward.setter
    def _backward(self, fn) -> None:
        # Only a tensor in a graph keeps its closure: under no_grad the arrays it holds are freed.
        self._backward_fn = fn if self.requires_grad else None

    # ------------------------------------------------------------------ plumbing

    def _lift(self, other) -> Tensor:
        """Wrap a constant so that it takes part in an op; Python scalars adopt our dtype."""
        if isinstance(other, Tensor):
            return other
        other = np.asarray(other)
        if other.ndim == 0 or not np.issubdtype(other.dtype, np.floating):
            other = other.astype(self.data.dtype)
        return Tensor(other)

    @staticmethod
    def _make(data: np.ndarray, parents: tuple[Tensor, ...], op: str) -> Tensor:
        """The output of an op: it records its parents only when a gradient can flow."""
        track = _grad_enabled and any(p.requires_grad for p in parents)
        return Tensor(data, requires_grad=track, _parents=parents if track else (), _op=op)

    def _add_grad(self, g: np.ndarray) -> None:
        """Accumulate ``g`` (already of our shape) into ``.grad``."""
        if not self.requires_grad:
            return
        if g.dtype != self.data.dtype:
            g = g.astype(self.data.dtype)
        if self.grad is None:
            # A leaf's grad belongs to the user and optimizers: give it its own writable copy.
            self.grad = g if self._parents else np.array(g)
        else:
            self.grad = self.grad + g

    def _topological_order(self) -> list[Tensor]:
        """Every tensor that ``self`` depends on, each after all of its parents."""
        order: list[Tensor] = []
        visited: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:  # iterative depth-first search: deep graphs do not hit the recursion limit
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((p, False) for p in node._parents if p.requires_grad)
        return order

    def backward(self, grad=None) -> None:
        """Compute the gradient of this tensor with respect to every tensor it depends on.

        Parameters
        ----------
        grad : array_like, optional
            The gradient of the loss with respect to this tensor, same shape. May be omitted
            for a tensor with a single element (the loss itself): it is then 1.
        """
        if not self.requires_grad:
            raise ValueError(
                f"backward: this tensor (shape {self.shape}) does not require grad; "
                "create its inputs with requires_grad=True"
            )
        if grad is None:
            if self.data.size != 1:
                raise ValueError(
                    f"backward: grad can be omitted only for a single-element tensor, "
                    f"got shape {self.shape}; pass grad of that shape"
                )
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad,
                              dtype=self.data.dtype)
            if grad.shape != self.shape:
                raise ValueError(
                    f"backward: grad has shape {grad.shape} but the tensor has shape {self.shape}"
                )
        order = self._topological_order()
        for node in order:
            if node._parents:
                node.grad = None
        self._add_grad(grad)
        for node in reversed(order):
            if node._backward is not None and node.grad is not None:
                node._backward(node.grad)

    def zero_grad(self) -> None:
        """Set ``.grad`` to zeros, so that the next ``backward()`` starts afresh."""
        self.grad = np.zeros_like(self.data)

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor(self.data)

    # ------------------------------------------------------------------ array-like

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        return self.data.item()

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}{grad})"

    # ------------------------------------------------------------------ arithmetic

    def __add__(self, other) -> Tensor:
        a, b = self, self._lift(other)
        out = Tensor._make(a.data + b.data, (a, b), "+")

        def _backward(g):
            a._add_grad(_unbroadcast(g, a.shape))
            b._add_grad(_unbroadcast(g, b.shape))

        out._backward = _backward
        return out

    def __mul__(self, other) -> Tensor:
        a, b = self, self._lift(other)
        out = Tensor._make(a.data * b.data, (a, b), "*")

        def _backward(g):
            a._add_grad(_unbroadcast(g * b.data, a.shape))
            b._add_grad(_unbroadcast(g * a.data, b.shape))

        out._backward = _backward
        return out

    def __truediv__(self, other) -> Tensor:
        a, b = self, self._lift(other)
        out = Tensor._make(a.data / b.data, (a, b), "/")

        def _backward(g):
            a._add_grad(_unbroadcast(g / b.data, a.shape))
            b._add_grad(_unbroadcast(-g * a.data / (b.data * b.data), b.shape))

        out._backward = _backward
        return out

    def __pow__(self, exponent) -> Tensor:
        a, e = self, self._lift(exponent)
        out = Tensor._make(a.data ** e.data, (a, e), "**")

        def _backward(g):
            a._add_grad(_unbroadcast(g * e.data * a.data ** (e.data - 1), a.shape))
            if e.requires_grad:  # d(a^e)/de = a^e · log a, defined for a > 0
                e._add_grad(_unbroadcast(g * out.data * np.log(a.data), e.shape))

        out._backward = _backward
        return out

    def __matmul__(self, other) -> Tensor:
        a, b = self, self._lift(other)
        out = Tensor._make(a.data @ b.data, (a, b), "@")

        def _backward(g):
            # Promote vectors to matrices as np.matmul does: (K,) @ (K, M) is (1, K) @ (K, M).
            A = a.data if a.ndim > 1 else a.data[None, :]
            B = b.data if b.ndim > 1 else b.data[:, None]
            G = g.reshape(np.broadcast_shapes(A.shape[:-2], B.shape[:-2])
                          + (A.shape[-2], B.shape[-1]))                # (..., M, P)
            if a.requires_grad:
                dA = G @ np.swapaxes(B, -1, -2)                    # (..., M, K)
                a._add_grad(_unbroadcast(dA, A.shape).reshape(a.shape))
            if b.requires_grad:
                dB = np.swapaxes(A, -1, -2) @ G                    # (..., K, P)
                b._add_grad(_unbroadcast(dB, B.shape).reshape(b.shape))

        out._backward = _backward
        return out

    def __neg__(self) -> Tensor:
        return self * -1.0

    def __sub__(self, other) -> Tensor:
        return self + (-self._lift(other))

    def __radd__(self, other) -> Tensor:
        return self + other

    def __rmul__(self, other) -> Tensor:
        return self * other

    def __rsub__(self, other) -> Tensor:
        return self._lift(other) - self

    def __rtruediv__(self, other) -> Tensor:
        return self._lift(other) / self

    def __rpow__(self, other) -> Tensor:
        return self._lift(other) ** self

    def __rmatmul__(self, other) -> Tensor:
        return self._lift(other) @ self

    # ------------------------------------------------------------------ reductions

    def sum(self, axis=None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (an int, a tuple of ints, or None for all)."""
        a = self
        out = Tensor._make(a.data.sum(axis=axis, keepdims=keepdims), (a,), "sum")

        def _backward(g):
            if not keepdims:
                g = np.expand_dims(g, _normalize_axes(axis, a.ndim))
            a._add_grad(np.broadcast_to(g, a.shape))

        out._backward = _backward
        return out

    def mean(self, axis=None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis``: the sum divided by the number of elements summed."""
        count = int(np.prod([self.shape[i] for i in _normalize_axes(axis, self.ndim)]))
        return self.sum(axis=axis, keepdims=keepdims) / count

    def max(self, axis=None, keepdims: bool = False) -> Tensor:
        """Maximum over ``axis``. Tied maxima share the gradient equally."""
        a = self
        peak = a.data.max(axis=axis, keepdims=True)
        out = Tensor._make(peak if keepdims else np.squeeze(peak, axis=axis), (a,), "max")

        def _backward(g):
            if not keepdims:
                g = np.expand_dims(g, _normalize_axes(axis, a.ndim))
            winners = a.data == peak
            a._add_grad(g * winners / winners.sum(axis=axis, keepdims=True))

        out._backward = _backward
        return out

    # ------------------------------------------------------------------ shape

    def reshape(self, *shape) -> Tensor:
        """Same data, new shape; ``t.reshape(2, 3)`` and ``t.reshape((2, 3))`` both work."""
        if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
            shape = tuple(shape[0])
        a = self
        out = Tensor._make(a.data.reshape(shape), (a,), "reshape")

        def _backward(g):
            a._add_grad(g.reshape(a.shape))

        out._backward = _backward
        return out

    def transpose(self, *axes) -> Tensor:
        """Permute axes; no argument reverses them (as ``ndarray.transpose``)."""
        if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
            axes = tuple(axes[0])
        axes = tuple(range(self.ndim))[::-1] if not axes else axes
        a = self
        out = Tensor._make(a.data.transpose(axes), (a,), "transpose")

        def _backward(g):
            a._add_grad(g.transpose(np.argsort(axes)))

        out._backward = _backward
        return out

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def __getitem__(self, idx) -> Tensor:
        if isinstance(idx, Tensor):
            idx = idx.data.astype(np.intp)
        a = self
        out = Tensor._make(a.data[idx], (a,), "getitem")

        def _backward(g):
            full = np.zeros_like(a.data)
            if _is_basic_index(idx):
                full[idx] = g
            else:  # integer arrays may pick an element twice: add, do not overwrite
                np.add.at(full, idx, g)
            a._add_grad(full)

        out._backward = _backward
        return out

    def astype(self, dtype) -> Tensor:
        """Cast to ``dtype``; the gradient is cast back."""
        a = self
        out = Tensor._make(a.data.astype(dtype), (a,), "astype")

        def _backward(g):
            a._add_grad(g)  # _add_grad casts to a's dtype

        out._backward = _backward
        return out

    # ------------------------------------------------------------------ elementwise

    def exp(self) -> Tensor:
        a = self
        out = Tensor._make(np.exp(a.data), (a,), "exp")

        def _backward(g):
            a._add_grad(g * out.data)

        out._backward = _backward
        return out

    def log(self) -> Tensor:
        a = self
        out = Tensor._make(np.log(a.data), (a,), "log")

        def _backward(g):
            a._add_grad(g / a.data)

        out._backward = _backward
        return out

    def tanh(self) -> Tensor:
        a = self
        out = Tensor._make(np.tanh(a.data), (a,), "tanh")

        def _backward(g):
            a._add_grad(g * (1 - out.data * out.data))

        out._backward = _backward
        return out

    def sigmoid(self) -> Tensor:
        a = self
        # σ(x) = (1 + tanh(x/2)) / 2 never overflows, unlike 1 / (1 + exp(-x)).
        out = Tensor._make(0.5 * (1 + np.tanh(0.5 * a.data)), (a,), "sigmoid")

        def _backward(g):
            a._add_grad(g * out.data * (1 - out.data))

        out._backward = _backward
        return out

    def relu(self) -> Tensor:
        a = self
        out = Tensor._make(np.maximum(a.data, 0), (a,), "relu")

        def _backward(g):
            a._add_grad(g * (a.data > 0))

        out._backward = _backward
        return out

    def leaky_relu(self, negative_slope: float = 0.01) -> Tensor:
        a = self
        slope = np.where(a.data > 0, 1, negative_slope).astype(a.dtype)
        out = Tensor._make(a.data * slope, (a,), "leaky_relu")

        def _backward(g):
            a._add_grad(g * slope)

        out._backward = _backward
        return out

    def abs(self) -> Tensor:
        a = self
        out = Tensor._make(np.abs(a.data), (a,), "abs")

        def _backward(g):
            a._add_grad(g * np.sign(a.data))

        out._backward = _backward
        return out

    def clip(self, low: float | None, high: float | None) -> Tensor:
        """Clamp to ``[low, high]``; no gradient flows where the value was clamped."""
        a = self
        out = Tensor._make(np.clip(a.data, low, high), (a,), "clip")

        def _backward(g):
            a._add_grad(g * (out.data == a.data))

        out._backward = _backward
        return out

    def softmax(self, axis: int = -1) -> Tensor:
        """``exp(x) / Σ exp(x)`` along ``axis``, computed after subtracting the maximum."""
        a = self
        e = np.exp(a.data - a.data.max(axis=axis, keepdims=True))
        out = Tensor._make(e / e.sum(axis=axis, keepdims=True), (a,), "softmax")

        def _backward(g):
            # Jacobian-vector product of softmax: s ⊙ (g − ⟨g, s⟩).
            s = out.data
            a._add_grad(s * (g - (g * s).sum(axis=axis, keepdims=True)))

        out._backward = _backward
        return out

    def log_softmax(self, axis: int = -1) -> Tensor:
        """``x − log Σ exp(x)`` along ``axis``, stable for large logits."""
        a = self
        shifted = a.data - a.data.max(axis=axis, keepdims=True)
        out = Tensor._make(shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True)),
                           (a,), "log_softmax")

        def _backward(g):
            a._add_grad(g - np.exp(out.data) * g.sum(axis=axis, keepdims=True))

        out._backward = _backward
        return out


# ---------------------------------------------------------------------- joining


def _as_tensors(tensors: Sequence) -> list[Tensor]:
    return [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]


def concat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (as ``np.concatenate``)."""
    parts = _as_tensors(tensors)
    if not parts:
        raise ValueError("concat: tensors is empty; pass at least one tensor")
    out = Tensor._make(np.concatenate([t.data for t in parts], axis=axis), tuple(parts), "concat")

    def _backward(g):
        bounds = np.cumsum([t.shape[axis] for t in parts])[:-1]
        for t, piece in zip(parts, np.split(g, bounds, axis=axis)):
            t._add_grad(piece)

    out._backward = _backward
    return out


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors of equal shape along a new axis (as ``np.stack``)."""
    parts = _as_tensors(tensors)
    if not parts:
        raise ValueError("stack: tensors is empty; pass at least one tensor")
    out = Tensor._make(np.stack([t.data for t in parts], axis=axis), tuple(parts), "stack")

    def _backward(g):
        for i, t in enumerate(parts):
            t._add_grad(np.take(g, i, axis=axis))

    out._backward = _backward
    return out


# `Tensor.concat([a, b])` and `Tensor.stack([a, b])` read as well as the functions.
Tensor.concat = staticmethod(concat)
Tensor.stack = staticmethod(stack)
