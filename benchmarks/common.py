"""What every benchmark shares: the machine line and updating its section of RESULTS.md."""

from __future__ import annotations

import os
import platform
import resource
from datetime import UTC, datetime
from pathlib import Path

import duckdb

RESULTS = Path(__file__).with_name("RESULTS.md")
_HEADER = (
    "# Benchmark results\n\nLatest run of each benchmark (`make bench`). "
    "Ratios count; seconds depend on the machine.\n"
)


def machine() -> str:
    """A one-line description of the machine the figures come from."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"DuckDB {duckdb.__version__}, {platform.system()} {platform.machine()}"
    )


def write_section(heading: str, table: str, verdict: str) -> None:
    """Replace (or add) the benchmark's section in RESULTS.md."""
    section = (
        f"{heading}\n\nMeasured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}.\n\n"
        f"{table}\n\n{verdict}\n"
    )
    text = RESULTS.read_text() if RESULTS.exists() else _HEADER
    if heading in text:
        before, _, rest = text.partition(heading)
        after = rest.split("\n## ", 1)
        text = before + section + ("\n## " + after[1] if len(after) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)


def peak_mib() -> float:
    """This process's peak resident memory, in MiB.

    Read from ``VmHWM``: ``ru_maxrss`` survives ``exec`` on Linux, so a child
    started by a parent that holds the data set would report the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
