"""CS231n's published convolution and max-pooling checks, run on stridelab.core.

Ported from Stanford CS231n, assignment 2, ``ConvolutionalNetworks.ipynb``: the cells
"Convolution: Naive forward pass", "Convolution: Naive backward pass", "Max-Pooling: Naive
forward", "Max-Pooling: Naive backward" and the two convolutional "sandwich" layers
(``conv_relu_pool``, ``conv_relu``). Their inputs (``np.linspace`` grids, ``np.random.seed(231)``
draws in the notebook's order), their expected outputs (``correct_out``, to the 8 decimals the
notebook prints) and their numeric-gradient helper (``cs231n/gradient_check.py``'s
``eval_numerical_gradient_array`` with h = 1e-5, and the notebook's ``rel_error``) are theirs,
unchanged. Where stridelab's layer takes arguments by name, the notebook's
``conv_param = {'stride': s, 'pad': p}`` and ``pool_param = {'pool_height': 2, 'pool_width': 2,
'stride': 2}`` become ``stride=s, padding=p`` and ``kernel_size=2, stride=2``.

The bounds asserted are the notebook's own words ("difference should be around e-8", "your
error should be around 1e-12"), with the values its reference solution printed beside each.
Not ported: the "fast layers" timing cells (they compare CS231n's two implementations with each
other) and the ThreeLayerConvNet checks (their model and its initialisation are the student's
code, not published numbers).
"""

import numpy as np

from stridelab.core import Tensor
from stridelab.core import functional as F


def rel_error(x, y):
    """ returns relative error """
    return np.max(np.abs(x - y) / (np.maximum(1e-8, np.abs(x) + np.abs(y))))


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """
    Evaluate a numeric gradient for a function that accepts a numpy
    array and returns a numpy array.
    """
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index

        oldval = x[ix]
        x[ix] = oldval + h
        pos = f(x).copy()
        x[ix] = oldval - h
        neg = f(x).copy()
        x[ix] = oldval

        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


# ---------------------------------------------------------------------- the layers, by stridelab


def conv_forward(x, w, b, conv_param):
    return F.conv2d(x, w, b, stride=conv_param["stride"], padding=conv_param["pad"]).data


def max_pool_forward(x, pool_param):
    assert pool_param["pool_height"] == pool_param["pool_width"]
    return F.max_pool2d(x, pool_param["pool_height"], stride=pool_param["stride"]).data


def conv_relu_forward(x, w, b, conv_param):
    return F.relu(F.conv2d(x, w, b, stride=conv_param["stride"], padding=conv_param["pad"])).data


def conv_relu_pool_forward(x, w, b, conv_param, pool_param):
    a = F.relu(F.conv2d(x, w, b, stride=conv_param["stride"], padding=conv_param["pad"]))
    return F.max_pool2d(a, pool_param["pool_height"], stride=pool_param["stride"]).data


def backward(forward, dout, *arrays):
    """The engine's gradients of ``Σ forward(*arrays) ⊙ dout`` with respect to every array."""
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    forward(*tensors).backward(dout)
    return [t.grad for t in tensors]


def _conv(x, w, b, conv_param):
    return F.conv2d(x, w, b, stride=conv_param["stride"], padding=conv_param["pad"])


# ---------------------------------------------------------------------- the notebook's cells


def test_conv_forward_naive():
    x_shape = (2, 3, 4, 4)
    w_shape = (3, 3, 4, 4)
    x = np.linspace(-0.1, 0.5, num=np.prod(x_shape)).reshape(x_shape)
    w = np.linspace(-0.2, 0.3, num=np.prod(w_shape)).reshape(w_shape)
    b = np.linspace(-0.1, 0.2, num=3)

    conv_param = {'stride': 2, 'pad': 1}
    out = conv_forward(x, w, b, conv_param)
    correct_out = np.array([[[[-0.08759809, -0.10987781],
                              [-0.18387192, -0.2109216 ]],
                             [[ 0.21027089,  0.21661097],
                              [ 0.22847626,  0.23004637]],
                             [[ 0.50813986,  0.54309974],
                              [ 0.64082444,  0.67101435]]],
                            [[[-0.98053589, -1.03143541],
                              [-1.19128892, -1.24695841]],
                             [[ 0.69108355,  0.66880383],
                              [ 0.59480972,  0.56776003]],
                             [[ 2.36270298,  2.36904306],
                              [ 2.38090835,  2.38247847]]]])  # noqa: E201, E202

    # "Compare your output to ours; difference should be around 2e-8" (printed: 2.21e-08)
    assert rel_error(out, correct_out) < 1e-7


def test_conv_backward_naive():
    np.random.seed(231)
    x = np.random.randn(4, 3, 5, 5)
    w = np.random.randn(2, 3, 3, 3)
    b = np.random.randn(2,)
    dout = np.random.randn(4, 2, 5, 5)
    conv_param = {'stride': 1, 'pad': 1}

    dx_num = eval_numerical_gradient_array(lambda x: conv_forward(x, w, b, conv_param), x, dout)
    dw_num = eval_numerical_gradient_array(lambda w: conv_forward(x, w, b, conv_param), w, dout)
    db_num = eval_numerical_gradient_array(lambda b: conv_forward(x, w, b, conv_param), b, dout)

    dx, dw, db = backward(lambda x, w, b: _conv(x, w, b, conv_param), dout, x, w, b)

    # "Your errors should be around e-8 or less" (printed: 1.57e-08, 1.79e-10, 2.58e-11)
    assert rel_error(dx, dx_num) < 1e-7
    assert rel_error(dw, dw_num) < 1e-7
    assert rel_error(db, db_num) < 1e-7


def test_max_pool_forward_naive():
    x_shape = (2, 3, 4, 4)
    x = np.linspace(-0.3, 0.4, num=np.prod(x_shape)).reshape(x_shape)
    pool_param = {'pool_width': 2, 'pool_height': 2, 'stride': 2}

    out = max_pool_forward(x, pool_param)

    correct_out = np.array([[[[-0.26315789, -0.24842105],
                              [-0.20421053, -0.18947368]],
                             [[-0.14526316, -0.13052632],
                              [-0.08631579, -0.07157895]],
                             [[-0.02736842, -0.01263158],
                              [ 0.03157895,  0.04631579]]],
                            [[[ 0.09052632,  0.10526316],
                              [ 0.14947368,  0.16421053]],
                             [[ 0.20842105,  0.22315789],
                              [ 0.26736842,  0.28210526]],
                             [[ 0.32631579,  0.34105263],
                              [ 0.38526316,  0.4       ]]]])  # noqa: E201, E202

    # "Difference should be around 1e-8" (printed: 4.17e-08)
    assert rel_error(out, correct_out) < 1e-7


def test_max_pool_backward_naive():
    np.random.seed(231)
    x = np.random.randn(3, 2, 8, 8)
    dout = np.random.randn(3, 2, 4, 4)
    pool_param = {'pool_height': 2, 'pool_width': 2, 'stride': 2}

    dx_num = eval_numerical_gradient_array(lambda x: max_pool_forward(x, pool_param), x, dout)

    dx, = backward(lambda x: F.max_pool2d(x, 2, stride=2), dout, x)

    # "Your error should be around 1e-12" (printed: 3.28e-12)
    assert rel_error(dx, dx_num) < 1e-10


def test_conv_relu_pool():
    np.random.seed(231)
    x = np.random.randn(2, 3, 16, 16)
    w = np.random.randn(3, 3, 3, 3)
    b = np.random.randn(3,)
    dout = np.random.randn(2, 3, 8, 8)
    conv_param = {'stride': 1, 'pad': 1}
    pool_param = {'pool_height': 2, 'pool_width': 2, 'stride': 2}

    dx, dw, db = backward(
        lambda x, w, b: F.max_pool2d(F.relu(_conv(x, w, b, conv_param)), 2, stride=2), dout,
        x, w, b)

    dx_num = eval_numerical_gradient_array(lambda x: conv_relu_pool_forward(x, w, b, conv_param, pool_param), x, dout)  # noqa: E501
    dw_num = eval_numerical_gradient_array(lambda w: conv_relu_pool_forward(x, w, b, conv_param, pool_param), w, dout)  # noqa: E501
    db_num = eval_numerical_gradient_array(lambda b: conv_relu_pool_forward(x, w, b, conv_param, pool_param), b, dout)  # noqa: E501

    # printed: dx 4.40e-09, dw 3.65e-09, db 3.72e-10
    assert rel_error(dx_num, dx) < 1e-7
    assert rel_error(dw_num, dw) < 1e-7
    assert rel_error(db_num, db) < 1e-7


def test_conv_relu():
    np.random.seed(231)
    x = np.random.randn(2, 3, 8, 8)
    w = np.random.randn(3, 3, 3, 3)
    b = np.random.randn(3,)
    dout = np.random.randn(2, 3, 8, 8)
    conv_param = {'stride': 1, 'pad': 1}

    dx, dw, db = backward(lambda x, w, b: F.relu(_conv(x, w, b, conv_param)), dout, x, w, b)

    dx_num = eval_numerical_gradient_array(lambda x: conv_relu_forward(x, w, b, conv_param), x, dout)  # noqa: E501
    dw_num = eval_numerical_gradient_array(lambda w: conv_relu_forward(x, w, b, conv_param), w, dout)  # noqa: E501
    db_num = eval_numerical_gradient_array(lambda b: conv_relu_forward(x, w, b, conv_param), b, dout)  # noqa: E501

    # printed: dx 4.85e-09, dw 3.83e-10, db 2.94e-10
    assert rel_error(dx_num, dx) < 1e-7
    assert rel_error(dw_num, dw) < 1e-7
    assert rel_error(db_num, db) < 1e-7
