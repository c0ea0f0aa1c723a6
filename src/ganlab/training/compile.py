"""torch.compile for the forward passes of Algorithm 1's updates, with an eager fallback.

Both update kinds compile their forwards this way: alternating the forwards of D's and G's
updates (algorithm.forward_passes), simultaneous G's forward and D's pass with both losses
(algorithm.simultaneous_pass). The backward of a compiled forward is compiled with it.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import torch


def maybe_compiled(forward: Callable, compile: bool | str) -> Callable:
    """`forward` itself, or a CompiledForward of it when `compile` is "forwards" (or True).

    `compile: step` compiles whole updates instead (training.compiled_step); where it cannot,
    the forwards run eagerly.
    """
    return CompiledForward(forward) if compile in (True, "forwards") else forward


class CompiledForward:
    """A forward pass compiled with torch.compile, its backward by AOTAutograd; if compiling
    fails (no C++ compiler, an unsupported op), a one-line warning and the eager function.

    Only forward passes (and so their backward) are compiled: the optimiser steps stay eager
    (and fused), because a compiled step would take the learning rate, which the schedules
    change every step, as a constant and recompile. Compiled random ops draw from torch's own
    generator (inductor's fallback_random), so dropout masks are the ones eager mode draws and
    a compiled run computes the eager run's numbers up to floating-point rounding
    (tests/test_speed_paths.py). Compiling happens on the first call and the first backward.
    """

    def __init__(self, forward: Callable, backend="inductor"):
        # imported here: compiling is opt-in, importing ganlab is not
        from torch._inductor import config as inductor_config

        self.forward = forward
        # A partial's function compiled, its bound arguments passed at each call: torch.compile
        # of a functools.partial traces dynamo's one wrapper frame, whose cache (8 entries)
        # every compiled partial of the process would share, falling back to eager past it.
        self.bound: tuple = ()
        self.keywords: dict = {}
        if isinstance(forward, functools.partial):  # nested partials are flattened already
            forward, self.bound, self.keywords = forward.func, forward.args, forward.keywords
        self.compiled = torch.compile(forward, dynamic=False, backend=backend)
        self.inductor_config = inductor_config

    def __call__(self, *args):
        if self.compiled is None:
            return self.forward(*args)
        try:
            # per call: a recompile (a guard that fails later) must see the setting too
            with self.inductor_config.patch(fallback_random=True):
                return self.compiled(*self.bound, *args, **self.keywords)
        except Exception as e:  # noqa: BLE001 - any compiler failure: train eagerly instead
            if not is_compile_error(e):
                raise
            # dynamo wraps the backend's own error
            inner = getattr(e, "inner_exception", None) or e.__cause__ or e
            reason = f"{type(inner).__name__}: {(str(inner).strip().splitlines() or [''])[0]}"
            warnings.warn(f"torch.compile failed ({reason}); training eagerly", stacklevel=2)
            self.compiled = None
            return self.forward(*args)


def is_compile_error(e: Exception) -> bool:
    """Errors of dynamo/inductor themselves, not of the model's own code run eagerly."""
    import torch._dynamo.exc

    return isinstance(e, torch._dynamo.exc.TorchDynamoException) or "torch._inductor" in str(
        type(e).__module__
    )
