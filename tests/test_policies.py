"""Explore/exploit policies: slates, their propensities, learning, and logging to deliveries."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from workbench.delivery.policies import (
    EpsilonGreedyPolicy,
    SoftmaxPolicy,
    ThompsonSamplingPolicy,
    log_slates,
)
from workbench.exceptions import InvalidArgument
from workbench.recommend import ItemKNNRecommender

SCORES = pd.DataFrame(
    {"item_id": ["a", "b", "c", "d", "e", "f"], "score": [2.0, 1.6, 1.2, 0.5, 0.1, -0.4]}
)


def _frequencies(policy, k: int, n: int) -> pd.DataFrame:
    """Share of ``n`` drawn slates that put each item at each position."""
    counts: dict[tuple[str, int], int] = {}
    for _ in range(n):
        shown = policy.slate("u1", k=k)
        for position, item in zip(shown.positions, shown.items, strict=True):
            counts[item, position] = counts.get((item, position), 0) + 1
    table = pd.Series(counts).unstack(fill_value=0) / n
    return table.reindex(index=SCORES["item_id"], columns=range(1, k + 1), fill_value=0.0)


def _assert_close(observed: pd.DataFrame, expected: pd.DataFrame, n: int) -> None:
    """Every cell within 4.5 binomial standard errors (plus a hair for exact zeros)."""
    expected = expected.reindex_like(observed)
    error = np.sqrt(expected * (1 - expected) / n) * 4.5 + 1e-3
    assert ((observed - expected).abs() <= error).all().all(), (observed - expected).round(3)


@pytest.mark.parametrize(
    "policy",
    [
        EpsilonGreedyPolicy(SCORES, epsilon=0.3, seed=1),
        SoftmaxPolicy(SCORES, temperature=0.7, seed=2, n_propensity_draws=20_000),
        ThompsonSamplingPolicy(SCORES["item_id"], seed=3, n_propensity_draws=20_000).update(
            pd.DataFrame({"item_id": ["a"] * 6 + ["c"] * 4, "reward": [1, 1, 1, 0, 1, 0] + [0] * 4})
        ),
    ],
    ids=["epsilon-greedy", "softmax", "thompson"],
)
def test_marginal_propensities_match_how_often_slates_show_each_item_there(policy):
    n, k = 4_000, 3
    marginals = policy.marginals("u1", k=k)
    # Each position shows exactly one item, and no item shows at two positions at once.
    assert np.allclose(marginals.sum(axis=0), 1.0)
    assert (marginals.sum(axis=1) <= 1.0 + 1e-9).all()
    _assert_close(_frequencies(policy, k, n), marginals, n)


def test_epsilon_greedy_propensities_are_exact():
    policy = EpsilonGreedyPolicy(SCORES, epsilon=0.3, seed=0)
    shown = policy.slate("u1", k=3)
    assert shown.propensity_method == "exact"
    greedy = ["a", "b", "c"]
    for position, item, propensity in zip(
        shown.positions, shown.items, shown.propensities, strict=True
    ):
        expected = 0.3 / 6 + (0.7 if greedy[position - 1] == item else 0.0)
        assert propensity == pytest.approx(expected)
        assert policy.probability({"user_id": "u1", "position": position}, item) == pytest.approx(
            expected
        )
    assert EpsilonGreedyPolicy(SCORES, epsilon=0.0).slate("u1", k=3).items == tuple(greedy)


def test_softmax_first_two_positions_are_exact_and_later_ones_estimated():
    policy = SoftmaxPolicy(SCORES, temperature=0.5, seed=4)
    weights = np.exp(SCORES["score"].to_numpy() / 0.5)
    first = weights / weights.sum()
    second = [
        sum(first[a] * first[i] / (1 - first[a]) for a in range(6) if a != i) for i in range(6)
    ]
    marginals = policy.marginals("u1", k=3)
    assert np.allclose(marginals[1], first)
    assert np.allclose(marginals[2], second)
    assert policy.slate("u1", k=2).propensity_method == "exact"
    shown = policy.slate("u1", k=4)
    assert shown.propensity_method == "exact+monte_carlo(10000)"
    assert all(0 < p <= 1 for p in shown.propensities)
    assert len(set(shown.items)) == 4


def test_thompson_sampling_learns_which_item_pays_per_segment():
    items = ["news", "sport", "music", "film"]
    policy = ThompsonSamplingPolicy(items, segment="country", seed=7)
    rng = np.random.default_rng(0)
    rate = {
        "fr": {"news": 0.05, "sport": 0.5, "music": 0.05, "film": 0.05},
        "jp": {"news": 0.05, "sport": 0.05, "music": 0.05, "film": 0.5},
    }
    for _ in range(30):
        feedback = []
        for country in ("fr", "jp"):
            shown = policy.slate("someone", k=2, context={"country": country})
            feedback += [
                {
                    "item_id": item,
                    "reward": float(rng.random() < rate[country][item]),
                    "context": json.dumps({"country": country}),
                }
                for item in shown.items
            ]
        policy.update(pd.DataFrame(feedback))
    assert policy.marginals("x", k=1, context={"country": "fr"})[1].idxmax() == "sport"
    assert policy.marginals("x", k=1, context={"country": "jp"})[1].idxmax() == "film"
    alpha, beta = policy.posterior("fr")
    assert alpha.sum() + beta.sum() == pytest.approx(len(items) * 2 + 30 * 2)
    # A segment never seen starts at the prior: every item equally likely first.
    unseen = policy.marginals("x", k=1, context={"country": "br"})[1]
    assert np.allclose(unseen, 0.25, atol=0.03)


def test_thompson_refuses_feedback_it_cannot_learn_from():
    policy = ThompsonSamplingPolicy(["a", "b"], segment="country")
    with pytest.raises(InvalidArgument, match=r"outside \[0, 1\]"):
        policy.update(pd.DataFrame({"item_id": ["a"], "reward": [3.0], "country": ["fr"]}))
    with pytest.raises(InvalidArgument, match="not among the policy's items"):
        policy.update(pd.DataFrame({"item_id": ["zzz"], "reward": [1.0], "country": ["fr"]}))
    with pytest.raises(InvalidArgument, match="every reward must name its segment"):
        policy.update(pd.DataFrame({"item_id": ["a"], "reward": [1.0]}))
    with pytest.raises(InvalidArgument, match="context has no such key"):
        policy.slate("u", k=1)
    assert policy.alpha_ == {}  # nothing was learned from the refused batches


def test_a_recommender_scores_the_candidates_and_a_fallback_covers_unknown_users():
    events = pd.DataFrame(
        {"user_id": ["a", "a", "b", "b", "c", "c"], "item_id": ["x", "y", "x", "z", "y", "w"]}
    )
    model = ItemKNNRecommender().fit(events)
    policy = EpsilonGreedyPolicy(model, epsilon=0.0, n_candidates=2)
    shown = policy.slate("c", k=5)
    assert shown.items == tuple(model.recommend(["c"], k=2)["item_id"])
    with pytest.raises(InvalidArgument, match="fallback"):
        policy.slate("stranger", k=2)
    popular = pd.DataFrame({"item_id": ["x", "y"], "score": [3.0, 2.0]})
    fallback = EpsilonGreedyPolicy(model, epsilon=0.0, fallback=popular)
    assert fallback.slate("stranger", k=2).items == ("x", "y")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: EpsilonGreedyPolicy(SCORES, epsilon=1.5), "epsilon must be a number >= 0"),
        (lambda: SoftmaxPolicy(SCORES, temperature=0), "temperature must be a number > 0"),
        (lambda: EpsilonGreedyPolicy(SCORES, n_candidates=0), "n_candidates"),
        (lambda: ThompsonSamplingPolicy(["a", "a"]), "unique"),
        (lambda: EpsilonGreedyPolicy(pd.DataFrame({"item": ["a"]})), "item_id and score"),
    ],
)
def test_bad_parameters_are_refused_with_the_allowed_range(make, message):
    with pytest.raises(InvalidArgument, match=message):
        make().slate("u1", k=2)


@dataclass(frozen=True)
class _Version:
    name: str
    version: int


def test_deliver_logs_every_shown_item_with_its_propensity_and_model(file_store):
    policy = SoftmaxPolicy(SCORES, temperature=1.0, model=_Version("ranker", 3), seed=5)
    shown = policy.deliver(
        file_store, "u1", k=3, context={"device": "tv"}, experiment="exp1", variant="softmax"
    )
    rows = file_store.sql("SELECT * FROM deliveries ORDER BY position").to_pandas()
    assert rows["item_id"].tolist() == list(shown.items)
    assert rows["position"].tolist() == [1, 2, 3]
    assert rows["propensity"].tolist() == pytest.approx(list(shown.propensities))
    assert set(rows["policy"]) == {"softmax(temperature=1)"}
    assert set(rows["model"]) == {"ranker"} and set(rows["version"]) == {3}
    assert set(rows["experiment"]) == {"exp1"} and set(rows["variant"]) == {"softmax"}
    assert rows["delivery_id"].is_unique and rows["reward"].isna().all()
    contexts = [json.loads(c) for c in rows["context"]]
    assert {c["slate_id"] for c in contexts} == {shown.slate_id}
    assert {c["device"] for c in contexts} == {"tv"}
    assert contexts[0]["propensity_method"] == shown.propensity_method


def test_many_slates_are_logged_in_one_call(memory_store):
    policy = EpsilonGreedyPolicy(SCORES, epsilon=0.5, model="ranker@7", seed=1)
    slates = [policy.slate(f"u{i}", k=2) for i in range(50)]
    ids = log_slates(memory_store, slates)
    assert len(ids) == len(set(ids)) == 100
    counts = memory_store.sql(
        "SELECT count(*) AS n, count(DISTINCT user_id) AS users, min(version) AS v, "
        "min(model) AS m FROM deliveries"
    ).to_pylist()[0]
    assert counts == {"n": 100, "users": 50, "v": 7, "m": "ranker"}


def test_a_model_alias_is_logged_as_the_version_it_pointed_to(file_store, tmp_path, monkeypatch):
    from workbench.recommend import PopularityRecommender
    from workbench.registry import promote, register

    monkeypatch.chdir(tmp_path)  # artifacts land beside the test's store
    events = pd.DataFrame({"user_id": ["a", "b", "b"], "item_id": ["x", "x", "y"]})
    model = PopularityRecommender().fit(events)
    version = register(
        file_store, model, "pop", metrics={"ndcg_at_10_score": 0.1}, training_data=events
    )
    promote(file_store, "pop", version.version)
    policy = EpsilonGreedyPolicy(model, epsilon=0.1, model="pop@champion", seed=0)
    policy.deliver(file_store, "a", k=1)
    row = file_store.sql("SELECT model, version FROM deliveries").to_pylist()
    assert row == [{"model": "pop", "version": version.version}]
