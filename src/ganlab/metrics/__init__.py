"""Measures of what a generator learned: Parzen log-likelihood, mode coverage, FID/KID/PRDC,
and for a conditional generator label agreement, per-class FID and CAS."""

from ganlab.metrics.conditional import (
    classification_accuracy_score,
    label_agreement,
    per_class_fid,
)
from ganlab.metrics.coverage import mode_coverage
from ganlab.metrics.features import (
    digit_coverage,
    frechet_distance,
    kernel_distance,
    precision_recall_density_coverage,
)
from ganlab.metrics.parzen import parzen_log_likelihood, parzen_select_and_score

__all__ = [
    "classification_accuracy_score",
    "digit_coverage",
    "frechet_distance",
    "kernel_distance",
    "label_agreement",
    "mode_coverage",
    "parzen_log_likelihood",
    "parzen_select_and_score",
    "per_class_fid",
    "precision_recall_density_coverage",
]
