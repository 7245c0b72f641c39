"""stridelab.cluster.KMeans against sklearn.cluster.KMeans(algorithm="lloyd"), side by side.

Both fit the same 10,000 x 784 float32 matrix (the first 10,000 MNIST training images, the size
the TU Wien sheet clusters, when the data directory holds MNIST; else Fashion-MNIST's; else the
embedded mnist-5k stacked to 10,000 rows; else a fixed random matrix with cluster structure)
from the same k-means++ centres, n_init=1, at the same thread count (threadpoolctl limits BLAS
and OpenMP alike). Fits alternate between the two, with a pause between fits so that idle
worker threads of one library stop spinning before the other starts.

Prints JSON: per thread count the median wall time of each, their ratio (stridelab / sklearn,
target <= 1.0), the iteration counts (target: identical), whether the labels are identical,
the relative inertia difference (target <= 1e-6), and the 1-minute load average before and
after (the machine may be shared: a load above the thread count slows both sides unevenly).
The record also names the CPU model, its SIMD extensions, and each BLAS library with its
version and the kernel OpenBLAS chose (threadpoolctl's "architecture"). OpenBLAS picks the
kernel for the CPU unless ``OPENBLAS_CORETYPE`` names another, so one machine gives one record
per kernel:

    python benchmarks/kmeans_vs_sklearn.py --data-dir DIR --record results/benchmarks
    OPENBLAS_CORETYPE=Haswell python benchmarks/kmeans_vs_sklearn.py --data-dir DIR \\
        --record results/benchmarks
    python benchmarks/kmeans_vs_sklearn.py --table    # Markdown table of the records

A record is results/benchmarks/kmeans--<cpu>--<kernel>.json; --table prints one row per CPU
kind, kernel and thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

N_SAMPLES, N_CLUSTERS = 10_000, 10
ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "results" / "benchmarks"
# the SIMD extensions worth naming, in the order a reader compares them
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl",
              "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "asimd", "sve")


###############################################################################
# Data


def load_matrix(data_dir: str | None = None) -> tuple[np.ndarray, str]:
    """(10,000, 784) float32 in [0, 1] and the name of where it came from."""
    from stridelab.data import load_dataset

    for name in ("mnist", "fashion-mnist"):
        try:
            images = load_dataset(name, data_dir).X_train[:N_SAMPLES]
        except Exception:  # noqa: BLE001  (a missing data set falls through to the next)
            continue
        if len(images) == N_SAMPLES:
            return _as_rows(images), f"{name} (first {N_SAMPLES} training images)"
    try:
        train = load_dataset("mnist-5k").X_train
        images = np.concatenate([train] * (N_SAMPLES // len(train) + 1))[:N_SAMPLES]
        return _as_rows(images), "mnist-5k stacked"
    except Exception:  # noqa: BLE001
        rng = np.random.RandomState(0)
        prototypes = rng.rand(N_CLUSTERS, 784)
        noise = rng.rand(N_SAMPLES, 784)
        images = 255 * np.clip(prototypes[rng.randint(N_CLUSTERS, size=N_SAMPLES)]
                               + 0.3 * (noise - 0.5), 0, 1)
        return _as_rows(images), "random prototypes + noise"


def _as_rows(images) -> np.ndarray:
    X = np.asarray(images).reshape(len(images), -1).astype(np.float32) / 255.0  # (N, 784)
    return np.ascontiguousarray(X)


###############################################################################
# The machine


def cpu_info() -> dict:
    """CPU model and the SIMD extensions it reports (Linux: /proc/cpuinfo)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        text = ""
    if m := re.search(r"^model name\s*:\s*(.+)$", text, re.M):
        model = m.group(1).strip()
    if m := re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.M):
        flags = set(m.group(1).split())
    simd = [f for f in SIMD_FLAGS if f in flags]
    level = ("AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags
             else "AVX" if "avx" in flags else "NEON" if "asimd" in flags else "baseline")
    return {"model": model, "simd_flags": simd, "simd_level": level,
            "cpu_count": os.cpu_count()}


def blas_info() -> list[dict]:
    """Each BLAS library loaded (NumPy's, SciPy's: scikit-learn's Lloyd calls SciPy's), with
    its version, the kernel OpenBLAS chose and its thread limit."""
    from threadpoolctl import threadpool_info

    return [{"library": m.get("internal_api"), "version": m.get("version"),
             "kernel": m.get("architecture"), "num_threads": m.get("num_threads"),
             "file": Path(m["filepath"]).name}
            for m in threadpool_info() if m["user_api"] == "blas"]


def _autogroup() -> str | None:
    """The scheduler group of this process and its niceness (Linux autogroups: a process's
    own niceness counts only against processes of its own session)."""
    try:
        return Path("/proc/self/autogroup").read_text().strip()
    except OSError:
        return None


def load_1min() -> float:
    return round(os.getloadavg()[0], 2)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def record_name(cpu: dict, kernel: str) -> str:
    return f"kmeans--{_slug(cpu['model'])}-{_slug(cpu['simd_level'])}--{_slug(kernel)}.json"


###############################################################################
# The measurement


def inertia64(X, centers, labels) -> float:
    """Sum of squared distances in float64 from a fit's labels and centres."""
    X64, C64 = X.astype(np.float64), centers.astype(np.float64)
    return float(((X64 - C64[labels]) ** 2).sum())


def timed_fit(cls, X, init):
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    model = cls(n_clusters=N_CLUSTERS, init=init, n_init=1, algorithm="lloyd").fit(X)
    return model, time.perf_counter() - start_wall, time.process_time() - start_cpu


def compare(X, init, threads: int, repeats: int, pause: float) -> dict:
    from sklearn.cluster import KMeans as SklearnKMeans
    from threadpoolctl import threadpool_limits

    from stridelab.cluster import KMeans

    walls = {"stridelab": [], "sklearn": []}
    cpus = {"stridelab": [], "sklearn": []}
    models = {}
    classes = {"stridelab": KMeans, "sklearn": SklearnKMeans}
    load_before = load_1min()
    with threadpool_limits(limits=threads):
        for cls in classes.values():  # warm-up: thread pools, caches, lazy imports
            timed_fit(cls, X, init)
            time.sleep(pause)
        for r in range(repeats):
            order = list(classes) if r % 2 == 0 else list(classes)[::-1]
            for name in order:
                models[name], wall, cpu = timed_fit(classes[name], X, init)
                walls[name].append(wall)
                cpus[name].append(cpu)
                time.sleep(pause)
    ours, ref = models["stridelab"], models["sklearn"]
    med = {name: float(np.median(v)) for name, v in walls.items()}
    ratio = med["stridelab"] / med["sklearn"]
    rel_reported = abs(ours.inertia_ - ref.inertia_) / ref.inertia_
    i64_ours = inertia64(X, ours.cluster_centers_, ours.labels_)
    i64_ref = inertia64(X, ref.cluster_centers_, ref.labels_)
    labels_identical = bool(np.array_equal(ours.labels_, ref.labels_))
    return {
        "threads": threads,
        "median_s": med,
        "median_cpu_s": {name: float(np.median(v)) for name, v in cpus.items()},
        "all_wall_s": {name: [round(t, 4) for t in v] for name, v in walls.items()},
        "ms_per_iteration": {"stridelab": 1e3 * med["stridelab"] / ours.n_iter_,
                             "sklearn": 1e3 * med["sklearn"] / ref.n_iter_},
        "ratio": ratio,
        "n_iter": {"stridelab": int(ours.n_iter_), "sklearn": int(ref.n_iter_)},
        "iterations_identical": bool(ours.n_iter_ == ref.n_iter_),
        "labels_identical": labels_identical,
        "inertia": {"stridelab": float(ours.inertia_), "sklearn": float(ref.inertia_)},
        "inertia_rel_diff": rel_reported,
        "inertia_float64": {"stridelab": i64_ours, "sklearn": i64_ref},
        "inertia_float64_rel_diff": abs(i64_ours - i64_ref) / i64_ref,
        "max_abs_center_diff": float(np.abs(ours.cluster_centers_ - ref.cluster_centers_).max()),
        "load_1min": {"before": load_before, "after": load_1min()},
        "_labels": {"stridelab": ours.labels_, "sklearn": ref.labels_},
        "target_met": bool(ratio <= 1.0 and ours.n_iter_ == ref.n_iter_ and labels_identical
                           and rel_reported <= 1e-6),
    }


def measure(args) -> dict:
    import sklearn

    from stridelab.cluster import kmeans_plusplus

    X, source = load_matrix(args.data_dir)
    init, _ = kmeans_plusplus(X, N_CLUSTERS, random_state=args.seed)
    thread_counts = [int(t) for t in args.threads.split(",") if t.strip()]
    results = [compare(X, init, t, args.repeats, args.pause) for t in thread_counts]
    labels = [r.pop("_labels") for r in results]
    cpu = cpu_info()
    blas = blas_info()
    kernels = sorted({b["kernel"] or b["library"] or "unknown" for b in blas}) or ["none"]
    return {
        "benchmark": "kmeans_vs_sklearn",
        "data": source,
        "shape": list(X.shape),
        "dtype": str(X.dtype),
        "n_clusters": N_CLUSTERS,
        "n_init": 1,
        "init": f"kmeans_plusplus(random_state={args.seed}), the same array for both",
        "repeats": args.repeats,
        "targets": {"ratio": "<= 1.0", "iterations": "identical", "labels": "identical",
                    "inertia_rel_diff": "<= 1e-6"},
        "results": results,
        # float32 sums are reduced per thread in scikit-learn, so its own result can change
        # with the thread count; stridelab's does not depend on it
        "n_iter_by_threads": {
            name: {str(r["threads"]): r["n_iter"][name] for r in results}
            for name in ("stridelab", "sklearn")
        },
        "labels_same_at_every_thread_count": {
            name: all(np.array_equal(lab[name], labels[0][name]) for lab in labels)
            for name in ("stridelab", "sklearn")
        },
        "target_met": all(r["target_met"] for r in results),
        "machine": {
            "cpu": cpu,
            "blas": blas,
            "blas_kernel": "/".join(kernels),
            "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
            # a negative niceness (as root: nice -n -20, and -20 written to
            # /proc/self/autogroup) gives the benchmark the CPUs before other work on a shared
            # machine; the load average still counts that other work
            "niceness": os.nice(0) if hasattr(os, "nice") else None,
            "autogroup": _autogroup(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "sklearn": sklearn.__version__,
        },
        "command": "kmeans_vs_sklearn.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in
            (("repeats", args.repeats), ("threads", args.threads), ("seed", args.seed))),
    }


def write_record(report: dict, directory: Path) -> Path:
    """Write the record atomically (a temporary file renamed into place)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / record_name(report["machine"]["cpu"], report["machine"]["blas_kernel"])
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, path)
    return path


###############################################################################
# The table


def load_records(directory: Path) -> list[dict]:
    records = []
    for path in sorted(directory.glob("kmeans--*.json")):
        record = json.loads(path.read_text())
        if record.get("benchmark") == "kmeans_vs_sklearn":
            records.append(record)
    return records


def build_table(records: list[dict]) -> str:
    """Markdown: one row per CPU kind, BLAS kernel and thread count."""
    lines = [
        "| CPU | SIMD | BLAS kernel | threads | stridelab (ms/fit) | scikit-learn (ms/fit) "
        "| ratio | iterations | labels | load (1 min) | ratio <= 1.0 |",
        "|---|---|---|---:|---:|---:|---:|---|---|---:|---|",
    ]
    for rec in records:
        cpu, kernel = rec["machine"]["cpu"], rec["machine"]["blas_kernel"]
        pinned = rec["machine"].get("openblas_coretype")
        kernel_cell = f"{kernel} (pinned)" if pinned else f"{kernel} (its own)"
        for r in rec["results"]:
            its = r["n_iter"]
            iterations = (f"{its['stridelab']} = {its['sklearn']}" if r["iterations_identical"]
                          else f"{its['stridelab']} vs {its['sklearn']}")
            load = max(r["load_1min"]["before"], r["load_1min"]["after"])
            lines.append(
                f"| {cpu['model']} | {cpu['simd_level']} | {kernel_cell} | {r['threads']} "
                f"| {1e3 * r['median_s']['stridelab']:.0f} | {1e3 * r['median_s']['sklearn']:.0f} "
                f"| {r['ratio']:.2f} | {iterations} "
                f"| {'identical' if r['labels_identical'] else 'differ'} | {load:.2f} "
                f"| {'yes' if r['ratio'] <= 1.0 else 'no'} |"
            )
    return "\n".join(lines)


###############################################################################
# Command line


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed fits of each (median)")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--seed", type=int, default=0, help="seed of the k-means++ centres")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between fits")
    parser.add_argument("--data-dir", default=None, help="data directory (MNIST, Fashion-MNIST)")
    parser.add_argument("--record", metavar="DIR", nargs="?", const=str(RECORDS),
                        help=f"write the record into DIR (default {RECORDS.relative_to(ROOT)})")
    parser.add_argument("--table", metavar="DIR", nargs="?", const=str(RECORDS),
                        help="print the Markdown table of the records in DIR and exit")
    args = parser.parse_args(argv)

    if args.table is not None:
        records = load_records(Path(args.table))
        if not records:
            print(f"kmeans_vs_sklearn: error: no kmeans--*.json records in {args.table}",
                  file=sys.stderr)
            return 2
        print(build_table(records))
        return 0
    try:
        threads = [int(t) for t in args.threads.split(",") if t.strip()]
    except ValueError:
        threads = []
    if not threads or min(threads) < 1 or args.repeats < 1:
        print("kmeans_vs_sklearn: error: --threads takes positive integers separated by "
              "commas, --repeats a positive integer", file=sys.stderr)
        return 2
    if args.record is not None and Path(args.record).exists() and not Path(args.record).is_dir():
        print(f"kmeans_vs_sklearn: error: --record {args.record} is not a directory",
              file=sys.stderr)
        return 2

    report = measure(args)
    if args.record is not None:
        report["record"] = str(write_record(report, Path(args.record)).name)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
