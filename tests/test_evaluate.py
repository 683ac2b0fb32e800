"""Evaluation metrics, bootstrap intervals, the comparison table and its charts.

Accuracy metrics are checked three ways: hand-computed values on tiny lists,
a plain-loop reference implementation on random data, and (nDCG)
scikit-learn's ``ndcg_score``.
"""

from __future__ import annotations

import math

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.evaluate import (
    ACCURACY_METRICS,
    bootstrap_interval,
    catalog_coverage_score,
    evaluate_recommenders,
    hit_rate_at_k_score,
    intra_list_diversity_score,
    item_popularity,
    map_at_k_score,
    mean_average_precision_score,
    mean_reciprocal_rank_score,
    ndcg_at_k_score,
    novelty_score,
    plot_metric_by_k,
    plot_model_comparison,
    precision_at_k_score,
    recall_at_k_score,
    relevant_items,
    score_users,
)
from workbench.exceptions import InvalidArgument, WorkbenchError
from workbench.formatting import label

METRIC_FUNCTIONS = {
    "precision_at_k_score": precision_at_k_score,
    "recall_at_k_score": recall_at_k_score,
    "ndcg_at_k_score": ndcg_at_k_score,
    "map_at_k_score": map_at_k_score,
    "mean_average_precision_score": mean_average_precision_score,
    "hit_rate_at_k_score": hit_rate_at_k_score,
    "mean_reciprocal_rank_score": mean_reciprocal_rank_score,
}


# --- an independent reference: the textbook definitions as plain loops -----------------


def reference_scores(recommended: dict, relevant: dict, k: int) -> dict[str, float]:
    """Every accuracy metric, one user at a time, written as directly as possible."""
    per_user: dict[str, list[float]] = {name: [] for name in METRIC_FUNCTIONS}
    for user, wanted in relevant.items():
        wanted = set(wanted)
        if not wanted:
            continue  # users without relevant items are excluded
        top = list(recommended.get(user, []))[:k]
        found = 0
        precision_sum = 0.0
        dcg = 0.0
        reciprocal_rank = 0.0
        for index, item in enumerate(top):
            position = index + 1
            if item in wanted:
                found += 1
                precision_sum += found / position
                dcg += 1 / math.log2(position + 1)
                if reciprocal_rank == 0.0:
                    reciprocal_rank = 1 / position
        ideal = sum(1 / math.log2(position + 1) for position in range(1, min(len(wanted), k) + 1))
        per_user["precision_at_k_score"].append(found / k)
        per_user["recall_at_k_score"].append(found / len(wanted))
        per_user["ndcg_at_k_score"].append(dcg / ideal)
        per_user["map_at_k_score"].append(precision_sum / min(len(wanted), k))
        per_user["mean_average_precision_score"].append(precision_sum / len(wanted))
        per_user["hit_rate_at_k_score"].append(1.0 if found else 0.0)
        per_user["mean_reciprocal_rank_score"].append(reciprocal_rank)
    return {name: sum(values) / len(values) for name, values in per_user.items()}


def as_frame(recommended: dict, *, shuffle_seed: int | None = None) -> pd.DataFrame:
    """The mapping as DataFrame[user_id, item_id, rank, score], rows optionally shuffled."""
    rows = [
        {"user_id": user, "item_id": item, "rank": position * 10, "score": -position}
        for user, items in recommended.items()
        for position, item in enumerate(items, start=1)
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rank", "score"])
    if shuffle_seed is not None:
        frame = frame.sample(frac=1.0, random_state=shuffle_seed)
    return frame


# --- hand-computed values -------------------------------------------------------------

RECOMMENDED = {"ann": ["a", "b", "c"], "bob": ["d", "e", "f"], "cy": ["a", "b"]}
RELEVANT = {"ann": {"a", "c"}, "bob": {"e", "x"}, "cy": set(), "dee": {"a"}}
# ann: hits at 1 and 3 of 2 relevant; bob: hit at 2 of 2 relevant;
# cy: no relevant item (excluded); dee: relevant but no list (all misses).
HAND = {
    "precision_at_k_score": (2 / 3 + 1 / 3 + 0) / 3,
    "recall_at_k_score": (1 + 1 / 2 + 0) / 3,
    "ndcg_at_k_score": (
        (1 + 1 / 2) / (1 + 1 / math.log2(3))  # ann: positions 1 and 3
        + (1 / math.log2(3)) / (1 + 1 / math.log2(3))  # bob: position 2
        + 0
    )
    / 3,
    "map_at_k_score": ((1 + 2 / 3) / 2 + (1 / 2) / 2 + 0) / 3,
    "mean_average_precision_score": ((1 + 2 / 3) / 2 + (1 / 2) / 2 + 0) / 3,
    "hit_rate_at_k_score": 2 / 3,
    "mean_reciprocal_rank_score": (1 + 1 / 2 + 0) / 3,
}


@pytest.mark.parametrize("name", sorted(METRIC_FUNCTIONS))
def test_accuracy_metrics_match_hand_computed_values(name):
    assert METRIC_FUNCTIONS[name](RECOMMENDED, RELEVANT, k=3) == pytest.approx(HAND[name])


@pytest.mark.parametrize("name", sorted(METRIC_FUNCTIONS))
def test_dataframe_and_ibis_inputs_give_the_same_scores_as_mappings(name):
    frame = as_frame(RECOMMENDED, shuffle_seed=3)  # order comes from `rank`, not row order
    relevant = pd.DataFrame(
        [(user, item) for user, items in RELEVANT.items() for item in items],
        columns=["user_id", "item_id"],
    )
    expected = HAND[name]
    assert METRIC_FUNCTIONS[name](frame, relevant, k=3) == pytest.approx(expected)
    assert METRIC_FUNCTIONS[name](ibis.memtable(frame), RELEVANT, k=3) == pytest.approx(expected)


def test_full_map_divides_by_all_relevant_items_and_map_at_k_by_at_most_k():
    recommended = {"ann": ["a", "b", "c"]}
    relevant = {"ann": {"a", "c", "x", "y", "z"}}  # 5 relevant, k = 3
    assert mean_average_precision_score(recommended, relevant, k=3) == pytest.approx(
        (1 + 2 / 3) / 5
    )
    assert map_at_k_score(recommended, relevant, k=3) == pytest.approx((1 + 2 / 3) / 3)


def test_users_without_relevant_items_are_excluded_and_users_without_lists_count_as_misses():
    base = precision_at_k_score({"ann": ["a"]}, {"ann": {"a"}}, k=1)
    assert base == 1.0
    # a list for a user with nothing relevant changes nothing
    assert precision_at_k_score({"ann": ["a"], "bob": ["b"]}, {"ann": {"a"}}, k=1) == 1.0
    # a user with relevant items and no list halves the mean
    assert precision_at_k_score({"ann": ["a"]}, {"ann": {"a"}, "bob": {"b"}}, k=1) == 0.5


def test_lists_are_cut_at_k_and_short_lists_still_divide_by_k():
    assert precision_at_k_score({"ann": ["x", "a"]}, {"ann": {"a"}}, k=1) == 0.0
    assert precision_at_k_score({"ann": ["a"]}, {"ann": {"a"}}, k=4) == 0.25
    assert ndcg_at_k_score({"ann": ["a"]}, {"ann": {"a"}}, k=4) == 1.0


def test_beyond_accuracy_metrics_match_hand_computed_values():
    recommended = {"ann": ["a", "b", "c"], "bob": ["a", "d"]}
    assert catalog_coverage_score(recommended, list("abcdefgh"), k=3) == 0.5
    assert catalog_coverage_score(recommended, list("abcdefgh"), k=1) == 1 / 8

    train = pd.DataFrame(
        {"user_id": [1, 2, 3, 4, 1, 2, 1], "item_id": ["a", "a", "a", "a", "b", "b", "c"]}
    )
    popularity = item_popularity(train)  # a: 4/4, b: 2/4, c: 1/4; d never seen
    assert popularity.to_dict() == {"a": 1.0, "b": 0.5, "c": 0.25}
    # ann: (0 + 1 + 2) / 3 bits; bob: d has no popularity, so only a counts (0 bits)
    assert novelty_score(recommended, train, k=3) == pytest.approx((1.0 + 0.0) / 2)
    assert novelty_score(recommended, popularity.to_dict(), k=3) == pytest.approx(0.5)

    features = pd.DataFrame(
        {"item_id": list("abcd"), "x": [1.0, 1.0, 0.0, 0.0], "y": [0.0, 1.0, 1.0, 0.0]}
    )
    # cosine: a-b 1/sqrt2, a-c 0, b-c 1/sqrt2; d is a zero vector: distance 1 to a
    ann = ((1 - 1 / math.sqrt(2)) + 1 + (1 - 1 / math.sqrt(2))) / 3
    assert intra_list_diversity_score(recommended, item_features=features, k=3) == pytest.approx(
        (ann + 1.0) / 2
    )
    similarity = pd.DataFrame(
        [[1.0, 0.8, 0.2, 0.5], [0.8, 1.0, 0.4, 0.0], [0.2, 0.4, 1.0, 0.0], [0.5, 0.0, 0.0, 1.0]],
        index=list("abcd"),
        columns=list("abcd"),
    )
    expected = ((0.2 + 0.8 + 0.6) / 3 + 0.5) / 2
    assert intra_list_diversity_score(
        recommended, item_similarity=similarity, k=3
    ) == pytest.approx(expected)


# --- cross-checks on random data ------------------------------------------------------

users = st.integers(0, 12)
items = st.integers(0, 25)
recommended_lists = st.dictionaries(users, st.lists(items, unique=True, max_size=12))
relevant_sets = st.dictionaries(users, st.sets(items, max_size=10)).filter(
    lambda mapping: any(mapping.values())
)


@settings(max_examples=150, deadline=None)
@given(recommended_lists, relevant_sets, st.integers(1, 10), st.booleans())
def test_every_accuracy_metric_matches_the_loop_reference(recommended, relevant, k, use_frame):
    expected = reference_scores(recommended, relevant, k)
    given_lists = as_frame(recommended, shuffle_seed=k) if use_frame else recommended
    scores = score_users(given_lists, relevant, k=k)  # the per-user values behind every metric
    for name in ACCURACY_METRICS:
        assert scores[name].mean() == pytest.approx(expected[name]), name
    name = sorted(METRIC_FUNCTIONS)[k % len(METRIC_FUNCTIONS)]  # and each wrapper, in turn
    assert METRIC_FUNCTIONS[name](given_lists, relevant, k=k) == pytest.approx(expected[name])


def test_accuracy_metrics_match_the_loop_reference_on_a_larger_random_sample():
    rng = np.random.default_rng(42)
    n_items = 300
    weights = 1 / np.arange(1, n_items + 1)  # popular items are recommended and relevant more
    weights /= weights.sum()
    recommended, relevant = {}, {}
    for user in range(400):
        length = int(rng.integers(0, 25))
        recommended[f"u{user}"] = list(rng.choice(n_items, size=length, replace=False, p=weights))
        relevant[f"u{user}"] = set(rng.choice(n_items, size=int(rng.integers(0, 30)), p=weights))
    for k in (1, 5, 10, 20):
        expected = reference_scores(recommended, relevant, k)
        scores = score_users(recommended, relevant, k=k)
        for name in ACCURACY_METRICS:
            assert scores[name].mean() == pytest.approx(expected[name]), (name, k)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(users, st.lists(st.integers(0, 7), unique=True, max_size=6), min_size=1),
    st.integers(1, 6),
    st.integers(0, 2**16),
)
def test_intra_list_diversity_matches_a_pairwise_loop(recommended, k, seed):
    vectors = np.random.default_rng(seed).normal(size=(8, 3))
    features = {item: vectors[item] for item in range(8)}

    def cosine(a, b):
        return features[a] @ features[b] / np.linalg.norm(features[a]) / np.linalg.norm(features[b])

    per_user = []
    for items in recommended.values():
        top = items[:k]
        distances = [1 - cosine(a, b) for i, a in enumerate(top) for b in top[i + 1 :]]
        if distances:
            per_user.append(sum(distances) / len(distances))
    score = intra_list_diversity_score(recommended, item_features=features, k=k)
    if per_user:
        assert score == pytest.approx(sum(per_user) / len(per_user))
    else:
        assert math.isnan(score)


def test_intra_list_diversity_is_the_same_when_computed_in_blocks(monkeypatch):
    import workbench.evaluate.beyond as beyond

    rng = np.random.default_rng(2)
    recommended = {user: list(rng.choice(40, size=6, replace=False)) for user in range(50)}
    features = {item: rng.random(3) for item in range(40)}
    similarity = pd.DataFrame(rng.random((40, 40)))
    whole = [
        intra_list_diversity_score(recommended, item_features=features, k=5),
        intra_list_diversity_score(recommended, item_similarity=similarity, k=5),
    ]
    monkeypatch.setattr(beyond, "_BLOCK_CELLS", 60)  # a couple of users per block
    blocks = [
        intra_list_diversity_score(recommended, item_features=features, k=5),
        intra_list_diversity_score(recommended, item_similarity=similarity, k=5),
    ]
    assert blocks == pytest.approx(whole)


def test_ndcg_agrees_with_sklearn_when_every_list_is_k_long():
    """sklearn ranks by score and averages the gain over tied scores (ignore_ties=False).

    Giving the k recommended items distinct scores above every other item makes
    sklearn's top k exactly our list, so the two must agree. Users without a
    relevant item are dropped first: sklearn would count them as 0.
    """
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(7)
    n_users, n_items, k = 200, 60, 10
    recommended, relevant = {}, {}
    truth = np.zeros((n_users, n_items))
    scores = np.zeros((n_users, n_items))
    for user in range(n_users):
        ranked = rng.choice(n_items, size=k, replace=False)
        chosen = rng.choice(n_items, size=int(rng.integers(1, 15)), replace=False)
        recommended[user], relevant[user] = list(ranked), set(chosen)
        scores[user, ranked] = np.arange(k, 0, -1)
        truth[user, chosen] = 1
    ours = ndcg_at_k_score(recommended, relevant, k=k)
    assert ours == pytest.approx(ndcg_score(truth, scores, k=k))
    assert ours == pytest.approx(ndcg_score(truth, scores, k=k, ignore_ties=True))


def test_ndcg_differs_from_sklearn_when_a_short_list_is_padded_with_ties():
    from sklearn.metrics import ndcg_score

    # one recommended item (a miss); sklearn sees the other 3 items tied at score 0
    # and spreads their gain over the tied positions 2..4, we count no gain at all
    truth = np.array([[0, 1, 0, 0]])
    scores = np.array([[1.0, 0.0, 0.0, 0.0]])
    assert ndcg_at_k_score({0: [0]}, {0: {1}}, k=4) == 0.0
    assert ndcg_score(truth, scores, k=4) > 0.0


# --- bootstrap intervals --------------------------------------------------------------


def test_bootstrap_interval_contains_the_mean_and_shrinks_with_more_users():
    rng = np.random.default_rng(0)
    widths = []
    for n_users in (50, 500, 5000):
        values = rng.beta(2, 5, size=n_users)
        low, high = bootstrap_interval(values, seed=1)
        assert low <= values.mean() <= high
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    # roughly 1/sqrt(n): ten times the users, about a third of the width
    assert 0.2 < widths[2] / widths[1] < 0.5


def test_bootstrap_interval_is_deterministic_for_a_seed_and_narrows_with_confidence():
    values = np.random.default_rng(3).random(300)
    assert bootstrap_interval(values, seed=11) == bootstrap_interval(values, seed=11)
    assert bootstrap_interval(values, seed=11) != bootstrap_interval(values, seed=12)
    low_90, high_90 = bootstrap_interval(values, confidence=0.90, seed=11)
    low_99, high_99 = bootstrap_interval(values, confidence=0.99, seed=11)
    assert low_99 < low_90 < high_90 < high_99


def test_bootstrap_interval_columns_are_paired_and_skip_missing_values():
    rng = np.random.default_rng(5)
    first = rng.random(400)
    values = np.column_stack([first, first * 2, np.where(first > 0.5, first, np.nan)])
    low, high = bootstrap_interval(values, seed=2)
    single = bootstrap_interval(first, seed=2)
    assert (low[0], high[0]) == pytest.approx(single)
    assert (low[1], high[1]) == pytest.approx((2 * single[0], 2 * single[1]))
    assert low[2] <= np.nanmean(values[:, 2]) <= high[2]
    assert low[2] > 0.5  # only the present values are averaged


def test_bootstrap_interval_covers_the_true_mean_about_as_often_as_it_claims():
    rng = np.random.default_rng(9)
    covered = 0
    for trial in range(200):
        values = rng.exponential(size=200)  # true mean 1
        low, high = bootstrap_interval(values, n_resamples=400, seed=trial)
        covered += low <= 1.0 <= high
    assert 0.88 <= covered / 200 <= 0.99


def test_bootstrap_interval_agrees_with_scipy_percentile_bootstrap():
    from scipy.stats import bootstrap

    values = np.random.default_rng(4).gamma(2.0, size=300)
    ours = bootstrap_interval(values, n_resamples=4000, seed=0)
    theirs = bootstrap(
        (values,), np.mean, n_resamples=4000, method="percentile", rng=np.random.default_rng(1)
    ).confidence_interval
    width = theirs.high - theirs.low
    assert ours == pytest.approx((theirs.low, theirs.high), abs=0.05 * width)


@pytest.mark.parametrize(
    "kwargs",
    [{"confidence": 1.0}, {"confidence": 0}, {"n_resamples": 0}, {"n_resamples": 2.5}],
)
def test_bootstrap_interval_rejects_bad_settings(kwargs):
    with pytest.raises(InvalidArgument):
        bootstrap_interval([0.1, 0.2], **kwargs)


# --- the comparison table -------------------------------------------------------------


class OracleRecommender:
    """Knows the test set: recommends each user's test items first."""

    def __init__(self, test: pd.DataFrame) -> None:
        self.test = test

    def fit(self, train: pd.DataFrame) -> OracleRecommender:
        self.fitted_ = True
        return self

    def recommend(self, users, k=10, exclude_seen=True) -> pd.DataFrame:
        lists = self.test[self.test["user_id"].isin(users)].groupby("user_id").head(k)
        lists = lists.assign(rank=lists.groupby("user_id").cumcount() + 1)
        return lists.assign(score=-lists["rank"].astype(float))[
            ["user_id", "item_id", "rank", "score"]
        ]


class RandomRecommender:
    """k random unseen items per user."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, train: pd.DataFrame) -> RandomRecommender:
        self.items_ = np.sort(train["item_id"].unique())
        self.seen_ = train.groupby("user_id")["item_id"].agg(set).to_dict()
        return self

    def recommend(self, users, k=10, exclude_seen=True) -> pd.DataFrame:
        rng = np.random.default_rng(self.seed)
        rows = []
        for user in users:
            seen = self.seen_.get(user, set()) if exclude_seen else set()
            candidates = [item for item in self.items_ if item not in seen]
            for rank, item in enumerate(rng.permutation(candidates)[:k], start=1):
                rows.append((user, item, rank, 1.0 / rank))
        return pd.DataFrame(rows, columns=["user_id", "item_id", "rank", "score"])


@pytest.fixture(scope="module")
def interactions() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(1)
    n_users, n_items = 150, 80
    weights = 1 / np.arange(1, n_items + 1) ** 0.8
    weights /= weights.sum()
    rows = []
    for user in range(n_users):
        chosen = rng.choice(n_items, size=int(rng.integers(8, 25)), replace=False, p=weights)
        for item in chosen:
            rows.append((f"u{user}", f"i{item}", int(rng.integers(1, 6))))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    in_test = rng.random(len(frame)) < 0.25
    return frame[~in_test].reset_index(drop=True), frame[in_test].reset_index(drop=True)


def test_evaluate_recommenders_oracle_beats_random(interactions):
    train, test = interactions
    oracle, random = OracleRecommender(test), RandomRecommender(seed=3)
    features = pd.DataFrame(
        np.random.default_rng(0).random((80, 4)), index=[f"i{item}" for item in range(80)]
    )
    table, fitted = evaluate_recommenders(
        {"oracle": oracle, "random": random},
        train,
        test,
        k=10,
        item_features=features,
        n_resamples=300,
        return_fitted=True,
    )
    assert list(table["model"]) == ["oracle", "random"]
    assert (table["k"] == 10).all()
    assert (table["users"] == test["user_id"].nunique()).all()
    metrics = [
        *ACCURACY_METRICS,
        "novelty_score",
        "intra_list_diversity_score",
        "catalog_coverage_score",
    ]
    for metric in metrics:
        assert {metric, f"{metric}_low", f"{metric}_high"} <= set(table.columns)
    assert {"fit_seconds", "predict_seconds"} <= set(table.columns)
    assert (table[["fit_seconds", "predict_seconds"]] >= 0).all(axis=None)
    best, worst = table.set_index("model").loc["oracle"], table.set_index("model").loc["random"]
    for metric in ACCURACY_METRICS:
        assert best[f"{metric}_low"] > worst[f"{metric}_high"], metric
        assert best[f"{metric}_low"] <= best[metric] <= best[f"{metric}_high"]
    assert best["recall_at_k_score"] == pytest.approx(
        recall_at_k_score(
            fitted["oracle"].recommend(list(test["user_id"].unique()), k=10), test, k=10
        )
    )
    assert math.isnan(best["catalog_coverage_score_low"])
    # Clones were fitted, as scikit-learn's model selection does: the caller's are untouched.
    assert fitted["oracle"] is not oracle and fitted["oracle"].fitted_
    assert not getattr(oracle, "fitted_", False) and not hasattr(random, "items_")
    assert hasattr(fitted["random"], "items_")


def test_evaluate_recommenders_is_deterministic_and_takes_ibis_tables_and_several_k(
    interactions,
):
    train, test = interactions
    models = {"oracle": OracleRecommender(test), "random": RandomRecommender(seed=3)}
    timing = ["fit_seconds", "predict_seconds"]
    first = evaluate_recommenders(models, train, test, k=[5, 10], n_resamples=200, seed=4)
    again = evaluate_recommenders(
        models, ibis.memtable(train), ibis.memtable(test), k=[10, 5], n_resamples=200, seed=4
    )
    assert list(first["k"]) == [5, 10, 5, 10]
    pd.testing.assert_frame_equal(first.drop(columns=timing), again.drop(columns=timing))
    by_k = first.set_index(["model", "k"])["recall_at_k_score"]
    assert by_k[("random", 5)] <= by_k[("random", 10)]


def test_evaluate_recommenders_gives_the_same_digits_whatever_the_row_order(interactions):
    # The store returns rows in no fixed order; a promotion gate compares these means, so
    # reshuffled input must not move them even in the last digit.
    train, test = interactions
    from workbench.recommend import EASERecommender, PopularityRecommender

    models = {"popularity": PopularityRecommender(), "ease": EASERecommender()}
    timing = ["fit_seconds", "predict_seconds"]
    first = evaluate_recommenders(models, train, test, k=10, n_resamples=50, seed=4)
    shuffled = [frame.sample(frac=1.0, random_state=9) for frame in (train, test)]
    again = evaluate_recommenders(models, *shuffled, k=10, n_resamples=50, seed=4)
    pd.testing.assert_frame_equal(first.drop(columns=timing), again.drop(columns=timing), rtol=0)


def test_evaluate_recommenders_applies_the_relevance_threshold(interactions):
    train, test = interactions
    liked = test[test["rating"] >= 4]
    table = evaluate_recommenders(
        {"oracle": OracleRecommender(liked)}, train, test, relevance_threshold=4, n_resamples=50
    )
    assert table.loc[0, "users"] == liked["user_id"].nunique()
    assert table.loc[0, "recall_at_k_score"] == pytest.approx(
        recall_at_k_score(
            OracleRecommender(liked).recommend(list(liked["user_id"].unique()), k=10),
            relevant_items(test, relevance_threshold=4),
            k=10,
        )
    )


def test_evaluate_recommenders_names_the_model_that_breaks_the_protocol(interactions):
    train, test = interactions

    class NoRank(RandomRecommender):
        def recommend(self, users, k=10, exclude_seen=True):
            return super().recommend(users, k=k).drop(columns="rank")

    with pytest.raises(InvalidArgument, match=r"models\['broken'\].*rank"):
        evaluate_recommenders({"broken": NoRank()}, train, test)
    with pytest.raises(InvalidArgument, match=r"models\['odd'\] is a str"):
        evaluate_recommenders({"odd": "not a model"}, train, test)


# --- charts ---------------------------------------------------------------------------


def test_charts_build_offline(interactions):
    train, test = interactions
    table = evaluate_recommenders(
        {"oracle": OracleRecommender(test), "random": RandomRecommender()},
        train,
        test,
        k=[1, 5, 10],
        n_resamples=50,
    )
    by_k = plot_metric_by_k(table, metric="recall_at_k_score").to_dict()
    assert by_k["layer"][0]["encoding"]["y"]["field"] == "recall_at_k_score"
    comparison = plot_model_comparison(table, k=5).to_dict()
    shown = pd.DataFrame(comparison["datasets"][comparison["data"]["name"]])
    # Panels are titled as people write the metrics (nDCG@k, not ndcg_at_k_score).
    expected = {label(name) for name in (*ACCURACY_METRICS, "catalog_coverage_score")}
    assert set(shown["metric"]) >= expected and "nDCG@k" in expected
    assert by_k["layer"][0]["encoding"]["y"]["title"] == "Recall@k"
    assert set(shown["model"]) == {"oracle", "random"}
    assert "http" not in str(comparison["datasets"])  # data embedded, nothing fetched
    with pytest.raises(InvalidArgument, match="no metric 'mrr'"):
        plot_metric_by_k(table, metric="mrr")


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "10"])
def test_k_must_be_a_positive_integer(k):
    with pytest.raises(InvalidArgument, match="k must be a positive integer"):
        precision_at_k_score(RECOMMENDED, RELEVANT, k=k)


def test_bad_inputs_raise_errors_that_say_what_to_fix():
    with pytest.raises(InvalidArgument, match="more than once"):
        precision_at_k_score({"ann": ["a", "a"]}, {"ann": {"a"}}, k=2)
    with pytest.raises(InvalidArgument, match="no column 'rank'"):
        precision_at_k_score(pd.DataFrame({"user_id": [1], "item_id": [2]}), {1: {2}}, k=1)
    with pytest.raises(InvalidArgument, match="differ in type"):
        precision_at_k_score({1: ["a"]}, {"1": {"a"}}, k=1)
    assert precision_at_k_score({2: ["a"]}, {1: {"a"}}, k=1) == 0.0  # same type: just no list
    with pytest.raises(InvalidArgument, match="no user with a relevant item"):
        precision_at_k_score({1: ["a"]}, {1: set()}, k=1)
    with pytest.raises(InvalidArgument, match="no row for 1 recommended item"):
        intra_list_diversity_score({1: ["a", "z"]}, item_features={"a": [1.0]})
    with pytest.raises(InvalidArgument, match="exactly one"):
        intra_list_diversity_score({1: ["a", "b"]})
    with pytest.raises(InvalidArgument, match="neither a 'rating' nor a 'value'"):
        relevant_items(pd.DataFrame({"user_id": [1], "item_id": [2]}), relevance_threshold=3)
    with pytest.raises(WorkbenchError, match="string"):
        precision_at_k_score({1: "abc"}, {1: {"a"}}, k=1)
