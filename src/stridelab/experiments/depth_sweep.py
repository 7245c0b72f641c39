"""depth-sweep: the sheet's deep MLP with 1-3 hidden layers, sigmoid against ReLU.

TU Eindhoven assignment 4: Dense(512) → activation → Dropout(0.2), repeated once per hidden
layer, → Dense(10) → softmax, trained with categorical cross-entropy and plain SGD (learning
rate 0.01, batches of 128) for 10 epochs, built as the sheet's Keras notebook builds it:
Glorot-uniform weights and zero biases (Keras' defaults; PyTorch's own default initialisation
is smaller and changes the numbers). The network returns logits and the loss applies the
softmax, which is the same function. The notebook's printed test accuracies are kept here as
the published reference (:data:`NOTEBOOK`) and drawn beside this run's.

Measured beside the accuracies: the norm of each dense layer's weight gradient at every step
and the mean slope of each hidden activation, which is where the vanishing gradient shows;
optional variants on the deepest network (BatchNorm or Adam for sigmoid, He or PyTorch's
initialisation for ReLU).
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

import math
import time
from dataclasses import dataclass
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from stridelab.errors import ConfigError
from stridelab.experiments.narrate import Lesson, Notes, compare, fmt, num
from stridelab.experiments.plots import integer_ticks, subsample, take, to_float
from stridelab.experiments.registry import bounded, register

# The sheet's notebook (TU/e assignment 4, Keras, full MNIST: 60,000 training and 10,000 test
# images, 10 epochs of SGD at lr 0.01 in batches of 128): its printed test accuracies per number
# of hidden layers. Published data, not a measurement of this code.
NOTEBOOK = {
    "source": "TU Eindhoven assignment 4 notebook (Keras, full MNIST)",
    "n_train": 60_000, "n_test": 10_000, "epochs": 10, "batch_size": 128, "lr": 0.01,
    "width": 512, "dropout": 0.2,
    "test_accuracy": {"sigmoid": [0.8825, 0.792, 0.3595], "relu": [0.9297, 0.9402, 0.9471]},
}

# Variants trained on the deepest network: name -> (activation, batch_norm, init, optimizer)
VARIANTS = {
    "batchnorm": ("sigmoid", True, "glorot_uniform", "sgd"),  # re-centres z where σ' is largest
    "adam": ("sigmoid", False, "glorot_uniform", "adam"),  # per-weight steps undo the shrinking
    "he": ("relu", False, "he", "sgd"),  # He normal: variance 2 / fan_in
    "torch-init": ("relu", False, "torch", "sgd"),  # PyTorch's default: variance 1/(3·fan_in)
}


@dataclass
class DepthConfig:
    n_train: int = bounded(0, ge=0)  # training images, a stratified random subset (0: all)
    n_test: int = bounded(0, ge=0)  # test images, the first n of the test split (0: all)
    depths: tuple[int, ...] = bounded((1, 2, 3), ge=1)  # numbers of hidden layers compared
    # hidden activations (sigmoid and relu required)
    activations: tuple[Literal["sigmoid", "relu", "tanh"], ...] = ("sigmoid", "relu")
    variants: tuple[str, ...] = ("batchnorm", "adam", "he", "torch-init")  # see VARIANTS
    width: int = bounded(512, ge=1)  # units per hidden layer
    dropout: float = bounded(0.2, ge=0, lt=1)  # dropout after each hidden activation
    epochs: int = bounded(10, ge=1)  # passes over the training images
    batch_size: int = bounded(128, ge=1)  # images per step
    lr: float = bounded(0.01, gt=0)  # plain SGD learning rate (no momentum), Keras' default
    adam_lr: float = bounded(1e-3, gt=0)  # Adam's learning rate, for the "adam" variant
    # CPU threads for training (0: PyTorch's default); one thread ran these MLPs up to twenty
    # times faster than two on a busy 2-core machine
    torch_threads: int = bounded(1, ge=0)


# ---------------------------------------------------------------------------------------------
# the runs


@dataclass
class _Run:
    key: str  # metrics key, e.g. "sigmoid_3" or "adam"
    label: str  # e.g. "sigmoid, 3 hidden" or "sigmoid + adam, 3 hidden"
    depth: int
    activation: str
    batch_norm: bool = False
    init: str = "glorot_uniform"
    optimizer: str = "sgd"
    variant: str | None = None


def _runs(config: DepthConfig) -> list[_Run]:
    unknown = sorted(set(config.variants) - set(VARIANTS))
    if unknown:
        raise ConfigError(f"--set variants: unknown {', '.join(unknown)}; choose from "
                          f"{', '.join(VARIANTS)}")
    if not config.depths:  # each one is at least 1: the field's bounds
        raise ConfigError("--set depths: need at least one hidden-layer count, e.g. 1,2,3")
    if not {"sigmoid", "relu"} <= set(config.activations):
        raise ConfigError(f"--set activations={','.join(config.activations)}: the study "
                          "compares sigmoid with relu; keep both (tanh may be added)")
    depths = sorted(set(config.depths))
    runs = [_Run(f"{a}_{d}", f"{a}, {d} hidden", d, a) for a in config.activations
            for d in depths]
    deepest = depths[-1]
    for name in config.variants:
        activation, batch_norm, init, optimizer = VARIANTS[name]
        runs.append(_Run(name.replace("-", "_"), f"{activation} + {name}, {deepest} hidden",
                         deepest, activation, batch_norm, init, optimizer, name))
    return runs


class GradNormRecorder:
    """A ``grad_hook`` for :func:`stridelab.torch.loop.fit`: the Frobenius norm of each dense
    layer's weight gradient, ‖∂L/∂W_l‖, after every backward pass."""

    def __init__(self, layers: list[nn.Linear]):
        self.layers = layers
        self.norms: list[torch.Tensor] = []  # one (L,) tensor per step

    def __call__(self, model: nn.Module) -> None:
        with torch.no_grad():
            self.norms.append(torch.stack([m.weight.grad.norm() for m in self.layers]).cpu())

    def array(self) -> np.ndarray:
        """(n_steps, n_layers) gradient norms, first dense layer first, output layer last."""
        if not self.norms:
            return np.zeros((0, len(self.layers)))
        return torch.stack(self.norms).double().numpy()


@torch.no_grad()
def activation_slopes(model: nn.Module, X: torch.Tensor, device) -> list[float]:
    """Mean derivative of each hidden activation over the images X (N, ...), in eval mode.

    Sigmoid: mean σ'(z) = mean σ(z)(1 − σ(z)); ReLU: the fraction of z > 0 (its derivative
    is 1 there and 0 elsewhere); tanh: mean 1 − tanh²(z). One value per hidden layer.
    """
    slopes: list[torch.Tensor] = []

    def hook(module, inputs, output):
        if isinstance(module, nn.Sigmoid):
            slopes.append((output * (1 - output)).mean())
        elif isinstance(module, nn.ReLU):
            slopes.append((output > 0).float().mean())
        elif isinstance(module, nn.Tanh):
            slopes.append((1 - output ** 2).mean())

    acts = [m for m in model.modules() if isinstance(m, (nn.Sigmoid, nn.ReLU, nn.Tanh))]
    handles = [m.register_forward_hook(hook) for m in acts]
    try:
        model.eval()
        model(X.to(device))
    finally:
        for h in handles:
            h.remove()
    return [float(s) for s in slopes]


def _train(run: _Run, config: DepthConfig, ctx, X_train, y_train, X_test, y_test,
           n_classes: int) -> dict:
    from stridelab.programs.deep_mlp import MLP
    from stridelab.torch.loop import fit, make_loader, torch_threads

    torch.manual_seed(ctx.seed)  # every run starts from the same random state
    model = MLP(run.depth, config.width, run.activation, config.dropout,
                batch_norm=run.batch_norm, init=run.init,
                in_features=int(np.prod(X_train.shape[1:])), n_classes=n_classes)
    if run.optimizer == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=config.adam_lr)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    slopes_init = activation_slopes(model, X_test[:1000], "cpu")
    recorder = GradNormRecorder(model.linear_layers())
    t0 = time.perf_counter()
    with torch_threads(config.torch_threads):
        history = fit(model, make_loader(X_train, y_train, config.batch_size, shuffle=True,
                                         seed=ctx.seed),
                      make_loader(X_test, y_test, 1000), optimizer=optimizer,
                      loss_fn=nn.CrossEntropyLoss(), num_epochs=config.epochs,
                      device=ctx.device, progress=ctx.progress, grad_hook=recorder)
    seconds = time.perf_counter() - t0
    g = recorder.array()  # (steps, L)
    steps_per_epoch = math.ceil(len(y_train) / config.batch_size)
    first_epoch = g[:steps_per_epoch].mean(axis=0)  # (L,)
    return {"label": run.label, "depth": run.depth, "activation": run.activation,
            "variant": run.variant, "init": run.init, "optimizer": run.optimizer,
            "batch_norm": run.batch_norm, "history": history, "grad_norms": g,
            "test_accuracy": history["test_accuracy"][-1],
            "train_accuracy": history["train_accuracy"][-1],
            "grad_norm_first_epoch": first_epoch,
            "first_grad": float(first_epoch[0]),
            "grad_ratio": float(first_epoch[0] / first_epoch[-1]),
            "activation_slope_init": slopes_init,
            "activation_slope_end": activation_slopes(model, X_test[:1000], ctx.device),
            "seconds": seconds}


# ---------------------------------------------------------------------------------------------
# figures


def _legend_below(ax, ncols: int = 2) -> None:
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=ncols, fontsize=9,
              frameon=False)


def _accuracy_by_depth_figure(results: dict[str, dict], config: DepthConfig, chance: float,
                              ds_name: str):
    depths = sorted(set(config.depths))
    deepest = depths[-1]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 4.6))
    for i, act in enumerate(config.activations):
        colour = f"C{i}"
        ax.plot(depths, [results[f"{act}_{d}"]["test_accuracy"] for d in depths], "o-",
                color=colour, label=f"{act}, this run")
        ref = NOTEBOOK["test_accuracy"].get(act)
        if ref is not None:
            ax.plot(range(1, len(ref) + 1), ref, "s--", mfc="none", color=colour,
                    label=f"{act}, the notebook")
    for j, r in enumerate(r for r in results.values() if r["variant"] is not None):
        ax.plot([deepest], [r["test_accuracy"]], "x", ms=9, mew=2, color=f"C{j + 3}",
                label=r["label"].rsplit(",", 1)[0])
    ax.axhline(chance, color="grey", ls=":", lw=1, label="chance")
    ax.set_xticks(sorted(set(depths) | {1, 2, 3}))
    ax.set_ylim(0, 1)
    ax.set_xlabel("hidden layers")
    ax.set_ylabel("test accuracy")
    ax.set_title("Final test accuracy by depth", fontsize=10)
    ax.grid(alpha=0.3)
    _legend_below(ax)
    for r in (r for r in results.values() if r["depth"] == deepest):
        h = r["history"]
        ax2.plot(h["epoch"], h["test_accuracy"], "o-", ms=3, label=r["label"])
    ax2.axhline(chance, color="grey", ls=":", lw=1)
    ax2.set_ylim(0, 1)
    integer_ticks(ax2)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("test accuracy")
    ax2.set_title(f"{deepest} hidden layers: test accuracy per epoch", fontsize=10)
    ax2.grid(alpha=0.3)
    _legend_below(ax2, ncols=1)
    fig.suptitle(f"The sheet's MLP on {ds_name} (notebook: full MNIST, "
                 f"{NOTEBOOK['epochs']} epochs)", fontsize=11)
    fig.tight_layout()
    return fig


def _curves_figure(results: dict[str, dict], config: DepthConfig, ds_name: str):
    depths = sorted(set(config.depths))
    fig, axes = plt.subplots(1, len(depths), figsize=(9, 3.6), sharey=True, squeeze=False)
    for ax, d in zip(axes[0], depths):
        for i, act in enumerate(config.activations):
            h = results[f"{act}_{d}"]["history"]
            ax.plot(h["epoch"], h["train_accuracy"], "-", color=f"C{i}", label=f"{act} train")
            ax.plot(h["epoch"], h["test_accuracy"], "--", color=f"C{i}", label=f"{act} test")
        ax.set_title(f"{d} hidden layer{'s' if d > 1 else ''}", fontsize=10)
        ax.set_xlabel("epoch")
        integer_ticks(ax)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("accuracy")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=2 * len(config.activations),
               fontsize=9, frameon=False)
    fig.suptitle(f"MLP on {ds_name}: accuracy per epoch (plain SGD, lr {config.lr})",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _gradient_figure(results: dict[str, dict], config: DepthConfig, ds_name: str):
    deepest = max(config.depths)
    deep = [r for r in results.values() if r["depth"] == deepest]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9, 4.4))
    for r in deep:
        profile = r["grad_norm_first_epoch"]
        ax.plot(range(1, len(profile) + 1), profile, "o-", label=r["label"])
        g = np.asarray(r["grad_norms"])[:, 0]
        ax2.plot(np.arange(1, len(g) + 1), g, lw=0.8, label=r["label"])
    ax.set_yscale("log")
    ax.set_xticks(range(1, deepest + 2), [f"hidden {i}" for i in range(1, deepest + 1)]
                  + ["output"])
    ax.set_xlabel("dense layer (input side → output side)")
    ax.set_ylabel("mean ‖∂L/∂W‖ in epoch 1 (log scale)")
    ax.set_title("Gradient norm per layer, first epoch", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    _legend_below(ax, ncols=1)
    ax2.set_yscale("log")
    ax2.set_xlabel("training step")
    ax2.set_ylabel("‖∂L/∂W‖ of hidden layer 1 (log scale)")
    ax2.set_title("First hidden layer, every step", fontsize=10)
    ax2.grid(alpha=0.3, which="both")
    _legend_below(ax2, ncols=1)
    fig.suptitle(f"MLP with {deepest} hidden layers on {ds_name}: weight-gradient norms",
                 fontsize=11)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# measure


def measure(config: DepthConfig, ctx) -> dict:
    runs = _runs(config)
    ds = ctx.load_dataset(family="mnist")
    X_np, y_np = subsample(ds.X_train, ds.y_train, config.n_train, ctx.seed)
    n_test = take(config.n_test, len(ds.y_test))
    X_train = torch.from_numpy(to_float(X_np)).unsqueeze(1)  # (N, 1, H, W)
    y_train = torch.from_numpy(y_np)
    X_test = torch.from_numpy(to_float(ds.X_test[:n_test])).unsqueeze(1)
    y_test = torch.from_numpy(ds.y_test[:n_test])
    results: dict[str, dict] = {}
    for run in runs:
        r = _train(run, config, ctx, X_train, y_train, X_test, y_test, ds.n_classes)
        results[run.key] = r
        ctx.log(f"{run.label:<28} test acc {r['test_accuracy']:.4f}  first/output gradient "
                f"{r['grad_ratio']:.4f}  mean slope at init "
                + ", ".join(f"{s:.3f}" for s in r["activation_slope_init"])
                + f"  ({r['seconds']:.1f}s)")
    ctx.write_json("results.json", results)
    ctx.write_json("history.json", {k: {m: r["history"][m] for m in ("train_accuracy",
                                                                    "test_accuracy")}
                                    for k, r in results.items()})  # per epoch, each network
    chance = 1.0 / ds.n_classes
    ctx.savefig(_accuracy_by_depth_figure(results, config, chance, ds.name), "accuracy_by_depth",
                caption="Final test accuracy per depth beside the sheet notebook's, and the "
                "deepest networks' test accuracy per epoch")
    ctx.savefig(_curves_figure(results, config, ds.name), "accuracy_curves",
                caption="Training and test accuracy per epoch for each depth and activation")
    ctx.savefig(_gradient_figure(results, config, ds.name), "gradient_norms",
                caption="Weight-gradient norms of the deepest networks: per layer in the "
                "first epoch, and the first hidden layer's at every step")

    depths = sorted(set(config.depths))
    metrics: dict = {
        "dataset": ds.name, "n_train": int(len(y_train)), "n_test": int(n_test),
        "n_classes": ds.n_classes, "chance_accuracy": chance,
        "steps_per_epoch": math.ceil(len(y_train) / config.batch_size),
        "deepest": depths[-1], "shallowest": depths[0],
        "notebook_reference": NOTEBOOK,
        "comparable_to_notebook": bool(
            ds.name == "mnist" and len(y_train) == NOTEBOOK["n_train"]
            and n_test == NOTEBOOK["n_test"] and config.epochs == NOTEBOOK["epochs"]
            and config.batch_size == NOTEBOOK["batch_size"] and config.lr == NOTEBOOK["lr"]
            and config.width == NOTEBOOK["width"] and config.dropout == NOTEBOOK["dropout"]),
        "runs": {k: {kk: vv for kk, vv in r.items() if kk not in ("history", "grad_norms")}
                 for k, r in results.items()},
    }
    for key, r in results.items():
        metrics[f"{key}_test_accuracy"] = r["test_accuracy"]
        metrics[f"{key}_grad_ratio"] = r["grad_ratio"]
        metrics[f"{key}_first_grad"] = r["first_grad"]
    for act in config.activations:
        for tag, d in (("deepest", depths[-1]), ("shallowest", depths[0])):
            metrics[f"{act}_{tag}_test_accuracy"] = results[f"{act}_{d}"]["test_accuracy"]
        metrics[f"{act}_deepest_grad_ratio"] = results[f"{act}_{depths[-1]}"]["grad_ratio"]
    sig, relu = results[f"sigmoid_{depths[-1]}"], results[f"relu_{depths[-1]}"]
    metrics["sigmoid_deepest_slopes_init"] = sig["activation_slope_init"]
    metrics["relu_deepest_active_fraction_init"] = relu["activation_slope_init"]
    metrics["sigmoid_over_relu_grad_per_layer"] = (
        np.asarray(sig["grad_norm_first_epoch"]) / np.asarray(relu["grad_norm_first_epoch"]))
    return metrics


# ---------------------------------------------------------------------------------------------
# narrate


def _by_depth(m: dict, act: str, depths: list[int]) -> str:
    return ", ".join(f"{num(m, f'{act}_{d}_test_accuracy', '.4f')}" for d in depths)


def _variant_sentence(notes: Notes, m: dict, variant: str, base: str, name: str,
                      base_name: str) -> str:
    """The variant against its base network; the claim is named ``{variant}_helps``."""
    key = variant.replace("-", "_")
    better = m[f"{key}_test_accuracy"] > m[f"{base}_test_accuracy"]
    ratio = num(m, f"{key}_grad_ratio", ".3g")
    return (compare(m, f"{key}_test_accuracy", f"{base}_test_accuracy",
                    names=(name, base_name), spec=".4f")
            + notes.claim(f"{key}_helps", better, f" (first/output gradient {ratio}): it helps.",
                          f" (first/output gradient {ratio}): no help at this budget."))


def narrate(metrics: dict, config: DepthConfig) -> Notes:
    """Accuracy by depth and activation, the measured gradients, variants, the notebook."""
    m = metrics
    depths = sorted(set(config.depths))
    deep = m["deepest"]
    notes = Notes()
    notes.add(
        f"The sheet's MLP: {num(config, 'width')} units per hidden layer, dropout "
        f"{num(config, 'dropout')}, Glorot-uniform weights and zero biases (Keras' "
        f"defaults), plain SGD with learning rate {num(config, 'lr')} in batches of "
        f"{num(config, 'batch_size')}, {num(config, 'epochs')} epochs on "
        f"{num(m, 'n_train')} `{m['dataset']}` images ({num(m, 'steps_per_epoch')} steps "
        f"per epoch), tested on {num(m, 'n_test')}.",
        "Test accuracy for " + ", ".join(f"{d}" for d in depths)
        + f" hidden layers: sigmoid {_by_depth(m, 'sigmoid', depths)}; ReLU "
        f"{_by_depth(m, 'relu', depths)}.")
    relu_wins = m["relu_deepest_test_accuracy"] > m["sigmoid_deepest_test_accuracy"]
    sigmoid_stuck = m["sigmoid_deepest_test_accuracy"] <= m["chance_accuracy"] + 0.1
    notes.add(
        f"With {num(m, 'deepest')} hidden layers "
        + compare(m, "relu_deepest_test_accuracy", "sigmoid_deepest_test_accuracy",
                  names=("ReLU", "sigmoid"), spec=".4f") + ":",
        notes.claim("relu_wins", relu_wins, "ReLU keeps learning as the network deepens",
                    "at this budget ReLU does not beat sigmoid"),
        notes.claim("sigmoid_at_chance", sigmoid_stuck,
                    f"while sigmoid stays at chance level ({num(m, 'chance_accuracy', '.2f')}).",
                    f"and sigmoid is above chance level ({num(m, 'chance_accuracy', '.2f')})."),
        "Sigmoid with " + num(m, "shallowest") + " hidden layer(s) reached "
        + num(m, "sigmoid_shallowest_test_accuracy", ".4f") + "; "
        + notes.claim(
            "depth_hurts_sigmoid",
            m["sigmoid_deepest_test_accuracy"] < m["sigmoid_shallowest_test_accuracy"],
            "depth made the sigmoid network worse, not better.",
            "depth did not hurt the sigmoid network here."))
    vanishing = m["sigmoid_deepest_grad_ratio"] < m["relu_deepest_grad_ratio"]
    slopes = ", ".join(f"{s:.3f}" for s in m["sigmoid_deepest_slopes_init"])
    active = ", ".join(f"{a:.0%}" for a in m["relu_deepest_active_fraction_init"])
    notes.add(
        "**Where the gradient goes.** Backpropagation multiplies the error by each layer's "
        "activation slope f′(z) and its weights on the way to the input. Measured at "
        f"initialisation, the sigmoid network's mean σ′(z) per hidden layer is {slopes} "
        "(a sigmoid's slope is at most a quarter), while in the ReLU network "
        f"{active} of the units are active (slope one).",
        f"In the first epoch the first hidden layer's weight gradient is "
        f"{num(m, 'sigmoid_deepest_grad_ratio', '.3g')} times the output layer's with sigmoid "
        f"and {num(m, 'relu_deepest_grad_ratio', '.3g')} times with ReLU:",
        notes.claim("vanishing_gradient", vanishing,
                    "the sigmoid network passes a smaller share of the error back to its first "
                    "layer: the vanishing gradient.",
                    "the sigmoid network's first layer gets no smaller share than ReLU's here, so "
                    "the vanishing gradient does not explain this run."))
    variants = [v for v in config.variants if f"{v.replace('-', '_')}_test_accuracy" in m]
    sentences = []
    sig, relu = f"sigmoid_{deep}", f"relu_{deep}"
    if "batchnorm" in variants:
        sentences.append(_variant_sentence(notes, m, "batchnorm", sig, "sigmoid + BatchNorm",
                                           "plain sigmoid"))
    if "adam" in variants:
        sentences.append(_variant_sentence(notes, m, "adam", sig, f"sigmoid + Adam (lr "
                                           f"{num(config, 'adam_lr')})", "plain sigmoid"))
    if "he" in variants:
        sentences.append(
            _variant_sentence(notes, m, "he", relu, "ReLU with He initialisation", "Glorot")
            + " " + notes.claim(
                "he_larger_first_gradient", m["he_first_grad"] > m[f"{relu}_first_grad"],
                f"He's larger weights (variance two over fan-in) give the first "
                f"layer a larger gradient ({num(m, 'he_first_grad', '.3g')} "
                f"against {num(m, f'{relu}_first_grad', '.3g')}).",
                f"He's larger weights did not give the first layer a larger "
                f"gradient ({num(m, 'he_first_grad', '.3g')} against "
                f"{num(m, f'{relu}_first_grad', '.3g')})."))
    if "torch-init" in variants:
        sentences.append(
            _variant_sentence(notes, m, "torch-init", relu, "ReLU with PyTorch's default "
                              "initialisation", "Glorot")
            + " " + notes.claim(
                "torch_init_loses", m["torch_init_test_accuracy"] < m[f"{relu}_test_accuracy"],
                "PyTorch's smaller default weights are why this study builds the "
                "network with Keras' initialisation to match the notebook.",
                "The initialisation made no loss here."))
    if sentences:
        notes.add(f"**Variants with {num(m, 'deepest')} hidden layers.**", *sentences)
    ref = m["notebook_reference"]
    pairs = [(act, d) for act in ("sigmoid", "relu") for d in depths
             if d <= len(ref["test_accuracy"][act])]
    listed = "; ".join(f"{act} {d}: {num(m, f'{act}_{d}_test_accuracy', '.4f')} against "
                       f"{fmt(ref['test_accuracy'][act][d - 1], '.4f')}" for act, d in pairs)
    notes.add(notes.claim(
        "comparable_to_notebook", m["comparable_to_notebook"],
        f"**Against the notebook** (same data and setup): {listed}.",
        f"**The notebook** trained {num(ref, 'n_train')} images for {num(ref, 'epochs')} "
        "epochs; this run is not that setup, so its printed accuracies (dashed in the "
        f"figure) are a reference, not a target. Here against there: {listed}."))
    return notes


register("depth-sweep", DepthConfig,
         description="The sheet's MLP (Keras init) with 1-3 hidden layers, sigmoid vs ReLU: "
                     "accuracy beside the notebook's, per-layer gradient norms, variants",
         quick={"epochs": 20, "variants": ()},
         smoke={"n_train": 256, "n_test": 128, "epochs": 1, "width": 32, "depths": (1, 2),
                "variants": ("adam", "he")},
         needs="mnist", key_metric="relu_deepest_test_accuracy", order=40, narrate=narrate,
         lessons=(
             Lesson("ReLU keeps learning at the deepest depth tried",
                    "relu_deepest_test_accuracy", ">=", quick=0.85, full=0.93,
                    label="ReLU, deepest: test accuracy"),
             Lesson("Sigmoid at the deepest depth barely learns: near chance in the quick "
                    "run, far below one hidden layer in the full run",
                    "sigmoid_deepest_test_accuracy", "<=", quick=0.2,
                    full="sigmoid_shallowest_test_accuracy", margin=-0.2,
                    label="sigmoid, deepest: test accuracy"),
             Lesson("ReLU beats sigmoid by a wide margin at the deepest depth",
                    "relu_deepest_test_accuracy", ">=", quick="sigmoid_deepest_test_accuracy",
                    full="sigmoid_deepest_test_accuracy", margin=0.3,
                    label="ReLU vs sigmoid, deepest"),
         ))(measure)
