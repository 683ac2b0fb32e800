"""One run of a job at a time: an advisory file lock per job, which the OS frees on exit.

``flock`` locks die with the process that holds them, so a run that was killed
never leaves its job locked. The lock file also says who holds it (pid, since),
for the message another run gets.
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
