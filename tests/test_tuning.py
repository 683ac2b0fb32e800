"""Tuning on a validation split of the training data alone, and the RP3beta walk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.datasets import make_music
from workbench.exceptions import InvalidArgument
from workbench.recommend import MODELS, SEARCH_SPACES, RP3betaRecommender, tune_model, tune_models


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    events = make_music(users=120, items=150, days=20, seed=3).tables["events"].to_pandas()
    return events[events["event_type"] != "skip"][["event_id", "user_id", "item_id"]]


def test_the_chosen_values_are_the_best_validation_trial(train):
    tuned = tune_model("itemknn", train, space={"neighbors": [5, 50], "shrinkage": [0.0, 20.0]})
    assert tuned.tried == tuned.grid == 4 and len(tuned.trials) == 4
    best = tuned.trials.loc[tuned.trials["ndcg_at_k_score"].idxmax()]
    assert tuned.params == {"neighbors": int(best["neighbors"]), "shrinkage": best["shrinkage"]}
    assert tuned.score == pytest.approx(best["ndcg_at_k_score"])
    # What a model version keeps is plain JSON, and the report says it in words.
    record = tuned.record()
    assert record["params"] == tuned.params and record["tried"] == 4
    assert "itemknn: neighbors=" in tuned.describe() and "4 of 4 candidates" in tuned.describe()


def test_a_regularization_that_flattens_the_model_loses(train):
    # An l2 this large shrinks EASE's weights to noise: validation must see it is worse.
    tuned = tune_model("ease", train, space={"l2": [1e9, 200.0]})
    assert tuned.params == {"l2": 200.0}
    scores = dict(zip(tuned.trials["l2"], tuned.trials["ndcg_at_k_score"], strict=True))
    assert scores[200.0] > scores[1e9]


def test_the_same_seed_gives_the_same_choice_and_the_budget_is_kept(train):
    first = tune_model("rp3beta", train, space={"beta": [0.0, 0.5]}, seed=4)
    again = tune_model("rp3beta", train, space={"beta": [0.0, 0.5]}, seed=4)
    pd.testing.assert_frame_equal(
        first.trials.drop(columns="seconds"), again.trials.drop(columns="seconds")
    )
    # A budget smaller than one fit still tries one candidate, and says how many of the grid.
    short = tune_model("ease", train, budget_seconds=1e-6)
    grid = len(SEARCH_SPACES["ease"]["l2"]) * len(SEARCH_SPACES["ease"]["dropout"])
    assert short.tried == 1 and short.grid == grid
    assert f"1 of {grid} candidates" in short.describe()


def test_every_search_space_names_parameters_its_model_takes():
    for name, space in SEARCH_SPACES.items():
        assert set(space) <= set(MODELS[name]().get_params()), name
    assert set(SEARCH_SPACES) == set(MODELS)


def test_fixed_values_are_part_of_what_comes_back(train):
    tuned = tune_model("ease", train, space={}, fixed={"l2": 50.0})
    assert tuned.params == {"l2": 50.0} and "l2=50.0" in tuned.describe()
    blend = tune_model("blend", train, fixed={"models": "ease,rp3beta"}, budget_seconds=30)
    # Built from params alone, the model is the blend that was tuned, not the default one.
    assert blend.params["models"] == "ease,rp3beta"
    assert MODELS["blend"](**blend.params).get_params()["models"] == "ease,rp3beta"
    # The default weights run from one base alone to the other alone, whichever is first.
    assert {(1.0, 0.0), (0.0, 1.0)} <= set(SEARCH_SPACES["blend"]["weights"])


def test_a_repeat_of_a_kept_item_is_no_validation_target():
    # Each user has one item, twice: whichever row is held out, the other is kept, so no
    # held-out item could ever be recommended, and tuning says so instead of scoring 0s.
    repeats = pd.DataFrame(
        {
            "user_id": np.repeat([f"u{i}" for i in range(30)], 2),
            "item_id": np.repeat([f"i{i % 7}" for i in range(30)], 2),
        }
    )
    with pytest.raises(InvalidArgument, match="no held-out item a model could recommend"):
        tune_model("itemknn", repeats, validation_ratio=0.5)


@pytest.mark.parametrize(
    ("model", "kwargs", "message"),
    [
        ("nope", {}, "No search space for model 'nope'"),
        ("ease", {"space": {"lambda": [1.0]}}, "ease has no parameter"),
        ("ease", {"space": {"l2": []}}, "gives no value for l2"),
        ("ease", {"space": {"l2": 300.0}}, "must be a list of candidate values"),
        ("itemknn", {"space": {"similarity": "cosine"}}, "must be a list of candidate values"),
        ("ease", {"space": {"l2": [1.0]}, "fixed": {"l2": 5.0}}, "both searched"),
        ("ease", {"budget_seconds": 0}, "budget_seconds must be a number > 0"),
        ("ease", {"budget_seconds": "10"}, "budget_seconds must be a number > 0"),
        ("ease", {"validation_ratio": 0}, "validation_ratio must be in"),
        ("ease", {"k": 0}, "k must be an integer >= 1"),
        ("blend", {"fixed": {"models": "ease,als,itemknn"}}, "space=\\{'weights'"),
    ],
)
def test_bad_requests_are_refused_in_one_line(train, model, kwargs, message):
    with pytest.raises(InvalidArgument, match=message) as refused:
        tune_model(model, train, **kwargs)
    assert "\n" not in str(refused.value)


def test_rp3beta_walks_positive_edges_and_penalizes_popular_items():
    events = pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "b", "c", "c", "d", "e", "f"],
            "item_id": ["x", "y", "x", "z", "x", "pop", "pop", "pop", "pop"],
            "weight": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1.0],
        }
    )
    plain = RP3betaRecommender(beta=0.0, weight="weight").fit(events)
    penalized = RP3betaRecommender(beta=1.0, weight="weight").fit(events)
    # From x, the walk reaches y, z and the popular item equally; a penalty of 1 divides
    # by popularity (pop: 3 positive interactions, f's negative one is no edge).
    row = plain.similarity_.toarray()[list(plain.item_index_).index("x")]
    items = list(plain.item_index_)
    assert row[items.index("y")] == pytest.approx(row[items.index("pop")])
    penalized_row = penalized.similarity_.toarray()[items.index("x")]
    assert penalized_row[items.index("y")] == pytest.approx(3 * penalized_row[items.index("pop")])
    top = penalized.recommend(["a"], k=3)["item_id"].tolist()
    assert top[-1] == "pop" and np.isclose(plain.similarity_.diagonal(), 0).all()


def test_a_blend_with_one_weight_ranks_as_that_model_alone(train):
    alone = {
        name: MODELS[name]().fit(train).recommend(["u0001", "u0002"], k=10)
        for name in ("itemknn", "popularity")
    }
    for weights, name in (((1.0, 0.0), "itemknn"), ((0.0, 2.0), "popularity")):
        blend = MODELS["blend"](models="itemknn,popularity", weights=weights).fit(train)
        lists = blend.recommend(["u0001", "u0002"], k=10)
        assert lists[["user_id", "item_id"]].equals(alone[name][["user_id", "item_id"]]), name


def test_a_blend_is_registered_and_loads_back_with_the_same_lists(train):
    from workbench.registry import load, register
    from workbench.store import Store

    store = Store.open("duckdb://:memory:")
    blend = MODELS["blend"](models="ease,rp3beta", weights=(1.0, 0.3)).fit(train)
    version = register(
        store, blend, "blended", metrics={"ndcg_at_10_score": 0.1}, training_data=train
    )
    loaded, _ = load(store, version.ref)
    users = list(blend.user_index_[:5])
    pd.testing.assert_frame_equal(loaded.recommend(users, k=5), blend.recommend(users, k=5))
    # Precomputed lists are the model's own lists.
    from workbench.delivery import precompute

    report = precompute(store, version.ref, k=5)
    stored = store.table("recommendations").to_pandas()
    assert report.users == len(blend.user_index_) and len(stored) == 5 * report.users
    mine = stored[stored["user_id"] == users[0]].sort_values("rank")["item_id"].tolist()
    assert mine == blend.recommend([users[0]], k=5)["item_id"].tolist()
    # Tuned: the weights are chosen on validation, the bases' values given.
    tuned = tune_model("blend", train, fixed={"models": "ease,rp3beta"}, budget_seconds=30)
    assert tuned.params["weights"] in SEARCH_SPACES["blend"]["weights"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"models": "ease"}, "two or more base models"),
        ({"models": "ease,blend"}, "two or more base models"),
        ({"models": "ease,als", "weights": (1.0,)}, "must be 2 numbers >= 0"),
        ({"models": "ease,als", "weights": (1.0, -1.0)}, "must be 2 numbers >= 0"),
        ({"models": "ease,als", "weights": (0.0, 0.0)}, "the weights are all 0"),
        ({"models": "ease,als", "params": {"bpr": {}}}, "params names"),
        ({"models": "ease,als", "weights": "1,0.5"}, "must be 2 numbers >= 0"),
        ({"models": "ease,als", "params": {"ease": {"lambda": 8}}}, "ease has no parameter"),
        ({"models": "ease,als", "params": {"ease": 300}}, "must be a dict of ease"),
    ],
)
def test_a_blend_refuses_what_it_cannot_blend_in_one_line(train, kwargs, message):
    with pytest.raises(InvalidArgument, match=message) as refused:
        MODELS["blend"](**kwargs).fit(train)
    assert "\n" not in str(refused.value)


def test_tune_models_tunes_a_blend_over_its_bases_chosen_values(train):
    tuned = tune_models("ease,blend", train, budget_seconds=20)
    assert list(tuned) == ["ease", "blend"]
    blend = tuned["blend"].params
    assert blend["models"] == "ease,als"
    # Its ease is the one chosen for ease; als, not named, was tuned for the blend.
    assert blend["params"]["ease"] == tuned["ease"].params
    assert set(blend["params"]["als"]) == set(SEARCH_SPACES["als"])


def test_edlae_dropout_shrinks_a_popular_items_weights_more():
    # Item 0 is in every basket, item 3 in two: dropout's penalty on an item's weights
    # toward the others (its row of B) grows with its popularity.
    matrix = np.array(
        [[1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 1, 1], [1, 1, 0, 1], [1, 0, 1, 0], [1, 1, 1, 0]]
    )
    plain = MODELS["ease"](l2=1.0).fit(matrix).coefficients_
    dropped = MODELS["ease"](l2=1.0, dropout=0.5).fit(matrix).coefficients_
    ratio = np.abs(dropped).sum(axis=1) / np.abs(plain).sum(axis=1)
    assert ratio[0] < ratio[3] < 1.0 and np.allclose(np.diag(dropped), 0)
    with pytest.raises(InvalidArgument, match=r"dropout must be in \[0, 1\)"):
        MODELS["ease"](dropout=1.0).fit(matrix)
