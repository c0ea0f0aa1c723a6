"""One checkpoint file: the whole training state in safetensors, read without running code.

A checkpoint holds G and D (parameters and buffers), both optimisers' state, every RNG that
Algorithm 1 draws from (noise, data order, dropout), the data source's place in its epoch, and
the step. safetensors stores only tensors and a str -> str header, so loading one can never run
code, unlike a pickle; the few non-tensor values (optimiser hyperparameters) go in the header as
JSON. The checkpoints/ folder of a run (manifest, keep-last-K, corrupt files set aside) is
ganlab.runs.checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from ganlab.config import Config
from ganlab.errors import CheckpointError
from ganlab.training import distributed
from ganlab.training.distributed import World
from ganlab.training.state import TrainState

FORMAT = "ganlab-checkpoint/1"


# ---------------------------------------------------------------------------------------------
# State <-> (tensors, header)


def state_to_tensors(state: TrainState) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Flatten a TrainState into safetensors' tensors and str -> str header."""
    tensors: dict[str, Tensor] = {}
    header = {
        "format": FORMAT,
        "step": str(state.step),
        "lr_scale": repr(state.lr_scale),
        "rollbacks": str(state.rollbacks),
    }
    modules = [("G", state.G), ("D", state.D)]
    if state.ema is not None:  # the moving average of G's weights (cfg.ema)
        modules.append(("G_ema", state.ema))
    for name, module in modules:
        for key, value in module.state_dict().items():
            tensors[f"{name}.{key}"] = _host_copy(value)
    for name, opt in (("opt_g", state.opt_g), ("opt_d", state.opt_d)):
        sd = opt.state_dict()
        scalars = {}
        for index, param_state in sd["state"].items():
            for key, value in param_state.items():
                if torch.is_tensor(value):
                    tensors[f"{name}.state.{index}.{key}"] = _host_copy(value)
                elif value is not None:
                    scalars[f"{index}.{key}"] = value
        header[f"{name}.class"] = type(opt).__name__
        header[f"{name}.param_groups"] = json.dumps(sd["param_groups"])
        header[f"{name}.scalars"] = json.dumps(scalars)
    tensors["rng.torch"] = torch.get_rng_state()
    for name, part in (("prior", state.prior), ("data", state.data)):
        for key, value in part.state_dict().items():
            tensors[f"{name}.{key}"] = _host_copy(value)
    return tensors, header


def checkpoint_bytes(
    state: TrainState,
    extra_tensors: dict[str, Tensor] | None = None,
    extra_header: dict[str, str] | None = None,
) -> bytes:
    """The bytes of a checkpoint file of `state`.

    extra_tensors, extra_header: more entries beside the state's (other ranks' RNGs).
    """
    tensors, header = state_to_tensors(state)
    tensors.update(extra_tensors or {})
    header.update(extra_header or {})
    return st_save(tensors, metadata=header)


def _host_copy(value: Tensor) -> Tensor:
    """A CPU copy of a tensor that later training steps cannot change (safetensors saves it)."""
    return value.detach().cpu().clone().contiguous()


def _check_module(name: str, module: nn.Module, tensors: dict[str, Tensor], path: Path) -> None:
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    found = {
        k[len(name) + 1 :]: tuple(v.shape) for k, v in tensors.items() if k.startswith(name + ".")
    }
    who = {"G": "generator", "D": "discriminator", "G_ema": "generator's average"}[name]
    for key, shape in expected.items():
        if key not in found:
            raise CheckpointError(
                f"checkpoint {path} has no tensor {name}.{key} that the config's {who} needs; "
                "it was written by an incompatible config: restore the run's original config.yaml"
            )
        if found[key] != shape:
            raise CheckpointError(
                f"checkpoint {path} holds {name}.{key} of shape {list(found[key])} but the config "
                f"builds {list(shape)}; it was written by an incompatible config: restore "
                "the run's original config.yaml"
            )
    extra = sorted(set(found) - set(expected))
    if extra:
        raise CheckpointError(
            f"checkpoint {path} holds {name}.{extra[0]} that the config's {who} lacks; it was "
            "written by an incompatible config: restore the run's original config.yaml"
        )


def _restore_optimizer(name, opt, tensors, header, path) -> None:
    saved_class = header.get(f"{name}.class")
    if saved_class != type(opt).__name__:
        raise CheckpointError(
            f"checkpoint {path} holds {saved_class} state for {name} but the config asks for "
            f"{type(opt).__name__}; restore the run's original config.yaml"
        )
    groups = json.loads(header[f"{name}.param_groups"])
    for group in groups:
        if "betas" in group:
            group["betas"] = tuple(group["betas"])
    state: dict[int, dict] = {}
    prefix = f"{name}.state."
    for key, value in tensors.items():
        if key.startswith(prefix):
            index, field = key[len(prefix) :].split(".", 1)
            state.setdefault(int(index), {})[field] = value
    for key, value in json.loads(header[f"{name}.scalars"]).items():
        index, field = key.split(".", 1)
        state.setdefault(int(index), {})[field] = value
    try:
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError) as e:
        raise CheckpointError(
            f"checkpoint {path}: optimizer state for {name} does not fit ({e}); "
            "restore the run's original config.yaml"
        ) from None


def restore_models(
    G: nn.Module, D: nn.Module, tensors: dict[str, Tensor], path, ema: nn.Module | None = None
) -> None:
    """Load G's and D's weights (and G's average's, when given) from a checkpoint's tensors,
    checking names and shapes."""
    for name, module in (("G", G), ("D", D), ("G_ema", ema)):
        if module is None:
            continue
        if name == "G_ema" and not any(k.startswith("G_ema.") for k in tensors):
            raise CheckpointError(
                f"checkpoint {path} holds no average of G's weights, but the config sets ema.beta; "
                "it was written with ema off: restore the run's original config.yaml"
            )
        _check_module(name, module, tensors, path)
        prefix = f"{name}."
        module.load_state_dict(
            {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        )


def restore_state(state: TrainState, tensors: dict[str, Tensor], header: dict[str, str], path):
    """Load a checkpoint's tensors into a freshly built TrainState, checking they fit."""
    if header.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a ganlab checkpoint (format {header.get('format')!r}); "
            "pass a file from a run's checkpoints/ folder"
        )
    restore_models(state.G, state.D, tensors, path, state.ema)
    _restore_optimizer("opt_g", state.opt_g, tensors, header, path)
    _restore_optimizer("opt_d", state.opt_d, tensors, header, path)
    try:
        torch.set_rng_state(tensors["rng.torch"])
        state.prior.load_state_dict(
            {k[6:]: v for k, v in tensors.items() if k.startswith("prior.")}
        )
        state.data.load_state_dict({k[5:]: v for k, v in tensors.items() if k.startswith("data.")})
    except (KeyError, RuntimeError) as e:
        raise CheckpointError(
            f"checkpoint {path} lacks or mangles RNG/data state ({e}); "
            "it is not from this version of ganlab or was altered"
        ) from None
    try:
        state.step = int(header["step"])
        state.lr_scale = float(header.get("lr_scale", 1.0))  # absent: written before rollbacks
        state.rollbacks = int(header.get("rollbacks", 0))
    except ValueError as e:
        raise CheckpointError(
            f"checkpoint {path} has a malformed header ({e}); it was altered: use another one"
        ) from None


def read_checkpoint(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Tensors and header of a checkpoint file; CheckpointError if missing or unreadable."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist; check the path") from None
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path} ({e.strerror})") from None
    return parse_checkpoint(data, path)


def parse_checkpoint(data: bytes, path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Tensors and header of a checkpoint file's bytes; CheckpointError if they do not parse."""
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len]).get("__metadata__", {}) or {}
    except (SafetensorError, ValueError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated ({str(e).splitlines()[0][:80]}); "
            "use an earlier checkpoint or start a new run"
        ) from None
    return tensors, header


def rank_rng(world: World) -> dict[str, torch.Tensor]:
    """This rank's dropout streams: torch's CPU generator, and the GPU's when on one."""
    states = {"torch": torch.get_rng_state()}
    if world.device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(world.device)
    return states


def restore_rank_rng(tensors, header: dict[str, str], cfg: Config, world: World, step: int):
    """This rank's dropout streams from a checkpoint (restore_state set rank 0's CPU one).

    On as many ranks as the checkpoint was written by, every rank gets its own saved streams
    back: resuming is exact. On another number, rank 0 keeps its saved streams and rank r > 0
    starts afresh from distributed.rank_seed(seed, r, step).
    """
    if world.rank and header.get("world_size", "1") != str(world.size):
        torch.manual_seed(distributed.rank_seed(cfg.seed, world.rank, step))
        return
    prefix = f"rank{world.rank}.rng." if world.rank else "rng."
    try:
        if world.rank:
            torch.set_rng_state(tensors[prefix + "torch"])
        if world.device.type == "cuda" and prefix + "cuda" in tensors:
            torch.cuda.set_rng_state(tensors[prefix + "cuda"], world.device)
    except (KeyError, RuntimeError) as e:
        raise CheckpointError(
            f"checkpoint lacks or mangles rank {world.rank}'s RNG state ({e}); it was altered: "
            "resume on another number of processes to start that rank's stream afresh"
        ) from None
