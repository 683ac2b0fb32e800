"""Notebook parameters from the command line: ``-p key=value`` with the value's type kept.

A value is read the way YAML reads a scalar, so ``-p k=10`` is the int 10, ``-p
ratio=0.25`` a float, ``-p register=true`` a bool, ``-p as_of=null`` None and ``-p
models=[ease,als]`` a list; anything else stays text. Two YAML habits would
surprise a scientist and are not followed: ``yes``/``no``/``on``/``off`` stay text
(only ``true``/``false`` are booleans), and dates stay text (papermill passes the
value into the notebook as written). Quote a value to keep it text: ``-p k='10'``.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from workbench.exceptions import ConfigError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BOOLEAN_WORDS = {"true", "false"}
# Exponents without a dot (1e-3): YAML 1.1 reads them as text, a scientist means a number.
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+\Z")


def parse_value(text: str) -> Any:
    """The typed value of one ``-p`` value.

    Examples
    --------
    >>> parse_value("10"), parse_value("0.25"), parse_value("true"), parse_value("null")
    (10, 0.25, True, None)
    >>> parse_value("popularity,ease"), parse_value("'10'"), parse_value("no")
    ('popularity,ease', '10', 'no')
    >>> parse_value("[5, 10]"), parse_value("2026-01-01")
    ([5, 10], '2026-01-01')
    """
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        # Not YAML at all (an unbalanced bracket, a stray colon): the user meant text.
        return text
    if text.strip() == "":
        return ""
    return _plain(value, text)


def _plain(value: Any, text: str) -> Any:
    """Undo the YAML readings that are not what a command line means."""
    if isinstance(value, bool):
        return value if text.strip().lower() in _BOOLEAN_WORDS else text
    if isinstance(value, float) and not math.isfinite(value):
        return text  # ".inf" and ".nan" cannot be recorded as JSON
    if isinstance(value, str) and value == text.strip() and _FLOAT.match(value):
        return float(value)
    if value is None or isinstance(value, (int, float, str)):
        return value
    if isinstance(value, list):
        return [_plain(item, json.dumps(item, default=str)) for item in value]
    if isinstance(value, dict):
        return {str(k): _plain(v, json.dumps(v, default=str)) for k, v in value.items()}
    # Dates, times and other YAML types: papermill would pass them as text anyway.
    return text


def parse_parameters(pairs: Iterable[str]) -> dict[str, Any]:
    """Turn repeated ``-p key=value`` options into typed parameters.

    Raises :class:`~workbench.exceptions.ConfigError` for a pair without ``=``, a
    name that is not a Python identifier, or a name given twice.

    Examples
    --------
    >>> parse_parameters(["k=10", "models=ease,als", "register=false"])
    {'k': 10, 'models': 'ease,als', 'register': False}
    """
    parameters: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep:
            raise ConfigError(f"-p {pair!r} is not key=value (e.g. -p k=10).")
        if not _NAME.match(name):
            raise ConfigError(
                f"-p {pair!r}: {name!r} is not a notebook variable name (letters, digits, _)."
            )
        if name in parameters:
            raise ConfigError(f"-p {name} is given twice; give each parameter once.")
        parameters[name] = parse_value(text)
    return parameters


def declared_parameters(path: str | os.PathLike[str]) -> dict[str, str]:
    """The names the notebook's ``parameters`` cell assigns, with their default as source text.

    Read with :mod:`ast` (the cell is Python), so checking parameters and skipping an
    up-to-date run do not pay for importing papermill. A notebook with no cell tagged
    ``parameters`` declares none.

    Raises :class:`~workbench.exceptions.ConfigError` when the cell is not valid Python.
    """
    notebook_path = Path(path)
    try:
        notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
        cells = notebook["cells"]
    except FileNotFoundError as error:
        raise ConfigError(f"No notebook at {notebook_path}.") from error
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise ConfigError(f"{notebook_path} is not a Jupyter notebook ({error}).") from error
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        if "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        try:
            tree = ast.parse(source)
        except SyntaxError as error:
            raise ConfigError(
                f"The parameters cell of {notebook_path} is not valid Python: {error}. Fix it."
            ) from error
        declared: dict[str, str] = {}
        for statement in tree.body:
            targets = (
                statement.targets
                if isinstance(statement, ast.Assign)
                else [statement.target]
                if isinstance(statement, ast.AnnAssign) and statement.value is not None
                else []
            )
            for target in targets:
                if isinstance(target, ast.Name):
                    declared[target.id] = ast.get_source_segment(source, statement.value) or ""
        return declared
    return {}


def check_parameters(
    parameters: Mapping[str, Any], declared: Mapping[str, Any], *, notebook: str
) -> None:
    """Refuse parameters the notebook's ``parameters`` cell does not declare.

    Papermill only warns about them, and the run would silently ignore the value.
    """
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        known = ", ".join(sorted(declared)) or "none (no cell is tagged 'parameters')"
        raise ConfigError(
            f"{notebook} has no parameter {', '.join(unknown)}; its parameters are: {known}."
        )


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces, so equal values give equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def parameters_sha256(parameters: Mapping[str, Any]) -> str:
    """A digest of parameters that ignores their order."""
    return hashlib.sha256(canonical_json(dict(parameters)).encode()).hexdigest()
