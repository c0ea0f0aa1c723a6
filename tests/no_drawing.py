"""A guard for the theory tests: an item's compute function must draw nothing.

Inside `matplotlib_unimportable()`, `import matplotlib` (and every `matplotlib.*` import, even
of a submodule imported before) raises ImportError, so a compute function that reached for
ganlab.report.figures.pyplot, or drew any other way, fails.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def matplotlib_unimportable() -> Iterator[None]:
    """matplotlib cannot be imported inside the block; sys.modules is as before after it."""
    # A submodule already in sys.modules would be returned by `from matplotlib.x import y`
    # without looking at its parent, so every entry is hidden, not only the package's.
    hidden = {
        n: m for n, m in sys.modules.items() if n == "matplotlib" or n.startswith("matplotlib.")
    }
    for name in hidden:
        del sys.modules[name]
    sys.modules["matplotlib"] = None  # "import halted; None in sys.modules"
    try:
        yield
    finally:
        del sys.modules["matplotlib"]
        sys.modules.update(hidden)
