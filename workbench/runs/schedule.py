"""Schedules: run the jobs whose cron slot has come, once per slot, never two at a time.

``workbench schedule tick`` is meant for cron or a systemd timer: it runs every job
that is due, once, and returns. A job is due when its latest cron slot (UTC) at or
before now is later than the last slot handled for it; a job never handled is due
at once. However many slots were missed (the machine was off for a week), the job
runs once and the latest slot is marked handled: it catches up, it does not
replay. A slot counts as handled when the run succeeded, failed or was skipped as
up to date; a failed job is tried again at its next slot, not at every tick. When
another run of the job still holds its lock, the slot stays due for the next tick.

The last slot handled per job is kept in ``<state_dir>/<job>.json`` beside the job
locks (``[schedule] state_dir`` in ``workbench.toml``, default ``data/schedule``).
``workbench schedule run`` ticks in a loop, sleeping until the next slot.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.exceptions import JobBusy, RunFailed, WorkbenchError
from workbench.runs.jobs import Job, load_jobs, state_dir

if TYPE_CHECKING:
    from workbench.store import Store

#: Longest sleep of ``schedule run`` between looks at the clock and at workbench.toml.
MAX_SLEEP_SECONDS = 60.0


@dataclass(frozen=True)
class ScheduledJob:
    """A job with a schedule and where it stands.

    Attributes
    ----------
    job
        The job's name.
    schedule
        Its cron expression (UTC).
    last_slot
        The last slot handled (ISO 8601, UTC), or None if never.
    last_run
        The run that handled it (or was found up to date), or None.
    last_outcome
        ``succeeded``, ``failed`` or ``skipped``, or None.
    due_slot
        The slot it is due for now, or None when it is not due.
    next_slot
        Its next slot after now.
    """

    job: str
    schedule: str
    last_slot: str | None
    last_run: str | None
    last_outcome: str | None
    due_slot: str | None
    next_slot: str

    def to_dict(self) -> dict[str, Any]:
        """As plain JSON data."""
        return asdict(self)


@dataclass(frozen=True)
class TickOutcome:
    """What one tick did with one due job.

    ``action`` is ``ran`` (succeeded), ``failed``, ``skipped`` (up to date) or ``busy``
    (another run of the job holds its lock; the slot stays due).
    """

    job: str
    slot: str
    action: str
    run_id: str | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        """As plain JSON data."""
        return asdict(self)


def latest_slot(expression: str, now: datetime) -> datetime:
    """The latest time at or before ``now`` that ``expression`` names (UTC).

    Examples
    --------
    >>> latest_slot("0 2 * * *", datetime(2026, 1, 5, 2, 0, tzinfo=UTC)).isoformat()
    '2026-01-05T02:00:00+00:00'
    >>> latest_slot("0 2 * * *", datetime(2026, 1, 5, 1, 59, tzinfo=UTC)).isoformat()
    '2026-01-04T02:00:00+00:00'
    """
    from croniter import croniter

    # croniter's get_prev is strictly before its start; start a second later so a slot
    # that is exactly now counts as come.
    start = _utc(now).replace(microsecond=0) + timedelta(seconds=1)
    return _utc(croniter(expression, start).get_prev(datetime))


def next_slot(expression: str, now: datetime) -> datetime:
    """The first time after ``now`` that ``expression`` names (UTC)."""
    from croniter import croniter

    return _utc(croniter(expression, _utc(now)).get_next(datetime))


def schedule_status(
    *,
    now: datetime | None = None,
    jobs: Mapping[str, Job] | None = None,
    state: str | os.PathLike[str] | None = None,
) -> list[ScheduledJob]:
    """Every scheduled job: its cron, the last slot handled, whether it is due now."""
    now = _utc(now or datetime.now(UTC))
    jobs = load_jobs() if jobs is None else jobs
    folder = Path(state) if state is not None else state_dir()
    listed = []
    for job in jobs.values():
        if job.schedule is None:
            continue
        saved = _read_state(folder, job.name)
        slot = latest_slot(job.schedule, now)
        last = saved.get("last_slot")
        due = last is None or datetime.fromisoformat(last) < slot
        listed.append(
            ScheduledJob(
                job=job.name,
                schedule=job.schedule,
                last_slot=last,
                last_run=saved.get("run_id"),
                last_outcome=saved.get("outcome"),
                due_slot=slot.isoformat() if due else None,
                next_slot=next_slot(job.schedule, now).isoformat(),
            )
        )
    return listed


def tick(
    *,
    store: Store | str | None = None,
    now: datetime | None = None,
    jobs: Mapping[str, Job] | None = None,
    state: str | os.PathLike[str] | None = None,
    reports: str | os.PathLike[str] | None = None,
    on_start: Callable[[Job, str], None] | None = None,
    execute: Callable[[Job, str], str | None] | None = None,
) -> list[TickOutcome]:
    """Run every job that is due, once each, in the order ``workbench.toml`` lists them.

    A failing job does not stop the others; its outcome says ``failed``. Returns one
    outcome per due job (an empty list when nothing was due).

    ``execute(job, slot)``, when given, does a due job's work in-process instead of
    running its notebook (a simulation's day on a simulated clock does): it returns a
    run id or None, and raises :class:`~workbench.exceptions.WorkbenchError` to fail.
    """
    from workbench.runs.execute import describe, run_job
    from workbench.runs.records import reap_abandoned
    from workbench.store import Store

    jobs = load_jobs() if jobs is None else jobs
    folder = Path(state) if state is not None else state_dir()
    opened = store if isinstance(store, Store) else Store.open(store)
    reap_abandoned(opened)  # a run killed since the last tick is failed, not running
    outcomes = []
    for scheduled in schedule_status(now=now, jobs=jobs, state=folder):
        if scheduled.due_slot is None:
            continue
        job, slot = jobs[scheduled.job], scheduled.due_slot
        if on_start is not None:
            on_start(job, slot)
        try:
            if execute is not None:
                run_id = execute(job, slot)
                _write_state(folder, job.name, slot=slot, run_id=run_id, outcome="succeeded")
                outcomes.append(TickOutcome(job.name, slot, "ran", run_id, "done in-process"))
                continue
            run = run_job(
                job,
                store=opened,
                trigger=f"schedule {slot}",
                reports=reports,
                locks=folder,
            )
        except JobBusy as busy:
            outcomes.append(TickOutcome(job.name, slot, "busy", None, str(busy)))
            continue
        except RunFailed as failed:
            _write_state(folder, job.name, slot=slot, run_id=failed.run_id, outcome="failed")
            outcomes.append(TickOutcome(job.name, slot, "failed", failed.run_id, str(failed)))
            continue
        except WorkbenchError as refused:
            # Refused before its kernel started (a parameter naming nothing, an unknown
            # scope): no run to record, but the slot failed and the other jobs go on.
            _write_state(folder, job.name, slot=slot, run_id=None, outcome="failed")
            outcomes.append(TickOutcome(job.name, slot, "failed", None, str(refused)))
            continue
        action = "skipped" if run.status == "skipped" else "ran"
        _write_state(folder, job.name, slot=slot, run_id=run.run_id, outcome=run.status)
        outcomes.append(TickOutcome(job.name, slot, action, run.run_id, describe(run)))
    return outcomes


def run_schedule(
    *,
    store: Store | str | None = None,
    state: str | os.PathLike[str] | None = None,
    reports: str | os.PathLike[str] | None = None,
    on_outcome: Callable[[TickOutcome], None] | None = None,
    on_start: Callable[[Job, str], None] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
    max_ticks: int | None = None,
) -> None:
    """Tick, sleep until the next slot of any job, and again, until interrupted.

    ``workbench.toml`` is read again at every tick, so edits take effect without a
    restart. ``clock``, ``sleep`` and ``max_ticks`` exist so the loop can be tested.
    """
    ticks = 0
    while max_ticks is None or ticks < max_ticks:
        jobs = load_jobs()
        for outcome in tick(
            store=store, now=clock(), jobs=jobs, state=state, reports=reports, on_start=on_start
        ):
            if on_outcome is not None:
                on_outcome(outcome)
        ticks += 1
        if max_ticks is not None and ticks >= max_ticks:
            return
        now = _utc(clock())
        upcoming = [next_slot(job.schedule, now) for job in jobs.values() if job.schedule]
        wait = min(((slot - now).total_seconds() for slot in upcoming), default=MAX_SLEEP_SECONDS)
        sleep(min(max(wait, 1.0), MAX_SLEEP_SECONDS))


def _read_state(folder: Path, job: str) -> dict[str, Any]:
    path = folder / f"{job}.json"
    if not path.is_file():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        datetime.fromisoformat(state["last_slot"])
    except (ValueError, KeyError, TypeError) as error:
        raise WorkbenchError(
            f"{path} is not schedule state ({error}). Delete it: the job then runs at the "
            "next tick and the file is written again."
        ) from error
    return state


def _write_state(folder: Path, job: str, *, slot: str, run_id: str | None, outcome: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{job}.json"
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"last_slot": slot, "run_id": run_id, "outcome": outcome}))
    temporary.replace(path)


def _utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(fold=0)  # croniter sets fold=1 at times; UTC has no folds
