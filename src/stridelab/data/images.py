"""Photos for the image-filter exercises: scikit-image's bundled samples, or any file Pillow reads.

>>> from stridelab.data.images import load_image, image_names
>>> X = load_image("camera")            # (512, 512) float64 in [0, 1]
>>> X = load_image("astronaut")         # (512, 512, 3)
>>> X = load_image("photo.jpg", gray=True)

Images come back as float64 arrays in [0, 1]: shape (H, W) for grey images (or with
``gray=True``) and (H, W, 3) for colour. An alpha channel is composited onto white.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from stridelab.errors import DataError

# The samples scikit-image ships inside its wheel (no download needed), with what they show.
SAMPLE_IMAGES = {
    "astronaut": "colour portrait of astronaut Eileen Collins (512x512x3)",
    "brick": "grey brick-wall texture (512x512)",
    "camera": "grey photo of a cameraman, the classic test image (512x512)",
    "cat": "colour photo of Chelsea the cat (300x451x3)",
    "cell": "grey microscopy image of a cell (660x550)",
    "chelsea": "colour photo of Chelsea the cat (300x451x3)",
    "clock": "grey photo of a wall clock, with motion blur (300x400)",
    "coffee": "colour photo of a coffee cup (400x600x3)",
    "coins": "grey photo of Greek coins (303x384)",
    "colorwheel": "colour wheel (370x371x3)",
    "grass": "grey grass texture (512x512)",
    "gravel": "grey gravel texture (512x512)",
    "horse": "binary silhouette of a horse (328x400)",
    "hubble_deep_field": "colour Hubble deep-field photo (872x1000x3)",
    "immunohistochemistry": "colour immunohistochemistry stain (512x512x3)",
    "logo": "colour scikit-image logo with transparency (500x500x4 -> 3)",
    "microaneurysms": "grey retina detail with microaneurysms (102x102)",
    "moon": "grey photo of the lunar surface (512x512)",
    "page": "grey scanned page of text, unevenly lit (191x384)",
    "retina": "colour photo of a human retina (1411x1411x3)",
    "rocket": "colour photo of a rocket launch (427x640x3)",
    "shepp_logan_phantom": "grey Shepp-Logan phantom, for tomography (400x400)",
    "text": "grey photo of hand-written text (172x448)",
}


def image_names() -> list[str]:
    """Names :func:`load_image` accepts besides file paths (scikit-image's bundled samples)."""
    return sorted(SAMPLE_IMAGES)


def _to_unit_float(X: np.ndarray, where: str) -> np.ndarray:
    """Integer, bool or float pixels -> float64 in [0, 1]."""
    if X.dtype == bool:
        return X.astype(np.float64)
    if np.issubdtype(X.dtype, np.unsignedinteger):
        return X.astype(np.float64) / np.iinfo(X.dtype).max
    if np.issubdtype(X.dtype, np.signedinteger):
        # Pillow's 32-bit "I" mode: 16-bit data widened; scale by the largest 16-bit value
        # unless the data already exceeds it.
        top = 65535 if X.max(initial=0) <= 65535 else np.iinfo(X.dtype).max
        return np.clip(X.astype(np.float64) / top, 0.0, 1.0)
    if np.issubdtype(X.dtype, np.floating):
        if not np.isfinite(X).all():
            raise DataError(f"{where}: the image contains NaN or infinite values")
        lo, hi = float(X.min(initial=0.0)), float(X.max(initial=0.0))
        if lo < 0.0 or hi > 1.0:  # floating images outside [0, 1]: rescale their range
            return (X - lo) / (hi - lo) if hi > lo else np.zeros_like(X, dtype=np.float64)
        return X.astype(np.float64)
    raise DataError(f"{where}: unsupported pixel type {X.dtype}")


def _color_layout(X: np.ndarray, gray: bool) -> np.ndarray:
    """(H, W), (H, W, 3) or (H, W, 4) in [0, 1] -> (H, W) if ``gray`` else as stored, no alpha."""
    from skimage.color import rgb2gray, rgba2rgb

    if X.ndim == 3 and X.shape[2] == 4:
        X = rgba2rgb(X)  # composite onto white
    elif X.ndim == 3 and X.shape[2] == 2:  # grey + alpha
        X = X[..., 0] * X[..., 1] + (1.0 - X[..., 1])
    if gray and X.ndim == 3:
        X = rgb2gray(X)
    return np.clip(np.asarray(X, dtype=np.float64), 0.0, 1.0)


def _read_with_pillow(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()  # decode now, so a truncated file fails here
            if im.mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGB")
            elif im.mode == "1":
                im = im.convert("L")
            X = np.asarray(im)
    except UnidentifiedImageError as e:
        raise DataError(f"{path}: not an image file Pillow can read") from e
    except (OSError, ValueError, SyntaxError) as e:  # truncated or corrupt data
        raise DataError(f"{path}: cannot decode the image ({e})") from e
    if X.ndim not in (2, 3) or X.size == 0:
        raise DataError(f"{path}: unsupported image layout {X.shape}")
    return X


def load_image(name_or_path: str | os.PathLike, gray: bool = False) -> np.ndarray:
    """A photo as a float64 array in [0, 1].

    Parameters
    ----------
    name_or_path : str or path-like
        A name from :func:`image_names` (e.g. ``"camera"``, ``"astronaut"``), or an image file.
    gray : bool
        Convert colour to grey (ITU-R BT.709 luminance, as ``skimage.color.rgb2gray``).

    Returns
    -------
    ndarray of shape (H, W) or (H, W, 3), float64 in [0, 1]

    Raises
    ------
    DataError
        Neither a known name nor a readable image file.
    """
    key = str(name_or_path)
    if key in SAMPLE_IMAGES and not Path(key).is_file():
        import skimage.data

        try:
            X = getattr(skimage.data, key)()
        except Exception as e:  # a broken scikit-image install
            raise DataError(
                f"scikit-image sample {key!r} cannot be loaded ({e}); reinstall scikit-image"
            ) from e
        where = f"skimage.data.{key}"
    else:
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise DataError(
                f"no image named {key!r}: give an image file path or one of: "
                f"{', '.join(image_names())}"
            )
        X, where = _read_with_pillow(path), str(path)
    return _color_layout(_to_unit_float(np.asarray(X), where), gray)
