"""The model registry: immutable versions, trusted artifacts, aliases behind a gate.

Register a fitted recommender with the metrics it scored on a holdout and the
rows that trained it; promote it to ``champion`` only if it beats the current
champion on the same holdout; roll back when it disappoints::

    from workbench.registry import register, promote, load
    version = register(store, model, "als", metrics={"ndcg_at_10_score": 0.31},
                       training_data=train, holdout=test)
    promote(store, "als", version.version)          # PromotionRefused if it does not beat
    model, version = load(store, "als@champion")    # sha256 and types checked first

Tables: ``model_versions`` (one immutable row per version), ``model_aliases``
(where each alias points) and ``model_alias_log`` (every move, with the gate's
figures, overrides and who made them).
"""

from __future__ import annotations

from workbench.lazy import exports
from workbench.registry.aliases import aliases
from workbench.registry.lineage import lineage
from workbench.registry.versions import versions

# Public name -> the submodule that defines it, imported when the name is first used.
_LAZY = {
    "ALIAS_LOG": "aliases",
    "AliasMove": "aliases",
    "Promotion": "aliases",
    "alias_history": "aliases",
    "lower_is_better": "aliases",
    "promote": "aliases",
    "promote_if_better": "aliases",
    "rollback": "aliases",
    "artifact_root": "artifacts",
    "trusted_types": "artifacts",
    "describe_metric": "history",
    "metric_interval": "history",
    "serving_headline": "history",
    "training_headline": "history",
    "plot_version_history": "history",
    "version_history": "history",
    "Lineage": "lineage",
    "ALIASES": "versions",
    "ModelVersion": "versions",
    "load": "versions",
    "load_version": "versions",
    "measure": "versions",
    "measured_metrics": "versions",
    "parse_ref": "versions",
    "register": "versions",
    "register_models": "versions",
    "resolve": "versions",
}

__all__ = ["aliases", "lineage", "versions", *_LAZY]

__getattr__, __dir__ = exports(
    __name__,
    _LAZY,
    eager=(
        "aliases",
        "lineage",
        "versions",
    ),
)
