"""kmeans-blobs: the smoke run's fits, random starts on the blobs, the notes both ways."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from stridelab.cluster import KMeans
from stridelab.data.blobs import load_points
from stridelab.experiments.kmeans_blobs import BlobsConfig, _same_partition_groups
from stridelab.experiments.kmeans_blobs import narrate as narrate_blobs
from stridelab.experiments.narrate import NarrationError
from stridelab.experiments.registry import get


def test_load_points_rejects_unknown_data():
    from stridelab.errors import StridelabError

    with pytest.raises(StridelabError, match="stand-in-blobs, three-blobs"):
        load_points("no-such-data")


def test_the_stand_in_blobs_are_three_seeded_blobs_with_samples_right_of_x0_4():
    """The stand-in for the sheet's blobs.csv: 4.3.3 picks its initial means among the samples
    with x0 > 4, so some must lie there (mlxtend's three blobs end at x0 = 3.25)."""
    from stridelab.data.blobs import STAND_IN_CENTRES, stand_in_blobs

    X, y, source = load_points("stand-in-blobs")
    assert X.shape == (150, 2) and np.bincount(y).tolist() == [50, 50, 50]
    np.testing.assert_array_equal(X, stand_in_blobs()[0])  # the same points every time
    for k, centre in enumerate(STAND_IN_CENTRES):
        assert np.linalg.norm(X[y == k].mean(axis=0) - centre) < 0.2  # σ = 0.5, 50 points
    right = X[:, 0] > 4
    assert right.sum() >= 3 and set(y[right]) <= {1, 2}  # the left blob stays left
    assert "stand-in" in source and not any(c.isdigit() for c in source)


def test_kmeans_blobs_smoke_metrics(smoke_runs):
    result = smoke_runs.ok("kmeans-blobs")
    m = result.metrics
    X, y, _ = load_points("stand-in-blobs")  # the default data
    assert m["n_samples"] == len(X) == 150
    # k = 1: the centre is the mean, so the inertia is the total sum of squares
    total_ss = float(((X - X.mean(axis=0)) ** 2).sum())
    assert m["elbow_inertia"]["1"] == pytest.approx(total_ss, rel=1e-9)
    elbow = [m["elbow_inertia"][str(k)] for k in (1, 2, 3)]
    assert elbow[0] > elbow[1] > elbow[2] > 0
    assert set(m["inertia_by_k"]) == {"2", "3"}
    assert all(n >= 1 for n in m["n_iter_by_k"].values())
    # stability over the 3 smoke seeds
    assert len(m["inertia_by_seed"]) == 3
    assert 1 <= m["n_distinct_inertias"] <= m["n_distinct_solutions"] <= 3
    assert m["n_at_lowest_inertia"] == round(3 * m["fraction_at_lowest_inertia"])
    assert m["lowest_inertia"] == min(m["inertia_by_seed"])
    assert m["worst_inertia"] == max(m["inertia_by_seed"])
    assert -1.0 <= m["min_pairwise_ari"] <= m["mean_pairwise_ari"] <= 1.0
    if m["n_distinct_solutions"] == 1:
        assert m["mean_pairwise_ari"] == pytest.approx(1.0)
        assert np.ptp(m["inertia_by_seed"]) == pytest.approx(0.0, abs=1e-9)
    assert m["inertia_never_rose"] is True
    # three well-separated blobs: k = 3 recovers them
    assert m["ari_vs_true_blobs"] > 0.9
    assert min(m["inertia_by_seed"]) >= m["inertia_by_k"]["3"] * (1 - 1e-9)
    assert {"clusters_by_k.png", "elbow.png", "stability.png"} <= {
        p.name for p in (result.out / "figures").glob("*.png")}
    judged = result.lessons[0]
    assert judged["value"] == m["n_distinct_solutions"] and judged["target"] == 2


@pytest.mark.parametrize("data", ["stand-in-blobs", "three-blobs"])
def test_ten_random_starts_on_the_blobs_find_more_than_one_solution(data):
    # the lesson's claim on the sheet's question, measured directly: with k = 3 and random
    # samples as starting means, 10 seeds do not all reach the same partition
    X, _, _ = load_points(data)
    runs = [KMeans(n_clusters=3, init="random", n_init=1, random_state=s).fit(X)
            for s in range(10)]
    assert max(_same_partition_groups([r.labels_ for r in runs])) + 1 >= 2


def _blobs_metrics(*, distinct: int) -> dict:
    same = distinct == 1
    return {
        "data": "fabricated points", "n_samples": 150,
        "inertia_by_k": {"2": 283.46, "3": 72.48, "4": 64.86},
        "stability_k": 3, "stability_init": "random", "n_distinct_solutions": distinct,
        "n_distinct_inertias": distinct, "n_at_lowest_inertia": 10 if same else 6,
        "fraction_at_lowest_inertia": 1.0 if same else 0.6, "lowest_inertia": 72.48,
        "worst_inertia": 72.48 if same else 987.65, "mean_pairwise_ari": 1.0 if same else 0.43,
        "min_pairwise_ari": 1.0 if same else 0.21, "inertia_never_rose": True,
        "ari_vs_true_blobs": 1.0,
    }


def test_narrate_blobs_says_whether_the_seeds_agree():
    config = BlobsConfig()
    one, two = (narrate_blobs(_blobs_metrics(distinct=d), config) for d in (1, 2))
    assert one.branches["same_solution"] and one.branches["same_minimum"]
    assert not two.branches["same_solution"] and not two.branches["same_minimum"]
    one, two = str(one), str(two)
    assert "987.65" not in one and "987.65" in two  # the worst run only in the 'no' branch
    assert "0.210" in two and "0.210" not in one
    assert "72.48" in one and "72.48" in two


def test_narrate_blobs_notices_an_inertia_that_does_not_fall_with_k():
    config = BlobsConfig()
    falling = _blobs_metrics(distinct=1)
    rising = copy.deepcopy(falling)
    rising["inertia_by_k"]["4"] = 99.5
    assert narrate_blobs(falling, config).branches["inertia_falls_with_k"] is True
    assert narrate_blobs(rising, config).branches["inertia_falls_with_k"] is False
    assert "99.5" in str(narrate_blobs(rising, config))


def test_narrate_blobs_refuses_a_missing_metric():
    m = _blobs_metrics(distinct=2)
    del m["worst_inertia"]
    with pytest.raises(NarrationError):
        narrate_blobs(m, BlobsConfig())


def test_narrate_blobs_takes_k_from_the_config():
    config = BlobsConfig(ks=(2, 4))
    notes = str(narrate_blobs(_blobs_metrics(distinct=1), config))
    assert "k = 4: 64.9" in notes and "72.5" not in notes.split("\n")[0]


def test_lessons_are_registered_for_each_study():
    for name, metric in (("kmeans-blobs", "n_distinct_solutions"),
                         ("kmeans-steps", "iterations_saved_by_kmeanspp"),
                         ("kmeans-mnist", "purity_kmeanspp_mean")):
        lessons = get(name).lessons
        assert [lesson.metric for lesson in lessons] == [metric]
        assert lessons[0].quick is not None and lessons[0].full is not None
