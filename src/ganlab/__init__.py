"""ganlab: train, evaluate and understand Generative Adversarial Networks (Goodfellow et al. 2014).

import ganlab
run = ganlab.train("ring8", overrides=["steps=200"])
x = run.sample(2500)
"""

__version__ = "0.1.0"

from ganlab.config import Config, load_config, preset_names  # noqa: E402
from ganlab.errors import (  # noqa: E402
    CheckpointError,
    ConfigError,
    DataError,
    GanlabError,
    RunDirError,
)
from ganlab.runs import Run, load_run, resume, train  # noqa: E402

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
