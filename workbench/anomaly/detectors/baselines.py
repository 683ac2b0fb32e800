"""The baseline series detectors: windowed Gaussian (the reference), robust seasonal, counts.

Each scores a point as its distance from an expected value in units of a normal
deviation, so each comes with a band a person can read on a chart.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from workbench.anomaly.detectors._frames import (
    floor_scale,
    parse_window,
    series_windows,
    suffix,
    trailing_statistics,
)
from workbench.anomaly.detectors.base import Judgement, SeriesDetector
from workbench.anomaly.thresholds import SERIES_DEFAULT
from workbench.exceptions import InvalidArgument

# Scales a median absolute deviation to a standard deviation under normal noise.
MAD_TO_SD = 1.4826
_US = np.timedelta64(1, "us")


def _positive_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise InvalidArgument(f"{name} must be an integer >= {low}, got {value!r}.")
    return int(value)


def _warmup(
    frame: pd.DataFrame,
    windows: dict[str, dt.timedelta],
    count: np.ndarray,
    short: np.ndarray,
    needed: int,
) -> np.ndarray:
    """Why each warm-up point was not scored (empty for scored points)."""
    names = frame["series_id"].map({s: suffix(w) for s, w in windows.items()}).to_numpy()
    return np.where(
        short,
        [
            f"only {c} point(s) in the {name} before it, needs {needed}"
            for c, name in zip(count, names, strict=True)
        ],
        "",
    )


def _series_bounds(frame: pd.DataFrame) -> list[tuple[int, int]]:
    """Start and stop row of each series in a frame sorted by series."""
    ids = frame["series_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    stops = np.r_[starts[1:], len(ids)]
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


class _TrailingWindowDetector(SeriesDetector):
    """A detector judging each point against its series' trailing window (``window``,
    ``min_points``, ``threshold``; see :func:`series_windows` for the default window)."""

    def __init__(self, *, window=None, min_points=12, threshold=SERIES_DEFAULT):
        self.window = window
        self.min_points = min_points
        self.threshold = threshold

    def _check_params(self) -> None:
        if self.window is not None:
            parse_window("window", self.window)
        _positive_int("min_points", self.min_points, 2)


class GaussianDetector(_TrailingWindowDetector):
    """Windowed Gaussian baseline: distance from the trailing window's mean, in its SDs.

    The simple reference every other detector is measured against. A point's
    score is ``|value - mean| / std`` over the points of its series in the
    trailing ``window`` before it.

    Parameters
    ----------
    window : str, datetime.timedelta or None
        Trailing window, e.g. ``"1d"``. None (the default) fits each series' cadence:
        a day, widened to hold 24 of its points (24 days of a daily series, 24 weeks
        of a weekly one).
    min_points : int
        Fewest points in the window for a point to be scored (>= 2); earlier
        points are the warm-up and score NaN.
    threshold : AlertBudget, FalseAlarmRate or str
        How ``fit`` sets ``threshold_`` (see :mod:`workbench.anomaly.thresholds`).

    Attributes
    ----------
    threshold_ : float
        Scores above it alert.
    n_points_, n_warmup_ : int
        Points seen by ``fit`` and how many of them were not scored.

    Examples
    --------
    >>> from workbench.datasets import make_metrics
    >>> points = make_metrics(series=2, days=7, seed=1).tables["observations"].to_pandas()
    >>> detector = GaussianDetector().fit(points)
    >>> int(detector.predict(points).sum()) <= 2 * 7 + 1
    True
    """

    baseline_name = "the trailing mean"
    unit = "SDs"

    def _judge(self, frame: pd.DataFrame) -> Judgement:
        windows = series_windows(frame, self.window, least=dt.timedelta(days=1), points=24)
        stats = trailing_statistics(frame, windows)
        mean = stats["mean"].to_numpy(dtype=float)
        count = stats["count"].fillna(0).to_numpy(dtype=int)
        scale = floor_scale(stats["std"].to_numpy(dtype=float), mean)
        short = count < self.min_points
        mean, scale = np.where(short, np.nan, mean), np.where(short, np.nan, scale)
        score = np.abs(frame["value"].to_numpy(dtype=float) - mean) / scale
        return Judgement(
            score=score,
            expected=mean,
            scale=scale,
            warmup=_warmup(frame, windows, count, short, self.min_points),
        )


class CountDetector(_TrailingWindowDetector):
    """Counts baseline: how rare a count is at the trailing window's rate.

    For series of counts (whole numbers, often small: fallbacks an hour, failed
    logins a minute), where a Gaussian band misleads: in a mostly-zero window the
    spread is near 0, so a lone 1 scores as an enormous outlier and a real surge does
    not stand out from it. Here the expected count is the trailing ``window``'s mean
    and its variance allows for over-dispersion (quasi-Poisson: ``phi x mean``, with
    ``phi`` the window's variance over its mean, at least 1): a negative binomial
    (a Poisson when ``phi`` is 1). A point's score is the chance of a count at least
    as far from the mean, either way, written as standard normal deviations: a score
    of 3 is as rare as a 3-SD deviation of a Gaussian, so thresholds read alike. A
    window with no events is read as holding half of one, so the first event after a
    quiet spell is unusual but not infinitely so.

    Parameters
    ----------
    window : str, datetime.timedelta or None
        Trailing window, e.g. ``"7d"``. None (the default) fits each series' cadence:
        a week, widened to hold 30 of its points.
    min_points : int
        Fewest points in the window for a point to be scored (>= 2); earlier
        points are the warm-up and score NaN.
    threshold : AlertBudget, FalseAlarmRate or str
        How ``fit`` sets ``threshold_`` (see :mod:`workbench.anomaly.thresholds`).

    Examples
    --------
    >>> import pandas as pd
    >>> quiet = [0, 0, 1, 0, 0, 0, 2, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0]
    >>> points = pd.DataFrame({"series_id": "fallbacks", "value": [*quiet, 6],
    ...     "ts": pd.date_range("2026-01-01", periods=22, freq="h")})
    >>> detector = CountDetector(window="1d", min_points=12, threshold="fpr:0.01")
    >>> detector.fit(points.iloc[:-1]).predict(points).tolist()[-3:]
    [0, 0, 1]
    >>> detector.explain(points)["expected"].round(2).tolist()[-1]
    0.38
    """

    baseline_name = "the trailing rate"
    unit = "SDs"

    def _judge(self, frame: pd.DataFrame) -> Judgement:
        from scipy import stats

        values = frame["value"].to_numpy(dtype=float)
        odd = np.isfinite(values) & ((values < 0) | (values != np.round(values)))
        if odd.any():
            at = int(np.flatnonzero(odd)[0])
            raise InvalidArgument(
                f"The counts detector scores counts (whole numbers, 0 or more), but "
                f"{frame['series_id'].iloc[at]} holds {values[at]:g} at "
                f"{pd.Timestamp(frame['ts'].iloc[at]).isoformat()}; use 'gaussian' for "
                "rates and measurements."
            )
        windows = series_windows(frame, self.window, least=dt.timedelta(days=7), points=30)
        trailing = trailing_statistics(frame, windows)
        count = trailing["count"].fillna(0).to_numpy(dtype=int)
        short = count < self.min_points
        mean = trailing["mean"].to_numpy(dtype=float)
        rate = np.maximum(np.nan_to_num(mean), 0.5 / np.maximum(count, 1))
        variance = np.nan_to_num(trailing["std"].to_numpy(dtype=float)) ** 2
        phi = np.maximum(variance / rate, 1.0)
        # A negative binomial with this mean and variance phi x mean; phi 1 is a Poisson.
        poisson = phi <= 1.0 + 1e-9
        size = np.where(poisson, 1.0, rate / np.where(poisson, 1.0, phi - 1.0))
        chance = 1.0 / phi
        above = np.where(
            poisson, stats.poisson.sf(values - 1, rate), stats.nbinom.sf(values - 1, size, chance)
        )
        below = np.where(
            poisson, stats.poisson.cdf(values, rate), stats.nbinom.cdf(values, size, chance)
        )
        score = np.maximum(stats.norm.isf(np.minimum(above, below)), 0.0)
        score = np.where(short | np.isnan(values), np.nan, score)
        expected = np.where(short, np.nan, rate)
        scale = np.where(short, np.nan, np.sqrt(phi * rate))
        warmup = _warmup(frame, windows, count, short, self.min_points)
        return Judgement(score=score, expected=expected, scale=scale, warmup=warmup)


class SeasonalDetector(SeriesDetector):
    """Robust seasonal baseline: decomposition residual scaled by its median absolute deviation.

    Time is cut into blocks of one ``period`` (aligned to the epoch, so a
    scheduled scan and a replay cut alike). For each block, a seasonal
    decomposition of the ``history`` periods before it (statsmodels' moving-average
    trend, a per-phase median seasonal profile) gives the expected value of each
    point in the block (the last cycle's level plus the seasonal component at the
    same phase) and the normal spread (1.4826 x the median absolute deviation of
    the residuals). A point's score is
    ``|value - expected| / spread``: robust standard deviations. Points see
    only the history before their block, so the score is causal.

    Parameters
    ----------
    period : str or datetime.timedelta
        The seasonal cycle, e.g. ``"1d"``. A series sampled fewer than two
        times per period gets a robust level instead (median and MAD of the history).
    history : int
        Periods of history decomposed for each block (>= 2).
    min_history : int
        Fewest periods of history for a point to be scored (2 <= min_history
        <= history); earlier points are the warm-up and score NaN.
    level_window : str, datetime.timedelta or None
        If set (e.g. ``"6h"``), the level follows the median deseasonalized value
        of this trailing window instead of staying at the last cycle's level for
        the whole block: fewer false alarms on series whose level moves within a
        period, but long anomalies (level shifts, drifts) are absorbed sooner.
    threshold : AlertBudget, FalseAlarmRate or str
        How ``fit`` sets ``threshold_``.

    Attributes
    ----------
    threshold_ : float
        Scores above it alert.
    n_points_, n_warmup_ : int
        Points seen by ``fit`` and how many of them were not scored.

    Examples
    --------
    >>> from workbench.datasets import make_metrics
    >>> points = make_metrics(series=2, days=7, seed=1).tables["observations"].to_pandas()
    >>> detector = SeasonalDetector().fit(points)
    >>> detector.explain(points)["reason"].iloc[0]
    'not scored: no history before 2026-01-01T00:00:00 (needs 3 periods of 1d)'
    """

    baseline_name = "the seasonal baseline"
    unit = "robust SDs"

    def __init__(
        self,
        *,
        period="1d",
        history=7,
        min_history=3,
        level_window=None,
        threshold=SERIES_DEFAULT,
    ):
        self.period = period
        self.history = history
        self.level_window = level_window
        self.min_history = min_history
        self.threshold = threshold

    def _check_params(self) -> None:
        parse_window("period", self.period)
        if self.level_window is not None:
            parse_window("level_window", self.level_window)
        history = _positive_int("history", self.history, 2)
        minimum = _positive_int("min_history", self.min_history, 2)
        if minimum > history:
            raise InvalidArgument(
                f"min_history ({minimum}) cannot exceed history ({history}) periods."
            )

    def _judge(self, frame: pd.DataFrame) -> Judgement:
        self._check_params()
        period = int(parse_window("period", self.period).total_seconds() * 1_000_000)
        rows = len(frame)
        seasonal, level, scale = np.full(rows, np.nan), np.full(rows, np.nan), np.full(rows, np.nan)
        warmup = np.full(rows, "", dtype=object)
        times = frame["ts"].to_numpy().astype("datetime64[us]").astype(np.int64)
        values = frame["value"].to_numpy(dtype=float)
        recent = np.full(rows, np.nan)
        for start, stop in _series_bounds(frame):
            part = slice(start, stop)
            step = self._judge_series(
                times[part],
                values[part],
                period,
                seasonal[part],
                level[part],
                scale[part],
                warmup[part],
            )
            if self.level_window is not None:
                recent[part] = _recent_level(
                    times[part], values[part] - seasonal[part], self.level_window, step
                )
        # The level follows the recent deseasonalized points when there are any, so a
        # weekend or a slow trend does not read as an anomaly for a whole period.
        level = np.where(np.isnan(recent) | np.isnan(level), level, recent)
        expected = level + seasonal
        score = np.abs(values - expected) / scale
        return Judgement(score=score, expected=expected, scale=scale, warmup=warmup)

    def _judge_series(self, ts, values, period, seasonal_out, level, scale, warmup) -> int:
        """Fill the per-point seasonal part, block level, spread and warm-up of one series."""
        steps = np.diff(ts)
        # Only the level window reads this whole-series spacing; blocks use their history's.
        overall_step = int(np.median(steps)) if steps.size else period
        blocks = ts // period
        block_starts = np.flatnonzero(np.r_[True, blocks[1:] != blocks[:-1]])
        block_stops = np.r_[block_starts[1:], ts.size]
        for first, last in zip(block_starts, block_stops, strict=True):
            begin = blocks[first] * period
            lo = np.searchsorted(ts, begin - self.history * period, side="left")
            hist_ts, hist_values = ts[lo:first], values[lo:first]
            # The sampling step comes from the history, so later points cannot change it.
            step = int(np.median(np.diff(hist_ts))) if hist_ts.size >= 2 else period
            per_period = max(round(period / step), 1)
            needed = max(self.min_history * per_period, 2)
            if hist_values.size < needed:
                when = np.datetime64(int(ts[first]), "us").astype("datetime64[s]")
                have = (
                    "no history"
                    if hist_values.size == 0
                    else (f"only {hist_values.size} point(s) of history")
                )
                warmup[first:last] = (
                    f"{have} before {when} (needs {self.min_history} periods of "
                    f"{suffix(parse_window('period', self.period))})"
                )
                continue
            if per_period < 2:
                center = np.median(hist_values)
                spread = MAD_TO_SD * np.median(np.abs(hist_values - center))
                seasonal_out[first:last] = 0.0
                level[first:last] = center
                scale[first:last] = floor_scale(np.array([spread]), np.array([center]))[0]
                continue
            block_level, profile, residual = _decompose(
                hist_ts, hist_values, begin, step, per_period
            )
            # Each point takes the seasonal value at its phase in the last decomposed cycle.
            offset = np.rint((ts[first:last] - begin) / step).astype(np.int64)
            seasonal_out[first:last] = profile[profile.size - per_period + (offset % per_period)]
            level[first:last] = block_level
            center = np.median(residual)
            spread = MAD_TO_SD * np.median(np.abs(residual - center))
            scale[first:last] = floor_scale(np.array([spread]), np.array([block_level]))[0]
        return overall_step


def _recent_level(ts, deseasonalized, window, step) -> np.ndarray:
    """Median of the deseasonalized points in the trailing ``window`` before each point."""
    points = max(round(parse_window("level_window", window).total_seconds() * 1e6 / step), 1)
    series = pd.Series(deseasonalized)
    return series.rolling(points, min_periods=1).median().shift(1).to_numpy()


def _decompose(ts, values, end, step, per_period):
    """Robust seasonal decomposition of the history on a regular grid ending before ``end``.

    The trend is statsmodels' centred moving average (``seasonal_decompose``,
    extrapolated at the ends); the seasonal component is the median over cycles
    of each phase's detrended value, so one anomaly in the history barely moves
    it. Returns the level of the last cycle (its median deseasonalized value),
    the seasonal component (grid order) and the residuals.
    """
    from statsmodels.tsa.seasonal import seasonal_decompose

    cells = int((end - ts[0]) // step)
    cells = max(cells - cells % per_period, 2 * per_period)
    grid = end - step * np.arange(cells, 0, -1, dtype=np.int64)
    position = np.rint((ts - grid[0]) / step).astype(np.int64)
    inside = (position >= 0) & (position < cells)
    regular = np.full(cells, np.nan)
    regular[position[inside]] = values[inside]
    known = np.flatnonzero(~np.isnan(regular))
    # Gaps in the history are bridged linearly so the decomposition sees a regular series.
    regular = np.interp(np.arange(cells), known, regular[known])
    trend = seasonal_decompose(
        regular, model="additive", period=per_period, extrapolate_trend="period"
    ).trend
    profile = np.median((regular - trend).reshape(-1, per_period), axis=0)
    seasonal = np.tile(profile - profile.mean(), cells // per_period)
    residual = regular - trend - seasonal
    level = float(np.median(regular[-per_period:] - seasonal[-per_period:]))
    return level, seasonal, residual
