"""Convolution forward + backward: stridelab.core against PyTorch, float32, equal threads.

Cases:
  (a) conv2d N=64, C 32 -> 64, 14x14, k=3, padding "same"
  (b) conv2d N=64, C 1 -> 32, 28x28, k=5, stride 2, padding 2 (symmetric, 14x14 out)
  (c) conv1d N=64, C 16 -> 32, L=256, k=7, padding "same"
  (d) conv_transpose2d N=64, C 32 -> 16, 14x14 -> 28x28, k=3, stride 2, padding 1,
      output_padding 1 (the upsampling layer of a convolutional decoder)
  (e) conv3d N=8, C 16 -> 32, 8 frames of 16x16, k=3, padding 1 (a short video clip)

Each timed step runs the forward pass and the backward pass for the input, the weights and the
bias, with the same upstream gradient in both libraries; before timing, the script checks that
both compute the same values. Both run on the same number of threads: torch.set_num_threads(n),
threadpoolctl limits NumPy's BLAS (and OpenMP) to n, and ``stridelab.core.set_num_threads(n)``
limits the engine's own copy threads to n. The JSON gives the median (and the minimum) over
the timed steps and ``ratio = engine / torch`` per case, with a verdict against ``TARGET`` per
case, and names what ran: the CPU (model and the SIMD flags of note), NumPy's BLAS
(threadpoolctl: library, version, kernel architecture, threads), the ``OPENBLAS_CORETYPE`` it
was run under, torch's CPU capability and oneDNN (mkldnn) setting, and the 1-minute load
average of the machine before, during and after (other processes on the cores make every time
longer and noisier).

``--tuned-malloc`` runs every case a second time after raising glibc's mmap and trim
thresholds (``mallopt``) so that freed memory is reused; the setting applies to the whole
process, so to both libraries. The verdicts are those of the default allocator.

    python benchmarks/engine_vs_torch.py [--threads N] [--cases abcde] [--record DIR]
    python benchmarks/engine_vs_torch.py --all --record results/benchmarks
    python benchmarks/engine_vs_torch.py --table [DIR]

``--record DIR`` also writes the report to ``DIR/engine-<cpu>--<kernel>--<n>t.json``.
``--all`` runs the script once per BLAS kernel (the CPU's own, and ``OPENBLAS_CORETYPE=Haswell``
as some environments pin it) and per thread count (1 and 2), each in a fresh process (OpenBLAS
reads the variable when it loads). ``--table`` prints the Markdown table of the records in DIR
(default ``results/benchmarks``): one row per CPU kind, kernel and thread count.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CASES = {
    "a": dict(op="conv2d", x=(64, 32, 14, 14), w=(64, 32, 3, 3),
              ours=dict(padding="same"), theirs=dict(padding=1),
              label="conv2d N=64, C 32->64, 14x14, k=3, same"),
    "b": dict(op="conv2d", x=(64, 1, 28, 28), w=(32, 1, 5, 5),
              ours=dict(stride=2, padding=2), theirs=dict(stride=2, padding=2),
              label="conv2d N=64, C 1->32, 28x28, k=5, stride 2, padding 2"),
    "c": dict(op="conv1d", x=(64, 16, 256), w=(32, 16, 7),
              ours=dict(padding="same"), theirs=dict(padding=3),
              label="conv1d N=64, C 16->32, L=256, k=7, same"),
    "d": dict(op="conv_transpose2d", x=(64, 32, 14, 14), w=(32, 16, 3, 3),
              ours=dict(stride=2, padding=1, output_padding=1),
              theirs=dict(stride=2, padding=1, output_padding=1),
              label="conv_transpose2d N=64, C 32->16, 14x14->28x28, k=3, stride 2, padding 1, "
                    "output_padding 1"),
    "e": dict(op="conv3d", x=(8, 16, 8, 16, 16), w=(32, 16, 3, 3, 3),
              ours=dict(padding=1), theirs=dict(padding=1),
              label="conv3d N=8, C 16->32, 8x16x16, k=3, padding 1"),
}
TARGET = 1.5
# CPU flags that decide which kernels BLAS and oneDNN pick.
FLAGS_OF_NOTE = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                 "avx512_bf16", "amx_tile")
ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "results" / "benchmarks"


# ---------------------------------------------------------------------- timing


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
    import torch
    import torch.nn.functional as TF

    from stridelab.core import Tensor
    from stridelab.core import functional as F

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(spec["x"]).astype(np.float32)
    w = (rng.standard_normal(spec["w"]) * 0.1).astype(np.float32)
    channels = spec["w"][1] if spec["op"].startswith("conv_transpose") else spec["w"][0]
    b = rng.standard_normal(channels).astype(np.float32)
    ours = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    ours_fn, theirs_fn = getattr(F, spec["op"]), getattr(TF, spec["op"])
    upstream = rng.standard_normal(ours_fn(*ours, **spec["ours"]).shape).astype(np.float32)
    upstream_t = torch.from_numpy(upstream)

    def engine_step():
        for t in ours:
            t.grad = None
        out = ours_fn(*ours, **spec["ours"])
        out.backward(upstream)
        return out.data

    def torch_step():
        for t in theirs:
            t.grad = None
        out = theirs_fn(*theirs, **spec["theirs"])
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
            "max_rel_diff": worst, "load_average_1min": _load()}


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


# ---------------------------------------------------------------------- what ran


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


def _simd(cpu: dict) -> str:
    flags = cpu.get("flags_of_note") or []
    return "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "other"


def _blas() -> list[dict]:
    """NumPy's BLAS (and any OpenMP) as threadpoolctl sees it, inside the thread limit."""
    from threadpoolctl import threadpool_info

    keys = ("user_api", "internal_api", "prefix", "version", "architecture", "threading_layer",
            "num_threads")
    info = []
    for p in threadpool_info():
        entry = {k: p.get(k) for k in keys}
        entry["library"] = os.path.basename(p.get("filepath") or "")    # no machine paths
        info.append(entry)
    return info


def _torch_cpu() -> dict:
    import torch

    capability = getattr(getattr(torch.backends, "cpu", None), "get_cpu_capability", None)
    return {"cpu_capability": capability() if capability else None,
            "mkldnn_available": torch.backends.mkldnn.is_available(),
            "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
            "num_threads": torch.get_num_threads()}


def _load() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def record_name(report: dict) -> str:
    """``engine-<cpu model>-<simd>--<blas kernel>--<n>t.json``."""
    blas = next((b for b in report["blas"] if b.get("user_api") == "blas"), {})
    kernel = blas.get("architecture") or "unknown"
    cpu = f"{report['cpu']['model']} {report['cpu_kind']['simd']}"
    return f"engine-{_slug(cpu)}--{_slug(kernel)}--{report['threads']}t.json"


# ---------------------------------------------------------------------- the run


def measure(args) -> dict:
    import torch
    from threadpoolctl import threadpool_limits

    from stridelab.core import get_num_threads, set_num_threads

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
    ratios = {c: cases[c]["default_malloc"]["ratio"] for c in cases}
    cpu = _cpu()
    loads = [cases[c]["default_malloc"]["load_average_1min"] for c in cases]
    return {
        "benchmark": "conv forward+backward (x, w and bias gradients), float32",
        "threads": args.threads,
        "engine_threads": get_num_threads(),
        "cpu": cpu,
        "cpu_kind": {"model": cpu["model"], "simd": _simd(cpu)},
        "cores": os.cpu_count(),
        "blas": blas,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "torch_cpu": _torch_cpu(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_1min": {"before": load_before, "during_max": max(loads, default=None),
                              "after": _load()},
        "repeats": args.repeats, "warmup": args.warmup, "rounds": args.rounds,
        "cases": cases,
        "ratio_engine_over_torch": ratios,
        "ratio_engine_over_torch_tuned_malloc": (
            {c: cases[c]["tuned_malloc"]["ratio"] for c in cases} if tuned else None),
        "target_ratio": TARGET,
        "verdict": {c: "met" if r <= TARGET else "not met" for c, r in ratios.items()},
        "within_target": all(r <= TARGET for r in ratios.values()),
        "date": time.strftime("%Y-%m-%d"),
    }


def run_all(args) -> int:
    """One fresh process per kernel and thread count (OpenBLAS reads its kernel at load)."""
    status = 0
    for coretype in (None, "Haswell"):
        for threads in (1, 2):
            env = dict(os.environ)
            env.pop("OPENBLAS_CORETYPE", None)
            if coretype:
                env["OPENBLAS_CORETYPE"] = coretype
            cmd = [sys.executable, __file__, "--threads", str(threads), "--cases", args.cases,
                   "--repeats", str(args.repeats), "--warmup", str(args.warmup),
                   "--rounds", str(args.rounds), "--record", str(args.record)]
            if not args.tuned_malloc:
                cmd.append("--no-tuned-malloc")
            done = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if done.returncode:
                sys.stderr.write(done.stderr)
                status = done.returncode
                continue
            report = json.loads(done.stdout)
            print(f"{coretype or 'own kernel'}, {threads} thread(s): "
                  f"{report['ratio_engine_over_torch']} (load {report['load_average_1min']})")
    return status


# ---------------------------------------------------------------------- the table


def load_records(folder: Path) -> list[dict]:
    records = []
    for path in sorted(Path(folder).glob("engine-*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("benchmark", "").startswith("conv forward+backward"):
            records.append(record)
    return records


def build_table(records: list[dict]) -> str:
    """One Markdown row per CPU kind, BLAS kernel and thread count: ratio engine / torch per
    case (forward + backward, float32, median), the target verdict and the load it ran under."""
    cases = sorted({c for r in records for c in r["cases"]})
    head = ("| CPU | SIMD | BLAS kernel | threads | "
            + " | ".join(f"({c})" for c in cases) + f" | all ≤ {TARGET}× | load (1 min) |")
    lines = [head, "|" + "---|" * (6 + len(cases))]
    key = lambda r: (r["cpu_kind"]["model"], r["cpu_kind"]["simd"], _kernel(r), r["threads"])
    for r in sorted(records, key=key):
        model, simd, kernel, threads = key(r)
        ratios = [f"{r['ratio_engine_over_torch'][c]:.2f}" if c in r["cases"] else "–"
                  for c in cases]
        load = r["load_average_1min"]
        lines.append(f"| {model} | {simd} | {kernel} | {threads} | " + " | ".join(ratios)
                     + f" | {'yes' if r['within_target'] else 'no'} "
                     + f"| {load['before']}–{load['during_max']} |")
    return "\n".join(lines)


def _kernel(record: dict) -> str:
    blas = next((b for b in record["blas"] if b.get("user_api") == "blas"), {})
    name = f"{blas.get('internal_api', '?')} {blas.get('version', '')} {blas.get('architecture')}"
    pinned = record.get("openblas_coretype")
    return name + (f" (OPENBLAS_CORETYPE={pinned})" if pinned else "")


# ---------------------------------------------------------------------- command line


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for both libraries (default: every core)")
    parser.add_argument("--repeats", type=int, default=30, help="timed steps per case")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before each block")
    parser.add_argument("--rounds", type=int, default=3, help="alternating blocks per library")
    parser.add_argument("--cases", default="abcde", help="which cases to run, e.g. 'ac'")
    parser.add_argument("--no-tuned-malloc", dest="tuned_malloc", action="store_false",
                        help="skip the second pass with glibc's thresholds raised")
    parser.add_argument("--record", type=Path, default=None,
                        help="also write the report into this folder")
    parser.add_argument("--all", action="store_true",
                        help="run every kernel and thread count, each in its own process")
    parser.add_argument("--table", nargs="?", const=RECORDS, type=Path, default=None,
                        help="print the Markdown table of the records in this folder")
    args = parser.parse_args(argv)
    if args.table is not None:
        records = load_records(args.table)
        if not records:
            print(f"stridelab: error: no engine records in {args.table}", file=sys.stderr)
            return 2
        print(build_table(records))
        return 0
    bad = set(args.cases) - set(CASES)
    if bad or args.threads < 1 or args.repeats < 1 or args.rounds < 1 or args.warmup < 0:
        print(f"stridelab: error: bad arguments (cases {sorted(bad)} unknown, or a count < 1)",
              file=sys.stderr)
        return 2
    if args.all:
        if args.record is None:
            print("stridelab: error: --all needs --record DIR", file=sys.stderr)
            return 2
        return run_all(args)
    report = measure(args)
    text = json.dumps(report, indent=2)
    print(text)
    if args.record is not None:
        args.record.mkdir(parents=True, exist_ok=True)
        path = args.record / record_name(report)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        tmp.replace(path)                                   # atomic: never half a record
    return 0


if __name__ == "__main__":
    sys.exit(main())
