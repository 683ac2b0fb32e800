"""Every error the workbench raises, rooted at :class:`WorkbenchError`.

Each message says what happened, the offending value, and what to do next.
The CLI turns any ``WorkbenchError`` into one line and a non-zero exit.
"""

from __future__ import annotations

__all__ = [
    "ArtifactTampered",
    "ConfigError",
    "ExperimentError",
    "IngestError",
    "InvalidArgument",
    "JobBusy",
    "ModelNotFound",
    "PromotionRefused",
    "RunFailed",
    "RunNotFound",
    "ScheduleError",
    "SchemaVersionError",
    "StoreError",
    "StoreLocked",
    "TableNotFound",
    "WorkbenchError",
]


class WorkbenchError(Exception):
    """Base class of every error raised on purpose by the workbench."""


class ConfigError(WorkbenchError, ValueError):
    """A setting (store URL, workbench.toml, a parameter) cannot be used."""


class StoreError(WorkbenchError):
    """The store cannot be opened, migrated or queried."""


class StoreLocked(StoreError, TimeoutError):
    """Another process held the store for longer than the lock timeout.

    ``holders`` describes who held it: a list of dicts with ``pid``,
    ``command`` and ``since`` (ISO time), as far as they could be found.
    """

    def __init__(self, message: str, *, holders: list[dict] | None = None) -> None:
        super().__init__(message)
        self.holders = holders or []


class SchemaVersionError(StoreError):
    """The store was written by a newer workbench than this one."""


class TableNotFound(StoreError, LookupError):
    """A table that was asked for does not exist in the store."""


class IngestError(WorkbenchError, ValueError):
    """An input cannot be ingested at all (missing file, unknown format, bad mapping).

    Problems with single rows never raise: those rows go to ``quarantine``
    with a reason.
    """


class InvalidArgument(WorkbenchError, ValueError):
    """An argument is outside what a function accepts; the message names the allowed range."""


class ModelNotFound(WorkbenchError, LookupError):
    """A model reference (``name@alias`` or ``name@version``) names nothing registered."""


class ArtifactTampered(WorkbenchError):
    """A model artifact's bytes or types are not those that were registered; nothing was run."""


class PromotionRefused(WorkbenchError):
    """A candidate did not beat the champion on the gate's metric, and no override was given."""


class RunFailed(WorkbenchError):
    """A notebook run failed; its output notebook and report keep the failure for debugging.

    ``run_id`` names the run record, ``output_path`` the executed notebook.
    """

    def __init__(self, message: str, *, run_id: str, output_path: str | None = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.output_path = output_path


class ScheduleError(WorkbenchError, ValueError):
    """A job or its schedule in workbench.toml cannot be used (unknown job, bad cron)."""


class JobBusy(ScheduleError):
    """Another run of the same job is still going; this one did not start."""


class RunNotFound(WorkbenchError, LookupError):
    """A run id names no recorded run."""


class ExperimentError(WorkbenchError, ValueError):
    """An experiment cannot be assigned or analysed as asked (unknown experiment, no data)."""
