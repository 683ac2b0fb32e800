"""Altair charts of the explorer's executed frames (altair imported when one is drawn)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

__all__ = ["display_formats", "plot_events_over_time", "plot_segments", "plot_top_items"]


def display_formats(frame: pd.DataFrame) -> dict[str, str]:
    """How a table of the explorer shows its numbers: a ``format_mapping`` for marimo.

    Counts get thousands separators, ``share`` is a percentage, and other decimals
    (sums of event values) two places: a sum of doubles carries noise in its last
    digits (``513831.90000000014``) that says nothing about the data. The frame itself
    keeps the exact values.

    >>> import pandas as pd
    >>> display_formats(pd.DataFrame({"events": [3], "share": [0.5], "value": [1.5], "t": ["a"]}))
    {'events': '{:,}', 'share': '{:.1%}', 'value': '{:,.2f}'}
    """
    import pandas as pd

    formats = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column):
            continue
        if pd.api.types.is_integer_dtype(column):
            formats[name] = "{:,}"
        elif pd.api.types.is_float_dtype(column):
            formats[name] = "{:.1%}" if name == "share" else "{:,.2f}"
    return formats


def plot_events_over_time(frame: pd.DataFrame, *, measure: str = "events") -> alt.Chart:
    """A line per segment (or one line) of :func:`events_over_time`'s executed frame.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``events_over_time(...).to_pandas()``.
    measure : {"events", "users"}
        Which count to draw.
    """
    import altair as alt

    _require_frame(frame, ["period", measure], "events_over_time(...)")
    color = {"color": alt.Color("segment:N", title="segment")} if "segment" in frame else {}
    tooltip = ["period:T", f"{measure}:Q", *(["segment:N"] if color else [])]
    return (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            alt.X("period:T", title="period (UTC)"),
            alt.Y(f"{measure}:Q", title=measure),
            tooltip=tooltip,
            **color,
        )
        .properties(title=f"{measure.capitalize()} over time", width=640, height=260)
    )


def plot_top_items(frame: pd.DataFrame, *, measure: str = "events") -> alt.Chart:
    """Horizontal bars of :func:`top_items`' executed frame, top item first."""
    import altair as alt

    _require_frame(frame, ["item_id", measure], "top_items(...)")
    tooltip = [name for name in frame.columns if name != "rank"]
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            alt.X(f"{measure}:Q", title=measure),
            alt.Y("item_id:N", sort="-x", title=None),
            tooltip=tooltip,
        )
        .properties(title=f"Top items by {measure}", width=480)
    )


def plot_segments(frame: pd.DataFrame, *, measure: str = "events") -> alt.Chart:
    """Horizontal bars of :func:`segment_breakdown`'s executed frame."""
    import altair as alt

    _require_frame(frame, ["segment", measure], "segment_breakdown(...)")
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            alt.X(f"{measure}:Q", title=measure),
            alt.Y("segment:N", sort="-x", title=None),
            tooltip=list(frame.columns),
        )
        .properties(title=f"{measure.capitalize()} by segment", width=480)
    )


def _require_frame(frame: Any, columns: Sequence[str], source: str) -> None:
    missing = [name for name in columns if name not in getattr(frame, "columns", ())]
    if missing:
        raise InvalidArgument(
            f"The frame lacks column(s) {missing}; pass the executed result of {source}."
        )
