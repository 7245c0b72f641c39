"""KMeans and kmeans_plusplus: hand-computed cases, scikit-learn's estimator checks, and
agreement with scikit-learn's own implementation."""

import numpy as np
import pytest
from sklearn.cluster import KMeans as SklearnKMeans
from sklearn.cluster import kmeans_plusplus as sklearn_kmeans_plusplus
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from stridelab.cluster import KMeans, _kmeans, kmeans_plusplus

DTYPES = [np.float32, np.float64]


# ---------------------------------------------------------------------------------------------
# scikit-learn's own estimator checks (none skipped; scikit-learn's KMeans only xfails the
# sample_weight checks, and this estimator takes no sample_weight, so they do not run)

@parametrize_with_checks([
    KMeans(random_state=0),
    KMeans(n_clusters=2, init="random", n_init=2, max_iter=5, random_state=0),
])
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
    monkeypatch.setattr(_kmeans, "_CHUNK_ELEMENTS", 1)  # 64-row chunks everywhere
    monkeypatch.setattr(_kmeans, "_CACHE_ELEMENTS", 1)
    assert len(list(_kmeans._chunks(1500, 8))) == 24  # ceil(1500 / 64)
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
