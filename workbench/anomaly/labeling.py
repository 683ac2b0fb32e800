"""The labeling loop: a queue ordered by active learning, labels, reconciliation, retraining.

People (several of them, "sources") label series points, or spans of a series (an
incident from its start to its end), as anomalous (1) or normal (0). A settled span
labels every observed point inside it; a point's own label wins over a span's. Labels
go through the capture path, so a bad label is quarantined with
its reason like any other bad row. Each source's latest label of a target counts
once; :func:`reconcile` takes the majority and says how far the sources agree.
Targets they disagree on are not settled: they go back to the front of the queue.

The queue asks for the labels that teach the current model most: the points it is
least sure about (uncertainty sampling), spread over series and time (diversity),
so that a round of labels is not spent on five neighbours of one incident.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.anomaly.observations import load_observations
from workbench.arguments import parse_duration, parse_time
from workbench.exceptions import InvalidArgument, WorkbenchError

if TYPE_CHECKING:
    from workbench.capture import IngestReport
    from workbench.store import Store

__all__ = [
    "MIN_AGREEMENT",
    "MIN_LABELS_PER_CLASS",
    "agreement_rate",
    "export_labels",
    "label",
    "label_counts",
    "labeling_queue",
    "point_target",
    "point_targets",
    "reconcile",
    "span_target",
    "train_from_labels",
]

#: A target is settled when this share of its sources agree with the majority.
#: Three labelers split 2 to 1 (0.67) are not settled: a fourth opinion is asked for.
MIN_AGREEMENT = 0.75
#: Settled labels of each class the supervised detector needs before ``auto`` uses it.
MIN_LABELS_PER_CLASS = 10
#: Share of unlabelled points presumed normal when training from labels.
BACKGROUND_SHARE = 0.1
# The Store.memo holding the last detector trained from labels, by its inputs.
_TRAINED = "anomaly.trained_from_labels"
STRATEGIES = ("uncertainty", "random")
#: Two queued points of different series are at least ``spacing / ACROSS_SERIES_SHARE`` apart.
ACROSS_SERIES_SHARE = 4
QUEUE_COLUMNS = [
    "series_id",
    "ts",
    "target",
    "value",
    "score",
    "p_anomalous",
    "why",
    "votes",
    "agreement",
    "span_start",
    "span_end",
    "span_target",
]
#: The columns of a label file, as :func:`export_labels` writes and ``ingest`` reads them.
LABEL_FILE_COLUMNS = ["target", "series_id", "ts", "ts_end", "label", "source", "labeled_at"]


def point_target(series_id: str, ts: Any) -> str:
    """The label target of a series point, ``series_id@YYYY-MM-DDTHH:MM:SS+00:00``.

    The same text the capture path derives when a label file has series_id and ts.

    >>> point_target("host_00.cpu", "2026-01-02 03:00")
    'host_00.cpu@2026-01-02T03:00:00+00:00'
    """
    stamp = pd.Timestamp(parse_time(ts, name="ts"))
    fraction = f".{stamp.microsecond:06d}" if stamp.microsecond else ""
    return f"{series_id}@{stamp:%Y-%m-%dT%H:%M:%S}{fraction}+00:00"


def span_target(series_id: str, start: Any, end: Any) -> str:
    """The label target of a span of a series, ``series_id@START/END`` (both included).

    >>> span_target("host_00.cpu", "2026-01-02 03:00", "2026-01-02 07:00")
    'host_00.cpu@2026-01-02T03:00:00+00:00/2026-01-02T07:00:00+00:00'
    """
    first = parse_time(start, name="start")
    last = parse_time(end, name="end")
    if last < first:
        raise InvalidArgument(f"The span ends ({last}) before it starts ({first}).")
    return f"{point_target(series_id, first)}/{point_target('', last)[1:]}"


def point_targets(series_id: pd.Series, ts: pd.Series) -> pd.Series:
    """:func:`point_target` for whole columns at once."""
    stamps = pd.to_datetime(ts)
    micros = stamps.dt.microsecond
    fraction = micros.map(lambda m: f".{m:06d}" if m else "")
    return (
        series_id.astype(str) + "@" + stamps.dt.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "+00:00"
    )


def _split_target(target: str) -> tuple[str, dt.datetime, dt.datetime | None] | None:
    """``series_id@time`` or ``series_id@start/end`` as (series, start, end or None)."""
    series_id, sep, when = target.rpartition("@")
    if not sep or not series_id:
        return None
    start, slash, end = when.partition("/")
    try:
        first = parse_time(start, name="target")
    except InvalidArgument:
        return None  # not a series point: an event id that holds an "@"
    if not slash:
        return series_id, first, None
    try:
        last = parse_time(end, name="target") if end.strip() else None
    except InvalidArgument:
        last = None
    if last is None:
        raise InvalidArgument(
            f"The span {target!r} has no readable end after '/'; write "
            "series_id@START/END with both as ISO times, e.g. "
            "host_00.cpu@2026-01-02T03:00:00Z/2026-01-02T07:00:00Z."
        )
    # A span of one instant is that point.
    return series_id, first, None if last == first else last


def label(
    store: Store,
    target: str,
    label: Any,
    *,
    source: str,
    series_id: str | None = None,
    ts: Any = None,
    ts_end: Any = None,
) -> IngestReport:
    """Record one judgement: ``label`` 1 (anomalous) or 0 (normal) for ``target`` by ``source``.

    The label is written through :func:`workbench.capture.ingest`, so the batch
    accounting and quarantine apply. A label the table refuses (``2``, ``"yes"``, an
    empty source) is quarantined with its reason, and this function then raises
    :class:`~workbench.exceptions.InvalidArgument` quoting that reason.

    Parameters
    ----------
    store
        The store to write to.
    target
        ``series_id@ISO-time`` for a series point (see :func:`point_target`),
        ``series_id@START/END`` for a span of it (:func:`span_target`), or an event id.
    label
        1 anomalous, 0 normal.
    source
        Who labels: a person's name, a rule, an import.
    series_id, ts, ts_end
        The series point, or span from ``ts`` to ``ts_end``; derived from ``target``
        when it is ``series_id@time`` or ``series_id@start/end``.

    Returns
    -------
    IngestReport
        The capture report of the one-row batch.
    """
    from workbench.capture import ingest

    if not isinstance(target, str) or not target.strip():
        raise InvalidArgument(f"target={target!r}: give series_id@ISO-time or an event id.")
    parsed = _split_target(target)
    if series_id is None and ts is None and parsed is not None:
        series_id, ts, ts_end = parsed
        # Written in the canonical form, so every labeler's vote lands on one target.
        target = point_target(series_id, ts) if ts_end is None else span_target(*parsed)
    elif (series_id is None) != (ts is None):
        raise InvalidArgument("Give both series_id and ts for a series point, or neither.")
    when = None if ts is None else parse_time(ts, name="ts")
    until = None if ts_end is None else parse_time(ts_end, name="ts_end")
    if until is not None and until == when:
        until = None  # a span of one instant is that point
    if until is not None and when is not None and until < when:
        raise InvalidArgument(f"The span of {target} ends ({until}) before it starts ({when}).")
    row = pd.DataFrame(
        {
            "target": [target],
            "series_id": pd.Series([series_id], dtype="object"),
            "ts": pd.Series([when], dtype="datetime64[us]"),
            "ts_end": pd.Series([until], dtype="datetime64[us]"),
            "label": [label],
            "source": [source],
            # Stated rather than defaulted, so the same judgement given again later is a
            # new vote in time, not a re-ingest of identical content.
            "labeled_at": pd.Series([_now()], dtype="datetime64[us]"),
        }
    )
    report = ingest(store, row, table="labels", source_name=f"label:{source}")
    if report.quarantined:
        reasons = store.sql("SELECT reason FROM quarantine WHERE batch_id = ?", [report.batch_id])[
            "reason"
        ].to_pylist()
        raise InvalidArgument(
            f"The label {label!r} for {target} by {source!r} was not recorded: "
            f"{'; '.join(reasons)}. It is kept in quarantine (batch {report.batch_id}); "
            "label again with 1 (anomalous) or 0 (normal)."
        )
    return report


def reconcile(store: Store, *, min_agreement: float = MIN_AGREEMENT) -> pd.DataFrame:
    """One row per labelled target: the majority label of the sources' latest labels.

    Parameters
    ----------
    store
        The store holding ``labels``.
    min_agreement
        Share of sources that must agree with the majority for a target to be settled.

    Returns
    -------
    pandas.DataFrame
        ``target``, ``series_id``, ``ts``, ``ts_end`` (a span's last time; missing for
        a point), ``label`` (majority; missing on a tie),
        ``votes`` (sources), ``positives`` (sources saying anomalous), ``agreement``
        (share agreeing with the majority), ``settled`` (no tie and agreement at least
        ``min_agreement``), ``sources`` (comma-separated).
    """
    if not 0.5 <= min_agreement <= 1:
        raise InvalidArgument(f"min_agreement={min_agreement!r} must be in [0.5, 1].")
    frame = store.sql(
        "WITH latest AS ("
        "  SELECT *, row_number() OVER (PARTITION BY target, source ORDER BY labeled_at DESC) AS n"
        "  FROM labels) "
        "SELECT target, any_value(series_id) AS series_id, any_value(ts) AS ts, "
        "any_value(ts_end) AS ts_end, "
        "count(*) AS votes, CAST(sum(label) AS BIGINT) AS positives, "
        "string_agg(source, ',' ORDER BY source) AS sources "
        "FROM latest WHERE n = 1 GROUP BY target ORDER BY target"
    ).to_pandas()
    votes = frame["votes"].astype("int64")
    positives = frame["positives"].astype("int64")
    majority = np.maximum(positives, votes - positives)
    tie = positives * 2 == votes
    frame["label"] = pd.array(np.where(positives * 2 > votes, 1, 0), dtype="Int8")
    frame.loc[tie, "label"] = pd.NA
    frame["agreement"] = (majority / votes).astype("float64")
    frame["settled"] = ~tie & (frame["agreement"] >= min_agreement)
    frame["ts"] = frame["ts"].astype("datetime64[us]")
    frame["ts_end"] = frame["ts_end"].astype("datetime64[us]")
    return frame[
        [
            "target",
            "series_id",
            "ts",
            "ts_end",
            "label",
            "votes",
            "positives",
            "agreement",
            "settled",
            "sources",
        ]
    ]


def export_labels(store: Store, path: Any) -> int:
    """Write every label (each source's every vote) to a CSV file that ``ingest`` reads back.

    The file has the columns ``target``, ``series_id``, ``ts``, ``ts_end``, ``label``,
    ``source`` and ``labeled_at``, times in ISO form with ``Z`` (UTC). Importing it
    elsewhere with ``workbench ingest FILE --table labels`` recreates the same votes,
    so both stores reconcile alike; the capture path recognizes a file it already read,
    and a vote already stored is a duplicate.

    Returns
    -------
    int
        Labels written.
    """
    from pathlib import Path

    frame = store.sql(
        f"SELECT {', '.join(LABEL_FILE_COLUMNS)} FROM labels ORDER BY labeled_at, target, source"
    ).to_pandas()
    for column in ("ts", "ts_end", "labeled_at"):
        stamps = pd.to_datetime(frame[column])
        frame[column] = stamps.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").where(stamps.notna(), "")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(target, index=False)
    return len(frame)


def agreement_rate(store: Store) -> float:
    """How often two sources labelling the same target agree (observed pairwise agreement).

    Over every target labelled by at least two sources, the share of pairs of their
    latest labels that agree. NaN when no target has two sources yet.
    """
    table = reconcile(store)
    table = table[table["votes"] >= 2]
    if table.empty:
        return float("nan")
    n, p = table["votes"].to_numpy(), table["positives"].to_numpy()
    agreeing = p * (p - 1) / 2 + (n - p) * (n - p - 1) / 2
    return float(agreeing.sum() / (n * (n - 1) / 2).sum())


def settled_point_labels(
    store: Store, *, min_agreement: float = MIN_AGREEMENT, before: Any = None
) -> pd.DataFrame:
    """Settled series-point labels whose point is in ``observations`` (the usable ones).

    A settled span labels each observed point of its series from ``ts`` to ``ts_end``
    (both included); a point's own settled label wins over a span's, and where spans
    overlap, an anomalous one wins over a normal one. ``before``: only points before
    this time, so a model for a window learns only from what precedes it.
    """
    table = reconcile(store, min_agreement=min_agreement)
    table = table[table["settled"] & table["series_id"].notna() & table["ts"].notna()]
    if table.empty:
        return table.assign(label=pd.Series(dtype="int64"))
    points = table[table["ts_end"].isna()].drop(columns="ts_end")
    found = store.sql(
        "SELECT DISTINCT o.series_id, o.ts FROM observations o "
        "JOIN labels l ON o.series_id = l.series_id AND o.ts = l.ts"
    ).to_pandas()
    found["ts"] = found["ts"].astype("datetime64[us]")
    points = points.merge(found, on=["series_id", "ts"], how="inner")
    spans = table[table["ts_end"].notna()]
    if len(spans):
        with store.reading() as raw:
            raw.register("__wb_spans", spans[["target", "series_id", "ts", "ts_end"]])
            try:
                inside = raw.execute(
                    "SELECT s.target, o.series_id, o.ts FROM observations o JOIN __wb_spans s "
                    "ON o.series_id = s.series_id AND o.ts BETWEEN s.ts AND s.ts_end"
                ).df()
            finally:
                raw.unregister("__wb_spans")
        inside["ts"] = inside["ts"].astype("datetime64[us]")
        covered = inside.merge(spans.drop(columns=["series_id", "ts", "ts_end"]), on="target")
        covered = covered.sort_values("label", ascending=False).drop_duplicates(["series_id", "ts"])
        own = pd.MultiIndex.from_frame(points[["series_id", "ts"]])
        covered = covered[~pd.MultiIndex.from_frame(covered[["series_id", "ts"]]).isin(own)]
        points = pd.concat([points, covered[points.columns]], ignore_index=True)
    if before is not None:
        points = points[points["ts"] < parse_time(before, name="before")]
    points = points.sort_values(["series_id", "ts"], ignore_index=True)
    return points.assign(label=points["label"].astype("int64"))


def label_counts(store: Store, *, before: Any = None) -> tuple[int, int]:
    """(anomalous, normal) settled labels of observed series points: what training can use.

    ``before``: count only labels of points before this time.
    """
    table = settled_point_labels(store, before=before)
    positives = int((table["label"] == 1).sum())
    return positives, int(len(table) - positives)


def train_from_labels(
    store: Store,
    *,
    detector: str = "supervised",
    history: Any = "14d",
    threshold: Any = None,
    series: list[str] | None = None,
    background: float = BACKGROUND_SHARE,
    seed: int = 0,
    before: Any = None,
) -> Any:
    """Fit a detector on the stored labels (the settled ones) and return it.

    Parameters
    ----------
    store
        The store holding ``observations`` and ``labels``.
    detector
        A detector name, by default the supervised one.
    history
        How far before the first labelled point observations are read, so labelled
        points early in the data still have trailing-window features.
    threshold
        Alert threshold for the fitted detector (the detector's default when None).
    series
        Train only on labels of these series (default: every labelled series).
    background
        Share of the unlabelled points, drawn at random (``seed``), that are presumed
        normal for training. Anomalies are rare, so this shows the model ordinary
        data beside the hard cases people label; 0 trains on the labels alone.
    seed
        Seed of that draw.
    before
        Learn only from labels of points before this time (UTC), and from the
        observations before it: a scan of a window uses what was known before the
        window, so replaying it later gives the same alerts.

    Raises
    ------
    InvalidArgument
        When the settled labels hold fewer than :data:`MIN_LABELS_PER_CLASS` of
        either class; the message says how many there are.
    """
    labels = settled_point_labels(store, before=before)
    if series is not None:
        labels = labels[labels["series_id"].isin(series)]
    positives = int((labels["label"] == 1).sum())
    negatives = len(labels) - positives
    if min(positives, negatives) < MIN_LABELS_PER_CLASS:
        raise InvalidArgument(
            f"Training from labels needs at least {MIN_LABELS_PER_CLASS} settled labels of each "
            f"class; there are {positives} anomalous and {negatives} normal. Label more points "
            "from `workbench anomaly queue`."
        )
    if not 0 <= background < 1:
        raise InvalidArgument(f"background={background!r} must be a share in [0, 1).")
    lookback = parse_duration(history, name="history")
    frame = load_observations(
        store,
        since=labels["ts"].min() - lookback,
        until=labels["ts"].max() + pd.Timedelta(microseconds=1),
        series=sorted(labels["series_id"].unique()),
    )
    merged = frame.merge(labels[["series_id", "ts", "label"]], on=["series_id", "ts"], how="left")
    target = merged["label"].astype("float64").to_numpy(copy=True)
    if background:
        # Labels chosen by the queue are the hard cases (high-scoring normals, anomalies):
        # without ordinary points the model never learns what most of the data looks
        # like. Anomalies are rare, so a seeded sample of unlabelled points is presumed
        # normal for training (positive-unlabelled learning); the stored labels win.
        unlabelled = np.flatnonzero(np.isnan(target))
        rng = np.random.default_rng(seed)
        drawn = rng.choice(unlabelled, size=round(background * unlabelled.size), replace=False)
        target[drawn] = 0.0
    from workbench.anomaly.detectors import make_detector

    params = {} if threshold is None else {"threshold": _threshold(threshold)}
    # A scan and the grading of its window train on the same rows: the fit is kept for
    # the same detector, parameters and rows (each caller gets its own copy).
    key = (
        detector,
        repr(params),
        int(pd.util.hash_pandas_object(frame, index=False).sum()),
        np.nan_to_num(target, nan=-1.0).tobytes(),
    )
    fitted = store.memo(_TRAINED)
    if key not in fitted:
        fitted.clear()  # one model kept: the last one trained
        fitted[key] = make_detector(detector, **params).fit(frame, target)
    return copy.deepcopy(fitted[key])


def _threshold(value: Any) -> Any:
    from workbench.anomaly.thresholds import parse_threshold

    return parse_threshold(value)


def labeling_queue(
    store: Store,
    *,
    size: int = 20,
    detector: str = "auto",
    strategy: str = "uncertainty",
    since: Any = None,
    until: Any = None,
    series: list[str] | None = None,
    spacing: Any = "1d",
    seed: int = 0,
) -> pd.DataFrame:
    """The points to label next, most useful first.

    Targets whose labelers disagree (not settled by :func:`reconcile`) come first,
    with ``why="labelers disagree"``. The rest of the queue is chosen from the
    unlabelled scored points:

    - ``strategy="uncertainty"``: the points whose probability of being anomalous
      under the current model is nearest 0.5. The current model is the supervised
      detector trained on the labels once there are enough of both classes (for
      ``detector="auto"``), else the unsupervised detector, whose probability is its
      score's distance from the alert threshold (so, before any labels, the queue
      asks about the points around the threshold). For diversity, a point is
      skipped when the queue already holds one of the same series within
      ``spacing``: one question per incident.
    - ``strategy="random"``: unlabelled points drawn uniformly (seeded), for comparison.

    Parameters
    ----------
    store
        The store holding ``observations`` and ``labels``.
    size
        How many points to return (at most).
    detector
        ``"auto"`` or a series detector name.
    strategy
        ``"uncertainty"`` or ``"random"``.
    since, until
        Only points with ``since <= ts < until`` (default: all).
    series
        Only these series (default: all).
    spacing
        Least time between two queued points of one series.
    seed
        Seed of the random strategy.

    Returns
    -------
    pandas.DataFrame
        ``series_id``, ``ts``, ``target``, ``value``, ``score``, ``p_anomalous``, ``why``,
        ``votes`` (labels so far), ``agreement`` (NaN when unlabelled), and the span the
        detector proposes around the point: ``span_start``, ``span_end`` (the run of
        alerting points of its series around it; the point alone when it does not alert)
        and ``span_target``, which labels the whole span at once.
    """
    if not isinstance(size, int | np.integer) or isinstance(size, bool) or size < 1:
        raise InvalidArgument(f"size={size!r} must be a whole number of points, 1 or more.")
    if strategy not in STRATEGIES:
        raise InvalidArgument(f"strategy={strategy!r}: choose one of {', '.join(STRATEGIES)}.")
    gap = parse_duration(spacing, name="spacing")
    table = reconcile(store)
    disputed = table[~table["settled"]]
    if series is not None:
        disputed = disputed[disputed["series_id"].isin(series)]
    disputed = disputed.sort_values(["agreement", "target"]).head(size)
    first = pd.DataFrame(
        {
            "series_id": disputed["series_id"],
            "ts": disputed["ts"],
            "target": disputed["target"],
            "why": "labelers disagree",
            "votes": disputed["votes"].astype("int64"),
            "agreement": disputed["agreement"],
        }
    )
    if len(first):
        observed, _ = _point_scores(
            store, detector, since=None, until=None, series=series, only=first
        )
        first = first.merge(observed, on=["series_id", "ts"], how="left")
    wanted = size - len(first)
    rest = pd.DataFrame(columns=QUEUE_COLUMNS)
    if wanted > 0:
        everything, supervised = _point_scores(
            store, detector, since=since, until=until, series=series
        )
        scored = everything.assign(target=point_targets(everything["series_id"], everything["ts"]))
        # Labelled targets are either settled (nothing to ask) or already queued above; a
        # point inside a settled span is labelled too.
        covered = settled_point_labels(store)
        inside = pd.MultiIndex.from_frame(scored[["series_id", "ts"]]).isin(
            pd.MultiIndex.from_frame(covered[["series_id", "ts"]])
        )
        scored = scored[~scored["target"].isin(table["target"]) & ~inside & scored["score"].notna()]
        if strategy == "random":
            rng = np.random.default_rng(seed)
            picked = scored.iloc[rng.permutation(len(scored))[:wanted]]
            picked = picked.assign(why="random sample, for comparison")
        else:
            picked = _uncertain_and_spread(scored, wanted, gap, supervised=supervised)
        rest = _proposed_spans(picked.assign(votes=0, agreement=float("nan")), everything)
    queue = pd.concat([first, rest], ignore_index=True) if len(first) else rest
    queue = queue.reindex(columns=QUEUE_COLUMNS)
    queue["votes"] = queue["votes"].astype("int64")
    for column in ("value", "score", "p_anomalous", "agreement"):
        queue[column] = queue[column].astype("float64")
    return queue.reset_index(drop=True)


def _proposed_spans(queue: pd.DataFrame, scored: pd.DataFrame) -> pd.DataFrame:
    """Each queued point's span as the detector sees it: the run of alerting points of its
    series around it (just the point when it does not alert), to accept or reject whole."""
    starts, ends = [], []
    for row in queue.itertuples():
        points = scored[scored["series_id"] == row.series_id].sort_values("ts")
        alerting = (points["score"] > points["threshold"]).to_numpy()
        times = points["ts"].to_numpy()
        at = int(np.searchsorted(times, np.datetime64(row.ts)))
        first = last = at
        if at < len(times) and alerting[at]:
            while first > 0 and alerting[first - 1]:
                first -= 1
            while last + 1 < len(times) and alerting[last + 1]:
                last += 1
        starts.append(pd.Timestamp(times[first]) if at < len(times) else row.ts)
        ends.append(pd.Timestamp(times[last]) if at < len(times) else row.ts)
    out = queue.assign(
        span_start=pd.Series(starts, index=queue.index, dtype="datetime64[us]"),
        span_end=pd.Series(ends, index=queue.index, dtype="datetime64[us]"),
    )
    out["span_target"] = [
        span_target(s, a, b) if a != b else point_target(s, a)
        for s, a, b in zip(out["series_id"], out["span_start"], out["span_end"], strict=True)
    ]
    return out


def _uncertain_and_spread(
    scored: pd.DataFrame, wanted: int, gap: pd.Timedelta, *, supervised: bool
) -> pd.DataFrame:
    """Greedy pick in order of usefulness, skipping points near one taken in their series.

    With a model trained on labels, the most useful point is the one it is least
    sure about (probability nearest 0.5). Before that (a cold start), the points at
    and above the unsupervised threshold come first, highest score first: they are
    where the anomalies to learn from are, and where the false alarms to unlearn
    are; the rest follow nearest the threshold first.
    """
    doubt = (scored["p_anomalous"] - 0.5).abs()
    if supervised:
        ordered = scored.assign(_rank=doubt).sort_values(
            ["_rank", "score", "series_id", "ts"], ascending=[True, False, True, True]
        )
    else:
        above = scored["p_anomalous"] >= 0.5
        ordered = scored.assign(_above=above, _rank=np.where(above, -scored["score"], doubt))
        ordered = ordered.sort_values(
            ["_above", "_rank", "series_id", "ts"], ascending=[False, True, True, True]
        ).drop(columns=["_above"])
    taken: dict[str, list[pd.Timestamp]] = {}
    anywhere: list[pd.Timestamp] = []
    # Many series moving at one moment (a weekend starting, one outage) are one lesson.
    across = gap / ACROSS_SERIES_SHARE
    rows = []
    for index, series_id, ts in zip(
        ordered.index, ordered["series_id"], ordered["ts"], strict=True
    ):
        times = taken.setdefault(series_id, [])
        if any(abs(ts - other) < gap for other in times) or any(
            abs(ts - other) < across for other in anywhere
        ):
            continue
        times.append(ts)
        anywhere.append(ts)
        rows.append(index)
        if len(rows) == wanted:
            break
    picked = ordered.loc[rows].drop(columns=["_rank"])
    if supervised:
        why = [
            f"model unsure: p(anomalous) {p:.2f} under the model trained on the labels"
            for p in picked["p_anomalous"]
        ]
    else:
        why = [
            f"{'above' if s > t else 'near'} the alert threshold: score {s:.2f} against {t:.2f} "
            "(no model trained on labels yet)"
            for s, t in zip(picked["score"], picked["threshold"], strict=True)
        ]
    return picked.assign(why=why)


def _point_scores(
    store: Store,
    detector: str,
    *,
    since: Any,
    until: Any,
    series: list[str] | None,
    only: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, bool]:
    """Every point's score and probability of being anomalous under the current model.

    Also says whether that probability comes from a model trained on labels (True)
    or is the unsupervised score's distance from its threshold (False).
    """
    from workbench.anomaly.detectors import choose_detector, make_detector

    frame = load_observations(store, series=series)
    if frame.empty:
        raise WorkbenchError(
            "The store holds no observations to label. Ingest some with "
            "`workbench ingest FILE --table observations`."
        )
    if only is not None:
        frame = frame[frame["series_id"].isin(only["series_id"].dropna())]
    start, end = parse_time(since, name="since"), parse_time(until, name="until")
    model, supervised = None, False
    if detector in ("auto", "supervised"):
        positives, negatives = label_counts(store)
        if detector == "supervised" or min(positives, negatives) >= MIN_LABELS_PER_CLASS:
            model, supervised = train_from_labels(store, detector="supervised"), True
    if model is not None:
        scores = np.asarray(model.score(frame), dtype="float64")
        threshold = np.full(len(frame), float(model.threshold_))
    else:
        # Each series is judged as a scan judges it: by its own detector ("auto" chooses
        # one per series, as scan does) with its own threshold.
        scores = np.full(len(frame), np.nan)
        threshold = np.full(len(frame), np.nan)
        for _, rows in frame.groupby("series_id", sort=False).indices.items():
            part = frame.iloc[rows]
            name = choose_detector(part)[0] if detector == "auto" else detector
            try:
                fitted = make_detector(name).fit(part)
            except InvalidArgument:
                continue  # too short to score (all warm-up): nothing to ask about yet
            scores[rows] = fitted.score(part)
            threshold[rows] = fitted.threshold_
    # The supervised detector's score is its predicted probability of an anomaly.
    proba = scores if supervised else _probability(scores, threshold)
    out = frame.assign(score=scores, p_anomalous=proba, threshold=threshold)
    if start is not None:
        out = out[out["ts"] >= start]
    if end is not None:
        out = out[out["ts"] < end]
    if only is not None:
        out = out.merge(only[["series_id", "ts"]], on=["series_id", "ts"], how="inner")
        return out[["series_id", "ts", "value", "score", "p_anomalous"]], supervised
    return out, supervised


def _probability(scores: np.ndarray, threshold: float) -> np.ndarray:
    """A score's chance of being anomalous: 0.5 at the threshold, rising with the score.

    A logistic curve whose width is the robust spread of the scores: an
    unsupervised detector has no calibrated probability, and this keeps the order
    of its scores while centring the queue's doubt on the alert threshold.
    """
    finite = scores[np.isfinite(scores)]
    if finite.size == 0:
        return np.full(scores.shape, np.nan)
    spread = 1.4826 * np.median(np.abs(finite - np.median(finite)))
    if not spread > 0:
        spread = float(np.std(finite)) or 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        return 1.0 / (1.0 + np.exp(-(scores - threshold) / spread))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
