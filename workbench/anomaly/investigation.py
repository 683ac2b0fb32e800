"""Deep processing: one series around one moment, looked at from every side.

:func:`investigate` gathers what a person needs to judge an anomaly: the series
with the band the detector expected, its seasonal decomposition (statsmodels STL),
the series that moved with it at the time, similar past incidents (alerts or
labelled windows of any series, nearest by z-normalized shape), and the window
features that deviate most at the point.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.anomaly.observations import check_series, load_observations
from workbench.anomaly.scans import MIN_HISTORY_POINTS
from workbench.arguments import parse_duration, parse_time
from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    from workbench.store import Store

__all__ = ["Investigation", "investigate"]

# Points on each side of a moment that make up its shape for the incident search.
SHAPE_HALF_WIDTH = 12
# Features shown as contributing: the most deviating ones.
TOP_FEATURES = 8
# Fewest shared points for a correlation between two series to be reported.
MIN_OVERLAP = 8


@dataclass(frozen=True)
class Investigation:
    """Everything :func:`investigate` found about one series around one moment.

    Attributes
    ----------
    series_id : str
    around : datetime.datetime
        The moment looked at (naive UTC).
    window_start, window_end : datetime.datetime
        The window shown, ``around`` +- ``window``.
    detector : str
    observations : pandas.DataFrame
        ``ts``, ``value``, ``score``, ``expected``, ``low``, ``high``, ``alert`` (0/1),
        ``reason``, for the window.
    decomposition : pandas.DataFrame
        ``ts``, ``trend``, ``seasonal``, ``resid`` (STL), for the window.
    neighbours : pandas.DataFrame
        ``series_id``, ``correlation`` (of changes, point to point), ``points``.
    similar_incidents : pandas.DataFrame
        ``series_id``, ``start``, ``end``, ``distance``, ``label``, ``source``.
    contributions : pandas.DataFrame
        ``feature``, ``value``, ``typical``, ``z``.
    alerts : pandas.DataFrame
        Stored alerts of the series in the window.
    notes : list of str
        What could not be done as usual, and why.
    """

    series_id: str
    around: dt.datetime
    window_start: dt.datetime
    window_end: dt.datetime
    detector: str
    observations: pd.DataFrame = field(repr=False)
    decomposition: pd.DataFrame = field(repr=False)
    neighbours: pd.DataFrame = field(repr=False)
    similar_incidents: pd.DataFrame = field(repr=False)
    contributions: pd.DataFrame = field(repr=False)
    alerts: pd.DataFrame = field(repr=False)
    notes: list[str] = field(default_factory=list)

    def charts(self) -> dict[str, Any]:
        """Altair charts: ``series`` (value, expected band, alerts) and ``decomposition``."""
        from workbench.anomaly.charts import plot_decomposition, plot_series_band

        charts = {
            "series": plot_series_band(
                self.observations,
                title=f"{self.series_id} around {self.around:%Y-%m-%d %H:%M} UTC ({self.detector})",
            )
        }
        if not self.decomposition.empty:
            charts["decomposition"] = plot_decomposition(
                self.decomposition, title=f"{self.series_id}: STL decomposition"
            )
        return charts

    def summary(self) -> str:
        """A few lines about the findings, for people."""
        flagged = int(self.observations["alert"].sum())
        lines = [
            f"{self.series_id} from {self.window_start:%Y-%m-%d %H:%M} to "
            f"{self.window_end:%Y-%m-%d %H:%M} UTC ({self.detector}): "
            f"{len(self.observations):,} points, {flagged:,} above the threshold."
        ]
        at = self.observations[self.observations["ts"] == pd.Timestamp(self.around)]
        if len(at) and at["reason"].iloc[0]:
            lines.append(f"At {self.around:%Y-%m-%d %H:%M}: {at['reason'].iloc[0]}")
        if len(self.neighbours):
            moved = ", ".join(
                f"{s} ({c:+.2f})"
                for s, c in zip(
                    self.neighbours["series_id"], self.neighbours["correlation"], strict=True
                )
            )
            lines.append(f"Moved with it: {moved}.")
        if len(self.similar_incidents):
            similar = ", ".join(
                f"{s} at {start:%Y-%m-%d %H:%M} (distance {d:.2f})"
                for s, start, d in zip(
                    self.similar_incidents["series_id"],
                    self.similar_incidents["start"],
                    self.similar_incidents["distance"],
                    strict=True,
                )
            )
            lines.append(f"Similar past incidents: {similar}.")
        if len(self.contributions):
            features = ", ".join(
                f"{f} (z {z:+.1f})"
                for f, z in zip(self.contributions["feature"], self.contributions["z"], strict=True)
            )
            lines.append(f"Deviating features: {features}.")
        lines.extend(self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The findings as JSON-ready data (times as ISO text)."""

        def records(frame: pd.DataFrame) -> list[dict]:
            out = frame.copy()
            for column in out.columns:
                if pd.api.types.is_datetime64_any_dtype(out[column]):
                    out[column] = out[column].map(lambda t: None if pd.isna(t) else t.isoformat())
            out = out.astype(object).where(out.notna(), None)
            return out.to_dict("records")

        return {
            "series_id": self.series_id,
            "around": self.around.isoformat(),
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "detector": self.detector,
            "observations": records(self.observations),
            "decomposition": records(self.decomposition),
            "neighbours": records(self.neighbours),
            "similar_incidents": records(self.similar_incidents),
            "contributions": records(self.contributions),
            "alerts": records(self.alerts),
            "notes": list(self.notes),
        }


def investigate(
    store: Store,
    series_id: str,
    *,
    around: Any = None,
    window: Any = "3d",
    detector: str = "seasonal",
    neighbours: int = 5,
    incidents: int = 5,
    history: Any = "14d",
) -> Investigation:
    """Look at one series around one moment: band, decomposition, neighbours, incidents, features.

    Parameters
    ----------
    store
        The store holding ``observations`` (and ``alerts``, ``labels`` when there are any).
    series_id
        The series. An unknown id raises :class:`~workbench.exceptions.InvalidArgument`
        naming close matches.
    around
        The moment to look at (UTC). Default: the first alert of the series' latest
        incident in ``alerts``, else its newest point.
    window
        How far on each side of ``around`` to show.
    detector
        Series detector that gives the scores and the expected band.
    neighbours
        How many co-moving series to list.
    incidents
        How many similar past incidents to list.
    history
        How much data before the window the detector is fitted on.

    Returns
    -------
    Investigation
    """
    from sklearn.base import clone

    from workbench.anomaly.detectors import make_detector

    for name, value in (("neighbours", neighbours), ("incidents", incidents)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidArgument(f"{name}={value!r} must be a whole number, 0 or more.")
    check_series(store, [series_id])
    span = parse_duration(window, name="window")
    lookback = parse_duration(history, name="history")
    notes: list[str] = []
    moment = parse_time(around, name="around") or _default_moment(store, series_id)
    start, end = moment - span.to_pytimedelta(), moment + span.to_pytimedelta()
    frame = load_observations(
        store,
        since=start - lookback.to_pytimedelta(),
        until=end + dt.timedelta(microseconds=1),
        series=[series_id],
    )
    shown = (frame["ts"] >= start) & (frame["ts"] <= end)
    if not shown.any():
        first, last = _series_span(store, series_id)
        raise InvalidArgument(
            f"{series_id} has no points between {start} and {end} UTC; its data runs from "
            f"{first} to {last}. Choose --around inside that range."
        )
    fit_on = frame[frame["ts"] < start]
    if len(fit_on) < MIN_HISTORY_POINTS:
        fit_on = frame
        notes.append(
            f"Only {int((frame['ts'] < start).sum())} points before the window: the detector was "
            "fitted on the window itself, so its band is looser evidence than usual."
        )
    try:
        model = clone(make_detector(detector)).fit(fit_on)
    except InvalidArgument:
        if fit_on is frame:
            raise
        # The history before the window was unusable to the detector (e.g. all warm-up).
        model = clone(make_detector(detector)).fit(frame)
        notes.append(
            "The history before the window was too short for the detector: it was fitted "
            "on the window itself, so its band is looser evidence than usual."
        )
    explained = model.explain(frame).set_index(frame.index)
    observations = frame.assign(
        **{c: explained[c].to_numpy() for c in ("score", "expected", "low", "high", "reason")},
        alert=np.asarray(model.predict(frame), dtype=int),
    )
    observations = observations[shown].drop(columns=["series_id"]).reset_index(drop=True)
    observations = observations[
        ["ts", "value", "score", "expected", "low", "high", "alert", "reason"]
    ]
    decomposition = _decompose(frame, start=start, end=end, notes=notes)
    return Investigation(
        series_id=series_id,
        around=moment,
        window_start=start,
        window_end=end,
        detector=detector,
        observations=observations,
        decomposition=decomposition,
        neighbours=_neighbours(store, series_id, start=start, end=end, count=neighbours),
        similar_incidents=_similar_incidents(
            store, series_id, frame=frame, moment=moment, count=incidents, notes=notes
        ),
        contributions=_contributions(frame, moment=moment, start=start, notes=notes),
        alerts=_stored_alerts(store, series_id, start=start, end=end),
        notes=notes,
    )


def _series_span(store: Store, series_id: str) -> tuple[Any, Any]:
    row = store.sql(
        "SELECT min(ts) AS first, max(ts) AS last FROM observations WHERE series_id = ?",
        [series_id],
    ).to_pylist()[0]
    return row["first"], row["last"]


def _default_moment(store: Store, series_id: str) -> dt.datetime:
    """The first alert of the series' latest incident, else its newest point."""
    alerts = store.sql(
        "SELECT DISTINCT ts FROM alerts WHERE series_id = ? ORDER BY ts", [series_id]
    ).to_pandas()
    if alerts.empty:
        return pd.Timestamp(_series_span(store, series_id)[1]).to_pydatetime()
    step = _step(store, series_id)
    times = alerts["ts"]
    # An incident is a run of alerts no more than two steps apart.
    starts = times[times.diff().isna() | (times.diff() > 2 * step)]
    return pd.Timestamp(starts.iloc[-1]).to_pydatetime()


def _step(store: Store, series_id: str) -> pd.Timedelta:
    """The series' usual time between points (median)."""
    row = store.sql(
        "SELECT median(gap) AS step FROM (SELECT epoch_us(ts) - lag(epoch_us(ts)) "
        "OVER (ORDER BY ts) AS gap FROM observations WHERE series_id = ?) WHERE gap IS NOT NULL",
        [series_id],
    ).to_pylist()[0]
    if row["step"] is None:  # a single point: any incident is that point
        return pd.Timedelta(hours=1)
    return pd.Timedelta(microseconds=float(row["step"]))


def _decompose(
    frame: pd.DataFrame, *, start: dt.datetime, end: dt.datetime, notes: list[str]
) -> pd.DataFrame:
    """STL (robust) on the series, with a daily period, cut to the window."""
    from statsmodels.tsa.seasonal import STL

    empty = pd.DataFrame(
        {
            "ts": pd.Series(dtype="datetime64[us]"),
            **{c: pd.Series(dtype="float64") for c in ("trend", "seasonal", "resid")},
        }
    )
    series = frame.set_index("ts")["value"]
    if len(series) < 3:
        notes.append("Too few points for a decomposition.")
        return empty
    step = series.index.to_series().diff().median()
    period = round(pd.Timedelta(days=1) / step)
    if period < 2 or len(series) < 2 * period + 1:
        notes.append(
            f"No decomposition: a daily period of {period} points needs at least "
            f"{2 * period + 1} points, and there are {len(series)}."
        )
        return empty
    # STL needs evenly spaced values: gaps are filled by time interpolation for the fit
    # only, and the result is reported at the observed points alone.
    regular = series.resample(step).mean().interpolate(method="time")
    fitted = STL(regular, period=period, robust=True).fit()
    parts = pd.DataFrame(
        {"trend": fitted.trend, "seasonal": fitted.seasonal, "resid": fitted.resid}
    ).reindex(series.index)
    parts = parts[(parts.index >= start) & (parts.index <= end)].dropna()
    return parts.rename_axis("ts").reset_index()


def _neighbours(
    store: Store, series_id: str, *, start: dt.datetime, end: dt.datetime, count: int
) -> pd.DataFrame:
    """Series whose point-to-point changes correlate most with this one's in the window.

    Changes rather than levels: series that share a daily cycle all correlate in
    level, while co-moving series also jump together.
    """
    columns = {
        "series_id": pd.Series(dtype="str"),
        "correlation": pd.Series(dtype="float64"),
        "points": pd.Series(dtype="int64"),
    }
    if count == 0:
        return pd.DataFrame(columns)
    frame = load_observations(store, since=start, until=end + dt.timedelta(microseconds=1))
    wide = frame.pivot_table(index="ts", columns="series_id", values="value").sort_index()
    changes = wide.diff()
    target = changes[series_id]
    rows = []
    for other in changes.columns:
        if other == series_id:
            continue
        both = pd.concat([target, changes[other]], axis=1).dropna()
        if len(both) < MIN_OVERLAP or both.std().min() == 0:
            continue
        rows.append((other, float(both.iloc[:, 0].corr(both.iloc[:, 1])), len(both)))
    if not rows:
        return pd.DataFrame(columns)
    result = pd.DataFrame(rows, columns=["series_id", "correlation", "points"])
    result = result.reindex(result["correlation"].abs().sort_values(ascending=False).index)
    return result.head(count).reset_index(drop=True)


def _incident_points(store: Store) -> pd.DataFrame:
    """Points of past incidents: stored alerts and points labelled anomalous by majority."""
    return store.sql(
        "WITH latest AS (SELECT *, row_number() OVER "
        "  (PARTITION BY target, source ORDER BY labeled_at DESC) AS n FROM labels), "
        "voted AS (SELECT series_id, ts, CASE WHEN 2 * sum(label) > count(*) THEN 1 "
        "  WHEN 2 * sum(label) < count(*) THEN 0 END AS label "
        "  FROM latest WHERE n = 1 AND series_id IS NOT NULL GROUP BY series_id, ts), "
        "alerted AS (SELECT DISTINCT series_id, ts FROM alerts) "
        "SELECT coalesce(a.series_id, v.series_id) AS series_id, coalesce(a.ts, v.ts) AS ts, "
        "a.series_id IS NOT NULL AS alerted, v.label "
        "FROM alerted a FULL JOIN (SELECT * FROM voted WHERE label = 1) v "
        "ON a.series_id = v.series_id AND a.ts = v.ts "
        "ORDER BY series_id, ts"
    ).to_pandas()


def _similar_incidents(
    store: Store,
    series_id: str,
    *,
    frame: pd.DataFrame,
    moment: dt.datetime,
    count: int,
    notes: list[str],
) -> pd.DataFrame:
    """Past incidents nearest in z-normalized shape to the points around ``moment``.

    Shapes are the ``SHAPE_HALF_WIDTH`` points on each side of ``moment`` (fewer after
    it at the end of the data) and the same offsets around each incident's first point; the distance is the root mean square difference of the
    z-normalized shapes (0 is the same shape, about 1.4 unrelated ones).
    """
    result = pd.DataFrame(
        {
            "series_id": pd.Series(dtype="str"),
            "start": pd.Series(dtype="datetime64[us]"),
            "end": pd.Series(dtype="datetime64[us]"),
            "distance": pd.Series(dtype="float64"),
            "label": pd.Series(dtype="Int8"),
            "source": pd.Series(dtype="str"),
        }
    )
    if count == 0:
        return result
    position = int(frame["ts"].searchsorted(pd.Timestamp(moment)))
    # Near the end of the data (the usual case for a fresh alert) only the points
    # before the moment exist: incidents are compared over the same offsets.
    before = min(SHAPE_HALF_WIDTH, position)
    after = min(SHAPE_HALF_WIDTH, len(frame) - 1 - position)
    query, span = _shape(frame, moment, before=before, after=after)
    if query is None or before + after + 1 < SHAPE_HALF_WIDTH:
        notes.append("Too few points around the moment to compare its shape with past incidents.")
        return result
    points = _incident_points(store)
    if points.empty:
        return result
    points["ts"] = points["ts"].astype("datetime64[us]")
    observed = load_observations(store, series=sorted(points["series_id"].unique()))
    rows = []
    for (name, points_of), values in _grouped(points, observed):
        step = values["ts"].diff().median()
        gaps = points_of["ts"].diff()
        run = (gaps.isna() | (gaps > 2 * step)).cumsum()
        for _, incident in points_of.groupby(run):
            first, last = incident["ts"].iloc[0], incident["ts"].iloc[-1]
            if name == series_id and first <= span[1] and last >= span[0]:
                continue  # the moment under investigation itself
            shape, _ = _shape(values, first, before=before, after=after)
            if shape is None:
                continue
            label = incident["label"].max()
            source = ("alert" if incident["alerted"].any() else "") + (
                "+label"
                if pd.notna(label) and incident["alerted"].any()
                else ("label" if pd.notna(label) else "")
            )
            distance = float(np.sqrt(np.mean((shape - query) ** 2)))
            rows.append((name, first, last, distance, label, source))
    if not rows:
        return result
    found = pd.DataFrame(rows, columns=list(result.columns))
    found["label"] = found["label"].astype("Int8")
    found = found.sort_values(["distance", "series_id", "start"]).head(count)
    return found.reset_index(drop=True)


def _grouped(points: pd.DataFrame, observed: pd.DataFrame):
    values_by_series = dict(tuple(observed.groupby("series_id", sort=False)))
    for name, points_of in points.groupby("series_id"):
        if name in values_by_series:
            yield (
                (name, points_of.reset_index(drop=True)),
                values_by_series[name].reset_index(drop=True),
            )


def _shape(
    values: pd.DataFrame, moment: Any, *, before: int, after: int
) -> tuple[np.ndarray | None, tuple]:
    """The z-normalized values from ``before`` points before ``moment`` to ``after`` after.

    None when the series does not reach that far on either side.
    """
    position = int(values["ts"].searchsorted(pd.Timestamp(moment)))
    low, high = position - before, position + after + 1
    if low < 0 or high > len(values):
        return None, (moment, moment)
    cut = values.iloc[low:high]
    shape = cut["value"].to_numpy(dtype="float64")
    spread = shape.std()
    shape = (shape - shape.mean()) / spread if spread > 0 else shape - shape.mean()
    return shape, (cut["ts"].iloc[0], cut["ts"].iloc[-1])


def _contributions(
    frame: pd.DataFrame, *, moment: dt.datetime, start: dt.datetime, notes: list[str]
) -> pd.DataFrame:
    """Window features at ``moment`` against their typical values before the window."""
    from workbench.anomaly.detectors import window_features

    empty = pd.DataFrame(
        {
            "feature": pd.Series(dtype="str"),
            **{c: pd.Series(dtype="float64") for c in ("value", "typical", "z")},
        }
    )
    features = window_features(frame).set_index(frame.index)
    features = features.select_dtypes("number")
    at = frame.index[frame["ts"] <= pd.Timestamp(moment)]
    before = features[(frame["ts"] < pd.Timestamp(start)).to_numpy()]
    if len(at) == 0 or len(before) < MIN_HISTORY_POINTS:
        notes.append("Too little history before the window to say which features are unusual.")
        return empty
    current = features.loc[at[-1]]
    typical = before.median()
    spread = 1.4826 * (before - typical).abs().median()
    spread = spread.where(spread > 0, before.std())
    z = (current - typical) / spread
    table = (
        pd.DataFrame(
            {
                "feature": features.columns,
                "value": current.to_numpy(),
                "typical": typical.to_numpy(),
                "z": z.to_numpy(),
            }
        )
        .replace([np.inf, -np.inf], np.nan)
        .dropna(subset=["z"])
    )
    table = table.reindex(table["z"].abs().sort_values(ascending=False).index).head(TOP_FEATURES)
    return table.reset_index(drop=True).astype(
        {"value": "float64", "typical": "float64", "z": "float64"}
    )


def _stored_alerts(
    store: Store, series_id: str, *, start: dt.datetime, end: dt.datetime
) -> pd.DataFrame:
    return store.sql(
        "SELECT * FROM alerts WHERE series_id = ? AND ts >= ? AND ts <= ? ORDER BY ts, detector",
        [series_id, start, end],
    ).to_pandas()
