"""What a run costs beyond its work: `workbench run` against papermill, the demo jobs, `make demo`.

Every figure comes from a command in a fresh process, as a user or a scheduler starts it:

- ``import workbench`` in a fresh interpreter;
- a trivial notebook through ``papermill NOTEBOOK OUT`` (the reference) and through
  ``workbench run NOTEBOOK --force``, alternating, median of ``--repeat``
  (goal: within 0.3 s of papermill);
- the demo in a project like a fresh clone's (``workbench.toml`` and the notebooks
  copied to a temporary folder): each command of ``make demo`` as make runs it
  (``uv run --frozen``), timed part by part (goal: at most 120 s in all, with the
  environment already installed); then each demo job again with ``--force``, which
  is what a parameter change costs (the job runs in full to a new report). Each job's
  wall time is set beside the papermill reference (goal: at most 3x; ``anomaly_scan``
  6x) with its peak memory (kernel included; goal: none above 2 GB);
- ``train_recommender`` (4 models) on a MovieLens-shaped set (943 users, 1,682 tracks,
  ~100k user-track interactions): wall time, the part spent fitting (the models' own
  ``fit_seconds``) and the overhead (wall minus fit) over the papermill reference
  (goal: at most 1.5x).

Run with ``make bench`` (or ``uv run python benchmarks/bench_runs.py --repeat 5``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import duckdb
import nbformat
from common import write_section

SECTION = "## Notebook runs (`benchmarks/bench_runs.py`)"
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
GOAL_IMPORT_SECONDS = 0.3
GOAL_TRIVIAL_SECONDS = 0.3
GOAL_JOB_RATIO = 3.0
GOAL_SCAN_RATIO = 6.0
GOAL_TRAIN_OVERHEAD_RATIO = 1.5
GOAL_DEMO_SECONDS = 120.0
GOAL_PEAK_MIB = 2048.0

# Runs a command and reports its wall time and the peak memory of its largest process
# (the kernel included: a reaped grandchild counts in RUSAGE_CHILDREN). The wrapper is
# small, so what it reports is the command's, not its own.
_MEASURE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "peak_kib": resource.getrusage(
    resource.RUSAGE_CHILDREN).ru_maxrss, "code": done.returncode,
    "stdout": done.stdout[-4000:], "stderr": done.stderr[-4000:]}))
"""


# Python's default is to cache compiled modules; an environment that turns it off makes
# every process compile the workbench's own modules again (the installed libraries were
# compiled when installed), which is not what a user's machine pays.
ENVIRONMENT = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(command: list[str], cwd: Path) -> dict:
    """Seconds, peak MiB and output of ``command`` run from ``cwd`` in a fresh process."""
    completed = subprocess.run(
        [sys.executable, "-c", _MEASURE, *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env=ENVIRONMENT,
    )
    outcome = json.loads(completed.stdout)
    if outcome["code"] != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{outcome['stderr'][-2000:]}")
    outcome["peak_mib"] = outcome.pop("peak_kib") / 1024
    return outcome


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
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=ENVIRONMENT
    )
    return float(completed.stdout)


def trivial_pair(work: Path, repeat: int) -> tuple[float, float]:
    """Median seconds of (workbench run, papermill) on a trivial notebook, alternating."""
    notebook = work / "trivial.ipynb"
    write_notebook(notebook)
    workbench = [str(BIN / "workbench"), "run", str(notebook), "-p", "k=5", "--force"]
    workbench += ["--store", f"duckdb://{work / 'store.duckdb'}", "--reports", str(work / "out")]
    measure([str(BIN / "workbench"), "init", "--store", f"duckdb://{work / 'store.duckdb'}"], work)
    measure(workbench, work)  # warms the file cache
    ours, theirs = [], []
    for run in range(repeat):
        papermill = [str(BIN / "papermill"), "--no-progress-bar", "--log-level", "WARNING"]
        papermill += [str(notebook), str(work / f"out-{run}.ipynb"), "-p", "k", "5"]
        theirs.append(measure(papermill, work)["seconds"])
        ours.append(measure(workbench, work)["seconds"])
        print(f"trivial {run + 1}: workbench {ours[-1]:.2f}s papermill {theirs[-1]:.2f}s")
    return statistics.median(ours), statistics.median(theirs)


def demo_project(folder: Path) -> tuple[Path, list[str]]:
    """A project like a fresh clone's: workbench.toml and the demo's notebooks."""
    project = folder / "project"
    (project / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "workbench.toml", project / "workbench.toml")
    jobs = tomllib.loads((ROOT / "workbench.toml").read_text())["jobs"]
    for job in jobs.values():
        shutil.copy(ROOT / job["notebook"], project / "notebooks")
    return project, demo_jobs()


def demo_jobs() -> list[str]:
    """The jobs ``make demo`` runs, in its order (the Makefile's DEMO_JOBS)."""
    text = (ROOT / "Makefile").read_text().split("DEMO_JOBS := \\\n", 1)[1]
    jobs = []
    for line in text.splitlines():
        jobs.append(line.strip().rstrip("\\").strip())
        if not line.rstrip().endswith("\\"):
            break
    return jobs


def launcher() -> list[str]:
    """How make runs the workbench: ``uv run --frozen`` (from the project), else the venv."""
    uv = shutil.which("uv") or str(Path.home() / ".local/bin/uv")
    if Path(uv).exists():
        return [uv, "run", "--frozen", "--project", str(ROOT)]
    return []


def fitted_seconds(store: Path, job: str) -> float | None:
    """Seconds the newest run of ``job`` spent fitting models, from its recorded metrics."""
    with duckdb.connect(str(store), read_only=True) as con:
        row = con.execute(
            "SELECT results FROM runs WHERE job = ? ORDER BY started_at DESC LIMIT 1", [job]
        ).fetchone()
    metrics = json.loads(row[0] or "{}").get("metrics") if row else None
    if not isinstance(metrics, dict):
        return None
    fits = [m.get("fit_seconds") for m in metrics.values() if isinstance(m, dict)]
    return sum(f for f in fits if isinstance(f, int | float)) or None


def run_demo(folder: Path) -> tuple[list[tuple[str, float]], list[dict]]:
    """``make demo``'s commands part by part, then every demo job again with ``--force``."""
    project, jobs = demo_project(folder)
    store = project / "data" / "workbench.duckdb"
    uv = launcher()
    sync = ["sync", "--frozen", "--extra", "service", "--extra", "lab"]
    parts = []
    if uv:
        seconds = measure([uv[0], *sync, "--project", str(ROOT)], project)["seconds"]
        parts.append(("uv sync (environment already installed)", seconds))
    wb = [*uv, "workbench"] if uv else [str(BIN / "workbench")]
    steps = [
        ["init"],
        ["generate", "music", "--start", "recent"],
        ["generate", "ads", "--users", "20000", "--start", "recent"],
        ["generate", "metrics", "--start", "recent"],
        ["status"],
        *(["run", job] for job in jobs),
        ["truth"],
    ]
    for step in steps:
        outcome = measure([*wb, *step], project)
        parts.append((f"workbench {' '.join(step)}", outcome["seconds"]))
        print(f"demo: workbench {' '.join(step)} {outcome['seconds']:.1f}s", flush=True)
    reruns = []
    for job in jobs:
        outcome = measure([str(BIN / "workbench"), "run", job, "--force"], project)
        reruns.append(
            {
                "job": job,
                "seconds": outcome["seconds"],
                "peak_mib": outcome["peak_mib"],
                "fit": fitted_seconds(store, job),
            }
        )
        print(f"rerun {job}: {outcome['seconds']:.1f}s {outcome['peak_mib']:.0f} MiB", flush=True)
    return parts, reruns


def run_movielens_shaped(folder: Path) -> dict:
    """train_recommender's 4 models on ~100k user-track interactions (943 x 1,682)."""
    project = folder / "movielens"
    (project / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "workbench.toml", project / "workbench.toml")
    shutil.copy(ROOT / "notebooks" / "train_recommender.ipynb", project / "notebooks")
    wb = str(BIN / "workbench")
    measure([wb, "init"], project)
    shape = ["--users", "943", "--items", "1682", "--days", "140"]
    measure([wb, "generate", "music", *shape], project)
    with duckdb.connect(str(project / "data" / "workbench.duckdb"), read_only=True) as con:
        pairs = con.execute(
            "SELECT count(*) FROM (SELECT DISTINCT user_id, item_id FROM events "
            "WHERE event_type IN ('play', 'like'))"
        ).fetchone()[0]
    outcome = measure([wb, "run", "train_recommender", "--force"], project)
    return {
        "seconds": outcome["seconds"],
        "peak_mib": outcome["peak_mib"],
        "fit": fitted_seconds(project / "data" / "workbench.duckdb", "train_recommender"),
        "pairs": pairs,
    }


def verdict(met: bool) -> str:
    return "met" if met else "**not met**"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()

    imported = statistics.median(import_seconds() for _ in range(max(args.repeat, 5)))
    with tempfile.TemporaryDirectory(prefix="bench-runs-") as folder:
        work = Path(folder)
        wb, pm = trivial_pair(work, args.repeat)
        movielens = run_movielens_shaped(work)
        parts, reruns = run_demo(work)

    rows = [
        "| figure | workbench | reference: papermill, trivial notebook | ratio | goal |",
        "|---|---|---|---|---|",
        f"| `import workbench`, fresh interpreter | {imported:.3f} s | | | <= 0.3 s: "
        f"{verdict(imported <= GOAL_IMPORT_SECONDS)} |",
        f"| trivial notebook, `workbench run` (median of {args.repeat}) | {wb:.2f} s | "
        f"{pm:.2f} s | {wb / pm:.2f} | within 0.3 s: "
        f"{verdict(wb - pm <= GOAL_TRIVIAL_SECONDS)} ({wb - pm:+.2f} s) |",
    ]
    fit = movielens["fit"] or 0.0
    overhead = movielens["seconds"] - fit
    rows.append(
        f"| `train_recommender`, 4 models, {movielens['pairs']:,} user-track pairs played or "
        f"liked: wall "
        f"{movielens['seconds']:.1f} s, fit {fit:.1f} s, peak {movielens['peak_mib']:,.0f} MiB; "
        f"overhead (wall - fit) | {overhead:.1f} s | {pm:.2f} s | {overhead / pm:.2f} | "
        f"<= {GOAL_TRAIN_OVERHEAD_RATIO}x: {verdict(overhead / pm <= GOAL_TRAIN_OVERHEAD_RATIO)} |"
    )
    for rerun in reruns:
        limit = GOAL_SCAN_RATIO if rerun["job"] == "anomaly_scan" else GOAL_JOB_RATIO
        ratio = rerun["seconds"] / pm
        fitting = f", fit {rerun['fit']:.1f} s" if rerun["fit"] else ""
        rows.append(
            f"| demo `{rerun['job']}`, rerun to a new report{fitting}; peak "
            f"{rerun['peak_mib']:,.0f} MiB | {rerun['seconds']:.1f} s | {pm:.2f} s | "
            f"{ratio:.2f} | <= {limit:g}x: {verdict(ratio <= limit)} |"
        )
    demo_total = sum(seconds for _, seconds in parts)
    peak = max(r["peak_mib"] for r in reruns)
    rows.append(
        f"| `make demo`, environment installed (parts below) | {demo_total:.0f} s | | | "
        f"<= {GOAL_DEMO_SECONDS:.0f} s: {verdict(demo_total <= GOAL_DEMO_SECONDS)} |"
    )
    rows.append(
        f"| largest peak memory of a demo job | {peak:,.0f} MiB | | | <= 2 GB: "
        f"{verdict(peak <= GOAL_PEAK_MIB)} |"
    )
    table = "\n".join(rows)
    breakdown = "`make demo` part by part: " + "; ".join(
        f"{name} {seconds:.1f} s" for name, seconds in parts
    )
    notes = (
        f"{breakdown}.\n\nEvery figure is one command in a fresh process, started as a user "
        "types it; a rerun is `workbench run JOB --force` in the demo's project, which costs "
        "what a parameter change costs. Peak memory is the largest process of the command "
        f"(the kernel included). {os.cpu_count()} cores; the figures move with the machine's "
        "load, the ratios much less. Commands run with Python's bytecode cache on (its default)."
    )
    print()
    print(table)
    print(notes)
    if not args.no_write:
        write_section(SECTION, table, notes)


if __name__ == "__main__":
    main()
