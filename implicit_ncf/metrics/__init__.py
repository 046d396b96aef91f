"""Evaluation metrics for implicit-feedback recommenders: pure functions, never a model.

Five modules, each one job, importable from here:

* :mod:`~implicit_ncf.metrics.ranking`: one relevant item per row (leave-one-out).
  :func:`rank_of_target` turns a score matrix into 0-based ranks; :func:`hit_ratio_at_k`,
  :func:`ndcg_at_k` and :func:`mrr_at_k` score ranks; :func:`metrics_from_ranks` gives all three
  at several cut-offs as a summary dict or one row per user; :func:`evaluate` ranks a scored
  candidates frame and reports the same, fully vectorised.
* :mod:`~implicit_ncf.metrics.lists`: several relevant items per user (temporal splits).
  :func:`precision_at_k`, :func:`recall_at_k`, :func:`map_at_k` over recommended id lists, and
  :func:`coverage` of the catalogue.
* :mod:`~implicit_ncf.metrics.comparison`: :func:`compare`, a paired bootstrap interval and
  Wilcoxon test of two models' per-user metrics.
* :mod:`~implicit_ncf.metrics.sampled`: :func:`corrected_metrics`, full-ranking HR@k and NDCG@k
  estimated from ranks among sampled negatives.
* :mod:`~implicit_ncf.metrics.beyond`: :func:`novelty`, :func:`average_popularity`,
  :func:`gini_index` and :func:`intra_list_diversity` of recommendation lists.

Ties count against the target everywhere: a candidate scoring exactly as high as the target is
ranked above it, so a constant scorer gets the worst possible rank, never a lucky one.

Only numpy, pandas and scipy are needed; nothing here imports torch.
"""

from __future__ import annotations

from .beyond import average_popularity, gini_index, intra_list_diversity, novelty
from .comparison import compare
from .lists import coverage, map_at_k, precision_at_k, recall_at_k
from .ranking import (
    _frame_ranks,  # noqa: F401  (for the tests of the two ranking strategies)
    evaluate,
    hit_ratio_at_k,
    metrics_from_ranks,
    mrr_at_k,
    ndcg_at_k,
    rank_of_target,
)
from .sampled import corrected_metrics

__all__ = [
    "average_popularity",
    "compare",
    "corrected_metrics",
    "coverage",
    "evaluate",
    "gini_index",
    "hit_ratio_at_k",
    "intra_list_diversity",
    "map_at_k",
    "metrics_from_ranks",
    "mrr_at_k",
    "ndcg_at_k",
    "novelty",
    "precision_at_k",
    "rank_of_target",
    "recall_at_k",
]

# ``doctest.testmod(implicit_ncf.metrics)`` only finds docstrings defined in this file; list the
# public functions of the submodules so that their examples run from here too.
__test__ = {name: globals()[name] for name in __all__}
