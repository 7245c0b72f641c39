"""mnist-samples: one random image per class, labelled, and how the classes and pixels are spread.

TU Wien 4.2.1: plot one randomly selected sample from each class. Alongside: the images per
class in each split and the grey-level statistics that the later studies rescale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np

from stridelab.experiments.narrate import Notes, num
from stridelab.experiments.plots import image_grid_figure, to_float
from stridelab.experiments.registry import register


@dataclass
class SamplesConfig:
    split: Literal["train", "test"] = "train"  # which split the samples are drawn from


# ---------------------------------------------------------------------------------------------
# measure


def _class_counts_figure(train_counts: np.ndarray, test_counts: np.ndarray, classes, name: str):
    fig, ax = plt.subplots(figsize=(8, 3.6))
    pos = np.arange(len(classes))
    ax.bar(pos - 0.2, train_counts, width=0.4, label=f"train ({train_counts.sum():,})")
    ax.bar(pos + 0.2, test_counts, width=0.4, label=f"test ({test_counts.sum():,})")
    long_names = max(len(str(c)) for c in classes) > 2
    ax.set_xticks(pos, classes, rotation=30 if long_names else 0)
    ax.set_xlabel("class")
    ax.set_ylabel("images")
    ax.set_title(f"{name}: images per class")
    ax.set_ylim(0, 1.25 * max(train_counts.max(), test_counts.max()))  # room for the legend
    ax.legend(loc="upper center", ncols=2, frameon=False)
    fig.tight_layout()
    return fig


def measure(config: SamplesConfig, ctx) -> dict:
    ds = ctx.load_dataset(family="mnist")
    X = ds.X_train if config.split == "train" else ds.X_test
    y = ds.y_train if config.split == "train" else ds.y_test
    rng = np.random.default_rng(ctx.seed)
    picks = [int(rng.choice(np.flatnonzero(y == k))) for k in range(ds.n_classes)
             if np.any(y == k)]
    titles = [f"{ds.classes[y[i]]} (label {y[i]})\n{config.split} #{i}" for i in picks]
    fig = image_grid_figure([X[i] for i in picks], titles,
                            f"{ds.name}: one random {config.split} image per class "
                            "(grey level 0-255)", ncols=5, colorbar=True, vmin=0, vmax=255)
    ctx.savefig(fig, "samples", caption=f"One randomly chosen {config.split} image per class "
                "with its label")

    train_counts = np.bincount(ds.y_train, minlength=ds.n_classes)
    test_counts = np.bincount(ds.y_test, minlength=ds.n_classes)
    ctx.savefig(_class_counts_figure(train_counts, test_counts, ds.classes, ds.name),
                "class_counts", caption="Images per class in each split")
    ctx.log("samples: " + ", ".join(f"{ds.classes[y[i]]}=#{i}" for i in picks))

    pixels = to_float(ds.X_train)  # (N, H, W) in [0, 1]
    return {"dataset": ds.name, "split": config.split, "n_classes": ds.n_classes,
            "n_shown": len(picks), "indices": picks, "labels": [int(y[i]) for i in picks],
            "n_train": int(len(ds.y_train)), "n_test": int(len(ds.y_test)),
            "image_height": int(ds.image_shape[0]), "image_width": int(ds.image_shape[1]),
            "train_counts": train_counts.tolist(), "test_counts": test_counts.tolist(),
            "train_count_min": int(train_counts.min()),
            "train_count_max": int(train_counts.max()),
            "pixel_mean": float(pixels.mean()), "pixel_std": float(pixels.std()),
            "background_fraction": float(np.mean(ds.X_train == 0))}


# ---------------------------------------------------------------------------------------------
# narrate


def narrate(metrics: dict, config: SamplesConfig) -> Notes:
    """The data set's size, class balance and grey levels, from the measured counts."""
    balanced = metrics["train_count_min"] == metrics["train_count_max"]
    notes = Notes()
    notes.add(
        f"`{metrics['dataset']}` holds {num(metrics, 'n_train')} training and "
        f"{num(metrics, 'n_test')} test images of {num(metrics, 'image_height')}×"
        f"{num(metrics, 'image_width')} grey pixels in {num(metrics, 'n_classes')} classes; "
        f"the figure shows one randomly chosen {config.split} image of each of them.",
        notes.claim("balanced", balanced,
                    f"Every class has {num(metrics, 'train_count_min')} training images.",
                    f"The classes are not exactly balanced: {num(metrics, 'train_count_min')} to "
                    f"{num(metrics, 'train_count_max')} training images per class."))
    notes.add(
        f"Scaled to the unit interval, the training pixels have mean "
        f"{num(metrics, 'pixel_mean', '.4f')} and standard deviation "
        f"{num(metrics, 'pixel_std', '.4f')}; "
        f"{num(metrics, 'background_fraction', '.1%')} of them are exactly zero,",
        notes.claim("mostly_background", metrics["background_fraction"] > 0.5,
                    "so most of each image is background.",
                    "so less than half of each image is empty background."))
    return notes


register("mnist-samples", SamplesConfig,
         description="One random image per class, labelled, and the class balance",
         quick={}, smoke={}, needs="mnist", key_metric="n_classes", order=20,
         narrate=narrate)(measure)
