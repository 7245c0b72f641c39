"""cifar10: a fast CNN on CIFAR-10, above the RPTU exercise's 70% (task 2.4).

A ResNet-9-style CNN (the hand-in program's ``stridelab.programs.cifar10.CifarResNet``) with
random crops (reflect padding 4) and horizontal flips done on the device, per-channel
normalisation, an SGD learning rate that rises and falls linearly (a triangle) and, on CUDA,
bf16 autocast and channels_last. Two presets: ``cpu`` (width 16, sized to finish within
``time_budget_s`` on 2 cores) and ``gpu`` (width 64). The lesson is the test accuracy against the
sheet's 0.70 for a full run.
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
from stridelab.experiments.narrate import Lesson, Notes, num
from stridelab.experiments.plots import (
    confusion_counts,
    confusion_figure,
    image_grid_figure,
    integer_ticks,
    learning_curves_figure,
    most_confused_pairs,
)
from stridelab.experiments.registry import bounded, register
from stridelab.programs.cifar10 import CifarResNet, FlipAverage
from stridelab.torch import schedules
from stridelab.torch.models.cifar import (
    ImagePipeline,
    channel_stats,
    count_macs,
    count_params,
    image_tensors,
)

def _augmentation_figure(X: torch.Tensor, pipeline: ImagePipeline, classes, y, title: str,
                         n_images: int = 3, n_views: int = 3):
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
    # channels of the first layer (w, 2w, 4w, 8w); cpu 16, gpu 64
    width: int | None = bounded(None, ge=1)
    epochs: int | None = bounded(None, ge=1)  # passes over the training set; cpu 8, gpu 30
    batch_size: int | None = bounded(None, ge=1)  # images per step per process; cpu 256, gpu 512
    # peak SGD learning rate (linear warm-up and decay); cpu 0.2, gpu 0.4
    lr: float | None = bounded(None, gt=0)
    momentum: float = bounded(0.9, ge=0, le=1)  # Nesterov momentum
    weight_decay: float = bounded(5e-4, ge=0)  # L2 penalty coefficient (on the mean loss)
    label_smoothing: float = 0.2  # probability mass spread over the other classes
    warmup: float = 0.25  # fraction of the steps with a rising learning rate
    padding: int = 4  # pixels of reflect padding before the random 32x32 crop (0: no crop)
    flip: bool = True  # random horizontal flips while training
    tta: bool = True  # final accuracy: mean logits of each test image and its mirror image
    n_train: int = bounded(0, ge=0)  # training images used (0: all 50,000)
    n_test: int = bounded(0, ge=0)  # test images used (0: all 10,000)
    time_budget_s: float = 900.0  # wall-clock seconds the cpu preset is sized to finish in


PRESETS = {
    # cpu: an epoch costs about 85 s of one core (timed on synthetic data of CIFAR shape), so
    # 8 epochs and their evaluations fit in 15 minutes even if the second core adds nothing
    "cpu": {"width": 16, "epochs": 8, "batch_size": 256, "lr": 0.2},
    "gpu": {"width": 64, "epochs": 30, "batch_size": 512, "lr": 0.4},
}


def resolve_preset(config: CifarConfig, device: str) -> tuple[str, CifarConfig]:
    """The preset to use on ``device`` and ``config`` with its None fields filled from it."""
    preset = config.preset
    if preset == "auto":
        preset = "gpu" if torch.device(device).type == "cuda" else "cpu"
    if preset not in PRESETS:
        raise ConfigError(f"--set preset={preset}: expected auto, cpu or gpu")
    filled = {k: v for k, v in PRESETS[preset].items() if getattr(config, k) is None}
    return preset, dataclasses.replace(config, **filled)


def train_cifar(config: CifarConfig, X_train: torch.Tensor, y_train: torch.Tensor,
                X_test: torch.Tensor, y_test: torch.Tensor, *, device: str, seed: int = 0,
                ctx=None) -> dict:
    """Train :class:`CifarResNet` on uint8 images (N, 3, 32, 32); returns model and numbers.

    ``config`` must have its preset resolved (:func:`resolve_preset`); ``ctx`` (optional) gives
    the log, the progress bars and the checkpoint path. The returned dict holds
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
    scheduler = schedules.linear_warmup_decay(optimizer, config.epochs * len(train_loader),
                                              config.warmup)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    checkpoint = ctx.path("checkpoint.pt") if ctx is not None and ctx.is_main else None
    t0 = time.perf_counter()
    history = fit(model, train_loader, test_loader, optimizer=optimizer, loss_fn=loss_fn,
                  num_epochs=config.epochs, device=device, scheduler=scheduler,
                  log=ctx.log if ctx is not None else None,
                  progress=ctx.progress if ctx is not None else None,
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


def measure(config: CifarConfig, ctx) -> dict:
    """Train on CIFAR-10 (skipped when it is absent), evaluate with the flip average, draw."""
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

    device = next(model.parameters()).device
    metrics = {
        "test_accuracy": acc, "test_accuracy_last_epoch": history["test_accuracy"][-1],
        "tta": config.tta, "preset": preset, "device": ctx.device, "dataset": ds.name,
        "n_classes": len(ds.classes), "image_shape": list(X_train.shape[1:]),
        "n_train": len(y_train), "n_test": len(y_test), "width": config.width,
        "epochs": config.epochs, "batch_size": config.batch_size, "lr": config.lr,
        "n_params": count_params(model),
        "macs_per_image": count_macs(model, torch.zeros(1, *X_train.shape[1:], device=device)),
        "train_time_s": result["train_time_s"],
        "epoch_time_s": float(np.median(history["epoch_time"])), "total_time_s": total_time,
    }
    if ctx.is_main:
        ctx.savefig(integer_ticks(learning_curves_figure(
            history, f"CifarResNet (width {config.width}) on {ds.name}: loss and accuracy per "
                     "epoch")),
            "learning_curves", caption="Loss and accuracy per epoch (train accuracy is on "
                                       "augmented images, test accuracy without the flip average)")
        from stridelab.torch.loop import predict

        logits = predict(FlipAverage(model) if config.tta else model,
                         result["test_pipe"](X_test.to(device)), device=device)
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
                                         "Training images and augmented views"),
                    "augmentation", caption="What the network sees while training: random "
                    "crops of the reflect-padded image and horizontal flips")
    return metrics


def narrate(metrics: dict, config: CifarConfig) -> Notes:
    """Accuracy, cost and time of the run, and how it was trained (from the config)."""
    m = metrics
    notes = Notes()
    notes.add(
        f"A residual CNN (CifarResNet) of width {num(m, 'width')} ({num(m, 'n_params')} "
        f"parameters, {num(m, 'macs_per_image')} multiply-adds per image) trained for "
        f"{num(m, 'epochs')} epoch(s) on {num(m, 'n_train')} {m['dataset']} images reaches "
        f"**{num(m, 'test_accuracy', '.4f')}** test accuracy on {num(m, 'n_test')} test images"
        + notes.claim(
            "flip_averaged", m["tta"], " (mean logits of each image and its mirror image; "
                f"{num(m, 'test_accuracy_last_epoch', '.4f')} without)", "")
        + f", on {m['device']}, in {num(m, 'train_time_s', '.0f')} s of training "
        f"({num(m, 'epoch_time_s', '.1f')} s per epoch; {num(m, 'total_time_s', '.0f')} s for "
        "the whole run).",
        notes.claim("gpu_preset", m["preset"] != "cpu", "",
                    notes.claim("within_budget", m["total_time_s"] <= config.time_budget_s,
                                f"The run stayed within the cpu preset's budget of "
                                f"{num(config, 'time_budget_s', '.0f')} s.",
                                f"The run took longer than the cpu preset's budget of "
                                f"{num(config, 'time_budget_s', '.0f')} s.")))
    if m.get("most_confused"):
        top = m["most_confused"][0]
        notes.add(f"The most frequent confusion is a true {top['true']} predicted as "
                  f"{top['predicted']} ({num(top, 'count')} times).")
    crop = notes.claim("cropped", config.padding > 0,
                       f"a random crop of the image reflect-padded by {num(config, 'padding')} "
                       f"pixels, i.e. a shift of up to {num(config, 'padding')} pixels each way,",
                       "no crop")
    flip = notes.claim("flipped", config.flip, " and a horizontal flip with probability one half",
                       " and no flips")
    notes.add(
        f"Each training batch is augmented on the device ({crop}{flip}) after per-channel "
        f"normalisation with the training set's mean and standard deviation. The learning "
        f"rate rises linearly over {num(config, 'warmup', '.0%')} of the steps to "
        f"{num(m, 'lr', 'g')}, then falls linearly to zero, with Nesterov SGD (momentum "
        f"{num(config, 'momentum', 'g')}), weight decay {num(config, 'weight_decay', 'g')} and "
        f"label smoothing {num(config, 'label_smoothing', 'g')};",
        notes.claim("ran_on_cuda", m["device"] == "cuda",
                    "the forward pass ran in bf16 autocast with channels_last tensors.",
                    "on the CPU it ran in float32 with channels_last tensors."))
    return notes


register("cifar10", CifarConfig,
         description="a ResNet-9-style CNN on CIFAR-10 with crops, flips and normalisation: "
                     "above 0.70 in 15 CPU minutes",
         quick={"n_train": 5000, "n_test": 2000, "epochs": 2},
         smoke={"n_train": 256, "n_test": 128, "epochs": 1, "width": 4, "batch_size": 64,
                "tta": False},
         needs="cifar10", order=95, narrate=narrate,
         lessons=(Lesson("A CNN trained on CIFAR-10 reaches the sheet's 70% test accuracy",
                         "test_accuracy", ">=", quick=None, full=0.70,
                         label="CIFAR-10 test accuracy"),))(measure)


__all__ = ["CifarConfig", "resolve_preset", "train_cifar"]
