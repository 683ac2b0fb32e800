"""Charts of anomalies: a series with its expected band, alerts over time, a decomposition.

Altair is imported inside each function (it costs seconds in a fresh kernel). The
charts hold their data inline and use no external resources, so they draw offline
through vl-convert like every workbench chart (see :mod:`workbench.charts`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    import altair as alt

__all__ = ["plot_alerts_overview", "plot_decomposition", "plot_series_band"]

_ALERT_COLOR = "#d62728"
_BAND_COLOR = "#9ecae1"
_LINE_COLOR = "#1f4e79"


def _require(frame: pd.DataFrame, columns: list[str], *, name: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InvalidArgument(f"{name} must be a pandas DataFrame, not {type(frame).__name__}.")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidArgument(
            f"{name} lacks the columns {', '.join(missing)}; it has {', '.join(map(str, frame.columns))}."
        )


def plot_series_band(frame: pd.DataFrame, *, title: str | None = None) -> alt.LayerChart:
    """One series: its values, the band the detector expected them in, and its alerts.

    Parameters
    ----------
    frame
        Columns ``ts``, ``value``, ``expected``, ``low``, ``high`` and ``alert`` (0/1),
        as :attr:`Investigation.observations`. Points without a band (warm-up) show
        no band.
    title
        Chart title (default: none).
    """
    import altair as alt

    _require(frame, ["ts", "value", "expected", "low", "high", "alert"], name="frame")
    data = frame[["ts", "value", "expected", "low", "high", "alert"]].copy()
    data["alert"] = data["alert"].fillna(0).astype(int)
    base = alt.Chart(data).encode(x=alt.X("ts:T", title="time (UTC)"))
    band = base.mark_area(opacity=0.35, color=_BAND_COLOR).encode(
        y=alt.Y("low:Q", title="value"), y2="high:Q"
    )
    expected = base.mark_line(strokeDash=[4, 3], color="#6b6b6b").encode(y="expected:Q")
    value = base.mark_line(color=_LINE_COLOR).encode(
        y="value:Q", tooltip=["ts:T", "value:Q", "expected:Q", "low:Q", "high:Q"]
    )
    alerts = (
        alt.Chart(data[data["alert"] == 1])
        .mark_point(color=_ALERT_COLOR, filled=True, size=70)
        .encode(x="ts:T", y="value:Q", tooltip=["ts:T", "value:Q", "expected:Q"])
    )
    chart = alt.layer(band, expected, value, alerts).properties(width=640, height=220)
    return chart.properties(title=title) if title else chart


def plot_alerts_overview(alerts: pd.DataFrame) -> alt.Chart:
    """Alerts per series over time: one row per series, a mark per alert, coloured by score.

    Parameters
    ----------
    alerts
        Columns ``series_id``, ``ts`` and ``score`` (the ``alerts`` table, or
        :attr:`ScanReport.alerts`). An empty frame gives a chart that says so.
    """
    import altair as alt

    _require(alerts, ["series_id", "ts", "score"], name="alerts")
    data = alerts[["series_id", "ts", "score"]].copy()
    title = f"{len(data):,} alerts in {data['series_id'].nunique():,} series"
    if data.empty:
        title = "No alerts"
    height = max(60, 18 * data["series_id"].nunique())
    encoding = {
        "x": alt.X("ts:T", title="time (UTC)"),
        # No axis title: the chart's title names the series, and a long series name drawn
        # in the reader's font (wider than the one the chart was laid out with) ran into it.
        "y": alt.Y("series_id:N", title=None),
        "tooltip": ["series_id:N", "ts:T", "score:Q"],
    }
    if not data.empty:  # a colour scale over no scores would show a legend of NaN
        encoding["color"] = alt.Color("score:Q", scale=alt.Scale(scheme="orangered"), title="score")
    return (
        alt.Chart(data, title=title)
        .mark_tick(thickness=3, size=14)
        .encode(**encoding)
        .properties(width=640, height=height)
    )


def plot_decomposition(frame: pd.DataFrame, *, title: str | None = None) -> alt.VConcatChart:
    """A seasonal decomposition: trend, seasonal and residual panels, one above the other.

    Parameters
    ----------
    frame
        Columns ``ts``, ``trend``, ``seasonal``, ``resid``, as
        :attr:`Investigation.decomposition`.
    """
    import altair as alt

    _require(frame, ["ts", "trend", "seasonal", "resid"], name="frame")
    panels = [
        alt.Chart(frame[["ts", part]], height=110, width=640)
        .mark_line(color=_LINE_COLOR)
        .encode(x=alt.X("ts:T", title=None), y=alt.Y(f"{part}:Q", title=part))
        for part in ("trend", "seasonal", "resid")
    ]
    chart = alt.vconcat(*panels)
    return chart.properties(title=title) if title else chart
