"""The recommender_report notebook: a stakeholder report, run under papermill and nbmake."""

from __future__ import annotations

from pathlib import Path

import pytest
from notebook_support import assert_runs_under_nbmake, music_store

from workbench.recommend import MODELS as KNOWN_MODELS
from workbench.recommend.experiment import load_interactions, split_interactions
from workbench.runs import read_results
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "recommender_report.ipynb"
MODELS = ["popularity", "itemknn", "ease"]
K = 5  # not the default 10, so the recorded names must follow the parameter
RECORDED = {
    "metrics",
    "best_model",
    "ndcg_interval",
    "catalog_coverage",
    "champion",
    "challenger",
    "example_users",
}


def _music_store(path: Path) -> str:
    return music_store(path, users=120, items=150, days=20)


@pytest.fixture(scope="module")
def music_store_url(tmp_path_factory) -> str:
    """A store file with make_music's events and nothing registered."""
    return _music_store(tmp_path_factory.mktemp("report") / "music.duckdb")


@pytest.fixture(scope="module")
def registered_store_url(tmp_path_factory) -> str:
    """A store with an ease champion and an itemknn-trained challenger of one name."""
    from workbench.registry import promote, register

    url = _music_store(tmp_path_factory.mktemp("registered") / "music.duckdb")
    store = Store.open(url)
    train, test = split_interactions(load_interactions(store), seed=0)
    first = register(
        store,
        KNOWN_MODELS["ease"]().fit(train),
        "recommender",
        metrics={"ndcg@10": 0.2},
        training_data=train,
        holdout=test,
    )
    second = register(
        store,
        KNOWN_MODELS["ease"](l2=50.0).fit(train),
        "recommender",
        metrics={"ndcg@10": 0.1},
        training_data=train,
        holdout=test,
    )
    promote(store, "recommender", first.version)
    promote(store, "recommender", second.version, alias="challenger")
    return url


def _execute(tmp_path: Path, **parameters) -> Path:
    import papermill

    output = tmp_path / "recommender_report.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(output),
        parameters=parameters,
        progress_bar=False,
        cwd=str(tmp_path),
    )
    return output


def _shown_text(path: Path) -> list[str]:
    import nbformat

    return [
        "".join(output.get("data", {}).get(mime, ""))
        for cell in nbformat.read(path, as_version=4).cells
        for output in cell.get("outputs", [])
        for mime in ("text/markdown", "text/plain", "text/html")
    ]


def test_the_notebook_has_no_outputs_and_a_parameters_cell_first():
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert "record(" in code[-1].source


@pytest.mark.slow
def test_the_report_compares_models_with_intervals_and_records_its_headlines(
    tmp_path, music_store_url
):
    output = _execute(
        tmp_path,
        store=music_store_url,
        k=K,
        seed=1,
        models=",".join(MODELS),
        n_resamples=200,
        examples=2,
    )

    results = read_results(output)
    assert set(results) == RECORDED
    assert set(results["metrics"]) == set(MODELS)
    for name, values in results["metrics"].items():
        assert 0.0 <= values[f"ndcg@{K}"] <= 1.0, name
        low, high = results["ndcg_interval"][name]
        assert low <= values[f"ndcg@{K}"] <= high, (name, low, high)
        assert low < high, name
    assert results["best_model"] in MODELS
    # The planted tastes are learnable: a personalized model beats the popularity list,
    # and reaches further into the catalog.
    assert results["best_model"] != "popularity"
    coverage = results["catalog_coverage"]
    assert set(coverage) == set(MODELS)
    assert all(0.0 < value <= 1.0 for value in coverage.values())
    assert coverage["itemknn"] > coverage["popularity"]
    # Nothing registered: the report says so rather than inventing a comparison.
    assert results["champion"] is None and results["challenger"] is None
    assert any("No champion registered" in text for text in _shown_text(output))
    assert len(results["example_users"]) == 2
    assert any("because_item_id" in text for text in _shown_text(output))


@pytest.mark.slow
def test_the_report_shows_the_registered_champion_and_challenger(tmp_path, registered_store_url):
    output = _execute(
        tmp_path, store=registered_store_url, models="popularity,ease", n_resamples=50
    )

    results = read_results(output)
    assert results["champion"] == "recommender@1"
    assert results["challenger"] == "recommender@2"
    shown = "\n".join(_shown_text(output))
    assert "recommender@1" in shown and "recommender@2" in shown
    assert "No champion registered" not in shown


@pytest.mark.slow
def test_an_unknown_model_name_fails_the_run_with_the_known_names(tmp_path, music_store_url):
    import papermill

    with pytest.raises(papermill.PapermillExecutionError) as failure:
        _execute(tmp_path, store=music_store_url, models="popularity,nonsense")
    assert "nonsense" in str(failure.value) and "itemknn" in str(failure.value)


@pytest.mark.slow
def test_the_notebook_runs_under_nbmake_with_its_defaults(tmp_path, music_store_url):
    # nbmake runs the default parameters: store = None reads WORKBENCH_STORE. An explicit
    # path keeps nbmake from collecting other notebooks (papermill outputs, say).
    assert_runs_under_nbmake(NOTEBOOK, cwd=ROOT, store_url=music_store_url)
