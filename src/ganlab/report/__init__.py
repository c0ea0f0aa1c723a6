"""Reports: PNG figures, the self-contained pages (a run's index and report, compare) and the
one number formatter every page and the console use."""
