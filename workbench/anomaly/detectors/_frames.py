"""Checking detector inputs, and the trailing-window features every series detector reads.

Observations arrive in any row order; detectors work on a copy sorted by
series and time and hand results back in the caller's order. Window features
come from :func:`workbench.features.series_rolling_features` (an Ibis
expression) executed on an in-memory DuckDB connection, so the detectors and
the feature tables of the store compute "the trailing window" the same way.
"""

from __future__ import annotations

import datetime as dt
import functools

import numpy as np
import pandas as pd

from workbench.anomaly.detectors.cadence import series_cadences
from workbench.arguments import parse_duration
from workbench.exceptions import InvalidArgument

SERIES_COLUMNS = ("series_id", "ts", "value")
#: Trailing windows of :func:`window_features`, as suffixes of its columns.
DEFAULT_WINDOWS = ("1d", "7d")
# A window's standard deviation is floored at this share of its mean's size (and at
# _TINY), so a flat series still gives finite scores when it finally moves.
_RELATIVE_FLOOR = 1e-6
_TINY = 1e-12


def _is_text(series: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)


def check_observations(X: object, *, argument: str = "X") -> tuple[pd.DataFrame, np.ndarray]:
    """Validate an observations frame; return it sorted by series and time, and the row order.

    Returns
    -------
    frame : pandas.DataFrame
        ``series_id`` (str), ``ts`` (naive UTC datetime64), ``value`` (float64), sorted
        by series then time, with a fresh index.
    order : numpy.ndarray
        ``frame``'s row ``i`` is the caller's row ``order[i]``.
    """
    if not isinstance(X, pd.DataFrame):
        raise InvalidArgument(
            f"{argument} must be a pandas DataFrame of observations with columns "
            f"series_id, ts, value; got {type(X).__name__}. Load one with "
            "store.table('observations').to_pandas()."
        )
    missing = [c for c in SERIES_COLUMNS if c not in X.columns]
    if missing:
        raise InvalidArgument(
            f"{argument} lacks the column(s) {', '.join(missing)}; observations need "
            f"series_id, ts and value, and it has {', '.join(map(str, X.columns)) or 'none'}."
        )
    if X.empty:
        raise InvalidArgument(
            f"{argument} has no rows; pass at least one series with some history."
        )
    series_id = X["series_id"]
    if series_id.isna().any():
        raise InvalidArgument(
            f"{argument}.series_id is missing on {int(series_id.isna().sum())} row(s); "
            "every point must name its series."
        )
    value = X["value"]
    if _is_text(value) or pd.api.types.is_bool_dtype(value):
        numeric = pd.to_numeric(value, errors="coerce")
        bad = value[numeric.isna() & value.notna()]
        example = bad.iloc[0] if len(bad) else value.iloc[0]
        raise InvalidArgument(
            f"{argument}.value must be numeric, got dtype {value.dtype} with e.g. {example!r} "
            "in it; convert it (and drop or fix the rows that are not numbers) first."
        )
    if not pd.api.types.is_numeric_dtype(value):
        raise InvalidArgument(f"{argument}.value must be numeric, got dtype {value.dtype}.")
    value = value.astype("float64")
    if not np.isfinite(value.to_numpy()).all():
        bad = int((~np.isfinite(value.to_numpy())).sum())
        raise InvalidArgument(
            f"{argument}.value has {bad} missing or infinite value(s); a detector cannot "
            "judge a point it cannot see. Drop those rows, or fill them, before scoring."
        )
    ts = X["ts"]
    if not pd.api.types.is_datetime64_any_dtype(ts):
        raise InvalidArgument(
            f"{argument}.ts must be a datetime column, got dtype {ts.dtype}; convert it with "
            "pandas.to_datetime(frame['ts'], utc=True)."
        )
    if isinstance(ts.dtype, pd.DatetimeTZDtype):
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    if ts.isna().any():
        raise InvalidArgument(
            f"{argument}.ts is missing on {int(ts.isna().sum())} row(s); every point needs a time."
        )
    frame = pd.DataFrame(
        {
            "series_id": series_id.astype(str).to_numpy(),
            "ts": ts.to_numpy().astype("datetime64[us]"),
            "value": value.to_numpy(),
        }
    )
    order = np.lexsort((frame["ts"].to_numpy(), frame["series_id"].to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    repeated = frame.duplicated(["series_id", "ts"])
    if repeated.any():
        first = frame.loc[repeated].iloc[0]
        raise InvalidArgument(
            f"{argument} has {int(repeated.sum())} repeated (series_id, ts) point(s), e.g. "
            f"{first['series_id']!r} at {first['ts']}; keep one value per series and time."
        )
    return frame, order


def restore_order(values: np.ndarray | pd.DataFrame, order: np.ndarray):
    """Put per-row results computed on the sorted frame back in the caller's row order."""
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    if isinstance(values, pd.DataFrame):
        return values.iloc[inverse].reset_index(drop=True)
    return np.asarray(values)[inverse]


def parse_window(name: str, window: str | dt.timedelta) -> dt.timedelta:
    """A positive window such as ``"1d"``, ``"6h"`` or a timedelta, in whole seconds."""
    duration = parse_duration(window, name=name).to_pytimedelta()
    if duration.microseconds or duration.total_seconds() < 1:
        raise InvalidArgument(f"{name} must be a whole number of seconds, got {window!r}.")
    return duration


def suffix(duration: dt.timedelta) -> str:
    """The column suffix :func:`series_rolling_features` gives a window."""
    from workbench.features.helpers import duration_suffix

    return duration_suffix(duration)


def floor_scale(std: np.ndarray, center: np.ndarray) -> np.ndarray:
    """A spread safe to divide by: tiny or zero spreads are raised to a small floor."""
    floor = np.maximum(np.abs(center) * _RELATIVE_FLOOR, _TINY)
    return np.where(np.isnan(std), np.nan, np.maximum(np.nan_to_num(std), floor))


@functools.cache
def _memory():
    """The process's in-memory DuckDB database the window features run on."""
    import duckdb

    return duckdb.connect()


@functools.cache
def _rolling_sql(windows: tuple[dt.timedelta, ...]) -> str:
    """The SQL of the rolling statistics over a table ``points``, compiled once per windows.

    A scan scores series one by one; compiling the Ibis expression for each cost more
    than running it.
    """
    import ibis

    from workbench.features import series_rolling_features

    points = ibis.table(
        {"series_id": "string", "ts": "timestamp(6)", "value": "float64"}, name="points"
    )
    return ibis.to_sql(series_rolling_features(points, windows=list(windows)), dialect="duckdb")


def rolling_statistics(frame: pd.DataFrame, windows: tuple[dt.timedelta, ...]) -> pd.DataFrame:
    """Trailing mean/std/min/max/count per point of a sorted frame, the point excluded.

    Runs :func:`workbench.features.series_rolling_features` on an in-memory
    DuckDB connection and aligns the result with ``frame``'s rows.
    """
    import pyarrow as pa

    points = pa.Table.from_pandas(frame[["series_id", "ts", "value"]], preserve_index=False)
    # A cursor of one in-memory database: opening a database per call cost more than the
    # query on a scan's short series. Each cursor sees only what it registered.
    con = _memory().cursor()
    try:
        con.register("points", points)
        stats = con.execute(_rolling_sql(tuple(windows))).df()
    finally:
        con.close()
    stats = stats.rename(columns={"feature_ts": "ts"})
    stats["ts"] = stats["ts"].to_numpy().astype("datetime64[us]")
    merged = frame[["series_id", "ts"]].merge(stats, on=["series_id", "ts"], how="left")
    return merged.drop(columns=["series_id", "ts"])


def series_windows(
    frame: pd.DataFrame, window: str | dt.timedelta | None, *, least: dt.timedelta, points: int
) -> dict[str, dt.timedelta]:
    """Each series' trailing window: ``window`` when given, else one that fits its cadence.

    Without a window, a series gets ``least``, widened to hold ``points`` of its own
    sampling interval (the median spacing of its points): an hourly series keeps a day,
    a daily one gets ``points`` days, a weekly one ``points`` weeks. So one default
    scores minutes, days and weeks alike instead of leaving a slow series in warm-up.
    """
    if window is not None:
        fixed = parse_window("window", window)
        return dict.fromkeys(frame["series_id"].unique(), fixed)
    return {
        series: cadence.span(points, least=least)
        for series, cadence in series_cadences(frame).items()
    }


def trailing_statistics(frame: pd.DataFrame, windows: dict[str, dt.timedelta]) -> pd.DataFrame:
    """Trailing ``mean``, ``std`` and ``count`` per point of a sorted frame, each series
    over its own window (see :func:`series_windows`), the point excluded."""
    out = pd.DataFrame(np.nan, index=range(len(frame)), columns=["mean", "std", "count"])
    by_window: dict[dt.timedelta, list[str]] = {}
    for series, window in windows.items():
        by_window.setdefault(window, []).append(series)
    for window, ids in by_window.items():
        rows = np.flatnonzero(frame["series_id"].isin(ids).to_numpy())
        part = frame.iloc[rows]
        name = suffix(window)
        stats = rolling_statistics(part, (window,))
        for column in ("mean", "std", "count"):
            out.loc[rows, column] = stats[f"{column}_{name}"].to_numpy(dtype=float)
    return out


def _lagged(frame: pd.DataFrame, lag: dt.timedelta) -> np.ndarray:
    """Each point's series value exactly ``lag`` earlier, NaN when there is none."""
    earlier = frame[["series_id", "ts", "value"]].copy()
    earlier["ts"] = earlier["ts"] + pd.Timedelta(lag)
    merged = frame[["series_id", "ts"]].merge(earlier, on=["series_id", "ts"], how="left")
    return merged["value"].to_numpy(dtype=float)


def sorted_window_features(
    frame: pd.DataFrame, windows: tuple[dt.timedelta, ...] | None = None
) -> pd.DataFrame:
    """:func:`window_features` of a frame already checked and sorted."""
    if windows is None:
        windows = tuple(parse_window("window", w) for w in DEFAULT_WINDOWS)
    windows = tuple(sorted(set(windows)))
    stats = rolling_statistics(frame, windows)
    value = frame["value"].to_numpy(dtype=float)
    out = {"value": value}
    for window in windows:
        name = suffix(window)
        mean = stats[f"mean_{name}"].to_numpy(dtype=float)
        std = stats[f"std_{name}"].to_numpy(dtype=float)
        low = stats[f"min_{name}"].to_numpy(dtype=float)
        high = stats[f"max_{name}"].to_numpy(dtype=float)
        count = stats[f"count_{name}"].fillna(0).to_numpy(dtype=float)
        scale = floor_scale(std, mean)
        out[f"mean_{name}"] = mean
        out[f"std_{name}"] = std
        out[f"min_{name}"] = low
        out[f"max_{name}"] = high
        out[f"count_{name}"] = count
        out[f"z_{name}"] = (value - mean) / scale
        # Where the value sits against the window's range, in window spreads: 0 inside it.
        out[f"beyond_{name}"] = (np.maximum(value - high, 0) - np.maximum(low - value, 0)) / scale
    longest, shortest = suffix(windows[-1]), suffix(windows[0])
    scale = floor_scale(out[f"std_{longest}"], out[f"mean_{longest}"])
    previous = frame.groupby("series_id", sort=False)["value"].shift(1).to_numpy(dtype=float)
    out["step_z"] = (value - previous) / scale
    # The same time one cycle (the shortest window) earlier: a cheap seasonal difference.
    out[f"lag_{shortest}_z"] = (value - _lagged(frame, windows[0])) / scale
    return pd.DataFrame(out)


def window_features(X: pd.DataFrame, *, windows=DEFAULT_WINDOWS) -> pd.DataFrame:
    """Per-point features of each series' trailing windows, in ``X``'s row order.

    Every feature of a point is computed from the points of its series strictly
    before it (and the point's own value), so features of the past never change
    when later points arrive.

    Parameters
    ----------
    X : pandas.DataFrame
        Observations: ``series_id``, ``ts``, ``value``, any row order.
    windows : sequence of str or timedelta
        Trailing windows, e.g. ``("1d", "7d")``.

    Returns
    -------
    pandas.DataFrame
        ``value``; per window ``W``: ``mean_W``, ``std_W``, ``min_W``, ``max_W``,
        ``count_W`` (from :func:`workbench.features.series_rolling_features`),
        ``z_W`` (value minus the mean, in standard deviations) and ``beyond_W``
        (how far outside the window's min-max range, in standard deviations);
        then ``step_z`` (change from the previous point) and ``lag_W_z`` (change
        from the same time one shortest window earlier), both in standard
        deviations of the longest window. NaN where the history is too short.

    Raises
    ------
    InvalidArgument
        If ``X`` is not a valid observations frame or a window is not a duration.

    Examples
    --------
    >>> import pandas as pd
    >>> points = pd.DataFrame({"series_id": "a",
    ...                        "ts": pd.date_range("2026-01-01", periods=4, freq="h"),
    ...                        "value": [1.0, 3.0, 2.0, 9.0]})
    >>> window_features(points, windows=["1d"])[["mean_1d", "count_1d", "step_z"]]
       mean_1d  count_1d    step_z
    0      NaN       0.0       NaN
    1      1.0       1.0       NaN
    2      2.0       2.0 -0.707107
    3      2.0       3.0  7.000000
    """
    frame, order = check_observations(X)
    if isinstance(windows, str | dt.timedelta):
        windows = [windows]
    parsed = tuple(parse_window("each window", w) for w in windows)
    if not parsed:
        raise InvalidArgument("windows must hold at least one window, e.g. ('1d', '7d').")
    return restore_order(sorted_window_features(frame, parsed), order)


def guarded_statistics(
    frame: pd.DataFrame,
    windows: dict[str, dt.timedelta],
    guards: dict[str, dt.timedelta],
    min_points: int,
) -> pd.DataFrame:
    """Per point of a sorted frame, ``mean``, ``std`` and ``count`` of its series' values
    in the window that ends a guard before it: ``[ts - guard - window, ts - guard)``.

    The guard keeps the points just before a point out of its baseline, so a surge that
    lasts several points does not raise its own baseline (the lag of the CDC's EARS C2
    and C3 methods). A point with fewer than ``min_points`` there, at the start of its
    series, is judged against the window after it, ``(ts + guard, ts + guard + window]``,
    instead: the first weeks of a history are then scored rather than left unscored;
    ``ahead`` marks those points (their figures can change until that window fills).
    Missing values count in neither window.
    """
    size = len(frame)
    out = {name: np.full(size, np.nan) for name in ("mean", "std", "count")}
    ahead = np.zeros(size, dtype=bool)
    ids = frame["series_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if size else np.array([], int)
    stops = np.r_[starts[1:], size]
    ts = frame["ts"].to_numpy().astype("datetime64[us]").astype(np.int64)
    values = frame["value"].to_numpy(dtype=float)
    for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
        series = ids[start]
        window = int(windows[series] / dt.timedelta(microseconds=1))
        guard = int(guards[series] / dt.timedelta(microseconds=1))
        t, v = ts[start:stop], values[start:stop]
        known = np.isfinite(v)
        # Centred sums: the variance from sums of squares keeps its precision.
        centre = v[known].mean() if known.any() else 0.0
        shifted = np.where(known, v - centre, 0.0)
        sums = [np.r_[0.0, np.cumsum(part)] for part in (known, shifted, shifted**2)]

        def summed(lo: np.ndarray, hi: np.ndarray, sums=sums) -> list[np.ndarray]:
            return [total[hi] - total[lo] for total in sums]

        before = summed(
            np.searchsorted(t, t - guard - window, "left"), np.searchsorted(t, t - guard, "left")
        )
        after = summed(
            np.searchsorted(t, t + guard, "right"), np.searchsorted(t, t + guard + window, "right")
        )
        forward = before[0] < min_points
        count, total, squares = (
            np.where(forward, a, b) for b, a in zip(before, after, strict=True)
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / count
            variance = (squares - count * mean**2) / (count - 1)
        out["mean"][start:stop] = np.where(count > 0, mean + centre, np.nan)
        out["std"][start:stop] = np.where(count > 1, np.sqrt(np.maximum(variance, 0.0)), np.nan)
        out["count"][start:stop] = count
        ahead[start:stop] = forward
    return pd.DataFrame({**out, "ahead": ahead})
