"""Training and reading autoencoders: the reconstruction loop, input corruption, codes, export.

Shared by the autoencoder studies (``ae-linear``, ``ae-conv``, ``ae-conv-skip``, ``ae-denoise``,
``pca-vs-linear-ae``):

- :func:`train_autoencoder`: Adam on the per-pixel MSE against the clean images, through
  :func:`stridelab.torch.loop.fit`, with a constant, cosine or one-cycle learning rate;
- :func:`corrupt` (a fixed corruption of a test set) and :class:`GaussianNoise` (fresh noise
  for every training batch), the Gaussian corruption C(x̃ | x) = N(x̃; x, σ² I);
- :func:`embed` (the codes ``model.encode(x)``) and :func:`dead_relu_units`;
- :func:`export_program`: a ``torch.export`` program that plain PyTorch runs without stridelab.
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

import copy

import numpy as np
import torch
from torch import nn

from stridelab.torch import schedules
from stridelab.torch.loop import fit, make_loader

# ---------------------------------------------------------------------------------------------
# corruption


def corrupt(X: torch.Tensor, noise_std: float, seed: int) -> torch.Tensor:
    """A sample of C(x̃ | x) = N(x̃; x, σ² I) for every image, the same for the same seed.

    The noise is drawn on the CPU from its own generator, so a corrupted test set is identical
    on every device and every run. Values are not clipped to [0, 1].
    """
    generator = torch.Generator().manual_seed(seed)
    return X + noise_std * torch.randn(X.shape, generator=generator, dtype=X.dtype)


class GaussianNoise:
    """``x ↦ x + ε`` with ε ~ N(0, σ² I): fresh noise for every batch, from a seeded generator.

    Used as ``input_transform`` of :func:`fit`, so the model sees a new corruption of each
    training image in every epoch while the targets stay clean. The generator lives on the
    batch's device and is created on the first call.
    """

    def __init__(self, noise_std: float, seed: int):
        self.noise_std = noise_std
        self.seed = seed
        self._generator: torch.Generator | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self._generator is None or self._generator.device != x.device:
            self._generator = torch.Generator(device=x.device).manual_seed(self.seed)
        noise = torch.randn(x.shape, generator=self._generator, device=x.device, dtype=x.dtype)
        return x + self.noise_std * noise



# ---------------------------------------------------------------------------------------------
# training


def train_autoencoder(model: nn.Module, X_train: torch.Tensor, X_test: torch.Tensor, *,
                      epochs: int, lr: float, batch_size: int, device="cpu", seed: int = 0,
                      log=None, progress=None, X_test_input: torch.Tensor | None = None,
                      input_transform=None, cosine: bool = False, warmup: float = 0.0,
                      on_epoch_end=None) -> dict:
    """Adam on the per-pixel MSE between the model's output and the clean images.

    The loaders yield (input, target) = (clean image, clean image); ``input_transform``
    corrupts training inputs on the fly. The test loader yields ``X_test_input`` (e.g. a fixed
    corrupted copy of ``X_test``) against the clean ``X_test``. With ``cosine`` the learning
    rate follows a cosine from ``lr`` down to 0 over all steps; ``warmup > 0`` makes that a
    one-cycle schedule, which first rises from lr/25 to ``lr`` over that fraction of the steps
    (:func:`stridelab.torch.schedules.cosine`). Returns ``fit``'s history.
    """
    train_loader = make_loader(X_train, X_train, batch_size, shuffle=True, seed=seed)
    test_in = X_test if X_test_input is None else X_test_input
    test_loader = make_loader(test_in, X_test, 512)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    sched = (schedules.cosine(optimizer, epochs * len(train_loader), warmup=warmup)
             if cosine else None)
    return fit(model, train_loader, test_loader, optimizer=optimizer, loss_fn=nn.MSELoss(),
               num_epochs=epochs, device=device, log=log, progress=progress, metric=None,
               input_transform=input_transform, scheduler=sched, scheduler_per="step",
               on_epoch_end=on_epoch_end, channels_last=True)


# ---------------------------------------------------------------------------------------------
# reading a trained model


@torch.no_grad()
def embed(model: nn.Module, X: torch.Tensor, device, batch_size: int = 1024) -> np.ndarray:
    """The model's codes ``model.encode(x)``, shape (N, latent_dim), as float64 NumPy."""
    model.eval()
    parameter = next(model.parameters())
    out = [model.encode(X[i:i + batch_size].to(device, parameter.dtype)).double().cpu()
           for i in range(0, len(X), batch_size)]
    return torch.cat(out).numpy()


@torch.no_grad()
def dead_relu_units(model: nn.Module, X: torch.Tensor, device,
                    batch_size: int = 1024) -> dict[str, int]:
    """Units of each Linear layer feeding a ReLU whose pre-activation is ≤ 0 on every image.

    Such a unit outputs 0 for all of ``X`` and gets no gradient from it: it is dead. Keys
    name the layers, e.g. ``"392→20"``.
    """
    model.eval()
    layers = model.relu_linears()
    alive = [torch.zeros(layer.out_features, dtype=torch.bool, device=device) for layer in layers]

    def hook(i):
        def record(module, inputs, output):
            alive[i] |= (output > 0).any(dim=0)
        return record

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(layers)]
    try:
        parameter = next(model.parameters())
        for i in range(0, len(X), batch_size):
            model(X[i:i + batch_size].to(device, parameter.dtype))
    finally:
        for handle in handles:
            handle.remove()
    return {f"{layer.in_features}→{layer.out_features}": int((~a).sum())
            for layer, a in zip(layers, alive)}


def export_program(model: nn.Module, example: torch.Tensor):
    """``torch.export`` a CPU copy of ``model`` in eval mode, any batch size.

    ``example`` is a float32 batch (N, 1, 28, 28) with N ≥ 2 (a batch of 1 would let the
    exporter specialise the batch dimension); the program takes (B, 1, 28, 28) for any B ≥ 1.
    Training stores convolution weights channels-last (``fit(channels_last=True)``); the copy
    is put back in the standard layout, since ``torch.export.save`` takes a weight that does
    not cover its storage in order for a slice of a larger one (and warns "No complete tensor
    found in the group!"). The example is copied too: the program keeps it as its sample
    input, and a slice such as ``X_test[:2]`` would otherwise carry the whole test set's storage
    into the file (31 MB for MNIST's test images instead of 6 KB).
    """
    cpu_model = copy.deepcopy(model).cpu().float().eval()
    cpu_model = cpu_model.to(memory_format=torch.contiguous_format)
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    example = example.detach().to("cpu", torch.float32).clone()  # its own, small storage
    return torch.export.export(cpu_model, (example,), dynamic_shapes=({0: batch},))

