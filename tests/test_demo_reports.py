"""Every report the demo writes, opened as a stakeholder opens it: in Chromium, offline, at
800 and 1280 px.

A small project like a fresh clone's runs each demo job with ``workbench run`` (its
``workbench.toml`` parameters; the loop at a small size), then every report and the
index are laid out in a real browser: nothing sticks out past the window, no table cell
is blank (NaN, None) or cut short with "...", no chart text is drawn over another, no
path of this machine shows, and each report leads with its headline. Screenshots are
kept under ``$TEST_ARTIFACTS/screenshots`` for a person to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from notebook_support import demo_jobs
from test_reports import _chromium, _layout, _running_in_ci

ROOT = Path(__file__).resolve().parents[1]

# The loop's job at a size a test affords; every other job runs with workbench.toml's.
SMALL_LOOP = ["users=120", "items=200", "days=4", "incident_day=3", "test_day=4"]
SMALL_LOOP += ["new_users=3", "new_items=3"]


def _workbench(project: Path, *arguments: str, timeout: float = 900) -> str:
    environment = {name: value for name, value in os.environ.items() if name != "WORKBENCH_STORE"}
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli", *arguments],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, (arguments, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


@pytest.mark.slow
def test_every_demo_report_and_the_index_read_at_800_and_1280_px(tmp_path):
    chromium = _chromium()
    if chromium is None:
        if _running_in_ci():
            pytest.fail("chromium is not installed and CI=true, so this fails instead of skipping")
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does it)")
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    shutil.copy(ROOT / "workbench.toml", project / "workbench.toml")
    jobs = tomllib.loads((ROOT / "workbench.toml").read_text())["jobs"]
    for job in demo_jobs():
        shutil.copy(ROOT / jobs[job]["notebook"], project / "notebooks")
    _workbench(project, "generate", "music", "--users", "300", "--items", "300", "--days", "21")
    _workbench(project, "generate", "ads", "--users", "6000", "--days", "10")
    _workbench(project, "generate", "metrics", "--series", "8", "--days", "21")
    pages = {}
    for job in demo_jobs():
        extra = (
            [part for value in SMALL_LOOP for part in ("-p", value)]
            if job == "village_loop"
            else []
        )
        run = json.loads(_workbench(project, "run", job, *extra, "--json"))
        assert run["status"] == "succeeded", run
        pages[job] = project / run["report_path"]
    pages["index"] = project / "reports" / "index.html"

    shots = Path(os.environ.get("TEST_ARTIFACTS", tmp_path)) / "screenshots"
    for job, page in pages.items():
        text = page.read_text(encoding="utf-8")
        assert str(project) not in text and str(tmp_path) not in text, f"{job} shows a path"
        if job != "index":
            assert 'class="wb-headline wb-box-' in text, f"{job}'s report has no headline"
        for width in (800, 1280):
            layout = _layout(chromium, page, width, tmp_path / f"profile-{width}", shots / job)
            assert layout["scroll"] <= layout["width"], (job, width, layout)
            assert layout["blank"] == 0 and layout["cut"] == 0, (job, width, layout)
            assert layout["overlaps"] == 0, (job, width, layout)
    index = pages["index"].read_text(encoding="utf-8")
    for job in demo_jobs():
        assert f'id="job-{job}"' in index, f"the index has no card for {job}"
