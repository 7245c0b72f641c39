"""kmeans-mnist: the smoke run's clusters against the digits; the notes both ways."""

from __future__ import annotations

import numpy as np
import pytest

from stridelab.data import load_dataset
from stridelab.experiments.kmeans_mnist import MnistConfig, cluster_contents
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
    assert m["cluster_purity"] == pytest.approx((table.max(axis=1) / table.sum(axis=1)).tolist())
    assert [c["majority"] for c in m["clusters"]] == majority.tolist()
    for c in m["shared_clusters"]:
        assert c["runner_up_share"] >= m["shared_share_min"]
        assert table[c["cluster"], c["runner_up"]] == np.sort(table[c["cluster"]])[-2]
    for home in m["class_homes"]:
        k = home["class"]
        assert home["share"] == pytest.approx(table[:, k].max() / table[:, k].sum())
    for fig in ("cluster_sizes", "centroids", "training"):
        assert (result.out / "figures" / f"{fig}.png").stat().st_size > 0


def test_cluster_contents_by_hand():
    table = np.array([[8, 2, 0],    # cluster 0: class 0 (80%), class 1 a stray 20%
                      [0, 5, 5],    # cluster 1: classes 1 and 2 half each
                      [6, 0, 0],    # cluster 2: class 0 again
                      [0, 0, 0]])   # cluster 3: empty
    c = cluster_contents(table, shared_share=0.25)
    assert [(r["majority"], r["purity"], r["runner_up"]) for r in c["clusters"][:3]] == [
        (0, 0.8, 1), (1, 0.5, 2), (0, 1.0, 1)]
    assert c["clusters"][1]["runner_up_share"] == 0.5
    assert [r["cluster"] for r in c["shared_clusters"]] == [1]  # 20% is below a quarter
    assert c["split_classes"] == [{"class": 0, "clusters": [0, 2]}]  # the empty one: none
    # class 1: 5 of its 7 images in cluster 1; class 2: all 5 in cluster 1
    assert c["class_homes"] == [{"class": 0, "cluster": 0, "share": 8 / 14},
                                {"class": 1, "cluster": 1, "share": 5 / 7},
                                {"class": 2, "cluster": 1, "share": 1.0}]
    assert c["most_scattered_class"] == {"class": 0, "cluster": 0, "share": 8 / 14}


def _mnist_metrics(*, unclaimed=(), pp=0.571, rnd=0.546, shared=True, split=True) -> dict:
    table = np.diag([50] * 10)
    if shared:
        table[3, 5] = 30  # cluster 3 holds 50 × 3 and 30 × 5
    if split:
        table[8] = 0
        table[8, 1] = 40  # a second cluster of 1s; no cluster is mostly 8
    return {
        **cluster_contents(table), "cluster_purity": [0.9] * 10,
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


@pytest.mark.parametrize("shared, split", [(True, True), (False, False)])
def test_narrate_mnist_names_shared_and_split_clusters_both_ways(shared, split):
    notes = narrate_mnist(_mnist_metrics(shared=shared, split=split), MnistConfig())
    assert notes.branches["shared_clusters"] is shared
    assert notes.branches["split_classes"] is split
    text = str(notes)
    assert ("cluster 3, 3 (62%) with 5 (38%)" in text) is shared
    assert ("1 (clusters 1, 8)" in text) is split
    assert "3: 3 (62% of 80)" in text if shared else "3: 3 (100% of 50)" in text


def test_narrate_mnist_compares_the_initialisations_both_ways():
    config = MnistConfig()
    better = narrate_mnist(_mnist_metrics(pp=0.571, rnd=0.546), config)
    worse = narrate_mnist(_mnist_metrics(pp=0.546, rnd=0.571), config)
    assert better.branches["kmeanspp_purer"] and not worse.branches["kmeanspp_purer"]
    assert better.branches["kmeanspp_fewer_iterations"]  # 23.7 against 49.3
    assert "0.571 against 0.546" in str(better) and "0.546 against 0.571" in str(worse)
