"""A Keras-style model summary that shows how every parameter count is computed.

``summarize(model, (1, 28, 28))`` runs one forward pass on a zero batch of one sample with
forward hooks on the leaf modules and returns, per layer, its output shape and its parameter
count together with the formula that gives it, with the numbers filled in::

    Conv2d   (32, 28, 28)   320    32·(3·3·1 + 1) = 320
    Linear   (10,)          1290   10·(128 + 1) = 1290

Conventions: a convolution with F filters of size KH×KW over C input channels (``groups``
g) has F·(KH·KW·C/g + 1) parameters, the +1 being each filter's bias; a dense layer with
n_in inputs and n_out units has n_out·(n_in + 1); batch normalisation learns a scale γ and a
shift β per channel, 2·C (its running mean and variance are buffers, not parameters).
Output shapes leave out the batch axis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

# ---------------------------------------------------------------------------------------------
# formulas, one per layer type


def _conv_formula(m: nn.modules.conv._ConvNd) -> str:
    k = "·".join(str(s) for s in m.kernel_size)
    c = m.in_channels // m.groups
    inner = f"{k}·{c}" + (" + 1" if m.bias is not None else "")
    return f"{m.out_channels}·({inner})"


def _linear_formula(m: nn.Linear) -> str:
    if m.bias is None:
        return f"{m.out_features}·{m.in_features}"
    return f"{m.out_features}·({m.in_features} + 1)"


def _norm_formula(m: nn.Module) -> str:
    n = getattr(m, "num_features", None) or getattr(m, "normalized_shape", (0,))[0]
    return f"2·{n}"  # γ and β per channel


def _formula(m: nn.Module, n_params: int) -> str:
    """The parameter count as the formula that gives it, ending in ``= n_params``."""
    if n_params == 0:
        return "0"
    if isinstance(m, nn.modules.conv._ConvNd):
        expr = _conv_formula(m)
    elif isinstance(m, nn.Linear):
        expr = _linear_formula(m)
    elif isinstance(m, (nn.modules.batchnorm._NormBase, nn.LayerNorm)) and n_params > 0:
        expr = _norm_formula(m)
    else:  # any other layer: the sum of its parameter tensors' sizes
        sizes = ["·".join(str(s) for s in p.shape) or "1" for p in m.parameters(recurse=False)]
        expr = " + ".join(sizes)
    return f"{expr} = {n_params}"


# ---------------------------------------------------------------------------------------------
# the summary


@dataclass(frozen=True)
class LayerSummary:
    name: str  # qualified module name, e.g. "features.0"
    kind: str  # class name, e.g. "Conv2d"
    output_shape: tuple[int, ...]  # without the batch axis
    n_params: int  # learnable parameters owned by this layer
    formula: str  # how n_params is computed, e.g. "32·(3·3·1 + 1) = 320"


@dataclass(frozen=True)
class ModelSummary:
    input_shape: tuple[int, ...]  # without the batch axis
    layers: list[LayerSummary] = field(default_factory=list)
    total_params: int = 0  # every parameter of the model
    trainable_params: int = 0  # those with requires_grad

    def to_markdown(self) -> str:
        """A Markdown table: layer, type, output shape, parameters, formula; then the totals."""
        lines = ["| layer | type | output shape | parameters | computed as |",
                 "|---|---|---|---:|---|"]
        lines.append(f"| input | | {_shape(self.input_shape)} | 0 | |")
        for row in self.layers:
            lines.append(f"| {row.name} | {row.kind} | {_shape(row.output_shape)} | "
                         f"{row.n_params:,} | {row.formula if row.n_params else ''} |")
        lines.append(f"| **total** | | | **{self.total_params:,}** | "
                     f"{' + '.join(str(r.n_params) for r in self.layers if r.n_params)} |")
        return "\n".join(lines)

    def __str__(self) -> str:
        rows = [("layer", "type", "output shape", "params", "computed as"),
                ("input", "", _shape(self.input_shape), "0", "")]
        rows += [(r.name, r.kind, _shape(r.output_shape), f"{r.n_params:,}",
                  r.formula if r.n_params else "") for r in self.layers]
        rows.append(("total", "", "", f"{self.total_params:,}",
                     f"trainable {self.trainable_params:,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)

    def as_dict(self) -> dict:
        return {"input_shape": list(self.input_shape),
                "layers": [{"name": r.name, "type": r.kind, "output_shape": list(r.output_shape),
                            "params": r.n_params, "formula": r.formula} for r in self.layers],
                "total_params": self.total_params, "trainable_params": self.trainable_params}


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def summarize(model: nn.Module, input_shape: tuple[int, ...]) -> ModelSummary:
    """Per-layer output shape and parameter count (with its formula) of ``model``.

    Parameters
    ----------
    model : nn.Module
        Any module; each leaf module (one without children) that runs in the forward pass
        is one row, in the order it runs. A leaf called twice is listed once.
    input_shape : tuple of int
        One sample's shape without the batch axis, e.g. ``(1, 28, 28)`` for (C, H, W).

    The forward pass runs in eval mode under ``no_grad`` on the model's device with a zero
    batch of one sample; the model's training mode is restored afterwards.
    """
    input_shape = tuple(int(s) for s in input_shape)
    if not input_shape or any(s < 1 for s in input_shape):
        raise ValueError(f"input_shape must be positive sizes without the batch axis, "
                         f"e.g. (1, 28, 28); got {input_shape}")
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    names = {m: n for n, m in model.named_modules()}
    rows: list[LayerSummary] = []
    seen: set[int] = set()

    def hook(module, inputs, output):
        if id(module) in seen:
            return
        seen.add(id(module))
        out = output[0] if isinstance(output, (tuple, list)) else output
        n_params = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append(LayerSummary(names[module] or type(module).__name__, type(module).__name__,
                                 tuple(out.shape[1:]), n_params, _formula(module, n_params)))

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(hook) for m in leaves]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return ModelSummary(input_shape, rows, total, trainable)
