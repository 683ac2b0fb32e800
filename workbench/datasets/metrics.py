"""System-health time series with labelled anomalies (spikes, level shifts, drifts)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from workbench.datasets._common import (
    DAY_US,
    HOUR_US,
    SyntheticDataset,
    check_int,
    check_range,
    iso,
    start_us,
    timestamps,
    weekday,
)
from workbench.exceptions import InvalidArgument

__all__ = ["make_metrics"]

_METRIC_KINDS = ("cpu", "error_rate", "latency_ms", "requests")  # sorted, so ids sort by host

# per kind: level range, daily amplitude, weekend factor, noise and trend (fractions of level)
_KIND_SHAPES = {
    "cpu": ((20.0, 50.0), 0.30, 0.70, 0.05, 0.004),
    "error_rate": ((0.002, 0.02), 0.30, 0.90, 0.15, 0.002),
    "latency_ms": ((80.0, 250.0), 0.20, 0.85, 0.06, 0.003),
    "requests": ((200.0, 2000.0), 0.50, 0.60, 0.04, 0.005),
}
# anomaly kind -> (probability, length range in points, size range in series std devs)
_ANOMALY_SHAPES = {
    "spike": (0.5, (1, 1), (6.0, 9.0)),
    "level_shift": (0.25, (6, 24), (2.0, 3.0)),
    "drift": (0.25, (12, 48), (3.0, 5.0)),
}


def make_metrics(
    *,
    series: int = 20,
    days: int = 28,
    freq_minutes: int = 60,
    seed: int = 0,
    anomaly_rate: float = 0.01,
    start: str | dt.date = "2026-01-01",
) -> SyntheticDataset:
    """Generate system-health time series with labelled anomalies.

    Series are named ``host_NN.kind`` for kinds ``cpu``, ``error_rate``,
    ``latency_ms`` and ``requests``, four per host. Each has a level, a daily
    cycle peaking mid-afternoon UTC, quieter weekends, a linear trend and
    Gaussian noise (values never below 0). About ``anomaly_rate`` of all points
    are then made anomalous, in non-overlapping episodes of three kinds:
    ``spike`` (one point, 6-9 standard deviations of the series up),
    ``level_shift`` (a step for 6-24 points; requests drop, the others rise)
    and ``drift`` (a ramp up over 12-48 points that ends abruptly).

    Parameters
    ----------
    series : int
        Number of series, >= 1.
    days : int
        Number of UTC days, >= 1.
    freq_minutes : int
        Minutes between points, in [1, 1440].
    seed : int
        Seed for ``numpy.random.default_rng``.
    anomaly_rate : float
        Target share of anomalous points, in [0, 0.2]. Reached unless the
        episodes no longer fit without overlapping.
    start : str or datetime.date
        First UTC day.

    Returns
    -------
    SyntheticDataset
        Tables ``observations`` and ``labels``: label 1 for every anomalous
        point, label 0 for a random sample of normal points away from any
        anomaly (as many as the positives, at least 1% of points), all with
        source ``"synthetic"`` and ``labeled_at`` the end of the data.
        Truth keys: ``anomalies`` (``series_id``, ``kind``, ``start``,
        ``end`` (last point, inclusive), ``points``), ``series``,
        ``freq_minutes``.

    Raises
    ------
    InvalidArgument
        If an argument is outside its range.

    Examples
    --------
    >>> metrics = make_metrics(series=5, days=7, anomaly_rate=0.02)
    >>> metrics.truth["series"][:2]
    ['host_00.cpu', 'host_00.error_rate']
    >>> metrics.tables["observations"].num_rows
    840
    """
    series = check_int("series", series, 1)
    days = check_int("days", days, 1)
    freq_minutes = check_int("freq_minutes", freq_minutes, 1)
    if freq_minutes > 1440:
        raise InvalidArgument(f"freq_minutes must be an integer in [1, 1440], got {freq_minutes!r}")
    anomaly_rate = check_range("anomaly_rate", anomaly_rate, 0.0, 0.2, open_low=False)
    origin = start_us(start)
    rng = np.random.default_rng(seed)

    points = days * 1440 // freq_minutes
    ts = origin + np.arange(points, dtype=np.int64) * freq_minutes * 60_000_000
    width = max(2, len(str((series - 1) // len(_METRIC_KINDS))))
    kinds = [_METRIC_KINDS[s % len(_METRIC_KINDS)] for s in range(series)]
    series_ids = [f"host_{s // len(_METRIC_KINDS):0{width}d}.{k}" for s, k in enumerate(kinds)]

    # Clean signal, series x points, built by broadcasting one parameter column per series.
    shapes = [_KIND_SHAPES[k] for k in kinds]
    low, high = np.array([s[0] for s in shapes]).T
    amplitude, weekend, noise, trend = (
        np.array([s[i] for s in shapes])[:, None] for i in range(1, 5)
    )
    level = rng.uniform(low, high)[:, None]
    hour = (ts % DAY_US) / HOUR_US
    phase = rng.uniform(-1.5, 1.5, (series, 1))  # hosts peak at slightly different hours
    daily = 1.0 + amplitude * np.cos(2 * np.pi * (hour - 14.0 - phase) / 24.0)
    weekly = np.where(weekday(ts) >= 5, weekend, 1.0)
    slope = trend * rng.uniform(-1.0, 1.0, (series, 1))
    elapsed_days = (ts - origin) / DAY_US
    values = level * daily * weekly * (1.0 + slope * elapsed_days)
    values = np.maximum(values + noise * level * rng.standard_normal((series, points)), 0.0)
    scale = values.std(axis=1)

    # Episodes are placed one at a time (there are few) with a gap of two
    # points, so each one is judged against a normal neighbourhood.
    anomalous = np.zeros((series, points), dtype=bool)
    anomalies = []
    target = round(anomaly_rate * series * points)
    names = list(_ANOMALY_SHAPES)
    chance = [_ANOMALY_SHAPES[k][0] for k in names]
    placed, attempts = 0, 0
    while placed < target and attempts < 20 * target + 100:
        attempts += 1
        kind = names[rng.choice(len(names), p=chance)]
        _, (shortest, longest), (small, big) = _ANOMALY_SHAPES[kind]
        # Short series get shorter episodes: none may take more than a quarter of a series.
        longest = max(min(longest, points // 4), 1)
        length = int(rng.integers(min(shortest, longest), longest + 1))
        row, begin = int(rng.integers(series)), int(rng.integers(0, points - length + 1))
        size = rng.uniform(small, big) * scale[row]
        if anomalous[row, max(begin - 2, 0) : begin + length + 2].any():
            continue
        sign = -1.0 if kind == "level_shift" and kinds[row] == "requests" else 1.0
        ramp = np.arange(1, length + 1) / length if kind == "drift" else 1.0
        window = slice(begin, begin + length)
        values[row, window] = np.maximum(values[row, window] + sign * size * ramp, 0.0)
        anomalous[row, window] = True
        placed += length
        anomalies.append(
            (series_ids[row], int(ts[begin]), int(ts[begin + length - 1]), kind, length)
        )
    anomalies.sort()  # by series, then start

    # Negatives avoid the neighbourhood of anomalies, whose label a person might dispute.
    near = anomalous.copy()
    for shift in (1, 2):
        near[:, shift:] |= anomalous[:, :-shift]
        near[:, :-shift] |= anomalous[:, shift:]
    normal = np.flatnonzero(~near.T.ravel())  # time-major positions, like the observations
    wanted = min(normal.size, max(placed, round(0.01 * series * points)))
    negatives = rng.choice(normal, size=wanted, replace=False)
    positives = np.flatnonzero(anomalous.T.ravel())
    labelled = np.concatenate([positives, negatives])
    label = np.concatenate([np.ones(positives.size, np.int8), np.zeros(wanted, np.int8)])
    order = np.argsort(labelled, kind="stable")
    labelled, label = labelled[order], label[order]

    # Observations are time-major (all series at t0, then t1 ...), the order a feed delivers.
    id_array = pa.array(series_ids, pa.string())
    series_of = np.tile(np.arange(series), points)
    observations = pa.table(
        {
            "series_id": id_array.take(pa.array(series_of)),
            "ts": timestamps(np.repeat(ts, series)),
            "value": pa.array(values.T.ravel(), pa.float64()),
        }
    )
    label_ts = ts[labelled // series]
    label_ids = np.asarray(series_ids, dtype=object)[labelled % series]
    labels = pa.table(
        {
            "target": pa.array(
                np.char.add(np.char.add(label_ids.astype(str), "@"), iso(label_ts)), pa.string()
            ),
            "series_id": pa.array(label_ids, pa.string()),
            "ts": timestamps(label_ts),
            "label": pa.array(label, pa.int8()),
            "source": pa.repeat(pa.scalar("synthetic", pa.string()), labelled.size),
            "labeled_at": timestamps(np.full(labelled.size, origin + days * DAY_US)),
        }
    )
    firsts = iso(np.array([a[1] for a in anomalies], dtype=np.int64)).tolist()
    lasts = iso(np.array([a[2] for a in anomalies], dtype=np.int64)).tolist()
    truth = {
        "anomalies": [
            {"series_id": sid, "kind": kind, "start": first, "end": last, "points": length}
            for (sid, _, _, kind, length), first, last in zip(anomalies, firsts, lasts, strict=True)
        ],
        "series": series_ids,
        "freq_minutes": freq_minutes,
    }
    return SyntheticDataset("metrics", {"observations": observations, "labels": labels}, truth)
