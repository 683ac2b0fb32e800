"""Delivery A, batch: precompute every user's list into ``recommendations``.

:func:`precompute` scores every user the model knows, a chunk of users at a time
(through the model's ``top_k_rows``, the path ``recommend`` takes), and streams the
lists to a Parquet file outside the store; one transaction then replaces that model
version's rows of ``recommendations`` with the file's. Memory holds one chunk of
lists, and the store is held only for the final swap. The served snapshots
(:mod:`workbench.delivery.stored`) are forgotten, so the next retrieval reads the new
lists.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from workbench.delivery.semantics import seen_matrix, served_semantics
from workbench.delivery.stored import check_positive, default_model, forget_snapshots
from workbench.faults import crash_point, remove_dead_scratch

if TYPE_CHECKING:
    from workbench.headline import Headline
    from workbench.store import Store

__all__ = ["PrecomputeReport", "precompute"]

_RECOMMENDATION_COLUMNS = ("model", "version", "user_id", "rank", "item_id", "score", "computed_at")


@dataclass(frozen=True)
class PrecomputeReport:
    """What :func:`precompute` wrote.

    Attributes
    ----------
    model : str
        ``name@version`` of the model that scored.
    users : int
        Users scored (every user the model knows).
    users_without_items : int
        Of them, users left with no list (they had seen every item).
    rows : int
        Rows written to ``recommendations``.
    replaced : int
        Rows of the same version removed (an earlier precompute).
    k : int
        Items per user asked for.
    chunks : int
        Chunks of users scored.
    seconds : float
        Wall time, scoring and writing.
    computed_at : datetime
        The ``computed_at`` of every written row (UTC).
    """

    model: str
    users: int
    users_without_items: int
    rows: int
    replaced: int
    k: int
    chunks: int
    seconds: float
    computed_at: datetime

    def summary(self) -> str:
        """One line: what was written, from which model, how fast."""
        return (
            f"{self.model}: top {self.k} for {self.users:,} users, {self.rows:,} rows written "
            f"({self.replaced:,} earlier rows of this version replaced; "
            f"{self.users_without_items:,} users had seen every item) in {self.seconds:.1f} s."
        )

    def headline(self) -> Headline:
        """What is served now, in one sentence; the first figure is the users with lists."""
        from workbench.headline import Figure, Headline

        served = self.users - self.users_without_items
        figures = (
            Figure("users with lists", served, "count"),
            Figure("items per list", self.k, "count"),
            Figure("time", self.seconds, "seconds"),
        )
        if served == 0:
            return Headline(
                f"No stored lists were written from {self.model}: every user had seen every "
                "item. Retrain on newer data or widen the catalogue.",
                "act",
                figures,
            )
        without = (
            f"; {self.users_without_items:,} users had seen every item and get the fallback"
            if self.users_without_items
            else ""
        )
        return Headline(
            f"{self.model} now serves stored lists of {self.k} items to {served:,} users{without}.",
            "watch" if self.users_without_items else "ok",
            figures,
        )

    def to_dict(self) -> dict:
        """The report as a JSON-ready dict (times as ISO text)."""
        fields = asdict(self)
        fields["computed_at"] = self.computed_at.isoformat()
        return fields


def precompute(
    store: Store,
    model: str | None = None,
    k: int = 10,
    *,
    chunk_size: int = 20_000,
    progress: bool = False,
    exclude_seen: bool = True,
) -> PrecomputeReport:
    """Score every user the model knows and store their top ``k`` in ``recommendations``.

    Parameters
    ----------
    store : Store
    model : str, optional
        A reference, e.g. ``"als@champion"`` or ``"als@3"``; default the
        champion of the only model that has one. The rows record the version
        it resolves to.
    k : int
        Items per user, >= 1.
    chunk_size : int
        Users scored at once; memory grows with ``chunk_size * k`` rows (the
        model itself scores in smaller blocks).
    progress : bool
        Show a progress bar (rich) while scoring.
    exclude_seen : bool
        Leave out the items each user has met: in training, and in every event of the
        model's scope the store holds now that its feedback counts (plays, likes,
        skips), such as the events held out for testing or those since training.

    Returns
    -------
    PrecomputeReport

    Notes
    -----
    The earlier rows of the same model version are replaced in one
    transaction: a reader sees the old lists or the new ones, never a mix.
    Rows of other versions stay (they are what older deliveries came from).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from workbench.registry import load_version, resolve

    check_positive("k", k)
    check_positive("chunk_size", chunk_size)
    started = time.perf_counter()
    version = resolve(store, model if model is not None else default_model(store))
    fitted = load_version(store, version)
    users = np.asarray(fitted.user_index_)
    met = None
    if exclude_seen:
        with store.reading() as raw:
            scope, feedback = served_semantics(raw, version.name, version.version)
            met = seen_matrix(raw, scope, feedback, users, np.asarray(fitted.item_index_))
    computed_at = datetime.now(UTC).replace(tzinfo=None)
    schema = pa.schema(
        [
            ("model", pa.string()),
            ("version", pa.int32()),
            ("user_id", pa.string()),
            ("rank", pa.int32()),
            ("item_id", pa.string()),
            ("score", pa.float64()),
            ("computed_at", pa.timestamp("us")),
        ]
    )
    scratch = store.path.parent if store.path is not None else None
    users_text = pa.array(users.astype(str), pa.string())
    items_text = pa.array(np.asarray(fitted.item_index_).astype(str), pa.string())
    rows = users_with_items = chunks = 0
    # Named by this process, so the next precompute removes what a killed one left.
    prefix = "workbench-precompute"
    if scratch is not None:
        remove_dead_scratch(scratch, prefix)
    with tempfile.TemporaryDirectory(prefix=f"{prefix}-{os.getpid()}-", dir=scratch) as folder:
        path = Path(folder) / "recommendations.parquet"
        with pq.ParquetWriter(path, schema) as writer, _progress(progress, len(users)) as bar:
            for start in range(0, len(users), chunk_size):
                chunk = np.arange(start, min(start + chunk_size, len(users)))
                user_rows, item_columns, ranks, scores = fitted.top_k_rows(
                    chunk, k, exclude_seen=exclude_seen, also=met
                )
                n = user_rows.size
                writer.write_table(
                    pa.table(
                        {
                            "model": pa.repeat(version.name, n),
                            "version": pa.array(np.full(n, version.version, dtype=np.int32)),
                            "user_id": users_text.take(pa.array(user_rows)),
                            "rank": pa.array(ranks.astype(np.int32)),
                            "item_id": items_text.take(pa.array(item_columns)),
                            "score": pa.array(scores.astype(np.float64)),
                            "computed_at": pa.array(np.full(n, np.datetime64(computed_at, "us"))),
                        },
                        schema=schema,
                    )
                )
                rows += n
                users_with_items += int(np.unique(user_rows).size)
                chunks += 1
                bar(chunk.size)
        crash_point("precompute:scratch-written")
        with store.transaction() as tx:
            (replaced,) = tx.execute(
                "SELECT count(*) FROM recommendations WHERE model = ? AND version = ?",
                [version.name, version.version],
            ).fetchone()
            tx.execute(
                "DELETE FROM recommendations WHERE model = ? AND version = ?",
                [version.name, version.version],
            )
            columns = ", ".join(_RECOMMENDATION_COLUMNS)
            tx.execute(
                f"INSERT INTO recommendations ({columns}) SELECT {columns} FROM read_parquet(?)",
                [str(path)],
            )
    forget_snapshots(store)
    return PrecomputeReport(
        model=version.ref,
        users=len(users),
        users_without_items=len(users) - users_with_items,
        rows=rows,
        replaced=int(replaced),
        k=int(k),
        chunks=chunks,
        seconds=time.perf_counter() - started,
        computed_at=computed_at,
    )


class _NoProgress:
    def __enter__(self):
        return lambda advance: None

    def __exit__(self, *exc: object) -> None:
        return None


class _RichProgress:
    def __init__(self, total: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("scoring users"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self._task = self._progress.add_task("users", total=total)

    def __enter__(self):
        self._progress.start()
        return lambda advance: self._progress.advance(self._task, advance)

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()


def _progress(enabled: bool, total: int):
    return _RichProgress(total) if enabled else _NoProgress()
