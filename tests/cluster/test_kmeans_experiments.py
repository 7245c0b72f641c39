"""The k-means studies' helpers, by hand: starting means in the region, contingency and
purity, partitions up to relabelling, distinct values, and what a run's history records."""

import numpy as np
import pytest

from stridelab.cluster import KMeans
from stridelab.experiments import kmeans_blobs, kmeans_mnist, kmeans_steps
from stridelab.experiments.kmeans_blobs import n_distinct
from stridelab.experiments.kmeans_steps import region_means
from stridelab.experiments.lloyd import history_record


def test_region_means_are_uniform_points_when_the_region_holds_too_few_samples():
    config = kmeans_steps.StepsConfig(init_x0_min=4.0, init_x0_max=6.0)
    X = np.array([[0.0, -1.0], [1.0, 2.0], [3.0, 5.0], [4.5, 0.0]])  # one sample in (4, 6]
    means, from_samples = region_means(X, config, np.random.RandomState(0))
    assert not from_samples and means.shape == (3, 2)
    assert np.all((means[:, 0] >= 4.0) & (means[:, 0] <= 6.0))
    assert np.all((means[:, 1] >= -1.0) & (means[:, 1] <= 5.0))


def test_region_means_are_distinct_samples_of_the_region_when_it_holds_k():
    config = kmeans_steps.StepsConfig(init_x0_min=4.0, init_x0_max=6.0)
    # x0 = 4 is not in the region (x0 > 4), x0 = 6 is; 7 is beyond it
    X = np.array([[4.0, 0.0], [4.5, 1.0], [5.0, 2.0], [6.0, 3.0], [7.0, 4.0], [0.0, 0.0]])
    means, from_samples = region_means(X, config, np.random.RandomState(1))
    assert from_samples
    rows = {tuple(r) for r in means}
    assert rows == {(4.5, 1.0), (5.0, 2.0), (6.0, 3.0)}


def test_purity_and_contingency_by_hand():
    # clusters [0, 0, 0, 1, 1] against classes [2, 2, 1, 1, 1]: cluster 0 is 2/3 class 2,
    # cluster 1 is all class 1, so purity = (2 + 2) / 5 = 0.8
    table = kmeans_mnist.contingency(np.array([0, 0, 0, 1, 1]), np.array([2, 2, 1, 1, 1]),
                                           2, 3)
    np.testing.assert_array_equal(table, [[0, 1, 2], [0, 2, 0]])
    assert kmeans_mnist.purity(table) == pytest.approx(0.8)


def test_same_partition_groups_ignore_label_permutations():
    a = np.array([0, 0, 1, 1])
    groups = kmeans_blobs._same_partition_groups([a, 1 - a, np.array([0, 1, 0, 1])])
    assert groups == [0, 0, 1]


def test_n_distinct_counts_values_apart_by_more_than_the_tolerance():
    assert n_distinct([72.476, 72.476 * (1 + 1e-9), 274.807, 72.476]) == 2
    assert n_distinct([1.0, 1.1, 1.2]) == 3
    assert n_distinct([5.0]) == 1


def test_history_record_of_two_iterations_by_hand():
    # means (0, 0) and (0, 1): the right pair splits by x1 too, inertia 100 + 100 = 200; the
    # update moves the means to (5, 0) and (5, 1), 5 each, and nothing changes: 4 · 25 = 100
    X = np.array([[0, 0], [0, 1], [10, 0], [10, 1]], dtype=float)
    km = KMeans(n_clusters=2, init=np.array([[0, 0], [0, 1]], dtype=float), tol=0).fit(X)
    record = history_record(km, X)
    assert record["inertia"] == [200.0, 100.0]
    assert (record["n_iter"], record["moved"], record["n_reseeded"]) == (2, [0], 0)
    assert record["mean_travel"] == pytest.approx(5.0)
    assert record["inertia_never_rose"] is True


def test_history_record_counts_a_mean_that_won_no_sample():
    # the mean at (100, 100) wins nothing in the first assignment (inertia 0 + 1 + 100) and is
    # re-seeded at the farthest sample, (10, 0); then the inertia is 0.25 + 0.25 + 0
    X = np.array([[0, 0], [1, 0], [10, 0]], dtype=float)
    km = KMeans(n_clusters=2, init=np.array([[0, 0], [100, 100]], dtype=float), tol=0).fit(X)
    record = history_record(km, X)
    assert record["n_reseeded"] == 1
    assert record["inertia"] == pytest.approx([101.0, 0.5])
    assert record["max_moved"] == 1 and record["max_moved_iteration"] == 2
