"""Classes for data without labels: its own k-means clusters (the self-conditioned GAN).

Liu et al. (2020), "Diverse Image Generation via Self-Conditioned GANs": cluster the data,
train a conditional GAN p_g(x | c) on the cluster c of each example, and sample c with the
clusters' frequencies, so that p_g(x) = sum_c p(c) p_g(x | c). One G that maps a single
Gaussian z onto every mode of the data must spend samples on the paths between modes (blends of
a 3, a 5 and an 8); given the cluster, each conditional is nearer to one mode.
(benchmarks/README.md, "The images recipe": on 10,000 MNIST PNGs, 20 clusters raised the share
of samples a classifier reads confidently from 84% to 95-96%; with 200 clusters of 50 images
G drew nearly one image per cluster.)

Liu et al. cluster D's features; here the clusters come once from the data itself, before
training (k-means on its first principal components), so that they are fixed for the run and
the same at resume: a run resumed on the same data recomputes exactly the same labels.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ganlab.data.sources import EpochSource
from ganlab.errors import DataError

FEATURES = 50  # principal components k-means runs in
FIT_BYTES = 256 * 2**20  # float32 rows the PCA and k-means are fitted on: a seeded subsample
FIT_ROWS = 20_000  # ... and at most this many rows (k-means of 20 clusters: seconds)
CHUNK_ROWS = 4096  # rows assigned to their nearest centroid at a time


def fit_rows(size: int, dim: int) -> int:
    """How many of `size` examples of `dim` numbers the clustering is fitted on."""
    return max(1, min(size, FIT_ROWS, FIT_BYTES // (4 * dim)))


def cluster_labels(source: EpochSource, k: int, seed: int) -> Tensor:
    """Each example's k-means cluster, (N,) int64 in 0..k-1.

    Fitted on a seeded subsample (all of the data up to FIT_ROWS examples): PCA to FEATURES
    components, then k-means (k-means++ starts, best of 4); every example is then assigned to its
    nearest centroid a chunk at a time, so data streamed from disk is never held whole.
    scikit-learn runs on one thread here so that the labels do not depend on the thread count.

    Raises:
        DataError: fewer examples to fit on than clusters.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits

    dim = int(np.prod(source.x_shape))
    n_fit = fit_rows(source.size, dim)
    if n_fit < k:
        raise DataError(
            f"conditional.clusters={k} needs at least {k} examples to cluster, the data has "
            f"{source.size} (fitted on {n_fit}); lower conditional.clusters"
        )
    gen = torch.Generator().manual_seed(seed)
    fit_idx = torch.randperm(source.size, generator=gen)[:n_fit].sort().values
    with threadpool_limits(1):
        x = flat(source, fit_idx)
        pca = PCA(
            min(FEATURES, dim, n_fit),
            svd_solver="full" if dim <= 1024 else "randomized",
            random_state=seed,
        ).fit(x)
        km = KMeans(k, n_init=4, random_state=seed).fit(pca.transform(x))
        chunks = torch.arange(source.size).split(CHUNK_ROWS)
        labels = [km.predict(pca.transform(flat(source, idx))) for idx in chunks]
    return torch.from_numpy(np.concatenate(labels).astype(np.int64))


def flat(source: EpochSource, idx: Tensor) -> np.ndarray:
    """The examples at idx as float32 rows, (len(idx), prod(x_shape)), on the CPU (scikit-learn
    keeps float32, about twice as fast as float64)."""
    return source.rows(idx).reshape(len(idx), -1).cpu().float().numpy()


def label_by_clusters(source: EpochSource, k: int, seed: int) -> None:
    """Give `source` its k-means clusters as classes ("cluster 0", ...) and their frequencies
    as the class weights G's classes are drawn with."""
    y = cluster_labels(source, k, seed)
    weights = torch.bincount(y, minlength=k).double() / len(y)
    source.set_labels(y, [f"cluster {c}" for c in range(k)], weights)


__all__ = ["cluster_labels", "fit_rows", "label_by_clusters"]
