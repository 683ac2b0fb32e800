"""Run reports: an executed notebook as one HTML file that opens offline, and the index.

A report hides code inputs (stakeholders read results), draws every chart as
inline SVG (see :mod:`workbench.charts`), loads nothing from the network, and
starts with a header: job, status, parameters, data snapshot, model version, when,
how long. A failed run's report keeps papermill's failure banner, shows the failing
cell's code and traceback, and says so in the header.

``reports/index.html`` lists every run folder under ``reports/runs/``, newest first,
linking each report and output notebook. It is rebuilt from the folders' ``run.json``
files, so it never links to something that is not there.
"""

from __future__ import annotations

import functools
import html
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.charts import offline_output
from workbench.exceptions import InvalidArgument, WorkbenchError
from workbench.provenance import InputSnapshot
from workbench.runs.parameters import declared_parameters
from workbench.runs.records import Run, loaded_paths, stored_paths
from workbench.runs.results import HEADLINE, MODEL_VERSION, RESULT_MIMETYPE

if TYPE_CHECKING:
    from workbench.headline import Headline
    from workbench.runs.jobs import Job

RUN_RECORD_FILE = "run.json"
REPORT_FILE = "report.html"
INDEX_FILE = "index.html"

# nbconvert's "basic" template renders the cells alone: no page, no stylesheet, nothing
# fetched from a CDN (the "lab" template links require.js, MathJax and mermaid, and
# inlines ~300 KB of CSS, which costs most of a second per report). The page around the
# cells, with a small stylesheet, is written here. SVG charts go inline as <svg> (the
# template would base64 them into an <img>, or strip their tags while sanitizing):
# inline, they are part of the page's DOM, where a test can check every chart's marks.
_TEMPLATE_NAME = "workbench_report.html.j2"
_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block data_svg scoped -%}
<div class="output_svg output_subarea {{ extra_class }}" data-mime-type="image/svg+xml">
{{ output.data['image/svg+xml'] }}
</div>
{%- endblock data_svg -%}
"""

_PAGE_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222;
  margin: 0; line-height: 1.45; }
main { max-width: 1100px; margin: 0 auto; padding: 1em 2em 4em 2em; }
.cell { margin: 0.6em 0; }
.input_area pre, .output_text pre, .output_stream pre, .output_error pre {
  font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px;
  white-space: pre-wrap; margin: 0; }
.input_area { background: #f6f8fa; border: 1px solid #ddd; padding: 0.5em; }
.output_stderr { background: #fff5f5; }
.output_error pre { background: #fdecea; padding: 0.5em; }
.rendered_html table { border-collapse: collapse; border: none; font-size: 13px;
  margin: 0.5em 0; }
.rendered_html th, .rendered_html td { border: none; border-bottom: 1px solid #e5e5e5;
  padding: 3px 6px; text-align: right; overflow-wrap: break-word; }
/* A header may break inside a word when a wide table needs the room (present() keeps
   room for each heading's short words, so "Day" or "Visitors" is never split). */
.rendered_html th { overflow-wrap: anywhere; }
.rendered_html table { max-width: 100%; }
.rendered_html th { background: #fafafa; }
.rendered_html tbody tr:nth-child(odd) { background: #fcfcfc; }
.output_svg svg { max-width: 100%; height: auto; }
.output_png img { max-width: 100%; }
a.anchor-link { display: none; }
.ansi-red-fg { color: #c62828; } .ansi-green-fg { color: #2e7d32; }
.ansi-yellow-fg { color: #a06800; } .ansi-blue-fg { color: #1565c0; }
.ansi-magenta-fg { color: #8e24aa; } .ansi-cyan-fg { color: #00838f; }
.ansi-bold { font-weight: bold; }
"""

_STYLE = """
<style>
.wb-header { font-family: system-ui, sans-serif; border-bottom: 1px solid #ccc;
  margin: 0 0 1.5em 0; padding: 1em 0; }
.wb-header h1 { margin: 0 0 0.4em 0; font-size: 1.6em; }
.wb-header table { border-collapse: collapse; }
.wb-header th { text-align: left; padding: 2px 12px 2px 0; color: #555; font-weight: 600;
  vertical-align: top; }
.wb-header td { padding: 2px 0; }
.wb-status { font-weight: 700; padding: 1px 8px; border-radius: 4px; color: white; }
.wb-succeeded { background: #2e7d32; } .wb-failed { background: #c62828; }
.wb-running { background: #f9a825; } .wb-skipped { background: #757575; }
.workbench-chart-error { color: #c62828; font-weight: 600; }
.wb-h-ok { background: #2e7d32; } .wb-h-watch { background: #a06800; }
.wb-h-act { background: #c62828; }
.wb-description { color: #555; margin: 0 0 0.6em 0; }
.wb-headline { border-left: 5px solid #999; background: #f7f7f7; padding: 0.5em 0.9em;
  margin: 0.6em 0; font-size: 1.05em; overflow-wrap: anywhere; }
.wb-headline p { margin: 0.3em 0; }
.wb-headline pre { white-space: pre-wrap; background: #fff; padding: 0.4em; }
.wb-box-ok { border-color: #2e7d32; } .wb-box-watch { border-color: #a06800; }
.wb-box-act { border-color: #c62828; background: #fdf3f2; }
.wb-verdict { font-weight: 700; margin-right: 0.3em; }
.wb-figures { display: flex; flex-wrap: wrap; gap: 0.4em 1.6em; margin: 0.4em 0 0 0; }
.wb-figures dt { color: #555; font-size: 0.85em; } .wb-figures dd { margin: 0;
  font-size: 1.3em; font-weight: 600; }
.wb-header details { margin-top: 0.6em; } .wb-header summary { cursor: pointer; color: #555; }
.wb-header td { overflow-wrap: anywhere; }
</style>
"""


def render_report(run: Run, output_notebook: str | os.PathLike[str] | None, path: Path) -> Path:
    """Write the HTML report of ``run`` (from its executed notebook) to ``path``.

    ``output_notebook`` may be None or missing when the run failed before papermill
    wrote it; the report then holds the header and the error alone.
    """
    notebook_path = Path(output_notebook) if output_notebook else None
    header = _header_html(run, _declared_defaults(notebook_path))
    if notebook_path is not None and notebook_path.is_file():
        body = _notebook_html(notebook_path, header, run.job)
    else:
        body = (
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(_title(run.job))}: workbench report</title><style>{_PAGE_STYLE}</style></head><body><main>{header}"
            "<p>No output notebook was written.</p></main></body></html>"
        )
    _write_atomically(path, body)
    return path


def warm_up() -> None:
    """Import and compile what rendering a report takes (about half a second on a cold
    process), so that a run can do it on a thread while its kernel executes."""
    _exporter()


@functools.cache
def _exporter() -> Any:
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="basic",
        extra_loaders=[DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
        template_file=_TEMPLATE_NAME,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    exporter.from_notebook_node(nbformat.v4.new_notebook())  # compiles the templates
    return exporter


def _notebook_html(notebook_path: Path, header: str, job: str) -> str:
    import nbformat
    from pygments.formatters import HtmlFormatter

    notebook = nbformat.read(notebook_path, as_version=4)
    _prepare(notebook)
    cells, _ = _exporter().from_notebook_node(notebook)
    # The failing cell's code is highlighted by pygments: its colours, scoped to code.
    code_style = HtmlFormatter().get_style_defs(".highlight")
    title = html.escape(f"{_title(job)}: workbench report")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{title}</title><style>{_PAGE_STYLE}{code_style}</style></head>"
        f"<body><main>{header}{cells}</main></body></html>\n"
    )


def _prepare(notebook: Any) -> None:
    """Hide code inputs (except a failing cell's), drop recorded-result outputs (the
    header and ``runs show`` carry them), make every chart draw offline, and end a
    failed run's page at its failing cell: the sections after it never ran, and their
    headings over nothing would read as empty results."""
    import nbformat

    for position, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        outputs = cell.get("outputs", [])
        if any(output.get("output_type") == "error" for output in outputs):
            if position + 1 < len(notebook.cells):
                notebook.cells[position + 1 :] = [
                    nbformat.v4.new_markdown_cell(
                        "*The cells after the failing one did not run; fix the error and run "
                        "the job again.*"
                    )
                ]
        else:
            cell.metadata.setdefault("transient", {})["remove_source"] = True
        kept = []
        for output in outputs:
            data = output.get("data")
            if data is not None:
                if RESULT_MIMETYPE in data:
                    continue  # the header shows recorded results (a headline's text too)
                replacement = offline_output(data)
                if replacement is not None:
                    output["data"] = replacement
                    output.get("metadata", {}).clear()
            kept.append(output)
        cell["outputs"] = kept


def _declared_defaults(notebook_path: Path | None) -> dict[str, str]:
    """The notebook's parameters cell as name -> default (source text), or {} if unreadable."""
    if notebook_path is None or not notebook_path.is_file():
        return {}

    return declared_parameters(notebook_path)


def _header_html(run: Run, defaults: dict[str, str]) -> str:
    """The report's first screen: what the job is, what happened, what to do; then details."""
    esc = html.escape
    results = run.results or {}
    model = results.get(MODEL_VERSION)
    duration = run.duration_seconds
    rows = [
        ("Run", f"<code>{esc(run.run_id)}</code> ({esc(run.trigger)})"),
        ("Notebook", f"<code>{esc(_project_path(run.notebook))}</code>"),
        ("Parameters", _parameters_html(run.params, defaults)),
        ("Data snapshot", esc(_describe_data(run))),
        ("Model version", esc(str(model)) if model else "none recorded"),
        ("Started", esc(_when(run.started_at))),
        ("Duration", "still running" if duration is None else f"{duration:.1f} s"),
    ]
    if run.output_path:
        # A browser shows an .ipynb as raw JSON: say how to open it instead.
        rows.append(
            (
                "Output notebook",
                f"{_link(run.output_path, run.report_path)} (beside this report; open it with "
                f"<code>uv run jupyter lab {esc(_project_path(run.output_path))}</code>)",
            )
        )
    table = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    job = _configured_jobs().get(run.job)
    description = f'<p class="wb-description">{esc(job.description)}</p>' if job else ""
    first = _failure_html(run) if run.status == "failed" else _headline_html(results)
    return (
        f'{_STYLE}<header class="wb-header"><h1>{esc(_title(run.job))} '
        f'<span class="wb-status wb-{esc(run.status)}">{esc(run.status)}</span></h1>'
        f"{description}{first}"
        f"<details><summary>Run details</summary><table>{table}</table></details></header>"
    )


def _title(job: str) -> str:
    """``data_health`` as ``Data health``."""
    words = job.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


def _headline_of(results: dict[str, Any] | None) -> Headline | None:
    """The run's recorded headline, or None (none recorded, or unreadable)."""
    from workbench.headline import Headline

    data = (results or {}).get(HEADLINE)
    if not isinstance(data, dict):
        return None
    try:
        return Headline.from_dict(data)
    except (InvalidArgument, KeyError, TypeError):
        return None


def _headline_html(results: dict[str, Any] | None) -> str:
    """The headline box: status, sentence, key figures (or a note that none was recorded)."""
    from workbench.headline import STATUSES

    esc = html.escape
    headline = _headline_of(results)
    if headline is None:
        return '<p class="wb-headline">This run recorded no headline; the results follow.</p>'
    figures = "".join(
        f"<div><dt>{esc(f.label)}</dt><dd>{esc(f.text())}</dd></div>" for f in headline.figures
    )
    return (
        f'<div class="wb-headline wb-box-{esc(headline.status)}">'
        f'<p><span class="wb-verdict">{esc(STATUSES[headline.status])}</span> '
        f"{esc(headline.text)}</p>"
        + (f'<dl class="wb-figures">{figures}</dl>' if figures else "")
        + "</div>"
    )


def _failure_html(run: Run) -> str:
    """What failed, and how to rerun it or open the stopped notebook."""
    esc = html.escape
    commands = [f"uv run workbench run {run.job}"]
    if run.output_path:
        # Beside this report; relative to the project, where the command runs.
        commands.append(f"uv run jupyter lab {_project_path(run.output_path)}")
    return (
        '<div class="wb-headline wb-box-act"><p><span class="wb-verdict">This run failed:</span> '
        f"{esc(run.error or 'The run failed.')}</p>"
        "<p>The notebook below stops at the failing cell, shown with its code and "
        "traceback. To run it again, or to open the stopped notebook in JupyterLab:</p>"
        f"<pre>{esc(chr(10).join(commands))}</pre></div>"
    )


def _parameters_html(params: dict[str, Any], defaults: dict[str, str]) -> str:
    """Every parameter the notebook ran with: the given ones, then the defaults it kept."""
    lines = [
        f"<code>{html.escape(name)} = {html.escape(json.dumps(_shown(name, value)))}</code>"
        for name, value in sorted(params.items())
    ]
    lines += [
        f"<code>{html.escape(name)} = {html.escape(default)}</code> (default)"
        for name, default in defaults.items()
        if name not in params
    ]
    return "<br>".join(lines) or "none"


def _project_path(path: str) -> str:
    """A path as the report shows it: inside the project, relative; elsewhere, its name."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return Path(path).name


def _shown(name: str, value: Any) -> Any:
    """A parameter as a report shows it: a store by its file name, not this machine's path."""
    if name == "store" and isinstance(value, str) and "://" in value:
        scheme, _, location = value.partition("://")
        if location and location != ":memory:":
            return f"{scheme}://{Path(location).name}"
    return value


def _describe_data(run: Run) -> str:

    if run.inputs:
        return InputSnapshot(**run.inputs).describe()
    return f"digest {run.inputs_digest[:12]}" if run.inputs_digest else "unknown"


def _when(iso: str | None) -> str:
    return "" if not iso else iso.replace("T", " ")[:19] + " UTC"


def _link(target: str, from_file: str | None) -> str:
    """A relative link from the report to ``target``, so a copied folder still works."""
    href = target
    if from_file:
        href = os.path.relpath(target, Path(from_file).parent)
    return f'<a href="{html.escape(href)}">{html.escape(Path(target).name)}</a>'


# --- run folders and the index ------------------------------------------------------


def write_run_record(run: Run, folder: Path) -> Path:
    """Keep ``run.json`` (the run record) in the run's folder."""

    path = folder / RUN_RECORD_FILE
    _write_atomically(path, json.dumps(stored_paths(run.to_dict()), indent=2, sort_keys=True))
    return path


def read_run_records(reports_dir: Path) -> list[Run]:
    """The run records under ``reports_dir/runs/``, newest first.

    A folder whose ``run.json`` cannot be read is reported as an error naming it:
    the index must not quietly leave a run out.
    """

    runs = []
    for path in sorted((reports_dir / "runs").glob(f"*/{RUN_RECORD_FILE}")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            runs.append(Run.from_dict(loaded_paths(record)))
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as error:
            raise WorkbenchError(
                f"{path} is not a run record ({error}); restore it or remove its folder."
            ) from error
    runs.sort(key=lambda run: (run.started_at, run.run_id), reverse=True)
    return runs


def write_index(reports_dir: str | os.PathLike[str]) -> Path:
    """Rewrite ``index.html``: a card per job, then every run, newest first.

    A card shows the job's latest run: its headline (or its error), status, when and
    how long ago, the trend of the headline's first figure over the job's runs, and
    links to the latest and the previous report. The run history follows,
    :data:`HISTORY_PAGE` runs a page (``history-2.html`` and on for older pages).
    """
    root = Path(reports_dir)
    runs = read_run_records(root)
    jobs = _configured_jobs()
    now = datetime.now(UTC)
    by_job: dict[str, list[Run]] = {}
    for run in runs:
        by_job.setdefault(run.job, []).append(run)
    names = [name for name in jobs if name in by_job or jobs[name].schedule]
    names += sorted(set(by_job) - set(names))
    cards = "".join(
        _card_html(name, by_job.get(name, []), jobs.get(name), root, now) for name in names
    )
    pages = [runs[start : start + HISTORY_PAGE] for start in range(0, len(runs), HISTORY_PAGE)]
    page_names = [INDEX_FILE] + [f"history-{n}.html" for n in range(2, len(pages) + 1)]
    for stale in root.glob("history-*.html"):
        if stale.name not in page_names:
            stale.unlink()
    path = root / INDEX_FILE
    for number, chunk in enumerate(pages or [[]], start=1):
        nav = _pager(number, page_names)
        history = (
            _history_html(chunk, root)
            if chunk
            else ("<p>No runs yet: <code>uv run workbench run JOB</code> adds one.</p>")
        )
        intro = f'<section class="wb-cards">{cards}</section>' if number == 1 and cards else ""
        title = "Workbench reports" + (f" (runs, page {number})" if number > 1 else "")
        body = (
            f"<h1>{title}</h1><p class='wb-muted'>{len(runs)} runs of {len(by_job)} jobs. "
            f"Updated {now:%Y-%m-%d %H:%M} UTC.</p>{intro}"
            f"<h2>Run history</h2>{nav}{history}{nav}"
        )
        page = (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{title}</title>{_STYLE}<style>{_INDEX_STYLE}</style></head>"
            f"<body><main>{body}</main>{_AGE_SCRIPT}</body></html>"
        )
        _write_atomically(root / page_names[number - 1], page)
    return path


#: Runs per page of the index's run history.
HISTORY_PAGE = 50

_INDEX_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 0;
  line-height: 1.4; }
main { max-width: 1100px; margin: 0 auto; padding: 1em 1.5em 3em 1.5em; }
h2 { font-size: 1.2em; margin: 1.5em 0 0.5em 0; }
.wb-muted { color: #666; }
.wb-cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr));
  gap: 12px; }
.wb-card { border: 1px solid #ddd; border-radius: 6px; padding: 10px 12px; min-width: 0; }
.wb-card h3 { margin: 0 0 4px 0; font-size: 1.05em; }
.wb-card p { margin: 4px 0; overflow-wrap: anywhere; }
.wb-card svg { display: block; margin: 6px 0; }
.wb-history { width: 100%; border-collapse: collapse; table-layout: fixed; }
.wb-history th, .wb-history td { text-align: left; padding: 4px 8px; vertical-align: top;
  border-bottom: 1px solid #eee; overflow-wrap: anywhere; }
.wb-history th:nth-child(1) { width: 9.5em; } .wb-history th:nth-child(2) { width: 11em; }
.wb-history th:nth-child(3) { width: 6.5em; } .wb-history th:nth-child(5) { width: 8em; }
.wb-pager { margin: 0.5em 0; }
"""


def _card_html(name: str, runs: list[Run], job: Job | None, root: Path, now: datetime) -> str:
    """One job's card: its latest run's headline, freshness, trend and links."""
    esc = html.escape
    description = (
        f'<p class="wb-muted">{esc(job.description)}</p>' if job and job.description else ""
    )
    if not runs:
        schedule = (
            f" (scheduled <code>{esc(job.schedule)}</code>, UTC)" if job and job.schedule else ""
        )
        return (
            f'<article class="wb-card" id="job-{esc(name)}"><h3>{esc(_title(name))}</h3>'
            f"{description}"
            f"<p>No run yet{schedule}.</p></article>"
        )
    latest = runs[0]
    headline = _headline_of(latest.results)
    if latest.status == "failed":
        said = f"Failed: {esc((latest.error or '').splitlines()[0] if latest.error else 'see the report')}"
        badge = ("failed", "failed")
    elif headline is not None:
        from workbench.headline import STATUSES

        figures = " · ".join(f"{esc(f.label)} <b>{esc(f.text())}</b>" for f in headline.figures)
        said = esc(headline.text) + (f'</p><p class="wb-muted">{figures}' if figures else "")
        badge = (f"h-{headline.status}", STATUSES[headline.status])
    else:
        said = "No headline recorded; open the report."
        badge = (latest.status, latest.status)
    links = []
    if latest.report_path:
        links.append(f'<a href="{esc(_relative(latest.report_path, root))}">latest report</a>')
    earlier = next((run for run in runs[1:] if run.report_path), None)
    if earlier is not None:
        links.append(f'<a href="{esc(_relative(earlier.report_path, root))}">previous</a>')
    return (
        f'<article class="wb-card" id="job-{esc(name)}"><h3>{esc(_title(name))} '
        f'<span class="wb-status wb-{esc(badge[0])}">{esc(badge[1])}</span></h3>{description}'
        f"<p>{said}</p>{_trend_svg(runs)}"
        f'<p class="wb-muted">Last run {esc(_when(latest.started_at))}{_age_html(latest.started_at, now)}'
        f"{' · ' + ' · '.join(links) if links else ''}</p></article>"
    )


def _trend_svg(runs: list[Run]) -> str:
    """A small line of the headline's first figure over the job's last 20 runs, oldest first."""
    points = []
    label = None
    for run in reversed(runs[:20]):
        headline = _headline_of(run.results)
        if headline is None or not headline.figures:
            continue
        figure = headline.figures[0]
        if label is None:
            label = figure.label
        if figure.label == label and figure.value is not None:
            points.append((float(figure.value), figure.text()))
    if len(points) < 2:
        return ""
    values = [value for value, _ in points]
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    width, height = 160, 28
    step = width / (len(values) - 1)
    line = " ".join(
        f"{i * step:.1f},{height - 3 - (value - low) / span * (height - 6):.1f}"
        for i, value in enumerate(values)
    )
    caption = f"{label}: {points[0][1]} to {points[-1][1]} over the last {len(points)} runs"
    return (
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{html.escape(caption)}"><title>{html.escape(caption)}</title>'
        f'<polyline points="{line}" fill="none" stroke="#1565c0" stroke-width="1.5"/></svg>'
        f'<p class="wb-muted">{html.escape(caption)}</p>'
    )


def _history_html(runs: list[Run], root: Path) -> str:
    """The run history table: when, job, status, what it said, duration, links."""
    esc = html.escape
    rows = []
    for run in runs:
        duration = run.duration_seconds
        links = []
        if run.report_path:
            links.append(f'<a href="{esc(_relative(run.report_path, root))}">report</a>')
        headline = _headline_of(run.results)
        said = (
            esc(run.error or "")
            if run.status == "failed"
            else esc(headline.text)
            if headline is not None
            else ""
        )
        params = ", ".join(
            f"{k}={v if isinstance(v, str) else json.dumps(v)}"
            for k, v in sorted(run.params.items())
            if k != "store"
        )
        rows.append(
            "<tr>"
            f"<td>{esc(_when(run.started_at))}</td><td>{esc(run.job)}"
            + (f'<br><span class="wb-muted">{esc(params)}</span>' if params else "")
            + f'</td><td><span class="wb-status wb-{esc(run.status)}">{esc(run.status)}</span></td>'
            f"<td>{said}</td>"
            f"<td>{'' if duration is None else f'{duration:.1f} s'}<br>{' · '.join(links)}</td></tr>"
        )
    return (
        '<table class="wb-history"><thead><tr><th>started</th><th>job</th><th>status</th>'
        "<th>what it said</th><th>duration</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _pager(number: int, page_names: list[str]) -> str:
    if len(page_names) < 2:
        return ""
    links = [
        f"<b>{n}</b>" if n == number else f'<a href="{page_names[n - 1]}">{n}</a>'
        for n in range(1, len(page_names) + 1)
    ]
    return f'<p class="wb-pager">Pages: {" ".join(links)} (newest first)</p>'


def _age_html(iso: str | None, now: datetime) -> str:
    """How long before now a run started: filled in by the page when it is opened.

    The index is a static file read hours after it was written, so the age is counted by
    the browser (:data:`_AGE_SCRIPT`); the text written here is the age when the page was
    written, which a browser without scripts keeps.
    """
    if not iso:
        return ""
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = max((now - moment).total_seconds(), 0.0)
    written = "just now"
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute")):
        if seconds >= size:
            count = int(seconds // size)
            written = f"{count} {unit}{'s' if count > 1 else ''} ago"
            break
    stamp = moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return f' <time class="wb-ago" datetime="{html.escape(stamp)}">({written} when written)</time>'


# Counts each run's age when the page is opened; nothing is fetched.
_AGE_SCRIPT = """<script>
for (const t of document.querySelectorAll("time.wb-ago")) {
  const s = Math.max((Date.now() - Date.parse(t.dateTime)) / 1000, 0);
  const [size, unit] = s >= 86400 ? [86400, "day"] : s >= 3600 ? [3600, "hour"]
    : s >= 60 ? [60, "minute"] : [1, ""];
  const n = Math.floor(s / size);
  t.textContent = unit ? `(${n} ${unit}${n > 1 ? "s" : ""} ago)` : "(just now)";
}
</script>"""


def _configured_jobs() -> dict[str, Job]:
    """The jobs of ``workbench.toml``, or none when it cannot be read (the index still lists runs)."""
    from workbench.runs.jobs import load_jobs

    try:
        return load_jobs()
    except WorkbenchError:
        return {}


def prune_runs(
    reports_dir: str | os.PathLike[str], job: Job, *, now: datetime | None = None
) -> list[str]:
    """Remove the run folders of ``job`` its retention does not keep; return their run ids.

    A run is kept when it is among the last ``keep_runs`` or started within
    ``keep_days``; the last successful run and runs still going are always kept. A job
    without ``keep_runs`` or ``keep_days`` keeps everything.
    """
    import shutil

    if job.keep_runs is None and job.keep_days is None:
        return []
    now = now or datetime.now(UTC)
    root = Path(reports_dir)
    runs = [run for run in read_run_records(root) if run.job == job.name]
    last_success = next((run.run_id for run in runs if run.status == "succeeded"), None)
    removed = []
    for position, run in enumerate(runs):
        started = datetime.fromisoformat(run.started_at) if run.started_at else now
        if started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        kept = (
            run.run_id == last_success
            or run.status == "running"
            or (job.keep_runs is not None and position < job.keep_runs)
            or (
                job.keep_days is not None
                and (now - started).total_seconds() < job.keep_days * 86_400
            )
        )
        folder = root / "runs" / run.run_id
        if not kept and folder.is_dir():
            shutil.rmtree(folder)
            removed.append(run.run_id)
    return removed


def _relative(target: str, root: Path) -> str:
    path = Path(target)
    if not path.is_absolute():
        path = Path.cwd() / path
    return os.path.relpath(path, root.resolve())


def _write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a reader never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
