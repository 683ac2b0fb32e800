"""The village loop, turned day by day: an app that learns from its own feedback.

Simulated listeners with planted tastes (the music set's truth) visit every day. Each
day the loop runs through the workbench's real paths:

1. **retrain, gate, redeploy**: a recommender is trained on every event captured before
   yesterday (with the configured feedback semantics), measured on yesterday's, and
   registered; the champion is measured on the same events (not refitted), so the gate
   compares the two on one holdout; a candidate that is better is refitted on every
   event and that refit is promoted; the champion's lists are precomputed;
2. **deliver**: each visitor gets a slate from the champion's stored list (or the
   popularity fallback) through an explore/exploit policy, and every shown item is
   logged to ``deliveries`` with its propensity;
3. **capture feedback**: the app logs an ``impression`` event for every shown item;
   visitors answer from their planted tastes, with a position bias (the first slots are
   looked at most): they play, like or skip, and those events enter through
   :func:`~workbench.capture.ingest`, with the same validation and accounting as any
   input;
4. **watch**: the day's hourly KPIs are written to ``observations`` and scanned.

The day's figures set the served policy's click-through rate (plays per shown item)
beside what the planted-taste oracle and a popularity list would have earned on the
same visitors, computed from the same response model, and reconcile what was shown
with what was logged and what was answered with what was captured. ``ctr`` is what the
visitors did; ``expected_ctr`` is its expectation under the response model, the figure
the oracle's and popularity's are comparable with. Both references play by the app's
rules: they choose among the tracks released so far that the visitor has not met
(played, liked or skipped), which precompute also leaves out of a stored list.

The response model: a visitor looks at position ``p`` with probability ``0.85 **
(p - 1)``; a looked-at track is played with probability ``0.6 * closeness * quality``,
where ``closeness`` is the visitor's taste for the track's genre over their favourite
genre's and ``quality`` rises with the track's planted popularity (0.5 to 1); a played
track is liked with probability ``0.3 * closeness ** 2``; a looked-at track that is
not played is skipped.

- :func:`simulate` (:mod:`workbench.simulate.loop`) turns the days;
- :class:`Simulation` and :class:`SimulatedDay` (:mod:`workbench.simulate.days`) hold
  their figures, with :meth:`Simulation.describe` and :func:`plot_simulation` for the
  loop report (``notebooks/village_loop.ipynb``).
"""

from __future__ import annotations

from workbench.lazy import exports

# Public name -> the submodule that defines it, imported when the name is first used.
_LAZY = {
    "DAY_JOBS": "jobs",
    "day_schedule": "jobs",
    "SimulatedDay": "days",
    "Simulation": "days",
    "plot_simulation": "days",
    "simulate": "loop",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = exports(__name__, _LAZY)
