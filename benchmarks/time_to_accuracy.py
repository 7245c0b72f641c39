"""Time to accuracy: stridelab's mnist-cnn recipe against the PyTorch examples' MNIST network.

On full MNIST and Fashion-MNIST, with the same number of CPU threads for both, this trains

(a) stridelab: the network, optimiser, schedule and augmentation of ``stridelab run mnist-cnn``
    (its full configuration with the one-cycle schedule over 6 epochs, ``STRIDELAB_SET``;
    ``--set KEY=VALUE`` overrides more of it), and
(b) the reference a student would copy: the PyTorch examples' MNIST network (two 3×3
    convolutions with 32 and 64 filters, a 2×2 max-pool, dropout 0.25, a 128-unit dense layer,
    dropout 0.5), Adadelta with lr 1.0, StepLR with γ = 0.7 per epoch, batch 64, inputs
    normalised with MNIST's mean 0.1307 and standard deviation 0.3081;

and evaluates each on the whole test split after every epoch. Both get their batches from the
same in-memory loader (one normalised tensor, sliced per batch: ``stridelab.torch.loop``), so
the comparison is of the two recipes, not of two data pipelines. Times are training seconds,
summed over epochs (evaluation excluded).

The JSON printed on stdout has, per data set: each recipe's accuracy and cumulative training
time after every epoch; its time to 0.99 and to its best accuracy; stridelab's time to its
target (0.995 on MNIST, 0.93 on Fashion-MNIST); the ratios stridelab / reference; and the
achieved training FLOP/s (FLOPs of one training step counted by ``torch.utils.flop_counter``,
times the steps, over the training time) over the machine's sgemm FLOP/s measured in the same
run at the same thread count. Verdicts of its targets:

- MNIST: stridelab's time to 0.995 ≤ 1.0 × the reference's time to 0.99;
- Fashion-MNIST: stridelab's time to 0.93 ≤ 0.5 × the reference's time to its best;
- stridelab's FLOP utilisation ≥ 0.4.

    python benchmarks/time_to_accuracy.py --data-dir DIR [--datasets mnist,fashion-mnist]
        [--threads N] [--ref-epochs 14] [--set KEY=VALUE] [--record results/benchmarks]
    python benchmarks/time_to_accuracy.py --quick      # a shortened smoke version (minutes)

``--record DIR`` writes one record per data set (``time-to-accuracy--NAME.json``, atomically)
from which ``scripts/results_table.py`` builds the README's time-to-accuracy table.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as TF
from torch import nn

import stridelab
from stridelab.atomic import write_json_atomic
from stridelab.data.dataset import Dataset
from stridelab.data.sources import load_dataset
from stridelab.errors import StridelabError
from stridelab.experiments.artifacts import environment_record
from stridelab.experiments.mnist_cnn import CNNConfig, build_model, training_recipe
from stridelab.experiments.plots import subsample, take, to_float
from stridelab.experiments.registry import (
    apply_overrides,
    check_config,
    parse_set_args,
)
from stridelab.torch.loop import fit, make_loader, seed_everything

TARGETS = {"mnist": 0.995, "fashion-mnist": 0.93}  # stridelab's accuracy target per data set
# mnist-cnn's configuration, with its one-cycle schedule over 6 epochs instead of 20: the
# schedule ends where the benchmark stops (more epochs: --set epochs=N)
STRIDELAB_SET = ["epochs=6"]
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # the reference's normalisation


# ---------------------------------------------------------------------------------------------
# the reference: the PyTorch examples' MNIST network and recipe


class ReferenceNet(nn.Module):
    """(N, 1, 28, 28) → conv 32 → ReLU → conv 64 → ReLU → max-pool → dropout 0.25 → flatten
    (9216) → dense 128 → ReLU → dropout 0.5 → dense 10 → log-softmax."""

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, n_classes)

    def forward(self, x):
        x = TF.relu(self.conv1(x))
        x = TF.relu(self.conv2(x))
        x = self.dropout1(TF.max_pool2d(x, 2))
        x = self.dropout2(TF.relu(self.fc1(torch.flatten(x, 1))))
        return TF.log_softmax(self.fc2(x), dim=1)


# ---------------------------------------------------------------------------------------------
# measuring the machine and the steps


def sgemm_flops(threads: int, n: int = 1024, repeats: int = 15) -> float:
    """Median FLOP/s of an n×n float32 matrix product (2n³ FLOPs) at ``threads`` threads."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n ** 3 / statistics.median(times)


def step_flops(model: nn.Module, loss_fn, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
    """FLOPs of one training step's forward and backward pass on ``batch``, as counted by
    ``torch.utils.flop_counter`` (matrix products and convolutions; element-wise work is not
    counted, so the utilisation below is a lower bound)."""
    from torch.utils.flop_counter import FlopCounterMode

    x, y = batch
    model.train()
    with FlopCounterMode(display=False) as counter:
        loss_fn(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def time_to(accuracies: list[float], seconds: list[float], target: float) -> float | None:
    """Cumulative training seconds at the first epoch whose test accuracy is ≥ target."""
    for acc, t in zip(accuracies, seconds):
        if acc >= target:
            return t
    return None


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


# ---------------------------------------------------------------------------------------------
# training one recipe, epoch by epoch


def train_recipe(name: str, model: nn.Module, optimizer, scheduler, scheduler_per: str,
                 augment, loss_fn, data: dict, epochs: int, batch_size: int, seed: int,
                 log, channels_last: bool = False) -> dict:
    """Train ``model`` for ``epochs`` on data["train"], evaluating data["test"] after each
    epoch; returns the per-epoch accuracies and cumulative training seconds."""
    seed_everything(seed)
    X, y = data["train"]
    train = make_loader(X, y, batch_size, shuffle=True, seed=seed)
    test = make_loader(*data["test"], 1000)
    flops = step_flops(model, loss_fn, (X[:batch_size], y[:batch_size])) / batch_size
    # fit's epoch_time is the training pass alone: evaluation on the test set is not in it
    history = fit(model, train, test, optimizer=optimizer, loss_fn=loss_fn, num_epochs=epochs,
                  log=lambda line: log(f"{name} {line}"), scheduler=scheduler,
                  scheduler_per=scheduler_per, input_transform=augment,
                  channels_last=channels_last)
    accs = history["test_accuracy"]
    cum = np.cumsum(history["epoch_time"]).tolist()
    elapsed = cum[-1]
    n_train = len(y)
    return {"epochs": epochs, "batch_size": batch_size,
            "test_accuracy": accs, "train_seconds": cum,
            "best_accuracy": max(accs), "time_to_best_s": cum[int(np.argmax(accs))],
            "time_to_0.99_s": time_to(accs, cum, 0.99),
            "flops_per_image": flops,
            "achieved_flops": flops * n_train * epochs / elapsed,
            "n_params": int(sum(p.numel() for p in model.parameters()))}


def load_grey(name: str, data_dir) -> Dataset:
    """The data set ``name``, which must hold grey 28×28 images."""
    ds = load_dataset(name, data_dir)
    if ds.X_train.ndim != 3 or ds.image_shape != (28, 28):
        raise StridelabError(f"--datasets {name}: time_to_accuracy needs grey 28×28 images; "
                             f"{name} has shape {ds.image_shape}")
    return ds


PATH_OPTIONS = ("--data-dir", "--record")  # their values name places on one machine


def portable_command(argv: list[str]) -> str:
    """The command line of a run, its path values replaced by DIR, for a record others read."""
    words, hide = ["time_to_accuracy.py"], False
    for word in argv:
        option = word.split("=", 1)[0]
        if hide:
            words.append("DIR")
        elif option in PATH_OPTIONS and "=" in word:
            words.append(f"{option}=DIR")
        else:
            words.append(word)
        hide = not hide and word in PATH_OPTIONS
    return " ".join(words)


def run_dataset(ds: Dataset, args, config: CNNConfig, log) -> dict:
    """Both recipes on one data set; returns its JSON record."""
    name = ds.name
    X_u8, y_np = subsample(ds.X_train, ds.y_train, args.n_train, args.seed)
    n_test = take(args.n_test, len(ds.y_test))
    X_test_u8, y_test_np = ds.X_test[:n_test], ds.y_test[:n_test]

    def tensors(normalise):
        return {"train": (normalise(X_u8), torch.from_numpy(y_np)),
                "test": (normalise(X_test_u8), torch.from_numpy(y_test_np))}

    ours = tensors(lambda X: torch.from_numpy(to_float(X)).unsqueeze(1))
    theirs = tensors(lambda X: (torch.from_numpy(to_float(X)).unsqueeze(1) - MNIST_MEAN)
                     / MNIST_STD)
    steps = len(make_loader(*ours["train"], config.batch_size, shuffle=True))

    load_before = os.getloadavg()
    before = sgemm_flops(args.threads)
    seed_everything(args.seed)
    model = build_model(config, image_size=ds.image_shape[0], n_classes=ds.n_classes)
    optimizer, scheduler, augment = training_recipe(model, config, steps)
    stride = train_recipe("stridelab", model, optimizer, scheduler, "step", augment,
                          nn.CrossEntropyLoss(), ours, config.epochs, config.batch_size,
                          args.seed, log, channels_last=True)
    seed_everything(args.seed)
    ref = ReferenceNet(ds.n_classes)
    ref_opt = torch.optim.Adadelta(ref.parameters(), lr=1.0)
    ref_sched = torch.optim.lr_scheduler.StepLR(ref_opt, step_size=1, gamma=0.7)
    reference = train_recipe("reference", ref, ref_opt, ref_sched, "epoch", None,
                             nn.NLLLoss(), theirs, args.ref_epochs, 64, args.seed, log)
    after = sgemm_flops(args.threads)
    load_after = os.getloadavg()
    sgemm = statistics.fmean([before, after])
    for r in (stride, reference):
        r["flop_utilisation"] = r["achieved_flops"] / sgemm

    target = TARGETS.get(name, 0.99)
    stride[f"time_to_{target}_s"] = time_to(stride["test_accuracy"], stride["train_seconds"],
                                           target)
    ratios = {
        "time_to_0.99": _ratio(stride["time_to_0.99_s"], reference["time_to_0.99_s"]),
        "time_to_best": _ratio(stride["time_to_best_s"], reference["time_to_best_s"]),
        f"stridelab_{target}_over_reference_0.99":
            _ratio(stride[f"time_to_{target}_s"], reference["time_to_0.99_s"]),
        f"stridelab_{target}_over_reference_best":
            _ratio(stride[f"time_to_{target}_s"], reference["time_to_best_s"]),
    }
    if name == "fashion-mnist":
        key, limit, text = (f"stridelab_{target}_over_reference_best", 0.5,
                            f"stridelab reaches {target} in at most 0.5 × the reference's "
                            "time to its best")
    else:
        key, limit, text = (f"stridelab_{target}_over_reference_0.99", 1.0,
                            f"stridelab reaches {target} in at most the reference's time "
                            "to 0.99")
    verdicts = [
        {"target": text, "ratio": ratios[key], "limit": limit,
         "met": ratios[key] is not None and ratios[key] <= limit},
        {"target": "stridelab's training FLOP/s at least 0.4 × sgemm FLOP/s",
         "ratio": stride["flop_utilisation"], "limit": 0.4,
         "met": stride["flop_utilisation"] >= 0.4, "direction": ">="},
    ]
    return {"benchmark": "time-to-accuracy", "record_version": 1, "dataset": {
                "name": ds.name, "sha256": ds.sha256, "n_train": len(y_np), "n_test": n_test},
            "quick": args.quick, "seed": args.seed, "threads": args.threads,
            "date": datetime.date.today().isoformat(), "version": stridelab.__version__,
            "command": portable_command(args.argv),
            "machine": {**environment_record("cpu"), "platform": platform.platform()},
            "sgemm_flops": {"before": before, "after": after, "mean": sgemm},
            # 1-minute load averages when the run started and ended: other work on the
            # machine slows both recipes, and two threads on two busy cores far more
            "load_average": {"before": load_before[0], "after": load_after[0]},
            "stridelab_config": dataclasses.asdict(config), "target_accuracy": target,
            "stridelab": stride, "reference": reference, "ratios": ratios,
            "verdicts": verdicts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time to accuracy: stridelab's mnist-cnn recipe against the PyTorch "
                    "examples' MNIST network, same threads, JSON on stdout.")
    parser.add_argument("--datasets", default="mnist,fashion-mnist",
                        help="comma-separated data sets (default: mnist,fashion-mnist)")
    parser.add_argument("--data-dir", default=None,
                        help="where the data sets live (default: $STRIDELAB_DATA or "
                             "~/.cache/stridelab)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="CPU threads for both recipes (default: PyTorch's, %(default)s)")
    parser.add_argument("--ref-epochs", type=int, default=14,
                        help="epochs of the reference (the example's default: 14)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a field of mnist-cnn's config")
    parser.add_argument("--n-train", type=int, default=0,
                        help="training images, a stratified subset (0: all)")
    parser.add_argument("--n-test", type=int, default=0, help="test images (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="a shortened smoke version: 2 epochs each on 6,000 training and "
                             "2,000 test images, the embedded mnist-5k unless --datasets")
    parser.add_argument("--record", type=Path, default=None,
                        help="write time-to-accuracy--NAME.json records into this directory")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    explicit = {a.split("=", 1)[0] for a in args.overrides}
    if args.quick:
        if "--datasets" not in " ".join(args.argv):
            args.datasets = "mnist-5k"
        args.n_train = args.n_train or 6000
        args.n_test = args.n_test or 2000
        args.ref_epochs = min(args.ref_epochs, 2)
        if "epochs" not in explicit:
            args.overrides.append("epochs=2")  # after STRIDELAB_SET: it wins
    if args.threads < 1 or args.ref_epochs < 1:
        parser.error("--threads and --ref-epochs must be at least 1")

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        overrides = parse_set_args(STRIDELAB_SET + args.overrides)
        config = apply_overrides(CNNConfig(), overrides)
        check_config(config, overrides=overrides, name="mnist-cnn")
        torch.set_num_threads(args.threads)
        names = [n.strip() for n in args.datasets.split(",") if n.strip()]
        if not names:
            raise StridelabError("--datasets: name at least one data set, e.g. mnist")
        datasets = [load_grey(name, args.data_dir) for name in names]  # all, before any work
        if args.record is not None:
            try:
                args.record.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StridelabError(f"--record {args.record}: cannot create it "
                                     f"({exc.strerror or type(exc).__name__})") from None
        records = []
        for ds in datasets:
            record = run_dataset(ds, args, config, log)
            records.append(record)
            if args.record is not None:
                write_json_atomic(args.record / f"time-to-accuracy--{ds.name}.json", record)
    except StridelabError as exc:
        print(f"time_to_accuracy: {exc}", file=sys.stderr)
        return 2
    json.dump(records if len(records) != 1 else records[0], sys.stdout, indent=1,
              default=lambda o: None if isinstance(o, float) and not math.isfinite(o) else o)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
