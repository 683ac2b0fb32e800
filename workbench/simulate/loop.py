"""The loop itself: each simulated day retrains, gates, redeploys, serves and captures.

See :mod:`workbench.simulate` for what a day does and the response model.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.arguments import parse_time
from workbench.capture import ingest
from workbench.datasets import make_music
from workbench.delivery import EpsilonGreedyPolicy, log_slates, met_items, retrieve
from workbench.delivery.recent import RecentActivity
from workbench.delivery.semantics import served_semantics
from workbench.exceptions import InvalidArgument
from workbench.experiments import assign, assign_units, readout
from workbench.offpolicy import estimate_policy_value, logged_deliveries
from workbench.recommend import MODELS
from workbench.simulate.days import SimulatedDay, Simulation
from workbench.simulate.jobs import KPI_HOURS, TRAILING_FALLBACKS, DayJobs
from workbench.sql import literal

if TYPE_CHECKING:
    from workbench.store import Store

__all__ = [
    "AB_METRIC",
    "EXPERIMENT",
    "LOOK_DECAY",
    "PLAY_RATE",
    "simulate",
]

#: How likely a visitor looks at each further position of a slate.
LOOK_DECAY = 0.85
#: Play probability of a looked-at track of the favourite genre and top quality.
PLAY_RATE = 0.6
#: How the simulated app serves: stored lists, or blended with the day's events.
DELIVERIES = ("stored", "blended")
_SOURCE = "village"
_NOBODY = "village-no-list"  # an id no stored list holds
#: The A/B test of the challenger policy.
EXPERIMENT = "village_policy"
# The hourly counts the rate KPIs come from: column -> series.
_COUNTS = {
    "slates": "village.slates",
    "fallbacks": "village.fallbacks",
    "shown": "village.items_shown",
    "plays": "village.plays",
    "answers": "village.answers",
    "quarantined": "village.quarantined",
}
#: Its metric: plays per shown item (the app logs an ``impression`` per shown item).
AB_METRIC = "ratio:play/impression"


@dataclass(frozen=True)
class _World:
    """The planted truth the visitors answer from."""

    users: np.ndarray  # user ids
    items: np.ndarray  # item ids
    closeness: np.ndarray  # users x items, taste for the item's genre / favourite's
    quality: np.ndarray  # items, 0.5 .. 1 with planted popularity
    duration: np.ndarray  # items, seconds

    def play_chance(self, user_rows: np.ndarray, item_columns: np.ndarray) -> np.ndarray:
        return PLAY_RATE * self.closeness[user_rows, item_columns] * self.quality[item_columns]

    def expected_ctr(self, user_row: int, item_columns: np.ndarray) -> float:
        """Expected plays per shown item of a slate of these items (in order)."""
        looks = LOOK_DECAY ** np.arange(item_columns.size)
        plays = looks * self.play_chance(np.full(item_columns.size, user_row), item_columns)
        return float(plays.mean())


def simulate(
    store: Store,
    *,
    days: int = 7,
    seed: int = 0,
    users: int = 500,
    items: int = 1000,
    genres: int = 8,
    warmup_days: int = 14,
    visit_rate: float = 0.3,
    k: int = 10,
    epsilon: float = 0.1,
    recommender: str = "itemknn",
    start: Any = "2026-01-15",
    incident_day: int | None = None,
    test_day: int | None = None,
    new_users: int = 0,
    new_items: int = 0,
    schedule: Mapping[str, str] | None = None,
    delivery: str = "stored",
) -> Simulation:
    """Run ``days`` simulated days of the loop on ``store`` (see :mod:`workbench.simulate`).

    Parameters
    ----------
    store
        An empty store: the simulation writes its world (users, items, a warm-up
        history of ``warmup_days`` of listening), the events its visitors answer with,
        the deliveries, the registry's ``village`` versions and their stored lists.
    days, seed
        Simulated days, and the seed of everything random: the same seed gives the
        same days.
    users, items, genres
        Size of the world (as :func:`~workbench.datasets.make_music`).
    visit_rate
        Share of the users who visit on a day, in (0, 1].
    k
        Items per slate.
    epsilon
        The epsilon-greedy policy's exploration rate, in [0, 1].
    recommender
        The recommender trained every day, a name of
        :data:`~workbench.recommend.MODELS`.
    start
        The first simulated day (UTC); the warm-up history ends the day before.
    incident_day
        A day on which the stored lists fail for half the visitors, who get the
        popularity fallback instead (a planted incident). The loop's KPIs are written as
        hourly observations every day (see :func:`_write_kpis`): counts, rates over the
        trailing :data:`~workbench.simulate.jobs.KPI_HOURS` hours and the fallbacks
        over the same hours (:data:`~workbench.simulate.jobs.TRAILING_FALLBACKS`). From
        the third day (two days of history) the scan job, at the day's end, scans them
        (:data:`~workbench.simulate.jobs.SCANNED`); the day's ``kpi_alerts`` counts the
        alerts on the trailing fallbacks. An incident on day 1 or 2 is in every scan's history instead.
    test_day
        The day a challenger is judged and then tested: the greedy policy (no
        exploration) over the champion's lists. It is first judged off-policy
        (SNIPS, clustered by visitor) from the deliveries logged the day before: the
        lists are refreshed every day, so older logs describe older lists. From that
        day on, visitors are assigned by hash to ``control`` (the served policy) or
        ``treatment`` (the challenger) in the experiment ``village_policy``, read out
        after the last day on plays per shown item (:data:`AB_METRIC`), the quantity
        the off-policy judgement predicts.
    new_users, new_items
        Listeners and tracks that arrive each day, never seen before (their planted
        tastes and genres come from the same world). A new listener gets the
        popularity fallback (cold start) until the champion, refitted every night, has
        learnt from their answers; a new track enters ``items`` and, until it is in the stored
        lists, the new-releases shelf every visitor's candidates end with, so
        exploration can show it.
    schedule
        Cron schedules (UTC) for the day's jobs, by name, over
        :data:`~workbench.simulate.jobs.DAY_JOBS` (``scan``, ``train``, ``precompute``,
        ``health``); a job left out keeps its slot. The scheduler ticks
        them on the simulated clock (:mod:`workbench.simulate.jobs`), and each day's
        ``jobs`` says what ran when.
    delivery
        ``"stored"``: visitors are shown the stored lists (or the popularity fallback),
        and the app ships their answers nightly. ``"blended"``: the app ships its
        answers every hour and serves as the HTTP service does (delivery C,
        :class:`~workbench.delivery.recent.RecentActivity`): each visitor's stored list
        without what they met since it was computed, topped up from what is trending,
        and trending for visitors without a list.

    Examples
    --------
    >>> from workbench.store import Store
    >>> run = simulate(Store.open("duckdb://:memory:"), days=2, users=60, items=80, seed=1)
    >>> [day.day for day in run.days]
    [1, 2]
    >>> all(day.responses == day.events_captured + day.quarantined for day in run.days)
    True
    """

    _check(days=days, users=users, items=items, k=k, warmup_days=warmup_days)
    for name, value in (("new_users", new_users), ("new_items", new_items)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidArgument(f"{name}={value!r} must be a whole number, 0 or more.")
    if not 0 < visit_rate <= 1:
        raise InvalidArgument(f"visit_rate={visit_rate!r} must be a share in (0, 1].")
    if not 0 <= epsilon <= 1:
        raise InvalidArgument(f"epsilon={epsilon!r} must be a probability in [0, 1].")
    if incident_day is not None and (
        isinstance(incident_day, bool) or not isinstance(incident_day, int) or incident_day < 1
    ):
        raise InvalidArgument(f"incident_day={incident_day!r} must be a day number, 1 or more.")
    if test_day is not None and (
        isinstance(test_day, bool) or not isinstance(test_day, int) or not 2 <= test_day <= days
    ):
        raise InvalidArgument(
            f"test_day={test_day!r} must be a day from 2 to days={days}: the challenger is "
            "first judged on the deliveries logged before it."
        )
    if delivery not in DELIVERIES:
        raise InvalidArgument(f"delivery={delivery!r}: choose one of {', '.join(DELIVERIES)}.")
    if recommender not in MODELS:
        raise InvalidArgument(f"recommender={recommender!r}: choose one of {', '.join(MODELS)}.")
    first_day = parse_time(start, name="start")
    if first_day != dt.datetime.combine(first_day.date(), dt.time()):
        raise InvalidArgument(f"start={start!r} must be a UTC day (midnight), like 2026-01-15.")
    if store.count_rows()["events"]:
        raise InvalidArgument(
            f"The store {store.location} already holds events; a simulation starts from an "
            "empty store. Give it a new one, e.g. --store duckdb://data/village-2.duckdb."
        )

    run = Simulation(incident_day=incident_day, test_day=test_day, delivery=delivery)
    live = _Live() if delivery == "blended" else None
    clock = DayJobs(  # checks the schedule before anything is written
        store,
        run,
        first_day=first_day,
        recommender=recommender,
        k=k,
        seed=seed,
        schedule=schedule,
    )
    warmup_start = (first_day - dt.timedelta(days=warmup_days)).date()
    music = make_music(
        users=users + new_users * days,
        items=items + new_items * days,
        days=warmup_days,
        seed=seed,
        genres=genres,
        start=warmup_start,
    )
    world = _world(music)
    # Who and what is there from the start; the rest arrive new_users / new_items a day.
    arrival_user = _arrival_days(world.users.size, users, new_users, seed=seed, kind=2)
    arrival_item = _arrival_days(world.items.size, items, new_items, seed=seed, kind=3)
    _arrive(
        store, music, world, arrival_user == 0, arrival_item == 0, source="warm-up", history=True
    )
    rng = np.random.default_rng([seed, 1])
    try:
        for day in range(1, days + 1):
            today = first_day + dt.timedelta(days=day - 1)
            _arrive(
                store, music, world, arrival_user == day, arrival_item == day, source=f"day {day}"
            )
            present = arrival_user <= day
            if day == test_day:
                run.ope_lift = _judge_off_policy(store, today, epsilon=epsilon, seed=seed)
            if test_day is not None and day >= test_day:
                # Everyone present is assigned when the test starts; a newcomer on arrival.
                joined = present if day == test_day else arrival_user == day
                if joined.any():
                    assign(
                        store,
                        world.users[joined].tolist(),
                        experiment=EXPERIMENT,
                        variants=["control", "treatment"],
                        assigned_at=today,
                    )
            run.days.append(
                _serve_and_answer(
                    store,
                    world,
                    rng,
                    clock,
                    day=day,
                    today=today,
                    visit_rate=visit_rate,
                    k=k,
                    epsilon=epsilon,
                    incident=day == incident_day,
                    tested=test_day is not None and day >= test_day,
                    present_users=present,
                    present_items=arrival_item <= day,
                    shelf=np.flatnonzero((arrival_item >= 1) & (arrival_item <= day)),
                    new_users=int((arrival_user == day).sum()),
                    new_items=int((arrival_item == day).sum()),
                    live=live,
                )
            )
        clock.advance(first_day + dt.timedelta(days=days))  # the last day's scan, at midnight
    finally:
        clock.close()
    if test_day is not None:
        run.ab_lift = _read_out(store)
    return run


def _judge_off_policy(
    store: Store, today: dt.datetime, *, epsilon: float, seed: int
) -> tuple[float, float, float]:
    """The greedy challenger's lift over the logging policy, predicted from the logs.

    The challenger shows the same lists without exploring, so at every logged decision
    it would have shown the item the logging policy's greedy slate held there: its
    probability is 1 for a logged item that was that greedy choice (logged with
    propensity ``1 - epsilon + epsilon / n``) and 0 for an explored one.
    """

    # Yesterday's logs only: the lists the challenger wraps are refreshed every day, so
    # older logs describe older lists.
    logs = logged_deliveries(
        store,
        since=today - dt.timedelta(days=1),
        until=today,
        event_types=("play",),
        window="1h",
    )
    logs["challenger"] = (logs["propensity"] >= 1.0 - epsilon - 1e-9).astype(float)
    estimate = estimate_policy_value(
        logs, "challenger", estimators=("snips",), cluster="user_id", n_resamples=500, seed=seed
    ).iloc[0]
    # The logging policy's own value is what it earned; the lift is relative to it.
    logged = float(logs["reward"].mean())
    low, high = (float(v) / logged - 1.0 for v in (estimate.low, estimate.high))
    return (float(estimate.value) / logged - 1.0, low, high)


def _read_out(store: Store) -> tuple[float, float, float]:
    """The A/B test's lift in plays per shown item, treatment against control.

    The same quantity the off-policy judgement predicts; per visitor it would also
    carry how often each arm's visitors happened to come, which the policy does not
    change.
    """

    result = readout(store, EXPERIMENT, AB_METRIC, cuped=False, sequential=False)
    lift = result.results()[AB_METRIC]["treatment"]
    return (lift["lift"], lift["ci_low"], lift["ci_high"])


def _arrival_days(total: int, initial: int, per_day: int, *, seed: int, kind: int) -> np.ndarray:
    """Each entity's arrival day: 0 for the ``initial`` ones, then ``per_day`` a day.

    Who arrives when is drawn with its own seed, so the visitors' draws do not move.
    """
    days = np.zeros(total, dtype=np.int64)
    if total > initial:
        late = np.random.default_rng([kind, seed]).permutation(total)[initial:]
        days[late] = 1 + np.arange(late.size) // max(per_day, 1)
    return days


def _arrive(
    store: Store,
    music: Any,
    world: _World,
    users: np.ndarray,
    items: np.ndarray,
    *,
    source: str,
    history: bool = False,
) -> None:
    """Ingest the rows of the users and items that arrive (masks over the world's order).

    With ``history`` (the warm-up), also their events among themselves: events of late
    arrivals never happened.
    """
    ids = {
        "users": pa.array(world.users[users].tolist(), pa.string()),
        "items": pa.array(world.items[items].tolist(), pa.string()),
    }
    for table, key in (("users", "user_id"), ("items", "item_id")):
        rows = music.tables[table].filter(pc.is_in(music.tables[table][key], ids[table]))
        if rows.num_rows:
            ingest(store, rows, table=table, source_name=f"{_SOURCE} {source}")
    if history:
        events = music.tables["events"]
        keep = pc.and_(
            pc.is_in(events["user_id"], ids["users"]), pc.is_in(events["item_id"], ids["items"])
        )
        history_events = events.filter(keep)
        # The app's own listening before the first day: its source, as its answers will be.
        history_events = history_events.set_column(
            history_events.schema.get_field_index("source"),
            "source",
            pa.array([_SOURCE] * history_events.num_rows, pa.string()),
        )
        ingest(store, history_events, table="events", source_name=f"{_SOURCE} {source}")


def _check(**sizes: int) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgument(f"{name}={value!r} must be a whole number, 1 or more.")


def _world(music: Any) -> _World:
    truth = music.truth
    users = np.array(sorted(truth["user_taste"]), dtype=object)
    items = np.array(sorted(truth["item_genre"]), dtype=object)
    taste = np.array([truth["user_taste"][u] for u in users])
    genre = np.array([truth["item_genre"][i] for i in items])
    popularity = np.array([truth["item_popularity"][i] for i in items])
    closeness = taste[:, genre] / taste.max(axis=1, keepdims=True)
    quality = 0.5 + 0.5 * (popularity / popularity.max()) ** 0.25
    durations = dict(
        zip(
            music.tables["items"]["item_id"].to_pylist(),
            [a["duration_s"] for a in _attributes(music.tables["items"])],
            strict=True,
        )
    )
    duration = np.array([durations[i] for i in items], dtype=float)
    return _World(users, items, closeness, quality, duration)


def _attributes(table: Any) -> list[dict]:
    return [json.loads(text) for text in table["attributes"].to_pylist()]


def _serve_and_answer(
    store: Store,
    world: _World,
    rng: np.random.Generator,
    clock: DayJobs,
    *,
    day: int,
    today: dt.datetime,
    visit_rate: float,
    k: int,
    epsilon: float,
    incident: bool,
    tested: bool,
    present_users: np.ndarray,
    present_items: np.ndarray,
    shelf: np.ndarray,
    new_users: int,
    new_items: int,
    live: _Live | None = None,
) -> SimulatedDay:
    """Serve the day's visitors in time order, the clock ticking the day's jobs between them.

    Visitors between two job slots are served from the lists stored at the first of
    them. The day's slates are logged and its answers ingested when the day ends (the
    app ships its logs nightly), then its hourly KPIs are written. With ``live``
    (delivery ``"blended"``) the answers are ingested at the end of every hour, and
    what is served blends them in.
    """
    visitors = np.flatnonzero((rng.random(world.users.size) < visit_rate) & present_users)
    # The planted incident: the stored lists fail for half the visitors.
    broken = incident & (rng.random(visitors.size) < 0.5)
    seconds = rng.integers(0, 86_400, visitors.size)  # visits spread over the day
    order = np.argsort(seconds, kind="stable")
    visitors, broken, seconds = visitors[order], broken[order], seconds[order]
    moments = [today + dt.timedelta(seconds=int(second)) for second in seconds]
    shelf_ids = world.items[shelf].astype(str)
    column = {item: at for at, item in enumerate(world.items.tolist())}
    slates, fell_back, arms, shown_ctr, lists_ctr, events = [], [], [], [], [], []
    cold = 0
    start = 0
    shipped = _Shipped()
    while start < visitors.size:
        clock.advance(moments[start])  # the jobs whose slot has come run first
        boundary = (clock.next_slot() - today).total_seconds()
        if live is not None:
            # The app ships its answers every hour: the next group starts with the hour.
            boundary = min(boundary, (seconds[start] // 3600 + 1) * 3600)
            live.sync(store)
        stop = start + int(np.searchsorted(seconds[start:], boundary, side="left"))
        group = range(start, max(stop, start + 1))
        champion = clock.serving or ""
        lists = []
        for at in group:
            row = visitors[at]
            # A user id no list holds gets the fallback, as a visitor whose list is lost would.
            asked = _NOBODY if broken[at] else str(world.users[row])
            answer = retrieve(store, asked, 3 * k)
            fell_back.append(answer.source == "popularity")
            cold += bool(answer.source == "popularity" and not broken[at])
            user = str(world.users[row])
            items = answer.items if live is None else live.blend(asked, answer, 3 * k)
            lists.append(_with_shelf(items.assign(user_id=user), user, shelf_ids))
        scores = pd.concat(lists, ignore_index=True)[["user_id", "item_id", "score"]]
        candidates = 3 * k + shelf.size
        policy = EpsilonGreedyPolicy(
            scores,
            epsilon=epsilon,
            n_candidates=candidates,
            model=champion,
            seed=int(rng.integers(2**31)),
        )
        # During the test, treatment visitors get the challenger: the same lists, greedy.
        challenger = EpsilonGreedyPolicy(
            scores,
            epsilon=0.0,
            n_candidates=candidates,
            model=champion,
            seed=int(rng.integers(2**31)),
        )
        users = [str(world.users[visitors[at]]) for at in group]
        arms += (
            assign_units(users, experiment=EXPERIMENT, variants=["control", "treatment"])
            if tested
            else ["control"] * len(users)
        )
        for at, user in zip(group, users, strict=True):
            row, treated = visitors[at], tested and arms[at] == "treatment"
            slate = (challenger if treated else policy).slate(user, k=k)
            slate = dataclasses.replace(slate, ts=moments[at], slate_id=f"d{day}-{at}")
            slates.append(slate)
            columns = np.array([column[item] for item in slate.items])
            shown_ctr.append(world.expected_ctr(row, columns))
            # What the same lists earn shown greedily: the served figure less exploration's.
            greedy = slate if treated else challenger.slate(user, k=k)
            lists_ctr.append(world.expected_ctr(row, np.array([column[i] for i in greedy.items])))
            events += _answers(world, rng, row, columns, moments[at], prefix=f"d{day}-{at}")
        start = group.stop
        if live is not None:
            shipped.ship(store, events, f"day {day} {moments[group.start]:%H}h")
    clock.advance(today + dt.timedelta(days=1, seconds=-1))  # the day's later jobs
    if tested:
        for arm in ("control", "treatment"):
            chosen = [slate for slate, name in zip(slates, arms, strict=True) if name == arm]
            log_slates(store, chosen, experiment=EXPERIMENT, variant=arm)
    else:
        log_slates(store, slates)
    plays = sum(event["event_type"] == "play" for event in events)
    shown = sum(len(slate.items) for slate in slates)
    shipped.ship(store, events, f"day {day}")  # what is left: the whole day, shipped nightly
    _write_kpis(
        store,
        today,
        day,
        slates,
        events,
        [m.hour for m in moments],
        fell_back,
        refused=shipped.refused,
    )
    oracle, popular = _reference_ctrs(
        world, visitors, k, present_items, met_items(store, world.users[visitors], world.items)
    )
    released = set(shelf_ids.tolist())
    return SimulatedDay(
        day=day,
        date=today.date().isoformat(),
        visitors=int(visitors.size),
        ctr=plays / shown if shown else float("nan"),
        expected_ctr=float(np.mean(shown_ctr)) if shown_ctr else float("nan"),
        lists_ctr=float(np.mean(lists_ctr)) if lists_ctr else float("nan"),
        oracle_ctr=oracle,
        popularity_ctr=popular,
        champion_version=clock.serving,
        promoted=day in clock.promoted,
        fallback_share=sum(fell_back) / visitors.size if visitors.size else float("nan"),
        items_shown=int(shown),
        deliveries_logged=int(
            store.sql(
                "SELECT count(*) AS n FROM deliveries WHERE ts >= ? AND ts < ?",
                [today, today + dt.timedelta(days=1)],
            )
            .column("n")[0]
            .as_py()
        ),
        responses=len(events),
        events_captured=shipped.accepted,
        quarantined=shipped.quarantined,
        incident=incident,
        new_users=new_users,
        new_items=new_items,
        cold_visitors=cold,
        new_items_shown=sum(item in released for slate in slates for item in slate.items),
        jobs=" · ".join(clock.ran.get(day, [])),
        health=clock.health.get(day, "not checked"),
    )


@dataclass
class _Shipped:
    """The app's answers ingested so far today, and what became of them."""

    sent: int = 0  # how many of the day's answers (in order) were ingested
    accepted: int = 0
    quarantined: int = 0
    refused: list[str] = dataclasses.field(default_factory=list)  # event ids

    def ship(self, store: Store, events: list[dict[str, Any]], label: str) -> None:
        """Ingest the answers not shipped yet as one batch."""
        new = events[self.sent :]
        if not new:
            return
        frame = pd.DataFrame(
            new, columns=["event_id", "ts", "user_id", "item_id", "event_type", "value", "context"]
        )
        frame["source"] = _SOURCE
        report = ingest(store, frame, table="events", source_name=f"{_SOURCE} {label}")
        # Which answers the capture path refused (their 1-based row in the frame).
        rows = store.sql(
            "SELECT row_number FROM quarantine WHERE batch_id = ?", [report.batch_id]
        ).column(0)
        self.refused += [new[row - 1]["event_id"] for row in rows.to_pylist()]
        self.accepted += int(report.accepted)
        self.quarantined += int(report.quarantined)
        self.sent = len(events)


class _Live:
    """Delivery C in the simulated app: what the hourly shipped answers change, blended in.

    It follows the lists being served: when they change (a night's precompute), the
    recent activity is computed again in their model's scope and feedback, from their
    computing on (:class:`~workbench.delivery.recent.RecentActivity`).
    """

    def __init__(self) -> None:
        self.recent: RecentActivity | None = None
        self.follows: tuple | None = None

    def sync(self, store: Store) -> None:
        """Fold in what was shipped since the last call (or start over for new lists)."""
        served = retrieve(store, _NOBODY, 1)  # which lists are served now
        follows = (served.model, served.computed_at)
        with store.reading() as raw:
            if self.recent is None or follows != self.follows:
                name, _, version = (served.model or "").rpartition("@")
                scope, feedback = served_semantics(
                    raw, name or None, int(version) if version else None
                )
                self.recent = RecentActivity.compute(raw, scope, feedback, since=served.computed_at)
                self.follows = follows
            else:
                self.recent.catch_up(raw)

    def blend(self, user: str, answer: Any, k: int) -> pd.DataFrame:
        """The answer as the HTTP service gives it: see ``RecentActivity.blend``."""
        stored = None
        if answer.source != "popularity":
            stored = list(zip(answer.items["item_id"], answer.items["score"], strict=True))
        items, _ = self.recent.blend(user, stored, k)
        # The policy ranks by score; the blend's items carry scores on their sources'
        # scales (the model's, co-players, trending weights): its order is what counts.
        scores = np.arange(len(items), 0, -1, dtype=float)
        return pd.DataFrame(
            {
                "item_id": [item for item, _ in items],
                "rank": np.arange(1, len(items) + 1, dtype=np.int32),
                "score": scores,
            }
        )


def _write_kpis(
    store: Store,
    today: dt.datetime,
    day: int,
    slates: list,
    events: list[dict[str, Any]],
    hours: list[int],
    fell_back: list[bool],
    *,
    refused: list[str],
) -> None:
    """Write the day's hourly KPIs as observations, for the scan job at midnight.

    Every hour gets its counts (``village.slates``, ``village.fallbacks``,
    ``village.items_shown``, ``village.plays``, ``village.answers`` and
    ``village.quarantined``: answers sent and refused by the capture path, ``refused``
    naming them by event id) and, over the trailing
    :data:`~workbench.simulate.jobs.KPI_HOURS` hours, the rates (``village.ctr``,
    ``village.fallback_share``, ``village.quarantine_share``) and the fallbacks
    (``village.fallbacks_6h``), computed from the stored counts, yesterday's included.
    An answer counts in its visit's hour. An hour holds a handful of visits, so an hour's
    own share swings between 0 and 1 by chance; a rate over several hours moves when
    something changes.
    """
    from collections import Counter

    def slate_of(event_id: str) -> str:
        return event_id.rsplit("-", 2)[0]

    plays = Counter(slate_of(e["event_id"]) for e in events if e["event_type"] == "play")
    answers = Counter(slate_of(event["event_id"]) for event in events)
    bad = Counter(slate_of(event_id) for event_id in refused)
    counts = np.zeros((24, len(_COUNTS)))
    for slate, hour, fallback in zip(slates, hours, fell_back, strict=True):
        counts[hour] += (
            1,
            fallback,
            len(slate.items),
            plays[slate.slate_id],
            answers[slate.slate_id],
            bad[slate.slate_id],
        )
    stamps = pd.date_range(today, periods=24, freq="h", tz="UTC")
    hourly = pd.DataFrame(counts, index=stamps, columns=list(_COUNTS))
    earlier = (
        store.sql(
            "SELECT series_id, ts, value FROM observations WHERE series_id IN "
            f"({', '.join(literal(s) for s in _COUNTS.values())}) AND ts >= ? AND ts < ?",
            [today - dt.timedelta(hours=KPI_HOURS - 1), today],
        )
        .to_pandas()
        .pivot(index="ts", columns="series_id", values="value")
        .rename(columns={series: name for name, series in _COUNTS.items()})
    )
    earlier.index = pd.DatetimeIndex(earlier.index).tz_localize("UTC")
    trailing = pd.concat([earlier.reindex(columns=list(_COUNTS)), hourly]).rolling(KPI_HOURS, 1)
    totals = trailing.sum().loc[stamps]
    trailing_kpis = pd.DataFrame(
        {
            "village.ctr": totals["plays"] / totals["shown"].where(totals["shown"] > 0),
            "village.fallback_share": totals["fallbacks"]
            / totals["slates"].where(totals["slates"] > 0),
            "village.quarantine_share": totals["quarantined"]
            / totals["answers"].where(totals["answers"] > 0),
            TRAILING_FALLBACKS: totals["fallbacks"],
        }
    )
    kpis = pd.concat([hourly.rename(columns=_COUNTS), trailing_kpis], axis=1).melt(
        ignore_index=False, var_name="series_id", value_name="value"
    )
    kpis = kpis.dropna().rename_axis("ts").reset_index()
    ingest(store, kpis, table="observations", source_name=f"{_SOURCE} KPIs day {day}")


def _answers(
    world: _World,
    rng: np.random.Generator,
    row: int,
    columns: np.ndarray,
    moment: dt.datetime,
    *,
    prefix: str,
) -> list[dict[str, Any]]:
    """The events of one visitor's slate: the app's impression of every shown item,
    then what the visitor does with them (plays, likes and skips)."""
    looked = rng.random(columns.size) < LOOK_DECAY ** np.arange(columns.size)
    plays = rng.random(columns.size) < world.play_chance(np.full(columns.size, row), columns)
    closeness = world.closeness[row, columns]
    likes = rng.random(columns.size) < 0.3 * closeness**2
    user = str(world.users[row])
    out = [
        _event(
            f"{prefix}-{position}-impression",
            moment,
            user,
            str(world.items[column]),
            "impression",
            1.0,
        )
        for position, column in enumerate(columns)
    ]
    at = moment
    for position in np.flatnonzero(looked):
        item = str(world.items[columns[position]])
        at = at + dt.timedelta(seconds=5)
        if plays[position]:
            seconds = round(float(world.duration[columns[position]] * rng.beta(4.0, 1.2)), 1)
            out.append(_event(f"{prefix}-{position}-play", at, user, item, "play", seconds))
            if likes[position]:
                out.append(_event(f"{prefix}-{position}-like", at, user, item, "like", 1.0))
            at = at + dt.timedelta(seconds=seconds)
        else:
            out.append(_event(f"{prefix}-{position}-skip", at, user, item, "skip", 1.0))
    return out


def _event(
    event_id: str, ts: dt.datetime, user: str, item: str, kind: str, value: float
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "ts": ts.replace(tzinfo=dt.UTC),
        "user_id": user,
        "item_id": item,
        "event_type": kind,
        "value": value,
        # The app logs which slate an answer belongs to, as it logs the slate's items.
        "context": json.dumps({"slate_id": event_id.rsplit("-", 2)[0]}),
    }


def _reference_ctrs(
    world: _World, visitors: np.ndarray, k: int, present: np.ndarray, met: Any
) -> tuple[float, float]:
    """What the planted-taste oracle and a popularity list would earn on these visitors.

    Both play by the app's rules: they choose among the tracks released so far
    (``present``) that the visitor has not met (``met``: visitors x the world's items,
    what precompute leaves out of a list). The oracle knows each visitor's tastes;
    popularity shows the best-quality tracks left.
    """
    if visitors.size == 0:
        return float("nan"), float("nan")
    oracle, popular = [], []
    for at, row in enumerate(visitors):
        unmet = present.copy()
        unmet[met[[at]].indices] = False
        available = np.flatnonzero(unmet)
        chance = world.play_chance(np.full(available.size, row), available)
        oracle.append(world.expected_ctr(row, available[np.argsort(-chance, kind="stable")[:k]]))
        by_quality = available[np.argsort(-world.quality[available], kind="stable")[:k]]
        popular.append(world.expected_ctr(row, by_quality))
    return float(np.mean(oracle)), float(np.mean(popular))


def _with_shelf(listed: Any, user: str, shelf_ids: np.ndarray) -> Any:
    """A visitor's candidates: their list, then the released tracks it does not hold yet.

    The shelf's tracks score below the whole list, so the greedy slate never takes them;
    only exploration does (and logs the propensity it did so with).
    """
    if shelf_ids.size == 0:
        return listed
    fresh = np.setdiff1d(shelf_ids, listed["item_id"].astype(str))
    if fresh.size == 0:
        return listed
    floor = float(listed["score"].min()) if len(listed) else 0.0
    extra = pd.DataFrame(
        {
            "item_id": fresh,
            "score": floor - 1.0 - np.arange(fresh.size) / fresh.size,
            "user_id": user,
        }
    )
    return pd.concat([listed[["user_id", "item_id", "score"]], extra], ignore_index=True)
