"""Errors a user can fix. Each carries one line: what is wrong, the value seen, the fix.

The CLI prints ``str(error)`` and exits with status 2; anything that is not a
``GanlabError`` is a bug in ganlab and keeps its traceback.
"""


class GanlabError(Exception):
    """Base class of every error caused by input a user can correct."""


class ConfigError(GanlabError):
    """A config file, preset or ``--set`` override is missing, malformed or out of range."""


class RunDirError(GanlabError):
    """A run directory exists when it must not, is missing, or cannot be written."""


class CheckpointError(GanlabError):
    """A checkpoint is missing, corrupt, or was written by an incompatible config."""


class DataError(GanlabError):
    """Training data is missing or unusable."""


class Interrupted(GanlabError):
    """Training stopped on SIGINT/SIGTERM after a checkpoint was written (exit status 130)."""


class Diverged(GanlabError):
    """A loss or a parameter became NaN or infinite."""


class AlreadyDone(UserWarning):
    """A request already fulfilled (`ganlab resume` of a run at its steps): the library warns
    and changes nothing; the CLI says so in one line and exits with status 0."""


# Said where a data path does not exist: a run's data that moved is found again by its new path
# (the resume checks the examples' SHA-256 against the run's).
DATA_MOVED_HINT = "; a run whose data moved: `ganlab resume RUN --set data.path=NEW`"
