"""The single writer: every store write of the service goes through one thread, grouped.

Requests put their work (events to ingest, slates to log) on a queue and wait
for it. One thread takes whatever is waiting, up to ``max_group_events``, and
writes it in one short session on the store: the events of all waiting requests
as one :func:`~workbench.capture.ingest` batch (group commit), then the slates.
While that session runs, new requests queue up and form the next group, so
under load a commit carries many requests. Groups that queue up while the
writer holds the file are written in the same session (each still its own
committed transaction), for at most ``hold_seconds`` (0.25 s); the file is let
go as soon as the queue is empty, so the store is never held while idle.

Each request is told exactly what became of its own events: the batch's
quarantine rows (by row number) and the event ids the batch stored are mapped
back to the request that sent them. The numbers add up per request and for the
batch, or the writer refuses to answer (it is checked).

Durability modes:

- ``commit`` (default): a request is answered after the transaction holding its
  events committed. A crash can lose nothing that was answered with 2xx.
- ``buffer``: a request is answered (202) once its events are queued in memory.
  A crash (``kill -9``, out of memory, power loss) loses the events of every
  202-answered request not yet committed: at most ``max_queued_events`` events,
  in practice those received during the current commit (tens of milliseconds).
  A shutdown by SIGTERM/SIGINT writes them all first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.exceptions import IngestError, StoreError, WorkbenchError

if TYPE_CHECKING:
    from workbench.delivery.policies import Slate
    from workbench.store import Store

__all__ = ["SOURCE_NAME", "EventOutcome", "EventWriter", "QueueFull"]

log = logging.getLogger("workbench.service")

#: What ``batches.source`` (and ``events.source`` when an event has none) records.
SOURCE_NAME = "service"


class QueueFull(StoreError):
    """The writer's queue holds ``max_queued_events`` already; the request was not taken."""


@dataclass
class EventOutcome:
    """What became of the events of one request.

    ``rejected`` lists the quarantined events: their index in the request, their
    ``event_id`` and the reason. ``status`` is ``committed``, ``already_ingested``
    (the same bytes were committed before; nothing changed) or ``queued`` (buffer
    mode: not yet committed).
    """

    status: str
    batch_id: str | None
    rows_in: int
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    durable: bool = True


@dataclass
class _Job:
    # (event_id, the event as one line of JSON), in the order the request sent them
    events: list[tuple[str, str]] = field(default_factory=list)
    slates: list[Slate] = field(default_factory=list)
    experiment: str | None = None
    variant: str | None = None
    future: Future = field(default_factory=Future)
    acknowledged: bool = False  # buffer mode: the client was answered at queueing

    @property
    def size(self) -> int:
        return len(self.events) + sum(len(slate.items) for slate in self.slates)


_STOP = object()


class EventWriter:
    """One thread that writes queued events and slates to the store in grouped commits.

    Parameters
    ----------
    store : Store
    durability : {"commit", "buffer"}
    max_group_events : int
        Most events written in one transaction.
    max_queued_events : int
        Most events waiting; :meth:`submit_events` raises :class:`QueueFull` beyond it.
    hold_seconds : float
        Longest time the writer keeps the store file while requests keep coming.
    on_commit : callable, optional
        Called after every commit, with the store session still held (its DuckDB
        connection as the argument), once the requests are answered: the service folds
        what was committed into what it serves. An error in it is logged, never raised.
    """

    def __init__(
        self,
        store: Store,
        *,
        durability: str = "commit",
        max_group_events: int = 20_000,
        max_queued_events: int = 100_000,
        hold_seconds: float = 0.25,
        on_commit: Callable[[Any], Any] | None = None,
    ) -> None:
        self.store = store
        self.on_commit = on_commit
        self.hold_seconds = hold_seconds
        self.durability = durability
        self.max_group_events = max_group_events
        self.max_queued_events = max_queued_events
        self._queue: queue.Queue = queue.Queue()
        self._queued = 0
        self._count_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._carry: _Job | None = None
        self.committed_events = 0
        self.commits = 0
        self.last_commit_at: datetime | None = None
        self.last_error: str | None = None
        self._stopping = False

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="workbench-writer", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Write everything queued, then stop (called on shutdown)."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    @property
    def queued_events(self) -> int:
        """Events waiting to be written."""
        return self._queued

    # --- submitting --------------------------------------------------------------------

    def submit_events(self, events: list[tuple[str, str]]) -> Future:
        """Queue one request's events; the future gives its :class:`EventOutcome`.

        ``events`` are ``(event_id, JSON text of the event)`` pairs; the text must
        be a single line (``json.dumps`` output is).
        """
        job = _Job(events=events)
        self._put(job)
        if self.durability == "buffer":
            job.acknowledged = True
            queued = Future()
            queued.set_result(EventOutcome("queued", None, rows_in=len(events), durable=False))
            return queued
        return job.future

    def submit_slates(
        self, slates: Sequence[Slate], *, experiment: str | None, variant: str | None
    ) -> Future:
        """Queue slates to log to ``deliveries``; the future gives their delivery ids."""
        job = _Job(slates=list(slates), experiment=experiment, variant=variant)
        self._put(job)
        return job.future

    def _put(self, job: _Job) -> None:
        if self._thread is None:
            raise StoreError("The service's writer is not running; restart the service.")
        with self._count_lock:
            if self._queued + job.size > self.max_queued_events:
                raise QueueFull(
                    f"{self._queued:,} events are waiting to be written (at most "
                    f"{self.max_queued_events:,}): the store is slow or busy. Retry shortly."
                )
            self._queued += job.size
        self._queue.put(job)

    # --- the writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while True:
            group, stopping = self._take_group(stopping)
            if group:
                stopping = self._write_while_busy(group, stopping)
            if stopping and self._carry is None and self._queue.empty():
                return

    def _write_while_busy(self, group: list[_Job], stopping: bool) -> bool:
        """Write ``group``, and the groups that queue up meanwhile, in one store session.

        Every group is its own committed transaction (answered when it commits); what
        the session saves is attaching the file and folding the log into it (the
        checkpoint, most of the cost of a small commit) once per burst instead of
        once per group. The file is let go as soon as the queue is empty, and at the
        latest after ``hold_seconds``, so other processes get their turn under
        sustained load too.
        """
        try:
            with self.store.writing():
                held_until = time.monotonic() + self.hold_seconds
                while group:
                    self._write_guarded(group)
                    if time.monotonic() >= held_until or (
                        self._carry is None and self._queue.empty()
                    ):
                        break
                    group, stopping = self._take_group(stopping, wait=False)
        except WorkbenchError as error:
            # The file could not be attached, or its log not folded in after commits. In
            # the latter case the commits stand (DuckDB replays its log on the next open).
            if group and not all(job.future.done() for job in group):
                self._failed(group, error)
            else:
                self.last_error = str(error)
                log.error("releasing the store after writing failed: %s", error)
        return stopping

    def _write_guarded(self, group: list[_Job]) -> None:
        try:
            self._write_group(group)
        except Exception as error:
            # A writer thread that died would leave every waiting request hanging
            # and every later one unanswered: fail this group loudly and go on.
            log.exception("the writer failed on a group of %d requests", len(group))
            self._failed(group, StoreError(f"The service could not write: {error!r}."))

    def _take_group(self, stopping: bool, *, wait: bool = True) -> tuple[list[_Job], bool]:
        """Block for the first job (when ``wait``), then take what else is waiting, up to
        the group size."""
        group: list[_Job] = []
        size = 0
        if self._carry is not None:
            group.append(self._carry)
            size, self._carry = self._carry.size, None
        while size < self.max_group_events:
            try:
                job = self._queue.get(block=wait and not group and not stopping)
            except queue.Empty:
                break
            if job is _STOP:
                stopping = self._stopping = True
                continue
            if group and size + job.size > self.max_group_events:
                self._carry = job  # first of the next group
                break
            group.append(job)
            size += job.size
        return group, stopping

    def _write_group(self, group: list[_Job]) -> None:
        event_jobs = [job for job in group if job.events]
        slate_jobs = [job for job in group if job.slates]
        try:
            with self.store.writing():
                outcomes = self._ingest_isolating(event_jobs) if event_jobs else []
                delivery_ids = [self._log_slates(job) for job in slate_jobs]
        except WorkbenchError as error:
            self._failed(group, error)
            return
        self.commits += 1
        self.last_commit_at = datetime.now(UTC)
        self.last_error = None
        with self._count_lock:
            self._queued -= sum(job.size for job in group)
        for job, outcome in zip(event_jobs, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                _settle(job.future, error=outcome)
            else:
                self.committed_events += outcome.accepted
                _settle(job.future, result=outcome)
        for job, ids in zip(slate_jobs, delivery_ids, strict=True):
            _settle(job.future, result=ids)
        if self.on_commit is not None and event_jobs:
            try:
                # Within the session the group was written in: no new attach.
                with self.store.writing() as raw:
                    self.on_commit(raw)
            except Exception:
                log.exception("folding the committed events into what is served failed")

    def _failed(self, group: list[_Job], error: WorkbenchError) -> None:
        """Nothing of the group was committed: tell waiting requests, keep buffered ones."""
        self.last_error = str(error)
        log.error("writing to the store failed: %s", error)
        kept = [job for job in group if job.acknowledged]
        with self._count_lock:
            self._queued -= sum(job.size for job in group if not job.acknowledged)
        for job in group:
            if not job.acknowledged:
                _settle(job.future, error=error)
        if kept and self._stopping:
            self._rescue(kept)
        elif kept:
            # Buffer mode answered these already: they must still reach the store, so they
            # go back in line, after a pause so a busy store is not hammered.
            time.sleep(1.0)
            for job in kept:
                self._queue.put(job)

    def _rescue(self, jobs: list[_Job]) -> Path:
        """Write acknowledged events the store refused at shutdown to a JSON-lines file.

        Buffer mode promised to keep them; when the store cannot take them as the
        service stops, they go to a file beside the store that ``workbench ingest``
        reads.
        """
        folder = Path.cwd() if self.store.path is None else self.store.path.parent
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = folder / f"service-unwritten-{stamp}-{os.getpid()}.jsonl"
        with path.open("a", encoding="utf-8") as out:
            for job in jobs:
                for _, line in job.events:
                    out.write(line + "\n")
        with self._count_lock:
            self._queued -= sum(job.size for job in jobs)
        log.error(
            "%d acknowledged events could not be written at shutdown; they are in %s: "
            "load them with `workbench ingest %s`.",
            sum(len(job.events) for job in jobs),
            path,
            path,
        )
        return path

    def _ingest_isolating(self, jobs: list[_Job]) -> list[EventOutcome | BaseException]:
        """Ingest all jobs as one batch; if the batch as a whole is refused, each on its own.

        A refusal of a grouped batch caused by one request's input (an
        :class:`IngestError`, or DuckDB refusing what it was given) must not fail
        the other requests of the group: the group is split, and only the request
        at fault gets the error. Nothing of a refused batch was written.
        """
        import duckdb

        try:
            return self._ingest(jobs)
        except (IngestError, duckdb.Error, UnicodeDecodeError) as error:
            if len(jobs) == 1:
                return [_as_workbench_error(error)]
        outcomes: list[EventOutcome | BaseException] = []
        for job in jobs:
            try:
                outcomes.extend(self._ingest([job]))
            except (IngestError, duckdb.Error, UnicodeDecodeError) as error:
                outcomes.append(_as_workbench_error(error))
        return outcomes

    def _ingest(self, jobs: list[_Job]) -> list[EventOutcome]:
        """One ingest of the jobs' events (JSON lines, in order), accounted per job."""
        from workbench.capture import ingest

        lines = [line for job in jobs for _, line in job.events]
        with _jsonl_file(lines) as path:
            report = ingest(self.store, path, format="jsonl", source_name=SOURCE_NAME)
        return _account(self.store, report, jobs)

    def _log_slates(self, job: _Job) -> list[str]:
        from workbench.delivery.policies import log_slates

        return log_slates(self.store, job.slates, experiment=job.experiment, variant=job.variant)


def _as_workbench_error(error: Exception) -> WorkbenchError:
    if isinstance(error, WorkbenchError):
        return error
    return StoreError(
        f"The store refused this request's events ({error}); nothing of it was written. "
        "Please report this with the request."
    )


@contextlib.contextmanager
def _jsonl_file(lines: list[str]):
    """The events as a JSON-lines file, ingested like any JSON-lines input, then removed."""
    handle, name = tempfile.mkstemp(prefix="workbench-service-", suffix=".jsonl")
    path = Path(name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            for line in lines:
                out.write(line)
                out.write("\n")
        yield path
    finally:
        path.unlink(missing_ok=True)


def _account(store: Store, report, jobs: list[_Job]) -> list[EventOutcome]:
    """Map the batch's quarantine rows and stored ids back to the requests that sent them.

    Rows are numbered from 1 in the order written. A row is quarantined when the
    batch's quarantine has its number; of the others, the first row carrying an
    event id the batch stored is the accepted one, and every other is a duplicate
    (of a stored event, or of an earlier row) -- the rule ``ingest`` applies.
    """
    if report.status == "already_ingested":
        # The same bytes were ingested before: the same rows are quarantined again, and
        # everything else is stored already.
        batch_id, stored = report.previous_batch_id, set()
    else:
        batch_id = report.batch_id
        stored = set(
            store.sql("SELECT event_id FROM events WHERE batch_id = ?", [batch_id])
            .column("event_id")
            .to_pylist()
        )
    reasons = {
        row["row_number"]: row["reason"]
        for row in store.sql(
            "SELECT row_number, reason FROM quarantine WHERE batch_id = ?", [batch_id]
        ).to_pylist()
    }
    outcomes, row, claimed = [], 0, set()
    for job in jobs:
        outcome = EventOutcome(report.status, batch_id, rows_in=len(job.events))
        for index, (event_id, _) in enumerate(job.events):
            row += 1
            if row in reasons:
                outcome.quarantined += 1
                outcome.rejected.append(
                    {"index": index, "event_id": event_id, "reason": reasons[row]}
                )
            elif event_id in stored and event_id not in claimed:
                claimed.add(event_id)
                outcome.accepted += 1
            else:
                outcome.duplicates += 1
        outcomes.append(outcome)
    totals = (
        sum(o.accepted for o in outcomes),
        sum(o.quarantined for o in outcomes),
        sum(o.duplicates for o in outcomes),
    )
    expected = (
        (0, len(reasons), row - len(reasons))
        if report.status == "already_ingested"
        else (report.accepted, report.quarantined, report.duplicates)
    )
    if totals != expected or row != sum(len(job.events) for job in jobs):
        # The events are committed, but the per-request account would be wrong: say so
        # rather than answer with numbers that do not add up.
        raise StoreError(
            f"Batch {report.batch_id} was committed but its per-request account "
            f"{totals} does not match the batch's {expected}. Please report this; the batch "
            "is in the store (`workbench status`)."
        )
    return outcomes


def _settle(future: Future, *, result: Any = None, error: BaseException | None = None) -> None:
    """Resolve a request's future (a request that gave up already is left alone)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
