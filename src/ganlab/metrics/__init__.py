"""Measures of what a generator learned: Parzen log-likelihood, mode coverage, FID/KID/PRDC."""

from ganlab.metrics.coverage import mode_coverage
from ganlab.metrics.features import (
    digit_coverage,
    frechet_distance,
    kernel_distance,
    precision_recall_density_coverage,
)
from ganlab.metrics.parzen import parzen_log_likelihood, parzen_select_and_score

__all__ = [
    "digit_coverage",
    "frechet_distance",
    "kernel_distance",
    "mode_coverage",
    "parzen_log_likelihood",
    "parzen_select_and_score",
    "precision_recall_density_coverage",
]
