"""Anomaly detectors with the scikit-learn contract; higher scores are more anomalous.

Series detectors read observations (``series_id``, ``ts``, ``value``) and
score each point from its own series' past:

- ``"gaussian"``: windowed Gaussian baseline, the simple reference;
- ``"counts"``: how rare a count is at the trailing rate (quasi-Poisson), for
  series of small whole numbers;
- ``"seasonal"``: robust seasonal baseline (decomposition residual, median/MAD scaling);
- ``"window_iforest"``: Isolation Forest over trailing-window features;
- ``"supervised"``: gradient boosting over window features and the baselines' scores.

Tabular detectors read a numeric feature frame: ``"iforest"``, ``"lof"`` and
``"tabular_supervised"``.

Every detector sets ``threshold_`` in ``fit`` from an alert budget or a
false-alarm rate (:mod:`workbench.anomaly.thresholds`), and explains its
scores with ``explain``.
"""

from __future__ import annotations

import difflib

import numpy as np
import pandas as pd

from workbench.anomaly.detectors._frames import window_features
from workbench.anomaly.detectors.base import SeriesDetector
from workbench.anomaly.detectors.baselines import (
    CountDetector,
    GaussianDetector,
    SeasonalDetector,
)
from workbench.anomaly.detectors.cadence import infer_cadence
from workbench.anomaly.detectors.learned import SupervisedDetector, WindowIsolationForest
from workbench.anomaly.detectors.tabular import (
    IsolationForestDetector,
    LocalOutlierDetector,
    TabularDetector,
    TabularSupervisedDetector,
)
from workbench.exceptions import InvalidArgument

__all__ = [
    "DETECTORS",
    "CountDetector",
    "GaussianDetector",
    "IsolationForestDetector",
    "LocalOutlierDetector",
    "SeasonalDetector",
    "SeriesDetector",
    "SupervisedDetector",
    "TabularDetector",
    "TabularSupervisedDetector",
    "WindowIsolationForest",
    "choose_detector",
    "make_detector",
    "window_features",
]

#: Detector name -> class; each class's ``kind`` says ``"series"`` or ``"tabular"``.
DETECTORS: dict[str, type] = {
    "gaussian": GaussianDetector,
    "counts": CountDetector,
    "seasonal": SeasonalDetector,
    "window_iforest": WindowIsolationForest,
    "supervised": SupervisedDetector,
    "iforest": IsolationForestDetector,
    "lof": LocalOutlierDetector,
    "tabular_supervised": TabularSupervisedDetector,
}


def make_detector(name: str, **params):
    """Build the detector called ``name`` with ``params``.

    Parameters
    ----------
    name : str
        A key of :data:`DETECTORS`.
    **params
        The detector's parameters (see its class).

    Returns
    -------
    An unfitted detector.

    Raises
    ------
    InvalidArgument
        If ``name`` is unknown (the message lists the names) or a parameter is not
        one the detector takes.

    Examples
    --------
    >>> make_detector("seasonal", history=14)
    SeasonalDetector(history=14)
    """
    if name not in DETECTORS:
        close = difflib.get_close_matches(str(name), DETECTORS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise InvalidArgument(
            f"Unknown detector {name!r}.{hint} Choose one of: {', '.join(DETECTORS)} "
            f"(series: {', '.join(n for n, c in DETECTORS.items() if c.kind == 'series')}; "
            f"tabular: {', '.join(n for n, c in DETECTORS.items() if c.kind == 'tabular')})."
        )
    cls = DETECTORS[name]
    allowed = cls._get_param_names()
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InvalidArgument(
            f"Detector {name!r} has no parameter {', '.join(unknown)}; its parameters are "
            f"{', '.join(allowed)}."
        )
    return cls(**params)


#: A series of whole numbers >= 0 averaging at most this holds small counts: a Gaussian
#: or robust band collapses on them (a mostly-zero history has no spread).
SMALL_COUNTS = 20.0


def choose_detector(history: pd.DataFrame) -> tuple[str, str]:
    """The series detector that suits one series, judged from its history, and why.

    Small counts (whole numbers >= 0 averaging at most :data:`SMALL_COUNTS`) get
    ``"counts"``; everything else gets ``"seasonal"``, which follows the cycle of the
    series' cadence. The reason names the values and the cadence.

    Examples
    --------
    >>> import pandas as pd
    >>> weekly = pd.DataFrame({"ts": pd.date_range("2026-01-05", periods=60, freq="7D"),
    ...                        "value": [0, 1, 3, 0, 2, 1] * 10})
    >>> choose_detector(weekly)
    ('counts', 'small counts (whole numbers averaging 1.2), weekly (yearly cycle of 52 points)')
    """
    values = history["value"].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    pace = infer_cadence(history["ts"]).describe()
    whole = values.size > 0 and bool(((values >= 0) & (values == np.round(values))).all())
    if whole and values.mean() <= SMALL_COUNTS:
        return "counts", f"small counts (whole numbers averaging {values.mean():.2g}), {pace}"
    kind = f"counts averaging {values.mean():,.0f}" if whole else "measurements"
    return "seasonal", f"{kind}, {pace}"
