"""Recorded results: written by a real notebook kernel, read back from the executed file."""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest

from workbench.exceptions import InvalidArgument, WorkbenchError
from workbench.runs import read_results, record, recorded


def _notebook(path, *cells: str, parameters: str = "") -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    parameter_cell = nbformat.v4.new_code_cell(parameters)
    parameter_cell.metadata["tags"] = ["parameters"]
    notebook.cells = [parameter_cell, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nbformat.write(notebook, path)


@pytest.mark.slow
def test_results_recorded_in_a_papermill_run_can_be_read_back(tmp_path):
    import papermill

    source, output = tmp_path / "job.ipynb", tmp_path / "out.ipynb"
    _notebook(
        source,
        "import numpy as np\nfrom workbench.runs import record",
        "record('rows', rows)\nrecord('metrics', {'ndcg@10': np.float64(0.25), 'k': np.int64(10)})",
        "record('rows', rows * 2)  # a later record of the same name wins",
        parameters="rows = 3",
    )
    papermill.execute_notebook(
        str(source), str(output), parameters={"rows": 21}, progress_bar=False
    )

    assert read_results(output) == {"rows": 42, "metrics": {"ndcg@10": 0.25, "k": 10}}
    assert read_results(source) == {}


def test_record_outside_a_kernel_keeps_the_value_in_process():
    assert record("best_model", "ease") == "ease"
    record("scores", np.array([0.5, 0.25]))
    assert recorded()["best_model"] == "ease"
    assert recorded()["scores"] == [0.5, 0.25]


@pytest.mark.parametrize("value", [float("nan"), object(), {"inner": float("inf")}])
def test_values_json_cannot_hold_are_refused_with_advice(value):
    with pytest.raises(InvalidArgument, match="record"):
        record("bad", value)


def test_reading_results_from_something_that_is_not_a_notebook(tmp_path):
    with pytest.raises(WorkbenchError, match="No notebook"):
        read_results(tmp_path / "missing.ipynb")
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(WorkbenchError, match="not a notebook"):
        read_results(tmp_path / "plain.txt")
    (tmp_path / "list.ipynb").write_text(json.dumps([1, 2]))
    with pytest.raises(WorkbenchError, match="not a notebook"):
        read_results(tmp_path / "list.ipynb")
