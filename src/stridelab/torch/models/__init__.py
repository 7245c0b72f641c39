"""Architectures, one module per family of studies."""
