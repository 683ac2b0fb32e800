"""The demo tells the truth: its jobs, run for real, against the planted truth of the sets.

The demo's own jobs (``workbench.toml``, real kernels under papermill) run on small
synthetic sets of three products in one store, then :func:`workbench.planted.check_truth`
compares their answers with the truth the generators planted. A negative control
trains on every event (no scope) and must fail the same checks: the checks can fail.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from notebook_support import demo_jobs

from workbench.capture import ingest
from workbench.datasets import make_ads, make_metrics, make_music
from workbench.delivery import retrieve
from workbench.planted import check_truth
from workbench.registry import aliases, resolve
from workbench.runs import run_job
from workbench.store import Store

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
FAST = {
    "train_recommender": {"models": "popularity,ease,als", "n_resamples": 100},
    "recommender_report": {"examples": 2},
    "anomaly_scan": {"history": "10d", "max_charts": 2},
}


def _recent(days: int) -> str:
    """The first day that makes a set of ``days`` days end yesterday (UTC)."""
    return (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)).isoformat()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A store of three products, the demo's jobs run on it, and where its truth is."""
    folder = tmp_path_factory.mktemp("demo")
    store = Store.open(f"duckdb://{folder / 'workbench.duckdb'}", lock_timeout=60)
    datasets = [
        make_music(users=300, items=300, days=30, start=_recent(30)),
        make_ads(users=6000, days=10, start=_recent(10)),
        make_metrics(series=8, days=21, start=_recent(21)),
    ]
    (folder / "truth").mkdir()
    for dataset in datasets:
        for table, rows in dataset.tables.items():
            assert ingest(store, rows, table=table).accepted == rows.num_rows
        (folder / "truth" / f"{dataset.kind}.json").write_text(json.dumps(dataset.truth))
    runs = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)  # the jobs and scopes of the repository's workbench.toml
        patch.delenv("WORKBENCH_STORE", raising=False)
        for job in demo_jobs():
            runs[job] = run_job(
                job,
                parameters=FAST.get(job, {}),
                store=store,
                reports=folder / "reports",
                locks=folder / "locks",
            )
    return store, folder, runs


def test_the_demo_answers_match_the_planted_truth(demo):
    store, folder, runs = demo
    assert {run.status for run in runs.values()} == {"succeeded"}
    report = check_truth(store, folder / "truth")
    assert report.passed, report.summary()
    assert report.skipped == []
    figures = report.figures()
    assert figures["recommender"]["oracle_share"] >= 0.8
    assert figures["recommender"]["popularity_ratio"] >= 1.5
    assert figures["stored lists"]["foreign_items"] == 0
    assert figures["stored lists"]["foreign_users"] == 0
    assert figures["skips"]["repeatedly_skipped_pairs"] > 0  # the check had pairs to judge
    assert figures["skips"]["recommended"] == 0
    planted = figures["readout"]["planted"]
    assert figures["readout"]["low"] <= planted <= figures["readout"]["high"]
    assert figures["sample ratio"] == {"flagged": False, "planted": False}
    assert figures["anomaly scan"]["recall"] >= 0.5


def test_each_job_read_only_its_own_product(demo):
    store, _, runs = demo
    train = runs["train_recommender"].results
    assert train["scope"]["sources"] == ["synthetic.music"]
    assert train["undeclared_event_types"] == {}
    assert runs["train_recommender"].inputs["scope"] == "music: source synthetic.music"
    assert runs["experiment_readout"].inputs["scope"].startswith("ads:")
    assert runs["anomaly_scan"].inputs["scope"] == "hosts: series host_*"
    music_items = {f"track_{i:04d}" for i in range(300)}
    unknown = retrieve(store, "u1", 10)
    assert unknown.source == "popularity" and set(unknown.items["item_id"]) <= music_items
    # Ads units that are not also music listeners (ids may be shared) get no music list.
    units = (
        store.sql(
            "SELECT unit_id FROM assignments WHERE unit_id NOT IN (SELECT user_id FROM events "
            "WHERE source = 'synthetic.music') ORDER BY unit_id LIMIT 5"
        )
        .column("unit_id")
        .to_pylist()
    )
    assert len(units) == 5
    assert all(retrieve(store, unit, 10).source == "popularity" for unit in units)


def test_the_report_names_the_champion_the_registry_serves(demo):
    store, _, runs = demo
    champion = resolve(store, "recommender@champion")
    assert aliases(store, "recommender")["champion"] == champion.version
    report = runs["recommender_report"].results
    assert report["champion"] == champion.ref
    assert (
        report["metrics"]["ndcg_at_10_score"] == champion.metrics["ndcg_at_10_score"]
    )  # recorded, not refit
    low, high = report["ndcg_interval"]
    assert low < champion.metrics["ndcg_at_10_score"] < high
    assert report["coverage"]["users"] == 300


def test_training_on_every_event_fails_the_same_checks(demo):
    """The negative control: every event of every product counted as a like, as before.

    No scope mixes the ads test into the music lists; no semantics counts skips, ad
    impressions and clicks as plays. The same checks must then fail.
    """
    store, folder, _ = demo
    everything = {
        "interactions": {t: 1 for t in ("play", "like", "skip", "impression", "click")},
        "negative": {},
        "rewards": [],
        "ignored": [],
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        run_job(
            "train_recommender",
            parameters={
                **FAST["train_recommender"],
                "scope": None,
                "feedback": everything,
                "registry_name": "mixed",
            },
            store=store,
            reports=folder / "reports",
            locks=folder / "locks",
        )
        run_job(
            "precompute",
            parameters={"model": "mixed@champion"},
            store=store,
            reports=folder / "reports",
            locks=folder / "locks",
        )
    report = check_truth(store, folder / "truth", model="mixed@champion")
    failed = {check.name for check in report.checks if not check.passed}
    assert {"recommender", "stored lists"} <= failed, report.summary()
    assert report.figures()["stored lists"]["foreign_users"] > 0
    assert report.figures()["recommender"]["popularity_ratio"] < 1.5


def _readme_commands(section: str) -> list[list[str]]:
    """The `uv run workbench ...` commands of a README section's bash blocks, as argv lists."""
    import re
    import shlex

    text = (REPO / "README.md").read_text(encoding="utf-8")
    body = re.search(rf"^## {re.escape(section)}\s*$(.*?)(?=^## )", text, re.M | re.S).group(1)
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", body, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)  # continuation lines
        for line in joined.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("uv run workbench "):
                commands.append(shlex.split(line)[3:])  # after "uv run workbench"
    return commands


@pytest.mark.parametrize("section", ["The loop, from events to a report", "Bring your own data"])
def test_the_readmes_commands_run_as_written_on_the_demo_store(demo, tmp_path, section):
    """A newcomer types README's commands in a fresh clone after `make demo`: each works."""
    import os
    import shutil
    import subprocess
    import sys

    store, folder, _ = demo
    project = tmp_path / "clone"
    for name in ("workbench.toml", "notebooks", "data/examples"):
        source = REPO / name
        copy = shutil.copytree if source.is_dir() else shutil.copy
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        copy(source, project / name)
    # The demo store where `make demo` leaves it, with its artifacts and truth beside it.
    with store.reading():
        shutil.copy(store.path, project / "data" / "workbench.duckdb")
    for name in ("models", "truth"):
        shutil.copytree(folder / name, project / "data" / name)
    commands = _readme_commands(section)
    assert len(commands) >= 5, commands
    env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_STORE"}
    workbench = str(Path(sys.executable).with_name("workbench"))
    for argv in commands:
        done = subprocess.run(
            [workbench, *argv], cwd=project, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, f"workbench {' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr
