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

# Work arrays are cut into row chunks of about this many elements (8 MiB in float64), so that
# memory stays bounded on 70,000 x 784 whatever the number of clusters.
_CHUNK_ELEMENTS = 2**20
# Element-wise passes over X (residuals) use chunks small enough to stay in the CPU cache.
_CACHE_ELEMENTS = 2**18

# history_ keeps each iteration's labels only up to this many samples.
_MAX_HISTORY_LABELS = 100_000


def _chunks(n_rows: int, row_elements: int, budget: int | None = None):
    """Yield slices that cut ``n_rows`` rows of ``row_elements`` elements into chunks of about
    ``budget`` elements (default ``_CHUNK_ELEMENTS``), at least 64 rows each."""
    budget = _CHUNK_ELEMENTS if budget is None else budget
    step = max(64, budget // max(row_elements, 1))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


###############################################################################
# Distances


def _squared_distances(X, centers, x_squared_norms):
    """Squared Euclidean distances in float64, as ||x||^2 - 2 x.c + ||c||^2.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    centers : ndarray of shape (n_centers, n_features)
    x_squared_norms : ndarray of shape (n_samples,), float64

    Returns
    -------
    distances : ndarray of shape (n_samples, n_centers), float64, clipped at 0
    """
    centers = centers.astype(np.float64, copy=False)
    centers_sq = np.einsum("kf,kf->k", centers, centers)  # (K,)
    out = np.empty((X.shape[0], centers.shape[0]))  # (N, K)
    for rows in _chunks(X.shape[0], X.shape[1]):
        # float32 input is upcast chunk by chunk: the expanded form cancels badly in float32
        # when a sample lies close to a centre.
        block = X[rows].astype(np.float64, copy=False) @ centers.T  # (M, K)
        block *= -2.0
        block += x_squared_norms[rows, None]
        block += centers_sq
        out[rows] = block
    np.maximum(out, 0.0, out=out)
    return out


def _assign(X, centers, labels):
    """E-step: the closest centre of each sample, written into ``labels``.

    Works in the dtype of ``X`` with the scikit-learn expansion
    ``||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2``, leaving out ``||x||^2``: it is the same for
    every centre, so the argmin does not need it. Ties go to the lowest cluster index.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    centers : ndarray of shape (n_clusters, n_features), same dtype as X
    labels : ndarray of shape (n_samples,), int32, written
    """
    centers_sq = np.einsum("kf,kf->k", centers, centers)  # (K,)
    minus_2_centers_t = (-2 * centers).T  # (F, K), a view: BLAS reads it transposed
    for rows in _chunks(X.shape[0], centers.shape[0]):
        dist = X[rows] @ minus_2_centers_t  # (M, K)  one BLAS call per chunk
        dist += centers_sq
        labels[rows] = dist.argmin(axis=1)  # (M,)  first minimum on ties


def _inertia(X, centers, labels):
    """Sum of squared distances of samples to their assigned centre, as a Python float.

    Computed from the differences (not the expansion), accumulated in float64.
    """
    return float(_residual_sq(X, centers, labels).sum(dtype=np.float64))


def _residual_sq(X, centers, labels):
    """``||x_i - c_{labels_i}||^2`` for every sample, shape (n_samples,), dtype of X."""
    out = np.empty(X.shape[0], dtype=X.dtype)  # (N,)
    buffer = np.empty((0, X.shape[1]), dtype=X.dtype)
    for rows in _chunks(X.shape[0], X.shape[1], _CACHE_ELEMENTS):
        if len(buffer) < rows.stop - rows.start:
            buffer = np.empty((rows.stop - rows.start, X.shape[1]), dtype=X.dtype)
        residual = buffer[: rows.stop - rows.start]  # (M, F), reused while it stays in cache
        np.take(centers, labels[rows], axis=0, out=residual)
        np.subtract(X[rows], residual, out=residual)
        out[rows] = np.einsum("mf,mf->m", residual, residual)
    return out


###############################################################################
# Initialisation


def kmeans_plusplus(X, n_clusters, *, random_state=None, greedy=False):
    """Pick ``n_clusters`` initial centres from the rows of ``X`` by k-means++ (D^2 sampling).

    The first centre is a sample drawn uniformly at random. Each further centre is a sample
    drawn with probability proportional to ``D(x)^2``, the squared distance from ``x`` to the
    closest centre chosen so far. With ``greedy=False`` (the textbook algorithm of Arthur and
    Vassilvitskii, 2007) one candidate is drawn per step; with ``greedy=True``
    ``2 + int(log(n_clusters))`` candidates are drawn and the one that lowers the potential
    ``sum_x D(x)^2`` most is kept, as :func:`sklearn.cluster.kmeans_plusplus` does.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data to pick centres from.
    n_clusters : int
        The number of centres to pick, at least 1 and at most ``n_samples``.
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
    random_state = check_random_state(random_state)
    x_squared_norms = np.einsum("nf,nf->n", X, X, dtype=np.float64)
    n_local_trials = 2 + int(np.log(n_clusters)) if greedy else 1
    return _kmeans_plusplus(X, n_clusters, x_squared_norms, random_state, n_local_trials)


def _draw_d2(weights_cumsum, n_draws, random_state):
    """Draw ``n_draws`` indices with probability proportional to the weights behind the cumsum.

    ``side="right"`` makes a sample of weight 0 (an already chosen centre) impossible to draw.
    """
    draws = random_state.uniform(size=n_draws) * weights_cumsum[-1]
    indices = np.searchsorted(weights_cumsum, draws, side="right")
    # rounding can put a draw at the very end of the cumsum
    return np.minimum(indices, len(weights_cumsum) - 1)


def _kmeans_plusplus(X, n_clusters, x_squared_norms, random_state, n_local_trials=1):
    """k-means++ on validated input; see :func:`kmeans_plusplus`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_clusters : int
    x_squared_norms : ndarray of shape (n_samples,), float64
    random_state : RandomState instance
    n_local_trials : int, default=1
        Candidates drawn per step; 1 is the textbook algorithm.
    """
    n_samples, n_features = X.shape
    centers = np.empty((n_clusters, n_features), dtype=X.dtype)  # (K, F)
    indices = np.empty(n_clusters, dtype=np.intp)

    # Step 1: one sample uniformly at random (D^2 sampling with all weights equal).
    first = _draw_d2(np.arange(1.0, n_samples + 1.0), 1, random_state)[0]
    centers[0], indices[0] = X[first], first
    closest_sq_dist = _squared_distances(X, X[[first]], x_squared_norms)[:, 0]  # (N,)

    # Step 2: each further centre with probability D(x)^2 / sum D^2.
    for c in range(1, n_clusters):
        candidates = _draw_d2(np.cumsum(closest_sq_dist), n_local_trials, random_state)
        cand_sq_dist = _squared_distances(X, X[candidates], x_squared_norms).T  # (T, N)
        np.minimum(closest_sq_dist, cand_sq_dist, out=cand_sq_dist)
        cand_potential = cand_sq_dist.sum(axis=1)  # (T,)
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

    For centred data the mean variance is ``||X||_F^2 / (n_samples * n_features)``.
    """
    if tol == 0:
        return 0.0
    total_sq = _squared_norm(X_centered) if total_sq is None else total_sq
    return total_sq / X_centered.size * tol


def _one_hot_sums(X, labels, n_clusters):
    """Per-cluster sums ``S_k = sum_{i: labels_i = k} x_i``, shape (n_clusters, n_features), float64.

    One BLAS product per chunk, (K, M) @ (M, F) in the dtype of X; chunk results are added
    in float64, so a float32 sum never runs over more than one chunk of samples.
    """
    sums = np.zeros((n_clusters, X.shape[1]))  # (K, F)
    for rows in _chunks(len(labels), X.shape[1]):
        lab = labels[rows]
        one_hot = np.zeros((n_clusters, len(lab)), dtype=X.dtype)  # (K, M)
        one_hot[lab, np.arange(len(lab))] = 1
        sums += one_hot @ X[rows]
    return sums


def _move_samples(X, index, label_from, label_to, sums, counts):
    """Move samples ``X[index]`` from clusters ``label_from`` to ``label_to`` in the running
    per-cluster sums (float64) and counts, both updated in place.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    index, label_from, label_to : ndarray of shape (n_moved,)
    sums : ndarray of shape (n_clusters, n_features), float64
    counts : ndarray of shape (n_clusters,), int64
    """
    if len(index) == 0:
        return
    n_clusters = sums.shape[0]
    moved = X[index]  # (n_moved, F)
    # +x in the cluster a sample joins, -x in the one it leaves
    sums += _one_hot_sums(moved, label_to, n_clusters)
    sums -= _one_hot_sums(moved, label_from, n_clusters)
    counts += np.bincount(label_to, minlength=n_clusters)
    counts -= np.bincount(label_from, minlength=n_clusters)


def _relocate_empty_clusters(X, centers, labels, sums, counts):
    """Re-seed each empty cluster at the sample farthest from its centre.

    Samples are taken in order of decreasing distance to their current centre, ties broken by
    the lower sample index; each chosen sample moves to the empty cluster (``labels`` and the
    running sums follow). Nothing moves when every sample sits on its centre (more clusters
    than distinct samples).
    """
    empty = np.flatnonzero(counts == 0)
    if len(empty) == 0:
        return
    residual_sq = _residual_sq(X, centers, labels)  # (N,)
    if residual_sq.max() == 0:
        return
    farthest = np.argsort(-residual_sq, kind="stable")[: len(empty)]
    _move_samples(X, farthest, labels[farthest], empty, sums, counts)
    labels[farthest] = empty


def _kmeans_single_lloyd(X, centers_init, max_iter=300, verbose=False, tol=1e-4, x_mean=None,
                         total_sq=None):
    """One run of Lloyd's algorithm on validated, centred input.

    Each iteration assigns every sample to its closest centre (E-step), then moves each centre
    to the mean of its samples (M-step). It stops when no assignment changes or when the squared
    centre shift ``sum_j ||c_j^new - c_j||^2`` is at most ``tol`` (already absolute).
    The M-step keeps per-cluster sums and moves only the samples whose label changed.

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
        ``||X||_F^2`` when the caller has it already.

    Returns
    -------
    labels : ndarray of shape (n_samples,), int32
    inertia : float
    centers : ndarray of shape (n_clusters, n_features)
    n_iter : int
    history : list of dict
        Per iteration: ``centers`` (those the samples were assigned to), ``inertia`` (of that
        assignment), ``counts`` and, up to 100,000 samples, ``labels``.
    """
    n_samples = X.shape[0]
    n_clusters = centers_init.shape[0]
    offset = 0 if x_mean is None else x_mean
    keep_labels = n_samples <= _MAX_HISTORY_LABELS
    if total_sq is None:  # sum_i ||x_i||^2, for the per-step inertia
        total_sq = _squared_norm(X)

    centers = centers_init.copy()
    labels = np.full(n_samples, -1, dtype=np.int32)
    labels_old = labels.copy()
    sums = counts = None  # per-cluster sums (K, F) float64 and counts (K,), from step 1 on
    history = []
    strict_convergence = False

    for i in range(max_iter):
        # E-step
        _assign(X, centers, labels)
        changed = np.flatnonzero(labels != labels_old)  # (n_changed,)
        if i == 0:
            sums = _one_hot_sums(X, labels, n_clusters)
            counts = np.bincount(labels, minlength=n_clusters).astype(np.int64)
        else:
            # only the samples whose label changed move between the running sums
            _move_samples(X, changed, labels_old[changed], labels[changed], sums, counts)
        # sum_i ||x_i - c_{l_i}||^2 = sum_i ||x_i||^2 + sum_k (n_k ||c_k||^2 - 2 c_k . S_k)
        # with S_k the sum of cluster k's samples: no second pass over X
        c64 = centers.astype(np.float64)
        step_inertia = total_sq + float(counts @ np.einsum("kf,kf->k", c64, c64)
                                        - 2 * np.einsum("kf,kf->", c64, sums))
        history.append({
            "centers": centers + offset,
            "inertia": max(step_inertia, 0.0),
            "counts": counts.copy(),
            **({"labels": labels.copy()} if keep_labels else {}),
        })
        if verbose:
            print(f"Iteration {i}, inertia {step_inertia:.6g}, {len(changed)} labels changed.")
        if len(changed) == 0:
            strict_convergence = True
            if verbose:
                print(f"Converged at iteration {i}: strict convergence.")
            break

        # M-step
        _relocate_empty_clusters(X, centers, labels, sums, counts)
        filled = counts > 0
        centers_new = centers.copy()  # an empty cluster that cannot be re-seeded stays put
        centers_new[filled] = sums[filled] / counts[filled, None]
        shift = float(np.sum((centers_new.astype(np.float64) - centers) ** 2))
        centers = centers_new
        labels_old[:] = labels
        if shift <= tol:
            if verbose:
                print(f"Converged at iteration {i}: center shift {shift:.6g} within {tol:.6g}.")
            break

    if not strict_convergence:
        # labels must match the returned centres, as predict would give on the training set
        # (after strict convergence the centres already are the means of the final labels)
        _assign(X, centers, labels)
    return labels, _inertia(X, centers, labels), centers, i + 1, history


###############################################################################
# Estimator


class KMeans(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """k-means clustering with Lloyd's algorithm.

    Minimises the inertia ``sum_i ||x_i - c_{label_i}||^2`` by alternating an assignment step
    (each sample to its closest centre) and an update step (each centre to the mean of its
    samples) until no assignment changes or the centres move by less than ``tol``.

    Parameters
    ----------
    n_clusters : int, default=8
        The number of clusters and of centres.
    init : {"k-means++", "random"} or array-like of shape (n_clusters, n_features), \
            default="k-means++"
        How to pick the initial centres:

        - ``"k-means++"``: D^2 sampling, one candidate per step (see :func:`kmeans_plusplus`;
          for scikit-learn's greedy variant pass ``kmeans_plusplus(X, k, greedy=True)[0]``).
        - ``"random"``: ``n_clusters`` distinct samples drawn uniformly.
        - an array: the initial centres themselves.
    n_init : "auto" or int, default="auto"
        Runs with different initial centres; the run with the lowest inertia is kept.
        ``"auto"`` means 10 for ``init="random"`` and 1 otherwise.
    max_iter : int, default=300
        Maximum number of iterations of one run.
    tol : float, default=1e-4
        Convergence threshold on the squared centre shift ``sum_j ||c_j^new - c_j||^2``,
        relative to the mean per-feature variance of ``X`` (scikit-learn's convention).
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation; pass an int for reproducible output.
    algorithm : {"lloyd"}, default="lloyd"
        Lloyd's algorithm is the only one implemented.
    verbose : int, default=0
        Print the inertia of each iteration when positive.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        The centres found.
    labels_ : ndarray of shape (n_samples,), int32
        The cluster of each training sample (consistent with ``predict``).
    inertia_ : float
        Sum of squared distances of the training samples to their centre.
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

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> km = KMeans(n_clusters=2, random_state=0).fit(X)
    >>> km.inertia_
    16.0
    >>> sorted(km.cluster_centers_.tolist())
    [[1.0, 2.0], [10.0, 2.0]]
    """

    def __init__(self, n_clusters=8, *, init="k-means++", n_init="auto", max_iter=300,
                 tol=1e-4, random_state=None, algorithm="lloyd", verbose=0):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.algorithm = algorithm
        self.verbose = verbose

    # -- validation -------------------------------------------------------------------------

    def _check_params_vs_input(self, X):
        check_scalar(self.n_clusters, "n_clusters", Integral, min_val=1)
        check_scalar(self.max_iter, "max_iter", Integral, min_val=1)
        check_scalar(self.tol, "tol", Real, min_val=0)
        check_scalar(self.verbose, "verbose", Integral, min_val=0)
        if self.algorithm != "lloyd":
            raise ValueError(
                f"algorithm must be 'lloyd', the only algorithm implemented; "
                f"got {self.algorithm!r}."
            )
        if isinstance(self.init, str) and self.init in ("k-means++", "random"):
            self._init_kind = self.init
        elif not isinstance(self.init, str) and hasattr(self.init, "__len__"):
            self._init_kind = "array"
        else:
            raise ValueError(
                f"init must be 'k-means++', 'random' or an array of shape "
                f"(n_clusters, n_features); got {self.init!r}."
            )
        init_is_array = self._init_kind == "array"
        if isinstance(self.n_init, str):
            if self.n_init != "auto":
                raise ValueError(f"n_init must be 'auto' or an int >= 1; got {self.n_init!r}.")
            self._n_init = 10 if self._init_kind == "random" else 1
        else:
            self._n_init = check_scalar(self.n_init, "n_init", Integral, min_val=1)
        if init_is_array and self._n_init != 1:
            warnings.warn(
                "Explicit initial center position passed: performing only one init in "
                f"KMeans instead of n_init={self._n_init}.",
                RuntimeWarning,
                stacklevel=3,
            )
            self._n_init = 1
        if X.shape[0] < self.n_clusters:
            raise ValueError(f"n_samples={X.shape[0]} should be >= n_clusters={self.n_clusters}.")
        return init_is_array

    def _check_test_data(self, X):
        return validate_data(self, X, reset=False, dtype=[np.float64, np.float32], order="C")

    # -- fitting ----------------------------------------------------------------------------

    def _init_centroids(self, X, x_squared_norms, random_state):
        """Initial centres for one run, on centred validated data."""
        if self._init_kind == "k-means++":
            return _kmeans_plusplus(X, self.n_clusters, x_squared_norms, random_state)[0]
        seeds = random_state.choice(X.shape[0], size=self.n_clusters, replace=False)
        return X[seeds]

    def fit(self, X, y=None):
        """Compute k-means clustering.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples; float32 stays float32, anything else becomes float64.
        y : Ignored
            Present for API consistency.

        Returns
        -------
        self : KMeans
            The fitted estimator.
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32], order="C")
        init_is_array = self._check_params_vs_input(X)
        random_state = check_random_state(self.random_state)

        if init_is_array:
            init = check_array(self.init, dtype=X.dtype, copy=True, order="C")
            if init.shape != (self.n_clusters, X.shape[1]):
                raise ValueError(
                    f"The shape of the initial centers {init.shape} does not match "
                    f"(n_clusters, n_features) = ({self.n_clusters}, {X.shape[1]})."
                )

        # Centring the data makes ||x||^2 - 2 x.c + ||c||^2 cancel less; it creates the copy
        # that fit works on, so the caller's X is never modified.
        x_mean = X.mean(axis=0)  # (F,)
        X = X - x_mean  # (N, F)
        total_sq = _squared_norm(X)
        tol = _tolerance(X, self.tol, total_sq)
        x_squared_norms = (
            np.einsum("nf,nf->n", X, X, dtype=np.float64)
            if self._init_kind == "k-means++"
            else None
        )

        best = None
        for _ in range(self._n_init):
            if init_is_array:
                centers_init = init - x_mean
            else:
                centers_init = self._init_centroids(X, x_squared_norms, random_state)
            if self.verbose:
                print("Initialization complete")
            run = _kmeans_single_lloyd(X, centers_init, max_iter=self.max_iter,
                                       verbose=self.verbose, tol=tol, x_mean=x_mean,
                                       total_sq=total_sq)
            if best is None or run[1] < best[1]:
                best = run
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

    def fit_predict(self, X, y=None):
        """Fit and return the cluster of each training sample.

        Returns
        -------
        labels : ndarray of shape (n_samples,), int32
        """
        return self.fit(X).labels_

    # -- using a fitted model ---------------------------------------------------------------

    def _centers_like(self, X):
        return self.cluster_centers_.astype(X.dtype, copy=False)

    def predict(self, X):
        """The closest centre of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,), int32
        """
        check_is_fitted(self)
        X = self._check_test_data(X)
        labels = np.empty(X.shape[0], dtype=np.int32)
        _assign(X, self._centers_like(X), labels)
        return labels

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
        X = self._check_test_data(X)
        x_squared_norms = np.einsum("nf,nf->n", X, X, dtype=np.float64)
        sq = _squared_distances(X, self.cluster_centers_, x_squared_norms)
        return np.sqrt(sq).astype(X.dtype, copy=False)

    def score(self, X, y=None):
        """Opposite of the inertia of ``X`` with respect to the fitted centres.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
            ``-sum_i min_j ||x_i - c_j||^2`` (higher is better).
        """
        check_is_fitted(self)
        X = self._check_test_data(X)
        centers = self._centers_like(X)
        labels = np.empty(X.shape[0], dtype=np.int32)
        _assign(X, centers, labels)
        return -_inertia(X, centers, labels)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
