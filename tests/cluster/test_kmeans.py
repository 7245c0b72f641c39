"""KMeans and kmeans_plusplus: hand-computed cases, scikit-learn's estimator checks, and
agreement with scikit-learn's own implementation."""

import re

import numpy as np
import pytest
from sklearn.cluster import KMeans as SklearnKMeans
from sklearn.cluster import kmeans_plusplus as sklearn_kmeans_plusplus
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from stridelab.cluster import KMeans, _kmeans, _kmeans_common, kmeans_plusplus

DTYPES = [np.float32, np.float64]


# ---------------------------------------------------------------------------------------------
# scikit-learn's own estimator checks. The one expected failure is the one scikit-learn expects
# of its own KMeans: fitting with integer weights is not fitting on the repeated samples when
# the initial centres are drawn at random (the check shuffles the weighted samples, so the same
# draws pick other points). From the same initial centres it is; see
# test_weights_are_repetitions_from_the_same_centres.

_XFAIL = {"check_sample_weight_equivalence_on_dense_data":
          "sample_weight is not equivalent to removing/repeating samples when the initial "
          "centres are drawn at random (scikit-learn expects the same of its KMeans)"}


@parametrize_with_checks([
    KMeans(random_state=0),
    KMeans(n_clusters=2, init="random", n_init=2, max_iter=5, random_state=0),
], expected_failed_checks=lambda est: _XFAIL)
# two sample-weight checks fit 8 clusters to 4 distinct points: the warning is the estimator
# saying so, as scikit-learn's own KMeans does on the same checks
@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


# ---------------------------------------------------------------------------------------------
# hand-computed cases

@pytest.mark.parametrize("dtype", DTYPES)
def test_two_obvious_clusters(dtype):
    X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]], dtype=dtype)
    km = KMeans(n_clusters=2, random_state=0).fit(X)
    # each cluster: squared distances 0, 4, 4 to its centre (1, 2) or (10, 2)
    expected_inertia = 16.0
    assert km.inertia_ == pytest.approx(expected_inertia, rel=1e-6)
    assert sorted(km.cluster_centers_.tolist()) == [[1.0, 2.0], [10.0, 2.0]]
    assert km.cluster_centers_.dtype == dtype
    assert km.labels_.dtype == np.int32
    assert len(set(km.labels_[:3])) == 1 and len(set(km.labels_[3:])) == 1
    assert km.labels_[0] != km.labels_[3]


@pytest.mark.parametrize("dtype", DTYPES)
def test_lloyd_steps_by_hand(dtype):
    # samples 0, 1, 10, 11 with initial centres 0 and 1:
    # step 1: 0 -> c0, {1, 10, 11} -> c1; inertia 0 + 0 + 81 + 100 = 181; c1 -> 22/3
    # step 2: {0, 1} -> c0, {10, 11} -> c1; inertia 0 + 1 + (8/3)^2 + (11/3)^2 = 194/9
    # step 3: no label changes (strict convergence); centres 0.5 and 10.5, inertia 4 * 0.25 = 1
    X = np.array([[0.0], [1.0], [10.0], [11.0]], dtype=dtype)
    km = KMeans(n_clusters=2, init=np.array([[0.0], [1.0]]), tol=0).fit(X)
    assert km.n_iter_ == 3
    assert km.inertia_ == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(km.cluster_centers_.ravel(), [0.5, 10.5], rtol=1e-6)
    np.testing.assert_array_equal(km.labels_, [0, 0, 1, 1])
    hist = km.history_
    assert len(hist) == 3
    np.testing.assert_allclose([h["inertia"] for h in hist], [181.0, 194 / 9, 1.0], rtol=1e-5)
    np.testing.assert_allclose(hist[0]["centers"].ravel(), [0.0, 1.0])
    np.testing.assert_allclose(hist[1]["centers"].ravel(), [0.0, 22 / 3], rtol=1e-6)
    np.testing.assert_array_equal([h["counts"].tolist() for h in hist], [[1, 3], [2, 2], [2, 2]])
    np.testing.assert_array_equal(hist[0]["labels"], [0, 1, 1, 1])
    np.testing.assert_array_equal(hist[-1]["labels"], km.labels_)


def test_empty_cluster_is_reseeded_at_the_farthest_sample_with_ties_to_the_lower_index():
    # centre 100 gets no sample; samples 0 and 3 are both 1.5 from centre 1.5, the lower
    # index (sample 0) re-seeds cluster 1. Then centres are mean(1, 2, 3) = 2 and 0; sample 1
    # is equally far (1) from both and goes to cluster 0, the lower index: no label changes.
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    km = KMeans(n_clusters=2, init=np.array([[1.5], [100.0]])).fit(X)
    np.testing.assert_array_equal(km.labels_, [1, 0, 0, 0])
    np.testing.assert_allclose(km.cluster_centers_.ravel(), [2.0, 0.0])
    assert km.n_iter_ == 2
    assert km.inertia_ == pytest.approx(2.0)
    np.testing.assert_array_equal(km.history_[0]["counts"], [4, 0])


def test_duplicate_points_warn_about_fewer_distinct_clusters():
    X = np.array([[1.0, 1.0]] * 3)
    with pytest.warns(ConvergenceWarning, match="distinct clusters"):
        km = KMeans(n_clusters=2, random_state=0).fit(X)
    assert km.inertia_ == 0.0


def test_max_iter_stops_early_and_labels_match_predict():
    X, _ = make_blobs(n_samples=300, centers=5, random_state=1)
    km = KMeans(n_clusters=5, init="random", n_init=1, max_iter=1, random_state=3).fit(X)
    assert km.n_iter_ == 1
    np.testing.assert_array_equal(km.labels_, km.predict(X))
    assert km.score(X) == pytest.approx(-km.inertia_)


def test_inertia_never_increases_over_the_history():
    X, _ = make_blobs(n_samples=500, centers=6, cluster_std=2.5, random_state=4)
    km = KMeans(n_clusters=6, init="random", n_init=1, random_state=0, tol=0).fit(X)
    inertias = np.array([h["inertia"] for h in km.history_])
    assert len(inertias) == km.n_iter_ >= 3
    assert np.all(np.diff(inertias) <= 1e-9 * inertias[0])
    assert inertias[-1] == pytest.approx(km.inertia_, rel=1e-9)
    for h in km.history_:
        assert h["counts"].sum() == 500


def test_history_drops_labels_above_the_limit(monkeypatch):
    monkeypatch.setattr(_kmeans, "_MAX_HISTORY_LABELS", 10)
    X, _ = make_blobs(n_samples=40, centers=2, random_state=0)
    km = KMeans(n_clusters=2, random_state=0).fit(X)
    assert all("labels" not in h for h in km.history_)
    assert all({"centers", "inertia", "counts"} <= set(h) for h in km.history_)


def test_chunking_does_not_change_the_result(monkeypatch):
    X, _ = make_blobs(n_samples=1500, n_features=8, centers=7, random_state=2)
    whole = KMeans(n_clusters=7, random_state=5).fit(X)
    monkeypatch.setattr(_kmeans_common, "_CHUNK_ELEMENTS", 1)  # 64-row chunks everywhere
    monkeypatch.setattr(_kmeans_common, "_CACHE_ELEMENTS", 1)
    assert len(list(_kmeans_common._chunks(1500, 8))) == 24  # ceil(1500 / 64)
    chunked = KMeans(n_clusters=7, random_state=5).fit(X)
    np.testing.assert_array_equal(chunked.labels_, whole.labels_)
    np.testing.assert_allclose(chunked.cluster_centers_, whole.cluster_centers_, rtol=1e-12)
    assert chunked.n_iter_ == whole.n_iter_


def test_transform_predict_and_score_agree():
    X, _ = make_blobs(n_samples=200, n_features=3, centers=4, random_state=7)
    km = KMeans(n_clusters=4, random_state=0).fit(X)
    D = km.transform(X)
    expected = np.sqrt(((X[:, None, :] - km.cluster_centers_[None]) ** 2).sum(-1))
    np.testing.assert_allclose(D, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(km.predict(X), D.argmin(axis=1))
    assert km.score(X) == pytest.approx(-(D.min(axis=1) ** 2).sum(), rel=1e-10)


def test_fit_leaves_the_input_unchanged():
    X, _ = make_blobs(n_samples=100, random_state=0)
    before = X.copy()
    KMeans(n_clusters=3, random_state=0).fit(X)
    np.testing.assert_array_equal(X, before)


def test_n_init_auto_is_one_run_for_kmeans_plus_plus_and_ten_for_random():
    X, _ = make_blobs(n_samples=300, centers=4, cluster_std=3.0, random_state=3)
    for init, runs in (("k-means++", 1), ("random", 10)):
        auto = KMeans(n_clusters=4, init=init, random_state=0).fit(X)
        explicit = KMeans(n_clusters=4, init=init, n_init=runs, random_state=0).fit(X)
        np.testing.assert_array_equal(auto.labels_, explicit.labels_)
        assert auto.inertia_ == explicit.inertia_


def test_best_of_several_runs_is_kept():
    # with the same random_state the first of 5 runs is the single run, so the best of 5
    # can only be as good or better; on this data some run finds a strictly lower inertia
    X, _ = make_blobs(n_samples=300, centers=8, cluster_std=2.0, random_state=8)
    single = KMeans(n_clusters=8, init="random", n_init=1, random_state=0).fit(X)
    best = KMeans(n_clusters=8, init="random", n_init=5, random_state=0).fit(X)
    assert best.inertia_ <= single.inertia_
    assert best.inertia_ == pytest.approx(min(
        KMeans(n_clusters=8, init=c, n_init=1).fit(X).inertia_ for c in _random_inits(X, 8, 5)
    ))


def _random_inits(X, n_clusters, n_runs, seed=0):
    """The initial centres that n_init=n_runs random restarts draw from one RandomState."""
    rng = np.random.RandomState(seed)
    return [X[rng.choice(len(X), n_clusters, replace=False)] for _ in range(n_runs)]


def test_explicit_init_with_n_init_warns_and_runs_once():
    X = np.array([[0.0], [1.0], [10.0], [11.0]])
    with pytest.warns(RuntimeWarning, match="only one init"):
        km = KMeans(n_clusters=2, init=np.array([[0.0], [1.0]]), n_init=3).fit(X)
    assert km.n_iter_ == 3


def test_verbose_prints_each_iteration(capsys):
    X = np.array([[0.0], [1.0], [10.0], [11.0]])
    KMeans(n_clusters=2, init=np.array([[0.0], [1.0]]), verbose=1).fit(X)
    out = capsys.readouterr().out
    assert "Iteration 0, inertia 181" in out
    assert "strict convergence" in out


# ---------------------------------------------------------------------------------------------
# agreement with scikit-learn's Lloyd

@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_sklearn_lloyd_from_the_same_centres(dtype):
    X, _ = make_blobs(n_samples=2000, n_features=20, centers=10, cluster_std=4.0,
                      random_state=0)
    X = X.astype(dtype)
    init = X[np.random.RandomState(1).choice(len(X), 10, replace=False)]
    ours = KMeans(n_clusters=10, init=init, n_init=1).fit(X)
    ref = SklearnKMeans(n_clusters=10, init=init, n_init=1, algorithm="lloyd").fit(X)
    assert ours.n_iter_ == ref.n_iter_ > 2
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=rtol, atol=rtol)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-5 if dtype == np.float32 else 1e-10)


# ---------------------------------------------------------------------------------------------
# k-means++

def test_greedy_kmeans_plus_plus_reproduces_sklearn():
    X = np.random.RandomState(0).randn(300, 5)
    for seed in range(10):
        _, ours = kmeans_plusplus(X, 6, random_state=seed, greedy=True)
        _, ref = sklearn_kmeans_plusplus(X, 6, random_state=seed)
        np.testing.assert_array_equal(ours, ref)


def test_d2_sampling_frequencies_match_the_hand_computed_probabilities():
    # X = 0, 1, 3. First centre uniform (1/3 each); the second with probability D^2 / sum D^2:
    # after 0: D^2 = (-, 1, 9)  -> P(1) = 1/10, P(3) = 9/10
    # after 1: D^2 = (1, -, 4)  -> P(0) = 1/5,  P(3) = 4/5
    # after 3: D^2 = (9, 4, -)  -> P(0) = 9/13, P(1) = 4/13
    X = np.array([[0.0], [1.0], [3.0]])
    expected = {(0, 1): 1 / 30, (0, 2): 9 / 30, (1, 0): 1 / 15, (1, 2): 4 / 15,
                (2, 0): 9 / 39, (2, 1): 4 / 39}
    rng = np.random.RandomState(0)
    n_draws = 3000
    counts = dict.fromkeys(expected, 0)
    for _ in range(n_draws):
        _, indices = kmeans_plusplus(X, 2, random_state=rng)
        counts[tuple(indices.tolist())] += 1
    for pair, p in expected.items():
        sd = np.sqrt(p * (1 - p) / n_draws)
        assert abs(counts[pair] / n_draws - p) < 4 * sd, (pair, counts[pair] / n_draws, p)


@pytest.mark.parametrize("greedy", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_kmeans_plus_plus_returns_distinct_samples(greedy, dtype):
    X, _ = make_blobs(n_samples=200, centers=5, random_state=0)
    X = X.astype(dtype)
    centers, indices = kmeans_plusplus(X, 5, random_state=0, greedy=greedy)
    assert centers.dtype == dtype and centers.shape == (5, 2)
    assert len(set(indices.tolist())) == 5
    np.testing.assert_array_equal(centers, X[indices])


def test_kmeans_plus_plus_spreads_centres_better_than_uniform_picks():
    # 4 tight, well separated blobs: D^2 sampling almost always puts one centre in each,
    # while 4 uniform picks hit all 4 blobs with probability 4!/4^4 = 0.094.
    X, y = make_blobs(n_samples=400, centers=[[0, 0], [0, 50], [50, 0], [50, 50]],
                      cluster_std=0.5, random_state=0)
    rng = np.random.RandomState(0)
    covered = [len(set(y[kmeans_plusplus(X, 4, random_state=rng)[1]])) == 4
               for _ in range(50)]
    assert np.mean(covered) >= 0.9


# ---------------------------------------------------------------------------------------------
# bad input

@pytest.mark.parametrize("X, match", [
    (np.array([[0.0, 1.0], [np.nan, 1.0], [2.0, 2.0]]), "NaN"),
    (np.array([[0.0, 1.0], [np.inf, 1.0], [2.0, 2.0]]), "infinity"),
    (np.array([1.0, 2.0, 3.0]), "Expected 2D array"),
    (np.empty((0, 2)), "0 sample"),
    (np.array([["a", "b"], ["c", "d"]]), "convert"),
    (np.array([[0.0, 1.0], [1.0, 1.0]]), "n_samples=2 should be >= n_clusters=3"),
])
def test_bad_input_raises_value_error(X, match):
    with pytest.raises(ValueError, match=match):
        KMeans(n_clusters=3).fit(X)
    with pytest.raises(ValueError, match=match):
        kmeans_plusplus(X, 3)


@pytest.mark.parametrize("params, error, match", [
    ({"n_clusters": 0}, ValueError, "n_clusters == 0, must be >= 1"),
    ({"n_clusters": 2.5}, TypeError, "n_clusters must be an instance of int"),
    ({"init": "kmeans++"}, ValueError, "init must be 'k-means\\+\\+', 'random'"),
    ({"init": np.zeros((3, 2))}, ValueError, "does not match"),
    ({"n_init": 0}, ValueError, "n_init == 0"),
    ({"n_init": "often"}, ValueError, "n_init must be 'auto'"),
    ({"max_iter": 0}, ValueError, "max_iter == 0"),
    ({"tol": -1.0}, ValueError, "tol == -1.0"),
    ({"algorithm": "elkan"}, ValueError, "only algorithm implemented"),
])
def test_bad_parameters_raise_in_fit(params, error, match):
    X, _ = make_blobs(n_samples=20, random_state=0)
    km = KMeans(n_clusters=2, **params) if "n_clusters" not in params else KMeans(**params)
    with pytest.raises(error, match=match):
        km.fit(X)


def test_predict_before_fit_raises_not_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        KMeans().predict(np.zeros((2, 2)))


def test_predict_with_the_wrong_number_of_features_raises():
    km = KMeans(n_clusters=2, random_state=0).fit(np.random.RandomState(0).rand(10, 3))
    with pytest.raises(ValueError, match="3 features"):
        km.predict(np.zeros((2, 4)))


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_running_sums_do_not_drift_from_the_cluster_means(dtype, rtol):
    # after strict convergence each centre is the mean of its samples; the running sums that
    # produced it have been updated over many iterations and must still agree
    X, _ = make_blobs(n_samples=3000, n_features=6, centers=12, cluster_std=3.0, random_state=5)
    X = X.astype(dtype)
    km = KMeans(n_clusters=12, init="random", n_init=1, random_state=0, tol=0).fit(X)
    assert km.n_iter_ > 10
    means = np.array([X[km.labels_ == j].astype(np.float64).mean(axis=0) for j in range(12)])
    np.testing.assert_allclose(km.cluster_centers_, means, rtol=rtol, atol=rtol)


# ---------------------------------------------------------------------------------------------
# sample weights

@pytest.mark.parametrize("dtype", DTYPES)
def test_weighted_lloyd_by_hand(dtype):
    # X = 0, 2, 10 with weights 3, 1, 2 from centres 0 and 10:
    # step 1: {0, 2} -> c0, {10} -> c1; inertia 3*0 + 1*4 + 2*0 = 4; c0 -> (3*0 + 1*2)/4 = 0.5
    # step 2: no label changes; inertia 3*0.25 + 1*2.25 + 0 = 3
    X = np.array([[0.0], [2.0], [10.0]], dtype=dtype)
    km = KMeans(n_clusters=2, init=np.array([[0.0], [10.0]]), tol=0)
    km.fit(X, sample_weight=[3, 1, 2])
    np.testing.assert_array_equal(km.labels_, [0, 0, 1])
    np.testing.assert_allclose(km.cluster_centers_.ravel(), [0.5, 10.0])
    assert km.inertia_ == pytest.approx(3.0)
    assert km.n_iter_ == 2
    np.testing.assert_allclose([h["inertia"] for h in km.history_], [4.0, 3.0])
    np.testing.assert_array_equal(km.history_[0]["counts"], [2, 1])  # samples, not weight
    assert km.score(X, sample_weight=[3, 1, 2]) == pytest.approx(-3.0)
    assert km.score(X) == pytest.approx(-(0.25 + 2.25))


@pytest.mark.parametrize("dtype", DTYPES)
def test_integer_weights_are_repetitions_from_the_same_centres(dtype):
    X, _ = make_blobs(n_samples=300, n_features=4, centers=5, cluster_std=2.5, random_state=3)
    X = X.astype(dtype)
    w = np.random.RandomState(0).randint(1, 5, size=len(X))
    init = X[[0, 50, 100, 150, 200]]
    weighted = KMeans(n_clusters=5, init=init, tol=0).fit(X, sample_weight=w)
    repeated = KMeans(n_clusters=5, init=init, tol=0).fit(np.repeat(X, w, axis=0))
    assert weighted.n_iter_ == repeated.n_iter_ > 2
    np.testing.assert_array_equal(np.repeat(weighted.labels_, w), repeated.labels_)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(weighted.cluster_centers_, repeated.cluster_centers_, rtol=rtol)
    assert weighted.inertia_ == pytest.approx(repeated.inertia_, rel=rtol)


@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_unit_weights_give_exactly_the_unweighted_fit(init):
    X, _ = make_blobs(n_samples=400, centers=6, cluster_std=2.0, random_state=1)
    plain = KMeans(n_clusters=6, init=init, n_init=3, random_state=2).fit(X)
    ones = KMeans(n_clusters=6, init=init, n_init=3, random_state=2).fit(
        X, sample_weight=np.ones(len(X)))
    np.testing.assert_array_equal(plain.labels_, ones.labels_)
    np.testing.assert_array_equal(plain.cluster_centers_, ones.cluster_centers_)
    assert plain.inertia_ == ones.inertia_ and plain.n_iter_ == ones.n_iter_


def test_scaling_every_weight_scales_only_the_inertia():
    X, _ = make_blobs(n_samples=300, centers=4, random_state=5)
    w = np.random.RandomState(1).uniform(0.1, 2.0, size=len(X))
    a = KMeans(n_clusters=4, random_state=0).fit(X, sample_weight=w)
    b = KMeans(n_clusters=4, random_state=0).fit(X, sample_weight=2.5 * w)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_allclose(a.cluster_centers_, b.cluster_centers_, rtol=1e-12)
    assert b.inertia_ == pytest.approx(2.5 * a.inertia_, rel=1e-12)


def test_weighted_fit_agrees_with_sklearn_from_the_same_centres():
    X, _ = make_blobs(n_samples=2000, n_features=10, centers=8, cluster_std=3.0,
                      random_state=0)
    w = np.random.RandomState(2).uniform(0, 3, size=len(X))
    init = X[np.random.RandomState(1).choice(len(X), 8, replace=False)]
    ours = KMeans(n_clusters=8, init=init).fit(X, sample_weight=w)
    ref = SklearnKMeans(n_clusters=8, init=init, n_init=1).fit(X, sample_weight=w)
    assert ours.n_iter_ == ref.n_iter_ > 2
    np.testing.assert_array_equal(ours.labels_, ref.labels_)
    np.testing.assert_allclose(ours.cluster_centers_, ref.cluster_centers_, rtol=1e-10)
    assert ours.inertia_ == pytest.approx(ref.inertia_, rel=1e-10)
    assert ours.score(X, sample_weight=w) == pytest.approx(ref.score(X, sample_weight=w))


def test_weighted_d2_sampling_frequencies_match_the_hand_computed_probabilities():
    # X = 0, 1, 3 with weights 1, 2, 1. First centre with probability w / sum w = 1/4, 1/2, 1/4;
    # the second with probability w D^2 / sum w D^2:
    # after 0: w D^2 = (-, 2, 9)  -> P(1) = 2/11, P(3) = 9/11
    # after 1: w D^2 = (1, -, 4)  -> P(0) = 1/5,  P(3) = 4/5
    # after 3: w D^2 = (9, 8, -)  -> P(0) = 9/17, P(1) = 8/17
    X = np.array([[0.0], [1.0], [3.0]])
    expected = {(0, 1): 1 / 4 * 2 / 11, (0, 2): 1 / 4 * 9 / 11, (1, 0): 1 / 2 * 1 / 5,
                (1, 2): 1 / 2 * 4 / 5, (2, 0): 1 / 4 * 9 / 17, (2, 1): 1 / 4 * 8 / 17}
    rng = np.random.RandomState(0)
    n_draws = 4000
    counts = dict.fromkeys(expected, 0)
    for _ in range(n_draws):
        _, indices = kmeans_plusplus(X, 2, sample_weight=[1, 2, 1], random_state=rng)
        counts[tuple(indices.tolist())] += 1
    for pair, p in expected.items():
        sd = np.sqrt(p * (1 - p) / n_draws)
        assert abs(counts[pair] / n_draws - p) < 4 * sd, (pair, counts[pair] / n_draws, p)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=1
@pytest.mark.parametrize("init", ["k-means++", "random"])
def test_samples_of_weight_zero_are_never_initial_centres(init):
    X, _ = make_blobs(n_samples=100, n_features=5, centers=5, random_state=0)
    w = np.random.RandomState(0).uniform(size=len(X))
    w[::2] = 0
    for seed in range(20):
        km = KMeans(n_clusters=10, init=init, n_init=1, max_iter=1, random_state=seed)
        first = km.fit(X, sample_weight=w).history_[0]["centers"]  # (10, 5)
        d = np.sqrt(((X[::2, None, :] - first[None]) ** 2).sum(-1))  # (50, 10)
        assert d.min() > 1e-6


def test_greedy_weighted_kmeans_plus_plus_reproduces_sklearn():
    X = np.random.RandomState(0).randn(300, 5)
    w = np.random.RandomState(1).uniform(0.5, 2.0, size=300)
    for seed in range(5):
        _, ours = kmeans_plusplus(X, 6, sample_weight=w, random_state=seed, greedy=True)
        _, ref = sklearn_kmeans_plusplus(X, 6, sample_weight=w, random_state=seed)
        np.testing.assert_array_equal(ours, ref)


def test_x_squared_norms_given_or_computed_give_the_same_centres():
    X = np.random.RandomState(0).randn(200, 4)
    norms = (X ** 2).sum(axis=1)
    a = kmeans_plusplus(X, 5, random_state=3)[1]
    b = kmeans_plusplus(X, 5, x_squared_norms=norms, random_state=3)[1]
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("norms, match", [
    (np.ones(7), "The length of x_squared_norms 7 should be equal to the length of n_samples 20"),
    (np.ones((20, 2)), "x_squared_norms must be 1-D"),
])
def test_bad_x_squared_norms_are_refused(norms, match):
    with pytest.raises(ValueError, match=match):
        kmeans_plusplus(np.zeros((20, 3)), 2, x_squared_norms=norms)


@pytest.mark.parametrize("weights, match", [
    (np.ones(5), r"sample_weight has shape \(5,\); expected \(20,\)"),
    (np.ones((20, 2)), r"sample_weight has shape \(20, 2\)"),
    (np.r_[np.ones(19), -1.0], "must be non-negative; sample 19 has weight -1.0"),
    (np.r_[np.ones(19), np.nan], "must be finite"),
    (np.zeros(20), "at least one non-zero weight"),
    (["a"] * 20, "must be numbers"),
])
def test_bad_sample_weights_are_refused_everywhere(weights, match):
    X, _ = make_blobs(n_samples=20, random_state=0)
    with pytest.raises(ValueError, match=match):
        KMeans(n_clusters=2, random_state=0).fit(X, sample_weight=weights)
    with pytest.raises(ValueError, match=match):
        kmeans_plusplus(X, 2, sample_weight=weights)
    km = KMeans(n_clusters=2, random_state=0).fit(X)
    for method in (km.score, km.predict):
        with pytest.raises(ValueError, match=match):
            method(X, sample_weight=weights)


def test_predict_accepts_weights_that_do_not_change_the_labels():
    X, _ = make_blobs(n_samples=50, random_state=0)
    km = KMeans(n_clusters=3, random_state=0).fit(X)
    w = np.random.RandomState(0).uniform(size=50)
    np.testing.assert_array_equal(km.predict(X, sample_weight=w), km.predict(X))


def test_empty_cluster_holding_only_weight_zero_samples_is_reseeded():
    # centre 5 gets only sample 1, of weight 0: no weight, so it is re-seeded at the sample of
    # positive weight farthest from its centre (sample 3, 3.5 from the mean 0.5 of 0, 1, 4)
    X = np.array([[0.0], [5.0], [1.0], [4.0]])
    w = np.array([1.0, 0.0, 1.0, 1.0])
    km = KMeans(n_clusters=2, init=np.array([[1.0], [5.0]])).fit(X, sample_weight=w)
    assert km.history_[0]["counts"].tolist() == [2, 2]
    np.testing.assert_array_equal(km.labels_, [0, 1, 0, 1])
    np.testing.assert_allclose(km.cluster_centers_.ravel(), [0.5, 4.0])


# ---------------------------------------------------------------------------------------------
# init, verbose, threads

@pytest.mark.parametrize("kind", ["array", "callable"])
@pytest.mark.parametrize("shape, match", [
    ((3, 2), "does not match the number of clusters 2"),
    ((2, 5), "does not match the number of features of the data 2"),
])
def test_init_of_the_wrong_shape_says_which_dimension(kind, shape, match):
    X, _ = make_blobs(n_samples=20, random_state=0)
    centers = np.zeros(shape)
    init = centers if kind == "array" else (lambda X, k, random_state: centers)
    with pytest.raises(ValueError, match=rf"The shape of the initial centers "
                                         rf"\({shape[0]}, {shape[1]}\) {match}"):
        KMeans(n_clusters=2, init=init, n_init=1).fit(X)


def test_callable_init_is_given_the_data_and_acts_as_its_array():
    X, _ = make_blobs(n_samples=200, centers=3, random_state=4)
    seen = []

    def pick_three(data, n_clusters, random_state):
        seen.append((data.copy(), n_clusters))
        return data[[0, 1, 2]]

    with_callable = KMeans(n_clusters=3, init=pick_three, n_init=1).fit(X)
    with_array = KMeans(n_clusters=3, init=X[[0, 1, 2]]).fit(X)
    np.testing.assert_array_equal(seen[0][0], X)  # the caller's data, not a centred copy
    assert seen[0][1] == 3
    np.testing.assert_array_equal(with_callable.labels_, with_array.labels_)
    np.testing.assert_allclose(with_callable.cluster_centers_, with_array.cluster_centers_)
    assert KMeans(n_clusters=3, init=pick_three).fit(X)._n_init == 10


@pytest.mark.parametrize("tol", [1e-2, 0])
def test_verbose_prints_what_sklearn_prints(tol, capsys):
    X = np.random.RandomState(0).normal(size=(500, 4))
    init = X[:5]
    KMeans(n_clusters=5, init=init, tol=tol, verbose=1).fit(X)
    ours = capsys.readouterr().out.splitlines()
    SklearnKMeans(n_clusters=5, init=init, n_init=1, tol=tol, verbose=1).fit(X)
    ref = capsys.readouterr().out.splitlines()
    assert len(ours) == len(ref) > 3
    number = r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"
    for a, b in zip(ours, ref):
        pattern = re.sub(number, "#", b)
        assert re.sub(number, "#", a) == pattern, (a, b)
        np.testing.assert_allclose([float(v.rstrip(".")) for v in re.findall(number, a)],
                                   [float(v.rstrip(".")) for v in re.findall(number, b)],
                                   rtol=1e-6)


def test_the_result_does_not_depend_on_the_number_of_threads(monkeypatch):
    from threadpoolctl import threadpool_limits

    # small data is worked on by one thread; here the threads must run
    assert _kmeans_common._effective_n_threads(100) == 1
    monkeypatch.setattr(_kmeans_common, "_MIN_PARALLEL_ELEMENTS", 0)

    X, _ = make_blobs(n_samples=3000, n_features=16, centers=9, cluster_std=4.0,
                      random_state=6)
    X = X.astype(np.float32)
    w = np.random.RandomState(0).uniform(size=len(X))
    fits = {}
    for threads in (1, 2, 3):
        with threadpool_limits(limits=threads):
            assert _kmeans_common._effective_n_threads() == min(
                threads, _kmeans_common._available_cpus())
            fits[threads] = KMeans(n_clusters=9, random_state=0).fit(X, sample_weight=w)
    for threads in (2, 3):
        np.testing.assert_array_equal(fits[threads].labels_, fits[1].labels_)
        np.testing.assert_array_equal(fits[threads].cluster_centers_, fits[1].cluster_centers_)
        assert fits[threads].inertia_ == fits[1].inertia_


def test_transform_gives_exact_zeros_for_the_centres_and_fit_transform_agrees():
    X, _ = make_blobs(n_samples=300, n_features=6, centers=5, random_state=2)
    X = X + 1000.0  # far from the origin: the expansion cancels badly near a centre
    km = KMeans(n_clusters=5, random_state=0).fit(X)
    D = km.transform(km.cluster_centers_)
    np.testing.assert_array_equal(np.diag(D), np.zeros(5))
    np.testing.assert_allclose(D, np.sqrt(((km.cluster_centers_[:, None] - km.cluster_centers_)
                                           ** 2).sum(-1)), rtol=1e-9)
    w = np.random.RandomState(0).uniform(size=len(X))
    np.testing.assert_allclose(
        KMeans(n_clusters=5, random_state=0).fit_transform(X, sample_weight=w),
        KMeans(n_clusters=5, random_state=0).fit(X, sample_weight=w).transform(X))


def test_copy_x_false_centres_in_place_and_gives_the_mean_back():
    X, _ = make_blobs(n_samples=300, n_features=3, centers=4, random_state=0)
    X = X + 50.0
    given = X.copy()
    seen = []

    def first_four(data, n_clusters, random_state):
        seen.append(data.mean(axis=0))
        return data[:4]

    in_place = KMeans(n_clusters=4, init=first_four, n_init=1, copy_x=False).fit(given)
    copied = KMeans(n_clusters=4, init=first_four, n_init=1).fit(X)
    np.testing.assert_allclose(given, X, rtol=0, atol=1e-12)  # back, up to rounding
    np.testing.assert_allclose(seen[0], seen[1])  # init saw the data, not the centred data
    np.testing.assert_array_equal(in_place.labels_, copied.labels_)
    np.testing.assert_allclose(in_place.cluster_centers_, copied.cluster_centers_)
    # data that cannot be written to is copied instead
    frozen = X.copy()
    frozen.flags.writeable = False
    KMeans(n_clusters=4, random_state=0, copy_x=False).fit(frozen)
    np.testing.assert_array_equal(frozen, X)
