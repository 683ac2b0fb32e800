"""Anomaly detectors against their references, on synthetic and real labelled data.

Every detector runs with its default parameters on every set (no per-set
tuning). For each set the table gives PR-AUC (average precision), ROC-AUC,
event recall and precision at the alert budget (each detector's own
``threshold_``: one alert per series per day for series, a 1% false-alarm
rate for tables), mean detection delay in points, the NAB score (standard
profile) and fit+score seconds; then the ratio of the best PR-AUC to the
reference's (the windowed Gaussian for series, scikit-learn's Isolation Forest for
tables). Goal for series (not a test): the best detector beats the Gaussian's PR-AUC by
at least 30% on every set.

Sets:

- ``metrics``: ``make_metrics`` (40 series, 28 days, hourly, 1% anomalous
  points) for several seeds. Unsupervised detectors fit on the seed they are
  judged on (their scores are causal; the threshold comes from the same data).
  The supervised detector is trained on the labels table of the *other* seeds
  and judged on the held-out seed.
- ``ucr_internal_bleeding16``: UCR anomaly archive series 135
  (InternalBleeding16), read from the aeon wheel with ``zipfile`` (aeon is not
  installed or imported; nothing is downloaded). Its integer timestamps become
  one point per hour from 2026-01-01, the same spacing as ``metrics``, so the
  defaults mean the same number of points on both. Detectors fit on the
  archive's training part (the first 1,200 points, all normal) and are judged
  on the points after it. The training part has no anomalies, so the
  supervised detector is the one trained on all ``metrics`` seeds' labels,
  applied to this series unchanged (its features are free of each series'
  scale).
- ``weekly_counts``: the 14 weekly count series of notifiable diseases in German
  regions (2001-2004, 209 weeks each) with their outbreak weeks marked, as the R
  package ``surveillance`` ships them (``k1``, ``m1``-``m5``, ``n1``, ``n2``,
  ``q1_nrwh``, ``q2``, ``s1``-``s3``, ``h1_nrwrp``), read from Debian's
  ``r-cran-surveillance`` 1.20.3-1 package file with ``tarfile`` and the ``rdata``
  reader (R is not installed; nothing is downloaded at run time). Week ``k`` becomes
  2001-01-01 plus ``k`` weeks. Each series is its own fit, with every detector's
  defaults, as a scan fits each series; the table gives the mean over series (alerts
  and timings too: per series). The supervised detector of a series is trained on the labels
  of the other 13. Goal: mean per-series PR-AUC at least 1.3 x the windowed Gaussian.
- ``breast_cancer``: scikit-learn's Wisconsin breast cancer table, all benign
  cases and a random 21 malignant ones (the ODDS "wbc" convention, about 5.6%
  anomalous), over several subsamples. Half the cases (stratified) fit, the
  other half is judged.
- ``shuttle``, ``satimage-2``, ``satellite``, ``ionosphere``: the UCI tables as R's
  ``mlbench`` package ships them, read from Debian's ``r-cran-mlbench`` 2.1-3-1 package
  file, labelled as the ODDS library does: shuttle without class 4 ("High"), its five
  smallest classes anomalous (49,097 rows, 7%); satimage-2 all classes but "cotton
  crop" and a random 71 of it (5,803 rows, 1.2%, a new draw per seed); satellite its
  three smallest classes anomalous (6,435 rows, 32%); ionosphere its "bad" returns
  (351 rows, 36%; the constant second column dropped). Half fits, half is judged, as
  for breast cancer, over several seeds.

Every table set has two references fitted on the same half: a diagonal Gaussian (the sum
of squared z-scores against the fitting half's means and SDs), and scikit-learn's
``IsolationForest`` with its defaults on the raw features, which the ratio column divides
by. Goal: the unsupervised tabular detectors' PR-AUC above scikit-learn's Isolation Forest
on every set.

The aeon wheel also ships Daphnet S06R02E0, but every one of its 7,040 rows
is labelled 0 in that file, so it cannot be scored; the script checks and says
so rather than skipping it silently.

VUS-PR (the volume under the PR surface of Paparrizos et al., VLDB 2022, which current
time-series anomaly benchmarks report) is computed for the real series sets by the ``vus``
package's own code, imported from its wheel (its requirements, TensorFlow among them,
are not needed by its metrics and not installed), with label buffers up to one cycle of
the series' cadence (52 points of a weekly series, 24 of an hourly one).

Run with ``make bench`` (it fetches the aeon and vus wheels and the Debian packages into
``benchmarks/data/``), or ``uv run python benchmarks/bench_anomaly.py [--aeon-wheel
PATH] [--surveillance-deb PATH] [--mlbench-deb PATH] [--seeds 3]``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import tarfile
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from common import write_section

from workbench.anomaly.detectors import DETECTORS, make_detector
from workbench.anomaly.detectors.cadence import infer_cadence
from workbench.datasets import make_metrics
from workbench.evaluate.anomaly import (
    evaluate_detectors,
    pr_auc_score,
    precision_at_budget_score,
    roc_auc_score,
)

SECTION = "## Anomaly detectors (`benchmarks/bench_anomaly.py`)"
AEON_SHA256 = "d05227086706f80111ac5fee8de4d5d3115bb3bcfd1c786c8629393055816409"
UCR = "aeon/datasets/data/KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_{}.csv"
DAPHNET = "aeon/datasets/data/Daphnet_S06R02E0/S06R02E0.csv"
SURVEILLANCE_DEB = "r-cran-surveillance_1.20.3-1_amd64.deb"
SURVEILLANCE_SHA256 = "a8c2260f22dab80a8a6a6ad212bed8166c555dbbab49eb719a674649667f5f18"
SURVEILLANCE_DATA = "./usr/lib/R/site-library/surveillance/data/{}.RData"
WEEKLY_SERIES = (
    "k1", "m1", "m2", "m3", "m4", "m5", "n1", "n2", "q1_nrwh", "q2", "s1", "s2", "s3", "h1_nrwrp",
)  # fmt: skip
MLBENCH_DEB = "r-cran-mlbench_2.1-3-1_amd64.deb"
MLBENCH_SHA256 = "2f1127f7b5e7d08703b13b52ef1976a0c355a7660d6ac575e29b87b13921bc06"
MLBENCH_DATA = "./usr/lib/R/site-library/mlbench/data/{}.rda"
VUS_WHEEL = "vus-0.0.6-py3-none-any.whl"
VUS_SHA256 = "2e978c096580296ee96d78d833d9ed02fb771af617c9293530e8b01b7d497f24"
REFERENCE = "gaussian"
TABLE_REFERENCE = "scikit-learn IsolationForest"
SERIES = [name for name, cls in DETECTORS.items() if cls.kind == "series"]
TABULAR = [name for name, cls in DETECTORS.items() if cls.kind == "tabular"]
GOAL = 1.30


def truth_labels(metrics, observations: pd.DataFrame) -> np.ndarray:
    """1 for every planted anomalous point of ``make_metrics``, 0 for every other point."""
    labels = np.zeros(len(observations))
    ts = observations["ts"]
    for episode in metrics.truth["anomalies"]:
        start = pd.Timestamp(episode["start"]).tz_localize(None)
        end = pd.Timestamp(episode["end"]).tz_localize(None)
        inside = (observations["series_id"] == episode["series_id"]) & ts.between(start, end)
        labels[inside.to_numpy()] = 1
    return labels


def load_metrics(seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Observations, full truth, and the sparse labels table aligned with the rows."""
    metrics = make_metrics(series=40, days=28, freq_minutes=60, seed=seed, anomaly_rate=0.01)
    points = metrics.tables["observations"].to_pandas()
    points["ts"] = points["ts"].dt.tz_convert("UTC").dt.tz_localize(None)
    table = metrics.tables["labels"].to_pandas()[["series_id", "ts", "label"]]
    table["ts"] = table["ts"].dt.tz_convert("UTC").dt.tz_localize(None)
    sparse = points[["series_id", "ts"]].merge(table, on=["series_id", "ts"], how="left")
    return points, truth_labels(metrics, points), sparse["label"].to_numpy(dtype=float)


def read_wheel(path: Path) -> zipfile.ZipFile:
    if not path.is_file():
        raise SystemExit(
            f"No aeon wheel at {path}: run `make bench`, or fetch it with `python3 -m pip "
            "download --no-deps --only-binary=:all: --dest benchmarks/data aeon==1.6.0`."
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != AEON_SHA256:
        raise SystemExit(f"{path} has sha256 {digest}, expected {AEON_SHA256}; not using it.")
    return zipfile.ZipFile(path)


def load_ucr(wheel: zipfile.ZipFile) -> tuple[pd.DataFrame, np.ndarray, pd.Timestamp]:
    train = pd.read_csv(io.BytesIO(wheel.read(UCR.format("TRAIN"))))
    test = pd.read_csv(io.BytesIO(wheel.read(UCR.format("TEST"))))
    # TRAIN is the first part of TEST; check rather than assume.
    head = test.iloc[: len(train)]
    assert (head["value"].to_numpy() == train["value"].to_numpy()).all()
    origin = pd.Timestamp("2026-01-01")
    points = pd.DataFrame(
        {
            "series_id": "ucr_135_internal_bleeding16",
            "ts": origin + pd.to_timedelta(test["timestamp"].to_numpy(), unit="h"),
            "value": test["value"].astype(float).to_numpy(),
        }
    )
    since = origin + pd.Timedelta(hours=int(test["timestamp"].iloc[len(train)]))
    return points, test["is_anomaly"].to_numpy(dtype=float), since


def checked_file(path: Path, sha256: str, fetch: str) -> bytes:
    """The bytes of ``path`` if its sha256 is ``sha256``; else stop and say how to fetch it."""
    if not path.is_file():
        raise SystemExit(f"No {path.name} at {path}: run `make bench`, or fetch it with `{fetch}`.")
    blob = path.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != sha256:
        raise SystemExit(f"{path} has sha256 {digest}, expected {sha256}; not using it.")
    return blob


def _ar_members(blob: bytes) -> dict[str, bytes]:
    """The members of an ``ar`` archive (a Debian package is one)."""
    if blob[:8] != b"!<arch>\n":
        raise SystemExit("The surveillance package file is not a Debian package (ar archive).")
    members, position = {}, 8
    while position < len(blob):
        header = blob[position : position + 60]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
        members[name] = blob[position + 60 : position + 60 + size]
        position += 60 + size + size % 2
    return members


def load_weekly_counts(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The 14 labelled weekly count series of R's ``surveillance`` package."""
    import rdata

    blob = checked_file(
        path,
        SURVEILLANCE_SHA256,
        f"apt-get download r-cran-surveillance=1.20.3-1 -o Dir::Cache::archives={path.parent}",
    )
    frames, labels = [], []
    with tarfile.open(fileobj=io.BytesIO(_ar_members(blob)["data.tar.xz"]), mode="r:xz") as data:
        for name in WEEKLY_SERIES:
            raw = data.extractfile(SURVEILLANCE_DATA.format(name)).read()
            with warnings.catch_warnings():
                # "disProg" is an R class rdata has no constructor for: its list is what we read.
                warnings.simplefilter("ignore")
                series = rdata.conversion.convert(rdata.parser.parse_data(raw))[name]
            counts = np.asarray(series["observed"], dtype=float).ravel()
            weeks = pd.Timestamp("2001-01-01") + pd.to_timedelta(7 * np.arange(counts.size), "D")
            frames.append(pd.DataFrame({"series_id": name, "ts": weeks, "value": counts}))
            labels.append(np.asarray(series["state"], dtype=float).ravel())
    return pd.concat(frames, ignore_index=True), np.concatenate(labels)


def run_weekly_counts(points: pd.DataFrame, labels: np.ndarray, *, vus=None) -> pd.DataFrame:
    """Every series detector with its defaults on each weekly series alone (a scan's way),
    the supervised one trained on the other series' labels; figures averaged over series."""
    rows = []
    for name in WEEKLY_SERIES:
        mine = (points["series_id"] == name).to_numpy()
        if labels[mine].sum() == 0:
            continue
        one = points[mine].reset_index(drop=True)
        others = points[~mine].reset_index(drop=True)
        supervised = fit_supervised([(others, labels[~mine])], keep_ids=True)
        table = run_series_set(
            "weekly_counts", one, one, labels[mine], supervised=supervised, vus=vus
        )
        rows.append(table.assign(series=name))
    return average_runs(pd.concat(rows, ignore_index=True)).assign(set="weekly_counts (14 series)")


def check_daphnet(wheel: zipfile.ZipFile) -> str:
    frame = pd.read_csv(io.BytesIO(wheel.read(DAPHNET)))
    positives = int((frame["is_anomaly"] != 0).sum())
    return (
        f"Daphnet S06R02E0 ({len(frame):,} rows, 9 channels) has {positives} anomalous rows "
        "in the shipped file"
        + (", so it cannot be scored and is left out." if positives == 0 else ".")
    )


def run_series_set(
    name, train, test, labels, *, train_labels=None, since=None, supervised=None, vus=None
):
    """Evaluate every series detector; ``supervised`` is a detector already fitted elsewhere.

    With ``vus`` (the metrics class of the vus package), the table also has each detector's
    VUS-PR over the judged points, with buffers up to one cycle of the series' cadence.
    """
    values = test["value"].to_numpy(dtype=float)
    counts = bool(((values >= 0) & (values == np.round(values))).all())
    # The counts detector refuses measurements: it runs on the sets of counts only.
    names = [d for d in SERIES if d != "supervised" and (counts or d != "counts")]
    table = evaluate_detectors(
        {d: make_detector(d) for d in names}, train, test, labels=labels, since=since
    )
    if supervised is not None:
        table = pd.concat([table, evaluate_fitted(supervised, test, labels, since)])
    if vus is not None:
        judged = np.ones(len(test), bool) if since is None else (test["ts"] >= since).to_numpy()
        fitted = {d: make_detector(d).fit(train) for d in names}
        if supervised is not None:
            fitted["supervised"] = supervised
        window = infer_cadence(test["ts"]).points_per_cycle or 24
        y = np.asarray(labels, dtype=float)[judged]
        table["vus_pr_score"] = [
            vus_pr_score(vus, y, fitted[d].score(test)[judged], window) for d in table["detector"]
        ]
    return table.assign(set=name)


def vus_pr_score(vus, labels: np.ndarray, scores: np.ndarray, window: int) -> float:
    """VUS-PR (Paparrizos et al., VLDB 2022): the PR area averaged over label buffers of 0
    to ``window`` points around each anomaly, from the vus package's own code."""
    finite = np.isfinite(scores)
    # Not scored ranks lowest, as in PR-AUC.
    filled = np.where(finite, scores, np.nanmin(scores[finite]) - 1 if finite.any() else 0.0)
    return float(vus.metricor().RangeAUC_volume_opt(labels.astype(int), filled, window)[5])


def load_vus(path: Path):
    """The vus package's metrics module, imported from its wheel (not installed: its
    requirements include TensorFlow, which its metrics do not use)."""
    import sys

    checked_file(
        path,
        VUS_SHA256,
        "python3 -m pip download --no-deps --only-binary=:all: --dest benchmarks/data vus==0.0.6",
    )
    sys.path.insert(0, str(path))
    import vus.utils.metrics as metrics

    return metrics


def evaluate_fitted(model, test, labels, since):
    """evaluate_detectors' figures for a detector fitted on other data."""
    from workbench.evaluate.anomaly import (
        detection_delay,
        event_recall_score,
        event_windows,
        nab_score,
    )

    judged = np.ones(len(test), bool) if since is None else (test["ts"] >= since).to_numpy()
    graded = test.loc[judged, ["series_id", "ts"]]
    y = np.asarray(labels, dtype=float)[judged]
    events = event_windows(graded.assign(label=y))
    started = time.perf_counter()
    scores = model.score(test)[judged]
    seconds = time.perf_counter() - started + model.fit_seconds_
    flagged = np.nan_to_num(scores, nan=-np.inf) > model.threshold_
    alerts = graded.loc[flagged]
    delay = detection_delay(events, alerts, observations=graded)
    return pd.DataFrame(
        [
            {
                "detector": "supervised",
                "pr_auc_score": pr_auc_score(y, scores),
                "roc_auc_score": roc_auc_score(y, scores),
                "precision_at_budget_score": (
                    precision_at_budget_score(y, scores, alerts=int(flagged.sum()))
                    if flagged.any()
                    else float("nan")
                ),
                "alerts": int(flagged.sum()),
                "event_recall_score": event_recall_score(events, alerts),
                "events": len(events),
                "mean_delay_points": (
                    float(delay["delay_points"].mean()) if len(delay) else float("nan")
                ),
                "nab_score": nab_score(events, alerts, graded),
                "not_scored": int(np.isnan(scores).sum()),
                "fit_score_seconds": seconds,
            }
        ]
    )


def fit_supervised(parts: list[tuple[pd.DataFrame, np.ndarray]], *, keep_ids: bool = False):
    """The supervised detector trained on several labelled sets (series kept apart by seed)."""
    frames, labels = [], []
    for seed, (points, sparse) in enumerate(parts):
        frames.append(
            points if keep_ids else points.assign(series_id=f"seed{seed}/" + points["series_id"])
        )
        labels.append(sparse)
    started = time.perf_counter()
    model = make_detector("supervised").fit(
        pd.concat(frames, ignore_index=True), np.concatenate(labels)
    )
    model.fit_seconds_ = time.perf_counter() - started
    return model


def breast_cancer(seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """All benign cases and a random 21 malignant ones (ODDS "wbc")."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    features, target = data.data, (data.target == 0).to_numpy(dtype=float)  # 0 = malignant
    rng = np.random.default_rng(seed)
    malignant = rng.choice(np.flatnonzero(target == 1), size=21, replace=False)
    keep = np.sort(np.r_[np.flatnonzero(target == 0), malignant])
    return features.iloc[keep].reset_index(drop=True), target[keep]


def load_mlbench(path: Path) -> dict[str, pd.DataFrame]:
    """The UCI tables of R's ``mlbench`` package (Shuttle, Satellite, Ionosphere)."""
    import rdata

    blob = checked_file(
        path,
        MLBENCH_SHA256,
        f"apt-get download r-cran-mlbench=2.1-3-1 -o Dir::Cache::archives={path.parent}",
    )
    tables = {}
    with tarfile.open(fileobj=io.BytesIO(_ar_members(blob)["data.tar.xz"]), mode="r:xz") as data:
        for name in ("Shuttle", "Satellite", "Ionosphere"):
            raw = data.extractfile(MLBENCH_DATA.format(name)).read()
            tables[name] = rdata.conversion.convert(rdata.parser.parse_data(raw))[name]
    return tables


def odds_tables(tables: dict[str, pd.DataFrame]) -> dict[str, object]:
    """Each mlbench table as the ODDS library labels it: seed -> (features, labels)."""
    shuttle = tables["Shuttle"][tables["Shuttle"]["Class"] != "High"].reset_index(drop=True)
    satellite = tables["Satellite"]
    ionosphere = tables["Ionosphere"]
    small = ["cotton crop", "damp grey soil", "vegetation stubble"]

    def features(frame: pd.DataFrame, target: str, drop=()) -> pd.DataFrame:
        return frame.drop(columns=[target, *drop]).astype(float).reset_index(drop=True)

    def satimage2(seed: int):
        rng = np.random.default_rng(seed)
        cotton = satellite["classes"] == "cotton crop"
        picked = rng.choice(np.flatnonzero(cotton), size=71, replace=False)
        keep = np.sort(np.r_[np.flatnonzero(~cotton), picked])
        return features(satellite.iloc[keep], "classes"), cotton.to_numpy(dtype=float)[keep]

    return {
        "shuttle": lambda seed: (
            features(shuttle, "Class"),
            (shuttle["Class"] != "Rad.Flow").to_numpy(dtype=float),
        ),
        "satimage-2": satimage2,
        "satellite": lambda seed: (
            features(satellite, "classes"),
            satellite["classes"].isin(small).to_numpy(dtype=float),
        ),
        "ionosphere": lambda seed: (
            features(ionosphere, "Class", drop=("V2",)),
            (ionosphere["Class"] == "bad").to_numpy(dtype=float),
        ),
    }


def run_table(name: str, draw, seeds: int) -> pd.DataFrame:
    """The references and every tabular detector on one labelled table, half fitting and
    half judged (stratified), over ``seeds`` draws."""
    from sklearn.ensemble import IsolationForest
    from sklearn.model_selection import train_test_split

    rows = []
    for seed in range(seeds):
        X, y = draw(seed)
        X_fit, X_judge, y_fit, y_judge = train_test_split(
            X, y, test_size=0.5, stratify=y, random_state=seed
        )
        started = time.perf_counter()
        mean, std = X_fit.mean(), X_fit.std().replace(0, 1.0)
        reference = (((X_judge - mean) / std) ** 2).sum(axis=1).to_numpy()
        ref_threshold = np.quantile((((X_fit - mean) / std) ** 2).sum(axis=1), 0.99)
        rows.append(
            tabular_row("gaussian (diagonal z²)", y_judge, reference, ref_threshold, started, seed)
        )
        started = time.perf_counter()
        forest = IsolationForest(random_state=seed).fit(X_fit.to_numpy())
        scores = -forest.score_samples(X_judge.to_numpy())
        fit_scores = -forest.score_samples(X_fit.to_numpy())
        rows.append(
            tabular_row(
                TABLE_REFERENCE, y_judge, scores, np.quantile(fit_scores, 0.99), started, seed
            )
        )
        for detector in TABULAR:
            started = time.perf_counter()
            model = make_detector(detector)
            model.fit(X_fit, y_fit if model.needs_labels else None)
            scores = model.score(X_judge)
            rows.append(tabular_row(detector, y_judge, scores, model.threshold_, started, seed))
    return average_runs(pd.DataFrame(rows)).assign(
        set=name, mean_delay_points=np.nan, nab_score=np.nan
    )


FIGURES = (
    "pr_auc_score",
    "roc_auc_score",
    "vus_pr_score",
    "precision_at_budget_score",
    "alerts",
    "event_recall_score",
    "mean_delay_points",
    "nab_score",
    "fit_score_seconds",
)


def average_runs(table: pd.DataFrame) -> pd.DataFrame:
    """Each detector's figures averaged over seeds or subsamples (timings: the median)."""
    figures = {
        name: (name, "median" if name == "fit_score_seconds" else "mean")
        for name in FIGURES
        if name in table
    }
    return table.groupby("detector", sort=False).agg(**figures).reset_index()


def tabular_row(name, y, scores, threshold, started, seed):
    flagged = scores > threshold
    return {
        "detector": name,
        "seed": seed,
        "pr_auc_score": pr_auc_score(y, scores),
        "roc_auc_score": roc_auc_score(y, scores),
        "precision_at_budget_score": (
            precision_at_budget_score(y, scores, alerts=int(flagged.sum()))
            if flagged.any()
            else 0.0
        ),
        "alerts": int(flagged.sum()),
        # Each malignant case is its own event.
        "event_recall_score": float(flagged[y == 1].mean()),
        "fit_score_seconds": time.perf_counter() - started,
    }


def markdown(table: pd.DataFrame) -> str:
    columns = [
        ("set", "set", str),
        ("detector", "detector", str),
        ("pr_auc_score", "PR-AUC", "{:.3f}".format),
        ("roc_auc_score", "ROC-AUC", "{:.3f}".format),
        ("vus_pr_score", "VUS-PR", "{:.3f}".format),
        ("event_recall_score", "event recall @budget", "{:.2f}".format),
        ("precision_at_budget_score", "precision @budget", "{:.3f}".format),
        ("alerts", "alerts", "{:.0f}".format),
        ("mean_delay_points", "mean delay (points)", "{:.1f}".format),
        ("nab_score", "NAB (standard)", "{:.1f}".format),
        ("fit_score_seconds", "fit+score s", "{:.2f}".format),
        ("vs_reference", "PR-AUC / reference", "{:.2f}".format),
    ]
    lines = [
        "| " + " | ".join(title for _, title, _ in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in table.itertuples(index=False):
        cells = []
        for key, _, fmt in columns:
            value = getattr(row, key)
            cells.append("-" if isinstance(value, float) and np.isnan(value) else fmt(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--aeon-wheel",
        type=Path,
        default=Path(__file__).parent / "data" / "aeon-1.6.0-py3-none-any.whl",
        help="the aeon-1.6.0 wheel (`make bench` fetches it into benchmarks/data/)",
    )
    parser.add_argument(
        "--surveillance-deb",
        type=Path,
        default=Path(__file__).parent / "data" / SURVEILLANCE_DEB,
        help=f"Debian's {SURVEILLANCE_DEB} (`make bench` fetches it into benchmarks/data/)",
    )
    parser.add_argument(
        "--mlbench-deb",
        type=Path,
        default=Path(__file__).parent / "data" / MLBENCH_DEB,
        help=f"Debian's {MLBENCH_DEB} (`make bench` fetches it into benchmarks/data/)",
    )
    parser.add_argument(
        "--vus-wheel",
        type=Path,
        default=Path(__file__).parent / "data" / VUS_WHEEL,
        help=f"the {VUS_WHEEL} wheel, for VUS-PR (`make bench` fetches it into benchmarks/data/)",
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()
    wheel = read_wheel(args.aeon_wheel)

    # metrics: every seed, the supervised detector trained on the other seeds.
    loaded = {seed: load_metrics(seed) for seed in range(args.seeds)}
    metric_tables = []
    chance = {
        f"metrics ({args.seeds} seeds)": np.mean([truth.mean() for _, truth, _ in loaded.values()])
    }
    for seed, (points, truth, _) in loaded.items():
        others = [(loaded[s][0], loaded[s][2]) for s in loaded if s != seed]
        supervised = fit_supervised(others)
        metric_tables.append(
            run_series_set("metrics", points, points, truth, supervised=supervised)
        )
        print(f"metrics seed {seed} done", flush=True)
    metrics = pd.concat(metric_tables)
    metrics = average_runs(metrics).assign(set=f"metrics ({args.seeds} seeds)")

    points, labels, since = load_ucr(wheel)
    train = points[points["ts"] < since]
    chance["ucr_internal_bleeding16"] = labels[(points["ts"] >= since).to_numpy()].mean()
    everything = fit_supervised([(p, sparse) for p, _, sparse in loaded.values()])
    vus = load_vus(args.vus_wheel)
    ucr = run_series_set(
        "ucr_internal_bleeding16",
        train,
        points,
        labels,
        since=since,
        supervised=everything,
        vus=vus,
    )
    print("ucr done", flush=True)
    weekly_points, weekly_labels = load_weekly_counts(args.surveillance_deb)
    weekly = run_weekly_counts(weekly_points, weekly_labels, vus=vus)
    chance[weekly["set"].iloc[0]] = float(
        np.mean(
            [
                weekly_labels[(weekly_points["series_id"] == name).to_numpy()].mean()
                for name in WEEKLY_SERIES
            ]
        )
    )
    print("weekly counts done", flush=True)
    daphnet = check_daphnet(wheel)
    tables = {"breast_cancer": breast_cancer, **odds_tables(load_mlbench(args.mlbench_deb))}
    tabular = []
    for name, draw in tables.items():
        table = run_table(name, draw, max(args.seeds, 5))
        X, y = draw(0)
        chance[name] = float(y.mean())
        tabular.append((table, f"{len(X):,} rows, {X.shape[1]} features"))
        print(f"{name} done", flush=True)

    parts = []
    verdicts = []
    for table, reference in (
        (metrics, REFERENCE),
        (ucr, REFERENCE),
        (weekly, REFERENCE),
        *((table, TABLE_REFERENCE) for table, _ in tabular),
    ):
        base = float(table.loc[table["detector"] == reference, "pr_auc_score"].iloc[0])
        table = table.reset_index(drop=True).assign(
            vs_reference=table["pr_auc_score"].to_numpy() / base
        )
        best = table.loc[table["pr_auc_score"].idxmax()]
        ratio = float(best["pr_auc_score"]) / base
        winners = table.loc[table["vs_reference"] >= GOAL, "detector"].tolist()
        volume = ""
        if "vus_pr_score" in table and table["vus_pr_score"].notna().all():
            at = table["detector"] == reference
            vus_base = float(table.loc[at, "vus_pr_score"].iloc[0])
            vus_best = table.loc[table["vus_pr_score"].idxmax()]
            volume = (
                f"; VUS-PR best {vus_best['detector']} {vus_best['vus_pr_score']:.3f} vs "
                f"reference {vus_base:.3f} = {vus_best['vus_pr_score'] / vus_base:.2f}x"
            )
        goal = (
            f" ({'meets' if ratio >= GOAL else 'misses'} the {GOAL:.2f}x goal); at >= "
            f"{GOAL:.2f}x: {', '.join(winners) or 'none'}"
            if reference == REFERENCE
            else ""
        )
        verdicts.append(
            f"{table['set'].iloc[0]}: best {best['detector']} PR-AUC {best['pr_auc_score']:.3f} vs "
            f"reference ({reference}) {base:.3f} = {ratio:.2f}x{goal}; "
            f"chance PR-AUC (share of anomalous points) {chance[table['set'].iloc[0]]:.4f}"
            f"{volume}"
        )
        parts.append(table)
    table = pd.concat(parts, ignore_index=True)
    text = markdown(table)
    nab = (
        "NAB is judged at each detector's own alert budget (one alert per series per "
        "day, or per 24 points of a weekly series), not at the threshold that maximizes NAB as NAB's leaderboard does; with "
        "far more alerts than events, the false positives (0.11 each) outweigh the "
        "detections, hence the negative scores. Delays are in points from an event's "
        "first point to its first alert, over detected events."
    )
    unsupervised = [n for n, c in DETECTORS.items() if c.kind == "tabular" and not c.needs_labels]
    above = {
        detector: [
            table["set"].iloc[0]
            for table, _ in tabular
            if table.set_index("detector").loc[detector, "pr_auc_score"]
            > table.set_index("detector").loc[TABLE_REFERENCE, "pr_auc_score"]
        ]
        for detector in unsupervised
    }
    sizes = "; ".join(f"{table['set'].iloc[0]} {size}" for table, size in tabular)
    tables_goal = (
        f"Tables ({sizes}): the goal is an unsupervised detector above scikit-learn's "
        f"IsolationForest on all {len(tabular)} sets: "
        + "; ".join(
            f"{detector} is above it on {len(sets)} ({', '.join(sets) or 'none'})"
            for detector, sets in above.items()
        )
        + (
            " (met)."
            if any(len(sets) == len(tabular) for sets in above.values())
            else " (not met)."
        )
    )
    verdict = "\n".join(f"- {v}" for v in [*verdicts, tables_goal, daphnet, nab])
    print(text)
    print(verdict)
    if not args.no_write:
        write_section(SECTION, text, verdict)


if __name__ == "__main__":
    main()
