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

from typing import TYPE_CHECKING, Any

from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["to_frame"]


def to_frame(data: Any, *, name: str) -> pd.DataFrame:
    """``data`` as a pandas DataFrame (the same object when it already is one)."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
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
