"""The CIFAR models and their pieces: the input pipeline, crops and flips, CifarResNet, the
flip average, depthwise-separable convolutions, and parameter and multiply-add counts."""

import numpy as np  # noqa: I001  (ruff takes tests/torch/ for `torch`)
import pytest
import torch
from torch import nn

from stridelab.programs.cifar10 import CifarResNet, FlipAverage
from stridelab.programs.depthwise_separable import DepthwiseSeparableConv2d, SeparableComparisonNet
from stridelab.torch.models.cifar import (
    ImagePipeline,
    channel_stats,
    conv_macs,
    conv_params,
    count_macs,
    count_params,
    random_crop,
    random_flip,
    separable_macs,
    separable_params,
    separable_ratio,
    to_nchw_uint8,
)


def test_to_nchw_puts_channels_first():
    X = np.arange(2 * 2 * 3 * 3, dtype=np.uint8).reshape(2, 2, 3, 3)  # (N, H, W, C)
    out = to_nchw_uint8(X)
    assert out.shape == (2, 3, 2, 3)
    assert out[1, 2, 0, 1] == X[1, 0, 1, 2]
    assert to_nchw_uint8(np.zeros((4, 28, 28), np.uint8)).shape == (4, 1, 28, 28)


def test_channel_stats_hand_computed():
    X = torch.zeros(2, 2, 1, 2, dtype=torch.uint8)  # (N, C, H, W)
    X[:, 0] = torch.tensor([[[0, 255]], [[0, 255]]], dtype=torch.uint8)  # half 0, half 1
    X[:, 1] = 51  # constant 0.2
    mean, std = channel_stats(X)
    assert mean.tolist() == pytest.approx([0.5, 0.2])
    assert std.tolist() == pytest.approx([0.5, 0.0], abs=1e-6)


def test_pipeline_normalises_per_channel():
    pipe = ImagePipeline([0.5, 0.2, 0.0], [0.5, 0.1, 1.0])
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    out = pipe(x)
    assert out.dtype == torch.float32
    assert out[0, :, 0, 0].tolist() == pytest.approx([1.0, 8.0, 1.0])  # (1-.5)/.5, (1-.2)/.1


def test_random_crop_is_a_window_of_the_padded_image_and_reproducible():
    x = torch.arange(6 * 2 * 5 * 5, dtype=torch.float32).reshape(6, 2, 5, 5)
    out = random_crop(x, 2, torch.Generator().manual_seed(0))
    padded = nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")  # (6, 2, 9, 9)
    offsets = set()
    for n in range(6):
        hits = [(dy, dx) for dy in range(5) for dx in range(5)
                if torch.equal(out[n], padded[n, :, dy:dy + 5, dx:dx + 5])]
        assert len(hits) == 1
        offsets.add(hits[0])
    assert len(offsets) > 1  # the offsets vary from image to image
    again = random_crop(x, 2, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    assert torch.equal(random_crop(x, 0), x)


def test_random_flip_mirrors_some_images_and_keeps_the_rest():
    x = torch.randn(64, 3, 4, 4)
    out = random_flip(x, torch.Generator().manual_seed(1))
    flipped = [torch.equal(o, xi.flip(-1)) for o, xi in zip(out, x)]
    kept = [torch.equal(o, xi) for o, xi in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 16 < sum(flipped) < 48


def test_cifar_resnet_shapes_layer_by_layer():
    model = CifarResNet(width=4)
    x = torch.zeros(2, 3, 32, 32)
    shapes = []
    for layer in model:
        x = layer(x)
        shapes.append(tuple(x.shape))
    assert shapes == [(2, 4, 32, 32), (2, 8, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4),
                      (2, 32, 1, 1), (2, 32), (2, 10), (2, 10)]
    assert count_params(model) == 26340
    assert count_params(CifarResNet(64)) == 6_573_120  # the original ResNet-9 (no biases)


def test_flip_average_is_invariant_to_mirroring():
    torch.manual_seed(0)
    model = FlipAverage(CifarResNet(width=4)).eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x), model(x.flip(-1)))


def test_comparison_nets_differ_only_in_the_convolutions():
    # w = 4 on grey images: stem 1*4*9 + 8 (BN), head 16*10 + 10
    standard = SeparableComparisonNet("standard", width=4, in_channels=1)
    separable = SeparableComparisonNet("separable", width=4, in_channels=1)
    assert count_params(standard) == 44 + (288 + 16) + (1152 + 32) + (2304 + 32) + 170
    assert count_params(separable) == 44 + (36 + 32 + 16) + (72 + 128 + 32) + (144 + 256 + 32) + 170
    x = torch.zeros(3, 1, 28, 28)
    assert standard(x).shape == separable(x).shape == (3, 10)
    with pytest.raises(ValueError, match="standard"):
        SeparableComparisonNet("dilated")


@pytest.mark.parametrize("stride,padding,bias", [(1, 1, False), (2, 0, True), (1, 2, True)])
def test_separable_equals_a_standard_conv_with_the_composed_kernel(stride, padding, bias):
    """Second route: depthwise D (C, 1, K, K) then pointwise P (F, C, 1, 1) is one K×K conv
    with weight W[f, c] = P[f, c] · D[c] and bias b[f] = P[f] · b_D + b_P."""
    torch.manual_seed(0)
    C, F, K = 3, 5, 3
    layer = DepthwiseSeparableConv2d(C, F, K, stride=stride, padding=padding, bias=bias)
    x = torch.randn(2, C, 7, 7, dtype=torch.float64)
    layer = layer.double()
    D = layer.depthwise.weight  # (C, 1, K, K)
    P = layer.pointwise.weight[:, :, 0, 0]  # (F, C)
    W = P[:, :, None, None] * D[:, 0][None]  # (F, C, K, K)
    b = None
    if bias:
        b = P @ layer.depthwise.bias + layer.pointwise.bias  # (F,)
    expected = nn.functional.conv2d(x, W, b, stride=stride, padding=padding)
    torch.testing.assert_close(layer(x), expected)


def test_count_formulas_hand_computed():
    assert conv_params(3, 4, 3) == 108
    assert conv_params(3, 4, 3, bias=True) == 112
    assert separable_params(3, 4, 3) == 27 + 12
    assert separable_params(3, 4, 3, bias=True) == 27 + 12 + 3 + 4
    assert conv_macs(3, 4, 3, 5, 5) == 2700
    assert separable_macs(3, 4, 3, 5, 5) == 675 + 300
    assert separable_ratio(128, 3) == pytest.approx(1 / 128 + 1 / 9)
    assert count_params(DepthwiseSeparableConv2d(3, 4, 3, bias=True)) == 46


def test_hooks_count_the_multiply_adds_of_the_formulas():
    x = torch.zeros(1, 3, 5, 5)
    assert count_macs(nn.Conv2d(3, 4, 3, padding=1, bias=False), x) == 2700
    assert count_macs(DepthwiseSeparableConv2d(3, 4, 3, padding=1), x) == 975
    assert count_macs(nn.Sequential(nn.Flatten(), nn.Linear(75, 2)), x) == 150
    # stride 2, no padding: a 2x2 output
    assert count_macs(DepthwiseSeparableConv2d(3, 4, 3, stride=2), x) == 4 * (27 + 12)
