"""stridelab: the fundamentals of convolutional neural networks, computed, implemented and trained."""

__version__ = "0.1.0"

__all__ = ["__version__"]
