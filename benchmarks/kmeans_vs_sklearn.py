"""stridelab.cluster.KMeans against sklearn.cluster.KMeans(algorithm="lloyd"), side by side.

Both fit the same 10,000 x 784 float32 matrix (Fashion-MNIST's first 10,000 training images
when present, else mnist-5k stacked twice, else a fixed random matrix with cluster structure)
from the same k-means++ centres, n_init=1, at the same thread count (threadpoolctl limits BLAS
and OpenMP alike). Fits alternate between the two, with a pause between fits so that idle
worker threads of one library stop spinning before the other starts.

Prints JSON: per thread count the median wall time of each, their ratio (stridelab / sklearn,
target <= 1.0), the iteration counts (target: identical), and the relative inertia difference
(target <= 1e-6), both as reported and recomputed in float64 from each fit's labels and centres.

    python benchmarks/kmeans_vs_sklearn.py [--repeats 7] [--threads 1,2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import sklearn
from sklearn.cluster import KMeans as SklearnKMeans
from threadpoolctl import threadpool_info, threadpool_limits

from stridelab.cluster import KMeans, kmeans_plusplus

N_SAMPLES, N_CLUSTERS = 10_000, 10


def load_matrix() -> tuple[np.ndarray, str]:
    """(10,000, 784) float32 in [0, 1] and the name of where it came from."""
    try:
        from stridelab.data import load_dataset

        images = load_dataset("fashion-mnist").X_train[:N_SAMPLES]
        name = "fashion-mnist"
    except Exception:  # noqa: BLE001  (any missing data set falls through to the next source)
        try:
            from stridelab.data import load_dataset

            train = load_dataset("mnist-5k").X_train
            images = np.concatenate([train] * (N_SAMPLES // len(train) + 1))[:N_SAMPLES]
            name = "mnist-5k stacked"
        except Exception:  # noqa: BLE001
            rng = np.random.RandomState(0)
            prototypes = rng.rand(N_CLUSTERS, 784)
            noise = rng.rand(N_SAMPLES, 784)
            images = 255 * np.clip(prototypes[rng.randint(N_CLUSTERS, size=N_SAMPLES)]
                                   + 0.3 * (noise - 0.5), 0, 1)
            name = "random prototypes + noise"
    X = images.reshape(len(images), -1).astype(np.float32) / 255.0  # (N, 784)
    return np.ascontiguousarray(X), name


def inertia64(X, centers, labels) -> float:
    """Sum of squared distances in float64 from a fit's labels and centres."""
    X64, C64 = X.astype(np.float64), centers.astype(np.float64)
    return float(((X64 - C64[labels]) ** 2).sum())


def timed_fit(cls, X, init):
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    model = cls(n_clusters=N_CLUSTERS, init=init, n_init=1, algorithm="lloyd").fit(X)
    return model, time.perf_counter() - start_wall, time.process_time() - start_cpu


def compare(X, init, threads: int, repeats: int, pause: float) -> dict:
    walls = {"stridelab": [], "sklearn": []}
    cpus = {"stridelab": [], "sklearn": []}
    models = {}
    classes = {"stridelab": KMeans, "sklearn": SklearnKMeans}
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
    rel64 = abs(i64_ours - i64_ref) / i64_ref
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
        "labels_identical": bool(np.array_equal(ours.labels_, ref.labels_)),
        "inertia": {"stridelab": float(ours.inertia_), "sklearn": float(ref.inertia_)},
        "inertia_rel_diff": rel_reported,
        "inertia_float64": {"stridelab": i64_ours, "sklearn": i64_ref},
        "inertia_float64_rel_diff": rel64,
        "max_abs_center_diff": float(np.abs(ours.cluster_centers_ - ref.cluster_centers_).max()),
        "_labels": {"stridelab": ours.labels_, "sklearn": ref.labels_},
        "target_met": bool(ratio <= 1.0 and ours.n_iter_ == ref.n_iter_
                           and rel_reported <= 1e-6),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed fits of each (median)")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    parser.add_argument("--seed", type=int, default=0, help="seed of the k-means++ centres")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between fits")
    args = parser.parse_args(argv)

    X, source = load_matrix()
    init, _ = kmeans_plusplus(X, N_CLUSTERS, random_state=args.seed)
    thread_counts = [int(t) for t in args.threads.split(",") if t.strip()]
    results = [compare(X, init, t, args.repeats, args.pause) for t in thread_counts]
    labels = [r.pop("_labels") for r in results]
    report = {
        "benchmark": "kmeans_vs_sklearn",
        "data": source,
        "shape": list(X.shape),
        "dtype": str(X.dtype),
        "n_clusters": N_CLUSTERS,
        "n_init": 1,
        "init": f"kmeans_plusplus(random_state={args.seed}), the same array for both",
        "repeats": args.repeats,
        "targets": {"ratio": "<= 1.0", "iterations": "identical", "inertia_rel_diff": "<= 1e-6"},
        "results": results,
        # float32 sums are reduced per thread in scikit-learn, so its own result can change
        # with the thread count; stridelab's does not depend on it
        "n_iter_by_threads": {
            name: {str(r["threads"]): r["n_iter"][name] for r in results}
            for name in ("stridelab", "sklearn")
        },
        "inertia_by_threads": {
            name: {str(r["threads"]): r["inertia"][name] for r in results}
            for name in ("stridelab", "sklearn")
        },
        "labels_same_at_every_thread_count": {
            name: all(np.array_equal(lab[name], labels[0][name]) for lab in labels)
            for name in ("stridelab", "sklearn")
        },
        "target_met": all(r["target_met"] for r in results),
        "environment": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "sklearn": sklearn.__version__,
            "cpu_count": os.cpu_count(),
            "load_average_after": list(os.getloadavg()),
            "blas": sorted({f"{m['internal_api']} {m.get('version')}" for m in threadpool_info()
                            if m["user_api"] == "blas"}),
        },
    }
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
