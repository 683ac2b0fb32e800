"""Assignment: which unit sees which variant, decided by a salted hash and kept in the store.

A unit's bucket is ``sha256(f"{salt}:{unit_id}") mod 10,000`` (the salt defaults to
the experiment name); buckets are split among the variants in proportion to their
weights. The same unit always gets the same variant in one experiment, and
experiments with different salts are independent. The design (variants, weights,
salt) is written into every assignment's ``context``, so a readout knows the
split it must check for sample ratio mismatch.

Assignments decided by another system are read the same way: ingest them with
``workbench ingest FILE --table assignments --map ...``; without a recorded
design the readout expects an equal split over the variants it finds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.exceptions import ExperimentError, InvalidArgument

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pandas as pd

    from workbench.capture import IngestReport
    from workbench.store import Store

__all__ = [
    "Design",
    "assign",
    "assign_units",
    "assign_variant",
    "experiment_design",
    "exposures",
    "list_experiments",
]

_BUCKETS = 10_000


def assign_variant(
    unit_id: str,
    *,
    experiment: str,
    variants: Sequence[str],
    weights: Sequence[float] | None = None,
) -> str:
    """Assign a unit to a variant, deterministically, by hashing.

    The bucket is ``sha256(f"{experiment}:{unit_id}")`` mod 10,000; the
    buckets are split among the variants in order, in proportion to
    ``weights`` (equal by default). The same unit always gets the same variant
    in one experiment, and assignments in different experiments are independent.

    Parameters
    ----------
    unit_id : str
        The randomization unit, usually a user id.
    experiment : str
        Experiment name; it salts the hash.
    variants : sequence of str
        Variant names, at least one, unique.
    weights : sequence of float, optional
        Non-negative traffic shares, one per variant, not all zero.

    Returns
    -------
    str
        The variant name.

    Raises
    ------
    InvalidArgument
        If ``variants`` is empty or has duplicates, or ``weights`` does not fit it.

    Examples
    --------
    >>> assign_variant("user_0001", experiment="ads_creative", variants=["control", "treatment"])
    'control'
    >>> assign_variant("user_0001", experiment="ads_creative", variants=["a", "b"], weights=[1, 0])
    'a'
    """
    bounds = _bucket_bounds(variants, weights)
    return list(variants)[int(np.searchsorted(bounds, _bucket(unit_id, experiment), side="right"))]


def _bucket(unit_id: str, experiment: str) -> int:
    digest = hashlib.sha256(f"{experiment}:{unit_id}".encode()).hexdigest()
    return int(digest, 16) % _BUCKETS


def _bucket_bounds(variants: Sequence[str], weights: Sequence[float] | None) -> np.ndarray:
    """Upper bucket bound (exclusive) of each variant, after validating both arguments."""
    names = list(variants)
    if not names or len(set(names)) != len(names):
        raise InvalidArgument(f"variants must be a non-empty list of unique names, got {names!r}")
    shares = np.ones(len(names)) if weights is None else np.asarray(weights, dtype=float)
    if shares.shape != (len(names),) or not (shares >= 0).all() or shares.sum() <= 0:
        raise InvalidArgument(
            f"weights must be {len(names)} non-negative numbers, not all zero, got {weights!r}"
        )
    return np.round(np.cumsum(shares) / shares.sum() * _BUCKETS)


@dataclass(frozen=True)
class Design:
    """How an experiment splits its units.

    Attributes
    ----------
    experiment : str
    variants : list of str
        Variant names; the first is the control unless a readout says otherwise.
    weights : list of float
        Traffic shares, one per variant, summing to 1.
    salt : str or None
        Hash salt; None when the assignments were made elsewhere.
    recorded : bool
        Whether the design was read from the assignments' context (False: it was
        inferred as an equal split over the variants found).
    """

    experiment: str
    variants: list[str]
    weights: list[float]
    salt: str | None = None
    recorded: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The design as plain JSON data."""
        return {
            "experiment": self.experiment,
            "variants": self.variants,
            "weights": self.weights,
            "salt": self.salt,
            "recorded": self.recorded,
        }


def assign_units(
    units: Sequence[str],
    *,
    experiment: str,
    variants: Sequence[str],
    weights: Sequence[float] | None = None,
    salt: str | None = None,
) -> list[str]:
    """The variant of each unit, by salted hash (no store involved).

    Parameters
    ----------
    units : sequence of str
        Unit ids (usually user ids), non-empty text.
    experiment : str
        Experiment name; the default salt.
    variants : sequence of str
        Unique variant names.
    weights : sequence of float, optional
        Non-negative traffic shares, one per variant (equal by default).
    salt : str, optional
        Hash salt; defaults to ``experiment``. Re-using a salt across experiments
        makes their splits identical, which is rarely what you want.

    Returns
    -------
    list of str
        One variant per unit, in order.

    Examples
    --------
    >>> assign_units(["user_0001", "user_0002"], experiment="ads_creative",
    ...              variants=["control", "treatment"])
    ['control', 'treatment']
    """
    _check_name("experiment", experiment)
    if salt is not None:
        _check_name("salt", salt)
    ids = list(units)
    bad = [unit for unit in ids if not isinstance(unit, str) or not unit]
    if bad:
        raise InvalidArgument(
            f"Unit ids must be non-empty text; found {bad[0]!r}. Convert ids to text first."
        )
    bounds = _bucket_bounds(variants, weights)
    key = experiment if salt is None else salt
    buckets = np.fromiter((_bucket(unit, key) for unit in ids), dtype=np.int64, count=len(ids))
    names = list(variants)
    return [names[i] for i in np.searchsorted(bounds, buckets, side="right")]


def assign(
    store: Store,
    units: Sequence[str],
    *,
    experiment: str,
    variants: Sequence[str],
    weights: Sequence[float] | None = None,
    salt: str | None = None,
    assigned_at: datetime | None = None,
) -> IngestReport:
    """Assign ``units`` to variants and write them to the ``assignments`` table.

    Writing goes through capture, so the batch is recorded and a unit assigned
    before is counted as a duplicate (it keeps its first assignment, which the
    hash reproduces anyway). The design is kept in each row's ``context``.

    Parameters
    ----------
    store : Store
    units : sequence of str
        Unit ids to assign.
    experiment, variants, weights, salt
        As in :func:`assign_units`.
    assigned_at : datetime, optional
        When the units were assigned (UTC); now by default.

    Returns
    -------
    IngestReport
        Where every unit went (accepted, or a duplicate of an earlier assignment).

    Raises
    ------
    ExperimentError
        If the experiment already has assignments under a different design:
        changing variants, weights or salt mid-experiment reshuffles units and
        breaks the comparison. Start a new experiment name instead.
    """
    import pyarrow as pa

    from workbench.capture import ingest

    chosen = assign_units(
        units, experiment=experiment, variants=variants, weights=weights, salt=salt
    )
    shares = np.ones(len(variants)) if weights is None else np.asarray(weights, dtype=float)
    design = Design(
        experiment=experiment,
        variants=list(variants),
        weights=(shares / shares.sum()).tolist(),
        salt=experiment if salt is None else salt,
    )
    existing = _recorded_designs(store, experiment)
    mine = {"variants": design.variants, "weights": design.weights, "salt": design.salt}
    if existing and (existing != [mine]):
        raise ExperimentError(
            f"Experiment {experiment!r} already has assignments made with {existing[0]}; "
            f"assigning with {mine} would reshuffle units. Use a new experiment name."
        )
    when = assigned_at or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    context = json.dumps(mine, sort_keys=True)
    table = pa.table(
        {
            "experiment": pa.array([experiment] * len(chosen), pa.string()),
            "unit_id": pa.array(list(units), pa.string()),
            "variant": pa.array(chosen, pa.string()),
            "assigned_at": pa.array([when] * len(chosen), pa.timestamp("us", tz="UTC")),
            "context": pa.array([context] * len(chosen), pa.string()),
        }
    )
    return ingest(store, table, table="assignments", source_name=f"assign {experiment}")


def _check_name(what: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument(f"{what} must be a non-empty name, got {value!r}.")


def _recorded_designs(store: Store, experiment: str) -> list[dict]:
    """The distinct designs recorded in the context of an experiment's assignments."""
    rows = store.sql(
        "SELECT DISTINCT json_extract(context, '$.variants') AS variants, "
        "json_extract(context, '$.weights') AS weights, "
        "json_extract_string(context, '$.salt') AS salt "
        "FROM assignments WHERE experiment = ? AND json_extract(context, '$.weights') IS NOT NULL",
        [experiment],
    ).to_pylist()
    return [
        {
            "variants": json.loads(row["variants"]),
            "weights": [float(w) for w in json.loads(row["weights"])],
            "salt": row["salt"],
        }
        for row in rows
    ]


def experiment_design(store: Store, experiment: str) -> Design:
    """The design of ``experiment``: recorded by :func:`assign`, else an equal split.

    Raises
    ------
    ExperimentError
        If the experiment has no assignments, or its assignments record
        conflicting designs.
    """
    found = store.sql(
        "SELECT variant, count(*) AS units FROM assignments WHERE experiment = ? "
        "GROUP BY variant ORDER BY variant",
        [experiment],
    ).to_pylist()
    if not found:
        known = list_experiments(store)["experiment"].tolist()
        raise ExperimentError(
            f"No assignments for experiment {experiment!r}. Known experiments: "
            f"{', '.join(known) or 'none'}. Assign units with workbench.experiments.assign, or "
            "ingest assignments with `workbench ingest FILE --table assignments`."
        )
    designs = _recorded_designs(store, experiment)
    if len(designs) > 1:
        raise ExperimentError(
            f"Experiment {experiment!r} has assignments made under {len(designs)} different "
            f"designs ({designs}); its variants are not comparable. Analyse each design as its "
            "own experiment."
        )
    if designs:
        return Design(experiment, designs[0]["variants"], designs[0]["weights"], designs[0]["salt"])
    variants = [row["variant"] for row in found]
    return Design(experiment, variants, [1.0 / len(variants)] * len(variants), None, False)


def list_experiments(store: Store) -> pd.DataFrame:
    """One row per experiment: units, variants, and first and last assignment time (UTC)."""
    import pandas as pd

    rows = store.sql(
        "SELECT experiment, count(*) AS units, list(DISTINCT variant ORDER BY variant) AS variants, "
        "min(assigned_at) AS first_assigned, max(assigned_at) AS last_assigned "
        "FROM assignments GROUP BY experiment ORDER BY experiment"
    )
    return pd.DataFrame(rows.to_pylist(), columns=rows.column_names)


def exposures(
    store: Store,
    experiment: str,
    *,
    source: str = "events",
    event_type: str | None = None,
) -> ir.Table:
    """Every assigned unit with its first exposure after assignment (an Ibis expression).

    Parameters
    ----------
    store : Store
    experiment : str
    source : {"events", "deliveries"}
        Where exposures are read: events of ``event_type`` by the unit (as
        ``user_id``), or deliveries to the unit tagged with this experiment.
    event_type : str, optional
        Event type that counts as an exposure (``source="events"`` only; every
        event type when omitted).

    Returns
    -------
    ibis.Table
        ``unit_id, variant, assigned_at, first_exposure_at, exposures``; a unit
        never exposed has a null ``first_exposure_at`` and 0 exposures.
    """
    import ibis

    units = _units(store, experiment)
    if source == "events":
        seen = store.table("events")
        if event_type is not None:
            seen = seen.filter(seen.event_type == event_type)
    elif source == "deliveries":
        if event_type is not None:
            raise InvalidArgument("event_type applies to source='events' only.")
        seen = store.table("deliveries")
        seen = seen.filter(seen.experiment == experiment)
    else:
        raise InvalidArgument(f"source must be 'events' or 'deliveries', got {source!r}.")
    joined = units.join(
        seen, (units.unit_id == seen.user_id) & (seen.ts >= units.assigned_at)
    ).select(unit_id=units.unit_id, ts=seen.ts)
    first = joined.group_by("unit_id").agg(
        first_exposure_at=joined.ts.min(), exposures=ibis._.count()
    )
    out = units.left_join(first, units.unit_id == first.unit_id)
    return out.select(
        unit_id=units.unit_id,
        variant=units.variant,
        assigned_at=units.assigned_at,
        first_exposure_at=first.first_exposure_at,
        exposures=first.exposures.fill_null(0),
    )


def _units(store: Store, experiment: str) -> ir.Table:
    assignments = store.table("assignments")
    return assignments.filter(assignments.experiment == experiment).select(
        "unit_id", "variant", "assigned_at"
    )
