"""The model registry: immutable versions, trusted artifacts, aliases behind a gate.

Register a fitted recommender with the metrics it scored on a holdout and the
rows that trained it; promote it to ``champion`` only if it beats the current
champion on the same holdout; roll back when it disappoints::

    from workbench.registry import register, promote, load
    version = register(store, model, "als", metrics={"ndcg@10": 0.31},
                       training_data=train, holdout=test)
    promote(store, "als", version.version)          # PromotionRefused if it does not beat
    model, version = load(store, "als@champion")    # sha256 and types checked first

Tables: ``model_versions`` (one immutable row per version), ``model_aliases``
(where each alias points) and ``model_alias_log`` (every move, with the gate's
figures, overrides and who made them).
"""

from workbench.registry.aliases import (
    ALIAS_LOG,
    AliasMove,
    Promotion,
    alias_history,
    aliases,
    lower_is_better,
    promote,
    promote_if_better,
    rollback,
)
from workbench.registry.artifacts import artifact_root, trusted_types
from workbench.registry.digest import DataSummary, code_version, data_digest, summarize_data
from workbench.registry.history import (
    describe_metric,
    metric_interval,
    plot_version_history,
    version_history,
)
from workbench.registry.lineage import Lineage, lineage
from workbench.registry.versions import (
    ALIASES,
    ModelVersion,
    load,
    load_version,
    parse_ref,
    register,
    register_models,
    resolve,
    versions,
)

__all__ = [
    "ALIASES",
    "ALIAS_LOG",
    "AliasMove",
    "DataSummary",
    "Lineage",
    "ModelVersion",
    "Promotion",
    "alias_history",
    "aliases",
    "artifact_root",
    "code_version",
    "data_digest",
    "describe_metric",
    "lineage",
    "load",
    "load_version",
    "lower_is_better",
    "metric_interval",
    "parse_ref",
    "plot_version_history",
    "promote",
    "promote_if_better",
    "register",
    "register_models",
    "resolve",
    "rollback",
    "summarize_data",
    "trusted_types",
    "version_history",
    "versions",
]
