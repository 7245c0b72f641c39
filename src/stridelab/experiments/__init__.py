"""Registered experiments. Each module is imported here by name, which registers it."""

from stridelab.experiments import (  # noqa: F401
    autoencoders,
    calculator,
    captioning,
    cifar,
    dynamics,
    engine_cnn,
    filters,
    kmeans,
    mnist_study,
    svc,
    worked_answers,
)
