"""The simulated day's jobs, run by the scheduler on the simulation's clock.

The loop does not call its nightly work itself: the jobs of :data:`DAY_JOBS` are ticked
by :func:`workbench.runs.schedule.tick` as the simulated clock reaches each cron slot,
with the same rules as ``workbench schedule tick`` (a job runs once per slot; a job
never handled is due at once, so the first tick of a simulation runs every job and the
first day is served; jobs due at one tick run in the order listed). Visits between two
slots are served from the lists the last precompute stored, so a visit before the
night's precompute still gets yesterday's lists, and a schedule that precomputes
before it trains serves a day late: the loop shows it.

- ``scan`` (00:00): the anomaly scan of the loop's KPIs over the day that just ended;
- ``train`` (02:00): train on every event before yesterday, measure on yesterday's,
  register, gate against the champion measured on the same rows, refit the winner (the
  champion when the candidate loses: a refresh) on every event and promote the refit;
- ``precompute`` (02:30): store the champion's lists for every user;
- ``health`` (05:00): data health of the answers (the event types the feedback
  declares), yesterday against the week before (volume, freshness, nulls, quarantine).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from sklearn.base import clone

from workbench.anomaly import scan
from workbench.delivery import precompute
from workbench.evaluate import evaluate_recommenders
from workbench.exceptions import InvalidArgument, ModelNotFound, ScheduleError
from workbench.feedback import WEIGHT, Feedback
from workbench.health import data_health
from workbench.recommend import MODELS, load_interactions, metrics_for_record, split_interactions
from workbench.registry import load, measure, promote, promote_if_better, register, resolve
from workbench.runs.jobs import Job, check_cron
from workbench.runs.schedule import next_slot, tick

if TYPE_CHECKING:
    from workbench.simulate.days import Simulation
    from workbench.store import Store

__all__ = [
    "DAY_JOBS",
    "KPI_HOURS",
    "REGISTRY_NAME",
    "SCANNED",
    "TRAILING_FALLBACKS",
    "day_schedule",
]

#: The simulated day's jobs and their cron schedules (UTC), in the order a tick runs them.
DAY_JOBS = {
    "scan": "0 0 * * *",
    "train": "0 2 * * *",
    "precompute": "30 2 * * *",
    "health": "0 5 * * *",
}
#: Registry name of the simulation's recommender.
REGISTRY_NAME = "village"
#: The loop's trailing KPIs (rates, and the fallback count) span this many hours: an
#: hour holds a handful of visits, so an hour's own figures swing by chance.
KPI_HOURS = 6
#: The fallbacks over the trailing :data:`KPI_HOURS`: the KPI the incident is watched on.
#: Hour by hour a surge of fallbacks is a few against a few (3 where 0.4 is usual, which
#: over-dispersed cold starts make unremarkable); over six hours it is 16 against 2.4.
TRAILING_FALLBACKS = f"village.fallbacks_{KPI_HOURS}h"
#: What the KPI scan watches, one scan (and threshold) per entry: counts as counts,
#: rates as measurements.
SCANNED = (
    ("counts", (TRAILING_FALLBACKS, "village.slates")),
    ("gaussian", ("village.ctr",)),
    ("counts", ("village.quarantined",)),
)


def day_schedule(schedule: Mapping[str, str] | None) -> dict[str, str]:
    """Every job of :data:`DAY_JOBS` with its cron: ``schedule``'s, else the default.

    Refuses a name that is not a day's job and a cron croniter cannot read.
    """
    crons = dict(schedule or {})
    unknown = sorted(set(crons) - set(DAY_JOBS))
    if unknown:
        raise InvalidArgument(
            f"No simulated job {', '.join(unknown)}: the day's jobs are "
            f"{', '.join(DAY_JOBS)} (e.g. train at '0 3 * * *')."
        )
    for name, cron in crons.items():
        check_cron(cron, where=f"The simulated {name} job")
    # Jobs left out keep their default slot: every job must run.
    return {name: crons.get(name, DAY_JOBS[name]) for name in DAY_JOBS}


class DayJobs:
    """The simulated clock, and the day's jobs the scheduler runs as it reaches their slots.

    ``serving`` is the champion whose lists the last precompute stored (what visits are
    served from); ``ran`` lists, per day, the jobs run and when (``"02:00 train"``);
    ``health`` says, per day, what its data health check found.
    """

    def __init__(
        self,
        store: Store,
        run: Simulation,
        *,
        first_day: dt.datetime,
        recommender: str,
        k: int,
        seed: int,
        schedule: Mapping[str, str] | None = None,
    ) -> None:
        crons = day_schedule(schedule)
        self.jobs = {
            name: Job(name=name, notebook=None, schedule=cron) for name, cron in crons.items()
        }
        self.store, self.run, self.first_day = store, run, first_day
        self.recommender, self.k, self.seed = recommender, k, seed
        self.serving: str | None = None
        self.promoted: set[int] = set()
        self.ran: dict[int, list[str]] = {}
        self.health: dict[int, str] = {}
        self.now = first_day
        self._state = tempfile.TemporaryDirectory(prefix="workbench-simulate-")

    def close(self) -> None:
        """Remove the scheduler's state folder."""
        self._state.cleanup()

    def day_of(self, moment: dt.datetime) -> int:
        """The simulated day number of ``moment`` (day 1 starts at ``first_day``)."""
        return (moment.date() - self.first_day.date()).days + 1

    def advance(self, moment: dt.datetime) -> None:
        """Move the clock to ``moment``, ticking the scheduler at every slot on the way."""
        while True:
            slot = self.next_slot()
            if slot > moment:
                break
            self._tick(slot)
        self.now = moment

    def next_slot(self) -> dt.datetime:
        """The first slot of any job after the clock's time (the first tick is at once)."""
        if not self.ran:
            return self.now
        upcoming = min(next_slot(job.schedule, self.now) for job in self.jobs.values())
        return upcoming.replace(tzinfo=None)

    def _tick(self, moment: dt.datetime) -> None:
        self.now = moment
        self.ran.setdefault(self.day_of(moment), [])
        outcomes = tick(
            store=self.store,
            now=moment.replace(tzinfo=dt.UTC),
            jobs=self.jobs,
            state=Path(self._state.name),
            execute=self._execute,
        )
        for outcome in outcomes:
            if outcome.action != "ran":
                raise ScheduleError(
                    f"The simulated job {outcome.job} {outcome.action} at {moment:%Y-%m-%d %H:%M}: "
                    f"{outcome.message}"
                )

    def _execute(self, job: Job, slot: str) -> None:
        self.ran[self.day_of(self.now)].append(f"{self.now:%H:%M} {job.name}")
        getattr(self, f"_{job.name}")()

    def _train(self) -> None:
        if _train(
            self.store,
            self.recommender,
            today=self.now.replace(hour=0, minute=0, second=0, microsecond=0),
            k=self.k,
            seed=self.seed + self.day_of(self.now),
        ):
            self.promoted.add(self.day_of(self.now))

    def _precompute(self) -> None:
        champion = f"{REGISTRY_NAME}@champion"
        try:
            self.serving = resolve(self.store, champion).ref
        except ModelNotFound:
            return  # nothing trained yet: visitors get the fallback
        precompute(self.store, model=champion, k=3 * self.k)

    def _health(self) -> None:
        """Data health of the answers as of now: yesterday against the week before."""
        # The answers the models learn from: the app's impressions begin on day 1, so
        # counting them would show the first week's volume jump from the history's.
        feedback = Feedback.from_config()
        answers = sorted({*feedback.interactions, *feedback.negative})
        report = data_health(
            self.store,
            as_of=self.now,
            recent_days=1,
            reference_days=7,
            features=[],
            scope={"event_types": answers},
        )
        failed = [name for name, check in report.checks.items() if not check["passed"]]
        self.health[self.day_of(self.now)] = (
            f"all {len(report.checks)} checks passed"
            if not failed
            else "failed: " + ", ".join(name.replace(":", " of ", 1) for name in failed)
        )

    def _scan(self) -> None:
        """Scan the KPIs of the day that ended at the clock's midnight; count its alerts."""
        end = self.now.replace(hour=0, minute=0, second=0, microsecond=0)
        day = self.day_of(end) - 1
        if day < 3:
            return  # two days of history are the least a detector can learn normal from
        alerts = 0
        for detector, series in SCANNED:
            report = scan(
                self.store,
                detector=detector,
                since=end - dt.timedelta(days=1),
                until=end,
                series=list(series),
                history="14d",
                threshold="fpr:0.001",
            )
            if len(report.alerts):
                alerts += int((report.alerts["series_id"] == TRAILING_FALLBACKS).sum())
        scanned = next((at for at, row in enumerate(self.run.days) if row.day == day), None)
        if scanned is not None:
            self.run.days[scanned] = replace(self.run.days[scanned], kpi_alerts=alerts)


def _train(store: Store, recommender: str, *, today: dt.datetime, k: int, seed: int) -> bool:
    """Train, measure on yesterday, gate, refit the winner on everything; True if promoted.

    The candidate learns from every event before yesterday and is measured on
    yesterday's; the champion (not refitted) is measured on the same rows and that is
    recorded (:func:`~workbench.registry.measure`), so the gate compares the two on one
    holdout, which neither trained on. The winner is refitted on every event,
    yesterday's included, and that refit is what serves: registered as its own version
    (``refit_of`` names the measured one, whose metrics it carries) and promoted with
    the reason recorded. A candidate that wins brings its recipe; when it loses, the
    champion's own recipe is refitted (a refresh). So newcomers' first answers reach the
    lists the next morning, and tomorrow's holdout is again one the champion never saw.
    """
    feedback = Feedback.from_config()
    events = load_interactions(store, feedback=feedback)
    yesterday = today - dt.timedelta(days=1)
    train, test = split_interactions(events, split="temporal", cut=yesterday)
    grading = {"k": k, "n_resamples": 100, "seed": seed}
    table, fitted = evaluate_recommenders(
        {recommender: MODELS[recommender](weight=WEIGHT)},
        train,
        test,
        return_fitted=True,
        **grading,
    )
    metrics = metrics_for_record(table, k)[recommender]
    version = register(
        store,
        fitted[recommender],
        REGISTRY_NAME,
        metrics=metrics,
        training_data=train,
        holdout=test,
        feedback=feedback,
    )
    champion = f"{REGISTRY_NAME}@champion"
    try:
        current, serving = load(store, champion)
    except ModelNotFound:
        current = serving = None
    if current is not None:
        again = evaluate_recommenders({"champion": current}, train, test, fit=False, **grading)
        held = metrics_for_record(again, k)["champion"]
        measure(store, champion, metrics=held, holdout=test)
    promotion = promote_if_better(store, version, metric=f"ndcg_at_{k}_score")
    if promotion.promoted:
        recipe, of, figures = fitted[recommender], version, metrics
        reason = (
            f"{version.ref} passed the gate; this is the same model refitted on every event, "
            "its holdout included"
        )
    elif current is None:
        return False  # refused with no champion to refresh: visitors keep the fallback
    else:
        # The champion keeps its place, but not its age: the lists must not miss a day's
        # events because a candidate of the same recipe, trained on the same events as
        # the champion, lost by a hair.
        recipe, of, figures = current, serving, held
        reason = (
            f"{version.ref} did not beat the champion {serving.ref}; this is the champion "
            "refitted on every event, its holdout included (a refresh)"
        )
    # Every event, yesterday's skips included: the split's test keeps only the rows with a
    # positive weight (the targets), so train + test would leave them out.
    everything = events.to_pandas()
    if not promotion.promoted and serving.signature["training_data"]["rows"] == len(everything):
        return False  # the champion already learnt from every event: nothing to refresh
    model = clone(recipe).fit(everything)
    refit = register(
        store,
        model,
        REGISTRY_NAME,
        metrics=figures,
        params={**model.get_params(), "refit_of": of.version},
        training_data=everything,
        holdout=test,
        feedback=feedback,
    )
    promote(store, REGISTRY_NAME, refit.version, force_reason=reason)
    return promotion.promoted
