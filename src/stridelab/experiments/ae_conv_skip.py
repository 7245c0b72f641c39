"""ae-conv-skip: the convolutional autoencoder with skip connections, beside the plain one.

Yale 663, 6.2: each pooled map is added to the input of its mirror upsampling layer (the
sheet's ``mnist-cae-skip.pt``, also saved as ``mnist-cae-skip.pt2``). Both models are trained
alike; the skip model is then decoded from its skips alone (every code replaced by the mean
code) and from its code alone, to measure how much the skips bypass the bottleneck.
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

import numpy as np
import torch

from stridelab.experiments.autoencoding import (
    CONV_QUICK,
    SMOKE,
    ConvAEConfig,
    geometry_text,
    pair_embeddings_figure,
    reconstruction_text,
    save_models,
    skip_pair,
    training_record,
)
from stridelab.experiments.narrate import Lesson, Notes, num
from stridelab.experiments.plots import losses_figure, rows_figure
from stridelab.experiments.registry import register
from stridelab.programs.prob6_CAE import ConvAutoencoder

LOWER_ERROR = Lesson("Skip connections lower the reconstruction error", "test_mse", "<",
                     quick="test_mse_no_skip", full="test_mse_no_skip",
                     label="test MSE with skips")
BYPASS = Lesson("The skips bypass the code: with every code replaced by the mean code the "
                "skip model still reconstructs better than the plain model with its own",
                "mse_skips_only", "<", quick="test_mse_no_skip", full="test_mse_no_skip",
                label="MSE with the mean code")


@torch.no_grad()
def bypass_scores(model: ConvAutoencoder, X: torch.Tensor, device) -> dict:
    """How much a skip model's output depends on its code and on its skips.

    ``mse_embedding_only``: decode from the code with the skips left out.
    ``mse_skips_only``: decode from the skips with every code replaced by the mean code, so
    the bottleneck carries no information about the image.
    """
    model.eval()
    parameter = next(model.parameters())
    X = X.to(device, parameter.dtype)
    z, pooled = model.encode_with_skips(X)  # z: (N, 2)
    z_mean = z.mean(dim=0, keepdim=True).expand_as(z)  # (N, 2)
    embedding_only = model.decode(z, None)
    skips_only = model.decode(z_mean, pooled)
    return {"mse_embedding_only": float(((embedding_only - X) ** 2).mean()),
            "mse_skips_only": float(((skips_only - X) ** 2).mean()),
            "X_embedding_only": embedding_only.cpu().numpy(),
            "X_skips_only": skips_only.cpu().numpy()}


def measure(config: ConvAEConfig, ctx) -> dict:
    """ae-conv-skip: both models, the skip model saved as ``mnist-cae-skip.pt(2)``."""
    pair = skip_pair(config, ctx, reuse_plain=True)
    ds, X_test, y_test = pair["ds"], pair["X_test"], pair["y_test"]
    plain, skip = pair["scores"]["no skips"], pair["scores"]["with skips"]
    if pair["plain_metrics"] is not None:
        # ae-conv's model, ae-conv's numbers: one plain model, one MSE, in both studies
        plain = {**plain, "test_mse": pair["plain_metrics"]["test_mse"],
                 "knn_accuracy": pair["plain_metrics"]["knn_accuracy"]}
    skip_model = pair["models"]["with skips"]
    save_models(ctx, skip_model, X_test[:2], "mnist-cae-skip")
    bypass = bypass_scores(skip_model, X_test, ctx.device)
    ctx.write_json("history.json", pair["histories"])

    n_show = min(config.n_show, len(X_test))
    ctx.savefig(rows_figure(
        [("original", X_test[:n_show].numpy()),
         ("no skips", plain["X_hat"][:n_show]),
         ("with skips", skip["X_hat"][:n_show]),
         ("skips only\n(mean code)", bypass["X_skips_only"][:n_show]),
         ("code only\n(no skips)", bypass["X_embedding_only"][:n_show])],
        y_test[:n_show],
        f"Convolutional autoencoder on {ds.name}, without and with skips: test MSE "
        f"{plain['test_mse']:.4f} and {skip['test_mse']:.4f}"),
        "skip_reconstructions", caption="Originals, then reconstructions without and with "
        "skips; the last two rows feed the skip model's decoder only its skips (every code "
        "replaced by the mean code) or only its code")
    ctx.savefig(pair_embeddings_figure(
        pair, config, f"Codes of test images of {ds.name}, coloured by label"),
        "skip_embeddings", caption="The bottleneck's code without and with skips")
    ctx.savefig(losses_figure(pair["histories"],
                              f"Reconstruction MSE per epoch on {ds.name}",
                              reference=(pair["pca"]["mse"], "PCA, two components (test)")),
                "skip_losses", caption="Training and test MSE of both models")

    return {"test_mse": skip["test_mse"], "knn_accuracy": skip["knn_accuracy"],
            "test_mse_no_skip": plain["test_mse"], "knn_accuracy_no_skip":
            plain["knn_accuracy"], "mse_skips_only": bypass["mse_skips_only"],
            "mse_embedding_only": bypass["mse_embedding_only"],
            "pca2_test_mse": pair["pca"]["mse"],
            "pca2_knn_accuracy": pair["pca"]["knn_accuracy"], "dataset": ds.name,
            "n_train": len(pair["X_train"]), "n_test": len(X_test),
            "n_parameters": sum(p.numel() for p in skip_model.parameters()),
            "epoch_time_s": float(np.median(pair["histories"]["with skips"]["epoch_time"])),
            "plain_model_run": pair["plain_run"], "training": training_record(config, ctx),
            "with_skips": pair["seen"]["with skips"], "no_skips": pair["seen"]["no skips"]}


def narrate(metrics: dict, config: ConvAEConfig) -> Notes:
    k = num(config, "knn_k")
    skip, plain = num(metrics, "test_mse", ".4f"), num(metrics, "test_mse_no_skip", ".4f")
    notes = Notes()
    notes.add("**What the skips do to the bottleneck.** Each pooled map is added to the input "
              "of its mirror upsampling layer (addition, so every layer and the parameter "
              f"count, {num(metrics, 'n_parameters')}, stay as in the plain model). Both were "
              f"trained alike for {num(config, 'epochs')} epochs on {num(metrics, 'n_train')} "
              f"images of {metrics['dataset']}.",
              notes.claim(
                  "lower_error", LOWER_ERROR.holds(metrics),
                  f"With skips the test MSE is **{skip}** per pixel against **{plain}** "
                  "without: the decoder also receives the encoder's pooled maps, far more "
                  "than the code's two numbers.",
                  f"With skips the test MSE is **{skip}** per pixel, not below the **{plain}** "
                  "of the plain model: in this run the skips did not help the "
                  "reconstruction."))
    notes.add(notes.claim(
        "bypassed", BYPASS.holds(metrics),
        "With every image's code replaced by the mean code the skip model still "
        f"reconstructs with an MSE of **{num(metrics, 'mse_skips_only', '.4f')}**, "
        f"better than the plain model does with its own codes ({plain}): the "
        f"decoder bypasses the code. Skips make a good image-to-image network "
        "(a U-Net) but defeat the purpose of an autoencoder's bottleneck: the "
        "reconstruction error no longer measures what the code has learned.",
        "With every image's code replaced by the mean code the skip model's MSE "
        f"rises to **{num(metrics, 'mse_skips_only', '.4f')}**, not below the plain "
        f"model's {plain}: in this run the skip model still relies on its code."),
              "Decoding the code alone, skips left out, gives "
              f"{num(metrics, 'mse_embedding_only', '.4f')}.")
    plain_seen, skip_seen = metrics["no_skips"], metrics["with_skips"]
    notes.add(notes.claim(
        "plain_from_ae_conv", bool(metrics["plain_model_run"]),
        "The model without skips is the one `ae-conv` trained (the same configuration, seed "
        "and weights), so both studies report one plain model and one MSE for it.",
        "The model without skips was trained here, with the configuration and seed `ae-conv` "
        "uses, since no `ae-conv` run trained that way was at hand."),
              f"**Training losses.** After the last epoch the training loss is "
              f"{num(plain_seen, 'final_train_loss', '.4f')} without skips and "
              f"{num(skip_seen, 'final_train_loss', '.4f')} with them (test "
              f"{num(plain_seen, 'final_test_loss', '.4f')} and "
              f"{num(skip_seen, 'final_test_loss', '.4f')}):",
              notes.claim("skips_train_lower",
                          skip_seen["final_train_loss"] < plain_seen["final_train_loss"],
                          "the skip model fits its training images better.",
                          "the skip model does not fit its training images better."))
    notes.add("**Reconstructions, digit by digit.** Without skips:",
              reconstruction_text(notes, plain_seen, prefix="no_skips_"),
              "With skips:", reconstruction_text(notes, skip_seen, prefix="with_skips_"))
    notes.add("**The two codes.** Without skips:",
              geometry_text(notes, plain_seen, config, prefix="no_skips_"),
              "With skips:", geometry_text(notes, skip_seen, config, prefix="with_skips_"))
    notes.add(notes.claim(
        "code_loses_digits", metrics["knn_accuracy"] < metrics["knn_accuracy_no_skip"],
        f"The code carries less of the digit's identity: {k}-NN accuracy on it is "
        f"{num(metrics, 'knn_accuracy')} with skips against "
        f"{num(metrics, 'knn_accuracy_no_skip')} without.",
        f"In this run the code did not lose class information ({k}-NN accuracy "
        f"{num(metrics, 'knn_accuracy')} with skips, "
        f"{num(metrics, 'knn_accuracy_no_skip')} without), though nothing in the "
        "training objective asks it to keep any."))
    return notes


register("ae-conv-skip", ConvAEConfig,
         description="Convolutional autoencoder with skip connections pooling→upsampling, "
                     "against the plain one",
         quick=CONV_QUICK, smoke=SMOKE,
         needs="mnist", key_metric="test_mse", order=72, narrate=narrate,
         depends=("ae-conv",), lessons=(LOWER_ERROR, BYPASS))(measure)
