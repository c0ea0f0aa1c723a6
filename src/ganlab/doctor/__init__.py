"""The GAN doctor: what went wrong in a run, from which step, and what to change."""

from ganlab.doctor.doctor import Doctor, GameFacts
from ganlab.doctor.findings import KINDS, Finding

__all__ = ["KINDS", "Doctor", "Finding", "GameFacts"]
