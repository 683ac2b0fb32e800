"""Data health: is the store fit to train on and to report from?

:func:`data_health` checks the store the way a data steward would each morning,
comparing a *recent* window of whole UTC days with a *reference* window just
before it::

    [start ....... reference ....... recent_start) [recent_start .. recent .. end)  as_of

- **volume**: events per source per day; a recent day fails when it leaves a band
  around the source's median day in the reference window;
- **freshness**: hours from each source's latest event to ``as_of``;
- **null rates** of every column of ``events`` and of every feature table;
- **quarantine rates** per ingest source per day, from ``batches``;
- **drift** of every numeric feature between the two windows: population
  stability index (:func:`population_stability_index`) and a two-sample
  Kolmogorov-Smirnov test (:func:`compare_distributions`).

``as_of`` defaults to the midnight (UTC) after the latest event, so the same store
always gives the same report and its last day counts as complete. Pass
``as_of=datetime.now(UTC)`` to measure freshness against the clock: the windows
then end at the midnight before ``as_of`` (the day in progress is left out of
volume and drift). The ingest log has its own clock: without ``as_of``, quarantine
rates are judged over the ``recent_days`` days up to the latest batch.

Only sources that sent events during the two windows are checked; a source silent
for longer is taken as retired (``freshness:store`` still says when the newest
event of any source arrived). Aggregates run in the store; only per-day results
and capped, deterministic samples of the features reach pandas.
"""

from __future__ import annotations

from workbench.lazy import exports

# Public name -> the submodule that defines it, imported when the name is first used.
_LAZY = {
    "plot_drift": "charts",
    "plot_volume": "charts",
    "HealthThresholds": "checks",
    "DERIVED_FEATURES": "drift",
    "FEATURE_TS": "drift",
    "HealthReport": "report",
    "data_health": "report",
    "compare_distributions": "statistics",
    "population_stability_index": "statistics",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = exports(__name__, _LAZY)
