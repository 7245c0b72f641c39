"""Registered experiments. Each module is imported here by name, which registers it."""

from stridelab.experiments import (  # noqa: F401
    autoencoders,
    batch_size,
    calculator,
    captioning,
    cifar10,
    depth_sweep,
    depthwise_separable,
    engine_cnn,
    filters,
    gd_1d,
    kmeans,
    mlp_vs_cnn,
    mnist_cnn,
    mnist_samples,
    svc_baseline,
    worked_answers,
)
