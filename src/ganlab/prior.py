"""The noise prior p_z(z) of Algorithm 1, with its own seeded generator."""

from __future__ import annotations

import torch
from torch import Tensor

from ganlab.config import NoiseConfig


class NoisePrior:
    """z ~ U(-scale, scale)^dim or N(0, scale^2 I_dim).

    The paper's MNIST code draws U(-sqrt 3, sqrt 3), which has unit variance.

    Args:
        cfg: kind, dim and scale of the prior.
        seed: seed of the prior's own torch.Generator.
    """

    def __init__(self, cfg: NoiseConfig, seed: int):
        self.kind, self.dim, self.scale = cfg.kind, cfg.dim, cfg.scale
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self, m: int) -> Tensor:
        """m noise samples, (m, dim) float32."""
        if self.kind == "gaussian":
            return self.scale * torch.randn(m, self.dim, generator=self.generator)
        u = torch.rand(m, self.dim, generator=self.generator)  # U[0, 1)
        return self.scale * (2.0 * u - 1.0)

    def state_dict(self) -> dict[str, Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.generator.set_state(state["generator"])
