"""Experiment readouts: every number against an independent computation on the raw rows.

The store computes sums through Ibis; here each statistic is recomputed from the
generated Arrow tables with pandas, scipy and statsmodels, and must agree.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from workbench.capture import ingest
from workbench.datasets import make_ads
from workbench.exceptions import ExperimentError, InvalidArgument
from workbench.experiments import (
    readout,
    sequential_statistics,
    sufficient_statistics,
)
from workbench.store import Store

EXPERIMENT = "ads_creative"
SUMS = ["n", "sum_y", "sum_yy", "sum_d", "sum_dd", "sum_yd", "sum_x", "sum_xx", "sum_xy"]


def load(url: str, dataset) -> Store:
    store = Store.open(url, lock_timeout=10)
    for name, rows in dataset.tables.items():
        report = ingest(store, rows, table=name)
        assert report.accepted == rows.num_rows
    return store


@pytest.fixture(scope="module")
def ads():
    return make_ads(users=6000, days=7, seed=5)


@pytest.fixture(scope="module")
def store(ads, tmp_path_factory) -> Store:
    """A real DuckDB file holding the ads experiment."""
    return load(f"duckdb://{tmp_path_factory.mktemp('ads') / 'ads.duckdb'}", ads)


@pytest.fixture(scope="module")
def result(store):
    return readout(store, EXPERIMENT, "click,sum:click,ratio:click/impression", correction="holm")


# --------------------------------------------------------------------------- raw rows


def raw_units(dataset, kind: str, event_type: str, denominator: str | None = None, until=None):
    """Per-unit y, d, x from the generated tables with pandas (independent of the store)."""
    units = dataset.tables["assignments"].to_pandas()
    events = dataset.tables["events"].to_pandas()
    if until is not None:
        events = events[events["ts"] < until]
        units = units[units["assigned_at"] < until]
    joined = events.merge(units, left_on="user_id", right_on="unit_id")
    after = joined[joined["ts"] >= joined["assigned_at"]]
    before = joined[joined["ts"] < joined["assigned_at"]]

    def per_unit(rows, name):
        rows = rows[rows["event_type"] == name]
        amount = (
            rows.groupby("unit_id")["value"].sum()
            if kind in ("sum", "ratio")
            else (rows.groupby("unit_id").size().astype(float))
        )
        return amount.reindex(units["unit_id"], fill_value=0.0).to_numpy()

    y = per_unit(after, event_type)
    if kind == "conversion":
        y = (y > 0).astype(float)
    frame = pd.DataFrame({"variant": units["variant"].to_numpy(), "y": y})
    frame["d"] = per_unit(after, denominator) if denominator else 0.0
    frame["x"] = per_unit(before, event_type) if kind != "ratio" else 0.0
    return frame


def arm(frame: pd.DataFrame, variant: str, column: str = "y") -> np.ndarray:
    return frame.loc[frame["variant"] == variant, column].to_numpy()


def row(result, metric: str, method: str) -> pd.Series:
    table = result.table
    return table[(table["metric"] == metric) & (table["method"] == method)].iloc[0]


def delta_lift(mean_t, var_mean_t, mean_c, var_mean_c):
    lift = mean_t / mean_c - 1
    se = np.sqrt(var_mean_t / mean_c**2 + mean_t**2 * var_mean_c / mean_c**4)
    return lift, lift - 1.959963984540054 * se, lift + 1.959963984540054 * se


# --------------------------------------------------------------------------- sums


@pytest.mark.parametrize(
    "spec, kind, event_type, denominator",
    [
        ("click", "conversion", "click", None),
        ("sum:click", "sum", "click", None),
        ("count:impression", "count", "impression", None),
        ("ratio:click/impression", "ratio", "click", "impression"),
    ],
)
def test_sums_in_the_store_equal_sums_of_the_raw_rows(
    store, ads, spec, kind, event_type, denominator
):
    frame = raw_units(ads, kind, event_type, denominator)
    expected = frame.groupby("variant").agg(
        n=("y", "size"), sum_y=("y", "sum"), sum_d=("d", "sum"), sum_x=("x", "sum")
    )
    for a, b in [("y", "y"), ("d", "d"), ("y", "d"), ("x", "x"), ("x", "y")]:
        expected[f"sum_{a}{b}"] = (frame[a] * frame[b]).groupby(frame["variant"]).sum()

    found = sufficient_statistics(store, EXPERIMENT, spec).set_index("variant")

    assert list(found.index) == ["control", "treatment"]
    # units with no events are there, as zeros: every assigned unit is counted
    assert found["n"].sum() == ads.tables["assignments"].num_rows
    for column in SUMS:
        np.testing.assert_allclose(found[column], expected.loc[found.index, column], rtol=1e-12)


# --------------------------------------------------------------------------- tests and intervals


def test_means_match_scipy_welch_and_statsmodels(result, ads):
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    frame = raw_units(ads, "sum", "click")
    t, c = arm(frame, "treatment"), arm(frame, "control")
    welch = stats.ttest_ind(t, c, equal_var=False)
    low, high = welch.confidence_interval(0.95)
    sm_low, sm_high = CompareMeans(DescrStatsW(t), DescrStatsW(c)).tconfint_diff(usevar="unequal")

    r = row(result, "sum:click", "welch")

    assert r["difference"] == pytest.approx(t.mean() - c.mean(), rel=1e-10)
    assert r["statistic"] == pytest.approx(welch.statistic, rel=1e-9)
    assert r["df"] == pytest.approx(welch.df, rel=1e-9)
    assert r["p_value"] == pytest.approx(welch.pvalue, rel=1e-7)
    assert (r["difference_low"], r["difference_high"]) == pytest.approx((low, high), rel=1e-9)
    assert (r["difference_low"], r["difference_high"]) == pytest.approx((sm_low, sm_high), rel=1e-9)
    lift = delta_lift(t.mean(), t.var(ddof=1) / t.size, c.mean(), c.var(ddof=1) / c.size)
    assert (r["lift"], r["lift_low"], r["lift_high"]) == pytest.approx(lift, rel=1e-9)


def test_conversions_match_statsmodels_two_proportion_wald(result, ads):
    from statsmodels.stats.proportion import (
        confint_proportions_2indep,
        test_proportions_2indep,
    )

    frame = raw_units(ads, "conversion", "click")
    t, c = arm(frame, "treatment"), arm(frame, "control")
    counts = dict(count1=t.sum(), nobs1=t.size, count2=c.sum(), nobs2=c.size)
    test = test_proportions_2indep(**counts, method="wald", compare="diff")
    low, high = confint_proportions_2indep(**counts, method="wald", compare="diff")

    r = row(result, "click", "proportion")

    assert (r["control_mean"], r["treatment_mean"]) == pytest.approx((c.mean(), t.mean()))
    assert r["statistic"] == pytest.approx(test.statistic, rel=1e-9)
    assert r["p_value"] == pytest.approx(test.pvalue, rel=1e-7)
    assert (r["difference_low"], r["difference_high"]) == pytest.approx((low, high), rel=1e-9)
    pt, pc = t.mean(), c.mean()
    lift = delta_lift(pt, pt * (1 - pt) / t.size, pc, pc * (1 - pc) / c.size)
    assert (r["lift"], r["lift_low"], r["lift_high"]) == pytest.approx(lift, rel=1e-9)


def test_ratio_metric_matches_the_delta_method_by_linearization(result, ads):
    frame = raw_units(ads, "ratio", "click", "impression")

    def ratio_and_variance(variant):
        y, d = arm(frame, variant, "y"), arm(frame, variant, "d")
        ratio = y.sum() / d.sum()
        # each unit's influence on the ratio: (y - R d) / mean(d)
        influence = (y - ratio * d) / d.mean()
        return ratio, influence.var(ddof=1) / y.size

    (rt, vt), (rc, vc) = ratio_and_variance("treatment"), ratio_and_variance("control")
    se = np.sqrt(vt + vc)
    z = (rt - rc) / se

    r = row(result, "ratio:click/impression", "ratio")

    assert (r["treatment_mean"], r["control_mean"]) == pytest.approx((rt, rc), rel=1e-10)
    assert r["se_difference"] == pytest.approx(se, rel=1e-8)
    assert r["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-6)
    assert r["difference_low"] == pytest.approx(rt - rc - stats.norm.ppf(0.975) * se, rel=1e-8)
    assert (r["lift"], r["lift_low"], r["lift_high"]) == pytest.approx(
        delta_lift(rt, vt, rc, vc), rel=1e-8
    )


@pytest.mark.parametrize("spec, kind", [("sum:click", "sum"), ("click", "conversion")])
def test_cuped_matches_welch_on_the_adjusted_rows(result, ads, spec, kind):
    frame = raw_units(ads, kind, "click")
    x, y = frame["x"].to_numpy(), frame["y"].to_numpy()
    theta = np.cov(x, y, ddof=1)[0, 1] / x.var(ddof=1)
    frame["adjusted"] = y - theta * (x - x.mean())
    t, c = arm(frame, "treatment", "adjusted"), arm(frame, "control", "adjusted")
    welch = stats.ttest_ind(t, c, equal_var=False)
    plain = stats.ttest_ind(arm(frame, "treatment"), arm(frame, "control"), equal_var=False)

    r = row(result, spec, "cuped")

    assert r["primary"]  # the verdict uses the adjusted analysis
    assert r["theta"] == pytest.approx(theta, rel=1e-9)
    assert r["difference"] == pytest.approx(t.mean() - c.mean(), rel=1e-9)
    assert r["p_value"] == pytest.approx(welch.pvalue, rel=1e-6)
    assert (r["difference_low"], r["difference_high"]) == pytest.approx(
        welch.confidence_interval(0.95), rel=1e-9
    )
    se_plain = (plain.confidence_interval().high - plain.confidence_interval().low) / 2
    se_cuped = (r["difference_high"] - r["difference_low"]) / 2
    assert r["variance_reduction"] == pytest.approx(
        1 - (se_cuped / se_plain) ** 2,
        rel=1e-3,  # t quantiles differ in the 5th digit
    )
    assert r["variance_reduction"] > 0  # pre-period clicks predict post-period clicks


@pytest.mark.parametrize("correction, method", [("holm", "holm"), ("bh", "fdr_bh")])
def test_corrections_across_metrics_match_statsmodels(store, correction, method):
    from statsmodels.stats.multitest import multipletests

    specs = "click,sum:click,count:impression,ratio:click/impression"
    out = readout(store, EXPERIMENT, specs, correction=correction, sequential=False)
    primary = out.primary

    expected = multipletests(primary["p_value"], alpha=0.05, method=method)[1]

    np.testing.assert_allclose(primary["adjusted_p_value"], expected, rtol=1e-12)
    assert list(primary["significant"]) == list(expected < 0.05)
    assert len(primary) == 4  # one primary row per metric


# --------------------------------------------------------------------------- readout


def test_a_healthy_split_is_not_flagged_and_matches_scipy(result, ads):
    counts = ads.truth["units_per_variant"]
    expected = stats.chisquare([counts["control"], counts["treatment"]])

    assert result.srm["observed"] == counts
    assert result.srm["p_value"] == pytest.approx(expected.pvalue, rel=1e-12)
    assert not result.srm["flagged"]
    assert not result.verdict().startswith("**Do not act")


def test_a_planted_sample_ratio_mismatch_is_flagged_first(tmp_path):
    data = make_ads(users=6000, days=3, seed=2, srm=0.1)
    store = load(f"duckdb://{tmp_path / 'srm.duckdb'}", data)
    counts = data.truth["units_per_variant"]

    out = readout(store, EXPERIMENT, "sum:click", sequential=False)

    assert data.truth["lost_units"]["treatment"] > 0
    assert out.srm["observed"] == counts
    assert out.srm["p_value"] == pytest.approx(
        stats.chisquare([counts["control"], counts["treatment"]]).pvalue, rel=1e-9
    )
    assert out.srm["p_value"] < 0.001 and out.srm["flagged"]
    assert out.verdict().startswith("**Do not act on this readout: sample ratio mismatch.**")
    assert out.summary().startswith("**Do not act")
    headline = out.headline()
    assert headline.status == "act" and "sample ratio mismatch" in headline.text


@pytest.mark.slow
def test_the_readout_recovers_the_planted_lift(tmp_path):
    data = make_ads(users=20_000, days=14, seed=3)
    store = load(f"duckdb://{tmp_path / 'big.duckdb'}", data)

    out = readout(store, EXPERIMENT, "sum:click,ratio:click/impression")

    truth = data.truth["true_lift"]
    for metric, by_variant in out.results().items():
        lift = by_variant["treatment"]
        assert lift["ci_low"] <= truth <= lift["ci_high"], (metric, lift)
        assert lift["ci_low"] > 0, (metric, lift)  # and the data show it is positive
    assert out.verdict().startswith("**treatment raises")
    # The headline is the decision, with the test's dates and what it could detect.
    headline = out.headline()
    assert headline.status == "act" and headline.text.startswith("Ship treatment: it raises")
    assert "Over 14 day(s)" in headline.text and "(80% power)" in headline.text
    detectable = out.minimum_detectable_lift()
    standard_error = (out.primary["lift_high"] - out.primary["lift_low"]) / (2 * 1.959964)
    assert detectable["minimum_detectable_lift"].to_numpy() == pytest.approx(
        2.801585 * standard_error.to_numpy(), rel=1e-4
    )


def test_a_readout_without_a_significant_difference_says_keep_running(store):
    # A week of 6,000 users is too little for this creative's click lift.
    headline = readout(store, EXPERIMENT, "sum:click", sequential=False).headline()
    assert headline.status == "watch" and headline.text.startswith("Keep ads_creative running")
    assert headline.figures[0].label == "sum:click lift"


def test_results_are_plain_json_in_the_recorded_shape(result):
    results = result.results()

    assert set(results) == {"click", "sum:click", "ratio:click/impression"}
    for by_variant in results.values():
        assert set(by_variant) == {"treatment"}
        assert set(by_variant["treatment"]) == {"lift", "ci_low", "ci_high", "p_value"}
        values = by_variant["treatment"]
        assert values["ci_low"] <= values["lift"] <= values["ci_high"]
    everything = result.to_dict()
    assert json.loads(json.dumps(everything)) == everything
    assert everything["verdict"] == result.verdict()


# --------------------------------------------------------------------------- sequential


def test_each_look_counts_the_units_and_events_before_it(store, ads):
    looks = sequential_statistics(store, EXPERIMENT, "sum:click")
    checkpoint = pd.Timestamp(looks["checkpoint"].iloc[len(looks) // 2])
    frame = raw_units(ads, "sum", "click", until=checkpoint.tz_localize("UTC"))
    # the covariate does not depend on the look: it is all history before assignment
    frame["x"] = (
        raw_units(ads, "sum", "click")
        .set_index(ads.tables["assignments"]["unit_id"].to_pandas())
        .loc[
            ads.tables["assignments"]
            .to_pandas()
            .pipe(lambda a: a[a["assigned_at"] < checkpoint.tz_localize("UTC")])["unit_id"],
            "x",
        ]
        .to_numpy()
    )

    at = looks[looks["checkpoint"] == checkpoint].set_index("variant")

    for variant in ("control", "treatment"):
        y, x = arm(frame, variant), arm(frame, variant, "x")
        assert at.loc[variant, "n"] == y.size
        assert at.loc[variant, "sum_y"] == pytest.approx(y.sum())
        assert at.loc[variant, "sum_yy"] == pytest.approx((y * y).sum())
        assert at.loc[variant, "sum_xy"] == pytest.approx((x * y).sum())


def test_the_last_look_is_the_readout_and_the_sequence_is_wider(result):
    looks = result.sequential
    assert set(looks["metric"]) == {"click", "sum:click", "ratio:click/impression"}
    primary = result.primary.set_index("metric")
    for metric, part in looks.groupby("metric"):
        part = part.sort_values("checkpoint")
        last = part.iloc[-1]
        assert last["lift"] == pytest.approx(primary.loc[metric, "lift"], rel=1e-9)
        assert last["lift_low"] == pytest.approx(primary.loc[metric, "lift_low"], rel=1e-9)
        assert (part["cs_low"] < part["lift_low"]).all()
        assert (part["cs_high"] > part["lift_high"]).all()
        assert (np.diff(part["always_valid_p_value"]) <= 0).all()
        assert (np.diff(part["n_control"]) >= 0).all()


# --------------------------------------------------------------------------- errors


def test_mistakes_get_errors_that_say_what_to_do(store):
    with pytest.raises(
        ExperimentError, match=r"No assignments for experiment 'nope'.*ads_creative"
    ):
        readout(store, "nope", "click")
    with pytest.raises(InvalidArgument, match="unknown kind 'avg'"):
        readout(store, EXPERIMENT, "avg:click")
    with pytest.raises(InvalidArgument, match="ratio:NUMERATOR/DENOMINATOR"):
        readout(store, EXPERIMENT, "ratio:click")
    with pytest.raises(ExperimentError, match="Control 'baseline' is not a variant"):
        readout(store, EXPERIMENT, "click", control="baseline")
    with pytest.raises(InvalidArgument, match="alpha must be in"):
        readout(store, EXPERIMENT, "click", alpha=5)
    with pytest.raises(InvalidArgument, match="correction must be"):
        readout(store, EXPERIMENT, "click", correction="bonferroni")
    with pytest.raises(InvalidArgument, match="repeated"):
        readout(store, EXPERIMENT, "click,click")


def test_a_sum_over_events_without_values_is_refused_not_shrunk(memory_store):
    at = pd.Timestamp("2026-01-01", tz="UTC")
    assignments = pd.DataFrame(
        {
            "experiment": "e",
            "unit_id": ["u1", "u2", "u3", "u4"],
            "variant": ["a", "b"] * 2,
            "assigned_at": at,
        }
    )
    events = pd.DataFrame(
        {
            "event_id": ["1", "2", "3"],
            "ts": at + pd.Timedelta(hours=1),
            "user_id": ["u1", "u2", "u3"],
            "event_type": "purchase",
            "value": [5.0, None, 2.0],
        }
    )
    ingest(memory_store, assignments, table="assignments")
    ingest(memory_store, events)

    with pytest.raises(
        ExperimentError, match=r"1 of the purchase events .* have no value.*count:purchase"
    ):
        readout(memory_store, "e", "sum:purchase", sequential=False)
    counted = readout(memory_store, "e", "count:purchase", sequential=False)
    assert counted.primary["n_treatment"].iloc[0] == 2


def test_a_readout_as_of_a_time_sees_only_units_and_events_before_it(store, ads):
    until = pd.Timestamp("2026-01-04", tz="UTC")
    frame = raw_units(ads, "sum", "click", until=until)

    out = readout(store, EXPERIMENT, "sum:click", until=until.to_pydatetime(), cuped=False)

    r = row(out, "sum:click", "welch")
    t, c = arm(frame, "treatment"), arm(frame, "control")
    assert (r["n_treatment"], r["n_control"]) == (t.size, c.size)
    assert t.size + c.size < ads.tables["assignments"].num_rows
    assert r["p_value"] == pytest.approx(stats.ttest_ind(t, c, equal_var=False).pvalue, rel=1e-7)
    last = out.sequential.iloc[-1]
    assert last["checkpoint"] == pd.Timestamp("2026-01-04")  # the look at `until` is the readout
    assert last["lift"] == pytest.approx(r["lift"], rel=1e-9)


def test_cuped_can_adjust_by_another_pre_period_measurement(store, ads, result):
    clicks = raw_units(ads, "sum", "click")
    impressions = raw_units(ads, "count", "impression")
    x, y = impressions["x"].to_numpy(), clicks["y"].to_numpy()
    theta = np.cov(x, y, ddof=1)[0, 1] / x.var(ddof=1)
    clicks["adjusted"] = y - theta * (x - x.mean())
    t, c = arm(clicks, "treatment", "adjusted"), arm(clicks, "control", "adjusted")

    out = readout(store, EXPERIMENT, "sum:click", covariate="count:impression", sequential=False)

    r = row(out, "sum:click", "cuped")
    assert r["covariate"] == "count:impression"
    assert r["theta"] == pytest.approx(theta, rel=1e-9)
    assert r["p_value"] == pytest.approx(stats.ttest_ind(t, c, equal_var=False).pvalue, rel=1e-6)
    # past impressions predict future clicks better than past clicks do
    assert r["variance_reduction"] > row(result, "sum:click", "cuped")["variance_reduction"]
    assert row(result, "sum:click", "cuped")["covariate"] == "sum:click"
    assert "count:impression" in out.cuped_summary()
    with pytest.raises(InvalidArgument, match="not a ratio"):
        readout(store, EXPERIMENT, "sum:click", covariate="ratio:click/impression")
    with pytest.raises(InvalidArgument, match="not read out"):
        readout(store, EXPERIMENT, "sum:click", covariate={"click": "count:impression"})


def test_several_treatments_are_each_compared_with_the_control_and_corrected_together(tmp_path):
    data = make_ads(users=3000, creatives=3, days=3, seed=4)
    store = load(f"duckdb://{tmp_path / 'abn.duckdb'}", data)

    out = readout(store, EXPERIMENT, "click,sum:click", sequential=False)

    assert out.control == "control" and out.treatments == ["treatment_1", "treatment_2"]
    assert {v for by in out.results().values() for v in by} == {"treatment_1", "treatment_2"}
    frame = raw_units(data, "sum", "click")
    for variant in out.treatments:
        welch = stats.ttest_ind(arm(frame, variant), arm(frame, "control"), equal_var=False)
        r = out.table[(out.table["variant"] == variant) & (out.table["method"] == "welch")]
        assert r["p_value"].iloc[0] == pytest.approx(welch.pvalue, rel=1e-7)
    assert len(out.primary) == 4  # 2 metrics x 2 treatments in one Holm family
    assert set(out.srm["observed"]) == {"control", "treatment_1", "treatment_2"}


def test_a_triggered_readout_keeps_exposed_units_from_their_first_exposure(store, ads):
    units = ads.tables["assignments"].to_pandas()
    events = ads.tables["events"].to_pandas().merge(units, left_on="user_id", right_on="unit_id")
    after = events[events["ts"] >= events["assigned_at"]]
    first = after[after["event_type"] == "impression"].groupby("unit_id")["ts"].min()
    frame = raw_units(ads, "sum", "click").assign(unit_id=units["unit_id"].to_numpy())
    frame = frame[frame["unit_id"].isin(first.index)]
    # in the ads set a unit is assigned at its first impression, so clicks count the same
    t, c = arm(frame, "treatment"), arm(frame, "control")

    out = readout(store, EXPERIMENT, "sum:click", exposure="impression", cuped=False)

    r = row(out, "sum:click", "welch")
    assert (r["n_treatment"], r["n_control"]) == (t.size, c.size)
    assert t.size + c.size == first.size < units.shape[0]  # never-exposed units are left out
    assert r["p_value"] == pytest.approx(stats.ttest_ind(t, c, equal_var=False).pvalue, rel=1e-7)
    assert sum(out.srm["observed"].values()) == first.size
    assert any(note.startswith("Triggered analysis") for note in out.notes)
    assert out.sequential["n_control"].iloc[-1] == c.size
    with pytest.raises(InvalidArgument, match="exposure must be"):
        readout(store, EXPERIMENT, "sum:click", exposure="", sequential=False)


def test_the_ads_set_plants_a_sample_ratio_mismatch_only_when_asked():
    plain, lossy = (
        make_ads(users=2000, days=2, seed=1),
        make_ads(users=2000, days=2, seed=1, srm=0.2),
    )

    assert plain.truth["srm"] == 0.0 and plain.truth["lost_units"] == {"control": 0, "treatment": 0}
    assert lossy.tables["events"].equals(plain.tables["events"])  # only assignment rows go
    lost = lossy.truth["lost_units"]
    assert lost["control"] == 0 and 0.15 < lost["treatment"] / 1000 < 0.25
    assert lossy.tables["assignments"].num_rows == 2000 - lost["treatment"]
    with pytest.raises(InvalidArgument, match=r"srm must be a number in \[0.0, 1.0\), got 1"):
        make_ads(srm=1)


def test_a_misspelled_metric_is_an_error_that_lists_the_event_types(store):
    with pytest.raises(
        InvalidArgument, match=r"event type 'clik'.*Event types there: click, impression"
    ):
        readout(store, EXPERIMENT, "clik")
    with pytest.raises(InvalidArgument, match=r"'purchase'"):
        readout(store, EXPERIMENT, "ratio:purchase/impression")


def test_a_scope_keeps_another_products_events_of_the_same_ids_out(ads, tmp_path):
    from workbench.scope import Scope

    url = f"duckdb://{tmp_path / 'both.duckdb'}"
    both = load(url, ads)
    units = both.sql("SELECT unit_id FROM assignments LIMIT 500").column("unit_id").to_pylist()
    other = pd.DataFrame(
        {
            "event_id": [f"shop-{i}" for i in range(len(units))],
            "ts": "2026-01-05T12:00:00Z",
            "user_id": units,
            "event_type": "click",
            "value": 1.0,
            "source": "shop",  # same ids, another product: not the test's clicks
        }
    )
    ingest(both, other)
    mixed = readout(both, EXPERIMENT, "sum:click", sequential=False)
    scoped = readout(
        both,
        EXPERIMENT,
        "sum:click",
        sequential=False,
        scope=Scope.parse({"sources": ["synthetic.ads"]}),
    )
    alone = readout(load("duckdb://:memory:", ads), EXPERIMENT, "sum:click", sequential=False)
    assert scoped.results() == alone.results()
    assert mixed.results() != alone.results()
