"""Classes for data without labels: its own clusters (the self-conditioned GAN).

Liu et al. (2020), "Diverse Image Generation via Self-Conditioned GANs": cluster the data,
train a conditional GAN p_g(x | c) on the cluster c of each example, and sample c with the
clusters' frequencies, so that p_g(x) = sum_c p(c) p_g(x | c). One G that maps a single
Gaussian z onto every mode of the data must spend samples on the paths between modes (blends of
a 3, a 5 and an 8); given the cluster, each conditional is nearer to one mode.
(benchmarks/README.md, "The images recipe": on 10,000 MNIST PNGs, 20 k-means clusters raised
the share of samples a classifier reads confidently from 84% to 95-96%, 20 spectral clusters to
98%; with 200 clusters of 50 images G drew nearly one image per cluster.)

Liu et al. cluster D's features; here the clusters come once from the data itself, before
training, so that they are fixed for the run and the same at resume: a run resumed on the same
data recomputes exactly the same labels. The data goes to its first principal components, then
either
- spectral clustering (the default; Shi & Malik 2000, Ng, Jordan & Weiss 2002): the graph that
  joins each example to its NEIGHBOURS nearest ones, cut where few edges cross (the leading
  eigenvectors of its Laplacian, split by Damle et al.'s QR rule: no random starts), so a
  cluster follows the data's manifold rather than being a ball around a centre. On 10,000 MNIST
  images, 20 clusters: 87% of images share their cluster's commonest digit, against 71% for
  k-means (`benchmarks/images_recipe.py clusters`); or
- k-means (k-means++ starts, best of 4): a few times faster, the clusters balls.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import Tensor

from ganlab.data.sources import EpochSource
from ganlab.errors import DataError

METHODS = ("spectral", "kmeans")
FEATURES = 50  # principal components the clustering runs in
FIT_BYTES = 256 * 2**20  # float32 rows the PCA and clustering are fitted on: a seeded subsample
# ... and at most this many rows: 20 clusters of 10,000 MNIST images take 1.6 s by k-means and
# 6.4 s by spectral clustering (one thread, `benchmarks/images_recipe.py clusters`), whose
# eigenvectors grow faster than linearly with the rows
FIT_ROWS = {"kmeans": 20_000, "spectral": 10_000}
NEIGHBOURS = 10  # spectral: each example's edges in the graph (scikit-learn's default)
CHUNK_ROWS = 4096  # rows assigned to a cluster at a time


def fit_rows(size: int, dim: int, method: str = "kmeans") -> int:
    """How many of `size` examples of `dim` numbers the clustering is fitted on."""
    return max(1, min(size, FIT_ROWS[method], FIT_BYTES // (4 * dim)))


def cluster_labels(source: EpochSource, k: int, seed: int, method: str = "spectral") -> Tensor:
    """Each example's cluster, (N,) int64 in 0..k-1.

    Fitted on a seeded subsample (all of the data up to FIT_ROWS[method] examples): PCA to
    FEATURES components, then `method` (the module's docstring). Every other example is then
    assigned a chunk at a time, so data streamed from disk is never held whole: k-means to its
    nearest centroid, spectral clustering to the most common cluster of its NEIGHBOURS nearest
    fitted examples. scikit-learn runs on one thread here so that the labels do not depend on
    the thread count.

    Raises:
        DataError: fewer examples to fit on than clusters.
    """
    from threadpoolctl import threadpool_limits

    dim = int(np.prod(source.x_shape))
    n_fit = fit_rows(source.size, dim, method)
    if n_fit < k:
        raise DataError(
            f"conditional.clusters={k} needs at least {k} examples to cluster, the data has "
            f"{source.size} (fitted on {n_fit}); lower conditional.clusters"
        )
    gen = torch.Generator().manual_seed(seed)
    fit_idx = torch.randperm(source.size, generator=gen)[:n_fit].sort().values
    with threadpool_limits(1):
        pca, fitted, assign = fit_clusters(flat(source, fit_idx), k, seed, method)
        chunks = torch.arange(source.size).split(CHUNK_ROWS)
        labels = np.concatenate([assign(pca.transform(flat(source, idx))) for idx in chunks])
    labels[fit_idx.numpy()] = fitted  # a fitted example keeps its own cluster
    return torch.from_numpy(labels.astype(np.int64))


def fit_clusters(x: np.ndarray, k: int, seed: int, method: str):
    """(pca, labels of x's rows, assign: PCA features -> cluster) for rows x."""
    from sklearn.cluster import KMeans, SpectralClustering
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier

    n, dim = x.shape
    svd = "full" if dim <= 1024 else "randomized"
    pca = PCA(min(FEATURES, dim, n), svd_solver=svd, random_state=seed).fit(x)
    features = pca.transform(x)
    if method == "kmeans":
        km = KMeans(k, n_init=4, random_state=seed).fit(features)
        return pca, km.labels_, km.predict
    neighbours = min(NEIGHBOURS, n - 1)
    with warnings.catch_warnings():  # a graph in pieces still clusters: its pieces split first
        warnings.filterwarnings("ignore", "Graph is not fully connected")
        # sklearn's notice for few points (n_neighbors near n) about its own API, not the data
        warnings.filterwarnings("ignore", "The spectral clustering API has changed")
        fitted = SpectralClustering(
            k,
            affinity="nearest_neighbors",
            n_neighbors=neighbours,
            assign_labels="cluster_qr",  # deterministic: no k-means on the eigenvectors
            random_state=seed,
        ).fit_predict(features)
    knn = KNeighborsClassifier(neighbours).fit(features, fitted)
    return pca, fitted, knn.predict


def flat(source: EpochSource, idx: Tensor) -> np.ndarray:
    """The examples at idx as float32 rows, (len(idx), prod(x_shape)), on the CPU (scikit-learn
    keeps float32, about twice as fast as float64)."""
    return source.rows(idx).reshape(len(idx), -1).cpu().float().numpy()


def label_by_clusters(source: EpochSource, k: int, seed: int, method: str = "spectral") -> None:
    """Give `source` its clusters as classes ("cluster 0", ...) and their frequencies as the
    class weights G's classes are drawn with."""
    y = cluster_labels(source, k, seed, method)
    weights = torch.bincount(y, minlength=k).double() / len(y)
    source.set_labels(y, [f"cluster {c}" for c in range(k)], weights)


__all__ = ["METHODS", "cluster_labels", "fit_clusters", "fit_rows", "label_by_clusters"]
