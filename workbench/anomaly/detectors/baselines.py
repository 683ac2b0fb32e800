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
    guarded_statistics,
    parse_window,
    series_windows,
    suffix,
    trailing_statistics,
)
from workbench.anomaly.detectors.base import Judgement, SeriesDetector
from workbench.anomaly.detectors.cadence import series_cadences
from workbench.anomaly.thresholds import SERIES_DEFAULT
from workbench.exceptions import InvalidArgument

# Scales a median absolute deviation to a standard deviation under normal noise.
MAD_TO_SD = 1.4826
_US = np.timedelta64(1, "us")
_DAY = dt.timedelta(days=1)
_NO_TIME = dt.timedelta(0)


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
    """Counts baseline: how rare a count is at the rate of the window before it.

    For series of counts (whole numbers, often small: cases a week, fallbacks an
    hour, failed logins a minute), where a Gaussian band misleads: in a mostly-zero
    window the spread is near 0, so a lone 1 scores as an enormous outlier and a real
    surge does not stand out from it. Here the expected count is the mean of the
    ``window`` that ends a ``guard`` before the point, and its variance allows for
    over-dispersion (quasi-Poisson: ``phi x mean``, with ``phi`` the window's variance
    over its mean, at least 1): a negative binomial (a Poisson when ``phi`` is 1). A
    point's score is the chance of a count at least as far from the mean, either way,
    written as standard normal deviations: a score of 3 is as rare as a 3-SD deviation
    of a Gaussian, so thresholds read alike. A window with no events is read as holding
    half of one, so the first event after a quiet spell is unusual but not infinitely so.

    The guard leaves the points just before a point out of its baseline, as outbreak
    detection does (the lag of the CDC's EARS C2 and C3): an outbreak lasting weeks is
    judged against the weeks before it began, not against its own first weeks. The
    first points of a series, with fewer than ``min_points`` before the guard, are
    judged against the window after them instead (their reason says so), so a history's
    first weeks are scored, not left in warm-up; their scores can change until that
    window has filled. Every later point is judged from its past alone.

    Parameters
    ----------
    window : str, datetime.timedelta or None
        The baseline window, e.g. ``"7d"``. None (the default) fits each series' cadence:
        a week, widened to hold 30 of its points and one whole cycle (52 weeks of a
        weekly series), so a seasonal swing does not read as a surge.
    guard : int or None
        Points just before a point left out of its baseline (0: none). None (the
        default) fits the cadence: a twelfth of the series' cycle (a month of a weekly
        series, 2 hours of an hourly one), at least 2.
    min_points : int
        Fewest points in a baseline for a point to be scored (>= 2).
    threshold : AlertBudget, FalseAlarmRate or str
        How ``fit`` sets ``threshold_`` (see :mod:`workbench.anomaly.thresholds`).

    Examples
    --------
    >>> import pandas as pd
    >>> quiet = [0, 0, 1, 0, 0, 0, 2, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0]
    >>> points = pd.DataFrame({"series_id": "fallbacks", "value": [*quiet, 6],
    ...     "ts": pd.date_range("2026-01-01", periods=22, freq="h")})
    >>> detector = CountDetector(window="1d", guard=0, min_points=12, threshold="fpr:0.01")
    >>> detector.fit(points.iloc[:-1]).predict(points).tolist()[-3:]
    [0, 0, 1]
    >>> detector.explain(points)["expected"].round(2).tolist()[-1]
    0.38
    """

    baseline_name = "the trailing rate"
    unit = "SDs"
    #: A count is never negative: the band stops at 0.
    floor = 0.0

    def __init__(self, *, window=None, guard=None, min_points=12, threshold=SERIES_DEFAULT):
        super().__init__(window=window, min_points=min_points, threshold=threshold)
        self.guard = guard

    def _check_params(self) -> None:
        super()._check_params()
        if self.guard is not None:
            _positive_int("guard", self.guard, 0)

    def _spans(self, frame: pd.DataFrame) -> tuple[dict, dict]:
        """Each series' baseline window and guard (as time spans)."""
        windows, guards = {}, {}
        for series, cadence in series_cadences(frame).items():
            if self.window is not None:
                windows[series] = parse_window("window", self.window)
            else:
                windows[series] = max(
                    cadence.span(30, least=dt.timedelta(days=7)), cadence.cycle or dt.timedelta(0)
                )
            guard = self.guard if self.guard is not None else max(2, cadence.points_per_cycle // 12)
            guards[series] = cadence.span(guard, least=dt.timedelta(0)) if guard else _NO_TIME
        return windows, guards

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
        windows, guards = self._spans(frame)
        baseline = guarded_statistics(frame, windows, guards, self.min_points)
        count = baseline["count"].fillna(0).to_numpy(dtype=int)
        short = count < self.min_points
        mean = baseline["mean"].to_numpy(dtype=float)
        rate = np.maximum(np.nan_to_num(mean), 0.5 / np.maximum(count, 1))
        variance = np.nan_to_num(baseline["std"].to_numpy(dtype=float)) ** 2
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
        ahead = baseline["ahead"].to_numpy() & ~short
        names = frame["series_id"].map({s: suffix(w) for s, w in windows.items()}).to_numpy()
        warmup = np.where(
            short,
            [
                f"only {c} point(s) in the {name} around it, needs {self.min_points}"
                for c, name in zip(count, names, strict=True)
            ],
            "",
        )
        words = np.where(ahead, "the rate after it", "")
        return Judgement(score=score, expected=expected, scale=scale, warmup=warmup, baseline=words)


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

    A cycle longer than ``min_points`` steps takes long to come in (three years of a
    weekly series). Until it has, each point with at least ``min_points`` points
    before it is judged against a robust level instead (the median and MAD of those
    points, no cycle): a weekly series is scored after 30 weeks. A series with fewer
    than ``min_history`` cycles in all (two days of an hourly series) is judged the
    same way, from two cycles or ``min_points`` points, whichever comes first.

    Parameters
    ----------
    period : str, datetime.timedelta or None
        The seasonal cycle, e.g. ``"1d"``. None (the default) fits each series'
        cadence (:mod:`~workbench.anomaly.detectors.cadence`): hourly series follow
        a daily cycle, daily series a weekly one, weekly and monthly series a yearly
        one; a series with none of these (a day of seconds is too long a cycle) is
        judged against a robust level of its last day. A series sampled fewer than
        two times per given period gets the robust level.
    history : int
        Periods of history decomposed for each block (>= 2).
    min_history : int
        Fewest periods of history for the seasonal decomposition (2 <= min_history
        <= history).
    min_points : int
        Fewest points of history for the robust level of a long cycle's first cycles,
        or of a young series (>= 2); earlier points are the warm-up and score NaN.
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
        period=None,
        history=7,
        min_history=3,
        min_points=30,
        level_window=None,
        threshold=SERIES_DEFAULT,
    ):
        self.period = period
        self.history = history
        self.level_window = level_window
        self.min_history = min_history
        self.min_points = min_points
        self.threshold = threshold

    def _check_params(self) -> None:
        if self.period is not None:
            parse_window("period", self.period)
        if self.level_window is not None:
            parse_window("level_window", self.level_window)
        history = _positive_int("history", self.history, 2)
        minimum = _positive_int("min_history", self.min_history, 2)
        _positive_int("min_points", self.min_points, 2)
        if minimum > history:
            raise InvalidArgument(
                f"min_history ({minimum}) cannot exceed history ({history}) periods."
            )

    def _periods(self, frame: pd.DataFrame) -> dict[str, tuple[dt.timedelta, bool]]:
        """Each series' block length and whether it follows a cycle."""
        if self.period is not None:
            fixed = parse_window("period", self.period)
            return dict.fromkeys(frame["series_id"].unique(), (fixed, True))
        out = {}
        for series, cadence in series_cadences(frame).items():
            if cadence.cycle is not None:
                out[series] = (cadence.cycle, True)
            else:
                # No cycle to follow: blocks of a day (or of one step, for slower series)
                # judged against the robust level of the history before them.
                step = cadence.step or _DAY
                out[series] = (max(_DAY, dt.timedelta(seconds=int(step.total_seconds()))), False)
        return out

    def _judge(self, frame: pd.DataFrame) -> Judgement:
        self._check_params()
        periods = self._periods(frame)
        rows = len(frame)
        seasonal, level, scale = np.full(rows, np.nan), np.full(rows, np.nan), np.full(rows, np.nan)
        warmup = np.full(rows, "", dtype=object)
        times = frame["ts"].to_numpy().astype("datetime64[us]").astype(np.int64)
        values = frame["value"].to_numpy(dtype=float)
        ids = frame["series_id"].to_numpy()
        recent = np.full(rows, np.nan)
        for start, stop in _series_bounds(frame):
            part = slice(start, stop)
            period, cyclic = periods[ids[start]]
            step = self._judge_series(
                times[part],
                values[part],
                period,
                cyclic,
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

    def _judge_series(
        self, ts, values, period_span, cyclic, seasonal_out, level, scale, warmup
    ) -> int:
        """Fill the per-point seasonal part, block level, spread and warm-up of one series."""
        period = int(period_span.total_seconds() * 1_000_000)
        steps = np.diff(ts)
        # Only the level window reads this whole-series spacing; blocks use their history's.
        overall_step = int(np.median(steps)) if steps.size else period
        blocks = ts // period
        # A young series (fewer than min_history cycles in all) would otherwise score
        # nothing: it is judged against a level until its cycles are in.
        young = cyclic and ts.size < self.min_history * max(round(period / overall_step), 1)
        block_starts = np.flatnonzero(np.r_[True, blocks[1:] != blocks[:-1]])
        block_stops = np.r_[block_starts[1:], ts.size]
        for first, last in zip(block_starts, block_stops, strict=True):
            begin = blocks[first] * period
            lo = np.searchsorted(ts, begin - self.history * period, side="left")
            hist_ts, hist_values = ts[lo:first], values[lo:first]
            # The sampling step comes from the history, so later points cannot change it.
            # (A series too young for that takes its overall spacing.)
            step = int(np.median(np.diff(hist_ts))) if hist_ts.size >= 2 else overall_step
            per_period = max(round(period / step), 1) if cyclic else 1
            if per_period >= 2 and hist_values.size >= self.min_history * per_period:
                block_level, profile, residual = _decompose(
                    hist_ts, hist_values, begin, step, per_period
                )
                # Each point takes the seasonal value at its phase in the last decomposed cycle.
                offset = np.rint((ts[first:last] - begin) / step).astype(np.int64)
                seasonal_out[first:last] = profile[
                    profile.size - per_period + (offset % per_period)
                ]
                level[first:last] = block_level
                center = np.median(residual)
                spread = MAD_TO_SD * np.median(np.abs(residual - center))
                scale[first:last] = floor_scale(np.array([spread]), np.array([block_level]))[0]
                continue
            if per_period < 2 or not cyclic:
                # A series sampled less than twice a given period has no cycle inside it:
                # its level is judged after min_history periods, as the cycle would have
                # been; a series with no cycle to follow, after min_points points.
                needed = max(self.min_history, 2) if cyclic else self.min_points
                if hist_values.size >= needed:
                    _robust_level(hist_values, slice(first, last), seasonal_out, level, scale)
                    continue
            elif per_period > self.min_points or young:
                # Too young for a cycle longer than min_points steps (a weekly series'
                # year), or a series with fewer cycles in all than the decomposition
                # needs: each point of the block is judged against the level of every
                # point before it, once there are two cycles or min_points of them. In an
                # older series a short cycle (an hourly series' day) is soon in, and a
                # level would flag its peaks.
                ready = max(first, lo + min(self.min_points, 2 * per_period))
                for i in range(ready, last):
                    _robust_level(values[lo:i], slice(i, i + 1), seasonal_out, level, scale)
                last = min(ready, last)
            when = np.datetime64(int(ts[first]), "us").astype("datetime64[s]")
            have = (
                "no history"
                if hist_values.size == 0
                else f"only {hist_values.size} point(s) of history"
            )
            if not cyclic:
                need = f"needs {self.min_points} points for a level"
            elif per_period <= self.min_points and not young:
                need = f"needs {self.min_history} periods of {suffix(period_span)}"
            else:
                need = (
                    f"needs {self.min_history} periods of {suffix(period_span)}, or "
                    f"{min(self.min_points, 2 * per_period)} points for a level"
                )
            warmup[first:last] = f"{have} before {when} ({need})"
        return overall_step


def _robust_level(history, rows, seasonal_out, level, scale) -> None:
    """Judge ``rows`` against the median and MAD of ``history``, with no seasonal part."""
    center = np.median(history)
    spread = MAD_TO_SD * np.median(np.abs(history - center))
    seasonal_out[rows] = 0.0
    level[rows] = center
    scale[rows] = floor_scale(np.array([spread]), np.array([center]))[0]


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
