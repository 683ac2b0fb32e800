"""Evaluation of anomaly detectors: point scores, alert budgets, events, delay and NAB.

Point metrics take ``labels`` (1 anomalous, 0 normal) and ``scores`` (higher =
more anomalous) per point. A NaN score is a point the detector did not score
(its warm-up): it ranks below every scored point and never alerts, so a
detector cannot gain by declining to score hard points.

Event metrics read anomalies as events: the contiguous label-1 points of a
series form one event (:func:`event_windows`), which counts once however long
it is. ``alerts`` are the flagged points, a frame with ``series_id`` and ``ts``
(rows of the ``alerts`` table, or ``observations[detector.predict(observations) == 1]``).

:func:`nab_score` follows the Numenta Anomaly Benchmark: a window around each
event, a scaled sigmoid that rewards early detection, weighted false
positives, three profiles, and normalization so that a detector alerting at
the start of every window scores 100 and one that never alerts scores 0.
"""

from __future__ import annotations

from workbench.evaluate.anomaly.compare import evaluate_detectors
from workbench.evaluate.anomaly.events import detection_delay, event_recall, event_windows
from workbench.evaluate.anomaly.nab import NAB_PROFILES, nab_score
from workbench.evaluate.anomaly.points import pr_auc, precision_at_budget, roc_auc

__all__ = [
    "NAB_PROFILES",
    "detection_delay",
    "evaluate_detectors",
    "event_recall",
    "event_windows",
    "nab_score",
    "pr_auc",
    "precision_at_budget",
    "roc_auc",
]
