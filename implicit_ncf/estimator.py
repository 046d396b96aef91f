"""Scikit-learn-style recommenders: :class:`NeuralCF` and :class:`PopularityRecommender`.

``NeuralCF`` hides a PyTorch Lightning trainer behind ``fit`` / ``recommend`` / ``score``. It is the
only place in the library that builds a ``Trainer``.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import os
import signal
import tempfile
import threading
import time
import warnings
from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from .data import IdEncoder, check_interactions, interactions_to_csr, to_implicit
from .metrics import evaluate as evaluate_scored
from .sampling import sample_candidates

__all__ = ["NeuralCF", "NotFittedError", "PopularityRecommender"]

logger = logging.getLogger(__name__)

# Examples per batch handed to the Lightning Trainer: batches of batch_size are grouped into one
# trainer batch of up to this many examples, each still one optimizer step (NCFModule slices it).
_BATCH_EXAMPLES = 1 << 15
# Trainer options whose meaning depends on one optimizer step per trainer batch.
_PER_BATCH_TRAINER_OPTIONS = frozenset(
    {
        "gradient_clip_val",
        "gradient_clip_algorithm",
        "accumulate_grad_batches",
        "limit_train_batches",
        "val_check_interval",
        "max_steps",
        "min_steps",
        "overfit_batches",
        "log_every_n_steps",
    }
)
FORMAT_NAME = "implicit_ncf.model"
FORMAT_VERSION = 1
_MODELS = ("neumf", "gmf", "mlp", "mf")


class NotFittedError(ValueError, AttributeError):
    """Raised when a recommender is used before ``fit`` (same bases as scikit-learn's)."""


class UnknownIdWarning(UserWarning):
    """Rows with users or items unknown to the model were set aside (and counted)."""


# --------------------------------------------------------------------------------------------
# small validators
# --------------------------------------------------------------------------------------------


def _check_positive_int(value: Any, name: str, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        extra = " or None" if allow_none else ""
        raise ValueError(f"{name} must be a positive integer{extra}; got {value!r}.")
    return int(value)


def _check_ks(k: Any) -> tuple[int, ...]:
    if isinstance(k, str | bytes):
        raise ValueError(f"k must be a positive integer or a sequence of them; got {k!r}.")
    ks = (k,) if isinstance(k, int | np.integer) and not isinstance(k, bool) else k
    try:
        ks = tuple(ks)
    except TypeError:
        raise ValueError(
            f"k must be a positive integer or a sequence of them; got {k!r}."
        ) from None
    if not ks:
        raise ValueError(f"k must be a positive integer or a sequence of them; got {k!r}.")
    for value in ks:
        _check_positive_int(value, "k")
    return tuple(int(v) for v in ks)


def _as_id_list(users: Any, parameter: str = "user") -> tuple[list[Hashable], bool]:
    """Return (ids, is_single); a clear error for arrays that are not 1-D or unhashable ids."""
    if isinstance(users, np.ndarray) and users.ndim != 1:
        if users.ndim == 0:
            return [users.item()], True
        raise ValueError(
            f"{parameter} must be one id or a 1-D sequence of ids; got an array of shape "
            f"{users.shape}. Flatten it first, e.g. {parameter}=ids.ravel()."
        )
    if isinstance(users, pd.Series | pd.Index | np.ndarray | list | tuple | set):
        ids, single = list(users), False
    else:
        ids, single = [users], True
    for value in ids:
        if not pd.api.types.is_hashable(value):
            raise TypeError(
                f"{parameter} must be one id or a list of ids, each hashable (int, str, ...); got "
                f"{type(value).__name__} {value!r}. Pass e.g. {parameter}=[1, 2]."
            )
    return ids, single


def _object_array(ids: list[Hashable]) -> np.ndarray:
    """1-D object array of ids (``np.asarray`` would turn tuple ids into a 2-D array)."""
    return np.fromiter(ids, dtype=object, count=len(ids))


class _Catalogue(NamedTuple):
    users: IdEncoder
    items: IdEncoder
    seen: sp.csr_matrix
    popularity: np.ndarray
    user_idx: np.ndarray
    item_idx: np.ndarray


# --------------------------------------------------------------------------------------------
# shared recommender behaviour
# --------------------------------------------------------------------------------------------


class _BaseRecommender:
    """get_params / set_params / repr and the recommend / score / evaluate machinery.

    Subclasses implement ``fit`` and two scoring primitives over contiguous indices:
    ``_score_pairs(user_idx, item_idx) -> ndarray`` and ``_score_users(user_idx) -> Tensor``.
    """

    _fitted_attribute = "item_encoder_"

    # set by subclasses' __init__ / fit (annotations only: unfitted instances lack the attributes)
    user_col: str
    item_col: str
    rating_col: str
    time_col: str
    min_rating: float | None
    on_unknown_user: str
    user_encoder_: IdEncoder
    item_encoder_: IdEncoder
    seen_: sp.csr_matrix
    item_popularity_: np.ndarray

    # -- parameters -------------------------------------------------------------------------------
    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values() if p.name != "self")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters of this estimator (scikit-learn convention)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> _BaseRecommender:
        """Set constructor parameters; returns ``self``. Unknown names raise ``ValueError``."""
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for {type(self).__name__}; valid parameters are "
                    f"{valid}."
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        changed = []
        for name, value in self.get_params().items():
            default = defaults.get(name, inspect.Parameter.empty)
            try:
                same = bool(value == default)
            except Exception:
                same = False
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    # -- fitted state -------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, self._fitted_attribute):
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet; call fit(interactions) "
                "before using it."
            )

    @property
    def n_users_(self) -> int:
        self._check_fitted()
        return len(self.user_encoder_)

    @property
    def n_items_(self) -> int:
        self._check_fitted()
        return len(self.item_encoder_)

    def _prepare(self, interactions: pd.DataFrame) -> pd.DataFrame:
        """Validate and deduplicate a training frame into implicit (user, item) positives."""
        rating_col = self.rating_col if self.min_rating is not None else None
        check_interactions(
            interactions, user_col=self.user_col, item_col=self.item_col, rating_col=rating_col
        )
        time_col = self.time_col if self.time_col in interactions.columns else None
        return to_implicit(
            interactions,
            user_col=self.user_col,
            item_col=self.item_col,
            rating_col=rating_col,
            time_col=time_col,
            min_rating=self.min_rating,
        )

    def _set_catalogue(self, positives: pd.DataFrame) -> _Catalogue:
        """Encoders, seen-items matrix, popularity and the encoded positives of a training frame."""
        users = IdEncoder("user").fit(positives[self.user_col])
        items = IdEncoder("item").fit(positives[self.item_col])
        u = users.transform(positives[self.user_col])
        i = items.transform(positives[self.item_col])
        seen = interactions_to_csr(u, i, len(users), len(items))
        popularity = np.bincount(i, minlength=len(items)).astype(np.int64)
        return _Catalogue(users, items, seen, popularity, u, i)

    # -- scoring primitives (subclasses) --------------------------------------------------------
    def _score_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _score_users(self, user_idx: np.ndarray) -> torch.Tensor:
        raise NotImplementedError

    # -- public API -------------------------------------------------------------------------------
    def predict(self, users: Any, items: Any) -> np.ndarray:
        """Scores of (user, item) pairs given as raw ids; higher means more likely.

        Parameters
        ----------
        users, items : array-like of shape (n_pairs,)
            Raw ids, as in the training frame.

        Returns
        -------
        ndarray of shape (n_pairs,)

        Raises
        ------
        ValueError
            If the lengths differ or an id is unknown (the message names it).
        """
        self._check_fitted()
        user_list, _ = _as_id_list(users, "users")
        item_list, _ = _as_id_list(items, "items")
        if len(user_list) != len(item_list):
            raise ValueError(
                f"users and items must have the same length; got {len(user_list)} users and "
                f"{len(item_list)} items."
            )
        u = self.user_encoder_.transform(_object_array(user_list))
        i = self.item_encoder_.transform(_object_array(item_list))
        return self._score_pairs(u, i)

    def recommend(
        self,
        user: Any,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        batch_size: int = 1024,
    ) -> pd.DataFrame:
        """Top-``k`` items for one user or a list of users.

        Parameters
        ----------
        user : hashable or list of hashables
            A raw user id, or several (list, array, Series).
        k : int, default 10
            Number of items per user. When fewer than ``k`` items are left after excluding the
            user's training items, all of them are returned.
        exclude_seen : bool, default True
            Leave out the items the user interacted with in the training data.
        batch_size : int, default 1024
            Users scored per block (full catalogue per user).

        Returns
        -------
        pandas.DataFrame
            Columns ``item`` and ``score``, best first, for one user; with a leading ``user``
            column for a list of users. Items are real (raw) ids.

        Raises
        ------
        ValueError
            For an unknown user, unless ``on_unknown_user="popular"``, which gives that user the
            most popular items.
        """
        self._check_fitted()
        k = _check_positive_int(k, "k")  # type: ignore[assignment]
        batch_size = _check_positive_int(batch_size, "batch_size")  # type: ignore[assignment]
        if not isinstance(exclude_seen, bool | np.bool_):
            raise TypeError(
                f"exclude_seen must be True or False; got {type(exclude_seen).__name__} "
                f"{exclude_seen!r}."
            )
        ids, single = _as_id_list(user)
        u = self.user_encoder_.get_indexer(_object_array(ids))
        unknown = u < 0
        if unknown.any() and self.on_unknown_user != "popular":
            missing = list(dict.fromkeys(_object_array(ids)[unknown].tolist()))
            raise ValueError(
                f"unknown user id(s) {missing[:5]!r}{' ...' if len(missing) > 5 else ''}: not in "
                f"the training data. Pass on_unknown_user='popular' to the constructor to "
                f"recommend popular items to unknown users."
            )
        n_items = self.n_items_
        k_eff = min(k, n_items)
        top_items = np.empty((len(ids), k_eff), dtype=np.int64)
        top_scores = np.full((len(ids), k_eff), -np.inf, dtype=np.float64)
        known_rows = np.flatnonzero(~unknown)
        with torch.inference_mode():
            for start in range(0, len(known_rows), batch_size):
                rows = known_rows[start : start + batch_size]
                scores = self._score_users(u[rows]).float()
                if exclude_seen:
                    _mask_seen(scores, self.seen_, u[rows])
                values, idx = torch.topk(scores, k_eff, dim=1)
                top_items[rows] = idx.numpy()
                top_scores[rows] = values.double().numpy()
        if unknown.any():
            order = np.argsort(-self.item_popularity_, kind="stable")[:k_eff]
            top_items[unknown] = order
            top_scores[unknown] = self.item_popularity_[order] / max(1, self.item_popularity_.sum())
        keep = np.isfinite(top_scores)
        n_per_user = keep.sum(1)
        frame = pd.DataFrame(
            {
                "item": self.item_encoder_.inverse_transform(top_items[keep]),
                "score": self._to_output_score(top_scores[keep]),
            }
        )
        if single:
            return frame
        frame.insert(0, "user", np.repeat(_object_array(ids), n_per_user))
        frame["user"] = frame["user"].infer_objects()
        return frame

    def _to_output_score(self, scores: np.ndarray) -> np.ndarray:
        return scores

    def _training_frame(self) -> pd.DataFrame:
        """The deduplicated training pairs as raw ids, rebuilt from the seen-items matrix."""
        seen = self.seen_
        u = np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr))
        return pd.DataFrame(
            {
                self.user_col: self.user_encoder_.inverse_transform(u),
                self.item_col: self.item_encoder_.inverse_transform(seen.indices),
            }
        )

    def _score_candidates(self, candidates: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
        u = self.user_encoder_.get_indexer(candidates[self.user_col].to_numpy())
        i = self.item_encoder_.get_indexer(candidates[self.item_col].to_numpy())
        known = (u >= 0) & (i >= 0)
        scores = np.full(len(candidates), -np.inf)
        if known.any():
            scores[known] = self._score_pairs(u[known], i[known])
        targets = candidates["is_target"].to_numpy(dtype=bool)
        info = {
            "n_unknown_users": int(pd.unique(candidates.loc[u < 0, self.user_col]).size),
            "n_unknown_targets": int((~known & targets).sum()),
        }
        scored = candidates.assign(score=scores)
        return scored, info

    def evaluate(
        self,
        test: pd.DataFrame,
        *,
        k: int | Sequence[int] = (5, 10, 20),
        n_negatives: int | None = 99,
        random_state: Any = 0,
        candidates: pd.DataFrame | None = None,
    ) -> dict[str, float]:
        """HR@k, NDCG@k and MRR@k of held-out test interactions.

        Parameters
        ----------
        test : pandas.DataFrame
            Held-out interactions (e.g. ``leave_one_out(frame).test``) with the same id columns.
        k : int or sequence of int, default (5, 10, 20)
            Cut-offs.
        n_negatives : int or None, default 99
            Rank each test item among this many sampled items the user never interacted with
            (the NCF protocol); ``None`` ranks it against the whole catalogue minus the user's
            training items (full ranking).
        random_state : int, Generator or None, default 0
            Seed of the sampled negatives, fixed by default so that scores are comparable.
        candidates : pandas.DataFrame or None, default None
            A ready candidates frame (``user``, ``item``, ``is_target`` columns, as
            :func:`implicit_ncf.sampling.sample_candidates` returns), e.g. a published set of
            negatives such as the NCF paper's; ``test`` is then used only for validation and
            ``n_negatives`` / ``random_state`` are ignored.

        Returns
        -------
        dict
            ``"hr@k"``, ``"ndcg@k"``, ``"mrr@k"`` for each k, ``"n_users"``, ``"n_targets"`` and
            ``"n_unknown_users"`` / ``"n_unknown_targets"``: test rows whose user or item was not in
            the training data are scored as misses (the model cannot rank what it has never seen)
            and counted here rather than dropped.
        """
        self._check_fitted()
        ks = _check_ks(k)
        n_negatives = _check_positive_int(n_negatives, "n_negatives", allow_none=True)
        check_interactions(test, user_col=self.user_col, item_col=self.item_col, parameter="test")
        full = None
        if candidates is None and n_negatives is None:
            full = self._full_ranking(test[[self.user_col, self.item_col]], ks)
        if full is not None:
            result, info = full
        elif candidates is None:
            candidates = sample_candidates(
                self._training_frame(),
                test[[self.user_col, self.item_col]],
                n_negatives=n_negatives,
                user_col=self.user_col,
                item_col=self.item_col,
                random_state=random_state,
            )
        else:
            check_interactions(
                candidates, user_col=self.user_col, item_col=self.item_col, parameter="candidates"
            )
            if "is_target" not in candidates.columns:
                raise ValueError(
                    "candidates needs a boolean 'is_target' column marking each user's held-out "
                    f"item(s); its columns are {list(candidates.columns)!r}."
                )
        if full is None:
            scored, info = self._score_candidates(candidates)
            result = evaluate_scored(scored, k=ks, user_col=self.user_col, item_col=self.item_col)
        if info["n_unknown_targets"]:
            warnings.warn(
                f"{info['n_unknown_targets']} test interaction(s) have a user or item that was not "
                f"in the training data ({info['n_unknown_users']} unknown user(s)); they are "
                "scored as misses.",
                UnknownIdWarning,
                stacklevel=2,
            )
        result.update(info)
        return result

    def _full_ranking(
        self, test: pd.DataFrame, ks: tuple[int, ...]
    ) -> tuple[dict[str, Any], dict[str, int]] | None:
        """Full-ranking metrics without a candidates frame: whole score rows per user block.

        The same ranks as ``sample_candidates(..., n_negatives=None)`` + ``_score_candidates`` +
        ``metrics.evaluate`` (each test row ranked against the catalogue minus the user's
        training and test items, ties counting against it, unknown users or items as misses,
        metrics averaged in the same order), but scored by ``_score_users`` (for NeuMF the split
        first layer) instead of one forward pass per (user, item) pair in a frame of
        ``n_users * n_items`` rows. Returns None when a score is NaN, so that the frame path
        raises its error.
        """
        from .metrics import hit_ratio_at_k, mrr_at_k, ndcg_at_k

        raw_users = test[self.user_col].to_numpy()
        u = self.user_encoder_.get_indexer(raw_users)
        i = self.item_encoder_.get_indexer(test[self.item_col].to_numpy())
        n_items = self.n_items_
        seen = self.seen_
        group = IdEncoder("user").fit(raw_users).transform(raw_users)  # sorted, as the frame
        n_groups = int(group.max()) + 1
        # negatives per user: the catalogue minus its training items and its (known) test items
        pairs = np.unique(group[i >= 0].astype(np.int64) * n_items + i[i >= 0])
        pair_group, pair_item = pairs // n_items, pairs % n_items
        group_user = np.full(n_groups, -1, dtype=np.int64)
        group_user[group] = u
        in_train = np.zeros(len(pairs), dtype=bool)
        known = group_user[pair_group] >= 0
        if known.any():
            train_keys = (
                np.repeat(np.arange(seen.shape[0], dtype=np.int64), np.diff(seen.indptr)) * n_items
                + seen.indices
            )
            query = group_user[pair_group[known]] * n_items + pair_item[known]
            at = np.minimum(np.searchsorted(train_keys, query), len(train_keys) - 1)
            in_train[known] = train_keys[at] == query
        n_train = np.where(group_user >= 0, np.diff(seen.indptr)[np.maximum(group_user, 0)], 0)
        extra = np.bincount(pair_group[~in_train], minlength=n_groups)
        ranks = (n_items - n_train - extra)[group].astype(np.int64)  # misses rank last
        rows = np.flatnonzero((u >= 0) & (i >= 0))
        if len(rows):
            block = max(1, (1 << 22) // max(1, n_items))
            users = np.unique(u[rows])
            by_user = rows[np.argsort(u[rows], kind="stable")]
            starts = np.searchsorted(u[by_user], users)
            with torch.inference_mode():
                for b in range(0, len(users), block):
                    block_users = users[b : b + block]
                    scores = self._score_users(block_users)
                    if torch.isnan(scores).any():
                        return None
                    excluded = torch.zeros(scores.shape, dtype=torch.bool)
                    train_rows = seen[block_users].tocoo()  # the block's training items
                    excluded[
                        torch.from_numpy(train_rows.row.astype(np.int64)),
                        torch.from_numpy(train_rows.col.astype(np.int64)),
                    ] = True
                    stop = starts[b + block] if b + block < len(users) else len(by_user)
                    block_rows = by_user[starts[b] : stop]
                    row_local = torch.from_numpy(np.searchsorted(block_users, u[block_rows]))
                    row_items = torch.from_numpy(i[block_rows].astype(np.int64))
                    excluded[row_local, row_items] = True  # every test item of these users
                    target = scores[row_local, row_items]
                    for c in range(0, len(block_rows), 4096):
                        part = slice(c, c + 4096)
                        beats = scores[row_local[part]] >= target[part, None]
                        beats &= ~excluded[row_local[part]]
                        ranks[block_rows[part]] = beats.sum(1).numpy()
        order = np.argsort(group, kind="stable")  # the frame's order: by user id, then test order
        ranks = ranks[order]
        result: dict[str, Any] = {}
        for name, fn in (("hr", hit_ratio_at_k), ("ndcg", ndcg_at_k), ("mrr", mrr_at_k)):
            for cut in dict.fromkeys(ks):
                result[f"{name}@{cut}"] = float(fn(ranks, cut, reduction="none").mean())
        result["n_users"] = n_groups
        result["n_targets"] = len(ranks)
        info = {
            "n_unknown_users": int(pd.unique(raw_users[u < 0]).size),
            "n_unknown_targets": int(((u < 0) | (i < 0)).sum()),
        }
        return result, info

    def score(
        self,
        test: pd.DataFrame,
        *,
        k: int = 10,
        n_negatives: int | None = 99,
        random_state: Any = 0,
        candidates: pd.DataFrame | None = None,
    ) -> float:
        """Hit Ratio@k on ``test``: by default each test item ranked among 99 sampled unseen items.

        See :meth:`evaluate` for the parameters; ``n_negatives=None`` ranks against the full
        catalogue.
        """
        k = _check_positive_int(k, "k")  # type: ignore[assignment]
        result = self.evaluate(
            test, k=(k,), n_negatives=n_negatives, random_state=random_state, candidates=candidates
        )
        return float(result[f"hr@{k}"])


def _mask_seen(scores: torch.Tensor, seen: sp.csr_matrix, user_idx: np.ndarray) -> None:
    """Set the scores of each user's training items to -inf, in place."""
    start, end = seen.indptr[user_idx], seen.indptr[user_idx + 1]
    counts = end - start
    if not counts.sum():
        return
    rows = np.repeat(np.arange(len(user_idx)), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    cols = seen.indices[np.repeat(start, counts) + offsets]
    scores[torch.from_numpy(rows), torch.from_numpy(cols.astype(np.int64))] = -torch.inf


# --------------------------------------------------------------------------------------------
# popularity baseline
# --------------------------------------------------------------------------------------------


class PopularityRecommender(_BaseRecommender):
    """Recommend the items with the most training interactions (a baseline every model must beat).

    Parameters
    ----------
    user_col, item_col, rating_col, time_col : str
        Column names of the interactions frames.
    min_rating : float or None, default None
        Count only interactions rated at least this.
    on_unknown_user : {"raise", "popular"}, default "raise"
        What ``recommend`` does with a user absent from training.
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

    def fit(self, interactions: pd.DataFrame) -> PopularityRecommender:
        """Count each item's distinct users. Returns ``self``."""
        positives = self._prepare(interactions)
        cat = self._set_catalogue(positives)
        self.user_encoder_, self.seen_, self.item_popularity_ = cat.users, cat.seen, cat.popularity
        self.item_encoder_ = cat.items
        return self

    def _score_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        return self.item_popularity_[item_idx].astype(np.float64)

    def _score_users(self, user_idx: np.ndarray) -> torch.Tensor:
        pop = torch.from_numpy(self.item_popularity_.astype(np.float64))
        return pop.unsqueeze(0).expand(len(user_idx), -1).clone()


# --------------------------------------------------------------------------------------------
# training data pipeline
# --------------------------------------------------------------------------------------------


# Epochs of at most this many examples are built one epoch ahead in a background thread (their
# tensors, 20 bytes per example, are then held twice); larger ones are built when they start and
# decoded batch by batch, to keep the peak memory of ML-20M-sized data low.
_LOOKAHEAD_MAX_ROWS = 1 << 24


class _EpochParts(NamedTuple):
    """One epoch in compact form: ``order`` indexes ``[positives..., negatives...]``."""

    users: np.ndarray  # (m,) users of the rank's shuffled positives
    items: np.ndarray  # (m,) their items
    negatives: np.ndarray  # (m * n_negatives,) negative items, n_negatives per positive in turn
    order: np.ndarray  # (m * (1 + n_negatives),) the shuffle of all examples (int32 if it fits)


class _EpochBatches(torch.utils.data.IterableDataset):
    """One epoch of whole-tensor training batches, with fresh negatives each epoch.

    Every iteration (epoch) shuffles the positives, draws ``n_negatives`` negatives per positive
    from the items the user never interacted with in training (vectorised, see
    :func:`implicit_ncf.sampling.sample_negatives`), and yields ``(users, items, labels)`` slices of
    pre-built tensors. Under distributed training each rank takes its own equal share of the
    shuffled positives, so no rank repeats another's work.

    Each yielded batch holds ``steps_per_batch`` optimizer steps of ``batch_size`` examples (the
    module slices it; see ``NCFModule(step_batch_size=...)``). Epochs of up to
    ``_LOOKAHEAD_MAX_ROWS`` examples are built one epoch ahead in a background thread (numpy
    releases the GIL), so that training does not wait for the shuffle and the sampling; larger
    epochs are kept in compact form and decoded batch by batch. Either way the batches of an epoch
    depend only on ``(seed, epoch, rank)``.
    """

    def __init__(
        self,
        user_idx: np.ndarray,
        item_idx: np.ndarray,
        sampler: Any,
        *,
        n_negatives: int,
        batch_size: int,
        seed: int,
        steps_per_batch: int = 1,
    ) -> None:
        super().__init__()
        self.user_idx = user_idx
        self.item_idx = item_idx
        self.sampler = sampler
        self.n_negatives = n_negatives
        self.batch_size = batch_size
        self.seed = seed
        self.steps_per_batch = steps_per_batch
        self.epoch = 0
        self.trainer: Any = None  # set by NeuralCF._train; its ranks decide the shares
        self._ahead: tuple[int, threading.Thread, list[Any]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_ahead"] = None  # a running thread cannot be pickled; it is only a cache
        return state

    def _world(self) -> tuple[int, int]:
        if self.trainer is not None:  # a process group left by an earlier fit must not count
            return int(self.trainer.global_rank), int(self.trainer.world_size)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def _share(self) -> int:
        _, world = self._world()
        return math.ceil(len(self.user_idx) / world)

    def __len__(self) -> int:
        rows = self._share() * (1 + self.n_negatives)
        return math.ceil(rows / (self.batch_size * self.steps_per_batch))

    def _parts(self, epoch: int) -> _EpochParts:
        rank, world = self._world()
        n = len(self.user_idx)
        # the same permutation on every rank, then a disjoint share per rank
        perm = np.random.default_rng([self.seed, epoch]).permutation(n)
        share = self._share()
        if world > 1:
            perm = np.resize(perm, share * world)  # pad by wrapping so every rank has `share`
            perm = perm[rank * share : (rank + 1) * share]
        users = self.user_idx[perm]
        items = self.item_idx[perm]
        del perm
        rng = np.random.default_rng([self.seed, epoch, rank, 1])
        negatives = self.sampler.sample(users, self.n_negatives, random_state=rng).reshape(-1)
        if negatives.size and negatives.max() < 2**31:  # half the memory for large epochs
            negatives = negatives.astype(np.int32)
        total = len(users) * (1 + self.n_negatives)
        # shuffling an arange draws exactly what rng.permutation(total) draws, in int32 when it
        # fits: half the memory traffic of the int64 permutation
        order = np.arange(total, dtype=np.int32 if total < 2**31 else np.int64)
        rng.shuffle(order)
        return _EpochParts(users, items, negatives, order)

    def _decode(
        self, parts: _EpochParts, start: int, stop: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Examples ``order[start:stop]`` of ``[positives..., negatives...]`` as tensors."""
        o = parts.order[start:stop].astype(np.int64)
        m = len(parts.users)
        positive = o < m
        neg = np.maximum(o - m, 0)  # position among the negatives (0 for positives, unused)
        users = parts.users[np.where(positive, o, neg // self.n_negatives)]
        items = np.where(positive, parts.items[np.minimum(o, m - 1)], parts.negatives[neg])
        labels = positive.astype(np.float32)
        return torch.from_numpy(users), torch.from_numpy(items), torch.from_numpy(labels)

    def build_epoch(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """All of one epoch's ``(users, items, labels)`` in training order, as whole tensors."""
        parts = self._parts(epoch)
        return self._decode(parts, 0, len(parts.order))

    def _spare_core(self) -> bool:
        """Whether building ahead can overlap training: the model is on an accelerator, or torch
        leaves a CPU core free. When torch's threads already take every core, the builder thread
        would only slow its intra-op threads down, so the next epoch is built when it starts."""
        accelerator = getattr(self.trainer, "accelerator", None)
        if accelerator is not None and type(accelerator).__name__ != "CPUAccelerator":
            return True
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cores = os.cpu_count() or 1
        return torch.get_num_threads() < cores

    def _start_ahead(self, epoch: int) -> None:
        box: list[Any] = []

        def build() -> None:
            try:
                box.append(self.build_epoch(epoch))
            except BaseException as exc:  # handed to the training thread by _take
                box.append(exc)

        thread = threading.Thread(target=build, name="implicit_ncf-next-epoch", daemon=True)
        thread.start()
        self._ahead = (epoch, thread, box)

    def _take(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ahead, self._ahead = self._ahead, None
        if ahead is None or ahead[0] != epoch:
            return self.build_epoch(epoch)
        ahead[1].join()
        result = ahead[2][0]
        if isinstance(result, BaseException):
            raise result
        return result  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        epoch = self.epoch
        self.epoch += 1
        step = self.batch_size * self.steps_per_batch
        if self._share() * (1 + self.n_negatives) > _LOOKAHEAD_MAX_ROWS:
            parts = self._parts(epoch)
            for start in range(0, len(parts.order), step):
                yield self._decode(parts, start, start + step)
            return
        users, items, labels = self._take(epoch)
        max_epochs = getattr(self.trainer, "max_epochs", None)
        last = isinstance(max_epochs, int) and 0 <= max_epochs <= epoch + 1
        if not last and self._spare_core():
            self._start_ahead(epoch + 1)
        for start in range(0, len(users), step):
            stop = start + step
            yield users[start:stop], items[start:stop], labels[start:stop]


class _TensorBatches(torch.utils.data.IterableDataset):
    """Fixed tensors yielded in slices (validation candidates)."""

    def __init__(self, *tensors: torch.Tensor, batch_size: int) -> None:
        super().__init__()
        self.tensors = tensors
        self.batch_size = batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.tensors[0]) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        n = len(self.tensors[0])
        for start in range(0, n, self.batch_size):
            yield tuple(t[start : start + self.batch_size] for t in self.tensors)


# --------------------------------------------------------------------------------------------
# Lightning callbacks
# --------------------------------------------------------------------------------------------


def _callbacks(monitor: str | None, patience: int | None, verbose: bool) -> list[Any]:
    import pytorch_lightning as pl

    class History(pl.Callback):
        """Per-epoch loss, validation metrics and elapsed time; keeps the best weights."""

        def __init__(self) -> None:
            self.history: list[dict[str, float]] = []
            self.best_score = -math.inf
            self.best_state: dict[str, torch.Tensor] | None = None
            self.best_epoch: int | None = None
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            log_epoch_loss = getattr(module, "_log_epoch_loss", None)
            if log_epoch_loss is not None:  # the module logs "loss" once per epoch; now, so
                log_epoch_loss()  # that this row has it (callbacks run before the module's hook)
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
            row = {"epoch": trainer.current_epoch, "time": time.perf_counter() - self.start}
            row.update(metrics)
            self.history.append(row)
            if monitor is not None and monitor in metrics and metrics[monitor] > self.best_score:
                self.best_score = metrics[monitor]
                self.best_epoch = trainer.current_epoch
                self.best_state = {
                    k: v.detach().to("cpu", copy=True)
                    for k, v in module.network.state_dict().items()
                }
            if verbose and trainer.is_global_zero:
                text = " ".join(
                    f"{k}={v:.4f}" for k, v in row.items() if k not in ("epoch", "time")
                )
                line = f"epoch {row['epoch']:>3}  {text}  ({row['time']:.1f}s)"
                bar = trainer.progress_bar_callback
                if bar is not None and hasattr(bar, "print"):
                    bar.print(line)
                else:
                    logger.info(line)

    callbacks: list[Any] = [History()]
    if monitor is not None and patience is not None:
        callbacks.append(
            pl.callbacks.EarlyStopping(
                monitor=monitor, mode="max", patience=patience, check_on_train_epoch_end=True
            )
        )
    return callbacks


@contextlib.contextmanager
def _quiet_lightning(verbose: bool) -> Iterator[None]:
    """Silence Lightning's info logs and advisory warnings unless ``verbose``.

    Warnings about how the library itself drives Lightning (its iterable of whole batches, no
    worker processes, internal deprecations) say nothing a user can act on and are always hidden.
    """
    names = [
        "pytorch_lightning",
        "pytorch_lightning.utilities.rank_zero",
        "lightning.pytorch",
        "lightning.pytorch.utilities.rank_zero",
        "lightning_fabric",
        "lightning_fabric.utilities.rank_zero",
    ]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    internal = (
        ".*does not have many workers.*",
        ".*LeafSpec.*",
        ".*treespec.*",
        ".*Your `IterableDataset` has `__len__` defined.*",
        ".*You defined a `validation_step` but have no `val_dataloader`.*",
    )
    advisory = (
        ".*The number of training batches.*",
        ".*GPU available but not used.*",
        ".*Total length of .* across ranks is zero.*",
        ".*You are using a CUDA device.*",
    )
    with warnings.catch_warnings():
        for pattern in internal:
            warnings.filterwarnings("ignore", message=pattern)
        if not verbose:
            for lg in loggers:
                lg.setLevel(logging.ERROR)
            for pattern in advisory:
                warnings.filterwarnings("ignore", message=pattern)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


# --------------------------------------------------------------------------------------------
# NeuralCF
# --------------------------------------------------------------------------------------------


class NeuralCF(_BaseRecommender):
    """Neural Collaborative Filtering (GMF, MLP, NeuMF) on implicit feedback.

    Every interaction is a positive; each epoch draws ``n_negatives`` unobserved items per positive
    as negatives, and the network is trained with binary cross-entropy (He et al., WWW 2017). A
    PyTorch Lightning ``Trainer`` does the training; it stays hidden behind ``fit``.

    Parameters
    ----------
    model : {"neumf", "gmf", "mlp", "mf"}, default "neumf"
        The network. ``"mf"`` is plain dot-product matrix factorisation (with biases), the
        baseline every NCF number should stand beside.
    n_factors : int, default 64
        Embedding size of the GMF / MF towers (NCF's "predictive factors").
    hidden_layers : sequence of int, default (128, 64, 32)
        MLP tower: ``hidden_layers[0]`` is the concatenated embedding width, then the ReLU layers.
    dropout : float, default 0.0
        Dropout between MLP layers.
    n_negatives : int, default 4
        Negatives sampled per positive each epoch.
    batch_size : int, default 2048
        Training examples (positives and negatives) per step.
    n_epochs : int, default 8
        Maximum number of epochs (of each tower when NeuMF is pretrained).
    learning_rate : float, default 2e-3
        Adam learning rate.
    weight_decay : float, default 1e-3
        L2 penalty on the embedding rows touched by each batch (see ``NCFModule``).
    lr_decay : float, default 1.0
        Learning rate multiplier applied after every epoch (1.0 keeps it constant). 0.8 was the
        best setting found on MovieLens-1M, but it costs 3-5 points of HR@10 on smaller datasets,
        whose epochs have fewer steps (``docs/results.md``).
    optimizer : {"adam", "lazy_adam"}, default "adam"
        ``"adam"`` updates every parameter on every step, embedding rows outside the batch
        included (their moments keep moving them), as the NCF reference code does. ``"lazy_adam"``
        gives the embeddings sparse gradients and updates only the rows in the batch, moments
        included (``torch.optim.SparseAdam``; plain Adam for the dense layers), as TensorFlow's
        official NCF does with LazyAdam. A different optimizer, not a faster Adam: its results
        differ. Its step costs the batch's rows instead of the whole tables, which pays off on
        large catalogues (about 5x faster training on an ML-20M-sized set on a CPU, slower on
        ML-1M; ``docs/performance.md``). Needs one process (no DDP yet) and is not combined with
        ``trainer_kwargs`` gradient clipping or accumulation.
    pretrain : bool, default True
        For NeuMF: first train a GMF and an MLP tower separately for ``n_epochs`` each, then
        initialise NeuMF from them and fine-tune it for ``finetune_epochs`` at
        ``finetune_learning_rate`` (the NCF paper's recipe, Section 3.4.1). Ignored by the other
        models. With ``pretrain=False`` NeuMF trains from scratch for ``n_epochs``.
    finetune_epochs : int, default 1
        Epochs of NeuMF after pretraining.
    finetune_learning_rate : float, default 5e-4
        Adam learning rate of NeuMF after pretraining (lower than ``learning_rate``: the
        pretrained towers are already close to a good solution).
    early_stopping : bool, default False
        Hold out each user's latest training interaction (random one without timestamps) as an
        internal validation set carved from the training data, validate HR@10/NDCG@10 every epoch,
        stop after ``patience`` epochs without improvement and keep the best weights. When
        ``validation`` is passed to ``fit``, it is used instead of the internal split.
    patience : int, default 3
        Epochs without improvement before early stopping.
    min_rating : float or None, default None
        Treat only interactions rated at least this as positives (needs ``rating_col``).
    user_col, item_col, rating_col, time_col : str
        Column names of the interactions frames.
    on_unknown_user : {"raise", "popular"}, default "raise"
        What ``recommend`` does with a user absent from training.
    accelerator, devices : str or int
        Passed to the Lightning ``Trainer`` ("auto" uses a GPU when there is one).
    trainer_kwargs : dict or None, default None
        Anything else for the ``Trainer`` (strategy, precision, callbacks, loggers, ...).
    verbose : bool, default False
        Show Lightning's progress bar and one line per epoch with loss and validation metrics.
    random_state : int or None, default None
        Seed of weight initialisation, shuffling and negative sampling.

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained network (on the CPU, in eval mode).
    user_encoder_, item_encoder_ : IdEncoder
        Raw id <-> index maps.
    seen_ : scipy.sparse.csr_matrix of shape (n_users, n_items)
        Training interactions, excluded from recommendations.
    item_popularity_ : ndarray of shape (n_items,)
        Training interactions per item.
    history_ : list of dict
        One row per epoch: ``stage`` (the network trained: ``"gmf"`` and ``"mlp"`` rows precede
        ``"neumf"`` when pretraining), ``epoch``, ``loss``, validation metrics when validating,
        and elapsed seconds of that stage.
    best_epoch_ : int or None
        Epoch of the last stage whose weights were kept (with validation), else None.
    fit_time_ : float
        Seconds spent in ``fit``.

    Notes
    -----
    The defaults were chosen on validation data carved from the training pairs of the NCF paper's
    MovieLens-1M split (never on its test set); ``docs/results.md`` lists every configuration
    tried with its validation curve, and the test figures. On that split a regularised
    dot product (``model="mf"``) is as accurate as NeuMF and several times cheaper to train
    (Rendle et al., RecSys 2020): report it beside any NCF number.

    References
    ----------
    X. He, L. Liao, H. Zhang, L. Nie, X. Hu and T.-S. Chua. Neural Collaborative Filtering.
    WWW 2017.

    Examples
    --------
    >>> from implicit_ncf import NeuralCF, load_movielens
    >>> from implicit_ncf.splits import leave_one_out
    >>> split = leave_one_out(load_movielens())
    >>> model = NeuralCF(n_epochs=2, random_state=0).fit(split.train)  # doctest: +SKIP
    >>> model.recommend(1, k=3)  # doctest: +SKIP
    """

    _fitted_attribute = "network_"

    def __init__(
        self,
        *,
        model: str = "neumf",
        n_factors: int = 64,
        hidden_layers: Sequence[int] = (128, 64, 32),
        dropout: float = 0.0,
        n_negatives: int = 4,
        batch_size: int = 2048,
        n_epochs: int = 8,
        learning_rate: float = 2e-3,
        weight_decay: float = 1e-3,
        lr_decay: float = 1.0,
        optimizer: str = "adam",
        pretrain: bool = True,
        finetune_epochs: int = 1,
        finetune_learning_rate: float = 5e-4,
        early_stopping: bool = False,
        patience: int = 3,
        min_rating: float | None = None,
        user_col: str = "user",
        item_col: str = "item",
        rating_col: str = "rating",
        time_col: str = "timestamp",
        on_unknown_user: str = "raise",
        accelerator: str = "auto",
        devices: int | str | Sequence[int] = "auto",
        trainer_kwargs: dict[str, Any] | None = None,
        verbose: bool = False,
        random_state: int | None = None,
    ) -> None:
        self.model = model
        self.n_factors = n_factors
        self.hidden_layers = hidden_layers
        self.dropout = dropout
        self.n_negatives = n_negatives
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.lr_decay = lr_decay
        self.optimizer = optimizer
        self.pretrain = pretrain
        self.finetune_epochs = finetune_epochs
        self.finetune_learning_rate = finetune_learning_rate
        self.early_stopping = early_stopping
        self.patience = patience
        self.min_rating = min_rating
        self.user_col = user_col
        self.item_col = item_col
        self.rating_col = rating_col
        self.time_col = time_col
        self.on_unknown_user = on_unknown_user
        self.accelerator = accelerator
        self.devices = devices
        self.trainer_kwargs = trainer_kwargs
        self.verbose = verbose
        self.random_state = random_state

    # -- validation of hyperparameters ---------------------------------------------------------
    def _check_params(self) -> None:
        if self.model not in _MODELS:
            raise ValueError(f"model must be one of {list(_MODELS)}; got {self.model!r}.")
        for name in (
            "n_factors",
            "n_negatives",
            "batch_size",
            "n_epochs",
            "finetune_epochs",
            "patience",
        ):
            _check_positive_int(getattr(self, name), name)
        layers = self.hidden_layers
        if (
            isinstance(layers, str | bytes)
            or not isinstance(layers, Sequence)
            or not layers
            or any(
                isinstance(h, bool) or not isinstance(h, int | np.integer) or h <= 0 for h in layers
            )
        ):
            raise ValueError(
                f"hidden_layers must be a non-empty sequence of positive integers such as "
                f"(64, 32, 16, 8); got {layers!r}."
            )
        if self.model in ("mlp", "neumf") and layers[0] < 2:
            raise ValueError(
                f"hidden_layers[0] is the concatenated user+item embedding width and must be at "
                f"least 2; got {layers[0]}."
            )
        for name, low, high in (
            ("dropout", 0.0, 1.0),
            ("learning_rate", 0.0, math.inf),
            ("finetune_learning_rate", 0.0, math.inf),
            ("weight_decay", 0.0, math.inf),
            ("lr_decay", 0.0, 1.0),
        ):
            value = getattr(self, name)
            ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
            ok = ok and math.isfinite(value)
            if name == "dropout":
                ok = ok and low <= value < high
            elif name == "weight_decay":
                ok = ok and value >= low
            elif name == "lr_decay":
                ok = ok and low < value <= high
            else:
                ok = ok and value > low
            if not ok:
                raise ValueError(f"{name} has an invalid value {value!r}; see the docstring.")
        from .model import OPTIMIZERS

        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"optimizer must be one of {list(OPTIMIZERS)}; got {self.optimizer!r}."
            )
        if self.optimizer == "lazy_adam" and self._per_batch_options():
            options = sorted(set(self.trainer_kwargs or {}) & _PER_BATCH_TRAINER_OPTIONS)
            raise ValueError(
                f"optimizer='lazy_adam' cannot be combined with trainer_kwargs {options}: those "
                "options need Lightning's automatic optimization, which takes one optimizer and "
                "dense gradients. Drop them, or use optimizer='adam'."
            )
        if self.on_unknown_user not in ("raise", "popular"):
            raise ValueError(
                f"on_unknown_user must be 'raise' or 'popular'; got {self.on_unknown_user!r}."
            )
        if self.trainer_kwargs is not None and not isinstance(self.trainer_kwargs, dict):
            raise TypeError(
                f"trainer_kwargs must be a dict of Trainer arguments or None; got "
                f"{type(self.trainer_kwargs).__name__}."
            )
        if self.random_state is not None and (
            isinstance(self.random_state, bool)
            or not isinstance(self.random_state, int | np.integer)
        ):
            raise TypeError(
                f"random_state must be an int or None (a seed that can be stored); got "
                f"{type(self.random_state).__name__}."
            )
        if self.random_state is not None and self.random_state < 0:
            raise ValueError(
                f"random_state must be a non-negative int seed or None; got {self.random_state!r}."
                " Pass e.g. random_state=0."
            )
        for name in ("pretrain", "early_stopping", "verbose"):
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise TypeError(
                    f"{name} must be True or False; got {type(getattr(self, name)).__name__} "
                    f"{getattr(self, name)!r}."
                )

    # -- fit --------------------------------------------------------------------------------------
    def fit(
        self, interactions: pd.DataFrame, *, validation: pd.DataFrame | None = None
    ) -> NeuralCF:
        """Train on an interactions frame; returns ``self``.

        Parameters
        ----------
        interactions : pandas.DataFrame
            Columns ``user_col`` and ``item_col`` (ids of any hashable type), optionally
            ``rating_col`` and ``time_col``. Every row is a positive (or only those rated at least
            ``min_rating``); repeated pairs are collapsed with a warning.
        validation : pandas.DataFrame or None, default None
            Held-out interactions (never the test set) used to validate HR@10 / NDCG@10 after
            every epoch; the weights of the best epoch are kept. Rows whose user or item is not
            in ``interactions`` are set aside with a warning.

        Returns
        -------
        NeuralCF
            The fitted estimator. A second call starts over. If ``fit`` fails or is interrupted,
            the estimator keeps its previous state.
        """
        self._check_params()
        start = time.perf_counter()
        seed = (
            int(self.random_state)
            if self.random_state is not None
            else int(np.random.default_rng().integers(2**31))
        )
        positives = self._prepare(interactions)
        users, items, seen, popularity, train_u, train_i = self._set_catalogue(positives)
        val_frame = validation
        if val_frame is None and self.early_stopping:
            from .splits import leave_one_out

            time_col = self.time_col if self.time_col in positives.columns else None
            try:
                split = leave_one_out(
                    positives,
                    user_col=self.user_col,
                    item_col=self.item_col,
                    time_col=time_col,
                    random_state=seed,
                )
            except ValueError as exc:
                raise ValueError(
                    "early_stopping=True holds out each user's latest interaction as validation, "
                    f"but no user has two distinct items ({exc}). Pass validation=<frame> or "
                    "early_stopping=False."
                ) from exc
            val_frame = split.test
            keep = (
                users.transform(split.train[self.user_col]),
                items.transform(split.train[self.item_col]),
            )
            train_u, train_i = keep
        val_tensors = None
        if val_frame is not None:
            val_tensors = self._validation_tensors(
                val_frame, users, items, seen, train_u, train_i, seed
            )

        self._stages: list[tuple[str, list[dict[str, float]], int | None]] = []
        try:
            with _preserve_torch_rng(seed):
                network = self._train(
                    users, items, train_u, train_i, val_tensors, seed, model=self.model
                )
            stages = self._stages
        finally:
            del self._stages
        network = network.cpu().eval()
        history = [{"stage": name, **row} for name, rows, _ in stages for row in rows]
        best_epoch = stages[-1][2]
        # All fitted state is assigned at once, only after training succeeded.
        self.user_encoder_, self.item_encoder_ = users, items
        self.seen_, self.item_popularity_ = seen, popularity
        self.history_, self.best_epoch_ = history, best_epoch
        self.network_ = network
        self.fit_time_ = time.perf_counter() - start
        return self

    def _validation_tensors(
        self,
        frame: pd.DataFrame,
        users: IdEncoder,
        items: IdEncoder,
        seen: sp.csr_matrix,
        train_u: np.ndarray,
        train_i: np.ndarray,
        seed: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        check_interactions(
            frame, user_col=self.user_col, item_col=self.item_col, parameter="validation"
        )
        vu = users.get_indexer(frame[self.user_col].to_numpy())
        vi = items.get_indexer(frame[self.item_col].to_numpy())
        known = (vu >= 0) & (vi >= 0)
        if not known.all():
            warnings.warn(
                f"{int((~known).sum())} validation row(s) have a user or item absent from the "
                "training interactions and are left out of validation.",
                UnknownIdWarning,
                stacklevel=3,
            )
        if not known.any():
            raise ValueError(
                "validation has no row whose user and item both appear in the training "
                "interactions; pass held-out interactions of known users and items."
            )
        train = pd.DataFrame({"user": train_u, "item": train_i})
        held = pd.DataFrame({"user": vu[known], "item": vi[known]}).drop_duplicates("user")
        n_pool = np.diff(seen.indptr)[held["user"].to_numpy()]
        n_neg = int(min(99, max(1, len(items) - n_pool.max() - 1)))
        cands = sample_candidates(train, held, n_negatives=n_neg, random_state=seed)
        # one row per validation user: target first, then its negatives (-1 padded)
        cands = cands.sort_values(["user", "is_target"], ascending=[True, False], kind="stable")
        counts = cands.groupby("user", sort=True).size().to_numpy()
        width = int(counts.max())
        offsets = np.arange(len(cands)) - np.repeat(np.cumsum(counts) - counts, counts)
        rows = np.repeat(np.arange(len(counts)), counts)
        matrix = np.full((len(counts), width), -1, dtype=np.int64)
        matrix[rows, offsets] = cands["item"].to_numpy()
        val_users = cands["user"].drop_duplicates().to_numpy()
        return torch.from_numpy(val_users.astype(np.int64)), torch.from_numpy(matrix)

    def _train(
        self,
        users: IdEncoder,
        items: IdEncoder,
        train_u: np.ndarray,
        train_i: np.ndarray,
        val_tensors: tuple[torch.Tensor, torch.Tensor] | None,
        seed: int,
        *,
        model: str,
    ) -> torch.nn.Module:
        from .model import GMF, MLP, NCFModule, NeuMF, build_network, set_sparse_embeddings

        network = build_network(
            model,
            len(users),
            len(items),
            n_factors=int(self.n_factors),
            hidden_layers=tuple(int(h) for h in self.hidden_layers),
            dropout=float(self.dropout),
        )
        n_epochs, learning_rate = int(self.n_epochs), float(self.learning_rate)
        if model == "neumf" and self.pretrain:
            gmf = self._train(users, items, train_u, train_i, val_tensors, seed, model="gmf")
            mlp = self._train(users, items, train_u, train_i, val_tensors, seed, model="mlp")
            assert isinstance(network, NeuMF) and isinstance(gmf, GMF) and isinstance(mlp, MLP)
            network.load_pretrained(gmf, mlp)
            n_epochs = int(self.finetune_epochs)
            learning_rate = float(self.finetune_learning_rate)
        if isinstance(network, NeuMF):
            # The towers' own output layers only hold pretrained weights and get no gradient;
            # freeze them so that DDP, which needs a gradient for every trainable parameter,
            # accepts the model (Adam skipped them anyway).
            network.gmf.output.requires_grad_(False)
            network.mlp.output.requires_grad_(False)
        steps_per_batch = self._steps_per_batch()
        module = NCFModule(
            network,
            learning_rate=learning_rate,
            weight_decay=float(self.weight_decay),
            lr_decay=float(self.lr_decay),
            # manual optimization (the module's own steps, direct where nothing observes them)
            # unless a Trainer option needs Lightning's automatic optimization
            step_batch_size=None if self._per_batch_options() else int(self.batch_size),
            optimizer=str(self.optimizer),
        )
        seen_train = interactions_to_csr(train_u, train_i, len(users), len(items))
        full = np.flatnonzero(np.diff(seen_train.indptr) >= len(items))
        if len(full):
            keep = ~np.isin(train_u, full)
            warnings.warn(
                f"{len(full)} user(s) interacted with every item, so no negative can be sampled "
                f"for them; their {int((~keep).sum())} positive(s) are left out of training.",
                UserWarning,
                stacklevel=4,
            )
            train_u, train_i = train_u[keep], train_i[keep]
            if not len(train_u):
                raise ValueError(
                    "every user interacted with every item: implicit feedback training needs "
                    "unobserved items to sample as negatives."
                )
        from .sampling import NegativeSampler

        train_data = _EpochBatches(
            train_u,
            train_i,
            NegativeSampler(seen_train),
            n_negatives=int(self.n_negatives),
            batch_size=int(self.batch_size),
            seed=seed,
            steps_per_batch=steps_per_batch,
        )
        loader = torch.utils.data.DataLoader(train_data, batch_size=None)
        val_loader = None
        monitor = None
        if val_tensors is not None:
            val_loader = torch.utils.data.DataLoader(
                _TensorBatches(*val_tensors, batch_size=1024), batch_size=None
            )
            monitor = f"val_ndcg@{module.val_k}"
        patience = int(self.patience) if (self.early_stopping and monitor) else None
        callbacks = _callbacks(monitor, patience, bool(self.verbose))
        with _quiet_lightning(bool(self.verbose)), _interrupt_as_keyboard_interrupt():
            trainer = self._build_trainer(callbacks, n_epochs)
            self._check_distributed(trainer)
            train_data.trainer = trainer  # each rank takes its share by the trainer's ranks
            trainer.fit(module, train_dataloaders=loader, val_dataloaders=val_loader)
        set_sparse_embeddings(network, False)  # the fitted network is the plain one again
        history = callbacks[0]
        if history.best_state is not None:
            network.load_state_dict(history.best_state)
        self._stages.append((model, history.history, history.best_epoch))
        return network

    def _check_distributed(self, trainer: Any) -> None:
        """Refuse multi-process set-ups under which fit would silently go wrong."""
        start_method = getattr(trainer.strategy, "_start_method", "popen")
        if start_method in ("spawn", "fork", "forkserver"):
            raise ValueError(
                f"trainer_kwargs strategy {type(trainer.strategy).__name__} with start method "
                f"{start_method!r} (ddp_spawn, ddp_fork, ddp_notebook) is not supported: it trains "
                "in child processes and loses the per-epoch history and best weights. Use "
                "strategy='ddp' and run your code as a script (or under torchrun / srun)."
            )
        if trainer.world_size > 1 and self.optimizer == "lazy_adam":
            raise ValueError(
                f"optimizer='lazy_adam' with {trainer.world_size} training processes is not "
                "supported yet (its sparse embedding gradients are not tested under DDP). Use "
                "optimizer='adam' for distributed training."
            )
        if trainer.world_size > 1 and self.random_state is None:
            raise ValueError(
                f"random_state=None with {trainer.world_size} training processes: every process "
                "must draw the same shuffles and validation split, so the seed must be fixed. "
                "Pass random_state=<int>, e.g. random_state=0."
            )

    def _steps_per_batch(self) -> int:
        """Optimizer steps per batch handed to the Trainer (see ``NCFModule.step_batch_size``).

        Several steps share one trainer batch so that Lightning's fixed cost per batch is paid
        once per ``_BATCH_EXAMPLES`` examples; the steps themselves are unchanged. Trainer options
        that count batches or act on every step (clipping, accumulation, batch limits, validation
        intervals in batches, step limits) keep one step per batch, so their meaning is unchanged.
        """
        if self._per_batch_options():
            return 1
        return max(1, _BATCH_EXAMPLES // int(self.batch_size))

    def _per_batch_options(self) -> bool:
        """Whether ``trainer_kwargs`` holds an option that needs one optimizer step per trainer
        batch, taken by Lightning's automatic optimization (clipping, accumulation, limits)."""
        return bool(set(self.trainer_kwargs or {}) & _PER_BATCH_TRAINER_OPTIONS)

    def _build_trainer(self, callbacks: list[Any], n_epochs: int) -> Any:
        """The only place in the library that builds a Lightning Trainer."""
        import pytorch_lightning as pl

        kwargs: dict[str, Any] = {
            "max_epochs": n_epochs,
            "accelerator": self.accelerator,
            "devices": self.devices,
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": bool(self.verbose),
            "enable_model_summary": bool(self.verbose),
            "num_sanity_val_steps": 0,
            "deterministic": None,  # leave torch.use_deterministic_algorithms as the user set it
        }
        extra = dict(self.trainer_kwargs or {})
        user_callbacks = extra.pop("callbacks", None) or []
        if not isinstance(user_callbacks, list):
            user_callbacks = [user_callbacks]
        kwargs.update(extra)
        kwargs["callbacks"] = [*callbacks, *user_callbacks]
        try:
            return pl.Trainer(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"could not build the Lightning Trainer from accelerator={self.accelerator!r}, "
                f"devices={self.devices!r}, trainer_kwargs={self.trainer_kwargs!r}: {exc}"
            ) from exc

    # -- scoring ----------------------------------------------------------------------------------
    def _score_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        out = np.empty(len(user_idx), dtype=np.float64)
        # small chunks keep each layer's activations in cache: 2**11 pairs score 604k pairs
        # about 4x faster on a CPU than 2**18 (whose activations are fresh 100 MB allocations)
        step = 1 << 11
        with torch.inference_mode():
            for s in range(0, len(user_idx), step):
                u = torch.from_numpy(np.ascontiguousarray(user_idx[s : s + step], dtype=np.int64))
                i = torch.from_numpy(np.ascontiguousarray(item_idx[s : s + step], dtype=np.int64))
                out[s : s + step] = self.network_(u, i).double().numpy()
        return out

    def _score_users(self, user_idx: np.ndarray) -> torch.Tensor:
        from .model import score_all_batched

        with torch.inference_mode():
            return score_all_batched(self.network_, torch.from_numpy(user_idx.astype(np.int64)))

    def predict(self, users: Any, items: Any) -> np.ndarray:
        """Predicted probability that each (user, item) pair is a positive (raw ids in).

        See :meth:`_BaseRecommender.predict`.
        """
        return 1.0 / (1.0 + np.exp(-super().predict(users, items)))

    def _to_output_score(self, scores: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-scores))

    # -- persistence ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted model to one file: hyperparameters, id maps, seen items, weights.

        The file holds only tensors and plain Python values, so :meth:`load` reads it with
        ``torch.load(..., weights_only=True)``, which cannot run code. It is written to a temporary
        file and renamed, so an interrupted save never leaves a half-written model behind.
        ``trainer_kwargs`` are not saved (they may hold callbacks and loggers).
        """
        self._check_fitted()
        params = self.get_params()
        params["trainer_kwargs"] = None
        params["hidden_layers"] = [int(h) for h in self.hidden_layers]
        payload = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "params": params,
            "users": _ids_to_payload(self.user_encoder_.classes_),
            "items": _ids_to_payload(self.item_encoder_.classes_),
            "seen_indptr": torch.from_numpy(self.seen_.indptr.astype(np.int64)),
            "seen_indices": torch.from_numpy(self.seen_.indices.astype(np.int64)),
            "item_popularity": torch.from_numpy(self.item_popularity_.astype(np.int64)),
            "state_dict": {k: v.detach().cpu() for k, v in self.network_.state_dict().items()},
            "best_epoch": self.best_epoch_,
            "history": [
                {k: v if isinstance(v, str) else float(v) for k, v in row.items()}  # type: ignore[arg-type]
                for row in self.history_
            ],
            "fit_time": float(self.fit_time_),
        }
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(payload, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NeuralCF:
        """Load a model written by :meth:`save`; needs no training data.

        Raises
        ------
        ValueError
            If the file is truncated, corrupted, not a model file, written by an incompatible
            version, or carries anything but tensors and plain values (it is never executed).
        FileNotFoundError
            If ``path`` does not exist.
        """
        from .model import build_network

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no model file at {str(path)!r}.")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(
                f"could not load {str(path)!r} as an implicit_ncf model: the file is truncated, "
                f"corrupted, or holds objects other than tensors and plain values (refused "
                f"without running them). Re-save it with NeuralCF.save. ({type(exc).__name__})"
            ) from exc
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_NAME:
            raise ValueError(f"{str(path)!r} is not an implicit_ncf model file.")
        version = payload.get("format_version")
        if version != FORMAT_VERSION:
            raise ValueError(
                f"{str(path)!r} was written in model format version {version!r}; this version of "
                f"implicit_ncf reads version {FORMAT_VERSION}. Load it with the version that "
                "wrote it, or retrain."
            )
        try:
            valid = set(cls._get_param_names())
            est = cls(**{k: v for k, v in payload["params"].items() if k in valid})
            users = _encoder_from_payload("user", payload["users"])
            items = _encoder_from_payload("item", payload["items"])
            indptr = payload["seen_indptr"].numpy()
            indices = payload["seen_indices"].numpy()
            seen = sp.csr_matrix(
                (np.ones(len(indices), dtype=np.float32), indices, indptr),
                shape=(len(users), len(items)),
            )
            network = build_network(
                est.model,
                len(users),
                len(items),
                n_factors=int(est.n_factors),
                hidden_layers=tuple(int(h) for h in est.hidden_layers),
                dropout=float(est.dropout),
            )
            network.load_state_dict(payload["state_dict"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(
                f"{str(path)!r} is an implicit_ncf model file but its contents are inconsistent "
                f"({type(exc).__name__}: {exc}); re-save it with NeuralCF.save."
            ) from exc
        est.user_encoder_, est.item_encoder_, est.seen_ = users, items, seen
        est.item_popularity_ = payload["item_popularity"].numpy()
        est.history_ = payload.get("history", [])
        est.best_epoch_ = payload.get("best_epoch")
        est.fit_time_ = payload.get("fit_time", float("nan"))
        est.network_ = network.eval()
        return est

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_stages", None)
        return state


def _ids_to_payload(ids: np.ndarray) -> list[Any]:
    out = []
    for value in ids.tolist():
        if isinstance(value, int | float | str | bool) or value is None:
            out.append(value)
        else:
            raise TypeError(
                f"cannot save ids of type {type(value).__name__} ({value!r}); use int or str ids."
            )
    return out


def _encoder_from_payload(name: str, ids: list[Any]) -> IdEncoder:
    enc = IdEncoder(name)
    enc.classes_ = np.array(ids, dtype=object) if ids and not _homogeneous(ids) else np.array(ids)
    enc.__setstate__(dict(enc.__dict__))
    return enc


def _homogeneous(ids: list[Any]) -> bool:
    kind = type(ids[0])
    return all(type(v) is kind for v in ids)


@contextlib.contextmanager
def _preserve_torch_rng(seed: int) -> Iterator[None]:
    """Seed torch for this fit without disturbing the caller's global RNG state (nor the
    deterministic-algorithms flag, which ``trainer_kwargs={"deterministic": ...}`` sets)."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


@contextlib.contextmanager
def _interrupt_as_keyboard_interrupt() -> Iterator[None]:
    """Lightning turns Ctrl+C into ``sys.exit(1)`` and ignores SIGINT afterwards; a library must
    not. Restore the SIGINT handler and re-raise ``KeyboardInterrupt`` instead."""
    in_main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if in_main else None
    try:
        yield
    except SystemExit as exc:
        if exc.code == 1:
            raise KeyboardInterrupt(
                "training was interrupted; the estimator is unchanged"
            ) from None
        raise
    finally:
        if in_main and handler is not None:
            signal.signal(signal.SIGINT, handler)
