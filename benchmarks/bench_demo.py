"""The demo's answers against its planted truth, and what each part of it costs.

Runs what ``make demo`` runs, on a fresh store in a temporary folder, each step as the
command a user types (a fresh process): generate the three sets (``--start recent``),
each demo job through ``workbench run``, then ``workbench truth --json``. Prints and
records the headline numbers beside their references (the planted-taste oracle and
the popularity list on the champion's holdout, the planted lift, the planted anomalies)
and the seconds of every step.

Run with ``make bench`` (or ``uv run python benchmarks/bench_demo.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write_section

SECTION = "## The demo against its planted truth (`benchmarks/bench_demo.py`)"
REPO = Path(__file__).resolve().parents[1]
WORKBENCH = str(Path(sys.executable).parent / "workbench")


def demo_jobs() -> tuple[str, ...]:
    """The jobs `make demo` runs, in order: the Makefile's DEMO_JOBS is their one home."""
    lines = (REPO / "Makefile").read_text(encoding="utf-8").splitlines()
    at = lines.index("DEMO_JOBS := \\") + 1
    jobs = []
    while True:  # continuation lines: each ends with a backslash but the last
        jobs.append(lines[at].strip(" \t\\"))
        if not lines[at].endswith("\\"):
            return tuple(jobs)
        at += 1


def timed(command: list[str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    # `workbench truth` exits 1 when a check fails: its JSON still says which.
    allowed = (0, 1) if command[1] == "truth" else (0,)
    if done.returncode not in allowed:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return seconds, done.stdout


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as folder:
        store = f"duckdb://{Path(folder) / 'workbench.duckdb'}"
        steps = []
        for kind, extra in (("music", []), ("ads", ["--users", "20000"]), ("metrics", [])):
            command = [WORKBENCH, "generate", kind, "--start", "recent", *extra, "--store", store]
            steps.append((f"generate {kind}", timed(command, REPO)[0]))
        reports = str(Path(folder) / "reports")
        for job in demo_jobs():
            command = [WORKBENCH, "run", job, "--store", store, "--reports", reports]
            steps.append((f"run {job}", timed(command, REPO)[0]))
        seconds, output = timed([WORKBENCH, "truth", "--json", "--store", store], REPO)
        steps.append(("truth", seconds))
    truth = json.loads(output)
    checks = {check["name"]: check for check in truth["checks"]}
    rec = checks["recommender"]["figures"]
    readout = checks["readout"]["figures"]
    scan = checks["anomaly scan"]["figures"]
    rows = [
        "| answer | workbench | reference | ratio / verdict |",
        "|---|---|---|---|",
        f"| champion nDCG@10 ({rec['champion']}) vs the planted-taste oracle | "
        f"{rec['ndcg_at_10']:.3f} | {rec['oracle_ndcg_at_10']:.3f} | {rec['oracle_share']:.2f} "
        "(goal >= 0.8) |",
        f"| champion nDCG@10 vs popularity, same holdout | {rec['ndcg_at_10']:.3f} | "
        f"{rec['popularity_ndcg_at_10']:.3f} | {rec['popularity_ratio']:.1f}x (goal >= 1.5x) |",
        f"| readout lift of sum:click (95% CI) vs the planted lift | {readout['lift']:+.1%} "
        f"({readout['low']:+.1%} to {readout['high']:+.1%}) | {readout['planted']:+.1%} | "
        f"{'inside' if readout['low'] <= readout['planted'] <= readout['high'] else 'outside'} |",
        f"| anomaly scan: planted anomalies in the window alerted | "
        f"{round(scan['recall'] * scan['planted'])} of {scan['planted']} | "
        f"{scan['alerts']} alerts at budget {scan['budget']} | recall {scan['recall']:.2f} |",
    ]
    for name in ("stored lists", "skips", "sample ratio"):
        rows.append(
            f"| {name} | {checks[name]['detail']} | | {'ok' if checks[name]['passed'] else 'FAIL'} |"
        )
    table = "\n".join(rows)
    timing = "\n".join(
        ["| step (a fresh process each) | seconds |", "|---|---|"]
        + [f"| {name} | {seconds:.1f} |" for name, seconds in steps]
        + [f"| total | {sum(s for _, s in steps):.1f} |"]
    )
    verdict = "Every check against the planted truth: " + (
        "passed." if truth["passed"] else "NOT all passed (see the table)."
    )
    print(table, timing, verdict, sep="\n\n")
    write_section(SECTION, table + "\n\n" + timing, verdict)


if __name__ == "__main__":
    main()
