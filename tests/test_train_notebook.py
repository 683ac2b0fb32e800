"""The train_recommender notebook: runs under papermill for each split and under nbmake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.capture import ingest
from workbench.datasets import make_music
from workbench.runs import read_results
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "train_recommender.ipynb"
MODELS = ["popularity", "itemknn", "ease"]
K = 5  # not the default 10, so the recorded names must follow the parameter


@pytest.fixture(scope="module")
def music_store_url(tmp_path_factory) -> str:
    """A store file holding make_music's events (150 users, 200 tracks, 20 days)."""
    url = f"duckdb://{tmp_path_factory.mktemp('train') / 'music.duckdb'}"
    events = make_music(users=150, items=200, days=20, seed=0).tables["events"]
    report = ingest(Store.open(url), events)
    assert report.accepted == events.num_rows
    return url


def test_the_notebook_has_no_outputs_and_a_parameters_cell():
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)


@pytest.mark.slow
@pytest.mark.parametrize("split", ["temporal", "leave_last", "stratified"])
def test_the_notebook_records_metrics_and_the_best_model(tmp_path, music_store_url, split):
    import papermill

    output = tmp_path / "train_recommender.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(output),
        parameters={
            "store": music_store_url,
            "split": split,
            "test_ratio": 0.25,
            "k": K,
            "seed": 1,
            "models": ",".join(MODELS),
        },
        progress_bar=False,
        cwd=str(tmp_path),
    )

    results = read_results(output)
    assert set(results) == {"metrics", "best_model"}
    metrics = results["metrics"]
    assert set(metrics) == set(MODELS)
    expected = {f"precision@{K}", f"recall@{K}", f"ndcg@{K}", f"map@{K}", "map", "fit_seconds"}
    for name, values in metrics.items():
        assert set(values) == expected, name
        assert all(0.0 <= values[key] <= 1.0 for key in expected - {"fit_seconds"}), values
        assert values["fit_seconds"] >= 0.0
    assert results["best_model"] in MODELS
    assert metrics["ease"][f"ndcg@{K}"] > metrics["popularity"][f"ndcg@{K}"]


@pytest.mark.slow
def test_register_says_it_is_not_available_and_records_nothing_about_it(tmp_path, music_store_url):
    import nbformat
    import papermill

    output = tmp_path / "train_recommender.ipynb"
    parameters = {"store": music_store_url, "models": "popularity", "register": True}
    papermill.execute_notebook(
        str(NOTEBOOK), str(output), parameters=parameters, progress_bar=False, cwd=str(tmp_path)
    )

    assert set(read_results(output)) == {"metrics", "best_model"}
    shown = [
        output_.get("data", {}).get("text/markdown", "")
        for cell in nbformat.read(output, as_version=4).cells
        for output_ in cell.get("outputs", [])
    ]
    assert any("Registration is not available yet" in text for text in shown)


@pytest.mark.slow
def test_the_notebook_runs_under_nbmake_with_its_defaults(tmp_path, music_store_url):
    # nbmake runs the default parameters: store = None reads WORKBENCH_STORE. An explicit
    # path keeps nbmake from collecting other notebooks (papermill outputs, say).
    env = {**os.environ, "WORKBENCH_STORE": music_store_url}
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbmake", str(NOTEBOOK), "-p", "no:cacheprovider", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "1 passed" in completed.stdout
