"""The anomaly_scan notebook under papermill: alerts, their charts, and detectors graded on labels."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from notebook_support import assert_runs_under_nbmake, execute, shown

from workbench.capture import ingest
from workbench.datasets import make_metrics
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "anomaly_scan.ipynb"
DETECTORS = {"gaussian", "seasonal", "window_iforest", "supervised"}


def metrics_store(path: Path, *, labels: bool = True) -> str:
    """Eight series over three weeks, hourly, with planted anomalies (and their labels)."""
    data = make_metrics(series=8, days=21, anomaly_rate=0.03, seed=5)
    url = f"duckdb://{path}"
    store = Store.open(url)
    tables = ("observations", "labels") if labels else ("observations",)
    for name in tables:
        assert ingest(store, data.tables[name], table=name).accepted == data.tables[name].num_rows
    return url


def test_the_notebook_has_no_outputs_and_the_issue_parameters():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    for name in ("store", "detector", "since", "budget"):
        assert f"{name} = " in code[0].source
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


@pytest.mark.slow
def test_a_scan_with_labels_writes_alerts_draws_them_and_grades_every_detector(tmp_path):
    url = metrics_store(tmp_path / "metrics.duckdb")

    results, notebook = execute(
        NOTEBOOK, tmp_path, store=url, since="7d", budget="1/1d", max_charts=3
    )

    store = Store.open(url)
    scan_id = results["scan"]["scan_id"]
    stored = store.sql("SELECT count(*) AS n FROM alerts WHERE scan_id = ?", [scan_id])
    assert results["alerts"] == stored["n"][0].as_py() > 0
    assert results["scan"]["status"] == "complete" and results["scan"]["series_scanned"] == 8
    # The planted labels before the window are enough for the supervised detector.
    assert results["detector"] == "supervised"
    for metric in ("pr_auc_score", "roc_auc_score", "event_recall_score"):
        assert set(results[metric]) == DETECTORS
        assert all(0 <= value <= 1 for value in results[metric].values())
    # Every detector ranks the labelled anomalies above the labelled normal points.
    assert min(results["roc_auc_score"].values()) > 0.5
    # The overview, then one chart per flagged series (at most max_charts).
    flagged = store.sql(
        "SELECT count(DISTINCT series_id) AS n FROM alerts WHERE scan_id = ?", [scan_id]
    )["n"][0].as_py()
    assert len(shown(notebook, "image/svg+xml")) == 1 + min(3, flagged)


@pytest.mark.slow
def test_without_labels_the_scan_uses_the_seasonal_baseline_and_grades_nothing(tmp_path):
    url = metrics_store(tmp_path / "unlabelled.duckdb", labels=False)

    results, notebook = execute(NOTEBOOK, tmp_path, store=url)

    assert results["detector"] == "seasonal"
    assert not {"pr_auc_score", "roc_auc_score", "event_recall_score"} & set(results)
    assert any("No labels of both classes" in text for text in shown(notebook, "text/markdown"))


@pytest.mark.slow
def test_the_notebook_runs_under_nbmake_with_its_defaults(tmp_path):
    url = metrics_store(tmp_path / "metrics.duckdb")
    assert_runs_under_nbmake(NOTEBOOK, cwd=tmp_path, store_url=url)
