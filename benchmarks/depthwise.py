"""Depthwise-separable against standard 3×3 convolution: counts, and forward/backward time.

For each C = F in ``--channels`` it builds ``nn.Conv2d(C, F, 3, padding=1)`` and
``DepthwiseSeparableConv2d(C, F, 3, padding=1)`` (no biases), times the forward pass and the
backward pass (input and weight gradients) on the same input (N, C, H, W), alternating the
two layers so that both see the same machine load, and prints JSON with the medians and the
ratios: measured speed-up (standard / separable) against the multiply-add ratio 1/F + 1/9
(counted with forward hooks and by formula, which must agree).

    python benchmarks/depthwise.py [--device cpu|cuda|all] [--threads N] [--batch 32]
        [--size 32] [--channels 32,64,128,256] [--repeats 20]
"""

from __future__ import annotations  # noqa: I001  (ruff takes tests/torch/ for `torch`)

import argparse
import json
import os
import platform
import sys

import torch

from stridelab.experiments.depthwise_separable import count_table, time_table


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="all", choices=["all", "cpu", "cuda"],
                   help="all: the CPU, and CUDA when present")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--size", type=int, default=32, help="H = W of the input")
    p.add_argument("--channels", default="32,64,128,256", help="C = F values, comma-separated")
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    channels = [int(c) for c in args.channels.split(",") if c.strip()]
    devices = {"all": ["cpu"] + (["cuda"] if torch.cuda.is_available() else []),
               "cpu": ["cpu"], "cuda": ["cuda"]}[args.device]
    cases = []
    for device in devices:
        for row in time_table(channels, args.size, args.batch, args.repeats, device):
            counts = count_table(row["C"], [row["F"]], [3], args.size)[0]
            cases.append({
                "device": device, "C": row["C"], "F": row["F"], "K": 3,
                "input": [args.batch, row["C"], args.size, args.size],
                "median_s": {k: row[k] for k in ("standard_forward_s", "standard_backward_s",
                                                 "separable_forward_s", "separable_backward_s")},
                "speedup_forward": row["forward_speedup"],
                "speedup_backward": row["backward_speedup"],
                "speedup_forward_backward": (
                    (row["standard_forward_s"] + row["standard_backward_s"])
                    / (row["separable_forward_s"] + row["separable_backward_s"])),
                "param_ratio": counts["param_ratio"],
                "mac_ratio_hooks": counts["mac_ratio"],
                "mac_ratio_formula": counts["formula_ratio"],
                "macs_standard": counts["standard_macs"],
                "macs_separable": counts["separable_macs"],
            })
    report = {
        "benchmark": "depthwise-separable vs standard 3x3 convolution",
        "repeats": args.repeats, "cases": cases,
        "machine": {"torch": torch.__version__, "threads": torch.get_num_threads(),
                    "cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg")
                    else None,
                    "gpu": torch.cuda.get_device_name(0) if "cuda" in devices else None},
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
