"""Altair charts of a :class:`~workbench.health.report.HealthReport` (altair imported on use)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import altair as alt

    from workbench.health.report import HealthReport

__all__ = ["plot_drift", "plot_volume"]


def plot_volume(report: HealthReport) -> alt.LayerChart:
    """Events per source per day; the recent window shaded, flagged days in red."""
    import altair as alt

    data = report.volume.assign(ratio=report.volume["ratio"].round(3))
    x = alt.X("day:T", title="day (UTC)")
    y = alt.Y("events:Q", title="events")
    tooltip = ["source:N", "day:T", "events:Q", "reference_median:Q", "ratio:Q"]
    recent = alt.Chart(pd.DataFrame({"start": [report.recent[0]], "end": [report.recent[1]]}))
    shade = recent.mark_rect(color="#888", opacity=0.12).encode(x="start:T", x2="end:T")
    lines = alt.Chart(data).mark_line(point=True).encode(x, y, color="source:N", tooltip=tooltip)
    flagged = (
        alt.Chart(data[data["flagged"]])
        .mark_point(shape="diamond", size=160, filled=True, color="firebrick")
        .encode(x, y, tooltip=tooltip)
    )
    title = "Events per source per day (recent window shaded, flagged days red)"
    return alt.layer(shade, lines, flagged).properties(title=title, width=640, height=260)


def plot_drift(report: HealthReport) -> alt.LayerChart:
    """PSI per feature, drifted features in red, with the PSI threshold as a line."""
    import altair as alt

    data = report.drift_frame().dropna(subset=["psi"])
    color = (
        alt.when(alt.datum.passed).then(alt.value("steelblue")).otherwise(alt.value("firebrick"))
    )
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("psi:Q", title="population stability index"),
            y=alt.Y("feature:N", sort="-x", title=None),
            color=color,
            tooltip=["feature:N", "psi:Q", "ks_pvalue:Q", "recent_size:Q", "passed:N"],
        )
    )
    limit = pd.DataFrame({"psi": [report.thresholds.max_psi]})
    rule = alt.Chart(limit).mark_rule(color="firebrick", strokeDash=[4, 4]).encode(x="psi:Q")
    title = f"Drift: PSI recent vs reference (threshold {report.thresholds.max_psi:g})"
    return alt.layer(bars, rule).properties(title=title, width=640)
