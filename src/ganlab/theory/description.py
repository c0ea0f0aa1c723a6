"""What a theory item says: its title, equation, claim and numbers, beside its figures.

Each item module has three parts: `compute_<item>(quick)` returns the item's numbers (no
drawing), `plot_<item>(result, out)` writes its figures, and `describe_<item>(result)` returns
a Description; `run_<item>(out, quick)` composes them into the ItemResult dict of
ganlab.theory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


@dataclass(frozen=True)
class Description:
    """The text and numbers of one theory item, as written to theory.json and index.html.

    Args:
        name: the item's name in ganlab.theory.command.ITEMS.
        title, equation, claim: what index.html shows beside the figures.
        numbers: json-able numbers behind the claim and the figures.
    """

    name: str
    title: str
    equation: str
    claim: str
    numbers: dict = field(default_factory=dict)

    def item_result(self, figures: list[str]) -> dict:
        """The ItemResult dict: this description and the figures' file names (relative to out)."""
        return {
            "name": self.name,
            "title": self.title,
            "equation": self.equation,
            "claim": self.claim,
            "figures": list(figures),
            "numbers": self.numbers,
        }


def rounded(values, digits: int = 4):
    """Numbers (a float, tensor or list of them) to `digits` significant digits, for the report."""
    if isinstance(values, Tensor):
        values = values.tolist()
    if isinstance(values, (list, tuple)):
        return [rounded(v, digits) for v in values]
    return float(f"{values:.{digits}g}")


__all__ = ["Description", "rounded"]
