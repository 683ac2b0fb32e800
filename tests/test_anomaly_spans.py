"""Labels for spans: an incident from its start to its end, through capture, the queue and CSV."""

from __future__ import annotations

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from workbench.anomaly.labeling import (
    label,
    label_counts,
    labeling_queue,
    reconcile,
    settled_point_labels,
    span_target,
)
from workbench.capture import ingest
from workbench.cli import anomaly
from workbench.datasets import make_metrics
from workbench.exceptions import InvalidArgument
from workbench.store import Store

HOURS = pd.date_range("2026-01-01", periods=48, freq="h")


@pytest.fixture
def store(file_store):
    ingest(
        file_store,
        pd.DataFrame({"series_id": "api.latency_ms", "ts": HOURS, "value": range(48)}),
        table="observations",
    )
    return file_store


def _points(table: pd.DataFrame) -> dict[str, int]:
    return {f"{t:%H}": int(v) for t, v in zip(table["ts"], table["label"], strict=True)}


def test_a_span_label_labels_every_observed_point_inside_it(store):
    target = span_target("api.latency_ms", "2026-01-01 03:00", "2026-01-01 07:00")
    assert target == "api.latency_ms@2026-01-01T03:00:00+00:00/2026-01-01T07:00:00+00:00"
    label(store, target, 1, source="ann")
    label(store, "api.latency_ms@2026-01-01T05:00:00Z", 0, source="ann")  # a point inside
    settled = reconcile(store)
    span = settled[settled["target"] == target].iloc[0]
    assert (span["ts"], span["ts_end"]) == (HOURS[3], HOURS[7]) and span["settled"]
    # Five points in the span; the point's own label wins over the span's.
    points = settled_point_labels(store)
    assert _points(points) == {"03": 1, "04": 1, "05": 0, "06": 1, "07": 1}
    assert label_counts(store) == (4, 1)
    assert label_counts(store, before="2026-01-01 06:00") == (2, 1)


def test_a_span_that_ends_before_it_starts_is_refused(store):
    with pytest.raises(InvalidArgument, match=r"ends .* before it starts"):
        span_target("api.latency_ms", "2026-01-01 07:00", "2026-01-01 03:00")
    with pytest.raises(InvalidArgument, match=r"ends .* before it starts"):
        label(store, "api.latency_ms@2026-01-01T07:00:00Z/2026-01-01T03:00:00Z", 1, source="ann")
    assert store.sql("SELECT count(*) AS n FROM labels").to_pylist()[0]["n"] == 0


def test_spans_arrive_through_ingest_and_a_bad_one_is_quarantined_with_its_reason(store, tmp_path):
    path = tmp_path / "incidents.csv"
    path.write_text(
        "series_id,ts,ts_end,label,source\n"
        "api.latency_ms,2026-01-01T10:00:00Z,2026-01-01T12:00:00Z,1,oncall\n"
        "api.latency_ms,2026-01-01T20:00:00Z,,0,oncall\n"
        "api.latency_ms,2026-01-01T22:00:00Z,2026-01-01T21:00:00Z,1,oncall\n"
    )
    report = ingest(store, path, table="labels")
    assert (report.rows_in, report.accepted, report.quarantined) == (3, 2, 1)
    assert list(report.reasons) == ["ts_end '...' is before ts: a span ends after it starts"]
    targets = set(reconcile(store)["target"])
    assert targets == {
        "api.latency_ms@2026-01-01T10:00:00+00:00/2026-01-01T12:00:00+00:00",
        "api.latency_ms@2026-01-01T20:00:00+00:00",
    }
    assert _points(settled_point_labels(store)) == {"10": 1, "11": 1, "12": 1, "20": 0}


def test_labels_round_trip_through_a_csv_file(store, tmp_path):
    label(store, span_target("api.latency_ms", HOURS[3], HOURS[7]), 1, source="ann")
    label(store, span_target("api.latency_ms", HOURS[3], HOURS[7]), 0, source="bob")
    label(store, "api.latency_ms@2026-01-01T09:00:00Z", 1, source="ann")
    label(store, "order-42", 0, source="ann")  # an event id, not a series point
    cli = typer.Typer()
    cli.add_typer(anomaly.app, name="anomaly")
    path = tmp_path / "exported" / "labels.csv"
    result = CliRunner().invoke(
        cli, ["anomaly", "labels", "--export", str(path), "--store", store.url]
    )
    assert result.exit_code == 0, result.output
    assert "Wrote 4 labels" in result.output
    elsewhere = Store.open(f"duckdb://{tmp_path / 'elsewhere.duckdb'}", lock_timeout=10)
    report = ingest(elsewhere, path, table="labels")
    assert (report.accepted, report.quarantined) == (4, 0)
    columns = ["target", "series_id", "ts", "ts_end", "label", "votes", "settled", "sources"]
    pd.testing.assert_frame_equal(reconcile(elsewhere)[columns], reconcile(store)[columns])
    votes = (
        "SELECT target, series_id, ts, ts_end, label, source, labeled_at FROM labels ORDER BY 1, 6"
    )
    assert elsewhere.sql(votes).to_pylist() == store.sql(votes).to_pylist()
    # The same file again adds nothing: the capture path knows it.
    again = ingest(elsewhere, path, table="labels")
    assert (again.status, again.accepted) == ("already_ingested", 0)


def test_the_queue_proposes_the_alerting_span_and_one_label_settles_it(file_store):
    metrics = make_metrics(series=4, days=8, seed=1, anomaly_rate=0.03)
    ingest(file_store, metrics.tables["observations"], table="observations")
    queue = labeling_queue(file_store, size=6, detector="seasonal")
    spans = queue[queue["span_end"] > queue["span_start"]]
    assert len(spans) > 0, queue[["target", "span_start", "span_end"]]
    first = spans.iloc[0]
    assert first["span_target"] == span_target(
        first["series_id"], first["span_start"], first["span_end"]
    )
    label(file_store, first["span_target"], 1, source="ann")
    covered = settled_point_labels(file_store)
    inside = covered[covered["series_id"] == first["series_id"]]
    assert inside["ts"].min() == first["span_start"] and inside["ts"].max() == first["span_end"]
    assert (inside["label"] == 1).all() and len(inside) >= 2
    # Accepted whole: none of its points is asked about again.
    later = labeling_queue(file_store, size=20, detector="seasonal")
    mine = later[later["series_id"] == first["series_id"]]
    assert not mine["ts"].between(first["span_start"], first["span_end"]).any()


def test_a_span_without_a_readable_end_is_refused_and_a_one_instant_span_is_a_point(store):
    for bad in ("api.latency_ms@2026-01-01T03:00:00Z/xyz", "api.latency_ms@2026-01-01T03:00:00Z/"):
        with pytest.raises(InvalidArgument, match="no readable end"):
            label(store, bad, 1, source="ann")
    assert store.sql("SELECT count(*) AS n FROM labels").to_pylist()[0]["n"] == 0
    label(store, "api.latency_ms@2026-01-01T03:00:00Z/2026-01-01T03:00:00Z", 1, source="ann")
    assert list(reconcile(store)["target"]) == ["api.latency_ms@2026-01-01T03:00:00+00:00"]


def test_the_queue_judges_each_series_with_the_detector_a_scan_would_choose(file_store):
    rng = pd.Series(range(24 * 10))
    hours = pd.date_range("2026-01-01", periods=len(rng), freq="h")
    errors = (rng % 7 == 0).astype(float)  # small counts: the counts detector's
    errors.iloc[-2] = 9
    ingest(
        file_store,
        pd.DataFrame({"series_id": "api.errors", "ts": hours, "value": errors}),
        table="observations",
    )
    from workbench.anomaly import make_detector

    queue = labeling_queue(file_store, size=3)
    counts = make_detector("counts").fit(
        pd.DataFrame({"series_id": "api.errors", "ts": hours, "value": errors})
    )
    # The first question is the burst, judged against the counts detector's own threshold.
    assert queue["ts"].iloc[0] == hours[-2]
    assert f"against {counts.threshold_:.2f}" in queue["why"].iloc[0]
