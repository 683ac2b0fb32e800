"""Synthetic data sets with planted truth.

Each generator returns a :class:`SyntheticDataset`: Arrow tables named after
the store tables they are meant for, plus the truth that was planted in them,
so a notebook or a test can check that a recommender, an A/B analysis or an
anomaly detector recovers what is known to be there.

The generators are pure: no I/O, and the same arguments always give the same
bytes (one ``numpy.random.default_rng(seed)`` per call, drawn in a fixed
order). They are vectorized, so sizes in the millions of events take seconds.

One module per domain: :mod:`~workbench.datasets.music`,
:mod:`~workbench.datasets.ads` (its units assigned by
:func:`workbench.experiments.assign_units`) and :mod:`~workbench.datasets.metrics`. An argument outside its range raises
:class:`~workbench.exceptions.InvalidArgument`, naming the argument and the range.

Examples
--------
>>> dataset = make_music(users=20, items=50, days=7, seed=1)
>>> dataset.kind, sorted(dataset.tables)
('music', ['events', 'items', 'users'])
>>> dataset.tables["events"].column_names[:3]
['event_id', 'ts', 'user_id']
"""

from __future__ import annotations

from workbench.lazy import exports

# Public name -> the submodule that defines it, imported when the name is first used.
_LAZY = {
    "SyntheticDataset": "_common",
    "make_ads": "ads",
    "make_metrics": "metrics",
    "make_music": "music",
}

__all__ = list(_LAZY)

__getattr__, __dir__ = exports(__name__, _LAZY)
