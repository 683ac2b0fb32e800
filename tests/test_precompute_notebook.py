"""The precompute notebook: stores the champion's lists and shows what an app receives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from notebook_support import assert_runs_under_nbmake, music_store

from workbench.recommend import EASERecommender
from workbench.registry import promote, register
from workbench.runs import read_results
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "precompute.ipynb"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A folder whose data/workbench.duckdb holds music events and an EASE champion."""
    folder = tmp_path_factory.mktemp("precompute")
    url = music_store(folder / "data" / "workbench.duckdb", users=120, items=90, days=14, seed=3)
    store = Store.open(url)
    train = store.table("events")
    model = EASERecommender(l2=50.0).fit(train)
    version = register(
        store,
        model,
        "recommender",
        metrics={"ndcg_at_10_score": 0.2},
        training_data=train,
        holdout="none",
    )
    promote(store, "recommender", version.version)
    return folder


def test_the_notebook_stores_every_known_users_list_and_records_it(folder, tmp_path):
    import papermill

    url = f"duckdb://{folder / 'data' / 'workbench.duckdb'}"
    output = tmp_path / "precompute.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK), str(output), parameters={"store": url, "k": 5}, progress_bar=False
    )

    results = read_results(output)
    report = results["precompute"]
    assert results["model_version"] == report["model"] == "recommender@1"
    store = Store.open(url)
    users = store.table("events").user_id.nunique().execute()
    assert report["users"] == users
    stored = store.sql(
        "SELECT count(*) AS n, count(DISTINCT user_id) AS users, max(rank) AS k "
        "FROM recommendations WHERE model = 'recommender' AND version = 1"
    ).to_pylist()[0]
    assert stored == {"n": report["rows"], "users": users - report["users_without_items"], "k": 5}
    text = output.read_text()
    assert "precomputed" in text and "popularity" in text  # a known user, then the fallback


@pytest.mark.slow
def test_the_notebook_runs_under_nbmake_with_its_defaults(folder):
    # The default store is the relative data/workbench.duckdb: a copy of the notebook in
    # the fixture's folder runs unchanged. The explicit path keeps nbmake off other files.
    notebook = folder / "precompute.ipynb"
    shutil.copy(NOTEBOOK, notebook)
    assert_runs_under_nbmake(notebook, cwd=folder)
