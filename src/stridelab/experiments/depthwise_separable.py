"""depthwise-separable: ``DepthwiseSeparableConv2d`` against ``nn.Conv2d`` of the same shape.

Parameters and multiply-adds by formula and measured (parameter tensors, forward hooks), forward
and backward time, and the accuracy of one small network built with either kind of convolution
(on CIFAR-10; on mnist-5k for ``--quick`` and whenever CIFAR-10 is absent). RPTU exercise 2.5.
"""

from __future__ import annotations  # noqa: I001  (ruff takes tests/torch/ for `torch`)

import statistics
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from stridelab.errors import ConfigError, DataNotFound
from stridelab.experiments.narrate import Lesson, Notes, compare, fmt, num
from stridelab.experiments.plots import integer_ticks
from stridelab.experiments.registry import bounded, register
from stridelab.programs.depthwise_separable import (
    DepthwiseSeparableConv2d,
    SeparableComparisonNet,
)
from stridelab.torch import schedules
from stridelab.torch.models.cifar import (
    ImagePipeline,
    channel_stats,
    conv_macs,
    conv_params,
    count_macs,
    count_params,
    image_tensors,
    separable_macs,
    separable_params,
    separable_ratio,
)

# ---------------------------------------------------------------------------------------------
# depthwise-separable convolutions


@dataclass
class SeparableConfig:
    in_channels: int = 64  # C of the layers in the count table
    filters: list[int] = field(default_factory=lambda: [16, 32, 64, 128, 256, 512])  # F values
    kernel_sizes: list[int] = field(default_factory=lambda: [3, 5])  # K values
    size: int = 32  # H = W of the input of the counted and timed layers (pixels)
    time_channels: list[int] = field(default_factory=lambda: [32, 64, 128, 256])  # C = F timed
    time_batch: int = 32  # images per timed forward/backward pass
    repeats: int = 15  # timed repetitions (medians are reported)
    dataset: str = "cifar10"  # data for the accuracy comparison (mnist when CIFAR-10 is absent)
    width: int = 32  # channels of the stem of the comparison network (then 2w, 4w, 4w)
    epochs: int = bounded(8, ge=1)  # passes over the training set, per network
    batch_size: int = bounded(128, ge=1)  # images per step
    # peak SGD learning rate (linear warm-up over a quarter, then decay)
    lr: float = bounded(0.1, gt=0)
    n_train: int = bounded(0, ge=0)  # training images used (0: all)
    n_test: int = bounded(0, ge=0)  # test images used (0: all)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward_backward(layers: dict[str, nn.Module], x: torch.Tensor, repeats: int,
                          warmup: int = 2) -> dict[str, dict[str, float]]:
    """Median forward and backward seconds of each layer on ``x`` (N, C, H, W).

    The layers are timed in turn within each repetition (A, B, A, B, ...), so a change in
    the machine's load hits them alike. Backward is ``out.sum().backward()`` (gradients of
    the input and the weights).
    """
    device = x.device
    times = {name: {"forward": [], "backward": []} for name in layers}
    x = x.detach().requires_grad_(True)
    for i in range(warmup + repeats):
        for name, layer in layers.items():
            layer.zero_grad(set_to_none=True)
            x.grad = None
            _sync(device)
            t0 = time.perf_counter()
            out = layer(x)
            _sync(device)
            t1 = time.perf_counter()
            out.sum().backward()
            _sync(device)
            t2 = time.perf_counter()
            if i >= warmup:
                times[name]["forward"].append(t1 - t0)
                times[name]["backward"].append(t2 - t1)
    return {name: {k: statistics.median(v) for k, v in t.items()} for name, t in times.items()}


def count_table(in_channels: int, filters, kernel_sizes, size: int) -> list[dict]:
    """Parameters and multiply-adds of a standard and a separable layer (C→F, K×K, same padding,
    no bias) on a ``size``×``size`` input: by formula and measured (parameter tensors, hooks)."""
    rows = []
    x = torch.zeros(1, in_channels, size, size)  # (1, C, H, W)
    for k in kernel_sizes:
        for f in filters:
            standard = nn.Conv2d(in_channels, f, k, padding=k // 2, bias=False)
            separable = DepthwiseSeparableConv2d(in_channels, f, k, padding=k // 2, bias=False)
            row = {
                "C": in_channels, "F": f, "K": k, "H": size, "W": size,
                "standard_params": count_params(standard),
                "standard_params_formula": conv_params(in_channels, f, k),
                "separable_params": count_params(separable),
                "separable_params_formula": separable_params(in_channels, f, k),
                "standard_macs": count_macs(standard, x),
                "standard_macs_formula": conv_macs(in_channels, f, k, size, size),
                "separable_macs": count_macs(separable, x),
                "separable_macs_formula": separable_macs(in_channels, f, k, size, size),
                "formula_ratio": separable_ratio(f, k),
            }
            row["param_ratio"] = row["separable_params"] / row["standard_params"]
            row["mac_ratio"] = row["separable_macs"] / row["standard_macs"]
            rows.append(row)
    return rows


def time_table(channels, size: int, batch: int, repeats: int, device: str,
               seed: int = 0) -> list[dict]:
    """Forward/backward medians of C→C 3×3 standard and separable layers on ``device``.

    Each row also holds the times in ms, ``speedup`` (standard / separable time of forward and
    backward together), ``mac_speedup`` (1 / MAC ratio) and ``saving_kept`` (their ratio).
    """
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for c in channels:
        layers = {"standard": nn.Conv2d(c, c, 3, padding=1, bias=False).to(device),
                  "separable": DepthwiseSeparableConv2d(c, c, 3, padding=1,
                                                        bias=False).to(device)}
        x = torch.randn(batch, c, size, size, generator=gen).to(device)  # (N, C, H, W)
        t = time_forward_backward(layers, x, repeats)
        rows.append({
            "device": device.type, "C": c, "F": c, "K": 3, "N": batch, "H": size, "W": size,
            "standard_forward_s": t["standard"]["forward"],
            "standard_backward_s": t["standard"]["backward"],
            "separable_forward_s": t["separable"]["forward"],
            "separable_backward_s": t["separable"]["backward"],
            "forward_speedup": t["standard"]["forward"] / t["separable"]["forward"],
            "backward_speedup": t["standard"]["backward"] / t["separable"]["backward"],
            "mac_ratio": separable_ratio(c, 3),
        })
        row = rows[-1]
        for kind in ("standard", "separable"):
            row[f"{kind}_forward_ms"] = 1e3 * row[f"{kind}_forward_s"]
            row[f"{kind}_backward_ms"] = 1e3 * row[f"{kind}_backward_s"]
        row["speedup"] = ((row["standard_forward_s"] + row["standard_backward_s"])
                          / (row["separable_forward_s"] + row["separable_backward_s"]))
        row["mac_speedup"] = 1 / row["mac_ratio"]  # what the multiply-adds promise
        row["saving_kept"] = row["speedup"] / row["mac_speedup"]
    return rows


def _comparison_data(config: SeparableConfig, ctx):
    """The data set for the accuracy comparison, and why it is not CIFAR-10 when it is not."""
    digits = {"mnist", "mnist-5k", "fashion-mnist"}
    name = ctx.dataset or config.dataset
    if name in digits:
        return ctx.load_dataset(family="mnist", name=name), ""
    if name != "cifar10":
        raise ConfigError(f"depthwise-separable: dataset {name!r} is not one of cifar10, "
                          "mnist, mnist-5k, fashion-mnist")
    try:
        return ctx.load_dataset(family="cifar10", name="cifar10"), ""
    except DataNotFound as exc:
        ctx.log(f"no CIFAR-10: {exc}")
    ds = ctx.load_dataset(family="mnist")
    return ds, (f"CIFAR-10 is absent (see `stridelab data list`), so the networks were "
                f"compared on {ds.name}")


def _train_comparison(kind: str, config: SeparableConfig, tensors, *, colour: bool, ctx):
    from stridelab.torch.loop import evaluate, fit, make_loader

    X_train, y_train, X_test, y_test = tensors
    mean, std = channel_stats(X_train)
    # crops and flips for photos; digits are trained as they are (a mirrored 2 is no digit)
    train_pipe = ImagePipeline(mean, std, augment=colour, padding=4, flip=True, seed=ctx.seed)
    test_pipe = ImagePipeline(mean, std)
    train_loader = make_loader(X_train, y_train, config.batch_size, shuffle=True, seed=ctx.seed)
    test_loader = make_loader(X_test, y_test, 1024)
    torch.manual_seed(ctx.seed)
    model = SeparableComparisonNet(kind, config.width, n_classes=10,
                                   in_channels=X_train.shape[1])
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, nesterov=True,
                                weight_decay=5e-4)
    scheduler = schedules.linear_warmup_decay(optimizer, config.epochs * len(train_loader),
                                              0.25)
    history = fit(model, train_loader, test_loader, optimizer=optimizer,
                  loss_fn=nn.CrossEntropyLoss(label_smoothing=0.1), num_epochs=config.epochs,
                  device=ctx.device, log=ctx.log, progress=ctx.progress, scheduler=scheduler,
                  amp=True, channels_last=True,
                  input_transform=train_pipe, test_transform=test_pipe)
    # the training images as the test images are seen (eval mode, no augmentation), as many
    # as there are test images: under- or over-fitting is the gap between the two
    n_eval = min(len(X_train), len(X_test))
    fitted = evaluate(model, make_loader(X_train[:n_eval], y_train[:n_eval], 1024),
                      nn.CrossEntropyLoss(), ctx.device, amp=True, channels_last=True,
                      input_transform=test_pipe)
    x = torch.zeros(1, *X_train.shape[1:], device=next(model.parameters()).device)
    channels = [m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    return {"kind": kind, "history": history, "n_params": count_params(model),
            "train_accuracy": float(fitted["accuracy"]), "n_train_eval": int(n_eval),
            "channels": channels,
            "macs_per_image": count_macs(model, x),
            "test_accuracy": float(history["test_accuracy"][-1]),
            "epoch_time_s": float(np.median(history["epoch_time"]))}


def _fmt_int(n: int) -> str:
    return f"{n:,}"


def separable_summary_markdown(counts, times, nets, dataset_name: str, fallback: str) -> str:
    """The report table: counts (formula and measured), times, accuracies."""
    lines = ["## Parameters and multiply-adds: standard vs depthwise-separable", "",
             "Layer C→F, K×K, same padding, no bias, on an H×W input. Measured parameters "
             "count the layer's tensors; measured multiply-adds come from forward hooks.", "",
             "| C | F | K | H×W | params std (formula / measured) | params sep (formula / "
             "measured) | MACs std (formula / measured) | MACs sep (formula / measured) | "
             "param ratio | MAC ratio | 1/F + 1/K² |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in counts:
        lines.append(
            f"| {r['C']} | {r['F']} | {r['K']} | {r['H']}×{r['W']} | "
            f"{_fmt_int(r['standard_params_formula'])} / {_fmt_int(r['standard_params'])} | "
            f"{_fmt_int(r['separable_params_formula'])} / {_fmt_int(r['separable_params'])} | "
            f"{_fmt_int(r['standard_macs_formula'])} / {_fmt_int(r['standard_macs'])} | "
            f"{_fmt_int(r['separable_macs_formula'])} / {_fmt_int(r['separable_macs'])} | "
            f"{r['param_ratio']:.4f} | {r['mac_ratio']:.4f} | {r['formula_ratio']:.4f} |")
    lines += ["", "## Forward and backward time (medians)", "",
              "| device | C = F | N×H×W | fwd std (ms) | fwd sep (ms) | fwd speed-up | "
              "bwd std (ms) | bwd sep (ms) | bwd speed-up | MAC ratio |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in times:
        lines.append(
            f"| {r['device']} | {r['C']} | {r['N']}×{r['H']}×{r['W']} | "
            f"{r['standard_forward_ms']:.2f} | {r['separable_forward_ms']:.2f} | "
            f"{r['forward_speedup']:.2f}× | {r['standard_backward_ms']:.2f} | "
            f"{r['separable_backward_ms']:.2f} | {r['backward_speedup']:.2f}× | "
            f"{r['mac_ratio']:.4f} |")
    lines += ["", f"## One network, either kind of convolution, on {dataset_name}", ""]
    if fallback:
        lines += [f"Note: {fallback}.", ""]
    lines += ["| convolutions | parameters | MACs per image | epoch time (s) | test accuracy |",
              "|---|---|---|---|---|"]
    for n in nets:
        lines.append(f"| {n['kind']} | {_fmt_int(n['n_params'])} | "
                     f"{_fmt_int(n['macs_per_image'])} | {n['epoch_time_s']:.1f} | "
                     f"{n['test_accuracy']:.4f} |")
    return "\n".join(lines) + "\n"


def separable_figure(counts, nets, dataset_name: str):
    """Cost ratios against 1/F + 1/K² (left) and the two networks' test accuracy (right)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9.0, 5.6))
    ax = axes[0]
    for k, colour in zip(sorted({r["K"] for r in counts}), ("tab:blue", "tab:orange",
                                                             "tab:green", "tab:red")):
        rows = [r for r in counts if r["K"] == k]
        F = np.array([r["F"] for r in rows])
        grid = np.geomspace(F.min(), F.max(), 100)
        ax.plot(grid, 1 / grid + 1 / k**2, "-", color=colour, label=f"1/F + 1/{k}²")
        ax.plot(F, [r["param_ratio"] for r in rows], "o", color=colour, mfc="none", ms=9,
                label=f"parameters, K={k}")
        ax.plot(F, [r["mac_ratio"] for r in rows], "x", color=colour, ms=7,
                label=f"multiply-adds, K={k}")
        ax.axhline(1 / k**2, color=colour, ls=":", lw=1)
    ax.set_xscale("log", base=2)
    filters = sorted({r["F"] for r in counts})
    ax.set_xticks(filters, [str(f) for f in filters])
    ax.set_ylim(bottom=0)
    ax.set_xlabel(f"filters F (C = {counts[0]['C']})")
    ax.set_ylabel("separable / standard")
    ax.set_title("cost ratio (dotted: the 1/K² floor)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=9,
              frameon=False)
    ax.grid(alpha=0.3, which="both")

    ax = axes[1]
    for n, marker, colour in zip(nets, ("o", "s"), ("tab:blue", "tab:orange")):
        h = n["history"]
        ax.plot(h["epoch"], h["test_accuracy"], marker + "-", color=colour,
                label=f"{n['kind']} ({n['n_params']:,} params): test {n['test_accuracy']:.3f}")
        ax.plot(h["epoch"], h["train_accuracy"], marker + "--", color=colour, mfc="none",
                label=f"{n['kind']}: training batches (train mode)")
    ax.set_xlabel("epoch")
    integer_ticks(ax)
    ax.set_ylabel("accuracy")
    ax.set_title(f"one network, either convolution\n({dataset_name})")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=9, frameon=False)
    ax.grid(alpha=0.3)
    fig.suptitle("Depthwise-separable (K×K per channel, then 1×1) vs standard convolution")
    fig.tight_layout()
    return fig


def timing_figure(times):
    """Median forward and forward + backward time of 3×3 layers, both kinds, per device."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, ax = plt.subplots(figsize=(9.0, 5.0))
    for device in sorted({r["device"] for r in times}):
        rows = [r for r in times if r["device"] == device]
        C = [r["C"] for r in rows]
        line = "-" if device == "cpu" else "-."
        for kind, marker, colour in (("standard", "o", "tab:blue"),
                                     ("separable", "s", "tab:orange")):
            ax.plot(C, [r[f"{kind}_forward_ms"] + r[f"{kind}_backward_ms"] for r in rows],
                    marker + line, color=colour, label=f"{kind}, forward + backward ({device})")
            ax.plot(C, [r[f"{kind}_forward_ms"] for r in rows], marker + ":", color=colour,
                    mfc="none", label=f"{kind}, forward ({device})")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    channels = sorted({r["C"] for r in times})
    ax.set_xticks(channels, [str(c) for c in channels])
    ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    t = times[0]
    ax.set_xlabel(f"channels C = F (3×3, {t['N']}×{t['H']}×{t['W']} input)")
    ax.set_ylabel("median time (ms)")
    ax.set_title("measured time per pass")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    return fig


def measure(config: SeparableConfig, ctx) -> dict:
    """Counts (formula, tensors, hooks), timings, and one network trained with each kind."""
    if not config.filters or not config.kernel_sizes or not config.time_channels:
        raise ConfigError("depthwise-separable: filters, kernel_sizes and time_channels need "
                          "at least one value each")
    counts = count_table(config.in_channels, config.filters, config.kernel_sizes, config.size)
    # the formulas against what PyTorch holds and what the hooks count
    kinds = ("standard_params", "separable_params", "standard_macs", "separable_macs")
    mismatches = [f"{what} of C={r['C']} F={r['F']} K={r['K']}: formula "
                  f"{r[f'{what}_formula']}, measured {r[what]}"
                  for r in counts for what in kinds if r[what] != r[f"{what}_formula"]]
    for line in mismatches:
        ctx.log(f"MISMATCH {line}")
    ctx.write_json("counts.json", counts)

    devices = ["cpu"] + (["cuda"] if torch.device(ctx.device).type == "cuda" else [])
    times = []
    for device in devices:
        ctx.log(f"timing 3×3 layers on {device}: C = F in "
                f"{', '.join(map(str, config.time_channels))}")
        times += time_table(config.time_channels, config.size, config.time_batch,
                            config.repeats, device, seed=ctx.seed)
    ctx.write_json("times.json", times)

    ds, fallback = _comparison_data(config, ctx)
    if fallback:
        ctx.log(fallback)
    tensors = image_tensors(ds, config.n_train, config.n_test)
    colour = tensors[0].shape[1] == 3
    nets = [_train_comparison(kind, config, tensors, colour=colour, ctx=ctx)
            for kind in ("standard", "separable")]
    ctx.write_json("networks.json", nets)

    ctx.write_text("summary.md", separable_summary_markdown(counts, times, nets, ds.name,
                                                            fallback))
    ctx.savefig(separable_figure(counts, nets, ds.name), "separable_vs_standard",
                caption="Left: separable/standard parameter and multiply-add ratios, measured, "
                        "against 1/F + 1/K². Right: test accuracy of the same network built "
                        "with either convolution after each epoch (solid), and its accuracy on "
                        "the training batches during the epoch (dashed).")
    ctx.savefig(timing_figure(times), "separable_timing",
                caption="Median forward and forward + backward time of 3×3 layers")

    reference = min(counts, key=lambda r: (r["K"] != 3, abs(r["F"] - 128)))
    same_k = sorted((r for r in counts if r["K"] == reference["K"]), key=lambda r: r["F"])
    first_device = [t for t in times if t["device"] == devices[0]]
    smallest, largest = min(first_device, key=lambda t: t["C"]), max(first_device,
                                                                    key=lambda t: t["C"])
    std_net, sep_net = nets
    return {
        "param_ratio": reference["param_ratio"], "mac_ratio": reference["mac_ratio"],
        "formula_ratio": reference["formula_ratio"],
        "reference_layer": {k: reference[k] for k in ("C", "F", "K", "H", "W", "standard_params",
                                                      "separable_params", "standard_macs",
                                                      "separable_macs")},
        "n_layer_shapes": len(counts),
        "counts_match_formula": not mismatches,
        "max_ratio_error": max(abs(r["mac_ratio"] - r["formula_ratio"]) for r in counts),
        "ratio_smallest_F": {"F": same_k[0]["F"], "param_ratio": same_k[0]["param_ratio"]},
        "ratio_largest_F": {"F": same_k[-1]["F"], "param_ratio": same_k[-1]["param_ratio"]},
        "times": times,
        "timing_smallest": smallest, "timing_largest": largest,
        "time_behind_macs": all(t["speedup"] < t["mac_speedup"] for t in times),
        "min_speedup": min(t["speedup"] for t in times),
        "max_speedup": max(t["speedup"] for t in times),
        "min_mac_speedup": min(t["mac_speedup"] for t in times),
        "max_mac_speedup": max(t["mac_speedup"] for t in times),
        "forward_speedup": largest["forward_speedup"],
        "backward_speedup": largest["backward_speedup"],
        "dataset": ds.name, "dataset_fallback": fallback, "n_classes": len(ds.classes),
        "network_channels": std_net["channels"],
        "standard_test_accuracy": std_net["test_accuracy"],
        "separable_test_accuracy": sep_net["test_accuracy"],
        "accuracy_gap": std_net["test_accuracy"] - sep_net["test_accuracy"],
        "standard_params": std_net["n_params"], "separable_params": sep_net["n_params"],
        "standard_macs_per_image": std_net["macs_per_image"],
        "separable_macs_per_image": sep_net["macs_per_image"],
        "network_param_ratio": sep_net["n_params"] / std_net["n_params"],
        "network_mac_ratio": sep_net["macs_per_image"] / std_net["macs_per_image"],
        "standard_epoch_time_s": std_net["epoch_time_s"],
        "separable_epoch_time_s": sep_net["epoch_time_s"],
        **{f"{net['kind']}_{key}": value for net in nets
           for key, value in fit_diagnosis(net).items()},
        "n_train_eval": std_net["n_train_eval"],
    }


def fit_diagnosis(net: dict) -> dict:
    """Why a network's test accuracy is what it is after its epochs: how well it fits its own
    training images (``train_accuracy``, eval mode, against ``test_accuracy``: the gap
    ``generalisation_gap``), its test accuracy after each epoch, and what the last epoch still
    added (``last_epoch_gain``, None after one epoch)."""
    by_epoch = [float(a) for a in net["history"]["test_accuracy"]]
    return {"train_accuracy": net["train_accuracy"],
            "generalisation_gap": net["train_accuracy"] - net["test_accuracy"],
            "test_accuracy_by_epoch": by_epoch,
            "last_epoch_gain": by_epoch[-1] - by_epoch[-2] if len(by_epoch) > 1 else None,
            "final_train_loss": float(net["history"]["train_loss"][-1])}


def narrate(metrics: dict, config: SeparableConfig) -> Notes:
    """Counts against the formula, time against the multiply-adds, and the two networks."""
    m = metrics
    r = m["reference_layer"]
    smallest_F, largest_F = m["ratio_smallest_F"], m["ratio_largest_F"]
    notes = Notes()
    exact = abs(m["param_ratio"] - m["formula_ratio"]) < 1e-12
    notes.add(
        f"A standard {num(r, 'K')}×{num(r, 'K')} convolution from C = {num(r, 'C')} to "
        f"F = {num(r, 'F')} channels holds C·F·K² = {num(r, 'standard_params')} weights; the "
        f"depthwise-separable one holds C·K² + C·F = {num(r, 'separable_params')}, a ratio of "
        f"**{num(m, 'param_ratio', '.4f')}**"
        + notes.claim(
            "params_exactly_formula", exact,
            f", exactly the formula (K² + F)/(F·K²) = {num(m, 'formula_ratio', '.4f')}.",
            f", not the formula's (K² + F)/(F·K²) = {num(m, 'formula_ratio', '.4f')}.")
        + f" The multiply-adds on an input of {num(r, 'H')}×{num(r, 'W')}, counted with "
        f"forward hooks, are {num(r, 'standard_macs')} against {num(r, 'separable_macs')}, a "
        f"ratio of {num(m, 'mac_ratio', '.4f')}.",
        f"Over all {num(m, 'n_layer_shapes')} layer shapes the measured counts",
        notes.claim(
            "counts_match_formula", m["counts_match_formula"], "equal the formulas exactly.",
            "**differ** from the formulas (see the log)."),
        notes.claim("ratio_falls_with_F", largest_F["param_ratio"] < smallest_F["param_ratio"],
                    f"As F grows the ratio falls, from {num(smallest_F, 'param_ratio', '.4f')} at "
                    f"F = {num(smallest_F, 'F')} to {num(largest_F, 'param_ratio', '.4f')} at "
                    f"F = {num(largest_F, 'F')}, towards its floor, the reciprocal of K²: the "
                    "saving is at most K²-fold.",
                    "The ratio does not fall as F grows here."))
    small, large = m["timing_smallest"], m["timing_largest"]
    one = small["C"] == large["C"]
    speedup = f"{num(m, 'min_speedup', '.3g')}×" + (
        "" if one else f" to {num(m, 'max_speedup', '.3g')}×")
    promise = f"{num(m, 'min_mac_speedup', '.1f')}×" + (
        "" if one else f" to {num(m, 'max_mac_speedup', '.1f')}×")
    at = [f"at C = {num(t, 'C')} on {t['device']}: forward "
          f"{num(t, 'standard_forward_ms', '.2f')} → {num(t, 'separable_forward_ms', '.2f')} ms"
          for t in ((small,) if one else (small, large))]
    notes.add(
        f"**Time** (medians of {num(config, 'repeats')}, batch {num(config, 'time_batch')}, "
        f"input {num(config, 'size')}×{num(config, 'size')}, {num(small, 'K')}×"
        f"{num(small, 'K')} layers with C = F): the forward + backward speed-up of the "
        f"separable layer is {speedup} where the multiply-adds promise {promise} "
        f"({'; '.join(at)}).",
        notes.claim("time_behind_macs", m["time_behind_macs"],
                    "So the time falls by less than the multiply-adds do. A depthwise convolution "
                    "does only K² multiply-adds for each input value it reads, against K²·F for a "
                    "standard one: far less arithmetic per value moved through memory, which a "
                    "count of multiply-adds does not see.",
                    "So at some size the time falls at least as much as the multiply-adds do."),
        "" if one else notes.claim(
            "larger_keeps_more", small["saving_kept"] < large["saving_kept"],
            f"The larger layer keeps more of the saving: {num(small, 'saving_kept', '.0%')} of "
            f"it at C = {num(small, 'C')}, {num(large, 'saving_kept', '.0%')} at C = "
            f"{num(large, 'C')}.",
            f"The larger layer does not keep more of the saving here: "
            f"{num(small, 'saving_kept', '.0%')} of it at C = {num(small, 'C')}, "
            f"{num(large, 'saving_kept', '.0%')} at C = {num(large, 'C')}."))
    channels = "→".join(str(c) for c in m["network_channels"])
    notes.add(
        f"**One network, either convolution** ({channels} channels, a standard first layer), "
        f"{num(config, 'epochs')} epoch(s) on {m['dataset']}"
        + notes.claim("cifar_absent", bool(m["dataset_fallback"]),
                      ", because CIFAR-10 is not on this machine (see `stridelab data list`)", "")
        + ": "
        + compare(m, "separable_test_accuracy", "standard_test_accuracy",
                  names=("the separable network's test accuracy", "the standard one's"),
                  spec=".4f")
        + f", with {num(m, 'separable_params')} parameters against "
        f"{num(m, 'standard_params')} ({num(m, 'network_param_ratio', '.2f')}×) and "
        f"{num(m, 'separable_macs_per_image')} multiply-adds per image against "
        f"{num(m, 'standard_macs_per_image')} ({num(m, 'network_mac_ratio', '.2f')}×), at "
        f"{num(m, 'separable_epoch_time_s', '.1f')} s per epoch against "
        f"{num(m, 'standard_epoch_time_s', '.1f')} s.")
    notes.add(equal_epochs_text(notes, m))
    return notes


def equal_epochs_text(notes: Notes, m: dict) -> str:
    """Why the two networks differ after the same epochs, from their fit to the training
    images, their test accuracy per epoch and their sizes (claims ``separable_behind``,
    ``separable_underfits``, ``separable_still_rising``)."""
    behind = m["separable_test_accuracy"] < m["standard_test_accuracy"]
    epochs = ", ".join(fmt(a, ".3f") for a in m["separable_test_accuracy_by_epoch"])
    text = ("**At equal epochs.** "
            + notes.claim("separable_behind", behind,
                          "The separable network is behind.",
                          "The separable network is not behind.")
            + f" On {num(m, 'n_train_eval')} of their own training images (eval mode, no "
            f"augmentation) the networks score {num(m, 'separable_train_accuracy', '.3f')} "
            f"(separable) and {num(m, 'standard_train_accuracy', '.3f')} (standard), so the "
            f"gap between training and test accuracy is "
            f"{num(m, 'separable_generalisation_gap', '+.3f')} and "
            f"{num(m, 'standard_generalisation_gap', '+.3f')}: "
            + notes.claim(
                "separable_underfits",
                m["separable_train_accuracy"] < m["standard_train_accuracy"],
                "the separable network fits even its training images less well, so it is "
                "under-fitting, not over-fitting: with "
                f"{num(m, 'network_param_ratio', '.2f')}× the parameters and "
                f"{num(m, 'network_mac_ratio', '.2f')}× the multiply-adds, each layer mixes "
                "channels only in its pointwise step, and it has learned less in the same "
                "epochs.",
                "the separable network fits its training images at least as well as the "
                "standard one, so what separates them is how well that fit carries over to "
                "test images."))
    gain = m["separable_last_epoch_gain"]
    if gain is None:
        return text + f" Its test accuracy after its one epoch: {epochs}."
    return text + (
        f" Its test accuracy after each epoch: {epochs}; "
        + notes.claim("separable_still_rising", gain > 0,
                      f"the last epoch still added {num(m, 'separable_last_epoch_gain', '.3f')}, "
                      "so it was still learning when training stopped.",
                      f"the last epoch added {num(m, 'separable_last_epoch_gain', '.3f')}: it "
                      "was no longer improving."))


register("depthwise-separable", SeparableConfig,
         description="DepthwiseSeparableConv2d vs Conv2d: parameters and multiply-adds "
                     "(formula and hooks), time, and accuracy of one network built with each",
         quick={"dataset": "mnist-5k", "filters": [16, 64, 256], "time_channels": [32, 128],
                "time_batch": 16, "repeats": 7, "width": 16, "epochs": 2, "n_train": 4000},
         smoke={"filters": [8, 32], "kernel_sizes": [3], "size": 8, "time_channels": [8],
                "time_batch": 2, "repeats": 2, "width": 4, "epochs": 1, "n_train": 256,
                "n_test": 128, "batch_size": 64},
         needs="mnist", key_metric="mac_ratio", order=90, narrate=narrate,
         lessons=(Lesson("A depthwise-separable layer holds (K² + F)/(F·K²) of a standard "
                         "layer's parameters", "param_ratio", "<=", quick="formula_ratio",
                         full="formula_ratio", margin=1e-9, label="parameter ratio"),
                  Lesson("A depthwise-separable layer needs (K² + F)/(F·K²) of a standard "
                         "layer's multiply-adds", "mac_ratio", "<=",
                         quick="formula_ratio", full="formula_ratio", margin=1e-9,
                         label="multiply-add ratio")))(measure)


__all__ = ["SeparableConfig", "count_table", "time_forward_backward", "time_table"]
