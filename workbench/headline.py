"""A run's headline: one sentence, a status and the key figures, what a reader sees first.

Domain reports offer one (``HealthReport.headline()``, ``Readout.headline()``,
``ScanReport.headline()``, ``PrecomputeReport.headline()``, ``Simulation.headline()``,
:func:`workbench.registry.training_headline`, :func:`workbench.registry.serving_headline`);
a notebook records it with :func:`workbench.runs.record_headline`. The report's first
screen and the reports index show it, and the index draws the first figure's trend
over the job's runs.

The status says what to do: ``ok`` (nothing), ``watch`` (look when convenient) or
``act`` (something is wrong or a decision is due).

Examples
--------
>>> line = Headline("All 12 checks passed.", "ok", (Figure("events", 120345, "count"),))
>>> line.figures[0].text()
'120,345'
>>> Headline.from_dict(line.to_dict()) == line
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from workbench.exceptions import InvalidArgument
from workbench.formatting import STYLES, format_value

__all__ = ["STATUSES", "Figure", "Headline"]

#: Status -> how a reader sees it.
STATUSES = {"ok": "OK", "watch": "Watch", "act": "Act"}


@dataclass(frozen=True)
class Figure:
    """One key number of a headline: a short label, the value, how to write it.

    ``style`` is one of :data:`workbench.formatting.STYLES`.
    """

    label: str
    value: float | int | None
    style: str = "number"

    def __post_init__(self) -> None:
        if not isinstance(self.label, str) or not self.label.strip():
            raise InvalidArgument(f"A figure needs a label, not {self.label!r}.")
        if self.style not in STYLES:
            raise InvalidArgument(
                f"Figure {self.label!r}: style={self.style!r}, choose one of {', '.join(STYLES)}."
            )
        if self.value is not None and (
            isinstance(self.value, bool) or not isinstance(self.value, int | float)
        ):
            raise InvalidArgument(f"Figure {self.label!r}: {self.value!r} is not a number.")

    def text(self) -> str:
        """The value written in the figure's style."""
        return format_value(self.value, self.style)


@dataclass(frozen=True)
class Headline:
    """What happened, in one sentence, with a status and the key figures (first: the trend's)."""

    text: str
    status: str = "ok"
    figures: tuple[Figure, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise InvalidArgument("A headline needs a sentence saying what happened.")
        if self.status not in STATUSES:
            raise InvalidArgument(
                f"status={self.status!r}: choose one of {', '.join(STATUSES)} "
                "(nothing to do, look when convenient, act)."
            )
        object.__setattr__(self, "figures", tuple(self.figures))

    def to_dict(self) -> dict[str, Any]:
        """As plain JSON data."""
        return {
            "text": self.text,
            "status": self.status,
            "figures": [
                {"label": f.label, "value": _plain(f.value), "style": f.style} for f in self.figures
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Headline:
        """The headline :meth:`to_dict` wrote."""
        figures = tuple(Figure(**figure) for figure in data.get("figures", ()))
        return cls(data["text"], data.get("status", "ok"), figures)


def _plain(value: float | int | None) -> float | int | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
