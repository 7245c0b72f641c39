"""Layers, Sequential, summary, state dicts, and a tiny network that learns."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from core_helpers import check_op

from stridelab.core import Adam, Tensor, cross_entropy, nn


def lenet():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding="same", rng=0), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5, rng=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dense(400, 120, rng=2), nn.ReLU(), nn.Dense(120, 84, rng=3), nn.ReLU(),
        nn.Dense(84, 10, rng=4),
    )


def test_summary_lists_shapes_counts_and_formulas():
    s = nn.summary(lenet(), (1, 28, 28))
    rows = [(r.name, r.output_shape, r.num_params, r.formula) for r in s.rows]
    assert rows[0] == ("Conv2d", ("N", 6, 28, 28), 6 * (5 * 5 * 1 + 1), "6·(5·5·1 + 1)")
    assert rows[2] == ("MaxPool2d", ("N", 6, 14, 14), 0, "")
    assert rows[3] == ("Conv2d", ("N", 16, 10, 10), 2416, "16·(5·5·6 + 1)")
    assert rows[6] == ("Flatten", ("N", 400), 0, "")
    assert rows[7] == ("Dense", ("N", 120), 48120, "120·(400 + 1)")
    assert s.total_params == 156 + 2416 + 48120 + 10164 + 850
    text = str(s)
    assert "6·(5·5·1 + 1) = 156" in text and "Total parameters: 61,706" in text


def test_summary_of_depthwise_separable_grouped_and_1d_layers():
    model = nn.Sequential(nn.DepthwiseSeparableConv2d(32, 64, 3, padding=1),
                          nn.Conv2d(64, 64, 3, groups=4, bias=False))
    s = nn.summary(model, (32, 8, 8))
    # depthwise: 32·(3·3·1 + 1) = 320; pointwise: 64·(1·1·32 + 1) = 2112.
    assert (s.rows[0].num_params, s.rows[0].formula) == (2432, "32·(3·3·1 + 1) + 64·(1·1·32 + 1)")
    assert s.rows[0].output_shape == ("N", 64, 8, 8)
    assert (s.rows[1].num_params, s.rows[1].formula) == (64 * 3 * 3 * 16, "64·3·3·16")
    s1 = nn.summary(nn.Conv1d(16, 32, 7, padding="same"), (16, 256))
    assert (s1.rows[0].num_params, s1.rows[0].formula) == (32 * (7 * 16 + 1), "32·(7·16 + 1)")
    assert s1.rows[0].output_shape == ("N", 32, 256)


def test_summary_of_3d_and_transposed_layers():
    # A clip of 8 frames of 16x16: conv3d keeps the size ("same"), pooling halves it, a
    # transposed 3-D convolution doubles it back.
    model = nn.Sequential(nn.Conv3d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool3d(2),
                          nn.Conv3d(8, 16, (1, 3, 3), groups=2, bias=False),
                          nn.ConvTranspose3d(16, 4, 2, stride=2),
                          nn.AvgPool3d((1, 2, 2), ceil_mode=True))
    s = nn.summary(model, (3, 8, 16, 16))
    rows = [(r.name, r.output_shape, r.num_params, r.formula) for r in s.rows]
    assert rows[0] == ("Conv3d", ("N", 8, 8, 16, 16), 8 * (3 * 3 * 3 * 3 + 1), "8·(3·3·3·3 + 1)")
    assert rows[2] == ("MaxPool3d", ("N", 8, 4, 8, 8), 0, "")
    assert rows[3] == ("Conv3d", ("N", 16, 4, 6, 6), 16 * 3 * 3 * 4, "16·1·3·3·4")
    # weight (16, 4, 2, 2, 2) and bias (4,): 4·(2·2·2·16 + 1)
    assert rows[4] == ("ConvTranspose3d", ("N", 4, 8, 12, 12), 4 * (8 * 16 + 1),
                       "4·(2·2·2·16 + 1)")
    assert rows[5] == ("AvgPool3d", ("N", 4, 8, 6, 6), 0, "")
    assert s.total_params == sum(p.size for p in model.parameters())
    assert "Total parameters: 1,748" in str(s)        # 656 + 576 + 516


def test_summary_of_1d_pooling_and_transposed_layers():
    model = nn.Sequential(nn.Conv1d(2, 4, 5, padding="same"), nn.MaxPool1d(3, ceil_mode=True),
                          nn.ConvTranspose1d(4, 2, 4, stride=3, output_padding=1),
                          nn.AvgPool1d(2, count_include_pad=False))
    s = nn.summary(model, (2, 10))
    assert [r.output_shape for r in s.rows] == [("N", 4, 10), ("N", 4, 4), ("N", 2, 14),
                                                ("N", 2, 7)]
    assert s.rows[2].formula == "2·(4·4 + 1)" and s.rows[2].num_params == 4 * 2 * 4 + 2


def test_new_layers_match_torch():
    rng = np.random.default_rng(1)
    conv3 = nn.Conv3d(2, 3, (2, 3, 3), stride=(1, 2, 2), padding=1, rng=0, dtype=np.float64)
    check_op(lambda x, w, b: _with(conv3, w, b)(x),
             lambda x, w, b: TF.conv3d(x, w, b, stride=(1, 2, 2), padding=1),
             rng.standard_normal((2, 2, 3, 5, 5)), conv3.weight.data, conv3.bias.data)
    up = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1, groups=2, rng=0,
                            dtype=np.float64)
    assert up.weight.shape == (4, 1, 3, 3)
    check_op(lambda x, w, b: _with(up, w, b)(x),
             lambda x, w, b: TF.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1,
                                                 groups=2),
             rng.standard_normal((2, 4, 3, 4)), up.weight.data, up.bias.data)
    x = rng.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) / 100.0
    out, idx = nn.MaxPool2d(3, stride=2, dilation=(1, 2), ceil_mode=True,
                            return_indices=True)(x)
    expected, expected_idx = TF.max_pool2d(torch.tensor(x), 3, stride=2, dilation=(1, 2),
                                           ceil_mode=True, return_indices=True)
    np.testing.assert_array_equal(out.data, expected.numpy())
    np.testing.assert_array_equal(idx, expected_idx.numpy())
    back = nn.MaxUnpool2d(3, stride=2)(out, idx, output_size=(7, 6))
    np.testing.assert_array_equal(
        back.data, TF.max_unpool2d(expected, expected_idx, 3, stride=2, output_size=(7, 6)))
    np.testing.assert_allclose(nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False)(x)
                               .data, TF.avg_pool2d(torch.tensor(x), 3, 2, 1, ceil_mode=True,
                                                    count_include_pad=False).numpy())


def test_layers_match_torch():
    rng = np.random.default_rng(0)
    dense = nn.Dense(5, 3, rng=0, dtype=np.float64)
    check_op(lambda x, w, b: _with(dense, w, b)(x), lambda x, w, b: TF.linear(x, w, b),
             rng.standard_normal((4, 5)), dense.weight.data, dense.bias.data)
    conv = nn.Conv2d(2, 4, 3, stride=2, padding=1, rng=0, dtype=np.float64)
    check_op(lambda x, w, b: _with(conv, w, b)(x),
             lambda x, w, b: TF.conv2d(x, w, b, stride=2, padding=1),
             rng.standard_normal((2, 2, 6, 6)), conv.weight.data, conv.bias.data)


def _with(layer, weight, bias):
    layer.weight, layer.bias = weight, bias
    return layer


def test_parameters_names_and_initialisation():
    model = lenet()
    names = [name for name, _ in model.named_parameters()]
    assert names[:2] == ["layers.0.weight", "layers.0.bias"]
    assert len(model.parameters()) == 10
    w = model[0].weight
    assert w.dtype == np.float32 and np.abs(w.data).max() <= np.sqrt(6 / 25)
    assert np.all(model[0].bias.data == 0)


def test_state_dict_round_trip_and_mismatch():
    a, b = lenet(), nn.Sequential(*lenet().layers)
    for p in b.parameters():
        p.data[...] = 0
    b.load_state_dict(a.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(a(x).data, b(x).data)
    state = a.state_dict()
    state["layers.0.bias"] = np.zeros(7)
    with pytest.raises(ValueError, match=r"state\['layers.0.bias'\] has shape \(7,\)"):
        b.load_state_dict(state)
    with pytest.raises(ValueError, match="missing"):
        b.load_state_dict({})


def test_dropout_layer_follows_train_and_eval():
    model = nn.Sequential(nn.Dropout(0.5, rng=0))
    x = np.ones((10, 10))
    assert (model(x).data == 0).any()
    model.eval()
    np.testing.assert_array_equal(model(x).data, x)
    assert not model[0].training


def test_bad_layer_arguments():
    with pytest.raises(ValueError, match="groups=3 must divide in_channels=4"):
        nn.Conv2d(4, 6, 3, groups=3)
    with pytest.raises(ValueError, match=r"Dense: x must have shape \(N, 5\)"):
        nn.Dense(5, 2)(np.zeros((3, 4)))


def test_activation_layers():
    x = np.array([[-1.0, 0.5]])
    np.testing.assert_allclose(nn.ReLU()(x).data, [[0.0, 0.5]])
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(x).data, [[-0.1, 0.5]])
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh(x))
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(nn.Softmax()(x).data.sum(), 1.0)
    np.testing.assert_allclose(nn.LogSoftmax()(x).data,
                               torch.log_softmax(torch.tensor(x), -1).numpy())
    assert nn.Upsample(2)(np.zeros((1, 1, 2, 2))).shape == (1, 1, 4, 4)
    assert nn.AvgPool2d(2)(np.zeros((1, 1, 4, 4))).shape == (1, 1, 2, 2)


def test_a_small_cnn_learns_bars():
    # Vertical bars are class 0, horizontal bars class 1; a conv net separates them quickly.
    rng = np.random.default_rng(0)
    X = np.zeros((64, 1, 6, 6), dtype=np.float32)
    y = rng.integers(0, 2, 64)
    for i, (label, pos) in enumerate(zip(y, rng.integers(0, 6, 64))):
        if label == 0:
            X[i, 0, :, pos] = 1
        else:
            X[i, 0, pos, :] = 1
    X += 0.1 * rng.standard_normal(X.shape).astype(np.float32)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding="same", rng=0), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Dense(36, 2, rng=1))
    opt = Adam(model.parameters(), lr=0.02)
    first = None
    for _ in range(40):
        opt.zero_grad()
        loss = cross_entropy(model(Tensor(X)), y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    accuracy = (model(X).data.argmax(axis=1) == y).mean()
    assert loss.item() < first / 10 and accuracy == 1.0


def test_linear_is_dense_under_pytorchs_name_and_matches_torch():
    torch = pytest.importorskip("torch")
    lin = nn.Linear(5, 3, rng=0, dtype=np.float64)
    dense = nn.Dense(5, 3, rng=0, dtype=np.float64)
    x = np.random.default_rng(1).normal(size=(4, 5))
    np.testing.assert_array_equal(lin(x).data, dense(x).data)
    ref = torch.nn.Linear(5, 3).double()
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(lin.weight.data))
        ref.bias.copy_(torch.from_numpy(lin.bias.data))
    xt = torch.from_numpy(x).requires_grad_()
    (ref(xt) ** 2).sum().backward()
    xe = Tensor(x, requires_grad=True)
    (lin(xe) ** 2).sum().backward()
    np.testing.assert_allclose(lin.weight.grad, ref.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(xe.grad, xt.grad.numpy(), rtol=1e-12)
    assert repr(lin) == "Linear(5, 3)"
    with pytest.raises(ValueError, match=r"Linear: x must have shape \(N, 5\)"):
        lin(np.zeros((2, 4)))
