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

    def __init__(self, cfg: NoiseConfig, seed: int):
        self.kind, self.dim, self.scale = cfg.kind, cfg.dim, cfg.scale
        self.generator = torch.Generator().manual_seed(seed)
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

    def to(self, device: torch.device) -> NoisePrior:
        """Return samples on `device` (the generator stays on the CPU: the same numbers)."""
        self.device = torch.device(device)
        return self

    def state_dict(self) -> dict[str, Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.generator.set_state(state["generator"])
