"""What a run depends on, as digests: the notebook's content and the data it reads.

A run is up to date when a successful run of the same job had the same notebook
digest, the same parameters, the same data digest and the same workbench code; then
it is skipped.

- The notebook digest covers each cell's type and source, not outputs or execution
  counts: clearing outputs or re-saving in JupyterLab does not make a run due.
- The data digest covers the store tables a job declares as ``inputs``. An ingested
  table is identified by its committed batches that added rows (batch id and content
  hash), so re-ingesting a file that is already stored changes nothing. A table
  written by the workbench itself (model aliases, recommendations) is identified by a
  digest of its rows. A job that declares no inputs depends on every ingested batch.
- A job that reads a scope (its notebook's ``scope`` parameter) depends only on the
  batches of events and observations that hold rows in that scope (a new batch of
  another product does not make it due), and on the scope's definition; one that
  reads the feedback semantics (``feedback``) on their definition too.
- The code digest covers the workbench package's Python sources: after an upgrade or a
  fix in the package, the same notebook on the same data runs again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.exceptions import WorkbenchError
from workbench.feedback import Feedback
from workbench.schema import CATALOG, TABLES
from workbench.scope import Scope

if TYPE_CHECKING:
    from workbench.store import Store


@dataclass(frozen=True)
class DataSnapshot:
    """The state of the store a run read.

    Attributes
    ----------
    digest
        sha256 over everything below; equal digests mean the same input data.
    tables
        The tables it covers (``["*"]``: every ingested table).
    batches
        How many committed batches that added rows it covers.
    latest_batch
        The newest of those batches, or None.
    latest_batch_at
        When that batch finished (UTC, ISO 8601), or None.
    scope
        The scope the job read, described (``"everything"`` when it read all).
    """

    digest: str
    tables: list[str]
    batches: int
    latest_batch: str | None
    latest_batch_at: str | None
    scope: str = "everything"

    def to_dict(self) -> dict[str, Any]:
        """The snapshot as plain JSON data."""
        return asdict(self)

    def describe(self) -> str:
        """One line for a report header."""
        tables = "all ingested tables" if self.tables == ["*"] else ", ".join(self.tables)
        latest = (
            f"; latest batch {self.latest_batch} (ingested {self.latest_batch_at} UTC)"
            if self.latest_batch
            else ""
        )
        scope = "" if self.scope == "everything" else f" in scope {self.scope}"
        return f"{tables}{scope}: {self.batches} batches{latest}; digest {self.digest[:12]}"


def notebook_sha256(path: str | os.PathLike[str]) -> str:
    """A digest of a notebook's cells (type and source), ignoring outputs and metadata."""
    notebook_path = Path(path)
    try:
        notebook = json.loads(notebook_path.read_text(encoding="utf-8"))
        cells = notebook["cells"]
        content = [[cell["cell_type"], _source(cell["source"])] for cell in cells]
    except FileNotFoundError as error:
        raise WorkbenchError(f"No notebook at {notebook_path}.") from error
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise WorkbenchError(
            f"{notebook_path} is not a Jupyter notebook ({error}); run an .ipynb file."
        ) from error
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()


@functools.cache
def code_digest() -> str:
    """A digest of the workbench package's Python sources (read once per process).

    Unlike a git sha it does not need a checkout, and it ignores edits outside the
    package (tests, docs) that cannot change what a notebook computes.
    """
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _source(source: str | list[str]) -> str:
    return "".join(source) if isinstance(source, list) else source


def data_snapshot(
    store: Store,
    inputs: tuple[str, ...] | list[str] = (),
    *,
    scope: Scope | None = None,
    feedback: Feedback | None = None,
) -> DataSnapshot:
    """The digest of the data a job with these ``inputs`` (and scope) reads, in one read."""
    ingested = [name for name in inputs if TABLES[name].ingestable]
    derived = [name for name in inputs if not TABLES[name].ingestable]
    scope = scope or Scope()
    parts: dict[str, Any] = {}
    with store.reading() as raw:
        where = "status = 'committed' AND accepted > 0"
        params: list[Any] = []
        if inputs:
            where += " AND list_contains(?, table_name)"
            params.append(ingested)
        if not scope.is_everything:
            # Batches of events and observations count only when they hold rows in scope.
            where += (
                " AND (table_name NOT IN ('events', 'observations') OR batch_id IN ("
                f"SELECT batch_id FROM {CATALOG}.main.events WHERE {scope.events_sql()} "
                f"UNION SELECT batch_id FROM {CATALOG}.main.observations "
                f"WHERE {scope.observations_sql()}))"
            )
            parts["scope"] = scope.to_dict()
        if feedback is not None:
            parts["feedback"] = feedback.to_dict()
        batches = raw.execute(
            "SELECT batch_id, table_name, content_sha256, accepted, "
            "strftime(finished_at, '%Y-%m-%dT%H:%M:%S') "
            f"FROM {CATALOG}.main.batches WHERE {where} ORDER BY finished_at, batch_id",
            params,
        ).fetchall()
        parts["batches"] = [list(row[:4]) for row in batches]
        for name in derived:
            # Order-independent: the same rows in any order give the same figures.
            count, xor, total = raw.execute(
                f'SELECT count(*), bit_xor(hash(t)), sum(hash(t)::HUGEINT) FROM {CATALOG}.main."{name}" t'
            ).fetchone()
            parts[name] = [count, str(xor), str(total)]
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
    latest = batches[-1] if batches else None
    return DataSnapshot(
        digest=digest,
        tables=sorted(inputs) if inputs else ["*"],
        batches=len(batches),
        latest_batch=latest[0] if latest else None,
        latest_batch_at=latest[4] if latest else None,
        scope=scope.describe(),
    )
