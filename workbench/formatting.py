"""How numbers and tables read in a report: for the people who act on them.

- :func:`format_value` writes one value in a style (3 significant digits, a count
  with thousands separators, a percentage, a signed change, seconds).
- :func:`present` turns a DataFrame into a table a stakeholder reads: human column
  names, no index, every number in its style, yes/no for booleans, a dash where a
  value is missing (never ``NaN`` or ``None``), long text wrapped rather than cut.

Examples
--------
>>> import pandas as pd
>>> frame = pd.DataFrame({"metric": ["plays"], "lift_low": [0.0123], "passed": [True]})
>>> rows = present(frame, styles={"lift_low": "change"}).data
>>> rows.columns.tolist(), rows.iloc[0].tolist()
(['Metric', 'Lift low', 'Passed'], ['plays', '+1.2%', 'yes'])
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler

__all__ = ["MISSING", "STYLES", "format_value", "label", "present"]

#: How a value is written: ``number`` (3 significant digits), ``count`` (whole, with
#: thousands separators), ``percent`` (12.4%), ``change`` (+12.4%), ``seconds`` (2.1 s),
#: ``text`` (as it is).
STYLES = ("number", "count", "percent", "change", "seconds", "text")
#: What a missing value reads as.
MISSING = "n/a"

# Words a reader writes in capitals or with their own spelling.
_WORDS = {
    "ndcg": "nDCG",
    "psi": "PSI",
    "ks": "KS",
    "ci": "CI",
    "srm": "SRM",
    "ope": "OPE",
    "kpi": "KPI",
    "ips": "IPS",
    "snips": "SNIPS",
    "dr": "DR",
    "ctr": "CTR",
    "auc": "AUC",
    "pr": "PR",
    "roc": "ROC",
    "id": "ID",
    "p": "p",
    "cuped": "CUPED",
    "map": "MAP",
}


def format_value(value: Any, style: str = "number") -> str:
    """``value`` as a reader should see it in ``style`` (see :data:`STYLES`).

    Examples
    --------
    >>> [format_value(0.15234), format_value(1234.5), format_value(12345, "count")]
    ['0.152', '1,234', '12,345']
    >>> [format_value(0.124, "percent"), format_value(-0.031, "change"), format_value(None)]
    ['12.4%', '-3.1%', 'n/a']
    >>> format_value(0.00000223)
    '2.2e-06'
    """
    if style not in STYLES:
        raise InvalidArgument(f"style={style!r}: choose one of {', '.join(STYLES)}.")
    if _missing(value):
        return MISSING
    if isinstance(value, bool) or (hasattr(value, "dtype") and str(value.dtype) == "bool"):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime | dt.date) or type(value).__name__ == "Timestamp":
        return _moment(value)
    if style == "text" or (not isinstance(value, int | float) and not hasattr(value, "__float__")):
        return str(value)
    value = float(value)
    if style == "count":
        return f"{round(value):,}"
    if style == "percent":
        return f"{value:.1%}"
    if style == "change":
        return f"{value:+.1%}"
    if style == "seconds":
        return f"{value:,.1f} s"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude < -3:
        return f"{value:.2g}"
    if magnitude >= 2:
        return f"{value:,.0f}"
    return f"{value:.{max(2 - magnitude, 0)}f}"


def label(name: str) -> str:
    """A column or metric name as a reader writes it.

    Examples
    --------
    >>> [label("ndcg_at_10_score"), label("lift_low"), label("ks_pvalue"), label("map_at_k_score")]
    ['nDCG@10', 'Lift low', 'KS p-value', 'MAP@k']
    """
    if name == "mean_average_precision_score":
        return "MAP"
    text = re.sub(r"_at_(\d+|k)\b", r"@\1", str(name).removesuffix("_score"))
    text = text.replace("pvalue", "p_value").replace("p_value", "p-value")
    words = []
    for word in text.split("_"):
        head, at, tail = word.partition("@")
        words.append(_WORDS.get(head.lower(), head) + at + tail)
    joined = " ".join(words)
    if text.split("_")[0].partition("@")[0].lower() in _WORDS:
        return joined
    return joined[:1].upper() + joined[1:]


def present(
    frame: pd.DataFrame,
    *,
    styles: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Styler:
    """``frame`` as a stakeholder table (a pandas Styler, drawn as HTML by notebooks).

    Columns keep their order; their names go through :func:`label` unless ``labels``
    names them. A column's style comes from ``styles``, else from its values: whole
    numbers are counts, other numbers get 3 significant digits, booleans read yes/no,
    text stays text; a missing value reads as :data:`MISSING`. The index is not shown
    (a meaningful index should be a column: ``frame.reset_index()``). Cells are
    already text, so the table is what a copy-paste gives.
    """
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise InvalidArgument(f"present takes a pandas DataFrame, not a {type(frame).__name__}.")
    styles = dict(styles or {})
    unknown = sorted(set(styles) - set(frame.columns))
    if unknown:
        raise InvalidArgument(
            f"styles name {', '.join(map(str, unknown))}, which the table does not have; its "
            f"columns are {', '.join(map(str, frame.columns))}."
        )
    shown = pd.DataFrame(index=range(len(frame)))
    names = dict(labels or {})
    text_columns = []
    for column in frame.columns:
        values = frame[column].reset_index(drop=True)
        style = styles.get(column) or _style_of(values)
        name = names.get(column) or label(str(column))
        shown[name] = [format_value(value, style) for value in values]
        if style == "text":
            text_columns.append(name)
    # Numbers line up on the right, words read from the left.
    table = (
        shown.style.hide(axis="index")
        .set_table_attributes('class="wb-table"')
        .set_properties(**{"white-space": "normal", "overflow-wrap": "break-word"})
    )
    # A heading may break inside a long word when a wide table needs the room, never
    # inside a short one ("Day" beside a column of long text): a heading of words of 5
    # letters or fewer keeps their width. Headings of text columns read from the left, as
    # their cells do.
    headings = {}
    for name in shown.columns:
        longest = max((len(word) for word in str(name).split()), default=1)
        props = f"min-width: {longest + 1}ch;" if longest <= 5 else ""
        if name in text_columns:
            props += " text-align: left;"
        if props:
            headings[name] = [{"selector": "th", "props": props.strip()}]
    table = table.set_table_styles(headings, overwrite=False)
    if text_columns:
        table = table.set_properties(subset=text_columns, **{"text-align": "left"})
    return table


def _moment(value: Any) -> str:
    """A time to the minute (UTC is the store's zone), a date alone when it is midnight."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    if (value.hour, value.minute, value.second) == (0, 0, 0):
        return f"{value:%Y-%m-%d}"
    return f"{value:%Y-%m-%d %H:%M}"


def _style_of(values: pd.Series) -> str:
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        return "text"
    if pd.api.types.is_integer_dtype(values):
        return "count"
    if pd.api.types.is_float_dtype(values):
        finite = values.dropna()
        whole = len(finite) and (finite == finite.round()).all() and finite.abs().max() >= 10
        return "count" if whole else "number"
    return "text"


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT and pandas.NA are not equal to themselves
    except (TypeError, ValueError):
        return False
