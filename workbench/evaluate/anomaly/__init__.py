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

from workbench.lazy import exports

# Public name -> the submodule that defines it, imported when the name is first used.
_LAZY = {
    "evaluate_detectors": "compare",
    "detection_delay": "events",
    "event_recall_score": "events",
    "event_windows": "events",
    "NAB_PROFILES": "nab",
    "nab_score": "nab",
    "pr_auc_score": "points",
    "precision_at_budget_score": "points",
    "roc_auc_score": "points",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = exports(__name__, _LAZY)
