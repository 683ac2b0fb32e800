"""Tables handed to the workbench's functions, turned into one form: a pandas DataFrame.

A function that takes "a table" accepts the same things everywhere: a pandas
DataFrame, a pyarrow Table or RecordBatch, an Ibis table (executed once), or a
polars frame (anything with ``to_pandas()``). Anything else is one
:class:`~workbench.exceptions.InvalidArgument` naming the argument.

>>> import pyarrow as pa
>>> to_frame(pa.table({"user_id": ["a"]}), name="events").columns.tolist()
['user_id']
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["json_records", "to_frame", "utc_text"]


def to_frame(data: Any, *, name: str) -> pd.DataFrame:
    """``data`` as a pandas DataFrame (the same object when it already is one)."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if type(data).__module__.startswith("ibis."):
        return _executed(data)
    for method in ("to_pandas", "execute"):
        convert = getattr(data, method, None)
        if callable(convert) and not isinstance(data, type):
            frame = convert()
            if isinstance(frame, pd.DataFrame):
                return frame
    raise InvalidArgument(
        f"{name} must be a table (a pandas DataFrame, a pyarrow Table or an Ibis table), "
        f"got {type(data).__name__}."
    )


def _executed(table: Any) -> pd.DataFrame:
    """An Ibis table executed to pandas as ``to_pandas`` gives it (JSON columns as Python
    values), with each distinct JSON text parsed once rather than once per row.

    Events repeat a handful of contexts across hundreds of thousands of rows: parsing
    them row by row was most of the cost of loading interactions. Rows with the same
    text share one parsed value; treat JSON values as read-only.
    """
    import numpy as np
    import pandas as pd

    texts = [name for name, dtype in table.schema().items() if dtype.is_json()]
    if not texts:
        return table.to_pandas()
    frame = table.mutate(**{name: table[name].cast("string") for name in texts}).to_pandas()
    for name in texts:
        codes, distinct = pd.factorize(frame[name], use_na_sentinel=True)
        parsed = np.empty(len(distinct) + 1, dtype=object)
        parsed[:-1] = [_parse_json(text) for text in distinct]
        parsed[-1] = np.nan  # SQL NULL (code -1), as Ibis gives it
        frame[name] = pd.Series(parsed[codes], index=frame.index, dtype=object)
    return frame


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text  # as Ibis leaves a text it cannot parse


def json_records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts: times as ISO text with their zone, missing values as None.

    The store keeps times in UTC without a zone; they are written with ``+00:00`` so a
    reader never has to guess.
    """
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            times = out[column]
            if times.dt.tz is None:
                times = times.dt.tz_localize("UTC")
            out[column] = times.map(lambda t: None if pd.isna(t) else utc_text(t))
    out = out.astype(object)
    return out.where(out.notna(), None).to_dict("records")


def utc_text(when: Any) -> str | None:
    """A stored time (UTC, no zone) as ISO text that says it is UTC; None stays None."""
    import datetime as dt

    if when is None:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).isoformat()
