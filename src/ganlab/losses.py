"""The old path of the game's losses, kept so that `from ganlab.losses import ...` goes on working.

The functions live in ganlab.game.losses (the game layer); this module of the top layer only
re-exports them.
"""

from ganlab.game.losses import (
    G_LOSSES,
    GLoss,
    d_loss,
    g_loss_maximum_likelihood,
    g_loss_minimax,
    g_loss_nonsaturating,
    value_function,
)

__all__ = [
    "G_LOSSES",
    "GLoss",
    "d_loss",
    "g_loss_maximum_likelihood",
    "g_loss_minimax",
    "g_loss_nonsaturating",
    "value_function",
]
