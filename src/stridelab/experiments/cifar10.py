"""CIFAR-10 studies: a fast CNN against the clock, and depthwise-separable convolutions.

Two registered experiments:

* ``cifar10``: a ResNet-9-style CNN (``stridelab.torch.models.cifar.CifarResNet``) with random
  crops (padding 4) and horizontal flips done on the device, per-channel normalisation, a
  one-cycle SGD schedule and, on CUDA, bf16 autocast and channels_last. Two presets: ``cpu``
  (width 16, sized to finish in 15 minutes on 2 cores; target 0.70) and ``gpu`` (width 64;
  target 0.93).
* ``depthwise-separable``: ``DepthwiseSeparableConv2d`` against ``nn.Conv2d`` of the same
  shape: parameters and multiply-adds by formula and measured with forward hooks, forward
  and backward time, and the accuracy of one small network built with either kind (on
  CIFAR-10; on mnist-5k for ``--quick`` and whenever CIFAR-10 is absent).
"""

from __future__ import annotations  # noqa: I001  (ruff takes tests/torch/ for `torch`)

import dataclasses
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from stridelab.errors import ConfigError
from stridelab.experiments.plots import (
    confusion_counts,
    confusion_figure,
    image_grid_figure,
    learning_curves_figure,
    most_confused_pairs,
)
from stridelab.experiments.registry import register
from stridelab.torch.models.cifar import (
    CifarResNet,
    FlipAverage,
    ImagePipeline,
    channel_stats,
    count_macs,
    count_params,
    to_nchw_uint8,
)

# ---------------------------------------------------------------------------------------------
# shared: data as uint8 tensors, the one-cycle schedule


def _take(n: int, available: int) -> int:
    """``n`` images, where 0 (or more than there are) means all of them."""
    return available if n <= 0 else min(n, available)


def image_tensors(ds, n_train: int = 0, n_test: int = 0):
    """uint8 (N, C, H, W) tensors and int64 labels of the first ``n_train`` / ``n_test`` images."""
    n_train = _take(n_train, len(ds.y_train))
    n_test = _take(n_test, len(ds.y_test))
    return (to_nchw_uint8(ds.X_train[:n_train]), torch.from_numpy(ds.y_train[:n_train]),
            to_nchw_uint8(ds.X_test[:n_test]), torch.from_numpy(ds.y_test[:n_test]))


def one_cycle(optimizer: torch.optim.Optimizer, total_steps: int,
              warmup: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Learning rate rising linearly from 0 to its peak over the first ``warmup`` fraction of
    the steps, then falling linearly to 0 at the last step (stepped once per batch)."""
    peak_step = max(1, round(warmup * total_steps))

    def factor(step: int) -> float:
        if step < peak_step:
            return (step + 1) / peak_step
        return max(0.0, (total_steps - step) / max(1, total_steps - peak_step))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _augmentation_figure(X: torch.Tensor, pipeline: ImagePipeline, classes, y, title: str,
                         n_images: int = 4, n_views: int = 4):
    """Each row: an image, then ``n_views`` augmented views of it as the network sees them."""
    views, titles = [], []
    for i in range(n_images):
        x = X[i:i + 1].expand(n_views, -1, -1, -1)  # (V, C, H, W) uint8
        shown = pipeline(x) * pipeline.std + pipeline.mean  # back to [0, 1] for display
        views.append(X[i].permute(1, 2, 0).squeeze(-1).numpy())
        titles.append(f"{classes[int(y[i])]} (original)")
        for v in shown:
            views.append(v.clamp(0, 1).permute(1, 2, 0).squeeze(-1).numpy())
            titles.append("augmented")
    return image_grid_figure(views, titles, title, ncols=n_views + 1)


# ---------------------------------------------------------------------------------------------
# cifar10: a fast CNN


@dataclass
class CifarConfig:
    preset: Literal["auto", "cpu", "gpu"] = "auto"  # auto: gpu on CUDA, else cpu; fills None fields
    width: int | None = None  # channels of the first layer (w, 2w, 4w, 8w); cpu 16, gpu 64
    epochs: int | None = None  # passes over the training set; cpu 8, gpu 30
    batch_size: int | None = None  # images per step per process; cpu 256, gpu 512
    lr: float | None = None  # peak SGD learning rate of the one-cycle schedule; cpu 0.2, gpu 0.4
    momentum: float = 0.9  # Nesterov momentum
    weight_decay: float = 5e-4  # L2 penalty coefficient (on the mean loss)
    label_smoothing: float = 0.2  # probability mass spread over the other classes
    warmup: float = 0.25  # fraction of the steps with a rising learning rate
    padding: int = 4  # pixels of reflect padding before the random 32x32 crop (0: no crop)
    flip: bool = True  # random horizontal flips while training
    tta: bool = True  # final accuracy: mean logits of each test image and its mirror image
    n_train: int = 0  # training images used (0: all 50,000)
    n_test: int = 0  # test images used (0: all 10,000)


PRESETS = {
    # cpu: an epoch costs about 85 s of one core (timed on synthetic data of CIFAR shape), so
    # 8 epochs and their evaluations fit in 15 minutes even if the second core adds nothing
    "cpu": {"width": 16, "epochs": 8, "batch_size": 256, "lr": 0.2},
    "gpu": {"width": 64, "epochs": 30, "batch_size": 512, "lr": 0.4},
}
# the targets: accuracy, and the wall-clock limit it must be reached in (None: none)
TARGETS = {"cpu": (0.70, 15 * 60.0), "gpu": (0.93, None)}


def resolve_preset(config: CifarConfig, device: str) -> tuple[str, CifarConfig]:
    """The preset to use on ``device`` and ``config`` with its None fields filled from it."""
    preset = config.preset
    if preset == "auto":
        preset = "gpu" if torch.device(device).type == "cuda" else "cpu"
    if preset not in PRESETS:
        raise ConfigError(f"--set preset={preset}: expected auto, cpu or gpu")
    filled = {k: v for k, v in PRESETS[preset].items() if getattr(config, k) is None}
    config = dataclasses.replace(config, **filled)
    if config.width < 1 or config.epochs < 1 or config.batch_size < 1 or config.lr <= 0:
        raise ConfigError("cifar10: width, epochs and batch_size must be >= 1 and lr > 0 "
                          f"(got width={config.width}, epochs={config.epochs}, "
                          f"batch_size={config.batch_size}, lr={config.lr})")
    return preset, config


def train_cifar(config: CifarConfig, X_train: torch.Tensor, y_train: torch.Tensor,
                X_test: torch.Tensor, y_test: torch.Tensor, *, device: str, seed: int = 0,
                ctx=None) -> dict:
    """Train :class:`CifarResNet` on uint8 images (N, 3, 32, 32); returns model and numbers.

    ``config`` must have its preset resolved (:func:`resolve_preset`). The returned dict holds
    ``model``, ``history`` (from ``fit``), ``test_accuracy`` (with the flip average when
    ``config.tta``), ``train_time_s`` (training epochs only) and the two image pipelines.
    """
    from stridelab.torch.distributed import rank, setup_distributed
    from stridelab.torch.loop import evaluate, fit, make_loader

    setup_distributed(device)  # under torchrun: join first, so "cuda" is this rank's GPU
    mean, std = channel_stats(X_train)
    train_pipe = ImagePipeline(mean, std, augment=True, padding=config.padding, flip=config.flip,
                               seed=seed + rank())
    test_pipe = ImagePipeline(mean, std)
    train_loader = make_loader(X_train, y_train, config.batch_size, shuffle=True, seed=seed)
    test_loader = make_loader(X_test, y_test, 1024)

    model = CifarResNet(config.width, n_classes=10, in_channels=X_train.shape[1])
    if torch.device(device).type == "cpu":
        # channels_last also speeds up oneDNN convolutions on CPU (fit applies it on CUDA)
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                nesterov=True, weight_decay=config.weight_decay)
    scheduler = one_cycle(optimizer, config.epochs * len(train_loader), config.warmup)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    checkpoint = ctx.path("checkpoint.pt") if ctx is not None and ctx.is_main else None
    t0 = time.perf_counter()
    history = fit(model, train_loader, test_loader, optimizer=optimizer, loss_fn=loss_fn,
                  num_epochs=config.epochs, device=device, ctx=ctx, scheduler=scheduler,
                  amp=True, channels_last=True, input_transform=train_pipe,
                  test_transform=test_pipe, checkpoint=checkpoint)
    train_time = time.perf_counter() - t0
    test_accuracy = history["test_accuracy"][-1]
    if config.tta:
        from stridelab.torch.distributed import local_device

        test_accuracy = evaluate(FlipAverage(model), test_loader, loss_fn, local_device(device),
                                 amp=True, input_transform=test_pipe)["accuracy"]
    return {"model": model, "history": history, "test_accuracy": float(test_accuracy),
            "train_time_s": train_time, "train_pipe": train_pipe, "test_pipe": test_pipe}


@register("cifar10", CifarConfig,
          description="a ResNet-9-style CNN on CIFAR-10 with crops, flips and normalisation: "
                      "0.70 in 15 CPU minutes, 0.93 on a GPU",
          quick={"n_train": 5000, "n_test": 2000, "epochs": 2},
          smoke={"n_train": 256, "n_test": 128, "epochs": 1, "width": 4, "batch_size": 64,
                 "tta": False},
          needs="cifar10", order=95)
def run(config: CifarConfig, ctx) -> dict:
    t_start = time.perf_counter()
    ds = ctx.load_dataset(family="cifar10")  # DataNotFound (skip) when CIFAR-10 is absent
    preset, config = resolve_preset(config, ctx.device)
    X_train, y_train, X_test, y_test = image_tensors(ds, config.n_train, config.n_test)
    ctx.log(f"preset {preset}: width {config.width}, {config.epochs} epochs, batch "
            f"{config.batch_size} per process, peak lr {config.lr}, on {ctx.device}")
    result = train_cifar(config, X_train, y_train, X_test, y_test, device=ctx.device,
                         seed=ctx.seed, ctx=ctx)
    model, history = result["model"], result["history"]
    total_time = time.perf_counter() - t_start
    acc = result["test_accuracy"]
    ctx.log(f"test accuracy {acc:.4f}{' (flip-averaged)' if config.tta else ''}; "
            f"training {result['train_time_s']:.0f} s, whole run {total_time:.0f} s")

    n_params = count_params(model)
    macs = count_macs(model, torch.zeros(1, *X_train.shape[1:],
                                         device=next(model.parameters()).device))
    metrics = {
        "test_accuracy": acc, "test_accuracy_last_epoch": history["test_accuracy"][-1],
        "tta": config.tta, "preset": preset, "device": ctx.device, "dataset": ds.name,
        "n_train": len(y_train), "n_test": len(y_test), "width": config.width,
        "epochs": config.epochs, "batch_size": config.batch_size, "n_params": n_params,
        "macs_per_image": macs, "train_time_s": result["train_time_s"],
        "epoch_time_s": float(np.median(history["epoch_time"])), "total_time_s": total_time,
    }
    full_run = (len(y_train) == len(ds.y_train) == 50_000
                and config.epochs == PRESETS[preset]["epochs"]
                and config.width == PRESETS[preset]["width"])
    if full_run:
        target, limit = TARGETS[preset]
        metrics.update(target=target, time_limit_s=limit,
                       target_met=bool(acc >= target and (limit is None or total_time <= limit)))

    if ctx.is_main:
        ctx.savefig(learning_curves_figure(history, f"CifarResNet (width {config.width}) on "
                                                    f"{ds.name}: loss and accuracy per epoch"),
                    "learning_curves", caption="Loss and accuracy per epoch (train accuracy is "
                    "on augmented images, test accuracy without the flip average)")
        from stridelab.torch.loop import predict

        logits = predict(FlipAverage(model) if config.tta else model,
                         result["test_pipe"](X_test.to(next(model.parameters()).device)),
                         device=next(model.parameters()).device)
        y_hat = logits.argmax(dim=1).numpy()
        cm = confusion_counts(y_test.numpy(), y_hat, len(ds.classes))
        metrics.update(confusion_matrix=cm, most_confused=most_confused_pairs(cm, ds.classes))
        ctx.savefig(confusion_figure(cm, ds.classes, f"CifarResNet on {ds.name}: confusion "
                                                     f"matrix (test accuracy {acc:.4f})"),
                    "confusion_matrix", caption="Confusion matrix on the test split")
        aug = ImagePipeline(result["train_pipe"].mean.flatten(), result["train_pipe"].std.flatten(),
                            augment=True, padding=config.padding, flip=config.flip,
                            seed=ctx.seed)
        ctx.savefig(_augmentation_figure(X_train, aug, ds.classes, y_train,
                                         "Training images and augmented views "
                                         f"(random crop, padding {config.padding}, flip)"),
                    "augmentation", caption="What the network sees while training: random "
                    "crops of the reflect-padded image and horizontal flips")

    target_text = ""
    if "target" in metrics:
        limit = metrics["time_limit_s"]
        within = f" within {limit / 60:.0f} minutes" if limit else ""
        target_text = (f" The issue's target for the {preset} preset is {metrics['target']:.2f}"
                       f"{within}: **{'met' if metrics['target_met'] else 'not met'}** "
                       f"({acc:.4f} in {total_time / 60:.1f} minutes).")
    ctx.note(f"A ResNet-9-style CNN of width {config.width} ({n_params:,} parameters, "
             f"{macs / 1e6:.1f} M multiply-adds per image) trained for {config.epochs} epochs "
             f"on {len(y_train):,} {ds.name} images reaches **{acc:.4f}** test accuracy"
             f"{' (mean logits of each image and its mirror image)' if config.tta else ''} on "
             f"{ctx.device}, in {result['train_time_s']:.0f} s of training "
             f"({metrics['epoch_time_s']:.1f} s per epoch; {total_time:.0f} s for the whole "
             f"run).{target_text}")
    ctx.note("Each training batch is augmented on the device: a random 32×32 crop of the image "
             f"reflect-padded by {config.padding} pixels (a shift of up to ±{config.padding} "
             "pixels) and a horizontal flip with probability 1/2, after per-channel "
             "normalisation with the training set's mean and standard deviation. The schedule "
             f"is one cycle (linear rise over {config.warmup:.0%} of the steps to lr "
             f"{config.lr}, then linear decay to 0) with Nesterov SGD, weight decay "
             f"{config.weight_decay} and label smoothing {config.label_smoothing}; on CUDA the "
             "forward pass runs in bf16 autocast with channels_last tensors.")
    return metrics


__all__ = ["CifarConfig", "image_tensors", "one_cycle", "resolve_preset", "train_cifar"]
