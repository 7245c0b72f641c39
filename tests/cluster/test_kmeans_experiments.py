"""The k-means experiments run end to end on their smoke configuration and write evidence."""

import json

import numpy as np
import pytest

import stridelab.experiments.kmeans as kmeans_experiments
from stridelab.experiments.runner import run_experiment


@pytest.mark.parametrize("name, figures", [
    ("kmeans-blobs", {"clusters_by_k.png", "elbow.png", "stability.png"}),
    ("kmeans-steps", {"steps_region_init.png", "steps_kmeanspp.png", "init_comparison.png"}),
    ("kmeans-mnist", {"cluster_sizes.png", "centroids.png", "training.png"}),
])
def test_smoke_run_writes_figures_notes_and_metrics(name, figures, tmp_path):
    result = run_experiment(name, smoke=True, out=tmp_path, echo=False, device="cpu")
    assert result.status == "ok", result.reason
    assert figures <= {p.name for p in (result.out / "figures").glob("*.png")}
    notes = (result.out / "notes.md").read_text()
    assert len(notes) > 200
    metrics = json.loads((result.out / "metrics.json").read_text())
    assert result.metrics.keys() == metrics.keys()


def test_steps_region_means_lie_in_the_requested_box():
    config = kmeans_experiments.StepsConfig(init_x0_min=4.0, init_x0_max=6.0)
    X = np.array([[0.0, -1.0], [1.0, 2.0], [3.0, 5.0]])
    means = kmeans_experiments._region_means(X, config, np.random.RandomState(0))
    assert means.shape == (3, 2)
    assert np.all((means[:, 0] >= 4.0) & (means[:, 0] <= 6.0))
    assert np.all((means[:, 1] >= -1.0) & (means[:, 1] <= 5.0))


def test_purity_and_contingency_by_hand():
    # clusters [0, 0, 0, 1, 1] against classes [2, 2, 1, 1, 1]: cluster 0 is 2/3 class 2,
    # cluster 1 is all class 1, so purity = (2 + 2) / 5 = 0.8
    table = kmeans_experiments.contingency(np.array([0, 0, 0, 1, 1]), np.array([2, 2, 1, 1, 1]),
                                           2, 3)
    np.testing.assert_array_equal(table, [[0, 1, 2], [0, 2, 0]])
    assert kmeans_experiments.purity(table) == pytest.approx(0.8)


def test_same_partition_groups_ignore_label_permutations():
    a = np.array([0, 0, 1, 1])
    groups = kmeans_experiments._same_partition_groups([a, 1 - a, np.array([0, 1, 0, 1])])
    assert groups == [0, 0, 1]
