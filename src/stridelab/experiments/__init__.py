"""Registered experiments. Each module is imported here by name, which registers it."""

from stridelab.experiments import svc  # noqa: F401
