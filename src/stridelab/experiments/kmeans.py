"""k-means made visible: clusters on blob data, Lloyd's steps one by one, and MNIST clustered.

Three registered studies built on :class:`stridelab.cluster.KMeans` (TU Wien, problem 4.3):

* ``kmeans-blobs`` (4.3.2): one fit per k on the blob data; then one k over many seeds: do
  the solutions differ (distinct partitions and final inertias, adjusted Rand index)?
* ``kmeans-steps`` (4.3.3, 4.3.4): k means started in a region of the plane (x0 in
  [``init_x0_min``, ``init_x0_max``]), one scatter per iteration until no assignment changes;
  the same from k-means++; the iterations and final inertia of each seeding over many seeds.
* ``kmeans-mnist`` (4.3.5): k = 10 with k-means++ on the first training digits: cluster
  sizes, the centroids as images, purity and adjusted Rand index, and k-means++ against
  random initialisation over several seeds.

Each study is ``measure(config, ctx) -> metrics`` (fits and figures) and a pure
``narrate(metrics, config)`` that writes the notes from those numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from stridelab.cluster import KMeans, kmeans_plusplus
from stridelab.errors import ConfigError
from stridelab.experiments.narrate import Lesson, Notes, claim, num
from stridelab.experiments.plots import take, to_float
from stridelab.experiments.registry import bounded, register

CLUSTER_COLORS = plt.get_cmap("tab10").colors
FIG_WIDTH = 9.0  # inches: a figure this wide keeps 10 pt text legible at report width


###############################################################################
# Data and shared helpers


def load_points(data: str) -> tuple[np.ndarray, np.ndarray | None, str]:
    """The 2-D points named by ``data``: X (N, 2), true blob labels or None, a description.

    The description holds no numbers (the notes print counts from the metrics instead).
    """
    from stridelab.data import blobs

    if data == "three-blobs":
        X, y = blobs.three_blobs()
        return X, y, "mlxtend's three blobs"
    if data == "make-blobs":
        X, y = blobs.make_blob_data()
        return X, y, "scikit-learn's make_blobs points"
    if data.lower().endswith(".csv"):
        X, y = blobs.load_points_csv(data)
        return X, y, "the points of the CSV file given as data"
    raise ConfigError(f"--set data={data}: expected three-blobs, make-blobs or the path of a "
                      "CSV file with the header x0,x1[,label]")


def scatter_clusters(ax, X, labels, centers, *, title: str, next_centers=None, marks=None,
                     legend: bool = True):
    """Points coloured by cluster, centres as large crosses, optional arrows to the next centres.

    The legend (cluster sizes) sits below the axes, never on the points.
    """
    n_clusters = len(centers)
    counts = np.bincount(labels, minlength=n_clusters) if labels is not None else None
    for j in range(n_clusters):
        color = CLUSTER_COLORS[j % 10]
        if labels is not None:
            members = labels == j
            ax.scatter(X[members, 0], X[members, 1], s=12, color=color, alpha=0.6,
                       label=f"cluster {j} ({counts[j]})")
        ax.scatter(*centers[j], s=220, marker="X", color=color, edgecolor="black",
                   linewidth=1.5, zorder=5)
        if next_centers is not None and not np.allclose(centers[j], next_centers[j]):
            ax.annotate("", xy=next_centers[j], xytext=centers[j], zorder=6,
                        arrowprops={"arrowstyle": "->", "color": "black", "lw": 1.5})
        if marks is not None:
            ax.annotate(marks[j], centers[j], textcoords="offset points", xytext=(9, 7),
                        fontsize=10, fontweight="bold", zorder=7)
    if labels is None:
        ax.scatter(X[:, 0], X[:, 1], s=12, color="0.5", alpha=0.6, label="samples")
    ax.set_title(title)
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.grid(alpha=0.2)
    if legend:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=min(n_clusters, 3),
                  fontsize=9, frameon=False)


def _same_partition_groups(label_sets) -> list[int]:
    """Group index of each labelling: two labellings share a group when their ARI is 1."""
    groups: list[int] = []
    representatives: list[np.ndarray] = []
    for labels in label_sets:
        for g, rep in enumerate(representatives):
            if adjusted_rand_score(rep, labels) == 1.0:
                groups.append(g)
                break
        else:
            representatives.append(labels)
            groups.append(len(representatives) - 1)
    return groups


def n_distinct(values, rtol: float = 1e-6) -> int:
    """How many distinct numbers ``values`` holds, two being the same within ``rtol``."""
    distinct: list[float] = []
    for v in sorted(float(x) for x in values):
        if not distinct or not np.isclose(v, distinct[-1], rtol=rtol, atol=0.0):
            distinct.append(v)
    return len(distinct)


def history_record(km: KMeans, X: np.ndarray) -> dict:
    """What Lloyd's iterations did, from ``km.history_``: inertia per iteration, samples that
    changed cluster between iterations, empty clusters re-seeded, and how far the means moved.

    ``moved[t]`` counts the samples whose cluster differs between iteration t + 1 and t + 2
    (iterations count from 1); ``n_reseeded`` counts clusters that won no sample in some
    iteration and were re-seeded before the next.
    """
    history = km.history_
    inertia = [float(h["inertia"]) for h in history]
    moved = [int(np.sum(history[t]["labels"] != history[t - 1]["labels"]))
             for t in range(1, len(history))] if "labels" in history[0] else []
    travel = np.linalg.norm(km.cluster_centers_ - history[0]["centers"], axis=1)  # (K,)
    record = {
        "inertia": inertia,
        "first_inertia": inertia[0],
        "final_inertia": float(km.inertia_),
        "n_iter": int(km.n_iter_),
        "moved": moved,
        "n_reseeded": int(sum(int(np.sum(h["counts"] == 0)) for h in history)),
        "inertia_never_rose": bool(np.all(np.diff(inertia) <= 1e-9 * max(inertia[0], 1.0))),
        "mean_travel": float(travel.mean()),
        "n_samples": int(len(X)),
    }
    if moved:
        record["max_moved"] = int(max(moved))
        record["max_moved_iteration"] = int(np.argmax(moved)) + 2  # between it. t - 1 and t
    return record


###############################################################################
# kmeans-blobs


@dataclass
class BlobsConfig:
    data: str = "three-blobs"  # "three-blobs" (mlxtend), "make-blobs" or a CSV path (x0,x1[,label])
    ks: tuple[int, ...] = bounded((2, 3, 4), ge=1)  # numbers of clusters, one scatter each
    n_init: int = 10  # k-means++ starts per k in the scatters and the elbow (the best is kept)
    stability_k: int = bounded(3, ge=1)  # the k fitted over many seeds
    n_seeds: int = 10  # runs with different seeds for the stability study
    stability_init: Literal["random", "k-means++"] = "random"  # init of those runs
    max_k_elbow: int = bounded(8, ge=1)  # inertia against k for k = 1..max_k_elbow


def _clusters_by_k_figure(X, fits: dict, source: str):
    """One scatter per k, two per row."""
    ncols = min(2, len(fits))
    nrows = int(np.ceil(len(fits) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(FIG_WIDTH, 4.9 * nrows), squeeze=False)
    for ax in axes.ravel()[len(fits):]:
        ax.axis("off")
    for ax, (k, km) in zip(axes.ravel(), fits.items()):
        scatter_clusters(ax, X, km.labels_, km.cluster_centers_,
                         title=f"k = {k}: inertia {km.inertia_:.1f}, {km.n_iter_} iterations")
    fig.suptitle(f"k-means on {source}: points coloured by cluster, centres as crosses")
    fig.tight_layout()
    return fig


def _stability_figure(X, runs, seeds, groups, ari, config: BlobsConfig):
    """Final inertia per seed (coloured by distinct solution), agreement between runs, and the
    centres of each distinct solution."""
    inertias = np.array([r.inertia_ for r in runs])
    fig = plt.figure(figsize=(FIG_WIDTH, 8.8))
    grid = fig.add_gridspec(2, 2, height_ratios=(1, 1.25))
    ax_bar = fig.add_subplot(grid[0, :])
    ax_ari = fig.add_subplot(grid[1, 0])
    ax_ctr = fig.add_subplot(grid[1, 1])
    bars = ax_bar.bar(seeds, inertias, color=[CLUSTER_COLORS[g % 10] for g in groups])
    for bar, r in zip(bars, runs):
        ax_bar.annotate(f"{r.n_iter_} it", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=9)
    ax_bar.set_ylim(0, inertias.max() * 1.15)
    ax_bar.legend(handles=[Patch(color=CLUSTER_COLORS[g % 10], label=f"solution {g + 1}")
                           for g in np.unique(groups)],
                  loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    ax_bar.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax_bar.set_xlabel("seed (label: Lloyd iterations)")
    ax_bar.set_ylabel("final inertia")
    ax_bar.set_title(f"k = {config.stability_k}, init = {config.stability_init}: "
                     "final inertia per seed")
    off_diag = ari[~np.eye(len(runs), dtype=bool)]
    im = ax_ari.imshow(ari, vmin=min(0.0, off_diag.min(initial=0.0)), vmax=1, cmap="viridis")
    fig.colorbar(im, ax=ax_ari, fraction=0.046, pad=0.04, label="adjusted Rand index")
    step = max(1, int(np.ceil(len(runs) / 10)))
    ax_ari.set_xticks(range(0, len(runs), step), seeds[::step])
    ax_ari.set_yticks(range(0, len(runs), step), seeds[::step])
    ax_ari.set_xlabel("seed")
    ax_ari.set_ylabel("seed")
    ax_ari.set_title("agreement between runs\n(1 = same partition)")
    ax_ctr.scatter(X[:, 0], X[:, 1], s=8, color="0.75")
    for g in np.unique(groups):
        first = runs[int(np.flatnonzero(groups == g)[0])]
        ax_ctr.scatter(*first.cluster_centers_.T, s=170, marker="X",
                       color=CLUSTER_COLORS[g % 10], edgecolor="black", linewidth=1.3,
                       label=f"solution {g + 1}: {np.sum(groups == g)} seeds, "
                             f"inertia {first.inertia_:.1f}")
    ax_ctr.set_xlabel("x0")
    ax_ctr.set_ylabel("x1")
    ax_ctr.set_title("centres of each distinct solution")
    ax_ctr.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=9, frameon=False)
    fig.tight_layout()
    return fig


def measure_blobs(config: BlobsConfig, ctx) -> dict:
    """Scatters per k, the elbow, and the same k over ``n_seeds`` seeds."""
    X, y_true, source = load_points(config.data)
    ctx.log(f"data: {source}, {len(X)} points")

    # 1. one fit per k (k-means++, the best of n_init starts per k)
    fits = {k: KMeans(n_clusters=k, n_init=config.n_init, random_state=ctx.seed).fit(X)
            for k in config.ks}
    ctx.savefig(_clusters_by_k_figure(X, fits, source), "clusters_by_k",
                caption="One k-means fit per k; crosses mark the centres")

    ks_elbow = list(range(1, config.max_k_elbow + 1))
    elbow = [KMeans(n_clusters=k, n_init=config.n_init, random_state=ctx.seed).fit(X).inertia_
             for k in ks_elbow]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.plot(ks_elbow, elbow, "o-")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel("number of clusters k")
    ax.set_ylabel("inertia (sum of squared distances)")
    ax.set_title("inertia against k")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    ctx.savefig(fig, "elbow", caption=f"Inertia of the best of {config.n_init} k-means++ starts "
                                      "for each k")

    # 2. stability: the same k, different seeds
    k = config.stability_k
    seeds = np.arange(ctx.seed, ctx.seed + config.n_seeds)
    runs = [KMeans(n_clusters=k, init=config.stability_init, n_init=1,
                   random_state=int(seed)).fit(X) for seed in seeds]
    inertias = np.array([r.inertia_ for r in runs])
    ari = np.array([[adjusted_rand_score(a.labels_, b.labels_) for b in runs] for a in runs])
    groups = np.array(_same_partition_groups([r.labels_ for r in runs]))
    at_best = np.isclose(inertias, inertias.min(), rtol=1e-9)
    off_diag = ari[~np.eye(len(runs), dtype=bool)]
    never_rose = all(history_record(r, X)["inertia_never_rose"] for r in runs)
    ctx.savefig(_stability_figure(X, runs, seeds, groups, ari, config), "stability",
                caption=f"k = {k} over {config.n_seeds} seeds: final inertia, agreement "
                        "between runs, and the distinct solutions")

    metrics = {
        "data": source,
        "n_samples": int(len(X)),
        "inertia_by_k": {str(kk): float(km.inertia_) for kk, km in fits.items()},
        "n_iter_by_k": {str(kk): int(km.n_iter_) for kk, km in fits.items()},
        "elbow_inertia": dict(zip(map(str, ks_elbow), map(float, elbow))),
        "stability_k": k,
        "stability_init": config.stability_init,
        "inertia_by_seed": inertias.tolist(),
        "n_iter_by_seed": [int(r.n_iter_) for r in runs],
        "n_distinct_solutions": int(groups.max() + 1),
        "n_distinct_inertias": n_distinct(inertias),
        "n_at_lowest_inertia": int(at_best.sum()),
        "fraction_at_lowest_inertia": float(at_best.mean()),
        "lowest_inertia": float(inertias.min()),
        "worst_inertia": float(inertias.max()),
        "mean_pairwise_ari": float(off_diag.mean()) if len(off_diag) else 1.0,
        "min_pairwise_ari": float(off_diag.min(initial=1.0)),
        "inertia_never_rose": bool(never_rose),
    }
    if y_true is not None and k in fits:
        metrics["ari_vs_true_blobs"] = float(adjusted_rand_score(y_true, fits[k].labels_))
    return metrics


def narrate_blobs(metrics: dict, config: BlobsConfig) -> Notes:
    """Inertia against k, and whether one k reached the same solution from every seed."""
    m = metrics
    notes = Notes()
    by_k = [float(m["inertia_by_k"][str(k)]) for k in config.ks]
    per_k = ", ".join(f"k = {k}: {num(m, f'inertia_by_k.{k}', '.1f')}" for k in config.ks)
    falls = all(b < a for a, b in zip(by_k, by_k[1:]))
    notes.add(
        f"**k-means on {m['data']}** ({num(m, 'n_samples')} points), the best of "
        f"{num(config, 'n_init')} k-means++ starts per k: inertia {per_k}.",
        claim(falls,
              "It falls with every added cluster, so the inertia alone cannot choose k; the "
              "elbow figure shows where adding a cluster stops paying off.",
              "It does not fall with every added cluster here: for some k even the best start "
              "stopped in a poorer local minimum than a smaller k reached."))
    k_text = f"k = {num(m, 'stability_k')} and init = {m['stability_init']}"
    same = m["n_distinct_solutions"] == 1
    notes.add(
        f"**Does k-means always reach the same solution?** With {k_text} over "
        f"{num(config, 'n_seeds')} seeds:",
        claim(same,
              f"every run found the same partition (adjusted Rand index 1 between every pair), "
              f"at inertia {num(m, 'lowest_inertia', '.2f')}.",
              f"no. The runs ended in {num(m, 'n_distinct_solutions')} different partitions "
              f"with {num(m, 'n_distinct_inertias')} distinct final inertias: "
              f"{num(m, 'n_at_lowest_inertia')} of {num(config, 'n_seeds')} reached the lowest, "
              f"{num(m, 'lowest_inertia', '.2f')}, the worst stopped at "
              f"{num(m, 'worst_inertia', '.2f')}; the mean adjusted Rand index between runs is "
              f"{num(m, 'mean_pairwise_ari', '.3f')} (lowest "
              f"{num(m, 'min_pairwise_ari', '.3f')})."),
        claim(m["inertia_never_rose"],
              "In every run the inertia never rose from one iteration to the next",
              "In some run the inertia rose between two iterations")
        + claim(same,
                "; on these data every start descended to the same minimum.",
                ", so each run stopped in the local minimum its start led to, and which one "
                "depends on the starting means: this is why several starts are run and the "
                "lowest inertia kept."))
    if "ari_vs_true_blobs" in m:
        notes.add(f"Against the true blob labels, the k = {num(m, 'stability_k')} fit of the "
                  f"first figure has adjusted Rand index {num(m, 'ari_vs_true_blobs', '.3f')}.")
    return notes


register("kmeans-blobs", BlobsConfig,
         description="k-means on 2-D blobs: one fit per k, and whether many seeds find the "
                     "same solution",
         quick={}, smoke={"n_seeds": 3, "ks": (2, 3), "max_k_elbow": 3, "n_init": 3},
         needs=None, key_metric="n_distinct_solutions", order=60, narrate=narrate_blobs,
         lessons=(Lesson("For a fixed k, k-means from different random starts does not always "
                         "reach the same solution", "n_distinct_solutions", ">=", quick=2,
                         full=2, label="distinct solutions over the seeds"),))(measure_blobs)


###############################################################################
# kmeans-steps


@dataclass
class StepsConfig:
    data: str = "three-blobs"  # "three-blobs" (mlxtend), "make-blobs" or a CSV path (x0,x1[,label])
    n_clusters: int = bounded(3, ge=1)  # k
    init_x0_min: float = 4.0  # the initial means lie in the region x0 in (min, max] ...
    init_x0_max: float = 6.0  # ... (samples there when it holds k of them, else uniform points)
    n_seeds: int = 200  # seeds for the comparison of initialisations
    max_panels: int = bounded(12, ge=2)  # iterations drawn per run at most (the last always)


def region_means(X: np.ndarray, config: StepsConfig,
                 rng: np.random.RandomState) -> tuple[np.ndarray, bool]:
    """k initial means in the region x0 in (init_x0_min, init_x0_max].

    Returns ``(means, from_samples)``: means of shape (k, 2). When the region holds at least
    k samples, k distinct samples from it are drawn (the sheet's choice of starting means);
    otherwise k points are drawn uniformly with x0 in the region and x1 in the data's range.
    """
    k = config.n_clusters
    inside = np.flatnonzero((X[:, 0] > config.init_x0_min) & (X[:, 0] <= config.init_x0_max))
    if len(inside) >= k:
        return X[rng.choice(inside, k, replace=False)].copy(), True
    x0 = rng.uniform(config.init_x0_min, config.init_x0_max, size=k)
    x1 = rng.uniform(X[:, 1].min(), X[:, 1].max(), size=k)
    return np.column_stack([x0, x1]), False


def _steps_figure(X, km: KMeans, title: str, max_panels: int, marks=None):
    """One scatter per iteration: colours = assignment, crosses = the means it used, arrows to
    the means the update moves them to. Three panels per row, one legend below them all."""
    history = km.history_
    shown = list(range(len(history)))
    if len(shown) > max_panels:
        shown = shown[: max_panels - 1] + [shown[-1]]
    ncols = min(3, len(shown))
    nrows = int(np.ceil(len(shown) / ncols))
    height = 3.3 * nrows + 0.5
    fig, axes = plt.subplots(nrows, ncols, figsize=(FIG_WIDTH, height), squeeze=False,
                             sharex=True, sharey=True)
    for ax in axes.ravel()[len(shown):]:
        ax.axis("off")
    for ax, t in zip(axes.ravel(), shown):
        step = history[t]
        nxt = history[t + 1]["centers"] if t + 1 < len(history) else km.cluster_centers_
        reseeded = np.flatnonzero(step["counts"] == 0)
        extra = f", re-seed {', '.join(map(str, reseeded))}" if len(reseeded) else ""
        changed = "" if t == 0 else \
            f", {int(np.sum(step['labels'] != history[t - 1]['labels']))} moved"
        scatter_clusters(ax, X, step["labels"], step["centers"], next_centers=nxt,
                         marks=marks if t == 0 else None, legend=False,
                         title=f"iteration {t + 1}\ninertia {step['inertia']:.1f}{changed}{extra}")
    handles = [Line2D([], [], ls="", marker="o", color="0.5", label="sample, coloured by its "
                                                                    "nearest mean"),
               Line2D([], [], ls="", marker="X", ms=11, color="white", markeredgecolor="black",
                      label="mean used in the iteration"),
               Line2D([], [], color="black", marker=">", label="where the update moves it")]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.45 / height, 1, 1))
    return fig


def _init_comparison_figure(schemes: dict, names: dict, summary: dict, n_seeds: int,
                            best: float):
    """Histogram of iterations and scatter of final inertias for each initialisation."""
    fig, axes = plt.subplots(1, 2, figsize=(FIG_WIDTH, 4.6))
    its = {key: np.array(runs)[:, 0] for key, runs in schemes.items()}
    ines = {key: np.array(runs)[:, 1] for key, runs in schemes.items()}
    values = np.arange(1, max(int(i.max()) for i in its.values()) + 1)
    width = 0.8 / len(schemes)
    for j, key in enumerate(schemes):
        counts = [(its[key] == v).sum() for v in values]
        axes[0].bar(values + (j - (len(schemes) - 1) / 2) * width, counts, width=width,
                    color=CLUSTER_COLORS[j], label=f"{names[key]} (mean {its[key].mean():.2f})")
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    axes[0].set_xlabel("iterations until no assignment changes")
    axes[0].set_ylabel("number of seeds")
    axes[0].set_title(f"iterations over {n_seeds} seeds")
    jitter = np.random.RandomState(0).uniform(-0.15, 0.15, size=n_seeds)
    for j, key in enumerate(schemes):
        axes[1].scatter(j + jitter, ines[key], s=10, alpha=0.6, color=CLUSTER_COLORS[j],
                        label=f"{names[key]}: {summary[key]['fraction_at_lowest']:.0%} at the "
                              "lowest")
    axes[1].set_xticks(range(len(schemes)), list(schemes))  # short names: region, ...
    axes[1].set_ylabel("final inertia")
    axes[1].set_title(f"final inertia (lowest {best:.1f})")
    for ax in axes:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=9, frameon=False)
    fig.tight_layout()
    return fig


def measure_steps(config: StepsConfig, ctx) -> dict:
    """Lloyd's iterations from means in the region and from k-means++, then both (and random
    samples) over ``n_seeds`` seeds."""
    if config.init_x0_max < config.init_x0_min:
        raise ConfigError(f"--set init_x0_max={config.init_x0_max:g}: must be at least "
                          f"init_x0_min ({config.init_x0_min:g})")
    X, _, source = load_points(config.data)
    k = config.n_clusters
    if k > len(X):
        raise ConfigError(f"--set n_clusters={k}: the data hold only {len(X)} points")
    region = f"x0 in ({config.init_x0_min:g}, {config.init_x0_max:g}]"
    ctx.log(f"data: {source}, {len(X)} points, x0 in [{X[:, 0].min():.2f}, "
            f"{X[:, 0].max():.2f}]")
    rng = np.random.RandomState(ctx.seed)

    # 1. means from the region, Lloyd until no assignment changes (tol = 0)
    init_region, from_samples = region_means(X, config, rng)
    km_region = KMeans(n_clusters=k, init=init_region, tol=0).fit(X)
    ctx.savefig(_steps_figure(
        X, km_region, f"k = {k}, initial means in {region}: {km_region.n_iter_} iterations, "
                      f"final inertia {km_region.inertia_:.1f}", config.max_panels),
        "steps_region_init", caption="Each iteration: points coloured by the mean they are "
                                     "closest to; arrows show where the update moves each mean")

    # 2. the same from k-means++ (one candidate per step, as on the sheet)
    init_pp, idx_pp = kmeans_plusplus(X, k, random_state=ctx.seed)
    km_pp = KMeans(n_clusters=k, init=init_pp, tol=0).fit(X)
    ctx.savefig(_steps_figure(
        X, km_pp, f"k = {k}, k-means++ seeding (#i = i-th centre drawn): {km_pp.n_iter_} "
                  f"iterations, final inertia {km_pp.inertia_:.1f}", config.max_panels,
        marks=[f"#{i + 1}" for i in range(k)]),
        "steps_kmeanspp", caption="The same from k-means++ centres (drawn with probability "
                                  "proportional to the squared distance to the chosen ones)")

    # 3. what the seeding buys, over many seeds
    names = {"region": f"region {region}", "random samples": "random samples",
             "k-means++": "k-means++"}
    schemes: dict[str, list] = {key: [] for key in names}
    for seed in range(ctx.seed, ctx.seed + config.n_seeds):
        seed_rng = np.random.RandomState(seed)
        inits = {
            "region": region_means(X, config, seed_rng)[0],
            "random samples": X[seed_rng.choice(len(X), k, replace=False)],
            "k-means++": kmeans_plusplus(X, k, random_state=seed)[0],
        }
        for key, init in inits.items():
            km = KMeans(n_clusters=k, init=init, tol=0).fit(X)
            schemes[key].append((km.n_iter_, km.inertia_))
    best = min(inertia for runs in schemes.values() for _, inertia in runs)
    summary = {}
    for key, runs in schemes.items():
        its, ine = np.array(runs).T
        summary[key] = {"mean_n_iter": float(its.mean()), "max_n_iter": int(its.max()),
                        "mean_inertia": float(ine.mean()), "worst_inertia": float(ine.max()),
                        "fraction_at_lowest": float(np.mean(np.isclose(ine, best, rtol=1e-6)))}
    ctx.savefig(_init_comparison_figure(schemes, names, summary, config.n_seeds, best),
                "init_comparison",
                caption="Iterations and final inertia of Lloyd's algorithm for three "
                        "initialisations over the same seeds")

    n_in_region = int(np.sum((X[:, 0] > config.init_x0_min) & (X[:, 0] <= config.init_x0_max)))
    return {
        "data": source,
        "n_samples": int(len(X)),
        "n_samples_in_region": n_in_region,
        "init_from_samples": bool(from_samples),
        "data_x0_max": float(X[:, 0].max()),
        "region_init": init_region.tolist(),
        "n_iter_region_init": int(km_region.n_iter_),
        "inertia_region_init": float(km_region.inertia_),
        "region_history": history_record(km_region, X),
        "kmeanspp_indices": idx_pp.tolist(),
        "n_iter_kmeanspp": int(km_pp.n_iter_),
        "inertia_kmeanspp": float(km_pp.inertia_),
        "kmeanspp_history": history_record(km_pp, X),
        "lowest_inertia": float(best),
        "by_init": summary,
        "iterations_saved_by_kmeanspp": float(summary["region"]["mean_n_iter"]
                                              - summary["k-means++"]["mean_n_iter"]),
    }


def _iterations_sentence(m: dict, key: str) -> str:
    """What the iterations of one run did, from its history record ``m[key]``."""
    h = m[key]
    text = (f"The first assignment has inertia {num(m, f'{key}.first_inertia', '.1f')}; after "
            f"{num(m, f'{key}.n_iter')} iterations no assignment changes and the inertia is "
            f"{num(m, f'{key}.final_inertia', '.1f')}")
    if "max_moved" in h:
        text += (f". At most {num(m, f'{key}.max_moved')} of the {num(m, f'{key}.n_samples')} "
                 f"samples changed cluster between two iterations (iteration "
                 f"{num(m, f'{key}.max_moved_iteration')})")
    text += (f"; the means moved {num(m, f'{key}.mean_travel', '.2f')} on average from where "
             "they started, and "
             + claim(h["n_reseeded"] > 0,
                     f"{num(m, f'{key}.n_reseeded')} time(s) a mean won no sample and was "
                     "re-seeded at the sample farthest from its centre.",
                     "no mean was ever left without samples."))
    return text


def narrate_steps(metrics: dict, config: StepsConfig) -> Notes:
    """The region start and the k-means++ start step by step, then what k-means++ buys."""
    m = metrics
    notes = Notes()
    region = f"x0 in ({num(config, 'init_x0_min', 'g')}, {num(config, 'init_x0_max', 'g')}]"
    k = num(config, "n_clusters")
    notes.add(
        f"**Lloyd's steps from means in {region}** (k = {k}, {m['data']}).",
        claim(m["init_from_samples"],
              f"The region holds {num(m, 'n_samples_in_region')} of the "
              f"{num(m, 'n_samples')} samples, and the {k} initial means are samples drawn "
              "from it.",
              f"The region holds {num(m, 'n_samples_in_region')} of the {num(m, 'n_samples')} "
              f"samples, fewer than k (the data's x0 ends at {num(m, 'data_x0_max', '.2f')}), "
              f"so the {k} initial means are points drawn uniformly in it, with x1 in the "
              "data's range."),
        _iterations_sentence(m, "region_history"))
    notes.add("**From k-means++ centres.**", _iterations_sentence(m, "kmeanspp_history"))
    pp, reg, rnd = (m["by_init"][key] for key in ("k-means++", "region", "random samples"))
    saved = m["iterations_saved_by_kmeanspp"]
    notes.add(
        f"**What k-means++ buys**, over {num(config, 'n_seeds')} seeds: on average "
        f"{num(m, 'by_init.k-means++.mean_n_iter', '.2f')} iterations from k-means++, "
        f"{num(m, 'by_init.region.mean_n_iter', '.2f')} from means in the region and "
        f"{num(m, 'by_init.random samples.mean_n_iter', '.2f')} from random samples.",
        claim(saved > 0,
              f"k-means++ saves {num(m, 'iterations_saved_by_kmeanspp', '.2f')} iterations "
              "against the region start.",
              f"k-means++ saves no iterations against the region start here (difference "
              f"{num(m, 'iterations_saved_by_kmeanspp', '.2f')})."),
        f"The lowest final inertia ({num(m, 'lowest_inertia', '.1f')}) is reached by "
        f"{num(m, 'by_init.k-means++.fraction_at_lowest', '.0%')} of k-means++ runs, "
        f"{num(m, 'by_init.region.fraction_at_lowest', '.0%')} of region runs and "
        f"{num(m, 'by_init.random samples.fraction_at_lowest', '.0%')} of random-sample runs;",
        claim(pp["worst_inertia"] <= min(reg["worst_inertia"], rnd["worst_inertia"]),
              f"the worst k-means++ run ({num(m, 'by_init.k-means++.worst_inertia', '.1f')}) "
              "is no worse than the worst of either other start.",
              f"the worst k-means++ run ({num(m, 'by_init.k-means++.worst_inertia', '.1f')}) "
              f"is worse than the worst of another start (region "
              f"{num(m, 'by_init.region.worst_inertia', '.1f')}, random samples "
              f"{num(m, 'by_init.random samples.worst_inertia', '.1f')})."),
        "The seeding costs one pass over the data for each centre after the first, to "
        "compute the distances D(x).")
    return notes


register("kmeans-steps", StepsConfig,
         description="Lloyd's iterations drawn one by one from means in x0 > init_x0_min, and "
                     "from k-means++",
         quick={"n_seeds": 100}, smoke={"n_seeds": 8, "max_panels": 4},
         needs=None, key_metric="iterations_saved_by_kmeanspp", order=61, narrate=narrate_steps,
         lessons=(Lesson("k-means++ converges in fewer Lloyd iterations than means chosen in "
                         "the region", "iterations_saved_by_kmeanspp", ">", quick=0.0,
                         full=0.0, label="iterations saved by k-means++ (mean)"),))(measure_steps)


###############################################################################
# kmeans-mnist


@dataclass
class MnistConfig:
    n_train: int = 10_000  # the first n training images (all of mnist-5k's 4,000 there)
    n_clusters: int = bounded(10, ge=1)  # k
    n_init: int = 1  # k-means++ restarts of the shown fit; the lowest inertia is kept
    max_iter: int = 300  # Lloyd iterations at most
    n_seeds: int = 3  # fits per initialisation for k-means++ against random samples (the
    # first k-means++ one is the shown fit when n_init = 1)


def contingency(labels, y, n_clusters: int, n_classes: int) -> np.ndarray:
    """(n_clusters, n_classes) counts: row = cluster, column = true class."""
    table = np.zeros((n_clusters, n_classes), dtype=np.int64)
    np.add.at(table, (labels, y), 1)
    return table


def purity(table: np.ndarray) -> float:
    """Fraction of samples whose cluster's most common class is their own class."""
    return float(table.max(axis=1).sum() / max(table.sum(), 1))


def _cluster_sizes_figure(table: np.ndarray, classes: list[str], pur: float, ari: float):
    """Stacked cluster sizes by true class (top) and the contingency table (bottom)."""
    n_clusters = table.shape[0]
    fig, axes = plt.subplots(2, 1, figsize=(FIG_WIDTH, 10.5), height_ratios=(1, 1.3))
    bottom = np.zeros(n_clusters)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for c, name in enumerate(classes):
        axes[0].bar(range(n_clusters), table[:, c], bottom=bottom, color=cmap(c % cmap.N),
                    label=name)
        bottom += table[:, c]
    axes[0].set_xticks(range(n_clusters))
    axes[0].set_xlabel("cluster label")
    axes[0].set_ylabel("number of images")
    axes[0].set_title("histogram of cluster labels, split by the true class")
    axes[0].legend(title="true class", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                   fontsize=9, frameon=False)
    im = axes[1].imshow(table, cmap="Blues")
    fig.colorbar(im, ax=axes[1], label="number of images")
    if table.size <= 400:
        for i in range(table.shape[0]):
            for j in range(table.shape[1]):
                axes[1].text(j, i, table[i, j], ha="center", va="center", fontsize=9,
                             color="white" if table[i, j] > table.max() / 2 else "black")
    axes[1].set_xticks(range(len(classes)), classes,
                       rotation=45 if max(map(len, classes)) > 2 else 0)
    axes[1].set_yticks(range(n_clusters))
    axes[1].set_xlabel("true class")
    axes[1].set_ylabel("cluster label")
    axes[1].set_title(f"clusters against classes (purity {pur:.3f}, ARI {ari:.3f})")
    fig.tight_layout()
    return fig


def _centroids_figure(km: KMeans, table: np.ndarray, classes: list[str], shape, title: str):
    """Each centroid as an image, with its size and majority class."""
    n_clusters = len(km.cluster_centers_)
    majority = table.argmax(axis=1)
    ncols = min(5, n_clusters)
    nrows = int(np.ceil(n_clusters / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(FIG_WIDTH, 2.2 * nrows + 0.6),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    im = None
    for j, ax in enumerate(axes.ravel()[:n_clusters]):
        im = ax.imshow(km.cluster_centers_[j].reshape(shape), cmap="gray", vmin=0, vmax=1)
        share = table[j, majority[j]] / max(table[j].sum(), 1)
        ax.set_title(f"cluster {j} (n={table[j].sum()})\nmostly {classes[majority[j]]} "
                     f"({share:.0%})", fontsize=9)
    fig.colorbar(im, ax=axes.ravel().tolist(), label="mean pixel intensity", shrink=0.8)
    fig.suptitle(title)
    return fig


def _training_figure(record: dict):
    """Inertia and re-assigned images per iteration of the shown fit."""
    fig, axes = plt.subplots(1, 2, figsize=(FIG_WIDTH, 3.8))
    inertias = record["inertia"]
    axes[0].plot(range(1, len(inertias) + 1), inertias, "o-", ms=3)
    axes[0].set_ylabel("inertia of the assignment")
    axes[0].set_title("inertia per iteration")
    moved = record["moved"]
    if moved:
        axes[1].semilogy(range(2, len(moved) + 2), np.maximum(moved, 0.8), "o-", ms=3)
    axes[1].set_ylabel("images that changed cluster")
    axes[1].set_title("re-assigned images per iteration")
    for ax in axes:
        ax.set_xlabel("iteration")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def measure_mnist(config: MnistConfig, ctx) -> dict:
    """k-means++ on the first ``n_train`` digits (figures), then k-means++ against random
    samples as initialisation over ``n_seeds`` seeds each."""
    ds = ctx.load_dataset(family="mnist")
    n = take(config.n_train, len(ds.y_train))
    X = to_float(ds.X_train[:n]).reshape(n, -1)  # (N, 784) in [0, 1]
    y = ds.y_train[:n]
    shape = ds.X_train.shape[1:]
    classes = [str(c) for c in ds.classes]
    ctx.log(f"k-means with k = {config.n_clusters} on {n} images of {ds.name}")
    t0 = time.perf_counter()
    km = KMeans(n_clusters=config.n_clusters, n_init=config.n_init, max_iter=config.max_iter,
                random_state=ctx.seed).fit(X)
    fit_seconds = time.perf_counter() - t0
    ctx.log(f"{km.n_iter_} iterations in {fit_seconds:.2f} s, inertia {km.inertia_:.1f}")

    table = contingency(km.labels_, y, config.n_clusters, len(classes))
    pur = purity(table)
    ari = float(adjusted_rand_score(y, km.labels_))
    nmi = float(normalized_mutual_info_score(y, km.labels_))
    majority = table.argmax(axis=1)
    ctx.savefig(_cluster_sizes_figure(table, classes, pur, ari), "cluster_sizes",
                caption="How many images each cluster holds, and of which class")
    ctx.savefig(_centroids_figure(km, table, classes, shape,
                                  f"the {config.n_clusters} centroids of k-means on {n} "
                                  f"{ds.name} images"),
                "centroids", caption="Each centroid is the mean image of its cluster")
    record = history_record(km, X)
    ctx.savefig(_training_figure(record), "training",
                caption="Inertia and number of re-assigned images per iteration")

    # k-means++ against random samples, the same seeds for both
    by_init = {}
    for init in ("k-means++", "random"):
        fits = []
        for seed in range(ctx.seed, ctx.seed + config.n_seeds):
            if init == "k-means++" and seed == ctx.seed and config.n_init == 1:
                fit = km  # the shown fit is this very run: one k-means++ start, this seed
            else:
                fit = KMeans(n_clusters=config.n_clusters, init=init, n_init=1,
                             max_iter=config.max_iter, random_state=seed).fit(X)
            fits.append((purity(contingency(fit.labels_, y, config.n_clusters, len(classes))),
                         fit.n_iter_, fit.inertia_))
            ctx.log(f"init {init}, seed {seed}: purity {fits[-1][0]:.4f}, "
                    f"{fit.n_iter_} iterations, inertia {fit.inertia_:.1f}")
        p, it, ine = (np.array(v, dtype=float) for v in zip(*fits))
        by_init[init] = {"purity": p.tolist(), "mean_purity": float(p.mean()),
                         "mean_n_iter": float(it.mean()), "mean_inertia": float(ine.mean())}

    shares = table.max(axis=1) / np.maximum(table.sum(axis=1), 1)
    mixed = int(np.argmin(shares))
    top2 = np.argsort(table[mixed], kind="stable")[::-1][:2]
    return {
        "dataset": ds.name,
        "n_train": n,
        "n_clusters": config.n_clusters,
        "inertia": float(km.inertia_),
        "n_iter": int(km.n_iter_),
        "fit_seconds": fit_seconds,
        "purity": pur,
        "adjusted_rand_index": ari,
        "normalized_mutual_info": nmi,
        "cluster_sizes": table.sum(axis=1).tolist(),
        "majority_class": [classes[c] for c in majority],
        "unclaimed_classes": [c for c in range(len(classes)) if c not in set(majority.tolist())],
        "most_mixed": {"cluster": mixed, "share": float(shares[mixed]),
                       "classes": [int(c) for c in top2],
                       "counts": [int(table[mixed, c]) for c in top2]},
        "class_names": classes,
        "contingency": table.tolist(),
        "history": record,
        "by_init": by_init,
        "purity_kmeanspp_mean": by_init["k-means++"]["mean_purity"],
        "purity_random_mean": by_init["random"]["mean_purity"],
    }


def narrate_mnist(metrics: dict, config: MnistConfig) -> Notes:
    """Purity and agreement of the shown fit, and k-means++ against random initialisation."""
    m = metrics
    names = m["class_names"]
    notes = Notes()
    unclaimed = [names[c] for c in m["unclaimed_classes"]]
    mixed = m["most_mixed"]
    notes.add(
        f"**k-means on {m['dataset']}.** k = {num(m, 'n_clusters')} with k-means++ on the first "
        f"{num(m, 'n_train')} training images (pixels scaled to the unit interval) stops after "
        f"{num(m, 'n_iter')} iterations at inertia {num(m, 'inertia', '.4g')}. Labelling each "
        f"cluster by its most common class gives a purity of **{num(m, 'purity', '.3f')}**; "
        f"the adjusted Rand index against the true classes is "
        f"{num(m, 'adjusted_rand_index', '.3f')} (normalised mutual information "
        f"{num(m, 'normalized_mutual_info', '.3f')}).",
        claim(bool(unclaimed),
              f"No cluster is mostly {', '.join(unclaimed)}: those classes are spread over "
              "clusters that other classes dominate,",
              "Every class is the majority of some cluster,"),
        f"and the most mixed cluster ({num(mixed, 'cluster')}) holds "
        f"{num(mixed, 'counts.0')} × {names[mixed['classes'][0]]} and "
        f"{num(mixed, 'counts.1')} × {names[mixed['classes'][1]]}, its majority only "
        f"{num(mixed, 'share', '.0%')} of it.")
    pp, rnd = m["purity_kmeanspp_mean"], m["purity_random_mean"]
    notes.add(
        f"**k-means++ against random samples as starting means**, {num(config, 'n_seeds')} "
        f"seeds each: mean purity {num(m, 'purity_kmeanspp_mean', '.3f')} against "
        f"{num(m, 'purity_random_mean', '.3f')}, after "
        f"{num(m, 'by_init.k-means++.mean_n_iter', '.1f')} against "
        f"{num(m, 'by_init.random.mean_n_iter', '.1f')} iterations on average.",
        claim(pp > rnd,
              "The spread-out k-means++ starts give purer clusters here",
              "k-means++ starts do not give purer clusters here"),
        claim(m["by_init"]["k-means++"]["mean_n_iter"] < m["by_init"]["random"]["mean_n_iter"],
              "and converge in fewer iterations.",
              "and do not converge in fewer iterations."))
    return notes


register("kmeans-mnist", MnistConfig,
         description="k-means (k = 10, k-means++) on the first 10,000 MNIST digits: centroids, "
                     "purity, ARI, and k-means++ against random starts",
         quick={"n_seeds": 2}, smoke={"n_train": 400, "max_iter": 20, "n_seeds": 1},
         needs="mnist", key_metric="purity", order=62, narrate=narrate_mnist,
         lessons=(Lesson("k-means++ starts give purer digit clusters than random samples",
                         "purity_kmeanspp_mean", ">", quick="purity_random_mean",
                         full="purity_random_mean",
                         label="mean purity, k-means++ (target: random starts)"),))(measure_mnist)
