"""Hostile clients against the service: does one client's abuse delay another's POST?

Starts ``workbench serve`` on loopback with a fresh store and measures a well-behaved
client's ``POST /events`` latency (one event per request, sequential), first alone
(the reference, same run), then while hostile clients run on the same server:

- a client posting an event with 20,000 extra keys (389 KB), request after request;
- 50 connections trickling a request's headers one byte per second.

Budget: the well-behaved client's p99 under attack stays within 250 ms of its p99
alone (one such request used to hold the store for 143 s), and every hostile request is refused (422) or cut off (408), never stored.

Run with ``make bench`` (or ``uv run python benchmarks/bench_hostile.py``).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from common import write_section

SECTION = "## Hostile clients against the service (`benchmarks/bench_hostile.py`)"
REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token-0123456789"
SAMPLES = 100
BUDGET_MS = 250.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(folder: Path, port: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(WORKBENCH_TOKEN=TOKEN, PYTHONPATH=str(REPO))
    (folder / "workbench.toml").write_text("[service]\nread_timeout_seconds = 10\n")
    command = [
        sys.executable,
        "-m",
        "workbench.service",
        "--port",
        str(port),
        "--store",
        f"duckdb://{folder / 'bench.duckdb'}",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=folder, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the service did not start")


def event(event_id: str, **extra) -> dict:
    return {
        "event_id": event_id,
        "ts": "2026-03-01T12:00:00Z",
        "user_id": "u1",
        "event_type": "play",
        **extra,
    }


def latencies(client: httpx.Client, prefix: str) -> np.ndarray:
    seconds = []
    for i in range(SAMPLES):
        started = time.perf_counter()
        answer = client.post("/events", json={"events": [event(f"{prefix}-{i}")]})
        seconds.append(time.perf_counter() - started)
        assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.text
    return np.array(seconds) * 1000


def main() -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with tempfile.TemporaryDirectory() as tmp:
        folder, port = Path(tmp), free_port()
        server = start(folder, port)
        base = f"http://127.0.0.1:{port}"
        try:
            with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                latencies(client, "warm")
                alone = latencies(client, "alone")
                stop, outcomes = threading.Event(), []
                wide = json.dumps(
                    {"events": [event("wide", **{f"key_{i:05d}": i for i in range(20_000)})]}
                ).encode()

                def post_wide():
                    with httpx.Client(base_url=base, headers=headers, timeout=60) as hostile:
                        while not stop.is_set():
                            outcomes.append(
                                hostile.post(
                                    "/events",
                                    content=wide,
                                    headers={"content-type": "application/json"},
                                ).status_code
                            )

                def trickle():
                    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
                    try:
                        conn.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\n")
                        while not stop.is_set():
                            conn.sendall(b"x")
                            time.sleep(1)
                    except OSError:
                        outcomes.append("cut")  # the server closed it
                    finally:
                        conn.close()

                threads = [threading.Thread(target=post_wide)]
                threads += [threading.Thread(target=trickle) for _ in range(50)]
                for thread in threads:
                    thread.start()
                time.sleep(1.0)
                attacked = latencies(client, "attacked")
                stop.set()
                for thread in threads:
                    thread.join(60)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(120)
        from workbench.store import Store

        wide_stored = (
            Store.open(f"duckdb://{folder / 'bench.duckdb'}")
            .sql("SELECT count(*) AS n FROM events WHERE event_id = 'wide'")
            .to_pylist()[0]["n"]
        )
    p50 = (float(np.percentile(alone, 50)), float(np.percentile(attacked, 50)))
    p99 = (float(np.percentile(alone, 99)), float(np.percentile(attacked, 99)))
    refused = sum(1 for o in outcomes if o == 422)
    cut = sum(1 for o in outcomes if o == "cut")
    table = (
        "| one-event POST /events (ms) | alone (reference) | under attack | difference |\n"
        "|---|---|---|---|\n"
        f"| p50 | {p50[0]:.1f} | {p50[1]:.1f} | {p50[1] - p50[0]:+.1f} |\n"
        f"| p99 | {p99[0]:.1f} | {p99[1]:.1f} | {p99[1] - p99[0]:+.1f} |\n\n"
        f"Attack: a client posting a 20,000-key event request after request ({refused} requests, all "
        f"answered 422; {wide_stored} stored), 50 connections trickling headers ({cut} cut off "
        f"by the server's read timeout). {SAMPLES} samples each."
    )
    met = p99[1] - p99[0] <= BUDGET_MS and wide_stored == 0 and set(outcomes) <= {422, "cut"}
    verdict = (
        f"Budget: p99 within {BUDGET_MS:.0f} ms of the p99 alone, no hostile request stored: "
        + ("**met**." if met else "**not met**.")
    )
    print(table)
    print(verdict)
    write_section(SECTION, table, verdict)


if __name__ == "__main__":
    main()
