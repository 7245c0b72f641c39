"""Convolution forward + backward: stridelab.core against PyTorch, float32, equal threads.

Cases:
  (a) conv2d N=64, C 32 -> 64, 14x14, k=3, padding "same"
  (b) conv2d N=64, C 1 -> 32, 28x28, k=5, stride 2, padding 2 (symmetric, 14x14 out)
  (c) conv1d N=64, C 16 -> 32, L=256, k=7, padding "same"

Each timed step runs the forward pass and the backward pass for the input, the weights and the
bias, with the same upstream gradient in both libraries; before timing, the script checks that
both compute the same values. Both run on the same number of threads: torch.set_num_threads(n),
threadpoolctl limits NumPy's BLAS (and OpenMP) to n, and ``stridelab.core.set_num_threads(n)``
limits the engine's own copy threads to n. The JSON gives the median (and the
minimum) over the timed steps and ``ratio = engine / torch`` per case, with a verdict against
``TARGET`` per case, and names what ran: the CPU (model and the SIMD flags of note), NumPy's
BLAS (threadpoolctl: internal API, version, kernel architecture, threads) and torch's CPU
capability and oneDNN (mkldnn) setting.

The engine allocates fresh arrays of several MB per step (the im2col matrix, its gradient);
with glibc's default settings those come straight from the kernel as new zeroed pages each time.
``--tuned-malloc`` (on by default) runs every case a second time after raising glibc's mmap and
trim thresholds (``mallopt``) so that freed memory is reused; the setting applies to the whole
process, so to both libraries. Both sets of numbers are printed.

    python benchmarks/engine_vs_torch.py [--threads N] [--repeats R] [--no-tuned-malloc]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import platform
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as TF
from threadpoolctl import threadpool_info, threadpool_limits

from stridelab.core import Tensor, get_num_threads, set_num_threads
from stridelab.core import functional as F

CASES = {
    "a": dict(op="conv2d", x=(64, 32, 14, 14), w=(64, 32, 3, 3), stride=1, padding="same",
              torch_padding=1, label="conv2d N=64, C 32->64, 14x14, k=3, same"),
    "b": dict(op="conv2d", x=(64, 1, 28, 28), w=(32, 1, 5, 5), stride=2, padding=2,
              torch_padding=2, label="conv2d N=64, C 1->32, 28x28, k=5, stride 2, padding 2"),
    "c": dict(op="conv1d", x=(64, 16, 256), w=(32, 16, 7), stride=1, padding="same",
              torch_padding=3, label="conv1d N=64, C 16->32, L=256, k=7, same"),
}
TARGET = 1.5
# CPU flags that decide which kernels BLAS and oneDNN pick.
FLAGS_OF_NOTE = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                 "amx_tile")


def _time_in_rounds(steps, warmup: int, repeats: int, rounds: int) -> list[list[float]]:
    """Seconds per call of each step, timed in alternating blocks.

    Each round runs every step ``warmup`` times untimed and then ``repeats // rounds`` times
    timed. Blocks (rather than alternating single calls) let each library's worker threads
    settle: OpenMP and OpenBLAS threads keep spinning for a while after a parallel call and
    would otherwise steal the cores from the other library's next call. Several rounds spread
    slow drifts in machine load over both.
    """
    times = [[] for _ in steps]
    per_round = max(1, repeats // rounds)
    for _ in range(rounds):
        for step, bucket in zip(steps, times):
            for _ in range(warmup):
                step()
            for _ in range(per_round):
                start = time.perf_counter()
                step()
                bucket.append(time.perf_counter() - start)
    return times


def _make_steps(spec: dict, seed: int = 0):
    """The engine's and torch's forward+backward step on the same data, checked to agree."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(spec["x"]).astype(np.float32)
    w = (rng.standard_normal(spec["w"]) * 0.1).astype(np.float32)
    b = rng.standard_normal(spec["w"][0]).astype(np.float32)
    ours = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ours_fn = F.conv2d if spec["op"] == "conv2d" else F.conv1d
    theirs_fn = TF.conv2d if spec["op"] == "conv2d" else TF.conv1d
    upstream = rng.standard_normal(
        ours_fn(*ours, stride=spec["stride"], padding=spec["padding"]).shape).astype(np.float32)
    upstream_t = torch.from_numpy(upstream)

    def engine_step():
        for t in ours:
            t.grad = None
        out = ours_fn(*ours, stride=spec["stride"], padding=spec["padding"])
        out.backward(upstream)
        return out.data

    def torch_step():
        for t in theirs:
            t.grad = None
        out = theirs_fn(*theirs, stride=spec["stride"], padding=spec["torch_padding"])
        out.backward(upstream_t)
        return out.detach().numpy()

    pairs = [(engine_step(), torch_step())]
    pairs += [(t.grad, tt.grad.numpy()) for t, tt in zip(ours, theirs)]
    worst = max(float(np.abs(a - b).max() / max(1.0, float(np.abs(b).max()))) for a, b in pairs)
    if worst > 1e-4:
        raise RuntimeError(f"engine and torch disagree (max relative difference {worst:.2e})")
    return engine_step, torch_step, worst


def run_case(spec: dict, warmup: int, repeats: int, rounds: int) -> dict:
    engine_step, torch_step, worst = _make_steps(spec)
    engine_s, torch_s = _time_in_rounds([engine_step, torch_step], warmup, repeats, rounds)
    engine_ms, torch_ms = 1e3 * statistics.median(engine_s), 1e3 * statistics.median(torch_s)
    return {"engine_ms": round(engine_ms, 3), "torch_ms": round(torch_ms, 3),
            "ratio": round(engine_ms / torch_ms, 3),
            "engine_min_ms": round(1e3 * min(engine_s), 3),
            "torch_min_ms": round(1e3 * min(torch_s), 3),
            "ratio_of_minima": round(min(engine_s) / min(torch_s), 3),
            "max_rel_diff": worst}


def _tune_malloc() -> bool:
    """Keep freed memory in the heap instead of returning it to the kernel (glibc only)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 1 << 30)
                    and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):
        return False


def _cpu() -> dict:
    """Model name and the SIMD flags of note, from /proc/cpuinfo (else ``platform``)."""
    name, flags = None, None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and name is None:
                    name = value.strip()
                elif key in ("flags", "Features") and flags is None:
                    flags = set(value.split())
                if name is not None and flags is not None:
                    break
    except OSError:
        pass
    return {"model": name or platform.processor() or platform.machine(),
            "flags_of_note": None if flags is None else [f for f in FLAGS_OF_NOTE if f in flags],
            "machine": platform.machine()}


def _blas() -> list[dict]:
    """NumPy's BLAS (and any OpenMP) as threadpoolctl sees it, inside the thread limit."""
    keys = ("user_api", "internal_api", "prefix", "version", "architecture", "threading_layer",
            "num_threads")
    return [{k: p.get(k) for k in keys} for p in threadpool_info()]


def _torch_cpu() -> dict:
    capability = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    return {"cpu_capability": capability() if capability else None,
            "mkldnn_available": torch.backends.mkldnn.is_available(),
            "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
            "num_threads": torch.get_num_threads()}


def _load() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for both libraries (default: every core)")
    parser.add_argument("--repeats", type=int, default=30, help="timed steps per case")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before each block")
    parser.add_argument("--rounds", type=int, default=3, help="alternating blocks per library")
    parser.add_argument("--cases", default="abc", help="which cases to run, e.g. 'ac'")
    parser.add_argument("--no-tuned-malloc", dest="tuned_malloc", action="store_false",
                        help="skip the second pass with glibc's thresholds raised")
    args = parser.parse_args()

    load_before = _load()
    torch.set_num_threads(args.threads)
    set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        blas = _blas()
        cases = {c: {"label": CASES[c]["label"],
                     "default_malloc": run_case(CASES[c], args.warmup, args.repeats, args.rounds)}
                 for c in args.cases}
        tuned = args.tuned_malloc and _tune_malloc()
        if tuned:
            for c in args.cases:
                cases[c]["tuned_malloc"] = run_case(CASES[c], args.warmup, args.repeats,
                                                    args.rounds)
    summary = {
        setting: {c: cases[c][setting]["ratio"] for c in cases}
        for setting in (("default_malloc", "tuned_malloc") if tuned else ("default_malloc",))
    }
    report = {
        "benchmark": "conv forward+backward (x, w and bias gradients), float32",
        "threads": args.threads,
        "engine_threads": get_num_threads(),
        "blas": blas,
        "torch_cpu": _torch_cpu(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "cpu": _cpu(),
        "cores": os.cpu_count(),
        # Other processes competing for the cores make every time longer and noisier.
        "load_average_1min": {"before": load_before, "after": _load()},
        "repeats": args.repeats, "warmup": args.warmup, "rounds": args.rounds,
        "cases": cases,
        "ratio_engine_over_torch": summary,
        "target_ratio": TARGET,
        "verdict": {setting: {c: "met" if r <= TARGET else "not met" for c, r in ratios.items()}
                    for setting, ratios in summary.items()},
        "within_target": {setting: all(r <= TARGET for r in ratios.values())
                          for setting, ratios in summary.items()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
