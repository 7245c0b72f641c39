"""kmeans-blobs: k-means on two-dimensional blobs, and whether many seeds reach one solution.

TU Wien, problem 4.3.2: one fit per k on the blob data (the best of ``n_init`` k-means++ starts)
and the inertia against k; then one k over many seeds: do the solutions differ (distinct
partitions and final inertias, adjusted Rand index between the runs)?
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch
from sklearn.metrics import adjusted_rand_score

from stridelab.cluster import KMeans
from stridelab.data.blobs import load_points
from stridelab.experiments.lloyd import history_record
from stridelab.experiments.narrate import Lesson, Notes, fmt, num
from stridelab.experiments.plots import (
    CLUSTER_COLORS,
    FIG_WIDTH,
    integer_ticks,
    scatter_clusters,
)
from stridelab.experiments.registry import bounded, register

NOT_ALWAYS_SAME = Lesson("For a fixed k, k-means from different random starts does not always "
                         "reach the same solution", "n_distinct_solutions", ">=", quick=2,
                         full=2, label="distinct solutions over the seeds")


@dataclass
class BlobsConfig:
    # "stand-in-blobs" (the sheet's blobs.csv is not available: stridelab's stand-in, with
    # samples right of x0 = 4), "three-blobs" (mlxtend), "make-blobs" or a CSV (x0,x1[,label])
    data: str = "stand-in-blobs"
    ks: tuple[int, ...] = bounded((2, 3, 4), ge=1)  # numbers of clusters, one scatter each
    # k-means++ starts per k in the scatters and the elbow (the best is kept)
    n_init: int = bounded(10, ge=1)
    stability_k: int = bounded(3, ge=1)  # the k fitted over many seeds
    n_seeds: int = bounded(10, ge=1)  # runs with different seeds for the stability study
    stability_init: Literal["random", "k-means++"] = "random"  # init of those runs
    max_k_elbow: int = bounded(8, ge=1)  # inertia against k for k = 1..max_k_elbow


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
    integer_ticks(ax_bar)
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


def measure(config: BlobsConfig, ctx) -> dict:
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
    integer_ticks(ax)
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


def narrate(metrics: dict, config: BlobsConfig) -> Notes:
    """Inertia against k, and whether one k reached the same solution from every seed."""
    m = metrics
    notes = Notes()
    by_k = [float(m["inertia_by_k"][str(k)]) for k in config.ks]
    per_k = ", ".join(f"k = {k}: {fmt(inertia, '.1f')}" for k, inertia in zip(config.ks, by_k))
    falls = all(b < a for a, b in zip(by_k, by_k[1:]))
    notes.add(
        f"**k-means on {m['data']}** ({num(m, 'n_samples')} points), the best of "
        f"{num(config, 'n_init')} k-means++ starts per k: inertia {per_k}.",
        notes.claim(
            "inertia_falls_with_k", falls,
            "It falls with every added cluster, so the inertia alone cannot choose k; the "
            "elbow figure shows where adding a cluster stops paying off.",
            "It does not fall with every added cluster here: for some k even the best start "
            "stopped in a poorer local minimum than a smaller k reached."))
    k_text = f"k = {num(m, 'stability_k')} and init = {m['stability_init']}"
    same = not NOT_ALWAYS_SAME.holds(m)  # one partition from every seed
    notes.add(
        f"**Does k-means always reach the same solution?** With {k_text} over "
        f"{num(config, 'n_seeds')} seeds:",
        notes.claim(
            "same_solution", same,
            f"every run found the same partition (adjusted Rand index 1 between every pair), "
            f"at inertia {num(m, 'lowest_inertia', '.2f')}.",
            f"no. The runs ended in {num(m, 'n_distinct_solutions')} different partitions "
            f"with {num(m, 'n_distinct_inertias')} distinct final inertias: "
            f"{num(m, 'n_at_lowest_inertia')} of {num(config, 'n_seeds')} reached the lowest, "
            f"{num(m, 'lowest_inertia', '.2f')}, the worst stopped at "
            f"{num(m, 'worst_inertia', '.2f')}; the mean adjusted Rand index between runs is "
            f"{num(m, 'mean_pairwise_ari', '.3f')} (lowest "
            f"{num(m, 'min_pairwise_ari', '.3f')})."),
        notes.claim("inertia_never_rose", m["inertia_never_rose"],
                    "In every run the inertia never rose from one iteration to the next",
                    "In some run the inertia rose between two iterations")
        + notes.claim("same_minimum", same,
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
         needs=None, key_metric="n_distinct_solutions", order=60, narrate=narrate,
         lessons=(NOT_ALWAYS_SAME,))(measure)
