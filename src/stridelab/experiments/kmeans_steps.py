"""kmeans-steps: Lloyd's iterations drawn one by one, from means in a region and from k-means++.

TU Wien, problems 4.3.3 and 4.3.4: k means started in a region of the plane (x0 in
(``init_x0_min``, ``init_x0_max``]), one scatter per iteration until no assignment changes; the
same from k-means++; then the iterations and the final inertia of each seeding over many seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from stridelab.cluster import KMeans, kmeans_plusplus
from stridelab.data.blobs import load_points
from stridelab.errors import ConfigError
from stridelab.experiments.lloyd import history_record
from stridelab.experiments.narrate import Lesson, Notes, fmt, num
from stridelab.experiments.plots import (
    CLUSTER_COLORS,
    FIG_WIDTH,
    integer_ticks,
    scatter_clusters,
)
from stridelab.experiments.registry import bounded, register

FEWER_ITERATIONS = Lesson("k-means++ converges in fewer Lloyd iterations than means chosen in "
                          "the region", "iterations_saved_by_kmeanspp", ">", quick=0.0,
                          full=0.0, label="iterations saved by k-means++ (mean)")


@dataclass
class StepsConfig:
    # "stand-in-blobs" (the sheet's blobs.csv is not available: stridelab's stand-in, with
    # samples right of x0 = 4), "three-blobs" (mlxtend), "make-blobs" or a CSV (x0,x1[,label])
    data: str = "stand-in-blobs"
    n_clusters: int = bounded(3, ge=1)  # k
    init_x0_min: float = 4.0  # the initial means lie in the region x0 in (min, max] ...
    # ... (samples there when it holds k of them, else uniform points)
    init_x0_max: float = bounded(6.0, ge="init_x0_min")
    n_seeds: int = bounded(200, ge=1)  # seeds for the comparison of initialisations
    max_panels: int = bounded(12, ge=2)  # iterations drawn per run at most (the last always)


def region_samples(X: np.ndarray, config: StepsConfig,
                   rng: np.random.RandomState) -> np.ndarray | None:
    """Indices (k,) of k distinct samples drawn from the region x0 in (init_x0_min,
    init_x0_max]: the sheet's starting means, samples chosen there. None when the region
    holds fewer than k samples."""
    k = config.n_clusters
    inside = np.flatnonzero((X[:, 0] > config.init_x0_min) & (X[:, 0] <= config.init_x0_max))
    return rng.choice(inside, k, replace=False) if len(inside) >= k else None


def region_means(X: np.ndarray, config: StepsConfig,
                 rng: np.random.RandomState) -> tuple[np.ndarray, bool]:
    """k initial means in the region x0 in (init_x0_min, init_x0_max].

    Returns ``(means, from_samples)``: means of shape (k, 2). When the region holds at least
    k samples, k distinct samples from it are drawn (:func:`region_samples`, the sheet's
    choice of starting means); otherwise k points are drawn uniformly with x0 in the region
    and x1 in the data's range.
    """
    k = config.n_clusters
    chosen = region_samples(X, config, rng)
    if chosen is not None:
        return X[chosen].copy(), True
    x0 = rng.uniform(config.init_x0_min, config.init_x0_max, size=k)
    x1 = rng.uniform(X[:, 1].min(), X[:, 1].max(), size=k)
    return np.column_stack([x0, x1]), False


def _steps_figure(X, km: KMeans, title: str, max_panels: int, marks=None, region=None):
    """One scatter per iteration: colours = assignment, crosses = the means it used, arrows to
    the means the update moves them to. Three panels per row, one legend below them all;
    ``region`` = (low, high) shades the band of x0 the initial means were chosen in, on the
    first panel."""
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
        if region is not None and t == 0:
            ax.axvspan(*region, color="0.85", zorder=0)
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
    integer_ticks(axes[0])
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


def measure(config: StepsConfig, ctx) -> dict:
    """Lloyd's iterations from means in the region and from k-means++, then both (and random
    samples) over ``n_seeds`` seeds."""
    X, y_true, source = load_points(config.data)
    k = config.n_clusters
    if k > len(X):
        raise ConfigError(f"--set n_clusters={k}: the data hold only {len(X)} points")
    region = f"x0 in ({config.init_x0_min:g}, {config.init_x0_max:g}]"
    ctx.log(f"data: {source}, {len(X)} points, x0 in [{X[:, 0].min():.2f}, "
            f"{X[:, 0].max():.2f}]")
    rng = np.random.RandomState(ctx.seed)

    # 1. means from the region, Lloyd until no assignment changes (tol = 0)
    chosen = region_samples(X, config, rng)
    init_region, from_samples = ((X[chosen].copy(), True) if chosen is not None
                                 else region_means(X, config, rng))
    km_region = KMeans(n_clusters=k, init=init_region, tol=0).fit(X)
    ctx.savefig(_steps_figure(
        X, km_region, f"k = {k}, initial means in {region}: {km_region.n_iter_} iterations, "
                      f"final inertia {km_region.inertia_:.1f}", config.max_panels,
        region=(config.init_x0_min, config.init_x0_max)),
        "steps_region_init", caption="Each iteration: points coloured by the mean they are "
                                     "closest to; arrows show where the update moves each mean "
                                     "(grey band: the region the initial means were chosen in)")

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
        "region_init_indices": chosen.tolist() if chosen is not None else None,
        "region_init_blobs": (y_true[chosen].tolist() if chosen is not None
                              and y_true is not None else None),
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


def _iterations_sentence(notes: Notes, h: dict, start: str) -> str:
    """What the iterations of one run did, from its history record ``h``; the claim is named
    ``{start}_reseeded``."""
    text = (f"The first assignment has inertia {num(h, 'first_inertia', '.1f')}; after "
            f"{num(h, 'n_iter')} iterations no assignment changes and the inertia is "
            f"{num(h, 'final_inertia', '.1f')}")
    if "max_moved" in h:
        text += (f". At most {num(h, 'max_moved')} of the {num(h, 'n_samples')} samples "
                 "changed cluster between two iterations (iteration "
                 f"{num(h, 'max_moved_iteration')})")
    text += (f"; the means moved {num(h, 'mean_travel', '.2f')} on average from where "
             "they started, and "
             + notes.claim(f"{start}_reseeded", h["n_reseeded"] > 0,
                           f"{num(h, 'n_reseeded')} time(s) a mean won no sample and was "
                           "re-seeded at the sample farthest from its centre.",
                           "no mean was ever left without samples."))
    return text


def narrate(metrics: dict, config: StepsConfig) -> Notes:
    """The region start and the k-means++ start step by step, then what k-means++ buys."""
    m = metrics
    notes = Notes()
    region = f"x0 in ({num(config, 'init_x0_min', 'g')}, {num(config, 'init_x0_max', 'g')}]"
    k = num(config, "n_clusters")
    notes.add(
        f"**Lloyd's steps from means in {region}** (k = {k}, {m['data']}).",
        notes.claim(
            "init_from_samples", m["init_from_samples"],
            f"The region holds {num(m, 'n_samples_in_region')} of the "
            f"{num(m, 'n_samples')} samples, and the {k} initial means are samples chosen "
            "among them (drawn with the run's seed): samples "
            + ", ".join(f"#{fmt(i)}" for i in m["region_init_indices"] or [])
            + (" of blobs " + ", ".join(fmt(b) for b in m["region_init_blobs"])
               if m.get("region_init_blobs") else "") + ".",
            f"The region holds {num(m, 'n_samples_in_region')} of the {num(m, 'n_samples')} "
            f"samples, fewer than k (the data's x0 ends at {num(m, 'data_x0_max', '.2f')}), "
            f"so the {k} initial means are points drawn uniformly in it, with x1 in the "
            "data's range."),
        _iterations_sentence(notes, m["region_history"], "region"))
    notes.add("**From k-means++ centres.**",
              _iterations_sentence(notes, m["kmeanspp_history"], "kmeanspp"))
    pp, reg, rnd = (m["by_init"][key] for key in ("k-means++", "region", "random samples"))
    notes.add(
        f"**What k-means++ buys**, over {num(config, 'n_seeds')} seeds: on average "
        f"{num(pp, 'mean_n_iter', '.2f')} iterations from k-means++, "
        f"{num(reg, 'mean_n_iter', '.2f')} from means in the region and "
        f"{num(rnd, 'mean_n_iter', '.2f')} from random samples.",
        notes.claim("kmeanspp_saves", FEWER_ITERATIONS.holds(m),
                    f"k-means++ saves {num(m, 'iterations_saved_by_kmeanspp', '.2f')} iterations "
                    "against the region start.",
                    f"k-means++ saves no iterations against the region start here (difference "
                    f"{num(m, 'iterations_saved_by_kmeanspp', '.2f')})."),
        f"The lowest final inertia ({num(m, 'lowest_inertia', '.1f')}) is reached by "
        f"{num(pp, 'fraction_at_lowest', '.0%')} of k-means++ runs, "
        f"{num(reg, 'fraction_at_lowest', '.0%')} of region runs and "
        f"{num(rnd, 'fraction_at_lowest', '.0%')} of random-sample runs;",
        notes.claim(
            "kmeanspp_worst_no_worse",
            pp["worst_inertia"] <= min(reg["worst_inertia"], rnd["worst_inertia"]),
            f"the worst k-means++ run ({num(pp, 'worst_inertia', '.1f')}) is no worse "
            "than the worst of either other start.",
            f"the worst k-means++ run ({num(pp, 'worst_inertia', '.1f')}) is worse than "
            f"the worst of another start (region {num(reg, 'worst_inertia', '.1f')}, random "
            f"samples {num(rnd, 'worst_inertia', '.1f')})."),
        "The seeding costs one pass over the data for each centre after the first, to "
        "compute the distances D(x).")
    return notes


register("kmeans-steps", StepsConfig,
         description="Lloyd's iterations drawn one by one from means in x0 > init_x0_min, and "
                     "from k-means++",
         quick={"n_seeds": 100}, smoke={"n_seeds": 8, "max_panels": 4},
         needs=None, key_metric="iterations_saved_by_kmeanspp", order=61, narrate=narrate,
         lessons=(FEWER_ITERATIONS,))(measure)
