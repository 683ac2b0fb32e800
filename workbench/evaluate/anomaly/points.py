"""Point metrics of anomaly scores: ROC-AUC, PR-AUC and precision at an alert budget.

A NaN score is a point the detector did not score: it ranks below every
scored point and never alerts.
"""

from __future__ import annotations

import numpy as np

from workbench.exceptions import InvalidArgument


def _labels_and_scores(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(labels, dtype=float).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if y.shape != s.shape:
        raise InvalidArgument(
            f"labels has {y.size} values and scores {s.size}; pass one label per score."
        )
    if np.isnan(y).any():
        raise InvalidArgument(
            f"labels has {int(np.isnan(y).sum())} unknown (NaN) value(s); evaluate on "
            "labelled points only (select rows whose label is 0 or 1 first)."
        )
    if not np.isin(y, (0.0, 1.0)).all():
        raise InvalidArgument("labels must be 1 (anomalous) or 0 (normal).")
    if y.min() == y.max():
        raise InvalidArgument(
            f"labels are all {int(y[0]) if y.size else 'missing'}; ranking metrics need both "
            "anomalous (1) and normal (0) points."
        )
    # Not scored ranks below everything scored (see the module docstring).
    lowest = np.nanmin(s) - 1.0 if np.isfinite(s).any() else 0.0
    return y, np.where(np.isnan(s), lowest, s)


def roc_auc_score(labels, scores) -> float:
    """Area under the ROC curve: the chance an anomalous point outscores a normal one.

    Parameters
    ----------
    labels : array-like
        1 (anomalous) or 0 (normal) per point; both must occur.
    scores : array-like
        Higher = more anomalous; NaN (not scored) ranks lowest.

    Returns
    -------
    float
        In [0, 1]; 0.5 is chance. Ties count one half (scikit-learn's ``roc_auc_score``).

    Examples
    --------
    >>> roc_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    from sklearn.metrics import roc_auc_score

    y, s = _labels_and_scores(labels, scores)
    return float(roc_auc_score(y, s))


def pr_auc_score(labels, scores) -> float:
    """Area under the precision-recall curve, as average precision (scikit-learn).

    The right summary when anomalies are rare: chance level is the share of
    anomalous points, not 0.5.

    Parameters
    ----------
    labels : array-like
        1 (anomalous) or 0 (normal) per point; both must occur.
    scores : array-like
        Higher = more anomalous; NaN (not scored) ranks lowest.

    Returns
    -------
    float
        In [0, 1].

    Examples
    --------
    >>> round(pr_auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 4)
    0.8333
    """
    from sklearn.metrics import average_precision_score

    y, s = _labels_and_scores(labels, scores)
    return float(average_precision_score(y, s))


def precision_at_budget_score(labels, scores, *, alerts: int) -> float:
    """Share of anomalous points among the ``alerts`` highest-scored points.

    What a person on call sees when the budget allows ``alerts`` alerts. Ties at
    the cut are broken by row order; points not scored never alert.

    Parameters
    ----------
    labels : array-like
        1 or 0 per point.
    scores : array-like
        Higher = more anomalous; NaN is not scored.
    alerts : int
        Alerts allowed, >= 1.

    Returns
    -------
    float
        Precision over the alerts actually raised (fewer when fewer points are scored).

    Examples
    --------
    >>> precision_at_budget_score([0, 1, 0, 1, 0], [0.1, 0.9, 0.8, 0.7, float("nan")], alerts=2)
    0.5
    """
    if isinstance(alerts, bool) or not isinstance(alerts, int | np.integer) or alerts < 1:
        raise InvalidArgument(f"alerts must be an integer >= 1, got {alerts!r}.")
    y = np.asarray(labels, dtype=float).ravel()
    s = np.asarray(scores, dtype=float).ravel()
    if y.shape != s.shape:
        raise InvalidArgument(
            f"labels has {y.size} values and scores {s.size}; pass one label per score."
        )
    scored = np.flatnonzero(~np.isnan(s))
    if scored.size == 0:
        raise InvalidArgument("No point is scored, so no alert can be raised.")
    top = scored[np.argsort(-s[scored], kind="stable")[:alerts]]
    if np.isnan(y[top]).any():
        raise InvalidArgument(
            "Some of the top-scored points have no label (NaN); label them or evaluate on "
            "labelled points only."
        )
    return float(y[top].mean())
