"""User-facing errors.

Anything raised as a :class:`StridelabError` is a problem with what the user
asked for (a bad value, a missing file, a corrupt download); the command line
prints its message as one line on stderr and exits with status 2.
"""


class StridelabError(Exception):
    """A problem the user can fix; the message says what is wrong and what to do."""


class ConfigError(StridelabError, ValueError):
    """An unknown experiment, an unknown config key or a value of the wrong type."""


class DataError(StridelabError, ValueError):
    """A data file that is corrupt, truncated, of the wrong format or fails its checksum."""


class DataNotFound(StridelabError, FileNotFoundError):
    """A data set that is not on this machine; the message says how to get it."""


class TrainingDiverged(StridelabError, RuntimeError):
    """The loss became NaN or Inf; the last good checkpoint is kept."""
