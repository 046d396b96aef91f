"""Metrics over recommended id lists: several relevant items per user, and catalogue coverage.

:func:`precision_at_k`, :func:`recall_at_k` and :func:`map_at_k` score each user's recommended list
against that user's relevant (held-out) items, as after a temporal split; :func:`coverage` is the
share of the catalogue that appears in at least one list.
"""

from __future__ import annotations

import numbers
from collections.abc import Collection, Hashable, Iterable
from typing import Any

import numpy as np

from ._checks import Reduction, _check_k, _check_reduction, _reduce

__all__ = ["coverage", "map_at_k", "precision_at_k", "recall_at_k"]


def _rows(values: Any, parameter: str) -> list[Any]:
    if isinstance(values, np.ndarray):
        if values.ndim != 2 and not (values.ndim == 1 and values.dtype == object):
            raise ValueError(
                f"{parameter} must be a 2-D array or a sequence of sequences of ids; got an "
                f"array of shape {values.shape}."
            )
        return list(values)
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(
            f"{parameter} must be a sequence with one collection of ids per user; got "
            f"{type(values).__name__}."
        )
    return list(values)


def _ids(values: Any, what: str = "ids") -> list[Any]:
    if isinstance(values, np.ndarray):
        return values.ravel().tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(
            f"{what} must be a collection of ids (list, set, array); got "
            f"{type(values).__name__} {values!r}. Wrap a single id in a list."
        )
    return list(values)


def _hit_matrix(recommended: Any, relevant: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean hit matrix of shape (n_rows, min(k, longest list)), first occurrences only, and the
    number of distinct relevant ids per row."""
    rec_rows = _rows(recommended, "recommended")
    rel_rows = _rows(relevant, "relevant")
    if len(rec_rows) != len(rel_rows):
        raise ValueError(
            f"recommended and relevant must have one entry per user, in the same order; got "
            f"{len(rec_rows)} recommended list(s) and {len(rel_rows)} relevant collection(s)."
        )
    n_relevant = np.zeros(len(rec_rows), dtype=np.int64)
    hit_rows: list[int] = []
    hit_pos: list[int] = []
    width = 0  # the longest list cut at k: a huge k must not allocate (n_rows, k)
    for row, (rec, rel) in enumerate(zip(rec_rows, rel_rows, strict=True)):
        if isinstance(rec, (str, bytes)) or isinstance(rel, (str, bytes)):
            raise TypeError(
                f"row {row}: each recommended list and relevant collection must be a sequence of "
                f"ids, not a string ({rec!r}, {rel!r}). Wrap single ids in a list."
            )
        rel_ids = _ids(rel, f"relevant[{row}]")
        top = _ids(rec, f"recommended[{row}]")[:k]
        width = max(width, len(top))
        try:
            rel_set = set(rel_ids)
            n_relevant[row] = len(rel_set)
            seen: set[Hashable] = set()
            for pos, item in enumerate(top if rel_set else ()):
                if item in rel_set and item not in seen:
                    hit_rows.append(row)
                    hit_pos.append(pos)
                seen.add(item)
        except TypeError:
            raise TypeError(
                f"row {row}: ids must be hashable (ints, strings, tuples); got an unhashable id "
                f"in recommended[{row}] or relevant[{row}]. Convert lists to tuples."
            ) from None
    hits = np.zeros((len(rec_rows), width), dtype=bool)
    hits[hit_rows, hit_pos] = True
    return hits, n_relevant


def _check_nonempty_relevant(n_relevant: np.ndarray, metric: str) -> None:
    empty = np.flatnonzero(n_relevant == 0)
    if empty.size:
        raise ValueError(
            f"{metric} is undefined for users with no relevant item; relevant[{int(empty[0])}] is "
            f"empty ({empty.size} such row(s)). Drop those users before evaluating."
        )


def precision_at_k(
    recommended: Any, relevant: Any, k: int = 10, *, reduction: Reduction = "mean"
) -> Any:
    """Precision at ``k``: the share of the top ``k`` recommendations that are relevant.

    The denominator is always ``k``, also for lists shorter than ``k``. An id repeated in a list
    counts once (at its first position).

    Parameters
    ----------
    recommended : sequence of sequences of ids, or ndarray of shape (n_users, n_recommended)
        Each user's recommendations, best first.
    relevant : sequence of collections of ids
        Each user's relevant (held-out) items, in the same user order.
    k : int, default 10
        Cut-off.
    reduction : {"mean", "none"}, default "mean"
        ``"mean"`` returns the average over users, ``"none"`` one value per user.

    Returns
    -------
    float or ndarray of float64 of shape (n_users,)

    Raises
    ------
    ValueError
        If ``k`` is not a positive integer, the lengths differ, ``reduction`` is unknown, or there
        are no users with ``reduction="mean"``.

    See Also
    --------
    recall_at_k, map_at_k

    Examples
    --------
    >>> precision_at_k([[1, 2, 3], [4, 5, 6]], [{1, 3}, {9}], k=2, reduction="none").tolist()
    [0.5, 0.0]
    """
    k = _check_k(k)
    reduction = _check_reduction(reduction)
    hits, _ = _hit_matrix(recommended, relevant, k)
    return _reduce(hits.sum(axis=1) / k, reduction, "recommended")


def recall_at_k(
    recommended: Any, relevant: Any, k: int = 10, *, reduction: Reduction = "mean"
) -> Any:
    """Recall at ``k``: the share of a user's relevant items found in the top ``k``.

    Parameters
    ----------
    recommended : sequence of sequences of ids, or ndarray of shape (n_users, n_recommended)
        Each user's recommendations, best first.
    relevant : sequence of collections of ids
        Each user's relevant (held-out) items, in the same user order; none may be empty.
    k : int, default 10
        Cut-off.
    reduction : {"mean", "none"}, default "mean"
        ``"mean"`` returns the average over users, ``"none"`` one value per user.

    Returns
    -------
    float or ndarray of float64 of shape (n_users,)

    Raises
    ------
    ValueError
        If ``k`` is not a positive integer, the lengths differ, a user has no relevant item,
        ``reduction`` is unknown, or there are no users with ``reduction="mean"``.

    See Also
    --------
    precision_at_k, map_at_k

    Examples
    --------
    >>> recall_at_k([[1, 2, 3], [4, 5, 6]], [{1, 3}, {9}], k=2, reduction="none").tolist()
    [0.5, 0.0]
    """
    k = _check_k(k)
    reduction = _check_reduction(reduction)
    hits, n_relevant = _hit_matrix(recommended, relevant, k)
    _check_nonempty_relevant(n_relevant, "recall@k")
    return _reduce(hits.sum(axis=1) / np.maximum(n_relevant, 1), reduction, "recommended")


def map_at_k(recommended: Any, relevant: Any, k: int = 10, *, reduction: Reduction = "mean") -> Any:
    """Mean average precision at ``k``.

    ``AP@k = sum_{i<k} P@(i+1) * rel_i / min(k, |relevant|)`` where ``rel_i`` says whether the
    item at (0-based) position ``i`` is relevant; a perfect list scores 1.

    Parameters
    ----------
    recommended : sequence of sequences of ids, or ndarray of shape (n_users, n_recommended)
        Each user's recommendations, best first.
    relevant : sequence of collections of ids
        Each user's relevant (held-out) items, in the same user order; none may be empty.
    k : int, default 10
        Cut-off.
    reduction : {"mean", "none"}, default "mean"
        ``"mean"`` returns the mean of AP@k over users, ``"none"`` AP@k per user.

    Returns
    -------
    float or ndarray of float64 of shape (n_users,)

    Raises
    ------
    ValueError
        If ``k`` is not a positive integer, the lengths differ, a user has no relevant item,
        ``reduction`` is unknown, or there are no users with ``reduction="mean"``.

    See Also
    --------
    precision_at_k, recall_at_k

    Examples
    --------
    >>> map_at_k([[1, 2, 3]], [{1, 3}], k=3)
    0.8333333333333333
    """
    k = _check_k(k)
    reduction = _check_reduction(reduction)
    hits, n_relevant = _hit_matrix(recommended, relevant, k)
    _check_nonempty_relevant(n_relevant, "MAP@k")
    precision = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    ap = (precision * hits).sum(axis=1) / np.maximum(np.minimum(k, n_relevant), 1)
    return _reduce(ap, reduction, "recommended")


def coverage(recommended: Any, catalogue: int | Collection[Hashable]) -> float:
    """Catalogue coverage: the fraction of catalogue items that appear in at least one list.

    Parameters
    ----------
    recommended : sequence of sequences of ids, or ndarray of shape (n_users, n_recommended)
        Recommendation lists (already cut at ``k``).
    catalogue : int or collection of ids
        The catalogue: ``n_items`` (ids are then the indices ``0 .. n_items - 1``) or the ids
        themselves. Recommended ids outside the catalogue are not counted.

    Returns
    -------
    float
        ``|recommended ids ∩ catalogue| / |catalogue|``, in ``[0, 1]``.

    Raises
    ------
    ValueError
        If the catalogue is empty.

    Examples
    --------
    >>> coverage([[0, 1], [1, 2]], 10)
    0.3
    >>> coverage([["a", "b"]], {"a", "c", "d", "e"})
    0.25
    """
    if isinstance(catalogue, (bool, np.bool_, str, bytes)) or not isinstance(
        catalogue, (numbers.Integral, Iterable)
    ):
        raise TypeError(
            f"catalogue must be n_items (an int) or a collection of ids; got {catalogue!r}."
        )
    if isinstance(catalogue, numbers.Integral):
        if catalogue < 1:
            raise ValueError(
                f"catalogue must be a positive number of items or a non-empty collection of ids; "
                f"got {catalogue!r}."
            )
        n = int(catalogue)
        if isinstance(recommended, np.ndarray) and np.issubdtype(recommended.dtype, np.integer):
            ids = np.unique(recommended)
            return float(((ids >= 0) & (ids < n)).sum() / n)
        cat: set[Hashable] | range = range(n)
    else:
        cat = set(_ids(catalogue, "catalogue"))
        if not cat:
            raise ValueError(
                "catalogue must be a positive number of items or a non-empty collection of ids; "
                "got an empty collection."
            )
    found: set[Hashable] = set()
    for pos, row in enumerate(_rows(recommended, "recommended")):
        found.update(_ids(row, f"recommended[{pos}]"))
    if isinstance(cat, range):
        n_found = sum(
            1
            for x in found
            if isinstance(x, numbers.Integral) and not isinstance(x, bool) and x in cat
        )
    else:
        n_found = len(found & cat)
    return float(n_found / len(cat))
