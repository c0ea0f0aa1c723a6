"""The noise prior p_z(z) of Algorithm 1, with its own seeded generator."""

from __future__ import annotations

import torch
from torch import Tensor

from ganlab.config import NoiseConfig
from ganlab.data.sources import shard_rows


class NoisePrior:
    """z ~ U(-scale, scale)^dim or N(0, scale^2 I_dim).

    The paper's MNIST code draws U(-sqrt 3, sqrt 3), which has unit variance.

    Across ranks every rank draws all m samples from the same generator and keeps its shard of
    the rows (ganlab.training.distributed): together they see the one-process noise.

    Args:
        cfg: kind, dim and scale of the prior.
        seed: seed of the prior's own torch.Generator.
    """

    def __init__(
        self,
        cfg: NoiseConfig,
        seed: int,
        classes: int | None = None,
        label_seed: int = 0,
        class_weights: Tensor | None = None,
    ):
        self.kind, self.dim, self.scale = cfg.kind, cfg.dim, cfg.scale
        self.generator = torch.Generator().manual_seed(seed)
        # a conditional G's classes y ~ U{0..K-1} (or p(y) = class_weights: a self-conditioned
        # run's cluster sizes): a stream of their own, so z is the same either way
        self.classes, self.class_weights = classes, class_weights
        self.label_generator = torch.Generator().manual_seed(label_seed) if classes else None
        self.shard = (0, 1)  # (rank, world size): which rows of each draw sample() returns
        self.device = torch.device("cpu")  # where samples go; the generator stays on the CPU

    def sample(self, m: int) -> Tensor:
        """m noise samples, (m, dim) float32; this rank's m / world of them in a sharded run."""
        if self.kind == "gaussian":
            z = self.scale * torch.randn(m, self.dim, generator=self.generator)
        else:
            u = torch.rand(m, self.dim, generator=self.generator)  # U[0, 1)
            z = self.scale * (2.0 * u - 1.0)
        return z[shard_rows(m, self.shard)].to(self.device)

    def sample_labels(self, m: int) -> Tensor:
        """m classes y ~ U{0, ..., K-1} (y ~ class_weights when given) for a conditional G's
        samples, (m,) int64; this rank's m / world of them in a sharded run."""
        y = draw_classes(m, self.classes, self.class_weights, self.label_generator)  # (m,)
        return y[shard_rows(m, self.shard)].to(self.device)

    def to(self, device: torch.device) -> NoisePrior:
        """Return samples on `device` (the generator stays on the CPU: the same numbers)."""
        self.device = torch.device(device)
        return self

    def state_dict(self) -> dict[str, Tensor]:
        state = {"generator": self.generator.get_state()}
        if self.label_generator is not None:
            state["labels"] = self.label_generator.get_state()
        return state

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.generator.set_state(state["generator"])
        if self.label_generator is not None:
            self.label_generator.set_state(state["labels"])


def draw_classes(
    n: int, classes: int, weights: Tensor | list[float] | None, generator: torch.Generator
) -> Tensor:
    """n classes, (n,) int64: y ~ U{0..K-1}, or y ~ weights (K, any scale) when given."""
    if weights is None:
        return torch.randint(classes, (n,), generator=generator)
    p = torch.as_tensor(weights, dtype=torch.float64)
    return torch.multinomial(p, n, replacement=True, generator=generator)
