"""Notebook runs: execute with papermill, record, report, skip what is up to date, schedule.

- :func:`record` / :func:`read_results`: results a notebook reports about itself;
  :func:`record_headline`: the one sentence, status and key figures shown first.
- :func:`run_job`: run a job from ``workbench.toml`` (or a notebook) and record it.
- :func:`list_runs` / :func:`get_run`: the ``runs`` table.
- :func:`tick` / :func:`run_schedule` / :func:`schedule_status`: cron schedules.
- :mod:`workbench.runs.reports`: each run's HTML report, ``run.json`` and the index.

Importing this package is cheap: notebooks import it for :func:`record`, so the run
machinery (and papermill, nbconvert, croniter behind it) loads on first use.
"""

from __future__ import annotations

from workbench.lazy import exports
from workbench.runs.results import (
    RESULT_MIMETYPE,
    read_results,
    record,
    record_headline,
    recorded,
)

# Public name -> the submodule that defines it, imported when the name is first used.
_LAZY = {
    "describe": "execute",
    "run_job": "execute",
    "Job": "jobs",
    "load_jobs": "jobs",
    "resolve_job": "jobs",
    "parse_parameters": "parameters",
    "parse_value": "parameters",
    "Run": "records",
    "get_run": "records",
    "list_runs": "records",
    "run_results": "records",
    "run_schedule": "schedule",
    "schedule_status": "schedule",
    "tick": "schedule",
}

__all__ = [
    "RESULT_MIMETYPE",
    "read_results",
    "record",
    "record_headline",
    "recorded",
    *_LAZY,
]


__getattr__, __dir__ = exports(__name__, _LAZY, eager=tuple(__all__))
