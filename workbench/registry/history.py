"""A model's history as tables: every version with its metrics, and when each was champion.

What a stakeholder report shows about a model comes from here, not from refitting:
the metrics each version recorded when it was registered (on its training run's
holdout, with intervals), and the alias moves that decided what apps were served.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workbench.exceptions import InvalidArgument
from workbench.registry.aliases import alias_history, aliases
from workbench.registry.versions import versions

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

    from workbench.headline import Headline
    from workbench.store import Store

__all__ = [
    "describe_metric",
    "metric_interval",
    "plot_version_history",
    "serving_headline",
    "training_headline",
    "version_history",
]


def version_history(store: Store, name: str) -> pd.DataFrame:
    """One row per version of ``name``, oldest first, with what it recorded and its roles.

    Columns: ``version``, ``ref``, ``model`` (the short name it was registered under,
    e.g. ``als``), ``created_at``, ``holdout``, one column per recorded metric
    (``ndcg_at_10_score``, ``ndcg_at_10_score_low``, ...), ``champion_from`` (when it first became
    champion, NaT if never), ``alias`` (``champion``/``challenger`` now, else empty).

    Examples
    --------
    >>> from workbench.store import Store
    >>> version_history(Store.open("duckdb://:memory:"), "recommender").empty
    True
    """
    import pandas as pd

    registered = versions(store, name)
    became: dict[int, object] = {}
    for move in alias_history(store, name, alias="champion"):
        if move.version is not None:
            became.setdefault(move.version, move.at)
    now = {version: alias for alias, version in aliases(store, name).items()}
    rows = [
        {
            "version": v.version,
            "ref": v.ref,
            "model": v.params.get("model", v.signature.get("model_class", "")),
            "created_at": v.created_at,
            "holdout": v.holdout,
            **v.metrics,
            "champion_from": became.get(v.version),
            "alias": now.get(v.version, ""),
        }
        for v in registered
    ]
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["champion_from"] = pd.to_datetime(frame["champion_from"])
    return frame


def plot_version_history(
    history: pd.DataFrame, *, metric: str = "ndcg_at_10_score"
) -> alt.LayerChart:
    """Each version's ``metric`` (with its interval), in version order; champions marked.

    ``history`` is :func:`version_history`'s table. Points are colored by the short
    model name; the x axis is the version number (the versions one training run
    registers share one moment, so a time axis would stack them), with the
    registration time in the tooltip.

    Examples
    --------
    >>> import pandas as pd
    >>> history = pd.DataFrame({"version": [1, 2], "ref": ["r@1", "r@2"], "model": ["a", "b"],
    ...     "created_at": pd.to_datetime(["2026-01-01", "2026-01-02"]), "ndcg_at_10_score": [0.1, 0.2],
    ...     "champion_from": pd.to_datetime([None, "2026-01-02"]), "alias": ["", "champion"]})
    >>> len(plot_version_history(history).to_dict()["layer"])  # no interval recorded: points only
    1
    """
    import altair as alt
    import pandas as pd

    if metric not in history.columns:
        recorded = [c for c in history.columns if "@" in c and not c.endswith(("_low", "_high"))]
        raise InvalidArgument(
            f"No version recorded {metric!r}; recorded: {', '.join(recorded) or 'none'}."
        )
    columns = ["version", "ref", "model", "created_at", metric, "champion_from", "alias"]
    interval = [f"{metric}_low", f"{metric}_high"]
    has_interval = all(name in history.columns for name in interval)
    data = history[columns + (interval if has_interval else [])].copy()
    data["role"] = [
        "champion now" if alias == "champion" else "was champion" if pd.notna(since) else "other"
        for alias, since in zip(data["alias"], data["champion_from"], strict=True)
    ]
    data = data.drop(columns=["champion_from"])
    x = alt.X("version:O", title="version (in order of registration)", axis=alt.Axis(labelAngle=0))
    y = alt.Y(f"{metric}:Q", title=metric, scale=alt.Scale(zero=False))
    color = alt.Color("model:N", title="model")
    base = alt.Chart(data)
    points = base.mark_point(filled=True, size=60).encode(
        x,
        y,
        color,
        shape=alt.Shape("role:N", title="role"),
        tooltip=[
            "ref:N",
            "model:N",
            "role:N",
            alt.Tooltip("created_at:T", title="registered (UTC)", format="%Y-%m-%d %H:%M"),
            alt.Tooltip(f"{metric}:Q", format=".4f"),
        ],
    )
    layers = [points]
    if has_interval:
        layers.append(
            base.mark_rule(opacity=0.5).encode(
                x, alt.Y(f"{interval[0]}:Q"), alt.Y2(f"{interval[1]}:Q"), color
            )
        )
    return alt.layer(*layers).properties(
        title=f"{metric} of every version (lines: bootstrap interval)", width=520, height=260
    )


def metric_interval(recorded: Any, metric: str) -> tuple[float, float] | None:
    """``(low, high)`` of a recorded metric, or None when its version recorded no interval.

    ``recorded`` is a version's metrics (a dict, or a row of :func:`version_history`).
    """
    low, high = recorded.get(f"{metric}_low"), recorded.get(f"{metric}_high")
    if low is None or high is None or low != low or high != high:  # absent or NaN
        return None
    return float(low), float(high)


def describe_metric(recorded: Any, metric: str) -> str:
    """``"0.152 (95% interval 0.141-0.163)"``, or the value alone without an interval.

    Examples
    --------
    >>> describe_metric({"ndcg_at_10_score": 0.152, "ndcg_at_10_score_low": 0.141, "ndcg_at_10_score_high": 0.163}, "ndcg_at_10_score")
    '0.152 (95% interval 0.141-0.163)'
    >>> describe_metric({"ndcg_at_10_score": 0.152}, "ndcg_at_10_score")
    '0.152 (no interval recorded)'
    """
    value = recorded.get(metric)
    if value is None or value != value:
        return "not recorded"
    interval = metric_interval(recorded, metric)
    if interval is None:
        return f"{value:.3f} (no interval recorded)"
    return f"{value:.3f} (95% interval {interval[0]:.3f}-{interval[1]:.3f})"


def training_headline(
    promotion: Any, metrics: Mapping[str, Any] | None = None, *, metric: str | None = None
) -> Headline:
    """A training run in one sentence: what the gate decided, with the candidate's metric.

    ``promotion`` is :func:`~workbench.registry.promote_if_better`'s verdict (None when
    nothing was registered); ``metrics`` the candidate's recorded metrics and ``metric``
    the one the gate compared, the headline's first figure.
    """
    from workbench.formatting import label
    from workbench.headline import Figure, Headline

    value = (metrics or {}).get(metric) if metric else None
    figures = (Figure(label(metric), value),) if metric else ()
    if promotion is None:
        return Headline("Models trained and compared; none was registered.", "ok", figures)
    if promotion.promoted:
        before = f", replacing {promotion.previous}" if promotion.previous else ""
        return Headline(
            f"{promotion.candidate} passed the gate and is the champion{before}: "
            f"{promotion.reason}",
            "ok",
            figures,
        )
    if promotion.champion is None:
        return Headline(
            f"No model serves: {promotion.candidate} did not pass the gate ({promotion.reason})",
            "act",
            figures,
        )
    compared = f" on {label(metric)}" if metric else ""
    return Headline(
        f"{promotion.champion} stays the champion: the new candidate {promotion.candidate} did "
        f"not beat it{compared}.",
        "ok",
        figures,
    )


def serving_headline(
    champion: str, recorded: Mapping[str, Any], metric: str, *, users: int | None = None
) -> Headline:
    """What serves and how good it is, in one sentence: the champion's gated metric, and
    what its precision means for a user (how many of a list's items they went on to use).
    """
    import re

    from workbench.formatting import label
    from workbench.headline import Figure, Headline

    value = recorded.get(metric)
    value = None if value is None or value != value else float(value)
    figures = [Figure(label(metric), value)]
    reach = ""
    if users is not None:
        figures.append(Figure("users with lists", users, "count"))
        reach = f" {users:,} users"
    meaning = ""
    cut = re.search(r"_at_(\d+)_score$", metric)
    precision = recorded.get(f"precision_at_{cut.group(1)}_score") if cut else None
    if precision is not None and precision == precision:
        k = int(cut.group(1))
        meaning = (
            f" On held-out data, about {precision * k:.1f} of every {k} listed items were ones "
            "the user went on to use."
        )
        figures.append(Figure(f"used of {k} listed", precision * k))
    return Headline(
        f"{champion} serves{reach}; {label(metric)} "
        f"{describe_metric(recorded, metric)} on its holdout.{meaning}",
        "ok" if value is not None else "watch",
        tuple(figures),
    )
