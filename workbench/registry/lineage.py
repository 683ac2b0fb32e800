"""Lineage: from a row of ``recommendations`` back to the version, its data digest and batches.

The chain ``workbench models show`` prints: the user's stored list, the model
version that computed it, the digest and size of the rows that trained it, and
the ingest batches those rows came from (the ``batches`` table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.exceptions import InvalidArgument, ModelNotFound
from workbench.registry.versions import ModelVersion, resolve

if TYPE_CHECKING:
    import pandas as pd

    from workbench.store import Store

__all__ = ["Lineage", "lineage"]


@dataclass(frozen=True)
class Lineage:
    """From recommendations back to the data: the chain ``workbench models show`` prints.

    Attributes
    ----------
    recommendations : pandas.DataFrame or None
        The user's stored rows (when a user was given).
    version : ModelVersion
        The model version that produced them.
    lists : dict
        Stored lists of that version: ``rows``, ``users``, ``computed_at``.
    batches : pandas.DataFrame
        The ingest batches behind the training rows (``batches`` table rows).
    missing_batches : list of str
        Batches the version names that the store no longer has.
    """

    recommendations: pd.DataFrame | None
    version: ModelVersion
    lists: dict[str, Any]
    batches: pd.DataFrame
    missing_batches: list[str]


def lineage(store: Store, model: str | None = None, *, user_id: str | None = None) -> Lineage:
    """Walk from a recommendation back to the model version, its data digest and batches.

    Parameters
    ----------
    store : Store
    model : str, optional
        A reference (``"als@champion"``, ``"als@3"``). Without one, the version
        behind ``user_id``'s most recently computed list.
    user_id : str, optional
        Start from this user's stored recommendations.

    Raises
    ------
    ModelNotFound
        When neither names anything stored.
    """
    if model is None and user_id is None:
        raise InvalidArgument("Name a model (e.g. 'als@champion') or a user_id to trace.")
    version = resolve(store, model) if model is not None else None
    recommendations = None
    if user_id is not None:
        query = "SELECT * FROM recommendations WHERE user_id = ?"
        params: list[Any] = [user_id]
        if version is not None:
            query += " AND model = ? AND version = ?"
            params += [version.name, version.version]
        rows = store.sql(query + " ORDER BY computed_at DESC, rank", params).to_pandas()
        if rows.empty:
            where = f" from {version.ref}" if version is not None else ""
            raise ModelNotFound(
                f"User {user_id!r} has no stored recommendations{where}; run "
                "`workbench precompute` first, or trace a model: `workbench models show REF`."
            )
        first = rows.iloc[0]
        rows = rows[(rows["model"] == first["model"]) & (rows["version"] == first["version"])]
        recommendations = rows[rows["computed_at"] == rows["computed_at"].max()]
        if version is None:
            version = resolve(store, f"{first['model']}@{int(first['version'])}")
    summary = store.sql(
        "SELECT count(*) AS rows, count(DISTINCT user_id) AS users, max(computed_at) AS "
        "computed_at FROM recommendations WHERE model = ? AND version = ?",
        [version.name, version.version],
    ).to_pylist()[0]
    wanted = version.batches
    batches = store.sql(
        "SELECT batch_id, table_name, source, content_sha256, accepted, finished_at, status "
        "FROM batches WHERE list_contains(?, batch_id) ORDER BY finished_at, batch_id",
        [wanted],
    ).to_pandas()
    missing = sorted(set(wanted) - set(batches["batch_id"]))
    return Lineage(recommendations, version, summary, batches, missing)
