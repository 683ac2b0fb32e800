"""The recommender_report notebook: what was decided and what is served, never refit."""

from __future__ import annotations

from pathlib import Path

import pytest
from notebook_support import assert_runs_under_nbmake, music_store

from workbench.delivery import precompute
from workbench.evaluate import evaluate_recommenders
from workbench.feedback import WEIGHT
from workbench.recommend.comparison import (
    load_interactions,
    make_models,
    metrics_for_record,
    split_interactions,
)
from workbench.registry import promote, register_models
from workbench.runs import read_results
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "recommender_report.ipynb"
RECORDED = {
    "champion",
    "challenger",
    "model_version",
    "metrics",
    "ndcg_interval",
    "coverage",
    "changes",
    "example_users",
    "headline",
}


@pytest.fixture(scope="module")
def registered_store_url(tmp_path_factory) -> str:
    """A store whose training registered popularity and ease: ease champion, popularity challenger."""
    url = music_store(
        tmp_path_factory.mktemp("registered") / "music.duckdb", users=120, items=150, days=20
    )
    store = Store.open(url)
    train, test = split_interactions(load_interactions(store), seed=0)
    table, fitted = evaluate_recommenders(
        make_models("popularity,ease", weight=WEIGHT),
        train,
        test,
        k=10,
        n_resamples=100,
        return_fitted=True,
    )
    versions = register_models(
        store,
        fitted,
        "recommender",
        metrics=metrics_for_record(table, 10),
        training_data=train,
        holdout=test,
    )
    promote(store, "recommender", versions["ease"].version)
    promote(store, "recommender", versions["popularity"].version, alias="challenger")
    return url


def _execute(tmp_path: Path, **parameters) -> Path:
    import papermill

    output = tmp_path / "recommender_report.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK), str(output), parameters=parameters, progress_bar=False, cwd=str(ROOT)
    )
    return output


def _shown_text(path: Path) -> str:
    import nbformat

    return "\n".join(
        "".join(output.get("data", {}).get(mime, ""))
        for cell in nbformat.read(path, as_version=4).cells
        for output in cell.get("outputs", [])
        for mime in ("text/markdown", "text/plain", "text/html")
    )


def test_the_notebook_has_no_outputs_and_a_parameters_cell_first():
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert "record(" in code[-1].source
    assert all("evaluate_recommenders" not in cell.source for cell in code)  # it refits nothing


@pytest.mark.slow
def test_the_report_shows_what_training_recorded_for_the_served_champion(
    tmp_path, registered_store_url
):
    from workbench.registry import resolve

    output = _execute(tmp_path, store=registered_store_url, examples=2)

    results = read_results(output)
    assert set(results) == RECORDED
    store = Store.open(registered_store_url)
    champion = resolve(store, "recommender@champion")
    assert results["champion"] == champion.ref == results["model_version"]
    assert results["challenger"] == resolve(store, "recommender@challenger").ref
    assert (
        results["metrics"]["ndcg_at_10_score"] == champion.metrics["ndcg_at_10_score"]
    )  # recorded, not refit
    assert results["ndcg_interval"] == [
        champion.metrics["ndcg_at_10_score_low"],
        champion.metrics["ndcg_at_10_score_high"],
    ]
    assert results["changes"] == ["This is the first report."]
    assert results["coverage"]["users"] == 0  # nothing precomputed yet, and it says so
    shown = _shown_text(output)
    assert "has no stored lists yet" in shown and "workbench run precompute" in shown
    assert f"Apps are served **{champion.ref}** (ease)" in shown
    assert "against **" in shown and "for the popularity list on the same holdout" in shown
    assert (
        len(results["example_users"]) == 2 and "Because item ID" in shown
    )  # the explanation column, labelled for people


@pytest.mark.slow
def test_a_second_report_says_what_changed_and_how_far_the_lists_reach(
    tmp_path, registered_store_url
):
    from workbench.runs import run_job

    store = Store.open(registered_store_url)
    precompute(store, "recommender@champion", k=10)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        first = run_job(
            "recommender_report",
            store=store,
            reports=tmp_path / "reports",
            locks=tmp_path / "locks",
            parameters={"examples": 1},
        )
        promote(store, "recommender", 1, force_reason="the test moves the champion")
        second = run_job(
            "recommender_report",
            store=store,
            reports=tmp_path / "reports",
            locks=tmp_path / "locks",
            parameters={"examples": 1},
        )
    assert first.results["coverage"]["users"] == 120
    assert 0 < first.results["coverage"]["catalog_share"] <= 1
    assert second.results["changes"][0] == (
        f"The champion changed: **{first.results['champion']}** -> **recommender@1**."
    )
    # The stakeholder report reads at 800 and 1280 px: nothing sticks out, nothing blank.
    from test_reports import _chromium, _layout, _running_in_ci

    chromium = _chromium()
    if chromium is None:
        assert not _running_in_ci(), "chromium is missing and CI=true"
        return
    page = Path(second.report_path)
    assert "headline" in second.results and str(tmp_path) not in page.read_text()
    for width in (800, 1280):
        layout = _layout(chromium, page, width, tmp_path / f"p{width}", tmp_path / "shots")
        assert layout["scroll"] <= layout["width"], (width, layout)
        assert layout["blank"] == 0 and layout["cut"] == 0, (width, layout)
        assert layout["overlaps"] == 0, (width, layout)


@pytest.mark.slow
def test_without_a_champion_the_report_fails_saying_how_to_get_one(tmp_path):
    import papermill

    url = music_store(tmp_path / "empty.duckdb", users=20, items=30, days=3)
    with pytest.raises(papermill.PapermillExecutionError) as failure:
        _execute(tmp_path, store=url)
    assert "recommender@champion" in str(failure.value)
    assert "workbench run train_recommender" in str(failure.value)


@pytest.mark.slow
def test_the_notebook_runs_under_nbmake_with_its_defaults(registered_store_url):
    # nbmake runs the default parameters: store = None reads WORKBENCH_STORE. An explicit
    # path keeps nbmake from collecting other notebooks (papermill outputs, say).
    assert_runs_under_nbmake(NOTEBOOK, cwd=ROOT, store_url=registered_store_url)
