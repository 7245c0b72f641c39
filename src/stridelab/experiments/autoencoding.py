"""What the autoencoder studies share: their configs, data, training, scores, files and notes.

The studies (Yale CPSC 663, exercise II, Problems 5 and 6) each live in their own module:
``ae_linear``, ``ae_conv``, ``ae_conv_skip``, ``ae_denoise`` and ``pca_vs_linear_ae``. Every
model is trained through :func:`stridelab.torch.reconstruction.train_autoencoder` with the
per-pixel MSE against the clean images, and scored (:func:`score`) by its test MSE per pixel
and by the accuracy of a k-nearest-neighbour classifier (k = ``knn_k``) on its code: fitted
on the training codes, scored on the test codes (:mod:`stridelab.experiments.codes`).

The models the sheet asks for by name are saved twice (:func:`save_models`): as a state dict
(``.pt``, which the hand-in programs' classes load: :mod:`stridelab.programs.prob5_AE`,
:mod:`stridelab.programs.prob6_CAE`) and as a ``torch.export``
program (``.pt2``) that plain PyTorch runs without stridelab::

    import torch
    model = torch.export.load("mnist_cae.pt2").module()
    x_hat = model(x)        # x: float32 (N, 1, 28, 28) in [0, 1] -> (N, 1, 28, 28)
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from stridelab.experiments.codes import (
    ARM_ELONGATION,
    ARM_RADIAL_SHARE,
    class_means,
    code_confusion,
    code_geometry,
    code_separation,
    knn_predict,
    pca_reference,
    reconstruction_by_digit,
    reconstruction_mse,
)
from stridelab.experiments.narrate import Lesson, Notes, fmt, num
from stridelab.experiments.registry import bounded
from stridelab.experiments.plots import (
    embeddings_figure,
    losses_figure,
    rows_figure,
    take,
    to_float,
)
from stridelab.programs.prob6_CAE import ConvAutoencoder
from stridelab.torch.loop import history_summary, predict, rank
from stridelab.torch.reconstruction import (
    GaussianNoise,
    corrupt,
    dead_relu_units,
    embed,
    export_program,
    train_autoencoder,
)

# ---------------------------------------------------------------------------------------------
# configs


@dataclass
class AEConfig:
    epochs: int = bounded(20, ge=1)  # passes over the training set
    lr: float = bounded(1e-3, gt=0)  # Adam learning rate
    cosine: bool = False  # anneal the learning rate to 0 along a cosine over the run
    # with cosine: fraction of the steps spent rising from lr/25 to lr
    warmup: float = bounded(0.0, ge=0, lt=1)
    batch_size: int = bounded(32, ge=1)  # images per step
    n_train: int = bounded(0, ge=0)  # training images used, the first n of the split (0: all)
    n_test: int = bounded(0, ge=0)  # test images used (0: all)
    n_show: int = bounded(8, ge=1)  # test images shown in the reconstruction figures
    n_embed: int = bounded(2000, ge=1)  # test images in the embedding scatter plots
    knn_k: int = bounded(5, ge=1)  # neighbours of the k-NN classifier on the two-dimensional code


@dataclass
class ConvAEConfig(AEConfig):
    # The tiny convolutional model trains slowly through its 2-unit bottleneck: a larger
    # step annealed to 0 reaches a lower error than a constant 1e-3 in the same epochs, and
    # a short warm-up first (a one-cycle schedule) a lower one still (full MNIST, 10 epochs:
    # 0.0416 against 0.0429 for the cosine alone).
    epochs: int = bounded(50, ge=1)  # passes over the training set
    lr: float = bounded(3e-3, gt=0)  # peak Adam learning rate
    cosine: bool = True  # anneal the learning rate to 0 along a cosine over the run
    warmup: float = bounded(0.15, ge=0, lt=1)  # fraction of the steps spent rising from lr/25 to lr
    relu_bias: float = 1.0  # starting bias of the Linear layers that feed a ReLU


# the smoke run of the four image studies
SMOKE = {"epochs": 1, "n_train": 256, "n_test": 128, "n_embed": 128, "n_show": 4}
# The quick run of the three convolutional studies (ae-conv, ae-conv-skip, ae-denoise): one
# training for all three, so the skip study can take ae-conv's plain model and the denoisers
# repeat 6.1 and 6.2 with only the noise changed. 12 epochs: after 6 the code's 5-NN accuracy
# (0.369) was still below PCA's (0.418).
CONV_QUICK = {"epochs": 12, "n_train": 4000, "n_test": 2000}


# ---------------------------------------------------------------------------------------------
# data


def image_tensor(X: np.ndarray) -> torch.Tensor:
    """uint8 images (N, 28, 28) → float32 tensor (N, 1, 28, 28) in [0, 1]."""
    return torch.as_tensor(to_float(X)[:, None])


def subset(ds, n_train: int, n_test: int):
    """The first ``n_train`` / ``n_test`` images of each split (0: all) as tensors, labels."""
    n_train, n_test = take(n_train, len(ds.y_train)), take(n_test, len(ds.y_test))
    return (image_tensor(ds.X_train[:n_train]), ds.y_train[:n_train],
            image_tensor(ds.X_test[:n_test]), ds.y_test[:n_test])


# ---------------------------------------------------------------------------------------------
# training and scores


def train(model: torch.nn.Module, X_train: torch.Tensor, X_test: torch.Tensor, config, ctx,
          **kwargs) -> dict:
    """:func:`train_autoencoder` with the config's epochs, learning rate, schedule and batch size,
    reporting through the run context; ``kwargs`` go on to it (test inputs, noise, hooks)."""
    return train_autoencoder(model, X_train, X_test, epochs=config.epochs, lr=config.lr,
                             batch_size=config.batch_size, cosine=config.cosine,
                             warmup=config.warmup, device=ctx.device, seed=ctx.seed,
                             log=ctx.log, progress=ctx.progress, **kwargs)


def score(model, X_train, y_train, X_test, y_test, ctx, *, k: int,
           X_train_input=None, X_test_input=None) -> dict:
    """Test MSE per pixel (against the clean images), k-NN accuracy, codes, outputs."""
    X_train_input = X_train if X_train_input is None else X_train_input
    X_test_input = X_test if X_test_input is None else X_test_input
    X_hat = predict(model, X_test_input, device=ctx.device)  # (N, 1, 28, 28)
    Z_train = embed(model, X_train_input, ctx.device)  # (N_train, 2)
    Z_test = embed(model, X_test_input, ctx.device)  # (N_test, 2)
    y_pred = knn_predict(Z_train, y_train, Z_test, k)  # (N_test,)
    return {"test_mse": reconstruction_mse(X_hat, X_test),
            "knn_accuracy": float(np.mean(y_pred == np.asarray(y_test))),
            "knn_pred": y_pred, "X_hat": X_hat.numpy(), "Z_test": Z_test}


def training_record(config, ctx) -> dict:
    """What decides a trained model's numbers: the config's fields but the figure sizes, the
    seed and the device. Two runs with equal records train the same model, so a study can
    take another's model (and its numbers) instead of training it again."""
    record = {f.name: getattr(config, f.name) for f in dataclasses.fields(AEConfig)
              if f.name not in ("n_show", "n_embed")}
    if isinstance(config, ConvAEConfig):
        record["relu_bias"] = config.relu_bias
    return {**record, "seed": ctx.seed, "device": str(ctx.device)}


def interpretation(scores: dict, X_test, y_test, means: np.ndarray, n_classes: int) -> dict:
    """What the figures of one model show, as numbers: where the digits lie in its code
    (:func:`code_geometry`), the digit pairs a k-NN classifier on the code confuses most,
    both ways together (``knn_confused_pairs``), and each digit's reconstruction error and
    look (:func:`reconstruction_by_digit`, against the clean ``X_test``)."""
    geometry = code_geometry(scores["Z_test"], y_test, n_classes)
    return {**geometry,
            "arm_thresholds": {"radial_share": ARM_RADIAL_SHARE, "elongation": ARM_ELONGATION},
            "knn_confused_pairs": code_confusion(y_test, scores["knn_pred"], n_classes),
            **reconstruction_by_digit(scores["X_hat"], X_test, y_test, means)}


def dead_units_record(model: ConvAutoencoder, dead: dict[str, int]) -> list[dict]:
    """:func:`dead_relu_units` as metrics rows: each layer's sizes beside its dead count."""
    return [{"in_features": layer.in_features, "out_features": layer.out_features,
             "dead": dead[f"{layer.in_features}→{layer.out_features}"]}
            for layer in model.relu_linears()]


# ---------------------------------------------------------------------------------------------
# files


def cpu_state(model: torch.nn.Module) -> dict:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def save_exported(ctx, model: torch.nn.Module, example: torch.Tensor, name: str) -> Path | None:
    """Save ``model`` as a ``torch.export`` program ``name`` (.pt2) in the run directory.

    Written to a temporary name beside it and renamed, so a killed run leaves no half file.
    Plain PyTorch runs it: ``torch.export.load(path).module()(x)``.
    """
    if not ctx.is_main:
        return None
    from stridelab.experiments.artifacts import atomic_write

    program = export_program(model, example)
    path = ctx.path(name)
    with atomic_write(path, "wb") as fh:
        torch.export.save(program, fh)
    ctx.log(f"saved {name}: torch.export program, input (B, 1, 28, 28) float32 in [0, 1]")
    return path


def save_models(ctx, model: torch.nn.Module, example: torch.Tensor, stem: str,
                 export: bool = True) -> None:
    """``stem.pt`` (state dict) and, with ``export``, ``stem.pt2`` (torch.export program)."""
    ctx.save_torch(cpu_state(model), f"{stem}.pt")
    if export:
        save_exported(ctx, model, example, f"{stem}.pt2")


# ---------------------------------------------------------------------------------------------
# lessons and narration pieces


def versus_pca_lessons(code: str) -> tuple[Lesson, Lesson]:
    """The two lessons of one autoencoder against PCA with two components: ``code`` (e.g. "The
    code of the fully connected autoencoder") separates the digits better than PCA's scores,
    and the model reconstructs the test images better than PCA's plane."""
    return (Lesson(f"{code} separates the digits better than PCA's two scores", "knn_accuracy",
                   ">", quick="pca2_knn_accuracy", full="pca2_knn_accuracy",
                   label="k-NN accuracy on the code"),
            Lesson("It reconstructs the test images better than PCA with two components",
                   "test_mse", "<", quick="pca2_test_mse", full="pca2_test_mse",
                   label="test MSE per pixel"))


def schedule_text(config) -> str:
    """The learning-rate schedule, from the config's own values."""
    lr = num(config, "lr", "g")
    if not config.cosine:
        return f"learning rate {lr}"
    if config.warmup > 0:
        return (f"learning rate rising to {lr} over a fraction {num(config, 'warmup', 'g')} of "
                "the steps, then annealed to zero along a cosine")
    return f"learning rate {lr} annealed to zero along a cosine"


def separation_text(metrics: dict, config) -> str:
    """What the code's scatter shows, from the k-NN classifier's recall per digit."""
    best, worst = metrics["best_separated_digit"], metrics["worst_separated_digit"]
    recall = metrics["knn_recall_by_digit"]
    text = (f"On the code, the {num(config, 'knn_k')}-NN classifier labels "
            f"{fmt(recall[best], '.2f')} of the test images of digit {fmt(best)} right (its "
            f"best-separated digit) and {fmt(recall[worst], '.2f')} of digit {fmt(worst)} "
            "(its worst)")
    confused = metrics.get("most_confused")
    if confused:
        text += (f"; the most frequent confusion is digit {num(confused, 'true')} read as "
                 f"{num(confused, 'predicted')} (a fraction {num(confused, 'fraction', '.2f')} "
                 "of them)")
    return text + ": digits whose clusters overlap in the plane are the ones it mixes up."


def geometry_text(notes: Notes, seen: dict, config, *, prefix: str = "",
                  what: str = "the code") -> str:
    """Which digits overlap and which stand apart in the plane of a code, and how the plane is
    organised, from :func:`interpretation`'s numbers ``seen``; claims named ``{prefix}...``."""
    closest, isolated = seen["closest_pairs"], seen["most_isolated_digit"]
    if not closest or isolated is None:
        return ""
    first = closest[0]
    a, b = first["digits"]
    text = (f"In the plane of {what}, digits {fmt(a)} and {fmt(b)} overlap most: their "
            f"centroids lie {num(first, 'separation', '.2f')} of their mean spread apart "
            + notes.claim(f"{prefix}closest_overlap", first["separation"] < 1,
                          "(less than one spread: their clouds overlap)",
                          "(more than one spread: even the closest pair is set apart)"))
    if len(closest) > 1:
        text += ", then " + ", ".join(f"{fmt(p['digits'][0])} and {fmt(p['digits'][1])} "
                                      f"({num(p, 'separation', '.2f')})" for p in closest[1:])
    text += (f". Digit {num(isolated, 'digit')} stands most apart: its nearest neighbour, "
             f"{num(isolated, 'nearest')}, lies {num(isolated, 'separation', '.2f')} spreads "
             "away.")
    v1, v2 = seen["variance_by_axis"]
    thresholds = seen["arm_thresholds"]
    shares = (f"on average {num(seen, 'radial_share', '.0%')} of a digit's variance lies along "
              "the ray from the code's centre (its median) through the digit's centroid and "
              f"{num(seen, 'elongation', '.0%')} along the digit's own main axis")
    text += (f" The code's variance lies {fmt(v1, '.0%')} along z₁ and {fmt(v2, '.0%')} along "
             f"z₂, {num(seen, 'main_axis_share', '.0%')} along its main axis; "
             + notes.claim(f"{prefix}radial_arms", seen["radial_arms"],
                           f"the digits form arms from a common centre: {shares}.",
                           f"the digits do not form arms from a common centre: {shares} "
                           f"(arms would need at least "
                           f"{num(thresholds, 'radial_share', '.0%')} and "
                           f"{num(thresholds, 'elongation', '.0%')})."))
    pairs = seen["knn_confused_pairs"]
    if pairs:
        p = pairs[0]
        text += (f" The {num(config, 'knn_k')}-NN classifier on {what} confuses "
                 f"{p['classes'][0]} and {p['classes'][1]} most: {num(p, 'count')} of their test "
                 f"images ({num(p, 'fraction', '.0%')}), {num(p, 'a_as_b')} one way and "
                 f"{num(p, 'b_as_a')} the other.")
    return text


def reconstruction_text(notes: Notes, seen: dict, *, prefix: str = "",
                        what: str = "the reconstructions") -> str:
    """Which digits reconstruct worst and best, and which digit the reconstructions of each
    resemble, from :func:`interpretation`'s numbers ``seen``; claims named ``{prefix}...``."""
    worst, best = seen["worst_reconstructed_digit"], seen["best_reconstructed_digit"]
    misread = seen["misread_digits"]
    text = (f"Digit by digit, {what} err most on {num(worst, 'digit')} (test MSE "
            f"{num(worst, 'mse', '.4f')}) and least on {num(best, 'digit')} "
            f"({num(best, 'mse', '.4f')}). Read by the nearest mean training image, "
            f"{num(seen, 'read_as_own_digit', '.0%')} of them look like their own digit, "
            f"against {num(seen, 'originals_read_as_own_digit', '.0%')} of the originals")
    parts = [f"{num(r, 'digit')} look most like {num(r, 'read_as')} "
             f"({num(r, 'fraction', '.0%')} of them; {num(r, 'original_own_fraction', '.0%')} "
             f"of the original {num(r, 'digit')}s look like themselves)" for r in misread[:3]]
    return text + notes.claim(
        f"{prefix}misread", bool(misread),
        "; the reconstructions of " + ", of ".join(parts) + ": the model draws those digits "
        "as the shapes of others.",
        "; every digit's reconstructions still look most like that digit.")


def versus_pca(notes: Notes, metrics: dict, config, lessons: tuple[Lesson, Lesson]) -> list[str]:
    """The k-NN accuracy of the code and the reconstruction, each against PCA's, both ways:
    the claims of the two :func:`versus_pca_lessons` (``separates_digits``, ``reconstructs``)."""
    separates, reconstructs = lessons
    k = num(config, "knn_k")
    mse = (f"test MSE **{num(metrics, 'test_mse', '.4f')}** per pixel against "
           f"{num(metrics, 'pca2_test_mse', '.4f')} for PCA with two components")
    return [
        notes.claim("reconstructs", reconstructs.holds(metrics),
                    f"It reconstructs the test images better than PCA's best plane: {mse}.",
                    f"It reconstructs the test images no better than PCA's best plane: {mse}."),
        notes.claim("separates_digits", separates.holds(metrics),
                    f"A {k}-NN classifier on its code reaches "
                    f"**{num(metrics, 'knn_accuracy')}** test accuracy against "
                    f"{num(metrics, 'pca2_knn_accuracy')} on PCA's two scores: the nonlinear "
                    "encoder separates the digits better than two linear projections.",
                    f"A {k}-NN classifier on its code reaches "
                    f"**{num(metrics, 'knn_accuracy')}** test accuracy, not above the "
                    f"{num(metrics, 'pca2_knn_accuracy')} of PCA's two scores: in this run the "
                    "nonlinear encoder separates the digits no better than two linear "
                    "projections."),
    ]


def digit_reconstructions_figure(X_test, X_hat, y_test, seen: dict, title: str):
    """Per digit (columns): its first test image, that image's reconstruction and the mean of
    all its reconstructions, titled with the digit's MSE and what its reconstructions look
    like (``seen``: :func:`interpretation`)."""
    X_test, y_test = np.asarray(X_test), np.asarray(y_test)
    rows = seen["read_as_by_digit"]
    first = [int(np.flatnonzero(y_test == r["digit"])[0]) for r in rows]
    mean_hat = np.stack([np.asarray(X_hat)[y_test == r["digit"]].mean(axis=0) for r in rows])
    titles = [f"{r['digit']}: MSE {seen['mse_by_digit'][r['digit']]:.3f}\nlike "
              f"{r['read_as']} ({r['fraction']:.0%})" for r in rows]
    return rows_figure([("original", X_test[first]), ("its\nreconstruction",
                                                       np.asarray(X_hat)[first]),
                        ("mean of the\nreconstructions", mean_hat)],
                       [r["digit"] for r in rows], title, titles=titles)


# ---------------------------------------------------------------------------------------------
# one model against PCA (ae-linear, ae-conv)


def single_model_study(model: torch.nn.Module, config: AEConfig, ctx, *, label: str,
                        stem: str) -> dict:
    """Train one autoencoder, score it against PCA, draw it, save it; returns the metrics."""
    ds = ctx.load_dataset(family="mnist")
    X_train, y_train, X_test, y_test = subset(ds, config.n_train, config.n_test)
    n_params = sum(p.numel() for p in model.parameters())
    ctx.log(f"{label}: {n_params} parameters, {len(X_train)} training images, "
            f"{config.epochs} epochs")
    history = train(model, X_train, X_test, config, ctx)
    save_models(ctx, model, X_test[:2], stem)
    scores = score(model, X_train, y_train, X_test, y_test, ctx, k=config.knn_k)
    pca = pca_reference(X_train, y_train, X_test, y_test, k=config.knn_k)
    ctx.write_json("history.json", history)

    means = class_means(X_train, y_train, len(ds.classes))  # (K, 784) from the originals
    seen = interpretation(scores, X_test, y_test, means, len(ds.classes))
    n_show, n_embed = min(config.n_show, len(X_test)), min(config.n_embed, len(X_test))
    ctx.savefig(rows_figure([("original", X_test[:n_show].numpy()),
                             ("reconstruction", scores["X_hat"][:n_show])],
                            y_test[:n_show],
                            f"{label} on {ds.name}: test MSE {scores['test_mse']:.4f} per "
                            "pixel"),
                "reconstructions", caption="Test images (top row) and their reconstructions "
                "through the two-dimensional code (bottom row)")
    ctx.savefig(digit_reconstructions_figure(X_test, scores["X_hat"], y_test, seen,
                                             f"{label} on {ds.name}, digit by digit"),
                "reconstructions_by_digit", caption="The first test image of each digit, its "
                "reconstruction and the mean of all reconstructions of that digit; titles: the "
                "digit's test MSE per pixel, and \"like d (p)\": the digit d whose mean "
                "training image is nearest to the largest share p of its reconstructions")
    ctx.savefig(embeddings_figure(
        [(scores["Z_test"][:n_embed], f"{label}: {config.knn_k}-NN accuracy "
          f"{scores['knn_accuracy']:.3f}"),
         (pca["scores_test"][:n_embed], f"PCA, two components: {config.knn_k}-NN accuracy "
          f"{pca['knn_accuracy']:.3f}")],
        y_test[:n_embed], ds.classes,
        f"Codes of {n_embed} test images of {ds.name}, coloured by label"),
        "embeddings", caption="The two-dimensional code of a batch of test images, beside "
        "the first two principal components for reference")
    ctx.savefig(losses_figure({label: history}, f"{label} on {ds.name}: MSE per pixel",
                              reference=(pca["mse"], "PCA, two components (test)")),
                "loss_curves", caption="Training and test reconstruction MSE per epoch")

    metrics = {"test_mse": scores["test_mse"], "knn_accuracy": scores["knn_accuracy"],
               "pca2_test_mse": pca["mse"], "pca2_knn_accuracy": pca["knn_accuracy"],
               **code_separation(y_test, scores["knn_pred"], len(ds.classes)),
               "dataset": ds.name, "n_train": len(X_train), "n_test": len(X_test),
               "n_parameters": n_params, **history_summary(history), **seen,
               # the embeddings figure's second panel, for a comparison with the code
               "pca2_geometry": code_geometry(pca["scores_test"], y_test, len(ds.classes)),
               "training": training_record(config, ctx)}
    if isinstance(model, ConvAutoencoder):
        dead = dead_relu_units(model, X_test, ctx.device)
        metrics["dead_relu_units"] = dead_units_record(model, dead)
    ctx.log(f"{label}: test MSE {scores['test_mse']:.4f} (PCA, two components "
            f"{pca['mse']:.4f}), {config.knn_k}-NN accuracy on the code "
            f"{scores['knn_accuracy']:.3f} (PCA {pca['knn_accuracy']:.3f})")
    return metrics


# ---------------------------------------------------------------------------------------------
# the plain and the skip model side by side (ae-conv-skip, ae-denoise)


def plain_from_ae_conv(config: ConvAEConfig, ctx) -> dict | None:
    """The plain model of an ``ae-conv`` run trained exactly as ``config`` asks, or None.

    ``ae-conv`` trains the sheet's plain model (6.1); the skip study (6.2) compares with that
    very model instead of training a second one, so both report one MSE for it. The run is
    found (or made) by ``ctx.dependency``; it is taken only when its training record
    (:func:`training_record`: config, seed, device) equals this one's and its weights and
    history are there. A ``--set`` that changes the training here rules out every registered
    ``ae-conv`` run, so none is looked for.

    Returns ``{"model", "history", "metrics", "run"}``, or None (the caller trains the model
    itself, from the same seed: the same numbers).
    """
    wanted = training_record(config, ctx)
    changed = sorted(set(ctx.overrides) & set(wanted))
    if changed:
        ctx.log(f"--set {', '.join(changed)} changes the training: the plain model is trained "
                "here, not taken from ae-conv")
        return None
    metrics = ctx.dependency("ae-conv", accept=lambda m: m.get("training") == wanted)
    run = ctx.dependencies["ae-conv"]["run"]
    weights, history = Path(run) / "mnist_cae.pt", Path(run) / "history.json"
    if metrics.get("training") != wanted or not run or not weights.is_file() \
            or not history.is_file():
        ctx.log(f"the ae-conv run {run or '(none)'} was trained otherwise or lacks its model: "
                "the plain model is trained here")
        return None
    model = ConvAutoencoder(latent_dim=2, skip=False, relu_bias=config.relu_bias)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return {"model": model, "history": json.loads(history.read_text(encoding="utf-8")),
            "metrics": metrics, "run": str(run)}


def skip_pair(config: ConvAEConfig, ctx, *, noise_std: float = 0.0, reuse_plain: bool = False):
    """The convolutional autoencoder without and with skips, trained alike on the same data.

    Each model starts from the weights ``torch.manual_seed(ctx.seed)`` gives, as ``ae-conv``'s
    does. With ``reuse_plain`` (and no noise) the plain model is ``ae-conv``'s own
    (:func:`plain_from_ae_conv`) when one was trained as ``config`` asks; ``out["plain_run"]``
    names that run ("" when the model was trained here).
    """
    ds = ctx.load_dataset(family="mnist")
    X_train, y_train, X_test, y_test = subset(ds, config.n_train, config.n_test)
    X_test_input = X_train_input = None
    transform = None
    if noise_std > 0:
        # fixed corruptions for evaluation; fresh ones for every training batch
        X_test_input = corrupt(X_test, noise_std, seed=ctx.seed + 1)
        X_train_input = corrupt(X_train, noise_std, seed=ctx.seed + 2)
    plain = plain_from_ae_conv(config, ctx) if reuse_plain and noise_std == 0 else None
    out = {"ds": ds, "X_train": X_train, "y_train": y_train, "X_test": X_test,
           "y_test": y_test, "X_test_input": X_test_input, "models": {}, "histories": {},
           "scores": {}, "plain_run": plain["run"] if plain else "",
           "plain_metrics": plain["metrics"] if plain else None}
    for skip in (False, True):
        name = "with skips" if skip else "no skips"
        if plain is not None and not skip:
            ctx.log(f"the model without skips is ae-conv's, from {plain['run']}")
            model, history = plain["model"], plain["history"]
        else:
            torch.manual_seed(ctx.seed)  # the initial weights of ae-conv's model
            model = ConvAutoencoder(latent_dim=2, skip=skip, relu_bias=config.relu_bias)
            if noise_std > 0:
                transform = GaussianNoise(noise_std, seed=ctx.seed + 3 + 1000 * rank())
            ctx.log(f"training the convolutional autoencoder {name}"
                    + (f" on inputs with Gaussian noise σ = {noise_std:g}" if noise_std > 0
                       else ""))
            history = train(model, X_train, X_test, config, ctx, X_test_input=X_test_input,
                            input_transform=transform)
        out["models"][name] = model
        out["histories"][name] = history
        out["scores"][name] = score(model, X_train, y_train, X_test, y_test, ctx,
                                     k=config.knn_k, X_train_input=X_train_input,
                                     X_test_input=X_test_input)
    out["pca"] = pca_reference(X_train, y_train, X_test, y_test, k=config.knn_k,
                               X_test_input=X_test_input)
    means = class_means(X_train, y_train, len(ds.classes))  # (K, 784) from the originals
    out["seen"] = {name: {**interpretation(s, X_test, y_test, means, len(ds.classes)),
                          **history_summary(out["histories"][name])}
                   for name, s in out["scores"].items()}
    return out


def pair_embeddings_figure(pair: dict, config, title: str):
    plain, skip = pair["scores"]["no skips"], pair["scores"]["with skips"]
    n_embed = min(config.n_embed, len(pair["X_test"]))
    return embeddings_figure(
        [(plain["Z_test"][:n_embed], f"no skips: {config.knn_k}-NN accuracy "
          f"{plain['knn_accuracy']:.3f}"),
         (skip["Z_test"][:n_embed], f"with skips: {config.knn_k}-NN accuracy "
          f"{skip['knn_accuracy']:.3f}")],
        pair["y_test"][:n_embed], pair["ds"].classes, title)

