"""Jobs: named notebook runs declared in ``workbench.toml``.

.. code-block:: toml

    [reports]
    dir = "reports"                      # run folders and index.html go here

    [jobs.train_recommender]
    notebook = "notebooks/train_recommender.ipynb"
    parameters = { models = "popularity,ease", k = 10 }
    schedule = "0 2 * * *"               # cron, UTC; optional
    inputs = ["events"]                  # tables it reads: a change there makes it due again
    timeout = 600                        # seconds per cell; optional

``workbench run NOTEBOOK.ipynb`` runs a notebook that no job names; its job name is
the notebook's file name without ``.ipynb``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import CONFIG_FILE_NAME, in_project, load_config
from workbench.exceptions import ConfigError, ScheduleError
from workbench.schema import TABLES

DEFAULT_REPORTS_DIR = "reports"
DEFAULT_STATE_DIR = "data/schedule"
_JOB_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_JOB_KEYS = {
    "notebook",
    "parameters",
    "schedule",
    "inputs",
    "timeout",
    "description",
    "keep_runs",
    "keep_days",
}


@dataclass(frozen=True)
class Job:
    """One notebook and how to run it.

    Attributes
    ----------
    name
        The job's name (``[jobs.NAME]``), or the notebook's stem for a bare notebook.
    notebook
        Path of the ``.ipynb`` to execute; None for a job whose work the caller of
        :func:`~workbench.runs.schedule.tick` does in-process (its ``execute``), as the
        simulated day's jobs are.
    parameters
        Parameters passed to every run; ``-p`` values override them.
    schedule
        Cron expression (UTC) for ``workbench schedule``, or None.
    inputs
        Store tables the notebook reads. A run is up to date when these are unchanged;
        empty means every ingested batch counts.
    timeout
        Seconds one cell may run before the run fails, or None for no limit.
    description
        What the job is for, in a sentence; the reports index shows it.
    keep_runs, keep_days
        Retention: the run folders kept under ``reports/runs`` (the last ``keep_runs``
        runs, or those of the last ``keep_days`` days; a run is kept when either keeps
        it). The last successful run and a run still going are always kept. None
        (the default) keeps everything.
    """

    name: str
    notebook: Path | None
    parameters: dict[str, Any] = field(default_factory=dict)
    schedule: str | None = None
    inputs: tuple[str, ...] = ()
    timeout: float | None = None
    description: str = ""
    keep_runs: int | None = None
    keep_days: float | None = None


def load_jobs(config: Mapping[str, Any] | None = None) -> dict[str, Job]:
    """The jobs declared in ``workbench.toml`` (or in ``config``), by name.

    Raises :class:`~workbench.exceptions.ScheduleError` naming the job and the fix when
    a declaration cannot be used (unknown key, bad cron, unknown input table).
    """
    config = load_config() if config is None else config
    section = config.get("jobs", {})
    if not isinstance(section, Mapping):
        raise ScheduleError(f"[jobs] in {CONFIG_FILE_NAME} must be tables like [jobs.NAME].")
    return {name: _parse_job(name, body) for name, body in section.items()}


def _parse_job(name: str, body: Any) -> Job:
    where = f"[jobs.{name}] in {CONFIG_FILE_NAME}"
    if not _JOB_NAME.match(name):
        raise ScheduleError(f"{where}: a job name uses letters, digits, '_', '-' and '.'.")
    if not isinstance(body, Mapping):
        raise ScheduleError(f"{where} must be a table with at least notebook = PATH.")
    unknown = sorted(set(body) - _JOB_KEYS)
    if unknown:
        raise ScheduleError(
            f"{where}: unknown key {', '.join(unknown)}; a job takes {', '.join(sorted(_JOB_KEYS))}."
        )
    if not isinstance(body.get("notebook"), str):
        raise ScheduleError(f'{where} needs notebook = "notebooks/NAME.ipynb".')
    parameters = body.get("parameters", {})
    if not isinstance(parameters, Mapping):
        raise ScheduleError(f"{where}: parameters must be a table, e.g. parameters = {{ k = 10 }}.")
    schedule = body.get("schedule")
    if schedule is not None:
        check_cron(schedule, where=where)
    inputs = body.get("inputs", [])
    if not isinstance(inputs, list) or not all(isinstance(t, str) for t in inputs):
        raise ScheduleError(f'{where}: inputs must be a list of table names, e.g. ["events"].')
    unknown_tables = sorted(set(inputs) - set(TABLES))
    if unknown_tables:
        raise ScheduleError(
            f"{where}: no table {', '.join(unknown_tables)}; tables: {', '.join(TABLES)}."
        )
    timeout = body.get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
    ):
        raise ScheduleError(f"{where}: timeout must be a positive number of seconds.")
    keep = {}
    for key, example in (("keep_runs", "48"), ("keep_days", "30")):
        value = body.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or value < 1
        ):
            raise ScheduleError(
                f"{where}: {key} must be a number, 1 or more, e.g. {key} = {example}."
            )
        keep[key] = value
    if keep["keep_runs"] is not None and not isinstance(keep["keep_runs"], int):
        raise ScheduleError(
            f"{where}: keep_runs must be a whole number of runs, e.g. keep_runs = 48."
        )
    return Job(
        name=name,
        notebook=in_project(body["notebook"]),
        parameters=dict(parameters),
        schedule=schedule,
        inputs=tuple(inputs),
        timeout=None if timeout is None else float(timeout),
        description=str(body.get("description", "")),
        keep_runs=keep["keep_runs"],
        keep_days=None if keep["keep_days"] is None else float(keep["keep_days"]),
    )


def check_cron(expression: Any, *, where: str) -> None:
    """Refuse a schedule croniter cannot read, with an example of one it can."""
    from croniter import croniter

    if not isinstance(expression, str) or not croniter.is_valid(expression):
        raise ScheduleError(
            f"{where}: schedule {expression!r} is not a cron expression; write e.g. "
            '"0 2 * * *" (02:00 UTC daily) or "*/15 * * * *" (every 15 minutes).'
        )


def resolve_job(target: str | os.PathLike[str], jobs: Mapping[str, Job] | None = None) -> Job:
    """The job ``target`` names: a job in ``workbench.toml``, else a notebook path.

    Raises :class:`~workbench.exceptions.ScheduleError` when it is neither.
    """
    jobs = load_jobs() if jobs is None else jobs
    text = os.fspath(target)
    if text in jobs:
        return jobs[text]
    path = Path(text)
    if path.suffix == ".ipynb" and path.is_file():
        return Job(name=_job_name_of(path), notebook=path)
    if path.suffix == ".ipynb":
        raise ScheduleError(f"No notebook at {path}. Give the path of an existing .ipynb file.")
    known = ", ".join(sorted(jobs)) or f"none yet (add [jobs.NAME] to {CONFIG_FILE_NAME})"
    raise ScheduleError(f"No job {text!r}: jobs are {known}; or give a notebook path (.ipynb).")


def _job_name_of(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem).lstrip("._-")
    return name or "notebook"


def reports_dir(config: Mapping[str, Any] | None = None) -> Path:
    """Where run folders and ``index.html`` go: ``[reports] dir``, else ``reports``."""
    config = load_config() if config is None else config
    return in_project(_setting(config, "reports", "dir", DEFAULT_REPORTS_DIR))


def state_dir(config: Mapping[str, Any] | None = None) -> Path:
    """Where job locks and schedule state go: ``[schedule] state_dir``, else ``data/schedule``."""
    config = load_config() if config is None else config
    return in_project(_setting(config, "schedule", "state_dir", DEFAULT_STATE_DIR))


def _setting(config: Mapping[str, Any], section: str, key: str, default: str) -> str:
    table = config.get(section, {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"[{section}] in {CONFIG_FILE_NAME} must be a table.")
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"[{section}] {key} in {CONFIG_FILE_NAME} must be a path, e.g. {default!r}."
        )
    return value
