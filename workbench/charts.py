"""Altair charts that draw offline: in notebooks, in reports, from ``file://``.

Altair's default renderer shows a chart with JavaScript loaded from a CDN: with no
network the chart is blank, and a stakeholder opening a report on a train sees
nothing. Two layers make every chart draw offline:

- In a notebook, :func:`enable_offline_charts` switches Altair to its ``svg``
  renderer (vl-convert draws the chart in the kernel; JupyterLab shows SVG of
  trusted notebooks, and PNG always: pass ``"png"`` for notebooks read untrusted).
- In reports, :func:`offline_output` converts any chart output that still needs
  JavaScript (Altair's ``default``/``html`` renderers, or a Vega-Lite MIME bundle)
  into inline SVG. A notebook that forgets to switch renderers still gives a
  report with every chart drawn; this is why the conversion lives in the report
  renderer rather than in each notebook.

vl-convert and altair are imported when first used, so importing this is cheap.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "chart_to_svg",
    "enable_offline_charts",
    "offline_output",
    "vegalite_spec_of",
]

_VEGALITE_MIME = re.compile(r"application/vnd\.vegalite\.v\d+\+json")
_VEGA_MIME = re.compile(r"application/vnd\.vega\.v\d+\+json")
# Altair's HTML output ends by calling its embed function with the spec:
# ``})({...spec...}, {"mode": "vega-lite"});``.
_ALTAIR_HTML_CALL = "})("


#: Chart settings of every report: labels and legends as long as their text (Vega's
#: default cuts them at 180 and 160 px: "synthetic.musi"), overlapping tick labels
#: thinned rather than drawn over each other.
REPORT_CONFIG = {
    "axis": {"labelLimit": 0, "titleLimit": 0, "labelOverlap": "greedy", "labelSeparation": 4},
    "legend": {"labelLimit": 0, "titleLimit": 0},
    "header": {"labelLimit": 0},
    "title": {"limit": 0},
}


def enable_offline_charts(renderer: str = "svg") -> None:
    """Make Altair charts in this kernel draw without a network (``svg`` or ``png``), with
    the report settings (:data:`REPORT_CONFIG`)."""
    if renderer not in {"svg", "png"}:
        raise ValueError(f"renderer {renderer!r}: choose 'svg' or 'png' (both draw offline).")
    import altair as alt

    @alt.theme.register("workbench", enable=True)
    def _report_theme() -> alt.theme.ThemeConfig:
        return alt.theme.ThemeConfig({"config": REPORT_CONFIG})

    alt.renderers.enable(renderer)


def chart_to_svg(chart: Any) -> str:
    """SVG text of an Altair chart or a Vega-Lite spec (a dict), drawn by vl-convert."""
    import vl_convert

    spec = chart if isinstance(chart, Mapping) else chart.to_dict()
    return vl_convert.vegalite_to_svg(dict(spec))


def vegalite_spec_of(data: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The chart spec inside one output's MIME bundle, as ``(kind, spec)``, or None.

    ``kind`` is ``"vega-lite"`` or ``"vega"``. Recognises Vega-Lite and Vega MIME
    bundles and the HTML that Altair's ``default`` and ``html`` renderers write.
    """
    for mime, value in data.items():
        if _VEGALITE_MIME.fullmatch(mime) and isinstance(value, Mapping):
            return "vega-lite", dict(value)
        if _VEGA_MIME.fullmatch(mime) and isinstance(value, Mapping):
            return "vega", dict(value)
    html = data.get("text/html")
    if html is None:
        return None
    html = "".join(html) if isinstance(html, list) else str(html)
    if "vegaEmbed" not in html or "altair-viz" not in html:
        return None
    start = html.rfind(_ALTAIR_HTML_CALL)
    if start < 0:
        return None
    try:
        spec, _ = json.JSONDecoder().raw_decode(html, start + len(_ALTAIR_HTML_CALL))
    except json.JSONDecodeError:
        return None
    return ("vega-lite", spec) if isinstance(spec, dict) else None


def needs_javascript(data: Mapping[str, Any]) -> bool:
    """Whether an output is a chart that only JavaScript from the network would draw."""
    if "image/svg+xml" in data or "image/png" in data:
        return False
    if any(_VEGALITE_MIME.fullmatch(m) or _VEGA_MIME.fullmatch(m) for m in data):
        return True
    html = data.get("text/html")
    html = "".join(html) if isinstance(html, list) else str(html or "")
    return "vegaEmbed" in html


def offline_output(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """A MIME bundle that draws this chart output offline, or None if it needs no change.

    The chart becomes inline SVG. A chart whose spec cannot be read or drawn becomes
    a visible message saying so (never a silently blank space).
    """
    if not needs_javascript(data):
        return None
    found = vegalite_spec_of(data)
    if found is None:
        return _not_drawn("its specification could not be read from the output")
    kind, spec = found
    import vl_convert

    try:
        svg = (
            vl_convert.vegalite_to_svg(spec)
            if kind == "vega-lite"
            else vl_convert.vega_to_svg(spec)
        )
    except ValueError as error:
        return _not_drawn(f"vl-convert could not draw it: {error}")
    return {"image/svg+xml": svg, "text/plain": data.get("text/plain", "chart")}


def _not_drawn(reason: str) -> dict[str, Any]:
    message = (
        f"This chart could not be drawn offline: {reason}. "
        'Call workbench.charts.enable_offline_charts() (or alt.renderers.enable("svg")) '
        "in the notebook."
    )
    return {
        "text/html": f'<p class="workbench-chart-error">{message}</p>',
        "text/plain": message,
    }
