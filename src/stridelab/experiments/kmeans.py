"""k-means made visible: clusters on blob data, Lloyd's steps one by one, and MNIST clustered.

Three registered studies built on :class:`stridelab.cluster.KMeans`:

* ``kmeans-blobs``: k = 2, 3, 4 on the blob data; then one k over many seeds: do the solutions
  differ (inertia, adjusted Rand index between runs)?
* ``kmeans-steps``: k = 3 from three means placed in the region x0 > 4, one scatter per
  iteration until no assignment changes; the same from k-means++; what the seeding buys in
  iterations and final inertia over many seeds.
* ``kmeans-mnist``: k = 10 with k-means++ on 10,000 training digits: cluster sizes, the
  centroids as images, and how well clusters match digits (purity, adjusted Rand index).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score  # noqa: E402

from stridelab.cluster import KMeans  # noqa: E402
from stridelab.errors import ConfigError  # noqa: E402
from stridelab.experiments.registry import register  # noqa: E402

CLUSTER_COLORS = plt.get_cmap("tab10").colors


###############################################################################
# Data and shared helpers


def load_points(data: str) -> tuple[np.ndarray, np.ndarray | None, str]:
    """The 2-D points named by ``data``: X (N, 2), true blob labels or None, a description."""
    from stridelab.data import blobs

    if data == "three-blobs":
        X, y = blobs.three_blobs()
        return X, y, "mlxtend's three blobs (150 points)"
    if data == "make-blobs":
        X, y = blobs.make_blob_data()
        return X, y, "scikit-learn make_blobs (150 points, 3 centres, seed 0)"
    if data.lower().endswith(".csv"):
        X, y = blobs.load_points_csv(data)
        return X, y, f"points from {data} ({len(X)} points)"
    raise ConfigError(f"data={data!r}: expected three-blobs, make-blobs or the path of a CSV "
                      "file with the header x0,x1[,label]")


def scatter_clusters(ax, X, labels, centers, *, title: str, next_centers=None, marks=None):
    """Points coloured by cluster, centres as large crosses, optional arrows to the next centres."""
    n_clusters = len(centers)
    counts = np.bincount(labels, minlength=n_clusters) if labels is not None else None
    for j in range(n_clusters):
        color = CLUSTER_COLORS[j % 10]
        if labels is not None:
            members = labels == j
            ax.scatter(X[members, 0], X[members, 1], s=14, color=color, alpha=0.6,
                       label=f"cluster {j} ({counts[j]})")
        ax.scatter(*centers[j], s=260, marker="X", color=color, edgecolor="black",
                   linewidth=1.6, zorder=5)
        if next_centers is not None and not np.allclose(centers[j], next_centers[j]):
            ax.annotate("", xy=next_centers[j], xytext=centers[j], zorder=6,
                        arrowprops={"arrowstyle": "->", "color": "black", "lw": 1.5})
        if marks is not None:
            ax.annotate(marks[j], centers[j], textcoords="offset points", xytext=(9, 7),
                        fontsize=9, fontweight="bold", zorder=7)
    if labels is None:
        ax.scatter(X[:, 0], X[:, 1], s=14, color="0.5", alpha=0.6, label="samples")
    ax.scatter([], [], s=120, marker="X", color="white", edgecolor="black", label="centre")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("x0")
    ax.set_ylabel("x1")
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.2)


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


###############################################################################
# kmeans-blobs


@dataclass
class BlobsConfig:
    data: str = "three-blobs"  # "three-blobs" (mlxtend), "make-blobs" or a CSV path (x0,x1[,label])
    ks: tuple[int, ...] = (2, 3, 4)  # numbers of clusters, one scatter each
    stability_k: int = 3  # the k fitted over many seeds
    n_seeds: int = 10  # runs with different seeds for the stability study
    stability_init: str = "random"  # initialisation of those runs: "random" or "k-means++"
    max_k_elbow: int = 8  # inertia against k for k = 1..max_k_elbow


@register("kmeans-blobs", BlobsConfig,
          description="k-means on 2-D blobs: k = 2, 3, 4, and whether 10 seeds find the same solution",
          quick={}, smoke={"n_seeds": 3, "ks": (2, 3), "max_k_elbow": 3},
          needs=None, key_metric="mean_pairwise_ari", order=60)
def run_blobs(config: BlobsConfig, ctx) -> dict:
    X, y_true, source = load_points(config.data)
    ctx.log(f"data: {source}")

    # 1. one fit per k (k-means++, the best of 10 seeds per k)
    fits = {k: KMeans(n_clusters=k, n_init=10, random_state=ctx.seed).fit(X) for k in config.ks}
    fig, axes = plt.subplots(1, len(config.ks), figsize=(5.2 * len(config.ks), 4.6),
                             squeeze=False)
    for ax, (k, km) in zip(axes[0], fits.items()):
        scatter_clusters(ax, X, km.labels_, km.cluster_centers_,
                         title=f"k = {k}: inertia {km.inertia_:.1f}, {km.n_iter_} iterations")
    fig.suptitle(f"k-means on {source}: points coloured by cluster, centres as crosses")
    fig.tight_layout()
    ctx.savefig(fig, "clusters_by_k", caption="One k-means fit per k; crosses mark the centres")

    ks_elbow = list(range(1, config.max_k_elbow + 1))
    elbow = [KMeans(n_clusters=k, n_init=10, random_state=ctx.seed).fit(X).inertia_
             for k in ks_elbow]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.plot(ks_elbow, elbow, "o-")
    ax.set_xlabel("number of clusters k")
    ax.set_ylabel("inertia (sum of squared distances to the centre)")
    ax.set_title("Inertia against k: it always falls; look for the elbow")
    ax.grid(alpha=0.3)
    ctx.savefig(fig, "elbow", caption="Inertia of the best of 10 k-means++ runs for each k")

    # 2. stability: the same k, different seeds
    k = config.stability_k
    runs = [KMeans(n_clusters=k, init=config.stability_init, n_init=1, random_state=seed).fit(X)
            for seed in range(ctx.seed, ctx.seed + config.n_seeds)]
    inertias = np.array([r.inertia_ for r in runs])
    n_iters = np.array([r.n_iter_ for r in runs])
    ari = np.array([[adjusted_rand_score(a.labels_, b.labels_) for b in runs] for a in runs])
    groups = np.array(_same_partition_groups([r.labels_ for r in runs]))
    best = inertias.min()
    at_best = np.isclose(inertias, best, rtol=1e-9)
    off_diag = ari[~np.eye(len(runs), dtype=bool)]
    mean_ari = float(off_diag.mean()) if len(off_diag) else 1.0

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    seeds = np.arange(ctx.seed, ctx.seed + config.n_seeds)
    bars = axes[0].bar(seeds, inertias, color=[CLUSTER_COLORS[g % 10] for g in groups])
    for bar, it in zip(bars, n_iters):
        axes[0].annotate(f"{it} it", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                         ha="center", va="bottom", fontsize=7)
    axes[0].legend(handles=[Patch(color=CLUSTER_COLORS[g % 10], label=f"solution {g + 1}")
                            for g in np.unique(groups)], fontsize=8)
    axes[0].set_xlabel("seed")
    axes[0].set_ylabel("final inertia")
    axes[0].set_title(f"k = {k}, init={config.stability_init}: final inertia per seed")
    im = axes[1].imshow(ari, vmin=min(0.0, off_diag.min(initial=0.0)), vmax=1, cmap="viridis")
    fig.colorbar(im, ax=axes[1], label="adjusted Rand index")
    axes[1].set_xticks(range(len(runs)), seeds)
    axes[1].set_yticks(range(len(runs)), seeds)
    axes[1].set_xlabel("seed")
    axes[1].set_ylabel("seed")
    axes[1].set_title("Agreement between runs (1 = same partition)")
    axes[2].scatter(X[:, 0], X[:, 1], s=10, color="0.7", label="samples")
    for g in np.unique(groups):
        first = runs[int(np.flatnonzero(groups == g)[0])]
        axes[2].scatter(*first.cluster_centers_.T, s=200, marker="X",
                        color=CLUSTER_COLORS[g % 10], edgecolor="black", linewidth=1.4,
                        label=f"solution {g + 1}: {np.sum(groups == g)} seeds, "
                              f"inertia {first.inertia_:.1f}")
    axes[2].set_xlabel("x0")
    axes[2].set_ylabel("x1")
    axes[2].set_title("The centres of each distinct solution")
    axes[2].legend(fontsize=7)
    fig.tight_layout()
    ctx.savefig(fig, "stability", caption=f"k = {k} over {config.n_seeds} seeds: inertia, "
                                          "agreement between runs, and the distinct solutions")

    metrics = {
        "data": source,
        "inertia_by_k": {str(k): float(km.inertia_) for k, km in fits.items()},
        "n_iter_by_k": {str(k): int(km.n_iter_) for k, km in fits.items()},
        "elbow_inertia": dict(zip(map(str, ks_elbow), map(float, elbow))),
        "stability_k": k,
        "stability_init": config.stability_init,
        "inertia_by_seed": inertias.tolist(),
        "n_iter_by_seed": n_iters.tolist(),
        "n_distinct_solutions": int(groups.max() + 1),
        "fraction_at_lowest_inertia": float(at_best.mean()),
        "mean_pairwise_ari": mean_ari,
        "min_pairwise_ari": float(off_diag.min(initial=1.0)),
    }
    if y_true is not None and k in fits:
        metrics["ari_vs_true_blobs"] = float(adjusted_rand_score(y_true, fits[k].labels_))

    worst = inertias.max()
    ctx.note(
        f"**k-means on {source}.** Inertia falls as k grows "
        f"({', '.join(f'k={kk}: {km.inertia_:.1f}' for kk, km in fits.items())}), so inertia "
        f"alone cannot choose k; the elbow plot shows where adding a cluster stops paying."
    )
    if metrics["n_distinct_solutions"] == 1:
        verdict = "all runs found the same partition (ARI 1 between every pair)"
    else:
        verdict = (f"the runs found {metrics['n_distinct_solutions']} different partitions: "
                   f"{at_best.sum()} of {len(runs)} reached the lowest inertia {best:.1f}, the "
                   f"worst stopped at {worst:.1f}; the mean ARI between runs is {mean_ari:.3f} "
                   f"(lowest {metrics['min_pairwise_ari']:.3f})")
    ctx.note(
        f"**Do the solutions differ?** With k = {k} and init={config.stability_init}, "
        f"{config.n_seeds} seeds: {verdict}. Lloyd's algorithm only ever lowers the inertia, so "
        "it stops in the local minimum nearest its start; different starting centres can give "
        "different clusters, which is why scikit-learn runs several initialisations and keeps "
        "the best."
    )
    return metrics


###############################################################################
# kmeans-steps


@dataclass
class StepsConfig:
    data: str = "three-blobs"  # "three-blobs" (mlxtend), "make-blobs" or a CSV path (x0,x1[,label])
    n_clusters: int = 3  # k
    init_x0_min: float = 4.0  # the initial means are drawn uniformly with x0 in [min, max] ...
    init_x0_max: float = 6.0  # ... and x1 in the data's x1 range
    n_seeds: int = 200  # seeds for the comparison of initialisations
    max_panels: int = 12  # at most this many iterations drawn per run (the last one always)


def _region_means(X, config: StepsConfig, rng) -> np.ndarray:
    """k initial means uniform in x0 in [init_x0_min, init_x0_max], x1 in the data's range."""
    x0 = rng.uniform(config.init_x0_min, config.init_x0_max, size=config.n_clusters)
    x1 = rng.uniform(X[:, 1].min(), X[:, 1].max(), size=config.n_clusters)
    return np.column_stack([x0, x1])


def _steps_figure(X, km: KMeans, title: str, max_panels: int, marks=None):
    """One scatter per iteration: colours = assignment, crosses = the means it used, arrows to
    the means the update moves them to."""
    history = km.history_
    shown = list(range(len(history)))
    if len(shown) > max_panels:
        shown = shown[: max_panels - 1] + [shown[-1]]
    ncols = min(4, len(shown))
    nrows = int(np.ceil(len(shown) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols, 4.0 * nrows), squeeze=False)
    for ax in axes.ravel()[len(shown):]:
        ax.axis("off")
    for ax, t in zip(axes.ravel(), shown):
        step = history[t]
        nxt = history[t + 1]["centers"] if t + 1 < len(history) else km.cluster_centers_
        reseeded = np.flatnonzero(step["counts"] == 0)
        extra = f"; empty: re-seed {', '.join(map(str, reseeded))}" if len(reseeded) else ""
        changed = "" if t == 0 else \
            f", {int(np.sum(step['labels'] != history[t - 1]['labels']))} moved"
        scatter_clusters(ax, X, step["labels"], step["centers"], next_centers=nxt,
                         marks=marks if t == 0 else None,
                         title=f"iteration {t + 1}: inertia {step['inertia']:.1f}{changed}{extra}")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


@register("kmeans-steps", StepsConfig,
          description="Lloyd's iterations drawn one by one from means in x0 > 4, and from k-means++",
          quick={"n_seeds": 100}, smoke={"n_seeds": 8, "max_panels": 4},
          needs=None, key_metric="iterations_saved_by_kmeanspp", order=61)
def run_steps(config: StepsConfig, ctx) -> dict:
    from stridelab.cluster import kmeans_plusplus

    if config.n_clusters < 1 or config.init_x0_max < config.init_x0_min:
        raise ConfigError("n_clusters must be >= 1 and init_x0_max >= init_x0_min")
    X, _, source = load_points(config.data)
    ctx.log(f"data: {source}; x0 in [{X[:, 0].min():.2f}, {X[:, 0].max():.2f}]")
    k = config.n_clusters
    rng = np.random.RandomState(ctx.seed)

    # 1. means from the region x0 > 4, Lloyd until no assignment changes (tol = 0)
    init_region = _region_means(X, config, rng)
    km_region = KMeans(n_clusters=k, init=init_region, tol=0).fit(X)
    ctx.savefig(_steps_figure(
        X, km_region, f"k = {k}, initial means drawn from x0 in [{config.init_x0_min:g}, "
                      f"{config.init_x0_max:g}]: {km_region.n_iter_} iterations, final "
                      f"inertia {km_region.inertia_:.1f}", config.max_panels),
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
    schemes = {"region x0 > 4": [], "random samples": [], "k-means++": []}
    for seed in range(ctx.seed, ctx.seed + config.n_seeds):
        seed_rng = np.random.RandomState(seed)
        inits = {
            "region x0 > 4": _region_means(X, config, seed_rng),
            "random samples": X[seed_rng.choice(len(X), k, replace=False)],
            "k-means++": kmeans_plusplus(X, k, random_state=seed)[0],
        }
        for name, init in inits.items():
            km = KMeans(n_clusters=k, init=init, tol=0).fit(X)
            schemes[name].append((km.n_iter_, km.inertia_))
    best = min(inertia for runs in schemes.values() for _, inertia in runs)
    summary = {}
    for name, runs in schemes.items():
        its, ine = np.array(runs).T
        summary[name] = {"mean_n_iter": float(its.mean()), "max_n_iter": int(its.max()),
                         "mean_inertia": float(ine.mean()), "worst_inertia": float(ine.max()),
                         "fraction_at_lowest": float(np.mean(np.isclose(ine, best, rtol=1e-6)))}

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    names = list(schemes)
    its = [np.array(schemes[n])[:, 0] for n in names]
    ines = [np.array(schemes[n])[:, 1] for n in names]
    n_iter_values = np.arange(1, max(int(i.max()) for i in its) + 1)
    width = 0.8 / len(names)
    for j, (name, it) in enumerate(zip(names, its)):
        counts = [(it == v).sum() for v in n_iter_values]
        axes[0].bar(n_iter_values + (j - (len(names) - 1) / 2) * width, counts, width=width,
                    color=CLUSTER_COLORS[j], label=f"{name} (mean {it.mean():.2f})")
    axes[0].set_xticks(n_iter_values)
    axes[0].set_xlabel("iterations until no assignment changes")
    axes[0].set_ylabel("number of seeds")
    axes[0].set_title(f"Iterations over {config.n_seeds} seeds")
    axes[0].legend(fontsize=8)
    jitter = np.random.RandomState(0).uniform(-0.15, 0.15, size=config.n_seeds)
    for j, (name, ine) in enumerate(zip(names, ines)):
        axes[1].scatter(j + jitter, ine, s=12, alpha=0.6, color=CLUSTER_COLORS[j],
                        label=f"{name}: {summary[name]['fraction_at_lowest']:.0%} at the lowest")
    axes[1].set_xticks(range(len(names)), names)
    axes[1].set_xlabel("initialisation")
    axes[1].set_ylabel("final inertia")
    axes[1].set_title(f"Final inertia over {config.n_seeds} seeds (lowest {best:.1f})")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    ctx.savefig(fig, "init_comparison",
                caption="Iterations and final inertia of Lloyd's algorithm for three "
                        "initialisations over the same seeds")

    region, pp = summary["region x0 > 4"], summary["k-means++"]
    saved = region["mean_n_iter"] - pp["mean_n_iter"]
    n_outside = int(np.sum(X[:, 0] > config.init_x0_min))
    ctx.note(
        f"**Lloyd's steps.** From three means drawn in x0 ∈ [{config.init_x0_min:g}, "
        f"{config.init_x0_max:g}] "
        + (f"(a region that holds none of the {len(X)} samples: the data's x0 ends at "
           f"{X[:, 0].max():.2f}, so every mean starts outside the data) " if n_outside == 0
           else f"({n_outside} of the {len(X)} samples lie there) ")
        + f"Lloyd's algorithm needs {km_region.n_iter_} iterations and ends at inertia "
        f"{km_region.inertia_:.1f}; from k-means++ centres it needs {km_pp.n_iter_} and ends "
        f"at {km_pp.inertia_:.1f}. A mean that wins no sample is re-seeded at the sample "
        "farthest from its centre."
    )
    ctx.note(
        f"**What k-means++ buys** (measured over {config.n_seeds} seeds, k = {k}): "
        f"{pp['mean_n_iter']:.2f} iterations on average against {region['mean_n_iter']:.2f} "
        f"from the x0 > 4 region and {summary['random samples']['mean_n_iter']:.2f} from "
        f"random samples; the lowest inertia ({best:.1f}) is reached by "
        f"{pp['fraction_at_lowest']:.0%} of k-means++ runs against "
        f"{region['fraction_at_lowest']:.0%} and {summary['random samples']['fraction_at_lowest']:.0%}"
        f" (mean final inertia {pp['mean_inertia']:.1f} against {region['mean_inertia']:.1f} and "
        f"{summary['random samples']['mean_inertia']:.1f}). The seeding itself costs k − 1 "
        "passes over the data to compute the distances D(x)."
    )
    return {
        "data": source,
        "region_init": init_region.tolist(),
        "n_iter_region_init": int(km_region.n_iter_),
        "inertia_region_init": float(km_region.inertia_),
        "kmeanspp_indices": idx_pp.tolist(),
        "n_iter_kmeanspp": int(km_pp.n_iter_),
        "inertia_kmeanspp": float(km_pp.inertia_),
        "n_seeds": config.n_seeds,
        "lowest_inertia": float(best),
        "by_init": summary,
        "iterations_saved_by_kmeanspp": float(saved),
    }


###############################################################################
# kmeans-mnist


@dataclass
class MnistConfig:
    n_train: int = 10_000  # the first n training images (all of mnist-5k's 4,000 there)
    n_clusters: int = 10  # k
    n_init: int = 1  # k-means++ restarts; the lowest inertia is kept
    max_iter: int = 300  # Lloyd iterations at most


def contingency(labels, y, n_clusters: int, n_classes: int) -> np.ndarray:
    """(n_clusters, n_classes) counts: row = cluster, column = true class."""
    table = np.zeros((n_clusters, n_classes), dtype=np.int64)
    np.add.at(table, (labels, y), 1)
    return table


def purity(table: np.ndarray) -> float:
    """Fraction of samples whose cluster's most common class is their own class."""
    return float(table.max(axis=1).sum() / max(table.sum(), 1))


@register("kmeans-mnist", MnistConfig,
          description="k-means (k = 10, k-means++) on 10,000 MNIST digits: centroids, purity, ARI",
          quick={}, smoke={"n_train": 400, "max_iter": 20},
          needs="mnist", key_metric="purity", order=62)
def run_mnist(config: MnistConfig, ctx) -> dict:
    ds = ctx.load_dataset(family="mnist")
    n = min(config.n_train, len(ds.y_train))
    X = ds.X_train[:n].reshape(n, -1).astype(np.float32) / 255.0  # (N, 784)
    y = ds.y_train[:n]
    shape = ds.X_train.shape[1:]
    ctx.log(f"k-means with k = {config.n_clusters} on {n} images of {ds.name}")
    t0 = time.perf_counter()
    km = KMeans(n_clusters=config.n_clusters, n_init=config.n_init, max_iter=config.max_iter,
                random_state=ctx.seed).fit(X)
    fit_seconds = time.perf_counter() - t0
    ctx.log(f"{km.n_iter_} iterations in {fit_seconds:.2f}s, inertia {km.inertia_:.1f}")

    classes = [str(c) for c in ds.classes]
    table = contingency(km.labels_, y, config.n_clusters, len(classes))
    pur = purity(table)
    ari = float(adjusted_rand_score(y, km.labels_))
    nmi = float(normalized_mutual_info_score(y, km.labels_))
    majority = table.argmax(axis=1)

    # cluster sizes, split by true class
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8))
    bottom = np.zeros(config.n_clusters)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for c, name in enumerate(classes):
        axes[0].bar(range(config.n_clusters), table[:, c], bottom=bottom, color=cmap(c % cmap.N),
                    label=name)
        bottom += table[:, c]
    axes[0].set_xticks(range(config.n_clusters))
    axes[0].set_xlabel("cluster label")
    axes[0].set_ylabel("number of images")
    axes[0].set_title("Histogram of cluster labels, split by the true class")
    axes[0].legend(title="true class", fontsize=7, ncol=2)
    im = axes[1].imshow(table, cmap="Blues")
    fig.colorbar(im, ax=axes[1], label="number of images")
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            axes[1].text(j, i, table[i, j], ha="center", va="center", fontsize=7,
                         color="white" if table[i, j] > table.max() / 2 else "black")
    axes[1].set_xticks(range(len(classes)), classes, rotation=45 if len(classes[0]) > 2 else 0)
    axes[1].set_yticks(range(config.n_clusters))
    axes[1].set_xlabel("true class")
    axes[1].set_ylabel("cluster label")
    axes[1].set_title(f"Clusters against classes (purity {pur:.3f}, ARI {ari:.3f})")
    fig.tight_layout()
    ctx.savefig(fig, "cluster_sizes", caption="How many images each cluster holds, and of which "
                                              "class")

    # the centroids as images
    ncols = min(5, config.n_clusters)
    nrows = int(np.ceil(config.n_clusters / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols + 1, 2.8 * nrows), squeeze=False)
    for ax in axes.ravel()[config.n_clusters:]:
        ax.axis("off")
    for j, ax in enumerate(axes.ravel()[: config.n_clusters]):
        im = ax.imshow(km.cluster_centers_[j].reshape(shape), cmap="gray", vmin=0, vmax=1)
        share = table[j, majority[j]] / max(table[j].sum(), 1)
        ax.set_title(f"cluster {j} (n={table[j].sum()})\nmostly {classes[majority[j]]} "
                     f"({share:.0%})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes.ravel().tolist(), label="mean pixel intensity", shrink=0.8)
    fig.suptitle(f"The {config.n_clusters} centroids of k-means on {n} {ds.name} images")
    ctx.savefig(fig, "centroids", caption="Each centroid is the mean image of its cluster")

    # training made visible: inertia and moved labels per iteration
    inertias = [h["inertia"] for h in km.history_]
    moved = [int(np.sum(km.history_[t]["labels"] != km.history_[t - 1]["labels"]))
             for t in range(1, len(km.history_))] if "labels" in km.history_[0] else []
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    axes[0].plot(range(1, len(inertias) + 1), inertias, "o-", ms=3)
    axes[0].set_xlabel("iteration")
    axes[0].set_ylabel("inertia of the assignment")
    axes[0].set_title("Lloyd's algorithm only lowers the inertia")
    axes[0].grid(alpha=0.3)
    if moved:
        axes[1].semilogy(range(2, len(moved) + 2), np.maximum(moved, 0.8), "o-", ms=3)
    axes[1].set_xlabel("iteration")
    axes[1].set_ylabel("images that changed cluster (log)")
    axes[1].set_title("Assignments settle until none changes")
    axes[1].grid(alpha=0.3)
    fig.tight_layout()
    ctx.savefig(fig, "training", caption="Inertia and number of re-assigned images per iteration")

    unclaimed = [classes[c] for c in range(len(classes)) if c not in set(majority.tolist())]
    mixed = int(np.argmin(table.max(axis=1) / np.maximum(table.sum(axis=1), 1)))
    top2 = np.argsort(table[mixed])[::-1][:2]
    ctx.note(
        f"**k-means on {ds.name}.** k = {config.n_clusters} with k-means++ on the first "
        f"{n} training images (pixels in [0, 1]) converges in {km.n_iter_} iterations "
        f"({fit_seconds:.2f} s) to inertia {km.inertia_:.4g}. Labelling each cluster by its most "
        f"common class gives a purity of **{pur:.3f}**; the adjusted Rand index against the true "
        f"classes is {ari:.3f} (NMI {nmi:.3f}). Clusters are blobs in pixel space, not classes: "
        + (f"no cluster is mostly {', '.join(unclaimed)}, " if unclaimed
           else "every class is the majority of some cluster, ")
        + f"and the most mixed cluster ({mixed}) holds {table[mixed, top2[0]]} × "
        f"{classes[top2[0]]} and {table[mixed, top2[1]]} × {classes[top2[1]]}."
    )
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
        "majority_class": [classes[m] for m in majority],
        "contingency": table.tolist(),
    }
