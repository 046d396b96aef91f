"""implicit_ncf: Neural Collaborative Filtering for implicit feedback, with honest evaluation.

``implicit_ncf.metrics``, ``implicit_ncf.splits``, ``implicit_ncf.sampling`` and
``implicit_ncf.data`` need only numpy, pandas and scipy; the torch-based estimators are imported
lazily on first access so that the evaluation toolkit never loads torch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "NeuralCF": "implicit_ncf.estimator",
    "PopularityRecommender": "implicit_ncf.popularity",
    "NotFittedError": "implicit_ncf.recommender",
    "leave_one_out": "implicit_ncf.splits",
    "temporal_split": "implicit_ncf.splits",
    "load_movielens": "implicit_ncf.datasets",
    "load_movies": "implicit_ncf.datasets",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'implicit_ncf' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)
