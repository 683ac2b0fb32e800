import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Event explorer")


@app.cell
def _():
    import marimo as mo

    from workbench import explore as ex
    from workbench.store import Store

    return Store, ex, mo


@app.cell
def _(mo):
    # `marimo run notebooks/explore.py -- --store duckdb://PATH`; without --store, the
    # workbench's own resolution (WORKBENCH_STORE, workbench.toml, data/workbench.duckdb).
    try:
        store_url = mo.cli_args().get("store")
    except Exception:  # mo.cli_args() raises outside a marimo kernel (pytest, imports)
        store_url = None
    return (store_url,)


@app.cell
def _(Store, ex, mo, store_url):
    store = Store.open(store_url)
    options = ex.explore_options(store)
    events, users, items = (store.table(name) for name in ("events", "users", "items"))
    mo.stop(
        options.events == 0,
        mo.md(
            f"**The store `{store.location}` has no events.** Load some with "
            "`workbench generate music` or `workbench ingest FILE`, then reload."
        ),
    )
    mo.md(
        f"# Event explorer\n\n`{store.location}`: **{options.events:,}** events from "
        f"{options.first_ts:%Y-%m-%d %H:%M} to {options.last_ts:%Y-%m-%d %H:%M} UTC."
    )
    return events, items, options, users


@app.cell
def _(ex, mo, options):
    window = mo.ui.date_range(
        start=options.first_ts.date(),
        stop=options.last_ts.date(),
        value=(options.first_ts.date(), options.last_ts.date()),
        label="Days (UTC, inclusive)",
    )
    event_types = mo.ui.multiselect(
        options.event_types, value=options.event_types, label="Event types"
    )
    sources = mo.ui.multiselect(options.sources, value=options.sources, label="Sources")
    grain = mo.ui.dropdown(list(ex.GRAINS), value="day", label="Grain")
    split_by = mo.ui.dropdown(
        ["(no split)", *options.segments], value="(no split)", label="Split by"
    )
    segment = mo.ui.dropdown(options.segments, value="event_type", label="Segment")
    top_n = mo.ui.slider(5, 50, value=10, step=5, label="Top items")
    rank_by = mo.ui.dropdown(list(ex.RANK_BY), value="events", label="Rank items by")
    mo.vstack(
        [
            mo.hstack([window, event_types, sources], justify="start"),
            mo.hstack([grain, split_by, segment, top_n, rank_by], justify="start"),
        ]
    )
    return event_types, grain, rank_by, segment, sources, split_by, top_n, window


@app.cell
def _(event_types, events, ex, mo, sources, window):
    filtered = ex.filter_events(
        events,
        start=window.value[0],
        end=window.value[1],
        event_types=event_types.value,
        sources=sources.value,
    )
    filtered_count = int(filtered.count().execute())
    mo.md(f"**{filtered_count:,}** events match the filters.")
    return filtered, filtered_count


@app.cell
def _(ex, filtered, grain, items, mo, split_by, users):
    series = ex.events_over_time(
        filtered,
        grain=grain.value,
        split_by=None if split_by.value == "(no split)" else split_by.value,
        users=users,
        items=items,
    ).to_pandas()
    mo.vstack([mo.md("## Over time"), ex.plot_events_over_time(series)])
    return (series,)


@app.cell
def _(ex, filtered, items, mo, options, rank_by, top_n):
    top = ex.top_items(
        filtered,
        n=top_n.value,
        rank_by=rank_by.value,
        items=items,
        attributes=options.item_attributes,
    ).to_pandas()
    top_table = mo.ui.table(
        top,
        selection="single",
        label="Pick an item to drill into",
        format_mapping=ex.display_formats(top),
    )
    mo.vstack([mo.md("## Top items"), ex.plot_top_items(top, measure=rank_by.value), top_table])
    return top, top_table


@app.cell
def _(ex, filtered, items, mo, segment, users):
    segments = ex.segment_breakdown(filtered, segment.value, users=users, items=items).to_pandas()
    mo.vstack(
        [
            mo.md(f"## Segments: `{segment.value}`"),
            ex.plot_segments(segments),
            mo.ui.table(segments, selection=None, format_mapping=ex.display_formats(segments)),
        ]
    )
    return (segments,)


@app.cell
def _(mo):
    drill_user = mo.ui.text(placeholder="user id, e.g. user_0007", label="User")
    mo.vstack(
        [
            mo.md(
                "To drill down, pick an item in the top-items table or type a user id "
                "(without either, the top item)."
            ),
            drill_user,
        ]
    )
    return (drill_user,)


@app.cell
def _(drill_user, ex, filtered, mo, top, top_table):
    picked = top_table.value
    if drill_user.value.strip():
        drill = ex.drill_down(filtered, user_id=drill_user.value.strip())
    elif len(picked):
        drill = ex.drill_down(filtered, item_id=picked["item_id"].iloc[0])
    else:
        mo.stop(top.empty, mo.md("No item matches the filters, so there is nothing to drill into."))
        drill = ex.drill_down(filtered, item_id=top["item_id"].iloc[0])
    drill_events = drill.events.limit(200).to_pandas()
    mo.stop(
        drill_events.empty,
        mo.md(f"No events of {drill.kind} `{drill.entity_id}` match the filters."),
    )
    partner = "items" if drill.kind == "user" else "users"
    by_type, counterparts = drill.by_event_type.to_pandas(), drill.counterparts.to_pandas()
    mo.vstack(
        [
            mo.md(f"## Drill-down: {drill.kind} `{drill.entity_id}`"),
            mo.ui.table(by_type, selection=None, format_mapping=ex.display_formats(by_type)),
            ex.plot_events_over_time(drill.over_time.to_pandas()),
            mo.md(f"Their most frequent {partner}:"),
            mo.ui.table(
                counterparts, selection=None, format_mapping=ex.display_formats(counterparts)
            ),
            mo.md("Latest events (up to 200):"),
            drill_events,
        ]
    )
    return drill, drill_events


@app.cell
def _(filtered_count, segments, series, top):
    # `pytest notebooks/explore.py` runs these on the app's own results, and `marimo edit`
    # again whenever a control moves: they hold for any filter and any split.
    def test_every_filtered_event_is_in_one_period_and_one_segment():
        assert int(series["events"].sum()) == filtered_count
        assert int(segments["events"].sum()) == filtered_count
        assert abs(float(segments["share"].sum()) - 1.0) < 1e-9

    def test_top_items_are_ranked_by_the_chosen_measure():
        assert list(top["rank"]) == list(range(1, len(top) + 1))
        assert top["events"].is_monotonic_decreasing
        assert top["item_id"].is_unique

    return


@app.cell
def _(drill, drill_events):
    def test_the_drill_down_shows_only_the_chosen_entity():
        column = f"{drill.kind}_id"
        assert len(drill_events) > 0
        assert set(drill_events[column]) == {drill.entity_id}
        assert drill_events["ts"].is_monotonic_decreasing

    return


if __name__ == "__main__":
    app.run()
