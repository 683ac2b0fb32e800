"""Tabular detectors: one row per case, numeric feature columns, no time order.

Isolation Forest and local outlier factor need no labels; the supervised
detector needs both classes. All three explain a score by the features that
deviate most from the fit data (robust z-scores against its median and MAD).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from workbench.anomaly.detectors.base import check_labels
from workbench.anomaly.detectors.baselines import MAD_TO_SD, _positive_int
from workbench.anomaly.thresholds import TABULAR_DEFAULT, parse_threshold
from workbench.exceptions import InvalidArgument


def check_features(X: object, *, argument: str = "X") -> pd.DataFrame:
    """A numeric feature frame with no missing values; arrays get columns x0, x1, ..."""
    if isinstance(X, np.ndarray):
        if X.ndim != 2:
            raise InvalidArgument(f"{argument} must be 2-dimensional (rows x features).")
        X = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    if not isinstance(X, pd.DataFrame):
        raise InvalidArgument(
            f"{argument} must be a pandas DataFrame (or 2-D array) of numeric features, got "
            f"{type(X).__name__}."
        )
    if X.empty or X.shape[1] == 0:
        raise InvalidArgument(
            f"{argument} has no rows or no columns ({X.shape[0]} x {X.shape[1]}); pass at least "
            "one case with one numeric feature."
        )
    text = [
        str(c)
        for c in X.columns
        if not pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c])
    ]
    if text:
        raise InvalidArgument(
            f"{argument} has non-numeric column(s) {', '.join(text)}; encode them as numbers "
            "or drop them before fitting a tabular detector."
        )
    values = X.to_numpy(dtype=float)
    if not np.isfinite(values).all():
        columns = [
            str(c) for c, bad in zip(X.columns, ~np.isfinite(values).all(0), strict=True) if bad
        ]
        raise InvalidArgument(
            f"{argument} has missing or infinite values in column(s) {', '.join(columns)}; "
            "fill or drop them first (the detectors cannot judge what they cannot see)."
        )
    return X


class TabularDetector(BaseEstimator, ABC):
    """Base of the detectors over a numeric feature frame."""

    kind = "tabular"
    #: Whether ``fit`` needs labels (only the supervised detectors do).
    needs_labels = False

    @abstractmethod
    def _learn(self, Z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        """Fit on robust-scaled features; return the fit data's scores."""

    @abstractmethod
    def _score(self, Z: np.ndarray) -> np.ndarray:
        """Scores of robust-scaled features."""

    def _scaled(self, X: object) -> tuple[pd.DataFrame, np.ndarray]:
        frame = check_features(X)
        if hasattr(self, "feature_names_in_"):
            names = [str(c) for c in frame.columns]
            if names != list(self.feature_names_in_):
                raise InvalidArgument(
                    f"X has columns {', '.join(names)} but the detector was fitted on "
                    f"{', '.join(self.feature_names_in_)}; pass the same features in the same order."
                )
        return frame, (frame.to_numpy(dtype=float) - self.center_) / self.spread_

    def fit(self, X: object, y: object = None) -> TabularDetector:
        """Learn from a feature frame and set ``threshold_`` from its scores.

        Parameters
        ----------
        X : pandas.DataFrame or numpy.ndarray
            Numeric features, one row per case.
        y : array-like, optional
            1 anomalous, 0 normal, NaN unknown per row.

        Returns
        -------
        self
        """
        rule = parse_threshold(self.threshold)
        frame = check_features(X)
        labels = check_labels(y, len(frame))
        values = frame.to_numpy(dtype=float)
        self.center_ = np.median(values, axis=0)
        spread = MAD_TO_SD * np.median(np.abs(values - self.center_), axis=0)
        # A feature constant over most cases falls back to its standard deviation, then 1.
        spread = np.where(spread > 0, spread, values.std(axis=0))
        self.spread_ = np.where(spread > 0, spread, 1.0)
        self.feature_names_in_ = np.array([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = frame.shape[1]
        scores = self._learn((values - self.center_) / self.spread_, labels)
        self.threshold_ = float(rule.threshold(scores, frame, labels))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "threshold_"):
            raise InvalidArgument(
                f"This {type(self).__name__} is not fitted yet; call fit(features) first."
            )

    def score(self, X: object) -> np.ndarray:
        """One anomaly score per row of ``X`` (higher = more anomalous)."""
        self._check_fitted()
        _, Z = self._scaled(X)
        return self._score(Z)

    def predict(self, X: object) -> np.ndarray:
        """1 where the score is above ``threshold_``, else 0."""
        return (self.score(X) > self.threshold_).astype(np.int8)

    def explain(self, X: object) -> pd.DataFrame:
        """Score, a reason and the features that deviate most, per row of ``X``.

        Returns
        -------
        pandas.DataFrame
            ``score``, ``reason`` and ``contributions`` (the three features
            furthest from the fit data's median, in robust SDs, as text).
        """
        self._check_fitted()
        frame, Z = self._scaled(X)
        scores = self._score(Z)
        names = self.feature_names_in_
        contributions, reasons = [], []
        for row, value in zip(Z, scores, strict=True):
            top = np.argsort(-np.abs(row))[:3]
            contributions.append(", ".join(f"{names[j]} {row[j]:+.1f} SDs" for j in top))
            verdict = "above" if value > self.threshold_ else "below"
            reasons.append(
                f"score {value:.3g} is {verdict} the threshold {self.threshold_:.3g}; "
                f"furthest from typical: {names[top[0]]} ({row[top[0]]:+.1f} robust SDs)"
            )
        return pd.DataFrame(
            {"score": scores, "reason": reasons, "contributions": contributions},
            index=frame.index,
        ).reset_index(drop=True)


class IsolationForestDetector(TabularDetector):
    """Isolation Forest (scikit-learn): cases that few random splits isolate score high.

    Parameters
    ----------
    n_estimators : int
        Trees in the forest.
    random_state : int
        Seed.
    threshold : AlertBudget, FalseAlarmRate or str
        How ``fit`` sets ``threshold_``; a budget needs ``series_id``/``ts``
        columns, so tabular data usually takes a false-alarm rate.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(size=(200, 3)), [[8.0, 8.0, 8.0]]])
    >>> detector = IsolationForestDetector().fit(X)
    >>> int(np.argmax(detector.score(X)))
    200
    """

    def __init__(self, *, n_estimators=200, random_state=0, threshold=TABULAR_DEFAULT):
        self.n_estimators = n_estimators
        self.random_state = random_state
        self.threshold = threshold

    def _learn(self, Z, labels):
        from sklearn.ensemble import IsolationForest

        _positive_int("n_estimators", self.n_estimators, 1)
        train = Z if labels is None else Z[labels != 1]
        self.model_ = IsolationForest(
            n_estimators=self.n_estimators, random_state=self.random_state
        ).fit(train)
        return self._score(Z)

    def _score(self, Z):
        return -self.model_.score_samples(Z)


class LocalOutlierDetector(TabularDetector):
    """Local outlier factor (scikit-learn): density of a case against its neighbours'.

    Features are scaled by their median and MAD first, so no feature dominates
    by its unit. ``threshold_`` comes from the fit cases' own factors; new
    cases are scored against the fit cases (``novelty=True``). Scoring the fit
    cases again counts each as its own neighbour, so score held-out cases.

    Parameters
    ----------
    n_neighbors : int
        Neighbours compared with.
    threshold : AlertBudget, FalseAlarmRate or str
        How ``fit`` sets ``threshold_``.
    """

    def __init__(self, *, n_neighbors=20, threshold=TABULAR_DEFAULT):
        self.n_neighbors = n_neighbors
        self.threshold = threshold

    def _learn(self, Z, labels):
        from sklearn.neighbors import LocalOutlierFactor

        neighbors = _positive_int("n_neighbors", self.n_neighbors, 1)
        if Z.shape[0] <= neighbors:
            raise InvalidArgument(
                f"LOF compares each case with {neighbors} neighbours, so it needs more than "
                f"{neighbors} cases; got {Z.shape[0]}. Pass more cases or lower n_neighbors."
            )
        self.model_ = LocalOutlierFactor(n_neighbors=neighbors, novelty=True).fit(Z)
        return -self.model_.negative_outlier_factor_

    def _score(self, Z):
        return -self.model_.score_samples(Z)


class TabularSupervisedDetector(TabularDetector):
    """Gradient boosting (scikit-learn) trained on labelled cases; score = P(anomalous).

    Parameters
    ----------
    min_labels : int
        Fewest labelled cases of each class ``fit`` accepts.
    max_iter : int
        Boosting iterations.
    random_state : int
        Seed.
    threshold : AlertBudget, FalseAlarmRate or str
        How ``fit`` sets ``threshold_``.
    """

    #: ``fit`` needs labels.
    needs_labels = True

    def __init__(self, *, min_labels=5, max_iter=200, random_state=0, threshold=TABULAR_DEFAULT):
        self.min_labels = min_labels
        self.max_iter = max_iter
        self.random_state = random_state
        self.threshold = threshold

    def _learn(self, Z, labels):
        from sklearn.ensemble import HistGradientBoostingClassifier
        from threadpoolctl import threadpool_limits

        minimum = _positive_int("min_labels", self.min_labels, 1)
        known = np.zeros(Z.shape[0], bool) if labels is None else ~np.isnan(labels)
        positives = int((labels[known] == 1).sum()) if labels is not None else 0
        negatives = int((labels[known] == 0).sum()) if labels is not None else 0
        if positives < minimum or negatives < minimum:
            raise InvalidArgument(
                f"The supervised detector needs at least {minimum} labelled anomalous (1) and "
                f"{minimum} labelled normal (0) cases; it got {positives} anomalous and "
                f"{negatives} normal. Label more cases, or use 'iforest' or 'lof'."
            )
        model = HistGradientBoostingClassifier(
            max_iter=_positive_int("max_iter", self.max_iter, 1),
            class_weight="balanced",
            random_state=self.random_state,
        )
        # One OpenMP thread: on small label sets, more threads only fight over the cores.
        with threadpool_limits(1, "openmp"):
            self.model_ = model.fit(Z[known], labels[known].astype(int))
        self.n_labels_ = {"anomalous": positives, "normal": negatives}
        return self._score(Z)

    def _score(self, Z):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "openmp"):
            return self.model_.predict_proba(Z)[:, 1]
