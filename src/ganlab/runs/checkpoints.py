"""The whole training state in one safetensors file, written atomically, read without code.

A checkpoint holds G and D (parameters and buffers), both optimisers' state, every RNG that
Algorithm 1 draws from (noise, data order, dropout), the data source's place in its epoch, and
the step. safetensors stores only tensors and a str -> str header, so loading one can never run
code, unlike a pickle; the few non-tensor values (optimiser hyperparameters) go in the header as
JSON. `checkpoints/manifest.json` lists each file with its SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import Tensor, nn

from ganlab.config import Config
from ganlab.errors import CheckpointError
from ganlab.files import atomic_write_bytes
from ganlab.training import distributed
from ganlab.training.distributed import World
from ganlab.training.state import TrainState

FORMAT = "ganlab-checkpoint/1"
_NAME = re.compile(r"^step-(\d+)\.safetensors$")


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
    return _parse(data, path)


def _parse(data: bytes, path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
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


# ---------------------------------------------------------------------------------------------
# The checkpoints/ folder of a run


class CheckpointStore:
    """The checkpoints of one run: step-XXXXXXXX.safetensors files and a manifest of checksums.

    Args:
        folder: the run's checkpoints/ directory.
        keep: how many of the newest checkpoints to keep on disk.
    """

    def __init__(self, folder: Path, keep: int = 3):
        self.folder, self.keep = Path(folder), keep
        self.manifest_path = self.folder / "manifest.json"

    def entries(self) -> list[dict]:
        """Manifest entries, oldest first; falls back to the file names if there is no manifest."""
        if self.manifest_path.exists():
            try:
                rows = json.loads(self.manifest_path.read_text())["checkpoints"]
                # Only step-N files inside this folder: a crafted manifest must not make us
                # read, or (in save) delete, a file elsewhere.
                if all(isinstance(r, dict) and _NAME.match(str(r["file"])) for r in rows):
                    return rows
            except (OSError, ValueError, KeyError, TypeError):
                pass
            warnings.warn(f"{self.manifest_path} is unreadable; using file names", stacklevel=2)
        files = [p for p in self.folder.glob("step-*.safetensors") if _NAME.match(p.name)]
        rows = [
            {"file": p.name, "step": int(_NAME.match(p.name)[1]), "sha256": None} for p in files
        ]
        return sorted(rows, key=lambda r: r["step"])

    def save(
        self,
        state: TrainState,
        extra_tensors: dict[str, Tensor] | None = None,
        extra_header: dict[str, str] | None = None,
    ) -> Path:
        """Write the state as a new checkpoint, then drop all but the newest `keep`.

        extra_tensors, extra_header: more entries beside the state's (other ranks' RNGs).
        """
        tensors, header = state_to_tensors(state)
        tensors.update(extra_tensors or {})
        header.update(extra_header or {})
        data = st_save(tensors, metadata=header)
        path = self.folder / f"step-{state.step:08d}.safetensors"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for stale in self.folder.glob(".*.tmp"):  # left by a process killed mid-write
                stale.unlink(missing_ok=True)
            atomic_write_bytes(path, data)
            older = [e for e in self.entries() if e["file"] != path.name]
            new = {
                "file": path.name,
                "step": state.step,
                "sha256": hashlib.sha256(data).hexdigest(),
            }
            kept, dropped, bad = self._verified_newest(older, self.keep - 1)
            kept.append(new)
            self.set_aside(bad)
            self._write_manifest(kept)
        except OSError as e:
            raise CheckpointError(
                f"cannot write checkpoint {path} ({e.strerror}); free disk space or fix the "
                "folder's permissions, then resume: the previous checkpoint is intact"
            ) from None
        for entry in dropped:
            (self.folder / entry["file"]).unlink(missing_ok=True)
        # Files a killed process wrote but never listed, or listed and never deleted: any
        # unlisted one older than the newest kept is stale (a newer one is rewritten on resume).
        listed = {e["file"] for e in kept}
        for p in self.folder.glob("step-*.safetensors"):
            match = _NAME.match(p.name)
            if match and p.name not in listed and int(match[1]) < kept[-1]["step"]:
                p.unlink(missing_ok=True)
        return path

    def _verified_newest(self, entries: list[dict], n: int) -> tuple[list, list, list]:
        """(the newest n entries whose files match their checksums, oldest first; the older
        intact ones, to delete; the ones that fail their check, to set aside).

        Keep-last-K counts only checkpoints that verify: a corrupt or missing one never takes
        the place of an intact older one, which is then kept instead of deleted.
        """
        kept: list[dict] = []
        dropped: list[dict] = []
        bad: list[dict] = []
        for entry in reversed(entries):
            if len(kept) >= n:
                dropped.append(entry)
            elif self._intact(entry):
                kept.append(entry)
            else:
                bad.append(entry)
        return kept[::-1], dropped, bad

    def _intact(self, entry: dict) -> bool:
        try:
            data = (self.folder / entry["file"]).read_bytes()
        except OSError:
            return False
        return not entry.get("sha256") or hashlib.sha256(data).hexdigest() == entry["sha256"]

    def _write_manifest(self, entries: list[dict]) -> None:
        atomic_write_bytes(
            self.manifest_path, json.dumps({"checkpoints": entries}, indent=1).encode()
        )

    def set_aside(self, entries: list[dict]) -> list[Path]:
        """Move these checkpoints' files into checkpoints/corrupt/ (never deleted: a user may
        still want to look at them); the caller leaves them out of the manifest.

        Returns:
            Where the files went.
        """
        moved = []
        for entry in entries:
            source = self.folder / entry["file"]
            if not source.exists():
                continue
            corrupt = self.folder / "corrupt"
            corrupt.mkdir(exist_ok=True)
            target, i = corrupt / source.name, 2
            while target.exists():  # a second bad file of the same step keeps the first
                target, i = corrupt / f"{source.stem}-{i}{source.suffix}", i + 1
            os.replace(source, target)
            moved.append(target)
        return moved

    def load(self, step: int) -> tuple[Path, dict[str, Tensor], dict[str, str]]:
        """The checkpoint saved at `step`, checked against its manifest checksum.

        Raises:
            CheckpointError: no checkpoint of that step is kept, or it is corrupt.
        """
        entries = self.entries()
        match = [e for e in entries if int(e["step"]) == step]
        if not match:
            kept = ", ".join(str(e["step"]) for e in entries) or "none"
            raise CheckpointError(
                f"no checkpoint of step {step} in {self.folder} (kept steps: {kept}); pick one "
                "of those or leave out the step for the latest"
            )
        path = self.folder / match[0]["file"]
        try:
            data = path.read_bytes()
        except OSError as e:
            raise CheckpointError(f"cannot read checkpoint {path} ({e.strerror})") from None
        if match[0].get("sha256") and hashlib.sha256(data).hexdigest() != match[0]["sha256"]:
            raise CheckpointError(
                f"checkpoint {path} is corrupt (SHA-256 differs from the manifest); pick "
                "another step"
            )
        return (path, *_parse(data, path))

    def load_latest(
        self, set_aside: bool = False
    ) -> tuple[Path, dict[str, Tensor], dict[str, str]]:
        """The newest checkpoint that reads back and matches its checksum.

        A newer file that fails is skipped with a warning naming it. set_aside (a run that will
        go on from here: resume, rollback): the skipped files - every one newer than the
        checkpoint used - move to checkpoints/corrupt/ and leave the manifest, so that they
        never count as the newest or as one of the kept ones again.
        Raises:
            CheckpointError: there is no checkpoint, or none is intact.
        """
        entries = self.entries()
        if not entries:
            raise CheckpointError(
                f"no checkpoint in {self.folder}; the run saved none yet: start it again with "
                "`ganlab train ... --overwrite`"
            )
        skipped: list[str] = []  # problems, newest first; warned about only on a fallback
        for entry in reversed(entries):
            path = self.folder / entry["file"]
            try:
                data = path.read_bytes()
            except OSError:
                skipped.append(f"checkpoint {path} listed in the manifest is missing")
                continue
            if entry.get("sha256") and hashlib.sha256(data).hexdigest() != entry["sha256"]:
                skipped.append(f"checkpoint {path} is corrupt (SHA-256 differs from the manifest)")
                continue
            try:
                tensors, header = _parse(data, path)
            except CheckpointError as e:
                skipped.append(str(e))
                continue
            newer = entries[entries.index(entry) + 1 :]
            aside = ""
            if set_aside and newer:
                self.set_aside(newer)
                self._write_manifest(entries[: entries.index(entry) + 1])
                aside = f" (moved to {self.folder / 'corrupt'}/)"
            for problem in skipped:
                warnings.warn(f"{problem}; using {path.name} instead{aside}", stacklevel=2)
            return path, tensors, header
        raise CheckpointError(
            f"no intact checkpoint in {self.folder} (newest problem: {skipped[0]}); "
            "start a new run with `ganlab train ... --overwrite`"
        )


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
