"""The notebook API: each worked command as a function of Python and NumPy values.

Each function turns its arguments into the command line's options, parses them with the
command's own parser (so the same validation and the same second check run) and returns the
answer object. The four command packages call these when they are called themselves:
``worked.conv(X, "sobel_x")`` is :func:`conv` here.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from stridelab.worked.answer import Answer
from stridelab.worked.values import literal, number_literal

__all__ = ["backprop", "conv", "derive", "literal", "shape"]


# ---------------------------------------------------------------------------------------------
# values -> the command line's literals


def _options(kwargs: dict[str, Any]) -> list[str]:
    """``dict(padding="same", one_based=True, bias=[1, 2])`` -> ``--padding same --one-based …``."""
    argv: list[str] = []
    for key, v in kwargs.items():
        if v is None or v is False:
            continue
        flag = "--" + key.replace("_", "-")
        if v is True:
            argv.append(flag)
        elif isinstance(v, (list, tuple)) and v and all(isinstance(x, str) for x in v):
            for x in v:
                argv += [flag, x]
        else:  # flag=value, so a negative value ("-1/3") is not read as an option
            text = literal(v) if not isinstance(v, (int, float, str)) else number_literal(v) \
                if not isinstance(v, str) else v
            argv.append(f"{flag}={text}")
    return argv


def _answer(command: str, argv: list[str]) -> Answer:
    """Parse ``argv`` with the command's own parser and build its answer (nothing printed)."""
    from stridelab.worked.commands import answer

    return answer(command, argv)


# ---------------------------------------------------------------------------------------------
# the four answers


def conv(X: Any = None, K: Any = None, *, kernels: Sequence[Any] | None = None,
         padding: str | int = "valid", stride: int = 1, dilation: int = 1,
         mode: str = "correlate", image: str | None = None, **options: Any) -> Answer:
    """Correlate (or convolve) ``X`` with one or more kernels, every step shown.

    Parameters
    ----------
    X : array-like of shape (H, W), (C, H, W) or (L,) for a vector, or a literal string
        (``"8 2 9; 3 4 6"``); omit it and give ``image="camera"`` for a photo.
    K : a kernel name (``"sobel_x"``, ``"laplace4"``, ``"gaussian5"`` …), an array of shape
        (kh, kw), (C, kh, kw) or (k,), or a literal; ``kernels=[...]`` gives several.
    padding : ``"valid"``, ``"same"`` or a number of zeros per side.
    options : any other option of ``stridelab conv`` by its name (``explain="0,1"``,
        ``bias=1``, ``activation="relu"``, ``one_based=True``, ``channels_first=True`` …).
    """
    given = list(kernels or []) + ([K] if K is not None else [])
    argv: list[str] = []
    if image is not None:
        argv += ["--image", image]
    if X is not None:
        argv += ["--input", literal(X)]
    for k in given:
        argv += ["--kernel", literal(k)]
    argv += ["--padding", str(padding), "--stride", str(stride), "--dilation", str(dilation),
             "--mode", mode]
    return _answer("conv", argv + _options(options))


def shape(input: str | Sequence[int], *layers: str, **options: Any) -> Answer:
    """Output shape and parameter count after each layer, with the formulas.

    ``input`` is ``"50x50x1"`` or a tuple ``(50, 50, 1)`` (channel-last H×W×C, as the sheets
    write it); each layer is a spec such as ``"conv:k=4,s=1,p=1,n=8"``, ``"pool:k=2,s=2"``,
    ``"flatten"``, ``"dense:n=10"`` (``stridelab shape --help`` lists them all).
    """
    text = input if isinstance(input, str) else "x".join(str(int(n)) for n in input)
    return _answer("shape", ["--input", text, *layers] + _options(options))


def backprop(spec: dict | str | os.PathLike, **options: Any) -> Answer:
    """One (or more) gradient-descent steps on a small network given as a dict or a JSON file.

    ``spec`` has the layout of ``stridelab backprop``'s JSON: ``{"layers": [{"W": …, "b": …,
    "activation": "sigmoid"}, …], "loss": "sse_half", "lr": 0.1, "data": [{"x": …, "y": …}]}``.
    """
    if isinstance(spec, dict):
        fd, path = tempfile.mkstemp(suffix=".json", prefix="stridelab-backprop-")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(spec, fh, default=lambda o: np.asarray(o).tolist())
            return _answer("backprop", [path] + _options(options))
        finally:
            os.unlink(path)
    return _answer("backprop", [os.fspath(spec)] + _options(options))


def derive(topic: str, **values: Any) -> Answer:
    """A derivation (``worked.derive("softmax-jacobian", z=[1, 2, 3])``), checked numerically.

    ``stridelab derive list`` names the topics; ``values`` are the topic's options by name
    (``z``, ``y``, ``X``, ``lam``, ``points``, ``seed`` …), arrays or numbers.
    """
    return _answer("derive", [topic] + _options(values))
