"""A simulation's figures: one row per simulated day, what they add up to, the chart."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

    from workbench.headline import Headline

__all__ = ["SimulatedDay", "Simulation", "plot_simulation"]


@dataclass(frozen=True)
class SimulatedDay:
    """One simulated day's figures (see :mod:`workbench.simulate`).

    ``new_users`` and ``new_items`` arrived that day; ``cold_visitors`` got the fallback
    because no stored list held them yet (newcomers, outside the incident);
    ``new_items_shown`` counts the shows of tracks released during the simulation.
    ``promoted`` says the night's candidate passed the gate (when it did not, the
    champion was refreshed; ``champion_version`` is what served after the night's
    precompute). ``jobs`` lists what the scheduler ran that day and when (``"02:00 train · 02:30
    precompute"``); ``kpi_alerts`` are the scan's alerts on the day's fallback KPI, from
    the scan at its end (midnight); ``health`` is what the day's data health check
    (05:00: yesterday's events against the week before) found.
    ``lists_ctr`` is what the same visitors' lists would have earned shown greedily, with
    no exploration: ``expected_ctr`` is below it by what exploring cost that day.
    """

    day: int
    date: str
    visitors: int
    ctr: float
    expected_ctr: float
    lists_ctr: float
    oracle_ctr: float
    popularity_ctr: float
    champion_version: str | None
    promoted: bool
    fallback_share: float
    items_shown: int
    deliveries_logged: int
    responses: int
    events_captured: int
    quarantined: int
    incident: bool = False
    kpi_alerts: int = 0
    new_users: int = 0
    new_items: int = 0
    cold_visitors: int = 0
    new_items_shown: int = 0
    jobs: str = ""
    health: str = ""


@dataclass
class Simulation:
    """Every simulated day, and what they add up to."""

    days: list[SimulatedDay] = field(default_factory=list)
    incident_day: int | None = None
    test_day: int | None = None
    delivery: str = "stored"
    #: The greedy challenger's predicted lift in plays per shown item, judged off-policy
    #: (SNIPS) from the deliveries logged the day before the test: value, low, high.
    ope_lift: tuple[float, float, float] | None = None
    #: The A/B test's measured lift in plays per shown item, treatment (greedy) against
    #: control (the served policy): value, low, high.
    ab_lift: tuple[float, float, float] | None = None

    def summary(self) -> dict[str, Any]:
        """First and last day's click-through beside the oracle's and popularity's."""
        if not self.days:
            return {}
        first, last = self.days[0], self.days[-1]
        return {
            "days": len(self.days),
            "first_day_ctr": first.expected_ctr,
            "last_day_ctr": last.expected_ctr,
            "last_day_oracle_ctr": last.oracle_ctr,
            "last_day_popularity_ctr": last.popularity_ctr,
            "last_day_share_of_oracle": last.expected_ctr / last.oracle_ctr
            if last.oracle_ctr
            else float("nan"),
            "last_day_lists_share_of_oracle": last.lists_ctr / last.oracle_ctr
            if last.oracle_ctr
            else float("nan"),
            "promotions": sum(day.promoted for day in self.days),
            "items_shown": sum(day.items_shown for day in self.days),
            "deliveries_logged": sum(day.deliveries_logged for day in self.days),
            "responses": sum(day.responses for day in self.days),
            "events_captured": sum(day.events_captured for day in self.days),
            "quarantined": sum(day.quarantined for day in self.days),
            "new_users": sum(day.new_users for day in self.days),
            "new_items": sum(day.new_items for day in self.days),
            "cold_visitors": sum(day.cold_visitors for day in self.days),
            "new_items_shown": sum(day.new_items_shown for day in self.days),
            "health_failed_days": [day.day for day in self.days if day.health.startswith("failed")],
            "delivery": self.delivery,
            "test_day": self.test_day,
            "ope_lift": self.ope_lift,
            "ab_lift": self.ab_lift,
            "incident_day": self.incident_day,
            "incident_flagged_day": next(
                (
                    day.day
                    for day in self.days
                    if self.incident_day is not None
                    and day.day >= self.incident_day
                    and day.kpi_alerts
                ),
                None,
            ),
        }

    def frame(self) -> pd.DataFrame:
        """One row per day: every field of :class:`SimulatedDay`."""
        import pandas as pd

        return pd.DataFrame([dataclasses.asdict(day) for day in self.days])

    def reconciles(self) -> bool:
        """Whether every day logged each item it showed and captured each answer it gave."""
        return all(
            day.items_shown == day.deliveries_logged
            and day.responses == day.events_captured + day.quarantined
            for day in self.days
        )

    def headline(self) -> Headline:
        """The loop's answers in one sentence; the first figure is the share of the oracle.

        ``act`` when something was lost or the incident went unflagged; ``watch`` when
        the served lists earn under 0.8 of the oracle or the A/B lift falls outside the
        off-policy interval; ``ok`` otherwise.
        """
        from workbench.headline import Figure, Headline

        summary = self.summary()
        if not summary:
            return Headline("No day was simulated.", "watch")
        share = summary["last_day_share_of_oracle"]
        lost = summary["responses"] - summary["events_captured"] - summary["quarantined"]
        lost += summary["items_shown"] - summary["deliveries_logged"]
        parts = [
            f"After {summary['days']} days the served lists earn {share:.2f} x the planted-taste "
            f"oracle and {summary['last_day_ctr'] / summary['last_day_popularity_ctr']:.1f} x "
            "popularity"
        ]
        status = "ok" if share >= 0.8 else "watch"
        flagged = summary["incident_flagged_day"]
        if self.incident_day is not None:
            if flagged is None:
                parts.append(f"the incident of day {self.incident_day} was not flagged")
                status = "act"
            else:
                parts.append(
                    f"the incident of day {self.incident_day} was flagged on day {flagged}"
                )
        if self.ope_lift is not None and self.ab_lift is not None:
            inside = self.ope_lift[1] <= self.ab_lift[0] <= self.ope_lift[2]
            parts.append(
                f"the A/B lift {self.ab_lift[0]:+.1%} is "
                f"{'inside' if inside else 'outside'} the off-policy interval"
            )
            if not inside and status == "ok":
                status = "watch"
        if lost:
            parts.append(f"{lost:,} events or deliveries were lost")
            status = "act"
        else:
            parts.append("nothing was lost")
        return Headline(
            "; ".join(parts) + ".",
            status,
            (
                Figure("share of oracle", share),
                Figure("CTR, last day", summary["last_day_ctr"]),
                Figure("lost", lost, "count"),
            ),
        )

    def describe(self) -> str:
        """The run in a few lines of Markdown: the loop's answer to each question it asks."""
        summary = self.summary()
        if not summary:
            return "No day was simulated."
        lines = [
            f"- **Does the model get better?** Expected plays per shown item went from "
            f"{summary['first_day_ctr']:.4f} on day 1 to {summary['last_day_ctr']:.4f} on day "
            f"{summary['days']}: {summary['last_day_share_of_oracle']:.2f} x the planted-taste "
            f"oracle ({summary['last_day_oracle_ctr']:.4f}) and "
            f"{summary['last_day_ctr'] / summary['last_day_popularity_ctr']:.2f} x a popularity "
            f"list ({summary['last_day_popularity_ctr']:.4f}); {summary['promotions']} "
            "promotion(s) through the gate. The lists alone, shown without exploring, would "
            f"have earned {summary['last_day_lists_share_of_oracle']:.2f} x the oracle: the "
            "difference is what exploration cost."
        ]
        if self.ope_lift is not None and self.ab_lift is not None:
            ope, ab = self.ope_lift, self.ab_lift
            inside = ope[1] <= ab[0] <= ope[2]
            lines.append(
                f"- **Did the off-policy estimate predict the A/B test?** Predicted lift of the "
                f"greedy challenger {ope[0]:+.1%} ({ope[1]:+.1%} to {ope[2]:+.1%}, SNIPS on the "
                f"logs of day {self.test_day - 1}); measured {ab[0]:+.1%} ({ab[1]:+.1%} to "
                f"{ab[2]:+.1%}): {'inside' if inside else 'outside'} the predicted interval."
            )
        if self.incident_day is not None:
            flagged = summary["incident_flagged_day"]
            lines.append(
                f"- **Was the incident caught?** The stored lists failed for half the visitors "
                f"on day {self.incident_day}; "
                + (
                    f"the KPI scan flagged the fallbacks of the trailing hours on day {flagged}."
                    if flagged is not None
                    else "the KPI scan did not flag it."
                )
            )
        if summary["new_users"] or summary["new_items"]:
            lines.append(
                f"- **Do newcomers find their way in?** {summary['new_users']:,} new listeners "
                f"arrived: {summary['cold_visitors']:,} visits got the fallback because no "
                f"stored list knew them yet. {summary['new_items']:,} new tracks were released "
                f"and shown {summary['new_items_shown']:,} times, first through exploration."
            )
        checked = [day for day in self.days if day.health and day.health != "not checked"]
        if checked:
            failed = [day for day in checked if day.health.startswith("failed")]
            lines.append(
                f"- **Is the data healthy?** The data health check (05:00, yesterday's events "
                f"against the week before) passed on {len(checked) - len(failed)} of "
                f"{len(checked)} days"
                + (
                    "; it failed on "
                    + "; ".join(
                        f"day {day.day} ({day.health.removeprefix('failed: ')})" for day in failed
                    )
                    + "."
                    if failed
                    else "."
                )
            )
        lost = summary["responses"] - summary["events_captured"] - summary["quarantined"]
        lines.append(
            f"- **Was anything lost?** {summary['items_shown']:,} items shown, "
            f"{summary['deliveries_logged']:,} deliveries logged; {summary['responses']:,} "
            f"answers, {summary['events_captured']:,} events captured + "
            f"{summary['quarantined']:,} quarantined ({lost:,} lost)."
        )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data: ``days`` (one object per day) and ``summary``."""
        return {
            "days": [dataclasses.asdict(day) for day in self.days],
            "summary": self.summary(),
        }


def plot_simulation(run: Simulation) -> alt.LayerChart:
    """Plays per shown item by day: the served policy, the oracle and popularity.

    ``served`` is the expectation under the response model of the slates the champion
    and its exploration showed (comparable with the two references), ``oracle`` what
    each visitor's planted tastes would have shown, ``popularity`` a popularity list; the point's shape tells the days a champion was promoted, a red rule the
    planted incident, a grey one the day the A/B test began. Offline (data embedded).
    """
    import altair as alt
    import pandas as pd

    days = run.frame()
    long = pd.concat(
        [
            days[["day", column, "champion_version", "promoted"]]
            .rename(columns={column: "ctr"})
            .assign(policy=label)
            for column, label in (
                ("expected_ctr", "served"),
                ("oracle_ctr", "oracle"),
                ("popularity_ctr", "popularity"),
            )
        ],
        ignore_index=True,
    )
    base = alt.Chart(long).encode(
        x=alt.X("day:O", title="simulated day", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("ctr:Q", title="plays per shown item"),
        color=alt.Color("policy:N", title=None, legend=alt.Legend(orient="bottom")),
    )
    layers = [
        base.mark_line(),
        base.mark_point(size=70, filled=True).encode(
            shape=alt.Shape("promoted:N", title="promoted", legend=alt.Legend(orient="bottom")),
            tooltip=["day", "policy", alt.Tooltip("ctr:Q", format=".4f"), "champion_version"],
        ),
    ]
    marks = [
        (day, color)
        for day, color in ((run.incident_day, "#d62728"), (run.test_day, "#7f7f7f"))
        if day is not None and day <= len(run.days)
    ]
    if marks:
        rules = pd.DataFrame({"day": [day for day, _ in marks], "color": [c for _, c in marks]})
        layers.append(
            alt.Chart(rules)
            .mark_rule(strokeDash=[4, 3])
            .encode(x="day:O", color=alt.Color("color:N", scale=None))
        )
    return alt.layer(*layers).properties(width=520, height=240)
