"""mlp-vs-cnn: a fully-connected network and a CNN of about the same parameter count.

LMU sheet 4, exercise 4-3: train a CNN on MNIST and compare it with the feed-forward network;
what do you observe? Both are trained on the same split with the same optimiser, then tested on
the centred test digits and on the same digits shifted by 1 to ``max_shift`` pixels (the mean
of right, left, down and up), where weight sharing and pooling should tell.
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from stridelab.experiments.narrate import Lesson, Notes, compare, fmt, num
from stridelab.experiments.plots import subsample, take, to_float
from stridelab.experiments.registry import bounded, register

# the two networks, their sizes and the shifted test digits: the hand-in program's definitions
from stridelab.programs.cnn_vs_mlp import (
    CNN,
    SHIFT_DIRECTIONS,
    FeedForward,
    count_parameters,
    shift_images,
)
from stridelab.programs.cnn_vs_mlp import matched_width as matched_mlp_width

CNN_BETTER = Lesson("With about as many parameters, the CNN classifies digits better than the "
                    "MLP", "cnn_test_accuracy", ">=", quick="mlp_test_accuracy",
                    full="mlp_test_accuracy", label="CNN test accuracy")
SHIFT_COSTS_MLP_MORE = Lesson("Shifted test digits cost the MLP more accuracy than the CNN",
                              "mlp_drop_at_max_shift", ">", quick="cnn_drop_at_max_shift",
                              full="cnn_drop_at_max_shift",
                              label="MLP accuracy drop at the largest shift")


@dataclass
class MLPvsCNNConfig:
    # training images, a stratified random subset (0: the whole split)
    n_train: int = bounded(0, ge=0)
    n_test: int = bounded(0, ge=0)  # test images, the first n of the test split (0: all)
    epochs: int = bounded(10, ge=1)  # passes over the training images, both networks
    batch_size: int = bounded(64, ge=1)  # samples per step
    lr: float = bounded(2e-3, gt=0)  # Adam learning rate
    # filters of the 3×3 conv + 2×2 pool blocks
    cnn_channels: tuple[int, ...] = bounded((8, 16, 32), ge=1)
    mlp_width: int = bounded(0, ge=0)  # MLP hidden units (0: match the CNN's parameters)
    max_shift: int = bounded(3, ge=1)  # largest test shift (pixels)


def _shift_figure(shifts, acc: dict[str, list[float]], params: dict[str, int]):
    fig, ax = plt.subplots(figsize=(7, 4.6))
    for name, values in acc.items():
        ax.plot(shifts, values, "o-", label=f"{name} ({params[name]:,} parameters)")
    ax.set_xticks(list(shifts))
    ax.set_xlabel("shift of the test digits (pixels; mean of right, left, down, up)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.set_title("Accuracy on shifted test digits (trained on centred digits)", fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=2, fontsize=9,
              frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def measure(config: MLPvsCNNConfig, ctx) -> dict:
    from stridelab.torch.loop import evaluate, fit, make_loader, one_thread

    ds = ctx.load_dataset(family="mnist")
    X_np, y_np = subsample(ds.X_train, ds.y_train, config.n_train, ctx.seed)
    n_test = take(config.n_test, len(ds.y_test))
    side = ds.image_shape[0]
    if not config.cnn_channels or side // 2 ** len(config.cnn_channels) < 1 \
            or config.max_shift >= side:
        from stridelab.errors import ConfigError

        raise ConfigError(f"--set cnn_channels/max_shift: {len(config.cnn_channels)} pooled "
                          f"blocks or a shift of {config.max_shift} do not fit {side}×{side} "
                          "images")
    X = torch.from_numpy(to_float(X_np)).unsqueeze(1)  # (N, 1, H, W)
    y = torch.from_numpy(y_np)
    y_test = torch.from_numpy(ds.y_test[:n_test])
    in_features = int(np.prod(ds.image_shape))
    cnn = CNN(tuple(config.cnn_channels), image_size=side, n_classes=ds.n_classes)
    width = config.mlp_width or matched_mlp_width(count_parameters(cnn), in_features,
                                                  ds.n_classes)
    models = {"MLP": FeedForward(width, in_features=in_features, n_classes=ds.n_classes),
              "CNN": cnn}
    params = {name: count_parameters(m) for name, m in models.items()}
    ctx.log(f"MLP {in_features}-{width}-{ds.n_classes}: {params['MLP']:,} parameters; CNN "
            f"{tuple(config.cnn_channels)}: {params['CNN']:,} parameters")
    loss_fn = nn.CrossEntropyLoss()
    train_loader = make_loader(X, y, config.batch_size, shuffle=True, seed=ctx.seed)
    shifts = list(range(config.max_shift + 1))
    X_test_u8 = ds.X_test[:n_test]
    shifted = {s: [torch.from_numpy(to_float(shift_images(X_test_u8, s * dy, s * dx)))
                   .unsqueeze(1) for dy, dx in SHIFT_DIRECTIONS] for s in shifts[1:]}
    test_loader = make_loader(torch.from_numpy(to_float(X_test_u8)).unsqueeze(1), y_test, 512)
    histories, acc = {}, {}
    for name, model in models.items():
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        with one_thread():
            histories[name] = fit(model, train_loader, test_loader, optimizer=optimizer,
                                  loss_fn=loss_fn, num_epochs=config.epochs,
                                  device=ctx.device, log=ctx.log, progress=ctx.progress)
            acc[name] = [histories[name]["test_accuracy"][-1]]
            for s in shifts[1:]:
                per_dir = [evaluate(model, make_loader(Xs, y_test, 512), loss_fn,
                                    ctx.device)["accuracy"] for Xs in shifted[s]]
                acc[name].append(float(np.mean(per_dir)))
        ctx.log(f"{name}: accuracy by shift " + ", ".join(f"{s}px {a:.4f}"
                                                         for s, a in zip(shifts, acc[name])))
    ctx.savefig(_shift_figure(shifts, acc, params), "accuracy_vs_shift",
                caption="Test accuracy against the shift of the test digits")
    ctx.write_json("history.json", histories)
    # both networks' weights, keyed as cnn_vs_mlp.py saves them
    ctx.save_torch({name.lower(): {k: v.detach().cpu() for k, v in m.state_dict().items()}
                    for name, m in models.items()}, "model.pt")

    convs = cnn.conv_layers()
    positions, size = [], side
    for _ in convs:  # each conv weight is reused at every output position of its layer
        positions.append(size * size)
        size //= 2
    metrics: dict = {"dataset": ds.name, "n_train": int(len(y)), "n_test": int(n_test),
                     "n_inputs": in_features, "n_classes": ds.n_classes, "mlp_width": width,
                     "mlp_params": params["MLP"], "cnn_params": params["CNN"],
                     "cnn_conv_params": sum(count_parameters(c) for c in convs),
                     "cnn_conv_positions": positions, "shifts": shifts,
                     "max_shift": shifts[-1]}
    for name in models:
        key = name.lower()
        metrics[f"{key}_test_accuracy"] = acc[name][0]
        metrics[f"{key}_accuracy_by_shift"] = acc[name]
        metrics[f"{key}_accuracy_at_max_shift"] = acc[name][-1]
        metrics[f"{key}_drop_at_max_shift"] = acc[name][0] - acc[name][-1]
        metrics[f"{key}_epoch_time_s"] = float(np.median(histories[name]["epoch_time"]))
    return metrics


def narrate(metrics: dict, config: MLPvsCNNConfig) -> Notes:
    """Accuracy of the two networks, centred and shifted, and what weight sharing buys."""
    m = metrics
    notes = Notes()
    notes.add(
        f"Trained on {num(m, 'n_train')} centred `{m['dataset']}` digits for "
        f"{num(config, 'epochs')} epochs (Adam, lr {num(config, 'lr')}), an MLP "
        f"{num(m, 'n_inputs')}-{num(m, 'mlp_width')}-{num(m, 'n_classes')} with "
        f"{num(m, 'mlp_params')} parameters and a CNN with {num(m, 'cnn_params')}: test "
        "accuracy "
        + compare(m, "cnn_test_accuracy", "mlp_test_accuracy", names=("CNN", "MLP"),
                  spec=".4f") + ";",
        notes.claim("cnn_better", CNN_BETTER.holds(m),
                    "for about the same number of parameters the CNN classifies better.",
                    "at this budget the CNN does not classify better than the MLP."))
    notes.add(
        f"Shifted by {num(m, 'max_shift')} pixels the MLP falls to "
        f"{num(m, 'mlp_accuracy_at_max_shift', '.4f')} (down "
        f"{num(m, 'mlp_drop_at_max_shift', '.3f')}) and the CNN to "
        f"{num(m, 'cnn_accuracy_at_max_shift', '.4f')} (down "
        f"{num(m, 'cnn_drop_at_max_shift', '.3f')}):",
        notes.claim("cnn_tolerates_shift", SHIFT_COSTS_MLP_MORE.holds(m),
                    "the CNN tolerates the shift better.",
                    "the CNN does not tolerate the shift better here."))
    uses = ", ".join(fmt(n) for n in m["cnn_conv_positions"])
    notes.add(
        f"Why it can: each MLP hidden unit has its own weight for every one of the "
        f"{num(m, 'n_inputs')} pixels, so a stroke moved to a neighbouring pixel meets weights "
        f"that never saw it, while the CNN's {num(m, 'cnn_conv_params')} convolution "
        f"parameters are shared, each small filter applied at every position ({uses} positions "
        "in its successive convolutions), and "
        "max-pooling passes on the strongest response of each neighbourhood. Its final dense "
        "layer still ties features to positions,",
        notes.claim("cnn_loses_under_shift", m["cnn_drop_at_max_shift"] > 0,
                    "and the CNN also loses accuracy under the shift.",
                    "yet the CNN lost no accuracy under this shift."))
    return notes


register("mlp-vs-cnn", MLPvsCNNConfig,
         description="an MLP and a CNN with about the same parameter count: test accuracy "
                     "and accuracy on digits shifted by 1-3 pixels",
         quick={"n_train": 2000, "epochs": 3},
         smoke={"n_train": 256, "n_test": 128, "epochs": 1, "cnn_channels": (4, 8),
                "max_shift": 2},
         needs="mnist", key_metric="cnn_test_accuracy", order=72, narrate=narrate,
         lessons=(CNN_BETTER, SHIFT_COSTS_MLP_MORE))(measure)
