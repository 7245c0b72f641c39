"""k-means clustering by Lloyd's algorithm, seeded by k-means++, in scikit-learn's estimator style.

Conventions follow ``sklearn/cluster/_kmeans.py``: a public function validates its input and
calls a private twin that assumes valid input; the estimator's ``__init__`` only stores its
arguments, ``fit`` validates them, draws from ``check_random_state`` and returns ``self``;
fitted attributes end in an underscore.

Letters in shape comments: N samples, F features, K clusters, M samples in a chunk.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted, check_scalar, validate_data

from stridelab.cluster._kmeans_common import (
    _assign,
    _check_sample_weight,
    _effective_n_threads,
    _inertia,
    _one_hot_sums,
    _parallel,
    _residual_sq,
    _squared_distances,
)

# history_ keeps each iteration's labels only up to this many samples.
_MAX_HISTORY_LABELS = 100_000


###############################################################################
# Initialisation


def kmeans_plusplus(X, n_clusters, *, sample_weight=None, x_squared_norms=None,
                    random_state=None, greedy=False):
    """Pick ``n_clusters`` initial centres from the rows of ``X`` by k-means++ (D^2 sampling).

    The first centre is a sample drawn with probability proportional to its weight (uniformly
    without weights). Each further centre is a sample drawn with probability proportional to
    ``w(x) D(x)^2``, its weight times the squared distance from ``x`` to the closest centre
    chosen so far. With ``greedy=False`` (the textbook algorithm of Arthur and Vassilvitskii,
    2007) one candidate is drawn per step; with ``greedy=True`` ``2 + int(log(n_clusters))``
    candidates are drawn and the one that lowers the potential ``sum_x w(x) D(x)^2`` most is
    kept, as :func:`sklearn.cluster.kmeans_plusplus` does.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data to pick centres from.
    n_clusters : int
        The number of centres to pick, at least 1 and at most ``n_samples``.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weight of each sample; None weighs all alike. A sample of weight 0 is
        never picked.
    x_squared_norms : array-like of shape (n_samples,), default=None
        ``||x||^2`` of each row of ``X``, when the caller has them already.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws; pass an int for reproducible output.
    greedy : bool, default=False
        Draw several candidates per step and keep the best one.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
        The initial centres, ``X[indices]``.
    indices : ndarray of shape (n_clusters,)
        The row of ``X`` each centre was taken from.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0]])
    >>> centers, indices = kmeans_plusplus(X, 2, random_state=0)
    >>> sorted(X[indices, 0].tolist())
    [0.0, 10.0]
    """
    X = check_array(X, dtype=[np.float64, np.float32])
    n_clusters = check_scalar(n_clusters, "n_clusters", Integral, min_val=1)
    if X.shape[0] < n_clusters:
        raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={n_clusters}.")
    check_scalar(greedy, "greedy", (bool, np.bool_))
    sample_weight = _check_sample_weight(sample_weight, X.shape[0])
    if x_squared_norms is None:
        x_squared_norms = np.einsum("nf,nf->n", X, X, dtype=np.float64)
    else:
        x_squared_norms = check_array(x_squared_norms, dtype=np.float64, ensure_2d=False)
        if x_squared_norms.shape[0] != X.shape[0]:
            raise ValueError(
                f"The length of x_squared_norms {x_squared_norms.shape[0]} should be equal to "
                f"the length of n_samples {X.shape[0]}."
            )
        if x_squared_norms.ndim != 1:
            raise ValueError(
                f"x_squared_norms must be 1-D, one norm per sample; got shape "
                f"{x_squared_norms.shape}."
            )
    random_state = check_random_state(random_state)
    n_local_trials = 2 + int(np.log(n_clusters)) if greedy else 1
    return _kmeans_plusplus(X, n_clusters, x_squared_norms, random_state, n_local_trials,
                            sample_weight)


def _draw_d2(weights_cumsum, n_draws, random_state):
    """Draw ``n_draws`` indices with probability proportional to the weights behind the cumsum.

    ``side="right"`` makes a sample of weight 0 (an already chosen centre, a sample of
    sample weight 0) impossible to draw.
    """
    draws = random_state.uniform(size=n_draws) * weights_cumsum[-1]
    indices = np.searchsorted(weights_cumsum, draws, side="right")
    # rounding can put a draw at the very end of the cumsum
    return np.minimum(indices, len(weights_cumsum) - 1)


def _kmeans_plusplus(X, n_clusters, x_squared_norms, random_state, n_local_trials=1,
                     sample_weight=None, pmap=None):
    """k-means++ on validated input; see :func:`kmeans_plusplus`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_clusters : int
    x_squared_norms : ndarray of shape (n_samples,), float64
    random_state : RandomState instance
    n_local_trials : int, default=1
        Candidates drawn per step; 1 is the textbook algorithm.
    sample_weight : ndarray of shape (n_samples,), float64, or None for unit weights
    pmap : map over chunks (see ``_parallel``), default serial
    """
    n_samples, n_features = X.shape
    weights = np.ones(n_samples) if sample_weight is None else sample_weight  # (N,)
    centers = np.empty((n_clusters, n_features), dtype=X.dtype)  # (K, F)
    indices = np.empty(n_clusters, dtype=np.intp)

    # Step 1: one sample with probability proportional to its weight (D^2 = 1 for all);
    # without weights the cumsum is 1, 2, ..., n: uniform.
    first = _draw_d2(np.cumsum(weights), 1, random_state)[0]
    centers[0], indices[0] = X[first], first
    closest_sq_dist = _squared_distances(X, X[[first]], x_squared_norms, pmap)[:, 0]  # (N,)

    # Step 2: each further centre with probability w(x) D(x)^2 / sum w D^2.
    for c in range(1, n_clusters):
        candidates = _draw_d2(np.cumsum(weights * closest_sq_dist), n_local_trials,
                              random_state)
        cand_sq_dist = _squared_distances(X, X[candidates], x_squared_norms, pmap).T  # (T, N)
        np.minimum(closest_sq_dist, cand_sq_dist, out=cand_sq_dist)
        cand_potential = cand_sq_dist @ weights  # (T,)
        best = int(np.argmin(cand_potential))  # always 0 with a single candidate
        closest_sq_dist = cand_sq_dist[best]
        centers[c], indices[c] = X[candidates[best]], candidates[best]
    return centers, indices


###############################################################################
# Lloyd's algorithm


def _squared_norm(X):
    """``||X||_F^2`` as a Python float (one BLAS dot over the whole array)."""
    flat = X.ravel()
    return float(np.dot(flat, flat))


def _tolerance(X_centered, tol, total_sq=None):
    """Absolute tolerance on the centre shift: ``tol`` times the mean per-feature variance.

    For centred data the mean variance is ``||X||_F^2 / (n_samples * n_features)``. Like
    scikit-learn's, it does not look at the sample weights.
    """
    if tol == 0:
        return 0.0
    total_sq = _squared_norm(X_centered) if total_sq is None else total_sq
    return total_sq / X_centered.size * tol


def _move_samples(X, index, label_from, label_to, sums, counts, sample_weight=None,
                  pmap=None):
    """Move samples ``X[index]`` from clusters ``label_from`` to ``label_to`` in the running
    per-cluster weighted sums (float64) and sample counts, both updated in place.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    index, label_from, label_to : ndarray of shape (n_moved,)
    sums : ndarray of shape (n_clusters, n_features), float64
    counts : ndarray of shape (n_clusters,), int64
    sample_weight : ndarray of shape (n_samples,) or None
    pmap : map over chunks, default serial
    """
    if len(index) == 0:
        return
    n_clusters = sums.shape[0]
    moved = X[index]  # (n_moved, F)
    w = None if sample_weight is None else sample_weight[index]
    # +w x in the cluster a sample joins, -w x in the one it leaves: one product
    sums += _one_hot_sums(moved, label_to, n_clusters, w, pmap, minus_labels=label_from)
    counts += np.bincount(label_to, minlength=n_clusters)
    counts -= np.bincount(label_from, minlength=n_clusters)


def _cluster_weights(labels, counts, n_clusters, sample_weight):
    """Total weight of each cluster, float64: the counts without weights, else recounted from
    the labels (a running sum of weights would drift from 0 for a cluster that empties)."""
    if sample_weight is None:
        return counts.astype(np.float64)
    return np.bincount(labels, weights=sample_weight, minlength=n_clusters)


def _relocate_empty_clusters(X, centers, labels, sums, counts, sample_weight=None, pmap=None):
    """Re-seed each cluster of zero weight (no sample, or only samples of weight 0) at the
    sample of positive weight farthest from its centre.

    Samples are taken in order of decreasing distance to their current centre, ties broken by
    the lower sample index; each chosen sample moves to the empty cluster (``labels`` and the
    running sums follow). Nothing moves when every sample sits on its centre (more clusters
    than distinct samples).
    """
    weights = _cluster_weights(labels, counts, len(counts), sample_weight)
    empty = np.flatnonzero(weights == 0)
    if len(empty) == 0:
        return
    residual_sq = _residual_sq(X, centers, labels, pmap)  # (N,)
    if sample_weight is not None:
        # a sample of weight 0 would leave the cluster it re-seeds just as empty
        residual_sq = np.where(sample_weight > 0, residual_sq, -1)
    if residual_sq.max() <= 0:
        return
    farthest = np.argsort(-residual_sq, kind="stable")[: len(empty)]
    farthest = farthest[residual_sq[farthest] >= 0]  # not the samples of weight 0
    empty = empty[: len(farthest)]
    _move_samples(X, farthest, labels[farthest], empty, sums, counts, sample_weight)
    labels[farthest] = empty


def _same_partition(labels_a, labels_b) -> bool:
    """Whether two labellings split the samples alike, up to the names of the clusters: the
    pairs (a_i, b_i) are as many as the labels on either side, so each a names one b."""
    n = max(int(labels_a.max()), int(labels_b.max())) + 1
    pairs = np.unique(labels_a.astype(np.int64) * n + labels_b)
    return len(pairs) == len(np.unique(labels_a)) == len(np.unique(labels_b))


def _kmeans_single_lloyd(X, centers_init, max_iter=300, verbose=False, tol=1e-4, x_mean=None,
                         total_sq=None, sample_weight=None, pmap=None, n_threads=1):
    """One run of Lloyd's algorithm on validated, centred input.

    Each iteration assigns every sample to its closest centre (E-step), then moves each centre
    to the weighted mean of its samples (M-step). It stops when no assignment changes or when
    the squared centre shift ``sum_j ||c_j^new - c_j||^2`` is at most ``tol`` (already
    absolute). The M-step keeps per-cluster sums and moves only the samples whose label
    changed.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C-contiguous
    centers_init : ndarray of shape (n_clusters, n_features), dtype of X
    max_iter : int
    verbose : bool
    tol : float
    x_mean : ndarray of shape (n_features,) or None
        Added back to the centres stored in ``history``.
    total_sq : float or None
        ``sum_i w_i ||x_i||^2`` when the caller has it already.
    sample_weight : ndarray of shape (n_samples,), float64, or None for unit weights
    pmap : map over chunks (see ``_parallel``), default serial
    n_threads : int
        The threads behind ``pmap``.

    Returns
    -------
    labels : ndarray of shape (n_samples,), int32
    inertia : float
        ``sum_i w_i ||x_i - c_{labels_i}||^2``.
    centers : ndarray of shape (n_clusters, n_features)
    n_iter : int
    history : list of dict
        Per iteration: ``centers`` (those the samples were assigned to), ``inertia`` (of that
        assignment), ``counts`` (samples per cluster) and, up to 100,000 samples, ``labels``.
    """
    n_samples = X.shape[0]
    n_clusters = centers_init.shape[0]
    offset = 0 if x_mean is None else x_mean
    keep_labels = n_samples <= _MAX_HISTORY_LABELS
    if total_sq is None:  # sum_i w_i ||x_i||^2, for the per-step inertia
        total_sq = _squared_norm(X) if sample_weight is None else float(
            np.einsum("nf,nf->n", X, X, dtype=np.float64) @ sample_weight)

    centers = centers_init.copy()
    labels = np.full(n_samples, -1, dtype=np.int32)
    labels_old = labels.copy()
    sums = counts = None  # per-cluster weighted sums (K, F) float64 and counts (K,), step 1 on
    history = []
    strict_convergence = False

    for i in range(max_iter):
        # E-step
        _assign(X, centers, labels, pmap, n_threads)
        changed = np.flatnonzero(labels != labels_old)  # (n_changed,)
        if i == 0:
            sums = _one_hot_sums(X, labels, n_clusters, sample_weight, pmap)
            counts = np.bincount(labels, minlength=n_clusters).astype(np.int64)
        else:
            # only the samples whose label changed move between the running sums
            _move_samples(X, changed, labels_old[changed], labels[changed], sums, counts,
                          sample_weight, pmap)
        weights = _cluster_weights(labels, counts, n_clusters, sample_weight)  # (K,)
        # sum_i w_i ||x_i - c_{l_i}||^2 = sum_i w_i ||x_i||^2 + sum_k (W_k ||c_k||^2 - 2 c_k.S_k)
        # with S_k, W_k the weighted sum and total weight of cluster k: no second pass over X
        c64 = centers.astype(np.float64)
        step_inertia = total_sq + float(weights @ np.einsum("kf,kf->k", c64, c64)
                                        - 2 * np.einsum("kf,kf->", c64, sums))
        step_inertia = max(step_inertia, 0.0)
        history.append({
            "centers": centers + offset,
            "inertia": step_inertia,
            "counts": counts.copy(),
            **({"labels": labels.copy()} if keep_labels else {}),
        })
        if verbose:
            print(f"Iteration {i}, inertia {step_inertia}.")
        if len(changed) == 0:
            strict_convergence = True
            if verbose:
                print(f"Converged at iteration {i}: strict convergence.")
            break

        # M-step
        _relocate_empty_clusters(X, centers, labels, sums, counts, sample_weight, pmap)
        weights = _cluster_weights(labels, counts, n_clusters, sample_weight)
        filled = weights > 0
        centers_new = centers.copy()  # an empty cluster that cannot be re-seeded stays put
        centers_new[filled] = sums[filled] / weights[filled, None]
        shift = float(np.sum((centers_new.astype(np.float64) - centers) ** 2))
        centers = centers_new
        labels_old[:] = labels
        if shift <= tol:
            if verbose:
                print(f"Converged at iteration {i}: center shift {shift} within tolerance "
                      f"{tol}.")
            break

    if not strict_convergence:
        # labels must match the returned centres, as predict would give on the training set
        # (after strict convergence the centres already are the means of the final labels)
        _assign(X, centers, labels, pmap, n_threads)
    inertia = _inertia(X, centers, labels, sample_weight, pmap)
    return labels, inertia, centers, i + 1, history


###############################################################################
# Estimator


class KMeans(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """k-means clustering with Lloyd's algorithm.

    Minimises the inertia ``sum_i w_i ||x_i - c_{label_i}||^2`` (``w_i = 1`` without sample
    weights) by alternating an assignment step (each sample to its closest centre) and an
    update step (each centre to the weighted mean of its samples) until no assignment changes
    or the centres move by less than ``tol``.

    Parameters
    ----------
    n_clusters : int, default=8
        The number of clusters and of centres.
    init : {"k-means++", "random"}, callable or array-like of shape (n_clusters, n_features), \
            default="k-means++"
        How to pick the initial centres:

        - ``"k-means++"``: D^2 sampling, one candidate per step, weighted by the sample
          weights (see :func:`kmeans_plusplus`; for scikit-learn's greedy variant pass
          ``kmeans_plusplus(X, k, greedy=True)[0]``).
        - ``"random"``: ``n_clusters`` distinct samples, drawn with probability proportional
          to their weight (uniformly when all weights are equal).
        - a callable ``init(X, n_clusters, random_state)`` returning the centres for ``X``.
        - an array: the initial centres themselves.
    n_init : "auto" or int, default="auto"
        Runs with different initial centres; the run with the lowest inertia is kept.
        ``"auto"`` means 10 for ``init="random"`` or a callable and 1 otherwise.
    max_iter : int, default=300
        Maximum number of iterations of one run.
    tol : float, default=1e-4
        Convergence threshold on the squared centre shift ``sum_j ||c_j^new - c_j||^2``,
        relative to the mean per-feature variance of ``X`` (scikit-learn's convention).
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation; pass an int for reproducible output.
    copy_x : bool, default=True
        Fit on a centred copy of ``X`` (True), or centre ``X`` in place and add the mean back
        before ``fit`` returns (False: no copy of the data, but ``X`` may come back changed in
        its last bits, as with scikit-learn). A copy is made anyway when ``X`` must be
        converted (another dtype, not C-contiguous).
    algorithm : {"lloyd"}, default="lloyd"
        Lloyd's algorithm is the only one implemented.
    verbose : int, default=0
        When positive, print what scikit-learn prints: "Initialization complete", the inertia
        of each iteration and why the run stopped.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        The centres found.
    labels_ : ndarray of shape (n_samples,), int32
        The cluster of each training sample (consistent with ``predict``).
    inertia_ : float
        Weighted sum of squared distances of the training samples to their centre.
    n_iter_ : int
        Iterations run by the kept run.
    history_ : list of dict
        One entry per iteration of the kept run, oldest first: ``"centers"`` (ndarray of
        shape (n_clusters, n_features), the centres the samples were assigned to),
        ``"inertia"`` (float, of that assignment), ``"counts"`` (ndarray of shape
        (n_clusters,), samples per cluster) and, when ``n_samples <= 100_000``, ``"labels"``
        (ndarray of shape (n_samples,)).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``, when ``X`` has string feature names.

    Notes
    -----
    Threads: as many as NumPy's BLAS may use (``threadpoolctl.threadpool_limits`` or
    ``OPENBLAS_NUM_THREADS`` set it); the result does not depend on their number.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> km = KMeans(n_clusters=2, random_state=0).fit(X)
    >>> km.inertia_
    16.0
    >>> sorted(km.cluster_centers_.tolist())
    [[1.0, 2.0], [10.0, 2.0]]
    >>> KMeans(n_clusters=2, random_state=0).fit(X, sample_weight=[1, 1, 1, 1, 1, 3]).inertia_
    16.0
    """

    def __init__(self, n_clusters=8, *, init="k-means++", n_init="auto", max_iter=300,
                 tol=1e-4, random_state=None, copy_x=True, algorithm="lloyd", verbose=0):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.copy_x = copy_x
        self.algorithm = algorithm
        self.verbose = verbose

    # -- validation -------------------------------------------------------------------------

    def _check_params_vs_input(self, X):
        check_scalar(self.n_clusters, "n_clusters", Integral, min_val=1)
        check_scalar(self.max_iter, "max_iter", Integral, min_val=1)
        check_scalar(self.tol, "tol", Real, min_val=0)
        check_scalar(self.verbose, "verbose", Integral, min_val=0)
        check_scalar(self.copy_x, "copy_x", (bool, np.bool_))
        if self.algorithm != "lloyd":
            raise ValueError(
                f"algorithm must be 'lloyd', the only algorithm implemented; "
                f"got {self.algorithm!r}."
            )
        if isinstance(self.init, str) and self.init in ("k-means++", "random"):
            self._init_kind = str(self.init)
        elif callable(self.init):
            self._init_kind = "callable"
        elif not isinstance(self.init, str) and hasattr(self.init, "__len__"):
            self._init_kind = "array"
        else:
            raise ValueError(
                f"init must be 'k-means++', 'random', a callable or an array of shape "
                f"(n_clusters, n_features); got {self.init!r}."
            )
        if isinstance(self.n_init, str):
            if self.n_init != "auto":
                raise ValueError(f"n_init must be 'auto' or an int >= 1; got {self.n_init!r}.")
            self._n_init = 10 if self._init_kind in ("random", "callable") else 1
        else:
            self._n_init = check_scalar(self.n_init, "n_init", Integral, min_val=1)
        if self._init_kind == "array" and self._n_init != 1:
            warnings.warn(
                "Explicit initial center position passed: performing only one init in "
                f"KMeans instead of n_init={self._n_init}.",
                RuntimeWarning,
                stacklevel=3,
            )
            self._n_init = 1
        if X.shape[0] < self.n_clusters:
            raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={self.n_clusters}.")

    def _validate_center_shape(self, X, centers, n_centroids=None):
        """Raise if ``centers`` is not of shape (n_clusters, n_features), naming which is off."""
        n_centroids = self.n_clusters if n_centroids is None else n_centroids
        if centers.shape[0] != n_centroids:
            raise ValueError(
                f"The shape of the initial centers {centers.shape} does not match the number "
                f"of clusters {n_centroids}."
            )
        if centers.shape[1] != X.shape[1]:
            raise ValueError(
                f"The shape of the initial centers {centers.shape} does not match the number "
                f"of features of the data {X.shape[1]}."
            )

    def _check_test_data(self, X):
        return validate_data(self, X, reset=False, dtype=[np.float64, np.float32], order="C")

    # -- fitting ----------------------------------------------------------------------------

    def _init_centroids(self, X, x_squared_norms, init, random_state, sample_weight,
                        n_centroids=None, X_raw=None, x_mean=None, pmap=None):
        """Initial centres for one run (scikit-learn's signature), on centred validated data.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features), centred
        x_squared_norms : ndarray of shape (n_samples,), float64
        init : {"k-means++", "random"}, callable or ndarray
        random_state : RandomState instance
        sample_weight : ndarray of shape (n_samples,) or None
            Weights for the draws of "k-means++" and "random"; not used by the others.
        n_centroids : int, default=n_clusters
        X_raw : ndarray of shape (n_samples, n_features), default=X + x_mean
            The data before centring: what a callable ``init`` is given.
        x_mean : ndarray of shape (n_features,), default=None
            The mean that centred X, taken off the centres a callable ``init`` returns.
        pmap : map over chunks, default serial

        Returns
        -------
        centers : ndarray of shape (n_centroids, n_features), centred like X
        """
        n_centroids = self.n_clusters if n_centroids is None else n_centroids
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if isinstance(init, str) and init == "k-means++":
            return _kmeans_plusplus(X, n_centroids, x_squared_norms, random_state,
                                    sample_weight=sample_weight, pmap=pmap)[0]
        if isinstance(init, str) and init == "random":
            # without weights (or with equal ones) the draw is uniform, as it always was
            p = None
            if sample_weight is not None and np.ptp(sample_weight) > 0:
                p = sample_weight / sample_weight.sum()
            seeds = random_state.choice(X.shape[0], size=n_centroids, replace=False, p=p)
            return X[seeds]
        if callable(init):
            if X_raw is None:
                X_raw = X if x_mean is None else X + x_mean  # X was centred in place
            centers = init(X_raw, n_centroids, random_state=random_state)
            centers = check_array(centers, dtype=X.dtype, copy=True, order="C")
            self._validate_center_shape(X, centers, n_centroids)
            return centers if x_mean is None else centers - x_mean
        return init

    def fit(self, X, y=None, sample_weight=None):
        """Compute k-means clustering.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples; float32 stays float32, anything else becomes float64.
        y : Ignored
            Present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample (None: all 1). The centres are weighted means,
            the inertia a weighted sum; "k-means++" and "random" draw by weight. A weight of
            ``n`` gives the result of repeating the sample ``n`` times (from the same initial
            centres).

        Returns
        -------
        self : KMeans
            The fitted estimator.
        """
        X_given = X
        X = validate_data(self, X, dtype=[np.float64, np.float32], order="C")
        self._check_params_vs_input(X)
        sample_weight = _check_sample_weight(sample_weight, X.shape[0])
        random_state = check_random_state(self.random_state)

        if self._init_kind == "array":
            init = check_array(self.init, dtype=X.dtype, copy=True, order="C")
            self._validate_center_shape(X, init)
        else:
            init = self.init

        # Centring the data makes ||x||^2 - 2 x.c + ||c||^2 cancel less. With copy_x it makes
        # the copy that fit works on, so the caller's X is never modified; without, X itself
        # is centred, unless validation has copied it already.
        x_mean = X.mean(axis=0)  # (F,)
        in_place = (not self.copy_x and X.flags.writeable
                    and np.may_share_memory(X, np.asarray(X_given)))
        X_raw = None if in_place else X
        if in_place:
            X -= x_mean  # (N, F)
        else:
            X = X - x_mean  # (N, F)
        if self._init_kind == "array":
            init -= x_mean
        x_squared_norms = None
        if self._init_kind == "k-means++" or sample_weight is not None:
            x_squared_norms = np.einsum("nf,nf->n", X, X, dtype=np.float64)  # (N,)
        total_sq = _squared_norm(X)
        tol = _tolerance(X, self.tol, total_sq)
        if sample_weight is not None:
            total_sq = float(x_squared_norms @ sample_weight)  # sum_i w_i ||x_i||^2

        n_threads = _effective_n_threads(X.size)
        best = None
        try:
            with _parallel(n_threads) as pmap:
                for _ in range(self._n_init):
                    centers_init = self._init_centroids(
                        X, x_squared_norms, init, random_state, sample_weight, X_raw=X_raw,
                        x_mean=x_mean, pmap=pmap)
                    if self.verbose:
                        print("Initialization complete")
                    run = _kmeans_single_lloyd(X, centers_init, max_iter=self.max_iter,
                                               verbose=self.verbose, tol=tol, x_mean=x_mean,
                                               total_sq=total_sq, sample_weight=sample_weight,
                                               pmap=pmap, n_threads=n_threads)
                    # a lower inertia counts only with another partition: the same clusters
                    # found again differ in the last bits alone (scikit-learn's rule too)
                    if best is None or (run[1] < best[1]
                                        and not _same_partition(run[0], best[0])):
                        best = run
        finally:
            if in_place:  # the caller's X gets its mean back, also when a run raised
                X += x_mean
        labels, inertia, centers, n_iter, history = best

        n_distinct = len(np.unique(labels))
        if n_distinct < self.n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({n_distinct}) found smaller than n_clusters "
                f"({self.n_clusters}). Possibly due to duplicate points in X.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.cluster_centers_ = centers + x_mean
        self._n_features_out = self.n_clusters
        self.labels_ = labels
        self.inertia_ = inertia
        self.n_iter_ = n_iter
        self.history_ = history
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit and return the cluster of each training sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            See :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,), int32
        """
        return self.fit(X, sample_weight=sample_weight).labels_

    def fit_transform(self, X, y=None, sample_weight=None):
        """Fit, then return the distance of each training sample to each centre.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            See :meth:`fit`.

        Returns
        -------
        distances : ndarray of shape (n_samples, n_clusters), dtype of X
        """
        return self.fit(X, sample_weight=sample_weight)._transform(self._check_test_data(X))

    # -- using a fitted model ---------------------------------------------------------------

    def _centers_like(self, X):
        return self.cluster_centers_.astype(X.dtype, copy=False)

    def _labels(self, X, pmap, n_threads):
        labels = np.empty(X.shape[0], dtype=np.int32)
        _assign(X, self._centers_like(X), labels, pmap, n_threads)
        return labels

    def predict(self, X, sample_weight=None):
        """The closest centre of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), default=None
            Checked, and otherwise without effect: the closest centre of a sample does not
            depend on its weight. Accepted as scikit-learn accepted it up to version 1.4, so
            that ``predict(X, sample_weight=w)`` and ``fit_predict`` read alike.

        Returns
        -------
        labels : ndarray of shape (n_samples,), int32
        """
        check_is_fitted(self)
        X = self._check_test_data(X)
        _check_sample_weight(sample_weight, X.shape[0])
        n_threads = _effective_n_threads(X.size)
        with _parallel(n_threads) as pmap:
            return self._labels(X, pmap, n_threads)

    def transform(self, X):
        """Euclidean distance of each sample to each centre.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        distances : ndarray of shape (n_samples, n_clusters), dtype of X
        """
        check_is_fitted(self)
        return self._transform(self._check_test_data(X))

    def _transform(self, X):
        """:meth:`transform` on validated input."""
        x_squared_norms = np.einsum("nf,nf->n", X, X, dtype=np.float64)
        with _parallel(_effective_n_threads(X.size)) as pmap:
            sq = _squared_distances(X, self.cluster_centers_, x_squared_norms, pmap)
        return np.sqrt(sq).astype(X.dtype, copy=False)

    def score(self, X, y=None, sample_weight=None):
        """Opposite of the (weighted) inertia of ``X`` with respect to the fitted centres.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample (None: all 1).

        Returns
        -------
        score : float
            ``-sum_i w_i min_j ||x_i - c_j||^2`` (higher is better).
        """
        check_is_fitted(self)
        X = self._check_test_data(X)
        sample_weight = _check_sample_weight(sample_weight, X.shape[0])
        n_threads = _effective_n_threads(X.size)
        with _parallel(n_threads) as pmap:
            labels = self._labels(X, pmap, n_threads)
            return -_inertia(X, self._centers_like(X), labels, sample_weight, pmap)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
