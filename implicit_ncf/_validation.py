"""Argument checks shared by the estimators (no torch): positive ints, cut-offs, id lists."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd


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
    """Return (ids, is_single); a clear error for arrays that are not 1-D or unhashable ids.

    A str, bytes or any other non-iterable value is one id; every other iterable (list, tuple,
    set, range, generator, array, Series, Index, ...) is a sequence of ids, read once. A tuple is
    therefore several ids: pass one tuple id inside a list, ``[(1, 2)]``.
    """
    if isinstance(users, np.ndarray) and users.ndim != 1:
        if users.ndim == 0:
            return [users.item()], True
        raise ValueError(
            f"{parameter} must be one id or a 1-D sequence of ids; got an array of shape "
            f"{users.shape}. Flatten it first, e.g. {parameter}=ids.ravel()."
        )
    if isinstance(users, str | bytes) or not isinstance(users, Iterable):
        ids, single = [users], True
    elif isinstance(users, pd.DataFrame | Mapping):
        raise TypeError(
            f"{parameter} must be one id or a list of ids, each hashable (int, str, ...); got a "
            f"{type(users).__name__}. Pass a list or one column, e.g. {parameter}=frame['user']."
        )
    else:
        ids, single = list(users), False
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
