"""Writing values into SQL text: string literals and identifiers, quoted one way.

Most SQL the workbench runs binds its values as parameters. Text is written into
SQL where parameters cannot go (DDL, ``ATTACH``, generated column lists) and in the
few hot lookups that avoid them: DuckDB imports pandas for any parameterised query,
half a second a command should not pay.

>>> literal("it's")
"'it''s'"
>>> print(identifier("user id"))
"user id"
"""

from __future__ import annotations

from workbench.exceptions import InvalidArgument

__all__ = ["identifier", "literal"]


def _checked(text: str) -> str:
    if "\x00" in text:
        # DuckDB would end the statement at the NUL: refuse rather than run half of it.
        raise InvalidArgument(f"{text!r} holds a NUL character, which SQL text cannot hold.")
    return text


def literal(text: str) -> str:
    """``text`` as a SQL string literal (single quotes doubled)."""
    return "'" + _checked(str(text)).replace("'", "''") + "'"


def identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier (double quotes doubled)."""
    return '"' + _checked(str(name)).replace('"', '""') + '"'
