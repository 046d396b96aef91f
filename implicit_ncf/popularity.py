"""The popularity baseline: recommend the items with the most training interactions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from .recommender import _BaseRecommender

__all__ = ["PopularityRecommender"]


class PopularityRecommender(_BaseRecommender):
    """Recommend the items with the most training interactions (a baseline every model must beat).

    Parameters
    ----------
    user_col, item_col, rating_col, time_col : str
        Column names of the interactions frames (``time_col`` is never read: popularity ignores
        time).
    min_rating : float or None, default None
        Count only interactions rated at least this.
    on_unknown_user : {"raise", "popular"}, default "raise"
        What ``recommend`` does with a user absent from training: raise, or give it the most
        popular items with the scores every known user gets (training interaction counts).

    Notes
    -----
    ``recommend(..., interactions=frame)`` accepts the same frames as ``NeuralCF``'s, but the
    scores ignore the user: the rows only add to the items excluded as seen, so an unknown user
    with interactions gets the most popular items it has not interacted with. There is no user
    or item space: ``similar_items`` / ``similar_users`` raise a ``TypeError`` saying so.
    ``partial_fit`` adds interactions exactly (the counts of a refit).
    """

    def __init__(
        self,
        *,
        user_col: str = "user",
        item_col: str = "item",
        rating_col: str = "rating",
        time_col: str = "timestamp",
        min_rating: float | None = None,
        on_unknown_user: str = "raise",
    ) -> None:
        self.user_col = user_col
        self.item_col = item_col
        self.rating_col = rating_col
        self.time_col = time_col
        self.min_rating = min_rating
        self.on_unknown_user = on_unknown_user

    def fit(self, interactions: pd.DataFrame, y: None = None) -> PopularityRecommender:
        """Count each item's distinct users. Returns ``self``.

        ``y`` is ignored (scikit-learn's ``fit(X, y)`` convention); a timestamp column is never
        read.
        """
        positives = self._prepare(interactions)
        cat = self._set_catalogue(positives)
        self.user_encoder_, self.seen_, self.item_popularity_ = cat.users, cat.seen, cat.popularity
        self.item_encoder_ = cat.items
        return self

    def partial_fit(self, interactions: pd.DataFrame, y: None = None) -> PopularityRecommender:
        """Add new interactions (new users and items welcome) without a refit. Returns ``self``.

        Each item's count gains the distinct users new to it, exactly the counts a refit on the
        old and new data together would give; new users and items get the next indices, after
        the existing ones. ``y`` is ignored.
        """
        self._check_fitted()
        grown = self._grow_catalogue(self._prepare(interactions))
        self.user_encoder_, self.item_encoder_ = grown.users, grown.items
        self.seen_, self.item_popularity_ = grown.seen, grown.popularity
        return self

    def _score_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        return self.item_popularity_[item_idx].astype(np.float64)

    def _score_folded(self, base_idx: np.ndarray, positives: sp.csr_matrix) -> torch.Tensor:
        # the scores ignore the user: interactions only add to the seen items (recommend)
        return self._score_users(np.zeros(len(base_idx), dtype=np.int64))

    def _score_users(self, user_idx: np.ndarray) -> torch.Tensor:
        pop = torch.from_numpy(self.item_popularity_.astype(np.float64))
        return pop.unsqueeze(0).expand(len(user_idx), -1).clone()
