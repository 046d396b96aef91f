"""Interaction frames: validation, implicit conversion and id encoding.

Every public entry point of the library that takes a pandas frame of interactions goes through
:func:`check_interactions` first, so that bad input fails early with a message that names the
column,
the value and the fix, instead of a traceback from deep inside pandas or torch.

Raw ids (any hashable: ints, strings, ...) live at the edges of the library; inside it works on
contiguous integer indices produced by :class:`IdEncoder`.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Hashable, Iterable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = [
    "DuplicateInteractionsWarning",
    "IdEncoder",
    "ImplicitFeedbackWarning",
    "check_interactions",
    "check_random_state",
    "interactions_to_csr",
    "to_implicit",
]


class ImplicitFeedbackWarning(UserWarning):
    """Base class of the warnings raised when the library converts user data."""


class DuplicateInteractionsWarning(ImplicitFeedbackWarning):
    """Repeated (user, item) pairs: collapsed into one positive in training data, and counted
    as separate targets (each ranked) in the test rows of ``evaluate``.

    Silence it with ``warnings.filterwarnings("ignore", category=DuplicateInteractionsWarning)``.
    """


def _describe(values: Any, limit: int = 5) -> str:
    values = list(values)
    shown = ", ".join(repr(v) for v in values[:limit])
    return f"[{shown}{', ...' if len(values) > limit else ''}]"


def _check_column(frame: pd.DataFrame, column: str | None, parameter: str) -> None:
    if column is None:
        return
    if column not in frame.columns:
        raise ValueError(
            f"{parameter}={column!r} is not a column of the interactions frame; its columns are "
            f"{list(frame.columns)!r}. Rename the column or pass {parameter}=<your column name>."
        )


def _check_ids(frame: pd.DataFrame, column: str, parameter: str) -> None:
    values = frame[column]
    missing = values.isna().to_numpy()
    if missing.any():
        rows = frame.index[missing]
        raise ValueError(
            f"column {column!r} ({parameter}) has {int(missing.sum())} missing id(s) (NaN/None) at "
            f"rows {_describe(rows)}. Drop or fill those rows before passing the frame."
        )
    if pd.api.types.is_float_dtype(values.dtype):
        arr = values.to_numpy(dtype=float)
        bad = ~np.isfinite(arr)
        if bad.any():
            raise ValueError(
                f"column {column!r} ({parameter}) has {int(bad.sum())} infinite id(s) at rows "
                f"{_describe(frame.index[bad])}. Ids must be finite numbers or strings."
            )
    elif values.dtype == object:
        # Ids are hashed into indices; only object columns can hold unhashable values (lists,
        # dicts, arrays), and hashing them once here is cheaper than a traceback from pandas.
        try:
            pd.unique(values.to_numpy())
        except TypeError:
            bad_value = next((v for v in values if not pd.api.types.is_hashable(v)), None)
            raise TypeError(
                f"column {column!r} ({parameter}) holds unhashable ids such as {bad_value!r} "
                f"({type(bad_value).__name__}); ids must be ints, strings or other hashable "
                f"values. Convert them, e.g. frame[{column!r}] = frame[{column!r}].map(tuple)."
            ) from None


def _check_numeric(frame: pd.DataFrame, column: str, parameter: str, what: str) -> None:
    values = frame[column]
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype) or not (
        pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype)
    ):
        raise ValueError(
            f"column {column!r} ({parameter}) must hold numeric {what} (or datetimes); got dtype "
            f"{dtype}. Convert it first, e.g. "
            f"frame[{column!r}] = pd.to_datetime(frame[{column!r}])."
            if what == "timestamps"
            else f"column {column!r} ({parameter}) must hold numeric {what}; got dtype {dtype}. "
            f"Convert it with pd.to_numeric(frame[{column!r}])."
        )
    missing = values.isna().to_numpy()
    if not pd.api.types.is_datetime64_any_dtype(dtype):
        missing = missing | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    if missing.any():
        raise ValueError(
            f"column {column!r} ({parameter}) has {int(missing.sum())} missing or infinite "
            f"{what} at rows {_describe(frame.index[missing])}. Drop or fill those rows first."
        )


def check_interactions(
    frame: Any,
    *,
    user_col: str = "user",
    item_col: str = "item",
    rating_col: str | None = None,
    time_col: str | None = None,
    allow_empty: bool = False,
    parameter: str = "interactions",
) -> pd.DataFrame:
    """Validate an interactions frame and return it unchanged.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per interaction.
    user_col, item_col : str, default "user", "item"
        Columns holding raw user and item ids (ints, strings or any hashable).
    rating_col : str or None, default None
        Optional column of numeric ratings (checked only when given).
    time_col : str or None, default None
        Optional column of numeric or datetime timestamps (checked only when given).
    allow_empty : bool, default False
        Accept a frame with no rows.
    parameter : str, default "interactions"
        Name of the argument being checked, used in error messages.

    Returns
    -------
    pandas.DataFrame
        The same frame.

    Raises
    ------
    TypeError
        If ``frame`` is not a pandas DataFrame.
    ValueError
        If a column is missing, an id is missing, a rating or timestamp is non-numeric, missing or
        infinite, or the frame is empty. The message names the column and the fix.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"user": [1, 1], "item": ["a", "b"]})
    >>> check_interactions(frame) is frame
    True
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"{parameter} must be a pandas DataFrame with columns {user_col!r} and {item_col!r}; "
            f"got {type(frame).__name__}. Build one with pd.DataFrame({{{user_col!r}: ..., "
            f"{item_col!r}: ...}})."
        )
    if frame.columns.has_duplicates:
        dup = frame.columns[frame.columns.duplicated()].unique()
        raise ValueError(
            f"{parameter} has duplicated column names {list(dup)!r}; rename them so each is unique."
        )
    _check_column(frame, user_col, "user_col")
    _check_column(frame, item_col, "item_col")
    _check_column(frame, rating_col, "rating_col")
    _check_column(frame, time_col, "time_col")
    if len(frame) == 0:
        if allow_empty:
            return frame
        raise ValueError(
            f"{parameter} is empty: it needs at least one interaction (user, item) row."
        )
    _check_ids(frame, user_col, "user_col")
    _check_ids(frame, item_col, "item_col")
    if rating_col is not None:
        _check_numeric(frame, rating_col, "rating_col", "ratings")
    if time_col is not None:
        _check_numeric(frame, time_col, "time_col", "timestamps")
    return frame


def to_implicit(
    frame: pd.DataFrame,
    *,
    user_col: str = "user",
    item_col: str = "item",
    rating_col: str | None = None,
    time_col: str | None = None,
    min_rating: float | None = None,
) -> pd.DataFrame:
    """Turn interactions into implicit positives: one row per distinct (user, item) pair.

    Every row is a positive, or, when ``min_rating`` is given, only rows whose rating is at least
    ``min_rating``. Repeated pairs are collapsed into one row (keeping the latest timestamp when
    ``time_col`` is given) and a :class:`DuplicateInteractionsWarning` says how many.

    Parameters
    ----------
    frame : pandas.DataFrame
        Interactions, validated with :func:`check_interactions`.
    user_col, item_col : str, default "user", "item"
        Id columns.
    rating_col : str or None, default None
        Rating column, needed only with ``min_rating``.
    time_col : str or None, default None
        Timestamp column to keep (the latest of each pair).
    min_rating : float or None, default None
        Keep only ratings at or above this value.

    Returns
    -------
    pandas.DataFrame
        Columns ``user_col``, ``item_col`` (and ``time_col``), one row per distinct pair, in order
        of first appearance, with a fresh ``RangeIndex``.

    Raises
    ------
    ValueError
        If ``min_rating`` is given without ``rating_col``, or no row reaches ``min_rating``.
    """
    if min_rating is not None and rating_col is None:
        raise ValueError(
            f"min_rating={min_rating!r} needs rating_col, the column holding ratings; pass "
            f"rating_col='rating' (or your column name), or min_rating=None to keep every row."
        )
    check_interactions(
        frame, user_col=user_col, item_col=item_col, rating_col=rating_col, time_col=time_col
    )
    columns = [user_col, item_col] + ([time_col] if time_col is not None else [])
    if min_rating is not None:
        assert rating_col is not None
        keep = frame[rating_col].to_numpy() >= min_rating
        if not keep.any():
            raise ValueError(
                f"no interaction has {rating_col} >= min_rating={min_rating!r} (ratings range from "
                f"{frame[rating_col].min()} to {frame[rating_col].max()}); lower min_rating."
            )
        frame = frame.loc[keep]
    data = frame[columns]
    if time_col is not None:
        grouped = data.groupby([user_col, item_col], sort=False, observed=True)[time_col].max()
        out = grouped.reset_index()
    else:
        out = data.drop_duplicates([user_col, item_col]).reset_index(drop=True)
    n_dup = len(data) - len(out)
    if n_dup:
        warnings.warn(
            f"{n_dup} repeated (user, item) interaction(s) were collapsed: implicit feedback keeps "
            f"one positive per pair ({len(out)} distinct pairs from {len(data)} rows).",
            DuplicateInteractionsWarning,
            stacklevel=2,
        )
    return out


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    uniques = pd.unique(values)
    try:
        order = np.argsort(uniques, kind="stable")
    except TypeError:  # mixed types (e.g. ints and strings): sort by type name, then text
        keys = [(type(v).__name__, str(v)) for v in uniques]
        order = np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)
    return np.asarray(uniques)[order]


def _id_values(ids: Any) -> np.ndarray:
    """The ids of a Series, Index, array or any other iterable as one 1-D array (read once)."""
    if isinstance(ids, pd.Series | pd.Index):
        return ids.to_numpy()
    if isinstance(ids, np.ndarray):
        return ids
    values = list(ids)
    return pd.Series(values, dtype=object if not values else None).to_numpy()


_FEW_IDS = 8  # up to this many ids, IdEncoder.get_indexer looks each one up on its own


class IdEncoder:
    """Map raw ids (any hashable) to contiguous indices, ``0`` to ``n_ids - 1``, and back.

    Indices follow the sorted order of the ids (ids of mixed types sort by type name, then text),
    so the encoding does not depend on the row order of the data it was fitted on.

    Parameters
    ----------
    name : str, default "id"
        What the ids are ("user", "item"), used in error messages.

    Attributes
    ----------
    classes_ : ndarray of shape (n_ids,)
        The raw ids; ``classes_[idx]`` is the id of index ``idx``.

    Examples
    --------
    >>> enc = IdEncoder("item").fit(["b", "a", "b"])
    >>> enc.transform(["a", "b"]).tolist()
    [0, 1]
    >>> enc.inverse_transform([1]).tolist()
    ['b']
    """

    def __init__(self, name: str = "id") -> None:
        self.name = name

    def fit(self, ids: Iterable[Hashable] | np.ndarray | pd.Series) -> IdEncoder:
        """Learn the ids. Returns ``self``."""
        values = np.asarray(pd.Series(_id_values(ids), dtype=None).to_numpy())
        self.classes_ = _sorted_unique(values)
        self._index = pd.Index(self.classes_)
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "classes_"):
            raise ValueError(f"this IdEncoder({self.name!r}) is not fitted; call fit(ids) first.")

    def __len__(self) -> int:
        self._check_fitted()
        return len(self.classes_)

    @property
    def n_ids(self) -> int:
        """Number of distinct ids."""
        return len(self)

    def get_indexer(self, ids: Iterable[Hashable] | np.ndarray | pd.Series) -> np.ndarray:
        """Indices of ``ids``, with ``-1`` for ids never seen in ``fit``."""
        self._check_fitted()
        values = _id_values(ids)
        # numbers and objects only: a datetime index's get_loc also parses strings as dates
        if values.ndim == 1 and len(values) <= _FEW_IDS and self._index.dtype.kind in "iufO":
            # a live request's few ids: one hash lookup each, not get_indexer's set-up, which
            # costs about 0.15 ms per call (the same answers, tests/test_id_encoder.py)
            out = np.empty(len(values), dtype=np.int64)
            for j, value in enumerate(values):
                if isinstance(value, bool | np.bool_):  # get_indexer equates False and 0
                    return np.asarray(self._index.get_indexer(values), dtype=np.int64)
                try:
                    position = self._index.get_loc(value)
                except (KeyError, TypeError, pd.errors.InvalidIndexError):
                    position = -1
                if not isinstance(position, int | np.integer):  # never for unique classes_
                    return np.asarray(self._index.get_indexer(values), dtype=np.int64)
                out[j] = position
            return out
        return np.asarray(self._index.get_indexer(values), dtype=np.int64)

    def transform(self, ids: Iterable[Hashable] | np.ndarray | pd.Series) -> np.ndarray:
        """Indices of ``ids``.

        Raises
        ------
        ValueError
            If an id was not seen in ``fit``; the message names the unknown ids.
        """
        self._check_fitted()
        values = _id_values(ids)
        idx = np.asarray(self._index.get_indexer(values), dtype=np.int64)
        unknown = idx < 0
        if unknown.any():
            missing = pd.unique(np.asarray(values)[unknown])
            raise ValueError(
                f"unknown {self.name} id(s) {_describe(missing)} ({len(missing)} in all): they "
                f"were not in the data the model was fitted on."
            )
        return idx

    def fit_transform(self, ids: Iterable[Hashable] | np.ndarray | pd.Series) -> np.ndarray:
        """Fit, then return the indices of ``ids``."""
        return self.fit(ids).transform(ids)

    def inverse_transform(self, idx: Iterable[int] | np.ndarray) -> np.ndarray:
        """Raw ids of indices ``idx``.

        Raises
        ------
        ValueError
            If an index is outside ``0 .. n_ids - 1``.
        """
        self._check_fitted()
        arr = np.asarray(idx)
        if arr.size and (
            not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= len(self)
        ):
            raise ValueError(
                f"{self.name} indices must be integers in [0, {len(self) - 1}]; got "
                f"{_describe(arr.ravel())}."
            )
        return self.classes_[arr.astype(np.int64, copy=False)]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_index", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "classes_" in state:
            self._index = pd.Index(self.classes_)

    def __repr__(self) -> str:
        n = f", n_ids={len(self.classes_)}" if hasattr(self, "classes_") else ""
        return f"IdEncoder({self.name!r}{n})"


def pair_weights(
    interactions: pd.DataFrame,
    users: IdEncoder,
    items: IdEncoder,
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    *,
    weight_col: str,
    user_col: str = "user",
    item_col: str = "item",
    rating_col: str = "rating",
    min_rating: float | None = None,
) -> np.ndarray:
    """Loss weight of each (user, item) index pair: ``log1p`` of the summed ``weight_col``
    strengths of its rows in ``interactions``, scaled to mean 1 over the pairs.

    Rows below ``min_rating`` (when given) do not count, as in :func:`to_implicit`. Used by
    ``NeuralCF(weight_col=...)``.

    Raises
    ------
    ValueError
        If the column is missing, not numeric, or holds a value that is not positive and finite
        (the message counts them and shows a few).

    Examples
    --------
    >>> frame = pd.DataFrame({"user": [1, 1, 2], "item": [5, 5, 5], "plays": [1, 2, 3]})
    >>> users, items = IdEncoder().fit([1, 2]), IdEncoder().fit([5])
    >>> pair_weights(frame, users, items, np.array([0, 1]), np.array([0, 0]), weight_col="plays")
    array([1., 1.])
    """
    column = weight_col
    if column not in interactions.columns:
        raise ValueError(
            f"weight_col={column!r} is not a column of the interactions frame; its columns "
            f"are {list(interactions.columns)!r}. Pass the name of the strength column, or "
            "weight_col=None."
        )
    values = interactions[column]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise ValueError(
            f"weight_col={column!r} must hold numeric strengths (counts, ratings, seconds); "
            f"it has dtype {values.dtype}. Convert it, e.g. frame[{column!r}].astype(float)."
        )
    strength = values.to_numpy(dtype=np.float64, na_value=np.nan)
    keep = np.ones(len(interactions), dtype=bool)
    if min_rating is not None:
        keep = interactions[rating_col].to_numpy() >= min_rating
    bad = keep & ~(np.isfinite(strength) & (strength > 0))
    if bad.any():
        raise ValueError(
            f"weight_col={column!r} must hold positive, finite strengths; {int(bad.sum())} "
            f"row(s) hold {strength[bad][:5].tolist()!r}. Drop or fix those rows (a zero "
            "strength is no interaction at all)."
        )
    u = users.get_indexer(interactions[user_col].to_numpy())[keep]
    i = items.get_indexer(interactions[item_col].to_numpy())[keep]
    n_items = len(items)
    keys, inverse = np.unique(u.astype(np.int64) * n_items + i, return_inverse=True)
    totals = np.bincount(inverse, weights=strength[keep], minlength=len(keys))
    wanted = user_idx.astype(np.int64) * n_items + item_idx
    weights = np.log1p(totals[np.searchsorted(keys, wanted)])
    return weights / weights.mean()


def interactions_to_csr(
    user_idx: np.ndarray, item_idx: np.ndarray, n_users: int, n_items: int
) -> sp.csr_matrix:
    """Binary user x item CSR matrix (sorted column indices, duplicates collapsed to 1)."""
    data = np.ones(len(user_idx), dtype=np.float32)
    mat = sp.csr_matrix(
        (data, (np.asarray(user_idx, dtype=np.int64), np.asarray(item_idx, dtype=np.int64))),
        shape=(n_users, n_items),
    )
    mat.sum_duplicates()
    mat.data[:] = 1.0
    mat.sort_indices()
    return mat


def check_random_state(random_state: Any) -> np.random.Generator:
    """Turn ``random_state`` into a :class:`numpy.random.Generator`.

    Parameters
    ----------
    random_state : None, int or numpy.random.Generator
        ``None`` gives a freshly seeded generator (not reproducible), an int a generator seeded with
        it, and a Generator is returned as is (so successive calls continue its stream).

    Returns
    -------
    numpy.random.Generator

    Raises
    ------
    TypeError
        If ``random_state`` is of another kind (including ``bool`` and the legacy
        :class:`numpy.random.RandomState`).
    ValueError
        If ``random_state`` is a negative int.

    Examples
    --------
    >>> rng = check_random_state(0)
    >>> check_random_state(rng) is rng
    True
    >>> int(check_random_state(0).integers(100)) == int(check_random_state(0).integers(100))
    True
    """
    if random_state is None:
        return np.random.default_rng()
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, (bool, np.bool_)
    ):
        if random_state < 0:
            raise ValueError(
                f"random_state must be a non-negative int seed; got {random_state!r}. Pass e.g. "
                f"random_state=0."
            )
        return np.random.default_rng(int(random_state))
    raise TypeError(
        f"random_state must be None, an int seed or a numpy.random.Generator; got "
        f"{type(random_state).__name__} ({random_state!r}). Pass e.g. random_state=0 or "
        f"random_state=np.random.default_rng(0)."
    )
