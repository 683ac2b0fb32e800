"""One table comparing anomaly detectors on every figure."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import pandas as pd

from workbench.arguments import parse_time
from workbench.evaluate.anomaly.events import detection_delay, event_recall_score, event_windows
from workbench.evaluate.anomaly.nab import nab_score
from workbench.evaluate.anomaly.points import pr_auc_score, precision_at_budget_score, roc_auc_score
from workbench.exceptions import InvalidArgument


def evaluate_detectors(
    detectors: Mapping[str, object],
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    labels,
    train_labels=None,
    since=None,
    tolerance=None,
    profile: str = "standard",
) -> pd.DataFrame:
    """Fit each series detector on ``train``, score ``test``, and tabulate every figure.

    Parameters
    ----------
    detectors : mapping of str to detector
        Name -> unfitted series detector (see :mod:`workbench.anomaly.detectors`).
    train, test : pandas.DataFrame
        Observations. ``train`` may equal ``test`` for unsupervised detectors;
        a supervised detector must be judged on points it did not train on.
    labels : array-like
        1/0 per row of ``test`` (the truth).
    train_labels : array-like, optional
        1/0/NaN per row of ``train``, passed to ``fit`` of the detectors that
        need labels (``needs_labels``); the others never see labels.
    since : str or datetime, optional
        Judge only ``test`` points at or after this time; earlier points are
        history the detectors read but nobody grades.
    tolerance : str or timedelta, optional
        For event recall and delay.
    profile : str
        NAB profile.

    Returns
    -------
    pandas.DataFrame
        One row per detector: ``detector``, ``pr_auc_score``, ``roc_auc_score``,
        ``precision_at_budget_score`` (top points, as many as the detector raised
        alerts), ``alerts``, ``event_recall_score``, ``events``, ``mean_delay``
        (timedelta), ``mean_delay_points``, ``nab_score``, ``not_scored`` and
        ``fit_score_seconds``.
    """
    y = np.asarray(labels, dtype=float).ravel()
    if y.size != len(test):
        raise InvalidArgument(
            f"labels has {y.size} values but test has {len(test)} rows; pass one per row."
        )
    judged = np.ones(len(test), dtype=bool)
    if since is not None:
        stamps = pd.to_datetime(test["ts"])
        if isinstance(stamps.dtype, pd.DatetimeTZDtype):
            stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
        judged = (stamps >= parse_time(since, name="since")).to_numpy()
        if not judged.any():
            raise InvalidArgument(f"No test point is at or after since={since!r}.")
    graded = test.loc[judged, ["series_id", "ts"]]
    y_graded = y[judged]
    events = event_windows(graded.assign(label=y_graded))
    rows = []
    from sklearn.base import clone

    for name, detector in detectors.items():
        model = clone(detector)
        started = time.perf_counter()
        model.fit(train, train_labels if getattr(model, "needs_labels", False) else None)
        scores = np.asarray(model.score(test), dtype=float)[judged]
        flagged = np.nan_to_num(scores, nan=-np.inf) > model.threshold_
        seconds = time.perf_counter() - started
        alerts = graded.loc[flagged]
        delay = detection_delay(events, alerts, observations=graded, tolerance=tolerance)
        rows.append(
            {
                "detector": name,
                "pr_auc_score": pr_auc_score(y_graded, scores),
                "roc_auc_score": roc_auc_score(y_graded, scores),
                "precision_at_budget_score": (
                    precision_at_budget_score(y_graded, scores, alerts=int(flagged.sum()))
                    if flagged.any()
                    else float("nan")
                ),
                "alerts": int(flagged.sum()),
                "event_recall_score": event_recall_score(events, alerts, tolerance=tolerance),
                "events": len(events),
                "mean_delay": delay["delay"].mean() if len(delay) else pd.NaT,
                "mean_delay_points": (
                    float(delay["delay_points"].mean()) if len(delay) else float("nan")
                ),
                "nab_score": nab_score(events, alerts, graded, profile=profile),
                "not_scored": int(np.isnan(scores).sum()),
                "fit_score_seconds": seconds,
            }
        )
    return pd.DataFrame(rows)
