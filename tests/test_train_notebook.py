"""The train_recommender notebook: runs under papermill for each split and under nbmake."""

from __future__ import annotations

from pathlib import Path

import pytest
from notebook_support import assert_runs_under_nbmake, music_store

from workbench.runs import read_results
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "train_recommender.ipynb"
MODELS = ["popularity", "itemknn", "ease"]
K = 5  # not the default 10, so the recorded names must follow the parameter


@pytest.fixture(scope="module")
def music_store_url(tmp_path_factory) -> str:
    """A store file holding make_music's events (150 users, 200 tracks, 20 days)."""
    return music_store(
        tmp_path_factory.mktemp("train") / "music.duckdb", users=150, items=200, days=20
    )


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
            "n_resamples": 100,
            "register": False,
            "promote": False,
        },
        progress_bar=False,
        cwd=str(ROOT),
    )

    results = read_results(output)
    assert set(results) == {
        "metrics",
        "best_model",
        "scope",
        "feedback",
        "split",
        "tuning",
        "undeclared_event_types",
        "headline",
    }
    assert results["tuning"] == {}  # tune_seconds = 0: the defaults, nothing chosen
    assert results["scope"]["name"] == "music" and results["undeclared_event_types"] == {}
    assert results["split"]["split"] == split
    metrics = results["metrics"]
    assert set(metrics) == set(MODELS)
    accuracy = {
        f"precision_at_{K}_score",
        f"recall_at_{K}_score",
        f"ndcg_at_{K}_score",
        f"map_at_{K}_score",
        "mean_average_precision_score",
    }
    intervals = {f"{name}{end}" for name in accuracy for end in ("_low", "_high")}
    expected = (
        accuracy
        | intervals
        | {f"catalog_coverage_at_{K}_score", f"novelty_at_{K}_score", "fit_seconds"}
    )
    for name, values in metrics.items():
        assert set(values) == expected, name
        assert all(0.0 <= values[key] <= 1.0 for key in accuracy | intervals), values
        for key in accuracy:
            assert values[f"{key}_low"] <= values[key] <= values[f"{key}_high"], (name, key)
        assert values["fit_seconds"] >= 0.0
    assert results["best_model"] in MODELS
    assert metrics["ease"][f"ndcg_at_{K}_score"] > metrics["popularity"][f"ndcg_at_{K}_score"]


@pytest.mark.slow
def test_register_registers_every_fitted_model_with_its_holdout_metrics(tmp_path, music_store_url):
    import papermill

    from workbench.exceptions import PromotionRefused
    from workbench.registry import promote, resolve, versions

    output = tmp_path / "train_recommender.ipynb"
    parameters = {
        "store": music_store_url,
        "models": ",".join(MODELS),
        "k": K,
        "n_resamples": 100,
        "register": True,
        "promote": False,
        "registry_name": "notebook-recs",
    }
    papermill.execute_notebook(
        str(NOTEBOOK), str(output), parameters=parameters, progress_bar=False, cwd=str(ROOT)
    )

    results = read_results(output)
    store = Store.open(music_store_url)
    registered = results["registered"]
    assert set(registered) == set(MODELS)
    found = {v.ref: v for v in versions(store, "notebook-recs")}
    assert set(found) == set(registered.values())
    digests = {v.training_digest for v in found.values()}
    holdouts = {v.holdout for v in found.values()}
    assert len(digests) == 1 and len(holdouts) == 1 and None not in holdouts
    for model, ref in registered.items():
        assert found[ref].metrics == pytest.approx(results["metrics"][model])
        assert found[ref].params["model"] == model
    # The versions share a holdout, so the gate can compare them.
    best, worst = (
        sorted(MODELS, key=lambda m: results["metrics"][m][f"ndcg_at_{K}_score"])[i]
        for i in (-1, 0)
    )
    promote(store, "notebook-recs", found[registered[best]].version, metric=f"ndcg_at_{K}_score")
    with pytest.raises(PromotionRefused):
        promote(
            store, "notebook-recs", found[registered[worst]].version, metric=f"ndcg_at_{K}_score"
        )
    assert resolve(store, "notebook-recs@champion").ref == registered[best]


@pytest.mark.slow
def test_tune_seconds_chooses_each_models_values_on_train_and_the_version_keeps_them(
    tmp_path, music_store_url
):
    import papermill

    from workbench.registry import versions

    output = tmp_path / "tuned.ipynb"
    parameters = {
        "store": music_store_url,
        "models": "itemknn,ease",
        "tune_seconds": 20,
        "n_resamples": 100,
        "register": True,
        "promote": False,
        "registry_name": "tuned-recs",
    }
    papermill.execute_notebook(
        str(NOTEBOOK), str(output), parameters=parameters, progress_bar=False, cwd=str(ROOT)
    )
    results = read_results(output)
    tuning = results["tuning"]
    assert set(tuning) == {"itemknn", "ease"}
    assert tuning["ease"]["tried"] == tuning["ease"]["grid"] == 27
    assert set(tuning["itemknn"]["params"]) == {"similarity", "neighbors", "shrinkage"}
    found = {v.params["model"]: v for v in versions(Store.open(music_store_url), "tuned-recs")}
    # The registered model was fitted with the chosen values, and says how they were chosen.
    assert found["ease"].params["l2"] == tuning["ease"]["params"]["l2"]
    assert found["ease"].params["tuning"] == tuning["ease"]
    assert "Tuned" in output.read_text() and "validation nDCG@10" in output.read_text()


def test_promote_makes_the_best_champion_and_a_rerun_that_does_not_beat_it_leaves_it(
    tmp_path, music_store_url
):
    import papermill

    from workbench.registry import alias_history, resolve

    parameters = {
        "store": music_store_url,
        "models": "popularity,ease",
        "k": K,
        "n_resamples": 100,
        "register": True,
        "promote": True,
        "registry_name": "promoted-recs",
    }
    runs = []
    for attempt in (1, 2):
        output = tmp_path / f"run{attempt}.ipynb"
        papermill.execute_notebook(
            str(NOTEBOOK), str(output), parameters=parameters, progress_bar=False, cwd=str(ROOT)
        )
        runs.append(read_results(output))

    first, second = (run["promotion"] for run in runs)
    assert runs[0]["best_model"] == "ease"
    assert first["promoted"] and first["champion"] == runs[0]["registered"]["ease"]
    assert first["previous"] is None
    # Same data, same split: the second run's best only ties the champion, which stays.
    assert not second["promoted"]
    assert second["champion"] == first["champion"] == runs[1]["model_version"]
    assert "does not beat" in second["reason"], second["reason"]
    store = Store.open(music_store_url)
    assert resolve(store, "promoted-recs@champion").ref == first["champion"]
    assert len(alias_history(store, "promoted-recs")) == 1


@pytest.mark.slow
def test_the_notebook_runs_under_nbmake_with_its_defaults(tmp_path, music_store_url):
    # nbmake runs the default parameters: store = None reads WORKBENCH_STORE. An explicit
    # path keeps nbmake from collecting other notebooks (papermill outputs, say).
    assert_runs_under_nbmake(NOTEBOOK, cwd=ROOT, store_url=music_store_url)
