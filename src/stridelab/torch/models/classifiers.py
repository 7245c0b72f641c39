"""Image classifiers for 28×28 grey digits and clothes: a small CNN and the course's MLP.

Both return logits (no softmax): ``nn.CrossEntropyLoss`` applies log-softmax itself, in the
numerically stable log-sum-exp form, and the softmax is taken only when probabilities are
wanted (``model(x).softmax(-1)``).
"""

from __future__ import annotations  # noqa: I001  (ruff files `torch` under stridelab.torch)

from collections.abc import Sequence

from torch import nn

from stridelab.errors import ConfigError

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}
# weight initialisations of the dense layers (see MLP)
INITS = ("torch", "glorot_uniform", "he")


def _activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ConfigError(f"activation {name!r} is unknown; choose one of "
                          f"{', '.join(ACTIVATIONS)}") from None


# ---------------------------------------------------------------------------------------------
# CNN


def conv_blocks(in_channels: int, channels: Sequence[int], *, convs_per_block: int = 1,
                kernel_size: int = 3, batch_norm: bool = False) -> nn.Sequential:
    """One block per entry of ``channels``: ``convs_per_block`` 'same' convolutions (the first
    changes the channel count), each followed by BatchNorm (then without a bias) when
    ``batch_norm``, and ReLU; then a 2×2 max-pool. (N, in_channels, H, W) ->
    (N, channels[-1], H / 2^B, W / 2^B) for B blocks."""
    layers: list[nn.Module] = []
    c_in = in_channels
    for c_out in channels:
        for _ in range(convs_per_block):
            layers.append(nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2,
                                    bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.ReLU())
            c_in = c_out
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class MnistCNN(nn.Module):
    """Blocks of ``convs_per_block`` 3×3 'same' convolutions (+ BatchNorm) + ReLU, each block
    ending in a 2×2 max-pool, then a dense hidden layer with dropout and a linear output.

    With the defaults on a (N, 1, 28, 28) batch::

        (N, 1, 28, 28) -> block 32 -> (N, 32, 14, 14) -> block 64 -> (N, 64, 7, 7)
        -> flatten (N, 3136) -> dense 128 + ReLU + dropout -> (N, 10) logits

    Parameters
    ----------
    channels : sequence of int
        Filters of the convolutions in each block; one block per entry.
    convs_per_block : int
        Convolutions per block (the first changes the channel count).
    kernel_size : int
        Odd kernel size; padding ``kernel_size // 2`` keeps H and W within a block.
    hidden : int
        Units of the dense hidden layer (0: none, the flattened features go to the output).
    dropout : float
        Dropout rate before the output layer.
    batch_norm : bool
        BatchNorm after each convolution (which then has no bias: BN's shift replaces it).
    in_channels, image_size, n_classes : int
        Input channels, input height (= width), number of classes.
    """

    def __init__(self, channels: Sequence[int] = (32, 64), *, convs_per_block: int = 2,
                 kernel_size: int = 3, hidden: int = 128, dropout: float = 0.3,
                 batch_norm: bool = True, in_channels: int = 1, image_size: int = 28,
                 n_classes: int = 10):
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if not channels or min(channels) < 1:
            raise ConfigError(f"channels must be positive filter counts, e.g. (32, 64); "
                              f"got {channels}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ConfigError(f"kernel_size must be odd (padding keeps the size); "
                              f"got {kernel_size}")
        if convs_per_block < 1:
            raise ConfigError(f"convs_per_block must be at least 1; got {convs_per_block}")
        if image_size // 2 ** len(channels) < 1:
            raise ConfigError(f"{len(channels)} pooled blocks shrink a {image_size}×{image_size} "
                              "image to nothing; use fewer channels entries")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1); got {dropout}")
        self.features = conv_blocks(in_channels, channels, convs_per_block=convs_per_block,
                                    kernel_size=kernel_size, batch_norm=batch_norm)
        side = image_size
        for _ in channels:
            side //= 2
        n_flat = channels[-1] * side * side
        head: list[nn.Module] = [nn.Flatten()]
        if hidden > 0:
            head += [nn.Linear(n_flat, hidden), nn.ReLU(), nn.Dropout(dropout)]
            n_flat = hidden
        elif dropout > 0:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(n_flat, n_classes))
        self.classifier = nn.Sequential(*head)

    def conv_layers(self) -> list[nn.Conv2d]:
        """The Conv2d layers in forward order."""
        return [m for m in self.features if isinstance(m, nn.Conv2d)]

    def forward(self, x):  # (N, C, H, W) -> (N, n_classes) logits
        return self.classifier(self.features(x))


# ---------------------------------------------------------------------------------------------
# MLP


class MLP(nn.Module):
    """The course's multilayer perceptron: ``n_hidden_layers`` × (Dense ``width`` [+ BatchNorm]
    + activation + dropout), then a dense output layer of logits.

    Parameters
    ----------
    n_hidden_layers : int
        Hidden layers (0: multinomial logistic regression).
    width : int
        Units per hidden layer.
    activation : {"relu", "sigmoid", "tanh"}
    dropout : float
        Dropout rate after each hidden activation.
    batch_norm : bool
        BatchNorm1d between each hidden dense layer and its activation.
    init : {"torch", "glorot_uniform", "he"}
        Weight initialisation of the dense layers: PyTorch's default ("torch": weights and
        biases uniform in ±1/√fan_in, weight variance 1 / (3·fan_in)), Keras' default
        ("glorot_uniform": weights uniform in ±√(6 / (fan_in + fan_out)), variance
        2 / (fan_in + fan_out), biases 0) or He normal ("he": variance 2 / fan_in, biases 0).
    in_features, n_classes : int
        Input size (the image is flattened first) and number of classes.
    """

    def __init__(self, n_hidden_layers: int = 1, width: int = 512, activation: str = "relu",
                 dropout: float = 0.2, *, batch_norm: bool = False, init: str = "torch",
                 in_features: int = 784, n_classes: int = 10):
        super().__init__()
        if n_hidden_layers < 0 or width < 1:
            raise ConfigError(f"need n_hidden_layers >= 0 and width >= 1; got "
                              f"{n_hidden_layers} and {width}")
        if init not in INITS:
            raise ConfigError(f"init {init!r} is unknown; choose one of {', '.join(INITS)}")
        if not 0.0 <= dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1); got {dropout}")
        _activation(activation)  # validate the name early
        self.activation = activation
        layers: list[nn.Module] = [nn.Flatten()]
        n_in = in_features
        for _ in range(n_hidden_layers):
            layers.append(nn.Linear(n_in, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers += [_activation(activation), nn.Dropout(dropout)]
            n_in = width
        layers.append(nn.Linear(n_in, n_classes))
        self.layers = nn.Sequential(*layers)
        if init != "torch":
            self._init_weights(init)

    def _init_weights(self, init: str) -> None:
        for m in self.linear_layers():
            if init == "he":
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            else:  # Keras' Dense default: gain 1 whatever the activation
                nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)

    def linear_layers(self) -> list[nn.Linear]:
        """The dense layers in forward order (the last is the output layer)."""
        return [m for m in self.layers if isinstance(m, nn.Linear)]

    def forward(self, x):  # (N, ...) -> (N, n_classes) logits
        return self.layers(x)


# ---------------------------------------------------------------------------------------------
# helpers for training these small networks


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of a torch module."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
