"""`workbench anomaly ...`: scan, investigate, queue, label, labels."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from workbench.capture import ingest
from workbench.cli import anomaly
from workbench.datasets import make_metrics
from workbench.exceptions import InvalidArgument


@pytest.fixture
def cli():
    """The command group mounted as `workbench anomaly`, as the workbench app mounts it."""
    app = typer.Typer()
    app.add_typer(anomaly.app, name="anomaly")
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["anomaly", *args])

    return invoke


@pytest.fixture
def url(file_store):
    metrics = make_metrics(series=4, days=10, seed=2, anomaly_rate=0.02)
    ingest(file_store, metrics.tables["observations"], table="observations")
    return file_store.url


def test_scan_prints_a_summary_and_json(cli, url, file_store):
    result = cli("scan", "--detector", "seasonal", "--store", url)
    assert result.exit_code == 0, result.output
    assert "(seasonal, complete): 4 of 4 series" in result.output
    assert "Detector: asked for: seasonal." in result.output
    result = cli("scan", "--since", "2026-01-05", "--threshold", "2/1d", "--json", "--store", url)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["detector"] == "seasonal" and "0 anomalous" in report["detector_reason"]
    assert report["since"] == "2026-01-05T00:00:00+00:00" and report["status"] == "complete"
    # Every time says its zone, as the targets do.
    assert all(alert["ts"].endswith("+00:00") for alert in report["alerts"])
    assert report["points"] == 4 * 24 * 6  # 5 to 10 January, the newest day included
    assert len(report["alerts"]) == file_store.count_rows()["alerts"] > 0
    assert file_store.count_rows()["scans"] == 2


def test_scan_errors_are_workbench_errors_naming_the_fix(cli, url):
    result = cli("scan", "--detector", "nope", "--store", url)
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidArgument)
    assert "Unknown detector 'nope'" in str(result.exception)


def test_investigate_prints_findings_and_json(cli, url):
    result = cli("investigate", "host_00.cpu", "--around", "2026-01-06T12:00", "--store", url)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("host_00.cpu from 2026-01-03 12:00 to 2026-01-09 12:00 UTC")
    assert "Moved with it:" in result.output
    result = cli(
        "investigate", "host_00.cpu", "--around", "2026-01-06T12:00", "--json", "--store", url
    )
    found = json.loads(result.output)
    assert found["around"] == "2026-01-06T12:00:00"
    assert {
        "observations",
        "decomposition",
        "neighbours",
        "similar_incidents",
        "contributions",
    } <= set(found)
    assert len(found["observations"]) == 6 * 24 + 1
    result = cli("investigate", "host_00.cpux", "--store", url)
    assert isinstance(result.exception, InvalidArgument)
    assert "did you mean host_00.cpu" in str(result.exception)


def test_the_labeling_loop_from_the_command_line(cli, url):
    result = cli("queue", "--size", "5", "--json", "--store", url)
    assert result.exit_code == 0, result.output
    queue = json.loads(result.output)
    assert len(queue) == 5
    assert set(queue[0]) >= {"series_id", "ts", "target", "value", "score", "p_anomalous", "why"}
    assert queue[0]["ts"].endswith("+00:00") and queue[0]["target"].endswith("+00:00")
    target = queue[0]["target"]
    for source, value in (("ann", "1"), ("bob", "1"), ("cid", "0")):
        result = cli("label", target, value, "--source", source, "--store", url)
        assert result.exit_code == 0, result.output
        assert f"Recorded {target} = {value} by {source}" in result.output
        assert "it covers 1 observed point." in result.output
    # A span, and a typo that covers nothing: the command says how much each covers.
    span = "host_00.cpu@2026-01-03T00:00:00Z/2026-01-03T05:00:00Z"
    result = cli("label", span, "1", "--source", "ann", "--store", url)
    assert "it covers 6 observed points." in result.output, result.output
    result = cli("label", span.replace("host_00", "host_0"), "1", "--source", "ann", "--store", url)
    assert "it covers no observed point of host_0.cpu (yet)." in result.output, result.output
    result = cli("labels", "--json", "--store", url)
    table = json.loads(result.output)
    assert table["targets"] == 3 and table["settled"] == 2
    assert table["agreement_rate"] == pytest.approx(1 / 3)
    point = next(row for row in table["labels"] if row["target"] == target)
    assert point["label"] == 1 and point["votes"] == 3
    result = cli("labels", "--store", url)
    assert "agreement rate between labelers 33.3%" in result.output
    assert "back in the queue" in result.output
    # The disagreement comes back first.
    result = cli("queue", "--size", "3", "--store", url)
    assert result.output.splitlines()[0].startswith(f"{target}  value")
    assert "labelers disagree" in result.output.splitlines()[0]


def test_a_bad_label_is_reported_not_recorded(cli, url, file_store):
    result = cli(
        "label", "host_00.cpu@2026-01-02T00:00:00Z", "2", "--source", "ann", "--store", url
    )
    assert result.exit_code != 0
    assert "must be 1 (anomalous) or 0 (normal)" in str(result.exception)
    assert file_store.count_rows()["labels"] == 0
    assert file_store.count_rows()["quarantine"] == 1
    result = cli("labels", "--store", url)
    assert "No labels yet" in result.output
