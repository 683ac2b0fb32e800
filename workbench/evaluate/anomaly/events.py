"""Anomalies as events: contiguous label-1 points, event recall and detection delay."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.arguments import parse_duration
from workbench.exceptions import InvalidArgument
from workbench.tables import to_frame


def _as_frame(frame: object, columns: tuple[str, ...], argument: str) -> pd.DataFrame:
    frame = to_frame(frame, name=argument)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidArgument(
            f"{argument} lacks the column(s) {', '.join(missing)}; it needs {', '.join(columns)}."
        )
    out = frame[list(columns)].copy()
    ts = pd.to_datetime(out["ts"])
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    out["ts"] = ts.to_numpy().astype("datetime64[us]")
    out["series_id"] = out["series_id"].astype(str)
    return out


def _as_gap(max_gap, name: str = "max_gap") -> pd.Timedelta | None:
    if max_gap is None:
        return None
    return parse_duration(max_gap, name=name, allow_zero=True)


def event_windows(labels_frame: pd.DataFrame, *, max_gap=None) -> pd.DataFrame:
    """Anomalous events: runs of contiguous label-1 points of a series.

    Two label-1 points of a series belong to one event when no label-0 point of
    that series lies between them and they are at most ``max_gap`` apart.

    Parameters
    ----------
    labels_frame : pandas.DataFrame
        ``series_id``, ``ts``, ``label`` (1 or 0; NaN rows are ignored as unknown).
        Either every observation with its label, or a labels table.
    max_gap : str or timedelta, optional
        Longest gap inside one event; by default the sampling step, the shortest
        positive time between two consecutive rows of any series.

    Returns
    -------
    pandas.DataFrame
        ``event_id`` (``series_id@start``), ``series_id``, ``start``, ``end``
        (last point, inclusive) and ``points``, sorted by series and start.

    Examples
    --------
    >>> frame = pd.DataFrame({"series_id": "a",
    ...                       "ts": pd.date_range("2026-01-01", periods=6, freq="h"),
    ...                       "label": [0, 1, 1, 0, 1, 0]})
    >>> event_windows(frame)[["event_id", "points"]]
                    event_id  points
    0  a@2026-01-01T01:00:00       2
    1  a@2026-01-01T04:00:00       1
    """
    labels_frame = to_frame(labels_frame, name="labels_frame")
    frame = _as_frame(labels_frame, ("series_id", "ts"), "labels_frame")
    if "label" not in labels_frame.columns:
        raise InvalidArgument("labels_frame lacks the column label (1 anomalous, 0 normal).")
    frame["label"] = pd.to_numeric(labels_frame["label"], errors="coerce").to_numpy()
    frame = frame[frame["label"].notna()].sort_values(["series_id", "ts"], kind="stable")
    frame = frame.reset_index(drop=True)
    same = frame["series_id"].eq(frame["series_id"].shift())
    steps = frame["ts"].diff().where(same)
    gap = _as_gap(max_gap)
    if gap is None:
        positive = steps[steps > pd.Timedelta(0)]
        gap = positive.min() if len(positive) else pd.Timedelta(0)
    positive_label = frame["label"].to_numpy() == 1
    previous_positive = np.r_[False, positive_label[:-1]] & same.to_numpy()
    starts = positive_label & ~(previous_positive & (steps <= gap).to_numpy())
    event = np.cumsum(starts)
    ones = frame[positive_label].assign(event=event[positive_label])
    events = ones.groupby("event", sort=True).agg(
        series_id=("series_id", "first"),
        start=("ts", "min"),
        end=("ts", "max"),
        points=("ts", "size"),
    )
    events = events.reset_index(drop=True)
    stamp = events["start"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    events.insert(0, "event_id", events["series_id"] + "@" + stamp)
    return events


def _tolerance(tolerance) -> pd.Timedelta:
    if tolerance is None:
        return pd.Timedelta(0)
    return _as_gap(tolerance, "tolerance")


def _first_alerts(events: pd.DataFrame, alerts: pd.DataFrame, tolerance) -> pd.Series:
    """Per event, the first alert in ``[start, end + tolerance]`` of its series (NaT if none)."""
    for column in ("series_id", "start", "end"):
        if column not in events.columns:
            raise InvalidArgument(
                "events must come from event_windows (columns series_id, start, end)."
            )
    alerted = _as_frame(alerts, ("series_id", "ts"), "alerts").sort_values("ts")
    late = _tolerance(tolerance)
    by_series = {sid: group["ts"].to_numpy() for sid, group in alerted.groupby("series_id")}
    first = []
    for row in events.itertuples(index=False):
        times = by_series.get(str(row.series_id))
        if times is None:
            first.append(pd.NaT)
            continue
        start = np.datetime64(pd.Timestamp(row.start).tz_localize(None), "us")
        stop = np.datetime64(pd.Timestamp(row.end).tz_localize(None) + late, "us")
        at = np.searchsorted(times, start, side="left")
        first.append(times[at] if at < times.size and times[at] <= stop else pd.NaT)
    return pd.Series(pd.to_datetime(first), index=events.index, dtype="datetime64[us]")


def event_recall_score(events: pd.DataFrame, alerts: pd.DataFrame, *, tolerance=None) -> float:
    """Share of events with at least one alert inside them (or within ``tolerance`` after).

    Parameters
    ----------
    events : pandas.DataFrame
        From :func:`event_windows`.
    alerts : pandas.DataFrame
        Alerted points: ``series_id``, ``ts``.
    tolerance : str or timedelta, optional
        How long after an event's last point an alert still counts for it.

    Returns
    -------
    float

    Examples
    --------
    >>> frame = pd.DataFrame({"series_id": "a",
    ...                       "ts": pd.date_range("2026-01-01", periods=6, freq="h"),
    ...                       "label": [0, 1, 1, 0, 1, 0]})
    >>> events = event_windows(frame)
    >>> alerts = frame.iloc[[2]]  # one alert, late in the first event
    >>> event_recall_score(events, alerts)
    0.5
    >>> event_recall_score(events, frame.iloc[[5]], tolerance="1h")  # one hour after the second
    0.5
    """
    if len(events) == 0:
        raise InvalidArgument("There are no events, so recall is undefined; label some anomalies.")
    return float(_first_alerts(events, alerts, tolerance).notna().mean())


def detection_delay(
    events: pd.DataFrame,
    alerts: pd.DataFrame,
    *,
    observations: pd.DataFrame | None = None,
    tolerance=None,
) -> pd.DataFrame:
    """For each detected event, the time and points from its start to its first alert.

    Parameters
    ----------
    events : pandas.DataFrame
        From :func:`event_windows`.
    alerts : pandas.DataFrame
        Alerted points: ``series_id``, ``ts``.
    observations : pandas.DataFrame, optional
        The series' points (``series_id``, ``ts``), to count the points of delay;
        without it, points are counted inside the event assuming even spacing.
    tolerance : str or timedelta, optional
        As in :func:`event_recall_score`.

    Returns
    -------
    pandas.DataFrame
        ``event_id``, ``series_id``, ``start``, ``first_alert``, ``delay``
        (timedelta) and ``delay_points`` (0 = alerted at the first point), for
        detected events only.

    Examples
    --------
    >>> frame = pd.DataFrame({"series_id": "a",
    ...                       "ts": pd.date_range("2026-01-01", periods=6, freq="h"),
    ...                       "label": [0, 1, 1, 1, 0, 0]})
    >>> delay = detection_delay(event_windows(frame), frame.iloc[[3]], observations=frame)
    >>> delay[["delay", "delay_points"]]
                delay  delay_points
    0 0 days 02:00:00             2
    """
    first = _first_alerts(events, alerts, tolerance)
    found = events.loc[first.notna(), ["event_id", "series_id", "start"]].copy()
    found["first_alert"] = first[first.notna()]
    found["delay"] = found["first_alert"] - found["start"]
    if observations is not None:
        points = _as_frame(observations, ("series_id", "ts"), "observations")
        by_series = {
            sid: np.sort(group["ts"].to_numpy()) for sid, group in points.groupby("series_id")
        }
        counts = []
        for row in found.itertuples(index=False):
            times = by_series.get(row.series_id, np.array([], dtype="datetime64[us]"))
            start = np.datetime64(row.start, "us")
            alert = np.datetime64(row.first_alert, "us")
            counts.append(int(np.searchsorted(times, alert) - np.searchsorted(times, start)))
        found["delay_points"] = np.array(counts, dtype=np.int64)
    else:
        spacing = (events["end"] - events["start"]) / (events["points"] - 1).where(
            events["points"] > 1
        )
        ratio = found["delay"] / spacing.loc[found.index]
        found["delay_points"] = np.where(found["delay"] == pd.Timedelta(0), 0.0, ratio)
    return found.reset_index(drop=True)
