"""The experiment readout: verdict first, then the numbers behind it.

:func:`readout` computes sums in the store (:mod:`~workbench.experiments.statistics`),
turns them into tests and intervals (:mod:`~workbench.experiments.analysis`),
corrects p-values across metrics, checks the split for sample ratio mismatch,
and follows each lift over time with always-valid confidence sequences
(:mod:`~workbench.experiments.sequential`). The :class:`Readout` it returns is
what the readout notebook shows and records.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.exceptions import ExperimentError, InvalidArgument
from workbench.experiments.analysis import adjust_p_values, compare, sample_ratio_test
from workbench.experiments.assignment import Design, experiment_design
from workbench.experiments.sequential import SEQUENTIAL_COLUMNS, sequential_view
from workbench.experiments.statistics import (
    Metric,
    parse_metric,
    parse_metrics,
    sufficient_statistics,
)
from workbench.scope import Scope

if TYPE_CHECKING:
    import pandas as pd

    from workbench.headline import Headline
    from workbench.store import Store

__all__ = ["Readout", "readout"]

#: The analysis of each metric kind when not adjusted by CUPED.
_METHOD = {"conversion": "proportion", "count": "welch", "sum": "welch", "ratio": "ratio"}
_CORRECTIONS = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "no"}


@dataclass
class Readout:
    """An experiment's readout.

    Attributes
    ----------
    experiment : str
    design : Design
        Variants, traffic weights and salt the split is checked against.
    control : str
    alpha : float
        1 - confidence level; a result is significant when its corrected
        p-value is below it.
    correction : {"holm", "bh", "none"}
        Correction of p-values across metrics and treatments.
    metrics : list of Metric
    srm : dict
        :func:`~workbench.experiments.analysis.sample_ratio_test` of the split.
    table : pandas.DataFrame
        One row per metric, treatment and method (``unadjusted``, and ``cuped``
        where a pre-period covariate applies): means, difference and relative
        lift with intervals, p-value, ``primary`` (the row the verdict uses),
        ``adjusted_p_value`` and ``significant`` (primary rows only).
    sequential : pandas.DataFrame
        One row per metric, treatment and daily look: the primary lift, its
        fixed-horizon interval, the always-valid confidence sequence
        (``cs_low``, ``cs_high``) and the always-valid p-value.
    notes : list of str
        Things the reader should know (design inferred, CUPED not applicable ...).
    """

    experiment: str
    design: Design
    control: str
    alpha: float
    correction: str
    metrics: list[Metric]
    srm: dict[str, Any]
    table: pd.DataFrame
    sequential: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    @property
    def primary(self) -> pd.DataFrame:
        """The rows of :attr:`table` the verdict is based on."""
        return self.table[self.table["primary"]].reset_index(drop=True)

    @property
    def treatments(self) -> list[str]:
        """Designed variants other than the control."""
        return [v for v in self.design.variants if v != self.control]

    def verdict(self) -> str:
        """The decision in one Markdown paragraph: trust, then what moved."""
        if self.srm["flagged"]:
            return (
                f"**Do not act on this readout: sample ratio mismatch.** The split "
                f"{_split(self.srm['observed'])} is not the designed "
                f"{_split(self.srm['expected'])} (chi-square p = {_p(self.srm['p_value'])} < "
                f"{self.srm['threshold']}). Units were lost or added unevenly, so the variants "
                "are no longer comparable; find the cause in assignment or logging first."
            )
        primary = self.primary
        winners = primary[primary["significant"] & (primary["difference"] > 0)]
        losers = primary[primary["significant"] & (primary["difference"] < 0)]
        if winners.empty and losers.empty:
            return (
                f"**No significant difference** on any metric at alpha = {self.alpha} "
                f"({_CORRECTIONS[self.correction]} correction across {len(primary)} comparisons). "
                "The intervals below show which effects the data cannot rule out."
            )
        parts = []
        for rows, word in ((winners, "raises"), (losers, "lowers")):
            for row in rows.itertuples():
                parts.append(f"**{row.variant} {word} {row.metric}** by {_lift_text(row)}")
        others = len(primary) - len(winners) - len(losers)
        tail = f" {others} other comparison(s) show no significant difference." if others else ""
        return (
            "; ".join(parts)
            + f" ({_CORRECTIONS[self.correction]}-corrected p < {self.alpha}; split is healthy)."
            + tail
        )

    def minimum_detectable_lift(self, power: float = 0.8) -> pd.DataFrame:
        """Per primary comparison, the smallest relative lift the test detects with ``power``.

        From the lift's standard error (its interval's half-width over the normal
        quantile): ``(z(1 - alpha/2) + z(power)) x SE``. A true lift below it would
        usually read as no significant difference.
        """
        from scipy.stats import norm

        if not 0 < power < 1:
            raise InvalidArgument(f"power={power!r} must be a probability in (0, 1).")
        primary = self.primary
        z = norm.ppf(1 - self.alpha / 2)
        standard_error = (primary["lift_high"] - primary["lift_low"]) / (2 * z)
        out = primary[["metric", "variant"]].copy()
        out["minimum_detectable_lift"] = (z + norm.ppf(power)) * standard_error
        return out

    def period(self) -> tuple[Any, Any, int] | None:
        """First and last daily look of the test and how many days it covers, or None."""
        if self.sequential is None or self.sequential.empty:
            return None
        looks = sorted(self.sequential["checkpoint"].unique())
        return looks[0], looks[-1], len(looks)

    def headline(self) -> Headline:
        """The decision in one sentence: ship, do not ship, keep running, or fix the split.

        The first figure is the lift of the first primary comparison.
        """
        from workbench.headline import Figure, Headline

        primary = self.primary
        figures = []
        if len(primary):
            first = primary.iloc[0]
            figures = [
                Figure(f"{first['metric']} lift", _finite_or_none(first["lift"]), "change"),
                Figure("p-value", _finite_or_none(first.get("adjusted_p_value")), "number"),
            ]
        figures.append(Figure("units", float(sum(self.srm["observed"].values())), "count"))
        detectable = self.minimum_detectable_lift() if len(primary) else None
        if detectable is not None:
            figures.append(
                Figure(
                    "detectable lift (80% power)",
                    _finite_or_none(detectable["minimum_detectable_lift"].iloc[0]),
                    "percent",
                )
            )
        context = ""
        period = self.period()
        if period is not None:
            start, end, days = period
            context = f" Over {days} day(s), {_day(start)} to {_day(end)}"
            if detectable is not None and _finite_or_none(
                detectable["minimum_detectable_lift"].iloc[0]
            ):
                context += (
                    f"; it could detect a lift of "
                    f"{detectable['minimum_detectable_lift'].iloc[0]:.1%} or more (80% power)"
                )
            context += "."
        if self.srm["flagged"]:
            return Headline(
                f"Do not act on {self.experiment}: the split is off (sample ratio mismatch), "
                "so the variants are not comparable until the cause is found.",
                "act",
                figures,
            )
        winners = primary[primary["significant"] & (primary["difference"] > 0)]
        losers = primary[primary["significant"] & (primary["difference"] < 0)]
        if not losers.empty:
            row = next(losers.itertuples())
            return Headline(
                f"Do not ship {row.variant}: it lowers {row.metric} by {_lift_text(row)}.{context}",
                "act",
                figures,
            )
        if not winners.empty:
            row = next(winners.itertuples())
            return Headline(
                f"Ship {row.variant}: it raises {row.metric} by {_lift_text(row)}, and no "
                f"metric got worse.{context}",
                "act",
                figures,
            )
        return Headline(
            f"Keep {self.experiment} running: no significant difference yet on "
            f"{len(primary)} comparison(s) at alpha {self.alpha}.{context}",
            "watch",
            figures,
        )

    def srm_summary(self) -> str:
        """The sample ratio check in one Markdown paragraph."""
        design = "recorded at assignment" if self.design.recorded else "assumed equal"
        status = "**FLAGGED**" if self.srm["flagged"] else "healthy"
        return (
            f"Split {status}: observed {_split(self.srm['observed'])}, expected "
            f"{_split(self.srm['expected'])} (weights {design}); chi-square = "
            f"{self.srm['statistic']:.2f}, p = {_p(self.srm['p_value'])}, flagged below "
            f"{self.srm['threshold']}."
        )

    def cuped_summary(self) -> str:
        """What CUPED did, per metric, in Markdown (or why it was not applied)."""
        cuped = self.table[self.table["method"] == "cuped"]
        if cuped.empty:
            return "CUPED was not applied (no metric with a pre-period covariate, or cuped=False)."
        lines = []
        for row in cuped.itertuples():
            lines.append(
                f"- {row.metric}, {row.variant}: adjusted by pre-period {row.covariate}, "
                f"theta = {row.theta:.3g}; it removed {row.variance_reduction:.1%} of the "
                "variance of the difference."
            )
        return "\n".join(lines)

    @property
    def has_cuped(self) -> bool:
        """Whether any metric was adjusted by CUPED."""
        return bool((self.table["method"] == "cuped").any())

    def summary(self) -> str:
        """The verdict, then one line per metric and treatment, in Markdown."""
        lines = [self.verdict(), ""]
        for row in self.primary.itertuples():
            adjusted = (
                "" if self.correction == "none" else f", corrected p = {_p(row.adjusted_p_value)}"
            )
            lines.append(
                f"- {row.metric} ({row.description}), {row.variant} vs {self.control}: "
                f"{_lift_text(row)}; p = {_p(row.p_value)}{adjusted} [{row.method}]"
            )
        lines += ["", self.srm_summary()]
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def results(self) -> dict[str, dict[str, dict[str, float | None]]]:
        """``{metric: {variant: {"lift", "ci_low", "ci_high", "p_value"}}}`` of the primary rows.

        The p-value is the uncorrected one of the test; :meth:`adjusted_p_values`
        gives the corrected ones. Undefined values (control mean 0) are None.
        """
        out: dict[str, dict[str, dict[str, float | None]]] = {}
        for row in self.primary.itertuples():
            out.setdefault(row.metric, {})[row.variant] = {
                "lift": _finite(row.lift),
                "ci_low": _finite(row.lift_low),
                "ci_high": _finite(row.lift_high),
                "p_value": _finite(row.p_value),
            }
        return out

    def adjusted_p_values(self) -> dict[str, dict[str, float | None]]:
        """``{metric: {variant: corrected p-value}}``."""
        out: dict[str, dict[str, float | None]] = {}
        for row in self.primary.itertuples():
            out.setdefault(row.metric, {})[row.variant] = _finite(row.adjusted_p_value)
        return out

    def variance_reduction(self) -> dict[str, dict[str, float | None]]:
        """``{metric: {variant: share of the difference's variance CUPED removed}}``."""
        cuped = self.table[self.table["method"] == "cuped"]
        out: dict[str, dict[str, float | None]] = {}
        for row in cuped.itertuples():
            out.setdefault(row.metric, {})[row.variant] = _finite(row.variance_reduction)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON data (for ``--json`` and records)."""
        return {
            "experiment": self.experiment,
            "design": self.design.to_dict(),
            "control": self.control,
            "alpha": self.alpha,
            "correction": self.correction,
            "metrics": [m.name for m in self.metrics],
            "verdict": self.verdict(),
            "srm": self.srm,
            "results": self.results(),
            "adjusted_p_values": self.adjusted_p_values(),
            "variance_reduction": self.variance_reduction(),
            "table": _records(self.table),
            "notes": self.notes,
        }


def readout(
    store: Store,
    experiment: str,
    metrics: str | Sequence[str] = "click",
    *,
    control: str | None = None,
    alpha: float = 0.05,
    correction: str = "holm",
    cuped: bool = True,
    weights: Mapping[str, float] | None = None,
    until: datetime | None = None,
    pre_days: int | None = None,
    covariate: str | Mapping[str, str] | None = None,
    exposure: str | None = None,
    sequential: bool = True,
    max_looks: int = 30,
    scope: Scope | str | Mapping[str, Any] | None = None,
) -> Readout:
    """Read out an experiment from the store.

    Parameters
    ----------
    store : Store
    experiment : str
        Name in the ``assignments`` table.
    metrics : str or sequence of str
        Metric specifications, comma-separated text or a list: ``EVENT_TYPE``
        (conversion), ``count:EVENT_TYPE``, ``sum:EVENT_TYPE``,
        ``ratio:NUMERATOR/DENOMINATOR`` (see :mod:`workbench.experiments.statistics`).
    control : str, optional
        The control variant; the design's first variant by default.
    alpha : float
        1 - confidence level; significance threshold of corrected p-values.
    correction : {"holm", "bh", "none"}
        Multiple-testing correction across metrics and treatments.
    cuped : bool
        Adjust by the pre-period covariate where one applies (the verdict then
        uses the adjusted analysis; the unadjusted rows stay in the table).
    weights : mapping of str to float, optional
        Designed traffic shares, to check the split against; by default those
        recorded at assignment, else equal.
    until : datetime, optional
        Count only events before this UTC time (default: all).
    pre_days : int, optional
        Days before assignment the covariate looks back (default: all history).
    covariate : str or mapping of str to str, optional
        The pre-period measurement CUPED adjusts by, as a metric specification
        (e.g. ``"count:impression"``), for every metric or per metric name;
        by default each metric's own measurement before assignment.
    exposure : str, optional
        Analyse only units exposed after assignment (a triggered analysis): an
        event type, or ``"deliveries"`` for deliveries tagged with the
        experiment. Each unit then counts from its first exposure, and the split
        is checked on exposed units. Exposure must not depend on the variant.
    sequential : bool
        Also compute the daily looks and confidence sequences.
    max_looks : int
        Most daily looks in the sequential view.
    scope : Scope or str, optional
        Count only the events of this scope (its name in ``workbench.toml``): the
        test's own events, never another product's under the same unit id.

    Returns
    -------
    Readout

    Raises
    ------
    ExperimentError
        Unknown experiment or control, or data that cannot be analysed.
    InvalidArgument
        A bad metric, alpha or correction, or a metric naming an event type that no
        event in scope has (a typo such as ``clik`` would read as "no difference").
    """
    import pandas as pd

    if not 0 < alpha < 1:
        raise InvalidArgument(f"alpha must be in (0, 1), got {alpha!r}.")
    if correction not in _CORRECTIONS:
        raise InvalidArgument(f"correction must be holm, bh or none, got {correction!r}.")
    parsed = parse_metrics(metrics)
    read_scope = Scope.resolve(scope)
    design = experiment_design(store, experiment)
    check_event_types(store, [*parsed, *_covariate_metrics(covariate)], read_scope, exposure)
    notes = []
    if weights is not None:
        design = Design(experiment, list(weights), _shares(weights), design.salt, design.recorded)
    elif not design.recorded:
        notes.append(
            "The assignments record no design (they were made elsewhere); the split is checked "
            "against equal shares of the variants found. Pass weights= if it was not equal."
        )
    control = design.variants[0] if control is None else control
    if control not in design.variants:
        raise ExperimentError(
            f"Control {control!r} is not a variant of {experiment!r}: {design.variants}."
        )

    if exposure is not None:
        notes.append(
            f"Triggered analysis: only units exposed ({exposure}) after assignment are read out, "
            "each from its first exposure; the split is checked on exposed units."
        )
    covariates = _covariates(covariate, parsed)
    rows, sums_by_metric = [], {}
    for metric in parsed:
        stats = sufficient_statistics(
            store,
            experiment,
            metric,
            until=until,
            pre_days=pre_days,
            covariate=covariates[metric.name],
            exposure=exposure,
            scope=read_scope,
        )
        sums = {r["variant"]: r for r in stats.to_dict("records")}
        sums_by_metric[metric.name] = sums
        rows += _compare_metric(
            metric,
            sums,
            control,
            design,
            alpha=alpha,
            covariate=(covariates[metric.name] or _default_covariate(metric)) if cuped else None,
            notes=notes,
        )
    counts = {v: int(s["n"]) for v, s in sums_by_metric[parsed[0].name].items()}
    srm = sample_ratio_test(counts, dict(zip(design.variants, design.weights, strict=True)))

    table = pd.DataFrame(rows)
    primary = table["primary"].to_numpy()
    adjusted = np.full(len(table), np.nan)
    adjusted[primary] = adjust_p_values(
        table.loc[primary, "p_value"].to_numpy(), method=correction, alpha=alpha
    )
    table["adjusted_p_value"] = adjusted
    table["significant"] = primary & (adjusted < alpha)

    looks = pd.DataFrame(columns=SEQUENTIAL_COLUMNS)
    if sequential:
        method_of = {(r["metric"], r["variant"]): r["method"] for r in rows if r["primary"]}
        frames = [
            sequential_view(
                store,
                experiment,
                metric,
                control,
                method_of,
                alpha=alpha,
                max_looks=max_looks,
                until=until,
                pre_days=pre_days,
                covariate=covariates[metric.name],
                exposure=exposure,
                scope=read_scope,
            )
            for metric in parsed
        ]
        looks = pd.concat([f for f in frames if not f.empty] or [looks], ignore_index=True)
    return Readout(experiment, design, control, alpha, correction, parsed, srm, table, looks, notes)


def check_event_types(
    store: Store, metrics: Sequence[Metric], scope: Scope, exposure: str | None = None
) -> None:
    """Refuse metrics (or an exposure) naming an event type that no event in scope has.

    A misspelled event type (``clik``) would count zero for every unit and read out as
    a clean "no significant difference"; this names it and the event types there are.
    """
    wanted = {t for metric in metrics for t in metric.event_types}
    if isinstance(exposure, str) and exposure.strip() and exposure != "deliveries":
        wanted.add(exposure)
    present = {
        row["event_type"]
        for row in store.sql(
            "SELECT DISTINCT event_type FROM events "
            f"WHERE event_type IS NOT NULL AND {scope.events_sql()}"
        ).to_pylist()
    }
    missing = sorted(wanted - present)
    if missing:
        where = "the store" if scope.is_everything else f"scope {scope.describe()}"
        raise InvalidArgument(
            f"No event in {where} has event type {', '.join(map(repr, missing))}, so a readout "
            f"of it would count zero for every unit. Event types there: "
            f"{', '.join(sorted(present)) or 'none'}. Check the spelling in metrics."
        )


def _covariate_metrics(covariate: str | Mapping[str, str] | None) -> list[Metric]:
    if covariate is None:
        return []
    specs = [covariate] if isinstance(covariate, str) else list(covariate.values())
    return [parse_metric(spec) for spec in specs]


def _compare_metric(metric, sums, control, design, *, alpha, covariate, notes) -> list[dict]:
    """Table rows of one metric: each treatment against the control, unadjusted and CUPED.

    ``covariate`` names the pre-period measurement in the sums' ``x`` (None: no CUPED).
    """
    if control not in sums:
        raise ExperimentError(f"The control {control!r} has no assigned units; nothing to compare.")
    rows = []
    for variant in [v for v in design.variants if v != control]:
        if variant not in sums:
            notes.append(f"{variant} has no assigned units; it is not compared.")
            continue
        base = {
            "metric": metric.name,
            "description": metric.describe(),
            "variant": variant,
            "n_control": int(sums[control]["n"]),
            "n_treatment": int(sums[variant]["n"]),
            "alpha": alpha,
        }
        plain = _scalars(
            compare(sums[variant], sums[control], method=_METHOD[metric.kind], alpha=alpha)
        )
        adjusted = None
        if covariate is not None and metric.has_covariate:
            adjusted = _scalars(compare(sums[variant], sums[control], method="cuped", alpha=alpha))
            if adjusted["theta"] == 0.0:
                notes.append(
                    f"{metric.name}: the pre-period covariate does not vary, so CUPED changes "
                    "nothing; the unadjusted analysis is used."
                )
                adjusted = None
        elif covariate is not None and not any("ratio metrics" in n for n in notes):
            notes.append("CUPED is not applied to ratio metrics; they use the delta method alone.")
        rows.append({**base, "method": _METHOD[metric.kind], "primary": adjusted is None, **plain})
        if adjusted is not None:
            rows.append(
                {**base, "method": "cuped", "primary": True, "covariate": covariate, **adjusted}
            )
    return rows


def _covariates(
    covariate: str | Mapping[str, str] | None, metrics: list[Metric]
) -> dict[str, str | None]:
    """The covariate specification of each metric (None: its own pre-period measurement)."""
    names = [m.name for m in metrics]
    if covariate is None or isinstance(covariate, str):
        return dict.fromkeys(names, covariate)
    unknown = sorted(set(covariate) - set(names))
    if unknown:
        raise InvalidArgument(f"covariate names metrics {unknown} that are not read out: {names}.")
    return {name: covariate.get(name) for name in names}


def _default_covariate(metric: Metric) -> str:
    return f"count:{metric.event_type}" if metric.kind == "conversion" else metric.name


# --------------------------------------------------------------------------- formatting


def _shares(weights: Mapping[str, float]) -> list[float]:
    values = np.asarray([float(w) for w in weights.values()])
    if not len(values) or (values < 0).any() or values.sum() <= 0:
        raise InvalidArgument(
            f"weights must be non-negative shares, not all zero: {dict(weights)}."
        )
    return (values / values.sum()).tolist()


def _scalars(result: dict[str, np.ndarray]) -> dict[str, float]:
    return {key: float(value) for key, value in result.items()}


def _finite(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for record in table.to_dict("records"):
        out.append(
            {
                k: (_finite(v) if isinstance(v, float) else v.item() if hasattr(v, "item") else v)
                for k, v in record.items()
            }
        )
    return out


def _p(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def _day(moment: Any) -> str:
    import pandas as pd

    return f"{pd.Timestamp(moment):%Y-%m-%d}"


def _finite_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _percent(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:+.1%}"


def _lift_text(row: Any) -> str:
    return (
        f"{_percent(row.lift)} ({(1 - row.alpha):.0%} CI {_percent(row.lift_low)} to "
        f"{_percent(row.lift_high)})"
    )


def _split(counts: Mapping[str, float]) -> str:
    return " / ".join(f"{name} {value:,.0f}" for name, value in counts.items())
