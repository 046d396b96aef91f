"""The shared recommender machinery: parameters, ``recommend``, ``predict``, ``evaluate``.

:class:`_BaseRecommender` holds what every estimator of the library shares (scikit-learn's
``get_params`` / ``set_params`` / ``repr``, the catalogue built from a training frame, top-k
recommendation with seen-item masking, candidate and full-ranking evaluation). A subclass
implements ``fit`` and two scoring primitives over contiguous indices. The popularity baseline is
in :mod:`implicit_ncf.popularity`, :class:`~implicit_ncf.NeuralCF` in
:mod:`implicit_ncf.estimator`.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from ._validation import _as_id_list, _check_ks, _check_positive_int, _object_array
from .data import IdEncoder, check_interactions, interactions_to_csr, to_implicit
from .metrics import evaluate as evaluate_scored
from .sampling import sample_candidates

__all__ = ["NotFittedError", "UnknownIdWarning"]


class NotFittedError(ValueError, AttributeError):
    """Raised when a recommender is used before ``fit`` (same bases as scikit-learn's)."""


class UnknownIdWarning(UserWarning):
    """Rows with users or items unknown to the model were set aside (and counted)."""


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

    def _prepare(self, interactions: pd.DataFrame, *, reason: str | None = None) -> pd.DataFrame:
        """Validate and deduplicate a training frame into implicit (user, item) positives.

        ``time_col`` is read (checked, and kept as each pair's latest time) only when ``reason``
        says what needs it, e.g. an internal validation split; otherwise a timestamp column is
        left alone, whatever it holds.
        """
        rating_col = self.rating_col if self.min_rating is not None else None
        check_interactions(
            interactions, user_col=self.user_col, item_col=self.item_col, rating_col=rating_col
        )
        time_col = None
        if reason is not None and self.time_col is not None:
            if self.time_col in interactions.columns:
                time_col = self.time_col
                try:
                    check_interactions(
                        interactions,
                        user_col=self.user_col,
                        item_col=self.item_col,
                        time_col=time_col,
                    )
                except ValueError as exc:
                    raise ValueError(
                        f"{reason} orders each user's interactions by time_col={time_col!r}, "
                        f"but that column cannot be used: {exc} Fix the column, or pass "
                        "time_col=None to hold out a random interaction per user instead."
                    ) from None
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
        users, items : iterable of shape (n_pairs,)
            Raw ids, as in the training frame (any iterable of ids, as for :meth:`recommend`).

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
        user : hashable or iterable of hashables
            A raw user id, or several: any iterable that is not itself a str or bytes (list,
            tuple, set, range, generator, array, Series, Index), read once. A tuple is several
            ids; pass one tuple id inside a list, ``[(1, 2)]``.
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

        Notes
        -----
        Scores are on one scale for every user: a model's output (``NeuralCF``: the predicted
        probability; popularity: the training count). An unknown user's popular items are
        scored by their mean output over the training users (over 1,024 of them, evenly spaced,
        when there are more), the score expected for a user drawn from the training population.
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
        keep = np.isfinite(top_scores)
        output = self._to_output_score(np.where(keep, top_scores, 0.0))
        if unknown.any():
            order = np.argsort(-self.item_popularity_, kind="stable")[:k_eff]
            top_items[unknown] = order
            output[unknown] = self._unknown_user_scores(order)
            keep[unknown] = True
        n_per_user = keep.sum(1)
        frame = pd.DataFrame(
            {
                "item": self.item_encoder_.inverse_transform(top_items[keep]),
                "score": output[keep],
            }
        )
        if single:
            return frame
        frame.insert(0, "user", np.repeat(_object_array(ids), n_per_user))
        frame["user"] = frame["user"].infer_objects()
        return frame

    def _to_output_score(self, scores: np.ndarray) -> np.ndarray:
        return scores

    def _unknown_user_scores(self, item_idx: np.ndarray) -> np.ndarray:
        """Scores of ``item_idx`` for a user the model has not seen, on the known users' scale.

        The mean output score (what ``recommend`` reports) of each item over the training users,
        or over 1,024 of them evenly spaced in index order when there are more: the score
        expected for a user drawn from the training population. For a model whose scores do not
        depend on the user (popularity) it is the score every known user gets.
        """
        n_users = self.n_users_
        users = np.unique(np.linspace(0, n_users - 1, num=min(n_users, 1024)).astype(np.int64))
        u = np.repeat(users, len(item_idx))
        i = np.tile(np.asarray(item_idx, dtype=np.int64), len(users))
        with torch.inference_mode():
            scores = self._to_output_score(self._score_pairs(u, i))
        return scores.reshape(len(users), len(item_idx)).mean(axis=0)

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
        y: None = None,
        *,
        k: int = 10,
        n_negatives: int | None = 99,
        random_state: Any = 0,
        candidates: pd.DataFrame | None = None,
    ) -> float:
        """Hit Ratio@k on ``test``: by default each test item ranked among 99 sampled unseen items.

        See :meth:`evaluate` for the parameters; ``n_negatives=None`` ranks against the full
        catalogue. ``y`` is ignored (scikit-learn's ``score(X, y)`` convention).
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
