"""kmeans-mnist: the smoke run's clusters against the digits; the notes both ways."""

from __future__ import annotations

import numpy as np
import pytest

from stridelab.data import load_dataset
from stridelab.experiments.kmeans_mnist import MnistConfig
from stridelab.experiments.kmeans_mnist import narrate as narrate_mnist


def test_kmeans_mnist_smoke_metrics(smoke_runs):
    result = smoke_runs.ok("kmeans-mnist")
    m = result.metrics
    ds = load_dataset("mnist-5k")
    y = ds.y_train[:400]
    assert m["n_train"] == 400 and m["n_clusters"] == 10
    table = np.asarray(m["contingency"])
    assert table.shape == (10, 10)
    np.testing.assert_array_equal(table.sum(axis=0), np.bincount(y, minlength=10))
    np.testing.assert_array_equal(table.sum(axis=1), m["cluster_sizes"])
    assert m["purity"] == pytest.approx(table.max(axis=1).sum() / 400)
    # purity is at least the share of the most common digit (each cluster's majority count is
    # at least its count of that digit) and at most 1
    assert np.bincount(y).max() / 400 <= m["purity"] <= 1.0
    assert m["adjusted_rand_index"] > 0.1  # clusters carry digit information
    assert 0.0 <= m["normalized_mutual_info"] <= 1.0
    assert 1 <= m["n_iter"] <= 20
    majority = table.argmax(axis=1)
    assert m["majority_class"] == [str(c) for c in majority]
    assert m["unclaimed_classes"] == [c for c in range(10) if c not in set(majority)]
    mixed = m["most_mixed"]
    assert mixed["counts"][0] == table[mixed["cluster"]].max()
    assert mixed["share"] == pytest.approx(min(table.max(axis=1) / table.sum(axis=1)))
    # one seed per initialisation in the smoke run; seed 0 of k-means++ is the shown fit
    assert m["by_init"]["k-means++"]["purity"] == [pytest.approx(m["purity"])]
    assert m["purity_random_mean"] == m["by_init"]["random"]["mean_purity"]
    for fig in ("cluster_sizes", "centroids", "training"):
        assert (result.out / "figures" / f"{fig}.png").stat().st_size > 0


def _mnist_metrics(*, unclaimed=(), pp=0.571, rnd=0.546) -> dict:
    return {
        "dataset": "fabricated digits", "n_train": 4000, "n_clusters": 10, "n_iter": 22,
        "inertia": 155826.0, "purity": 0.5715, "adjusted_rand_index": 0.391,
        "normalized_mutual_info": 0.502, "unclaimed_classes": list(unclaimed),
        "class_names": [str(c) for c in range(10)],
        "most_mixed": {"cluster": 6, "share": 0.36, "classes": [7, 9], "counts": [38, 32]},
        "purity_kmeanspp_mean": pp, "purity_random_mean": rnd,
        "by_init": {"k-means++": {"mean_n_iter": 23.7}, "random": {"mean_n_iter": 49.3}},
    }


def test_narrate_mnist_names_the_classes_no_cluster_holds():
    config = MnistConfig()
    none = narrate_mnist(_mnist_metrics(), config)
    some = narrate_mnist(_mnist_metrics(unclaimed=(4, 5)), config)
    assert not none.branches["unclaimed_classes"] and some.branches["unclaimed_classes"]
    none, some = str(none), str(some)
    assert "mostly 4, 5" in some and "4, 5" not in none
    assert "38 × 7 and 32 × 9" in none


def test_narrate_mnist_compares_the_initialisations_both_ways():
    config = MnistConfig()
    better = narrate_mnist(_mnist_metrics(pp=0.571, rnd=0.546), config)
    worse = narrate_mnist(_mnist_metrics(pp=0.546, rnd=0.571), config)
    assert better.branches["kmeanspp_purer"] and not worse.branches["kmeanspp_purer"]
    assert better.branches["kmeanspp_fewer_iterations"]  # 23.7 against 49.3
    assert "0.571 against 0.546" in str(better) and "0.546 against 0.571" in str(worse)
