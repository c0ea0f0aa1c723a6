"""ganlab: train, evaluate and understand Generative Adversarial Networks (Goodfellow et al. 2014).

import ganlab
run = ganlab.train("ring8", overrides=["steps=200"])
x = run.sample(2500)

The top of the package (with cli.py): the names users import from `ganlab` itself, loaded from
the layers below on first use. ARCHITECTURE.md maps the layers.
"""

from typing import TYPE_CHECKING

from ganlab.errors import (  # no torch: the CLI imports them before parsing
    CheckpointError,
    ConfigError,
    DataError,
    GanlabError,
    RunDirError,
)
from ganlab.version import __version__

if TYPE_CHECKING:
    from ganlab.config import Config, load_config, preset_names
    from ganlab.data import (
        load_array,
        load_csv,
        load_digits,
        load_fashion_mnist,
        load_image_folder,
        load_mnist,
    )
    from ganlab.game.losses import (
        d_loss,
        g_loss_maximum_likelihood,
        g_loss_minimax,
        g_loss_nonsaturating,
        value_function,
    )
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
    "diagnose": "ganlab.runs.diagnosis",
    # the game of eq. 1
    "value_function": "ganlab.game.losses",
    "d_loss": "ganlab.game.losses",
    "g_loss_minimax": "ganlab.game.losses",
    "g_loss_nonsaturating": "ganlab.game.losses",
    "g_loss_maximum_likelihood": "ganlab.game.losses",
    # the data loaders
    "load_mnist": "ganlab.data",
    "load_fashion_mnist": "ganlab.data",
    "load_digits": "ganlab.data",
    "load_image_folder": "ganlab.data",
    "load_csv": "ganlab.data",
    "load_array": "ganlab.data",
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
    "__version__",
    "d_loss",
    "diagnose",
    "g_loss_maximum_likelihood",
    "g_loss_minimax",
    "g_loss_nonsaturating",
    "load_array",
    "load_config",
    "load_csv",
    "load_digits",
    "load_fashion_mnist",
    "load_image_folder",
    "load_mnist",
    "load_run",
    "preset_names",
    "resume",
    "train",
    "value_function",
]
