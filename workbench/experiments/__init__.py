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

from __future__ import annotations

from workbench.experiments.readout import Readout, readout
from workbench.lazy import exports

# Public name -> the submodule that defines it, imported when the name is first used.
_LAZY = {
    "adjust_p_values": "analysis",
    "compare": "analysis",
    "cuped_theta": "analysis",
    "moments": "analysis",
    "sample_ratio_test": "analysis",
    "Design": "assignment",
    "assign": "assignment",
    "assign_units": "assignment",
    "assign_variant": "assignment",
    "experiment_design": "assignment",
    "exposures": "assignment",
    "list_experiments": "assignment",
    "plot_cuped": "charts",
    "plot_lift": "charts",
    "plot_sequential": "charts",
    "always_valid_p_values": "sequential",
    "confidence_sequence_radius": "sequential",
    "mixing_variance": "sequential",
    "sequential_view": "sequential",
    "Metric": "statistics",
    "parse_metric": "statistics",
    "parse_metrics": "statistics",
    "sequential_statistics": "statistics",
    "sufficient_statistics": "statistics",
    "unit_outcomes": "statistics",
}

__all__ = ["Readout", "readout", *_LAZY]

__getattr__, __dir__ = exports(__name__, _LAZY, eager=("Readout", "readout"))
