"""Advisory file locks that the OS frees when their process dies.

- One run of a job at a time: a lock per job (:func:`job_lock`). A run that was
  killed never leaves its job locked. The lock file also says who holds it (pid,
  since), for the message another run gets.
- A run is alive while its process holds the lock in its folder (:func:`alive_lock`);
  a ``running`` run whose lock anyone can take was abandoned (:func:`abandoned`):
  its process was killed or its machine stopped. This holds for any number of
  processes and never mistakes a reused pid for the run's.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from workbench.exceptions import JobBusy


@contextlib.contextmanager
def job_lock(job: str, folder: Path) -> Iterator[None]:
    """Hold ``job``'s lock for the block; :class:`JobBusy` at once if another run holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{job}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise JobBusy(
                f"Job {job} is already running ({_holder(path)}); this run did not start. "
                "Wait for it to finish, or stop that process."
            ) from error
        os.ftruncate(fd, 0)
        note = {"pid": os.getpid(), "since": datetime.now(UTC).isoformat(timespec="seconds")}
        os.write(fd, json.dumps(note).encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(path: Path) -> str:
    try:
        note = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        note = {}
    if not note:
        return "by a process that left no note"
    return f"pid {note.get('pid')} since {note.get('since')}"


ALIVE_LOCK_FILE = "running.lock"


@contextlib.contextmanager
def alive_lock(folder: Path) -> Iterator[None]:
    """Hold the run folder's lock for the block: the run is alive while it is held."""
    fd = os.open(folder / ALIVE_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def abandoned(folder: Path) -> bool:
    """Whether a run folder's lock is free: the process that ran it is gone.

    False when the folder has no lock file (a run from before these locks, or a folder
    moved away): nothing can be told, so nothing is claimed.
    """
    try:
        fd = os.open(folder / ALIVE_LOCK_FILE, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    finally:
        os.close(fd)
    return True
