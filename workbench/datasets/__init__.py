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

from workbench.datasets._common import SyntheticDataset
from workbench.datasets.ads import make_ads
from workbench.datasets.metrics import make_metrics
from workbench.datasets.music import make_music

__all__ = ["SyntheticDataset", "make_ads", "make_metrics", "make_music"]
