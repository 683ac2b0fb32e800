"""Reports: charts drawn offline, the run header, the index, and a real browser with no network."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from notebook_support import assert_runs_under_nbmake
from test_runs import _notebook

from workbench.capture import ingest
from workbench.charts import offline_output, vegalite_spec_of
from workbench.datasets import make_music
from workbench.exceptions import RunFailed
from workbench.runs import run_job
from workbench.runs.jobs import Job
from workbench.runs.reports import read_run_records, write_index
from workbench.store import Store

ROOT = Path(__file__).resolve().parents[1]
SPEC = {
    "mark": {"type": "bar"},
    "encoding": {
        "x": {"field": "x", "type": "ordinal"},
        "y": {"field": "y", "type": "quantitative"},
    },
    "data": {"values": [{"x": 1, "y": 3}, {"x": 2, "y": 1}]},
}
# A notebook that forgets the svg renderer (Altair's default needs a CDN), draws one chart
# with the svg renderer, and one with the default renderer again.
CHARTS_NOTEBOOK = [
    "import altair as alt\nimport pandas as pd\n"
    "data = pd.DataFrame({'x': ['a', 'b', 'c'], 'y': [3, 1, 2]})\n"
    "chart = alt.Chart(data).mark_bar().encode(x='x:N', y='y:Q')\nchart",
    "alt.renderers.enable('svg')\nchart.mark_line()",
    "alt.renderers.enable('default')\nchart.mark_point()",
]


def _running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def test_the_spec_is_read_from_altair_html_and_from_a_vegalite_bundle():
    import altair as alt

    # What Altair's default renderer shows in a notebook: HTML loading vega from a CDN.
    with alt.renderers.enable("default"):
        bundle = alt.Chart.from_dict(SPEC)._repr_mimebundle_()
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "cdn.jsdelivr.net" in bundle["text/html"]
    kind, spec = vegalite_spec_of(bundle)
    assert kind == "vega-lite" and spec["mark"] == {"type": "bar"}
    assert vegalite_spec_of({"application/vnd.vegalite.v6+json": SPEC}) == ("vega-lite", SPEC)
    assert vegalite_spec_of({"text/html": "<p>not a chart</p>"}) is None


def test_a_chart_output_becomes_inline_svg_and_an_unreadable_one_says_so():
    converted = offline_output({"application/vnd.vegalite.v6+json": SPEC, "text/plain": "c"})
    assert converted["image/svg+xml"].lstrip().startswith("<svg")
    assert "role-mark" in converted["image/svg+xml"]
    assert offline_output({"image/svg+xml": "<svg/>", "text/plain": "c"}) is None
    assert offline_output({"text/html": "<b>table</b>"}) is None
    broken = offline_output(
        {"text/html": "<div id='altair-viz-1'></div><script>vegaEmbed(</script>"}
    )
    assert "could not be drawn offline" in broken["text/html"]
    assert "enable_offline_charts" in broken["text/plain"]


def test_the_index_lists_every_run_folder_newest_first_with_relative_links(tmp_path):
    from workbench.runs.records import Run
    from workbench.runs.reports import write_run_record

    for run_id, started, status in [
        ("20260101T000000-aaaaaaaa", "2026-01-01T00:00:00", "succeeded"),
        ("20260102T000000-bbbbbbbb", "2026-01-02T00:00:00", "failed"),
    ]:
        folder = tmp_path / "runs" / run_id
        folder.mkdir(parents=True)
        (folder / "report.html").write_text("report")
        run = Run(
            run_id=run_id,
            job="health",
            notebook="notebooks/data_health.ipynb",
            params={"recent_days": 7},
            status=status,
            started_at=started,
            finished_at=started.replace("00:00:00", "00:00:09"),
            report_path=str(folder / "report.html"),
            output_path=str(folder / "data_health.ipynb"),
            error="ValueError: boom" if status == "failed" else None,
        )
        write_run_record(run, folder)
    index = write_index(tmp_path).read_text()
    assert index.index("20260102T000000-bbbbbbbb") < index.index("20260101T000000-aaaaaaaa")
    assert 'href="runs/20260101T000000-aaaaaaaa/report.html"' in index
    assert "ValueError: boom" in index and "9.0 s" in index and "recent_days=7" in index
    assert [r.status for r in read_run_records(tmp_path)] == ["failed", "succeeded"]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Three real runs into one reports folder: data health, a chart notebook, a failure."""
    root = tmp_path_factory.mktemp("reports_project")
    store = Store.open(f"duckdb://{root / 'store.duckdb'}", lock_timeout=10)
    events = make_music(users=150, items=120, days=42, seed=3).tables["events"]
    ingest(store, events)
    charts = root / "charts.ipynb"
    _notebook(charts, *CHARTS_NOTEBOOK, parameters="fail = False")
    notebook = nbformat.read(charts, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("assert not fail, 'planted failure'"))
    notebook.cells.append(nbformat.v4.new_markdown_cell("## What comes after"))
    nbformat.write(notebook, charts)
    common = {"store": store, "reports": root / "reports", "locks": root / "locks"}
    health = run_job(
        Job(name="data_health", notebook=ROOT / "notebooks" / "data_health.ipynb"), **common
    )
    drawn = run_job(Job(name="charts", notebook=charts), **common)
    with pytest.raises(RunFailed) as failed:
        run_job(Job(name="charts", notebook=charts), parameters={"fail": True}, **common)
    return {
        "root": root,
        "health": health,
        "charts": drawn,
        "failed": Path(failed.value.output_path).with_name("report.html"),
    }


@pytest.mark.slow
def test_a_report_has_the_header_no_code_and_charts_as_inline_svg(reports):
    page = Path(reports["health"].report_path).read_text()
    for label in ("Parameters", "Data snapshot", "Model version", "Duration", "Started"):
        assert label in page
    assert "recent_days = 7" in page and "succeeded" in page
    assert "1 batches" in page  # the one batch of events it read
    assert "from workbench.health import" not in page  # inputs are hidden
    assert page.count('data-mime-type="image/svg+xml"') == 2  # volume and drift charts
    assert "application/vnd.workbench.result+json" not in page
    charts_page = Path(reports["charts"].report_path).read_text()
    assert charts_page.count('data-mime-type="image/svg+xml"') == 3
    assert "vegaEmbed" not in charts_page and "cdn.jsdelivr" not in charts_page


@pytest.mark.slow
def test_a_failed_run_report_shows_the_failure_and_the_failing_code(reports):
    page = reports["failed"].read_text()
    assert "This run failed" in page and "planted failure" in page
    assert "An Exception was encountered" in page  # papermill's banner
    assert "assert" in page and "not" in page and "fail" in page  # the failing cell's code
    # The page ends at the failing cell: no heading over sections that never ran.
    assert "What comes after" not in page and "did not run" in page
    assert "What comes after" in Path(reports["charts"].report_path).read_text()
    assert "<title>Charts: workbench report</title>" in page
    assert "uv run workbench run charts" in page  # how to run it again
    index = (reports["root"] / "reports" / "index.html").read_text()
    assert index.count("<tr><td>") == 3 and "failed" in index


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class _ChartCheck(HTMLParser):
    """Per chart output (a ``data-mime-type="image/svg+xml"`` block): how many marks it drew.

    A mark is a shape (path with a non-empty ``d``, rect, line, circle, text) inside a
    Vega mark group (``g`` with class ``role-mark``), i.e. data drawn, not just axes.
    """

    SHAPES = frozenset({"path", "rect", "line", "circle", "text", "polygon", "ellipse"})

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[int] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, opens a mark group)
        self.in_chart_depth: int | None = None
        self.network_sources: list[str] = []
        self.errors = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name in ("src",):
            value = attributes.get(name) or ""
            if value.startswith(("http:", "https:", "//")):
                self.network_sources.append(value)
        if tag == "link" and (attributes.get("href") or "").startswith(("http:", "https:")):
            self.network_sources.append(attributes["href"])
        if "workbench-chart-error" in (attributes.get("class") or ""):
            self.errors += 1
        if attributes.get("data-mime-type") == "image/svg+xml":
            self.charts.append(0)
            self.in_chart_depth = len(self.stack)
        in_mark = any(opens for _, opens in self.stack)
        drawn = tag != "path" or (attributes.get("d") or "").strip()
        if self.in_chart_depth is not None and in_mark and tag in self.SHAPES and drawn:
            self.charts[-1] += 1
        opens = tag == "g" and "role-mark" in (attributes.get("class") or "")
        if tag not in {"meta", "link", "br", "img", "input", "hr"}:
            self.stack.append((tag, opens))

    def handle_endtag(self, tag):
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == tag:
                break
        if self.in_chart_depth is not None and len(self.stack) <= self.in_chart_depth:
            self.in_chart_depth = None


def _browser_dom(chromium: str, page: Path, profile: Path) -> str:
    """The page's DOM after Chromium loaded it from file:// with every network route cut."""
    completed = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            # No name resolves and every request goes to a closed port: nothing can load.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--proxy-server=http://127.0.0.1:9",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


@pytest.mark.slow
def test_reports_open_offline_in_chromium_with_every_chart_drawn(reports, tmp_path):
    chromium = _chromium()
    if chromium is None:
        message = "chromium is not installed (apt-get install chromium; .ci/run does it)"
        if _running_in_ci():
            pytest.fail(message + " and CI=true, so this fails instead of skipping")
        pytest.skip(message)
    expected = {reports["health"].report_path: 2, reports["charts"].report_path: 3}
    for report, charts in expected.items():
        check = _ChartCheck()
        check.feed(_browser_dom(chromium, Path(report), tmp_path / "profile"))
        assert len(check.charts) == charts, report
        assert all(marks > 0 for marks in check.charts), (report, check.charts)
        assert check.network_sources == [] and check.errors == 0
    index = _browser_dom(chromium, reports["root"] / "reports" / "index.html", tmp_path / "p2")
    assert index.count(">report</a>") == 3  # the history; the cards link "latest report"
    # Each card's age is counted when the page is opened, not when it was written.
    assert "when written" not in index and ("ago)" in index or "(just now)" in index)
    for run in (reports["health"], reports["charts"]):
        assert f"runs/{run.run_id}/report.html" in index


# Measures the laid-out page: what sticks out past the window, table cells that say
# NaN or None, cells cut short with "...", and chart texts drawn over each other. Written into the body as an attribute that --dump-dom returns.
_LAYOUT_PROBE = """<script>
(function () {
  const width = window.innerWidth;
  const wide = [...document.querySelectorAll("body *")].filter((e) => {
    const box = e.getBoundingClientRect();
    return box.width > 0 && box.right > width + 1;
  }).map((e) => e.tagName).slice(0, 5);
  const cells = [...document.querySelectorAll("td, th")].map((c) => c.textContent.trim());
  const blank = cells.filter((t) => ["NaN", "None", "nan", "NaT", "<NA>"].includes(t));
  const cut = cells.filter((t) => t.endsWith("...") || t.endsWith("\u2026"));
  // Chart texts drawn over each other (Vega hides a label it thins with opacity 0).
  const visible = (t, svg) => {
    for (let e = t; e && e !== svg; e = e.parentElement) {
      if (e.getAttribute("opacity") === "0" || getComputedStyle(e).opacity === "0") return false;
    }
    return true;
  };
  let overlaps = 0;
  for (const svg of document.querySelectorAll("svg")) {
    const boxes = [...svg.querySelectorAll("text")]
      .filter((t) => t.textContent.trim() && visible(t, svg))
      .map((t) => t.getBoundingClientRect()).filter((b) => b.width > 0);
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i], b = boxes[j];
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (w > 1 && h > 1) overlaps += 1;
      }
    }
  }
  document.body.setAttribute("data-layout", JSON.stringify({
    scroll: document.documentElement.scrollWidth, width: width, wide: wide, blank: blank.length,
    cut: cut.length, overlaps: overlaps,
  }));
})();
</script>"""


def _layout(chromium: str, page: Path, width: int, profile: Path, shots: Path) -> dict:
    """The page laid out at ``width`` px: overflow and blank cells; keeps a screenshot."""
    import json

    probe = page.with_name(f".layout-{width}-{page.name}")
    probe.write_text(page.read_text().replace("</body>", _LAYOUT_PROBE + "</body>"))
    common = [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}"]
    common += ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9"]
    common += [f"--window-size={width},1000"]
    try:
        dom = subprocess.run(
            [*common, "--dump-dom", probe.resolve().as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        shots.mkdir(parents=True, exist_ok=True)
        shot = shots / f"{page.parent.name}-{page.stem}-{width}.png"
        subprocess.run(
            [*common, f"--screenshot={shot}", page.resolve().as_uri()],
            capture_output=True,
            timeout=120,
            check=True,
        )
    finally:
        probe.unlink()
    import html as html_text
    import re

    found = re.search(r'data-layout="([^"]*)"', dom)
    assert found, dom[-1000:]
    return json.loads(html_text.unescape(found.group(1)))


@pytest.mark.slow
def test_the_index_and_every_report_fit_800_and_1280_px_with_no_blank_cells_or_paths(
    reports, tmp_path
):
    chromium = _chromium()
    if chromium is None:
        if _running_in_ci():
            pytest.fail("chromium is not installed and CI=true, so this fails instead of skipping")
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does it)")
    # Screenshots are kept for a person to look at: TEST_ARTIFACTS, else the test's folder.
    shots = Path(os.environ.get("TEST_ARTIFACTS", tmp_path)) / "screenshots"
    pages = [
        reports["root"] / "reports" / "index.html",
        Path(reports["health"].report_path),
        Path(reports["charts"].report_path),
        reports["failed"],
    ]
    for page in pages:
        text = page.read_text()
        assert str(reports["root"]) not in text, f"{page} shows this machine's path"
        for width in (800, 1280):
            layout = _layout(chromium, page, width, tmp_path / f"profile-{width}", shots)
            assert layout["scroll"] <= layout["width"], (page, width, layout)
            assert layout["blank"] == 0 and layout["cut"] == 0, (page, width, layout)
            assert layout["overlaps"] == 0, (page, width, layout)
    assert len(list(shots.glob("*.png"))) == 2 * len(pages)


@pytest.mark.slow
def test_the_data_health_notebook_runs_under_nbmake_with_its_defaults(tmp_path):
    # Its default store is the relative data/workbench.duckdb: a copy of the notebook in a
    # folder whose data/ holds a small store runs it unchanged. The explicit path keeps
    # nbmake from collecting papermill outputs.
    notebook = tmp_path / "data_health.ipynb"
    shutil.copy(ROOT / "notebooks" / "data_health.ipynb", notebook)
    store = Store.open(f"duckdb://{tmp_path / 'data' / 'workbench.duckdb'}", lock_timeout=10)
    ingest(store, make_music(users=100, items=80, days=42, seed=5).tables["events"])
    assert_runs_under_nbmake(notebook, cwd=tmp_path)


# --- the index as a dashboard: headlines, trends, retention, paging ---------------------


def _write_runs(root: Path, job: str, outcomes: list[tuple[str, float | None]]) -> list[str]:
    """Run folders for ``job``, one an hour from 2026-01-01: (status, headline figure)."""
    import datetime as dt

    from workbench.headline import Figure, Headline
    from workbench.runs.records import Run
    from workbench.runs.reports import write_run_record

    ids = []
    for number, (status, value) in enumerate(outcomes, start=1):
        started = dt.datetime(2026, 1, 1) + dt.timedelta(hours=number)
        run_id = f"{started:%Y%m%dT%H%M%S}-{job[:4]}{number:04d}"
        folder = root / "runs" / run_id
        folder.mkdir(parents=True)
        (folder / "report.html").write_text("report")
        headline = Headline(f"{job} said {value}.", "ok", (Figure("nDCG@10", value),))
        write_run_record(
            Run(
                run_id=run_id,
                job=job,
                notebook=f"notebooks/{job}.ipynb",
                params={"store": "duckdb:///somewhere/store.duckdb", "k": 10},
                status=status,
                started_at=started.isoformat(),
                finished_at=(started + dt.timedelta(seconds=5)).isoformat(),
                report_path=str(folder / "report.html"),
                output_path=str(folder / f"{job}.ipynb"),
                error="ValueError: boom" if status == "failed" else None,
                results={"headline": headline.to_dict()} if status == "succeeded" else {},
            ),
            folder,
        )
        ids.append(run_id)
    return ids


def test_the_index_has_a_card_per_job_with_its_headline_trend_and_previous_report(tmp_path):
    ids = _write_runs(
        tmp_path, "weekly_model", [("succeeded", 0.12), ("succeeded", 0.15), ("succeeded", 0.14)]
    )
    _write_runs(tmp_path, "hourly_check", [("succeeded", 1.0), ("failed", None)])
    index = write_index(tmp_path).read_text()
    cards = index.split('<article class="wb-card"')[1:]
    train = next(card for card in cards if "<h3>Weekly model " in card)
    scan = next(card for card in cards if "<h3>Hourly check " in card)
    assert "weekly_model said 0.14." in train and "nDCG@10 <b>0.140</b>" in train
    assert "<polyline" in train and "nDCG@10: 0.120 to 0.140 over the last 3 runs" in train
    assert f'href="runs/{ids[2]}/report.html">latest report' in train
    assert f'href="runs/{ids[1]}/report.html">previous' in train
    # The latest run failed: the card says so first, with the error.
    assert "Failed: ValueError: boom" in scan and "wb-status wb-failed" in scan
    assert f'<time class="wb-ago" datetime="{ids[2][:4]}-01-01T03:00:00Z">' in train
    # The history shows parameters as text, without the store's path.
    assert "k=10" in index and "somewhere" not in index
    assert "name='viewport'" in index


def test_the_history_pages_past_fifty_runs_and_drops_pages_it_no_longer_needs(tmp_path):
    from workbench.runs.reports import HISTORY_PAGE

    _write_runs(tmp_path, "scan", [("succeeded", float(n)) for n in range(HISTORY_PAGE + 3)])
    index = write_index(tmp_path).read_text()
    second = (tmp_path / "history-2.html").read_text()
    assert index.count("<tr><td>") == HISTORY_PAGE and second.count("<tr><td>") == 3
    assert '<a href="history-2.html">2</a>' in index and '<a href="index.html">1</a>' in second
    for folder in sorted((tmp_path / "runs").iterdir())[:10]:
        shutil.rmtree(folder)
    write_index(tmp_path)
    assert not (tmp_path / "history-2.html").exists()


def test_retention_keeps_the_last_runs_and_always_the_last_successful_one(tmp_path):
    from workbench.runs.reports import prune_runs

    ids = _write_runs(
        tmp_path,
        "scan",
        [
            ("succeeded", 1.0),
            ("succeeded", 2.0),
            ("failed", None),
            ("failed", None),
            ("failed", None),
        ],
    )
    job = Job(name="scan", notebook=Path("notebooks/scan.ipynb"), keep_runs=2)
    removed = prune_runs(tmp_path, job)
    # The two newest stay, and the last success (the second run); the rest goes.
    assert sorted(removed) == [ids[0], ids[2]]
    kept = sorted(path.name for path in (tmp_path / "runs").iterdir())
    assert kept == [ids[1], ids[3], ids[4]]
    # A job without retention keeps everything.
    assert prune_runs(tmp_path, Job(name="scan", notebook=Path("notebooks/scan.ipynb"))) == []


def test_a_retention_setting_that_is_not_a_positive_number_is_refused_with_an_example():
    from workbench.exceptions import ScheduleError
    from workbench.runs.jobs import load_jobs

    config = {"jobs": {"scan": {"notebook": "notebooks/scan.ipynb", "keep_runs": 0}}}
    with pytest.raises(ScheduleError, match=r"keep_runs must be a number, 1 or more, e.g"):
        load_jobs(config)
    config["jobs"]["scan"] = {"notebook": "notebooks/scan.ipynb", "keep_days": 7}
    assert load_jobs(config)["scan"].keep_days == 7.0


@pytest.mark.slow
def test_the_layout_check_sees_what_it_is_meant_to_catch(tmp_path):
    chromium = _chromium()
    if chromium is None:
        if _running_in_ci():
            pytest.fail("chromium is not installed and CI=true, so this fails instead of skipping")
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does it)")
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><body>"
        '<div style="width: 1200px">too wide</div>'
        "<table><tr><td>NaN</td><td>an explanation cut short...</td></tr></table>"
        '<svg width="200" height="50"><text x="10" y="20">0.19</text>'
        '<text x="14" y="20">0.20</text><text x="100" y="20" opacity="0">hidden</text>'
        '<text x="104" y="20">apart</text></svg></body></html>'
    )
    layout = _layout(chromium, page, 800, tmp_path / "profile", tmp_path / "shots")
    assert layout["scroll"] > layout["width"]
    assert (layout["blank"], layout["cut"], layout["overlaps"]) == (1, 1, 1)
