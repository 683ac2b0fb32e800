"""Packages whose public names load their submodule on first use (PEP 562).

A command that shows stored lists should not pay for scikit-learn; a notebook that
only records results should not pay for papermill. A package lists which submodule
defines each public name, and :func:`exports` gives it the module-level
``__getattr__`` and ``__dir__`` that import on demand.

Examples
--------
>>> getattr_, dir_ = exports("workbench.runs", {"list_runs": "records"})
>>> getattr_("list_runs").__name__
'list_runs'
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["exports"]


def exports(
    package: str, names: Mapping[str, str], eager: tuple[str, ...] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose ``names`` map to submodules.

    ``eager`` names are already defined by the package itself; they only join ``dir()``.
    A name may not be its own submodule's name (``readout`` in ``readout.py``): importing
    the submodule sets the package attribute to the module, so the package must import
    such a name itself.
    """
    clashes = sorted(name for name, module in names.items() if name == module)
    if clashes:
        raise ValueError(f"{package}: import {', '.join(clashes)} eagerly; see exports().")

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        # Cache on the package so the next lookup is an ordinary attribute read.
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*eager, *names})

    return __getattr__, __dir__
