"""ae-denoise: both convolutional autoencoders retrained on inputs corrupted by Gaussian noise.

Yale 663, 6.3: fresh noise C(x̃ | x) = N(x̃; x, σ² I) for every training batch, clean targets,
and one fixed corruption of the test set; how far each denoiser's output lies from the clean
image, from its own noisy input, and what keeps an autoencoder from learning the identity.
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

from dataclasses import dataclass

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
from stridelab.experiments.codes import reconstruction_mse
from stridelab.experiments.narrate import Lesson, Notes, num
from stridelab.experiments.plots import losses_figure, rows_figure
from stridelab.experiments.registry import bounded, register
from stridelab.torch.loop import predict


@dataclass
class DenoiseConfig(ConvAEConfig):
    # standard deviation σ of the additive Gaussian noise, pixel units
    noise_std: float = bounded(0.3, ge=0)
    export: bool = True  # also save both denoisers as torch.export programs (.pt2)


DENOISES = Lesson("The denoiser's output is closer to the clean image than its noisy input "
                  "is", "test_mse", "<", quick="noisy_input_mse", full="noisy_input_mse",
                  label="output against clean (no skips)")
SKIPS_HELP = Lesson("With skips, the output is closer to the clean image still",
                    "test_mse_skip", "<", quick="test_mse", full="test_mse",
                    label="output against clean (skips)")


def measure(config: DenoiseConfig, ctx) -> dict:
    """ae-denoise: both convolutional models on corrupted inputs, clean targets."""
    sigma = config.noise_std
    pair = skip_pair(config, ctx, noise_std=sigma)
    ds, X_test, y_test = pair["ds"], pair["X_test"], pair["y_test"]
    X_noisy = pair["X_test_input"]
    plain, skip = pair["scores"]["no skips"], pair["scores"]["with skips"]
    save_models(ctx, pair["models"]["no skips"], X_test[:2], "mnist_dae", config.export)
    save_models(ctx, pair["models"]["with skips"], X_test[:2], "mnist-dae-skip",
                 config.export)
    ctx.write_json("history.json", pair["histories"])
    noisy_mse = reconstruction_mse(X_noisy, X_test)  # what the identity map scores
    clean_in = {name: reconstruction_mse(predict(m, X_test, device=ctx.device), X_test)
                for name, m in pair["models"].items()}
    to_noisy = {name: reconstruction_mse(s["X_hat"], X_noisy)
                for name, s in pair["scores"].items()}
    clean = clean_trained(config, ctx)

    n_show = min(config.n_show, len(X_test))
    ctx.savefig(rows_figure(
        [("clean", X_test[:n_show].numpy()),
         (f"corrupted,\nσ = {sigma:g}", X_noisy[:n_show].numpy()),
         ("denoised,\nno skips", plain["X_hat"][:n_show]),
         ("denoised,\nwith skips", skip["X_hat"][:n_show])],
        y_test[:n_show],
        f"Denoising autoencoders on {ds.name}: MSE to the clean images {noisy_mse:.4f} "
        f"(corrupted), {plain['test_mse']:.4f} (no skips), {skip['test_mse']:.4f} (skips)"),
        "denoise_reconstructions", caption="Clean test images, their corrupted copies "
        r"x̃ = x + ε, ε ~ N(0, σ² I) (shown clipped to [0, 1]), and the outputs of both "
        "denoisers")
    ctx.savefig(pair_embeddings_figure(
        pair, config, f"Codes of corrupted test images (σ = {sigma:g}), coloured by label"),
        "denoise_embeddings", caption="Codes of the corrupted test images without and "
        "with skips")
    ctx.savefig(losses_figure(pair["histories"],
                              f"Denoising: MSE to the clean images per epoch on {ds.name}",
                              reference=(noisy_mse, "corrupted input itself (identity map)")),
                "denoise_losses", caption="Training and test MSE (against the clean images) "
                "of both denoisers")

    return {"test_mse": plain["test_mse"], "test_mse_skip": skip["test_mse"],
            "knn_accuracy": plain["knn_accuracy"], "knn_accuracy_skip": skip["knn_accuracy"],
            "noisy_input_mse": noisy_mse,
            "clean_input_mse": clean_in["no skips"],
            "clean_input_mse_skip": clean_in["with skips"],
            "output_to_noisy_mse": to_noisy["no skips"],
            "output_to_noisy_mse_skip": to_noisy["with skips"],
            "pca2_test_mse": pair["pca"]["mse"],
            "pca2_knn_accuracy": pair["pca"]["knn_accuracy"],
            "dataset": ds.name, "n_train": len(pair["X_train"]), "n_test": len(X_test),
            "training": training_record(config, ctx), **clean,
            "no_skips": pair["seen"]["no skips"], "with_skips": pair["seen"]["with skips"]}


def clean_trained(config: DenoiseConfig, ctx) -> dict:
    """The same two models trained on clean images, from the ``ae-conv`` and ``ae-conv-skip``
    runs trained as ``config`` asks (the same record: config, seed, device): their test MSE
    and k-NN accuracy on clean test images, each None when no such run is at hand (a ``--set``
    that changes the training here rules out every registered one)."""
    wanted = training_record(config, ctx)
    out = {"clean_trained_test_mse": None, "clean_trained_test_mse_skip": None,
           "clean_trained_knn_accuracy": None, "clean_trained_knn_accuracy_skip": None}
    if set(ctx.overrides) & set(wanted):
        ctx.log("the training is changed by --set: no clean-trained models to compare with")
        return out
    for name, suffix in (("ae-conv", ""), ("ae-conv-skip", "_skip")):
        metrics = ctx.dependency(name, accept=lambda m: m.get("training") == wanted)
        if metrics.get("training") == wanted:
            out[f"clean_trained_test_mse{suffix}"] = metrics["test_mse"]
            out[f"clean_trained_knn_accuracy{suffix}"] = metrics["knn_accuracy"]
    return out


def narrate(metrics: dict, config: DenoiseConfig) -> Notes:
    k = num(config, "knn_k")
    noisy = num(metrics, "noisy_input_mse", ".4f")
    plain, skip = num(metrics, "test_mse", ".4f"), num(metrics, "test_mse_skip", ".4f")
    notes = Notes()
    notes.add("**Denoising.** Both convolutional autoencoders were retrained on inputs "
              f"corrupted by C(x̃ | x) = N(x̃; x, σ² I) with σ = {num(config, 'noise_std', 'g')} "
              "(fresh noise for every batch, clean targets) and evaluated on one fixed "
              f"corruption of the test set, whose images lie {noisy} per pixel from the clean "
              "ones.",
              notes.claim("plain_denoises", DENOISES.holds(metrics),
                          f"The plain denoiser brings that down to **{plain}**,",
                          f"The plain denoiser does not improve on it (**{plain}**),"),
              notes.claim("skip_denoises", metrics["test_mse_skip"] < metrics["noisy_input_mse"],
                          f"the one with skips to **{skip}**",
                          f"nor does the one with skips (**{skip}**)"),
              f"(PCA's plane, projecting the corrupted images: "
              f"{num(metrics, 'pca2_test_mse', '.4f')}).")
    closer = (metrics["output_to_noisy_mse"] > metrics["test_mse"]
              and metrics["output_to_noisy_mse_skip"] > metrics["test_mse_skip"])
    notes.add("Compared with the corrupted images they were given, the outputs lie "
              f"{num(metrics, 'output_to_noisy_mse', '.4f')} (no skips) and "
              f"{num(metrics, 'output_to_noisy_mse_skip', '.4f')} (with skips) from them:",
              notes.claim(
                  "neither_copies", closer,
                  "both are closer to the clean image than to their own input, so "
                    "neither copies it.",
                    "at least one of them stays closer to its noisy input than to the clean "
                    "image, so it partly copies the noise."),
              f"On clean inputs they score {num(metrics, 'clean_input_mse', '.4f')} and "
              f"{num(metrics, 'clean_input_mse_skip', '.4f')}.",
              notes.claim("skips_help", SKIPS_HELP.holds(metrics),
                          "The skips help here too: the decoder sees the corrupted image's pooled "
                          "maps and acts as a local denoiser made of its convolutions.",
                          "The skips did not help the denoising in this run."))
    notes.add("**Keeping an autoencoder from learning the identity.** A network that can copy "
              "its input reaches zero reconstruction error and learns nothing. Three design "
              "choices prevent it: an *undercomplete* bottleneck (here a code of two numbers "
              "per image), so copying is impossible and only the directions that explain most "
              "of the data survive; *denoising*, where the input is corrupted and the target "
              f"is clean, so the identity map scores the corruption's own error ({noisy} here) "
              "and the network must learn where digits lie to beat it; and penalties on the "
              "code, sparse (an L1 penalty on the activations) or contractive (a penalty on "
              "the encoder's Jacobian), for overcomplete codes. Skip connections undo the "
              "first: they hand the decoder the input's feature maps around the bottleneck.",
              notes.claim(
                  "skip_better_on_clean",
                  metrics["clean_input_mse_skip"] < metrics["clean_input_mse"],
                  "On clean inputs the skip denoiser reconstructs better "
                  f"({num(metrics, 'clean_input_mse_skip', '.4f')} against "
                  f"{num(metrics, 'clean_input_mse', '.4f')}).",
                  "On clean inputs the skip denoiser does not reconstruct better "
                  f"({num(metrics, 'clean_input_mse_skip', '.4f')} against "
                  f"{num(metrics, 'clean_input_mse', '.4f')})."),
              notes.claim(
                  "skip_beats_identity", metrics["test_mse_skip"] < metrics["noisy_input_mse"],
                  "Under denoising it still cannot win by copying, and it beats the "
                  f"identity's {noisy}.",
                  f"Under denoising it does not beat the identity's {noisy}."))
    notes.add(*clean_trained_sentences(notes, metrics))
    notes.add("**Denoised reconstructions, digit by digit** (against the clean images). "
              "Without skips:", reconstruction_text(notes, metrics["no_skips"],
                                                    prefix="no_skips_"),
              "With skips:", reconstruction_text(notes, metrics["with_skips"],
                                                 prefix="with_skips_"))
    notes.add("**Codes of the corrupted images.** Without skips:",
              geometry_text(notes, metrics["no_skips"], config, prefix="no_skips_"),
              "With skips:", geometry_text(notes, metrics["with_skips"], config,
                                           prefix="with_skips_"))
    notes.add(notes.claim(
        "skip_code_loses_digits", metrics["knn_accuracy_skip"] < metrics["knn_accuracy"],
        f"The codes of corrupted images separate the digits less with skips: "
        f"{k}-NN accuracy {num(metrics, 'knn_accuracy_skip')} against "
        f"{num(metrics, 'knn_accuracy')} without.",
        f"The codes of corrupted images separate the digits at least as well with "
        f"skips: {k}-NN accuracy {num(metrics, 'knn_accuracy_skip')} against "
        f"{num(metrics, 'knn_accuracy')} without."))
    return notes


def clean_trained_sentences(notes: Notes, metrics: dict) -> list[str]:
    """What training on noise costs on clean images: each denoiser on clean test images
    against the same model trained on clean images (``ae-conv``, ``ae-conv-skip``), when
    those were trained alike; claims ``noise_costs_clean`` and ``noise_costs_clean_skip``."""
    out = []
    for suffix, model, study in (("", "plain", "ae-conv"), ("_skip", "skip", "ae-conv-skip")):
        reference = metrics[f"clean_trained_test_mse{suffix}"]
        if reference is None:
            out.append(f"No `{study}` run trained like this one was at hand, so the {model} "
                       "denoiser is not compared with its clean-trained twin.")
            continue
        mine = num(metrics, f"clean_input_mse{suffix}", ".4f")
        theirs = num(metrics, f"clean_trained_test_mse{suffix}", ".4f")
        out.append(notes.claim(
            f"noise_costs_clean{suffix}", metrics[f"clean_input_mse{suffix}"] > reference,
            f"On clean test images the {model} denoiser's error is {mine}, above the {theirs} "
            f"of the same model trained on clean images (`{study}`): learning to remove noise "
            "costs some detail.",
            f"On clean test images the {model} denoiser's error is {mine}, not above the "
            f"{theirs} of the same model trained on clean images (`{study}`): learning to "
            "remove noise cost nothing on clean images here."))
    return out


register("ae-denoise", DenoiseConfig,
         description="Denoising convolutional autoencoders (Gaussian noise σ=0.3), with and "
                     "without skips",
         # the denoisers are no file the sheet asks for: their .pt2 (two exports) in full runs
         quick={**CONV_QUICK, "export": False},
         smoke={**SMOKE, "export": True},
         needs="mnist", key_metric="test_mse", order=73, narrate=narrate,
         depends=("ae-conv", "ae-conv-skip"),
         lessons=(DENOISES, SKIPS_HELP))(measure)
