"""Village Workbench: a notebook-first workbench for personalization and anomaly detection.

The package holds the logic; notebooks compose it. Start with::

    from workbench import Store, ingest
    store = Store.open()                      # duckdb://data/workbench.duckdb by default
    report = ingest(store, "events.csv")      # every row accepted, quarantined or a duplicate
    store.table("events").count().execute()

Importing ``workbench`` is cheap: heavy libraries load when first used.
"""

from workbench.capture import IngestReport, ingest
from workbench.exceptions import WorkbenchError
from workbench.runs import read_results, record, record_headline
from workbench.store import Store
from workbench.version import __version__

__all__ = [
    "IngestReport",
    "Store",
    "WorkbenchError",
    "__version__",
    "ingest",
    "read_results",
    "record",
    "record_headline",
]
