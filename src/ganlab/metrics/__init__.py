"""Measures of what a generator learned."""

from ganlab.metrics.coverage import mode_coverage
from ganlab.metrics.parzen import parzen_log_likelihood, parzen_select_and_score

__all__ = ["mode_coverage", "parzen_log_likelihood", "parzen_select_and_score"]
