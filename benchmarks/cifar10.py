"""CIFAR-10 against the clock: the cifar10 experiment's full configuration, timed end to end.

Its targets: at least 0.70 test accuracy within 15 minutes on 2 CPU cores (preset
``cpu``), and at least 0.93 on one GPU (preset ``gpu``). This runs the registered experiment
(the same code as ``stridelab run cifar10``) and prints JSON with the accuracy, the times and
the device:

    python benchmarks/cifar10.py                       # auto: gpu preset on CUDA, else cpu
    python benchmarks/cifar10.py --device cpu --threads 2 --data-dir ~/data
    torchrun --nproc_per_node=2 benchmarks/cifar10.py --device cuda   # data-parallel

``--synthetic`` times the same training code on random images of CIFAR-10 shape instead
(no data needed). It measures time only — the labels are noise, so the accuracy it would
print means nothing and is left out — and projects the full preset's run time from it:

    python benchmarks/cifar10.py --synthetic --threads 2
"""

from __future__ import annotations  # noqa: I001  (ruff takes tests/torch/ for `torch`)

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time

import torch

import stridelab.experiments.cifar10 as cifar_exp  # registers cifar10


def _machine(device: str, threads: int) -> dict:
    record = {"device": device, "torch": torch.__version__, "threads": threads,
              "cpu_count": os.cpu_count(), "platform": platform.platform(),
              "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    if device == "cuda":
        record["gpu"] = torch.cuda.get_device_name(0)
    return record


def run_real(args, device: str) -> dict:
    from stridelab.experiments.runner import run_experiment

    overrides = {"preset": args.preset}
    if args.epochs:
        overrides["epochs"] = str(args.epochs)
    out = args.out or tempfile.mkdtemp(prefix="stridelab-cifar10-")
    t0 = time.perf_counter()
    result = run_experiment("cifar10", data_dir=args.data_dir, out=out, device=device,
                            seed=args.seed, overrides=overrides, echo=False)
    wall = time.perf_counter() - t0
    if result.status != "ok":
        return {"benchmark": "cifar10", "status": result.status, "reason": result.reason}
    m = result.metrics
    keys = ("test_accuracy", "test_accuracy_last_epoch", "target", "target_met", "time_limit_s",
            "preset", "width", "epochs", "batch_size", "n_params", "macs_per_image",
            "train_time_s", "epoch_time_s", "total_time_s", "n_train", "n_test")
    return {"benchmark": "cifar10", "status": "ok", "synthetic": False,
            **{k: m.get(k) for k in keys}, "wall_time_s": wall, "run_dir": str(result.out)}


def run_synthetic(args, device: str) -> dict:
    """Time ``args.epochs`` epochs of the preset on random uint8 images (N, 3, 32, 32)."""
    config = cifar_exp.CifarConfig(preset=args.preset, tta=False)
    preset, config = cifar_exp.resolve_preset(config, device)
    full_epochs = config.epochs
    config = dataclasses.replace(config, epochs=args.epochs or 1)
    g = torch.Generator().manual_seed(args.seed)
    X_train = torch.randint(0, 256, (args.n_train, 3, 32, 32), dtype=torch.uint8, generator=g)
    y_train = torch.randint(0, 10, (args.n_train,), generator=g)
    X_test = torch.randint(0, 256, (10_000, 3, 32, 32), dtype=torch.uint8, generator=g)
    y_test = torch.randint(0, 10, (10_000,), generator=g)
    cpu0 = time.process_time()
    result = cifar_exp.train_cifar(config, X_train, y_train, X_test, y_test, device=device,
                                   seed=args.seed)
    cpu_total = time.process_time() - cpu0
    history = result["history"]
    epoch = sorted(history["epoch_time"])[len(history["epoch_time"]) // 2]  # median
    evaluation = max(result["train_time_s"] / config.epochs - epoch, 0.0)
    # CPU seconds of one evaluation, to split the process's CPU time into train and test;
    # on a busy machine CPU time shows the work better than the wall clock does
    from stridelab.torch.loop import evaluate, make_loader

    cpu0 = time.process_time()
    evaluate(result["model"], make_loader(X_test, y_test, 1024), torch.nn.CrossEntropyLoss(),
             device, input_transform=result["test_pipe"])
    cpu_eval = time.process_time() - cpu0
    cpu_epoch = max(cpu_total / config.epochs - cpu_eval, 0.0)
    scale = 50_000 / args.n_train

    def projected(train_epoch: float, evaluation: float) -> float:
        # the preset's epochs with an evaluation each, then the flip-averaged evaluation (x2)
        return full_epochs * (train_epoch * scale + evaluation) + 2 * evaluation

    from stridelab.experiments.registry import get

    target, limit = get("cifar10").lessons[0].full, config.time_budget_s
    threads = torch.get_num_threads()
    cpu_seconds = projected(cpu_epoch, cpu_eval)
    return {
        "benchmark": "cifar10", "synthetic": True,
        "note": "timing only, on random images of CIFAR-10 shape: no accuracy is measured",
        "preset": preset, "width": config.width, "batch_size": config.batch_size,
        "n_train": args.n_train, "epochs_timed": config.epochs,
        "epoch_time_s": epoch, "epoch_time_50k_s": epoch * scale,
        "evaluation_time_10k_s": evaluation,
        "epoch_cpu_s_50k": cpu_epoch * scale, "evaluation_cpu_s_10k": cpu_eval,
        "preset_epochs": full_epochs,
        "projected_full_run_wall_s": projected(epoch, evaluation),
        "projected_full_run_cpu_s": cpu_seconds,
        "projected_wall_on_idle_cores_s": {"no_scaling": cpu_seconds,
                                           f"perfect_scaling_{threads}": cpu_seconds / threads},
        "time_limit_s": limit, "target_accuracy": target,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--preset", default="auto", choices=["auto", "cpu", "gpu"])
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--data-dir", default=None, help="where CIFAR-10 lives")
    p.add_argument("--out", default=None, help="run directory root (default: a temporary one)")
    p.add_argument("--epochs", type=int, default=0, help="override the preset's epochs "
                   "(synthetic: epochs to time, default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--synthetic", action="store_true", help="time on random data of CIFAR shape")
    p.add_argument("--n-train", type=int, default=50_000,
                   help="synthetic: training images per timed epoch (scaled to 50,000)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from stridelab.experiments.runner import resolve_device

    device = resolve_device(args.device)
    report = run_synthetic(args, device) if args.synthetic else run_real(args, device)
    report["machine"] = _machine(device, torch.get_num_threads())
    from stridelab.torch.distributed import is_main_process

    if is_main_process():
        print(json.dumps(report, indent=2))
    return 0 if report.get("status", "ok") == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
