"""Anomaly detection: detectors, broad scans, deep dives, and the labeling loop.

- Detectors (:data:`DETECTORS`, :func:`make_detector`) follow the scikit-learn
  contract, with ``score`` higher for more anomalous points and a threshold set by
  an alert budget or a false-alarm rate (:class:`AlertBudget`, :class:`FalseAlarmRate`).
  Their defaults follow each series' cadence (:func:`infer_cadence`), and
  :func:`choose_detector` picks one for a series from its values.
- Broad: :func:`scan` scores every series over a window within a time budget and
  writes ``alerts`` and a ``scans`` row; :func:`detector_quality` grades every
  detector on the window's labels.
- Deep: :func:`investigate` looks at one series around one moment: decomposition,
  co-moving series, similar past incidents, the window features that deviate.
- Labeling: :func:`labeling_queue` orders points by what a label would teach
  (uncertainty and diversity), each with the span the detector proposes; :func:`label`
  records a vote for a point or a span (:func:`span_target`); :func:`reconcile`
  settles each target by majority; :func:`train_from_labels` fits the supervised
  detector that ``scan(detector="auto")`` uses once labels allow; :func:`export_labels`
  writes every vote to a CSV file that ``ingest`` reads back.

Importing this package is cheap; each name loads its module (and scikit-learn,
statsmodels, Altair behind it) on first use.
"""

from __future__ import annotations

from workbench.lazy import exports

# Public name -> the submodule that defines it, imported when the name is first used.
_LAZY = {
    "DETECTORS": "detectors",
    "make_detector": "detectors",
    "choose_detector": "detectors",
    "infer_cadence": "detectors.cadence",
    "window_features": "detectors",
    "AlertBudget": "thresholds",
    "FalseAlarmRate": "thresholds",
    "parse_threshold": "thresholds",
    "load_observations": "observations",
    "ScanReport": "scans",
    "scan": "scans",
    "Investigation": "investigation",
    "investigate": "investigation",
    "agreement_rate": "labeling",
    "label": "labeling",
    "labeling_queue": "labeling",
    "point_target": "labeling",
    "span_target": "labeling",
    "export_labels": "labeling",
    "reconcile": "labeling",
    "train_from_labels": "labeling",
    "detector_quality": "quality",
    "plot_alerts_overview": "charts",
    "plot_decomposition": "charts",
    "plot_series_band": "charts",
}

__all__ = list(_LAZY)


__getattr__, __dir__ = exports(__name__, _LAZY)
