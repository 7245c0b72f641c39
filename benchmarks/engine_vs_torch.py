"""Convolution forward + backward: stridelab.core against PyTorch, float32, equal threads.

Cases (from the issue):
  (a) conv2d N=64, C 32 -> 64, 14x14, k=3, padding "same"
  (b) conv2d N=64, C 1 -> 32, 28x28, k=5, stride 2, padding 2 (symmetric, 14x14 out)
  (c) conv1d N=64, C 16 -> 32, L=256, k=7, padding "same"

Each timed step runs the forward pass and the backward pass for the input, the weights and
the bias, with the same upstream gradient in both libraries. Both run on the same number of
threads: torch.set_num_threads(n) and threadpoolctl limits NumPy's BLAS to n. Prints JSON with
the median over the repeats (after warm-up) and ratio = engine / torch per case.

    python benchmarks/engine_vs_torch.py [--threads N] [--repeats R] [--warmup W]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
import torch.nn.functional as TF
from threadpoolctl import threadpool_info, threadpool_limits

import torch
from stridelab.core import Tensor
from stridelab.core import functional as F

CASES = {
    "a": dict(op="conv2d", x=(64, 32, 14, 14), w=(64, 32, 3, 3), stride=1, padding="same",
              torch_padding=1, label="conv2d N=64, C 32->64, 14x14, k=3, same"),
    "b": dict(op="conv2d", x=(64, 1, 28, 28), w=(32, 1, 5, 5), stride=2, padding=2,
              torch_padding=2, label="conv2d N=64, C 1->32, 28x28, k=5, stride 2, padding 2"),
    "c": dict(op="conv1d", x=(64, 16, 256), w=(32, 16, 7), stride=1, padding="same",
              torch_padding=3, label="conv1d N=64, C 16->32, L=256, k=7, same"),
}


def _time_interleaved(steps, warmup: int, repeats: int) -> list[list[float]]:
    """Seconds per call of each step; the steps alternate so that both see the same load."""
    for _ in range(warmup):
        for step in steps:
            step()
    times = [[] for _ in steps]
    for _ in range(repeats):
        for step, bucket in zip(steps, times):
            start = time.perf_counter()
            step()
            bucket.append(time.perf_counter() - start)
    return times


def run_case(spec: dict, warmup: int, repeats: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(spec["x"]).astype(np.float32)
    w = (rng.standard_normal(spec["w"]) * 0.1).astype(np.float32)
    b = rng.standard_normal(spec["w"][0]).astype(np.float32)

    ours = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    ours_fn = F.conv2d if spec["op"] == "conv2d" else F.conv1d
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs_fn = TF.conv2d if spec["op"] == "conv2d" else TF.conv1d

    out = ours_fn(*ours, stride=spec["stride"], padding=spec["padding"])
    upstream = rng.standard_normal(out.shape).astype(np.float32)
    upstream_t = torch.from_numpy(upstream)

    def engine_step():
        for t in ours:
            t.grad = None
        out = ours_fn(*ours, stride=spec["stride"], padding=spec["padding"])
        out.backward(upstream)
        return out

    def torch_step():
        for t in theirs:
            t.grad = None
        out = theirs_fn(*theirs, stride=spec["stride"], padding=spec["torch_padding"])
        out.backward(upstream_t)
        return out

    # The two must compute the same thing before their times mean anything.
    a, b_ = engine_step(), torch_step()
    max_diff = max(float(np.abs(a.data - b_.detach().numpy()).max()),
                   *(float(np.abs(t.grad - tt.grad.numpy()).max() / max(1.0, np.abs(t.grad).max()))
                     for t, tt in zip(ours, theirs)))

    engine_s, torch_s = _time_interleaved([engine_step, torch_step], warmup, repeats)
    engine_ms, torch_ms = 1e3 * statistics.median(engine_s), 1e3 * statistics.median(torch_s)
    return {"label": spec["label"],
            "engine_ms": round(engine_ms, 3), "torch_ms": round(torch_ms, 3),
            "ratio": round(engine_ms / torch_ms, 3),
            "engine_min_ms": round(1e3 * min(engine_s), 3),
            "torch_min_ms": round(1e3 * min(torch_s), 3),
            "ratio_of_minima": round(min(engine_s) / min(torch_s), 3),
            "max_rel_diff": max_diff}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for both libraries (default: every core)")
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per case")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs per case first")
    parser.add_argument("--cases", default="abc", help="which cases to run, e.g. 'ac'")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        blas = [f"{p['internal_api']}:{p['num_threads']}" for p in threadpool_info()
                if p["user_api"] == "blas"]
        results = {c: run_case(CASES[c], args.warmup, args.repeats) for c in args.cases}
    report = {
        "benchmark": "conv forward+backward (x, w, bias grads), float32",
        "threads": args.threads,
        "numpy_blas_threads": blas,
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "repeats": args.repeats,
        "warmup": args.warmup,
        "cases": results,
        "target_ratio": 2.0,
        "all_within_target": all(r["ratio"] <= 2.0 for r in results.values()),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
