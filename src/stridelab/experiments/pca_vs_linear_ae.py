"""pca-vs-linear-ae: an autoencoder without nonlinearities against PCA with two components.

Yale 663, 5.3: without nonlinearities the autoencoder is an affine map x̂ = B(Ax + a) + b of
rank two, whose best fit is PCA's plane (Eckart–Young). The principal angles between the
decoder's column space and PCA's plane are recorded after every epoch; the code is compared
with PCA's scores, and the encoder's rows with PCA's plane within the directions that hold
most of the variance.
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

from dataclasses import dataclass

import numpy as np
import torch

from stridelab.experiments.autoencoding import (
    cpu_state,
    schedule_text,
    score,
    subset,
    train,
)
from stridelab.experiments.codes import (
    code_geometry,
    pca_reference,
    principal_angles_deg,
    principal_components,
)
from stridelab.experiments.narrate import Lesson, Notes, fmt, num
from stridelab.experiments.plots import embeddings_figure, integer_ticks
from stridelab.experiments.registry import bounded, register
from stridelab.programs.prob5_AE import MLPAutoencoder
from stridelab.torch.loop import history_summary


@dataclass
class LinearAEConfig:
    epochs: int = bounded(60, ge=1)  # passes over the training set
    lr: float = bounded(1e-3, gt=0)  # Adam learning rate at the start of the cosine
    cosine: bool = True  # anneal the learning rate to 0 along a cosine over the run
    # with cosine: fraction of the steps spent rising from lr/25 to lr
    warmup: float = bounded(0.0, ge=0, lt=1)
    batch_size: int = bounded(64, ge=1)  # images per step
    n_train: int = bounded(0, ge=0)  # training images used (0: all)
    n_test: int = bounded(0, ge=0)  # test images used (0: all)
    # hidden widths of the encoder (decoder: reversed)
    hidden: tuple[int, ...] = bounded((128, 64, 12), ge=1)
    n_embed: int = bounded(2000, ge=1)  # test images in the embedding scatter plots
    knn_k: int = bounded(5, ge=1)  # neighbours of the k-NN classifier on the two-dimensional code
    # fraction of the variance held by the directions the
    variance_span: float = bounded(0.99, gt=0, le=1)


SAME_PLANE_DEG = 2.0  # largest principal angle (degrees) read as "the same plane as PCA's"

SAME_PLANE = Lesson("The linear autoencoder's decoder spans PCA's plane: its largest principal "
                    "angle to it, in degrees", "max_angle_deg", "<=", quick=SAME_PLANE_DEG,
                    full=SAME_PLANE_DEG, label="largest principal angle (°)")


def measure(config: LinearAEConfig, ctx) -> dict:
    """pca-vs-linear-ae: the angles between the decoder's plane and PCA's, per epoch."""
    import matplotlib.pyplot as plt

    ds = ctx.load_dataset(family="mnist")
    X_train, y_train, X_test, y_test = subset(ds, config.n_train, config.n_test)
    pca = pca_reference(X_train, y_train, X_test, y_test, k=config.knn_k)
    V = pca["components"]  # (784, 2): the PCA subspace
    model = MLPAutoencoder(hidden=tuple(config.hidden), latent_dim=2, activation=False)
    angle_history: list[list[float]] = []

    def record_angles(epoch: int, history: dict) -> None:
        _, _, B, _ = model.affine_maps()
        angle_history.append(principal_angles_deg(B.double().cpu().numpy(), V).tolist())

    history = train(model, X_train, X_test, config, ctx, on_epoch_end=record_angles)
    ctx.save_torch(cpu_state(model), "mnist_linear_ae.pt")
    A, a, B, b = (t.double().cpu().numpy() for t in model.affine_maps())
    decoder_angles = principal_angles_deg(B, V)  # (2,)
    encoder_angles = principal_angles_deg(A.T, V)
    # The loss weighs the encoder's weights along each direction by the data's variance there,
    # so along directions of little or no variance (border pixels that are always 0) they are
    # barely constrained: compare the rows within the directions holding most of the variance.
    _, U, variances = principal_components(X_train.reshape(len(X_train), -1).double().numpy(),
                                           784)
    n_span = int(np.searchsorted(np.cumsum(variances) / variances.sum(), config.variance_span)
                 + 1)
    n_span = min(n_span, U.shape[1])
    span = U[:, :n_span]  # (784, n_span)
    encoder_angles_in_span = principal_angles_deg(span @ (span.T @ A.T), V)
    scores = score(model, X_train, y_train, X_test, y_test, ctx, k=config.knn_k)
    # the AE's code is PCA's scores up to an invertible 2×2 map: fit it and measure the fit
    Z_test, S_test = scores["Z_test"], pca["scores_test"]  # (N, 2) each
    Z1 = np.column_stack([Z_test, np.ones(len(Z_test))])  # (N, 3)
    M, *_ = np.linalg.lstsq(Z1, S_test, rcond=None)  # (3, 2)
    r2 = 1.0 - np.sum((Z1 @ M - S_test) ** 2) / np.sum((S_test - S_test.mean(0)) ** 2)
    ctx.write_json("history.json", {**history, "principal_angles_deg": angle_history})

    n_embed = min(config.n_embed, len(X_test))
    ctx.savefig(embeddings_figure(
        [(Z_test[:n_embed], "linear autoencoder code"), (S_test[:n_embed], "PCA scores")],
        y_test[:n_embed], ds.classes,
        f"Linear autoencoder against PCA on {ds.name}: the same plane, other axes "
        f"(R² of a linear map between them: {r2:.4f})"),
        "embeddings", caption="The linear autoencoder's code and PCA's two scores")
    fig, axes = plt.subplots(1, 4, figsize=(9.6, 2.9))
    basis = [(V[:, 0], "PCA component 1"), (V[:, 1], "PCA component 2"),
             (B[:, 0], "decoder column 1"), (B[:, 1], "decoder column 2")]
    for ax, (v, name) in zip(axes, basis):
        im = ax.imshow(v.reshape(28, 28) / np.abs(v).max(), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    fig.colorbar(im, ax=list(axes), fraction=0.02, pad=0.02)
    fig.suptitle("Bases of the two planes (each image divided by its largest absolute entry; "
                 "red positive, blue negative)", fontsize=10)
    ctx.savefig(fig, "bases", caption="PCA's principal directions and the columns of the "
                "autoencoder's decoder map B: other vectors spanning (nearly) the same plane")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.0))
    angles = np.array(angle_history) if angle_history else np.zeros((0, 2))
    for j in range(angles.shape[1]):
        axes[0].semilogy(history["epoch"], np.maximum(angles[:, j], 1e-6), "o-", ms=3,
                         label=f"angle {j + 1}")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("principal angle (degrees, log scale)")
    axes[0].set_title("Decoder's plane against PCA's", fontsize=10)
    axes[0].legend(fontsize=9, loc="upper right")
    axes[0].grid(alpha=0.3, which="both")
    axes[1].plot(history["epoch"], history["train_loss"], "o-", ms=3, label="autoencoder: train")
    axes[1].plot(history["epoch"], history["test_loss"], "s--", ms=3, label="autoencoder: test")
    axes[1].axhline(pca["mse"], color="gray", ls=":", label="PCA, two components: test")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("MSE per pixel")
    axes[1].set_title("Reconstruction error", fontsize=10)
    axes[1].legend(fontsize=9, loc="upper right")
    axes[1].grid(alpha=0.3)
    for ax in axes:
        integer_ticks(ax)
    fig.suptitle(f"Linear autoencoder against PCA on {ds.name}", fontsize=11)
    fig.tight_layout()
    ctx.savefig(fig, "convergence", caption="Principal angles and reconstruction MSE per epoch")

    # what the two scatters show: the same digits overlap in both planes when the code is
    # PCA's scores in another basis (distances relative to spreads are not basis-free, so the
    # numbers differ; which digits overlap is what the figure lets one compare)
    geometry = {"code": code_geometry(Z_test, y_test, len(ds.classes)),
                "pca2": code_geometry(S_test, y_test, len(ds.classes))}
    return {"max_angle_deg": float(decoder_angles.max()),
            "decoder_angles_deg": decoder_angles.tolist(),
            "encoder_angles_deg": encoder_angles.tolist(),
            "encoder_angles_in_span_deg": encoder_angles_in_span.tolist(),
            "span_dim": n_span,
            "test_mse": scores["test_mse"], "pca2_test_mse": pca["mse"],
            "mse_ratio": scores["test_mse"] / pca["mse"], "code_to_pca_r2": float(r2),
            "knn_accuracy": scores["knn_accuracy"], "pca2_knn_accuracy": pca["knn_accuracy"],
            "n_linear_per_half": sum(isinstance(m, torch.nn.Linear) for m in model.encoder),
            "dataset": ds.name, "n_train": len(X_train), "n_test": len(X_test),
            **history_summary(history), "code_geometry": geometry["code"],
            "pca2_geometry": geometry["pca2"]}


def narrate(metrics: dict, config: LinearAEConfig) -> Notes:
    decoder, encoder = metrics["decoder_angles_deg"], metrics["encoder_angles_deg"]
    in_span = metrics["encoder_angles_in_span_deg"]
    angles = f"{fmt(decoder[0], '.2f')}° and {fmt(decoder[1], '.2f')}°"
    notes = Notes()
    notes.add("**PCA against a linear autoencoder.** Without nonlinearities the autoencoder "
              f"({num(metrics, 'n_linear_per_half')} Linear layers per half, "
              f"{num(config, 'epochs')} epochs of Adam with {schedule_text(config)}, on "
              f"{num(metrics, 'n_train')} images of {metrics['dataset']}) is an affine map "
              "x̂ = B(Ax + a) + b whose rank is the code's size. Minimising the squared error "
              "over such maps has the same optimum as PCA: the plane through the mean spanned "
              "by the top principal directions (Eckart–Young).",
              notes.claim(
                  "same_plane", SAME_PLANE.holds(metrics),
                  f"The trained decoder reaches it: the principal angles between the column "
                  f"space of its map B and PCA's plane are **{angles}**,",
                  f"The trained decoder has not reached it in this run: the principal angles "
                  f"between the column space of its map B and PCA's plane are **{angles}**,"),
              f"and its test MSE is **{num(metrics, 'test_mse', '.5f')}** against PCA's "
              f"{num(metrics, 'pca2_test_mse', '.5f')}.")
    notes.add(notes.claim(
        "code_is_pca_in_another_basis", metrics["code_to_pca_r2"] >= 0.99,
        "What differs is the basis: the autoencoder's code is PCA's scores after an "
        "invertible linear map (a linear fit between them explains R² = "
        f"{num(metrics, 'code_to_pca_r2', '.4f')}), so its axes are neither "
        "orthogonal nor ordered by variance.",
        "A linear fit from the autoencoder's code to PCA's scores explains only "
        f"R² = {num(metrics, 'code_to_pca_r2', '.4f')}: the code has not yet become "
        "PCA's scores in another basis."),
              "Gradient descent only approaches the plane that PCA computes in closed form "
              "from one eigendecomposition.")
    code, pca = metrics["code_geometry"], metrics["pca2_geometry"]
    if code["closest_pairs"] and pca["closest_pairs"]:
        a, b = code["closest_pairs"][0]["digits"]
        c, d = pca["closest_pairs"][0]["digits"]
        notes.add(
            f"In the scatter of the code, digits {fmt(a)} and {fmt(b)} overlap most (centroids "
            f"{num(code['closest_pairs'][0], 'separation', '.2f')} of their mean spread apart) "
            f"and digit {num(code['most_isolated_digit'], 'digit')} stands most apart; in PCA's "
            f"scores, {fmt(c)} and {fmt(d)} "
            f"({num(pca['closest_pairs'][0], 'separation', '.2f')}) and digit "
            f"{num(pca['most_isolated_digit'], 'digit')}:",
            notes.claim("same_overlap", {a, b} == {c, d},
                        "the same pair overlaps most in both, as two views of one plane should "
                        "show.",
                        "not the same pair: the separation is measured in each plane's own "
                        "units, and a linear map between the planes that stretches some "
                        "directions more than others can reorder the closest pairs."))
    notes.add(f"The encoder's rows are at {fmt(encoder[0], '.2f')}° and "
              f"{fmt(encoder[1], '.2f')}° from PCA's plane. The squared "
              "error weighs the encoder's weights along each direction by the data's variance "
              "there, so along directions of little or no variance (border pixels that are "
              "always 0) nothing pulls them to PCA's values. Within the "
              f"{num(metrics, 'span_dim')} principal directions that hold a fraction "
              f"{num(config, 'variance_span', '.2f')} of the variance they are at "
              f"{fmt(in_span[0], '.2f')}° and {fmt(in_span[1], '.2f')}°.")
    return notes


register("pca-vs-linear-ae", LinearAEConfig,
         description="Autoencoder without nonlinearities against PCA with two components: "
                     "principal angles between the planes, reconstruction errors",
         quick={"epochs": 25, "n_train": 4000, "n_test": 2000},
         smoke={"epochs": 1, "n_train": 256, "n_test": 128, "n_embed": 128},
         needs="mnist", key_metric="max_angle_deg", order=74, narrate=narrate,
         lessons=(
             SAME_PLANE,
             Lesson("Its reconstruction error is PCA's, within one percent", "mse_ratio", "<=",
                    quick=1.01, full=1.01, label="test MSE / PCA's"),
         ))(measure)
