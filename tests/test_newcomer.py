"""A newcomer's first hour: the project is found from any of its folders, and JupyterLab
keeps the committed notebooks clean.

Each test does what a person would: run a command from ``notebooks/``, Run All a
notebook whose kernel starts there (as in ``make lab``), save a notebook from a real
Jupyter server started with ``make lab``'s settings.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nbformat
import pytest
from notebook_support import assert_runs_under_nbmake, music_store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path) -> Path:
    """A project folder like a fresh clone's: workbench.toml, notebooks/, a demo store."""
    shutil.copy(ROOT / "workbench.toml", tmp_path / "workbench.toml")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "data").mkdir()
    music_store(tmp_path / "data" / "workbench.duckdb", users=40, items=60, days=40)
    return tmp_path


def _env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name != "WORKBENCH_STORE"}


def test_a_command_in_a_subfolder_reads_the_projects_store(project):
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "status", "--json"],
        cwd=project / "notebooks",
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["store"] == str(project / "data" / "workbench.duckdb")
    assert not (project / "notebooks" / "data").exists()  # no stray empty store


@pytest.mark.slow
def test_run_all_in_the_notebooks_folder_reads_the_projects_store(project):
    # JupyterLab starts each kernel in the notebook's folder; nbmake does the same.
    notebook = project / "notebooks" / "data_health.ipynb"
    shutil.copy(ROOT / "notebooks" / "data_health.ipynb", notebook)
    assert_runs_under_nbmake(notebook, cwd=project / "notebooks")
    assert not (project / "notebooks" / "data").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _lab_options() -> list[str]:
    """The options `make lab` gives JupyterLab, read from the Makefile itself."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    hook = next(
        word for word in makefile.split() if word.startswith("--ContentsManager.pre_save_hook=")
    )
    return [hook]


@pytest.mark.slow
def test_a_notebook_saved_in_jupyter_keeps_no_outputs(tmp_path):
    port, token = _free_port(), "newcomer-test"
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 + 1")
    cell.outputs = [
        nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)
    ]
    cell.execution_count = 1
    notebook.cells = [cell]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "server",
            "--no-browser",
            f"--ServerApp.port={port}",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.root_dir={tmp_path}",
            f"--IdentityProvider.token={token}",
            "--ServerApp.allow_root=True",
            *_lab_options(),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    headers = {"Authorization": f"token {token}"}
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:  # readiness: the server answers its status endpoint
            assert server.poll() is None, server.stderr.read()
            try:
                if httpx.get(f"{base}/api/status", headers=headers, timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "jupyter server did not start in 120 s"
            time.sleep(0.2)
        saved = httpx.put(
            f"{base}/api/contents/report.ipynb",
            headers=headers,
            json={"type": "notebook", "format": "json", "content": notebook},
            timeout=60,
        )
        assert saved.status_code in (200, 201), saved.text
    finally:
        server.terminate()
        server.wait(timeout=60)
    on_disk = nbformat.read(tmp_path / "report.ipynb", as_version=4)
    assert on_disk.cells[0].source == "1 + 1"
    assert on_disk.cells[0].outputs == [] and on_disk.cells[0].execution_count is None


def test_a_command_waiting_for_a_busy_store_says_who_holds_it(project):
    import threading

    from workbench.store import Store

    store = Store.open(f"duckdb://{project / 'data' / 'workbench.duckdb'}")
    holding, release = threading.Event(), threading.Event()

    def hold():
        with store.writing():
            holding.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(30)
        waiting = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "status"],
            cwd=project,
            env={**_env(), "WORKBENCH_LOCK_TIMEOUT": "120"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        first = waiting.stderr.readline()  # said while it waits, before it gives up
        assert first.startswith("Waiting for the store") and f"pid {os.getpid()}" in first
    finally:
        release.set()
        holder.join()
    out, _ = waiting.communicate(timeout=120)
    assert waiting.returncode == 0 and "events" in out


@pytest.mark.slow
def test_run_all_works_on_every_notebook_in_the_order_the_demo_runs_them(tmp_path):
    """After generating the demo's data, each notebook's Run All (kernel in notebooks/, its
    own defaults) gives its answer, as in `make lab`: no parameter to fix by hand."""
    import tomllib

    from notebook_support import demo_jobs

    project = tmp_path
    shutil.copy(ROOT / "workbench.toml", project / "workbench.toml")
    (project / "notebooks").mkdir()
    for command in (
        ["generate", "music", "--users", "300", "--items", "300", "--days", "21"],
        ["generate", "ads", "--users", "6000", "--days", "10"],
        ["generate", "metrics", "--series", "8", "--days", "21"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "workbench.cli", *command, "--start", "recent"],
            cwd=project,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    jobs = tomllib.loads((ROOT / "workbench.toml").read_text())["jobs"]
    for job in demo_jobs():
        source = ROOT / jobs[job]["notebook"]
        notebook = project / "notebooks" / source.name
        shutil.copy(source, notebook)
        assert_runs_under_nbmake(notebook, cwd=project / "notebooks", timeout=900)
    assert not (project / "notebooks" / "data").exists()
