"""The labeling loop: labels through capture, reconciliation of several labelers, the queue,
and the active-learning claim (queue-chosen labels beat random ones)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from workbench.anomaly.labeling import (
    agreement_rate,
    label,
    label_counts,
    labeling_queue,
    point_target,
    reconcile,
    train_from_labels,
)
from workbench.capture import ingest
from workbench.datasets import make_metrics
from workbench.exceptions import InvalidArgument, WorkbenchError

POINT = "host_00.cpu@2026-01-01T03:00:00+00:00"


def _metrics_store(store, **params):
    metrics = make_metrics(**params)
    ingest(store, metrics.tables["observations"], table="observations")
    return metrics


# --- labels through the capture path ---------------------------------------------------


def test_a_label_is_written_through_capture_with_its_series_point(file_store):
    report = label(file_store, "host_00.cpu@2026-01-01T03:00:00Z", 1, source="alice")
    assert (report.rows_in, report.accepted, report.quarantined) == (1, 1, 0)
    rows = file_store.sql("SELECT target, series_id, ts, label, source FROM labels").to_pylist()
    assert rows == [
        {
            "target": POINT,  # the canonical form the capture path and make_metrics use
            "series_id": "host_00.cpu",
            "ts": pd.Timestamp("2026-01-01 03:00").to_pydatetime(),
            "label": 1,
            "source": "alice",
        }
    ]
    batches = file_store.sql("SELECT rows_in, accepted FROM batches WHERE table_name = 'labels'")
    assert batches.to_pylist() == [{"rows_in": 1, "accepted": 1}]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [(2, "must be 1 (anomalous) or 0 (normal)"), ("yes", "not a whole number")],
)
def test_a_bad_label_is_quarantined_and_the_caller_is_told(file_store, bad, reason):
    with pytest.raises(InvalidArgument, match="not recorded") as caught:
        label(file_store, POINT, bad, source="alice")
    assert reason in str(caught.value)
    assert file_store.count_rows()["labels"] == 0
    quarantined = file_store.sql("SELECT reason FROM quarantine")["reason"].to_pylist()
    assert len(quarantined) == 1 and reason in quarantined[0]


def test_a_label_without_a_source_is_refused(file_store):
    with pytest.raises(InvalidArgument, match="source"):
        label(file_store, POINT, 1, source="")
    assert file_store.count_rows()["labels"] == 0


def test_an_event_label_keeps_no_series_point(file_store):
    label(file_store, "evt-42", 0, source="rule:allowlist")
    row = file_store.sql("SELECT target, series_id, ts FROM labels").to_pylist()[0]
    assert row == {"target": "evt-42", "series_id": None, "ts": None}


def test_changing_ones_mind_back_counts_the_latest_label(file_store):
    # The same judgement given again later must be a new vote, not an identical re-ingest.
    for value in (1, 0, 1):
        label(file_store, POINT, value, source="alice")
    assert file_store.count_rows()["labels"] == 3
    table = reconcile(file_store)
    assert table[["target", "label", "votes"]].to_dict("records") == [
        {"target": POINT, "label": 1, "votes": 1}
    ]


def test_point_target_matches_what_capture_derives(file_store):
    rows = pd.DataFrame(
        {
            "series_id": ["s1", "s1"],
            "ts": ["2026-03-01T10:00:00Z", "2026-03-01T10:00:00.25Z"],
            "label": [1, 0],
        }
    )
    ingest(file_store, rows, table="labels")
    stored = sorted(file_store.sql("SELECT target FROM labels")["target"].to_pylist())
    assert stored == sorted(
        [point_target("s1", "2026-03-01T10:00:00Z"), point_target("s1", "2026-03-01 10:00:00.25")]
    )


# --- several labelers ---------------------------------------------------------------------


def _crowd(store):
    """Three labelers: they agree on a and c, split 2-1 on b, and two of them tie on d."""
    votes = {
        "s1@2026-01-01T00:00:00+00:00": {"ann": 1, "bob": 1, "cid": 1},
        "s1@2026-01-01T01:00:00+00:00": {"ann": 1, "bob": 1, "cid": 0},
        "s1@2026-01-01T02:00:00+00:00": {"ann": 0, "bob": 0, "cid": 0},
        "s1@2026-01-01T03:00:00+00:00": {"ann": 1, "bob": 0},
    }
    for target, by_source in votes.items():
        for source, value in by_source.items():
            label(store, target, value, source=source)
    return list(votes)


def test_three_labelers_are_reconciled_by_majority(file_store):
    a, b, c, d = _crowd(file_store)
    table = reconcile(file_store).set_index("target")
    assert table.loc[a, ["label", "votes", "positives", "settled"]].tolist() == [1, 3, 3, True]
    assert table.loc[b, "label"] == 1 and table.loc[b, "positives"] == 2
    assert table.loc[b, "agreement"] == pytest.approx(2 / 3)
    assert not table.loc[b, "settled"]  # 2 of 3 is below the stated level (0.75)
    assert table.loc[c, ["label", "settled"]].tolist() == [0, True]
    assert pd.isna(table.loc[d, "label"]) and not table.loc[d, "settled"]  # a tie
    assert table.loc[a, "sources"] == "ann,bob,cid"
    # A lower level settles the 2-1 split, never the tie.
    relaxed = reconcile(file_store, min_agreement=0.6).set_index("target")
    assert relaxed.loc[b, "settled"] and not relaxed.loc[d, "settled"]


def test_agreement_rate_is_the_share_of_agreeing_labeler_pairs(file_store):
    assert math.isnan(agreement_rate(file_store))  # nobody to agree with yet
    _crowd(file_store)
    # pairs: a 3 of 3 agree, b 1 of 3, c 3 of 3, d 0 of 1 -> 7 of 10
    assert agreement_rate(file_store) == pytest.approx(7 / 10)


def test_only_settled_labels_count_for_training(file_store):
    _metrics_store(file_store, series=2, days=2, seed=0)
    _crowd(file_store)  # series s1 has no observations: nothing there can train
    label(file_store, "host_00.cpu@2026-01-01T05:00:00+00:00", 1, source="ann")
    label(file_store, "host_00.cpu@2026-01-01T06:00:00+00:00", 0, source="ann")
    assert label_counts(file_store) == (1, 1)
    with pytest.raises(InvalidArgument, match="1 anomalous and 1 normal"):
        train_from_labels(file_store)


# --- the queue ------------------------------------------------------------------------------


def test_the_queue_spreads_over_series_and_skips_settled_points(file_store):
    metrics = _metrics_store(file_store, series=6, days=8, seed=1, anomaly_rate=0.02)
    queue = labeling_queue(file_store, size=12)
    assert list(queue.columns) == [
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
    assert len(queue) == 12 and queue["score"].notna().all()
    # Each question comes with the span the detector proposes around it, to judge whole.
    assert (queue["span_start"] <= queue["ts"]).all() and (queue["ts"] <= queue["span_end"]).all()
    assert queue["p_anomalous"].between(0, 1).all()
    # Cold start (no labels): the alerting points first, highest score first.
    above = queue[queue["why"].str.startswith("above the alert threshold")]
    assert len(above) > 0 and above["score"].is_monotonic_decreasing
    assert (above["p_anomalous"] > 0.5).all()
    # Diversity: no two questions about one series within a day, nor about two series
    # within six hours of each other.
    for _, times in queue.groupby("series_id")["ts"]:
        assert (times.sort_values().diff().dropna() >= pd.Timedelta("1D")).all()
    assert (queue["ts"].sort_values().diff().dropna() >= pd.Timedelta("6h")).all()
    drawn = labeling_queue(file_store, size=12, strategy="random", seed=4)
    assert drawn["why"].str.startswith("random").all()
    assert queue["score"].mean() > drawn["score"].mean()
    # A settled point is not asked again.
    label(file_store, queue["target"].iloc[0], 0, source="ann")
    again = labeling_queue(file_store, size=12)
    assert queue["target"].iloc[0] not in set(again["target"])
    # With enough labels the model trained on them decides: its least sure points first.
    ingest(file_store, metrics.tables["labels"], table="labels")
    unsure = labeling_queue(file_store, size=8)
    # ann called the top point normal; the planted labels call it anomalous: a tie.
    assert (unsure["target"].iloc[0], unsure["why"].iloc[0]) == (
        queue["target"].iloc[0],
        "labelers disagree",
    )
    unsure = unsure.iloc[1:]
    assert unsure["why"].str.startswith("model unsure").all()
    assert (unsure["p_anomalous"] - 0.5).abs().mean() < (drawn["p_anomalous"] - 0.5).abs().mean()
    assert not set(unsure["target"]) & set(metrics.tables["labels"]["target"].to_pylist())
    assert unsure["target"].iloc[0] != queue["target"].iloc[0]


def test_a_disagreement_goes_back_to_the_front_of_the_queue(file_store):
    _metrics_store(file_store, series=4, days=6, seed=2)
    target = labeling_queue(file_store, size=3)["target"].iloc[2]
    for source, value in (("ann", 1), ("bob", 0), ("cid", 1)):
        label(file_store, target, value, source=source)
    queue = labeling_queue(file_store, size=3)
    first = queue.iloc[0]
    assert (first["target"], first["why"], first["votes"]) == (target, "labelers disagree", 3)
    assert first["agreement"] == pytest.approx(2 / 3)
    assert pd.notna(first["score"])  # the point's score is shown with it
    # A fourth labeler settles it (3 of 4 agree), and it leaves the queue.
    label(file_store, target, 1, source="dee")
    assert target not in set(labeling_queue(file_store, size=3)["target"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"size": 0}, "size=0"),
        ({"strategy": "loudest"}, "strategy='loudest'"),
        ({"spacing": "soon"}, "not a duration"),
    ],
)
def test_bad_queue_arguments_say_what_is_allowed(file_store, kwargs, message):
    with pytest.raises(InvalidArgument, match=message):
        labeling_queue(file_store, **kwargs)


def test_an_empty_store_has_nothing_to_queue(file_store):
    with pytest.raises(WorkbenchError, match="workbench ingest FILE --table observations"):
        labeling_queue(file_store)


# --- active learning beats random labels ----------------------------------------------------

# 12 series over 14 days: labels are asked for in the first 10 days, precision is measured on
# the last 4 (held-out points: what the next scans will see).
SERIES, DAYS, LABELLED_DAYS, ROUNDS, PER_ROUND = 12, 14, 10, 3, 15


def _learning_curve(tmp_path, strategy: str, seed: int) -> tuple[list[float], int]:
    """Precision at the alert budget on held-out days after each round of labels."""
    from workbench.anomaly.detectors import make_detector
    from workbench.anomaly.labeling import MIN_LABELS_PER_CLASS
    from workbench.anomaly.observations import load_observations
    from workbench.store import Store

    store = Store.open(f"duckdb://{tmp_path / f'{strategy}-{seed}.duckdb'}", lock_timeout=10)
    metrics = make_metrics(series=SERIES, days=DAYS, seed=seed, anomaly_rate=0.05)
    ingest(store, metrics.tables["observations"], table="observations")
    planted = metrics.tables["labels"].to_pandas()
    planted = planted[planted["label"] == 1]
    truth = {
        (s, pd.Timestamp(t).tz_convert("UTC").tz_localize(None))
        for s, t in zip(planted["series_id"], planted["ts"], strict=True)
    }
    cut = pd.Timestamp("2026-01-01") + pd.Timedelta(days=LABELLED_DAYS)
    frame = load_observations(store)
    anomalous = np.array(
        [(s, t) in truth for s, t in zip(frame["series_id"], frame["ts"], strict=True)]
    )
    held_out = (frame["ts"] >= cut).to_numpy()
    budget = SERIES * (DAYS - LABELLED_DAYS)  # one alert per series per day
    curve = []
    for round_ in range(ROUNDS):
        queue = labeling_queue(
            store, size=PER_ROUND, strategy=strategy, until=cut, seed=1000 * seed + round_
        )
        for row in queue.itertuples():
            # The simulated labeler answers from the planted truth.
            label(store, row.target, int((row.series_id, row.ts) in truth), source="oracle")
        # Retrain as scan("auto") does: from the labels once they allow, else seasonal.
        if min(label_counts(store)) >= MIN_LABELS_PER_CLASS:
            model = train_from_labels(store)
        else:
            model = make_detector("seasonal").fit(frame[~held_out])
        scores = pd.Series(np.asarray(model.score(frame), dtype=float)[held_out])
        top = scores.dropna().sort_values(ascending=False).index[:budget]
        curve.append(float(anomalous[held_out][top].mean()))
    return curve, label_counts(store)[0]


@pytest.mark.slow
def test_labels_chosen_by_the_queue_improve_precision_faster_than_random_labels(tmp_path):
    seeds = (11, 12, 13)
    queued = [_learning_curve(tmp_path, "uncertainty", s) for s in seeds]
    drawn = [_learning_curve(tmp_path, "random", s) for s in seeds]
    queue_curves = np.array([curve for curve, _ in queued])
    random_curves = np.array([curve for curve, _ in drawn])
    shown = (queue_curves.round(2), random_curves.round(2))
    # Area under the learning curve, averaged over seeds: not one lucky run.
    assert queue_curves.mean() > random_curves.mean(), shown
    # After the same number of labels, the queue's model is ahead on every seed.
    assert (queue_curves[:, -1] > random_curves[:, -1]).all(), shown
    assert queue_curves[:, -1].mean() > random_curves[:, -1].mean() + 0.03, shown
    # Because the queue finds the anomalies that random labels rarely hit.
    assert min(found for _, found in queued) > 2 * max(found for _, found in drawn)


def test_training_again_on_the_same_labels_reuses_the_fit_and_new_labels_retrain(file_store):
    metrics = make_metrics(series=3, days=6, seed=0, anomaly_rate=0.03)
    ingest(file_store, metrics.tables["observations"], table="observations")
    labels = metrics.tables["labels"].to_pandas()
    later = labels[labels["label"] == 1].tail(3)  # 16 anomalous and 16 normal in all
    ingest(file_store, labels.drop(later.index), table="labels")
    observations = metrics.tables["observations"].to_pandas()

    first, again = train_from_labels(file_store), train_from_labels(file_store)
    assert first is not again  # each caller has its own copy to change
    np.testing.assert_array_equal(first.score(observations), again.score(observations))

    ingest(file_store, later, table="labels")
    retrained = train_from_labels(file_store)
    assert not np.array_equal(
        retrained.score(observations), first.score(observations), equal_nan=True
    )
