"""What every series detector shares: input checks, thresholds, predict and explain.

A series detector computes, on observations sorted by series and time, one
score per point (higher = more anomalous, NaN while the series is warming up)
and, where it can, the value it expected and the scale of a normal deviation.
This base class turns that into the estimator surface: ``fit`` sets
``threshold_`` from the fit data's scores, ``score``/``predict``/``explain``
answer in the caller's row order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from workbench.anomaly.detectors._frames import check_observations, restore_order
from workbench.anomaly.thresholds import AlertBudget, FalseAlarmRate, parse_threshold
from workbench.exceptions import InvalidArgument


@dataclass
class Judgement:
    """A detector's per-point output on a sorted frame.

    ``expected`` and ``scale`` describe a band when the score is
    ``|value - expected| / scale``; otherwise they are NaN. ``warmup`` says
    why a point is not scored (empty when it is). ``baseline``, where given and not
    empty, names a point's baseline in its reason instead of the detector's
    ``baseline_name``.
    """

    score: np.ndarray
    expected: np.ndarray
    scale: np.ndarray
    warmup: np.ndarray
    detail: np.ndarray | None = None
    baseline: np.ndarray | None = None


def check_labels(y: object, rows: int) -> np.ndarray | None:
    """Labels aligned with X's rows as floats: 1, 0 or NaN (unknown)."""
    if y is None:
        return None
    labels = pd.to_numeric(pd.Series(np.asarray(y, dtype=object).ravel()), errors="coerce")
    raw = np.asarray(y, dtype=object).ravel()
    if raw.size != rows:
        raise InvalidArgument(
            f"y has {raw.size} labels but X has {rows} rows; pass one label (1, 0 or NaN) per row."
        )
    given = pd.notna(pd.Series(raw))
    values = labels.to_numpy(dtype=float)
    bad = given.to_numpy() & ~np.isin(values, (0.0, 1.0))
    if bad.any():
        raise InvalidArgument(
            f"y must hold 1 (anomalous), 0 (normal) or NaN (unknown); got e.g. "
            f"{raw[np.flatnonzero(bad)[0]]!r}."
        )
    return values


def _number(value: float) -> str:
    if not np.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 100 or value == round(value):
        # Whole numbers (counts) read as such: "13", not "13.0" beside "8".
        return f"{value:.0f}"
    if magnitude >= 1:
        return f"{value:.3g}" if magnitude < 10 else f"{value:.1f}"
    return f"{value:.3g}"


class SeriesDetector(BaseEstimator, ABC):
    """Base of the detectors that score each point of a series from its past."""

    kind = "series"
    #: Whether ``fit`` needs labels (only the supervised detectors do).
    needs_labels = False
    #: Words for the baseline in reasons, e.g. "the seasonal baseline".
    baseline_name = "the baseline"
    #: The lowest value a series can take (None: no limit); the band stops there.
    floor: float | None = None

    @abstractmethod
    def _judge(self, frame: pd.DataFrame) -> Judgement:
        """Score every point of a checked frame sorted by series and time."""

    def _learn(self, frame: pd.DataFrame, labels: np.ndarray | None) -> None:
        """Learn state from the sorted fit data before it is scored (default: nothing)."""

    def _rule(self) -> AlertBudget | FalseAlarmRate:
        return parse_threshold(self.threshold)

    def fit(self, X: pd.DataFrame, y: object = None) -> SeriesDetector:
        """Learn from observations and set ``threshold_`` from their scores.

        Parameters
        ----------
        X : pandas.DataFrame
            Observations: ``series_id``, ``ts``, ``value``, any row order.
        y : array-like, optional
            Labels aligned with ``X``'s rows: 1 anomalous, 0 normal, NaN unknown.

        Returns
        -------
        self
        """
        rule = self._rule()
        self._check_params()
        frame, order = check_observations(X)
        labels = check_labels(y, len(frame))
        sorted_labels = None if labels is None else labels[order]
        self._learn(frame, sorted_labels)
        judgement = self._judge(frame)
        self.threshold_ = max(
            float(rule.threshold(judgement.score, frame, sorted_labels)), self._lowest_threshold()
        )
        self.n_points_ = len(frame)
        self.n_warmup_ = int(np.isnan(judgement.score).sum())
        self.series_ = sorted(frame["series_id"].unique().tolist())
        return self

    def _lowest_threshold(self) -> float:
        """The threshold a budget may not go below (default: none, a budget decides alone)."""
        return float("-inf")

    def _check_params(self) -> None:
        """Validate the detector's own parameters (default: none)."""

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise InvalidArgument(
                f"This {type(self).__name__} is not fitted yet; call fit(observations) first."
            )

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """One anomaly score per row of ``X`` (higher = more anomalous; NaN = not scored).

        Each point is scored from itself and the points before it in its series,
        so scoring a longer stretch of the same series never changes earlier scores;
        the one exception is the counts detector's judging of a series' first points,
        which have too little before them, against the points after them.
        """
        self._check_fitted()
        frame, order = check_observations(X)
        return restore_order(self._judge(frame).score, order)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the score is above ``threshold_``, else 0 (points not scored give 0)."""
        scores = self.score(X)
        return np.where(np.isnan(scores), 0, scores > self.threshold_).astype(np.int8)

    def explain(self, X: pd.DataFrame) -> pd.DataFrame:
        """Score, expected value, band and a readable reason per row of ``X``.

        Returns
        -------
        pandas.DataFrame
            In ``X``'s row order: ``score``, ``expected``, ``low``, ``high`` (values
            inside ``[low, high]`` would not alert; NaN when the detector's score
            is not a distance from one expected value) and ``reason``.
        """
        self._check_fitted()
        frame, order = check_observations(X)
        judgement = self._judge(frame)
        score, expected, scale = judgement.score, judgement.expected, judgement.scale
        with np.errstate(invalid="ignore"):  # an infinite threshold (a budget of 0)
            low = expected - self.threshold_ * scale
            high = expected + self.threshold_ * scale
        if self.floor is not None:
            low = np.where(np.isnan(low), low, np.maximum(low, self.floor))
        values = frame["value"].to_numpy()
        reasons = [
            self._reason(
                values[i],
                score[i],
                expected[i],
                low[i],
                high[i],
                judgement.warmup[i],
                None if judgement.detail is None else judgement.detail[i],
                None if judgement.baseline is None else judgement.baseline[i],
            )
            for i in range(len(frame))
        ]
        out = pd.DataFrame(
            {"score": score, "expected": expected, "low": low, "high": high, "reason": reasons}
        )
        return restore_order(out, order)

    def _reason(self, value, score, expected, low, high, warmup, detail, baseline=None) -> str:
        if np.isnan(score):
            return f"not scored: {warmup}"
        if np.isfinite(expected) and not np.isnan(low):
            side = "above" if value >= expected else "below"
            verdict = "over" if score > self.threshold_ else "within"
            limit = (
                f"band {_number(low)} to {_number(high)}; {verdict} the threshold "
                f"{self.threshold_:.2f}"
                if np.isfinite(self.threshold_)
                else "the alert budget allows no alerts"
            )
            return (
                f"value {_number(value)} is {score:.1f} {self.unit} {side} "
                f"{baseline or self.baseline_name} "
                f"{_number(expected)} ({limit})"
            )
        text = self._score_text(score)
        return f"{text}; {detail}" if detail else text

    def _score_text(self, score: float) -> str:
        """A score with no band (a learned detector's), beside the threshold, in words."""
        verdict = "above" if score > self.threshold_ else "below"
        return f"score {score:.3g} is {verdict} the alert threshold {self.threshold_:.3g}"

    #: Unit of a deviation in reasons.
    unit = "SDs"
