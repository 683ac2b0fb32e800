"""The recommenders a job or notebook can name, by short name."""

from __future__ import annotations

from workbench.recommend.base import BaseRecommender
from workbench.recommend.blend import BlendRecommender
from workbench.recommend.factorization import ALSRecommender, BPRRecommender
from workbench.recommend.graph import RP3betaRecommender
from workbench.recommend.linear import EASERecommender
from workbench.recommend.neighbors import ItemKNNRecommender
from workbench.recommend.popularity import PopularityRecommender

MODELS: dict[str, type[BaseRecommender]] = {
    "popularity": PopularityRecommender,
    "itemknn": ItemKNNRecommender,
    "rp3beta": RP3betaRecommender,
    "ease": EASERecommender,
    "als": ALSRecommender,
    "bpr": BPRRecommender,
    "blend": BlendRecommender,
}
"""Short name -> recommender class, for notebooks and job parameters."""
