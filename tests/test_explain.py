"""Why a recommendation: the user's items behind each recommended item's score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.datasets import make_music
from workbench.exceptions import InvalidArgument
from workbench.recommend import (
    ALSRecommender,
    BPRRecommender,
    EASERecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    RP3betaRecommender,
)
from workbench.recommend.explain import (
    COLUMNS,
    describe_explanation,
    explain_items,
    explain_recommendations,
)

# x has users a, b, c; y has a; z has b. Jaccard(x, y) = Jaccard(x, z) = 1/3, (y, z) = 0.
TINY = pd.DataFrame({"user_id": ["a", "a", "b", "b", "c"], "item_id": ["x", "y", "x", "z", "x"]})


@pytest.fixture(scope="module")
def music() -> pd.DataFrame:
    return make_music(users=80, items=60, days=14, seed=3).tables["events"].to_pandas()


def _every_contribution(model, users, k=5):
    # top larger than any history: every contributing item is listed.
    return explain_recommendations(model, users, k=k, top=10_000)


def test_an_item_knn_list_is_explained_by_the_similar_items_the_user_chose():
    model = ItemKNNRecommender(similarity="jaccard").fit(TINY)
    why = explain_recommendations(model, "c", k=2, top=3)
    assert why.columns.tolist() == ["user_id", *COLUMNS]
    assert why["item_id"].tolist() == ["y", "z"]
    assert why["because_item_id"].tolist() == ["x", "x"]  # c's only item
    assert why["contribution"].tolist() == pytest.approx([1 / 3, 1 / 3])
    assert why["share"].tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    "model",
    [ItemKNNRecommender(neighbors=20), RP3betaRecommender(neighbors=20), EASERecommender(l2=50.0)],
    ids=["itemknn", "rp3beta", "ease"],
)
def test_item_to_item_contributions_add_up_to_the_models_score(music, model):
    model.fit(music)
    users = list(model.user_index_[:12])
    why = _every_contribution(model, users)
    assert list(pd.unique(why["user_id"])) == users
    totals = why.groupby(["user_id", "item_id"]).agg(
        score=("score", "first"), total=("contribution", "sum")
    )
    assert np.allclose(totals["score"], totals["total"], rtol=1e-10, atol=1e-12)
    history = music.groupby("user_id")["item_id"].agg(set)
    for user, rows in why.groupby("user_id"):
        assert set(rows["because_item_id"]) <= history[user]
        assert not set(rows["item_id"]) & history[user]


def test_rows_come_largest_contribution_first_and_top_limits_them(music):
    model = EASERecommender(l2=50.0).fit(music)
    user = model.user_index_[0]
    every = _every_contribution(model, user, k=3)
    best_two = explain_recommendations(model, user, k=3, top=2)
    assert best_two.groupby("item_id").size().max() == 2
    for item, rows in every.groupby("item_id"):
        assert rows["contribution"].is_monotonic_decreasing
        kept = best_two[best_two["item_id"] == item]
        assert kept["because_item_id"].tolist() == rows["because_item_id"].head(2).tolist()
    # EASE weights can be negative: an item the user chose can count against another.
    assert (every["contribution"] < 0).any()


def test_als_contributions_match_implicits_own_explanation(music):
    from implicit.cpu.als import AlternatingLeastSquares
    from scipy.sparse import csr_matrix

    model = ALSRecommender(factors=8, iterations=10, alpha=2.0, regularization=0.1).fit(music)
    row = 5
    user = model.user_index_[row]
    why = _every_contribution(model, user, k=3)

    reference = AlternatingLeastSquares(factors=8, alpha=2.0, regularization=0.1)
    reference.item_factors = model.item_factors_.astype(np.float32)
    reference.user_factors = model.user_factors_.astype(np.float32)
    user_items = csr_matrix(model.interactions_, dtype=np.float32)
    items = pd.Index(model.item_index_)
    for item, rows in why.groupby("item_id"):
        total, top, _ = reference.explain(row, user_items, items.get_loc(item), N=10_000)
        assert rows["contribution"].sum() == pytest.approx(total, rel=1e-3)
        expected = {model.item_index_[column]: value for column, value in top}
        got = dict(zip(rows["because_item_id"], rows["contribution"], strict=True))
        assert got.keys() == expected.keys()
        assert np.allclose([got[key] for key in expected], list(expected.values()), rtol=1e-3)
        # Close to, but not exactly, the fitted score (solved before the last item update).
        assert rows["score"].iloc[0] == pytest.approx(total, rel=0.5)


def test_popularity_says_nothing_of_the_user_contributed():
    model = PopularityRecommender().fit(TINY)
    why = explain_recommendations(model, "c", k=2)
    assert why["item_id"].tolist() == ["y", "z"]
    assert why["because_item_id"].isna().all()
    assert why["contribution"].tolist() == why["score"].tolist() == [1.0, 1.0]
    assert "nothing of the user's own history" in describe_explanation(model)


def test_models_whose_scores_do_not_split_are_refused_with_the_alternatives():
    model = BPRRecommender(factors=2, iterations=2).fit(TINY)
    with pytest.raises(InvalidArgument, match="itemknn, rp3beta, ease, als or popularity"):
        explain_recommendations(model, "a")
    with pytest.raises(InvalidArgument, match="BPRRecommender"):
        describe_explanation(model)


def test_users_the_model_never_saw_get_no_rows_like_recommend():
    model = ItemKNNRecommender().fit(TINY)
    why = explain_recommendations(model, ["nobody", "c", "c"], k=1)
    assert why["user_id"].tolist() == ["c"]  # repeats ignored, the unknown user has no list
    empty = explain_recommendations(model, "nobody")
    assert empty.empty and empty.columns.tolist() == ["user_id", *COLUMNS]


def test_a_given_list_is_explained_in_its_own_order_with_its_own_scores():
    model = ItemKNNRecommender(similarity="jaccard").fit(TINY)
    # a chose x and y; z is similar to x only. Only d chose w, so none of a's items reach it:
    # it stays listed, with nothing behind it.
    lone = pd.DataFrame({"user_id": ["d"], "item_id": ["w"]})
    model_with_lone_item = ItemKNNRecommender(similarity="jaccard").fit(
        pd.concat([TINY, lone], ignore_index=True)
    )
    why = explain_items(model_with_lone_item, "a", ["w", "z"], ranks=[1, 2], scores=[9.0, 8.0])
    assert why["item_id"].tolist() == ["w", "z"]
    assert why["score"].tolist() == [9.0, 8.0]
    assert pd.isna(why.loc[0, "because_item_id"]) and why.loc[0, "contribution"] == 0.0
    assert pd.isna(why.loc[0, "share"])
    assert why.loc[1, "because_item_id"] == "x"
    recomputed = explain_items(model, "a", ["z"])
    assert recomputed["score"].tolist() == pytest.approx(recomputed["contribution"].tolist())


def test_bad_arguments_say_what_is_wrong():
    model = ItemKNNRecommender().fit(TINY)
    with pytest.raises(InvalidArgument, match=r"not trained on item\(s\) \['nope'\]"):
        explain_items(model, "a", ["z", "nope"])
    with pytest.raises(InvalidArgument, match="one value per item"):
        explain_items(model, "a", ["z"], ranks=[1, 2])
    with pytest.raises(InvalidArgument, match="top must be an integer >= 1"):
        explain_recommendations(model, "a", top=0)
