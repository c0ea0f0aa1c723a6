"""ganlab: train, evaluate and understand Generative Adversarial Networks (Goodfellow et al. 2014).

import ganlab
run = ganlab.train("ring8", overrides=["steps=200"])
x = run.sample(2500)
"""

__version__ = "0.1.0"

from typing import TYPE_CHECKING

from ganlab.errors import (  # noqa: E402 - no torch: the CLI imports them before parsing
    CheckpointError,
    ConfigError,
    DataError,
    GanlabError,
    RunDirError,
)

if TYPE_CHECKING:
    from ganlab.config import Config, load_config, preset_names
    from ganlab.runs import Run, load_run, resume, train

# The training API imports torch (seconds). It loads on first use, so `ganlab --help` is quick
# and a Ctrl-C while torch loads reaches the CLI's handler (one line, exit 130), not a traceback.
_LAZY = {
    "Config": "ganlab.config",
    "load_config": "ganlab.config",
    "preset_names": "ganlab.config",
    "Run": "ganlab.runs",
    "load_run": "ganlab.runs",
    "resume": "ganlab.runs",
    "train": "ganlab.runs",
}


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # once: later lookups skip this function
        return value
    # `ganlab.runs` etc. as attributes, as an eager package would have them; never a private
    # module by probing (getattr(ganlab, "__main__") would run the CLI)
    if not name.startswith("_") and "." not in name:
        try:
            return importlib.import_module(f"ganlab.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"ganlab.{name}":
                raise
    raise AttributeError(f"module 'ganlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "CheckpointError",
    "Config",
    "ConfigError",
    "DataError",
    "GanlabError",
    "Run",
    "RunDirError",
    "load_config",
    "load_run",
    "preset_names",
    "resume",
    "train",
]
