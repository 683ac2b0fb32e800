"""The ``workbench`` command: what it prints, where it writes, and how it fails.

Exit statuses and error output are checked on real processes (through ``main``);
the rest runs in-process with Typer's test runner, which is much faster.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from workbench.cli import app
from workbench.store import Store

README = Path(__file__).resolve().parents[1] / "README.md"
COMMANDS = sorted(typer.main.get_command(app).commands)

# Five rows: two accepted, one without a user, one with a broken time, one repeat.
EVENTS_CSV = """\
event_id,ts,user_id,item_id,event_type
e1,2026-01-01T10:00:00Z,u1,i1,play
e2,2026-01-01T11:00:00Z,,i2,play
e3,not a time,u3,i3,play
e1,2026-01-01T10:00:00Z,u1,i1,play
e4,2026-01-02T10:00:00Z,u4,i4,like
"""


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path, monkeypatch):
    """Commands run in-process read workbench.toml and write files in the test's folder."""
    monkeypatch.chdir(tmp_path)


def run_workbench(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """Run ``workbench ARGS`` as its own process, the way a shell would."""
    return subprocess.run(
        [sys.executable, "-m", "workbench.cli", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def invoke(*args: str) -> str:
    """Run ``workbench ARGS`` in this process; return its standard output."""
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.stdout


def invoke_json(*args: str):
    return json.loads(invoke(*args, "--json"))


@pytest.fixture
def url(tmp_path) -> str:
    return f"duckdb://{tmp_path / 'store.duckdb'}"


@pytest.fixture
def events_csv(tmp_path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(EVENTS_CSV)
    return path


# --- init, ingest, generate, status, quarantine ------------------------------------------


def test_init_creates_the_default_store_and_a_config_in_the_current_folder(tmp_path):
    done = run_workbench("init", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "data" / "workbench.duckdb").is_file()
    config = tomllib.loads((tmp_path / "workbench.toml").read_text())
    assert config["store"]["url"] == "duckdb://data/workbench.duckdb"
    assert "data/workbench.duckdb" in done.stdout


def test_init_keeps_an_existing_config_and_later_commands_follow_it(tmp_path):
    first = invoke_json("init", "--store", "duckdb://elsewhere.duckdb")
    assert first["config"] == str(tmp_path / "workbench.toml")
    assert first["store"] == str(tmp_path / "elsewhere.duckdb")
    assert "events" in first["tables"]

    again = invoke_json("init")
    assert again["config"] is None  # not overwritten
    assert again["store"] == str(tmp_path / "elsewhere.duckdb")
    assert not (tmp_path / "data").exists()


def test_ingest_reports_where_every_row_went(url, events_csv):
    report = invoke_json("ingest", str(events_csv), "--store", url)

    assert report["status"] == "committed"
    counts = {key: report[key] for key in ("rows_in", "accepted", "quarantined", "duplicates")}
    assert counts == {"rows_in": 5, "accepted": 2, "quarantined": 2, "duplicates": 1}
    assert sum(report["reasons"].values()) == report["quarantined"]
    assert "user_id is missing" in report["reasons"]


def test_ingest_without_json_prints_a_summary_and_where_to_look(url, events_csv):
    output = invoke("ingest", str(events_csv), "--store", url)

    assert "5 rows in, 2 accepted, 2 quarantined, 1 duplicates" in output
    assert "workbench quarantine --batch" in output


def test_map_names_the_source_column_of_a_table_column(url, tmp_path):
    renamed = tmp_path / "customers.csv"
    renamed.write_text(EVENTS_CSV.replace("user_id", "customer_id", 1))

    report = invoke_json("ingest", str(renamed), "--map", "user_id=customer_id", "--store", url)

    assert (report["accepted"], report["quarantined"]) == (2, 2)
    stored = Store.open(url).sql("SELECT event_id, user_id FROM events ORDER BY event_id")
    assert stored.to_pylist() == [
        {"event_id": "e1", "user_id": "u1"},
        {"event_id": "e4", "user_id": "u4"},
    ]


def test_generate_ingests_the_data_set_and_writes_its_truth(url, tmp_path):
    args = ("generate", "music", "--users", "30", "--items", "40", "--days", "5", "--seed", "1")
    first = invoke_json(*args, "--store", url)

    batches = {b["table"]: b for b in first["batches"]}
    assert set(batches) == {"events", "items", "users"}
    assert {b["status"] for b in batches.values()} == {"committed"}
    assert (batches["users"]["accepted"], batches["items"]["accepted"]) == (30, 40)
    for batch in batches.values():
        assert batch["rows_in"] == batch["accepted"] + batch["quarantined"] + batch["duplicates"]
    assert Path(first["truth"]) == tmp_path / "truth" / "music.json"
    assert isinstance(json.loads(Path(first["truth"]).read_text()), dict)

    again = invoke_json(*args, "--store", url)
    assert [b["status"] for b in again["batches"]] == ["already_ingested"] * 3
    assert {b["table"]: b["previous_batch_id"] for b in again["batches"]} == {
        table: batch["batch_id"] for table, batch in batches.items()
    }


def test_status_counts_what_was_ingested(url, events_csv):
    generated = invoke_json(
        "generate", "music", "--users", "30", "--items", "40", "--days", "5", "--store", url
    )
    ingested = invoke_json("ingest", str(events_csv), "--store", url)

    status = invoke_json("status", "--store", url)

    accepted = {b["table"]: b["accepted"] for b in generated["batches"]}
    tables = status["tables"]
    assert tables["events"] == accepted["events"] + ingested["accepted"]
    assert (tables["users"], tables["items"]) == (accepted["users"], accepted["items"])
    assert tables["quarantine"] == ingested["quarantined"]
    assert tables["batches"] == 4
    assert status["latest_batches"][0]["batch_id"] == ingested["batch_id"]
    assert status["store"] == Store.open(url).location


def test_status_without_json_lists_the_tables(url, events_csv):
    invoke("ingest", str(events_csv), "--store", url)

    output = invoke("status", "--store", url)

    assert "events" in output and "quarantine" in output and "events.csv" in output


def test_quarantine_lists_the_rows_of_one_batch_with_their_reasons(url, events_csv, tmp_path):
    batch = invoke_json("ingest", str(events_csv), "--store", url)["batch_id"]
    other = tmp_path / "other.csv"
    other.write_text("event_id,ts,user_id,event_type\nx1,yesterday,u1,play\n")
    assert invoke_json("ingest", str(other), "--store", url)["quarantined"] == 1

    rows = invoke_json("quarantine", "--batch", batch, "--store", url)

    assert [(r["batch_id"], r["row_number"]) for r in rows] == [(batch, 2), (batch, 3)]
    assert rows[0]["reason"] == "user_id is missing"
    assert "not a time" in rows[1]["reason"]
    assert rows[1]["raw"] == "e3,not a time,u3,i3,play"


# --- errors: one line, status 1, no traceback --------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["ingest", "events.csv", "--map", "user_id"], "--map 'user_id'"),
        (["ingest", "events.csv", "--map", "=customer_id"], "--map '=customer_id'"),
        (["ingest", "missing.csv"], "No such file"),
        (["ingest", "."], "is a directory"),
        (["ingest", "events.csv", "--table", "nope"], "'nope'"),
        (["ingest", "events.csv", "--format", "xlsx"], "'xlsx'"),
        (["generate", "music", "--series", "3"], "--series"),
        (["generate", "movies"], "'movies'"),
    ],
    ids=[
        "map-without-equals",
        "map-without-target",
        "missing-file",
        "directory",
        "unknown-table",
        "unknown-format",
        "option-of-another-kind",
        "unknown-kind",
    ],
)
def test_mistakes_give_one_error_line_and_status_1(args, expected, tmp_path, events_csv):
    done = run_workbench(*args, "--store", "duckdb://store.duckdb", cwd=tmp_path)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error: ")
    assert expected in done.stderr
    # A mistyped command leaves no store behind.
    assert not (tmp_path / "store.duckdb").exists()


def test_serve_without_the_service_extra_says_what_to_install(tmp_path):
    # An environment installed without the `service` extra: neither library imports.
    hidden = tmp_path / "without-service"
    hidden.mkdir()
    for name in ("fastapi", "uvicorn"):
        (hidden / f"{name}.py").write_text(f'raise ImportError("No module named {name}")\n')
    path = os.pathsep.join([str(hidden), os.environ.get("PYTHONPATH", "")])
    done = run_workbench("serve", "--store", "duckdb://store.duckdb", cwd=tmp_path, PYTHONPATH=path)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.startswith("error: The service needs fastapi and uvicorn")
    assert "pip install 'village-workbench[service]'" in done.stderr


# Every command, driven wrong three ways: an unknown option, a missing argument, a bad value.
USAGE_MISTAKES = [
    (["statuss"], "No such command 'statuss'"),
    (["ingest"], "Missing argument"),
    (["ingest", "events.csv", "--tabel", "events"], "No such option: --tabel"),
    (["recommend", "u1", "--k", "abc"], "Invalid value for '--k'"),
    (["recommend", "u1", "--k", "0"], "Invalid value for '--k'"),
    (["runs", "list", "--limit", "-5"], "Invalid value for '--limit'"),
    (["runs", "show"], "Missing argument"),
    (["models", "promote", "recommender@1", "--to", "x", "--bogus"], "No such option"),
    (["experiments", "readout"], "Missing argument"),
    (["anomaly", "queue", "--size", "many"], "Invalid value for '--size'"),
    (["schedule", "tick", "--nope"], "No such option"),
    (["serve", "--port", "http"], "Invalid value for '--port'"),
]


@pytest.mark.parametrize(
    ("args", "expected"), USAGE_MISTAKES, ids=lambda v: " ".join(v) if isinstance(v, list) else None
)
def test_usage_errors_are_one_line_with_status_2(args, expected, tmp_path):
    done = run_workbench(*args, cwd=tmp_path)

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr
    assert done.stderr.startswith("error: ") and expected in done.stderr
    assert "--help" in done.stderr  # says where to look
    assert not list(tmp_path.iterdir())  # a usage error creates nothing


def _leaf_commands(command=None, path=()):
    command = command or typer.main.get_command(app)
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _leaf_commands(sub, (*path, name))
    else:
        yield " ".join(path), {flag for param in command.params for flag in param.opts}


def test_every_command_takes_the_store_and_json_options_readme_promises():
    # README's Commands section names the exceptions; any other command lacking one is a bug.
    commands = dict(_leaf_commands())
    assert sorted(name for name, flags in commands.items() if "--store" not in flags) == [
        "schedule list"
    ]
    assert sorted(name for name, flags in commands.items() if "--json" not in flags) == [
        "schedule run",
        "serve",
    ]


def test_no_arguments_prints_the_help_and_version_prints_the_version(tmp_path):
    alone = run_workbench(cwd=tmp_path)
    assert alone.returncode == 0 and "Commands" in alone.stdout and alone.stderr == ""
    version = run_workbench("--version", cwd=tmp_path)
    assert version.returncode == 0 and re.fullmatch(r"workbench \d+\.\d+\.\d+\n", version.stdout)


@pytest.mark.parametrize(
    "args",
    [["status"], ["runs", "list"], ["recommend", "u1"], ["models", "list"], ["quarantine"]],
    ids=" ".join,
)
def test_a_command_that_reads_refuses_a_store_that_does_not_exist(args, tmp_path):
    done = run_workbench(*args, "--store", "duckdb://typo.duckdb", cwd=tmp_path)

    assert done.returncode == 1
    assert done.stderr.startswith(f"error: No store at {tmp_path / 'typo.duckdb'}")
    assert "workbench init" in done.stderr
    assert not (tmp_path / "typo.duckdb").exists()


# --- where the store is ------------------------------------------------------------------

LEVELS = {
    "--store": "flag.duckdb",
    "WORKBENCH_STORE": "env.duckdb",
    "workbench.toml": "toml.duckdb",
    "default": "data/workbench.duckdb",
}


@pytest.mark.parametrize("winner", list(LEVELS))
def test_store_location_precedence(winner, tmp_path, monkeypatch):
    # The winner is set, and so is every level below it; none above it is.
    below = list(LEVELS)[list(LEVELS).index(winner) :]
    args = ["init"]
    if "--store" in below:
        args += ["--store", "duckdb://flag.duckdb"]
    if "WORKBENCH_STORE" in below:
        monkeypatch.setenv("WORKBENCH_STORE", "duckdb://env.duckdb")
    if "workbench.toml" in below:
        (tmp_path / "workbench.toml").write_text('[store]\nurl = "duckdb://toml.duckdb"\n')

    status = invoke_json(*args)

    assert status["store"] == str((tmp_path / LEVELS[winner]).resolve())
    assert [name for name in LEVELS.values() if (tmp_path / name).exists()] == [LEVELS[winner]]


# --- help and documentation --------------------------------------------------------------


def test_help_lists_every_command(tmp_path):
    done = run_workbench("--help", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    missing = [name for name in COMMANDS if not re.search(rf"\b{name}\b", done.stdout)]
    assert not missing, f"--help does not list {missing}"


def test_readme_documents_every_command():
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^## Commands\s*$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    if match is None:
        pytest.skip("README.md has no '## Commands' section yet; this checks it once it does.")
    section = match.group(1)
    missing = [
        name
        for name in COMMANDS
        if f"workbench {name}" not in section and f"`{name}`" not in section
    ]
    assert not missing, f"README.md '## Commands' does not document {missing}"


def test_help_shows_settings_names_and_no_type_on_flags(tmp_path):
    run_help = run_workbench("run", "--help", cwd=tmp_path, COLUMNS="200")
    assert "[reports] dir" in run_help.stdout  # not eaten as markup
    scan_help = run_workbench("anomaly", "scan", "--help", cwd=tmp_path, COLUMNS="200")
    assert "[scopes.NAME]" in scan_help.stdout
    flags = [line for line in run_help.stdout.splitlines() if "--json" in line or "--force" in line]
    assert flags and not any("<bool>" in line for line in flags)
    # Typer's own --help flag too, on the top level, a group and a command.
    for words in ([], ["models"], ["run"]):
        shown = run_workbench(*words, "--help", cwd=tmp_path, COLUMNS="200").stdout
        (help_line,) = [line for line in shown.splitlines() if "--help" in line]
        assert "<bool>" not in help_line, help_line
