"""A CNN with fixed weights that tones an image sepia and then blurs it (TU Eindhoven, assignment
4, "Convolutional Neural Networks for Filtering").

The input is a 128 x 128 RGB image with values in [0, 1]. Two convolution layers, no biases,
weights set by hand and never trained:

* layer 1, sepia: 3 filters of shape 1 x 1 x 3. Filter o holds row o of the sepia matrix, so
  output channel o at each pixel is a weighted sum of that pixel's R, G and B::

      R' = 0.393 R + 0.769 G + 0.189 B
      G' = 0.349 R + 0.686 G + 0.168 B
      B' = 0.272 R + 0.534 G + 0.131 B

  The row sums exceed 1 (1.351, 1.203, 0.937), so bright pixels go past 1; they are clipped
  to [0, 1] (a hard-tanh between the layers) as an image viewer would. Output 128 x 128 x 3.
* layer 2, Gaussian blur: 3 filters of shape 5 x 5 x 3. Filter o holds the 5 x 5 table below
  divided by 273 (its sum, so the blur keeps the brightness) on input channel o and zeros on
  the other two channels, so each colour channel is blurred on its own. Without padding
  ('valid') the output is (128 - 5 + 1) x (128 - 5 + 1) x 3 = 124 x 124 x 3; with 2 pixels of
  zero padding ('same') it stays 128 x 128 x 3.

Run it as a program (``python sepia_blur_cnn.py --help``)::

    python sepia_blur_cnn.py photo.png --out sepia_blur.png

It reads a PNG file (or a NumPy ``.npy`` array (H, W, 3) in [0, 1]), crops it to a centred
square and resizes it to 128 x 128, and needs NumPy, SciPy (for the resizing), PyTorch and
matplotlib.
"""

from __future__ import annotations

import argparse
import sys
from typing import Literal

import numpy as np
import torch
from torch import nn

# Sepia: row o gives output channel o (R', G', B') from the input (R, G, B).
SEPIA = np.array([[0.393, 0.769, 0.189],
                  [0.349, 0.686, 0.168],
                  [0.272, 0.534, 0.131]], dtype=np.float64)

# The sheet's discretised 5x5 Gaussian (sigma = 1); its entries sum to 273.
GAUSS_TABLE = np.array([[1, 4, 7, 4, 1],
                        [4, 16, 26, 16, 4],
                        [7, 26, 41, 26, 7],
                        [4, 16, 26, 16, 4],
                        [1, 4, 7, 4, 1]], dtype=np.float64)
GAUSS = GAUSS_TABLE / GAUSS_TABLE.sum()

###############################################################################
# The network


def sepia_weights() -> np.ndarray:
    """The sepia matrix as a 1x1 conv weight of shape (F=3, C=3, 1, 1): w[o, i] = SEPIA[o, i]."""
    return SEPIA[:, :, None, None].copy()


def blur_weights() -> np.ndarray:
    """Per-channel Gaussian blur as a conv weight (F=3, C=3, 5, 5): GAUSS on the diagonal o = i,
    zeros elsewhere, so filter o reads channel o only."""
    w = np.zeros((3, 3, 5, 5))
    for c in range(3):
        w[c, c] = GAUSS
    return w


def fixed_conv(weight: np.ndarray, padding: int | str = 0) -> nn.Conv2d:
    """An ``nn.Conv2d`` without bias whose weight (F, C, KH, KW) is set and frozen."""
    f, c, kh, kw = weight.shape
    conv = nn.Conv2d(c, f, (kh, kw), padding=padding, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(weight))
    conv.weight.requires_grad_(False)  # fixed: no optimizer will change it
    return conv


def sepia_blur_net(padding: Literal["valid", "same"] = "valid") -> nn.Sequential:
    """1x1 sepia conv -> clip to [0, 1] -> 5x5 per-channel Gaussian blur.

    ``padding="valid"`` maps (N, 3, H, W) to (N, 3, H - 4, W - 4); ``"same"`` pads 2 zeros on
    each side and keeps (H, W).
    """
    if padding not in ("valid", "same"):
        raise ValueError(f"padding={padding!r}: choose 'valid' or 'same'")
    return nn.Sequential(fixed_conv(sepia_weights(), padding=0),
                         nn.Hardtanh(0.0, 1.0),  # clip to [0, 1]
                         fixed_conv(blur_weights(), padding=0 if padding == "valid" else 2))


@torch.no_grad()
def apply_to_image(net: nn.Module, X: np.ndarray, device="cpu") -> np.ndarray:
    """Run ``net`` in float32 on ``device`` over one image X (C, H, W); returns (F, OH, OW)."""
    net = net.to(device).eval()
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))[None].to(device)
    return net(x)[0].double().cpu().numpy()


###############################################################################
# Images


def read_rgb(path: str, size: int = 128) -> np.ndarray:
    """An RGB image (size, size, 3) in [0, 1]: a PNG file or ``.npy`` array, cropped to a
    centred square and resized (bilinear). Grey images are repeated on the three channels.
    Raises ValueError saying what is wrong with the file."""
    import matplotlib.image
    from scipy.ndimage import zoom

    try:
        if path.lower().endswith(".npy"):
            X = np.load(path, allow_pickle=False).astype(np.float64)
        else:
            X = matplotlib.image.imread(path).astype(np.float64)  # PNG: floats in [0, 1]
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (OSError, ValueError, SyntaxError) as e:
        raise ValueError(f"{path}: not a readable PNG or .npy image ({e})") from None
    if X.ndim == 2:
        X = np.repeat(X[:, :, None], 3, axis=2)
    if X.ndim != 3 or X.shape[2] not in (3, 4) or min(X.shape[:2]) < 5 \
            or not np.all(np.isfinite(X)):
        raise ValueError(f"{path}: need an RGB image of at least 5x5 finite pixels; got shape "
                         f"{X.shape}")
    X = X[..., :3]  # drop an alpha channel
    if X.max() > 1.0:  # 8-bit values in a .npy array
        X = X / 255.0
    s = min(X.shape[:2])
    top, left = (X.shape[0] - s) // 2, (X.shape[1] - s) // 2
    X = X[top:top + s, left:left + s]  # (s, s, 3)
    if s != size:
        X = zoom(X, (size / s, size / s, 1), order=1)
    return np.clip(X, 0.0, 1.0)


def figure(X: np.ndarray, S: np.ndarray, B: np.ndarray, path: str) -> str:
    """Input, sepia and sepia + blur side by side, saved as a PNG file."""
    import matplotlib
    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 4.4))
    for ax, (img, title) in zip(axes, ((X, "input"), (S, "layer 1: sepia, clipped"),
                                       (B, "layer 2: 5x5 Gaussian blur"))):
        ax.imshow(np.clip(img, 0, 1))
        ax.set_title(f"{title}\n{img.shape[0]} x {img.shape[1]} x {img.shape[2]}")
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
        prog="sepia_blur_cnn.py",
        description="Apply a two-layer CNN with fixed weights, a 1x1 sepia convolution and a\n"
                    "5x5 Gaussian blur, to a 128x128 RGB image; print both layers' weights and\n"
                    "the output size, and draw the input, the sepia and the blurred image.",
        epilog="the image: a PNG file (or .npy array (H, W, 3) in [0, 1]), cropped to a\n"
               "centred square and resized to --size.\n\n"
               "example:\n  python sepia_blur_cnn.py photo.png --out sepia_blur.png",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", help="the input image (PNG or .npy)")
    parser.add_argument("--size", type=int, default=128, help="side of the square input, in "
                        "pixels (default 128, the sheet's)")
    parser.add_argument("--padding", choices=("valid", "same"), default="valid",
                        help="padding of the blur layer (default valid: no padding)")
    parser.add_argument("--out", default="sepia_blur.png", help="where to save the figure "
                        "(default sepia_blur.png)")
    args = parser.parse_args(argv)
    if args.size < 5:
        parser.error("--size must be at least 5 (the blur is 5x5)")
    try:
        X = read_rgb(args.image, args.size)  # (H, W, 3)
    except ValueError as e:
        parser.error(str(e))

    net = sepia_blur_net(args.padding)
    print(net)
    print("layer 1 (sepia), filter o = output channel o, weights on R, G, B:\n",
          net[0].weight[:, :, 0, 0].numpy())
    print("layer 2 (blur), filter 0 on channel R (x 273):\n",
          np.rint(net[2].weight[0, 0].numpy() * 273).astype(int))
    x = X.transpose(2, 0, 1)  # (3, H, W)
    S = apply_to_image(net[:2], x).transpose(1, 2, 0)  # (H, W, 3): sepia, clipped
    B = apply_to_image(net, x).transpose(1, 2, 0)  # (OH, OW, 3)
    n_params = sum(p.numel() for p in net.parameters())
    print(f"input {X.shape} -> output {B.shape} ({args.padding} padding); {n_params} fixed "
          "weights, none trained")
    print(f"saved {figure(X, S, B, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
