"""Run records: one ``runs`` row per executed notebook, written at start and at finish.

A run is ``running`` while its kernel works, then ``succeeded`` or ``failed``. A run
whose process died (``kill -9``, a machine that stopped) is found by the next
command that reads runs, or by the scheduler, and marked ``failed`` with the reason
(:func:`reap_abandoned`): no run stays ``running`` for ever. A copy
of the finished record is kept as ``run.json`` beside the output notebook, so a
run folder explains itself and ``reports/index.html`` can be rebuilt from the
folders alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.config import in_project, project_relative
from workbench.exceptions import RunNotFound
from workbench.runs.parameters import canonical_json
from workbench.schema import CATALOG
from workbench.sql import literal

if TYPE_CHECKING:
    import pandas as pd

    from workbench.store import Store

RUNNING, SUCCEEDED, FAILED, SKIPPED = "running", "succeeded", "failed", "skipped"

_COLUMNS = (
    "run_id",
    "job",
    "notebook",
    "params",
    "status",
    "started_at",
    "finished_at",
    "output_path",
    "report_path",
    "error",
    "results",
    "notebook_sha256",
    "inputs_digest",
    "trigger",
    "code_digest",
)


# Keys of run records written by earlier versions -> their names now.
_RENAMED = {"data_digest": "inputs_digest", "data": "inputs"}


@dataclass
class Run:
    """What happened in one notebook run.

    Attributes
    ----------
    run_id
        ``YYYYmmddTHHMMSS-xxxxxxxx`` (UTC start time and a random suffix): ids sort by time.
    job, notebook
        The job's name and the notebook it executed.
    params
        The parameters the notebook ran with (job defaults, then ``-p`` values).
    status
        ``running``, ``succeeded`` or ``failed``; ``skipped`` only in what
        :func:`~workbench.runs.run_job` returns for an up-to-date run (not stored).
    started_at, finished_at
        UTC times (ISO 8601).
    output_path, report_path
        The executed notebook and its HTML report.
    error
        For a failed run: the exception and the cell it came from.
    results
        What the notebook recorded with :func:`workbench.runs.record`.
    notebook_sha256, inputs_digest, code_digest
        What the run depended on: its notebook's cells, the store tables it read, the
        workbench code (see :mod:`workbench.provenance`).
    trigger
        ``manual``, or ``schedule <slot>`` for a scheduled run.
    inputs
        What it read, described (tables, batches, latest batch, scope; see
        :class:`~workbench.provenance.InputSnapshot`); kept in ``run.json``.
    up_to_date_with
        For a skipped run: the earlier run it matched.
    """

    run_id: str
    job: str
    notebook: str
    params: dict[str, Any]
    status: str
    started_at: str
    finished_at: str | None = None
    output_path: str | None = None
    report_path: str | None = None
    error: str | None = None
    results: dict[str, Any] = field(default_factory=dict)
    notebook_sha256: str | None = None
    inputs_digest: str | None = None
    trigger: str = "manual"
    code_digest: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    up_to_date_with: str | None = None

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from start to finish, or None while running."""
        if not self.finished_at:
            return None
        started = datetime.fromisoformat(self.started_at)
        return (datetime.fromisoformat(self.finished_at) - started).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON data (with ``duration_seconds``)."""
        return {**asdict(self), "duration_seconds": self.duration_seconds}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        """A record from :meth:`to_dict` output (unknown keys are ignored).

        A ``run.json`` written by an earlier workbench names the input digest
        ``data_digest`` and the snapshot ``data``; both are read under their names.
        """
        known = {name for name in cls.__dataclass_fields__}
        data = {_RENAMED.get(key, key): value for key, value in data.items()}
        return cls(**{key: value for key, value in data.items() if key in known})


def insert_run(store: Store, run: Run) -> None:
    """Write a new run's row.

    Its values are written as literals (all text or NULL): a bound parameter would make
    DuckDB import pandas, half a second before the notebook can start.
    """
    values = ", ".join("NULL" if value is None else literal(value) for value in _row(run))
    with store.transaction() as raw:
        raw.execute(f"INSERT INTO {CATALOG}.main.runs ({', '.join(_COLUMNS)}) VALUES ({values})")


def update_run(store: Store, run: Run) -> None:
    """Rewrite a run's row with its final state."""
    assignments = ", ".join(f"{name} = ?" for name in _COLUMNS[1:])
    with store.transaction() as raw:
        raw.execute(
            f"UPDATE {CATALOG}.main.runs SET {assignments} WHERE run_id = ?",
            [*_row(run)[1:], run.run_id],
        )


# Recorded relative to the project's root, read back absolute: a moved or cloned
# project's run list still points at its own reports.
_PATH_FIELDS = ("output_path", "report_path")


def stored_paths(values: dict[str, Any]) -> dict[str, Any]:
    """A run's fields with its paths as recorded (relative to the project's root)."""
    return {
        **values,
        **{name: project_relative(values[name]) for name in _PATH_FIELDS if values.get(name)},
    }


def loaded_paths(values: dict[str, Any]) -> dict[str, Any]:
    """A recorded run's fields with its paths made absolute again."""
    return {
        **values,
        **{name: str(in_project(values[name])) for name in _PATH_FIELDS if values.get(name)},
    }


def _row(run: Run) -> list[Any]:
    values = {
        **stored_paths(asdict(run)),
        "params": canonical_json(run.params),
        "results": canonical_json(run.results),
    }
    return [values[name] for name in _COLUMNS]


def reap_abandoned(store: Store) -> list[Run]:
    """Mark failed every ``running`` run whose process is gone; return those runs.

    A run holds a lock in its folder while its process lives
    (:func:`~workbench.runs.locks.alive_lock`); when anyone can take it, the process
    died without recording an outcome. The row, ``run.json`` and the index say so.
    """
    from workbench.runs.locks import abandoned

    rows = store.sql(f"SELECT {_select()} FROM runs WHERE status = {literal(RUNNING)}").to_pylist()
    reaped = []
    for run in map(_from_row, rows):
        if not run.output_path or not abandoned(Path(run.output_path).parent):
            continue
        run.status = FAILED
        run.finished_at = datetime.now(UTC).replace(tzinfo=None).isoformat()
        run.error = (
            "The process running it ended before it finished (killed, or its machine "
            f"stopped); found at {run.finished_at[:19]} UTC. Run the job again."
        )
        update_run(store, run)
        _rewrite_folder_record(run)
        reaped.append(run)
    return reaped


def _rewrite_folder_record(run: Run) -> None:
    """``run.json`` and the index of the reports folder the run wrote to."""
    from workbench.runs.reports import write_index, write_run_record

    folder = Path(run.output_path).parent
    write_run_record(run, folder)
    write_index(folder.parent.parent)  # reports/runs/RUN_ID -> reports


def list_runs(store: Store, *, job: str | None = None, limit: int | None = None) -> list[Run]:
    """Runs, newest first; only ``job``'s when given (abandoned runs marked failed first)."""
    reap_abandoned(store)
    where, params = ("WHERE job = ?", [job]) if job else ("", [])
    limit_sql = "" if limit is None else f" LIMIT {int(limit)}"
    rows = store.sql(
        f"SELECT {_select()} FROM runs {where} ORDER BY started_at DESC, run_id DESC{limit_sql}",
        params,
    ).to_pylist()
    return [_from_row(row) for row in rows]


def run_results(
    store: Store, *, job: str, keys: list[str], status: str | None = SUCCEEDED, limit: int = 20
) -> pd.DataFrame:
    """A job's runs, newest first, with chosen recorded results as columns.

    A key may reach into a recorded dict with dots (``promotion.reason``); a run that
    did not record it shows None. Columns: ``run_id``, ``started_at``, ``status``, then
    ``keys`` in order.
    """
    import pandas as pd

    runs = [run for run in list_runs(store, job=job) if status is None or run.status == status]
    rows = []
    for run in runs[:limit]:
        row = {"run_id": run.run_id, "started_at": run.started_at, "status": run.status}
        for key in keys:
            value: Any = run.results
            for part in key.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            row[key] = value
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["run_id", "started_at", "status", *keys])
    frame["started_at"] = pd.to_datetime(frame["started_at"])
    return frame


def get_run(store: Store, run_id: str) -> Run:
    """The run with this id; a WorkbenchError (with advice) when there is none."""
    reap_abandoned(store)
    rows = store.sql(f"SELECT {_select()} FROM runs WHERE run_id = {literal(run_id)}").to_pylist()
    if not rows:
        raise RunNotFound(f"No run {run_id!r} in {store.location}. See `workbench runs list`.")
    return _from_row(rows[0])


def find_up_to_date(
    store: Store,
    *,
    job: str,
    notebook_sha256: str,
    params: dict[str, Any],
    inputs_digest: str,
    code_digest: str,
) -> Run | None:
    """The newest successful run of ``job`` with the same notebook, parameters, data and code."""
    rows = store.sql(
        f"SELECT {_select()} FROM runs WHERE job = ? AND status = ? AND notebook_sha256 = ? "
        "AND inputs_digest = ? AND code_digest = ? ORDER BY started_at DESC, run_id DESC",
        [job, SUCCEEDED, notebook_sha256, inputs_digest, code_digest],
    ).to_pylist()
    wanted = canonical_json(params)
    for row in rows:
        run = _from_row(row)
        if canonical_json(run.params) == wanted:
            return run
    return None


def _select() -> str:
    times = {"started_at", "finished_at"}
    return ", ".join(
        f"strftime({name}, '%Y-%m-%dT%H:%M:%S.%f') AS {name}" if name in times else name
        for name in _COLUMNS
    )


def _from_row(row: dict[str, Any]) -> Run:
    row = dict(row)
    row["params"] = json.loads(row["params"]) if row["params"] else {}
    row["results"] = json.loads(row["results"]) if row["results"] else {}
    return Run(**loaded_paths(row))
