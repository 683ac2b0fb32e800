"""Altair charts of a :class:`~workbench.experiments.readout.Readout` (altair imported on use).

The charts embed their data and load nothing from the network; render them
with Altair's ``svg`` or ``png`` renderer so they show offline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    import altair as alt

    from workbench.experiments.readout import Readout

__all__ = ["plot_cuped", "plot_lift", "plot_sequential"]


def _comparisons(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    out["comparison"] = out["metric"] + " · " + out["variant"]
    for column in ("lift", "lift_low", "lift_high"):
        out[column] = out[column].astype(float)
    return out


def plot_lift(result: Readout) -> alt.LayerChart:
    """Relative lift of every treatment on every metric, with its interval.

    One row per metric and treatment; the point is the lift of the primary
    analysis, the bar its confidence interval (delta method), the vertical rule
    "no effect". Significant results (after correction) are coloured.

    Returns
    -------
    altair.LayerChart
    """
    import altair as alt

    data = _comparisons(result.primary)
    data["result"] = [
        ("raises" if d > 0 else "lowers") if s else "not significant"
        for d, s in zip(data["difference"], data["significant"], strict=True)
    ]
    data = data[["comparison", "lift", "lift_low", "lift_high", "result", "p_value", "method"]]
    y = alt.Y("comparison:N", title=None, sort=None)
    color = alt.Color(
        "result:N",
        scale=alt.Scale(
            domain=["raises", "lowers", "not significant"], range=["#1a9850", "#d73027", "#777777"]
        ),
        title=f"{1 - result.alpha:.0%} CI, corrected test",
    )
    base = alt.Chart(data)
    bars = base.mark_rule(strokeWidth=3).encode(
        x=alt.X(
            "lift_low:Q", title="relative lift (treatment / control - 1)", axis=alt.Axis(format="%")
        ),
        x2="lift_high:Q",
        y=y,
        color=color,
    )
    points = base.mark_point(filled=True, size=80).encode(
        x="lift:Q",
        y=y,
        color=color,
        tooltip=[
            "comparison",
            alt.Tooltip("lift:Q", format=".2%"),
            alt.Tooltip("lift_low:Q", format=".2%"),
            alt.Tooltip("lift_high:Q", format=".2%"),
            alt.Tooltip("p_value:Q", format=".3g"),
            "method",
        ],
    )
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4]).encode(x="x:Q")
    return alt.layer(zero, bars, points).properties(
        title="Lift by metric", width=480, height=alt.Step(28)
    )


def plot_cuped(result: Readout) -> alt.LayerChart:
    """Intervals with and without CUPED, side by side: what the pre-period covariate bought.

    Raises
    ------
    InvalidArgument
        If no metric of the readout was adjusted by CUPED.
    """
    import altair as alt

    table = result.table
    adjusted = table[table["method"] == "cuped"]
    if adjusted.empty:
        raise InvalidArgument(
            "No metric was adjusted by CUPED (ratio metrics, no pre-period data, or cuped=False)."
        )
    keys = set(zip(adjusted["metric"], adjusted["variant"], strict=True))
    rows = table[[k in keys for k in zip(table["metric"], table["variant"], strict=True)]]
    data = _comparisons(rows)
    data["analysis"] = ["CUPED" if m == "cuped" else "unadjusted" for m in data["method"]]
    data = data[["comparison", "analysis", "lift", "lift_low", "lift_high"]]
    y = alt.Y("comparison:N", title=None)
    offset = alt.YOffset("analysis:N")
    color = alt.Color("analysis:N", title="analysis")
    base = alt.Chart(data)
    bars = base.mark_rule(strokeWidth=3).encode(
        x=alt.X("lift_low:Q", title="relative lift", axis=alt.Axis(format="%")),
        x2="lift_high:Q",
        y=y,
        yOffset=offset,
        color=color,
    )
    points = base.mark_point(filled=True, size=60).encode(
        x="lift:Q", y=y, yOffset=offset, color=color
    )
    zero = alt.Chart(pd.DataFrame({"x": [0.0]})).mark_rule(strokeDash=[4, 4]).encode(x="x:Q")
    return alt.layer(zero, bars, points).properties(
        title="CUPED: the same lift, a narrower interval", width=480, height=alt.Step(36)
    )


def plot_sequential(result: Readout) -> alt.FacetChart:
    """The lift look by look: always-valid confidence sequence and fixed-horizon interval.

    One panel per metric and treatment. The dark band is the confidence
    sequence (safe to act on at any look); the light band the fixed-horizon
    interval (valid only at one pre-planned look).

    Raises
    ------
    InvalidArgument
        If the readout has no sequential view (``sequential=False``).
    """
    import altair as alt

    if result.sequential.empty:
        raise InvalidArgument("The readout has no sequential view; run readout(sequential=True).")
    data = _comparisons(result.sequential)
    for column in ("cs_low", "cs_high"):
        data[column] = data[column].astype(float)
    data = data[["comparison", "checkpoint", "lift", "lift_low", "lift_high", "cs_low", "cs_high"]]
    x = alt.X("checkpoint:T", title="look (UTC midnight)")
    base = alt.Chart()
    sequence = base.mark_area(opacity=0.25, color="#4c78a8").encode(
        x=x,
        y=alt.Y("cs_low:Q", title="relative lift", axis=alt.Axis(format="%")),
        y2="cs_high:Q",
    )
    fixed = base.mark_area(opacity=0.25, color="#f58518").encode(
        x=x, y="lift_low:Q", y2="lift_high:Q"
    )
    line = base.mark_line(point=True, color="black").encode(
        x=x, y="lift:Q", tooltip=["checkpoint:T", alt.Tooltip("lift:Q", format=".2%")]
    )
    zero = base.mark_rule(strokeDash=[4, 4]).encode(y=alt.datum(0))
    return (
        alt.layer(sequence, fixed, line, zero, data=data)
        .properties(width=480, height=180)
        .facet(row=alt.Row("comparison:N", title=None))
        .properties(
            title="Lift over time: confidence sequence (blue) vs fixed-horizon interval (orange)"
        )
    )
