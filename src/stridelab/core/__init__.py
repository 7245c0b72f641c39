"""stridelab.core: a from-scratch autograd engine on NumPy (it never imports torch).

>>> from stridelab.core import Tensor, functional as F, nn, losses, optim, gradcheck
>>> x = Tensor([[1.0, -2.0]], requires_grad=True)
>>> (x.relu() * 3).sum().backward()
>>> x.grad
array([[3., 0.]])
"""

from stridelab.core import functional, losses, nn, optim, parallel, reference
from stridelab.core.gradcheck import GradcheckResult, gradcheck
from stridelab.core.losses import binary_cross_entropy, cross_entropy, l2, mse, sse_half
from stridelab.core.optim import SGD, Adam
from stridelab.core.parallel import get_num_threads, set_num_threads
from stridelab.core.tensor import Tensor, concat, no_grad, stack

__all__ = [
    "Tensor", "concat", "stack", "no_grad",
    "functional", "nn", "losses", "optim", "parallel", "reference",
    "get_num_threads", "set_num_threads",
    "gradcheck", "GradcheckResult",
    "mse", "sse_half", "cross_entropy", "binary_cross_entropy", "l2",
    "SGD", "Adam",
]
