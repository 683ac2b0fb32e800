"""Alert thresholds chosen by a budget or a false-alarm rate, never by a magic number.

A detector's score has no fixed meaning across data sets, so the cut-off is
picked from the scores the detector gave its own fit data:

- :class:`AlertBudget` ("2/1d"): about ``alerts`` alerts per series per period;
- :class:`FalseAlarmRate` ("fpr:0.001"): the share of normal points allowed above it.

:func:`parse_threshold` turns the short text forms used by notebook and CLI
parameters into these objects, and ``str()`` turns them back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re

import numpy as np
import pandas as pd

from workbench.arguments import parse_duration
from workbench.exceptions import InvalidArgument

__all__ = [
    "SERIES_DEFAULT",
    "TABULAR_DEFAULT",
    "AlertBudget",
    "FalseAlarmRate",
    "Threshold",
    "parse_threshold",
]

_BUDGET = re.compile(
    r"^\s*(?P<alerts>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*/\s*(?P<per>.+?)"
    r"(?:\s+or\s+(?P<points>[0-9]+)\s+points?)?\s*$",
    re.IGNORECASE,
)
_RATE = re.compile(r"^\s*fpr\s*:\s*(?P<rate>.+?)\s*$", re.IGNORECASE)


def _finite_scores(scores: np.ndarray) -> np.ndarray:
    values = np.asarray(scores, dtype=float).ravel()
    return values[np.isfinite(values)]


def _cut(scores: np.ndarray, allowed: int) -> float:
    """The smallest threshold with at most ``allowed`` of ``scores`` strictly above it."""
    ranked = np.sort(scores)[::-1]
    if allowed >= ranked.size:
        # Everything may alert: sit just below the lowest score.
        return float(np.nextafter(ranked[-1], -np.inf))
    return float(ranked[allowed])


def _describe_period(period: dt.timedelta) -> str:
    seconds = int(period.total_seconds())
    for unit, size in (("w", 604_800), ("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        if seconds and seconds % size == 0 and period.microseconds == 0:
            return f"{seconds // size}{unit}"
    return f"{period.total_seconds()}s"


def _series_periods(frame: pd.DataFrame, period: dt.timedelta, points: int = 0) -> float:
    """How many series x periods ``frame`` covers: each point stands for one sampling step.

    With ``points``, each series' period is widened to hold at least that many of its
    steps, so a weekly series is not allowed an alert a day.
    """
    missing = [c for c in ("series_id", "ts") if c not in frame.columns]
    if missing:
        raise InvalidArgument(
            f"An alert budget counts series and periods, so frame needs the columns series_id "
            f"and ts; it lacks {', '.join(missing)}. Pass the observations the scores came from."
        )
    ts = pd.to_datetime(frame["ts"])
    times = pd.DataFrame({"series_id": frame["series_id"].to_numpy(), "ts": ts.to_numpy()})
    spans = times.groupby("series_id", sort=False)["ts"].agg(["min", "max", "count"])
    steps = times.sort_values(["series_id", "ts"]).groupby("series_id", sort=False)["ts"].diff()
    step = steps.groupby(times["series_id"]).median().reindex(spans.index)
    # A single-point series covers one step of the typical spacing of the others.
    step = step.fillna(steps.median() if steps.notna().any() else pd.Timedelta(0))
    covered = (spans["max"] - spans["min"]) + step
    per = np.maximum(
        pd.Timedelta(period).total_seconds(), (step * points).dt.total_seconds().to_numpy()
    )
    return float((covered.dt.total_seconds().to_numpy() / per).sum())


@dataclasses.dataclass(frozen=True)
class AlertBudget:
    """At most about ``alerts`` alerts per series per period ``per``.

    Parameters
    ----------
    alerts : float
        Alerts allowed per series per period, >= 0 (0.5 means one every two periods).
    per : str or datetime.timedelta
        The period: ``"1d"``, ``"12h"``, ``"1w"``, or a timedelta.
    points : int
        If above 0, each series' period is widened to hold at least this many of its
        points: ``"1/1d or 24 points"`` allows an hourly series an alert a day and a
        weekly one an alert every 24 weeks, where ``"1/1d"`` would let every weekly
        point alert.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> frame = pd.DataFrame({"series_id": "a",
    ...                       "ts": pd.date_range("2026-01-01", periods=48, freq="h")})
    >>> scores = np.arange(48.0)
    >>> budget = AlertBudget(1, "1d")
    >>> budget.threshold(scores, frame)  # two days, so two alerts: 46 and 47
    45.0
    >>> str(budget)
    '1/1d'
    """

    alerts: float = 1.0
    per: str | dt.timedelta = "1d"
    points: int = 0

    def __post_init__(self) -> None:
        if (
            isinstance(self.points, bool)
            or not isinstance(self.points, int | np.integer)
            or self.points < 0
        ):
            raise InvalidArgument(
                f"points must be a whole number of points >= 0, got {self.points!r}."
            )
        if (
            isinstance(self.alerts, bool)
            or not isinstance(self.alerts, int | float | np.integer | np.floating)
            or not math.isfinite(self.alerts)
            or self.alerts < 0
        ):
            raise InvalidArgument(
                f"alerts must be a number of alerts >= 0 per series per period, got "
                f"{self.alerts!r}."
            )
        parse_duration(self.per, name="per")

    @property
    def period(self) -> dt.timedelta:
        """The period as a :class:`datetime.timedelta`."""
        return parse_duration(self.per, name="per").to_pytimedelta()

    def allowed(self, frame: pd.DataFrame) -> int:
        """How many alerts the budget allows over the series and time span of ``frame``."""
        return round(self.alerts * _series_periods(frame, self.period, self.points))

    def threshold(
        self, scores: np.ndarray, frame: pd.DataFrame, labels: np.ndarray | None = None
    ) -> float:
        """The score above which about the budgeted number of ``frame``'s points would alert.

        Parameters
        ----------
        scores : numpy.ndarray
            One score per row of ``frame``; NaN (not scored) is ignored.
        frame : pandas.DataFrame
            The scored points, with ``series_id`` and ``ts``; their series and time
            span give the number of series x periods.
        labels : numpy.ndarray, optional
            Ignored: a budget caps all alerts, anomalous or not.

        Returns
        -------
        float
            The threshold; ``score > threshold`` alerts.

        Raises
        ------
        InvalidArgument
            If no score is finite, or ``frame`` lacks ``series_id``/``ts``.
        """
        finite = _finite_scores(scores)
        if len(np.ravel(scores)) != len(frame):
            raise InvalidArgument(
                f"scores has {len(np.ravel(scores))} values but frame has {len(frame)} rows; "
                "pass one score per row."
            )
        if finite.size == 0:
            raise InvalidArgument(
                f"None of the {len(frame)} points has a score (all are in the warm-up), so no "
                "threshold can be set; fit on a longer history."
            )
        # The budget is over the span that was scored: a warm-up has no alerts to spend,
        # and counting it would let the scored days take its share.
        if self.alerts == 0:
            # A budget of none means no alert at all, not even a tie with the top score.
            return float("inf")
        scored = np.isfinite(np.asarray(scores, dtype=float).ravel())
        return _cut(finite, self.allowed(frame[scored]))

    def __str__(self) -> str:
        alerts = f"{self.alerts:g}"
        per = self.per if isinstance(self.per, str) else _describe_period(self.per)
        widened = f" or {self.points} points" if self.points else ""
        return f"{alerts}/{per}{widened}"


@dataclasses.dataclass(frozen=True)
class FalseAlarmRate:
    """The share of normal points allowed above the threshold.

    Parameters
    ----------
    rate : float
        In [0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> scores = np.arange(1000.0)
    >>> FalseAlarmRate(0.01).threshold(scores, None)  # ten points above it
    989.0
    >>> labels = np.where(scores >= 990, 1.0, np.nan)  # the top ten are known anomalies
    >>> labels[:500] = 0  # the first half is known normal
    >>> FalseAlarmRate(0.01).threshold(scores, None, labels)
    494.0
    """

    rate: float = 0.001

    def __post_init__(self) -> None:
        if (
            isinstance(self.rate, bool)
            or not isinstance(self.rate, int | float | np.integer | np.floating)
            or not 0 <= self.rate < 1
        ):
            raise InvalidArgument(f"rate must be a share in [0, 1), got {self.rate!r}.")

    def threshold(
        self,
        scores: np.ndarray,
        frame: pd.DataFrame | None = None,
        labels: np.ndarray | None = None,
    ) -> float:
        """The score above which a share ``rate`` of the normal points lies.

        Parameters
        ----------
        scores : numpy.ndarray
            Scores of the fit data; NaN (not scored) is ignored.
        frame : pandas.DataFrame, optional
            Unused; accepted so every threshold is called alike.
        labels : numpy.ndarray, optional
            1/0/NaN per score. When some points are known normal (0), only they
            are used; otherwise every scored point counts as normal, which holds
            when anomalies are rare.

        Returns
        -------
        float
            The threshold; ``score > threshold`` alerts.

        Raises
        ------
        InvalidArgument
            If no usable score is finite or ``labels`` does not match ``scores``.
        """
        values = np.asarray(scores, dtype=float).ravel()
        if labels is not None:
            known = np.asarray(labels, dtype=float).ravel()
            if known.shape != values.shape:
                raise InvalidArgument(
                    f"labels has {known.size} values but scores has {values.size}; pass one "
                    "label (1, 0 or NaN) per score."
                )
            if (known == 0).any():
                values = values[known == 0]
        finite = _finite_scores(values)
        if finite.size == 0:
            raise InvalidArgument(
                "None of the points has a score (all are in the warm-up), so no threshold can "
                "be set; fit on a longer history."
            )
        return _cut(finite, math.floor(self.rate * finite.size))

    def __str__(self) -> str:
        return f"fpr:{self.rate:g}"


Threshold = AlertBudget | FalseAlarmRate

#: Default of the series detectors: about one alert per series per day, or per 24 of its
#: points when they are further apart than an hour.
SERIES_DEFAULT = AlertBudget(1, "1d", points=24)
#: Default of the tabular detectors: 1% of normal cases may alert.
TABULAR_DEFAULT = FalseAlarmRate(0.01)


def parse_threshold(spec: str | AlertBudget | FalseAlarmRate) -> AlertBudget | FalseAlarmRate:
    """A threshold from its text form, as notebook and CLI parameters give it.

    Parameters
    ----------
    spec : str, AlertBudget or FalseAlarmRate
        ``"ALERTS/PERIOD"`` (``"2/1d"``, ``"1/7d"``, ``"0.5/12h"``) for an alert
        budget, ``"ALERTS/PERIOD or N points"`` (``"1/1d or 24 points"``) for one whose
        period each series widens to N of its points, ``"fpr:RATE"`` (``"fpr:0.001"``) for a false-alarm rate; an
        object is returned as is.

    Returns
    -------
    AlertBudget or FalseAlarmRate

    Raises
    ------
    InvalidArgument
        If ``spec`` is neither form.

    Examples
    --------
    >>> parse_threshold("2/1d")
    AlertBudget(alerts=2.0, per='1d', points=0)
    >>> str(parse_threshold("1/1d or 24 points"))
    '1/1d or 24 points'
    >>> parse_threshold("fpr:0.001")
    FalseAlarmRate(rate=0.001)
    """
    if isinstance(spec, AlertBudget | FalseAlarmRate):
        return spec
    if not isinstance(spec, str):
        raise InvalidArgument(
            f"A threshold is 'ALERTS/PERIOD' (e.g. '2/1d') or 'fpr:RATE' (e.g. 'fpr:0.001'), "
            f"got {spec!r}."
        )
    rate = _RATE.match(spec)
    if rate:
        try:
            value = float(rate["rate"])
        except ValueError:
            raise InvalidArgument(
                f"The rate in {spec!r} is not a number; write e.g. 'fpr:0.001'."
            ) from None
        return FalseAlarmRate(value)
    budget = _BUDGET.match(spec)
    if re.search(r"\sor\s", spec, re.IGNORECASE) and (budget is None or not budget["points"]):
        raise InvalidArgument(
            f"{spec!r}: after 'or' a budget takes a whole number of points, e.g. "
            "'1/1d or 24 points'."
        )
    if budget:
        points = int(budget["points"]) if budget["points"] else 0
        return AlertBudget(float(budget["alerts"]), budget["per"], points)
    raise InvalidArgument(
        f"A threshold is 'ALERTS/PERIOD' (e.g. '2/1d', '1/7d') or 'fpr:RATE' (e.g. "
        f"'fpr:0.001'), got {spec!r}."
    )
