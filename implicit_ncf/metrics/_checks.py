"""Argument checks shared by the metric modules (private)."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np

Reduction = Literal["mean", "none"]


def _check_k(k: Any, parameter: str = "k") -> int:
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"{parameter} must be a positive integer; got {k!r}.")
    return int(k)


def _check_reduction(reduction: Any) -> Reduction:
    if reduction == "mean":
        return "mean"
    if reduction == "none":
        return "none"
    raise ValueError(
        f"reduction must be 'mean' (one averaged float) or 'none' (one value per row); "
        f"got {reduction!r}."
    )


def _check_ranks(ranks: Any) -> np.ndarray:
    arr = np.asarray(ranks)
    if arr.ndim != 1:
        raise ValueError(
            f"ranks must be a 1-D array of shape (n_rows,); got an array of shape {arr.shape}. "
            f"Use rank_of_target(scores, target) to build it."
        )
    if arr.size == 0:
        return arr.astype(np.int64)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(
            f"ranks must hold integers (0-based ranks); got dtype {arr.dtype}. Convert them with "
            f"np.asarray(ranks, dtype=np.int64) or build them with rank_of_target."
        )
    if arr.min() < 0:
        bad = np.flatnonzero(arr < 0)
        raise ValueError(
            f"ranks must be non-negative 0-based ranks; got {int(arr[bad[0]])} at position "
            f"{int(bad[0])} ({bad.size} negative value(s) in all)."
        )
    return arr.astype(np.int64, copy=False)


def _reduce(values: np.ndarray, reduction: str, what: str) -> float | np.ndarray:
    if reduction == "none":
        return values
    if values.size == 0:
        raise ValueError(
            f"{what} is empty: there are no users to evaluate, so the mean is undefined. Pass at "
            f"least one row, or reduction='none' to get an empty array."
        )
    return float(values.mean())


def _check_ks(k: Any) -> list[int]:
    if isinstance(k, (numbers.Integral, np.integer)) and not isinstance(k, (bool, np.bool_)):
        return [_check_k(k)]
    if isinstance(k, (str, bytes)) or not isinstance(k, Iterable):
        raise ValueError(f"k must be a positive integer or a sequence of them; got {k!r}.")
    ks = [_check_k(v) for v in k]
    if not ks:
        raise ValueError("k must be a positive integer or a non-empty sequence of them; got [].")
    return list(dict.fromkeys(ks))
