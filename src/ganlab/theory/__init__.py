"""The theory of Goodfellow et al. (2014) made measurable: pure functions, figures and numbers.

Each item of `ganlab theory` is a function ``run_<item>(out: Path, quick: bool) -> dict``
that writes its PNG figures into `out` and returns an ItemResult dict:

    {"name": str, "title": str, "equation": str, "claim": str,
     "figures": [file names relative to out], "numbers": {json-able numbers behind the figures}}
"""
