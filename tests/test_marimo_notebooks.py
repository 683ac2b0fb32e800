"""The marimo apps: their own tests pass under pytest, and they run in a marimo kernel.

A marimo notebook is a pytest module: its ``test_*`` functions run against the
values its cells compute. A failing in-cell test does not fail ``python nb.py``
or ``marimo export``, so ``pytest notebooks/X.py`` is the gate, run here in a
subprocess for every marimo file (a new one is picked up by its ``marimo.App``).
``marimo export html`` then runs every cell in a real kernel with ``--store`` on
the command line, as ``marimo run`` would, and fails if any cell raises.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from notebook_support import music_store

from workbench.store import Store

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
MARIMO_NOTEBOOKS = sorted(
    path for path in NOTEBOOKS.glob("*.py") if "marimo.App(" in path.read_text(encoding="utf-8")
)


def _music_store(path: Path) -> str:
    return music_store(path, users=60, items=80, days=14, tables=("items", "users", "events"))


@pytest.fixture(scope="module")
def plain_store_url(tmp_path_factory) -> str:
    """Events, users and items; no model registered."""
    return _music_store(tmp_path_factory.mktemp("plain") / "music.duckdb")


@pytest.fixture(scope="module")
def metrics_store_url(tmp_path_factory) -> str:
    """Observations with planted anomalies and their labels, for the labeling app."""
    from workbench.capture import ingest
    from workbench.datasets import make_metrics

    data = make_metrics(series=6, days=21, anomaly_rate=0.03, seed=2)
    url = f"duckdb://{tmp_path_factory.mktemp('metrics') / 'metrics.duckdb'}"
    store = Store.open(url)
    for name in ("observations", "labels"):
        ingest(store, data.tables[name], table=name)
    return url


# The store each app's own tests run on; the others use the music events.
APP_STORES = {"label_anomalies.py": "metrics_store_url"}


@pytest.fixture(scope="module")
def served_store_url(tmp_path_factory) -> str:
    """Events plus an EASE champion whose lists are precomputed."""
    from workbench.delivery import precompute
    from workbench.recommend import EASERecommender
    from workbench.recommend.comparison import load_interactions, split_interactions
    from workbench.registry import promote, register

    url = _music_store(tmp_path_factory.mktemp("served") / "music.duckdb")
    store = Store.open(url)
    train, test = split_interactions(load_interactions(store), seed=0)
    version = register(
        store,
        EASERecommender().fit(train),
        "ease",
        metrics={"ndcg_at_10_score": 0.2},
        training_data=train,
        holdout=test,
    )
    promote(store, "ease", version.version)
    precompute(store, "ease@champion", k=10)
    return url


def _run(command: list[str], *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # marimo collects a notebook's tests only when PYTEST_CURRENT_TEST is unset; this test's
    # own pytest sets it, so the child must not inherit it.
    inherited = {name: value for name, value in os.environ.items() if name != "PYTEST_CURRENT_TEST"}
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**inherited, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_app_is_a_marimo_notebook():
    assert {path.name for path in MARIMO_NOTEBOOKS} >= {
        "explore.py",
        "recommendations.py",
        "label_anomalies.py",
    }


@pytest.mark.slow
@pytest.mark.parametrize("notebook", MARIMO_NOTEBOOKS, ids=lambda path: path.name)
def test_pytest_runs_the_notebooks_own_tests_and_they_pass(notebook, request):
    # Under pytest mo.cli_args() is unavailable, so the app falls back to WORKBENCH_STORE.
    store_url = request.getfixturevalue(APP_STORES.get(notebook.name, "plain_store_url"))
    before = _user_data(store_url)
    completed = _run(
        [sys.executable, "-m", "pytest", str(notebook), "-p", "no:cacheprovider", "-q"],
        env={"WORKBENCH_STORE": store_url},
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-4000:]
    passed = re.search(r"(\d+) passed", completed.stdout)
    assert passed is not None and int(passed.group(1)) >= 1, output[-4000:]
    assert "failed" not in completed.stdout and "error" not in completed.stdout.lower()
    # An app's tests never write into the user's store (a test vote would train a detector).
    assert _user_data(store_url) == before


def _user_data(url: str) -> dict[str, list]:
    """Every row of the tables a user's work lives in, in a fixed order."""
    store = Store.open(url)
    return {
        name: sorted(map(str, store.sql(f"SELECT * FROM {name}").to_pylist()))
        for name in ("events", "observations", "labels", "model_versions", "recommendations")
    }


@pytest.mark.slow
def test_a_failing_in_cell_test_fails_pytest(tmp_path, plain_store_url):
    # The gate must be able to fail: break one assertion of the explorer and run it.
    source = (NOTEBOOKS / "explore.py").read_text(encoding="utf-8")
    broken = source.replace(
        'assert top["item_id"].is_unique', 'assert not top["item_id"].is_unique'
    )
    assert broken != source
    copy = tmp_path / "explore.py"
    copy.write_text(broken, encoding="utf-8")
    completed = _run(
        [sys.executable, "-m", "pytest", str(copy), "-p", "no:cacheprovider", "-q"],
        env={"WORKBENCH_STORE": plain_store_url},
    )
    assert completed.returncode != 0
    assert "1 failed" in completed.stdout


def _export(notebook: Path, tmp_path: Path, store_url: str, *arguments: str) -> str:
    """Run every cell in a marimo kernel (as `marimo run` would) and return the page."""
    # marimo keeps a session cache beside the notebook it runs: run a copy, not the source.
    copy = tmp_path / notebook.name
    shutil.copy(notebook, copy)
    page = tmp_path / "page.html"
    completed = _run(
        [
            sys.executable,
            "-m",
            "marimo",
            "export",
            "html",
            str(copy),
            "-o",
            str(page),
            "-f",
            "--",
            "--store",
            store_url,
            *arguments,
        ]
    )
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]
    return page.read_text(encoding="utf-8")


def _shown(markdown_html: str) -> str:
    """How a fragment of rendered markdown appears inside marimo's exported page."""
    return markdown_html.replace("<", "\\u003C").replace(">", "\\u003E")


@pytest.mark.slow
def test_the_explorer_runs_in_a_kernel_on_the_store_named_on_the_command_line(
    tmp_path, plain_store_url
):
    page = _export(NOTEBOOKS / "explore.py", tmp_path, plain_store_url)
    location = plain_store_url.removeprefix("duckdb://")
    assert _shown(f"<code>{location}</code>") in page
    assert _shown("Drill-down: item <code>") in page  # it drilled into the top item


@pytest.mark.slow
def test_the_recommendations_app_serves_and_explains_the_champions_list(tmp_path, served_store_url):
    page = _export(NOTEBOOKS / "recommendations.py", tmp_path, served_store_url)
    assert _shown("Champion <code>ease@1</code>: served list") in page
    assert "precomputed: stored list" in page
    # The explanation's wording comes from the package, so it is on the page only if shown.
    assert "EASE: an item scores by the learned weight" in page


@pytest.mark.slow
def test_the_recommendations_app_says_when_no_champion_is_registered(tmp_path, plain_store_url):
    page = _export(NOTEBOOKS / "recommendations.py", tmp_path, plain_store_url, "--user", "nobody")
    assert _shown("<strong>No champion is registered</strong>") in page
    # --user picks the user; one without events is told what they would get.
    assert _shown("No events of <code>nobody</code> in the store") in page


@pytest.mark.slow
def test_the_labeling_app_shows_the_queue_the_point_and_the_labels_so_far(
    tmp_path, metrics_store_url
):
    page = _export(
        NOTEBOOKS / "label_anomalies.py", tmp_path, metrics_store_url, "--labeler", "ann"
    )
    assert "Label anomalies" in page
    assert "Queue: pick a point" in page
    assert "in the queue because" in page  # the first queued point is shown with its reason
    assert "Labels so far" in page
    # Grading every detector takes a scan's time, so it waits for the button.
    assert "Grade the detectors on the labels" in page
    assert "window_iforest" not in page


@pytest.mark.slow
def test_the_labeling_app_says_when_the_store_has_no_observations(tmp_path, plain_store_url):
    page = _export(NOTEBOOKS / "label_anomalies.py", tmp_path, plain_store_url)
    assert "has no observations" in page
