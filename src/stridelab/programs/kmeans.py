"""k-means (Lloyd's algorithm) and k-means++ in NumPy, written like a scikit-learn estimator.

TU Wien, problem 4.3: 4.3.1 asks for an own implementation of kMeans "consistent with the
sklearn API", 4.3.4 for the kMeans++ initialisation. The algorithm, as the sheet states it:

1. Initialisation: pick k initial means from the data, uniformly at random ("random"), or by
   k-means++: the first uniformly, each further one with probability D(x)^2 / sum D^2, where
   D(x) is the distance from x to the closest mean chosen so far.
2. Assignment: each sample goes to the cluster of its closest mean.
3. Update: each mean becomes the mean of the samples assigned to it.

Steps 2 and 3 repeat until no assignment changes (or the means move less than ``tol``, or
``max_iter`` is reached).

Use it as a class::

    from kmeans import KMeans
    km = KMeans(n_clusters=3, random_state=0).fit(X)    # X: array of shape (N, F)
    km.labels_, km.cluster_centers_, km.inertia_, km.n_iter_
    km.history_[t]["centers"], km.history_[t]["labels"]  # what iteration t + 1 did

or as a program (``python kmeans.py --help``)::

    python kmeans.py blobs.csv --k 3 --seed 0

It needs NumPy and the Python standard library, nothing else.
"""

from __future__ import annotations

import argparse
import csv
import numbers
import os
import sys

import numpy as np

__all__ = ["KMeans", "kmeans_plusplus"]


###############################################################################
# Small helpers


def check_random_state(seed) -> np.random.RandomState:
    """A NumPy RandomState from None (fresh entropy), an int seed, or a RandomState."""
    if seed is None:
        return np.random.RandomState()
    if isinstance(seed, np.random.RandomState):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.RandomState(seed)
    raise ValueError(f"random_state must be None, an int or a RandomState; got {seed!r}")


def as_data(X) -> np.ndarray:
    """X as a 2-D float64 array of finite numbers, shape (n_samples, n_features)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must be a 2-D array with at least one sample and one feature; "
                         f"got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinity")
    return X


def squared_distances(X: np.ndarray, centers: np.ndarray, x_sq=None) -> np.ndarray:
    """Squared Euclidean distance of each sample to each centre, shape (N, K).

    ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2: one matrix product instead of an (N, K, F) array
    of differences. ``x_sq`` are the ||x||^2, when the caller has them already (they do not
    change between iterations). Rounding can make a tiny distance come out slightly negative:
    clip at 0.
    """
    if x_sq is None:
        x_sq = (X ** 2).sum(axis=1)
    d = x_sq[:, None] - 2 * X @ centers.T + (centers ** 2).sum(axis=1)[None, :]
    return np.maximum(d, 0.0)


def draw_index(weights: np.ndarray, rng: np.random.RandomState) -> int:
    """One index i drawn with probability weights[i] / sum(weights).

    The weights are laid end to end on [0, total); a uniform draw lands in one of them. A
    weight of 0 is an empty interval and can never be drawn.
    """
    cumulative = np.cumsum(weights)
    u = rng.uniform() * cumulative[-1]
    return int(min(np.searchsorted(cumulative, u, side="right"), len(weights) - 1))


def same_partition(labels_a: np.ndarray, labels_b: np.ndarray) -> bool:
    """Whether two labellings group the samples alike, whatever the cluster numbers: true
    when each cluster number of ``a`` always meets the same number of ``b``, and back."""
    pairs = set(zip(labels_a.tolist(), labels_b.tolist()))
    return len(pairs) == len(set(labels_a.tolist())) == len(set(labels_b.tolist()))


###############################################################################
# Initialisation


def kmeans_plusplus(X, n_clusters: int, random_state=None) -> tuple[np.ndarray, np.ndarray]:
    """k-means++ seeding (Arthur and Vassilvitskii, 2007): ``n_clusters`` samples of X.

    The first mean is a sample drawn uniformly; each further mean is the sample x' drawn
    with probability D(x')^2 / sum_x D(x)^2, D(x) the distance from x to the closest mean
    chosen so far. Far-away samples are likely picks, so the means start spread out.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_clusters : int
    random_state : None, int or RandomState

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
    indices : ndarray of shape (n_clusters,)
        The rows of X the centres are: ``centers == X[indices]``.
    """
    X = as_data(X)
    if not 1 <= n_clusters <= len(X):
        raise ValueError(f"n_clusters must be between 1 and n_samples={len(X)}; "
                         f"got {n_clusters}")
    rng = check_random_state(random_state)
    x_sq = (X ** 2).sum(axis=1)  # (N,) ||x||^2, computed once
    indices = [draw_index(np.ones(len(X)), rng)]  # step 1: uniformly at random
    closest_sq = squared_distances(X, X[indices], x_sq)[:, 0]  # (N,) D(x)^2
    for _ in range(1, n_clusters):
        indices.append(draw_index(closest_sq, rng))  # step 2: probability ~ D(x)^2
        new_sq = squared_distances(X, X[indices[-1:]], x_sq)[:, 0]  # to the newest mean
        closest_sq = np.minimum(closest_sq, new_sq)
    indices = np.array(indices)
    return X[indices].copy(), indices


###############################################################################
# The estimator


class KMeans:
    """k-means clustering by Lloyd's algorithm.

    Parameters
    ----------
    n_clusters : int, default=8
        k, the number of clusters.
    init : "k-means++", "random" or array of shape (n_clusters, n_features)
        How to choose the initial means: k-means++ seeding, k distinct samples drawn
        uniformly, or the given means (then only one run is made).
    n_init : int or "auto", default="auto"
        Runs from different initial means; the run of lowest inertia is kept. "auto": 10 for
        "random", 1 otherwise.
    max_iter : int, default=300
        The most assignment/update rounds of one run.
    tol : float, default=1e-4
        Stop once the squared distance the means move, summed over the means, is at most
        ``tol`` times the mean variance of the features (0: only when no label changes).
    random_state : None, int or RandomState, default=None
        Seeds the initialisation; an int makes the result reproducible.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        The means found.
    labels_ : ndarray of shape (n_samples,)
        The cluster of each training sample.
    inertia_ : float
        Sum of squared distances of the samples to their mean.
    n_iter_ : int
        Assignment rounds the kept run made.
    history_ : list of dict
        One dict per round of the kept run: "centers" (the means the samples were assigned
        to, shape (n_clusters, n_features)), "labels" (that assignment, shape (n_samples,)),
        "inertia" (its sum of squared distances) and "counts" (samples per cluster).
    n_features_in_ : int
        Number of features seen by ``fit``.
    """

    def __init__(self, n_clusters=8, *, init="k-means++", n_init="auto", max_iter=300,
                 tol=1e-4, random_state=None):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def get_params(self, deep=True) -> dict:
        return {name: getattr(self, name) for name in
                ("n_clusters", "init", "n_init", "max_iter", "tol", "random_state")}

    def set_params(self, **params) -> KMeans:
        for name, value in params.items():
            if name not in self.get_params():
                raise ValueError(f"KMeans has no parameter {name!r}")
            setattr(self, name, value)
        return self

    # -- fitting ---------------------------------------------------------------------------

    def _check_params(self, X) -> int:
        """Validate the parameters against X; return the number of runs."""
        k = self.n_clusters
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise ValueError(f"n_clusters must be an int >= 1; got {k!r}")
        if k > len(X):
            raise ValueError(f"n_samples={len(X)} should be >= n_clusters={k}")
        if not isinstance(self.max_iter, (int, np.integer)) or self.max_iter < 1:
            raise ValueError(f"max_iter must be an int >= 1; got {self.max_iter!r}")
        if not isinstance(self.tol, numbers.Real) or not self.tol >= 0:
            raise ValueError(f"tol must be a number >= 0; got {self.tol!r}")
        if isinstance(self.init, str):
            if self.init not in ("k-means++", "random"):
                raise ValueError(f"init must be 'k-means++', 'random' or an array; "
                                 f"got {self.init!r}")
        else:
            init = np.asarray(self.init, dtype=np.float64)
            if init.ndim != 2 or init.shape[0] != k:
                raise ValueError(f"The shape of the initial centers {init.shape} does not "
                                 f"match the number of clusters {k}")
            if init.shape[1] != X.shape[1]:
                raise ValueError(f"The shape of the initial centers {init.shape} does not "
                                 f"match the number of features of the data {X.shape[1]}")
            if not np.all(np.isfinite(init)):
                raise ValueError("the initial centers contain NaN or infinity")
            return 1  # given means: one run
        if self.n_init == "auto":
            return 10 if self.init == "random" else 1
        if not isinstance(self.n_init, (int, np.integer)) or self.n_init < 1:
            raise ValueError(f"n_init must be 'auto' or an int >= 1; got {self.n_init!r}")
        return int(self.n_init)

    def _initial_centers(self, X, x_mean, rng) -> np.ndarray:
        """Initial means for one run, in the centred coordinates of X (X - x_mean)."""
        if isinstance(self.init, str) and self.init == "k-means++":
            return kmeans_plusplus(X, self.n_clusters, rng)[0]
        if isinstance(self.init, str):  # "random": k distinct samples, uniformly
            return X[rng.choice(len(X), size=self.n_clusters, replace=False)].copy()
        return np.array(self.init, dtype=np.float64) - x_mean

    def fit(self, X, y=None) -> KMeans:
        """Cluster X: run Lloyd's algorithm ``n_init`` times and keep the best run.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored (there for the scikit-learn API)

        Returns
        -------
        self
        """
        X = as_data(X)
        n_runs = self._check_params(X)
        rng = check_random_state(self.random_state)
        # Work on centred data: ||x||^2 - 2 x.c + ||c||^2 loses fewer digits near the origin.
        x_mean = X.mean(axis=0)  # (F,)
        X = X - x_mean
        # tol is relative to the data's spread: the mean variance of the features
        tol = self.tol * (X ** 2).sum() / X.size

        best = None
        for _ in range(n_runs):
            centers = self._initial_centers(X, x_mean, rng)  # (K, F)
            run = _lloyd(X, centers, self.max_iter, tol)
            # A lower inertia counts only for another partition: the same clusters found
            # again (their numbers permuted) differ in the last digits of the inertia alone.
            if best is None or (run["inertia"] < best["inertia"]
                                and not same_partition(run["labels"], best["labels"])):
                best = run

        self.cluster_centers_ = best["centers"] + x_mean
        self.labels_ = best["labels"]
        self.inertia_ = best["inertia"]
        self.n_iter_ = best["n_iter"]
        self.history_ = [dict(step, centers=step["centers"] + x_mean)
                         for step in best["history"]]
        self.n_features_in_ = X.shape[1]
        return self

    def fit_predict(self, X, y=None) -> np.ndarray:
        """Fit, then return ``labels_``."""
        return self.fit(X).labels_

    # -- using the fitted means ------------------------------------------------------------

    def _check_fitted(self, X) -> np.ndarray:
        if not hasattr(self, "cluster_centers_"):
            raise RuntimeError("This KMeans is not fitted yet: call fit(X) first")
        X = as_data(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but KMeans was fitted on "
                             f"{self.n_features_in_}")
        return X

    def predict(self, X) -> np.ndarray:
        """The cluster of the closest mean for each sample, shape (n_samples,)."""
        X = self._check_fitted(X)
        return squared_distances(X, self.cluster_centers_).argmin(axis=1).astype(np.int32)

    def transform(self, X) -> np.ndarray:
        """Distance of each sample to each mean, shape (n_samples, n_clusters)."""
        X = self._check_fitted(X)
        return np.sqrt(squared_distances(X, self.cluster_centers_))

    def score(self, X, y=None) -> float:
        """Minus the inertia of X: -sum_i min_j ||x_i - m_j||^2 (higher is better)."""
        X = self._check_fitted(X)
        return -float(squared_distances(X, self.cluster_centers_).min(axis=1).sum())


###############################################################################
# Lloyd's algorithm


def _lloyd(X: np.ndarray, centers: np.ndarray, max_iter: int, tol: float) -> dict:
    """One run of Lloyd's algorithm from ``centers``; X and centers centred alike.

    Returns a dict with "centers", "labels", "inertia", "n_iter" and "history".
    """
    n_clusters = len(centers)
    x_sq = (X ** 2).sum(axis=1)  # (N,) ||x||^2, the same in every iteration
    labels_old = np.full(len(X), -1)
    history = []
    converged = False
    for t in range(max_iter):  # noqa: B007  (t counts the iterations after the loop)
        # Assignment: each sample to its closest mean (ties: the lower cluster index).
        distances = squared_distances(X, centers, x_sq)  # (N, K)
        labels = distances.argmin(axis=1)  # (N,)
        history.append({
            "centers": centers.copy(),
            "labels": labels.astype(np.int32),
            "inertia": float(distances[np.arange(len(X)), labels].sum()),
            "counts": np.bincount(labels, minlength=n_clusters),
        })
        if np.array_equal(labels, labels_old):
            converged = True  # no sample changed cluster: the means are final
            break

        # A cluster that won no sample takes the sample farthest from its own mean (so no
        # mean is lost); with several empty clusters, the farthest samples in turn.
        empty = np.flatnonzero(np.bincount(labels, minlength=n_clusters) == 0)
        if len(empty):
            residual = ((X - centers[labels]) ** 2).sum(axis=1)  # (N,)
            if residual.max() > 0:  # else every sample sits on its mean: nothing to move
                farthest = np.argsort(-residual, kind="stable")[: len(empty)]
                labels[farthest] = empty

        # Update: each mean to the mean of its samples (a mean without samples stays put).
        new_centers = centers.copy()
        for j in range(n_clusters):
            members = labels == j
            if members.any():
                new_centers[j] = X[members].mean(axis=0)
        shift = ((new_centers - centers) ** 2).sum()
        centers, labels_old = new_centers, labels
        if shift <= tol:
            break

    if not converged:
        # the labels must belong to the final means
        labels = squared_distances(X, centers, x_sq).argmin(axis=1)
    inertia = float(((X - centers[labels]) ** 2).sum())
    return {"centers": centers, "labels": labels.astype(np.int32), "inertia": inertia,
            "n_iter": t + 1, "history": history}


###############################################################################
# The program: python kmeans.py points.csv --k 3


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def read_points(path: str) -> np.ndarray:
    """The points of a CSV file, shape (N, F).

    Every column is a coordinate, except a column headed "label", "y" or "class" (the true
    group of a point, which k-means does not use). A first line that is not all numbers is
    the header. Raises ValueError naming the file and line of what is wrong.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [(n, row) for n, row in enumerate(csv.reader(f), start=1)
                    if any(field.strip() for field in row)]
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"{path}: cannot read it as CSV text ({e})") from None
    if not rows:
        raise ValueError(f"{path}: no data")

    def numbers(row):
        try:
            return [float(field) for field in row]
        except ValueError:
            return None

    keep = list(range(len(rows[0][1])))
    if numbers(rows[0][1]) is None:  # a header
        header = [h.strip().lower() for h in rows[0][1]]
        keep = [i for i, h in enumerate(header) if h not in ("label", "y", "class")]
        rows = rows[1:]
    if not rows:
        raise ValueError(f"{path}: a header, but no points")
    width = len(rows[0][1])
    points = []
    for line, row in rows:
        values = numbers(row)
        if len(row) != width:
            raise ValueError(f"{path}: line {line} has {len(row)} fields, not {width}")
        if values is None or not all(np.isfinite(values)):
            raise ValueError(f"{path}: line {line} is not all finite numbers: {','.join(row)}")
        points.append([values[i] for i in keep])
    if not keep:
        raise ValueError(f"{path}: no coordinate columns")
    return np.array(points)


def write_labels(path: str, labels: np.ndarray) -> None:
    """Write one label per line, with the header "label"; all or nothing (a temporary file
    renamed into place)."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("label\n" + "".join(f"{int(v)}\n" for v in labels))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv=None) -> int:
    parser = _Parser(
        prog="kmeans.py",
        description="Cluster the points of a CSV file with k-means (Lloyd's algorithm), seeded\n"
                    "by k-means++ or by random samples, and print the means, the cluster sizes\n"
                    "and the inertia (the sum of squared distances of the points to their mean).",
        epilog="the CSV file: one point per line, one column per coordinate; a first line\n"
               "of column names is allowed, and a column named label, y or class is left out.\n"
               "\n"
               "examples:\n"
               "  python kmeans.py blobs.csv --k 3 --seed 0\n"
               "  python kmeans.py blobs.csv --k 4 --init random --n-init 10 --steps\n"
               "  python kmeans.py blobs.csv --k 3 --labels labels.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("points", help="CSV file of points")
    parser.add_argument("--k", type=int, default=3, help="number of clusters (default 3)")
    parser.add_argument("--init", choices=("k-means++", "random"), default="k-means++",
                        help="how to pick the initial means (default k-means++)")
    parser.add_argument("--n-init", type=int, default=None,
                        help="runs from different initial means, the best is kept "
                             "(default: 1 for k-means++, 10 for random)")
    parser.add_argument("--max-iter", type=int, default=300,
                        help="most iterations of one run (default 300)")
    parser.add_argument("--tol", type=float, default=1e-4,
                        help="relative tolerance on how far the means move (default 1e-4; "
                             "0 runs until no label changes)")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed, for a reproducible result")
    parser.add_argument("--steps", action="store_true",
                        help="also print the means and inertia of every iteration")
    parser.add_argument("--labels", metavar="FILE",
                        help="write the cluster of each point to FILE (CSV)")
    args = parser.parse_args(argv)

    try:
        X = read_points(args.points)
        km = KMeans(n_clusters=args.k, init=args.init,
                    n_init="auto" if args.n_init is None else args.n_init,
                    max_iter=args.max_iter, tol=args.tol, random_state=args.seed)
        km._check_params(X)  # refuse bad options before any work
    except ValueError as e:
        parser.error(str(e))
    km.fit(X)

    n, f = X.shape
    print(f"k-means with k={args.k} on {n} points of {f} features "
          f"(init {args.init}, seed {args.seed})")
    print(f"iterations: {km.n_iter_}   inertia: {km.inertia_:.6g}")
    sizes = np.bincount(km.labels_, minlength=args.k)
    for j, (center, size) in enumerate(zip(km.cluster_centers_, sizes)):
        coords = ", ".join(f"{v:.4f}" for v in center)
        print(f"cluster {j}: {size} points, mean ({coords})")
    if args.steps:
        for t, step in enumerate(km.history_, start=1):
            means = "; ".join(", ".join(f"{v:.3f}" for v in c) for c in step["centers"])
            print(f"iteration {t}: inertia {step['inertia']:.6g}, means {means}")
    if args.labels:
        write_labels(args.labels, km.labels_)
        print(f"labels written to {args.labels}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
