"""The experiment_readout notebook under papermill: it recovers a planted lift and flags a planted SRM."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from notebook_support import assert_runs_under_nbmake, execute, shown

from workbench.capture import ingest
from workbench.datasets import make_ads
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "experiment_readout.ipynb"


def ads_store(path: Path, **options) -> tuple[str, dict]:
    data = make_ads(**options)
    url = f"duckdb://{path}"
    store = Store.open(url)
    for name, rows in data.tables.items():
        assert ingest(store, rows, table=name).accepted == rows.num_rows
    return url, data.truth


def test_the_notebook_has_no_outputs_and_a_parameters_cell():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    for name in ("store", "experiment", "metrics", "alpha"):
        assert f"{name} = " in code[0].source
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


@pytest.mark.slow
def test_the_readout_recovers_the_planted_lift_verdict_first(tmp_path):
    url, truth = ads_store(tmp_path / "ads.duckdb", users=20_000, days=14, seed=4)

    results, notebook = execute(
        NOTEBOOK,
        tmp_path,
        store=url,
        experiment="ads_creative",
        metrics="sum:click,ratio:click/impression",
        alpha=0.05,
        covariate="count:impression",
    )

    assert results["srm_p_value"] > 0.001 and results["srm_flagged"] is False
    assert set(results["results"]) == {"sum:click", "ratio:click/impression"}
    for by_variant in results["results"].values():
        lift = by_variant["treatment"]
        assert set(lift) == {"lift", "ci_low", "ci_high", "p_value"}
        assert lift["ci_low"] <= truth["true_lift"] <= lift["ci_high"]
        assert lift["p_value"] < 0.05
    assert 0 < results["variance_reduction"]["sum:click"]["treatment"] < 1
    markdown = shown(notebook, "text/markdown")
    assert markdown[0].startswith("**treatment raises")  # the verdict is the first thing shown
    assert len(shown(notebook, "image/svg+xml")) == 3  # lift, CUPED, sequential


@pytest.mark.slow
def test_a_planted_sample_ratio_mismatch_is_flagged_in_the_verdict(tmp_path, monkeypatch):
    url, truth = ads_store(tmp_path / "srm.duckdb", users=8000, days=5, seed=6, srm=0.08)
    # store = None: the notebook resolves the store as the workbench does, from WORKBENCH_STORE
    monkeypatch.setenv("WORKBENCH_STORE", url)

    results, notebook = execute(NOTEBOOK, tmp_path, metrics="click,sum:click", alpha=0.1)

    assert truth["lost_units"]["treatment"] > 0
    assert results["srm_p_value"] < 0.001 and results["srm_flagged"] is True
    assert set(results["results"]) == {"click", "sum:click"}
    assert results["verdict"].startswith("**Do not act on this readout: sample ratio mismatch")
    assert shown(notebook, "text/markdown")[0].startswith("**Do not act")


@pytest.mark.slow
def test_the_notebook_runs_under_nbmake_with_its_defaults(tmp_path):
    url, _ = ads_store(tmp_path / "ads.duckdb", users=2_000, days=7, seed=1)
    assert_runs_under_nbmake(NOTEBOOK, cwd=ROOT, store_url=url)
