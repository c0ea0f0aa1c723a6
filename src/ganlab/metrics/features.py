"""Sample-quality metrics on features: FID, KID, precision/recall, density/coverage, and the
digit histogram of generated images.

Each function takes feature vectors, (n, d) per set, computed once per image set by the
reference classifier (metrics/classifier.py) and shared by every metric. "real" is the data's
set, "fake" the generator's; every function is symmetric in meaning only where it says so.

Libraries: FID and KID go through torchmetrics (FrechetInceptionDistance and
KernelInceptionDistance given the features through a pass-through module), a maintained and
widely used implementation. Precision/recall and density/coverage are written here with
torch.cdist in chunks: the one package on PyPI, ``prdc`` 0.2, was last released in 2020 and
builds full (n, n) float64 distance matrices with scikit-learn (three of 800 MB at n = 10,000).
"""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from tqdm import tqdm

FID_EPS = 1e-6  # added to both covariances' diagonals when the plain computation fails


class _Given(nn.Module):
    """Pass-through 'feature extractor': torchmetrics is handed features, not images."""

    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward(self, f: Tensor) -> Tensor:
        return f


# ---------------------------------------------------------------------------------------------
# Frechet distance (FID)


@dataclass(frozen=True)
class Frechet:
    """Result of frechet_distance.

    Attributes:
        value: the distance, >= 0; None when it cannot be computed (note says why).
        eps: added to both covariances' diagonals to compute it (0.0: nothing added).
        note: "" or what a reader must know about the value (regularised, n < d, missing).
        n_real, n_fake, dim: the sizes it was computed from.
    """

    value: float | None
    eps: float
    note: str
    n_real: int
    n_fake: int
    dim: int


def frechet_distance(real: Tensor, fake: Tensor, eps: float = FID_EPS) -> Frechet:
    """Frechet distance between Gaussians fitted to two feature sets (Heusel et al. 2017, FID).

        FID = ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))

    mu, S: mean and unbiased covariance of each set. 0 when the moments agree; lower is better.
    Computed by torchmetrics (Tr (S_r S_g)^(1/2) = sum of square roots of the eigenvalues of
    S_r S_g, in float64). Should that fail (no convergence, a non-finite or clearly negative
    value), eps I is added to both covariances and the trace is taken in the symmetric form
    Tr (S_r^(1/2) S_g S_r^(1/2))^(1/2), whose eigenvalues ``eigvalsh`` finds stably; the result
    says so. With fewer samples than features the covariances are singular: the value is
    still defined, but biased upward (the note says so).

    Args:
        real: (n_r, d) features of data.  fake: (n_g, d) features of generated samples.
        eps: the diagonal offset of the fallback.
    Returns:
        Frechet(value, eps used, note, n_real, n_fake, dim).
    """
    real, fake = _as_features(real), _as_features(fake)
    n_r, n_g, d = len(real), len(fake), real.shape[1]
    if fake.shape[1] != d:
        raise ValueError(f"real features have {d} dims, fake {fake.shape[1]}")
    if min(n_r, n_g) < 2:
        note = f"cannot: needs >= 2 samples per set, got {n_r} and {n_g}"
        return Frechet(None, 0.0, note, n_r, n_g, d)
    if not (torch.isfinite(real).all() and torch.isfinite(fake).all()):
        return Frechet(None, 0.0, "cannot: the features contain NaN or inf", n_r, n_g, d)
    notes = []
    if min(n_r, n_g) <= d:
        notes.append(
            f"fewer samples ({min(n_r, n_g)}) than features ({d}): singular covariances, "
            "the value is biased upward"
        )
    mu_r, s_r = mean_covariance(real)
    mu_g, s_g = mean_covariance(fake)
    scale = float(s_r.trace() + s_g.trace() + (mu_r - mu_g).square().sum()) + 1e-300
    value = _torchmetrics_fid(real, fake)
    used = 0.0
    # A true distance is >= 0. Eigenvalues of S_r S_g that are 0 (rank < d) come out as
    # +-eps64 * ||S_r S_g||, and their square roots as ~1e-8 * scale each: measured -4e-5 for
    # the FID of a set with itself at n = 10, d = 64, scale 1e3. Past 1e-6 * scale is a failure.
    if value is None or not math.isfinite(value) or value < -1e-6 * scale:
        eye = torch.eye(d, dtype=torch.float64)
        try:
            value = frechet_from_moments(mu_r, s_r + eps * eye, mu_g, s_g + eps * eye)
        except torch.linalg.LinAlgError:
            value = math.nan
        used = eps
        notes.append(f"the plain computation failed; eps={eps:g} added to both covariances")
        if not math.isfinite(value):
            return Frechet(None, used, "cannot: " + "; ".join(notes), n_r, n_g, d)
    return Frechet(max(value, 0.0), used, "; ".join(notes), n_r, n_g, d)


def mean_covariance(f: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (d,) and unbiased covariance (d, d) of (n, d) features, float64.

        mu = 1/n sum_i f_i,  S = 1/(n - 1) sum_i (f_i - mu)(f_i - mu)^T

    (centred before the product: no cancellation between sum f f^T and n mu mu^T)
    """
    f = _as_features(f)
    mu = f.mean(0)
    c = f - mu
    return mu, c.T @ c / (len(f) - 1)


def frechet_from_moments(mu_r: Tensor, s_r: Tensor, mu_g: Tensor, s_g: Tensor) -> float:
    """FID from moments, the trace in the symmetric form (needs PSD covariances):

        FID = ||mu_r - mu_g||^2 + Tr S_r + Tr S_g - 2 Tr (S_r^(1/2) S_g S_r^(1/2))^(1/2)

    S_r S_g and S_r^(1/2) S_g S_r^(1/2) are similar, so their eigenvalues (and the traces of
    their square roots) agree; the second is symmetric, so eigvalsh is accurate for it.
    """
    w, v = torch.linalg.eigh(s_r)
    root_r = (v * w.clamp(min=0).sqrt()) @ v.T  # S_r^(1/2)
    m = root_r @ s_g @ root_r
    lam = torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0)  # symmetrised against rounding
    return float((mu_r - mu_g).square().sum() + s_r.trace() + s_g.trace() - 2 * lam.sqrt().sum())


def _torchmetrics_fid(real: Tensor, fake: Tensor) -> float | None:
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=_Given(real.shape[1]))
    metric.update(real, real=True)
    metric.update(fake, real=False)
    try:
        return float(metric.compute())
    except (RuntimeError, torch.linalg.LinAlgError):  # e.g. eigvals did not converge
        return None


# ---------------------------------------------------------------------------------------------
# Kernel distance (KID)


@dataclass(frozen=True)
class Kid:
    """Result of kernel_distance.

    Attributes:
        value: mean of the unbiased MMD^2 estimates over the subsets (None: cannot; see note).
        std: their standard deviation over subsets (ddof=0; the spread, not a standard error).
        subsets, subset_size: how many random subsets of each set, of how many samples each.
        note: "" or why the value is missing or the subset smaller than asked.
        n_real, n_fake: the sizes of the sets.
    """

    value: float | None
    std: float | None
    subsets: int
    subset_size: int
    note: str
    n_real: int
    n_fake: int


def kernel_distance(
    real: Tensor, fake: Tensor, subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> Kid:
    """Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2 with a cubic kernel,
    averaged over random subsets, by torchmetrics' KernelInceptionDistance.

        k(x, y) = (x . y / d + 1)^3
        MMD^2_u = 1/(m(m-1)) sum_{i!=j} [k(x_i, x_j) + k(y_i, y_j)] - 2/m^2 sum_{i,j} k(x_i, y_j)

    x: m real features, y: m fake features of one subset. Unbiased, so ~0 (either sign) for
    one distribution; lower is better.

    Args:
        real: (n_r, d) features.  fake: (n_g, d) features.
        subsets: subsets drawn.  subset_size: m, cut to min(n_r, n_g) when larger.
        seed: seed of the subset draws (torch's global generator, in an isolated scope).
    Returns:
        Kid(value, std, subsets, subset_size used, note, n_real, n_fake).
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    real, fake = _as_features(real), _as_features(fake)
    n_r, n_g = len(real), len(fake)
    m = min(subset_size, n_r, n_g)
    note = f"subset size cut to {m} (the sets are smaller)" if m < subset_size else ""
    if m < 2:
        note = f"cannot: needs >= 2 samples per set, got {n_r} and {n_g}"
        return Kid(None, None, subsets, m, note, n_r, n_g)
    with warnings.catch_warnings():
        # it warns that it keeps every feature in memory: 2 x 10,000 x 128 doubles here
        warnings.simplefilter("ignore", UserWarning)
        metric = KernelInceptionDistance(
            feature=_Given(real.shape[1]), subsets=subsets, subset_size=m
        )
    metric.update(real, real=True)
    metric.update(fake, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return Kid(float(mean), float(std), subsets, m, note, n_r, n_g)


# ---------------------------------------------------------------------------------------------
# Precision / recall (Kynkaanniemi et al. 2019), density / coverage (Naeem et al. 2020)


@dataclass(frozen=True)
class PRDC:
    """Result of precision_recall_density_coverage; see its equations.

    Attributes:
        precision, recall, coverage: shares in [0, 1].  density: >= 0, ~1 for equal sets.
        k_pr: neighbours of precision and recall.  k_dc: of density and coverage.
        n_real, n_fake: the sizes of the sets.
    """

    precision: float
    recall: float
    density: float
    coverage: float
    k_pr: int
    k_dc: int
    n_real: int
    n_fake: int


def knn_radii(x: Tensor, ks: tuple[int, ...], chunk: int = 1000) -> dict[int, Tensor]:
    """Distance from each point to its k-th nearest other point of the same set, for each k.

        NND_k(x_i) = ||x_i - x_(k)||,  x_(k) the k-th nearest of {x_j : j != i}

    Args:
        x: (n, d) points, n > max(ks).  ks: the k's.  chunk: rows per (chunk, n) distance block.
    Returns:
        {k: (n,) float64 radii}.
    """
    x = _as_features(x)
    k_max = max(ks)
    if len(x) <= k_max:
        raise ValueError(f"needs more than {k_max} points for k = {k_max}, got {len(x)}")
    out = {k: torch.empty(len(x), dtype=torch.float64) for k in ks}
    for start in range(0, len(x), chunk):
        d = torch.cdist(x[start : start + chunk], x)  # (c, n)
        # Its own distance, 0, is each row's smallest: the k-th other point is at index k.
        nearest = d.topk(k_max + 1, dim=1, largest=False).values  # (c, k_max + 1), ascending
        for k in ks:
            out[k][start : start + chunk] = nearest[:, k]
    return out


K_PR, K_DC = 3, 5  # k of precision/recall and of density/coverage (Naeem et al.'s defaults)
KNN_MIN_POINTS = K_DC + 1  # a set needs a K_DC-th nearest other point


def precision_recall_density_coverage(
    real: Tensor,
    fake: Tensor,
    k_pr: int = K_PR,
    k_dc: int = K_DC,
    chunk: int = 1000,
    progress: bool = False,
) -> PRDC:
    """Precision and recall of k-NN manifolds (Kynkaanniemi et al. 2019, k = 3), density and
    coverage (Naeem et al. 2020, k = 5), for N real features X and M fake features Y.

        B(x, r) = {y : ||y - x|| < r};  NND_k as in knn_radii
        precision = 1/M sum_j 1[Y_j in U_i B(X_i, NND_k_pr(X_i))]   (fake on the data manifold)
        recall    = 1/N sum_i 1[X_i in U_j B(Y_j, NND_k_pr(Y_j))]   (data on the fake manifold)
        density   = 1/(k_dc M) sum_j sum_i 1[Y_j in B(X_i, NND_k_dc(X_i))]
        coverage  = 1/N sum_i 1[min_j ||X_i - Y_j|| < NND_k_dc(X_i)]

    Density and coverage use only the real set's balls, so outliers among the fakes do not
    inflate them (Naeem et al.); density ~ 1 and coverage ~ 1 - (1/2)^k for samples of the
    same distribution. The balls are open, as in the authors' ``prdc`` code (Kynkaanniemi et
    al. write <=; the two differ only on ties). Distances are float64 in (chunk, M) blocks:
    memory ~ chunk * M * 8 bytes.

    Args:
        real: (N, d), N > k's.  fake: (M, d), M > k_pr.  k_pr, k_dc: neighbours.
        chunk: real rows per distance block.  progress: a tqdm bar on stderr.
    Returns:
        PRDC(precision, recall, density, coverage, k_pr, k_dc, N, M).
    """
    real, fake = _as_features(real), _as_features(fake)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real features have {real.shape[1]} dims, fake {fake.shape[1]}")
    r_real = knn_radii(real, (k_pr, k_dc), chunk)
    r_fake = knn_radii(fake, (k_pr,), chunk)[k_pr]  # (M,)
    on_real_manifold = torch.zeros(len(fake), dtype=torch.bool)  # (M,)
    recalled = in_balls = covered = 0
    for start in tqdm(
        range(0, len(real), chunk),
        disable=not progress,
        desc="precision/recall/density/coverage",
        file=sys.stderr,
        leave=False,
    ):
        stop = start + chunk
        d = torch.cdist(real[start:stop], fake)  # (c, M)
        on_real_manifold |= (d < r_real[k_pr][start:stop, None]).any(0)
        recalled += int((d < r_fake[None, :]).any(1).sum())
        inside = d < r_real[k_dc][start:stop, None]  # (c, M): Y_j in B(X_i, NND_k_dc(X_i))
        in_balls += int(inside.sum())
        covered += int(inside.any(1).sum())
    n, m = len(real), len(fake)
    return PRDC(
        precision=float(on_real_manifold.double().mean()),
        recall=recalled / n,
        density=in_balls / (k_dc * m),
        coverage=covered / n,
        k_pr=k_pr,
        k_dc=k_dc,
        n_real=n,
        n_fake=m,
    )


# ---------------------------------------------------------------------------------------------
# Digit coverage


@dataclass(frozen=True)
class DigitCoverage:
    """Result of digit_coverage.

    Attributes:
        counts: generated samples per predicted class.  share: counts / n.
        data_share: the data's class frequencies p_c.
        covered: classes predicted at least once.  classes: how many classes there are.
        kl: KL(q || p) of the predicted-class histogram q to p, in nats.
    """

    counts: list[int]
    share: list[float]
    data_share: list[float]
    covered: int
    classes: int
    kl: float


def digit_coverage(predicted: Tensor, data_labels: Tensor, classes: int = 10) -> DigitCoverage:
    """Class histogram of generated images (the classifier's predictions) against the data's.

        q_c = #{i : predicted_i = c} / n,  p_c = #{i : label_i = c} / n_data
        covered = #{c : q_c > 0}   (a class counts with one sample, as in VEEGAN's stacked MNIST)
        KL(q || p) = sum_c q_c log(q_c / p_c)   (0 log 0 = 0; 0 when G draws classes as the data)

    Args:
        predicted: (n,) int classes of generated images.  data_labels: (n_data,) int labels.
        classes: number of classes.
    """
    counts = torch.bincount(torch.as_tensor(predicted).long(), minlength=classes)  # (classes,)
    p = torch.bincount(torch.as_tensor(data_labels).long(), minlength=classes).double()
    p = p / p.sum()
    q = counts.double() / max(int(counts.sum()), 1)
    nz = q > 0
    kl = float((q[nz] * torch.log(q[nz] / p[nz])).sum()) if bool((p[nz] > 0).all()) else math.inf
    return DigitCoverage(
        counts=counts.tolist(),
        share=q.tolist(),
        data_share=p.tolist(),
        covered=int(nz.sum()),
        classes=classes,
        kl=kl,
    )


def save_digit_figure(path, fake: DigitCoverage, floor: DigitCoverage | None = None, title=""):
    """Bar chart: the share of each predicted digit among generated images, beside the data's
    class frequencies (and the real-vs-real floor's predicted shares, when given)."""
    from ganlab.report.figures import pyplot, save_figure

    plt = pyplot()
    c = torch.arange(fake.classes).numpy()
    bars = [("generated", fake.share, "tab:green")]
    if floor is not None:
        bars.append(("real images, predicted", floor.share, "0.6"))
    width = 0.8 / len(bars)
    fig, ax = plt.subplots(figsize=(7, 4))
    for i, (label, share, color) in enumerate(bars):
        ax.bar(c + (i - (len(bars) - 1) / 2) * width, share, width, color=color, label=label)
    ax.plot(c, fake.data_share, "k_", ms=18, mew=2, label="data labels")
    ax.set_xticks(c)
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("share of images")
    ax.legend(fontsize=8)
    ax.set_title(title or f"digits covered {fake.covered}/{fake.classes}, KL {fake.kl:.3f} nats")
    return save_figure(fig, path)


def _as_features(f) -> Tensor:
    f = torch.as_tensor(f)
    return f.reshape(len(f), -1).to(torch.float64)
