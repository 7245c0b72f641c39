"""The PyTorch side of stridelab: architectures, the shared training loop, distributed helpers."""
