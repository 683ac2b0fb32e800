"""What each event type means: interactions (and their weight), negatives, rewards.

A store holds events of many kinds: plays, skips, likes, ratings, impressions,
clicks. A recommender must not learn a skip as a like, nor an ad impression as a
play. :class:`Feedback` declares the meaning of each event type once, in
``[feedback]`` of ``workbench.toml`` (or as an object in a notebook), and every part
that reads events for a model reads it from there: training
(:func:`workbench.recommend.comparison.load_interactions`), the items a user has
already seen, the popularity fallback, and what a model version records.

.. code-block:: toml

    [feedback]
    interactions = { play = 1, like = 1, rating = 1 }   # weight of one event
    negative = { skip = "exclude" }    # "exclude", or a negative weight such as -1
    rewards = ["click"]                # what rewards a delivery (off-policy, readouts)
    ignored = ["impression"]           # known, read by no model

- An **interaction** adds its weight to the user-item pair. ``{ weight = 1,
  min_value = 4 }`` counts only events whose ``value`` is at least 4 (ratings of 4
  and 5); lower ones count as seen, not liked.
- A **negative** ``"exclude"`` adds nothing, and the item is never recommended to
  that user again; a negative weight subtracts from the pair, and a pair whose sum
  is not positive is seen but not learned from.
- Every event type in none of the four lists is *undeclared*: it is counted by
  nothing, and :meth:`Feedback.coverage` and the training report name it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.config import CONFIG_FILE_NAME, load_config
from workbench.exceptions import ConfigError
from workbench.sql import literal

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

__all__ = ["EXCLUDE", "WEIGHT", "Feedback"]

EXCLUDE = "exclude"
"""A negative event type that adds nothing and keeps the item from being recommended again."""

WEIGHT = "weight"
"""The column :meth:`Feedback.weighted` adds: what one event adds to its user-item pair."""

_KEYS = ("interactions", "negative", "rewards", "ignored")
_UNDECLARED = "undeclared: not counted"


@dataclass(frozen=True)
class Feedback:
    """The meaning of each event type (see the module docstring).

    Attributes
    ----------
    interactions : dict
        Event type -> weight of one event (> 0).
    min_values : dict
        Interaction type -> smallest ``value`` that counts as an interaction; events
        below it count as seen only.
    negative : dict
        Event type -> ``"exclude"`` or a weight < 0.
    rewards : tuple of str
        Event types that reward a delivery.
    ignored : tuple of str
        Event types that are known but read by no model.

    Examples
    --------
    >>> feedback = Feedback.parse({"interactions": {"play": 1, "like": 2}, "negative": {"skip": "exclude"}})
    >>> feedback.meaning("like"), feedback.meaning("skip"), feedback.meaning("share")
    ('interaction, weight 2', 'negative: excluded, never recommended again', 'undeclared: not counted')
    """

    interactions: dict[str, float] = field(
        default_factory=lambda: {"play": 1.0, "like": 1.0, "rating": 1.0}
    )
    min_values: dict[str, float] = field(default_factory=dict)
    negative: dict[str, float | str] = field(default_factory=lambda: {"skip": EXCLUDE})
    rewards: tuple[str, ...] = ("click",)
    ignored: tuple[str, ...] = ("impression",)

    def __post_init__(self) -> None:
        where = f"[feedback] in {CONFIG_FILE_NAME}"
        for event_type, weight in self.interactions.items():
            if not _is_number(weight) or not math.isfinite(weight) or weight <= 0:
                raise ConfigError(
                    f"{where}: interactions.{event_type} must be a weight > 0, got {weight!r}."
                )
        for event_type, minimum in self.min_values.items():
            if event_type not in self.interactions:
                raise ConfigError(
                    f"{where}: min_value given for {event_type!r}, not an interaction."
                )
            if not _is_number(minimum) or not math.isfinite(minimum):
                raise ConfigError(
                    f"{where}: interactions.{event_type}.min_value must be a number, got {minimum!r}."
                )
        for event_type, rule in self.negative.items():
            if rule != EXCLUDE and not (_is_number(rule) and math.isfinite(rule) and rule < 0):
                raise ConfigError(
                    f'{where}: negative.{event_type} must be "exclude" or a weight < 0, got {rule!r}.'
                )
        seen: dict[str, str] = {}
        for kind, names in (
            ("interactions", self.interactions),
            ("negative", self.negative),
            ("rewards", self.rewards),
            ("ignored", self.ignored),
        ):
            for event_type in names:
                if not isinstance(event_type, str) or not event_type:
                    raise ConfigError(f"{where}: {kind} holds {event_type!r}, not an event type.")
                if event_type in seen:
                    raise ConfigError(
                        f"{where}: {event_type!r} is both in {seen[event_type]} and in {kind}; "
                        "an event type has one meaning."
                    )
                seen[event_type] = kind
        if not self.interactions:
            raise ConfigError(f"{where}: interactions is empty; name the event types that train.")

    # --- building -------------------------------------------------------------------

    @classmethod
    def parse(cls, section: Mapping[str, Any]) -> Feedback:
        """A :class:`Feedback` from a ``[feedback]`` table (or a dict of the same shape)."""
        if not isinstance(section, Mapping):
            raise ConfigError(
                f"[feedback] in {CONFIG_FILE_NAME} must be a table with {', '.join(_KEYS)}."
            )
        unknown = sorted(set(section) - set(_KEYS))
        if unknown:
            raise ConfigError(
                f"[feedback] in {CONFIG_FILE_NAME} has unknown key(s) {', '.join(unknown)}; "
                f"it takes {', '.join(_KEYS)}."
            )
        defaults = cls()
        for key in ("interactions", "negative"):
            if not isinstance(section.get(key, {}), Mapping):
                raise ConfigError(f"[feedback] {key} must be a table, e.g. {key} = {{ skip = 1 }}.")
        for key in ("rewards", "ignored"):
            value = section.get(key, [])
            if isinstance(value, str) or not isinstance(value, list | tuple):
                raise ConfigError(f'[feedback] {key} must be a list, e.g. {key} = ["click"].')
        interactions: dict[str, Any] = {}
        min_values: dict[str, Any] = {}
        for event_type, rule in section.get("interactions", defaults.interactions).items():
            if isinstance(rule, Mapping):
                extra = sorted(set(rule) - {"weight", "min_value"})
                if extra:
                    raise ConfigError(
                        f"[feedback] interactions.{event_type} takes weight and min_value, "
                        f"not {', '.join(extra)}."
                    )
                interactions[event_type] = rule.get("weight", 1.0)
                if "min_value" in rule:
                    min_values[event_type] = rule["min_value"]
            else:
                interactions[event_type] = rule
        negative = section.get("negative", defaults.negative)
        rewards = section.get("rewards", defaults.rewards)
        ignored = section.get("ignored", defaults.ignored)
        return cls(
            interactions={name: _float(weight) for name, weight in interactions.items()},
            min_values={name: _float(value) for name, value in min_values.items()},
            negative={
                name: rule if rule == EXCLUDE else _float(rule) for name, rule in negative.items()
            },
            rewards=tuple(rewards),
            ignored=tuple(ignored),
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None = None) -> Feedback:
        """``[feedback]`` of ``workbench.toml`` (or of ``config``); the defaults when absent."""
        config = load_config() if config is None else config
        section = config.get("feedback")
        return cls() if section is None else cls.parse(section)

    @classmethod
    def resolve(cls, feedback: Feedback | Mapping[str, Any] | None = None) -> Feedback:
        """``feedback`` as an object: itself, parsed from a dict, or from the configuration."""
        if isinstance(feedback, Feedback):
            return feedback
        if feedback is None:
            return cls.from_config()
        return cls.parse(feedback)

    # --- reading events ---------------------------------------------------------------

    @property
    def counted(self) -> tuple[str, ...]:
        """The event types a recommender reads: interactions, then negatives."""
        return (*self.interactions, *self.negative)

    def meaning(self, event_type: str) -> str:
        """What one event type means, in words."""
        if event_type in self.interactions:
            weight = f"interaction, weight {self.interactions[event_type]:g}"
            if event_type in self.min_values:
                weight += f" when value >= {self.min_values[event_type]:g} (else seen only)"
            return weight
        if event_type in self.negative:
            rule = self.negative[event_type]
            if rule == EXCLUDE:
                return "negative: excluded, never recommended again"
            return f"negative, weight {rule:g}"
        if event_type in self.rewards:
            return "reward"
        if event_type in self.ignored:
            return "ignored"
        return _UNDECLARED

    def weighted(self, events: ir.Table) -> ir.Table:
        """The events a recommender reads, each with its ``weight`` column.

        Interactions carry their weight (0 below their ``min_value``), excluded
        negatives 0 and weighted negatives their negative weight; every row marks its
        user-item pair as seen. Other event types are left out.
        """
        import ibis

        kept = events.filter(events["event_type"].isin(list(self.counted)))
        cases = []
        for event_type, weight in self.interactions.items():
            is_type = kept["event_type"] == event_type
            if event_type in self.min_values:
                counts = kept["value"] >= self.min_values[event_type]
                cases.append((is_type & counts, weight))
                cases.append((is_type, 0.0))
            else:
                cases.append((is_type, weight))
        for event_type, rule in self.negative.items():
            cases.append((kept["event_type"] == event_type, 0.0 if rule == EXCLUDE else rule))
        weight = ibis.cases(*[(when, ibis.literal(float(w))) for when, w in cases], else_=0.0)
        return kept.mutate(**{WEIGHT: weight.cast("float64")})

    def weight_sql(self, alias: str = "") -> str:
        """SQL for :meth:`weighted`'s ``weight`` of an event row, NULL for types not read.

        The same rules as :meth:`weighted`, for code that reads the store in SQL (the
        popularity fallback of the service and of stored lists).
        """
        cases = []
        for event_type, weight in self.interactions.items():
            is_type = f"{alias}event_type = {literal(event_type)}"
            if event_type in self.min_values:
                minimum = self.min_values[event_type]
                cases.append(f"WHEN {is_type} AND {alias}value >= {minimum!r} THEN {weight!r}")
                cases.append(f"WHEN {is_type} THEN 0.0")
            else:
                cases.append(f"WHEN {is_type} THEN {weight!r}")
        for event_type, rule in self.negative.items():
            value = 0.0 if rule == EXCLUDE else rule
            cases.append(f"WHEN {alias}event_type = {literal(event_type)} THEN {value!r}")
        return f"CAST(CASE {' '.join(cases)} END AS DOUBLE)"

    def coverage(self, events: ir.Table) -> pd.DataFrame:
        """Each event type of ``events`` with its count and meaning, most frequent first."""
        counts = (
            events.group_by("event_type")
            .agg(events=events.count())
            .order_by([events.count().desc(), "event_type"])
            .execute()
        )
        counts["event_type"] = counts["event_type"].fillna("(none)")
        counts["meaning"] = [self.meaning(t) for t in counts["event_type"]]
        return counts.sort_values(
            ["events", "event_type"], ascending=[False, True], ignore_index=True
        )

    def undeclared(self, events: ir.Table) -> dict[str, int]:
        """Event types of ``events`` that no list declares, with their counts."""
        table = self.coverage(events)
        rows = table[table["meaning"] == _UNDECLARED]
        return dict(zip(rows["event_type"], rows["events"].astype(int), strict=True))

    # --- recording --------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The declaration as plain JSON data (what a model version records)."""
        interactions: dict[str, Any] = {}
        for event_type, weight in self.interactions.items():
            if event_type in self.min_values:
                interactions[event_type] = {
                    "weight": weight,
                    "min_value": self.min_values[event_type],
                }
            else:
                interactions[event_type] = weight
        return {
            "interactions": interactions,
            "negative": dict(self.negative),
            "rewards": list(self.rewards),
            "ignored": list(self.ignored),
        }

    def describe(self) -> str:
        """One line: what trains and what does not."""
        parts = [f"{t} {self.interactions[t]:g}" for t in self.interactions]
        negatives = [
            f"{t} {'excluded' if r == EXCLUDE else f'{r:g}'}" for t, r in self.negative.items()
        ]
        text = "interactions " + ", ".join(parts)
        if negatives:
            text += "; negative " + ", ".join(negatives)
        if self.rewards:
            text += "; rewards " + ", ".join(self.rewards)
        return text


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _float(value: Any) -> Any:
    """Numbers as floats; anything else unchanged, for the checks to name it."""
    return float(value) if _is_number(value) else value
