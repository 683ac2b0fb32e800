import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Recommendations for one user")


@app.cell
def _():
    import marimo as mo

    from workbench import explore as ex
    from workbench.exceptions import InvalidArgument, ModelNotFound
    from workbench.feedback import WEIGHT
    from workbench.recommend import (
        MODELS,
        describe_explanation,
        explain_items,
        explain_recommendations,
        load_interactions,
    )
    from workbench.scope import Scope
    from workbench.store import Store

    return (
        InvalidArgument,
        MODELS,
        ModelNotFound,
        Scope,
        Store,
        WEIGHT,
        describe_explanation,
        ex,
        explain_items,
        explain_recommendations,
        load_interactions,
        mo,
    )


@app.cell
def _(mo):
    # `marimo run notebooks/recommendations.py -- --store duckdb://PATH [--user ID]`; without
    # --store, the workbench's own resolution (WORKBENCH_STORE, workbench.toml, the default).
    try:
        cli = dict(mo.cli_args())
    except Exception:  # mo.cli_args() raises outside a marimo kernel (pytest, imports)
        cli = {}
    store_url, cli_user = cli.get("store"), cli.get("user")
    return cli_user, store_url


@app.cell
def _(Store, ex, mo, store_url):
    store = Store.open(store_url)
    events = store.table("events")
    active = ex.top_users(events, n=50).to_pandas()
    mo.stop(
        active.empty,
        mo.md(
            f"**The store `{store.location}` has no events.** Load some with "
            "`workbench generate music` or `workbench ingest FILE`, then reload."
        ),
    )
    mo.md(f"# Recommendations for one user\n\nStore: `{store.location}`.")
    return active, events, store


@app.cell
def _(active, cli_user, mo):
    k = mo.ui.slider(5, 30, value=10, step=5, label="Items to recommend")
    picked = mo.ui.dropdown(
        active["user_id"].tolist(), value=active["user_id"].iloc[0], label="Most active users"
    )
    typed = mo.ui.text(value=cli_user or "", placeholder="or type any user id", label="User")
    mo.hstack([picked, typed, k], justify="start")
    return k, picked, typed


@app.cell
def _(ex, events, mo, picked, typed):
    user_id = typed.value.strip() or picked.value
    profile = ex.drill_down(events, user_id=user_id, counterparts=20)
    history = profile.events.limit(100).to_pandas()
    mo.vstack(
        [
            mo.md(f"## `{user_id}`: history"),
            mo.md(f"No events of `{user_id}` in the store: a new user gets the fallback list.")
            if history.empty
            else mo.vstack(
                [
                    profile.by_event_type.to_pandas(),
                    mo.md("Items they met most:"),
                    profile.counterparts.to_pandas(),
                    mo.md("Latest events (up to 100):"),
                    history,
                ]
            ),
        ]
    )
    return history, user_id


@app.cell
def _(mo, store):
    # The registry names the champion; a store without one says so below.
    from workbench import registry

    champions = {
        _name: registry.resolve(store, f"{_name}@champion")
        for _name in sorted({version.name for version in registry.versions(store)})
        if "champion" in registry.aliases(store, _name)
    }
    champion_name = mo.ui.dropdown(
        list(champions), value=next(iter(champions), None), label="Registered model"
    )
    champion_name if champions else mo.md(
        "## Champion\n\n**No champion is registered** in this store, so there are no served "
        "recommendations to show. Register and promote one (the `train_recommender` job), "
        "or fit a model live below."
    )
    return champion_name, champions, registry


@app.cell
def _(
    InvalidArgument,
    ModelNotFound,
    champion_name,
    champions,
    k,
    mo,
    registry,
    store,
    user_id,
):
    mo.stop(not champions)
    from workbench import delivery

    champion = champions[champion_name.value]
    champion_model, _ = registry.load(store, champion.ref)
    try:
        served = delivery.retrieve(store, user_id, k=k.value, model=champion.ref)
        served_items, served_how = served.items, f"{served.source}: {served.reason}"
        personal = served.source == "precomputed"
    except (ModelNotFound, InvalidArgument) as error:  # no stored lists of it, or fewer than k
        served_items = champion_model.recommend([user_id], k=k.value)
        served_how = f"scored now, since the stored lists cannot serve it ({error})"
        personal = not served_items.empty
    mo.vstack(
        [
            mo.md(f"## Champion `{champion.ref}`: served list\n\n`{user_id}`: {served_how}."),
            served_items,
        ]
    )
    return champion_model, personal, served_items


@app.cell
def _(
    InvalidArgument,
    champion_model,
    describe_explanation,
    explain_items,
    mo,
    personal,
    served_items,
    user_id,
):
    mo.stop(
        not personal,
        mo.md("A fallback list is the same for everyone: nothing of the user's explains it."),
    )
    try:
        served_why = explain_items(
            champion_model,
            user_id,
            served_items["item_id"].tolist(),
            ranks=served_items["rank"].tolist(),
            scores=served_items["score"].tolist(),
        )
        why_shown = mo.vstack([mo.md(describe_explanation(champion_model)), served_why])
    except InvalidArgument as error:  # a model whose scores do not split over the user's items
        why_shown = mo.md(str(error))
    mo.vstack([mo.md("### Why these items"), why_shown])
    return


@app.cell
def _(MODELS, Scope, mo):
    live_model = mo.ui.dropdown(list(MODELS), value="itemknn", label="Model")
    _scopes = Scope.declared()
    live_scope = mo.ui.dropdown(
        ["(every event)", *_scopes], value=_scopes[0] if _scopes else "(every event)", label="Scope"
    )
    fit_button = mo.ui.run_button(label="Fit and recommend")
    mo.vstack(
        [
            mo.md(
                "## Fit a model live\n\nFits on the events of a scope (a `[scopes.NAME]` of "
                "`workbench.toml`), weighted by the feedback semantics (`[feedback]`), then "
                "explains the list: for each recommended item, the user's own items that "
                "contributed most to its score."
            ),
            mo.hstack([live_model, live_scope, fit_button], justify="start"),
        ]
    )
    return fit_button, live_model, live_scope


@app.cell
def _(
    InvalidArgument,
    MODELS,
    WEIGHT,
    describe_explanation,
    explain_recommendations,
    fit_button,
    k,
    live_model,
    live_scope,
    load_interactions,
    mo,
    store,
    user_id,
):
    mo.stop(not fit_button.value, mo.md("Press the button to fit."))
    with mo.status.spinner(title=f"Fitting {live_model.value} ..."):
        _scope = None if live_scope.value == "(every event)" else live_scope.value
        fitted = MODELS[live_model.value](weight=WEIGHT).fit(
            load_interactions(store, scope=_scope)
        )
    try:
        why = explain_recommendations(fitted, user_id, k=k.value)
        note = describe_explanation(fitted)
    except InvalidArgument as error:  # a model whose scores do not split over the user's items
        why, note = fitted.recommend([user_id], k=k.value), str(error)
    mo.vstack([mo.md(note), why])
    return


@app.cell
def _(MODELS, events, explain_recommendations, history, user_id):
    # `pytest notebooks/recommendations.py` checks the app's user and history, and that a
    # model fitted on the app's events explains its list by that user's own items.
    def test_the_history_is_the_picked_users_newest_first():
        assert len(history) > 0
        assert set(history["user_id"]) == {user_id}
        assert history["ts"].is_monotonic_decreasing

    def test_each_recommendation_is_explained_by_items_from_the_users_history():
        model = MODELS["itemknn"]().fit(events)
        why = explain_recommendations(model, user_id, k=5, top=100)
        assert why["item_id"].nunique() == 5
        trained_on = set(events.filter(events["user_id"] == user_id)["item_id"].to_pandas())
        assert set(why["because_item_id"]) <= trained_on
        assert not set(why["item_id"]) & trained_on  # seen items are not recommended
        # Every contribution is shown, so they add up to the model's score.
        totals = why.groupby("item_id").agg(score=("score", "first"), sum=("contribution", "sum"))
        assert ((totals["score"] - totals["sum"]).abs() < 1e-9).all()

    return


if __name__ == "__main__":
    app.run()
