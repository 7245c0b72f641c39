"""A network of one 2-D convolution layer with the Sobel filters fixed (TU Wien, problem 4.1.3).

The layer has one input channel and two 3x3 filters, no bias, and its weights are set by hand
and frozen (never trained)::

    W0 = [[-1, 0, 1],        W1 = [[-1, -2, -1],
          [-2, 0, 2],              [ 0,  0,  0],
          [-1, 0, 1]]              [ 1,  2,  1]]

A convolution layer computes a cross-correlation (the kernel is not flipped), so output 0 at
pixel (i, j) is (right column - left column) of the 3x3 neighbourhood, weighted 1-2-1: a
horizontal derivative that lights up at vertical edges, positive where the image gets brighter
to the right. Output 1 is the vertical derivative (bottom row - top row): horizontal edges.
Without padding an H x W image gives two (H - 2) x (W - 2) maps.

Run it as a program (``python conv_layer.py --help``) on grey or colour images (colour is
converted to grey first)::

    python conv_layer.py bike.png edges.png --out sobel_outputs.png

It reads PNG files (or NumPy ``.npy`` arrays of shape (H, W) or (H, W, 3) in [0, 1]) and needs
NumPy, PyTorch and matplotlib.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
from torch import nn

# Sobel kernels (cross-correlation, as nn.Conv2d computes): W0 = d/dx (right minus left),
# W1 = d/dy (bottom minus top), each a [1, 2, 1] smoothing times a [-1, 0, 1] difference.
SOBEL_W0 = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
SOBEL_W1 = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=np.float64)

###############################################################################
# The network


def sobel_weights() -> np.ndarray:
    """The two Sobel filters as a conv weight of shape (F=2, C=1, 3, 3)."""
    return np.stack([SOBEL_W0, SOBEL_W1])[:, None]


def fixed_conv(weight: np.ndarray, padding: int | str = 0) -> nn.Conv2d:
    """An ``nn.Conv2d`` without bias whose weight (F, C, KH, KW) is set and frozen."""
    f, c, kh, kw = weight.shape
    conv = nn.Conv2d(c, f, (kh, kw), padding=padding, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(weight))
    conv.weight.requires_grad_(False)  # fixed: no optimizer will change it
    return conv


def sobel_net() -> nn.Conv2d:
    """One conv layer, 1 -> 2 channels, 3x3, no padding ('valid'), weights W0 and W1."""
    return fixed_conv(sobel_weights(), padding=0)


@torch.no_grad()
def apply_to_image(net: nn.Module, X: np.ndarray, device="cpu") -> np.ndarray:
    """Run ``net`` in float32 on ``device`` over one image X (C, H, W); returns (F, OH, OW)."""
    net = net.to(device).eval()
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))[None].to(device)
    return net(x)[0].double().cpu().numpy()


###############################################################################
# Images


def read_gray(path: str) -> np.ndarray:
    """A grey image (H, W) in [0, 1] from a PNG file or a ``.npy`` array.

    Colour is converted with the ITU-R 709 luminance weights (0.2125 R + 0.7154 G + 0.0721 B);
    an alpha channel is dropped. Raises ValueError saying what is wrong with the file.
    """
    import matplotlib.image

    try:
        if path.lower().endswith(".npy"):
            X = np.load(path, allow_pickle=False).astype(np.float64)
        else:
            X = matplotlib.image.imread(path).astype(np.float64)  # PNG: floats in [0, 1]
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise ValueError(f"{path}: not a readable PNG or .npy image ({e})") from None
    if X.ndim == 3 and X.shape[2] in (3, 4):
        X = X[..., :3] @ np.array([0.2125, 0.7154, 0.0721])  # (H, W)
    if X.ndim != 2 or min(X.shape) < 3 or not np.all(np.isfinite(X)):
        raise ValueError(f"{path}: need a grey or RGB image of at least 3x3 finite pixels; "
                         f"got shape {X.shape}")
    if X.max() > 1.0:  # 8-bit values in a .npy array
        X = X / 255.0
    return X


def outputs_figure(images: dict[str, np.ndarray], outputs: dict[str, np.ndarray], path: str):
    """One row per image: the input, then the output of W0 and of W1 (same colour scale)."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(images), 3, figsize=(11, 3.6 * len(images)), squeeze=False)
    for row, (name, X) in enumerate(images.items()):
        G = outputs[name]  # (2, H - 2, W - 2)
        limit = float(np.abs(G).max()) or 1.0
        axes[row, 0].imshow(X, cmap="gray", vmin=0, vmax=1)
        axes[row, 0].set_title(f"{name}: input {X.shape[0]}x{X.shape[1]}")
        for k, label in enumerate(("W0 (d/dx): vertical edges", "W1 (d/dy): horizontal edges")):
            im = axes[row, k + 1].imshow(G[k], cmap="RdBu_r", vmin=-limit, vmax=limit)
            axes[row, k + 1].set_title(f"output of {label}", fontsize=9)
            fig.colorbar(im, ax=axes[row, k + 1], fraction=0.046, pad=0.04)
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


###############################################################################
# The program


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv=None) -> int:
    parser = _Parser(
        prog="conv_layer.py",
        description="Apply a network of one 2-D convolution layer, its two 3x3 filters fixed\n"
                    "to the Sobel kernels W0 (d/dx) and W1 (d/dy), to images and plot the\n"
                    "output of each filter.",
        epilog="the images: PNG files (grey or colour, colour is converted to grey) or .npy\n"
               "arrays (H, W) or (H, W, 3).\n\n"
               "example:\n  python conv_layer.py bike.png edges.png --out sobel_outputs.png",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", help="image files (PNG or .npy)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu",
                        help="where to run the layer (default cpu)")
    parser.add_argument("--out", default="sobel_outputs.png", help="where to save the figure "
                        "(default sobel_outputs.png)")
    args = parser.parse_args(argv)
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible")
    try:
        images = {os.path.basename(p): read_gray(p) for p in args.images}
    except ValueError as e:
        parser.error(str(e))

    net = sobel_net()
    print(net)
    print("W0 =\n", net.weight[0, 0].numpy(), "\nW1 =\n", net.weight[1, 0].numpy())
    outputs = {}
    for name, X in images.items():
        outputs[name] = G = apply_to_image(net, X[None], device)  # (2, H - 2, W - 2)
        print(f"{name}: {X.shape} -> {G.shape}; largest |output| W0 {np.abs(G[0]).max():.3f}, "
              f"W1 {np.abs(G[1]).max():.3f}")
    print(f"saved {outputs_figure(images, outputs, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
