"""The registered k-means studies: kmeans-blobs, kmeans-steps, kmeans-mnist."""

from __future__ import annotations

import numpy as np
import pytest

from stridelab.cluster import KMeans
from stridelab.data import load_dataset
from stridelab.experiments.kmeans import contingency, load_points, purity
from stridelab.experiments.runner import run_experiment


def _run(name, tmp_path, **kwargs):
    result = run_experiment(name, smoke=True, out=tmp_path, echo=False, **kwargs)
    assert result.status == "ok", result.reason
    return result


def _non_increasing(values, rtol=1e-9):
    values = np.asarray(values, dtype=float)
    return bool(np.all(values[1:] <= values[:-1] * (1 + rtol) + 1e-12))


# ---------------------------------------------------------------------------------------------
# helpers


def test_contingency_and_purity_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 2])
    y = np.array([1, 1, 0, 2, 2, 0])
    table = contingency(labels, y, n_clusters=3, n_classes=3)
    np.testing.assert_array_equal(table, [[1, 2, 0], [0, 0, 2], [1, 0, 0]])
    # majority counts 2 + 2 + 1 of 6 samples
    assert purity(table) == pytest.approx(5 / 6)


def test_load_points_rejects_unknown_data():
    from stridelab.errors import StridelabError

    with pytest.raises(StridelabError, match="three-blobs"):
        load_points("no-such-data")


# ---------------------------------------------------------------------------------------------
# kmeans-blobs


def test_kmeans_blobs_smoke_metrics(tmp_path):
    m = _run("kmeans-blobs", tmp_path).metrics
    X, y, _ = load_points("three-blobs")
    # k = 1: the centre is the mean, so the inertia is the total sum of squares
    total_ss = float(((X - X.mean(axis=0)) ** 2).sum())
    assert m["elbow_inertia"]["1"] == pytest.approx(total_ss, rel=1e-9)
    elbow = [m["elbow_inertia"][str(k)] for k in (1, 2, 3)]
    assert elbow[0] > elbow[1] > elbow[2] > 0
    assert m["inertia_by_k"]["2"] > m["inertia_by_k"]["3"]
    assert set(m["inertia_by_k"]) == {"2", "3"}
    assert all(n >= 1 for n in m["n_iter_by_k"].values())
    # stability over the 3 smoke seeds
    assert len(m["inertia_by_seed"]) == 3
    assert 1 <= m["n_distinct_solutions"] <= 3
    assert -1.0 <= m["min_pairwise_ari"] <= m["mean_pairwise_ari"] <= 1.0
    assert 0.0 < m["fraction_at_lowest_inertia"] <= 1.0
    if m["n_distinct_solutions"] == 1:
        assert m["mean_pairwise_ari"] == pytest.approx(1.0)
        assert np.ptp(m["inertia_by_seed"]) == pytest.approx(0.0, abs=1e-9)
    # three well-separated blobs: k = 3 recovers them
    assert -1.0 <= m["ari_vs_true_blobs"] <= 1.0
    assert m["ari_vs_true_blobs"] > 0.9
    assert min(m["inertia_by_seed"]) >= m["inertia_by_k"]["3"] * (1 - 1e-9)


# ---------------------------------------------------------------------------------------------
# kmeans-steps


def test_kmeans_steps_smoke_metrics(tmp_path):
    result = _run("kmeans-steps", tmp_path)
    m = result.metrics
    X, _, _ = load_points("three-blobs")
    init = np.asarray(m["region_init"])
    assert init.shape == (3, 2)
    assert np.all(init[:, 0] > 4) and np.all(init[:, 0] <= 6)
    assert np.all((init[:, 1] >= X[:, 1].min()) & (init[:, 1] <= X[:, 1].max()))
    idx = m["kmeanspp_indices"]
    assert len(set(idx)) == 3 and all(0 <= i < len(X) for i in idx)

    # the same run again from the recorded start: same iterations and inertia, and the
    # recorded history only ever lowers the inertia
    km = KMeans(n_clusters=3, init=init, tol=0).fit(X)
    assert km.n_iter_ == m["n_iter_region_init"]
    assert km.inertia_ == pytest.approx(m["inertia_region_init"], rel=1e-9)
    inertias = [h["inertia"] for h in km.history_]
    assert len(inertias) == km.n_iter_
    assert _non_increasing(inertias)
    assert inertias[-1] == pytest.approx(km.inertia_, rel=1e-9)
    # the means start in x0 > 4, right of most of the data: the first assignment is worse
    assert inertias[0] > inertias[-1]

    km_pp = KMeans(n_clusters=3, init=X[idx], tol=0).fit(X)
    assert km_pp.n_iter_ == m["n_iter_kmeanspp"]
    assert _non_increasing([h["inertia"] for h in km_pp.history_])

    by_init = m["by_init"]
    assert set(by_init) == {"region x0 > 4", "random samples", "k-means++"}
    for stats in by_init.values():
        assert 0.0 <= stats["fraction_at_lowest"] <= 1.0
        assert 1 <= stats["mean_n_iter"] <= stats["max_n_iter"]
        assert m["lowest_inertia"] <= stats["mean_inertia"] * (1 + 1e-9)
        assert stats["mean_inertia"] <= stats["worst_inertia"] * (1 + 1e-9)
    assert max(s["fraction_at_lowest"] for s in by_init.values()) > 0
    assert m["iterations_saved_by_kmeanspp"] == pytest.approx(
        by_init["region x0 > 4"]["mean_n_iter"] - by_init["k-means++"]["mean_n_iter"])
    for fig in ("steps_region_init", "steps_kmeanspp", "init_comparison"):
        assert (result.out / "figures" / f"{fig}.png").stat().st_size > 0


# ---------------------------------------------------------------------------------------------
# kmeans-mnist


def test_kmeans_mnist_smoke_metrics(tmp_path):
    result = _run("kmeans-mnist", tmp_path, dataset="mnist-5k")
    m = result.metrics
    ds = load_dataset("mnist-5k")
    y = ds.y_train[:400]
    assert m["n_train"] == 400 and m["n_clusters"] == 10
    table = np.asarray(m["contingency"])
    assert table.shape == (10, 10)
    np.testing.assert_array_equal(table.sum(axis=0), np.bincount(y, minlength=10))
    np.testing.assert_array_equal(table.sum(axis=1), m["cluster_sizes"])
    assert sum(m["cluster_sizes"]) == 400
    assert m["purity"] == pytest.approx(table.max(axis=1).sum() / 400)
    # purity is at least the share of the most common digit (each cluster's majority count is
    # at least its count of that digit) and at most 1
    assert np.bincount(y).max() / 400 <= m["purity"] <= 1.0
    assert 0.1 <= m["purity"]
    assert -1.0 <= m["adjusted_rand_index"] <= 1.0
    assert m["adjusted_rand_index"] > 0.1  # clusters carry digit information
    assert 0.0 <= m["normalized_mutual_info"] <= 1.0
    assert 1 <= m["n_iter"] <= 20
    assert m["inertia"] > 0
    majority = [str(c) for c in table.argmax(axis=1)]
    assert m["majority_class"] == majority
    for fig in ("cluster_sizes", "centroids", "training"):
        assert (result.out / "figures" / f"{fig}.png").stat().st_size > 0
