"""Reading the arguments people type: durations and points in time, one set of rules.

Every function that takes a window, a period, a gap or a moment reads it here, so
``"7d"`` means seven days everywhere, ``2 weeks`` and ``36h`` work everywhere, an
aware time is converted to UTC everywhere, and a bad value is one
:class:`~workbench.exceptions.InvalidArgument` naming the argument and what to give.

Examples
--------
>>> parse_duration("36h", name="window")
Timedelta('1 days 12:00:00')
>>> parse_duration("d", name="per")  # "alerts per day"
Timedelta('1 days 00:00:00')
>>> parse_time("2026-01-15T06:00:00+02:00", name="since")
datetime.datetime(2026, 1, 15, 4, 0)
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from workbench.exceptions import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["looks_like_duration", "parse_duration", "parse_time"]

# A count (1 when omitted: "d" reads as "1d", the way people write "alerts per day")
# and a unit.
_DURATION = re.compile(r"^\s*(\d*\.?\d+)?\s*([a-z]+)\s*$")
_COUNTED = re.compile(r"^\s*\d*\.?\d+\s*[a-z]+\s*$")
_UNITS = {
    **dict.fromkeys(("s", "sec", "second", "seconds"), "seconds"),
    **dict.fromkeys(("m", "min", "minute", "minutes"), "minutes"),
    **dict.fromkeys(("h", "hour", "hours"), "hours"),
    **dict.fromkeys(("d", "day", "days"), "days"),
    **dict.fromkeys(("w", "week", "weeks"), "weeks"),
}


def looks_like_duration(value: Any) -> bool:
    """Whether ``value`` is duration text with a count (``7d``, ``6h``), not a time."""
    return isinstance(value, str) and _COUNTED.match(value.lower()) is not None


def parse_duration(
    value: Any, *, name: str, allow_zero: bool = False, int_unit: str | None = None
) -> pd.Timedelta:
    """A positive duration from text (``14d``, ``6h``, ``90min``, ``2 weeks``) or a timedelta.

    Parameters
    ----------
    value
        The duration. A plain number is refused (seconds? days?) unless ``int_unit``
        says what a whole number counts, e.g. ``"days"``.
    name
        The argument's name, for the error.
    allow_zero
        Accept a zero duration (a tolerance of none).
    """
    import numpy as np
    import pandas as pd

    advice = "give text like 14d, 6h, 90min or 2w, or a datetime.timedelta"
    if isinstance(value, str):
        match = _DURATION.match(value.lower())
        if match is None or match[2] not in _UNITS:
            raise InvalidArgument(f"{name}={value!r} is not a duration; {advice}.")
        duration = pd.Timedelta(**{_UNITS[match[2]]: float(match[1] or 1)})
    elif isinstance(value, dt.timedelta | pd.Timedelta | np.timedelta64):
        duration = pd.Timedelta(value)
    elif (
        int_unit is not None and isinstance(value, int | np.integer) and not isinstance(value, bool)
    ):
        duration = pd.Timedelta(**{int_unit: int(value)})
    else:
        raise InvalidArgument(f"{name}={value!r} is not a duration; {advice}.")
    if (
        pd.isna(duration)
        or duration < pd.Timedelta(0)
        or (duration == pd.Timedelta(0) and not allow_zero)
    ):
        least = "zero or more" if allow_zero else "positive"
        raise InvalidArgument(f"{name}={value!r} must be a {least} duration, like 14d or 6h.")
    return duration


def parse_time(value: Any, *, name: str) -> dt.datetime | None:
    """A point in time as a naive UTC datetime (None stays None).

    Accepts ISO text (``2026-01-15``, ``2026-01-15T06:00:00Z``, with an offset), a
    :class:`datetime.date` or :class:`~datetime.datetime`, a :class:`pandas.Timestamp`
    or a :class:`numpy.datetime64`; aware times are converted to UTC, naive ones are
    taken as UTC. A plain number is refused: seconds, milliseconds or nanoseconds since
    1970 cannot be told apart.
    """
    import numpy as np
    import pandas as pd

    if value is None:
        return None
    advice = "give ISO text like 2026-01-15 or 2026-01-15T06:00:00Z, or a datetime"
    if isinstance(value, bool | int | float | np.integer | np.floating):
        raise InvalidArgument(f"{name}={value!r} is not a time; {advice}.")
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as error:
        raise InvalidArgument(f"{name}={value!r} is not a time; {advice}.") from error
    if pd.isna(stamp):
        raise InvalidArgument(f"{name}={value!r} is not a time; {advice}.")
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()
