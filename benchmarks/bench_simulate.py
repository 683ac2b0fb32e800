"""The village loop over simulated days: does the served policy learn toward the oracle?

Runs ``workbench.simulate.simulate`` for 7 days at the demo's size (500 listeners,
1,000 tracks, 10 new listeners and 10 new tracks a day: the loop report's defaults), in
memory, for seeds 0 to 4. The references are measured in the
same run, on the same visitors, from the same response model: the planted-taste
oracle's slates and a popularity list's. From day 5 a greedy challenger is A/B-tested
after an off-policy prediction of its lift; the test's measured lift is the reference
for the prediction. Prints the last day's expected click-through
rate (plays per shown item) beside them, what the same lists would have earned shown
without exploration (so the gap to the oracle splits into the model's part and
exploration's), the promotions, the seconds per simulated
day, and the accounting (items shown = deliveries logged, answers = events captured +
quarantined).

Goals: last-day CTR >= 0.8 x the oracle's and >= 1.5 x popularity's; nothing lost; the
incident flagged by the scan of the loop's KPIs on its day or the next.

Then the same days again with ``delivery="blended"``: the app ships its answers hourly
and serves as the HTTP service does (each stored list without what its user met since
it was computed, topped up from trending; trending for visitors without a list). Its
CTR is printed beside the stored lists' (the reference), per seed: last day, and the
mean over the days (steadier: one day's visitors are few).

Run with ``make bench`` (or ``uv run python benchmarks/bench_simulate.py``).
"""

from __future__ import annotations

import time

from common import write_section

from workbench.simulate import simulate
from workbench.store import Store

SECTION = "## The village loop over simulated days (`benchmarks/bench_simulate.py`)"
DAYS, USERS, ITEMS, K, INCIDENT, TEST, NEW = 7, 500, 1000, 10, 3, 5, 10
SEEDS = (0, 1, 2, 3, 4)


def run_days(seed: int, delivery: str = "stored"):
    return simulate(
        Store.open("duckdb://:memory:"),
        days=DAYS,
        users=USERS,
        items=ITEMS,
        k=K,
        seed=seed,
        incident_day=INCIDENT,
        test_day=TEST,
        new_users=NEW,
        new_items=NEW,
        delivery=delivery,
    )


def mean_ctr(run) -> float:
    return sum(day.expected_ctr for day in run.days) / len(run.days)


def main() -> None:
    rows, met_all = [], True
    agree = 0
    stored_runs = {}
    for seed in SEEDS:
        started = time.perf_counter()
        run = stored_runs[seed] = run_days(seed)
        seconds = time.perf_counter() - started
        first, last = run.days[0], run.days[-1]
        shown = sum(day.items_shown for day in run.days)
        lost = sum(day.responses - day.events_captured - day.quarantined for day in run.days)
        logged = sum(day.deliveries_logged for day in run.days)
        summary = run.summary()
        flagged = summary["incident_flagged_day"]
        # Alerts on the trailing fallbacks on any other day are false alarms.
        other = [str(day.day) for day in run.days if day.kpi_alerts and day.day != INCIDENT]
        ope, ab = run.ope_lift, run.ab_lift
        inside = ope[1] <= ab[0] <= ope[2] and ab[1] <= ope[2] and ope[1] <= ab[2]
        agree += inside
        met = (
            flagged in (INCIDENT, INCIDENT + 1)
            and last.expected_ctr >= 0.8 * last.oracle_ctr
            and last.expected_ctr >= 1.5 * last.popularity_ctr
            and lost == 0
            and logged == shown
        )
        met_all &= met
        rows.append(
            f"| {seed} | {first.expected_ctr:.4f} | {last.expected_ctr:.4f} | "
            f"{last.oracle_ctr:.4f} ({last.expected_ctr / last.oracle_ctr:.2f}) | "
            f"{last.lists_ctr:.4f} ({last.lists_ctr / last.oracle_ctr:.2f}) | "
            f"{last.popularity_ctr:.4f} ({last.expected_ctr / last.popularity_ctr:.2f}) | "
            f"{sum(day.promoted for day in run.days)} | {seconds / DAYS:.1f} | "
            f"{shown:,} = {logged:,}; lost {lost} | {flagged} | {', '.join(other) or 'none'} | {ope[0]:+.1%} ({ope[1]:+.1%} "
            f"to {ope[2]:+.1%}) | {ab[0]:+.1%} ({ab[1]:+.1%} to {ab[2]:+.1%}) | "
            f"{summary['cold_visitors']:,} | {summary['new_items_shown']:,} |"
        )
    table = (
        f"{DAYS} days, {USERS} listeners, {ITEMS} tracks ({NEW} new of each a day), slates of "
        f"{K}, 30% visit a day; on "
        f"day {INCIDENT} the stored lists fail for half the visitors; from day {TEST} a greedy "
        "challenger, first judged off-policy from the logs, is A/B-tested against the "
        "served epsilon-greedy policy.\n\n"
        "| seed | CTR day 1 | CTR last day | oracle (ratio) | lists without exploring (ratio) "
        "| popularity (ratio) | promotions "
        "| s per day | shown = logged | incident flagged on | alerts on other days "
        "| OPE lift (SNIPS) "
        "| A/B lift | cold visits | new tracks shown |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    verdict = (
        "Goals: last-day CTR >= 0.8 x oracle and >= 1.5 x popularity, nothing lost, the "
        "incident flagged on its day or the next: "
        + ("**met**." if met_all else "**not met** (see the ratios and the flagged day).")
        + f" The A/B lift inside the OPE interval, the intervals overlapping, in at least 4 "
        f"of {len(SEEDS)} seeds: {'**met**' if agree >= 4 else '**not met**'} ({agree} of "
        f"{len(SEEDS)})."
    )
    blended_rows, ratios = [], []
    for seed in SEEDS:
        stored, blended = stored_runs[seed], run_days(seed, "blended")
        ratio = mean_ctr(blended) / mean_ctr(stored)
        ratios.append(ratio)
        blended_rows.append(
            f"| {seed} | {blended.days[-1].expected_ctr:.4f} | {stored.days[-1].expected_ctr:.4f} "
            f"| {blended.days[-1].expected_ctr / stored.days[-1].expected_ctr:.3f} "
            f"| {mean_ctr(blended):.4f} | {mean_ctr(stored):.4f} | {ratio:.3f} |"
        )
        print(blended_rows[-1], flush=True)
    table += (
        '\n\nNear-real-time blending (`delivery="blended"`) against the stored lists '
        "(reference), same seeds and days:\n\n"
        "| seed | blended: CTR last day | stored: CTR last day | ratio | blended: mean CTR "
        "| stored: mean CTR | ratio |\n|---|---|---|---|---|---|---|\n" + "\n".join(blended_rows)
    )
    mean_ratio = sum(ratios) / len(ratios)
    verdict += (
        f" Blended serving earns a higher online CTR than stored lists alone: "
        f"{'**met**' if mean_ratio > 1 else '**not met**'} (mean CTR ratio {mean_ratio:.3f} "
        f"over {len(SEEDS)} seeds, {sum(r > 1 for r in ratios)} of them above 1)."
    )
    print(table)
    print(verdict)
    write_section(SECTION, table, verdict)


if __name__ == "__main__":
    main()
