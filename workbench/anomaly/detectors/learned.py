"""Series detectors that learn from window features: Isolation Forest and a supervised model.

Both read the trailing-window features of :func:`window_features` that are free
of each series' scale (deviations in standard deviations), so one model serves
series of very different levels. Their scores are not distances from one
expected value, so they report the trailing mean as the expectation, no band,
and name the features that deviate most instead.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict

import numpy as np
import pandas as pd

from workbench.anomaly.detectors._frames import (
    DEFAULT_WINDOWS,
    parse_window,
    sorted_window_features,
    suffix,
)
from workbench.anomaly.detectors.base import Judgement, SeriesDetector
from workbench.anomaly.detectors.baselines import (
    MAD_TO_SD,
    GaussianDetector,
    SeasonalDetector,
    _positive_int,
)
from workbench.anomaly.detectors.cadence import Cadence, series_cadences
from workbench.anomaly.thresholds import SERIES_DEFAULT
from workbench.exceptions import InvalidArgument


def _windows(windows) -> tuple:
    if isinstance(windows, str):
        windows = [windows]
    parsed = tuple(sorted({parse_window("each window", w) for w in windows}))
    if not parsed:
        raise InvalidArgument("windows must hold at least one window, e.g. ('1d', '7d').")
    return parsed


def cadence_windows(frame: pd.DataFrame) -> tuple:
    """The feature windows that fit a frame's cadence: a day widened to 24 of its points,
    and seven times that.

    An hourly frame gets a day and a week (:data:`DEFAULT_WINDOWS`), a daily one 24 and
    168 days, a weekly one 24 and 168 weeks. Series of several cadences share the
    windows of their typical (median) spacing, since one model reads them all.
    """
    steps = [c.step for c in series_cadences(frame).values() if c.step is not None]
    typical = Cadence(
        step=pd.Series(steps).median().to_pytimedelta() if steps else None,
        cycle=None,
        points=len(frame),
        gaps=0,
    )
    short = typical.span(24, least=parse_window("window", DEFAULT_WINDOWS[0]))
    return (short, short * 7)


def scale_free_columns(windows: tuple) -> list[str]:
    """The window features that compare a point with its own series' past, unit-free."""
    columns = []
    for window in windows:
        columns += [f"z_{suffix(window)}", f"beyond_{suffix(window)}"]
    return [*columns, "step_z", f"lag_{suffix(windows[0])}_z"]


_UNIT_WORDS = {"w": "week", "d": "day", "h": "hour", "m": "minute", "s": "second"}
# The window statistics, as a reader names them.
_STATISTICS = {
    "mean": "average",
    "std": "spread",
    "min": "lowest value",
    "max": "highest value",
    "count": "number of points",
}


def _span_words(short: str) -> str:
    """A window's column suffix in words: ``1d`` -> ``day``, ``7d`` -> ``7 days``."""
    count, unit = int(short[:-1]), _UNIT_WORDS.get(short[-1], short[-1])
    return unit if count == 1 else f"{count} {unit}s"


def _plain_feature(name: str, value: float, deviation: float) -> str:
    """What one window feature says about a point, in words.

    Features measured in the series' own standard deviations are read as they are;
    the others by how far they are from their usual value in the fit data.
    """
    size = f"{abs(value):.1f} SDs"
    side = "above" if value >= 0 else "below"
    if name.startswith("z_"):
        return f"{size} {side} its average of the last {_span_words(name[2:])}"
    if name.startswith("beyond_"):
        return f"{size} outside its range of the last {_span_words(name[7:])}"
    if name.startswith("lag_") and name.endswith("_z"):
        return f"{size} {side} its value one {_span_words(name[4:-2])} earlier"
    if name == "step_z":
        return f"a {'jump' if value >= 0 else 'drop'} of {size} from the point before"
    if name == "seasonal_score":
        return f"{size} off its usual pattern for the time of day or week"
    if name == "gaussian_score":
        return f"{size} off its recent average"
    statistic, _, window = name.partition("_")
    what = (
        f"its {_STATISTICS[statistic]} over the last {_span_words(window)}"
        if statistic in _STATISTICS and window
        else f"its {name}"
    )
    return f"{what} is unusually {'high' if deviation >= 0 else 'low'} ({deviation:+.1f} SDs)"


def _describe_outliers(features: pd.DataFrame, center: np.ndarray, spread: np.ndarray) -> list:
    """Per row, the two features furthest from their fit-data median, in words."""
    raw = features.to_numpy(dtype=float)
    deviation = (raw - center) / spread
    names = features.columns.to_numpy()
    size = np.nan_to_num(np.abs(deviation), nan=-1.0)
    # Stable, so ties keep column order; only the two largest per row are named.
    top = np.argsort(-size, axis=1, kind="stable")[:, :2]
    rows = np.arange(len(deviation))[:, None]
    top_size, top_value, top_raw = size[rows, top], deviation[rows, top], raw[rows, top]
    return [
        "most unusual: "
        + "; ".join(
            _plain_feature(str(names[j]), value, change)
            for j, value, change, magnitude in zip(
                columns, values, changes, magnitudes, strict=True
            )
            if magnitude >= 0
        )
        for columns, values, changes, magnitudes in zip(
            top.tolist(), top_raw.tolist(), top_value.tolist(), top_size.tolist(), strict=True
        )
    ]


# The supervised detector's most recent inputs, by the content of the observations:
# the training span and the scored span of one labeling queue.
_RECENT_INPUTS: OrderedDict = OrderedDict()
_KEPT_INPUTS = 2


def _fingerprint(frame: pd.DataFrame) -> tuple:
    """What identifies observations' content: their size and a hash of every row."""
    hashed = pd.util.hash_pandas_object(frame[["series_id", "ts", "value"]], index=False)
    return (len(frame), hash(hashed.to_numpy().tobytes()))


class _WindowModel(SeriesDetector):
    """Shared plumbing: window features, the warm-up rule and feature summaries."""

    def _fit_windows(self, frame: pd.DataFrame) -> None:
        """Set ``windows_``: the windows given, else those that fit the fit data's cadence."""
        self.windows_ = (
            _windows(self.windows) if self.windows is not None else cadence_windows(frame)
        )

    def _windows_for(self, frame: pd.DataFrame) -> tuple:
        """The windows given, else those fitted, else the ones that fit ``frame``'s cadence."""
        if self.windows is not None:
            return _windows(self.windows)
        if hasattr(self, "windows_"):
            return self.windows_
        return cadence_windows(frame)

    def _features(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
        windows = self._windows_for(frame)
        features = sorted_window_features(frame, windows)
        shortest, longest = suffix(windows[0]), suffix(windows[-1])
        count = features[f"count_{shortest}"].to_numpy()
        ready = (count >= self.min_points) & (features[f"count_{longest}"].to_numpy() >= 2)
        model_input = features[scale_free_columns(windows)]
        return features, model_input, ready

    def _warmup(self, features: pd.DataFrame, ready: np.ndarray, frame: pd.DataFrame):
        name = suffix(self._windows_for(frame)[0])
        counts = features[f"count_{name}"].to_numpy(dtype=int)
        return np.where(
            ready,
            "",
            [f"only {c} point(s) in the {name} before it, needs {self.min_points}" for c in counts],
        )

    def _summarize(self, model_input: pd.DataFrame, ready: np.ndarray) -> None:
        known = model_input.to_numpy(dtype=float)[ready]
        with warnings.catch_warnings():
            # A window longer than a young series has no value yet: it reads as typical.
            warnings.simplefilter("ignore", RuntimeWarning)
            center = np.nanmedian(known, axis=0)
            self.feature_center_ = np.where(np.isfinite(center), center, 0.0)
            spread = MAD_TO_SD * np.nanmedian(np.abs(known - self.feature_center_), axis=0)
        self.feature_spread_ = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)

    def _check_params(self) -> None:
        if self.windows is not None:
            _windows(self.windows)
        _positive_int("min_points", self.min_points, 2)


class WindowIsolationForest(_WindowModel):
    """Isolation Forest (scikit-learn) over each point's trailing-window features.

    Learns what normal windows look like across all series of the fit data
    (points labelled 1 are left out of training) and scores how easily a
    point's window features are isolated. A missing step or one-cycle-ago
    difference (a gap in the series) counts as no change.

    Parameters
    ----------
    windows : sequence of str or None
        Trailing windows of the features, shortest first matters for the warm-up.
        None (the default) fits the fit data's cadence (:func:`cadence_windows`): a
        day and a week for hourly series, 24 and 168 points for slower ones.
    min_points : int
        Fewest points in the shortest window for a point to be scored.
    n_estimators : int
        Trees in the forest.
    random_state : int
        Seed, so fits repeat exactly.
    threshold : AlertBudget, FalseAlarmRate or str
        How ``fit`` sets ``threshold_``.

    Attributes
    ----------
    model_ : sklearn.ensemble.IsolationForest
    windows_ : tuple of datetime.timedelta
        The windows it learnt with (and scores with).
    threshold_ : float
    """

    def __init__(
        self,
        *,
        windows=None,
        min_points=12,
        n_estimators=200,
        random_state=0,
        threshold=SERIES_DEFAULT,
    ):
        self.windows = windows
        self.min_points = min_points
        self.n_estimators = n_estimators
        self.random_state = random_state
        self.threshold = threshold

    def _learn(self, frame: pd.DataFrame, labels: np.ndarray | None) -> None:
        from sklearn.ensemble import IsolationForest

        _positive_int("n_estimators", self.n_estimators, 1)
        self._fit_windows(frame)
        _, model_input, ready = self._features(frame)
        train = ready if labels is None else ready & (labels != 1)
        if not train.any():
            raise InvalidArgument(
                f"None of the {len(frame)} points has {self.min_points} points of history in "
                "its shortest window, so there is nothing to learn from; fit on a longer history."
            )
        self._summarize(model_input, ready)
        self.model_ = IsolationForest(
            n_estimators=self.n_estimators, random_state=self.random_state
        ).fit(model_input.fillna(0.0).to_numpy()[train])

    def _judge(self, frame: pd.DataFrame) -> Judgement:
        features, model_input, ready = self._features(frame)
        score = np.full(len(frame), np.nan)
        if ready.any():
            score[ready] = -self.model_.score_samples(model_input.fillna(0.0).to_numpy()[ready])
        expected = features[f"mean_{suffix(self.windows_[0])}"].to_numpy(dtype=float)
        detail = np.array(
            _describe_outliers(model_input, self.feature_center_, self.feature_spread_),
            dtype=object,
        )
        return Judgement(
            score=score,
            expected=np.where(ready, expected, np.nan),
            scale=np.full(len(frame), np.nan),
            warmup=self._warmup(features, ready, frame),
            detail=detail,
        )


class SupervisedDetector(_WindowModel):
    """Gradient boosting (scikit-learn) over window features and the baselines' scores.

    Needs labels: ``fit(X, y)`` with ``y`` 1 (anomalous), 0 (normal) or NaN
    (unknown) per row, at least ``min_labels`` of each class among points
    past the warm-up. The score is the predicted probability that a point is
    anomalous. Its inputs are the window features of :class:`WindowIsolationForest`
    plus the scores of the Gaussian and seasonal baselines.

    Parameters
    ----------
    windows : sequence of str or None
        Trailing windows of the features; None fits the fit data's cadence
        (:func:`cadence_windows`).
    min_points : int
        Fewest points in the shortest window for a point to be scored.
    min_labels : int
        Fewest labelled points of each class ``fit`` accepts.
    max_iter : int
        Boosting iterations.
    random_state : int
        Seed.
    threshold : AlertBudget, FalseAlarmRate or str
        How ``fit`` sets ``threshold_``, which never goes below probability 0.5: a
        budget caps the alerts, it does not fill itself with points the model
        judges normal.

    Attributes
    ----------
    model_ : sklearn.ensemble.HistGradientBoostingClassifier
    windows_ : tuple of datetime.timedelta
        The windows it learnt with (and scores with).
    threshold_ : float
    n_labels_ : dict
        Labelled points it learned from: ``{"anomalous": n, "normal": n}``.
    """

    #: ``fit`` needs labels.
    needs_labels = True

    def __init__(
        self,
        *,
        windows=None,
        min_points=12,
        min_labels=5,
        max_iter=200,
        random_state=0,
        threshold=SERIES_DEFAULT,
    ):
        self.windows = windows
        self.min_points = min_points
        self.min_labels = min_labels
        self.max_iter = max_iter
        self.random_state = random_state
        self.threshold = threshold

    def _inputs(self, frame: pd.DataFrame):
        """Window features; the model's inputs (features plus both baselines' scores); which
        points are ready; the seasonal baseline's expected values (shown as expected).

        The last results are kept: ``fit`` then ``score`` on the same observations (and a
        labeling queue asked again after a vote, which trains on the labelled span and
        scores every point) compute the features once.
        """
        key = (_fingerprint(frame), self._windows_for(frame), self.min_points)
        if key in _RECENT_INPUTS:
            _RECENT_INPUTS.move_to_end(key)
        else:
            _RECENT_INPUTS[key] = self._compute_inputs(frame)
            while len(_RECENT_INPUTS) > _KEPT_INPUTS:
                _RECENT_INPUTS.popitem(last=False)
        return _RECENT_INPUTS[key]

    def _compute_inputs(self, frame: pd.DataFrame):
        features, model_input, ready = self._features(frame)
        shortest = self._windows_for(frame)[0]
        baselines = model_input.copy()
        gaussian = GaussianDetector(window=shortest, min_points=self.min_points)
        baselines["gaussian_score"] = gaussian._judge(frame).score
        seasonal = SeasonalDetector()._judge(frame)
        baselines["seasonal_score"] = seasonal.score
        return features, baselines, ready, seasonal.expected

    def _learn(self, frame: pd.DataFrame, labels: np.ndarray | None) -> None:
        from sklearn.ensemble import HistGradientBoostingClassifier
        from threadpoolctl import threadpool_limits

        minimum = _positive_int("min_labels", self.min_labels, 1)
        _positive_int("max_iter", self.max_iter, 1)
        self._fit_windows(frame)
        _features, inputs, ready, _expected = self._inputs(frame)
        known = np.zeros(len(frame), dtype=bool) if labels is None else ~np.isnan(labels)
        usable = known & ready
        positives = int((labels[usable] == 1).sum()) if labels is not None else 0
        negatives = int((labels[usable] == 0).sum()) if labels is not None else 0
        if positives < minimum or negatives < minimum:
            raise InvalidArgument(
                f"The supervised detector needs at least {minimum} labelled anomalous (1) and "
                f"{minimum} labelled normal (0) points past the warm-up; it got {positives} "
                f"anomalous and {negatives} normal. Label more points (the labeling queue), "
                "or use an unsupervised detector such as 'seasonal'."
            )
        self._summarize(inputs, ready)
        model = HistGradientBoostingClassifier(
            max_iter=self.max_iter, class_weight="balanced", random_state=self.random_state
        )
        train = inputs.to_numpy(dtype=float)[usable]
        # A feature with no value on any labelled point (a window longer than a young
        # series) teaches nothing, and the gradient boosting refuses an all-missing column.
        train[:, np.isnan(train).all(axis=0)] = 0.0
        # One OpenMP thread: on small label sets, more threads only fight over the cores.
        with threadpool_limits(1, "openmp"):
            self.model_ = model.fit(train, labels[usable].astype(int))
        self.n_labels_ = {"anomalous": positives, "normal": negatives}

    def _lowest_threshold(self) -> float:
        # A budget is a cap, not a quota: where labelled anomalies are fewer than the
        # budget allows, it would otherwise alert on points the model itself judges
        # more likely normal (probability below one half).
        return 0.5

    def _score_text(self, score: float) -> str:
        # The score is a probability learnt from the labels: say so.
        return (
            f"the model learnt from your labels gives it a {score:.0%} chance of being an "
            f"anomaly (it alerts above {self.threshold_:.0%})"
        )

    def _judge(self, frame: pd.DataFrame) -> Judgement:
        features, inputs, ready, expected = self._inputs(frame)
        score = np.full(len(frame), np.nan)
        if ready.any():
            from threadpoolctl import threadpool_limits

            with threadpool_limits(1, "openmp"):
                score[ready] = self.model_.predict_proba(inputs.to_numpy(dtype=float)[ready])[:, 1]
        detail = np.array(
            _describe_outliers(inputs, self.feature_center_, self.feature_spread_), dtype=object
        )
        return Judgement(
            score=score,
            expected=np.where(ready, expected, np.nan),
            scale=np.full(len(frame), np.nan),
            warmup=self._warmup(features, ready, frame),
            detail=detail,
        )
