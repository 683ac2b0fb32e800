"""Recommenders: quality on planted music tastes, the recommend contract, sklearn's contract."""

from __future__ import annotations

import pickle

import ibis
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from workbench.datasets import make_music
from workbench.exceptions import InvalidArgument
from workbench.recommend import (
    MODELS,
    ALSRecommender,
    BlendRecommender,
    BPRRecommender,
    EASERecommender,
    InteractionMatrix,
    ItemKNNRecommender,
    PopularityRecommender,
    RP3betaRecommender,
)
from workbench.recommend import base as recommend_base

# Every model with its defaults: they must work on a catalogue this small too.
QUALITY_MODELS = {
    "popularity": PopularityRecommender(),
    "itemknn": ItemKNNRecommender(),
    "rp3beta": RP3betaRecommender(),
    "ease": EASERecommender(),
    "als": ALSRecommender(),
    "bpr": BPRRecommender(),
    "blend": BlendRecommender(),
}


@pytest.fixture(scope="module")
def music_split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Music events split per user at random: 75% train, 25% test."""
    events = make_music(users=300, items=400, days=30).tables["events"].to_pandas()
    draw = pd.Series(np.random.default_rng(7).random(len(events)), index=events.index)
    share = draw.groupby(events["user_id"]).rank(method="first", pct=True)
    return events[share > 0.25], events[share <= 0.25]


@pytest.fixture(scope="module")
def recommendations(music_split) -> dict[str, pd.DataFrame]:
    """Top-10 lists of every model (and of random guessing) for the test users."""
    train, test = music_split
    users = test["user_id"].unique()
    lists = {
        name: clone(model).fit(train).recommend(users, k=10)
        for name, model in QUALITY_MODELS.items()
    }
    rng = np.random.default_rng(0)
    items = train["item_id"].unique()
    lists["random"] = pd.DataFrame(
        {
            "user_id": np.repeat(users, 10),
            "item_id": np.concatenate([rng.choice(items, 10, replace=False) for _ in users]),
        }
    )
    return lists


def precision_at_10(recommended: pd.DataFrame, test: pd.DataFrame) -> float:
    """Mean over test users of the share of their top 10 found in their test items."""
    hits = recommended.merge(test[["user_id", "item_id"]].drop_duplicates())
    per_user = hits.groupby("user_id").size().reindex(test["user_id"].unique(), fill_value=0)
    return float((per_user / 10).mean())


# --- quality on planted tastes ------------------------------------------------------


@pytest.mark.parametrize("name", list(QUALITY_MODELS))
def test_every_model_beats_random(name, recommendations, music_split):
    test = music_split[1]
    model_precision = precision_at_10(recommendations[name], test)
    assert model_precision > 1.5 * precision_at_10(recommendations["random"], test)


@pytest.mark.parametrize("name", ["itemknn", "rp3beta", "ease", "als"])
def test_personalized_models_beat_popularity(name, recommendations, music_split):
    test = music_split[1]
    popularity = precision_at_10(recommendations["popularity"], test)
    assert precision_at_10(recommendations[name], test) > 1.3 * popularity


# --- the recommend contract ---------------------------------------------------------


@pytest.mark.parametrize("name", list(QUALITY_MODELS))
def test_recommend_returns_ranks_1_to_k_sorted_by_user(name, recommendations):
    recommended = recommendations[name]
    assert list(recommended.columns) == ["user_id", "item_id", "rank", "score"]
    assert recommended["rank"].dtype == np.int64 and recommended["score"].dtype == np.float64
    for _, rows in recommended.groupby("user_id"):
        assert rows["rank"].tolist() == list(range(1, 11))
        assert rows["item_id"].is_unique
        assert rows["score"].is_monotonic_decreasing
    ordered = recommended.sort_values(["user_id", "rank"], ignore_index=True)
    pd.testing.assert_frame_equal(recommended, ordered)


@pytest.mark.parametrize("name", list(QUALITY_MODELS))
def test_exclude_seen_leaves_out_training_items(name, recommendations, music_split):
    train = music_split[0]
    seen = recommendations[name].merge(train[["user_id", "item_id"]].drop_duplicates())
    assert seen.empty


def test_exclude_seen_false_may_recommend_training_items():
    events = pd.DataFrame({"user_id": ["a", "a", "b"], "item_id": ["x", "y", "x"]})
    model = PopularityRecommender().fit(events)
    assert model.recommend(["a"], k=5)["item_id"].tolist() == []
    assert model.recommend(["a"], k=5, exclude_seen=False)["item_id"].tolist() == ["x", "y"]
    assert model.recommend(["b"], k=5)["item_id"].tolist() == ["y"]


def test_unknown_users_get_no_rows():
    events = pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"]})
    model = PopularityRecommender().fit(events)
    empty = model.recommend(["nobody"], k=3)
    assert empty.empty and list(empty.columns) == ["user_id", "item_id", "rank", "score"]
    mixed = model.recommend(["nobody", "b", "a", "b"], k=3)
    assert mixed["user_id"].tolist() == ["a", "b"]  # known users once each, in id order
    assert model.recommend("a", k=3)["item_id"].tolist() == ["y"]
    assert set(model.recommend(None, k=1)["user_id"]) == {"a", "b"}


def test_scores_in_batches_equal_scores_at_once(music_split, monkeypatch):
    train = music_split[0]
    model = EASERecommender().fit(train)
    at_once = model.recommend(None, k=5)
    monkeypatch.setattr(recommend_base, "_BATCH_CELLS", 1000)  # two users per batch
    pd.testing.assert_frame_equal(model.recommend(None, k=5), at_once)


def test_recommend_before_fit_says_so():
    with pytest.raises(NotFittedError, match="not fitted"):
        EASERecommender().recommend(["a"])


# --- estimator contract -------------------------------------------------------------


@pytest.mark.parametrize("cls", [ALSRecommender, BPRRecommender])
def test_fixed_random_state_gives_the_same_model(cls, music_split):
    train = music_split[0]
    first = cls(factors=8, iterations=5, random_state=3).fit(train)
    again = cls(factors=8, iterations=5, random_state=3).fit(train)
    other = cls(factors=8, iterations=5, random_state=4).fit(train)
    np.testing.assert_array_equal(first.item_factors_, again.item_factors_)
    pd.testing.assert_frame_equal(first.recommend(None), again.recommend(None))
    assert not np.array_equal(first.item_factors_, other.item_factors_)


@pytest.mark.parametrize("name", list(MODELS))
def test_clone_and_params_round_trip(name):
    model = MODELS[name]()
    params = model.get_params()
    assert clone(model).get_params() == params
    restored = MODELS[name]().set_params(**params)
    assert restored.get_params() == params
    fitted = model.fit(np.eye(4) + np.roll(np.eye(4), 1, axis=1))
    assert not hasattr(clone(fitted), "interactions_")


@pytest.mark.parametrize("name", list(MODELS))
def test_a_pickled_model_recommends_the_same(name, music_split):
    model = MODELS[name]().fit(music_split[0])
    restored = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(restored.recommend(None, k=5), model.recommend(None, k=5))


@pytest.mark.parametrize("name", list(MODELS))
def test_a_model_saves_with_skops_trusting_only_known_types(name):
    import skops.io

    events = pd.DataFrame(
        {"user_id": ["a", "a", "b", "c", "c"], "item_id": ["x", "y", "y", "x", "z"]}
    )
    model = MODELS[name]().fit(events)
    expected = model.recommend(None, k=2)  # builds the user lookup, which is not saved
    data = skops.io.dumps(model)
    # A blend holds its fitted base models: their types are the registry's own too.
    types = {MODELS[name], *(type(base) for base in getattr(model, "models_", []))}
    trusted = ["scipy.sparse._csr.csr_array", *{f"{c.__module__}.{c.__qualname__}" for c in types}]
    assert sorted(skops.io.get_untrusted_types(data=data)) == sorted(trusted)
    restored = skops.io.loads(data, trusted=trusted)
    pd.testing.assert_frame_equal(restored.recommend(None, k=2), expected)


def test_models_map_short_names_to_classes():
    assert sorted(MODELS) == ["als", "blend", "bpr", "ease", "itemknn", "popularity", "rp3beta"]
    assert MODELS["ease"] is EASERecommender


@parametrize_with_checks(
    [model() for model in MODELS.values()],
    # None fail: the models take a user x item matrix as X, so every check applies.
    # Checks of predict/transform (pickling, subset invariance...) pass vacuously,
    # recommenders having neither; the tests above hold recommend to the same rules.
    expected_failed_checks=lambda estimator: {},
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


# --- inputs -------------------------------------------------------------------------


def test_fit_on_a_sparse_matrix_uses_row_and_column_numbers():
    matrix = sp.csr_array(np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]]))
    model = EASERecommender(l2=1.0).fit(matrix)
    assert list(model.user_index_) == [0, 1, 2] and list(model.item_index_) == [0, 1, 2]
    assert model.n_features_in_ == 3
    recommended = model.recommend([0, 7], k=3)
    assert recommended["user_id"].tolist() == [0] and recommended["item_id"].tolist() == [2]
    # Steck's closed form, computed directly
    gram = matrix.T @ matrix + np.eye(3)
    inverse = np.linalg.inv(gram.toarray() if sp.issparse(gram) else gram)
    expected = np.eye(3) - inverse / np.diag(inverse)
    np.testing.assert_allclose(model.coefficients_, expected, atol=1e-12)


def test_a_frame_an_ibis_table_and_arrow_give_the_same_model():
    events = pd.DataFrame(
        {"user_id": ["a", "a", "b", "c", "c"], "item_id": ["x", "y", "y", "x", "z"]}
    )
    expected = ItemKNNRecommender().fit(events).recommend(None)
    for data in (ibis.memtable(events), ibis.memtable(events).to_pyarrow()):
        pd.testing.assert_frame_equal(ItemKNNRecommender().fit(data).recommend(None), expected)


def test_weights_are_summed_per_user_and_item():
    events = pd.DataFrame(
        {"user_id": ["a", "a", "b", "c"], "item_id": ["x", "x", "y", "y"], "value": [1, 2, 0.5, 1]}
    )
    data = InteractionMatrix.from_frame(events, weight="value")
    np.testing.assert_array_equal(data.matrix.toarray(), [[3.0, 0.0], [0.0, 0.5], [0.0, 1.0]])
    by_count = PopularityRecommender().fit(events).recommend("a", exclude_seen=False)
    by_value = PopularityRecommender(weight="value").fit(events).recommend("a", exclude_seen=False)
    assert by_count["score"].tolist() == [2.0, 2.0]
    assert by_value["item_id"].tolist() == ["x", "y"] and by_value["score"].tolist() == [3.0, 1.5]


@pytest.mark.parametrize(
    ("events", "weight", "message"),
    [
        ({"user_id": ["a"], "item": ["x"]}, None, r"lack column\(s\) \['item_id'\]"),
        ({"user_id": ["a"], "item_id": ["x"]}, "rating", r"lack column\(s\) \['rating'\]"),
        ({"user_id": ["a"], "item_id": ["x"], "rating": [-1.0]}, "rating", "no interactions"),
        ({"user_id": ["a"], "item_id": ["x"], "rating": [np.nan]}, "rating", "finite numbers"),
        ({"user_id": [None], "item_id": ["x"]}, None, "no user or item id"),
        ({"user_id": ["a"], "item_id": ["x"], "rating": [0.0]}, "rating", "no interactions"),
    ],
)
def test_unusable_interactions_say_what_to_fix(events, weight, message):
    with pytest.raises(InvalidArgument, match=message):
        EASERecommender(weight=weight).fit(pd.DataFrame(events))


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (PopularityRecommender(time_decay=0), "time_decay must be a number > 0 or None, got 0"),
        (ItemKNNRecommender(similarity="pearson"), "similarity must be one of 'cosine'"),
        (ItemKNNRecommender(neighbors=0), "neighbors must be an integer >= 1"),
        (ItemKNNRecommender(shrinkage=-1.0), "shrinkage must be a number >= 0"),
        (EASERecommender(l2=0.0), "l2 must be a number > 0"),
        (EASERecommender(weight=3), "weight must be one of None or a str"),
        (ALSRecommender(factors=2.5), "factors must be an integer >= 1"),
        (ALSRecommender(alpha=float("nan")), "alpha must be a number > 0"),
        (ALSRecommender(random_state="seed"), "random_state must be an int"),
        (BPRRecommender(learning_rate=0), "learning_rate must be a number > 0"),
        (BPRRecommender(iterations=True), "iterations must be an integer >= 1"),
    ],
)
def test_bad_parameters_name_the_parameter_and_range(model, message):
    with pytest.raises(InvalidArgument, match=message) as error:
        model.fit(np.eye(3))
    assert type(model).__name__ in str(error.value)


def test_bad_k_is_refused():
    model = PopularityRecommender().fit(np.eye(3))
    with pytest.raises(InvalidArgument, match="k must be an integer >= 1, got 0"):
        model.recommend([0], k=0)


# --- the models themselves, on hand-made examples -----------------------------------


def test_time_decay_favours_recent_interactions():
    day = pd.Timedelta(days=1)
    latest = pd.Timestamp("2026-03-01", tz="UTC")
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3", "u4", "u5", "me"],
            "item_id": ["old", "old", "old", "new", "new", "other"],
            "ts": [latest - 60 * day] * 3 + [latest - day, latest, latest - 30 * day],
        }
    )
    counted = PopularityRecommender().fit(events).recommend("me")
    assert counted["item_id"].tolist() == ["old", "new"]
    assert counted["score"].tolist() == [3.0, 2.0]
    decayed = PopularityRecommender(time_decay=7).fit(events).recommend("me")
    assert decayed["item_id"].tolist() == ["new", "old"]
    np.testing.assert_allclose(decayed["score"], [1 + 0.5 ** (1 / 7), 3 * 0.5 ** (60 / 7)])


def test_time_decay_needs_datetimes():
    events = pd.DataFrame({"user_id": ["a"], "item_id": ["x"], "ts": [1_700_000_000]})
    with pytest.raises(InvalidArgument, match="needs a datetime 'ts' column, got int64"):
        PopularityRecommender(time_decay=7).fit(events)
    with pytest.raises(InvalidArgument, match="not on a matrix"):
        PopularityRecommender(time_decay=7).fit(np.eye(2))


# Users 0-2; item 0 liked by {0, 1, 2}, item 1 by {0, 2}, item 2 by {1, 2}; user 0
# liked item 0 twice as much.
SMALL = np.array([[2.0, 1.0, 0.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])


def test_jaccard_similarity_by_hand():
    model = ItemKNNRecommender(similarity="jaccard").fit(SMALL)
    # |shared users| / |either|: items 0,1 share 2 of 3; 0,2 share 2 of 3; 1,2 share 1 of 3.
    expected = [[0, 2 / 3, 2 / 3], [2 / 3, 0, 1 / 3], [2 / 3, 1 / 3, 0]]
    np.testing.assert_allclose(model.similarity_.toarray(), expected)
    shrunk = ItemKNNRecommender(similarity="jaccard", shrinkage=1.0).fit(SMALL)
    np.testing.assert_allclose(shrunk.similarity_.toarray()[0, 1], 2 / 4)


def test_cosine_similarity_by_hand():
    model = ItemKNNRecommender(similarity="cosine").fit(SMALL)
    norms = np.sqrt([6.0, 2.0, 2.0])
    dots = {(0, 1): 3.0, (0, 2): 2.0, (1, 2): 1.0}
    for (i, j), dot in dots.items():
        assert model.similarity_[i, j] == pytest.approx(dot / (norms[i] * norms[j]))
        assert model.similarity_[j, i] == pytest.approx(dot / (norms[i] * norms[j]))
    assert model.similarity_.diagonal().tolist() == [0.0, 0.0, 0.0]
    # user 1 saw items 0 and 2, so item 1 scores 1 * S[0, 1] + 1 * S[2, 1]
    recommended = model.recommend([1])
    assert recommended["item_id"].tolist() == [1]
    assert recommended["score"].iloc[0] == pytest.approx(3 / np.sqrt(12) + 1 / 2)


def test_neighbors_keeps_only_the_most_similar_items():
    model = ItemKNNRecommender(similarity="jaccard", neighbors=1).fit(SMALL)
    kept = model.similarity_.toarray()
    assert (kept > 0).sum(axis=1).tolist() == [1, 1, 1]
    assert kept[1, 0] == pytest.approx(2 / 3) and kept[2, 0] == pytest.approx(2 / 3)


def test_items_tied_for_the_last_places_are_kept_in_item_id_order():
    # 300 items seen once each: every score ties, so the list is the first k item ids.
    items = [f"i{n:03d}" for n in range(300)]
    events = pd.DataFrame({"user_id": [f"u{n}" for n in range(300)], "item_id": items[::-1]})
    listed = PopularityRecommender().fit(events).recommend(["u0"], k=5, exclude_seen=False)
    assert listed["item_id"].tolist() == items[:5]
    assert listed["rank"].tolist() == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("name", list(MODELS))
def test_negative_feedback_is_never_learned_as_a_like_nor_recommended_again(name):
    """A skipped item (weight 0 or below) is seen: not learned from, never recommended."""
    rng = np.random.default_rng(0)
    users = [f"u{i}" for i in range(30)]
    rows = [(u, item, 1.0) for u in users for item in rng.choice(list("abcdefgh"), 4, False)]
    rows += [("u0", "z", 0.0), ("u0", "y", -1.0), ("u0", "y", -1.0)]  # u0 skipped z and y
    rows += [(u, "z", 1.0) for u in users[1:20]]  # z is popular with everyone else
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "weight"])
    model = MODELS[name](weight="weight").fit(events)
    assert model.excluded_[[model.user_index_.tolist().index("u0")]].nnz == 2
    recommended = model.recommend(["u0", "u1"], k=12)
    assert not recommended[recommended["user_id"] == "u0"]["item_id"].isin(["z", "y"]).any()
    unaware = MODELS[name]().fit(events.assign(weight=1.0))  # counting every row as a like
    assert "z" not in unaware.recommend(["u0"], k=12)["item_id"].tolist()  # seen all the same
    column = model.item_index_.tolist().index("y")
    assert model.interactions_[:, [column]].nnz == 0  # y has no positive pair: not learned


def test_a_temporal_split_at_a_cut_tests_on_the_rows_from_that_moment():
    from workbench.recommend import split_interactions

    events = make_music(users=30, items=40, days=10, seed=1).tables["events"].to_pandas()
    cut = events["ts"].min().floor("D") + pd.Timedelta(days=8)
    train, test = split_interactions(ibis.memtable(events), split="temporal", cut=cut)
    assert train["ts"].max() < cut <= test["ts"].min()
    # Every row before the cut trains, every row from it tests: none is lost.
    assert len(train) == int((events["ts"] < cut).sum()) and len(train) + len(test) == len(events)
    with pytest.raises(InvalidArgument, match="cut"):
        split_interactions(ibis.memtable(events), split="temporal", cut="the day after")


def test_split_rows_carry_their_json_context_as_values_whatever_its_shape(tmp_path):
    """Contexts come back as Ibis gives them (parsed JSON; NULL as None), each distinct
    text parsed once, and the rows still digest as before."""
    from workbench.provenance import rows_digest
    from workbench.recommend import split_interactions
    from workbench.store import CATALOG, Store

    store = Store.open(f"duckdb://{tmp_path / 'store.duckdb'}")
    contexts = ['{"device": "mobile"}', '{"b": 1, "a": [1, 2]}', None, '"plain"', "null"]
    with store.transaction() as raw:
        raw.execute(
            f"CREATE TABLE {CATALOG}.main.t AS SELECT 'e' || i AS event_id, TIMESTAMP '2026-01-01' + i * "
            "INTERVAL 1 HOUR AS ts, 'u' || (i % 4) AS user_id, 'i' || i AS item_id, "
            "CAST(list_extract(?, (i % 5) + 1) AS JSON) AS context FROM range(40) r(i)",
            [contexts],
        )
    table = store.table("t")
    train, test = split_interactions(table, split="stratified", test_ratio=0.25, seed=0)
    both = pd.concat([train, test]).sort_values("event_id", key=lambda s: s.str[1:].astype(int))
    expected = table.to_pandas().sort_values("event_id", key=lambda s: s.str[1:].astype(int))
    assert both["context"].tolist() == expected["context"].tolist()
    # JSON null is None, SQL NULL is NaN (as Ibis gives them), a JSON string is text.
    assert {type(c).__name__ for c in both["context"]} == {"dict", "NoneType", "float", "str"}
    assert rows_digest(both) == rows_digest(expected)
