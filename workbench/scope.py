"""Which data a job reads: sources and event types of events, prefixes of series.

One store may hold several products and experiments: a music app's plays, an
ads test's impressions, hosts' metrics. Nothing should mix them unless a job asks
to. A :class:`Scope` names the part a job reads; scopes are declared once in
``workbench.toml`` and named by the jobs (their ``scope`` parameter):

.. code-block:: toml

    [scopes.music]
    description = "The music app's listening events."
    sources = ["synthetic.music"]          # events' source column; empty: every source
    event_types = ["play", "skip", "like"]  # optional; empty: every event type

    [scopes.hosts]
    series = ["host_"]                     # observations whose series_id starts so

A scope is part of what a run depends on (a new batch of another product does not
make a job due), and the report header says which scope a run read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.config import CONFIG_FILE_NAME, find_config, load_config
from workbench.exceptions import ConfigError
from workbench.sql import literal

if TYPE_CHECKING:
    import ibis.expr.types as ir

__all__ = ["Scope"]

_KEYS = ("description", "sources", "event_types", "series")


@dataclass(frozen=True)
class Scope:
    """A part of the store's data; the empty scope is everything.

    Attributes
    ----------
    name : str or None
        Its name under ``[scopes]``, when it has one.
    sources : tuple of str
        Events whose ``source`` is one of these; empty: every source.
    event_types : tuple of str
        Events of these types; empty: every type.
    series : tuple of str
        Observations whose ``series_id`` starts with one of these; empty: every series.
    description : str
        What it is, for people.

    Examples
    --------
    >>> Scope.parse({"sources": ["synthetic.music"]}, name="music").describe()
    'music: source synthetic.music'
    >>> Scope().describe()
    'everything'
    """

    name: str | None = None
    sources: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    series: tuple[str, ...] = ()
    description: str = ""

    @classmethod
    def parse(cls, section: Mapping[str, Any], *, name: str | None = None) -> Scope:
        """A scope from a ``[scopes.NAME]`` table (or a dict of the same shape)."""
        where = f"[scopes.{name}] in {CONFIG_FILE_NAME}" if name else "A scope"
        if not isinstance(section, Mapping):
            raise ConfigError(f"{where} must be a table with any of {', '.join(_KEYS[1:])}.")
        unknown = sorted(set(section) - set(_KEYS))
        if unknown:
            raise ConfigError(
                f"{where} has unknown key(s) {', '.join(unknown)}; it takes {', '.join(_KEYS)}."
            )
        lists = {}
        for key in ("sources", "event_types", "series"):
            value = section.get(key, [])
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, Sequence) or not all(isinstance(v, str) and v for v in value):
                raise ConfigError(f'{where}: {key} must be a list of text, e.g. ["a", "b"].')
            lists[key] = tuple(value)
        description = section.get("description", "")
        if not isinstance(description, str):
            raise ConfigError(f"{where}: description must be text.")
        return cls(name=name, description=description, **lists)

    @classmethod
    def from_dict(cls, recorded: Mapping[str, Any] | None) -> Scope:
        """The scope :meth:`to_dict` recorded (everything for None or an empty record)."""
        if not recorded:
            return cls()
        fields = {key: value for key, value in recorded.items() if key != "name"}
        return cls.parse(fields, name=recorded.get("name"))

    @classmethod
    def named(cls, name: str, config: Mapping[str, Any] | None = None) -> Scope:
        """The scope ``[scopes.NAME]`` of ``workbench.toml`` (or of ``config``)."""
        if config is None:
            if find_config() is None:
                raise ConfigError(
                    f"No {CONFIG_FILE_NAME} in {Path.cwd()} or a folder above it, so no scope "
                    f"{name!r} is declared. Run from the project's folder, or pass scope=None "
                    "(every event) or a scope such as {'sources': ['my.app']}."
                )
            config = load_config()
        scopes = config.get("scopes", {})
        if not isinstance(scopes, Mapping):
            raise ConfigError(
                f"[scopes] in {CONFIG_FILE_NAME} must hold tables like [scopes.NAME]."
            )
        if name not in scopes:
            known = ", ".join(sorted(scopes)) or "none are declared"
            raise ConfigError(
                f"No scope {name!r} in {CONFIG_FILE_NAME} (scopes: {known}). Declare it as "
                f'[scopes.{name}] with sources = ["..."], or pass scope=None to read everything.'
            )
        return cls.parse(scopes[name], name=name)

    @staticmethod
    def declared(config: Mapping[str, Any] | None = None) -> list[str]:
        """The names under ``[scopes]`` of ``workbench.toml`` (or of ``config``), in order."""
        config = load_config() if config is None else config
        scopes = config.get("scopes", {})
        return list(scopes) if isinstance(scopes, Mapping) else []

    @classmethod
    def resolve(cls, scope: Scope | str | Mapping[str, Any] | None) -> Scope:
        """``scope`` as an object: itself, a name from ``workbench.toml``, a dict, or everything."""
        if isinstance(scope, Scope):
            return scope
        if scope is None:
            return cls()
        if isinstance(scope, str):
            return cls.named(scope)
        return cls.parse(scope)

    @property
    def is_everything(self) -> bool:
        """Whether the scope leaves nothing out."""
        return not (self.sources or self.event_types or self.series)

    def events(self, table: ir.Table) -> ir.Table:
        """The rows of an events-shaped table (``source``, ``event_type``) in the scope."""
        if self.sources:
            table = table.filter(table["source"].isin(list(self.sources)))
        if self.event_types:
            table = table.filter(table["event_type"].isin(list(self.event_types)))
        return table

    def observations(self, table: ir.Table) -> ir.Table:
        """The rows of an observations-shaped table (``series_id``) in the scope."""
        if not self.series:
            return table
        import functools
        import operator

        return table.filter(
            functools.reduce(
                operator.or_, [table["series_id"].startswith(prefix) for prefix in self.series]
            )
        )

    def events_sql(self, alias: str = "") -> str:
        """The scope as an SQL condition on events (``TRUE`` for everything)."""
        return (
            " AND ".join(
                [
                    *self._in(f"{alias}source", self.sources),
                    *self._in(f"{alias}event_type", self.event_types),
                ]
            )
            or "TRUE"
        )

    def observations_sql(self, alias: str = "") -> str:
        """The scope as an SQL condition on observations (``TRUE`` for everything)."""
        if not self.series:
            return "TRUE"
        starts = " OR ".join(f"starts_with({alias}series_id, {literal(p)})" for p in self.series)
        return f"({starts})"

    @staticmethod
    def _in(column: str, values: tuple[str, ...]) -> list[str]:
        if not values:
            return []
        return [f"{column} IN ({', '.join(literal(v) for v in values)})"]

    def to_dict(self) -> dict[str, Any]:
        """The scope as plain JSON data (what runs and model versions record)."""
        return {
            "name": self.name,
            "sources": list(self.sources),
            "event_types": list(self.event_types),
            "series": list(self.series),
        }

    def describe(self) -> str:
        """One line for a report header."""
        parts = []
        for label, values in (
            ("source", self.sources),
            ("event type", self.event_types),
            ("series", self.series),
        ):
            if values:
                plural = "" if len(values) == 1 or label == "series" else "s"
                suffix = "*" if label == "series" else ""
                parts.append(f"{label}{plural} " + ", ".join(v + suffix for v in values))
        what = "; ".join(parts) if parts else "everything"
        return f"{self.name}: {what}" if self.name else what
