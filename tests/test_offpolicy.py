"""Off-policy evaluation on simulated logs whose true policy values are known."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pytest

from workbench.capture import ingest
from workbench.delivery.policies import EpsilonGreedyPolicy, log_slates
from workbench.exceptions import InvalidArgument
from workbench.offpolicy import MeanRewardModel, estimate_policy_value, logged_deliveries

SEGMENTS = np.array(["young", "adult", "senior"])
SEGMENT_SHARE = np.array([0.3, 0.5, 0.2])
ITEMS = np.array(["a", "b", "c", "d", "e"])
# True click-through rate of each item for each segment.
CTR = np.array(
    [
        [0.50, 0.70, 0.45, 0.60, 0.55],
        [0.65, 0.50, 0.60, 0.45, 0.50],
        [0.45, 0.45, 0.80, 0.50, 0.60],
    ]
)


def _softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    weights = np.exp((scores - scores.max(axis=1, keepdims=True)) / temperature)
    return weights / weights.sum(axis=1, keepdims=True)


# The logging policy prefers items by a noisy guess; the candidate exploits the truth.
LOGGING = _softmax(CTR + np.array([[0.1, -0.1, 0.0, 0.1, 0.0]]), 0.15)
CANDIDATE = 0.8 * np.eye(len(ITEMS))[CTR.argmax(axis=1)] + 0.2 / len(ITEMS)
TRUE_VALUE = float(SEGMENT_SHARE @ (CANDIDATE * CTR).sum(axis=1))


@dataclass
class _Candidate:
    """The candidate as a policy object: probability(context, item)."""

    def probability(self, context, item):
        return float(CANDIDATE[_SEGMENT_AT[context["segment"]], _ITEM_AT[item]])


_SEGMENT_AT = {s: i for i, s in enumerate(SEGMENTS)}
_ITEM_AT = {s: i for i, s in enumerate(ITEMS)}


def _simulate(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    segment = rng.choice(len(SEGMENTS), n, p=SEGMENT_SHARE)
    cumulative = LOGGING[segment].cumsum(axis=1)
    item = (rng.random((n, 1)) > cumulative).sum(axis=1)
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in rng.integers(0, 50, n)],
            "item_id": ITEMS[item],
            "position": 1,
            "context": [{"segment": s} for s in SEGMENTS[segment]],
            "propensity": LOGGING[segment, item],
            "reward": (rng.random(n) < CTR[segment, item]).astype(float),
            "candidate": CANDIDATE[segment, item],
        }
    )


def test_intervals_contain_the_true_value_in_most_simulations():
    runs = 200
    found = {name: [] for name in ("ips", "snips", "dr")}
    covered = {name: 0 for name in found}
    for seed in range(runs):
        table = estimate_policy_value(
            _simulate(1_000, seed),
            _Candidate(),
            reward_model=["segment", "item_id"],
            n_resamples=200,
            seed=seed,
        ).set_index("estimator")
        for name in found:
            found[name].append(table.at[name, "value"])
            covered[name] += table.at[name, "low"] <= TRUE_VALUE <= table.at[name, "high"]
    for name in found:
        assert covered[name] / runs >= 0.88, (name, covered[name] / runs)
        # Unbiased (IPS, DR) or nearly so (SNIPS): the mean estimate sits on the truth.
        assert abs(np.mean(found[name]) - TRUE_VALUE) < 3 * np.std(found[name]) / np.sqrt(runs)
    # A good reward model makes DR clearly steadier than IPS.
    assert np.std(found["dr"]) < 0.85 * np.std(found["ips"])


def test_a_column_and_a_policy_object_give_the_same_estimates():
    logs = _simulate(2_000, 1)
    by_column = estimate_policy_value(logs, "candidate", estimators=["ips", "snips"])
    by_object = estimate_policy_value(logs, _Candidate(), estimators=["ips", "snips"])
    pd.testing.assert_frame_equal(by_column, by_object)
    distribution = pd.DataFrame(
        [
            {"row": row, "item_id": item, "probability": _Candidate().probability(c, item)}
            for row, c in enumerate(logs["context"])
            for item in ITEMS
        ]
    )
    dr_column = estimate_policy_value(
        logs,
        "candidate",
        estimators=["dr"],
        target_probabilities=distribution,
        reward_model=["segment", "item_id"],
    )
    dr_object = estimate_policy_value(
        logs, _Candidate(), estimators=["dr"], reward_model=["segment", "item_id"]
    )
    pd.testing.assert_frame_equal(dr_column, dr_object)


def test_snips_stays_within_the_observed_rewards_when_weights_are_extreme():
    logs = pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "a"],
            "propensity": [0.001, 0.9, 0.9, 0.5],
            "reward": [1.0, 0.0, 0.0, 0.0],
            "candidate": [1.0, 0.1, 0.1, 1.0],
        }
    )
    table = estimate_policy_value(logs, "candidate", estimators=["ips", "snips"]).set_index(
        "estimator"
    )
    assert table.at["ips", "value"] > 1  # IPS is unbounded: 250 for a reward capped at 1
    assert 0 <= table.at["snips", "value"] <= 1
    assert 0 <= table.at["snips", "low"] <= table.at["snips", "high"] <= 1
    assert table.at["ips", "effective_sample_size"] == pytest.approx(1.0, abs=0.01)


def test_the_effective_sample_size_says_how_much_the_logs_are_worth():
    logs = _simulate(3_000, 4)
    same = estimate_policy_value(logs.assign(same=logs["propensity"]), "same", estimators=["ips"])
    assert same.at[0, "effective_sample_size"] == pytest.approx(3_000)
    assert same.at[0, "mean_weight"] == pytest.approx(1.0)
    other = estimate_policy_value(logs, "candidate", estimators=["ips"])
    assert 100 < other.at[0, "effective_sample_size"] < 3_000
    clustered = estimate_policy_value(logs, "candidate", estimators=["ips"], cluster="user_id")
    assert clustered.at[0, "value"] == other.at[0, "value"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda logs: logs.assign(propensity=0.0), r"outside \(0, 1\]"),
        (lambda logs: logs.assign(reward=np.nan), "logged_deliveries"),
        (lambda logs: logs.drop(columns="propensity"), "lack column"),
        (lambda logs: logs.assign(candidate=1.5), r"outside \[0, 1\]"),
    ],
)
def test_logs_that_cannot_be_estimated_from_are_refused(change, message):
    with pytest.raises(InvalidArgument, match=message):
        estimate_policy_value(change(_simulate(50, 0)), "candidate")


def test_dr_with_only_a_column_asks_for_the_candidates_whole_distribution():
    with pytest.raises(InvalidArgument, match="target_probabilities"):
        estimate_policy_value(_simulate(50, 0), "candidate", estimators=["dr"])


def test_mean_reward_model_shrinks_rare_groups_to_the_overall_mean():
    frame = pd.DataFrame({"item_id": ["a", "a", "a", "b"]})
    model = MeanRewardModel(smoothing=1.0).fit(frame, np.array([1.0, 1.0, 1.0, 0.0]))
    predicted = model.predict(pd.DataFrame({"item_id": ["a", "b", "new"]}))
    assert predicted == pytest.approx([(3 + 0.75) / 4, (0 + 0.75) / 2, 0.75])


# -- rewards joined from events, and external logs through capture --------------------------


def test_rewards_are_joined_from_click_events_within_the_window(memory_store):
    scores = pd.DataFrame({"item_id": ["x", "y"], "score": [1.0, 0.0]})
    policy = EpsilonGreedyPolicy(scores, epsilon=0.0)
    t0 = pd.Timestamp("2026-05-01 12:00")
    slates = [
        policy.slate("ann", k=2),  # clicked x after 10 minutes: reward on x only
        policy.slate("bob", k=2),  # clicked y after 2 hours: outside the window
        policy.slate("cy", k=1),  # shown x twice; the click goes to the later showing
        policy.slate("cy", k=1),
    ]
    times = [t0, t0, t0, t0 + pd.Timedelta(minutes=20)]
    slates = [replace(s, ts=t.to_pydatetime()) for s, t in zip(slates, times, strict=True)]
    log_slates(memory_store, slates)
    clicks = pd.DataFrame(
        {
            "event_id": ["c1", "c2", "c3", "c4"],
            "ts": [
                t0 + pd.Timedelta(minutes=10),
                t0 + pd.Timedelta(hours=2),
                t0 + pd.Timedelta(minutes=30),
                t0 - pd.Timedelta(minutes=5),
            ],
            "user_id": ["ann", "bob", "cy", "ann"],
            "item_id": ["x", "y", "x", "y"],  # c4 came before ann saw y: no reward
            "event_type": "click",
        }
    )
    clicks["ts"] = clicks["ts"].dt.tz_localize("UTC")
    ingest(memory_store, clicks)
    logs = logged_deliveries(memory_store)
    # In the order they were shown, whatever random ids the deliveries got: the same logs
    # give the same estimate to the last bit.
    shown = list(zip(logs["ts"], logs["user_id"], logs["position"], strict=True))
    assert shown == sorted(shown)
    got = {(r.user_id, r.item_id, r.ts): r.reward for r in logs.itertuples()}
    assert got[("ann", "x", t0)] == 1.0
    assert got[("ann", "y", t0)] == 0.0
    assert got[("bob", "y", t0)] == 0.0
    assert got[("cy", "x", t0)] == 0.0
    assert got[("cy", "x", t0 + pd.Timedelta(minutes=20))] == 1.0
    assert set(logs["reward_source"]) == {"events"}
    wide = logged_deliveries(memory_store, window="3h")
    bob = wide[wide["user_id"] == "bob"].set_index("item_id")["reward"]
    assert (bob["x"], bob["y"]) == (0.0, 1.0)
    assert logs["context"].map(lambda c: "slate_id" in c).all()
    later = logged_deliveries(memory_store, since="2026-05-01T12:10:00Z")
    assert later[["user_id", "item_id", "reward"]].values.tolist() == [["cy", "x", 1.0]]
    assert logged_deliveries(memory_store, policy="someone else").empty


def _external_log(path, rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "timestamp": pd.date_range("2026-02-01", periods=rows, freq="min").strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "user": [f"u{i % 7}" for i in range(rows)],
            "item": rng.choice(["a", "b", "c"], rows),
            "position": rng.integers(1, 4, rows),
            "click": rng.integers(0, 2, rows),
            "pscore": np.round(rng.uniform(0.05, 0.9, rows), 4),
            "user_age": rng.integers(18, 80, rows),
            "affinity_a": np.round(rng.random(rows), 3),
        }
    )
    frame.to_csv(path, index=False)
    return frame


MAPPING = {
    "ts": "timestamp",
    "user_id": "user",
    "item_id": "item",
    "reward": "click",
    "propensity": "pscore",
}


def test_external_bandit_logs_ingest_into_deliveries_with_every_row_accounted_for(
    file_store, tmp_path
):
    path = tmp_path / "bandit.csv"
    frame = _external_log(path, 40)
    frame.loc[3, "pscore"] = 0.0  # not a probability a logged item can have
    frame.loc[5, "timestamp"] = "yesterday"
    frame.to_csv(path, index=False)
    first = ingest(file_store, path, table="deliveries", mapping=MAPPING)
    assert first.rows_in == first.accepted + first.quarantined + first.duplicates
    assert (first.rows_in, first.accepted, first.quarantined, first.duplicates) == (40, 38, 2, 0)

    stored = file_store.sql("SELECT * FROM deliveries ORDER BY ts").to_pandas()
    context = [json.loads(c) for c in stored["context"]]
    assert all({"user_age", "affinity_a"} <= c.keys() for c in context)
    assert stored["delivery_id"].is_unique and stored["delivery_id"].notna().all()

    # The log grows; ingesting it again counts the rows already stored as duplicates.
    grown = pd.concat([frame, _external_log(tmp_path / "more.csv", 45, seed=1).iloc[40:]])
    grown.to_csv(path, index=False)
    second = ingest(file_store, path, table="deliveries", mapping=MAPPING)
    assert (second.rows_in, second.accepted, second.quarantined, second.duplicates) == (
        45,
        5,
        2,
        38,
    )
    again = file_store.sql("SELECT delivery_id FROM deliveries").to_pandas()
    assert set(stored["delivery_id"]) <= set(again["delivery_id"]) and len(again) == 43

    logs = logged_deliveries(file_store)
    assert set(logs["reward_source"]) == {"logged"}
    assert logs["reward"].sum() == grown.drop(index=[3, 5])["click"].sum()
    uniform = logs.assign(uniform=1 / 3)
    table = estimate_policy_value(uniform, "uniform", estimators=["snips"], cluster="user_id")
    assert 0 <= table.at[0, "low"] <= table.at[0, "value"] <= table.at[0, "high"] <= 1


def test_the_same_external_log_gets_the_same_delivery_ids_in_any_store(
    memory_store, file_store, tmp_path
):
    path = tmp_path / "bandit.csv"
    _external_log(path, 20)
    ingest(memory_store, path, table="deliveries", mapping=MAPPING)
    ingest(file_store, path, table="deliveries", mapping=MAPPING)
    query = "SELECT delivery_id FROM deliveries ORDER BY delivery_id"
    assert memory_store.sql(query).equals(file_store.sql(query))


def test_a_policy_logged_to_the_store_evaluates_another_policy_end_to_end(memory_store):
    """Uniform exploration is logged, clicks arrive as events, and a candidate is estimated."""
    items = ["a", "b", "c", "d", "e"]
    ctr = {"a": 0.6, "b": 0.3, "c": 0.2, "d": 0.1, "e": 0.05}
    scores = pd.DataFrame({"item_id": items, "score": [5.0, 4.0, 3.0, 2.0, 1.0]})
    logging = EpsilonGreedyPolicy(scores, epsilon=1.0, seed=3)  # uniform over the five
    candidate = EpsilonGreedyPolicy(scores, epsilon=0.2)
    truth = sum(candidate.probability({"user_id": "x"}, i) * ctr[i] for i in items)

    rng = np.random.default_rng(8)
    t0 = pd.Timestamp("2026-06-01 09:00")
    slates = [
        replace(logging.slate(f"u{n % 40}", k=1), ts=(t0 + pd.Timedelta(minutes=n)).to_pydatetime())
        for n in range(3_000)
    ]
    log_slates(memory_store, slates)
    clicked = [s for s in slates if rng.random() < ctr[s.items[0]]]
    ingest(
        memory_store,
        pd.DataFrame(
            {
                "event_id": [f"click{n}" for n in range(len(clicked))],
                "ts": [pd.Timestamp(s.ts, tz="UTC") + pd.Timedelta(seconds=30) for s in clicked],
                "user_id": [s.user_id for s in clicked],
                "item_id": [s.items[0] for s in clicked],
                "event_type": "click",
            }
        ),
    )
    logs = logged_deliveries(memory_store, policy=logging.name)
    assert len(logs) == 3_000 and logs["reward"].sum() == len(clicked)
    table = estimate_policy_value(logs, candidate, n_resamples=400).set_index("estimator")
    for name in ("ips", "snips", "dr"):
        assert table.at[name, "low"] <= truth <= table.at[name, "high"], (name, truth)
    assert table.at["ips", "mean_weight"] == pytest.approx(1.0, abs=0.05)
