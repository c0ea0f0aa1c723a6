"""Runs: the public API (train, resume, load_run, Run), the monitor around Algorithm 1, the run
directory and its checkpoints."""

from ganlab.runs.api import Run, load_run, resume, train, write_html_report

__all__ = ["Run", "load_run", "resume", "train", "write_html_report"]
