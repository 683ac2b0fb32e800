"""The learning-to-rank re-ranker: the recommend contract, point-in-time training, quality."""

from __future__ import annotations

import time

import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.tree import DecisionTreeClassifier

from workbench.datasets import make_music
from workbench.evaluate import precision_at_k_score
from workbench.exceptions import InvalidArgument
from workbench.recommend import EASERecommender, LearningToRankRecommender


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return make_music(users=200, items=300, days=30).tables["events"].to_pandas()


@pytest.fixture(scope="module")
def fitted(events) -> LearningToRankRecommender:
    return LearningToRankRecommender().fit(events)


@pytest.fixture(scope="module")
def holdout(events) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The last 5 UTC days of music events as test, the rest as train."""
    cut = events["ts"].max().floor("D") + pd.Timedelta(days=1) - pd.Timedelta(days=5)
    return events[events["ts"] < cut], events[events["ts"] >= cut]


# --- the recommend contract -----------------------------------------------------------


def test_recommend_returns_ranks_1_to_k_sorted_by_user(fitted, events):
    lists = fitted.recommend(None, k=10)
    assert list(lists.columns) == ["user_id", "item_id", "rank", "score"]
    assert lists["rank"].dtype == "int64" and lists["score"].dtype == "float64"
    assert set(lists["user_id"]) == set(events["user_id"])
    for _, group in lists.groupby("user_id"):
        assert group["rank"].tolist() == list(range(1, 11))
        assert group["score"].is_monotonic_decreasing
        assert not group["item_id"].duplicated().any()
    assert lists["user_id"].is_monotonic_increasing
    assert lists["score"].between(0, 1).all()


def test_exclude_seen_leaves_out_training_items(fitted, events):
    lists = fitted.recommend(None, k=10)
    seen = events[["user_id", "item_id"]].drop_duplicates()
    assert lists.merge(seen).empty
    with_seen = fitted.recommend(None, k=10, exclude_seen=False)
    assert not with_seen.merge(seen).empty


def test_unknown_users_get_no_rows(fitted):
    assert fitted.recommend(["nobody"], k=5).empty
    lists = fitted.recommend(["user_0001", "nobody", "user_0001"], k=5)
    assert lists["user_id"].unique().tolist() == ["user_0001"]
    assert len(lists) == 5


def test_k_larger_than_candidates_draws_more_candidates(events):
    model = LearningToRankRecommender(candidates=5).fit(events)
    assert model.recommend(["user_0002"], k=8)["rank"].tolist() == list(range(1, 9))


# --- the estimator contract ------------------------------------------------------------


def test_same_random_state_gives_the_same_lists(fitted, events):
    again = LearningToRankRecommender().fit(events)
    pd.testing.assert_frame_equal(again.recommend(None, k=10), fitted.recommend(None, k=10))


def test_clone_and_params_round_trip(fitted):
    params = fitted.get_params()
    copy = clone(fitted)
    assert copy.get_params() == params
    assert not hasattr(copy, "classifier_")
    restored = LearningToRankRecommender().set_params(**params)
    assert restored.get_params() == params


def test_a_given_classifier_and_base_instance_are_used(events):
    model = LearningToRankRecommender(
        base=EASERecommender(l2=100.0), model=DecisionTreeClassifier(max_depth=3), candidates=20
    ).fit(events.drop(columns="event_type"))
    assert isinstance(model.classifier_, DecisionTreeClassifier)
    assert model.base_.l2 == 100.0
    assert model.event_types_ == []
    assert len(model.recommend(["user_0003"], k=3)) == 3


# --- registered and precomputed like every other model -------------------------------


def test_the_reranker_registers_loads_back_and_precomputes_the_lists_it_recommends(
    fitted, events, tmp_path
):
    from workbench import Store
    from workbench.delivery import precompute, retrieve
    from workbench.registry import load, promote, register

    store = Store.open(str(tmp_path / "ltr.duckdb"))
    register(store, fitted, "ranker", metrics={"ndcg_at_10_score": 0.2}, training_data=events)
    loaded, version = load(store, "ranker@1")
    expected = fitted.recommend(None, k=5)
    pd.testing.assert_frame_equal(loaded.recommend(None, k=5), expected)
    assert loaded.cut_ == fitted.cut_ and loaded.feature_names_ == fitted.feature_names_
    assert len(loaded.training_frame_) == len(fitted.training_frame_)

    promote(store, "ranker", version.version)
    report = precompute(store, model="ranker@champion", k=5)
    assert report.rows == len(expected)
    user = expected["user_id"].iloc[0]
    served = retrieve(store, user, k=5)
    assert served.source == "precomputed"
    mine = expected[expected["user_id"] == user]
    assert served.items["item_id"].tolist() == mine["item_id"].tolist()
    assert served.items["score"].to_numpy() == pytest.approx(mine["score"].to_numpy())


def test_a_base_that_is_not_a_workbench_recommender_is_refused():
    class Lookalike:
        def fit(self, X):
            return self

        def recommend(self, users, k=10, exclude_seen=True):
            return pd.DataFrame()

    with pytest.raises(InvalidArgument, match="workbench recommender"):
        LearningToRankRecommender(base=Lookalike()).fit(
            make_music(users=20, items=30, days=10).tables["events"].to_pandas()
        )


def test_recommend_before_fit_says_so():
    with pytest.raises(NotFittedError):
        LearningToRankRecommender().recommend(["a"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"base": "nope"}, "base must be one of"),
        ({"base": 3}, "base must be a name"),
        ({"candidates": 0}, "candidates must be an integer >= 1"),
        ({"holdout_days": 1.5}, "holdout_days must be an integer"),
        ({"model": "gbm"}, "model must be a classifier"),
        ({"holdout_days": 40}, "leaves nothing on one side"),
    ],
)
def test_bad_parameters_say_what_to_fix(events, params, message):
    with pytest.raises(InvalidArgument, match=message):
        LearningToRankRecommender(**params).fit(events)


def test_events_need_a_datetime_ts(events):
    with pytest.raises(InvalidArgument, match="datetime column 'ts'"):
        LearningToRankRecommender().fit(events.assign(ts=events["ts"].astype(str)))


# --- point in time -----------------------------------------------------------------


def test_training_features_use_only_events_before_the_cut(fitted, events):
    frame = fitted.training_frame_
    cut = fitted.cut_
    assert cut == pd.Timestamp("2026-01-24")  # the last 7 of 30 days hold the labels
    assert (frame["ts"] == cut).all()
    for kind in ("user", "item", "pair"):
        assert (frame[f"{kind}_feature_ts"].dropna() <= cut).all()
    # Each user's 7-day count is the events in the 7 days before the row's feature_ts.
    rows = frame.drop_duplicates("user_id").set_index("user_id")
    timed = events.assign(ts=events["ts"].dt.tz_localize(None)).merge(
        rows["user_feature_ts"], left_on="user_id", right_index=True
    )
    ends = timed["user_feature_ts"]
    inside = (timed["ts"] < ends) & (timed["ts"] >= ends - pd.Timedelta(days=7))
    expected = timed[inside].groupby("user_id").size().reindex(rows.index, fill_value=0)
    pd.testing.assert_series_equal(
        rows["user_events_7d"].astype("int64"), expected.astype("int64"), check_names=False
    )


def test_labels_come_only_from_after_the_cut(fitted, events):
    frame = fitted.training_frame_
    naive = events["ts"].dt.tz_localize(None)
    later = events[naive >= fitted.cut_][["user_id", "item_id"]].drop_duplicates()
    earlier = events[naive < fitted.cut_][["user_id", "item_id"]].drop_duplicates()
    positives = frame[frame["label"] == 1][["user_id", "item_id"]]
    assert len(positives) == fitted.n_positives_ > 0
    assert len(positives.merge(later)) == len(positives)
    negatives = frame[frame["label"] == 0][["user_id", "item_id"]]
    assert negatives.merge(later).empty
    # Candidates are items unseen before the cut, so a label is never a replay of the past.
    assert frame[["user_id", "item_id"]].merge(earlier).empty


def test_serving_features_see_every_event(fitted, events):
    assert fitted.as_of_ == pd.Timestamp("2026-01-31")
    assert fitted.as_of_ > events["ts"].max().tz_localize(None)
    users = fitted.snapshot_.users.set_index("user_id")["user_events_30d"]
    assert int(users.sum()) == len(events)


# --- quality ---------------------------------------------------------------------------


def test_re_ranking_keeps_the_base_precision_on_a_temporal_holdout(holdout):
    train, test = holdout
    users = test["user_id"].unique()
    relevant = test[["user_id", "item_id"]]
    base = EASERecommender().fit(train)
    started = time.perf_counter()
    model = LearningToRankRecommender().fit(train)
    seconds = time.perf_counter() - started
    base_score = precision_at_k_score(base.recommend(users, k=10), relevant, k=10)
    reranked = precision_at_k_score(model.recommend(users, k=10), relevant, k=10)
    print(
        f"precision_at_10_score base {base_score:.4f} re-ranked {reranked:.4f} fit {seconds:.1f}s"
    )
    # On this stationary synthetic data the extra features add little over EASE:
    # the re-ranker stays within 10% of it (measured: 0.0674 vs 0.0705).
    assert reranked >= 0.9 * base_score
    assert reranked > 0.03  # far above random (10 / 300 items ~ 0.005 per slot)
