"""ae-conv: the sheet's convolutional autoencoder with a two-dimensional code (Yale 663, 6.1).

Two convolutions with max pooling, two Linear layers down to a code of two numbers, then the
mirror image with nearest-neighbour upsampling and a sigmoid output (the sheet's
``mnist_cae.pt``, also saved as ``mnist_cae.pt2``); scored against PCA with two components,
with the dead ReLU units of its Linear layers counted.
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

from stridelab.experiments.autoencoding import (
    geometry_text,
    reconstruction_text,
    CONV_QUICK,
    SMOKE,
    ConvAEConfig,
    schedule_text,
    separation_text,
    single_model_study,
    versus_pca,
    versus_pca_lessons,
)
from stridelab.experiments.narrate import Lesson, Notes, num
from stridelab.experiments.registry import register
from stridelab.programs.prob6_CAE import ConvAutoencoder


def measure(config: ConvAEConfig, ctx) -> dict:
    """ae-conv: the sheet's convolutional autoencoder, saved as ``mnist_cae.pt(2)``."""
    model = ConvAutoencoder(latent_dim=2, skip=False, relu_bias=config.relu_bias)
    return single_model_study(model, config, ctx, label="Convolutional autoencoder",
                               stem="mnist_cae")


LESSONS = versus_pca_lessons("The convolutional autoencoder's code")


def narrate(metrics: dict, config: ConvAEConfig) -> Notes:
    notes = Notes()
    notes.add(f"The sheet's convolutional autoencoder ({num(metrics, 'n_parameters')} "
              "parameters: two convolutions with max pooling, two Linear layers down to a code "
              "of two numbers, then the mirror image with nearest-neighbour upsampling and a "
              f"sigmoid output) was trained for {num(config, 'epochs')} epochs with Adam "
              f"({schedule_text(config)}, batch {num(config, 'batch_size')}) on "
              f"{num(metrics, 'n_train')} images of {metrics['dataset']}.",
              *versus_pca(notes, metrics, config, LESSONS))
    notes.add(separation_text(metrics, config))
    notes.add("**What the code shows.**", geometry_text(notes, metrics, config))
    notes.add("**What the reconstructions show.**", reconstruction_text(notes, metrics))
    dead = metrics["dead_relu_units"]
    parts = [f"{num(row, 'dead')} of {num(row, 'out_features')} in the layer from "
             f"{num(row, 'in_features')}" for row in dead]
    n_dead = sum(row["dead"] for row in dead)
    notes.add("Units that no test image activates (dead ReLUs), per Linear layer feeding a "
              "ReLU: " + ", ".join(parts) + ". "
              + notes.claim("none_dead", n_dead == 0,
                            "None of them died, so every unit still takes part.",
                            "A dead unit outputs zero for every image and gets no gradient "
                            "again, so it no longer takes part in the code.")
              + f" Those layers start with bias {num(config, 'relu_bias', 'g')}, which keeps "
              "more of them alive through the first large Adam steps.")
    return notes


register("ae-conv", ConvAEConfig,
         description="Convolutional autoencoder (conv 1→4→8, pool, 392→20→2 and back): "
                     "reconstructions, two-dimensional code",
         quick=CONV_QUICK, smoke=SMOKE,
         needs="mnist", key_metric="test_mse", order=71, narrate=narrate,
         lessons=(
             *LESSONS,
             Lesson("The course's target on full MNIST: a test MSE of at most 0.040 per pixel",
                    "test_mse", "<=", quick=None, full=0.040, label="test MSE per pixel"),
         ))(measure)
