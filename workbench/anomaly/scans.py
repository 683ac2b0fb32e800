"""Broad processing: scan every series for anomalies within a time budget, write alerts.

A scan fits a detector on each series' recent history (the ``history`` before
``since``), scores the points in ``[since, until)``, and writes one ``alerts`` row per
flagged point with the detector's reason, plus one ``scans`` row saying what it
covered. Nothing is left out silently: series the time budget did not reach are
listed in ``series_skipped`` (and go first next time), points without enough
history to be scored are counted in ``not_scored``.

Rescanning the same points replaces their alerts: for each scanned series, the
alerts of that detector in ``[since, until)`` are the latest scan's judgement.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.anomaly.detectors import choose_detector
from workbench.anomaly.detectors.cadence import LEAST_HISTORY, default_history, spread_cadence
from workbench.anomaly.observations import check_series, load_observations
from workbench.anomaly.thresholds import SERIES_DEFAULT
from workbench.arguments import looks_like_duration, parse_duration, parse_time
from workbench.exceptions import InvalidArgument, WorkbenchError
from workbench.scope import Scope
from workbench.tables import json_records, utc_text

if TYPE_CHECKING:
    from workbench.headline import Headline
    from workbench.store import Store

__all__ = ["ScanReport", "load_observations", "parse_duration", "parse_time", "scan"]

#: Alert columns, in the order of the ``alerts`` table.
ALERT_COLUMNS = [
    "alert_id",
    "scan_id",
    "detector",
    "series_id",
    "ts",
    "window_start",
    "window_end",
    "value",
    "expected",
    "score",
    "threshold",
    "reason",
    "created_at",
]
#: Columns of a scored series, as charts of its band take them.
BAND_COLUMNS = ["ts", "value", "score", "expected", "low", "high", "alert", "reason"]
# A series whose history before `since` has fewer points than this is not fitted on
# its own: its points are counted as not scored rather than judged from a handful.
MIN_HISTORY_POINTS = 24


@dataclass(frozen=True)
class ScanReport:
    """What one scan covered, what it flagged, and what it left out.

    Attributes
    ----------
    scan_id : str
        Id of the ``scans`` row (and of its alerts).
    detector : str
        Detector that scored the points (the one ``"auto"`` chose; ``"auto"`` when it
        chose differently for different series).
    detector_reason : str
        Why that detector was used.
    since, until : datetime.datetime
        The scored window ``[since, until)``, naive UTC.
    series_total : int
        Series asked for.
    series_scanned : int
        Series scored before the time budget ran out.
    series_skipped : list of str
        Series the budget did not reach, in the order they were due.
    points : int
        Points in the window of the scanned series.
    not_scored : int
        Of those, points without enough history to be scored.
    alerts : pandas.DataFrame
        The alerts written, with the ``alerts`` table's columns.
    flagged : dict of str to pandas.DataFrame
        For each series with alerts (most alerts first), its scored points in the
        window: ``ts``, ``value``, ``score``, ``expected``, ``low``, ``high``, ``alert``,
        ``reason``, ready for :func:`~workbench.anomaly.charts.plot_series_band`.
    status : str
        ``"complete"`` or ``"partial"`` (some series skipped).
    threshold : str
        The alert threshold, as given.
    started_at, finished_at : datetime.datetime
        When the scan ran, naive UTC.
    notes : list of str
        Series whose points could not be scored, and why.
    detectors : dict of str to str
        When ``"auto"`` chose per series: each series' detector and why
        (``"counts: small counts (...), hourly (...)"``); empty otherwise.
    steps : dict of str to float
        Each scanned series' sampling step in seconds, so a budget widened to N points
        is compared per series in its own periods.
    """

    scan_id: str
    detector: str
    detector_reason: str
    since: dt.datetime
    until: dt.datetime
    series_total: int
    series_scanned: int
    series_skipped: list[str]
    points: int
    not_scored: int
    alerts: pd.DataFrame = field(repr=False)
    status: str
    flagged: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    threshold: str = ""
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    notes: list[str] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict, repr=False)
    detectors: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line about the scan, for people."""
        skipped = (
            f"; {len(self.series_skipped):,} series skipped by the time budget"
            if self.series_skipped
            else ""
        )
        unscored = (
            f" ({self.not_scored:,} not scored: too little history)" if self.not_scored else ""
        )
        return (
            f"Scan {self.scan_id} ({self.detector}, {self.status}): {self.series_scanned:,} of "
            f"{self.series_total:,} series, {self.points:,} points from {self.since:%Y-%m-%d %H:%M} "
            f"to {self.until:%Y-%m-%d %H:%M} UTC{unscored}, {len(self.alerts):,} "
            f"alert{'' if len(self.alerts) == 1 else 's'}"
            f"{self._against_budget()}{skipped}."
        )

    def incidents(self, *, bridge: int = 1) -> pd.DataFrame:
        """The alerts grouped into incidents: one row per run of alerted points of a series.

        A level shift alerts on every point it lasts; a reader wants it once, with when
        it started and ended. Alerted points of a series belong to one incident when at
        most ``bridge`` scored points between them did not alert. Each row has the
        series, ``start`` and ``end`` (the first and last alerted point), ``alerts``,
        and the peak (the highest-scored point): its ``ts``, ``value``, ``expected``,
        ``departure`` (value over expected, minus 1) and the detector's ``reason``.
        Highest peak first.
        """
        if isinstance(bridge, bool) or not isinstance(bridge, int) or bridge < 0:
            raise InvalidArgument(f"bridge={bridge!r} must be a whole number of points, 0 or more.")
        rows = []
        for series, frame in self.flagged.items():
            points = frame.sort_values("ts").reset_index(drop=True)
            alerted = points.index[points["alert"] == 1].to_numpy()
            if alerted.size == 0:
                continue
            breaks = (alerted[1:] - alerted[:-1]) > bridge + 1
            groups = [
                group for group in np.split(alerted, np.flatnonzero(breaks) + 1) if group.size
            ]
            for group in groups:
                inside = points.loc[group]
                peak = inside.loc[inside["score"].idxmax()]
                rows.append(
                    {
                        "series_id": series,
                        "start": inside["ts"].iloc[0],
                        "end": inside["ts"].iloc[-1],
                        "alerts": int(group.size),
                        "peak_ts": peak["ts"],
                        "value": float(peak["value"]),
                        "expected": float(peak["expected"]),
                        "departure": float(peak["value"] / peak["expected"] - 1.0)
                        if peak["expected"]
                        else float("nan"),
                        "score": float(peak["score"]),
                        "reason": peak["reason"],
                    }
                )
        columns = ["series_id", "start", "end", "alerts", "peak_ts", "value", "expected"]
        frame = pd.DataFrame(rows, columns=[*columns, "departure", "score", "reason"])
        return frame.sort_values("score", ascending=False, ignore_index=True)

    def headline(self) -> Headline:
        """What the scan found in one sentence, with the window and how old its data is.

        The first figure is the number of alerts.
        """
        from workbench.headline import Figure, Headline

        alerts = len(self.alerts)
        series = int(self.alerts["series_id"].nunique()) if alerts else 0
        window = f"{self.since:%Y-%m-%d %H:%M} to {self.until:%Y-%m-%d %H:%M} UTC"
        age = ""
        if self.finished_at is not None:
            finished = self.finished_at.replace(tzinfo=None)
            days = (finished - self.until.replace(tzinfo=None)).total_seconds() / 86_400
            if days >= 2:
                age = f" The scanned data ends {days:,.0f} days before the scan."
        figures = (
            Figure("alerted points", alerts, "count"),
            Figure("series with alerts", series, "count"),
            Figure("points scanned", self.points, "count"),
        )
        incomplete = (
            f" {len(self.series_skipped):,} series were left for the next scan (time budget)."
            if self.series_skipped
            else ""
        )
        if not alerts:
            return Headline(
                f"Nothing unusual: {self.series_scanned:,} series scanned from {window}, "
                f"no alerts.{incomplete}{age}",
                "watch" if incomplete else "ok",
                figures,
            )
        incidents = len(self.incidents())
        return Headline(
            f"{incidents:,} incident(s) ({alerts:,} alerted points) on {series:,} of "
            f"{self.series_scanned:,} series from {window}: look at them and label what was "
            f"real.{incomplete}{age}",
            "act",
            figures,
        )

    def _against_budget(self) -> str:
        """How the alerts compare with an alert budget: the threshold was set on the
        history, so the window can run over or under it, and people should see which."""
        from workbench.anomaly.thresholds import AlertBudget, parse_threshold

        try:
            rule = parse_threshold(self.threshold)
        except InvalidArgument:
            return ""
        if not isinstance(rule, AlertBudget) or not self.series_scanned:
            return ""
        window = (self.until - self.since).total_seconds()
        period = rule.period.total_seconds()
        # Each series' period, widened to the budget's points of its own spacing.
        lengths = [max(period, rule.points * self.steps.get(name, 0.0)) for name in self.steps]
        lengths += [period] * (self.series_scanned - len(lengths))
        periods = sum(window / length for length in lengths)
        per = rule.per if all(length == period for length in lengths) else "budget period"
        return f" ({len(self.alerts) / periods:.2g} per series per {per}; budget {rule})"

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (times as ISO text, alerts as a list of rows)."""
        alerts = json_records(self.alerts.drop(columns=["created_at"]))
        return {
            "scan_id": self.scan_id,
            "detector": self.detector,
            "detector_reason": self.detector_reason,
            "threshold": self.threshold,
            "since": utc_text(self.since),
            "until": utc_text(self.until),
            "series_total": self.series_total,
            "series_scanned": self.series_scanned,
            "series_skipped": list(self.series_skipped),
            "points": self.points,
            "not_scored": self.not_scored,
            "alerts": alerts,
            "status": self.status,
            "started_at": None if self.started_at is None else self.started_at.isoformat(),
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
            "notes": list(self.notes),
            "detectors": dict(self.detectors),
        }


def scan(
    store: Store,
    detector: str = "auto",
    *,
    since: Any = None,
    until: Any = None,
    threshold: Any = SERIES_DEFAULT,
    history: Any = None,
    time_budget: float = 60.0,
    series: Iterable[str] | str | None = None,
    scope: Scope | str | None = None,
) -> ScanReport:
    """Scan every series (or the given ones) and write alerts for the flagged points.

    Series are processed in a stated order: the series the previous scan of the
    same detector skipped come first (so a tight budget never starves the same
    series twice), then the rest by id. Before each series the elapsed time is
    checked; once ``time_budget`` seconds are spent, the remaining series are
    skipped, listed, and the scan is ``"partial"``. A series already started is
    finished (and the first one always is), so a scan can overrun its budget by one
    series.

    Parameters
    ----------
    store
        The store holding ``observations``; ``alerts`` and ``scans`` are written to it.
    detector
        A series detector name (``seasonal``, ``gaussian``, ``counts``, ``window_iforest``,
        ``supervised``), or ``"auto"``: the supervised detector trained on the stored
        labels when the reconciled labels hold enough of both classes, else a detector
        per series (:func:`~workbench.anomaly.detectors.choose_detector`: ``counts`` for
        small counts, ``seasonal`` for the rest), each series' choice and why in the scan
        record's ``params["detectors"]``.
    since, until
        The window to score, ``[since, until)`` in UTC. ``since`` may also be a span
        before ``until`` (``"7d"``). Default: the last day of data.
    threshold
        Alert budget or false-alarm rate: ``"1/1d or 24 points"`` (the default: at most
        about one alert per series per day, or per 24 of its points for series slower
        than hourly), ``"1/1d"``, ``"fpr:0.001"``, or a threshold object.
    history
        How much data before ``since`` each series' detector is fitted on. None (the
        default) fits each series' cadence (:func:`~workbench.anomaly.detectors.cadence.
        default_history`): 14 days for hourly series, 60 points of a daily one, three
        years of a weekly one.
    time_budget
        Seconds the scan may spend before it skips the remaining series.
    series
        Only these series (default: every series in the store, or in ``scope``).
    scope
        A :class:`~workbench.scope.Scope` (or its name in ``workbench.toml``) whose
        ``series`` prefixes say which series this scan watches.

    Returns
    -------
    ScanReport
        What was scanned, skipped and flagged.
    """
    from workbench.anomaly.thresholds import parse_threshold

    started = _now()
    clock = time.monotonic()
    rule = parse_threshold(threshold)
    lookback = None if history is None else parse_duration(history, name="history")
    if not isinstance(time_budget, int | float) or not time_budget > 0:
        raise InvalidArgument(f"time_budget={time_budget!r} must be a positive number of seconds.")
    if not isinstance(detector, str):
        raise InvalidArgument(f"detector={detector!r} must be a detector name or 'auto'.")
    read_scope = Scope.resolve(scope)
    bounds = _series_bounds(store, read_scope)
    if bounds.empty:
        where = "" if read_scope.is_everything else f" in scope {read_scope.describe()}"
        raise WorkbenchError(
            f"The store holds no observations{where} to scan. Ingest some with "
            "`workbench ingest FILE --table observations`."
        )
    names = (
        check_series(store, [series] if isinstance(series, str) else list(series))
        if series is not None
        else bounds.index.tolist()
    )
    window_end = parse_time(until, name="until")
    if window_end is None:
        # Just after the newest point, so the newest point is scored.
        window_end = (
            bounds.loc[names, "last"].max() + pd.Timedelta(microseconds=1)
        ).to_pydatetime()
    window_start = _window_start(since, window_end)
    if window_start >= window_end:
        raise InvalidArgument(f"since ({window_start}) must be before until ({window_end}).")

    # The window's detector learns only from labels of points before the window, so a
    # replay of this scan later, with more labels in the store, flags the same points.
    chosen, reason, trained = _choose_detector(
        store,
        detector,
        rule=rule,
        history=pd.Timedelta(LEAST_HISTORY) if lookback is None else lookback,
        before=window_start,
    )
    order = _scan_order(store, chosen, names)
    scan_id = f"scan-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    alerts, scanned, skipped, points, not_scored = [], [], [], 0, 0
    notes: list[str] = []
    shown: dict[str, pd.DataFrame] = {}
    # Each scanned series' detector; with "auto" and too few labels, also why it was chosen.
    used: dict[str, str] = {}
    choices: dict[str, str] = {}
    cadences = {
        name: spread_cadence(*bounds.loc[name, ["first", "last", "points"]]) for name in order
    }
    spans = {
        name: default_history(cadences[name]) if lookback is None else lookback.to_pytimedelta()
        for name in order
    }
    # One read for every series (a read per series cost a store session each), each series
    # then cut to its own history.
    observed = load_observations(
        store, since=window_start - max(spans.values()), until=window_end, series=order
    )
    frames = dict(iter(observed.groupby("series_id", sort=False, observed=True)))
    for position, name in enumerate(order):
        # The first series always runs, so even a budget too small for one series makes
        # progress: the skipped ones go first next time.
        if position and time.monotonic() - clock >= time_budget:
            skipped = order[position:]
            break
        frame = frames.get(name, observed.iloc[:0])
        frame = frame[frame["ts"] >= window_start - spans[name]].reset_index(drop=True)
        own = chosen
        if chosen == "auto":
            own, why = choose_detector(frame[frame["ts"] < window_start])
            choices[name] = f"{own}: {why}"
        used[name] = own
        scored, problem = score_series(frame, own, trained, rule=rule, since=window_start)
        if problem is not None:
            notes.append(f"{name}: not scored ({problem})")
        scanned.append(name)
        points += len(scored)
        not_scored += int(scored["score"].isna().sum())
        flagged = scored[scored["alert"] == 1]
        if not flagged.empty:
            alerts.append(flagged.assign(detector=own))
            shown[name] = scored[BAND_COLUMNS].reset_index(drop=True)
    if chosen == "auto":
        chosen, reason = _summarize_choices(used, reason)
    created = _now()
    written = _alert_rows(
        alerts,
        scan_id=scan_id,
        detector=chosen,
        since=window_start,
        until=window_end,
        created=created,
    )
    status = "partial" if skipped else "complete"
    report = ScanReport(
        scan_id=scan_id,
        detector=chosen,
        detector_reason=reason,
        since=window_start,
        until=window_end,
        series_total=len(order),
        series_scanned=len(scanned),
        series_skipped=list(skipped),
        points=points,
        not_scored=not_scored,
        alerts=written,
        flagged=dict(sorted(shown.items(), key=lambda item: -int(item[1]["alert"].sum()))),
        status=status,
        threshold=str(threshold),
        started_at=started,
        finished_at=created,
        notes=notes,
        detectors=dict(sorted(choices.items())),
        steps={
            name: cadences[name].step.total_seconds() for name in scanned if cadences[name].step
        },
    )
    params = {
        "detector": detector,
        "detector_reason": reason,
        "detectors": choices,
        "threshold": str(threshold),
        "history": "by cadence" if history is None else str(history),
        "time_budget": float(time_budget),
        "series": None if series is None else names,
        "not_scored": not_scored,
        "notes": notes,
    }
    _write(store, report, params=params, scanned=used)
    return report


def _window_start(since: Any, until: dt.datetime) -> dt.datetime:
    """``since`` as a time, or as a span before ``until`` (``"7d"``); default one day."""
    if since is None:
        return until - dt.timedelta(days=1)
    if looks_like_duration(since):
        return until - parse_duration(since, name="since").to_pytimedelta()
    return parse_time(since, name="since")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _series_bounds(store: Store, scope: Scope) -> pd.DataFrame:
    frame = store.sql(
        "SELECT series_id, min(ts) AS first, max(ts) AS last, count(*) AS points "
        f"FROM observations WHERE {scope.observations_sql()} GROUP BY series_id ORDER BY series_id"
    ).to_pandas()
    return frame.set_index("series_id")


def _choose_detector(
    store: Store, name: str, *, rule: Any, history: pd.Timedelta, before: dt.datetime
):
    """The detector to use: (name, why, a detector already trained or None)."""
    from workbench.anomaly.detectors import DETECTORS

    if name == "auto":
        # Imported here: the labeling loop builds on this module's loaders.
        from workbench.anomaly.labeling import MIN_LABELS_PER_CLASS, label_counts, train_from_labels

        positives, negatives = label_counts(store, before=before)
        if min(positives, negatives) >= MIN_LABELS_PER_CLASS:
            trained = train_from_labels(store, threshold=rule, history=history, before=before)
            return (
                "supervised",
                f"auto: supervised, trained on {positives:,} anomalous and {negatives:,} normal "
                "settled labels of points before the window",
                trained,
            )
        return (
            "auto",
            f"auto: chosen per series by its values, because the settled labels before the "
            f"window hold {positives:,} anomalous and {negatives:,} normal points (the "
            f"supervised detector needs at least {MIN_LABELS_PER_CLASS} of each)",
            None,
        )
    if name not in DETECTORS:
        raise InvalidArgument(
            f"Unknown detector {name!r}. Choose 'auto' or one of: {', '.join(sorted(DETECTORS))}."
        )
    if getattr(DETECTORS[name], "kind", "series") != "series":
        series_names = sorted(n for n, c in DETECTORS.items() if getattr(c, "kind", "") == "series")
        raise InvalidArgument(
            f"Detector {name!r} is for tabular data; a scan of observations needs a series "
            f"detector: {', '.join(series_names)}."
        )
    if name == "supervised":
        from workbench.anomaly.labeling import train_from_labels

        return (
            name,
            "asked for: supervised, trained on the stored labels of points before the window",
            train_from_labels(store, threshold=rule, history=history, before=before),
        )
    return name, f"asked for: {name}", None


def _summarize_choices(used: dict[str, str], reason: str) -> tuple[str, str]:
    """The scan's detector and reason when "auto" chose per series: the one detector all
    series got, else ``"auto"``; the reason counts the series of each."""
    from collections import Counter

    counts = Counter(used.values())
    if not counts:
        return "seasonal", reason
    counted = ", ".join(f"{name} for {count:,} series" for name, count in counts.most_common())
    return (next(iter(counts)) if len(counts) == 1 else "auto"), f"{reason}: {counted}"


def _scan_order(store: Store, detector: str, names: list[str]) -> list[str]:
    """Series the previous scan of this detector skipped first, then the rest by id."""
    # A scan is known by the detector asked for ("auto" may have resolved to another).
    previous = store.sql(
        "SELECT series_skipped FROM scans WHERE detector = ? "
        "OR json_extract_string(params, '$.detector') = ? ORDER BY started_at DESC LIMIT 1",
        [detector, detector],
    ).to_pylist()
    wanted = set(names)
    first = []
    if previous and previous[0]["series_skipped"]:
        first = [s for s in json.loads(previous[0]["series_skipped"]) if s in wanted]
    rest = sorted(wanted - set(first))
    return first + rest


def score_series(
    frame: pd.DataFrame, detector: str, trained: Any, *, rule: Any, since: dt.datetime
) -> tuple[pd.DataFrame, str | None]:
    """Score one series' points from ``since`` on; fit on the points before it first.

    Returns the scored points and, when they could not be scored, why.
    """
    from sklearn.base import clone

    from workbench.anomaly.detectors import make_detector

    window = frame["ts"] >= since
    target = frame[window]
    unscored = target.assign(
        score=float("nan"),
        expected=float("nan"),
        low=float("nan"),
        high=float("nan"),
        reason="",
        alert=0,
        threshold=float("nan"),
    )
    if target.empty:
        return unscored, None
    if trained is not None:
        model = trained
    else:
        fit_on = frame[~window]
        if len(fit_on) < MIN_HISTORY_POINTS:
            # Too little history to learn what is normal: not scored, and counted as such.
            return unscored, (
                f"{len(fit_on)} points of history before the window, fewer than "
                f"{MIN_HISTORY_POINTS}"
            )
        try:
            model = clone(make_detector(detector, threshold=rule)).fit(fit_on)
        except InvalidArgument as error:
            # The detector found the history unusable (e.g. all of it warm-up): this
            # series is reported as not scored rather than stopping the whole scan.
            return unscored, str(error)
    # Scored with the history in front, since each score looks back at earlier points.
    explained = model.explain(frame).set_index(frame.index)
    out = target.copy()
    for column in ("score", "expected", "low", "high", "reason"):
        out[column] = explained.loc[window, column].to_numpy()
    # As ``model.predict`` decides, without scoring every point a second time.
    score = out["score"].to_numpy(dtype=float)
    out["alert"] = np.where(np.isnan(score), 0, score > model.threshold_).astype(int)
    out["threshold"] = float(model.threshold_)
    return out, None


def _alert_rows(
    parts: list[pd.DataFrame],
    *,
    scan_id: str,
    detector: str,
    since: dt.datetime,
    until: dt.datetime,
    created: dt.datetime,
) -> pd.DataFrame:
    if not parts:
        frame = pd.DataFrame({c: pd.Series(dtype="object") for c in ALERT_COLUMNS})
        for column in ("ts", "window_start", "window_end", "created_at"):
            frame[column] = pd.Series(dtype="datetime64[us]")
        for column in ("value", "expected", "score", "threshold"):
            frame[column] = pd.Series(dtype="float64")
        return frame
    flagged = pd.concat(parts, ignore_index=True)
    frame = pd.DataFrame(
        {
            "alert_id": [f"{scan_id}-{i:05d}" for i in range(len(flagged))],
            "scan_id": scan_id,
            "detector": flagged["detector"].astype(str) if "detector" in flagged else detector,
            "series_id": flagged["series_id"].astype(str),
            "ts": flagged["ts"].astype("datetime64[us]"),
            "window_start": pd.Timestamp(since),
            "window_end": pd.Timestamp(until),
            "value": flagged["value"].astype("float64"),
            "expected": flagged["expected"].astype("float64"),
            "score": flagged["score"].astype("float64"),
            "threshold": flagged["threshold"].astype("float64"),
            "reason": flagged["reason"].astype(str),
            "created_at": pd.Timestamp(created),
        }
    )
    for column in ("window_start", "window_end", "created_at"):
        frame[column] = frame[column].astype("datetime64[us]")
    return frame


def _write(store: Store, report: ScanReport, *, params: dict, scanned: dict[str, str]) -> None:
    """Replace the scanned series' alerts in the window (those of the detector each series
    was scanned with) and record the scan, all at once."""
    columns = ", ".join(ALERT_COLUMNS)
    with store.transaction() as raw:
        if scanned:
            raw.register(
                "__wb_scanned",
                pd.DataFrame({"series_id": list(scanned), "detector": list(scanned.values())}),
            )
            try:
                raw.execute(
                    "DELETE FROM alerts WHERE ts >= ? AND ts < ? AND (series_id, detector) IN "
                    "(SELECT (series_id, detector) FROM __wb_scanned)",
                    [report.since, report.until],
                )
            finally:
                raw.unregister("__wb_scanned")
        if len(report.alerts):
            raw.register("__wb_alerts", report.alerts)
            try:
                raw.execute(f"INSERT INTO alerts ({columns}) SELECT {columns} FROM __wb_alerts")
            finally:
                raw.unregister("__wb_alerts")
        raw.execute(
            "INSERT INTO scans (scan_id, detector, params, since, until, series_total, "
            "series_scanned, series_skipped, points, alerts, started_at, finished_at, status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                report.scan_id,
                report.detector,
                json.dumps(params),
                report.since,
                report.until,
                report.series_total,
                report.series_scanned,
                json.dumps(report.series_skipped),
                report.points,
                len(report.alerts),
                report.started_at,
                report.finished_at,
                report.status,
            ],
        )
