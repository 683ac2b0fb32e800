"""Experiments: assign units to variants, and read out A/B(/n) tests a statistician would sign.

- :mod:`~workbench.experiments.assignment`: salted-hash assignment written to
  ``assignments``; designs; exposures from ``events`` or ``deliveries``.
- :mod:`~workbench.experiments.statistics`: per-variant sums computed in the
  store through Ibis (any backend), from metric specifications such as
  ``click``, ``sum:purchase`` or ``ratio:click/impression``.
- :mod:`~workbench.experiments.analysis`: Welch, two proportions, delta method,
  CUPED, sample ratio mismatch, Holm / Benjamini-Hochberg, all from those sums.
- :mod:`~workbench.experiments.sequential`: always-valid confidence sequences
  for looking every day.
- :mod:`~workbench.experiments.readout`: :func:`readout`, the verdict first.
- :mod:`~workbench.experiments.charts`: lift and sequential charts (Altair).

Examples
--------
>>> from workbench.capture import ingest
>>> from workbench.datasets import make_ads
>>> from workbench.store import Store
>>> store = Store.open("duckdb://:memory:")
>>> for name, rows in make_ads(users=2000, days=7).tables.items():
...     _ = ingest(store, rows, table=name)
>>> result = readout(store, "ads_creative", "sum:click", sequential=False)
>>> result.srm["flagged"]
False
>>> sorted(result.results()["sum:click"]["treatment"])
['ci_high', 'ci_low', 'lift', 'p_value']
"""

from workbench.experiments.analysis import (
    adjust_p_values,
    compare,
    cuped_theta,
    moments,
    sample_ratio_test,
)
from workbench.experiments.assignment import (
    Design,
    assign,
    assign_units,
    experiment_design,
    exposures,
    list_experiments,
)
from workbench.experiments.charts import plot_cuped, plot_lift, plot_sequential
from workbench.experiments.readout import Readout, readout
from workbench.experiments.sequential import (
    always_valid_p_values,
    confidence_sequence_radius,
    mixing_variance,
    sequential_view,
)
from workbench.experiments.statistics import (
    Metric,
    parse_metric,
    parse_metrics,
    sequential_statistics,
    sufficient_statistics,
    unit_outcomes,
)

__all__ = [
    "Design",
    "Metric",
    "Readout",
    "adjust_p_values",
    "always_valid_p_values",
    "assign",
    "assign_units",
    "compare",
    "confidence_sequence_radius",
    "cuped_theta",
    "experiment_design",
    "exposures",
    "list_experiments",
    "mixing_variance",
    "moments",
    "parse_metric",
    "parse_metrics",
    "plot_cuped",
    "plot_lift",
    "plot_sequential",
    "readout",
    "sample_ratio_test",
    "sequential_statistics",
    "sequential_view",
    "sufficient_statistics",
    "unit_outcomes",
]
