"""Measures of what a generator learned."""

from ganlab.metrics.coverage import mode_coverage

__all__ = ["mode_coverage"]
