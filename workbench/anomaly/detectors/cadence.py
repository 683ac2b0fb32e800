"""A series' cadence: how often it is sampled, and which seasonal cycle it can show.

Real series come at every pace: sensor readings by the second, system metrics by
the minute or hour, business KPIs by the day, counts by the week. A default
written in time ("a window of one day") fits one of them and leaves the others in
warm-up. The detectors' defaults are written in points and cycles of each
series' own cadence instead, read from its timestamps:

- the **step** is the median spacing of its points;
- the **cycle** is the shortest of a day, a week and a year (52 weeks) that holds
  at least :data:`MIN_CYCLE_POINTS` steps: hourly series repeat daily, daily
  series weekly, weekly and monthly series yearly. A cycle of more than
  :data:`MAX_CYCLE_POINTS` steps (a day of seconds) is not followed: it is too long
  to decompose and rarely what such a series repeats.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd

#: The cycles a series may follow, shortest first.
CYCLES = (dt.timedelta(days=1), dt.timedelta(days=7), dt.timedelta(weeks=52))
#: Fewest steps in a cycle for it to be followed (a day of 6-hourly points).
MIN_CYCLE_POINTS = 4
#: Most steps in a cycle for it to be followed (a day of minutes is 1,440).
MAX_CYCLE_POINTS = 2_000
#: A spacing this many steps long or longer is a gap.
GAP_STEPS = 1.5

_NAMES = {
    dt.timedelta(seconds=1): "every second",
    dt.timedelta(minutes=1): "every minute",
    dt.timedelta(hours=1): "hourly",
    dt.timedelta(days=1): "daily",
    dt.timedelta(days=7): "weekly",
}
_CYCLE_NAMES = {CYCLES[0]: "daily", CYCLES[1]: "weekly", CYCLES[2]: "yearly"}


@dataclasses.dataclass(frozen=True)
class Cadence:
    """How one series is sampled.

    Attributes
    ----------
    step : datetime.timedelta or None
        The median spacing of its points; None with fewer than two points.
    cycle : datetime.timedelta or None
        The seasonal cycle it can show (see the module's rule), or None.
    points : int
        Its points.
    gaps : int
        Spacings of :data:`GAP_STEPS` steps or more.
    """

    step: dt.timedelta | None
    cycle: dt.timedelta | None
    points: int
    gaps: int

    def span(self, points: int, *, least: dt.timedelta) -> dt.timedelta:
        """``points`` steps of this cadence, never less than ``least`` (whole seconds)."""
        if self.step is None:
            return least
        wanted = dt.timedelta(seconds=int((self.step * points).total_seconds()))
        return max(least, wanted)

    @property
    def points_per_cycle(self) -> int:
        """Steps in one cycle (0 without a cycle)."""
        if self.cycle is None or self.step is None:
            return 0
        return round(self.cycle / self.step)

    def describe(self) -> str:
        """In words: ``"weekly (yearly cycle of 52 points)"``."""
        if self.step is None:
            return f"{self.points} point(s), too few to tell its spacing"
        pace = _NAMES.get(self.step) or f"every {_words(self.step)}"
        cycle = (
            f"{_CYCLE_NAMES[self.cycle]} cycle of {self.points_per_cycle} points"
            if self.cycle is not None
            else "no daily, weekly or yearly cycle to follow"
        )
        gaps = f", {self.gaps} gap(s)" if self.gaps else ""
        return f"{pace} ({cycle}{gaps})"


def _words(span: dt.timedelta) -> str:
    seconds = int(span.total_seconds())
    for unit, size in (("week", 604_800), ("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return f"{span.total_seconds():g} seconds"


def cycle_for(step: dt.timedelta | None) -> dt.timedelta | None:
    """The cycle a series sampled every ``step`` follows (see the module's rule)."""
    if step is None or step <= dt.timedelta(0):
        return None
    for cycle in CYCLES:
        points = cycle / step
        if points >= MIN_CYCLE_POINTS:
            return cycle if points <= MAX_CYCLE_POINTS else None
    return None


def infer_cadence(ts: pd.Series | np.ndarray) -> Cadence:
    """The cadence of one series from its timestamps (any order).

    Examples
    --------
    >>> import pandas as pd
    >>> infer_cadence(pd.date_range("2026-01-05", periods=104, freq="7D")).describe()
    'weekly (yearly cycle of 52 points)'
    >>> infer_cadence(pd.date_range("2026-01-01", periods=48, freq="h")).cycle
    datetime.timedelta(days=1)
    """
    stamps = pd.to_datetime(pd.Series(ts), utc=True).dt.tz_localize(None)
    times = np.sort(stamps.to_numpy().astype("datetime64[us]"))
    spacing = np.diff(times)
    spacing = spacing[spacing > np.timedelta64(0, "us")]
    if spacing.size == 0:
        return Cadence(step=None, cycle=None, points=int(times.size), gaps=0)
    step = pd.Timedelta(np.median(spacing)).to_pytimedelta()
    gaps = int((spacing >= np.timedelta64(step) * GAP_STEPS).sum())
    return Cadence(step=step, cycle=cycle_for(step), points=int(times.size), gaps=gaps)


def series_cadences(frame: pd.DataFrame) -> dict[str, Cadence]:
    """The cadence of every series of observations (``series_id``, ``ts``)."""
    return {
        series: infer_cadence(part["ts"]) for series, part in frame.groupby("series_id", sort=False)
    }


#: The shortest history a scan fits a series' detector on by default.
LEAST_HISTORY = dt.timedelta(days=14)


def default_history(cadence: Cadence) -> dt.timedelta:
    """The history a scan fits a series' detector on by default: two weeks, widened to
    60 of its points and to three of its cycles (what the seasonal baseline decomposes).

    An hourly series gets 14 days, a daily one 60 days, a weekly one 156 weeks.
    """
    span = cadence.span(60, least=LEAST_HISTORY)
    if cadence.cycle is not None:
        span = max(span, 3 * cadence.cycle)
    return span


def spread_cadence(first: dt.datetime, last: dt.datetime, points: int) -> Cadence:
    """A series' cadence from its first and last time and its number of points (the mean
    spacing), when reading every timestamp would cost more than it tells."""
    if points < 2 or last <= first:
        return Cadence(step=None, cycle=None, points=int(points), gaps=0)
    step = dt.timedelta(seconds=round((last - first).total_seconds() / (points - 1)))
    return Cadence(step=step, cycle=cycle_for(step), points=int(points), gaps=0)
