"""Delivery: precomputed lists (A), on-the-fly scoring (B), and lineage back to the batches."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import workbench.registry
from workbench.capture import ingest
from workbench.cli import app
from workbench.datasets import make_music
from workbench.delivery import precompute, recommend_now, retrieve
from workbench.exceptions import InvalidArgument, ModelNotFound
from workbench.provenance import rows_digest
from workbench.recommend import MODELS
from workbench.registry import lineage, promote, register


@pytest.fixture
def music(file_store):
    """A file store with make_music's events and two registered ALS/itemknn versions."""
    events = make_music(users=60, items=80, days=10, seed=0).tables["events"]
    ingest(file_store, events)
    train = file_store.table("events").to_pandas()
    for name, ndcg in (("itemknn", 0.2), ("als", 0.3)):
        model = MODELS[name](**({"factors": 8, "iterations": 3} if name == "als" else {}))
        register(
            file_store,
            model.fit(train),
            "recs",
            metrics={"ndcg_at_10_score": ndcg},
            training_data=train,
            holdout="week-2",
        )
    promote(file_store, "recs", 1)
    return file_store


def test_precompute_stores_every_users_top_k_of_the_champion(music):
    report = precompute(music, k=5, chunk_size=7)

    model, _ = workbench.registry.load(music, "recs@1")
    expected = model.recommend(None, k=5)
    stored = music.sql("SELECT * FROM recommendations ORDER BY user_id, rank").to_pandas()
    assert report.model == "recs@1" and report.users == len(model.user_index_)
    assert report.rows == len(stored) == len(expected)
    assert report.chunks == -(-report.users // 7)
    assert set(stored["model"]) == {"recs"} and set(stored["version"]) == {1}
    assert (stored["computed_at"] == report.computed_at).all()
    pd.testing.assert_frame_equal(
        stored[["user_id", "item_id", "rank"]].reset_index(drop=True),
        expected[["user_id", "item_id", "rank"]].astype({"rank": "int32"}),
    )
    assert stored["score"].to_numpy() == pytest.approx(expected["score"].to_numpy())


@pytest.mark.slow
def test_a_precompute_killed_before_its_swap_leaves_nothing_behind(music):
    import os
    import subprocess
    import sys

    folder = Path(music.path).parent
    env = {**os.environ, "WORKBENCH_CRASH_AT": "precompute:scratch-written"}
    killed = subprocess.run(
        [
            sys.executable,
            "-m",
            "workbench.cli",
            "precompute",
            "--model",
            "recs@1",
            "--store",
            music.url,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr
    assert list(folder.glob("workbench-precompute-*"))  # the scratch the crash left
    assert music.sql("SELECT count(*) AS n FROM recommendations").to_pylist() == [{"n": 0}]

    report = precompute(music, "recs@1", k=5)  # the next one cleans up and finishes the job
    assert report.rows > 0
    assert not list(folder.glob("workbench-precompute-*"))


def test_precompute_again_replaces_that_versions_lists_only(music):
    first = precompute(music, k=3)
    promote(music, "recs", 2)
    second = precompute(music, k=3)
    again = precompute(music, model="recs@2", k=4)

    counts = music.sql(
        "SELECT version, count(*) AS n, max(rank) AS k FROM recommendations "
        "GROUP BY version ORDER BY version"
    ).to_pylist()
    assert (second.model, second.replaced) == ("recs@2", 0)
    assert again.replaced == second.rows
    assert counts[0] == {"version": 1, "n": first.rows, "k": 3}
    assert counts[1] == {"version": 2, "n": again.rows, "k": 4}


def test_precompute_needs_a_model_it_can_find(memory_store):
    with pytest.raises(ModelNotFound, match="No model has a champion"):
        precompute(memory_store)
    with pytest.raises(ModelNotFound, match="No model named 'nope'"):
        precompute(memory_store, model="nope@champion")
    with pytest.raises(InvalidArgument, match="k must be"):
        precompute(memory_store, model="nope@1", k=0)


def test_retrieve_serves_stored_lists_and_says_when_it_falls_back(music):
    precompute(music, k=5)
    stored = music.sql(
        "SELECT user_id, item_id FROM recommendations WHERE rank <= 3 ORDER BY user_id, rank"
    ).to_pandas()
    user = stored["user_id"].iloc[0]

    answer = retrieve(music, user, k=3)
    assert answer.source == "precomputed" and answer.model == "recs@1"
    assert (
        answer.items["item_id"].tolist() == stored.loc[stored.user_id == user, "item_id"].tolist()
    )
    assert answer.items["rank"].tolist() == [1, 2, 3]

    cold = retrieve(music, "someone-new", k=4)
    # Popular by the feedback semantics: plays and likes count 1 each, a skip is no vote.
    most_played = music.sql(
        "SELECT item_id FROM events WHERE event_type IN ('play', 'like') "
        "GROUP BY item_id ORDER BY count(*) DESC, item_id LIMIT 4"
    ).to_pandas()
    assert cold.source == "popularity" and "no precomputed list" in cold.reason
    assert cold.items["item_id"].tolist() == most_played["item_id"].tolist()
    with pytest.raises(InvalidArgument, match="at most 5 items"):
        retrieve(music, user, k=6)
    with pytest.raises(ModelNotFound, match="No precomputed recommendations for recs@2"):
        retrieve(music, user, model="recs@2")


def test_retrieve_answers_from_memory_until_the_lists_change(music, monkeypatch):
    precompute(music, k=5)
    user = music.sql("SELECT min(user_id) AS u FROM recommendations").to_pylist()[0]["u"]
    retrieve(music, user, k=5)
    sessions = []
    original = type(music)._session

    def counting(self, *, write):
        sessions.append(write)
        return original(self, write=write)

    monkeypatch.setattr(type(music), "_session", counting)
    for _ in range(20):
        assert retrieve(music, user, k=5).source == "precomputed"
    assert sessions == []  # the store file was not opened once

    # Another process promotes version 2 and precomputes it: the next request sees it.
    script = textwrap.dedent(
        f"""
        from workbench.store import Store
        from workbench.registry import promote
        from workbench.delivery import precompute
        store = Store.open({f"duckdb://{music.path}"!r}, lock_timeout=30)
        promote(store, "recs", 2)
        precompute(store, model="recs@champion", k=5)
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert retrieve(music, user, k=5).model == "recs@2"
    assert retrieve(music, user, k=5, model="recs@champion").model == "recs@2"
    assert retrieve(music, user, k=5, model="recs@1").model == "recs@1"


def test_recommend_now_scores_with_the_alias_and_reloads_when_it_moves(music, monkeypatch):
    loads = []
    original = workbench.registry.load_version

    def counting(store, version):
        loads.append(version.ref)
        return original(store, version)

    monkeypatch.setattr(workbench.registry, "load_version", counting)
    model, _ = workbench.registry.load(music, "recs@1")
    user = str(model.user_index_[0])

    first = recommend_now(music, user, k=4)
    assert first.source == "model" and first.model == "recs@1"
    assert first.items["item_id"].tolist() == model.recommend([user], k=4)["item_id"].tolist()
    for _ in range(5):
        recommend_now(music, user, k=4)
    assert loads == ["recs@1"]  # loaded once, kept while the alias stays

    promote(music, "recs", 2)
    assert recommend_now(music, user, k=4).model == "recs@2"
    assert loads == ["recs@1", "recs@2"]


def test_recommend_now_honours_exclusions_and_falls_back_for_unknown_users(music):
    model, _ = workbench.registry.load(music, "recs@1")
    user = str(model.user_index_[0])
    best = model.recommend([user], k=3)["item_id"].tolist()

    answer = recommend_now(music, user, k=3, context={"exclude": best[:1], "page": "home"})
    assert best[0] not in answer.items["item_id"].tolist()
    assert answer.items["item_id"].tolist()[:2] == best[1:3]
    assert answer.context == {"exclude": best[:1], "page": "home"}

    cold = recommend_now(music, "someone-new", k=3)
    assert cold.source == "popularity" and "does not know this user" in cold.reason
    # One fallback: scoring now answers a stranger as the version's stored lists do.
    precompute(music, model="recs@1", k=3)
    stored = retrieve(music, "someone-new", 3, model="recs@1")
    assert stored.source == "popularity"
    pd.testing.assert_frame_equal(cold.items, stored.items)
    with pytest.raises(InvalidArgument, match="list of item ids"):
        recommend_now(music, user, context={"exclude": "x"})


def test_lineage_walks_from_a_users_list_to_the_event_batches(music):
    precompute(music, k=3)
    user = music.sql("SELECT min(user_id) AS u FROM recommendations").to_pylist()[0]["u"]
    chain = lineage(music, user_id=user)

    batches = music.sql("SELECT batch_id FROM batches WHERE table_name = 'events'").to_pylist()
    assert chain.recommendations["rank"].tolist() == [1, 2, 3]
    assert chain.version.ref == "recs@1"
    assert chain.version.training_digest == rows_digest(music.table("events"))
    assert chain.batches["batch_id"].tolist() == [b["batch_id"] for b in batches]
    assert chain.missing_batches == []
    assert chain.lists["users"] == chain.version.signature["users"]


def test_cli_precomputes_recommends_and_shows_the_chain(music):
    url = f"duckdb://{music.path}"
    runner = CliRunner()
    done = runner.invoke(app, ["precompute", "--k", "3", "--store", url, "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    user = music.sql("SELECT min(user_id) AS u FROM recommendations").to_pylist()[0]["u"]

    shown = runner.invoke(app, ["recommend", user, "--k", "2", "--store", url, "--json"])
    answer = json.loads(shown.stdout)
    assert answer["source"] == "precomputed" and len(answer["items"]) == 2
    cold = runner.invoke(app, ["recommend", "nobody", "--now", "--store", url]).stdout
    assert "popularity" in cold
    chain = runner.invoke(app, ["models", "show", "--user", user, "--store", url])
    assert chain.exit_code == 0, chain.output
    assert report["model"] in chain.stdout and "Training data" in chain.stdout
    batch = music.sql("SELECT min(batch_id) AS b FROM batches").to_pylist()[0]["b"]
    assert batch in chain.stdout
    missing = runner.invoke(app, ["recommend", user, "--model", "recs@9", "--store", url])
    assert missing.exit_code == 1 and isinstance(missing.exception, ModelNotFound)


def test_memory_stores_serve_fresh_lists_without_a_file(memory_store):
    events = make_music(users=20, items=30, days=5, seed=1).tables["events"]
    ingest(memory_store, events)
    train = memory_store.table("events")
    register(
        memory_store,
        MODELS["popularity"]().fit(train),
        "pop",
        metrics={"ndcg_at_10_score": 0.1},
        training_data=train,
    )
    promote(memory_store, "pop", 1)
    assert retrieve(memory_store, "u1").reason == "no lists have been precomputed"
    precompute(memory_store, k=2)
    user = memory_store.sql("SELECT min(user_id) AS u FROM recommendations").to_pylist()[0]["u"]
    assert retrieve(memory_store, user, k=2).source == "precomputed"


@pytest.mark.parametrize("kind", ["distinct", "ties", "mostly excluded"])
def test_top_k_selects_exactly_what_a_full_sort_does(kind):
    from workbench.recommend.topk import top_k

    rng = np.random.default_rng(7)
    scores = {
        "distinct": rng.random((40, 2000)).astype(np.float32),
        "ties": rng.integers(0, 4, (40, 2000)).astype(np.float64),
        "mostly excluded": np.where(
            rng.random((40, 2000)) < 0.997, -np.inf, rng.random((40, 2000))
        ),
    }[kind]
    row, column, rank, score = top_k(scores, 10)

    for user in range(scores.shape[0]):
        finite = np.flatnonzero(np.isfinite(scores[user]))
        # Best first; equal scores in column order.
        expected = finite[np.lexsort((finite, -scores[user, finite]))][:10]
        mine = row == user
        assert column[mine].tolist() == expected.tolist()
        assert rank[mine].tolist() == list(range(1, expected.size + 1))
        assert score[mine].tolist() == scores[user, expected].tolist()


def test_precompute_breaks_ties_by_item_for_a_model_full_of_them(memory_store):
    events = make_music(users=50, items=400, days=5, seed=2).tables["events"]
    ingest(memory_store, events)
    model = MODELS["popularity"]().fit(memory_store.table("events"))
    register(memory_store, model, "pop", metrics={"ndcg_at_10_score": 0.1}, training_data=events)
    precompute(memory_store, model="pop@1", k=3)

    stored = memory_store.sql(
        "SELECT user_id, item_id, rank FROM recommendations ORDER BY user_id, rank"
    ).to_pandas()
    # Everyone's list: the most popular unseen items; equal counts go in item-id order.
    counts = pd.Series(model.popularity_, index=model.item_index_)
    seen = memory_store.table("events").to_pandas().groupby("user_id")["item_id"].agg(set)
    for user, rows in stored.groupby("user_id"):
        unseen = counts[~counts.index.isin(seen[user])].reset_index()
        unseen.columns = ["item_id", "count"]
        expected = unseen.sort_values(["count", "item_id"], ascending=[False, True]).head(3)
        assert rows["item_id"].tolist() == expected["item_id"].tolist(), user
    assert stored.groupby("user_id").size().eq(3).all()


# --- scope and feedback in what is served ----------------------------------------------


def _events(rows, source):
    return pd.DataFrame(
        [
            {
                "event_id": f"{source}-{i}",
                "ts": "2026-03-01T12:00:00Z",
                "user_id": user,
                "item_id": item,
                "event_type": kind,
                "source": source,
            }
            for i, (user, item, kind) in enumerate(rows)
        ]
    )


@pytest.fixture
def two_products(file_store):
    """Music (plays, likes, skips) and an ads test (many impressions) in one store."""
    from workbench.feedback import WEIGHT, Feedback
    from workbench.recommend.comparison import load_interactions
    from workbench.scope import Scope

    rng = np.random.default_rng(1)
    music = [(f"u{u}", f"track_{rng.integers(12)}", "play") for u in range(30) for _ in range(6)]
    music += [(f"u{u}", "track_skipped", "skip") for u in range(30) for _ in range(3)]
    ads = [(f"unit_{u}", "creative_0", "impression") for u in range(200) for _ in range(5)]
    ingest(file_store, _events(music, "app.music"))
    ingest(file_store, _events(ads, "app.ads"))
    scope = Scope.parse({"sources": ["app.music"]}, name="music")
    feedback = Feedback()
    train = load_interactions(file_store, scope=scope, feedback=feedback).to_pandas()
    model = MODELS["popularity"](weight=WEIGHT).fit(train)
    register(
        file_store,
        model,
        "music",
        metrics={"ndcg_at_10_score": 0.1},
        training_data=train,
        holdout="h",
        scope=scope,
        feedback=feedback,
    )
    promote(file_store, "music", 1)
    return file_store


def test_the_fallback_counts_only_the_models_scope_with_its_feedback(two_products):
    precompute(two_products, "music@champion", k=5)
    fallback = retrieve(two_products, "someone-new", 5)
    assert fallback.source == "popularity"
    items = fallback.items["item_id"].tolist()
    assert all(item.startswith("track_") for item in items)  # no ad creative
    assert "track_skipped" not in items  # skipped 90 times, played never: no vote
    lists = two_products.sql("SELECT DISTINCT user_id FROM recommendations").column("user_id")
    assert not any(user.startswith("unit_") for user in lists.to_pylist())  # no ads unit


def test_precompute_leaves_out_what_users_met_after_training(two_products):
    precompute(two_products, "music@champion", k=5)
    first = retrieve(two_products, "u0", 5).items["item_id"].tolist()
    # u0 plays the first item of its list after the model was trained, and skips the second.
    later = _events([("u0", first[0], "play"), ("u0", first[1], "skip")], "app.music")
    later["event_id"] = ["later-0", "later-1"]
    ingest(two_products, later)
    precompute(two_products, "music@champion", k=5)
    again = retrieve(two_products, "u0", 5).items["item_id"].tolist()
    assert first[0] not in again and first[1] not in again


def test_serving_caches_belong_to_the_store_object_and_forget_drops_them(music):
    precompute(music, k=3)
    user = music.sql("SELECT min(user_id) AS u FROM recommendations").to_pylist()[0]["u"]
    first = retrieve(music, user, 3)
    assert music.memo("stored lists") and first.source == "precomputed"
    # Another Store on the same file keeps its own caches: nothing is keyed by id().
    from workbench.store import Store

    assert not Store.open(music.url).memo("stored lists")
    music.forget()
    assert not music.memo("stored lists")
    again = retrieve(music, user, 3)
    pd.testing.assert_frame_equal(first.items, again.items)
