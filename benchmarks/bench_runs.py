"""Run overhead: `import workbench`, and `workbench run` against plain papermill.

Two figures a scheduler pays on every run:

- the time to ``import workbench`` in a fresh interpreter (goal <= 0.3 s), and
- a trivial notebook run through ``workbench run NOTEBOOK --force`` (parameters
  checked, digests, the run record, the HTML report, the index) against
  ``papermill NOTEBOOK OUT`` on the same notebook, both as the commands a user types,
  alternating, median of ``--repeat``. The difference is the workbench's overhead
  (goal: within 0.5 s of papermill alone). The same pair is also measured in one
  process (``run_job`` against ``papermill.execute_notebook``), where neither pays
  for starting Python.

Run with ``make bench`` (or ``uv run python benchmarks/bench_runs.py --repeat 5``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from common import write_section

SECTION = "## Notebook runs (`benchmarks/bench_runs.py`)"
GOAL_IMPORT_SECONDS = 0.3
GOAL_OVERHEAD_SECONDS = 0.5
BIN = Path(sys.executable).parent


def write_notebook(path: Path) -> None:
    """A trivial notebook: a parameters cell and one recorded result."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    parameters = nbformat.v4.new_code_cell("k = 3")
    parameters.metadata["tags"] = ["parameters"]
    record = nbformat.v4.new_code_cell("from workbench.runs import record\nrecord('k', k)")
    notebook.cells = [parameters, record]
    nbformat.write(notebook, path)


def import_seconds() -> float:
    """Seconds to import workbench in a fresh interpreter (measured inside it)."""
    code = "import time; t = time.perf_counter(); import workbench; print(time.perf_counter() - t)"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return float(completed.stdout)


def command_seconds(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{completed.stderr[-2000:]}")
    return seconds


def in_process_seconds(work: Path, notebook: Path, run: int) -> tuple[float, float]:
    """(run_job, papermill.execute_notebook) seconds for the notebook, in this process."""
    import papermill

    from workbench.runs import run_job
    from workbench.runs.jobs import Job

    started = time.perf_counter()
    papermill.execute_notebook(
        str(notebook), str(work / f"pm-{run}.ipynb"), parameters={"k": 5}, progress_bar=False
    )
    papermill_seconds = time.perf_counter() - started
    started = time.perf_counter()
    finished = run_job(
        Job(name="trivial", notebook=notebook),
        parameters={"k": 5},
        store=f"duckdb://{work / 'store.duckdb'}",
        reports=work / "reports",
        locks=work / "locks",
        force=True,
    )
    workbench_seconds = time.perf_counter() - started
    assert finished.results == {"k": 5}, finished
    return workbench_seconds, papermill_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()

    imports = [import_seconds() for _ in range(max(args.repeat, 5))]
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as folder:
        work = Path(folder)
        notebook = work / "trivial.ipynb"
        write_notebook(notebook)
        store = f"duckdb://{work / 'store.duckdb'}"
        workbench_cli = [
            str(BIN / "workbench"),
            "run",
            str(notebook),
            "-p",
            "k=5",
            "--force",
            "--store",
            store,
            "--reports",
            str(work / "reports"),
        ]
        command_seconds(workbench_cli, work)  # warm the file cache and create the store
        cli_wb, cli_pm, lib_wb, lib_pm = [], [], [], []
        for run in range(args.repeat):
            papermill_cli = [
                str(BIN / "papermill"),
                "--no-progress-bar",
                "--log-level",
                "WARNING",
                str(notebook),
                str(work / f"out-{run}.ipynb"),
                "-p",
                "k",
                "5",
            ]
            cli_pm.append(command_seconds(papermill_cli, work))
            cli_wb.append(command_seconds(workbench_cli, work))
            workbench_seconds, papermill_seconds = in_process_seconds(work, notebook, run)
            lib_wb.append(workbench_seconds)
            lib_pm.append(papermill_seconds)
            print(
                f"run {run + 1}: commands workbench {cli_wb[-1]:.2f}s papermill {cli_pm[-1]:.2f}s; "
                f"in process workbench {lib_wb[-1]:.2f}s papermill {lib_pm[-1]:.2f}s"
            )

    imported = statistics.median(imports)
    wb, pm = statistics.median(cli_wb), statistics.median(cli_pm)
    in_wb, in_pm = statistics.median(lib_wb), statistics.median(lib_pm)
    overhead = wb - pm
    table = "\n".join(
        [
            f"| figure (median of {args.repeat}) | workbench | reference (papermill) | difference |",
            "|---|---|---|---|",
            f"| `import workbench`, fresh interpreter (s) | {imported:.3f} | | |",
            f"| trivial notebook, as commands (s) | {wb:.2f} | {pm:.2f} | {overhead:+.2f} |",
            f"| trivial notebook, in one process (s) | {in_wb:.2f} | {in_pm:.2f} | {in_wb - in_pm:+.2f} |",
        ]
    )
    met_import = imported <= GOAL_IMPORT_SECONDS
    met_overhead = overhead <= GOAL_OVERHEAD_SECONDS
    goal = (
        f"Goals: import <= {GOAL_IMPORT_SECONDS} s: {'met' if met_import else 'not met'} "
        f"({imported:.3f} s); run overhead <= {GOAL_OVERHEAD_SECONDS} s over papermill: "
        f"{'met' if met_overhead else 'not met'} ({overhead:+.2f} s as commands, "
        f"{in_wb - in_pm:+.2f} s in one process)."
    )
    print()
    print(table)
    print(goal)
    if not args.no_write:
        write_section(SECTION, table, goal)


if __name__ == "__main__":
    main()
