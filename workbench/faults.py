"""Crashes: named crash points for the tests, and finding what a dead process left.

A process killed mid-work leaves files named after it (``NAME.PID.partial``,
``workbench-precompute-PID-...``); :func:`process_alive` tells whether their writer
still runs, so the next command cleans up or adopts them, never a person.

Named crash points are for the tests that kill a process where a crash would hurt most.

A crash test sets ``WORKBENCH_CRASH_AT`` to a point's name and runs a real command;
when the command reaches that point, it sends itself SIGKILL, as ``kill -9`` or a
power cut would, so nothing (no ``finally``, no ``atexit``) runs after it. The next
command must then recover by itself. Unset (always, outside those tests), a crash
point costs one dictionary lookup.

Points: ``ingest:appended`` (the batch's rows are inserted, its transaction not yet
committed), ``ingest:committed`` (committed, the write-ahead log not yet folded into the
file), ``register:partial-written`` (the artifact's bytes are on disk, its row not
committed), ``register:row-committed`` (the row is committed, the file not yet renamed
into place), ``run:started`` (the run is recorded as running, its kernel not started),
``precompute:scratch-written`` (the lists are in the scratch file, not yet in the store).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path

__all__ = ["CRASH_ENV_VAR", "crash_point", "process_alive", "remove_dead_scratch"]

CRASH_ENV_VAR = "WORKBENCH_CRASH_AT"


def crash_point(name: str) -> None:
    """Die at once, by SIGKILL, if ``WORKBENCH_CRASH_AT`` names this point."""
    if os.environ.get(CRASH_ENV_VAR) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


def remove_dead_scratch(folder: Path, prefix: str) -> None:
    """Remove the ``PREFIX-PID-*`` folders in ``folder`` whose process is gone."""
    for scratch in folder.glob(f"{prefix}-*") if folder.is_dir() else []:
        pid = scratch.name.removeprefix(f"{prefix}-").split("-", 1)[0]
        if scratch.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            with contextlib.suppress(OSError):
                shutil.rmtree(scratch)
