"""Running a job: papermill executes the notebook, the run is recorded and reported.

:func:`run_job` reads as a recipe: resolve the parameters, compute what the run
depends on, skip it if an earlier successful run had the same inputs, start the
kernel (:mod:`workbench.runs.kernel`), take the job's lock, record the run as
``running``, execute, read the recorded results, render the report, record the
outcome, rebuild the index. A failure inside the
notebook leaves the output notebook (with papermill's banner at the failing cell),
a ``failed`` record with the error and a report showing the failure, and then
raises :class:`~workbench.exceptions.RunFailed`. The notebook stops at the failing
cell, so the cells after it (promoting a model, precomputing) never run.
"""

from __future__ import annotations

import ast
import contextlib
import os
import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.config import project_relative
from workbench.exceptions import ConfigError, RunFailed, ScheduleError
from workbench.faults import crash_point
from workbench.feedback import Feedback
from workbench.provenance import code_digest, input_snapshot, notebook_sha256
from workbench.runs.jobs import Job, reports_dir, resolve_job, state_dir
from workbench.runs.kernel import EarlyKernel, kernel_manager_class
from workbench.runs.locks import alive_lock, job_lock
from workbench.runs.parameters import check_parameters, declared_parameters
from workbench.runs.records import (
    FAILED,
    RUNNING,
    SKIPPED,
    SUCCEEDED,
    Run,
    find_up_to_date,
    insert_run,
    update_run,
)
from workbench.runs.results import read_results
from workbench.scope import Scope

if TYPE_CHECKING:
    from workbench.store import Store

#: The notebook parameter that receives the store URL when a notebook declares it.
STORE_PARAMETER = "store"
#: The notebook parameters naming the scope and the feedback semantics a run reads.
SCOPE_PARAMETER, FEEDBACK_PARAMETER = "scope", "feedback"


def run_job(
    target: str | os.PathLike[str] | Job,
    *,
    parameters: Mapping[str, Any] | None = None,
    store: Store | str | None = None,
    force: bool = False,
    trigger: str = "manual",
    reports: str | os.PathLike[str] | None = None,
    locks: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> Run:
    """Run a job (or a notebook) with papermill and record it; skip it when up to date.

    Parameters
    ----------
    target
        A job name from ``workbench.toml``, a notebook path, or a :class:`Job`.
    parameters
        Values for the notebook's ``parameters`` cell, over the job's own. A notebook
        that declares ``store`` gets the store's URL unless one is given.
    store
        The store (or its URL) the run reads and is recorded in; default: configured.
    force
        Run even when an earlier successful run had the same notebook, parameters
        and input data.
    trigger
        Why it runs: ``manual`` or ``schedule <slot>``; kept in the record.
    reports
        Folder for run folders and ``index.html`` (default ``[reports] dir``, ``reports``).
    locks
        Folder for the job locks (default ``[schedule] state_dir``, ``data/schedule``).
    progress
        Show papermill's progress bar on stderr.

    Returns
    -------
    Run
        The finished record; ``status == "skipped"`` (with ``up_to_date_with``) when
        an earlier run was up to date. Nothing is written for a skipped run.

    Raises
    ------
    RunFailed
        The notebook failed; the record, output notebook and report keep the failure.
    ScheduleError
        Another run of the same job holds its lock.
    """
    from workbench.store import Store

    job = target if isinstance(target, Job) else resolve_job(target)
    if job.notebook is None:
        raise ScheduleError(f"Job {job.name!r} has no notebook; give it notebook = PATH.")
    opened = store if isinstance(store, Store) else Store.open(store)
    params, declared = _resolve_parameters(job, parameters or {}, opened)
    # A forced run executes whatever the checks below find: its kernel starts now, and
    # boots while they run. Otherwise it starts once the run is known not to be skipped.
    kernel = _start_kernel(job.notebook) if force else None
    try:
        notebook_digest = notebook_sha256(job.notebook)
        scope, feedback = _semantics(params, declared)
        _check_references(opened, params, declared)
        snapshot = input_snapshot(opened, job.inputs, scope=scope, feedback=feedback)
        if not force:
            previous = find_up_to_date(
                opened,
                job=job.name,
                notebook_sha256=notebook_digest,
                params=params,
                inputs_digest=snapshot.digest,
                code_digest=code_digest(),
            )
            if (
                previous is not None
                and previous.output_path
                and Path(previous.output_path).is_file()
            ):
                return _skipped(previous, trigger)
            kernel = _start_kernel(job.notebook)
        reports_root = Path(reports if reports is not None else reports_dir()).resolve()
        with job_lock(job.name, Path(locks if locks is not None else state_dir())):
            return _execute(
                job,
                params,
                opened,
                notebook_digest=notebook_digest,
                snapshot=snapshot.to_dict(),
                trigger=trigger,
                reports_root=reports_root,
                progress=progress,
                kernel=kernel,
            )
    finally:
        if kernel is not None:
            kernel.shutdown()


def _start_kernel(notebook: Path) -> EarlyKernel | None:
    """The run's kernel, started now; None when it cannot start here, so that papermill
    tries and the run records why it could not (a missing kernelspec, say)."""
    try:
        return EarlyKernel(notebook)
    except Exception:  # the error is papermill's to report, in the run's record
        return None


def _resolve_parameters(
    job: Job, given: Mapping[str, Any], store: Store
) -> tuple[dict[str, Any], dict[str, str]]:
    """Job parameters, then the given ones, checked against the notebook's declarations."""
    declared = declared_parameters(job.notebook)
    params = {**job.parameters, **given}
    check_parameters(params, declared, notebook=str(job.notebook))
    if STORE_PARAMETER in declared and STORE_PARAMETER not in params:
        params[STORE_PARAMETER] = store.url
    return params, declared


def _semantics(
    params: Mapping[str, Any], declared: Mapping[str, str]
) -> tuple[Scope | None, Feedback | None]:
    """The scope and feedback semantics the run reads, when its notebook takes them.

    A notebook declaring ``scope`` reads that scope (the given value, else its default);
    one declaring ``feedback`` reads ``[feedback]`` unless given a declaration.
    """
    scope, feedback = None, None
    if SCOPE_PARAMETER in declared:
        scope = Scope.resolve(_value(params, declared, SCOPE_PARAMETER))
    if FEEDBACK_PARAMETER in declared:
        feedback = Feedback.resolve(_value(params, declared, FEEDBACK_PARAMETER))
    return scope, feedback


def _check_references(store: Store, params: Mapping[str, Any], declared: Mapping[str, str]) -> None:
    """Refuse, before the kernel starts, parameters that name nothing in the store.

    By the workbench's parameter names: ``experiment`` must have assignments and
    ``model`` must resolve to a registered version, so a typo fails in a second with
    the known names instead of after the notebook's imports and heavy cells.
    """

    # Imported only for a notebook that takes the parameter: a run pays for what it checks.
    def experiment(name: str) -> None:
        from workbench.experiments.assignment import experiment_design

        experiment_design(store, name)

    def model(ref: str) -> None:
        from workbench.registry import resolve

        resolve(store, ref)

    checks = {"experiment": experiment, "model": model}
    for name, check in checks.items():
        if name not in declared:
            continue
        value = _value(params, declared, name)
        if isinstance(value, str):
            check(value)


def _value(params: Mapping[str, Any], declared: Mapping[str, str], name: str) -> Any:
    """A parameter's value for this run: given, else its default in the parameters cell."""
    if name in params:
        return params[name]
    try:
        return ast.literal_eval(declared[name])
    except (ValueError, SyntaxError) as error:
        raise ConfigError(
            f"The default of {name} in the parameters cell must be a literal "
            f"(text in quotes, a number, a dict or None), got {declared[name]!r}."
        ) from error


def _skipped(previous: Run, trigger: str) -> Run:
    now = _now()
    return Run(
        run_id=previous.run_id,
        job=previous.job,
        notebook=previous.notebook,
        params=previous.params,
        status=SKIPPED,
        started_at=now,
        finished_at=now,
        output_path=previous.output_path,
        report_path=previous.report_path,
        results=previous.results,
        notebook_sha256=previous.notebook_sha256,
        inputs_digest=previous.inputs_digest,
        code_digest=previous.code_digest,
        trigger=trigger,
        inputs=previous.inputs,
        up_to_date_with=previous.run_id,
    )


def _execute(
    job: Job,
    params: dict[str, Any],
    store: Store,
    *,
    notebook_digest: str,
    snapshot: dict[str, Any],
    trigger: str,
    reports_root: Path,
    progress: bool,
    kernel: EarlyKernel | None,
) -> Run:
    from workbench.runs.reports import REPORT_FILE, write_run_record

    started = datetime.now(UTC)
    run_id = f"{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    folder = reports_root / "runs" / run_id
    folder.mkdir(parents=True, exist_ok=False)
    output = folder / job.notebook.name
    run = Run(
        run_id=run_id,
        job=job.name,
        notebook=project_relative(job.notebook),
        params=params,
        status=RUNNING,
        started_at=started.replace(tzinfo=None).isoformat(),
        output_path=str(output),
        report_path=str(folder / REPORT_FILE),
        notebook_sha256=notebook_digest,
        inputs_digest=snapshot["digest"],
        code_digest=code_digest(),
        trigger=trigger,
        inputs=snapshot,
    )
    with alive_lock(folder):
        insert_run(store, run)
        write_run_record(run, folder)
        crash_point("run:started")
        return _finish(run, job, params, store, folder, output, reports_root, progress, kernel)


def _finish(
    run: Run,
    job: Job,
    params: dict[str, Any],
    store: Store,
    folder: Path,
    output: Path,
    reports_root: Path,
    progress: bool,
    kernel: EarlyKernel | None,
) -> Run:
    """Execute a recorded run and record its outcome, whatever happens."""
    from workbench.runs.reports import render_report

    # What the rest of the run needs loads while the kernel works, when this process
    # mostly waits.
    warming = threading.Thread(target=_warm_up, name="warm-up", daemon=True)
    try:
        import papermill  # noqa: F401 - before the thread starts, so they do not compete

        warming.start()
        run.error = _papermill(job, params, output, progress=progress, kernel=kernel)
        if output.is_file():
            # A failed run keeps what it recorded before the failing cell: it helps debugging.
            run.results = read_results(output)
        run.status = SUCCEEDED if run.error is None else FAILED
        run.finished_at = _now()
        warming.join()
        render_report(run, output, Path(run.report_path))
    except BaseException as error:
        # Interrupted (Ctrl-C), or an error nobody expected: the record must not stay
        # "running" for ever. It is marked failed, and the error goes on up.
        run.error = run.error or f"{type(error).__name__}: {error}".strip()
        run.status, run.finished_at = FAILED, _now()
        _record(run, job, store, folder, reports_root)
        raise
    _record(run, job, store, folder, reports_root)
    if run.status == FAILED:
        raise RunFailed(
            f"Run {run.run_id} of {job.name} failed: {run.error}. The output notebook "
            f"{output} stops at the failing cell; the report is {run.report_path}.",
            run_id=run.run_id,
            output_path=str(output),
        )
    return run


def _warm_up() -> None:
    """Load the report's renderer, and pandas, which DuckDB imports to bind the values of
    the run's final record. A failure here is met again where it is handled and recorded."""
    from workbench.runs.reports import warm_up

    with contextlib.suppress(Exception):
        import pandas  # noqa: F401

        warm_up()


def _record(run: Run, job: Job, store: Store, folder: Path, reports_root: Path) -> None:
    """Write the outcome: the runs row, run.json, the job's retention, and the index."""
    from workbench.runs.reports import prune_runs, write_index, write_run_record

    update_run(store, run)
    write_run_record(run, folder)
    prune_runs(reports_root, job)
    write_index(reports_root)


def _papermill(
    job: Job, params: dict[str, Any], output: Path, *, progress: bool, kernel: EarlyKernel | None
) -> str | None:
    """Execute the notebook (in ``kernel`` when one was started for it); the error (with
    the failing cell) when it failed, else None."""
    import papermill
    from jupyter_client.kernelspec import NoSuchKernel
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillException, PapermillExecutionError

    try:
        papermill.execute_notebook(
            str(job.notebook),
            str(output),
            parameters=params,
            progress_bar=progress,
            log_output=False,
            execution_timeout=job.timeout,
            **(
                {"kernel_manager_class": kernel_manager_class()}
                if kernel is None
                else {"km": kernel.manager}
            ),
        )
    except PapermillExecutionError as error:
        return f"{error.ename}: {error.evalue} (cell [{error.exec_count}])"
    except CellTimeoutError as error:
        return f"a cell ran longer than the job's timeout of {job.timeout:g} s: {error}"
    except NoSuchKernel as error:
        return (
            f"no Jupyter kernel named {error.name!r} is installed here (the notebook's "
            "kernelspec); `jupyter kernelspec list` shows the installed ones: set the "
            "notebook's kernel to one of them, or install it"
        )
    except DeadKernelError as error:
        return f"the kernel died (out of memory?): {error}"
    except PapermillException as error:
        return f"{type(error).__name__}: {error}"
    except (OSError, RuntimeError) as error:
        # The kernel could not start (missing kernelspec, no ipykernel).
        return f"{type(error).__name__}: {error}"
    return None


def _now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat()


def describe(run: Run) -> str:
    """One line saying what happened to a run, for people."""
    if run.status == SKIPPED:
        return (
            f"{run.job}: up to date with run {run.up_to_date_with} (same notebook, parameters "
            f"and data); skipped. Report: {run.report_path}. Use --force to run it anyway."
        )
    duration = run.duration_seconds
    took = "" if duration is None else f" in {duration:.1f} s"
    if run.status == FAILED:
        return f"{run.job}: run {run.run_id} failed{took}: {run.error}. Report: {run.report_path}"
    return f"{run.job}: run {run.run_id} {run.status}{took}. Report: {run.report_path}"
