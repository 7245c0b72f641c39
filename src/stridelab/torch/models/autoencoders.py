"""Autoencoders for 28 × 28 digit images with a 2-D bottleneck.

Every model here maps images ``(N, 1, 28, 28)`` in [0, 1] to an embedding ``(N, 2)`` with
:meth:`encode` and back to images ``(N, 1, 28, 28)`` with :meth:`decode`; ``forward`` is the
composition. ``encoder`` and ``decoder`` are plain :class:`torch.nn.Sequential` stacks, so
``print(model)`` lists the architecture layer by layer.

* :class:`MLPAutoencoder`: four Linear layers down (784 → 128 → 64 → 12 → 2) and four up,
  ReLU between them and no nonlinearity entering or leaving the embedding. With
  ``activation=False`` it has no nonlinearity at all: a (deep) linear autoencoder, whose
  optimum spans the same subspace as PCA.
* :class:`ConvAutoencoder`: the small convolutional autoencoder of the course, optionally
  with skip connections from each pooling layer to its mirror upsampling layer.
"""

from __future__ import annotations

import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)  # (C, H, W)
N_PIXELS = 784


class MLPAutoencoder(nn.Module):
    """Fully connected autoencoder 784 → ``hidden`` → ``latent_dim`` → reversed ``hidden`` → 784.

    Parameters
    ----------
    hidden : tuple of int, default (128, 64, 12)
        Widths of the hidden layers of the encoder; the decoder uses them in reverse, so each
        half has ``len(hidden) + 1`` Linear layers.
    latent_dim : int, default 2
        Size of the embedding.
    activation : bool, default True
        ReLU between consecutive Linear layers. The embedding itself and the output are never
        passed through a nonlinearity. ``False`` gives a purely linear (affine) autoencoder.
    """

    def __init__(self, hidden: tuple[int, ...] = (128, 64, 12), latent_dim: int = 2,
                 activation: bool = True):
        super().__init__()
        self.hidden = tuple(hidden)
        self.latent_dim = latent_dim
        self.activation = activation
        down = (N_PIXELS, *self.hidden, latent_dim)
        up = down[::-1]
        self.encoder = nn.Sequential(nn.Flatten(), *self._stack(down))
        self.decoder = nn.Sequential(*self._stack(up), nn.Unflatten(1, IMAGE_SHAPE))

    def _stack(self, widths: tuple[int, ...]) -> list[nn.Module]:
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
            if i > 0 and self.activation:
                layers.append(nn.ReLU())
            layers.append(nn.Linear(n_in, n_out))
        return layers

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 28, 28) → (N, latent_dim)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(N, latent_dim) → (N, 1, 28, 28)."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    @torch.no_grad()
    def affine_maps(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """For ``activation=False``: ``(A, a, B, b)`` with ``z = A x + a`` and ``x̂ = B z + b``.

        ``A`` has shape (latent_dim, 784), ``B`` (784, latent_dim); the products of the layer
        weights, read off by pushing the origin and the unit vectors through each half.
        """
        if self.activation:
            raise ValueError("affine_maps() needs a model built with activation=False")
        was_training = self.training
        self.eval()
        p = next(self.parameters())
        eye_x = torch.eye(N_PIXELS, dtype=p.dtype, device=p.device)  # (784, 784)
        a = self.encode(torch.zeros(1, *IMAGE_SHAPE, dtype=p.dtype, device=p.device))[0]
        A = (self.encode(eye_x.reshape(-1, *IMAGE_SHAPE)) - a).T  # (latent_dim, 784)
        eye_z = torch.eye(self.latent_dim, dtype=p.dtype, device=p.device)
        b = self.decode(torch.zeros(1, self.latent_dim, dtype=p.dtype, device=p.device))
        B = (self.decode(eye_z) - b).reshape(self.latent_dim, N_PIXELS).T  # (784, latent_dim)
        self.train(was_training)
        return A, a, B, b.reshape(N_PIXELS)


class ConvAutoencoder(nn.Module):
    """The course's convolutional autoencoder, with optional skip connections.

    Encoder (shapes for one image)::

        Conv(1→4, k3, s1, p1), ReLU, MaxPool(2, 2)     (1, 28, 28) → (4, 14, 14)
        Conv(4→8, k3, s1, p1), ReLU, MaxPool(2, 2)     → (8, 7, 7)
        Flatten, Linear(392→20), ReLU, Linear(20→2)    → (2,)

    Decoder::

        Linear(2→20), ReLU, Linear(20→392), ReLU, reshape  → (8, 7, 7)
        Upsample(×2, nearest), Conv(8→4, k3, s1, p1), ReLU → (4, 14, 14)
        Upsample(×2, nearest), Conv(4→1, k3, s1, p1), Sigmoid → (1, 28, 28)

    Initialisation: PyTorch's defaults, except that the Linear layers feeding a ReLU start
    with every bias equal to ``relu_bias`` (``None`` keeps PyTorch's small random biases). The
    392 inputs of Linear(392→20) are pooled ReLU maps, all nonnegative, and the first steps of
    Adam shift them a long way: with biases near 0, most of its 20 units soon see a negative
    pre-activation for every image, receive no gradient again and stay dead. On full MNIST,
    after 10 epochs of Adam (lr 3e-3, cosine), 16 of the 20 were dead with PyTorch's biases
    and 8 with ``relu_bias=1``, whose test MSE per pixel was 0.0429 against 0.0452. The
    architecture and the parameter count do not change.

    Skip connections (``skip=True``) pair each pooling layer with its mirror upsampling layer,
    last pooling with first upsampling: the pooled map is **added** to the tensor that enters
    the upsampling layer, (8, 7, 7) + (8, 7, 7) and then (4, 14, 14) + (4, 14, 14). Because
    nearest-neighbour upsampling is linear, this is the same as adding the upsampled pooled
    map to the upsampled decoder map. Addition is chosen over concatenation because the
    shapes already agree, so every layer and every parameter count stays exactly as in the
    plain model and the comparison isolates the effect of the skips; concatenation would need
    Conv(16→4) and Conv(8→1). Either way the decoder receives 392 + 784 numbers straight from
    the encoder and no longer has to pass everything through the 2-D bottleneck.
    """

    def __init__(self, latent_dim: int = 2, skip: bool = False, relu_bias: float | None = 1.0):
        super().__init__()
        self.latent_dim = latent_dim
        self.skip = skip
        self.relu_bias = relu_bias
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 4, kernel_size=3, stride=1, padding=1),  # (N, 4, 28, 28)
            nn.ReLU(),
            nn.MaxPool2d(2, 2),  # (N, 4, 14, 14)
            nn.Conv2d(4, 8, kernel_size=3, stride=1, padding=1),  # (N, 8, 14, 14)
            nn.ReLU(),
            nn.MaxPool2d(2, 2),  # (N, 8, 7, 7)
            nn.Flatten(),  # (N, 392)
            nn.Linear(392, 20),
            nn.ReLU(),
            nn.Linear(20, latent_dim),  # (N, 2)
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, 20),
            nn.ReLU(),
            nn.Linear(20, 392),
            nn.ReLU(),
            nn.Unflatten(1, (8, 7, 7)),  # (N, 8, 7, 7)
            nn.Upsample(scale_factor=2, mode="nearest"),  # (N, 8, 14, 14)
            nn.Conv2d(8, 4, kernel_size=3, stride=1, padding=1),  # (N, 4, 14, 14)
            nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),  # (N, 4, 28, 28)
            nn.Conv2d(4, 1, kernel_size=3, stride=1, padding=1),  # (N, 1, 28, 28)
            nn.Sigmoid(),
        )
        if relu_bias is not None:
            for layer in self.relu_linears():
                nn.init.constant_(layer.bias, relu_bias)

    def relu_linears(self) -> list[nn.Linear]:
        """The Linear layers whose output passes through a ReLU (392→20, 2→20, 20→392)."""
        layers = []
        for stack in (self.encoder, self.decoder):
            for layer, after in zip(stack[:-1], stack[1:]):
                if isinstance(layer, nn.Linear) and isinstance(after, nn.ReLU):
                    layers.append(layer)
        return layers

    def encode_with_skips(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(N, 1, 28, 28) → embedding (N, latent_dim) and the pooled maps, first pooling first."""
        pooled = []
        for layer in self.encoder:
            x = layer(x)
            if isinstance(layer, nn.MaxPool2d):
                pooled.append(x)
        return x, pooled  # pooled: [(N, 4, 14, 14), (N, 8, 7, 7)]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, 28, 28) → (N, latent_dim)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor, skips: list[torch.Tensor] | None = None) -> torch.Tensor:
        """(N, latent_dim) → (N, 1, 28, 28).

        ``skips`` (the pooled maps from :meth:`encode_with_skips`) are added before each
        upsampling layer, the last pooled map first. Without them the decoder works from the
        embedding alone, which for a model trained with skips shows how much it relies on them.
        """
        pending = list(skips) if skips is not None else []
        for layer in self.decoder:
            if isinstance(layer, nn.Upsample) and pending:
                z = z + pending.pop()
            z = layer(z)
        return z

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.skip:
            return self.decoder(self.encoder(x))
        z, pooled = self.encode_with_skips(x)
        return self.decode(z, pooled)
