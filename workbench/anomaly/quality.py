"""How well each detector would have done on a scanned window, judged by the stored labels.

A scan answers "what is anomalous now"; this module answers "which detector should
the scan use". Every series detector scores the window exactly as a scan does (each
series fitted on its own history before the window, the same threshold rule), and
the scores are graded on the window's labelled points. The supervised detector
learns only from labels before the window, so it is never graded on points it
trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.anomaly.observations import load_observations
from workbench.anomaly.scans import score_series
from workbench.anomaly.thresholds import SERIES_DEFAULT
from workbench.arguments import parse_duration, parse_time
from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    from workbench.store import Store

__all__ = ["SERIES_DETECTORS", "detector_quality", "window_labels"]

#: The series detectors compared by default, the simple reference first.
SERIES_DETECTORS = ("gaussian", "seasonal", "window_iforest", "supervised")

QUALITY_COLUMNS = [
    "detector",
    "pr_auc_score",
    "roc_auc_score",
    "event_recall_score",
    "events",
    "alerts",
    "precision_of_alerts",
    "labelled_points",
    "not_scored",
    "note",
]


def window_labels(store: Store, *, since: Any, until: Any) -> pd.DataFrame:
    """The settled labels of series points in ``[since, until)``: series_id, ts, label."""
    from workbench.anomaly.labeling import settled_point_labels

    start, end = parse_time(since, name="since"), parse_time(until, name="until")
    labels = settled_point_labels(store)
    inside = (labels["ts"] >= start) & (labels["ts"] < end)
    return labels.loc[inside, ["series_id", "ts", "label"]].reset_index(drop=True)


def _labelled_span(store: Store, lookback: pd.Timedelta) -> tuple[Any, Any]:
    """The default window: labelled points that have ``lookback`` of history before them."""
    from workbench.anomaly.labeling import settled_point_labels

    labels = settled_point_labels(store)
    first_observed = store.sql("SELECT min(ts) AS ts FROM observations").column("ts")[0].as_py()
    if labels.empty or first_observed is None:
        return None, None
    start = max(pd.Timestamp(first_observed) + lookback, labels["ts"].min())
    return start, labels["ts"].max() + pd.Timedelta(microseconds=1)


def detector_quality(
    store: Store,
    *,
    since: Any = None,
    until: Any = None,
    threshold: Any = SERIES_DEFAULT,
    history: Any = "14d",
    detectors: Sequence[str] = SERIES_DETECTORS,
) -> pd.DataFrame:
    """Grade each series detector on the labelled points of ``[since, until)``.

    Parameters
    ----------
    store
        Holds ``observations`` and ``labels``.
    since, until
        The window, as a scan's (``ScanReport.since`` / ``.until``). By default, every
        labelled point with ``history`` of observations before it: ``since`` is the first
        observation plus ``history`` (or the first label, if later) and ``until`` is just
        after the last label. Labels before ``since`` then train the supervised detector.
    threshold, history
        As for :func:`workbench.anomaly.scan`.
    detectors
        Series detector names.

    Returns
    -------
    pandas.DataFrame
        One row per detector: ``pr_auc_score`` and ``roc_auc_score`` over the labelled points
        (NaN scores rank lowest), ``event_recall_score`` (runs of anomalous labels of a
        series count once; an event counts as found when any point of it alerted),
        ``events``, ``alerts`` raised in the window, ``precision_of_alerts`` (of the
        alerts on labelled points, the share labelled anomalous), ``labelled_points``,
        ``not_scored`` (points of the window without enough history) and ``note``
        (why a detector could not be graded). Empty when the window holds no labels
        of both classes.
    """
    from workbench.anomaly.labeling import train_from_labels
    from workbench.anomaly.thresholds import parse_threshold
    from workbench.evaluate.anomaly import (
        event_recall_score,
        event_windows,
        pr_auc_score,
        roc_auc_score,
    )

    rule = parse_threshold(threshold)
    lookback = parse_duration(history, name="history")
    start, end = parse_time(since, name="since"), parse_time(until, name="until")
    if start is None or end is None:
        default_start, default_end = _labelled_span(store, lookback)
        start = default_start if start is None else start
        end = default_end if end is None else end
        if start is None or end is None:
            return pd.DataFrame(columns=QUALITY_COLUMNS)
        if start >= end:
            raise InvalidArgument(
                f"No labelled point has history={history!r} of observations before it (the "
                f"last label is at {end - pd.Timedelta(microseconds=1)}); pass a shorter "
                "history or an explicit since and until."
            )
    if start >= end:
        raise InvalidArgument(f"since ({start}) must be a time before until ({end}).")
    labels = window_labels(store, since=start, until=end)
    if labels["label"].nunique() < 2:
        return pd.DataFrame(columns=QUALITY_COLUMNS)
    series = sorted(labels["series_id"].unique())
    # One read for every labelled series (a read per series costs a store session each).
    observed = load_observations(
        store, since=start - lookback.to_pytimedelta(), until=end, series=series
    )
    frames = {
        name: part.reset_index(drop=True)
        for name, part in observed.groupby("series_id", sort=True, observed=True)
    }
    frames = {name: frames.get(name, observed.iloc[:0]) for name in series}
    events = event_windows(labels)
    rows = []
    for detector in detectors:
        trained, note = None, ""
        if detector == "supervised":
            try:
                trained = train_from_labels(store, threshold=rule, history=lookback, before=start)
            except InvalidArgument as error:
                rows.append(_ungraded(detector, labels, f"not trained: {error}"))
                continue
        scored = []
        for name in series:
            points, problem = score_series(frames[name], detector, trained, rule=rule, since=start)
            if problem is not None:
                note = f"{name}: {problem}"
            scored.append(points)
        window = pd.concat(scored, ignore_index=True)
        graded = labels.merge(
            window[["series_id", "ts", "score", "alert"]], on=["series_id", "ts"], how="left"
        )
        y, scores = graded["label"].to_numpy(dtype=float), graded["score"].to_numpy(dtype=float)
        alerted = graded["alert"].fillna(0).to_numpy(dtype=int) == 1
        rows.append(
            {
                "detector": detector,
                "pr_auc_score": pr_auc_score(y, scores),
                "roc_auc_score": roc_auc_score(y, scores),
                "event_recall_score": event_recall_score(events, window[window["alert"] == 1])
                if len(events)
                else float("nan"),
                "events": len(events),
                "alerts": int((window["alert"] == 1).sum()),
                "precision_of_alerts": float(y[alerted].mean()) if alerted.any() else np.nan,
                "labelled_points": len(graded),
                "not_scored": int(window["score"].isna().sum()),
                "note": note,
            }
        )
    return pd.DataFrame(rows, columns=QUALITY_COLUMNS)


def _ungraded(detector: str, labels: pd.DataFrame, note: str) -> dict[str, Any]:
    return {
        "detector": detector,
        "pr_auc_score": np.nan,
        "roc_auc_score": np.nan,
        "event_recall_score": np.nan,
        "events": np.nan,
        "alerts": 0,
        "precision_of_alerts": np.nan,
        "labelled_points": len(labels),
        "not_scored": 0,
        "note": note,
    }
