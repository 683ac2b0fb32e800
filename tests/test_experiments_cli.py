"""``workbench experiments list | assign | readout``: thin commands over the library."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from workbench.capture import ingest
from workbench.cli import app
from workbench.datasets import make_ads
from workbench.experiments import assign_units, readout
from workbench.store import Store


@pytest.fixture
def url(tmp_path, monkeypatch) -> str:
    monkeypatch.chdir(tmp_path)
    url = f"duckdb://{tmp_path / 'ads.duckdb'}"
    store = Store.open(url)
    for name, rows in make_ads(users=1500, days=4, seed=1).tables.items():
        ingest(store, rows, table=name)
    return url


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.stdout


def test_readout_json_is_the_library_readout(url):
    printed = json.loads(
        invoke(
            "experiments",
            "readout",
            "ads_creative",
            "--metrics",
            "click,sum:click",
            "--store",
            url,
            "--json",
        )
    )
    direct = readout(Store.open(url), "ads_creative", "click,sum:click", sequential=False)

    assert printed["results"] == direct.results()
    assert printed["srm"]["p_value"] == direct.srm["p_value"]
    assert printed["verdict"] == direct.verdict()
    text = invoke("experiments", "readout", "ads_creative", "--store", url, "--no-cuped")
    assert text.startswith("No significant difference") or "raises" in text.splitlines()[0]
    assert "**" not in text  # Markdown is for notebooks; a piped terminal gets plain words
    assert "[proportion]" in text  # --no-cuped: the unadjusted analysis is used


def test_assign_then_list(url, tmp_path):
    units = tmp_path / "units.txt"
    units.write_text("u1\nu2\n\nu3\n")

    report = json.loads(
        invoke(
            "experiments",
            "assign",
            "banner",
            "--variants",
            "old,new",
            "--weights",
            "1,3",
            "--units",
            str(units),
            "--store",
            url,
            "--json",
        )
    )
    listed = json.loads(invoke("experiments", "list", "--store", url, "--json"))

    assert (report["rows_in"], report["accepted"]) == (3, 3)  # the blank line is no unit
    assert [row["experiment"] for row in listed] == ["ads_creative", "banner"]
    variants = (
        Store.open(url)
        .sql("SELECT variant FROM assignments WHERE experiment = 'banner' ORDER BY unit_id")[
            "variant"
        ]
        .to_pylist()
    )
    assert variants == assign_units(
        ["u1", "u2", "u3"], experiment="banner", variants=["old", "new"], weights=[1, 3]
    )


def test_an_unknown_experiment_is_one_line_and_exit_1(url, tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "experiments", "readout", "nope", "--store", url],
        cwd=tmp_path,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 1
    assert completed.stderr.startswith("error: No assignments for experiment 'nope'")
    assert "ads_creative" in completed.stderr
