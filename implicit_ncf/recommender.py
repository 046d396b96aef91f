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

from ._progress import _Progress
from ._validation import _as_id_list, _check_positive_int, _object_array
from .data import (
    DuplicateInteractionsWarning,
    IdEncoder,
    _sorted_unique,
    check_interactions,
    interactions_to_csr,
    to_implicit,
)
from .evaluation import UnknownIdWarning, _Evaluation, _users_per_block

__all__ = ["NotFittedError", "UnknownIdWarning"]


class NotFittedError(ValueError, AttributeError):
    """Raised when a recommender is used before ``fit`` (same bases as scikit-learn's)."""


class _FoldRequest(NamedTuple):
    row_of_id: np.ndarray  # fold-in row of each requested id, -1 when it is not folded in
    base_idx: np.ndarray  # user index of each fold-in row, -1 for users unknown to the model
    positives: sp.csr_matrix  # (n_rows, n_items): training history plus the new interactions


class _Grown(NamedTuple):
    users: IdEncoder
    items: IdEncoder
    seen: sp.csr_matrix
    popularity: np.ndarray
    added: sp.csr_matrix  # the pairs new to the model (n_users, n_items)


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


def _first_of_pairs(
    position: np.ndarray, item_idx: np.ndarray, raw_items: np.ndarray, n_items: int
) -> np.ndarray:
    """Rows holding the first occurrence of each (requested user, item) pair, in row order.

    Items are told apart by their index, and those unknown to the model (index -1) by their
    raw id, so that a repeated pair is one pair whatever its item.
    """
    code = np.asarray(item_idx, dtype=np.int64).copy()
    unknown = code < 0
    n_codes = n_items
    if unknown.any():
        factor, uniques = pd.factorize(raw_items[unknown])
        code[unknown] = n_items + factor
        n_codes += len(uniques)
    key = np.asarray(position, dtype=np.int64) * max(1, n_codes) + code
    _, first = np.unique(key, return_index=True)
    first.sort()
    return first


class _BaseRecommender(_Evaluation):
    """get_params / set_params / repr and the recommend / score / evaluate machinery.

    Subclasses implement ``fit`` and two scoring primitives over contiguous indices:
    ``_score_pairs(user_idx, item_idx) -> ndarray`` and ``_score_users(user_idx) -> Tensor``.
    ``_score_users`` must return a new tensor of shape ``(len(user_idx), n_items)`` that the
    caller owns: full-ranking evaluation writes into it (never a view of the model's state).
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

    def _grow_catalogue(self, positives: pd.DataFrame) -> _Grown:
        """The catalogue after adding a frame of new positives (``partial_fit``).

        Ids new to the model get the next indices, after the existing ones (so every existing
        index, embedding row and seen-matrix row keeps its meaning); the seen matrix and the
        item popularity gain the pairs that are new. Nothing is assigned to ``self``.
        """
        users = _grow_encoder(self.user_encoder_, positives[self.user_col].to_numpy())
        items = _grow_encoder(self.item_encoder_, positives[self.item_col].to_numpy())
        u = users.transform(positives[self.user_col].to_numpy())
        i = items.transform(positives[self.item_col].to_numpy())
        n_users, n_items = len(users), len(items)
        old = self.seen_
        indptr = np.concatenate(
            [old.indptr, np.full(n_users - old.shape[0], old.indptr[-1], dtype=old.indptr.dtype)]
        )
        old = sp.csr_matrix((old.data, old.indices, indptr), shape=(n_users, n_items))
        incoming = interactions_to_csr(u, i, n_users, n_items)
        added = incoming - incoming.multiply(old)
        added = sp.csr_matrix(added)
        added.eliminate_zeros()
        added.sort_indices()
        seen = sp.csr_matrix(old + added)
        seen.data[:] = 1.0
        seen.sort_indices()
        popularity = np.concatenate(
            [self.item_popularity_, np.zeros(n_items - len(self.item_popularity_), np.int64)]
        ) + np.bincount(added.indices, minlength=n_items).astype(np.int64)
        return _Grown(users, items, seen, popularity, added)

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
        interactions: pd.DataFrame | Sequence[Any] | np.ndarray | pd.Series | None = None,
        items: Any = None,
        exclude_items: Any = None,
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
            Number of items per user. When fewer than ``k`` items are left after the
            exclusions, all of them are returned.
        interactions : pandas.DataFrame, sequence of item ids or None, default None
            Recent interactions of the requested users, with the columns of the training frame
            (``user_col``, ``item_col``; ``rating_col`` when ``min_rating`` is set). Each user
            with rows here is represented from them for this call only (fold-in, see Notes):
            a user unknown to the model from these rows alone, a known user from the training
            history plus these. The model does not change. A frame with no rows changes
            nothing. Rows of users not in ``user`` raise a ``ValueError``; rows whose item is
            unknown to the model cannot be represented and are left out with an
            :class:`UnknownIdWarning` that counts them (``partial_fit`` adds new items).
            For one ``user``, a list, tuple, array, Series or Index of item ids is the same as
            a frame of that user's rows, one per item, each a positive (no ``rating_col``
            needed): ``recommend("visitor", interactions=[260, 1196])``.
        items : iterable of item ids or None, default None
            Rank only these items (a whitelist of raw ids); ``None`` ranks the whole catalogue.
        exclude_items : iterable of item ids or None, default None
            Never return these items. Combines with ``items`` and ``exclude_seen``.
        exclude_seen : bool, default True
            Leave out the items the user interacted with: in the training data and in
            ``interactions``.
        batch_size : int, default 1024
            Users scored (and folded in) per block (full catalogue per user). Known users are
            scored in blocks of at most ``2**22`` scores (16 MiB of float32) whatever
            ``batch_size``: 156 users on a 26,744-item catalogue (ML-20M's).

        Returns
        -------
        pandas.DataFrame
            Columns ``item`` and ``score``, best first, for one user; with a leading ``user``
            column for a list of users. Items are real (raw) ids.

        Raises
        ------
        ValueError
            For an unknown user without rows in ``interactions``, unless
            ``on_unknown_user="popular"``, which gives that user the most popular items; for
            ids in ``items`` or ``exclude_items`` that are not in the catalogue; for rows of
            ``interactions`` whose user was not requested. The message names the ids.

        Notes
        -----
        Scores are on one scale for every user: a model's output (``NeuralCF``: the predicted
        probability; popularity: the training count). An unknown user's popular items are
        scored by their mean output over the training users (over 1,024 of them, evenly spaced,
        when there are more), the score expected for a user drawn from the training population.

        Fold-in (``NeuralCF``) optimises fresh user vectors with the items and layers frozen,
        on the training loss with freshly sampled negatives (:mod:`implicit_ncf.foldin`,
        ``docs/realtime.md``); it is deterministic when the model's ``random_state`` is an int.
        The popularity baseline's scores ignore the user: its ``interactions`` only add to the
        items excluded as seen.

        With the model's ``verbose`` set, recommending many known users (8 blocks or more)
        reports its progress on standard error.
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
        id_array = _object_array(ids)
        u = self.user_encoder_.get_indexer(id_array)
        allowed = self._allowed_items(items, exclude_items)
        positives_only = False
        if interactions is not None and not isinstance(interactions, pd.DataFrame):
            interactions = self._clicks_frame(interactions, id_array, single)
            positives_only = True
        fold = (
            None
            if interactions is None
            else self._fold_request(interactions, id_array, u, positives_only=positives_only)
        )
        fold_row = fold.row_of_id if fold is not None else np.full(len(ids), -1, dtype=np.int64)
        unknown = (u < 0) & (fold_row < 0)
        if unknown.any() and self.on_unknown_user != "popular":
            missing = list(dict.fromkeys(id_array[unknown].tolist()))
            raise ValueError(
                self._unknown_users_message(missing, interactions)
                + " Or pass on_unknown_user='popular' to the constructor to recommend popular "
                "items to unknown users."
            )
        n_items = self.n_items_
        k_eff = min(k, n_items)
        top_items = np.zeros((len(ids), k_eff), dtype=np.int64)
        top_scores = np.full((len(ids), k_eff), -np.inf, dtype=np.float64)
        blocked = None if allowed is None else torch.from_numpy(~allowed)
        known_rows = np.flatnonzero((u >= 0) & (fold_row < 0))
        step = min(batch_size, _users_per_block(n_items))
        progress = _Progress(
            "recommend",
            len(known_rows),
            unit="users",
            n_blocks=-(-len(known_rows) // step),
            enabled=bool(getattr(self, "verbose", False)),
        )
        with torch.inference_mode(), progress:
            for start in range(0, len(known_rows), step):
                rows = known_rows[start : start + step]
                scores = self._score_users(u[rows]).float()
                if exclude_seen:
                    _mask_seen(scores, self.seen_, u[rows])
                if blocked is not None:
                    scores[:, blocked] = -torch.inf
                values, idx = torch.topk(scores, k_eff, dim=1)
                top_items[rows] = idx.numpy()
                top_scores[rows] = values.double().numpy()
                progress.update(len(rows))
        if fold is not None:
            n_fold = len(fold.base_idx)
            for start in range(0, n_fold, batch_size):
                block = np.arange(start, min(start + batch_size, n_fold))
                positives = fold.positives[block]
                scores = self._score_folded(fold.base_idx[block], positives).float()
                with torch.inference_mode():
                    if exclude_seen:
                        _mask_seen(scores, positives, np.arange(len(block)))
                    if blocked is not None:
                        scores[:, blocked] = -torch.inf
                    values, idx = torch.topk(scores, k_eff, dim=1)
                rows = np.flatnonzero((fold_row >= start) & (fold_row < start + len(block)))
                top_items[rows] = idx.numpy()[fold_row[rows] - start]
                top_scores[rows] = values.double().numpy()[fold_row[rows] - start]
        keep = np.isfinite(top_scores)
        output = self._to_output_score(np.where(keep, top_scores, 0.0))
        if unknown.any():
            popularity = self.item_popularity_.astype(np.float64)
            order = np.argsort(-popularity, kind="stable")
            if allowed is not None:
                order = order[allowed[order]]
            order = order[:k_eff]
            top_items[unknown, : len(order)] = order
            output[unknown, : len(order)] = self._unknown_user_scores(order)
            keep[unknown] = np.arange(k_eff) < len(order)
        n_per_user = keep.sum(1)
        frame = pd.DataFrame(
            {
                "item": self.item_encoder_.inverse_transform(top_items[keep]),
                "score": output[keep],
            }
        )
        if single:
            return frame
        frame.insert(0, "user", np.repeat(id_array, n_per_user))
        frame["user"] = frame["user"].infer_objects()
        return frame

    def _allowed_items(self, items: Any, exclude_items: Any) -> np.ndarray | None:
        """Boolean mask of the items ``recommend`` may return (None: every item)."""
        return self._allowed("item", items, exclude_items)

    def _allowed(self, side: str, include: Any, exclude: Any) -> np.ndarray | None:
        """Boolean mask of the ``side`` ids (items or users) a call may return, from its
        whitelist ``include`` (parameter ``items`` / ``users``) and ``exclude``
        (``exclude_items`` / ``exclude_users``); None: every id."""
        encoder = self.item_encoder_ if side == "item" else self.user_encoder_
        where = "the model's catalogue" if side == "item" else "the model's users"
        allowed = None
        for parameter, ids in ((f"{side}s", include), (f"exclude_{side}s", exclude)):
            if ids is None:
                continue
            values, _ = _as_id_list(ids, parameter)
            idx = encoder.get_indexer(_object_array(values))
            if (idx < 0).any():
                missing = list(dict.fromkeys(_object_array(values)[idx < 0].tolist()))
                raise ValueError(
                    f"{parameter} holds {side} id(s) {missing[:5]!r}"
                    f"{' ...' if len(missing) > 5 else ''} ({len(missing)} in all) that are not "
                    f"in {where} ({side}_encoder_.classes_). Drop them, or add them "
                    f"to the model with partial_fit."
                )
            if allowed is None:
                allowed = np.full(len(encoder), parameter.startswith("exclude_"))
            allowed[idx] = not parameter.startswith("exclude_")
        return allowed

    def _unknown_users_message(self, missing: list[Any], interactions: Any) -> str:
        """Why users unknown to the model could not be served: no ``interactions`` for them,
        or interactions of which none can be folded in."""
        shown = f"{missing[:5]!r}{' ...' if len(missing) > 5 else ''}"
        if interactions is None:
            return (
                f"unknown user id(s) {shown}: not in the training data. Pass their interactions "
                f"(interactions=<frame, or for one user a list of item ids>) to fold them in."
            )
        with_rows = pd.Index(interactions[self.user_col].to_numpy()).isin(missing)
        if not with_rows.any():
            return (
                f"unknown user id(s) {shown}: not in the training data, and interactions has "
                f"no rows for them (it is empty, or its rows are other users'). Add their "
                f"interactions to fold them in."
            )
        why = "items unknown to the model"
        if self.min_rating is not None and self.rating_col in interactions.columns:
            why += f", or ratings below min_rating={self.min_rating!r}"
        return (
            f"unknown user id(s) {shown}: not in the training data, and none of their "
            f"interactions can be folded in ({why}): fold-in needs at least one item the model "
            f"knows. partial_fit adds new items to the model."
        )

    def _clicks_frame(self, clicks: Any, id_array: np.ndarray, single: bool) -> pd.DataFrame:
        """The frame of one user's interactions given as a sequence of item ids."""
        if not isinstance(clicks, list | tuple | np.ndarray | pd.Series | pd.Index):
            raise TypeError(
                f"interactions must be a pandas DataFrame with columns {self.user_col!r} and "
                f"{self.item_col!r}, or (for one user) a list of item ids; got "
                f"{type(clicks).__name__}. Build one with pd.DataFrame({{{self.user_col!r}: ..., "
                f"{self.item_col!r}: ...}}) or pass interactions=list(...)."
            )
        if not single:
            raise TypeError(
                f"interactions as a list of item ids is for one user; got {len(id_array)} users "
                f"(user=...). Pass a DataFrame with columns {self.user_col!r} and "
                f"{self.item_col!r} to fold several users in at once."
            )
        items, _ = _as_id_list(clicks, "interactions")
        return pd.DataFrame(
            {
                self.user_col: np.repeat(id_array, len(items)),
                self.item_col: _object_array(items),
            }
        )

    def _fold_request(
        self,
        interactions: pd.DataFrame,
        id_array: np.ndarray,
        u: np.ndarray,
        *,
        positives_only: bool = False,
    ) -> _FoldRequest | None:
        """The users of a ``recommend`` call to fold in, and the positives of each.

        Returns None when nothing changes (no usable row, or only pairs the users already had
        in training). Otherwise ``row_of_id`` maps each requested id to its fold-in row (or -1),
        ``base_idx`` gives each row's user index (-1: unknown to the model), and ``positives``
        is the (n_rows, n_items) matrix of the training history plus the new interactions.
        """
        rating_col = None if positives_only or self.min_rating is None else self.rating_col
        check_interactions(
            interactions,
            user_col=self.user_col,
            item_col=self.item_col,
            rating_col=rating_col,
            allow_empty=True,
            parameter="interactions",
        )
        if rating_col is not None:
            interactions = interactions.loc[interactions[rating_col].to_numpy() >= self.min_rating]
        if not len(interactions):
            return None
        requested = pd.Index(pd.unique(id_array))
        requested_of_id = requested.get_indexer(id_array)
        raw_users = interactions[self.user_col].to_numpy()
        position = requested.get_indexer(raw_users)
        if (position < 0).any():
            extra = list(dict.fromkeys(raw_users[position < 0].tolist()))
            raise ValueError(
                f"interactions holds rows of user id(s) {extra[:5]!r}"
                f"{' ...' if len(extra) > 5 else ''} that were not requested (user=...). Pass "
                f"only the rows of the requested users, or add those users to user."
            )
        raw_items = interactions[self.item_col].to_numpy()
        item_idx = self.item_encoder_.get_indexer(raw_items)
        first = _first_of_pairs(position, item_idx, raw_items, self.n_items_)
        if len(first) < len(position):
            warnings.warn(
                f"{len(position) - len(first)} repeated (user, item) interaction(s) were "
                f"collapsed: implicit feedback keeps one positive per pair ({len(first)} "
                f"distinct pairs from {len(position)} rows).",
                DuplicateInteractionsWarning,
                stacklevel=3,
            )
            position, item_idx, raw_items = position[first], item_idx[first], raw_items[first]
        if (item_idx < 0).any():
            missing = list(dict.fromkeys(raw_items[item_idx < 0].tolist()))
            warnings.warn(
                f"{int((item_idx < 0).sum())} row(s) of interactions have item id(s) unknown to "
                f"the model ({missing[:5]!r}{' ...' if len(missing) > 5 else ''}); they are "
                f"left out of the fold-in, since the model has no vector for them. partial_fit "
                f"adds new items to the model.",
                UnknownIdWarning,
                stacklevel=3,
            )
        known = item_idx >= 0
        position, item_idx = position[known], item_idx[known]
        base = np.full(len(requested), -1, dtype=np.int64)
        base[requested_of_id] = u  # each requested id's user index (u: recommend's lookup)
        new_pair = np.ones(len(position), dtype=bool)
        trained = base[position] >= 0
        if trained.any():
            seen = self.seen_[base[position[trained]], item_idx[trained]]
            new_pair[trained] = np.asarray(seen).ravel() == 0
        if not new_pair.any():
            return None
        fold_users = np.unique(position[new_pair])
        row_of_requested = np.full(len(requested), -1, dtype=np.int64)
        row_of_requested[fold_users] = np.arange(len(fold_users))
        base_idx = base[fold_users]
        keep = row_of_requested[position] >= 0
        new = interactions_to_csr(
            row_of_requested[position[keep]], item_idx[keep], len(fold_users), self.n_items_
        )
        if (base_idx >= 0).any():  # known users: their training history joins the new pairs
            history = self.seen_[np.maximum(base_idx, 0)]
            history = sp.diags((base_idx >= 0).astype(np.float32)) @ history
            merged = sp.csr_matrix(new + history)
            merged.data[:] = 1.0
            merged.eliminate_zeros()
            merged.sort_indices()
        else:
            merged = new
        return _FoldRequest(row_of_requested[requested_of_id], base_idx, merged)

    def _score_folded(self, base_idx: np.ndarray, positives: sp.csr_matrix) -> torch.Tensor:
        """Scores of the whole catalogue for users represented from ``positives`` (fold-in).

        ``positives`` has one row per user (training history and new interactions), and
        ``base_idx`` each row's user index (-1: unknown to the model).
        """
        raise NotImplementedError

    # -- similarity -------------------------------------------------------------------------------
    def similar_items(
        self, item: Any, k: int = 10, *, items: Any = None, exclude_items: Any = None
    ) -> pd.DataFrame:
        """The ``k`` items nearest to ``item`` in the model's learned item space (cosine).

        Parameters
        ----------
        item : hashable or iterable of hashables
            A raw item id, or several (read as ``user`` is by :meth:`recommend`).
        k : int, default 10
            Neighbours per query; all the candidates when fewer are left.
        items : iterable of item ids or None, default None
            Return only these items (a whitelist of raw ids, e.g. what is in stock); ``None``
            searches the whole catalogue.
        exclude_items : iterable of item ids or None, default None
            Never return these items (e.g. what the visitor has seen). Combines with ``items``.

        Returns
        -------
        pandas.DataFrame
            Columns ``item`` and ``score`` (the cosine similarity), best first, the query item
            itself left out; with a leading ``query_item`` column for a list of ids.

        Raises
        ------
        ValueError
            For an id (query, ``items`` or ``exclude_items``) that is not in the catalogue
            (the message names it and the parameter).
        TypeError
            For a model without a learned item space (the popularity baseline).

        Examples
        --------
        >>> from implicit_ncf import NeuralCF, load_movielens
        >>> model = NeuralCF(model="mf", n_epochs=1, random_state=0, verbose=False)
        >>> model = model.fit(load_movielens().head(2000))
        >>> model.similar_items(1, k=2, items=[2, 3, 5]).shape
        (2, 2)
        """
        return self._similar("item", item, k, items, exclude_items)

    def similar_users(
        self, user: Any, k: int = 10, *, users: Any = None, exclude_users: Any = None
    ) -> pd.DataFrame:
        """The ``k`` users nearest to ``user`` in the model's learned user space (cosine).

        As :meth:`similar_items`, with columns ``user`` and ``score`` (and ``query_user`` for a
        list of ids); ``users`` and ``exclude_users`` filter the candidates as ``items`` and
        ``exclude_items`` do there.
        """
        return self._similar("user", user, k, users, exclude_users)

    def explain(
        self,
        user: Any,
        item: Any,
        k: int = 3,
        *,
        interactions: pd.DataFrame | Sequence[Any] | np.ndarray | pd.Series | None = None,
    ) -> pd.DataFrame:
        """The ``k`` items of ``user``'s history nearest to ``item``: "because you liked ...".

        The history is the user's training items, plus ``interactions`` (read as
        :meth:`recommend` reads them: a frame, or for this user a list of item ids; a user the
        model does not know is explained from these alone). Each history item is scored by its
        cosine with ``item`` in the space of :meth:`similar_items`, and ``item`` itself is left
        out. The scores show which of the user's items lie nearest to the recommendation; they
        are not a decomposition of its score, which the network computes from the user's
        vector as a whole.

        Parameters
        ----------
        user : hashable
            One raw user id.
        item : hashable
            One raw item id of the catalogue (typically one that :meth:`recommend` returned).
        k : int, default 3
            History items to return; all of them when the history is shorter.
        interactions : pandas.DataFrame, sequence of item ids or None, default None
            Recent interactions of ``user``, as in :meth:`recommend`.

        Returns
        -------
        pandas.DataFrame
            Columns ``item`` (the user's items) and ``score`` (the cosine with ``item``), best
            first.

        Raises
        ------
        ValueError
            For an unknown ``item``, or an unknown ``user`` without ``interactions``.
        TypeError
            For several users, or a model without a learned item space (popularity).

        Examples
        --------
        >>> from implicit_ncf import NeuralCF, load_movielens
        >>> model = NeuralCF(model="mf", n_epochs=1, random_state=0, verbose=False)
        >>> model = model.fit(load_movielens().head(2000))
        >>> top = model.recommend(1, k=1)["item"].iloc[0]
        >>> model.explain(1, top, k=2).columns.tolist()
        ['item', 'score']
        """
        self._check_fitted()
        k = _check_positive_int(k, "k")  # type: ignore[assignment]
        ids, single = _as_id_list(user, "user")
        if not single:
            raise TypeError(
                f"explain takes one user id; got {len(ids)}. Call it once per user, e.g. "
                f"[model.explain(u, item) for u in users]."
            )
        space = self._similarity_space("item")
        target = self.item_encoder_.get_indexer(_object_array([item]))[0]
        if target < 0:
            raise ValueError(
                f"unknown item id {item!r} (item=...): not in the data the model was fitted on "
                f"(nor added by partial_fit). Pass an id of item_encoder_.classes_."
            )
        id_array = _object_array(ids)
        u = self.user_encoder_.get_indexer(id_array)
        fold = None
        if interactions is not None:
            positives_only = not isinstance(interactions, pd.DataFrame)
            if positives_only:
                interactions = self._clicks_frame(interactions, id_array, single)
            fold = self._fold_request(interactions, id_array, u, positives_only=positives_only)
        if fold is not None:
            history = fold.positives[0].indices
        elif u[0] >= 0:
            history = self.seen_[int(u[0])].indices
        else:
            raise ValueError(self._unknown_users_message([ids[0]], interactions))
        history = np.asarray(history, dtype=np.int64)
        history = history[history != target]
        with torch.inference_mode():
            cosines = (space[torch.from_numpy(history)] @ space[int(target)]).double().numpy()
        order = np.argsort(-cosines, kind="stable")[:k]
        return pd.DataFrame(
            {
                "item": self.item_encoder_.inverse_transform(history[order]),
                "score": cosines[order],
            }
        )

    def similarity_vectors(self, side: str = "item") -> tuple[np.ndarray, np.ndarray]:
        """The unit vectors that :meth:`similar_items` / :meth:`similar_users` compare.

        For an approximate nearest-neighbour index over a large catalogue (Faiss, hnswlib,
        Annoy, a vector database): an inner-product index over these vectors gives the
        cosine similarities of ``similar_items``, which ranks by ``vectors @ vectors[j]``.

        Parameters
        ----------
        side : {"item", "user"}, default "item"
            Which vectors: the items' or the users'.

        Returns
        -------
        ids : numpy.ndarray of shape (n,)
            The raw ids, in row order (``item_encoder_.classes_`` or
            ``user_encoder_.classes_``, including those added by ``partial_fit``).
        vectors : numpy.ndarray of shape (n, dim), float32
            One row per id, of L2 norm 1 (0 for an all-zero embedding). A copy: writing to it
            does not change the model.

        Raises
        ------
        ValueError
            If ``side`` is not "item" or "user".
        TypeError
            For a model without a learned space (the popularity baseline).

        Examples
        --------
        >>> from implicit_ncf import NeuralCF, load_movielens
        >>> model = NeuralCF(model="mf", n_epochs=1, random_state=0, verbose=False)
        >>> model = model.fit(load_movielens().head(2000))
        >>> ids, vectors = model.similarity_vectors("item")
        >>> vectors.shape == (len(ids), vectors.shape[1])
        True
        """
        self._check_fitted()
        if not isinstance(side, str) or side not in ("item", "user"):
            raise ValueError(f'side must be "item" or "user"; got {side!r}.')
        encoder = self.item_encoder_ if side == "item" else self.user_encoder_
        space = self._similarity_space(side)
        return np.asarray(encoder.classes_).copy(), space.numpy().copy()

    def _similarity_space(self, side: str) -> torch.Tensor:
        """Unit-norm vectors of every user or item, the space of ``similar_users`` /
        ``similar_items``. Models without one (whose scores do not come from learned vectors)
        raise the ``TypeError`` below."""
        raise TypeError(
            f"{type(self).__name__} has no learned {side} space: its scores do not come from "
            f"{side} vectors, so it cannot rank {side}s by similarity. similar_items, "
            f"similar_users, explain and similarity_vectors need a model with embeddings, "
            f"such as NeuralCF(model='mf')."
        )

    def _similar(
        self, side: str, query: Any, k: int, include: Any = None, exclude: Any = None
    ) -> pd.DataFrame:
        self._check_fitted()
        k = _check_positive_int(k, "k")  # type: ignore[assignment]
        ids, single = _as_id_list(query, side)
        id_array = _object_array(ids)
        encoder = self.item_encoder_ if side == "item" else self.user_encoder_
        idx = encoder.get_indexer(id_array)
        if (idx < 0).any():
            missing = list(dict.fromkeys(id_array[idx < 0].tolist()))
            raise ValueError(
                f"unknown {side} id(s) {missing[:5]!r}{' ...' if len(missing) > 5 else ''} "
                f"({side}=...): not in the data the model was fitted on (nor added by "
                f"partial_fit). Pass ids of {side}_encoder_.classes_."
            )
        space = self._similarity_space(side)
        allowed = self._allowed(side, include, exclude)
        n_candidates = len(encoder) if allowed is None else int(allowed.sum())
        k_eff = min(k, n_candidates)
        blocked = None if allowed is None else torch.from_numpy(~allowed)
        top = np.zeros((len(ids), k_eff), dtype=np.int64)
        sims = np.full((len(ids), k_eff), -np.inf, dtype=np.float64)
        if k_eff > 0:
            with torch.inference_mode():
                for start in range(0, len(ids), 256):
                    rows = np.arange(start, min(start + 256, len(ids)))
                    query_idx = torch.from_numpy(idx[rows])
                    scores = space[query_idx] @ space.T
                    if blocked is not None:
                        scores[:, blocked] = -torch.inf
                    scores[torch.arange(len(rows)), query_idx] = -torch.inf
                    values, found = torch.topk(scores, k_eff, dim=1)
                    top[rows], sims[rows] = found.numpy(), values.double().numpy()
        # the query itself (when a candidate) leaves one row fewer than k_eff; filtered-out
        # candidates never score above -inf
        keep = np.isfinite(sims)
        frame = pd.DataFrame({side: encoder.inverse_transform(top[keep]), "score": sims[keep]})
        if single:
            return frame
        frame.insert(0, f"query_{side}", np.repeat(id_array, keep.sum(1)))
        frame[f"query_{side}"] = frame[f"query_{side}"].infer_objects()
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


def _grow_encoder(encoder: IdEncoder, raw: np.ndarray) -> IdEncoder:
    """``encoder`` with the ids of ``raw`` it does not know appended (in sorted order), so that
    the existing ids keep their indices; ``encoder`` itself when there is none."""
    new = raw[encoder.get_indexer(raw) < 0]
    if not len(new):
        return encoder
    new = _sorted_unique(np.asarray(pd.Series(new).to_numpy()))
    old = encoder.classes_
    if new.dtype != old.dtype:
        same_kind = new.dtype.kind in "iub" and old.dtype.kind in "iu"
        if same_kind and np.can_cast(new.dtype, old.dtype, casting="safe"):
            new = new.astype(old.dtype)
        else:
            old, new = old.astype(object), new.astype(object)
    grown = IdEncoder(encoder.name)
    grown.__setstate__({"name": encoder.name, "classes_": np.concatenate([old, new])})
    return grown


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
