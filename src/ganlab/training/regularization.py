"""What the regularizers of a config add to D's update, resolved before Algorithm 1's loop.

    L_D  +=  r1/2 E_x ||grad_x D(x)||^2                   R1 (Mescheder et al. 2018, eq. 9)
          +  r2/2 E_z ||grad D(G(z))||^2                  R2 (the same on G's samples)
          +  lambda E[(||grad D(x_hat)|| - 1)^2]          WGAN-GP (Gulrajani et al. 2017)
    x -> x + sigma_t eps, G(z) -> G(z) + sigma_t eps'     instance noise (Sonderby et al. 2017),
                                                          in D's and G's updates alike
    x -> T(x), G(z) -> T(G(z))                            DiffAugment (Zhao et al. 2020), the
                                                          same: T drawn per example and pass
    theta_d <- clip(theta_d, -c, c) after D's step        WGAN's weight clipping (Arjovsky 2017)
    L_G += lambda / (E d(G(z1), G(z2)) / d(z1, z2) + eps) MSGAN's mode seeking (Mao et al. 2019),
                                                          on G's update, pairs of one class

The math is ganlab.game.regularizers'; this module binds it to a config. A config with none of
them resolves to None, and the updates then run exactly the code (and numbers) they ran before
the regularizers existed. The penalties and the noise draw from torch's global generator (the
dropout stream), which every checkpoint saves: resuming stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ganlab.config import Config
from ganlab.errors import ConfigError
from ganlab.game.augment import diff_augment
from ganlab.game.regularizers import (
    clip_weights_,
    instance_noise_std,
    interpolate_gradient_penalty,
    mode_seeking_term,
    pair_rows,
    zero_centred_gradient_penalty,
)
from ganlab.models.standardized import StandardizedDiscriminator


@dataclass
class Regularization:
    """The regularizer weights of a run and the instance noise's current std.

    noise_std is a 0-dim tensor filled in place at each step (`at_step`), so a compiled forward
    that reads it never recompiles for its schedule.
    """

    r1: float
    r2: float
    gradient_penalty: float
    weight_clip: float
    sigma: float  # instance noise's initial std
    decay_steps: int
    noise_std: Tensor
    augment: tuple[str, ...] = ()  # DiffAugment's policy, applied before the noise
    mode_seeking: float = 0.0  # lambda of MSGAN's term on G's loss

    def at_step(self, step: int) -> None:
        """Set the instance noise's std for iteration `step` (0-based)."""
        if self.sigma:
            self.noise_std.fill_(instance_noise_std(self.sigma, step, self.decay_steps))

    def noisy(self, x: Tensor) -> Tensor:
        """T(x) + sigma_t eps, eps ~ N(0, I): what D sees of data and samples alike."""
        x = diff_augment(x, self.augment)
        if not self.sigma:
            return x
        return x + self.noise_std * torch.randn_like(x)

    def d_inputs(self, x: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        """D's inputs with instance noise, tracked for the gradient penalties that need them."""
        x, fake = self.noisy(x), self.noisy(fake)
        if self.r1:
            x = x.detach().requires_grad_(True)
        if self.r2 and not fake.requires_grad:
            fake = fake.detach().requires_grad_(True)
        return x, fake

    def penalty(
        self,
        D: nn.Module,
        x: Tensor,
        fake: Tensor,
        d_real: Tensor,
        d_fake: Tensor,
        labels: Tensor | None = None,
    ):
        """The penalties added to D's loss (a scalar tensor, or 0.0 when only noise is on).

        Args:
            D: the discriminator itself (the interpolates' extra pass).
            x, fake: D's inputs from d_inputs.  d_real, d_fake: D's outputs on them, (m,) each.
            labels: a conditional D's classes for the interpolates (those of x), (m,).
        """
        total = 0.0
        # a D around standardised data (data.standardize) is penalised in its own units, u
        standardised = isinstance(D, StandardizedDiscriminator)

        def scale(at: Tensor) -> Tensor | None:
            return D.input_scale(at) if standardised else None

        if self.r1:
            total = total + 0.5 * self.r1 * zero_centred_gradient_penalty(d_real, x, scale(x))
        if self.r2:
            r2 = zero_centred_gradient_penalty(d_fake, fake, scale(fake))
            total = total + 0.5 * self.r2 * r2
        if self.gradient_penalty:
            real, gen = x.detach(), fake.detach()
            eps = torch.rand((len(real),) + (1,) * (real.ndim - 1), device=real.device)
            critic = D if labels is None else (lambda t: D(t, labels))
            at = eps * real + (1.0 - eps) * gen  # the interpolates the penalty takes
            gp = interpolate_gradient_penalty(critic, real, gen, eps, scale(at))
            total = total + self.gradient_penalty * gp
        return total

    def g_penalty(self, z: Tensor, fake: Tensor):
        """What G's loss adds (a scalar tensor, or 0.0 when off): lambda times MSGAN's term.

        Args:
            z: (m, ...) G's noise.  fake: (m, ...) G(z) before noise, with its graph.
        """
        if not self.mode_seeking:
            return 0.0
        return self.mode_seeking * mode_seeking_term(z, fake)

    def paired(self, y: Tensor) -> Tensor:
        """G's classes y, each pair made one class when mode seeking compares pairs."""
        return pair_rows(y) if self.mode_seeking else y

    def after_d_step(self, D: nn.Module) -> None:
        """WGAN's weight clipping, after each step of D's optimiser."""
        if self.weight_clip:
            clip_weights_(D, self.weight_clip)


def regularization(cfg: Config) -> Regularization | None:
    """The config's regularizers, or None when it has none (the 2014 updates, unchanged)."""
    reg = cfg.regularizers
    if not (
        reg.r1
        or reg.r2
        or reg.gradient_penalty
        or reg.weight_clip
        or reg.instance_noise
        or reg.augment
        or reg.mode_seeking
    ):
        return None
    return Regularization(
        r1=reg.r1,
        r2=reg.r2,
        gradient_penalty=reg.gradient_penalty,
        weight_clip=reg.weight_clip,
        sigma=reg.instance_noise,
        decay_steps=reg.instance_noise_decay_steps,
        noise_std=torch.tensor(float(reg.instance_noise)),
        augment=tuple(reg.augment),
        mode_seeking=reg.mode_seeking,
    )


def penalises_gradients(cfg: Config) -> bool:
    """Whether D's loss holds a gradient penalty (a double backward)."""
    reg = cfg.regularizers
    return bool(reg.r1 or reg.r2 or reg.gradient_penalty)


def check_world(cfg: Config, world_size: int) -> None:
    """Refuse gradient penalties over several processes, where they are untested.

    Raises:
        ConfigError: one line naming the fix.
    """
    if world_size > 1 and cfg.conditional_run:
        raise ConfigError(
            f"conditional.kind '{cfg.conditional.kind}' trains in one process only (its "
            "labelled updates are not wrapped for DistributedDataParallel): drop --nproc"
        )
    if world_size > 1 and penalises_gradients(cfg):
        raise ConfigError(
            "regularizers r1, r2 and gradient_penalty run in one process only (their double "
            "backward through DistributedDataParallel is untested): drop --nproc, or set them to 0"
        )
