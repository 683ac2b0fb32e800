"""What a model's stored lists serve: how many users, how much of the catalog, how concentrated."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from workbench.delivery.stored import default_model

if TYPE_CHECKING:
    from workbench.store import Store

__all__ = ["StoredCoverage", "stored_coverage"]


@dataclass(frozen=True)
class StoredCoverage:
    """The reach of one version's stored lists.

    Attributes
    ----------
    model : str
        ``name@version`` whose lists these are.
    users : int
        Users with a stored list.
    slots : int
        Rows of those lists (users x k, less where fewer items remained).
    items : int
        Distinct items in the lists.
    catalog : int
        Distinct items with events in the model's scope: what it could recommend.
    top_share : float
        Share of all slots taken by the 10 most recommended items (1.0: everyone gets
        the same ten; near 10 / items: spread evenly).
    computed_at : datetime or None
        When the lists were computed (UTC).
    """

    model: str
    users: int
    slots: int
    items: int
    catalog: int
    top_share: float
    computed_at: datetime | None

    @property
    def catalog_share(self) -> float:
        """Share of the catalog that appears in at least one list."""
        return self.items / self.catalog if self.catalog else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data (times as ISO text), with ``catalog_share``."""
        data = asdict(self)
        data["computed_at"] = self.computed_at.isoformat() if self.computed_at else None
        return {**data, "catalog_share": self.catalog_share}


def stored_coverage(store: Store, model: str | None = None) -> StoredCoverage:
    """How far the stored lists of ``model`` (default: the only champion) reach.

    Raises :class:`~workbench.exceptions.ModelNotFound` when the reference names no
    version.
    """
    from workbench.registry import resolve

    version = resolve(store, model if model is not None else default_model(store))
    scope = version.scope.events_sql()
    with store.reading() as raw:
        users, slots, items, computed_at = raw.execute(
            "SELECT count(DISTINCT user_id), count(*), count(DISTINCT item_id), max(computed_at) "
            "FROM recommendations WHERE model = ? AND version = ?",
            [version.name, version.version],
        ).fetchone()
        (top,) = raw.execute(
            "SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM recommendations "
            "WHERE model = ? AND version = ? GROUP BY item_id ORDER BY n DESC LIMIT 10)",
            [version.name, version.version],
        ).fetchone()
        (catalog,) = raw.execute(
            f"SELECT count(DISTINCT item_id) FROM events WHERE item_id IS NOT NULL AND {scope}"
        ).fetchone()
    return StoredCoverage(
        model=version.ref,
        users=int(users),
        slots=int(slots),
        items=int(items),
        catalog=int(catalog),
        top_share=float(top) / slots if slots else 0.0,
        computed_at=computed_at,
    )
