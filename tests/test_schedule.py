"""Schedules: what is due, one run per missed stretch, locks against overlap, the commands."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_runs import WORKBENCH, trivial_notebook

from workbench.exceptions import WorkbenchError
from workbench.runs import list_runs, run_schedule, schedule_status, tick
from workbench.runs.jobs import Job
from workbench.runs.locks import job_lock
from workbench.runs.schedule import latest_slot, next_slot
from workbench.store import Store

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
HOURLY = "0 * * * *"


@pytest.fixture
def scheduled(tmp_path, monkeypatch):
    """An hourly job over a trivial notebook, a store file, and folders for state and reports."""
    monkeypatch.chdir(tmp_path)
    notebook = trivial_notebook(tmp_path / "trivial.ipynb")
    job = Job(name="hourly", notebook=notebook, schedule=HOURLY, parameters={"k": 5})
    return {
        "store": Store.open(f"duckdb://{tmp_path / 'store.duckdb'}", lock_timeout=10),
        "jobs": {"hourly": job},
        "state": tmp_path / "state",
        "reports": tmp_path / "reports",
        "root": tmp_path,
    }


def _tick(env, now):
    return tick(
        store=env["store"], now=now, jobs=env["jobs"], state=env["state"], reports=env["reports"]
    )


def _status(env, now):
    return schedule_status(now=now, jobs=env["jobs"], state=env["state"])


def test_the_latest_slot_counts_a_slot_that_is_exactly_now():
    assert latest_slot(HOURLY, T0) == T0
    assert latest_slot(HOURLY, T0 - timedelta(seconds=1)) == T0 - timedelta(hours=1)
    assert latest_slot("0 2 * * *", T0 + timedelta(hours=30)) == T0 + timedelta(hours=26)
    assert next_slot(HOURLY, T0) == T0 + timedelta(hours=1)
    # Naive times are read as UTC.
    assert latest_slot(HOURLY, datetime(2026, 3, 1, 0, 30)) == T0


def test_a_job_never_run_is_due_and_jobs_without_schedule_are_not_listed(scheduled):
    scheduled["jobs"]["manual"] = Job(name="manual", notebook=Path("x.ipynb"))
    (status,) = _status(scheduled, T0 + timedelta(minutes=5))
    assert status.job == "hourly" and status.last_slot is None
    assert status.due_slot == T0.isoformat()
    assert status.next_slot == (T0 + timedelta(hours=1)).isoformat()


def test_unreadable_schedule_state_says_how_to_recover(scheduled):
    scheduled["state"].mkdir()
    (scheduled["state"] / "hourly.json").write_text("{not json")
    with pytest.raises(WorkbenchError, match="Delete it"):
        _status(scheduled, T0)


@pytest.mark.slow
def test_missed_slots_run_once_and_a_handled_slot_waits_for_the_next(scheduled):
    state = scheduled["state"]
    state.mkdir()
    (state / "hourly.json").write_text(json.dumps({"last_slot": T0.isoformat()}))

    # Five slots were missed (01:00 .. 05:00): one run, for the latest of them.
    (outcome,) = _tick(scheduled, T0 + timedelta(hours=5, minutes=30))
    assert outcome.action == "ran" and outcome.slot == (T0 + timedelta(hours=5)).isoformat()
    (run,) = list_runs(scheduled["store"])
    assert run.trigger == f"schedule {outcome.slot}" and run.results["k"] == 5
    assert json.loads((state / "hourly.json").read_text())["last_slot"] == outcome.slot

    # Later in the same hour: nothing is due.
    assert _tick(scheduled, T0 + timedelta(hours=5, minutes=45)) == []
    assert _status(scheduled, T0 + timedelta(hours=5, minutes=45))[0].due_slot is None

    # The next slot: due again, but nothing changed, so it is skipped as up to date.
    (later,) = _tick(scheduled, T0 + timedelta(hours=6, minutes=1))
    assert later.action == "skipped" and later.run_id == run.run_id
    assert "up to date" in later.message
    assert len(list_runs(scheduled["store"])) == 1
    assert _status(scheduled, T0 + timedelta(hours=6, minutes=2))[0].last_outcome == "skipped"


@pytest.mark.slow
def test_a_job_still_running_is_not_started_twice_and_stays_due(scheduled):
    now = T0 + timedelta(minutes=10)
    with job_lock("hourly", scheduled["state"]):
        (outcome,) = _tick(scheduled, now)
    assert outcome.action == "busy" and "already running" in outcome.message
    assert list_runs(scheduled["store"]) == []
    assert _status(scheduled, now)[0].due_slot == T0.isoformat()  # tried again next tick
    (outcome,) = _tick(scheduled, now)
    assert outcome.action == "ran"


@pytest.mark.slow
def test_a_failing_job_is_recorded_and_tried_again_at_its_next_slot_not_every_tick(scheduled):
    job = scheduled["jobs"]["hourly"]
    scheduled["jobs"]["hourly"] = Job(
        name=job.name, notebook=job.notebook, schedule=HOURLY, parameters={"fail": True}
    )
    (outcome,) = _tick(scheduled, T0 + timedelta(minutes=1))
    assert outcome.action == "failed" and "planted failure" in outcome.message
    assert _tick(scheduled, T0 + timedelta(minutes=2)) == []
    (retry,) = _tick(scheduled, T0 + timedelta(hours=1))
    assert retry.action == "failed"  # a failed run is never "up to date"
    assert [r.status for r in list_runs(scheduled["store"])] == ["failed", "failed"]
    assert not (scheduled["root"] / "downstream.txt").exists()


def test_the_loop_ticks_then_sleeps_until_the_next_slot(scheduled, monkeypatch):
    """The loop's own logic, with the runs replaced by a recorder (tick is tested above)."""
    import workbench.runs.schedule as schedule

    ticks, sleeps = [], []
    monkeypatch.setattr(schedule, "load_jobs", lambda: scheduled["jobs"])
    monkeypatch.setattr(schedule, "tick", lambda **kwargs: ticks.append(kwargs["now"]) or [])
    soon, later = T0 + timedelta(minutes=59, seconds=30), T0 + timedelta(minutes=10)
    clock = iter([soon, soon, later, later, later])  # each tick reads the clock, each sleep too
    run_schedule(clock=lambda: next(clock), sleep=sleeps.append, max_ticks=3)
    assert len(ticks) == 3
    # 30 s before the slot: sleeps 30 s; 50 min before it: sleeps the 60 s cap and looks again.
    assert sleeps == [30.0, 60.0]


def _command_line(root: Path):
    """``workbench ARGS`` run as its own process in ``root``, reading its workbench.toml."""
    env = {key: value for key, value in os.environ.items() if key != "WORKBENCH_STORE"}

    def workbench(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [WORKBENCH, *args], cwd=root, env=env, capture_output=True, text=True, timeout=120
        )

    return workbench


@pytest.mark.slow
def test_the_schedule_commands_read_jobs_from_workbench_toml(scheduled):
    root = scheduled["root"]
    (root / "workbench.toml").write_text(
        f'[store]\nurl = "{scheduled["store"].url}"\n\n'
        f'[schedule]\nstate_dir = "state"\n\n'
        f'[jobs.every_minute]\nnotebook = "trivial.ipynb"\nschedule = "* * * * *"\n'
        f"parameters = {{ k = 7 }}\n"
        f'[jobs.on_demand]\nnotebook = "trivial.ipynb"\n'
    )
    workbench = _command_line(root)

    listed = json.loads(workbench("schedule", "list", "--json").stdout)
    assert [entry["job"] for entry in listed] == ["every_minute"]
    assert listed[0]["due_slot"] is not None

    ticked = workbench("schedule", "tick", "--json")
    assert ticked.returncode == 0, ticked.stderr
    (outcome,) = json.loads(ticked.stdout)
    assert outcome["job"] == "every_minute" and outcome["action"] == "ran"
    assert (root / "reports" / "index.html").is_file()
    assert json.loads((root / "state" / "every_minute.json").read_text())["outcome"] == (
        "succeeded"
    )
    text = workbench("schedule", "list").stdout
    assert "every_minute" in text and "succeeded" in text

    (root / "workbench.toml").write_text('[jobs.bad]\nnotebook = "a.ipynb"\nschedule = "daily"\n')
    bad = workbench("schedule", "tick")
    assert bad.returncode == 1 and "not a cron expression" in bad.stderr


def test_a_job_refused_before_its_kernel_starts_fails_its_slot_and_the_others_run(scheduled):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell('scope = "nowhere"')
    cell.metadata["tags"] = ["parameters"]
    notebook.cells = [cell]
    path = scheduled["root"] / "scoped.ipynb"
    nbformat.write(notebook, path)
    scheduled["jobs"]["a_scoped"] = Job(name="a_scoped", notebook=path, schedule=HOURLY)
    outcomes = {o.job: o for o in _tick(scheduled, T0 + timedelta(minutes=1))}
    assert outcomes["a_scoped"].action == "failed" and outcomes["a_scoped"].run_id is None
    assert "no scope 'nowhere' is declared" in outcomes["a_scoped"].message
    assert outcomes["hourly"].action == "ran"  # the refusal stopped nothing else
    assert _tick(scheduled, T0 + timedelta(minutes=2)) == []  # tried again at its next slot


@pytest.mark.slow
def test_tick_takes_the_time_it_treats_as_now(scheduled):
    # A simulated clock (or a replayed night) drives the schedule from the command line.
    root = scheduled["root"]
    (root / "workbench.toml").write_text(
        f'[store]\nurl = "{scheduled["store"].url}"\n\n'
        f'[schedule]\nstate_dir = "state"\n\n'
        f'[jobs.nightly]\nnotebook = "trivial.ipynb"\nschedule = "0 2 * * *"\n'
    )
    workbench = _command_line(root)

    first = workbench("schedule", "tick", "--now", "2026-03-01T02:30:00Z", "--json")
    assert first.returncode == 0, first.stderr
    (outcome,) = json.loads(first.stdout)
    assert outcome["action"] == "ran" and outcome["slot"] == "2026-03-01T02:00:00+00:00"
    # An hour later on the simulated clock nothing is due; the next night it is again.
    (listed,) = json.loads(
        workbench("schedule", "list", "--now", "2026-03-01T03:30", "--json").stdout
    )
    assert listed["due_slot"] is None and listed["next_slot"] == "2026-03-02T02:00:00+00:00"
    assert workbench("schedule", "tick", "--now", "2026-03-01T03:30").stdout.strip() == (
        "Nothing is due."
    )
    # An offset is converted: 03:00 in Paris (UTC+1 in March) is 02:00 UTC.
    (again,) = json.loads(
        workbench("schedule", "tick", "--now", "2026-03-02T03:00:00+01:00", "--json").stdout
    )
    assert again["slot"] == "2026-03-02T02:00:00+00:00"

    wrong = workbench("schedule", "tick", "--now", "tomorrow-ish")
    assert wrong.returncode == 1 and wrong.stderr.startswith("error: --now='tomorrow-ish'")
    assert "Traceback" not in wrong.stderr


def test_a_tick_can_do_the_jobs_work_in_process_once_per_slot(scheduled):
    # A simulation ticks its day's jobs on its own clock and does their work itself.
    done = []

    def execute(job, slot):
        done.append((job.name, slot))
        if len(done) == 3:
            raise WorkbenchError("planted failure")
        return None

    jobs = {"nightly": Job(name="nightly", notebook=None, schedule="0 2 * * *")}
    env = {**scheduled, "jobs": jobs}

    def at(now):
        return tick(store=env["store"], now=now, jobs=jobs, state=env["state"], execute=execute)

    (first,) = at(T0)  # never handled: due at once, for yesterday's slot
    assert (first.action, first.slot) == ("ran", (T0 - timedelta(hours=22)).isoformat())
    assert at(T0 + timedelta(hours=1)) == []
    (second,) = at(T0 + timedelta(hours=2))
    assert second.action == "ran" and done[-1] == ("nightly", (T0 + timedelta(hours=2)).isoformat())
    (third,) = at(T0 + timedelta(days=1, hours=2))
    assert third.action == "failed" and "planted failure" in third.message
    assert list_runs(env["store"]) == []  # no notebook ran, so no run was recorded
    # Without in-process work, a job with no notebook fails its slot and says why.
    (fourth,) = tick(
        store=env["store"], now=T0 + timedelta(days=2, hours=2), jobs=jobs, state=env["state"]
    )
    assert fourth.action == "failed" and "has no notebook" in fourth.message
