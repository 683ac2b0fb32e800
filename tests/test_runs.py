"""Runs: recorded results, parameters, run records, skipping up-to-date work, failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import nbformat
import numpy as np
import pytest

from workbench.capture import ingest
from workbench.exceptions import (
    ConfigError,
    InvalidArgument,
    RunFailed,
    ScheduleError,
    WorkbenchError,
)
from workbench.provenance import code_digest, input_snapshot, notebook_sha256
from workbench.runs import (
    get_run,
    list_runs,
    parse_parameters,
    parse_value,
    read_results,
    record,
    recorded,
    run_job,
)
from workbench.runs.jobs import load_jobs
from workbench.runs.locks import JobBusy, job_lock
from workbench.store import Store


def _notebook(path, *cells: str, parameters: str = "") -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    parameter_cell = nbformat.v4.new_code_cell(parameters)
    parameter_cell.metadata["tags"] = ["parameters"]
    notebook.cells = [parameter_cell, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nbformat.write(notebook, path)


@pytest.mark.slow
def test_results_recorded_in_a_papermill_run_can_be_read_back(tmp_path):
    import papermill

    source, output = tmp_path / "job.ipynb", tmp_path / "out.ipynb"
    _notebook(
        source,
        "import numpy as np\nfrom workbench.runs import record",
        "record('rows', rows)\nrecord('metrics', {'ndcg_at_10_score': np.float64(0.25), 'k': np.int64(10)})",
        "record('rows', rows * 2)  # a later record of the same name wins",
        parameters="rows = 3",
    )
    papermill.execute_notebook(
        str(source), str(output), parameters={"rows": 21}, progress_bar=False
    )

    assert read_results(output) == {"rows": 42, "metrics": {"ndcg_at_10_score": 0.25, "k": 10}}
    assert read_results(source) == {}


def test_record_outside_a_kernel_keeps_the_value_in_process():
    assert record("best_model", "ease") == "ease"
    record("scores", np.array([0.5, 0.25]))
    assert recorded()["best_model"] == "ease"
    assert recorded()["scores"] == [0.5, 0.25]


@pytest.mark.parametrize("value", [float("nan"), object(), {"inner": float("inf")}])
def test_values_json_cannot_hold_are_refused_with_advice(value):
    with pytest.raises(InvalidArgument, match="record"):
        record("bad", value)


def test_reading_results_from_something_that_is_not_a_notebook(tmp_path):
    with pytest.raises(WorkbenchError, match="No notebook"):
        read_results(tmp_path / "missing.ipynb")
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(WorkbenchError, match="not a notebook"):
        read_results(tmp_path / "plain.txt")
    (tmp_path / "list.ipynb").write_text(json.dumps([1, 2]))
    with pytest.raises(WorkbenchError, match="not a notebook"):
        read_results(tmp_path / "list.ipynb")


# --- runs: parameters, records, skipping, failures -------------------------------------

WORKBENCH = str(Path(sys.executable).with_name("workbench"))


def trivial_notebook(path: Path, *, extra: str = "") -> Path:
    """A fast notebook (no heavy imports) that records its parameters and can fail on demand.

    The cell after the failing one writes a marker file: it stands for everything
    downstream of a failure (promoting a model, precomputing), which must not happen.
    """
    _notebook(
        path,
        "from workbench.runs import record\nrecord('k', k)\nrecord('k_type', type(k).__name__)",
        "if fail:\n    raise ValueError('planted failure')",
        "import pathlib\npathlib.Path(marker).write_text('downstream ran')\nrecord('done', True)"
        + extra,
        parameters="store = None\nk = 3\nfail = False\nmarker = 'downstream.txt'",
    )
    return path


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder (the current directory) with a store file and a trivial notebook."""
    monkeypatch.chdir(tmp_path)
    store = Store.open(f"duckdb://{tmp_path / 'store.duckdb'}", lock_timeout=10)
    notebook = trivial_notebook(tmp_path / "trivial.ipynb")
    return {"root": tmp_path, "store": store, "notebook": notebook}


def _events(n: int, *, prefix: str = "e"):
    import pandas as pd

    return pd.DataFrame(
        {
            "event_id": [f"{prefix}{i}" for i in range(n)],
            "ts": ["2026-01-01T10:00:00Z"] * n,
            "user_id": [f"u{i % 3}" for i in range(n)],
            "item_id": [f"i{i % 5}" for i in range(n)],
            "event_type": "play",
        }
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10", 10),
        ("-3", -3),
        ("0.25", 0.25),
        ("1e-3", 0.001),
        ("true", True),
        ("False", False),
        ("null", None),
        ("popularity,ease", "popularity,ease"),
        ("'10'", "10"),
        ("no", "no"),  # YAML 1.1 would make these booleans; a command line means text
        ("on", "on"),
        ("2026-01-01", "2026-01-01"),
        ("[5, 10]", [5, 10]),
        ("{a: 1}", {"a": 1}),
        ("", ""),
        ("a: b: c", "a: b: c"),
        (".nan", ".nan"),
    ],
)
def test_parameter_values_keep_their_type(text, value):
    parsed = parse_value(text)
    assert parsed == value
    assert type(parsed) is type(value)


def test_bad_parameter_pairs_are_refused_with_the_fix():
    with pytest.raises(ConfigError, match="key=value"):
        parse_parameters(["k10"])
    with pytest.raises(ConfigError, match="not a notebook variable"):
        parse_parameters(["my-k=1"])
    with pytest.raises(ConfigError, match="twice"):
        parse_parameters(["k=1", "k=2"])
    assert parse_parameters(["expr=a=b"]) == {"expr": "a=b"}


def test_the_notebook_digest_ignores_outputs_but_not_code(tmp_path):
    import nbformat

    path = trivial_notebook(tmp_path / "nb.ipynb")
    before = notebook_sha256(path)
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[1].outputs = [nbformat.v4.new_output("stream", text="hello")]
    notebook.cells[1].execution_count = 7
    nbformat.write(notebook, path)
    assert notebook_sha256(path) == before
    notebook.cells[1].source += "\n# changed"
    nbformat.write(notebook, path)
    assert notebook_sha256(path) != before


def test_the_inputs_digest_follows_the_declared_inputs(memory_store):
    everything, events_only = input_snapshot(memory_store), input_snapshot(memory_store, ["events"])
    ingest(memory_store, _events(4))
    assert input_snapshot(memory_store).digest != everything.digest
    after_events = input_snapshot(memory_store, ["events"])
    assert after_events.digest != events_only.digest
    assert after_events.batches == 1
    # The same rows again add nothing: the data is unchanged.
    ingest(memory_store, _events(4))
    assert input_snapshot(memory_store, ["events"]).digest == after_events.digest
    # Another table does not concern a job that reads events only.
    import pandas as pd

    ingest(memory_store, pd.DataFrame({"item_id": ["i1"], "genre": ["jazz"]}), table="items")
    assert input_snapshot(memory_store, ["events"]).digest == after_events.digest
    assert input_snapshot(memory_store).digest != input_snapshot(memory_store, ["events"]).digest


def test_a_table_the_workbench_writes_is_digested_by_its_rows(memory_store):
    before = input_snapshot(memory_store, ["model_aliases"]).digest
    with memory_store.transaction() as raw:
        raw.execute("INSERT INTO model_aliases VALUES ('recs', 'champion', 1, now())")
    moved = input_snapshot(memory_store, ["model_aliases"]).digest
    assert moved != before
    with memory_store.transaction() as raw:
        raw.execute("UPDATE model_aliases SET version = 2")
    assert input_snapshot(memory_store, ["model_aliases"]).digest != moved


def test_jobs_in_workbench_toml_are_checked_with_advice():
    jobs = load_jobs(
        {
            "jobs": {
                "train": {
                    "notebook": "notebooks/train_recommender.ipynb",
                    "parameters": {"k": 10},
                    "schedule": "0 2 * * *",
                    "inputs": ["events"],
                    "timeout": 600,
                }
            }
        }
    )
    assert jobs["train"].parameters == {"k": 10}
    assert jobs["train"].inputs == ("events",)
    bad = [
        ({"notebook": "a.ipynb", "schedule": "every day"}, "not a cron expression"),
        ({"notebook": "a.ipynb", "cron": "0 2 * * *"}, "unknown key cron"),
        ({"notebook": "a.ipynb", "inputs": ["evnts"]}, "no table evnts"),
        ({"parameters": {}}, "needs notebook"),
        ({"notebook": "a.ipynb", "timeout": -1}, "positive number"),
    ]
    for body, message in bad:
        with pytest.raises(ScheduleError, match=message):
            load_jobs({"jobs": {"job": body}})


def test_an_unknown_target_names_the_jobs_there_are(project):
    with pytest.raises(ScheduleError, match="No job 'nope'"):
        run_job("nope", store=project["store"])
    with pytest.raises(ScheduleError, match="No notebook at"):
        run_job("missing.ipynb", store=project["store"])


def test_an_undeclared_parameter_is_refused_before_anything_runs(project):
    with pytest.raises(ConfigError, match=r"no parameter kk; its parameters are: fail, k"):
        run_job(project["notebook"], parameters={"kk": 1}, store=project["store"])
    assert list_runs(project["store"]) == []


@pytest.mark.slow
def test_a_run_is_recorded_skipped_when_up_to_date_and_rerun_when_anything_changed(
    project, monkeypatch
):
    store, notebook = project["store"], project["notebook"]
    first = run_job(notebook, parameters={"k": 10}, store=store, reports="reports")
    assert first.status == "succeeded"
    assert first.results == {"k": 10, "k_type": "int", "done": True}
    assert first.params == {"k": 10, "store": store.url}  # the notebook declares `store`
    assert Path(first.output_path).is_file() and Path(first.report_path).is_file()
    assert Path(first.output_path).parent == Path("reports/runs", first.run_id).resolve()
    stored = get_run(store, first.run_id)
    assert stored.status == "succeeded" and stored.results == first.results
    # The record keeps when the run started and finished (its duration derives from them).
    assert datetime.fromisoformat(stored.started_at) < datetime.fromisoformat(stored.finished_at)

    again = run_job(notebook, parameters={"k": 10}, store=store, reports="reports")
    assert again.status == "skipped" and again.up_to_date_with == first.run_id
    assert len(list_runs(store)) == 1

    forced = run_job(notebook, parameters={"k": 10}, store=store, reports="reports", force=True)
    other_params = run_job(notebook, parameters={"k": 11}, store=store, reports="reports")
    ingest(store, _events(3))
    new_data = run_job(notebook, parameters={"k": 10}, store=store, reports="reports")
    assert [r.status for r in (forced, other_params, new_data)] == ["succeeded"] * 3
    assert [r.run_id for r in list_runs(store)] == [
        new_data.run_id,
        other_params.run_id,
        forced.run_id,
        first.run_id,
    ]
    assert new_data.inputs["batches"] == 1

    # Another workbench (an upgrade, a fix in the package) runs the same job again.
    monkeypatch.setattr("workbench.runs.execute.code_digest", lambda: "another workbench")
    upgraded = run_job(notebook, parameters={"k": 10}, store=store, reports="reports")
    assert upgraded.status == "succeeded" and upgraded.code_digest == "another workbench"
    assert get_run(store, first.run_id).code_digest == code_digest()

    trivial_notebook(notebook, extra="\nrecord('edited', True)")
    edited = run_job(notebook, parameters={"k": 10}, store=store, reports="reports")
    assert edited.status == "succeeded" and edited.results["edited"] is True

    index = Path("reports/index.html").read_text()
    assert all(run.run_id in index for run in list_runs(store))
    assert index.index(edited.run_id) < index.index(first.run_id)  # newest first


@pytest.mark.slow
def test_a_failed_run_is_recorded_reported_and_stops_before_downstream_cells(project):
    store, notebook, root = project["store"], project["notebook"], project["root"]
    with pytest.raises(RunFailed, match="ValueError: planted failure") as raised:
        run_job(notebook, parameters={"fail": True}, store=store, reports="reports")
    run = get_run(store, raised.value.run_id)
    assert run.status == "failed"
    assert "ValueError: planted failure" in run.error
    assert run.results == {"k": 3, "k_type": "int"}  # what it recorded before failing
    assert not (root / "downstream.txt").exists()  # nothing after the failing cell ran
    output = Path(raised.value.output_path).read_text()
    assert "An Exception was encountered" in output  # papermill's banner
    report = Path(run.report_path).read_text()
    assert "This run failed" in report and "planted failure" in report
    assert "failed" in Path("reports/index.html").read_text()
    # A failed run is never "up to date": the same run is tried again.
    with pytest.raises(RunFailed):
        run_job(notebook, parameters={"fail": True}, store=store, reports="reports")
    assert [r.status for r in list_runs(store)] == ["failed", "failed"]


@pytest.mark.slow
def test_a_run_of_a_busy_job_does_not_start(project):
    with (
        job_lock("trivial", Path("data/schedule")),
        pytest.raises(JobBusy, match="already running"),
    ):
        run_job(project["notebook"], store=project["store"], reports="reports", force=True)
    assert list_runs(project["store"]) == []


@pytest.mark.slow
def test_the_command_keeps_parameter_types_prints_json_and_exits_non_zero_on_failure(project):
    root, url = project["root"], project["store"].url
    env = {**os.environ, "WORKBENCH_STORE": url}

    def workbench(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [WORKBENCH, *args], cwd=root, env=env, capture_output=True, text=True, timeout=120
        )

    ran = workbench("run", "trivial.ipynb", "-p", "k=10", "--json")
    assert ran.returncode == 0, ran.stderr
    # The kernel listens on Unix sockets, not an unencrypted TCP port (ipykernel warns then).
    assert "without encryption" not in ran.stderr
    summary = json.loads(ran.stdout)
    assert summary["status"] == "succeeded"
    assert summary["results"]["k_type"] == "int" and summary["params"]["k"] == 10

    skipped = workbench("run", "trivial.ipynb", "-p", "k=10")
    assert (
        skipped.returncode == 0 and "up to date" in skipped.stdout and "--force" in skipped.stdout
    )

    failed = workbench("run", "trivial.ipynb", "-p", "fail=true", "--json")
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["status"] == "failed"
    assert "planted failure" in failed.stderr and "report" in failed.stderr

    shown = workbench("runs", "show", summary["run_id"], "--json")
    assert json.loads(shown.stdout)["results"] == {"k": 10, "k_type": "int", "done": True}
    listed = json.loads(workbench("runs", "list", "--json").stdout)
    assert [r["status"] for r in listed] == ["failed", "succeeded"]
    missing = workbench("runs", "show", "nope")
    assert missing.returncode == 1 and "workbench runs list" in missing.stderr


@pytest.mark.slow
@pytest.mark.parametrize("how", ["at the crash point", "while its kernel works"])
def test_a_killed_run_is_marked_failed_by_the_next_command_that_reads_runs(project, how):
    import signal
    import time

    root, url = project["root"], project["store"].url
    env = {**os.environ, "WORKBENCH_STORE": url}
    marker = root / "kernel-started.txt"
    # A notebook whose kernel says when it has started, then works for a long while.
    _notebook(
        root / "slow.ipynb",
        "import pathlib, time\npathlib.Path(started).write_text('yes')\ntime.sleep(600)",
        parameters=f"store = None\nstarted = {str(marker)!r}",
    )
    command = [WORKBENCH, "run", "slow.ipynb"]
    if how == "at the crash point":
        env["WORKBENCH_CRASH_AT"] = "run:started"
        killed = subprocess.run(command, cwd=root, env=env, capture_output=True, timeout=300)
        assert killed.returncode == -signal.SIGKILL
    else:
        process = subprocess.Popen(command, cwd=root, env=env)
        deadline = time.monotonic() + 300
        while not marker.exists():  # readiness: the kernel runs the notebook's first cell
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
        # Its kernel notices that its parent is gone and exits by itself (ipykernel).
    (stuck,) = project["store"].sql("SELECT run_id, status FROM runs").to_pylist()
    assert stuck["status"] == "running"  # nothing recorded the death yet

    listed = subprocess.run(
        [WORKBENCH, "runs", "list", "--json"],
        cwd=root,
        env={**os.environ, "WORKBENCH_STORE": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    (run,) = json.loads(listed.stdout)
    assert run["status"] == "failed" and "ended before it finished" in run["error"]
    folder = root / "reports" / "runs" / run["run_id"]
    assert json.loads((folder / "run.json").read_text())["status"] == "failed"
    assert "failed" in (root / "reports" / "index.html").read_text()


def test_a_run_that_is_alive_is_never_reaped(project):
    from workbench.runs.locks import alive_lock
    from workbench.runs.records import reap_abandoned

    folder = project["root"] / "reports" / "runs" / "r1"
    folder.mkdir(parents=True)
    store = project["store"]
    with store.transaction() as raw:
        raw.execute(
            "INSERT INTO runs (run_id, job, notebook, status, started_at, output_path) "
            "VALUES ('r1', 'j', 'n.ipynb', 'running', now(), ?)",
            [str(folder / "n.ipynb")],
        )
    with alive_lock(folder):  # its process lives (here, this one)
        assert reap_abandoned(store) == []
        assert list_runs(store)[0].status == "running"


def test_declared_parameters_are_read_from_the_tagged_cell_without_running_it(tmp_path):
    from workbench.runs.parameters import declared_parameters

    path = tmp_path / "nb.ipynb"
    _notebook(path, "x = 1", parameters="k: int = 10\nmodels = 'ease'  # names\nimport os")
    assert declared_parameters(path) == {"k": "10", "models": "'ease'"}
    _notebook(path, "x = 1", parameters="k = (")
    with pytest.raises(ConfigError, match="not valid Python"):
        declared_parameters(path)
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[0].metadata["tags"] = []
    nbformat.write(notebook, path)
    assert declared_parameters(path) == {}


# --- the repository's own jobs, scopes and semantics -------------------------------------


REPO = Path(__file__).resolve().parents[1]


def test_every_demo_job_runs_its_notebook_as_jupyterlab_would():
    """A job's parameters may not contradict the notebook's defaults (one source of truth)."""
    import ast
    import tomllib

    from workbench.runs.parameters import declared_parameters

    config = tomllib.loads((REPO / "workbench.toml").read_text())
    for name, job in load_jobs(config).items():
        defaults = {
            key: ast.literal_eval(source)
            for key, source in declared_parameters(REPO / job.notebook).items()
        }
        for key, value in job.parameters.items():
            assert defaults.get(key) == value, f"{name}: {key}={value!r} vs {defaults.get(key)!r}"
        if "scope" in defaults and defaults["scope"] is not None:
            from workbench.scope import Scope

            assert Scope.named(defaults["scope"], config).name == defaults["scope"]


def test_a_scoped_run_depends_only_on_the_batches_of_its_scope(file_store):
    from workbench.feedback import Feedback
    from workbench.scope import Scope

    music = Scope.parse({"sources": ["music"]}, name="music")

    def events(source: str, ids: range):
        import pandas as pd

        return pd.DataFrame(
            {
                "event_id": [f"{source}-{i}" for i in ids],
                "ts": "2026-03-01T12:00:00Z",
                "user_id": "u1",
                "item_id": "i1",
                "event_type": "play",
                "source": source,
            }
        )

    ingest(file_store, events("music", range(3)))
    before = input_snapshot(file_store, ["events"], scope=music)
    ingest(file_store, events("ads", range(3)))  # another product's batch: not a reason to rerun
    assert input_snapshot(file_store, ["events"], scope=music).digest == before.digest
    assert (
        input_snapshot(file_store, ["events"]).digest
        != input_snapshot(file_store, ["events"], scope=music).digest
    )
    ingest(file_store, events("music", range(3, 5)))  # new music events: due again
    after = input_snapshot(file_store, ["events"], scope=music)
    assert after.digest != before.digest and after.batches == 2
    assert after.scope == "music: source music"
    assert "in scope music: source music" in after.describe()
    wider = Scope.parse({"sources": ["music", "ads"]}, name="music")  # the definition changed
    assert input_snapshot(file_store, ["events"], scope=wider).digest != after.digest
    heavier = Feedback.parse({"interactions": {"play": 2}})
    assert (
        input_snapshot(file_store, ["events"], scope=music, feedback=heavier).digest
        != input_snapshot(file_store, ["events"], scope=music, feedback=Feedback()).digest
    )


def test_a_parameter_naming_nothing_is_refused_before_the_kernel_starts(
    file_store, tmp_path, monkeypatch
):
    from workbench.datasets import make_ads
    from workbench.exceptions import ExperimentError, ModelNotFound

    for table, rows in make_ads(users=200, days=2).tables.items():
        ingest(file_store, rows, table=table)
    monkeypatch.chdir(REPO)
    where = {"store": file_store, "reports": tmp_path / "reports", "locks": tmp_path / "locks"}
    with pytest.raises(
        ExperimentError, match=r"No assignments for experiment 'home_test'.*ads_creative"
    ):
        run_job("experiment_readout", parameters={"experiment": "home_test"}, **where)
    with pytest.raises(ModelNotFound, match="No model named 'recommender'"):
        run_job("precompute", **where)  # its default model, before anything is registered
    with pytest.raises(ConfigError, match=r"No scope 'musik'.*scopes: ads, hosts, music, shop"):
        run_job("train_recommender", parameters={"scope": "musik"}, **where)
    assert list_runs(file_store) == []  # nothing ran, nothing to clean up


@pytest.mark.slow
def test_a_moved_project_keeps_its_run_list_pointing_at_its_own_reports(tmp_path, monkeypatch):
    from workbench.runs.reports import read_run_records, write_index

    old = tmp_path / "project"
    old.mkdir()
    (old / "workbench.toml").write_text('[store]\nurl = "duckdb://store.duckdb"\n')
    monkeypatch.chdir(old)
    notebook = trivial_notebook(old / "trivial.ipynb")
    run = run_job(notebook, parameters={"k": 1}, store=Store.open(), reports="reports")
    assert run.status == "succeeded"
    row = Store.open().sql("SELECT output_path, report_path FROM runs").to_pylist()[0]
    # Recorded relative to the project, not as this machine's absolute path.
    assert row == {
        "output_path": f"reports/runs/{run.run_id}/trivial.ipynb",
        "report_path": f"reports/runs/{run.run_id}/report.html",
    }

    new = tmp_path / "moved"
    old.rename(new)
    monkeypatch.chdir(new)
    listed = list_runs(Store.open())[0]
    assert Path(listed.output_path) == new / "reports" / "runs" / run.run_id / "trivial.ipynb"
    assert Path(listed.report_path).is_file()
    (record,) = read_run_records(new / "reports")
    assert Path(record.report_path).is_file()
    index = write_index(new / "reports").read_text()
    assert f'href="runs/{run.run_id}/report.html"' in index


def test_a_run_json_from_an_earlier_workbench_is_read_under_the_current_names(tmp_path):
    from workbench.runs.reports import read_run_records

    folder = tmp_path / "runs" / "20260101T000000-abcdef12"
    folder.mkdir(parents=True)
    snapshot = {"digest": "d" * 64, "tables": ["*"], "batches": 2}
    (folder / "run.json").write_text(
        json.dumps(
            {
                "run_id": "20260101T000000-abcdef12",
                "job": "train",
                "notebook": "notebooks/train_recommender.ipynb",
                "params": {},
                "status": "succeeded",
                "started_at": "2026-01-01T00:00:00",
                "data_digest": "d" * 64,
                "data": snapshot,
            }
        )
    )
    (run,) = read_run_records(tmp_path)
    assert run.inputs_digest == "d" * 64 and run.inputs == snapshot


def test_preloads_are_the_top_level_imports_of_known_libraries_in_order():
    from workbench.runs.kernel import preloads

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("store = None"),
        nbformat.v4.new_code_cell(
            "import os\nimport pandas as pd, numpy\nfrom workbench.recommend import make_models"
        ),
        nbformat.v4.new_markdown_cell("import altair"),  # text, not code
        nbformat.v4.new_code_cell("%matplotlib inline\nimport scipy"),  # a magic: not Python
        nbformat.v4.new_code_cell("def f():\n    import sklearn\nfrom . import local"),
        nbformat.v4.new_code_cell("import pandas\nfrom workbench import Store"),
    ]
    assert preloads(notebook) == [
        "import pandas as pd, numpy",
        "from workbench.recommend import make_models",
        "import pandas",
        "from workbench import Store",
    ]


def test_the_preload_runs_each_import_on_its_own_and_defines_no_name():
    import sys

    from workbench.runs.kernel import preload_code

    namespace: dict = {}
    # The missing module fails alone, silently: the notebook's own cell will say so.
    exec(
        preload_code(["import json", "import nope", "from wsgiref import simple_server"]), namespace
    )
    assert "wsgiref.simple_server" in sys.modules
    assert [name for name in namespace if not name.startswith("__")] == []


@pytest.mark.slow
def test_a_run_starts_its_kernel_early_without_changing_what_the_notebook_shows(project):
    """The kernel imports the notebook's libraries before its first cell: the first cell
    already finds them loaded, and execution counts still start at 1."""
    notebook = project["root"] / "early.ipynb"
    _notebook(
        notebook,
        "import sys\nfrom workbench.runs import record\nrecord('loaded', 'pandas' in sys.modules)\n"
        "record('names', [n for n in ('pd', '_workbench_preload') if n in globals()])",
        "import pandas as pd\nrecord('rows', len(pd.DataFrame({'a': [1, 2]})))",
        parameters="k = 1",
    )
    for force in (False, True):
        run = run_job(notebook, store=project["store"], reports="reports", force=force)
        # Loaded, and no name of the later cell defined before it runs.
        assert run.results == {"loaded": True, "names": [], "rows": 2}
        executed = nbformat.read(run.output_path, as_version=4)
        counts = [c.execution_count for c in executed.cells if c.cell_type == "code"]
        assert counts[0] == 1 and counts == sorted(counts)


@pytest.mark.slow
def test_a_notebook_whose_kernel_is_not_installed_fails_its_run_in_one_line(project):
    notebook = project["root"] / "elsewhere.ipynb"
    _notebook(notebook, "x = 1", parameters="k = 1")
    document = nbformat.read(notebook, as_version=4)
    document.metadata["kernelspec"]["name"] = "no-such-kernel"
    nbformat.write(document, notebook)
    ran = subprocess.run(
        [WORKBENCH, "run", str(notebook), "--store", project["store"].url],
        cwd=project["root"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 1 and "Traceback" not in ran.stderr, ran.stderr
    assert "no Jupyter kernel named 'no-such-kernel'" in ran.stderr
    assert [r.status for r in list_runs(project["store"])] == ["failed"]
