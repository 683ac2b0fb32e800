"""What notebook tests share: a store file of synthetic data, running under papermill and nbmake."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from workbench.capture import ingest
from workbench.datasets import make_music
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[1]


def assert_runs_under_nbmake(
    notebook: Path, *, cwd: Path, store_url: str | None = None, timeout: float = 300
) -> None:
    """Run ``notebook`` with its default parameters under nbmake and assert it passes.

    ``store_url`` becomes ``WORKBENCH_STORE`` (the default parameters read it);
    without one the variable is removed, so the notebook's own default applies
    relative to ``cwd``. The explicit path keeps nbmake from collecting other
    notebooks, such as papermill outputs.
    """
    env = {name: value for name, value in os.environ.items() if name != "WORKBENCH_STORE"}
    if store_url is not None:
        env["WORKBENCH_STORE"] = store_url
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbmake", str(notebook), "-p", "no:cacheprovider", "-q"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "1 passed" in completed.stdout


def music_store(
    path: Path, *, users: int, items: int, days: int, seed: int = 0, tables=("events",)
) -> str:
    """Write ``make_music``'s ``tables`` into a new store file at ``path``; return its URL."""
    url = f"duckdb://{path}"
    store = Store.open(url)
    dataset = make_music(users=users, items=items, days=days, seed=seed)
    for table in tables:
        report = ingest(store, dataset.tables[table], table=table)
        assert report.accepted == dataset.tables[table].num_rows
    return url


def execute(notebook: Path, tmp_path: Path, **parameters: Any) -> tuple[dict, Any]:
    """Run ``notebook`` under papermill, output in ``tmp_path``: its results and the output.

    The kernel runs in the repository, as ``workbench run`` does: the notebooks' default
    scopes are declared in its ``workbench.toml``.
    """
    import nbformat
    import papermill

    from workbench.runs import read_results

    output = tmp_path / notebook.name
    papermill.execute_notebook(
        str(notebook), str(output), parameters=parameters, progress_bar=False, cwd=str(ROOT)
    )
    return read_results(output), nbformat.read(output, as_version=4)


def shown(notebook: Any, mimetype: str) -> list[str]:
    """Every output of ``mimetype`` an executed notebook shows, in order."""
    return [
        out.get("data", {}).get(mimetype, "")
        for cell in notebook.cells
        for out in cell.get("outputs", [])
        if mimetype in out.get("data", {})
    ]


def demo_jobs() -> tuple[str, ...]:
    """The jobs `make demo` runs, in order: the Makefile's DEMO_JOBS is their one home."""
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    at = lines.index("DEMO_JOBS := \\") + 1
    jobs = []
    while True:  # continuation lines: each ends with a backslash but the last
        jobs.append(lines[at].strip(" \t\\"))
        if not lines[at].endswith("\\"):
            return tuple(jobs)
        at += 1
