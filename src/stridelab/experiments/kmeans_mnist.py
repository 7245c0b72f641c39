"""kmeans-mnist: k = 10 with k-means++ on the first training digits, and what the clusters hold.

TU Wien, problem 4.3.5: cluster sizes split by the true class, the centroids as images, purity,
adjusted Rand index and normalised mutual information, and k-means++ against random samples as
starting means over several seeds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from stridelab.cluster import KMeans
from stridelab.experiments.lloyd import history_record
from stridelab.experiments.narrate import Lesson, Notes, fmt, num
from stridelab.experiments.plots import FIG_WIDTH, integer_ticks, take, to_float
from stridelab.experiments.registry import bounded, register

PURER = Lesson("k-means++ starts give purer digit clusters than random samples",
               "purity_kmeanspp_mean", ">", quick="purity_random_mean", full="purity_random_mean",
               label="mean purity, k-means++ (target: random starts)")


@dataclass
class MnistConfig:
    # the first n training images (all of mnist-5k's 4,000 there)
    n_train: int = bounded(10_000, ge=1)
    n_clusters: int = bounded(10, ge=1)  # k
    # k-means++ restarts of the shown fit; the lowest inertia is kept
    n_init: int = bounded(1, ge=1)
    max_iter: int = 300  # Lloyd iterations at most
    # fits per initialisation for k-means++ against random samples (the
    n_seeds: int = bounded(3, ge=1)


def contingency(labels, y, n_clusters: int, n_classes: int) -> np.ndarray:
    """(n_clusters, n_classes) counts: row = cluster, column = true class."""
    table = np.zeros((n_clusters, n_classes), dtype=np.int64)
    np.add.at(table, (labels, y), 1)
    return table


def purity(table: np.ndarray) -> float:
    """Fraction of samples whose cluster's most common class is their own class."""
    return float(table.max(axis=1).sum() / max(table.sum(), 1))


# a cluster whose second most common digit holds at least this share of it is shared by two
# digits (a third of a cluster is no stray image)
SHARED_SHARE = 0.25


def cluster_contents(table: np.ndarray, shared_share: float = SHARED_SHARE) -> dict:
    """What each cluster holds, from the contingency table (n_clusters, n_classes).

    Returns ``clusters`` (per cluster: its size, its majority class and that class's share,
    the purity of the cluster, and the runner-up class with its share), ``shared_clusters``
    (clusters whose runner-up holds at least ``shared_share``, most shared first),
    ``split_classes`` (classes that are the majority of two or more non-empty clusters, with
    those clusters) and ``class_homes`` (per class: the cluster holding most of its samples and the
    share it holds; ``most_scattered_class`` is the class with the smallest such share).
    """
    sizes = table.sum(axis=1)  # (n_clusters,)
    order = np.argsort(-table, axis=1, kind="stable")  # classes by count, per cluster
    clusters = []
    for j in range(len(table)):
        first, second = int(order[j, 0]), int(order[j, 1]) if table.shape[1] > 1 else -1
        size = max(int(sizes[j]), 1)
        clusters.append({"cluster": j, "size": int(sizes[j]), "majority": first,
                         "purity": float(table[j, first] / size),
                         "runner_up": second,
                         "runner_up_share": float(table[j, second] / size) if second >= 0
                         else 0.0})
    shared = sorted((c for c in clusters if c["runner_up_share"] >= shared_share),
                    key=lambda c: -c["runner_up_share"])
    majority = [c["majority"] if c["size"] else None for c in clusters]  # empty: no majority
    split = [{"class": k, "clusters": [j for j, m in enumerate(majority) if m == k]}
             for k in range(table.shape[1]) if majority.count(k) > 1]
    per_class = table.sum(axis=0)  # (n_classes,)
    homes = [{"class": k, "cluster": int(np.argmax(table[:, k])),
              "share": float(table[:, k].max() / per_class[k])}
             for k in range(table.shape[1]) if per_class[k] > 0]
    return {"clusters": clusters, "shared_clusters": shared, "shared_share_min": shared_share,
            "split_classes": split, "class_homes": homes,
            "most_scattered_class": min(homes, key=lambda h: h["share"]) if homes else None}


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
        integer_ticks(ax)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def measure(config: MnistConfig, ctx) -> dict:
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
        "cluster_purity": shares.tolist(),
        **cluster_contents(table),
    }


def narrate(metrics: dict, config: MnistConfig) -> Notes:
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
        notes.claim("unclaimed_classes", bool(unclaimed),
                    f"No cluster is mostly {', '.join(unclaimed)}: those classes are spread over "
                    "clusters that other classes dominate,",
                    "Every class is the majority of some cluster,"),
        f"and the most mixed cluster ({num(mixed, 'cluster')}) holds "
        f"{fmt(mixed['counts'][0])} × {names[mixed['classes'][0]]} and "
        f"{fmt(mixed['counts'][1])} × {names[mixed['classes'][1]]}, its majority only "
        f"{num(mixed, 'share', '.0%')} of it.")
    notes.add(contents_text(notes, m))
    pp, rnd = m["by_init"]["k-means++"], m["by_init"]["random"]
    notes.add(
        f"**k-means++ against random samples as starting means**, {num(config, 'n_seeds')} "
        f"seeds each: mean purity {num(m, 'purity_kmeanspp_mean', '.3f')} against "
        f"{num(m, 'purity_random_mean', '.3f')}, after "
        f"{num(pp, 'mean_n_iter', '.1f')} against {num(rnd, 'mean_n_iter', '.1f')} iterations "
        "on average.",
        notes.claim("kmeanspp_purer", PURER.holds(m),
                    "The spread-out k-means++ starts give purer clusters here",
                    "k-means++ starts do not give purer clusters here"),
        notes.claim("kmeanspp_fewer_iterations", pp["mean_n_iter"] < rnd["mean_n_iter"],
                    "and converge in fewer iterations.",
                    "and do not converge in fewer iterations."))
    return notes


def contents_text(notes: Notes, m: dict) -> str:
    """Cluster by cluster: its majority class and purity; the clusters two classes share, the
    classes split over several clusters, and the class most scattered (claims
    ``shared_clusters``, ``split_classes``)."""
    names = m["class_names"]
    rows = "; ".join(f"{num(c, 'cluster')}: {names[c['majority']]} "
                     f"({num(c, 'purity', '.0%')} of {num(c, 'size')})"
                     for c in m["clusters"] if c["size"])
    shared, split = m["shared_clusters"], m["split_classes"]
    text = f"**Cluster by cluster** (majority class, its share of the cluster): {rows}. "
    text += notes.claim(
        "shared_clusters", bool(shared),
        "Classes that share a cluster (the runner-up holding at least "
        f"{num(m, 'shared_share_min', '.0%')} of it): "
        + "; ".join(f"cluster {num(c, 'cluster')}, {names[c['majority']]} "
                    f"({num(c, 'purity', '.0%')}) with {names[c['runner_up']]} "
                    f"({num(c, 'runner_up_share', '.0%')})" for c in shared) + ".",
        f"No cluster's runner-up class holds {num(m, 'shared_share_min', '.0%')} of it: each "
        "cluster is dominated by one class.")
    text += " " + notes.claim(
        "split_classes", bool(split),
        "Classes that are the majority of several clusters (drawn in several styles): "
        + "; ".join(f"{names[c['class']]} (clusters "
                    + ", ".join(fmt(j) for j in c["clusters"]) + ")" for c in split) + ".",
        "No class is the majority of more than one cluster.")
    scattered = m["most_scattered_class"]
    if scattered:
        text += (f" The most scattered class is {names[scattered['class']]}: its largest "
                 f"cluster ({num(scattered, 'cluster')}) holds only "
                 f"{num(scattered, 'share', '.0%')} of its images.")
    return text


register("kmeans-mnist", MnistConfig,
         description="k-means (k = 10, k-means++) on the first 10,000 MNIST digits: centroids, "
                     "purity, ARI, and k-means++ against random starts",
         quick={"n_seeds": 2}, smoke={"n_train": 400, "max_iter": 20, "n_seeds": 1},
         needs="mnist", key_metric="purity", order=62, narrate=narrate,
         lessons=(PURER,))(measure)
