"""MovieLens 100K: the workbench's recommenders against microsoft/recommenders' published table.

Protocol (as in microsoft/recommenders' benchmark): per-user stratified random
75/25 split, top 10, items rated in training not recommended, every test rating
relevant. MAP is over the top 10 and divides by all of a user's relevant items
(their ``map``). For each seed the ratings are split with the workbench's own
``stratified_split`` (after ``ingest(..., format="movielens")`` into a fresh
store) and every model is fitted; figures are means over seeds, fit seconds the
median.

Nothing is downloaded. Pass ``--path .../ml-100k/u.data``; without it the same
protocol runs on synthetic ratings in the same format (943 users, 1,682 items,
~100k ratings converted from ``make_music``'s planted tastes), labelled as
such: those figures are NOT comparable with the published table. On synthetic
data the table also shows an oracle that knows the planted tastes
(``taste[genre] * popularity``), the best a model can expect to do.

Run with ``uv run python benchmarks/bench_movielens.py [--path u.data] [--seeds 5]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import write_section

from workbench.capture import ingest
from workbench.datasets import make_music
from workbench.evaluate import evaluate_recommenders
from workbench.recommend import MODELS
from workbench.recommend.comparison import load_interactions, make_models, split_interactions
from workbench.store import Store

SECTION = "## MovieLens 100K protocol (`benchmarks/bench_movielens.py`)"
SYNTHETIC_SECTION = (
    "## MovieLens 100K protocol on synthetic ratings (`benchmarks/bench_movielens.py`, no --path)"
)
K = 10
# microsoft/recommenders, MovieLens 100K benchmark table: MAP, nDCG@10, P@10, R@10.
PUBLISHED = {
    "BiVAE (published)": (0.146, 0.475, 0.412, 0.219),
    "SAR (published)": (0.111, 0.382, 0.331, 0.176),
}
GOAL = {"precision": 0.43, "ndcg": 0.49, "fit_seconds": 1.0}
# Chosen by hand on seed 0 of the synthetic ratings (a small grid per model, nDCG@10),
# within the usual MovieLens ranges; each class's defaults are kept where not listed.
# ALS is not set to the 8 factors that fit the 8 planted genres best (nDCG@10 0.54),
# which would tune to the generator. implicit's BPR peaks near 50 iterations and gets
# worse with more (0.10 at 300).
TUNED = {
    "itemknn": {"neighbors": 50, "shrinkage": 10.0},
    "ease": {"l2": 500.0},
    "als": {"factors": 32},
    "bpr": {"factors": 64, "learning_rate": 0.01, "regularization": 0.01, "iterations": 50},
}
COLUMNS = {  # evaluate_recommenders' column -> label, in the published table's order
    "mean_average_precision_score": "MAP",
    "ndcg_at_k_score": "nDCG@10",
    "precision_at_k_score": "P@10",
    "recall_at_k_score": "R@10",
}


class TasteOracle:
    """Recommends by the planted ``taste[user, genre(item)] * popularity[item]``."""

    def __init__(self, truth: dict, users: dict[str, int], items: dict[str, int]) -> None:
        self.truth, self.users, self.items = truth, users, items

    def fit(self, train: pd.DataFrame) -> TasteOracle:
        self.seen_ = train.groupby("user_id")["item_id"].agg(set).to_dict()
        return self

    def recommend(self, users, k: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        item_ids = np.array(list(self.items.values()))
        genre = np.array([self.truth["item_genre"][name] for name in self.items])
        popularity = np.array([self.truth["item_popularity"][name] for name in self.items])
        by_number = {number: name for name, number in self.users.items()}
        rows = []
        for user in users:
            scores = np.asarray(self.truth["user_taste"][by_number[user]])[genre] * popularity
            if exclude_seen:
                scores[np.isin(item_ids, list(self.seen_.get(user, ())))] = -np.inf
            best = np.argsort(-scores, kind="stable")[:k]
            rows.append(
                pd.DataFrame(
                    {
                        "user_id": user,
                        "item_id": item_ids[best],
                        "rank": np.arange(1, k + 1),
                        "score": scores[best],
                    }
                )
            )
        return pd.concat(rows, ignore_index=True)


def synthetic_ratings(seed: int = 0) -> tuple[pd.DataFrame, dict, dict, dict]:
    """~100k ratings in u.data's shape from make_music: one per (user, track), 1-5.

    A user's first event with a track gives the time; the rating is 5 when any
    event was a like, 4 when a play, 2 when only skips.
    """
    music = make_music(users=943, items=1682, days=140, seed=seed)
    events = music.tables["events"].select(["user_id", "item_id", "event_type", "ts"]).to_pandas()
    events["rating"] = events["event_type"].map({"like": 5, "play": 4, "skip": 2})
    pairs = events.groupby(["user_id", "item_id"], as_index=False).agg(
        rating=("rating", "max"), ts=("ts", "min")
    )
    users = {name: number + 1 for number, name in enumerate(sorted(music.truth["user_taste"]))}
    items = {name: number + 1 for number, name in enumerate(sorted(music.truth["item_genre"]))}
    ratings = pd.DataFrame(
        {
            "user": pairs["user_id"].map(users),
            "item": pairs["item_id"].map(items),
            "rating": pairs["rating"],
            "ts": pairs["ts"].astype("int64") // 10**6,
        }
    )
    return ratings, music.truth, users, items


def run_seed(events, names: list[str], seed: int, oracle: TasteOracle | None) -> pd.DataFrame:
    train, test = split_interactions(events, split="stratified", test_ratio=0.25, seed=seed)
    train = train.rename(columns={"value": "rating"})
    test = test.rename(columns={"value": "rating"})
    # MovieLens ids arrive as text: compare them as the integers they are.
    for part in (train, test):
        part["user_id"], part["item_id"] = part["user_id"].astype(int), part["item_id"].astype(int)
    models = make_models(names, params={name: TUNED[name] for name in names if name in TUNED})
    if oracle is not None:
        models["oracle (planted tastes)"] = oracle
    table = evaluate_recommenders(models, train, test, k=K, n_resamples=100, seed=seed)
    return table.assign(seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, help="MovieLens 100K u.data (not downloaded)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()

    names = [
        name for name in ("popularity", "itemknn", "ease", "als", "bpr", "ltr") if name in MODELS
    ]
    with tempfile.TemporaryDirectory(prefix="bench-movielens-") as folder:
        oracle = None
        if args.path is not None:
            ratings_file = args.path
            digest = hashlib.sha256(args.path.read_bytes()).hexdigest()
            label = f"MovieLens 100K ({args.path.name}, sha256 {digest[:12]}…)"
        else:
            print(
                "No --path given: MovieLens 100K's u.data is needed for the real figures "
                "(nothing is downloaded). Running the same protocol on SYNTHETIC ratings."
            )
            ratings, truth, users, items = synthetic_ratings()
            ratings_file = Path(folder) / "u.data"
            ratings.to_csv(ratings_file, sep="\t", header=False, index=False)
            label = (
                f"SYNTHETIC ratings from make_music ({len(ratings):,} ratings, "
                f"{ratings['user'].nunique()} users, {ratings['item'].nunique()} items): "
                "not comparable with the published MovieLens figures"
            )
            oracle = TasteOracle(truth, users, items)
        store = Store.open(f"duckdb://{Path(folder) / 'movielens.duckdb'}")
        report = ingest(store, ratings_file, format="movielens")
        assert report.accepted == report.rows_in, report.summary()
        events = load_interactions(store)
        tables = []
        for seed in range(args.seeds):
            started = time.perf_counter()
            tables.append(run_seed(events, names, seed, oracle))
            print(f"seed {seed}: {time.perf_counter() - started:.1f}s")
    results = pd.concat(tables, ignore_index=True)

    means = results.groupby("model", sort=False)[list(COLUMNS)].mean()
    fit = results.groupby("model", sort=False)["fit_seconds"].median()
    lines = [
        f"| model ({label}; mean of {args.seeds} seeds) | "
        + " | ".join(COLUMNS.values())
        + " | fit s (median) |",
        "|---|" + "---|" * (len(COLUMNS) + 1),
    ]
    for model, row in means.iterrows():
        tuned = f" {TUNED[model]}" if model in TUNED else ""
        values = " | ".join(f"{row[column]:.3f}" for column in COLUMNS)
        lines.append(f"| {model}{tuned} | {values} | {fit[model]:.2f} |")
    for model, values in PUBLISHED.items():
        lines.append(f"| {model} | " + " | ".join(f"{v:.3f}" for v in values) + " | |")
    table = "\n".join(lines)

    learned = means.drop(index=[m for m in means.index if m.startswith("oracle")])
    best = learned["ndcg_at_k_score"].idxmax()
    bivae = PUBLISHED["BiVAE (published)"]
    beats = all(learned.loc[best, column] > bivae[i] for i, column in enumerate(COLUMNS))
    met = (
        beats
        and learned.loc[best, "precision_at_k_score"] >= GOAL["precision"]
        and learned.loc[best, "ndcg_at_k_score"] >= GOAL["ndcg"]
        and fit[best] < GOAL["fit_seconds"]
    )
    verdict = (
        f"Best learned model: {best} (nDCG@10 {learned.loc[best, 'ndcg_at_k_score']:.3f}, "
        f"P@10 {learned.loc[best, 'precision_at_k_score']:.3f}, fit {fit[best]:.2f}s on {os.cpu_count()} cores). "
        f"Goal (beat BiVAE on all four, P@10 >= {GOAL['precision']}, nDCG@10 >= {GOAL['ndcg']}, "
        f"fit < {GOAL['fit_seconds']:.0f}s): "
    )
    if args.path is None:
        gap = (
            means.loc["oracle (planted tastes)", "ndcg_at_k_score"]
            - learned.loc[best, "ndcg_at_k_score"]
        )
        verdict += (
            f"not judged: synthetic data ({'would be met' if met else 'would not be met'}). "
            f"Gap to the planted-taste oracle: nDCG@10 {gap:+.3f}."
        )
    else:
        verdict += "met." if met else "not met."
    verdict += (
        " Hyper-parameters chosen by hand on seed 0 of the synthetic ratings, never on"
        " MovieLens (shown beside each model); others are defaults."
    )
    print()
    print(table)
    print(verdict)
    if not args.no_write:
        write_section(SECTION if args.path is not None else SYNTHETIC_SECTION, table, verdict)


if __name__ == "__main__":
    main()
