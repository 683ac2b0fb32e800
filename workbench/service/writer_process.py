"""The writer in a process of its own, so writing never slows the answers to reads.

Checking a POSTed batch and ingesting it is Python work; in the serving process it
would hold the interpreter while ``GET`` requests wait. :class:`WriterProcess` runs an
:class:`~workbench.service.writer.EventWriter` (the same group commit, the same
durability promise) in a child process. The serving process hands it each request's
body as bytes and awaits the answer; the child checks the body, queues its events,
and sends back each request's account once its events are committed (or queued, in
buffer mode). After each commit the child says so, and the serving process folds the
new batches into what it serves (:meth:`~workbench.service.snapshot.ListSnapshot.poke`).

Failures:

- the child is killed (``kill -9``, out of memory): the requests it had not answered
  get 503 (retrying is safe: an event already stored counts as a duplicate), and a
  new child is started for the next ones. Nothing answered 2xx was lost: in commit
  mode an answer follows the commit;
- the serving process is killed: the child sees its pipe close, writes what it has
  queued (nobody was told it was committed; a retry finds it stored) and exits.
  SIGINT and SIGTERM are left to the serving process, which stops the child last.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from workbench.exceptions import IngestError, InvalidArgument, StoreError, WorkbenchError
from workbench.service.writer import EventOutcome, EventWriter, QueueFull

__all__ = ["WriterProcess"]

log = logging.getLogger("workbench.service")

# Errors the child may send back, rebuilt by name in the serving process.
_ERRORS: dict[str, type[WorkbenchError]] = {
    cls.__name__: cls for cls in (QueueFull, StoreError, IngestError, InvalidArgument)
}
_START_SECONDS = 120.0


#: How much lower than the serving process's the writer process's CPU priority is.
WRITER_NICENESS = 10


class WriterProcess:
    """An :class:`~workbench.service.writer.EventWriter` in a child process.

    Parameters
    ----------
    store_url : str
        The store (a file: a store in memory cannot be shared with another process).
    settings : dict
        The resolved ``[service]`` settings (durability, group and queue sizes, the
        batch limit).
    max_columns : int
        Most keys an event may have (``[capture] max_columns``).
    on_commit : callable, optional
        Called (with no argument) in the serving process after each commit.
    """

    def __init__(
        self,
        store_url: str,
        settings: dict[str, Any],
        *,
        max_columns: int,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.store_url = store_url
        self.on_commit = on_commit
        self._config = {
            "store": store_url,
            "durability": settings["durability"],
            "max_group_events": settings["max_group_events"],
            "max_queued_events": settings["max_queued_events"],
            "max_batch_events": settings["max_batch_events"],
            "max_columns": max_columns,
        }
        self._pending: dict[int, Future] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()  # the pipe, the pending map, the child
        self._conn = None
        self._process = None
        self._reader: threading.Thread | None = None
        self._closing = False
        self.queued_events = 0
        self.committed_events = 0
        self.commits = 0
        self.last_commit_at: datetime | None = None
        self.last_error: str | None = None
        self.restarts = 0
        self._counted = (0, 0)  # events and commits of the writer processes before this one

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        """Start the child and wait until it has opened the store."""
        self._spawn()

    def _spawn(self) -> None:
        context = multiprocessing.get_context("spawn")
        mine, theirs = context.Pipe()
        process = context.Process(
            target=_child_main, args=(theirs, self._config), name="workbench-writer"
        )
        process.start()
        theirs.close()
        if not mine.poll(_START_SECONDS):
            process.kill()
            raise StoreError(
                f"The service's writer process did not start within {_START_SECONDS:g} s."
            )
        try:
            message = mine.recv()
        except EOFError:
            message = ("failed", f"it exited with code {process.exitcode}")
        if message[0] != "ready":
            process.join(5)
            raise StoreError(f"The service's writer process could not start: {message[1]}")
        with self._lock:
            self._conn, self._process = mine, process
        self._reader = threading.Thread(
            target=self._read, args=(mine, process), name="workbench-writer-answers", daemon=True
        )
        self._reader.start()

    def close(self) -> None:
        """Let the child write what it has queued, then stop it (called on shutdown)."""
        with self._lock:
            self._closing = True
            conn, process, reader = self._conn, self._process, self._reader
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.send(("stop",))
        if reader is not None:
            reader.join()
        if process is not None:
            process.join(60)
            if process.is_alive():
                process.kill()

    @property
    def pid(self) -> int | None:
        """The writer process's id (None while it is not running)."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    # --- submitting --------------------------------------------------------------------

    def submit_body(self, body: bytes) -> Future:
        """Hand a ``POST /events`` body to the child; the future gives its
        :class:`~workbench.service.writer.EventOutcome` (or the error to answer with)."""
        return self._submit(("events", body))

    def submit_slates(self, slates, *, experiment: str | None, variant: str | None) -> Future:
        """Queue slates to log to ``deliveries``; the future gives their delivery ids."""
        return self._submit(("slates", list(slates), experiment, variant))

    def _submit(self, message: tuple) -> Future:
        future: Future = Future()
        with self._lock:
            if self._closing:
                raise StoreError("The service is stopping; send this request again shortly.")
            if self._conn is None:
                raise StoreError(
                    "The service's writer process is restarting; nothing of this request "
                    "was written. Retry it shortly."
                )
            job = next(self._ids)
            self._pending[job] = future
            try:
                self._conn.send((message[0], job, *message[1:]))
            except OSError:
                self._pending.pop(job, None)
                raise StoreError(
                    "The service's writer process is restarting; retry shortly."
                ) from None
        return future

    # --- answers -------------------------------------------------------------------------

    def _read(self, conn, process) -> None:
        """Settle futures from the child's messages; when the child dies, start another."""
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            kind = message[0]
            if kind == "done":
                self._settle(message[1], result=message[2])
            elif kind == "error":
                self._settle(message[1], error=_rebuild(*message[2:]))
            elif kind == "committed":
                self._stats(message[1])
                if self.on_commit is not None:
                    try:
                        self.on_commit()
                    except Exception:
                        log.exception("after a commit, refreshing what is served failed")
            elif kind == "closed":
                self._stats(message[1])
        process.join(5)
        with self._lock:
            orphans, self._pending = self._pending, {}
            self._conn = None
            closing = self._closing
        if not closing:
            self.last_error = f"the writer process stopped (exit code {process.exitcode})"
            log.error("%s; starting another", self.last_error)
        for future in orphans.values():
            future.set_exception(
                StoreError(
                    "The service's writer process stopped before answering; whether this "
                    "request was committed is unknown. Retrying it is safe."
                )
            )
        if not closing:
            self.restarts += 1
            self._counted = (self.committed_events, self.commits)
            self.queued_events = 0
            try:
                self._spawn()
                self.last_error = None
            except WorkbenchError as error:
                self.last_error = str(error)
                log.error("the writer process could not be restarted: %s", error)

    def _settle(self, job: int, *, result=None, error=None) -> None:
        with self._lock:
            future = self._pending.pop(job, None)
        if future is None:
            return
        if error is not None:
            future.set_exception(error)
        elif isinstance(result, dict):
            future.set_result(EventOutcome(**result))
        else:
            future.set_result(result)

    def _stats(self, stats: dict[str, Any]) -> None:
        # Counts since the service started: a restarted process counts from zero again.
        self.queued_events = stats["queued_events"]
        self.committed_events = self._counted[0] + stats["committed_events"]
        self.commits = self._counted[1] + stats["commits"]
        self.last_commit_at = stats["last_commit_at"] or self.last_commit_at
        self.last_error = stats["last_error"]


def _rebuild(kind: str, *details: Any) -> Exception:
    """The child's error as the serving process raises it (the app maps it to a status)."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    if kind == "http":
        status, detail = details
        return HTTPException(status, detail)
    if kind == "invalid":
        return RequestValidationError(details[0])
    name, message = details
    return _ERRORS.get(name, WorkbenchError)(message)


# --- the child ----------------------------------------------------------------------------


def _child_main(conn, config: dict[str, Any]) -> None:
    """The writer process: read requests from the pipe, answer each when it is written."""
    # Ctrl-C reaches the whole process group: the serving process decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Writes are throughput, reads are latency: when both want the cores, the readers
    # go first. A commit still waits for nothing but CPU time the readers leave.
    with contextlib.suppress(OSError):
        os.nice(WRITER_NICENESS)
    send_lock = threading.Lock()

    def send(message: tuple) -> None:
        # The serving process may be gone; what is queued is still written.
        with send_lock, contextlib.suppress(OSError, ValueError):
            conn.send(message)

    try:
        from workbench.service.app import _read_events
        from workbench.store import Store

        store = Store.open(config["store"])
        writer = EventWriter(
            store,
            durability=config["durability"],
            max_group_events=config["max_group_events"],
            max_queued_events=config["max_queued_events"],
            on_commit=lambda _raw: send(("committed", _stats_of(writer))),
        )
        writer.start()
    except Exception as error:  # said to the serving process, which refuses to start
        send(("failed", f"{type(error).__name__}: {error}"))
        return
    send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break  # the serving process is gone
        if message[0] == "stop":
            break
        kind, job = message[0], message[1]
        try:
            if kind == "events":
                events = _read_events(message[2], config["max_batch_events"], config["max_columns"])
                future = writer.submit_events(events)
            else:
                future = writer.submit_slates(message[2], experiment=message[3], variant=message[4])
        except Exception as error:
            send(("error", job, *_describe(error)))
            continue
        future.add_done_callback(lambda done, job=job: _answer(send, job, done))
    writer.close()
    send(("closed", _stats_of(writer)))
    conn.close()


def _answer(send: Callable[[tuple], None], job: int, done: Future) -> None:
    error = done.exception()
    if error is not None:
        send(("error", job, *_describe(error)))
        return
    result = done.result()
    send(("done", job, result.__dict__ if isinstance(result, EventOutcome) else result))


def _describe(error: BaseException) -> tuple:
    """An error as plain data the pipe can carry."""
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    if isinstance(error, HTTPException):
        return ("http", error.status_code, error.detail)
    if isinstance(error, RequestValidationError):
        problems = [
            {
                "type": problem.get("type"),
                "loc": tuple(problem.get("loc", ())),
                "msg": problem.get("msg"),
                "ctx": {key: str(value) for key, value in (problem.get("ctx") or {}).items()},
            }
            for problem in error.errors()
        ]
        return ("invalid", problems)
    if isinstance(error, WorkbenchError):
        # The nearest kind the serving process knows (a StoreLocked is a StoreError: 503).
        known = (c.__name__ for c in type(error).__mro__ if c.__name__ in _ERRORS)
        return ("workbench", next(known, "WorkbenchError"), str(error))
    return ("workbench", "StoreError", f"The service could not write: {error!r}.")


def _stats_of(writer: EventWriter) -> dict[str, Any]:
    return {
        "queued_events": writer.queued_events,
        "committed_events": writer.committed_events,
        "commits": writer.commits,
        "last_commit_at": writer.last_commit_at,
        "last_error": writer.last_error,
    }
