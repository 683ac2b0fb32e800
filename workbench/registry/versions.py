"""Registered model versions: write once, look up by reference, load only what is trusted.

A version is a row of ``model_versions`` and an artifact file written with skops.
Where the file lives and which types it may hold: :mod:`workbench.registry.artifacts`.

Loading checks, before anything is deserialized, that the file's SHA-256 is the
registered one and that every type skops would construct is one of the
workbench's own recommenders (or what they are made of). Anything else is
refused as tampering.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.exceptions import ArtifactTampered, InvalidArgument, ModelNotFound
from workbench.faults import crash_point
from workbench.feedback import Feedback
from workbench.provenance import DataSummary, code_version, summarize_data
from workbench.registry.artifacts import (
    _artifact_file,
    _check_registrable,
    _check_trusted,
    _dead_partials,
    _read_artifact,
    _remove_artifact,
    _stored_path,
    _type_name,
    _write_partial,
    artifact_name,
    artifact_root,
    trusted_types,
)
from workbench.scope import Scope

if TYPE_CHECKING:
    from workbench.store import Store

__all__ = [
    "ModelVersion",
    "load",
    "load_version",
    "measure",
    "measured_metrics",
    "parse_ref",
    "register",
    "register_models",
    "resolve",
    "versions",
]

ALIASES = ("champion", "challenger")
"""Aliases a version can be promoted to."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class ModelVersion:
    """One registered, immutable version of a model.

    Attributes
    ----------
    name, version
        The model's name and its version number (1, 2, ...).
    created_at : datetime
        When it was registered (UTC).
    params : dict
        The estimator's parameters.
    metrics : dict
        Metric name -> value, measured on ``holdout``.
    holdout : str or None
        Identity of the data the metrics were measured on (a digest, or a
        name given at registration); versions are compared only on the same one.
    training_digest : str
        Order-independent digest of exactly the rows that trained it.
    code_version : str
        ``git:<sha>`` of the workbench that trained it (``+dirty`` when edited).
    feature_set : str or None
        Name of the feature set it was trained on, when given.
    signature : dict
        What it takes and was made from: model class, known users and items,
        training columns and row count, and the ingest batches behind them.
    artifact_path : str
        Where its skops file is (relative to the store's folder when inside it).
    artifact_sha256 : str
        The file's SHA-256, checked on every load.
    """

    name: str
    version: int
    created_at: datetime
    params: dict[str, Any]
    metrics: dict[str, float]
    training_digest: str
    code_version: str
    feature_set: str | None
    signature: dict[str, Any]
    artifact_path: str
    artifact_sha256: str
    holdout: str | None = field(default=None)

    @property
    def ref(self) -> str:
        """``"name@version"``, which always names this version."""
        return f"{self.name}@{self.version}"

    @property
    def batches(self) -> list[str]:
        """The ingest batches the training rows came from."""
        return list(self.signature.get("training_data", {}).get("batches", []))

    @property
    def scope(self) -> Scope:
        """The data it was trained on (everything, for versions that recorded none)."""
        return Scope.from_dict(self.signature.get("scope"))

    @property
    def feedback(self) -> Feedback | None:
        """The feedback semantics it was trained with, or None if it recorded none."""
        recorded = self.signature.get("feedback")
        return Feedback.parse(recorded) if recorded else None


# --- registering ----------------------------------------------------------------------


def register(
    store: Store,
    model: Any,
    name: str,
    *,
    metrics: dict[str, float],
    params: dict[str, Any] | None = None,
    training_data: Any,
    feature_set: str | None = None,
    holdout: Any = None,
    scope: Scope | str | dict | None = None,
    feedback: Feedback | dict | None = None,
) -> ModelVersion:
    """Register a fitted model as the next version of ``name``.

    Parameters
    ----------
    store : Store
        The store that keeps the version row.
    model : fitted recommender
        One of :data:`workbench.recommend.MODELS`' classes or the
        :class:`~workbench.recommend.LearningToRankRecommender`; other types are
        refused (loading them back would mean trusting arbitrary code).
    name : str
        Model name: letters, digits, ``_``, ``.``, ``-`` (no ``@``).
    metrics : dict
        Metric name -> finite number, measured on ``holdout`` (e.g.
        ``{"ndcg_at_10_score": 0.31}``); promotion compares these.
    params : dict, optional
        Parameters to record; default ``model.get_params()``.
    training_data : Ibis table, pyarrow Table, pandas DataFrame or DataSummary
        Exactly the rows that trained the model (or their
        :func:`~workbench.provenance.summarize_data`); their digest is recorded, and
        their ``batch_id`` (or ``event_id``, looked up in ``events``) links the
        version to its ingest batches.
    feature_set : str, optional
        Name of the feature set the model was trained on.
    holdout : str or table, optional
        What the metrics were measured on: the holdout rows themselves (their
        digest is recorded) or a name for them. Promotion refuses to compare
        versions measured on different (or unrecorded) holdouts.
    scope : Scope, str or dict, optional
        Which data the training rows were read from (see :mod:`workbench.scope`);
        recorded, and used for the popularity fallback of its stored lists.
    feedback : Feedback or dict, optional
        The feedback semantics the rows were weighted with; recorded in the lineage.

    Returns
    -------
    ModelVersion

    Raises
    ------
    InvalidArgument
        For a bad name, metrics or params, empty training data, or a model type
        the registry cannot load back safely.
    """
    import skops.io

    _check_name(name)
    metrics = _check_metrics(metrics)
    recorded_params = _params_of(model, params)
    data = _training_summary(training_data, store)
    holdout_id = _holdout_identity(holdout)
    _check_registrable(model)
    content = skops.io.dumps(model)
    _check_trusted(skops.io.get_untrusted_types(data=content), what=f"{type(model).__name__}")
    signature = _signature(model, data)
    if scope is not None:
        signature["scope"] = Scope.resolve(scope).to_dict()
    if feedback is not None:
        signature["feedback"] = Feedback.resolve(feedback).to_dict()
    sha256 = hashlib.sha256(content).hexdigest()
    root = artifact_root(store)
    with store.writing() as raw:
        (latest,) = raw.execute(
            "SELECT coalesce(max(version), 0) FROM model_versions WHERE name = ?", [name]
        ).fetchone()
        version = int(latest) + 1
        path = root / name / artifact_name(version, sha256)
        # The row is the version, the file follows it: the bytes go to a partial file,
        # the row is committed, then the file is renamed into place. A crash before the
        # commit leaves a partial file that the next registration removes; a crash after
        # it, one that the row adopts (see _settle_partials). Nothing ever blocks.
        _settle_partials(store, raw, path.parent)
        partial = _write_partial(path, content)
        crash_point("register:partial-written")
        row = ModelVersion(
            name=name,
            version=version,
            created_at=datetime.now(UTC).replace(tzinfo=None),
            params=recorded_params,
            metrics=metrics,
            training_digest=data.digest,
            code_version=code_version(),
            feature_set=feature_set,
            signature=signature,
            artifact_path=_stored_path(store, path),
            artifact_sha256=sha256,
            holdout=holdout_id,
        )
        try:
            with store.transaction() as tx:
                tx.execute(
                    "INSERT INTO model_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        row.name,
                        row.version,
                        row.created_at,
                        json.dumps(row.params),
                        json.dumps({"values": row.metrics, "holdout": row.holdout}),
                        row.training_digest,
                        row.code_version,
                        row.feature_set,
                        json.dumps(row.signature),
                        row.artifact_path,
                        row.artifact_sha256,
                    ],
                )
        except BaseException:
            _remove_artifact(partial)
            raise
        crash_point("register:row-committed")
        os.replace(partial, path)
    return row


def _settle_partials(store: Store, raw: Any, folder: Path) -> None:
    """Finish what registrations that died in ``folder`` left: adopt or remove partial files.

    Runs under the store's write lock. A partial file of a live process is its writer's;
    one of a dead process is renamed into place when a committed row names that file
    with the same SHA-256 (the process died between its commit and its rename), and
    removed otherwise (it died before committing: no version has it).
    """
    for partial, final in _dead_partials(folder):
        stored = _stored_path(store, final)
        row = raw.execute(
            "SELECT artifact_sha256 FROM model_versions WHERE artifact_path = ?", [stored]
        ).fetchone()
        if row is not None and hashlib.sha256(partial.read_bytes()).hexdigest() == row[0]:
            os.replace(partial, final)
        else:
            _remove_artifact(partial)


def register_models(
    store: Store,
    models: dict[str, Any],
    name: str,
    *,
    metrics: dict[str, dict[str, float]],
    training_data: Any,
    holdout: Any,
    feature_set: str | None = None,
    scope: Scope | str | dict | None = None,
    feedback: Feedback | dict | None = None,
    tuning: dict[str, dict[str, Any]] | None = None,
) -> dict[str, ModelVersion]:
    """Register several fitted models (say, those a comparison fitted) as versions of ``name``.

    Each version records its own entry of ``metrics`` (``{model: {metric:
    value}}``, as :func:`workbench.recommend.comparison.metrics_for_record`
    gives), the shared training rows and holdout, and the model's short name
    in its params (``"model"``), so the versions can be promoted against
    each other. ``tuning`` (``{model: Tuning.record()}``, see
    :func:`workbench.recommend.tune_model`) is kept in a model's params as
    ``"tuning"``: how its hyper-parameters were chosen.

    Returns
    -------
    dict
        Short name -> registered :class:`ModelVersion`, in the order given.
    """
    missing = sorted(set(models) - set(metrics))
    if missing:
        raise InvalidArgument(f"No metrics given for {', '.join(missing)}; pass metrics[model].")
    # The shared rows are digested once, not once per model.
    summary = _training_summary(training_data, store)
    holdout_id = _holdout_identity(holdout)
    registered = {}
    for short_name, model in models.items():
        registered[short_name] = register(
            store,
            model,
            name,
            metrics=metrics[short_name],
            params={
                "model": short_name,
                **_params_of(model, None),
                **({"tuning": tuning[short_name]} if tuning and short_name in tuning else {}),
            },
            training_data=summary,
            feature_set=feature_set,
            holdout=holdout_id,
            scope=scope,
            feedback=feedback,
        )
    return registered


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidArgument(
            f"Model name {name!r} is not usable: use 1-128 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit (no '@': it separates name and version)."
        )


def _check_metrics(metrics: Any) -> dict[str, float]:
    if not isinstance(metrics, dict) or not metrics:
        raise InvalidArgument(
            f"metrics must be a non-empty dict of name -> number measured on the holdout, "
            f"e.g. {{'ndcg_at_10_score': 0.31}}; got {metrics!r}."
        )
    checked = {}
    for key, value in metrics.items():
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not isinstance(key, str) or not ok or not math.isfinite(float(value)):
            raise InvalidArgument(
                f"Metric {key!r} = {value!r}: every metric needs a text name and a finite number."
            )
        checked[key] = float(value)
    return checked


def _params_of(model: Any, params: dict[str, Any] | None) -> dict[str, Any]:
    if params is None:
        if not hasattr(model, "get_params"):
            return {}
        # Parameters that are not JSON (a RandomState, say) are recorded by their repr.
        return json.loads(json.dumps(model.get_params(deep=False), default=repr))
    if not isinstance(params, dict):
        raise InvalidArgument(f"params must be a dict, got {type(params).__name__}.")
    try:
        return json.loads(json.dumps(params))
    except (TypeError, ValueError) as error:
        raise InvalidArgument(
            f"params must be JSON-like (numbers, text, lists, dicts) to be recorded: {error}."
        ) from error


def measure(store: Store, ref: str, *, metrics: dict[str, float], holdout: Any) -> ModelVersion:
    """Record ``ref``'s metrics measured on another ``holdout`` (the version is unchanged).

    A retrained candidate is measured on the newest test rows; the champion, measured
    when it was registered on older ones, cannot be compared with it. Scoring the
    champion on the candidate's test rows (without refitting it) and recording that
    here lets the gate compare the two on the same data. Measuring again on the same
    holdout replaces the earlier measurement.

    Parameters
    ----------
    store : Store
    ref : str
        ``name@version`` or ``name@alias``.
    metrics : dict
        Metric name -> finite number, measured on ``holdout``.
    holdout : str or table
        The test rows (their digest is recorded) or a name for them.
    """
    version = resolve(store, ref)
    checked = _check_metrics(metrics)
    holdout_id = _holdout_identity(holdout)
    if holdout_id is None:
        raise InvalidArgument("holdout is required: the rows the metrics were measured on.")
    with store.transaction() as raw:
        raw.execute(
            "DELETE FROM model_measurements WHERE name = ? AND version = ? AND holdout = ?",
            [version.name, version.version, holdout_id],
        )
        raw.execute(
            "INSERT INTO model_measurements VALUES (?, ?, ?, ?, ?)",
            [
                version.name,
                version.version,
                holdout_id,
                json.dumps(checked),
                datetime.now(UTC).replace(tzinfo=None),
            ],
        )
    return version


def measured_metrics(store: Store, version: ModelVersion, holdout: str | None) -> dict | None:
    """``version``'s metrics on ``holdout``: as registered, or as measured again; else None."""
    if holdout is None:
        return None
    if version.holdout == holdout:
        return dict(version.metrics)
    rows = store.sql(
        "SELECT metrics FROM model_measurements WHERE name = ? AND version = ? AND holdout = ?",
        [version.name, version.version, holdout],
    ).to_pylist()
    return json.loads(rows[0]["metrics"]) if rows else None


def _training_summary(training_data: Any, store: Store) -> DataSummary:
    if isinstance(training_data, DataSummary):
        return training_data
    return summarize_data(training_data, store=store, name="training_data")


def _holdout_identity(holdout: Any) -> str | None:
    if holdout is None:
        return None
    if isinstance(holdout, str):
        if not holdout.strip():
            raise InvalidArgument("holdout is an empty name; give its rows or a real name.")
        return holdout
    return summarize_data(holdout, name="holdout").digest


def _signature(model: Any, data: DataSummary) -> dict[str, Any]:
    signature: dict[str, Any] = {
        "model_class": _type_name(type(model)),
        "training_data": {
            "rows": data.rows,
            "columns": data.columns,
            "batches": data.batches,
            "batches_from": data.batch_source,
        },
    }
    for attribute, key in (("user_index_", "users"), ("item_index_", "items")):
        index = getattr(model, attribute, None)
        if index is not None:
            signature[key] = len(index)
    return signature


# --- looking up -----------------------------------------------------------------------


def parse_ref(ref: str) -> tuple[str, str]:
    """Split ``"name@champion"`` / ``"name@3"`` into name and alias-or-version."""
    if not isinstance(ref, str) or ref.count("@") != 1:
        raise ModelNotFound(
            f"Model reference {ref!r} is not NAME@ALIAS or NAME@VERSION; write e.g. "
            "'als@champion' or 'als@3' (`workbench models list` shows what is registered)."
        )
    name, _, selector = ref.partition("@")
    if not name or not selector:
        raise ModelNotFound(f"Model reference {ref!r} lacks a name or a version/alias.")
    return name, selector


def versions(store: Store, name: str | None = None) -> list[ModelVersion]:
    """Registered versions, of one model or of all, by name then version."""
    query = "SELECT * FROM model_versions"
    params: list[Any] = []
    if name is not None:
        query += " WHERE name = ?"
        params.append(name)
    rows = store.sql(query + " ORDER BY name, version", params).to_pylist()
    return [_from_row(row) for row in rows]


def resolve(store: Store, ref: str) -> ModelVersion:
    """The version a reference names: ``"name@champion"``, ``"name@challenger"``, ``"name@3"``.

    Raises
    ------
    ModelNotFound
        When the name, version or alias names nothing registered.
    """
    name, selector = parse_ref(ref)
    with store.reading() as raw:
        if selector.isdigit():
            version = int(selector)
        else:
            found = raw.execute(
                "SELECT version FROM model_aliases WHERE name = ? AND alias = ?", [name, selector]
            ).fetchone()
            if found is None:
                raise ModelNotFound(_missing(raw, name, f"has no {selector!r} alias", ref))
            version = int(found[0])
        row = raw.execute(
            "SELECT * FROM model_versions WHERE name = ? AND version = ?", [name, version]
        ).to_arrow_table()
        if row.num_rows == 0:
            raise ModelNotFound(_missing(raw, name, f"has no version {version}", ref))
    return _from_row(row.to_pylist()[0])


def _missing(raw, name: str, what: str, ref: str) -> str:
    known = [
        version
        for (version,) in raw.execute(
            "SELECT version FROM model_versions WHERE name = ? ORDER BY version", [name]
        ).fetchall()
    ]
    if not known:
        names = [n for (n,) in raw.execute("SELECT DISTINCT name FROM model_versions").fetchall()]
        listed = ", ".join(sorted(names)) or "none yet"
        return (
            f"No model named {name!r} is registered ({ref}); registered models: {listed}. "
            "`workbench run train_recommender` trains, registers and promotes one (or call "
            "workbench.registry.register)."
        )
    aliases = dict(
        raw.execute("SELECT alias, version FROM model_aliases WHERE name = ?", [name]).fetchall()
    )
    return (
        f"Model {name!r} {what} ({ref}); versions: {', '.join(map(str, known))}; aliases: "
        f"{aliases or 'none'}. Promote one with `workbench models promote {name} VERSION`."
    )


def _from_row(row: dict[str, Any]) -> ModelVersion:
    metrics = json.loads(row["metrics"]) if row["metrics"] else {}
    return ModelVersion(
        name=row["name"],
        version=int(row["version"]),
        created_at=row["created_at"],
        params=json.loads(row["params"]) if row["params"] else {},
        metrics=metrics.get("values", {}),
        training_digest=row["training_digest"],
        code_version=row["code_version"],
        feature_set=row["feature_set"],
        signature=json.loads(row["signature"]) if row["signature"] else {},
        artifact_path=row["artifact_path"],
        artifact_sha256=row["artifact_sha256"],
        holdout=metrics.get("holdout"),
    )


# --- loading --------------------------------------------------------------------------


def load(store: Store, ref: str) -> tuple[Any, ModelVersion]:
    """Load the model a reference names, after checking its bytes and types.

    Returns
    -------
    (model, ModelVersion)

    Raises
    ------
    ModelNotFound
        When ``ref`` names nothing, or the artifact file is gone.
    ArtifactTampered
        When the file's SHA-256 differs from the registered one, or it holds
        a type the registry does not trust, or it is not the registered
        class. Nothing from the file is run in either case.
    """
    version = resolve(store, ref)
    return load_version(store, version), version


def load_version(store: Store, version: ModelVersion) -> Any:
    """The model of an already resolved version (see :func:`load`)."""
    import skops.io

    path = _artifact_file(store, version.artifact_path, ref=version.ref)
    if not path.exists():  # a registration that died after its commit left it partial
        with store.writing() as raw:
            _settle_partials(store, raw, path.parent)
    content = _read_artifact(path, ref=version.ref)
    if hashlib.sha256(content).hexdigest() != version.artifact_sha256:
        raise ArtifactTampered(
            f"The artifact of {version.ref} at {path} is not the file that was registered "
            "(its SHA-256 differs): it was changed after registration, so it was not loaded. "
            "Restore the original file or register the model again."
        )
    try:
        found = skops.io.get_untrusted_types(data=content)
    except Exception as error:  # any malformed archive: refused, never half-read
        raise ArtifactTampered(
            f"The artifact of {version.ref} at {path} is not a readable skops file ({error})."
        ) from error
    unknown = sorted(set(found) - trusted_types())
    if unknown:
        raise ArtifactTampered(
            f"The artifact of {version.ref} at {path} holds types the registry does not trust "
            f"({', '.join(unknown)}); it was not loaded."
        )
    try:
        model = skops.io.loads(content, trusted=sorted(found))
    except Exception as error:  # well-typed but malformed: refused like any tampering
        raise ArtifactTampered(
            f"The artifact of {version.ref} at {path} cannot be loaded ({type(error).__name__}: "
            f"{error}); it was not used. Register the model again."
        ) from error
    actual = _type_name(type(model))
    expected = version.signature.get("model_class")
    if actual != expected or actual not in trusted_types():
        raise ArtifactTampered(
            f"The artifact of {version.ref} holds a {actual}, but a {expected} was registered."
        )
    return model
