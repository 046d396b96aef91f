"""Peer models measured with the library's own evaluator (benchmark-only, optional extra).

:class:`ImplicitALS` wraps implicit's alternating least squares (Hu, Koren and Volinsky, ICDM
2008; ``pip install implicit_ncf[bench]``) in the library's recommender base, so that its
``evaluate`` / ``recommend`` are exactly the ones every model of the library goes through (same
candidates, same tie rule, same full ranking). :func:`tune_als` picks its hyperparameters on
validation data carved from training.
"""

from __future__ import annotations

import itertools
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd
import torch

from implicit_ncf.model_selection import validation_split
from implicit_ncf.recommender import _BaseRecommender


class ImplicitALS(_BaseRecommender):
    """implicit's ``AlternatingLeastSquares`` behind the library's recommender API.

    Parameters
    ----------
    factors, regularization, alpha, iterations : ALS hyperparameters (implicit's names).
    random_state : int
        Seed of implicit's factor initialisation.
    """

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        random_state: int = 0,
        user_col: str = "user",
        item_col: str = "item",
        rating_col: str = "rating",
        time_col: str = "timestamp",
        min_rating: float | None = None,
        on_unknown_user: str = "raise",
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state
        self.user_col = user_col
        self.item_col = item_col
        self.rating_col = rating_col
        self.time_col = time_col
        self.min_rating = min_rating
        self.on_unknown_user = on_unknown_user

    def fit(self, interactions: pd.DataFrame, y: None = None) -> ImplicitALS:
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits  # a dependency of implicit

        start = time.perf_counter()
        cat = self._set_catalogue(self._prepare(interactions))
        # implicit parallelises over rows itself and asks for single-threaded BLAS (it warns
        # at construction otherwise): a BLAS thread pool inside its threads oversubscribes
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = AlternatingLeastSquares(
                factors=int(self.factors),
                regularization=float(self.regularization),
                alpha=float(self.alpha),
                iterations=int(self.iterations),
                random_state=int(self.random_state),
                calculate_training_loss=False,
            )
            model.fit(cat.seen.astype(np.float32), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self.user_encoder_, self.item_encoder_ = cat.users, cat.items
        self.seen_, self.item_popularity_ = cat.seen, cat.popularity
        self.fit_time_ = time.perf_counter() - start
        return self

    def _score_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        u, i = self.user_factors_[user_idx], self.item_factors_[item_idx]
        return np.einsum("ij,ij->i", u, i).astype(np.float64)

    def _score_users(self, user_idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(self.user_factors_[user_idx] @ self.item_factors_.T)


ALS_GRID: dict[str, list[Any]] = {
    "factors": [64, 128, 192],
    "regularization": [0.01, 0.1, 1.0],
    "alpha": [1.0, 10.0],
}


def tune_als(
    train: pd.DataFrame, *, grid: dict[str, list[Any]] | None = None, scoring: str = "ndcg@10"
) -> tuple[dict[str, Any], pd.DataFrame]:
    """The ALS parameters with the best full-ranking ``scoring`` on a validation set carved
    from ``train`` (each user's latest interaction, random without timestamps), and the table
    of every candidate."""
    grid = grid or ALS_GRID
    split = validation_split(train)
    rows = []
    names = sorted(grid)
    for values in itertools.product(*(grid[n] for n in names)):
        params = dict(zip(names, values, strict=True))
        model = ImplicitALS(**params).fit(split.train)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = model.evaluate(split.test, k=10, n_negatives=None)
        rows.append({**params, "hr@10": result["hr@10"], "ndcg@10": result["ndcg@10"]})
    table = pd.DataFrame(rows)
    best_row = int(table[scoring].to_numpy().argmax())
    best = {name: rows[best_row][name] for name in names}  # the grid's own values and types
    return best, table
