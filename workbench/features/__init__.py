"""Features, point-in-time training sets and splits, as Ibis expressions.

Every function here takes Ibis tables and returns Ibis tables without executing
anything; run the result with ``store.execute``, ``expr.to_pyarrow()`` or any
Ibis backend. Only operations that compile on both DuckDB and PySpark are used,
so the same code runs on either.

The feature-table contract
--------------------------
A feature table is keyed by its entity column(s) plus ``feature_ts``, with at
most one row per key, and **a row's values are computed only from input rows
with ``ts`` strictly before its ``feature_ts``**. The event helpers
(:func:`user_activity_features`, :func:`item_popularity_features`,
:func:`user_item_affinity_features`) emit a row per entity and per time bucket
(``every``, a UTC day by default) in which the entity had events, with
``feature_ts`` the end of that bucket; window aggregates cover
``feature_ts - window <= ts < feature_ts``. An entity with no events in a
bucket gets no row for it, so a later reader sees the last row before (use a
TTL to bound how stale it may be). :func:`series_rolling_features` emits one
row per observation, with ``feature_ts`` the observation's time.

:func:`materialize` writes a :class:`FeatureSet` to the store as ``features_<name>``
and keeps ``online_<name>`` (the latest row per entity) up to date incrementally.

:func:`training_set` relies on the contract: it gives each label the latest
row with ``feature_ts <= label time`` (within an optional TTL), so a label at
time ``t`` sees only events before ``t``.

Examples
--------
>>> import ibis
>>> events = ibis.table(
...     {"event_id": "string", "user_id": "string", "item_id": "string",
...      "event_type": "string", "ts": "timestamp"}
... )
>>> features = user_activity_features(events, windows=[7])
>>> labels = ibis.table({"user_id": "string", "ts": "timestamp", "target": "float64"})
>>> training_set(labels, features, ttl=14).columns[:4]
('user_id', 'ts', 'target', 'feature_ts')
>>> train, test = leave_last_n_split(events, n=1)
"""

from __future__ import annotations

from workbench.features.materialize import materialize
from workbench.lazy import exports

# Public name -> the submodule that defines it, imported when the name is first used.
_LAZY = {
    "item_popularity_features": "helpers",
    "series_rolling_features": "helpers",
    "user_activity_features": "helpers",
    "user_item_affinity_features": "helpers",
    "FeatureSet": "materialize",
    "MaterializeReport": "materialize",
    "Split": "splits",
    "leave_last_n_split": "splits",
    "stratified_split": "splits",
    "temporal_split": "splits",
    "training_set": "training",
}

__all__ = ["materialize", *_LAZY]

__getattr__, __dir__ = exports(__name__, _LAZY, eager=("materialize",))
