"""Convolution layers with hand-set, frozen weights: the Sobel filters, sepia and a Gaussian blur.

Plain ``torch.nn`` modules (no stridelab imports): :func:`sobel_net` (one layer, 1 → 2 channels,
the Sobel kernels W0 = d/dx and W1 = d/dy) and :func:`sepia_blur_net` (a 1×1 convolution holding
the sepia matrix, a clip to [0, 1], and a 5×5 per-channel Gaussian blur with the course's
273-normalised table). Weights follow ``nn.Conv2d``'s cross-correlation: no kernel flip.
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

from typing import Literal

import numpy as np
import torch
from torch import nn

# Sobel kernels (cross-correlation, as nn.Conv2d computes): W0 = d/dx (right minus left),
# W1 = d/dy (bottom minus top), each a [1, 2, 1] smoothing times a [-1, 0, 1] difference.
SOBEL_W0 = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
SOBEL_W1 = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64)

# Sepia: row o gives output channel o (R', G', B') from the input (R, G, B).
SEPIA = np.array([[0.393, 0.769, 0.189],
                  [0.349, 0.686, 0.168],
                  [0.272, 0.534, 0.131]], dtype=np.float64)

# The 5×5 Gaussian table of the course; its entries sum to 273.
GAUSS_TABLE = np.array([[1, 4, 7, 4, 1],
                        [4, 16, 26, 16, 4],
                        [7, 26, 41, 26, 7],
                        [4, 16, 26, 16, 4],
                        [1, 4, 7, 4, 1]], dtype=np.float64)
GAUSS = GAUSS_TABLE / GAUSS_TABLE.sum()


def sobel_weights() -> np.ndarray:
    """The two Sobel filters as a conv weight of shape (F=2, C=1, 3, 3)."""
    return np.stack([SOBEL_W0, SOBEL_W1])[:, None]


def sepia_weights() -> np.ndarray:
    """The sepia matrix as a 1×1 conv weight of shape (F=3, C=3, 1, 1): w[o, i] = SEPIA[o, i]."""
    return SEPIA[:, :, None, None].copy()


def blur_weights() -> np.ndarray:
    """Per-channel Gaussian blur as a conv weight (F=3, C=3, 5, 5): GAUSS on the diagonal o = i,
    zeros elsewhere, so filter o reads channel o only."""
    w = np.zeros((3, 3, 5, 5))
    for c in range(3):
        w[c, c] = GAUSS
    return w


def fixed_conv(weight: np.ndarray, padding: int | str) -> nn.Conv2d:
    """An ``nn.Conv2d`` without bias whose weight (F, C, KH, KW) is set and frozen."""
    f, c, kh, kw = weight.shape
    conv = nn.Conv2d(c, f, (kh, kw), padding=padding, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(weight))
    conv.weight.requires_grad_(False)
    return conv


def sobel_net() -> nn.Conv2d:
    """One conv layer, 1 → 2 channels, 3×3, valid padding, weights W0 and W1."""
    return fixed_conv(sobel_weights(), padding=0)


def sepia_blur_net(padding: Literal["valid", "same"] = "valid") -> nn.Sequential:
    """1×1 sepia conv → clip to [0, 1] → 5×5 per-channel Gaussian blur.

    ``padding="valid"`` maps (N, 3, H, W) to (N, 3, H − 4, W − 4); ``"same"`` pads 2 zeros on
    each side and keeps (H, W).
    """
    if padding not in ("valid", "same"):
        raise ValueError(f"padding={padding!r}: choose 'valid' or 'same'")
    return nn.Sequential(fixed_conv(sepia_weights(), padding=0),
                         nn.Hardtanh(0.0, 1.0),  # clip to [0, 1]
                         fixed_conv(blur_weights(), padding=0 if padding == "valid" else 2))


@torch.no_grad()
def apply_to_image(net: nn.Module, X: np.ndarray, device) -> np.ndarray:
    """Run ``net`` in float32 on ``device`` over one image X (C, H, W); returns (F, OH, OW)."""
    net = net.to(device).eval()
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))[None].to(device)
    return net(x)[0].double().cpu().numpy()
