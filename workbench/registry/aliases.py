"""Aliases that move between versions, the promotion gate, and the history of every move.

``model_aliases`` says where each alias points now. ``model_alias_log`` keeps
every move (promotion, rollback) with who made it, when, the gate's figures and,
for a promotion that overrode the gate, the reason given. Rollback replays that
history: it undoes the latest promotion that has not been undone yet.
"""

from __future__ import annotations

import dataclasses
import getpass
import math
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from workbench.exceptions import InvalidArgument, ModelNotFound, PromotionRefused
from workbench.registry.versions import ALIASES, ModelVersion, measured_metrics, resolve
from workbench.schema import TABLES, current_metric_name
from workbench.sql import literal

if TYPE_CHECKING:
    from workbench.store import Store

__all__ = [
    "ALIAS_LOG",
    "AliasMove",
    "Promotion",
    "alias_history",
    "aliases",
    "promote",
    "promote_if_better",
    "rollback",
]

ALIAS_LOG = TABLES["model_alias_log"]
"""Declaration of the alias history table."""

# Metrics where a smaller value is better; every other metric is higher-is-better.
_LOWER_IS_BETTER = {"rmse", "mae", "mse", "log_loss", "logloss", "fit_seconds"}


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias, as recorded in ``model_alias_log``.

    Attributes
    ----------
    name, alias
        Which alias of which model moved.
    action : str
        ``"promote"`` or ``"rollback"``.
    version, previous_version
        Where it points now and where it pointed before (None: nowhere).
    metric, candidate_value, champion_value, holdout
        The gate's comparison (values None when there was nothing to compare).
    override_reason : str or None
        Why the gate was overridden; None when it was passed (or not applied).
    actor : str
        ``user@host`` that made the move.
    at : datetime
        When (UTC).
    """

    name: str
    alias: str
    action: str
    version: int | None
    previous_version: int | None
    metric: str | None
    candidate_value: float | None
    champion_value: float | None
    holdout: str | None
    override_reason: str | None
    actor: str
    at: datetime

    @property
    def forced(self) -> bool:
        """Whether the move overrode the promotion gate."""
        return self.override_reason is not None


def aliases(store: Store, name: str) -> dict[str, int]:
    """Where each alias of ``name`` points now: ``{"champion": 3, ...}``."""
    rows = store.sql(
        f"SELECT alias, version FROM model_aliases WHERE name = {literal(name)} ORDER BY alias"
    ).to_pylist()
    return {row["alias"]: int(row["version"]) for row in rows}


def alias_history(store: Store, name: str, *, alias: str | None = None) -> list[AliasMove]:
    """Every recorded move of the aliases of ``name``, oldest first."""
    if "model_alias_log" not in store.tables():
        return []
    query = "SELECT * FROM model_alias_log WHERE name = ?"
    params: list[Any] = [name]
    if alias is not None:
        query += " AND alias = ?"
        params.append(alias)
    rows = store.sql(query + " ORDER BY seq", params).to_pylist()
    return [AliasMove(**{k: v for k, v in row.items() if k != "seq"}) for row in rows]


def promote(
    store: Store,
    name: str,
    version: int,
    *,
    alias: str = "champion",
    metric: str = "ndcg_at_10_score",
    force_reason: str | None = None,
) -> AliasMove:
    """Point ``alias`` at ``version``, if it beats the current champion on ``metric``.

    The gate applies to ``alias="champion"``: the candidate must be strictly
    better than the champion on ``metric`` (higher, or lower for metrics named
    ``*_error``, ``*_loss``, ``rmse``, ``mae``...), both measured on the same
    recorded holdout. The first champion of a model passes (there is nothing to
    beat). A challenger is not gated: it is what the next experiment tests.

    Parameters
    ----------
    store : Store
    name : str
        The model.
    version : int
        The candidate version.
    alias : {"champion", "challenger"}
    metric : str
        Metric name as registered (e.g. ``"ndcg_at_10_score"``).
    force_reason : str, optional
        Promote even though the gate refuses; the reason, who and when are
        recorded in ``model_alias_log``.

    Returns
    -------
    AliasMove
        The recorded move (``version == previous_version`` when the alias
        already pointed there: nothing moved, nothing recorded).

    Raises
    ------
    ModelNotFound
        When the version is not registered.
    PromotionRefused
        When the gate refuses and no ``force_reason`` is given.
    """
    _check_alias(alias)
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidArgument(f"version must be a version number (int), got {version!r}.")
    if force_reason is not None and (not isinstance(force_reason, str) or not force_reason.strip()):
        raise InvalidArgument("force_reason must say why the gate is overridden (non-empty text).")
    with store.writing():
        candidate = resolve(store, f"{name}@{version}")
        current = aliases(store, name).get(alias)
        if current == version:
            return _move(candidate, alias, "promote", version, current, metric, None, None, None)
        champion = resolve(store, f"{name}@{current}") if current is not None else None
        # The champion's figures on the candidate's holdout: as registered, or measured again.
        on_holdout = (
            measured_metrics(store, champion, candidate.holdout) if champion is not None else None
        )
        values, refusal = _gate(
            candidate, champion, alias=alias, metric=metric, champion_metrics=on_holdout
        )
        if refusal is not None and force_reason is None:
            raise PromotionRefused(
                refusal + f" To promote anyway, give a reason: `workbench models promote {name} "
                f"{version} --force-reason TEXT` (it is recorded)."
            )
        move = _move(
            candidate,
            alias,
            "promote",
            version,
            current,
            metric,
            *values,
            force_reason if refusal is not None else None,
        )
        _record(store, move)
    return move


@dataclass(frozen=True)
class Promotion:
    """What :func:`promote_if_better` did: the gate's verdict, for a notebook to show and record.

    Attributes
    ----------
    candidate : str
        The version that was put to the gate (``name@version``).
    promoted : bool
        Whether the champion alias now points at it.
    champion : str or None
        The champion after the attempt (``name@version``).
    previous : str or None
        The champion before it.
    reason : str
        Why: the gate's figures, or its refusal.
    """

    candidate: str
    promoted: bool
    champion: str | None
    previous: str | None
    reason: str

    def summary(self) -> str:
        """One line for a notebook or a log."""
        verdict = "promoted to champion" if self.promoted else "not promoted"
        return f"`{self.candidate}` {verdict}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return {
            "candidate": self.candidate,
            "promoted": self.promoted,
            "champion": self.champion,
            "previous": self.previous,
            "reason": self.reason,
        }


def promote_if_better(store: Store, candidate: ModelVersion, *, metric: str) -> Promotion:
    """Make ``candidate`` the champion if the gate lets it, and say what happened.

    The same gate as :func:`promote`, for scheduled runs: a candidate that does not
    beat the champion is an outcome to report, not an error, so a refusal is
    returned (``promoted=False`` with the gate's reason) rather than raised.
    There is no override here; overriding is a person's decision
    (``workbench models promote --force-reason``).
    """
    name = candidate.name
    before = aliases(store, name).get("champion")
    previous = f"{name}@{before}" if before is not None else None
    try:
        move = promote(store, name, candidate.version, metric=metric)
    except PromotionRefused as refusal:
        return Promotion(candidate.ref, False, previous, previous, str(refusal))
    if move.previous_version == move.version:
        reason = "it already was the champion"
    elif move.champion_value is None:
        reason = "the first champion of this model"
    else:
        reason = (
            f"{metric} {move.candidate_value:.4f} beats the champion's "
            f"{move.champion_value:.4f} on the same holdout"
        )
    return Promotion(candidate.ref, True, candidate.ref, previous, reason)


def rollback(store: Store, name: str, *, alias: str = "champion") -> AliasMove:
    """Move ``alias`` back to the version it pointed at before its latest promotion.

    Repeated rollbacks walk further back through the promotions, skipping the
    ones already undone.

    Raises
    ------
    InvalidArgument
        When the alias has no earlier version to go back to.
    """
    _check_alias(alias)
    with store.writing():
        current = aliases(store, name).get(alias)
        if current is None:
            raise ModelNotFound(
                f"Model {name!r} has no {alias!r} alias, so there is nothing to roll back."
            )
        stack = _promotion_stack(alias_history(store, name, alias=alias))
        if len(stack) < 2 or stack[-1] != current:
            raise InvalidArgument(
                f"{name}@{alias} (version {current}) has no earlier version to roll back to; "
                f"promote another version instead: `workbench models promote {name} VERSION`."
            )
        target = resolve(store, f"{name}@{stack[-2]}")
        move = _move(target, alias, "rollback", target.version, current, None, None, None, None)
        _record(store, move)
    return move


def _promotion_stack(history: list[AliasMove]) -> list[int]:
    """The versions the alias would return to, oldest first, after replaying its history."""
    stack: list[int] = []
    for move in history:
        if move.action == "promote" and move.version is not None:
            stack.append(move.version)
        elif move.action == "rollback" and stack:
            stack.pop()
    return stack


def _gate(
    candidate: ModelVersion,
    champion: ModelVersion | None,
    *,
    alias: str,
    metric: str,
    champion_metrics: dict | None = None,
) -> tuple[tuple[float | None, float | None, str | None], str | None]:
    """The gate's figures (candidate, champion, holdout) and why it refuses (None: it passes).

    ``champion_metrics`` are the champion's figures on the candidate's holdout (as
    registered, or recorded by :func:`~workbench.registry.measure`), when known.
    """
    value = candidate.metrics.get(metric)
    if alias != "champion":
        return (value, None, candidate.holdout), None
    if champion is None:
        return (value, None, candidate.holdout), None
    if champion_metrics is not None and champion.holdout != candidate.holdout:
        # Measured again on the candidate's holdout: compare those figures.
        champion = dataclasses.replace(
            champion, metrics=champion_metrics, holdout=candidate.holdout
        )
    figures = (value, champion.metrics.get(metric), candidate.holdout)
    if value is None or champion.metrics.get(metric) is None:
        which = candidate if value is None else champion
        renamed = current_metric_name(metric)
        hint = f" The metric is now named {renamed!r}." if renamed != metric else ""
        return figures, (
            f"Cannot compare {candidate.ref} with the champion {champion.ref} on {metric!r}: "
            f"{which.ref} has no such metric (it has {', '.join(sorted(which.metrics))}).{hint}"
        )
    if candidate.holdout is None or champion.holdout is None:
        return figures, (
            f"Cannot compare {candidate.ref} with the champion {champion.ref}: "
            f"{'the candidate' if candidate.holdout is None else 'the champion'} was registered "
            "without a holdout, so it is unknown whether their metrics were measured on the "
            "same data. Register both with holdout=... (the test rows)."
        )
    if candidate.holdout != champion.holdout:
        return figures, (
            f"Cannot compare {candidate.ref} with the champion {champion.ref}: their metrics "
            f"were measured on different holdouts ({candidate.holdout} vs {champion.holdout}). "
            "Evaluate both on the same test rows: register the candidate again, or measure "
            "the champion on the candidate's holdout (workbench.registry.measure)."
        )
    champion_value = figures[1]
    lower = lower_is_better(metric)
    # A difference within floating-point noise is a tie, and a tie does not unseat the champion.
    tie = math.isclose(value, champion_value, rel_tol=1e-9, abs_tol=1e-12)
    beats = not tie and (value < champion_value if lower else value > champion_value)
    if not beats:
        direction = "lower" if lower else "higher"
        return figures, (
            f"{candidate.ref} does not beat the champion {champion.ref} on {metric} "
            f"({value:.6g} vs {champion_value:.6g}; {direction} is better)."
        )
    return figures, None


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is better (errors, losses, times)."""
    name = metric.lower()
    return name.endswith(("_error", "_loss")) or name in _LOWER_IS_BETTER


def _check_alias(alias: str) -> None:
    if alias not in ALIASES:
        raise InvalidArgument(f"alias must be one of {', '.join(ALIASES)}; got {alias!r}.")


def _move(
    version: ModelVersion,
    alias: str,
    action: str,
    to: int | None,
    previous: int | None,
    metric: str | None,
    candidate_value: float | None,
    champion_value: float | None,
    holdout: str | None,
    reason: str | None = None,
) -> AliasMove:
    return AliasMove(
        name=version.name,
        alias=alias,
        action=action,
        version=to,
        previous_version=previous,
        metric=metric,
        candidate_value=candidate_value,
        champion_value=champion_value,
        holdout=holdout,
        override_reason=reason,
        actor=_actor(),
        at=datetime.now(UTC).replace(tzinfo=None),
    )


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _record(store: Store, move: AliasMove) -> None:
    """Move the alias and log the move, all or nothing."""
    with store.transaction() as tx:
        (seq,) = tx.execute("SELECT coalesce(max(seq), 0) + 1 FROM model_alias_log").fetchone()
        tx.execute(
            "DELETE FROM model_aliases WHERE name = ? AND alias = ?", [move.name, move.alias]
        )
        if move.version is not None:
            tx.execute(
                "INSERT INTO model_aliases VALUES (?, ?, ?, ?)",
                [move.name, move.alias, move.version, move.at],
            )
        tx.execute(
            "INSERT INTO model_alias_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                seq,
                move.name,
                move.alias,
                move.action,
                move.version,
                move.previous_version,
                move.metric,
                move.candidate_value,
                move.champion_value,
                move.holdout,
                move.override_reason,
                move.actor,
                move.at,
            ],
        )
