import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Label anomalies")


@app.cell
def _():
    import getpass

    import marimo as mo

    from workbench.anomaly import (
        agreement_rate,
        detector_quality,
        investigate,
        label,
        labeling_queue,
        plot_series_band,
        reconcile,
    )
    from workbench.exceptions import InvalidArgument
    from workbench.store import Store

    return (
        InvalidArgument,
        Store,
        agreement_rate,
        detector_quality,
        getpass,
        investigate,
        label,
        labeling_queue,
        mo,
        plot_series_band,
        reconcile,
    )


@app.cell
def _(getpass, mo):
    # `marimo run notebooks/label_anomalies.py -- --store duckdb://PATH [--labeler NAME]`;
    # without --store, the workbench's own resolution (WORKBENCH_STORE, workbench.toml, the
    # default file).
    try:
        cli = dict(mo.cli_args())
    except Exception:  # mo.cli_args() raises outside a marimo kernel (pytest, imports)
        cli = {}
    store_url = cli.get("store")
    default_labeler = str(cli.get("labeler") or getpass.getuser())
    return default_labeler, store_url


@app.cell
def _(Store, mo, store_url):
    store = Store.open(store_url)
    points = store.table("observations").count().execute()
    mo.stop(
        points == 0,
        mo.md(
            f"**The store `{store.location}` has no observations.** Load some with "
            "`workbench generate metrics` or `workbench ingest FILE --table observations`, "
            "then reload."
        ),
    )
    mo.md(
        "# Label anomalies\n\n"
        f"`{store.location}`: **{points:,}** observed points. The queue puts first the points "
        "whose label would teach the detector most (those it is least sure about, spread over "
        "series and time), and the points whose labelers disagree. Every label is a vote of "
        "its labeler; the majority of each target settles it, and the next scan learns from "
        "the settled ones."
    )
    return (store,)


@app.cell
def _(default_labeler, mo):
    # Bumped after every label, so the queue and the figures below are read again.
    get_version, set_version = mo.state(0)
    labeler = mo.ui.text(value=default_labeler, label="Labeler")
    size = mo.ui.slider(5, 50, value=15, step=5, label="Queue length")
    strategy = mo.ui.dropdown(["uncertainty", "random"], value="uncertainty", label="Order")
    mo.hstack([labeler, size, strategy], justify="start")
    return get_version, labeler, set_version, size, strategy


@app.cell
def _(get_version, labeling_queue, mo, size, store, strategy):
    get_version()
    queue = labeling_queue(store, size=size.value, strategy=strategy.value)
    mo.stop(queue.empty, mo.md("**The queue is empty**: every queued point is settled."))
    picked = mo.ui.table(
        # What a labeler reads: the target names the series and time, and the span its own.
        queue.drop(columns=["series_id", "ts", "span_target"]),
        selection="single",
        label="Queue: pick a point (default: the first)",
    )
    picked
    return picked, queue


@app.cell
def _(investigate, mo, picked, plot_series_band, queue, store):
    picked_target = (
        queue["target"].iloc[0] if picked.value.empty else picked.value["target"].iloc[0]
    )
    chosen = queue[queue["target"] == picked_target].iloc[0]
    around = investigate(
        store, chosen["series_id"], around=chosen["ts"], window="2d", neighbours=3, incidents=3
    )
    mo.vstack(
        [
            mo.md(
                f"## `{chosen['target']}`\n\nValue {chosen['value']:.4g}, score "
                f"{chosen['score']:.3g}; in the queue because: {chosen['why']}.\n\n"
                f"{around.summary()}"
            ),
            plot_series_band(
                around.observations, title=f"{chosen['series_id']}, two days each side"
            ),
            mo.md("Series that moved with it, and the most similar past incidents:"),
            mo.hstack([around.neighbours, around.similar_incidents], justify="start"),
        ]
    )
    return (chosen,)


@app.cell
def _(InvalidArgument, chosen, get_version, label, labeler, mo, set_version, store):
    def _vote(target, value):
        def record_vote(_):
            label(store, target, value, source=labeler.value.strip())
            set_version(get_version() + 1)

        return record_vote

    anomalous = mo.ui.button(
        label="Anomalous (1)", kind="danger", on_click=_vote(chosen["target"], 1)
    )
    normal = mo.ui.button(label="Normal (0)", kind="success", on_click=_vote(chosen["target"], 0))
    buttons = [anomalous, normal]
    # The detector's proposed span (the run of alerting points around this one), judged whole.
    spanned = chosen["span_target"] != chosen["target"] and isinstance(chosen["span_target"], str)
    if spanned:
        buttons += [
            mo.ui.button(
                label=f"Accept the span {chosen['span_start']:%m-%d %H:%M} to "
                f"{chosen['span_end']:%m-%d %H:%M} (1)",
                kind="danger",
                on_click=_vote(chosen["span_target"], 1),
            ),
            mo.ui.button(
                label="Reject the span (0)",
                kind="success",
                on_click=_vote(chosen["span_target"], 0),
            ),
        ]
    mo.stop(
        not labeler.value.strip(),
        mo.md("Type your name as **Labeler** to label: every vote says who gave it."),
    )
    mo.hstack(buttons, justify="start")
    return anomalous, normal


@app.cell
def _(agreement_rate, get_version, mo, reconcile, store):
    get_version()
    settled = reconcile(store)
    agreement = agreement_rate(store)  # NaN until some target has two labelers
    figures = [
        f"**{len(settled):,}** labelled targets, **{int(settled['settled'].sum()):,}** settled",
        "no target has two labelers yet"
        if agreement != agreement
        else f"pairwise agreement between labelers **{agreement:.0%}**",
    ]
    # Grading every detector scores each series as a scan does (tens of seconds on the
    # demo store), so it runs when asked, not after every vote.
    grade = mo.ui.run_button(label="Grade the detectors on the labels")
    mo.vstack(
        [
            mo.md("## Labels so far\n\n" + "; ".join(figures) + "."),
            mo.md("Targets whose labelers disagree go back to the front of the queue."),
            settled,
            grade,
        ]
    )
    return grade, settled


@app.cell
def _(detector_quality, grade, mo, store):
    mo.stop(
        not grade.value,
        mo.md(
            "How would each detector have done on the labelled points? Press the button: "
            "every detector scores the labelled span as a scan would, and the supervised "
            "one learns only from the labels before it."
        ),
    )
    with mo.status.spinner(title="Scoring every series with every detector..."):
        quality = detector_quality(store)
    mo.vstack(
        [
            mo.md(
                "How each detector does on the labelled points that have two weeks of "
                "history before them (higher is better; `event_recall_score`: share of labelled "
                "incidents with an alert):"
            ),
            quality if not quality.empty else mo.md("Not enough labels of both kinds yet."),
        ]
    )
    return (quality,)


@app.cell
def _(chosen, labeling_queue, queue, reconcile, store):
    # `pytest notebooks/label_anomalies.py` checks the queue and that a vote lands.
    def test_the_queue_holds_no_settled_target():
        settled = reconcile(store)
        done = set(settled.loc[settled["settled"], "target"])
        assert not done & set(labeling_queue(store, size=len(queue))["target"])

    def test_the_shown_point_is_the_first_in_the_queue():
        assert chosen["target"] == queue["target"].iloc[0]

    def test_a_vote_settles_its_target_and_it_leaves_the_queue():
        from workbench.anomaly import label as vote
        from workbench.capture import ingest
        from workbench.store import Store

        # The vote goes into a scratch store holding the shown series, never into the
        # user's store: a test's label would otherwise train the supervised detector.
        scratch = Store.open("duckdb://:memory:")
        observations = store.table("observations")
        rows = observations.filter(observations["series_id"] == chosen["series_id"])
        ingest(scratch, rows.select("series_id", "ts", "value").to_pyarrow(), table="observations")
        target = labeling_queue(scratch, size=len(queue))["target"].iloc[0]
        vote(scratch, target, 1, source="in-app test")
        assert target in set(reconcile(scratch)["target"])
        assert target not in set(labeling_queue(scratch, size=len(queue))["target"])

    def test_accepting_a_proposed_span_settles_it_and_its_points_leave_the_queue():
        from workbench.anomaly import label as vote
        from workbench.capture import ingest
        from workbench.store import Store

        scratch = Store.open("duckdb://:memory:")
        observations = store.table("observations")
        rows = observations.filter(observations["series_id"] == chosen["series_id"])
        ingest(scratch, rows.select("series_id", "ts", "value").to_pyarrow(), table="observations")
        asked = labeling_queue(scratch, size=len(queue)).iloc[0]
        vote(scratch, asked["span_target"], 1, source="in-app test")
        settled = reconcile(scratch).set_index("target").loc[asked["span_target"]]
        assert settled["settled"] and settled["ts"] == asked["span_start"]
        later = labeling_queue(scratch, size=len(queue))
        assert not later["ts"].between(asked["span_start"], asked["span_end"]).any()

    return


if __name__ == "__main__":
    app.run()
