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

import html
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench.charts import offline_output
from workbench.exceptions import WorkbenchError
from workbench.provenance import InputSnapshot
from workbench.runs.parameters import declared_parameters
from workbench.runs.records import Run, loaded_paths, stored_paths
from workbench.runs.results import MODEL_VERSION, RESULT_MIMETYPE

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
  padding: 3px 8px; text-align: right; }
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
.wb-error { background: #fdecea; border: 1px solid #c62828; padding: 0.6em; margin-top: 0.6em;
  white-space: pre-wrap; font-family: monospace; }
.workbench-chart-error { color: #c62828; font-weight: 600; }
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
        body = _notebook_html(notebook_path, header)
    else:
        body = (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(run.job)}"
            f"</title><style>{_PAGE_STYLE}</style></head><body><main>{header}"
            "<p>No output notebook was written.</p></main></body></html>"
        )
    _write_atomically(path, body)
    return path


def _notebook_html(notebook_path: Path, header: str) -> str:
    import nbformat
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from pygments.formatters import HtmlFormatter

    notebook = nbformat.read(notebook_path, as_version=4)
    _prepare(notebook)
    exporter = HTMLExporter(
        template_name="basic",
        extra_loaders=[DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
        template_file=_TEMPLATE_NAME,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    cells, _ = exporter.from_notebook_node(notebook)
    # The failing cell's code is highlighted by pygments: its colours, scoped to code.
    code_style = HtmlFormatter().get_style_defs(".highlight")
    title = html.escape(notebook_path.stem)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{title}</title><style>{_PAGE_STYLE}{code_style}</style></head>"
        f"<body><main>{header}{cells}</main></body></html>\n"
    )


def _prepare(notebook: Any) -> None:
    """Hide code inputs (except a failing cell's), drop recorded-result outputs (the
    header and ``runs show`` carry them), and make every chart draw offline."""

    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        outputs = cell.get("outputs", [])
        if not any(output.get("output_type") == "error" for output in outputs):
            cell.metadata.setdefault("transient", {})["remove_source"] = True
        kept = []
        for output in outputs:
            data = output.get("data")
            if data is not None:
                data.pop(RESULT_MIMETYPE, None)
                if not data:
                    continue
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
    esc = html.escape
    results = run.results or {}
    model = results.get(MODEL_VERSION)
    duration = run.duration_seconds
    rows = [
        ("Run", f"<code>{esc(run.run_id)}</code> ({esc(run.trigger)})"),
        ("Notebook", f"<code>{esc(run.notebook)}</code>"),
        ("Parameters", _parameters_html(run.params, defaults)),
        ("Data snapshot", esc(_describe_data(run))),
        ("Model version", esc(str(model)) if model else "none recorded"),
        ("Started", esc(_when(run.started_at))),
        ("Duration", "still running" if duration is None else f"{duration:.1f} s"),
    ]
    if run.output_path:
        rows.append(("Output notebook", _link(run.output_path, run.report_path)))
    table = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    error = (
        f'<div class="wb-error">This run failed: {esc(run.error)}\n'
        "The notebook below stopped at the failing cell (shown with its code and traceback).</div>"
        if run.status == "failed" and run.error
        else ""
    )
    return (
        f'{_STYLE}<header class="wb-header"><h1>{esc(run.job)} '
        f'<span class="wb-status wb-{esc(run.status)}">{esc(run.status)}</span></h1>'
        f"<table>{table}</table>{error}</header>"
    )


def _parameters_html(params: dict[str, Any], defaults: dict[str, str]) -> str:
    """Every parameter the notebook ran with: the given ones, then the defaults it kept."""
    lines = [
        f"<code>{html.escape(name)} = {html.escape(json.dumps(value))}</code>"
        for name, value in sorted(params.items())
    ]
    lines += [
        f"<code>{html.escape(name)} = {html.escape(default)}</code> (default)"
        for name, default in defaults.items()
        if name not in params
    ]
    return "<br>".join(lines) or "none"


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
    """Rewrite ``index.html``: every run in ``reports_dir``, newest first."""
    root = Path(reports_dir)
    runs = read_run_records(root)
    esc = html.escape
    rows = []
    for run in runs:
        duration = run.duration_seconds
        links = []
        if run.report_path:
            links.append(f'<a href="{esc(_relative(run.report_path, root))}">report</a>')
        if run.output_path:
            links.append(f'<a href="{esc(_relative(run.output_path, root))}">notebook</a>')
        params = ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(run.params.items()))
        rows.append(
            "<tr>"
            f"<td>{esc(_when(run.started_at))}</td><td>{esc(run.job)}</td>"
            f'<td><span class="wb-status wb-{esc(run.status)}">{esc(run.status)}</span></td>'
            f"<td>{'' if duration is None else f'{duration:.1f} s'}</td>"
            f"<td><code>{esc(params)}</code></td><td>{' · '.join(links)}</td>"
            f"<td><code>{esc(run.run_id)}</code>"
            f"{'<br>' + esc(run.error) if run.error else ''}</td></tr>"
        )
    table = (
        "<table><thead><tr><th>started</th><th>job</th><th>status</th><th>duration</th>"
        "<th>parameters</th><th>open</th><th>run</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        if rows
        else "<p>No runs yet: <code>workbench run JOB</code> adds one.</p>"
    )
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Workbench reports</title>"
        f"{_STYLE}<style>body {{ font-family: system-ui, sans-serif; margin: 2em; }}"
        "table { border-collapse: collapse; } th, td { text-align: left; padding: 4px 10px; "
        "border-bottom: 1px solid #eee; vertical-align: top; }</style></head><body>"
        f"<h1>Workbench reports</h1><p>{len(runs)} runs, newest first. Updated "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.</p>{table}</body></html>"
    )
    path = root / INDEX_FILE
    _write_atomically(path, page)
    return path


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
