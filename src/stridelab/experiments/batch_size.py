"""batch-size: online learning (batch 1) against mini-batches, measured.

Yale CPSC 663, problem 1.2: name one advantage and one disadvantage of online learning
compared with stochastic gradient descent on mini-batches of 20. The same MLP, from the same
initial weights and with the same learning rate, is trained with each batch size for the same
number of epochs (loss after equal epochs; wall-clock per epoch) and for the same number of
updates; the noise of the mini-batch gradient is measured at the initial weights.
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

import math
import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from stridelab.errors import ConfigError
from stridelab.experiments.narrate import Lesson, Notes, compare, num
from stridelab.experiments.plots import integer_ticks, subsample, take, to_float
from stridelab.experiments.registry import bounded, register


FURTHER = Lesson("Online learning goes further per epoch: lower training loss than batch 20 "
                 "after the same epochs", "online_loss_equal_epochs", "<",
                 quick="minibatch_loss_equal_epochs", full="minibatch_loss_equal_epochs",
                 label="online training loss")
SLOWER = Lesson("Online learning takes longer per epoch than batch 20",
                "online_seconds_per_epoch", ">", quick="minibatch_seconds_per_epoch",
                full="minibatch_seconds_per_epoch", label="online seconds per epoch")
NOISIER = Lesson("The batch-1 gradient is noisier than the batch-20 one",
                 "online_gradient_variance", ">", quick="minibatch_gradient_variance",
                 full="minibatch_gradient_variance", label="batch-1 gradient variance")


@dataclass
class BatchSizeConfig:
    # training images, a stratified random subset (0: the whole split)
    n_train: int = bounded(0, ge=0)
    n_test: int = bounded(0, ge=0)  # test images, the first n of the test split (0: all)
    # samples per update; 1 is online learning
    batch_sizes: tuple[int, ...] = bounded((1, 20, 128), ge=1)
    minibatch: int = 20  # the mini-batch size online learning is compared with (the sheet's)
    epochs: int = bounded(5, ge=1)  # passes over the training images in the equal-epochs comparison
    # parameter updates per batch size in the equal-updates comparison
    n_updates: int = bounded(2000, ge=1)
    points: int = 10  # loss measurements along each run
    width: int = bounded(100, ge=1)  # hidden units of the MLP (one hidden ReLU layer)
    lr: float = bounded(0.05, gt=0)  # SGD learning rate, the same for every batch size
    n_noise_batches: int = bounded(50, ge=1)  # mini-batches drawn to estimate the gradient variance
    # training images on which the training loss is measured (0: all)
    n_eval: int = bounded(1000, ge=0)


def _check(config: BatchSizeConfig, n_train: int) -> list[int]:
    sizes = sorted(set(config.batch_sizes))  # each one is at least 1: the field's bounds
    if not sizes or sizes[0] != 1:
        raise ConfigError("--set batch_sizes: must include 1 (online learning), e.g. 1,20,128")
    if config.minibatch not in sizes:
        raise ConfigError(f"--set minibatch={config.minibatch}: must be one of batch_sizes "
                          f"({','.join(map(str, sizes))})")
    if sizes[-1] > n_train:
        raise ConfigError(f"batch size {sizes[-1]} exceeds the {n_train} training images; "
                          "raise n_train or lower batch_sizes")
    return sizes


# ---------------------------------------------------------------------------------------------
# measurements


def _mlp(width: int, in_features: int, n_classes: int) -> nn.Module:
    from stridelab.programs.deep_mlp import MLP

    return MLP(n_hidden_layers=1, width=width, dropout=0.0, in_features=in_features,
               n_classes=n_classes)


def _stream_indices(n: int, n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """``n_samples`` indices: whole shuffled passes over range(n), concatenated and cut."""
    passes = [rng.permutation(n) for _ in range(math.ceil(n_samples / n))]
    return np.concatenate(passes)[:n_samples]


def gradient_variance(model: nn.Module, loss_fn, X: torch.Tensor, y: torch.Tensor,
                      batch_size: int, n_batches: int, rng: np.random.Generator,
                      device) -> dict[str, float]:
    """Noise of the mini-batch gradient at the model's current weights.

    Draws ``n_batches`` batches of ``batch_size`` distinct samples of (X, y) (X: (N, ...),
    y: (N,)); returns the mean squared distance E‖g_B − g‖² between the mini-batch gradient
    g_B and the full-batch gradient g (the trace of the estimate's covariance) and ‖g‖².
    """
    params = [p for p in model.parameters() if p.requires_grad]

    def grad(idx) -> torch.Tensor:
        model.zero_grad(set_to_none=True)
        loss_fn(model(X[idx].to(device)), y[idx].to(device)).backward()
        return torch.cat([p.grad.reshape(-1) for p in params]).detach().double()

    model.eval()  # no dropout/BN noise: only the sampling of the batch varies
    full = grad(torch.arange(len(y)))
    sq = []
    for _ in range(n_batches):
        idx = torch.from_numpy(rng.choice(len(y), size=batch_size, replace=False))
        sq.append(float(((grad(idx) - full) ** 2).sum()))
    model.zero_grad(set_to_none=True)
    return {"variance": float(np.mean(sq)), "full_grad_sq_norm": float((full**2).sum())}


def _train_stream(model, optimizer, loss_fn, X, y, eval_loader, test_loader, batch_size: int,
                  n_samples: int, points: int, ctx, label: str) -> dict:
    """Train on ``n_samples`` streamed samples in ``points`` chunks with train_one_epoch,
    measuring the training loss after each chunk; wall-clock counts training only."""
    from stridelab.torch.loop import evaluate, make_loader, train_one_epoch

    n_train = len(y)
    stream = _stream_indices(n_train, n_samples, np.random.default_rng(ctx.seed))
    n_updates = math.ceil(n_samples / batch_size)
    bounds = np.unique(np.linspace(0, n_updates, points + 1).round().astype(int))
    curve = {"epochs": [0.0], "updates": [0], "seconds": [0.0],
             "train_loss": [evaluate(model, eval_loader, loss_fn, ctx.device)["loss"]]}
    seconds = 0.0
    for a, b in zip(bounds[:-1], bounds[1:]):
        idx = torch.from_numpy(stream[a * batch_size: b * batch_size])
        loader = make_loader(X[idx], y[idx], batch_size, shuffle=False)
        t0 = time.perf_counter()
        train_one_epoch(model, loader, optimizer, loss_fn, ctx.device, progress=ctx.progress,
                        description=f"{label} updates {a}-{b}")
        if torch.device(ctx.device).type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - t0
        curve["epochs"].append(min(b * batch_size, n_samples) / n_train)
        curve["updates"].append(int(b))
        curve["seconds"].append(seconds)
        curve["train_loss"].append(evaluate(model, eval_loader, loss_fn, ctx.device)["loss"])
    test = evaluate(model, test_loader, loss_fn, ctx.device)
    curve.update(test_loss=test["loss"], test_accuracy=test["accuracy"], train_seconds=seconds,
                 n_updates=int(bounds[-1]), n_samples=int(n_samples))
    return curve


# ---------------------------------------------------------------------------------------------
# figures


def _curves_figure(runs: dict[str, dict[int, dict]]):
    fig, axes = plt.subplots(1, 3, figsize=(9, 4.2))
    panels = (("equal epochs", "epochs", "epochs (passes over the images)"),
              ("equal epochs", "seconds", "training wall-clock (s)"),
              ("equal updates", "updates", "parameter updates"))
    for ax, (phase, key, xlabel) in zip(axes, panels):
        for B, curve in runs[phase].items():
            ax.plot(curve[key], curve["train_loss"], "o-", ms=3, label=f"batch {B}")
        if key == "updates":
            ax.set_xscale("symlog", linthresh=10)
        if key == "epochs":
            integer_ticks(ax)
        ax.set_xlabel(xlabel)
        ax.set_title(f"{phase}: loss vs {key}", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("training loss (cross-entropy)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=len(labels), fontsize=9,
               frameon=False)
    fig.suptitle("Online (batch 1) against mini-batch SGD: the same MLP and learning rate",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def _noise_figure(sizes: list[int], variance: list[float], slope: float):
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.loglog(sizes, variance, "o-", label="measured E‖g_B − g‖²")
    ax.loglog(sizes, [variance[0] * sizes[0] / B for B in sizes], "--", color="grey",
              label="∝ 1 / B, from batch 1")
    ax.set_xlabel("mini-batch size B")
    ax.set_ylabel("variance of the mini-batch gradient")
    ax.set_title(f"Noise of the gradient estimate at the initial weights (slope {slope:.2f})",
                 fontsize=10)
    ax.legend(loc="lower left", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# measure


def measure(config: BatchSizeConfig, ctx) -> dict:
    from stridelab.torch.loop import make_loader, one_thread

    ds = ctx.load_dataset(family="mnist")
    X_np, y_np = subsample(ds.X_train, ds.y_train, config.n_train, ctx.seed)
    n_train, n_test = len(y_np), take(config.n_test, len(ds.y_test))
    sizes = _check(config, n_train)
    X = torch.from_numpy(to_float(X_np)).unsqueeze(1)  # (N, 1, H, W)
    y = torch.from_numpy(y_np)
    X_test = torch.from_numpy(to_float(ds.X_test[:n_test])).unsqueeze(1)
    y_test = torch.from_numpy(ds.y_test[:n_test])
    n_eval = take(config.n_eval, n_train)
    eval_loader = make_loader(X[:n_eval], y[:n_eval], 512)
    test_loader = make_loader(X_test, y_test, 512)
    loss_fn = nn.CrossEntropyLoss()
    in_features = int(np.prod(ds.image_shape))

    def new_model() -> nn.Module:
        model = _mlp(config.width, in_features, ds.n_classes)
        model.load_state_dict(init)
        return model.to(ctx.device)

    init = _mlp(config.width, in_features, ds.n_classes).state_dict()  # every run starts here
    n_params = sum(p.numel() for p in _mlp(config.width, in_features, ds.n_classes).parameters())
    ctx.log(f"MLP {in_features}-{config.width}-{ds.n_classes} ({n_params:,} parameters), "
            f"SGD lr {config.lr}, {n_train} training images")

    rng = np.random.default_rng(ctx.seed)
    runs: dict[str, dict[int, dict]] = {"equal epochs": {}, "equal updates": {}}
    with one_thread():
        noise_model = new_model()
        noise = {B: gradient_variance(noise_model, loss_fn, X, y, B, config.n_noise_batches,
                                      rng, ctx.device) for B in sizes}
        for B in sizes:
            ctx.log(f"batch {B}: gradient variance {noise[B]['variance']:.4g}")
        for phase, n_samples in (("equal epochs", lambda B: config.epochs * n_train),
                                 ("equal updates", lambda B: config.n_updates * B)):
            for B in sizes:
                model = new_model()
                optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
                c = _train_stream(model, optimizer, loss_fn, X, y, eval_loader, test_loader, B,
                                  n_samples(B), config.points, ctx, f"{phase}, batch {B}")
                runs[phase][B] = c
                ctx.log(f"{phase}, batch {B}: {c['n_updates']} updates, "
                        f"{c['train_seconds']:.2f}s, train loss {c['train_loss'][-1]:.4f}, "
                        f"test accuracy {c['test_accuracy']:.4f}")
    ctx.write_json("curves.json", {phase: {str(B): c for B, c in by.items()}
                                   for phase, by in runs.items()})

    variance = [noise[B]["variance"] for B in sizes]
    slope = float(np.polyfit(np.log(sizes), np.log(variance), 1)[0]) if len(sizes) > 1 \
        else float("nan")
    ctx.savefig(_curves_figure(runs), "loss_curves",
                caption="Training loss against epochs and wall-clock (equal epochs) and "
                "against updates (equal updates)")
    ctx.savefig(_noise_figure(sizes, variance, slope), "gradient_noise",
                caption="Variance of the mini-batch gradient against the batch size")

    metrics: dict = {"dataset": ds.name, "n_train": n_train, "n_test": int(n_test),
                     "n_inputs": in_features, "n_classes": ds.n_classes, "n_params": n_params,
                     "batch_sizes": sizes, "largest_batch": sizes[-1]}
    for phase, by in runs.items():
        tag = phase.replace(" ", "_")
        for B, c in by.items():
            metrics[f"{tag}_b{B}_test_accuracy"] = c["test_accuracy"]
            metrics[f"{tag}_b{B}_final_train_loss"] = c["train_loss"][-1]
            metrics[f"{tag}_b{B}_train_seconds"] = c["train_seconds"]
            metrics[f"{tag}_b{B}_updates"] = c["n_updates"]
            metrics[f"{tag}_b{B}_epochs"] = c["epochs"][-1]
    for B in sizes:
        metrics[f"gradient_variance_b{B}"] = noise[B]["variance"]
    metrics["full_gradient_sq_norm"] = noise[sizes[0]]["full_grad_sq_norm"]
    metrics["noise_slope"] = slope
    ee, mb = runs["equal epochs"], config.minibatch
    for name, B in (("online", 1), ("minibatch", mb)):
        metrics[f"{name}_loss_equal_epochs"] = ee[B]["train_loss"][-1]
        metrics[f"{name}_test_accuracy_equal_epochs"] = ee[B]["test_accuracy"]
        metrics[f"{name}_seconds_per_epoch"] = ee[B]["train_seconds"] / config.epochs
        metrics[f"{name}_updates_equal_epochs"] = ee[B]["n_updates"]
        metrics[f"{name}_gradient_variance"] = noise[B]["variance"]
    metrics["noise_ratio_online_minibatch"] = noise[1]["variance"] / noise[mb]["variance"]
    metrics["time_ratio_online_minibatch"] = (metrics["online_seconds_per_epoch"]
                                              / metrics["minibatch_seconds_per_epoch"])
    return metrics


# ---------------------------------------------------------------------------------------------
# narrate


def narrate(metrics: dict, config: BatchSizeConfig) -> Notes:
    """Online against mini-batch: loss per epoch, time per epoch, gradient noise, equal updates."""
    m = metrics
    mb = num(config, "minibatch")
    notes = Notes()
    notes.add(
        f"The same MLP ({num(m, 'n_inputs')}-{num(config, 'width')}-{num(m, 'n_classes')}, "
        f"{num(m, 'n_params')} parameters, plain SGD with η = {num(config, 'lr')}) from the "
        f"same initial weights on {num(m, 'n_train')} `{m['dataset']}` images.")
    notes.add(
        f"**After {num(config, 'epochs')} epochs** online learning made "
        f"{num(m, 'online_updates_equal_epochs')} updates and batch {mb} "
        f"{num(m, 'minibatch_updates_equal_epochs')}: training loss "
        + compare(m, "online_loss_equal_epochs", "minibatch_loss_equal_epochs",
                  names=("online", f"batch {mb}"), spec=".3f") + ", test accuracy "
        + compare(m, "online_test_accuracy_equal_epochs", "minibatch_test_accuracy_equal_epochs",
                  names=("online", f"batch {mb}"), spec=".3f") + ".",
        notes.claim("online_goes_further", FURTHER.holds(m),
                    "*Advantage of online learning:* it updates the weights after every example, "
                    "so each pass over the data goes further.",
                    f"Online learning did not go further per epoch than batch {mb} here (at this "
                    "learning rate its steps are too noisy)."))
    notes.add(
        f"One epoch took {num(m, 'online_seconds_per_epoch', '.3f')} s online against "
        f"{num(m, 'minibatch_seconds_per_epoch', '.3f')} s with batch {mb} "
        f"({num(m, 'time_ratio_online_minibatch', '.1f')} times as long):",
        notes.claim("online_slower", SLOWER.holds(m),
                    "*disadvantage:* one example per step cannot use vectorised matrix products, "
                    "so the same data takes longer to get through.",
                    "online learning was not slower per epoch here."))
    sizes = m["batch_sizes"]
    listed = ", ".join(f"{num(m, f'gradient_variance_b{B}', '.3g')} for B = {B}" for B in sizes)
    notes.add(
        f"The noise of the gradient estimate, E‖g_B − g‖² at the initial weights: {listed} "
        f"(full-batch ‖g‖² = {num(m, 'full_gradient_sq_norm', '.3g')}).",
        notes.claim("online_noisier", NOISIER.holds(m),
                    f"Each online step follows an estimate "
                    f"{num(m, 'noise_ratio_online_minibatch', '.3g')} times noisier than batch "
                    f"{mb}'s, a second disadvantage;",
                    f"Online steps were not noisier than batch {mb}'s here;"),
        f"on a log-log scale the variance falls with slope {num(m, 'noise_slope', '.2f')} in "
        "B, "
        + notes.claim("noise_falls_as_inverse_B", abs(m["noise_slope"] + 1) <= 0.25,
                      "about inversely with B, as for independent draws.",
                      "not the inverse-B fall of independent draws."))
    big = m["largest_batch"]
    notes.add(
        f"**At equal updates ({num(config, 'n_updates')})** batch {big} sees {big} times as "
        "many examples per step: training loss "
        + compare(m, f"equal_updates_b{big}_final_train_loss", "equal_updates_b1_final_train_loss",
                  names=(f"batch {big}", "online"), spec=".3f") + ", "
        + notes.claim("larger_batch_more_per_update", m[f"equal_updates_b{big}_final_train_loss"]
                      < m["equal_updates_b1_final_train_loss"],
                      "so per update the larger batch makes more progress.",
                      "so the larger batch made no more progress per update here."))
    return notes


register("batch-size", BatchSizeConfig,
         description="online (batch 1) vs mini-batches 20 and 128: the same MLP at equal "
                     "epochs and equal updates, loss vs time, gradient noise",
         quick={"n_train": 2000, "epochs": 2, "n_updates": 1000, "points": 10,
                "n_noise_batches": 30},
         smoke={"n_train": 200, "n_test": 100, "epochs": 1, "n_updates": 40, "points": 2,
                "n_noise_batches": 5, "width": 16, "n_eval": 200},
         needs="mnist", key_metric="online_loss_equal_epochs", order=71, narrate=narrate,
         lessons=(FURTHER, SLOWER, NOISIER))(measure)
