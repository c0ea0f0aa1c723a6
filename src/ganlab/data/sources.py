"""Minibatch sources for Algorithm 1: streams from a distribution, or epochs over a tensor.

A source's whole state (its RNG and its place in an epoch) is tensors, so a checkpoint can
restore it and a resumed run sees exactly the minibatches the uninterrupted run would have.

In a run over several processes every rank holds the same source and state, takes each global
minibatch of m from it and returns only its `shard` of the rows (`shard_rows`; the ranks are
ganlab.training.distributed's): together they train on exactly the one-process minibatches, and
the state is the same on all of them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from ganlab.data.toy import GaussianMixture
from ganlab.errors import DataError


def shard_rows(m: int, shard: tuple[int, int]) -> slice:
    """The rows of a global minibatch of m that rank r of `size` ranks keeps, shard = (r, size)."""
    r, size = shard
    return slice(r * m // size, (r + 1) * m // size)


class DistributionSource:
    """Fresh examples x ~ p_data every minibatch, drawn from a known distribution.

    Args:
        distribution: a GaussianMixture (has sample(n, generator) and log_prob(x)).
        seed: seed of this source's torch.Generator.
    """

    size = None  # an endless stream: no epochs

    def __init__(self, distribution: GaussianMixture, seed: int):
        self.distribution = distribution
        self.class_names: list[str] | None = None  # set by a conditional run: the mode indices
        self.x_shape = (distribution.dim,)
        self.generator = torch.Generator().manual_seed(seed)
        self.shard = (0, 1)  # (rank, world size): the rows of each minibatch sample() returns
        self.device = torch.device("cpu")

    def sample(self, m: int) -> Tensor:
        x = self.distribution.sample(m, self.generator)  # (m, d)
        return x[shard_rows(m, self.shard)].to(self.device)

    def sample_labelled(self, m: int) -> tuple[Tensor, Tensor]:
        """(x, y): m examples and the mode each was drawn from, (m, d) and (m,) int64."""
        x, y = self.distribution.sample_labelled(m, self.generator)  # (m, d), (m,)
        rows = shard_rows(m, self.shard)
        return x[rows].to(self.device), y[rows].to(self.device)

    @property
    def classes(self) -> int | None:
        return None if self.class_names is None else len(self.class_names)

    def label_reference(self, n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
        """`reference`'s n examples with their modes (the same draws)."""
        return self.distribution.sample_labelled(n, torch.Generator().manual_seed(seed))

    def to(self, device: torch.device) -> DistributionSource:
        """Return minibatches on `device` (the generator stays on the CPU: same numbers)."""
        self.device = torch.device(device)
        return self

    def reference(self, n: int, seed: int = 0) -> Tensor:
        """n examples for plots and scores, from a separate generator (training is unaffected)."""
        return self.distribution.sample(n, torch.Generator().manual_seed(seed))

    def state_dict(self) -> dict[str, Tensor]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.generator.set_state(state["generator"])


class EpochSource:
    """Epochs over N stored examples: each epoch a random permutation, read m at a time.

    The last partial minibatch of an epoch is dropped, so every minibatch has exactly m
    examples, as Algorithm 1 assumes. The state (generator, order, cursor) is the same for
    every kind of storage, so a run streamed from disk and one held in memory see the same
    minibatches and restore from each other's checkpoints. Subclasses say how rows are read
    (`rows`).

    Args:
        size: N, the number of examples.
        seed: seed of this source's torch.Generator (the shuffling).
    """

    def __init__(self, size: int, seed: int):
        self.size = size
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.randperm(self.size, generator=self.generator)  # (N,)
        self.cursor = 0
        self.shard = (0, 1)  # (rank, world size): the rows of each minibatch sample() returns
        self.labels: Tensor | None = None  # (N,) int64 class of each example (conditional runs)
        self.class_names: list[str] | None = None  # the K classes' names, index order
        self.class_weights: Tensor | None = None  # (K,) p(y) G's classes follow; None: uniform

    @property
    def classes(self) -> int | None:
        """K, the number of classes of a labelled source (None: unlabelled)."""
        return None if self.class_names is None else len(self.class_names)

    def set_labels(
        self, labels: Tensor, class_names: list[str], weights: Tensor | None = None
    ) -> None:
        """Give example i the class labels[i] in 0..K-1, K = len(class_names); `weights`, (K,),
        the class frequencies G's classes are drawn with (None: uniform)."""
        labels = torch.as_tensor(labels, dtype=torch.int64)
        if labels.shape != (self.size,):
            raise DataError(
                f"{len(labels)} labels for {self.size} examples; give one label per example"
            )
        self.labels, self.class_names = labels, list(class_names)
        self.class_weights = weights

    def rows(self, idx: Tensor) -> Tensor:
        """The examples at indices idx, in that order: (len(idx), *x_shape)."""
        raise NotImplementedError

    def next_indices(self, m: int) -> Tensor:
        """The indices of the next minibatch of m in the epoch's permutation (this rank's)."""
        if m > self.size:
            raise DataError(
                f"minibatch m={m} is larger than the {self.size} training examples; lower m"
            )
        if self.cursor + m > self.size:  # epoch done: reshuffle
            self.order = torch.randperm(self.size, generator=self.generator)
            self.cursor = 0
        idx = self.order[self.cursor : self.cursor + m]
        self.cursor += m
        return idx[shard_rows(m, self.shard)]

    def sample(self, m: int) -> Tensor:
        return self.rows(self.next_indices(m))  # (m, *x_shape), or this rank's rows

    def sample_labelled(self, m: int) -> tuple[Tensor, Tensor]:
        """(x, y): the next minibatch and its labels, read at the same indices of the same
        permutation, so a restored state resumes both exactly. (m, *x_shape), (m,) int64."""
        idx = self.next_indices(m)
        x = self.rows(idx)
        return x, self.labels[idx].to(x.device)

    def label_reference(self, n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
        """`reference`'s n examples with their labels."""
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(self.size, generator=g)[: min(n, self.size)]
        return self.rows(idx).cpu(), self.labels[idx]

    def reference(self, n: int, seed: int = 0) -> Tensor:
        """n examples for plots and scores, from a separate generator (training is unaffected)."""
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(self.size, generator=g)[: min(n, self.size)]
        return self.rows(idx).cpu()

    def class_reference(self, per_class: int, seed: int = 0) -> tuple[Tensor, Tensor]:
        """per_class examples of each class, in class order (all of a class with fewer), and
        their labels: the data beside a conditional G's rows. Only these rows are read."""
        g = torch.Generator().manual_seed(seed)
        order = torch.randperm(self.size, generator=g)
        labels = self.labels[order]
        idx = torch.cat([order[labels == j][:per_class] for j in range(self.classes)])
        return self.rows(idx).cpu(), self.labels[idx]

    def state_dict(self) -> dict[str, Tensor]:
        return {
            "generator": self.generator.get_state(),
            "order": self.order,
            "cursor": torch.tensor(self.cursor),
        }

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self.generator.set_state(state["generator"])
        self.order = state["order"].clone()
        self.cursor = int(state["cursor"])


class TensorSource(EpochSource):
    """Minibatches of m examples from an in-memory tensor, shuffled anew every epoch.

    Batches are gathered from the tensor directly: a DataLoader adds per-step Python work and
    nothing else here.

    Args:
        x: (N, *x_shape) examples.
        seed: seed of this source's torch.Generator (the shuffling).
        distribution: the density x was drawn from, when known (for plots and theory).
    """

    def __init__(self, x: Tensor, seed: int, distribution: GaussianMixture | None = None):
        x = torch.as_tensor(x)
        if x.ndim < 2 or x.shape[0] == 0:
            raise DataError(
                f"training data must have shape (N, ...) with N >= 1, got {tuple(x.shape)}; "
                "pass one example per row"
            )
        if not torch.is_floating_point(x):
            x = x.to(torch.float32)
        if not torch.isfinite(x).all():
            raise DataError("training data contains NaN or Inf values; remove or replace them")
        self.x = x.to(torch.float32).contiguous()
        self.x_shape = tuple(self.x.shape[1:])
        self.distribution = distribution
        super().__init__(self.x.shape[0], seed)

    def to(self, device: torch.device) -> TensorSource:
        """Keep the examples on `device`; the shuffling stays on the CPU (same order)."""
        self.x = self.x.to(device)
        return self

    def rows(self, idx: Tensor) -> Tensor:
        # index_select: the rows x[idx] holds, without advanced indexing's general path
        return self.x.index_select(0, idx.to(self.x.device))

    def scale_to(self, lo: float, hi: float) -> None:
        """Map the examples from [0, 1] (pixels / 255) to [lo, hi]: x <- (hi - lo) x + lo."""
        self.x = (hi - lo) * self.x + lo

    def chunks(self, n: int = 4096) -> Iterator[Tensor]:
        """The examples in order, n at a time, on the CPU (for means and fingerprints)."""
        for start in range(0, self.size, n):
            yield self.x[start : start + n].detach().cpu()


def steps_per_epoch(size: int | None, m: int, epoch_size: int | None = None) -> float:
    """Minibatches per epoch, for epoch-based schedules. Streams count 50,000 examples an epoch,
    the size of the paper's MNIST training set, unless epoch_size says otherwise."""
    n = epoch_size or size or 50_000
    return max(1.0, math.floor(n / m))


def data_fingerprint(source) -> str | None:
    """SHA-256 of the examples a run trains on when they come from a file or set (None for a
    toy density's fresh draws): what a resume compares to see that the data did not change.

    The float32 examples as trained on (scaled to G's range) are hashed a chunk at a time, with
    their shape: fingerprint(x) of the whole tensor, for a source held in memory or streamed
    from disk alike, so either kind of run resumes the other's.
    """
    chunks = getattr(source, "chunks", None)
    if chunks is None:
        return None
    h = hashlib.sha256()
    for chunk in chunks():
        h.update(np.ascontiguousarray(chunk.numpy()).tobytes())
    h.update(str((source.size, *source.x_shape)).encode())
    return h.hexdigest()
