"""Data-parallel training: one process per rank, torch.distributed set up from torchrun's variables.

    torchrun --nproc-per-node 4 -m ganlab train ring8     # or: ganlab train ring8 --nproc 4

Every rank runs Algorithm 1 on its rows of each global minibatch of m (m / world each); G and D
are wrapped in DistributedDataParallel, whose backward averages the ranks' gradients, which is
the gradient of the global minibatch's mean loss. torchrun sets RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR and MASTER_PORT in each worker's environment; `session` reads them, opens the
process group (gloo on CPU, nccl on CUDA) and closes it. Rank 0 alone reads and writes the run
directory (the other nodes of a multi-node run need no copy of it); `on_main` runs such a read
or write there and hands its result, or its one-line error, to every rank, so that no rank
waits forever for one that stopped.

Random streams. Every rank holds the same noise and data generators and draws the whole global
minibatch from them, keeping its own rows (`shard_rows`): N processes see exactly the examples
and noise that one process would, and the one copy of those streams in a checkpoint serves any
world size. Dropout draws from torch's global generator, which is per rank: rank 0's continues
the single-process stream, rank r > 0 starts from `rank_seed(seed, r, 0)`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from ganlab.data.sources import shard_rows  # noqa: F401 - part of this module's API
from ganlab.errors import ConfigError, GanlabError

T = TypeVar("T")

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class World:
    """This process's place among the ranks of a run, and where and how it computes.

    Attributes:
        rank: this process's global rank, 0 .. size - 1.
        size: the number of processes (1 without torchrun).
        local_rank: the rank on this machine; picks the GPU.
        device: where G, D and the minibatches live.
        bf16: forward passes under torch.autocast(bfloat16) (CUDA only).
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    bf16: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes logs, samples, checkpoints and the report."""
        return self.rank == 0

    def autocast(self) -> contextlib.AbstractContextManager:
        """bfloat16 autocast for the forward passes when asked for, else nothing."""
        if self.bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()


LOCAL = World()


def has_bf16_autocast(world: World) -> bool:
    """Whether --bf16 applies where world computes: ganlab offers it on CUDA only."""
    return world.device.type == "cuda"


def env_rank() -> int:
    """The global rank torchrun gave this process; 0 outside torchrun."""
    return int(os.environ.get("RANK", "0"))


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def resolve_device(device: str = "auto", bf16: bool = False, local_rank: int = 0) -> torch.device:
    """The torch.device for --device auto|cpu|cuda: auto is CUDA when there is one.

    Raises:
        ConfigError: an unknown name, cuda without a GPU, bf16 off CUDA, or more processes
            on this machine than GPUs.
    """
    if device not in DEVICES:
        raise ConfigError(f"--device {device}: unknown device; use one of {', '.join(DEVICES)}")
    cuda = torch.cuda.is_available()
    if device == "cuda" and not cuda:
        raise ConfigError(
            "--device cuda: torch sees no CUDA device (torch.cuda.is_available() is False); "
            "use --device cpu or install a CUDA build of torch"
        )
    if device == "auto":
        device = "cuda" if cuda else "cpu"
    if bf16 and device != "cuda":
        raise ConfigError(
            f"--bf16 needs a CUDA device but training runs on {device}; drop --bf16 or "
            "use --device cuda on a machine with a GPU"
        )
    if device != "cuda":
        return torch.device("cpu")
    if "LOCAL_RANK" not in os.environ:  # one process: the caller's GPU (set_device; else cuda:0)
        return torch.device("cuda", torch.cuda.current_device())
    gpus = torch.cuda.device_count()
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    # torchrun (and --nproc) start a machine's processes with one environment, so they all see
    # the same GPUs; other launchers may show each process its own GPU (CUDA_VISIBLE_DEVICES).
    shared = gpus > 1 or "TORCHELASTIC_RUN_ID" in os.environ
    if processes > gpus and shared:
        # nccl refuses two ranks on one GPU ("Duplicate GPU detected") at the first collective
        raise ConfigError(
            f"{processes} processes on this machine but torch sees {gpus} CUDA GPU"
            f"{'s' * (gpus != 1)}; nccl needs one GPU per process: use --nproc {gpus} "
            "(torchrun: --nproc-per-node), or --device cpu for gloo processes"
        )
    return torch.device("cuda", local_rank % gpus)  # one GPU visible to each process: cuda:0


@contextlib.contextmanager
def session(device: str = "auto", bf16: bool = False) -> Iterator[World]:
    """This process's World for one run; opens and closes the process group under torchrun.

    With WORLD_SIZE > 1 in the environment (torchrun sets it) the default process group is
    initialised from the environment, with nccl on CUDA and gloo on CPU, unless the caller
    initialised one already (then it is used and left open). Outside torchrun: World(size=1).
    """
    size = dist.get_world_size() if dist.is_initialized() else env_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    where = resolve_device(device, bf16, local_rank)
    if size == 1:
        yield World(device=where, bf16=bf16)
        return
    if where.type == "cuda":
        torch.cuda.set_device(where)  # nccl and its object collectives use the current device
    opened = not dist.is_initialized()
    if opened:
        dist.init_process_group("nccl" if where.type == "cuda" else "gloo")
    together = False  # whether every rank leaves here at once
    try:
        yield World(dist.get_rank(), dist.get_world_size(), local_rank, where, bf16)
        together = True
    except GanlabError:
        together = True  # raised on every rank at once (on_main, max_over_ranks, the same input)
        raise
    finally:
        if opened:
            # Ranks leave together: a rank that tore gloo down while another still reduced
            # made the other abort in measurements (2 of 5 exits of a 2-process run). After
            # any other exception the others may be inside a collective: no barrier then.
            if together:
                with contextlib.suppress(RuntimeError):
                    dist.barrier()
            dist.destroy_process_group()


def world_size() -> int:
    """Processes in the run (1 when no process group is open)."""
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    """Wait for every rank (nothing to do in one process)."""
    if world_size() > 1:
        dist.barrier()


def local_batch(m: int, size: int, pack: int = 1) -> int:
    """This rank's share m / world of the global minibatch m.

    Raises:
        ConfigError: m does not split evenly over the ranks (or into D's packs on each).
    """
    if m % size or (m // size) % pack:
        need = f"a multiple of {size * pack}" if pack > 1 else f"a multiple of {size}"
        raise ConfigError(
            f"minibatch m={m} does not split over {size} processes"
            + (f" into packs of {pack}" if pack > 1 else "")
            + f"; set m to {need} or change --nproc"
        )
    return m // size


def rank_seed(seed: int, r: int, step: int) -> int:
    """A seed for rank r's own stream (dropout) from the run's seed and the step it starts at.

    A hash rather than seed + r: nearby seeds of nearby runs then share no stream.
    """
    digest = hashlib.sha256(f"ganlab/{seed}/{r}/{step}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def max_over_ranks(*values: int) -> tuple[int, ...]:
    """The largest of each integer over the ranks (every rank gets them), in one all_reduce."""
    if world_size() == 1:
        return values
    t = torch.tensor(values, device=_collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return tuple(t.tolist())


def broadcast(obj: T) -> T:
    """Rank 0's `obj` on every rank."""
    if world_size() == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather(obj: T) -> list[T] | None:
    """[obj of rank 0, obj of rank 1, ...] on rank 0, None on the others."""
    if world_size() == 1:
        return [obj]
    out = [None] * world_size() if is_main() else None
    dist.gather_object(obj, out, dst=0)
    return out


def all_gather_rows(t: torch.Tensor) -> torch.Tensor:
    """Every rank's equally long tensor t, concatenated in rank order (on every rank)."""
    if world_size() == 1:
        return t
    parts = [torch.empty_like(t) for _ in range(world_size())]
    dist.all_gather(parts, t.contiguous())
    return torch.cat(parts)


def on_main(fn: Callable[..., T], *args: Any) -> T:
    """Run fn(*args) on rank 0 and return its result on every rank.

    A GanlabError raised by fn on rank 0 (a full disk, a run directory that exists) is raised
    on every rank, so all of them stop with it instead of waiting at their next collective
    for a rank that left. In one process this is fn(*args).
    """
    if world_size() == 1:
        return fn(*args)
    box: list[Any] = [None]
    if is_main():
        try:
            box = [("ok", fn(*args))]
        except GanlabError as e:
            box = [("error", e)]
    dist.broadcast_object_list(box, src=0)
    status, value = box[0]
    if status == "error":
        raise value
    return value


def replicate(module: nn.Module, world: World) -> nn.Module:
    """`module` wrapped in DistributedDataParallel when there are several ranks, else itself.

    DDP broadcasts rank 0's parameters and buffers at construction and, in every backward
    through the wrapper, averages the parameters' gradients over the ranks.
    """
    if world.size == 1:
        return module
    ids = [world.device.index] if world.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids)


def sync_batchnorm(module: nn.Module, world: World) -> nn.Module:
    """BatchNorm layers that normalise over the global minibatch, where torch can (CUDA).

    torch's SyncBatchNorm runs on GPUs only; on CPU each rank normalises over its own m / world
    rows, so a G or D with BatchNorm trained on N CPU processes is not the one-process model.
    """
    if world.size > 1 and world.device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return module


def _collective_device() -> torch.device:
    # nccl reduces CUDA tensors only; gloo takes CPU tensors
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


# ---------------------------------------------------------------------------------------------
# Launching: `ganlab train ... --nproc N`


def launch(nproc: int, argv: list[str]) -> int:
    """Run `python -m ganlab ARGV` in nproc processes on this machine with torchrun's launcher.

    The same as `torchrun --standalone --nproc-per-node N -m ganlab ARGV`, called in this
    process (torch.distributed.run.run) so that the exit status is rank 0's own (2 for an
    error, 130 for an interrupt) rather than torchrun's 1 with a traceback; each rank prints
    its own one-line message. A signal to this process reaches the workers through torchrun,
    which forwards it.

    Returns:
        rank 0's exit status (128 + n for a worker killed by signal n, or for a signal here).
    """
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    # torchrun would set this too, with a banner. Each worker keeps it (runtime.run_threads:
    # an environment setting wins over the automatic choice); cfg.threads still overrides.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args = parse_args(["--standalone", "--nproc-per-node", str(nproc), "-m", "ganlab", *argv])
    quiet = [
        logging.getLogger(name)
        for name in list(logging.root.manager.loggerDict)
        if name.startswith("torch.distributed")
    ]
    for logger in quiet:  # the workers report their own errors, in one line each
        logger.setLevel(logging.CRITICAL)
    try:
        run(args)
    except ChildFailedError as e:
        failure = e.failures.get(0) or e.get_first_failure()[1]
        return failure.exitcode if failure.exitcode >= 0 else 128 - failure.exitcode
    except SignalException as e:
        return 128 + int(e.sigval)
    return 0
