"""The charts of `ganlab lab`: the training chart (a row per update), the frame chart (a row per
frame: JSD, KL, modes) and the newest value of each series.

D's outputs are charted as the mean D(x) = sigmoid(a) for the 2014 objectives (d_real, d_fake),
and as the mean raw critic value for the others (critic_real, critic_fake): a sigmoid of a
critic value is no probability of anything.

Each update's stats are queued under the session's training lock (`Charts.queue`: tensors, no
work); turning them into numbers and chart rows happens after that lock is let go
(`Charts.update`, under the charts' own lock), so a frame's snapshot waits for training alone.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any

import torch

from ganlab.training.algorithm import StepStats

HISTORY = 300  # points kept per chart; older ones are thinned, never dropped wholesale


class History:
    """A series of dict rows kept to at most `size` rows: when full, every other row goes and
    rows are then kept at twice the stride, so the whole run stays on the chart."""

    def __init__(self, size: int = HISTORY):
        self.size, self.stride, self.rows, self._seen = size, 1, [], 0

    def add(self, row: dict) -> None:
        if self._seen % self.stride == 0:
            self.rows.append(row)
            if len(self.rows) > self.size:
                self.rows = self.rows[::2]
                self.stride *= 2
        self._seen += 1

    def clear(self) -> None:
        self.__init__(self.size)

    def columns(self) -> dict[str, list]:
        """The rows as {key: [value per row]} with 4 significant digits: a third of the JSON."""
        keys = dict.fromkeys(k for row in self.rows for k in row)
        return {k: [_short(row.get(k)) for row in self.rows] for k in keys}


def _short(value: Any) -> Any:
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.4g}")
    return value


class Charts:
    """The queue of stats not yet charted, `last` (the newest value of each series: d_loss,
    d_real and d_fake or critic_real and critic_fake, g_loss, g_grad) and the two histories,
    under a lock of their own."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # appended to under the training lock only, so in the order the updates were made
        self.pending: deque[tuple[int, int, int, StepStats, float | None, bool]] = deque()
        self.last: dict[str, float] = {}
        self.train_history = History()
        self.frame_history = History()

    def clear(self) -> None:
        """Forget every series: a new G and D's charts start empty."""
        with self.lock:
            self.pending.clear()
            self.last = {}
            self.train_history.clear()
            self.frame_history.clear()

    def queue(
        self,
        step: int,
        d_updates: int,
        g_updates: int,
        stats: StepStats,
        g_grad: float | None,
        critic: bool = False,
    ) -> None:
        """Queue one count of updates and their stats (called under the training lock).

        critic: D's outputs are critic values (Config.critic), not logits of a probability.
        """
        self.pending.append((step, d_updates, g_updates, stats, g_grad, critic))

    def update(self) -> None:
        """The queued stats as numbers: `last` and a row of the training chart per update.

        Needs no training lock: the stats are tensors no later update writes to.
        """
        with self.lock:
            last = self.last
            while self.pending:
                step, d_updates, g_updates, stats, g_grad, critic = self.pending.popleft()
                if d_updates:
                    last["d_loss"] = float(stats.d_loss)
                    kind, other = ("critic", "d") if critic else ("d", "critic")
                    read = (lambda t: t) if critic else torch.sigmoid
                    last.pop(f"{other}_real", None)  # the objective changed: one kind at a time
                    last.pop(f"{other}_fake", None)
                    last[f"{kind}_real"] = float(read(stats.d_real).mean())
                    last[f"{kind}_fake"] = float(read(stats.d_fake).mean())
                if g_updates:
                    last["g_loss"] = float(stats.g_loss)
                    last["g_grad"] = g_grad
                if all(math.isfinite(last[k]) for k in ("d_loss", "g_loss") if k in last):
                    self.train_history.add({"step": step, **last})

    def newest(self) -> dict[str, float]:
        """A copy of `last`, the queue charted first."""
        self.update()
        with self.lock:
            return dict(self.last)

    def read(self) -> tuple[dict[str, float], dict[str, list]]:
        """A copy of `last` and the training chart's columns, read together."""
        self.update()
        with self.lock:
            return dict(self.last), self.train_history.columns()

    def add_frame(self, row: dict) -> dict[str, list]:
        """A frame's stats as a row of the frame chart (one per step); the chart's columns."""
        with self.lock:
            if row["step"] != (self.frame_history.rows or [{}])[-1].get("step"):
                self.frame_history.add(row)
            return self.frame_history.columns()


__all__ = ["HISTORY", "Charts", "History"]
