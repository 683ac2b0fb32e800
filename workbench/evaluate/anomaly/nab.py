"""The Numenta Anomaly Benchmark score: windows, a scaled sigmoid, weighted errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from workbench.evaluate.anomaly.events import _as_frame, event_windows  # noqa: F401 (doctest)
from workbench.exceptions import InvalidArgument

#: NAB's cost profiles: weights of a true positive, a false positive and a missed window.
NAB_PROFILES = {
    "standard": {"tp": 1.0, "fp": 0.11, "fn": 1.0},
    "reward_low_FP_rate": {"tp": 1.0, "fp": 0.22, "fn": 1.0},
    "reward_low_FN_rate": {"tp": 1.0, "fp": 0.11, "fn": 2.0},
}


def _scaled_sigmoid(position: float) -> float:
    """NAB's reward curve: ~0.987 at a window's start, 0 at its end, towards -1 after it."""
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def _nab_windows(events: pd.DataFrame, times: np.ndarray, series: str, fraction: float):
    """Index windows ``[first, last]`` around the series' events, merged where they overlap."""
    mine = events[events["series_id"] == series]
    if mine.empty:
        return []
    width = math.ceil(fraction * times.size / len(mine))
    windows = []
    for row in mine.itertuples(index=False):
        first = int(np.searchsorted(times, np.datetime64(pd.Timestamp(row.start), "us")))
        last = int(np.searchsorted(times, np.datetime64(pd.Timestamp(row.end), "us"), "right")) - 1
        pad = max(width - (last - first + 1), 0)
        first, last = max(first - (pad - pad // 2), 0), min(last + pad // 2, times.size - 1)
        if windows and first <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], last))
        else:
            windows.append((first, last))
    return windows


def _nab_raw(windows, alerted: np.ndarray, weights) -> float:
    """NAB's raw score of one series: best reward per window, weighted FPs, missed windows."""
    total, previous = 0.0, None
    cursor = 0
    alert_at = np.flatnonzero(alerted)
    rewarded = set()
    for index in alert_at:
        while cursor < len(windows) and windows[cursor][1] < index:
            previous = windows[cursor]
            cursor += 1
        inside = cursor < len(windows) and windows[cursor][0] <= index <= windows[cursor][1]
        if inside:
            first, last = windows[cursor]
            if cursor not in rewarded:  # only the earliest alert of a window counts
                rewarded.add(cursor)
                position = -(last - index + 1) / (last - first + 1)
                total += weights["tp"] * _scaled_sigmoid(position)
        elif previous is not None:
            first, last = previous
            past = abs(last - index) / max(last - first, 1)
            total += weights["fp"] * _scaled_sigmoid(past)
        else:
            total -= weights["fp"]
    total -= weights["fn"] * (len(windows) - len(rewarded))
    return total


def nab_score(
    events: pd.DataFrame,
    alerts: pd.DataFrame,
    observations: pd.DataFrame,
    *,
    profile: str = "standard",
    window_fraction: float = 0.1,
) -> float:
    """Numenta Anomaly Benchmark score, normalized: perfect detector 100, silent detector 0.

    Each series gets a window around each event, ``window_fraction`` of its
    points divided among its events (never narrower than the event). The
    earliest alert in a window earns ``tp x sigmoid`` (about 1 at the window's
    start, 0 at its end); a window with no alert costs ``fn``; an alert outside
    every window costs ``fp`` (less when it comes right after a window). The
    sum over all series is normalized against a detector that alerts at the
    start of every window (100) and one that never alerts (0). NAB's
    probationary period is not applied: points a detector does not score
    simply never alert.

    Parameters
    ----------
    events : pandas.DataFrame
        From :func:`event_windows`.
    alerts : pandas.DataFrame
        Alerted points: ``series_id``, ``ts``.
    observations : pandas.DataFrame
        Every point of the series (``series_id``, ``ts``): the axis windows are laid on.
    profile : {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
        NAB's weights (:data:`NAB_PROFILES`).
    window_fraction : float
        Share of each series covered by windows, in (0, 1].

    Returns
    -------
    float
        At most 100; negative when false alarms cost more than the detections earn.

    Examples
    --------
    >>> points = pd.DataFrame({"series_id": "a",
    ...                        "ts": pd.date_range("2026-01-01", periods=100, freq="h")})
    >>> labelled = points.assign(label=(points.index == 50).astype(int))
    >>> events = event_windows(labelled)  # window: points 45 to 54
    >>> nab_score(events, points.iloc[[45]], points)
    100.0
    >>> nab_score(events, points.iloc[[]], points)
    0.0
    >>> round(nab_score(events, points.iloc[[50]], points), 2)  # halfway: sigmoid(-0.5)
    93.04
    """
    if profile not in NAB_PROFILES:
        raise InvalidArgument(
            f"Unknown NAB profile {profile!r}; choose one of {', '.join(NAB_PROFILES)}."
        )
    if not 0 < window_fraction <= 1:
        raise InvalidArgument(f"window_fraction must be in (0, 1], got {window_fraction!r}.")
    if len(events) == 0:
        raise InvalidArgument("There are no events, so the NAB score is undefined.")
    weights = NAB_PROFILES[profile]
    points = _as_frame(observations, ("series_id", "ts"), "observations")
    alerted = _as_frame(alerts, ("series_id", "ts"), "alerts")
    alerted_by_series = {sid: g["ts"].to_numpy() for sid, g in alerted.groupby("series_id")}
    unknown = sorted(set(events["series_id"].astype(str)) - set(points["series_id"]))
    if unknown:
        raise InvalidArgument(
            f"Events name series missing from observations: {', '.join(unknown[:5])}."
        )
    raw = perfect = null = 0.0
    for sid, group in points.groupby("series_id", sort=True):
        times = np.sort(group["ts"].to_numpy())
        windows = _nab_windows(events, times, sid, window_fraction)
        flags = np.isin(times, alerted_by_series.get(sid, np.array([], dtype="datetime64[us]")))
        raw += _nab_raw(windows, flags, weights)
        ideal = np.zeros(times.size, dtype=bool)
        ideal[[first for first, _ in windows]] = True
        perfect += _nab_raw(windows, ideal, weights)
        null += _nab_raw(windows, np.zeros(times.size, dtype=bool), weights)
    return float(100.0 * (raw - null) / (perfect - null))
