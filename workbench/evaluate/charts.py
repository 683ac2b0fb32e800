"""Altair charts of an :func:`evaluate_recommenders` table (altair imported on use).

The charts embed their data and load nothing from the network; render them
with Altair's ``svg`` or ``png`` renderer so they show offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from workbench.evaluate.ranking import ACCURACY_METRICS
from workbench.exceptions import InvalidArgument
from workbench.formatting import label

if TYPE_CHECKING:
    import altair as alt

__all__ = ["plot_metric_by_k", "plot_model_comparison"]

_OTHER_METRICS = ("novelty_score", "intra_list_diversity_score", "catalog_coverage_score")


def _check_metric(table: pd.DataFrame, metric: str) -> None:
    if metric not in table.columns:
        known = [name for name in (*ACCURACY_METRICS, *_OTHER_METRICS) if name in table.columns]
        raise InvalidArgument(f"The table has no metric {metric!r}; it has {', '.join(known)}.")


def plot_metric_by_k(table: pd.DataFrame, *, metric: str = "ndcg_at_k_score") -> alt.LayerChart:
    """One line per model: ``metric`` against the cut-off ``k``, intervals shaded.

    Parameters
    ----------
    table : DataFrame
        From ``evaluate_recommenders(..., k=[1, 5, 10, 20])``.
    metric : str, default "ndcg_at_k_score"
        A metric column of the table.

    Returns
    -------
    altair.LayerChart

    Examples
    --------
    >>> table = pd.DataFrame({"model": ["pop", "pop"], "k": [5, 10], "ndcg_at_k_score": [0.1, 0.2]})
    >>> plot_metric_by_k(table).to_dict()["layer"][0]["mark"]["type"]
    'line'
    """
    import altair as alt

    _check_metric(table, metric)
    interval = [f"{metric}_low", f"{metric}_high"]
    columns = ["model", "k", metric, *[name for name in interval if name in table.columns]]
    data = table[columns]
    x = alt.X("k:Q", title="k (list length)", axis=alt.Axis(tickMinStep=1))
    color = alt.Color("model:N", title="model")
    base = alt.Chart(data)
    lines = base.mark_line(point=True).encode(
        x,
        alt.Y(f"{metric}:Q", title=label(metric)),
        color,
        tooltip=["model:N", "k:Q", f"{metric}:Q"],
    )
    layers = [lines]
    if all(name in data.columns for name in interval):
        band = base.mark_area(opacity=0.15).encode(
            x, alt.Y(f"{interval[0]}:Q"), alt.Y2(f"{interval[1]}:Q"), color
        )
        layers.append(band)
    title = f"{label(metric)} by k" + (" (shaded: bootstrap interval)" if len(layers) > 1 else "")
    return alt.layer(*layers).properties(title=title, width=480, height=280)


def plot_model_comparison(
    table: pd.DataFrame, *, metrics: Sequence[str] | None = None, k: int | None = None
) -> alt.FacetChart:
    """Each model's score per metric as a point with its interval as an error bar.

    Parameters
    ----------
    table : DataFrame
        From :func:`evaluate_recommenders`.
    metrics : sequence of str, optional
        Metric columns to show, one panel each; default every metric in the table.
    k : int, optional
        Which cut-off to show when the table has several; default the largest.

    Returns
    -------
    altair.FacetChart

    Examples
    --------
    >>> table = pd.DataFrame({
    ...     "model": ["pop", "oracle"], "k": [10, 10], "recall_at_k_score": [0.1, 0.9],
    ...     "recall_at_k_score_low": [0.05, 0.8], "recall_at_k_score_high": [0.15, 0.95],
    ... })
    >>> chart = plot_model_comparison(table)
    >>> sorted(chart.to_dict()["spec"]["layer"][0]["encoding"])
    ['tooltip', 'x', 'x2', 'y']
    """
    import altair as alt

    if metrics is None:
        metrics = [name for name in (*ACCURACY_METRICS, *_OTHER_METRICS) if name in table.columns]
    if not metrics:
        raise InvalidArgument("The table has no metric column; pass evaluate_recommenders' table.")
    for metric in metrics:
        _check_metric(table, metric)
    if "k" in table.columns:
        chosen = table["k"].max() if k is None else k
        table = table[table["k"] == chosen]
        if table.empty:
            raise InvalidArgument(f"The table has no row with k={k!r}.")
    long = pd.concat(
        [
            pd.DataFrame(
                {
                    "model": table["model"].to_numpy(),
                    "metric": label(metric),
                    "value": table[metric].to_numpy(dtype=float),
                    "low": _column_or_nan(table, f"{metric}_low"),
                    "high": _column_or_nan(table, f"{metric}_high"),
                }
            )
            for metric in metrics
        ],
        ignore_index=True,
    )
    y = alt.Y("model:N", title=None)
    tooltip = ["model:N", "metric:N", "value:Q", "low:Q", "high:Q"]
    bars = (
        alt.Chart()
        .mark_rule(strokeWidth=2)
        .encode(alt.X("low:Q", title=None), alt.X2("high:Q"), y, tooltip=tooltip)
    )
    points = (
        alt.Chart()
        .mark_point(filled=True, size=70)
        .encode(alt.X("value:Q", title=None), y, alt.Color("model:N", legend=None), tooltip=tooltip)
    )
    suffix = f" at k={int(chosen)}" if "k" in table.columns else ""
    return (
        alt.layer(bars, points, data=long)
        .properties(width=360, height=alt.Step(22))
        .facet(row=alt.Row("metric:N", title=None, sort=list(metrics)))
        .resolve_scale(x="independent")
        .properties(title=f"Model comparison{suffix} (bars: bootstrap interval)")
    )


def _column_or_nan(table: pd.DataFrame, column: str) -> object:
    if column in table.columns:
        return table[column].to_numpy(dtype=float)
    return float("nan")
