"""How the loop's answers compare with the planted truth of the synthetic sets.

``workbench generate`` writes each set's truth (``data/truth/KIND.json``): the users'
tastes, the true lift of the ads test, where the anomalies are. After the jobs ran,
:func:`check_truth` asks whether their answers are *right*, not only produced:

- recommender: the champion's nDCG@10 on its training run's holdout against the
  planted-taste oracle (:class:`~workbench.recommend.PlantedTasteRecommender`) and the
  popularity list on the same rows; stored lists that never cross products; the
  fallback of an unknown user; items users skipped repeatedly never recommended;
- readout: the planted lift inside the readout's interval, and the sample-ratio
  check firing exactly when a mismatch was planted;
- anomaly scan: the planted anomalies of the scanned window that got an alert.

``workbench truth`` prints the figures (the last step of ``make demo``) and fails
when a check does not hold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.delivery import retrieve
from workbench.evaluate import evaluate_recommenders
from workbench.exceptions import ModelNotFound, WorkbenchError
from workbench.feedback import WEIGHT
from workbench.provenance import summarize_data
from workbench.recommend import PlantedTasteRecommender
from workbench.recommend.comparison import load_interactions, split_interactions
from workbench.registry import resolve, version_history
from workbench.runs import run_results

if TYPE_CHECKING:
    from workbench.store import Store

__all__ = ["Check", "TruthReport", "check_truth"]

#: The champion must reach this share of the oracle's nDCG on the same holdout.
MIN_ORACLE_SHARE = 0.8
#: ... and beat popularity by this factor ("a wide margin").
MIN_POPULARITY_RATIO = 1.5
#: The scan must alert on at least this share of the planted anomalies in its window.
MIN_SCAN_RECALL = 0.5
#: A user-item pair skipped this often (and never liked or played) must not be recommended.
REPEATED_SKIPS = 2


@dataclass(frozen=True)
class Check:
    """One comparison with the truth: what was measured, whether it holds, in words."""

    name: str
    passed: bool
    detail: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TruthReport:
    """Every check :func:`check_truth` could make, and the sets it could not check."""

    checks: list[Check]
    skipped: list[str]

    @property
    def passed(self) -> bool:
        """Whether every check held."""
        return all(check.passed for check in self.checks)

    def figures(self) -> dict[str, Any]:
        """The headline numbers by check name."""
        return {check.name: check.figures for check in self.checks}

    def summary(self) -> str:
        """One line per check, then what was skipped and why."""
        lines = [
            f"{'ok  ' if check.passed else 'FAIL'} {check.name}: {check.detail}"
            for check in self.checks
        ]
        lines += [f"-    {reason}" for reason in self.skipped]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "passed": self.passed,
            "checks": [check.__dict__ for check in self.checks],
            "skipped": self.skipped,
        }


def check_truth(
    store: Store, truth_dir: str | Path | None = None, *, model: str = "recommender@champion"
) -> TruthReport:
    """Compare the store's answers (the demo jobs' results) with the planted truth.

    Parameters
    ----------
    store : Store
    truth_dir : path, optional
        Where ``music.json``, ``ads.json`` and ``metrics.json`` are (default:
        ``truth/`` beside the store file, where ``workbench generate`` writes them).
    model : str
        The served model whose answers are checked against the music truth.

    Returns
    -------
    TruthReport
        A set without its truth file, or without the job results to check, is listed
        in ``skipped`` with the reason.
    """
    folder = Path(truth_dir) if truth_dir is not None else _default_folder(store)
    checks: list[Check] = []
    skipped: list[str] = []
    for kind, checker in (("music", _music), ("ads", _ads), ("metrics", _metrics)):
        path = folder / f"{kind}.json"
        if not path.is_file():
            skipped.append(f"{kind}: no planted truth at {path} (`workbench generate {kind}`)")
            continue
        truth = json.loads(path.read_text(encoding="utf-8"))
        try:
            checks += checker(store, truth, model)
        except _NotChecked as reason:
            skipped.append(f"{kind}: {reason}")
    return TruthReport(checks, skipped)


class _NotChecked(WorkbenchError):
    """What a check needs is not there yet (a job has not run)."""


def _default_folder(store: Store) -> Path:
    if store.path is None:
        raise WorkbenchError("An in-memory store has no truth folder beside it; pass truth_dir.")
    return store.path.parent / "truth"


# --- recommender ------------------------------------------------------------------------


def _music(store: Store, truth: dict[str, Any], model: str) -> list[Check]:

    try:
        champion = resolve(store, model)
    except ModelNotFound as error:
        raise _NotChecked(f"no {model} to check ({error})") from error
    return [
        _against_oracle(store, truth, champion, version_history(store, champion.name)),
        _lists_stay_in_scope(store, truth, champion, retrieve),
        _skips_are_not_recommended(store, champion),
    ]


def _against_oracle(store: Store, truth: dict, champion: Any, history: Any) -> Check:
    """The champion's recorded nDCG beside the oracle's and popularity's on the same rows."""

    metric = "ndcg_at_10_score"
    runs = run_results(store, job="train_recommender", keys=["registered", "split"])
    split = next(
        (
            row["split"]
            for _, row in runs.iterrows()
            if isinstance(row["registered"], dict) and champion.ref in row["registered"].values()
        ),
        None,
    )
    if split is None or metric not in champion.metrics:
        raise _NotChecked(f"no training run recorded how {champion.ref} was split and scored")
    events = load_interactions(store, scope=champion.scope, feedback=champion.feedback)
    train, test = split_interactions(
        events,
        split=split["split"],
        test_ratio=split["test_ratio"],
        seed=split["seed"],
        last_n=split["last_n"],
    )
    if summarize_data(test, name="holdout").digest != champion.holdout:
        raise _NotChecked(
            f"the store changed since {champion.ref} was trained: its holdout cannot be rebuilt"
        )
    oracle = PlantedTasteRecommender(truth=truth, weight=WEIGHT)
    table = evaluate_recommenders({"oracle": oracle}, train, test, k=10, n_resamples=200)
    oracle_value = float(table["ndcg_at_k_score"].iloc[0])
    served = float(champion.metrics[metric])
    same = history[(history["holdout"] == champion.holdout) & (history["model"] == "popularity")]
    popularity = float(same[metric].iloc[0]) if len(same) else None
    share = served / oracle_value if oracle_value > 0 else 0.0
    ratio = served / popularity if popularity else None
    passed = share >= MIN_ORACLE_SHARE and (ratio is None or ratio >= MIN_POPULARITY_RATIO)
    versus = (
        f", {ratio:.1f}x popularity ({popularity:.3f}; at least {MIN_POPULARITY_RATIO:g}x)"
        if ratio is not None
        else ""
    )
    return Check(
        "recommender",
        passed,
        f"{champion.ref} nDCG@10 {served:.3f} = {share:.2f} x the planted-taste oracle "
        f"({oracle_value:.3f}; at least {MIN_ORACLE_SHARE:g}){versus}",
        {
            "champion": champion.ref,
            "ndcg_at_10": served,
            "oracle_ndcg_at_10": oracle_value,
            "popularity_ndcg_at_10": popularity,
            "oracle_share": share,
            "popularity_ratio": ratio,
        },
    )


def _lists_stay_in_scope(store: Store, truth: dict, champion: Any, retrieve: Any) -> Check:
    """Stored lists of music users hold music items only; other ids get no list."""
    import pyarrow as pa

    tracks = pa.table({"item_id": sorted(truth["item_genre"])})
    listeners = pa.table({"user_id": sorted(truth["user_taste"])})
    with store.reading() as raw:
        raw.register("planted_tracks", tracks)
        raw.register("planted_users", listeners)
        try:
            foreign_items, foreign_users, users = raw.execute(
                "SELECT count(*) FILTER (WHERE item_id NOT IN (SELECT item_id FROM planted_tracks)), "
                "count(DISTINCT user_id) FILTER (WHERE user_id NOT IN "
                "(SELECT user_id FROM planted_users)), count(DISTINCT user_id) "
                "FROM recommendations WHERE model = ? AND version = ?",
                [champion.name, champion.version],
            ).fetchone()
        finally:
            raw.unregister("planted_tracks")
            raw.unregister("planted_users")
    if users == 0:
        raise _NotChecked(f"{champion.ref} has no stored lists (`workbench run precompute`)")
    unknown = retrieve(store, "a-user-nobody-has-seen", 10, model=champion.ref)
    fallback_foreign = int((~unknown.items["item_id"].isin(truth["item_genre"])).sum())
    passed = foreign_items == 0 and foreign_users == 0 and fallback_foreign == 0
    return Check(
        "stored lists",
        passed,
        f"{users:,} users with lists; {foreign_items} listed items and {foreign_users} users "
        f"from outside the music set; an unknown user's fallback holds {fallback_foreign} "
        "non-music items",
        {
            "users": int(users),
            "foreign_items": int(foreign_items),
            "foreign_users": int(foreign_users),
            "fallback_foreign_items": fallback_foreign,
        },
    )


def _skips_are_not_recommended(store: Store, champion: Any) -> Check:
    """Pairs skipped repeatedly, never played or liked, never appear in stored lists.

    Judged by the music set's own meaning of its events (a skip is the user turning a
    track down), whatever semantics the model was trained with.
    """
    (pairs, listed) = (
        store.sql(
            "WITH pairs AS (SELECT user_id, item_id FROM events "
            "WHERE event_type IN ('play', 'like', 'skip') GROUP BY ALL "
            "HAVING count(*) FILTER (WHERE event_type = 'skip') >= ? "
            "AND count(*) FILTER (WHERE event_type IN ('play', 'like')) = 0) "
            "SELECT (SELECT count(*) FROM pairs), (SELECT count(*) FROM recommendations r JOIN pairs "
            "USING (user_id, item_id) WHERE r.model = ? AND r.version = ?)",
            [REPEATED_SKIPS, champion.name, champion.version],
        )
        .to_pylist()[0]
        .values()
    )
    return Check(
        "skips",
        listed == 0,
        f"{listed} of {pairs:,} user-item pairs skipped {REPEATED_SKIPS}+ times (never played "
        "or liked) are in the stored lists",
        {"repeatedly_skipped_pairs": int(pairs), "recommended": int(listed)},
    )


# --- readout ----------------------------------------------------------------------------


def _ads(store: Store, truth: dict[str, Any], model: str) -> list[Check]:

    metric = "sum:click"
    runs = run_results(store, job="experiment_readout", keys=["results", "srm_flagged"])
    if runs.empty:
        raise _NotChecked("no successful experiment_readout run yet")
    latest = runs.iloc[0]
    treatments = (latest["results"] or {}).get(metric)
    if not treatments:
        raise _NotChecked(f"the latest readout has no {metric} (its metrics parameter)")
    planted = float(truth["true_lift"])
    variant, found = next(iter(treatments.items()))
    inside = found["ci_low"] <= planted <= found["ci_high"]
    srm_planted = float(truth.get("srm", 0.0)) > 0
    srm_agrees = bool(latest["srm_flagged"]) == srm_planted
    return [
        Check(
            "readout",
            inside,
            f"{metric} lift of {variant} {found['lift']:+.1%} (95% CI {found['ci_low']:+.1%} to "
            f"{found['ci_high']:+.1%}); planted {planted:+.1%}: "
            + ("inside" if inside else "OUTSIDE the interval"),
            {
                "lift": found["lift"],
                "low": found["ci_low"],
                "high": found["ci_high"],
                "planted": planted,
            },
        ),
        Check(
            "sample ratio",
            srm_agrees,
            f"mismatch {'flagged' if latest['srm_flagged'] else 'not flagged'}; "
            f"{'one was' if srm_planted else 'none was'} planted",
            {"flagged": bool(latest["srm_flagged"]), "planted": srm_planted},
        ),
    ]


# --- anomaly scan -----------------------------------------------------------------------


def _metrics(store: Store, truth: dict[str, Any], model: str) -> list[Check]:
    import pandas as pd

    runs = run_results(store, job="anomaly_scan", keys=["scan"])
    if runs.empty:
        raise _NotChecked("no successful anomaly_scan run yet")
    scan = runs.iloc[0]["scan"]
    # The recorded window says its zone (UTC); the store's times have none.
    since, until = (_naive_utc(pd.Timestamp(scan[key])) for key in ("since", "until"))
    alerts = store.sql(
        "SELECT series_id, ts FROM alerts WHERE scan_id = ?", [scan["scan_id"]]
    ).to_pandas()
    planted = pd.DataFrame(truth["anomalies"])
    planted["start"] = pd.to_datetime(planted["start"]).dt.tz_localize(None)
    planted["end"] = pd.to_datetime(planted["end"]).dt.tz_localize(None)
    inside = planted[(planted["end"] >= since) & (planted["start"] < until)]
    if inside.empty:
        raise _NotChecked(f"no planted anomaly falls in the scanned window {since} - {until}")
    alerts["ts"] = pd.to_datetime(alerts["ts"])
    found = [
        bool(((alerts["series_id"] == a.series_id) & alerts["ts"].between(a.start, a.end)).any())
        for a in inside.itertuples()
    ]
    recall = sum(found) / len(found)
    missed = [a.series_id for a, hit in zip(inside.itertuples(), found, strict=True) if not hit]
    return [
        Check(
            "anomaly scan",
            recall >= MIN_SCAN_RECALL,
            f"{sum(found)} of {len(found)} planted anomalies in the window alerted (recall "
            f"{recall:.2f}) with {len(alerts):,} alerts at budget {scan['threshold']}"
            + (f"; missed in {', '.join(missed)}" if missed else ""),
            {
                "recall": recall,
                "planted": len(found),
                "alerts": len(alerts),
                "budget": scan["threshold"],
            },
        )
    ]


def _naive_utc(when):
    """A time as the store keeps it: UTC, without a zone (a zone-less time is taken as UTC)."""
    return when if when.tzinfo is None else when.tz_convert("UTC").tz_localize(None)
