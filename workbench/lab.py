"""JupyterLab for the project's notebooks: saved without outputs, as they are committed.

``make lab`` starts JupyterLab with :func:`strip_outputs` as its pre-save hook, so a
notebook opened and run there is written back with its code and parameters but no
outputs or execution counts: the notebooks in ``notebooks/`` stay what the jobs run,
and a diff shows only changes to code. The executed copies, with every output, are
what ``workbench run`` keeps under ``reports/runs/``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["strip_outputs"]


def strip_outputs(*, model: dict[str, Any], **_: Any) -> None:
    """Clear the outputs and execution counts of a notebook about to be saved (in place).

    The signature of Jupyter's ``ContentsManager.pre_save_hook``; other files pass
    through untouched.

    Examples
    --------
    >>> model = {"type": "notebook", "content": {"cells": [{"cell_type": "code",
    ...     "source": "1 + 1", "outputs": [{"output_type": "execute_result"}],
    ...     "execution_count": 3}]}}
    >>> strip_outputs(model=model, path="notebooks/x.ipynb")
    >>> model["content"]["cells"][0]["outputs"], model["content"]["cells"][0]["execution_count"]
    ([], None)
    """
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    for cell in model["content"].get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
