"""Registered experiments. Each module is imported here by name, which registers it."""

from stridelab.experiments import svc  # noqa: F401
from stridelab.experiments import worked_answers  # noqa: F401
