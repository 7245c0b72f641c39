"""Lloyd's iterations of a fitted k-means, as a record: what the k-means studies share.

:func:`history_record` reads ``KMeans.history_`` (the assignment, centres, inertia and cluster
sizes of every iteration) and says what the iterations did: the inertia per iteration, the
samples that changed cluster, the empty clusters re-seeded and how far the means travelled.
"""

from __future__ import annotations

import numpy as np

from stridelab.cluster import KMeans


def history_record(km: KMeans, X: np.ndarray) -> dict:
    """What Lloyd's iterations did, from ``km.history_``: inertia per iteration, samples that
    changed cluster between iterations, empty clusters re-seeded, and how far the means moved.

    ``moved[t]`` counts the samples whose cluster differs between iteration t + 1 and t + 2
    (iterations count from 1); ``n_reseeded`` counts clusters that won no sample in some
    iteration and were re-seeded before the next.
    """
    history = km.history_
    inertia = [float(h["inertia"]) for h in history]
    moved = [int(np.sum(history[t]["labels"] != history[t - 1]["labels"]))
             for t in range(1, len(history))] if "labels" in history[0] else []
    travel = np.linalg.norm(km.cluster_centers_ - history[0]["centers"], axis=1)  # (K,)
    record = {
        "inertia": inertia,
        "first_inertia": inertia[0],
        "final_inertia": float(km.inertia_),
        "n_iter": int(km.n_iter_),
        "moved": moved,
        "n_reseeded": int(sum(int(np.sum(h["counts"] == 0)) for h in history)),
        "inertia_never_rose": bool(np.all(np.diff(inertia) <= 1e-9 * max(inertia[0], 1.0))),
        "mean_travel": float(travel.mean()),
        "n_samples": int(len(X)),
    }
    if moved:
        record["max_moved"] = int(max(moved))
        record["max_moved_iteration"] = int(np.argmax(moved)) + 2  # between it. t - 1 and t
    return record
