"""Logging shown slates to ``deliveries``: one row per shown item, in one transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from workbench.schema import CATALOG

if TYPE_CHECKING:
    from workbench.delivery.policies.base import Slate
    from workbench.store import Store

__all__ = ["log_slates"]


def log_slates(
    store: Store,
    slates: Iterable[Slate],
    *,
    experiment: str | None = None,
    variant: str | None = None,
) -> list[str]:
    """Append every shown item of ``slates`` to ``deliveries``, all in one transaction.

    Each row gets a fresh ``delivery_id``, the slate's time, user, item, 1-based
    position, policy, propensity, model name and version (when the slate has a
    model reference; an alias such as ``name@champion`` is resolved through the
    registry), experiment and variant. ``context`` holds the slate's context plus
    ``slate_id`` and ``propensity_method``. ``reward`` stays empty: rewards are
    joined from events when the log is analysed.

    Returns
    -------
    list of str
        The delivery ids, in slate and position order.
    """
    import pyarrow as pa

    rows: dict[str, list] = {
        name: []
        for name in [
            "delivery_id",
            "ts",
            "user_id",
            "context",
            "item_id",
            "position",
            "policy",
            "propensity",
            "model",
            "version",
            "experiment",
            "variant",
        ]
    }
    resolved: dict[str, tuple[str, int]] = {}
    for shown in slates:
        model, version = _split_ref(store, shown.model, resolved)
        context = json.dumps(
            {
                **shown.context,
                "slate_id": shown.slate_id,
                "propensity_method": shown.propensity_method,
            },
            default=str,
            sort_keys=True,
        )
        for position, item, propensity in zip(
            shown.positions, shown.items, shown.propensities, strict=True
        ):
            rows["delivery_id"].append(uuid.uuid4().hex)
            rows["ts"].append(shown.ts or datetime.now(UTC).replace(tzinfo=None))
            rows["user_id"].append(shown.user_id)
            rows["context"].append(context)
            rows["item_id"].append(item)
            rows["position"].append(position)
            rows["policy"].append(shown.policy)
            rows["propensity"].append(propensity)
            rows["model"].append(model)
            rows["version"].append(version)
            rows["experiment"].append(experiment)
            rows["variant"].append(variant)
    table = pa.table(
        {
            **{
                name: pa.array(rows[name], pa.string())
                for name in (
                    "delivery_id",
                    "user_id",
                    "context",
                    "item_id",
                    "policy",
                    "model",
                    "experiment",
                    "variant",
                )
            },
            "ts": pa.array(rows["ts"], pa.timestamp("us")),
            "position": pa.array(rows["position"], pa.int32()),
            "propensity": pa.array(rows["propensity"], pa.float64()),
            "version": pa.array(rows["version"], pa.int32()),
        }
    )
    if table.num_rows:
        with store.transaction() as raw:
            raw.register("__wb_new_deliveries", table)
            try:
                raw.execute(
                    f"INSERT INTO {CATALOG}.main.deliveries (delivery_id, ts, user_id, context, "
                    "item_id, position, policy, propensity, model, version, experiment, variant) "
                    "SELECT delivery_id, ts, user_id, CAST(context AS JSON), item_id, position, "
                    "policy, propensity, model, version, experiment, variant "
                    "FROM __wb_new_deliveries"
                )
            finally:
                raw.unregister("__wb_new_deliveries")
    return list(rows["delivery_id"])


def _split_ref(
    store: Store, ref: str | None, resolved: dict[str, tuple[str, int]]
) -> tuple[str | None, int | None]:
    """``("name", version)`` of a model reference; aliases are resolved once per call."""
    if ref is None:
        return None, None
    if ref not in resolved:
        name, _, version = ref.rpartition("@")
        if name and version.isdigit():
            resolved[ref] = (name, int(version))
        else:
            from workbench.registry import resolve

            found = resolve(store, ref)
            resolved[ref] = (found.name, int(found.version))
    return resolved[ref]
