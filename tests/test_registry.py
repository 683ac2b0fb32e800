"""The model registry: versions, digests, trusted artifacts, the promotion gate, rollback, CLI."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from workbench.capture import ingest
from workbench.cli import app
from workbench.exceptions import (
    ArtifactTampered,
    InvalidArgument,
    ModelNotFound,
    PromotionRefused,
)
from workbench.provenance import rows_digest
from workbench.recommend import MODELS
from workbench.registry import (
    alias_history,
    aliases,
    load,
    promote,
    register,
    resolve,
    rollback,
    versions,
)

EVENTS = pd.DataFrame(
    {
        "event_id": [f"e{i}" for i in range(8)],
        "ts": pd.to_datetime([f"2026-01-0{1 + i % 4}T10:00:00" for i in range(8)], utc=True),
        "user_id": ["a", "a", "b", "b", "c", "c", "d", "d"],
        "item_id": ["x", "y", "y", "z", "x", "z", "w", "x"],
        "event_type": "play",
    }
)
HOLDOUT = pd.DataFrame({"user_id": ["a", "b"], "item_id": ["z", "x"]})


def fitted(name: str = "popularity"):
    return MODELS[name]().fit(EVENTS)


def register_version(store, ndcg: float, *, name="recs", holdout=HOLDOUT, model=None):
    return register(
        store,
        model if model is not None else fitted(),
        name,
        metrics={"ndcg_at_10_score": ndcg, "rmse": 1.0 - ndcg},
        training_data=EVENTS,
        holdout=holdout,
    )


# --- registering ----------------------------------------------------------------------


def test_register_records_what_identifies_the_version(file_store):
    version = register(
        file_store,
        fitted("itemknn"),
        "knn",
        metrics={"ndcg_at_10_score": 0.25},
        training_data=EVENTS,
        feature_set="plays-v1",
        holdout=HOLDOUT,
    )

    assert (version.name, version.version, version.ref) == ("knn", 1, "knn@1")
    assert version.params == MODELS["itemknn"]().get_params()
    assert version.metrics == {"ndcg_at_10_score": 0.25}
    assert version.holdout == rows_digest(HOLDOUT)
    assert version.training_digest == rows_digest(EVENTS)
    assert version.code_version.startswith(("git:", "workbench=="))
    assert version.feature_set == "plays-v1"
    assert version.signature["model_class"].endswith("ItemKNNRecommender")
    assert version.signature["users"] == 4 and version.signature["items"] == 4
    assert version.signature["training_data"]["rows"] == len(EVENTS)
    # The artifact sits beside the store file, read-only, and the store lists the same row.
    name = f"1-{version.artifact_sha256[:16]}.skops"
    path = Path(file_store.path).parent / "models" / "knn" / name
    assert version.artifact_path == f"models/knn/{name}" and path.exists()
    assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert versions(file_store) == [version]
    assert resolve(file_store, "knn@1") == version


def test_the_rows_digest_names_the_rows_whatever_their_order():
    shuffled = EVENTS.sample(frac=1.0, random_state=3)
    assert rows_digest(shuffled) == rows_digest(EVENTS)
    assert rows_digest(EVENTS.iloc[1:]) != rows_digest(EVENTS)
    changed = EVENTS.assign(item_id=EVENTS["item_id"].replace({"w": "v"}))
    assert rows_digest(changed) != rows_digest(EVENTS)
    # A repeated row is another row: multisets, not sets.
    assert rows_digest(pd.concat([EVENTS, EVENTS.head(1)])) != rows_digest(EVENTS)
    # The same instants, naive UTC as the store returns them, are the same rows.
    naive = EVENTS.assign(ts=EVENTS["ts"].dt.tz_localize(None))
    assert rows_digest(naive) == rows_digest(EVENTS)


def test_versions_reach_their_event_batches_through_the_store(file_store):
    first = ingest(file_store, EVENTS.head(4))
    second = ingest(file_store, EVENTS.tail(4))
    events = file_store.table("events")

    # Rows straight from the store carry batch_id; rows that carry only event_id are
    # looked up in events.
    direct = register(
        file_store, fitted(), "p", metrics={"ndcg_at_10_score": 0.1}, training_data=events
    )
    by_event = register(
        file_store,
        fitted(),
        "p",
        metrics={"ndcg_at_10_score": 0.1},
        training_data=events.filter(events.user_id.isin(["c", "d"])).select("event_id", "user_id"),
    )

    assert direct.batches == sorted([first.batch_id, second.batch_id])
    assert direct.signature["training_data"]["batches_from"] == "batch_id"
    assert by_event.batches == [second.batch_id]
    assert by_event.signature["training_data"]["batches_from"] == "event_id"
    assert direct.training_digest == rows_digest(events) == rows_digest(events.to_pandas())


def test_versions_are_numbered_and_never_overwritten(memory_store):
    one = register_version(memory_store, 0.1)
    two = register_version(memory_store, 0.1)
    assert [v.version for v in versions(memory_store, "recs")] == [1, 2]
    assert one.artifact_path != two.artifact_path
    assert load(memory_store, "recs@1")[1] == one


def test_bad_registrations_are_refused_with_advice(memory_store):
    from sklearn.linear_model import LinearRegression

    with pytest.raises(InvalidArgument, match="cannot be registered"):
        register(memory_store, LinearRegression(), "lr", metrics={"r2": 1.0}, training_data=EVENTS)
    with pytest.raises(InvalidArgument, match="not fitted"):
        register(memory_store, MODELS["ease"](), "e", metrics={"x": 1.0}, training_data=EVENTS)
    with pytest.raises(InvalidArgument, match="not usable"):
        register(memory_store, fitted(), "a@b", metrics={"x": 1.0}, training_data=EVENTS)
    with pytest.raises(InvalidArgument, match="finite number"):
        register(memory_store, fitted(), "p", metrics={"x": float("nan")}, training_data=EVENTS)
    with pytest.raises(InvalidArgument, match="no rows"):
        register(memory_store, fitted(), "p", metrics={"x": 1.0}, training_data=EVENTS.head(0))
    assert versions(memory_store) == []


# --- loading ----------------------------------------------------------------------------


def test_a_loaded_model_recommends_what_the_registered_one_did(file_store):
    model = fitted("als")
    register_version(file_store, 0.3, model=model)
    loaded, version = load(file_store, "recs@1")
    assert version.ref == "recs@1"
    pd.testing.assert_frame_equal(loaded.recommend(None, k=3), model.recommend(None, k=3))


def test_a_changed_artifact_is_refused(file_store):
    version = register_version(file_store, 0.3)
    path = Path(file_store.path).parent / version.artifact_path
    os.chmod(path, 0o644)
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))

    with pytest.raises(ArtifactTampered, match="SHA-256"):
        load(file_store, "recs@1")


class Payload:
    """A type an attacker might smuggle in: building it would leave a file behind."""

    marker: Path | None = None

    def __setstate__(self, state):
        Path(state["marker"]).write_text("executed")


def test_an_artifact_with_an_unknown_type_is_refused_before_anything_runs(file_store, tmp_path):
    import skops.io

    version = register_version(file_store, 0.3)
    marker = tmp_path / "executed.txt"
    evil = Payload()
    evil.__dict__["marker"] = str(marker)
    content = skops.io.dumps(evil)
    path = Path(file_store.path).parent / version.artifact_path
    os.chmod(path, 0o644)
    path.write_bytes(content)
    # Whoever swaps the file may also rewrite the store row's digest.
    import hashlib

    with file_store.transaction() as tx:
        tx.execute(
            "UPDATE model_versions SET artifact_sha256 = ? WHERE name = 'recs'",
            [hashlib.sha256(content).hexdigest()],
        )

    with pytest.raises(ArtifactTampered, match="does not trust"):
        load(file_store, "recs@1")
    assert not marker.exists()


def _point_row_at(store, artifact_path: str, sha256: str | None = None) -> None:
    with store.transaction() as tx:
        tx.execute(
            "UPDATE model_versions SET artifact_path = ?, artifact_sha256 = coalesce(?, "
            "artifact_sha256) WHERE name = 'recs'",
            [artifact_path, sha256],
        )


@pytest.mark.parametrize(
    "where",
    ["absolute", "climbing", "symlink-to-dev-zero", "fifo", "directory"],
)
def test_a_row_that_points_anywhere_but_a_registered_file_reads_nothing(
    file_store, tmp_path, where
):
    import hashlib

    version = register_version(file_store, 0.3)
    models = Path(file_store.path).parent / "models" / "recs"
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    secret_sha = hashlib.sha256(secret.read_bytes()).hexdigest()
    if where == "absolute":
        _point_row_at(file_store, str(secret), secret_sha)
    elif where == "climbing":
        _point_row_at(file_store, os.path.relpath(secret, file_store.path.parent), secret_sha)
    elif where == "symlink-to-dev-zero":
        (models / "zero.skops").symlink_to("/dev/zero")
        _point_row_at(file_store, "models/recs/zero.skops")
    elif where == "fifo":
        os.mkfifo(models / "pipe.skops")
        _point_row_at(file_store, "models/recs/pipe.skops")
    else:
        (models / "folder.skops").mkdir()
        _point_row_at(file_store, "models/recs/folder.skops")

    with pytest.raises(ArtifactTampered) as refused:
        load(file_store, version.ref)  # returns at once: no hang on the FIFO, no endless read
    assert secret_sha not in str(refused.value)  # no hash of a foreign file in the message
    assert "SHA-256 " not in str(refused.value)


def test_a_malformed_artifact_with_a_matching_hash_is_refused_as_tampered(file_store):
    import hashlib
    import io
    import zipfile

    version = register_version(file_store, 0.3)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("schema.json", '{"__class__": "x", "__module__": "y", "content": 1}')
    content = buffer.getvalue()
    path = Path(file_store.path).parent / version.artifact_path
    os.chmod(path, 0o644)
    path.write_bytes(content)
    _point_row_at(file_store, version.artifact_path, hashlib.sha256(content).hexdigest())

    with pytest.raises(ArtifactTampered, match=r"skops|cannot be loaded"):
        load(file_store, version.ref)


@pytest.mark.slow
@pytest.mark.parametrize("point", ["register:partial-written", "register:row-committed"])
def test_a_registration_killed_midway_recovers_by_itself(file_store, point):
    """kill -9 between writing the artifact and committing its row, then register again."""
    import subprocess
    import sys

    script = (
        "import pandas as pd, sys\n"
        "from workbench.store import Store\n"
        "from workbench.recommend import PopularityRecommender\n"
        "from workbench.registry import register\n"
        "events = pd.DataFrame({'user_id': ['a', 'a', 'b'], 'item_id': ['x', 'y', 'x']})\n"
        "store = Store.open(sys.argv[1])\n"
        "version = register(store, PopularityRecommender().fit(events), 'recs', "
        "metrics={'ndcg_at_10_score': 0.3}, training_data=events)\n"
        "print(version.ref)\n"
    )

    def register_in_a_process(crash_at: str | None) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k != "WORKBENCH_CRASH_AT"}
        if crash_at:
            env["WORKBENCH_CRASH_AT"] = crash_at
        return subprocess.run(
            [sys.executable, "-c", script, file_store.url],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    killed = register_in_a_process(point)
    assert killed.returncode == -9, killed.stderr  # SIGKILL: nothing ran after the point
    folder = Path(file_store.path).parent / "models" / "recs"
    if point == "register:row-committed":  # the version exists; its file is still partial
        assert [v.ref for v in versions(file_store)] == ["recs@1"]
        model, _ = load(file_store, "recs@1")  # adopted on the way
        assert model.recommend(["b"], k=1)["item_id"].tolist() == ["y"]
    else:
        assert versions(file_store) == []
    again = register_in_a_process(None)
    assert again.returncode == 0, again.stderr
    expected = "recs@2" if point == "register:row-committed" else "recs@1"
    assert again.stdout.strip() == expected
    model, _ = load(file_store, expected)
    assert model.recommend(["b"], k=1)["item_id"].tolist() == ["y"]
    # Every file is a version's; nothing partial or orphaned is left.
    named = sorted(Path(v.artifact_path).name for v in versions(file_store))
    assert sorted(p.name for p in folder.iterdir()) == named


def test_references_that_name_nothing_raise_model_not_found(memory_store):
    with pytest.raises(ModelNotFound, match="No model named 'recs'"):
        resolve(memory_store, "recs@champion")
    register_version(memory_store, 0.2)
    with pytest.raises(ModelNotFound, match="no version 7"):
        resolve(memory_store, "recs@7")
    with pytest.raises(ModelNotFound, match="no 'champion' alias"):
        load(memory_store, "recs@champion")
    with pytest.raises(ModelNotFound, match="NAME@ALIAS"):
        resolve(memory_store, "recs")


# --- promotion and rollback -------------------------------------------------------------


def test_promotion_is_gated_on_the_holdout_metric(memory_store):
    for ndcg in (0.20, 0.30, 0.25):
        register_version(memory_store, ndcg)

    first = promote(memory_store, "recs", 1)
    assert (first.version, first.previous_version, first.champion_value) == (1, None, None)
    better = promote(memory_store, "recs", 2)
    assert (better.candidate_value, better.champion_value) == (0.30, 0.20)
    with pytest.raises(PromotionRefused, match="does not beat the champion recs@2"):
        promote(memory_store, "recs", 3)
    assert aliases(memory_store, "recs") == {"champion": 2}
    # A lower-is-better metric: 3 has rmse 0.75 against the champion's 0.70.
    with pytest.raises(PromotionRefused, match="lower is better"):
        promote(memory_store, "recs", 3, metric="rmse")
    with pytest.raises(PromotionRefused, match="no such metric"):
        promote(memory_store, "recs", 3, metric="recall_at_10_score")


def test_a_difference_within_rounding_noise_is_a_tie_that_keeps_the_champion(memory_store):
    register_version(memory_store, 0.14372002597200428)
    register_version(memory_store, 0.1437200259720043)  # the same figure, summed differently
    register_version(memory_store, 0.1438)
    promote(memory_store, "recs", 1)

    with pytest.raises(PromotionRefused, match="does not beat the champion recs@1"):
        promote(memory_store, "recs", 2)
    assert promote(memory_store, "recs", 3).previous_version == 1


def test_an_override_moves_the_alias_and_records_who_why_and_when(memory_store):
    register_version(memory_store, 0.3)
    register_version(memory_store, 0.2)
    promote(memory_store, "recs", 1)

    move = promote(memory_store, "recs", 2, force_reason="cold-start fix, checked online")

    assert aliases(memory_store, "recs") == {"champion": 2}
    assert move.forced and move.override_reason == "cold-start fix, checked online"
    logged = alias_history(memory_store, "recs")[-1]
    assert logged.override_reason == "cold-start fix, checked online"
    assert (logged.candidate_value, logged.champion_value) == (0.2, 0.3)
    assert "@" in logged.actor and logged.at is not None
    # The versions themselves are untouched.
    assert [v.metrics["ndcg_at_10_score"] for v in versions(memory_store, "recs")] == [0.3, 0.2]


def test_metrics_from_different_or_unknown_holdouts_are_not_compared(memory_store):
    register_version(memory_store, 0.2)
    register_version(memory_store, 0.9, holdout=HOLDOUT.head(1))
    register_version(memory_store, 0.9, holdout=None)
    promote(memory_store, "recs", 1)

    with pytest.raises(PromotionRefused, match="different holdouts"):
        promote(memory_store, "recs", 2)
    with pytest.raises(PromotionRefused, match="without a holdout"):
        promote(memory_store, "recs", 3)
    assert aliases(memory_store, "recs") == {"champion": 1}


def test_a_champion_measured_again_on_the_candidates_holdout_is_compared_there(memory_store):
    from workbench.registry import measure, measured_metrics

    register_version(memory_store, 0.20)  # the champion, on HOLDOUT
    register_version(memory_store, 0.25, holdout=HOLDOUT.head(1))  # newer rows
    register_version(memory_store, 0.15, holdout=HOLDOUT.head(1))
    promote(memory_store, "recs", 1)

    # Scored again (not refitted) on the candidates' rows, the champion does worse there.
    measure(
        memory_store, "recs@champion", metrics={"ndcg_at_10_score": 0.22}, holdout=HOLDOUT.head(1)
    )
    with pytest.raises(PromotionRefused, match="does not beat the champion recs@1"):
        promote(memory_store, "recs", 3)  # 0.15 against 0.22, not against 0.20
    move = promote(memory_store, "recs", 2)
    assert (move.candidate_value, move.champion_value) == (0.25, 0.22)
    # Measuring again on the same rows replaces the figure; the version is unchanged.
    measure(memory_store, "recs@1", metrics={"ndcg_at_10_score": 0.3}, holdout=HOLDOUT.head(1))
    one = resolve(memory_store, "recs@1")
    assert one.metrics["ndcg_at_10_score"] == 0.20
    assert measured_metrics(memory_store, one, one.holdout) == one.metrics
    with pytest.raises(InvalidArgument, match="holdout is required"):
        measure(memory_store, "recs@1", metrics={"ndcg_at_10_score": 0.3}, holdout=None)


def test_a_challenger_is_not_gated(memory_store):
    register_version(memory_store, 0.3)
    register_version(memory_store, 0.1)
    promote(memory_store, "recs", 1)
    promote(memory_store, "recs", 2, alias="challenger")
    assert aliases(memory_store, "recs") == {"challenger": 2, "champion": 1}


def test_rollback_walks_back_through_the_promotions(memory_store):
    for ndcg in (0.1, 0.2, 0.3):
        register_version(memory_store, ndcg)
    for version in (1, 2, 3):
        promote(memory_store, "recs", version)

    assert rollback(memory_store, "recs").version == 2
    assert rollback(memory_store, "recs").version == 1
    assert resolve(memory_store, "recs@champion").version == 1
    with pytest.raises(InvalidArgument, match="no earlier version"):
        rollback(memory_store, "recs")
    actions = [
        (m.action, m.previous_version, m.version) for m in alias_history(memory_store, "recs")
    ]
    assert actions[-2:] == [("rollback", 3, 2), ("rollback", 2, 1)]


# --- command line -----------------------------------------------------------------------


def invoke(*args: str, code: int = 0):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, f"{result.output}\n{result.exception!r}"
    return result


def test_models_commands_list_promote_refuse_and_roll_back(file_store):
    url = f"duckdb://{file_store.path}"
    ingest(file_store, EVENTS)
    for ndcg in (0.2, 0.3, 0.1):
        register(
            file_store,
            fitted(),
            "recs",
            metrics={"ndcg_at_10_score": ndcg},
            training_data=file_store.table("events"),
            holdout="h1",
        )

    assert (
        "recs@champion: None -> 1"
        in invoke("models", "promote", "recs", "1", "--store", url).output
    )
    invoke("models", "promote", "recs", "2", "--store", url)
    refused = invoke("models", "promote", "recs", "3", "--store", url, code=1)
    assert isinstance(refused.exception, PromotionRefused)
    forced = invoke(
        "models", "promote", "recs", "3", "--force-reason", "demo", "--store", url, "--json"
    )
    assert json.loads(forced.stdout)["override_reason"] == "demo"
    listed = json.loads(invoke("models", "list", "--store", url, "--json").stdout)
    assert [(v["ref"], v["aliases"]) for v in listed] == [
        ("recs@1", []),
        ("recs@2", []),
        ("recs@3", ["champion"]),
    ]
    assert "3 -> 2" in invoke("models", "rollback", "recs", "--store", url).output
    shown = invoke("models", "show", "recs@champion", "--store", url).output
    assert "recs@2" in shown and rows_digest(file_store.table("events"))[:19] in shown
    assert "OVERRIDE: demo" in shown


def test_json_columns_of_any_shape_digest_and_mixed_columns_are_refused():
    varied = EVENTS.assign(context=[{"a": 1, "c": 2}, {"a": "x"}, None, {"b": [1, 2]}] * 2)
    # The same JSON with keys in another order is the same rows.
    reordered = varied.assign(context=[{"c": 2, "a": 1}, {"a": "x"}, None, {"b": [1, 2]}] * 2)
    assert rows_digest(varied) == rows_digest(reordered)
    assert rows_digest(varied) != rows_digest(EVENTS)
    with pytest.raises(InvalidArgument, match="one type"):
        rows_digest(EVENTS.assign(value=[1, "two"] * 4))


def test_training_and_serving_headlines_say_what_the_gate_did_and_what_a_list_is_worth():
    from workbench.registry import Promotion, serving_headline, training_headline

    kept = Promotion("als@5", False, "als@4", "als@4", "als@5 does not beat the champion")
    line = training_headline(kept, {"ndcg_at_10_score": 0.14}, metric="ndcg_at_10_score")
    assert line.status == "ok" and line.text.startswith("als@4 stays the champion")
    assert (line.figures[0].label, line.figures[0].text()) == ("nDCG@10", "0.140")
    nobody = Promotion("als@1", False, None, None, "no metric recorded")
    assert training_headline(nobody).status == "act"
    promoted = Promotion("als@6", True, "als@6", "als@4", "0.16 beats 0.15")
    assert "replacing als@4" in training_headline(promoted).text
    served = serving_headline(
        "als@6",
        {"ndcg_at_10_score": 0.16, "precision_at_10_score": 0.12},
        "ndcg_at_10_score",
        users=300,
    )
    assert "serves 300 users" in served.text
    assert "about 1.2 of every 10 listed items were ones the user went on to use" in served.text
