"""Recorded results: what a notebook run reports about itself.

A notebook calls :func:`record` for every figure worth keeping (metrics, the best
model, counts). Each call shows a small output of the workbench's own MIME type,
which papermill saves in the executed notebook; :func:`read_results` reads them
back, so a run can be asserted on, compared and listed without re-executing it.
HTML reports ignore the MIME type, so recorded results do not clutter them.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.exceptions import InvalidArgument, WorkbenchError
from workbench.headline import STATUSES as STATUS_LABEL

if TYPE_CHECKING:
    from workbench.headline import Headline

RESULT_MIMETYPE = "application/vnd.workbench.result+json"

#: The recorded result a run's report header shows as its model version (``name@version``).
MODEL_VERSION = "model_version"
#: The recorded result the report's first screen and the index show (a Headline's dict).
HEADLINE = "headline"

# Results recorded in this process, for code that runs outside a notebook kernel.
_recorded: dict[str, Any] = {}


def record(name: str, value: Any) -> Any:
    """Record a result of this run under ``name`` and return ``value`` unchanged.

    ``value`` must be JSON-like: numbers, text, booleans, None, and lists or dicts
    of them (numpy scalars and arrays are converted). A later record with the same
    name replaces the earlier one.

    Examples
    --------
    >>> record("rows", 1200)
    1200
    >>> recorded()["rows"]
    1200
    """
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"A result needs a non-empty text name, not {name!r}.")
    plain = _to_json_value(value, path=name)
    _recorded[name] = plain
    _display({RESULT_MIMETYPE: {"name": name, "value": plain}})
    return value


def record_headline(headline: Headline) -> Headline:
    """Record the run's headline (see :mod:`workbench.headline`) and show it.

    The report's first screen and the reports index show it; the index draws the
    trend of its first figure over the job's runs. A later call replaces it.
    """
    from workbench.headline import Headline

    if not isinstance(headline, Headline):
        raise InvalidArgument(
            f"record_headline takes a workbench.headline.Headline, not a "
            f"{type(headline).__name__}; domain reports offer one as .headline()."
        )
    plain = _to_json_value(headline.to_dict(), path=HEADLINE)
    _recorded[HEADLINE] = plain
    # One output: JupyterLab shows the sentence, read_results finds the record.
    _display(
        {
            RESULT_MIMETYPE: {"name": HEADLINE, "value": plain},
            "text/markdown": f"**{STATUS_LABEL[headline.status]}:** {headline.text}",
        }
    )
    return headline


def recorded() -> dict[str, Any]:
    """Results recorded so far in this process (a copy)."""
    return dict(_recorded)


def read_results(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the results an executed notebook recorded, by name.

    Raises :class:`~workbench.exceptions.WorkbenchError` when the file is missing or
    not a notebook. A notebook that recorded nothing gives an empty dict.
    """
    notebook_path = Path(path)
    try:
        notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise WorkbenchError(f"No notebook at {notebook_path}.") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise WorkbenchError(f"{notebook_path} is not a notebook (not JSON): {error}") from error
    if not isinstance(notebook, Mapping) or "cells" not in notebook:
        raise WorkbenchError(f"{notebook_path} is not a notebook: it has no cells.")
    results: dict[str, Any] = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            payload = output.get("data", {}).get(RESULT_MIMETYPE)
            if isinstance(payload, Mapping) and "name" in payload:
                results[payload["name"]] = payload.get("value")
    return results


def _display(bundle: dict[str, Any]) -> None:
    """Show a MIME bundle in the running kernel; outside a kernel, do nothing."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return
    from IPython.display import display

    display(bundle, raw=True)


def _to_json_value(value: Any, *, path: str) -> Any:
    """``value`` as plain JSON data; refuses what JSON cannot hold faithfully."""
    if value is None or isinstance(value, (bool, str, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgument(
                f"Result {path} is {value}, which JSON cannot hold; record None or a finite number."
            )
        return value
    if isinstance(value, Mapping):
        return {str(k): _to_json_value(v, path=f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json_value(v, path=f"{path}[{i}]") for i, v in enumerate(value)]
    # numpy scalars and arrays, without importing numpy here.
    if hasattr(value, "tolist") and type(value).__module__.startswith("numpy"):
        return _to_json_value(value.tolist(), path=path)
    raise InvalidArgument(
        f"Result {path} is a {type(value).__name__}, which cannot be recorded; record numbers, "
        "text, booleans, None, or lists/dicts of them (e.g. df.to_dict('records'))."
    )
