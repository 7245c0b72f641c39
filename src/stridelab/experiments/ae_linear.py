"""ae-linear: a fully connected autoencoder down to a code of two numbers (Yale 663, Problem 5).

Four Linear layers down to the code and four back up (the sheet's ``mnist_ae.pt``, also saved as
the ``torch.export`` program ``mnist_ae.pt2``), scored against PCA with two components: test
reconstruction error and a k-NN classifier on the code.
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

from stridelab.experiments.autoencoding import (
    geometry_text,
    reconstruction_text,
    SMOKE,
    AEConfig,
    separation_text,
    single_model_study,
    schedule_text,
    versus_pca,
    versus_pca_lessons,
)
from stridelab.experiments.narrate import Notes, num
from stridelab.experiments.registry import register
from stridelab.programs.prob5_AE import MLPAutoencoder


def measure(config: AEConfig, ctx) -> dict:
    """ae-linear: the fully connected autoencoder of the sheet, saved as ``mnist_ae.pt(2)``."""
    model = MLPAutoencoder(hidden=(128, 64, 12), latent_dim=2, activation=True)
    return single_model_study(model, config, ctx, label="MLP autoencoder", stem="mnist_ae")


LESSONS = versus_pca_lessons("The code of the fully connected autoencoder")


def narrate(metrics: dict, config: AEConfig) -> Notes:
    notes = Notes()
    notes.add(f"The fully connected autoencoder (four Linear layers down to a code of two "
              f"numbers and four back up, ReLU between them but none entering or leaving the "
              f"code; {num(metrics, 'n_parameters')} parameters) was trained for "
              f"{num(config, 'epochs')} epochs with Adam ({schedule_text(config)}, batch "
              f"{num(config, 'batch_size')}) on {num(metrics, 'n_train')} images of "
              f"{metrics['dataset']}.", *versus_pca(notes, metrics, config, LESSONS))
    notes.add(separation_text(metrics, config))
    notes.add("**What the code shows.**", geometry_text(notes, metrics, config))
    notes.add("**What the reconstructions show.**", reconstruction_text(notes, metrics))
    return notes


register("ae-linear", AEConfig,
         description="Fully connected autoencoder 784→128→64→12→2→…→784: reconstructions, "
                     "two-dimensional code, k-NN on it",
         quick={"epochs": 8, "n_train": 4000, "n_test": 2000}, smoke=SMOKE,
         needs="mnist", key_metric="test_mse", order=70, narrate=narrate,
         lessons=LESSONS)(measure)
