"""The paper's published code's variant of Algorithm 1's iteration (`update: simultaneous`).

One minibatch of m data and m noise; both networks' gradients taken at the same parameters
(D's of its loss, G's of its loss, through the same dropout masks), then both updated at once,
as pylearn2's AdversaryCost2.get_gradients: T.grad(d_obj, d_params), T.grad(g_obj, g_params).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from torch import Tensor, nn

from ganlab.game.objectives import Objective
from ganlab.training.compile import maybe_compiled
from ganlab.training.regularization import Regularization
from ganlab.training.state import TrainState

if TYPE_CHECKING:
    from ganlab.training.algorithm import Replicas


def simultaneous_pass(
    game: Objective,
    compile: bool,
    D: nn.Module,
    sync: Replicas,
    reg: Regularization | None = None,
) -> Callable:
    """simultaneous_forward with sync's G and D and the game's losses bound: (x, z) -> 4 tensors.

    Args:
        game: the objective (algorithm.loss_functions).  compile: torch.compile the passes.
        D: the discriminator itself (the gradient penalty's interpolates).
        sync: G and D as the update calls them (algorithm.replicas).  reg: regularization.

    With compile, G's forward and D's pass are compiled as two graphs, not one: a compiled
    backward computes the gradient of every input of its graph however few the caller asks for
    (AOTAutograd prunes nothing at run time), so as one graph D's backward call would run G's
    whole backward too. Apart, it skips G's graph: paper-mnist's MLPs on one CPU thread took
    72 ms a step, 83 ms as one graph.
    """
    d_pass = functools.partial(
        discriminator_losses, sync.discriminate, game.d_loss, game.g_loss, D, reg
    )
    G = maybe_compiled(sync.G, compile)
    return functools.partial(simultaneous_forward, G, maybe_compiled(d_pass, compile))


def simultaneous_forward(
    G: Callable, d_pass: Callable, x: Tensor, z: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """D's logits on x and G(z) and both losses from that one D pass; G(z) keeps its graph.

    Returns:
        (d_real, d_fake, loss_d, loss_g): discriminator_losses of (x, G(z)).
    """
    return d_pass(x, G(z))  # fake keeps its graph back to G, (m, *x_shape)


def discriminator_losses(
    discriminate: nn.Module,
    d_loss_fn,
    g_loss_fn,
    D: nn.Module,
    reg: Regularization | None,
    x: Tensor,
    fake: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """D's outputs on x and fake and both players' losses on them: L_D (with reg's penalties),
    L_G(d_fake, d_real).

    Returns:
        (d_real, d_fake, loss_d, loss_g): D's outputs (m,) each and the two scalar losses.
    """
    if reg is not None:
        x, fake = reg.d_inputs(x, fake)
    d_real, d_fake = discriminate(x, fake)
    loss_d = d_loss_fn(d_real, d_fake)
    if reg is not None:
        loss_d = loss_d + reg.penalty(D, x, fake, d_real, d_fake)
    return d_real, d_fake, loss_d, g_loss_fn(d_fake, d_real)


def simultaneous_step(
    state: TrainState,
    m: int,
    forward: Callable,
    autocast: Callable = contextlib.nullcontext,
    reg: Regularization | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """One update of D and G from the same minibatch and the same D forward pass.

        theta_d <- theta_d - lr grad_d L_D(x, G(z)),   theta_g <- theta_g - lr grad_g L_G(G(z))

    both gradients taken before either network moves, as the paper's pylearn2 code
    (AdversaryCost2.get_gradients: T.grad(d_obj, d_params), T.grad(g_obj, g_params)).

    Args:
        state: its prior and data source give the minibatches, opt_d and opt_g take the steps.
        m: minibatch size.
        forward: (x, z) -> (d_real, d_fake, loss_d, loss_g), simultaneous_forward as
            iteration_step binds it.
        autocast: the world's mixed-precision context for the forward pass.
    Returns:
        (d_real, d_fake, loss_d, loss_g): logits (m,) and the two scalar losses.
    """
    z = state.prior.sample(m)  # (m, z_dim)
    x = state.data.sample(m)  # (m, *x_shape)
    with autocast():
        d_real, d_fake, loss_d, loss_g = forward(x, z)
    simultaneous_descend(state, loss_d, loss_g)
    if reg is not None:
        reg.after_d_step(state.D)  # WGAN's weight clipping
    return d_real, d_fake, loss_d, loss_g


def simultaneous_descend(state: TrainState, loss_d: Tensor, loss_g: Tensor) -> None:
    """Both steps from one graph: D's by grad_d L_D, G's by grad_g L_G, both taken before
    either network moves."""
    d_params = [p for p in state.D.parameters() if p.requires_grad]
    g_params = [p for p in state.G.parameters() if p.requires_grad]
    state.opt_d.zero_grad(set_to_none=True)
    state.opt_g.zero_grad(set_to_none=True)
    # backward(inputs=...) takes each loss's gradient for one network only, like autograd.grad,
    # but fills .grad through the hooks by which DistributedDataParallel averages over ranks.
    loss_d.backward(inputs=d_params, retain_graph=True)
    loss_g.backward(inputs=g_params)
    state.opt_d.step()
    state.opt_g.step()
