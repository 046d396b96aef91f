"""Vectorised negative sampling: training negatives (index space), evaluation candidates (ids).

Two layers, neither of which imports torch:

* :class:`NegativeSampler` / :func:`sample_negatives` draw, for each training positive, items the
  user has **not** interacted with, uniformly and with replacement across draws. This is the hot
  path of training (called every epoch), so membership is tested exactly and in bulk: a dense
  boolean mask when ``n_users * n_items`` is small enough (MovieLens-1M: 22 MB), followed, for the
  few draws still rejected after some rounds (and for everything when the mask would be too
  large), by an exact rejection-free inversion over the user's sorted seen items.
* :func:`sample_candidates` builds the evaluation candidates of the NCF protocol (He et al., 2017)
  in raw-id space: every held-out (user, item) target plus, per test user, ``n_negatives`` items
  drawn uniformly **without** replacement from the training catalogue among the items the user
  never interacted with (in train or test); or, with ``n_negatives=None``, every such item (full
  ranking).

:func:`check_random_state` turns ``random_state`` (None, int or Generator) into a
:class:`numpy.random.Generator`; the rest of the library reuses it.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from implicit_ncf.data import (
    IdEncoder,
    check_interactions,
    check_random_state,
    interactions_to_csr,
)

__all__ = [
    "NegativeSampler",
    "check_random_state",
    "sample_candidates",
    "sample_negatives",
]

_REJECTION_ROUNDS = 8  # rounds of mask rejection before the rest is drawn by exact inversion
_CHUNK = 1 << 22  # draws tested per pass without a mask (bounds the temporaries: ~32 MiB each)
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # Fibonacci hashing (Knuth, TAOCP 6.4)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python scalar it holds (for readable error messages)."""
    return value.item() if isinstance(value, np.generic) else value


def _check_n_negatives(n_negatives: Any, *, allow_none: bool = False) -> int:
    kinds = "a positive int or None" if allow_none else "a positive int"
    if isinstance(n_negatives, (bool, np.bool_)) or not isinstance(n_negatives, numbers.Integral):
        raise TypeError(
            f"n_negatives must be {kinds}; got {type(n_negatives).__name__} ({n_negatives!r})."
        )
    if n_negatives < 1:
        raise ValueError(f"n_negatives must be a positive integer; got {n_negatives!r}.")
    return int(n_negatives)


def _csr_parts(seen: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row of each stored entry, and the inversion keys ``row * (n_items + 1) + s_k - k``.

    For a user whose sorted seen items are ``s_0 < s_1 < ...``, ``b_k = s_k - k`` is non-decreasing
    and the ``j``-th item the user has *not* seen (0-based) is ``j + #{k : b_k <= j}``. Offsetting
    each row by ``row * (n_items + 1)`` makes the keys of all rows one sorted array, so that count
    is a single ``searchsorted`` for any batch of (row, j).
    """
    indptr = seen.indptr.astype(np.int64, copy=False)
    indices = seen.indices.astype(np.int64, copy=False)
    degree = np.diff(indptr)
    rows = np.repeat(np.arange(seen.shape[0], dtype=np.int64), degree)
    within = np.arange(indices.size, dtype=np.int64) - indptr[rows]
    keys = rows * np.int64(seen.shape[1] + 1) + (indices - within)
    return rows, indices, keys


def _nth_unseen(
    users: np.ndarray, j: np.ndarray, keys: np.ndarray, indptr: np.ndarray, n_items: int
) -> np.ndarray:
    """Item index of the ``j``-th (0-based) item row ``users`` has not seen (see _csr_parts)."""
    query = users * np.int64(n_items + 1) + j
    return j + (np.searchsorted(keys, query, side="right") - indptr[users])


def _canonical_csr(seen: Any, parameter: str = "seen") -> sp.csr_matrix:
    if not sp.issparse(seen):
        raise TypeError(
            f"{parameter} must be a scipy.sparse matrix (n_users x n_items) of training positives; "
            f"got {type(seen).__name__}. Build it with data.interactions_to_csr."
        )
    if seen.ndim != 2:
        raise ValueError(f"{parameter} must be 2-D (n_users x n_items); got shape {seen.shape}.")
    csr = sp.csr_matrix(seen)
    if csr.nnz and (csr.data == 0).any():
        csr = csr.copy()
        csr.eliminate_zeros()
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    return csr


class NegativeSampler:
    """Draw items each user has not interacted with, uniformly, many users at once.

    Precomputes the membership structures of ``seen`` once (per fit) so that
    :meth:`sample` can be called every epoch.

    Parameters
    ----------
    seen : scipy.sparse matrix of shape (n_users, n_items)
        Each user's training positives (every stored non-zero counts as seen), e.g. from
        :func:`implicit_ncf.data.interactions_to_csr`.
    max_mask_size : int, default 2**26
        Largest ``n_users * n_items`` for which a dense boolean mask (one byte per cell, 64 MiB
        at the default) is built to test membership; above it membership is tested in an
        open-addressing hash set of the seen ``(user, item)`` keys (4 or 8 bytes per slot, at
        most half full: ``O(nnz)`` memory, no dense user x item structure).

    Attributes
    ----------
    n_users, n_items : int
        Shape of ``seen``.
    n_seen : ndarray of int64 of shape (n_users,)
        Number of seen items of each user.

    See Also
    --------
    sample_negatives : One-off functional form.

    Notes
    -----
    Draws are uniform over the unseen items of the user and independent (with replacement).
    All draws are made at once (in chunks of a few million without the mask) and only the
    rejected ones are redrawn; after a few rounds the remaining draws (users who have seen most of
    the catalogue) are made by inversion: ``j ~ U{0, ..., n_items - n_seen[u] - 1}`` mapped to the
    ``j``-th unseen item, so sampling always terminates quickly. All ways are exact.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> seen = sp.csr_matrix(np.array([[1, 1, 0, 0], [0, 0, 0, 1]]))
    >>> sampler = NegativeSampler(seen)
    >>> neg = sampler.sample(np.array([0, 0, 1]), 5, random_state=0)
    >>> neg.shape
    (3, 5)
    >>> bool(np.isin(neg[:2], [2, 3]).all() and np.isin(neg[2], [0, 1, 2]).all())
    True
    """

    def __init__(self, seen: Any, *, max_mask_size: int = 2**26) -> None:
        csr = _canonical_csr(seen)
        self.n_users, self.n_items = (int(d) for d in csr.shape)
        self._indptr = csr.indptr.astype(np.int64, copy=False)
        self.n_seen = np.diff(self._indptr)
        rows, indices, self._keys = _csr_parts(csr)
        self._mask: np.ndarray | None = None
        self._seen_set: _KeySet | None = None
        if self.n_users * self.n_items <= max_mask_size:
            mask = np.zeros(self.n_users * self.n_items, dtype=bool)
            mask[rows * self.n_items + indices] = True
            self._mask = mask
        else:
            keys = rows * self.n_items + indices
            del rows, indices
            self._seen_set = _KeySet(keys, self.n_users * self.n_items)

    def __repr__(self) -> str:
        return (
            f"NegativeSampler(n_users={self.n_users}, n_items={self.n_items}, "
            f"nnz={int(self.n_seen.sum())})"
        )

    def _check_users(self, user_idx: Any) -> np.ndarray:
        users = np.asarray(user_idx)
        if users.ndim != 1:
            raise ValueError(
                f"user_idx must be a 1-D array of user indices; got an array of shape "
                f"{users.shape}."
            )
        if users.size == 0:
            return users.astype(np.int64)
        if users.dtype == bool or not np.issubdtype(users.dtype, np.integer):
            raise TypeError(
                f"user_idx must hold integer user indices; got dtype {users.dtype}. Encode raw ids "
                f"with data.IdEncoder first."
            )
        users = users.astype(np.int64, copy=False)
        if users.min() < 0 or users.max() >= self.n_users:
            bad = users[(users < 0) | (users >= self.n_users)]
            raise ValueError(
                f"user_idx must hold indices in [0, {self.n_users - 1}] (seen has {self.n_users} "
                f"rows); got {bad[:5].tolist()}."
            )
        full = np.unique(users[self.n_seen[users] >= self.n_items])
        if full.size:
            raise ValueError(
                f"user index(es) {full[:10].tolist()}{' ...' if full.size > 10 else ''} "
                f"({full.size} in all) have seen all {self.n_items} items, so no negative can be "
                f"drawn for them; exclude those users (rows of seen that are full) before sampling."
            )
        return users

    def sample(self, user_idx: Any, n_negatives: int, *, random_state: Any = None) -> np.ndarray:
        """Draw ``n_negatives`` unseen items for each entry of ``user_idx``.

        Parameters
        ----------
        user_idx : array-like of int of shape (n_rows,)
            User index of each row (typically the user of each training positive; repeats are
            expected).
        n_negatives : int
            Negatives per row.
        random_state : None, int or numpy.random.Generator, default None
            Randomness; pass the same Generator every epoch to continue its stream.

        Returns
        -------
        ndarray of int64 of shape (n_rows, n_negatives)
            Item indices, each one not in its user's row of ``seen``.

        Raises
        ------
        ValueError
            If ``n_negatives`` is not positive, an index is out of range, or a user has seen every
            item (the message names those users).
        TypeError
            If ``user_idx`` does not hold integers or ``n_negatives`` is not an int.
        """
        n = _check_n_negatives(n_negatives)
        users = self._check_users(user_idx)
        rng = check_random_state(random_state)
        if self._mask is None:
            out = np.empty((users.size, n), dtype=np.int64)
            rows = max(1, _CHUNK // n)
            for start in range(0, users.size, rows):
                part = users[start : start + rows]
                out[start : start + rows] = self._draw(np.repeat(part, n), rng).reshape(-1, n)
            return out
        return self._draw(np.repeat(users, n), rng).reshape(users.size, n)

    def _is_seen(self, flat_users: np.ndarray, items: np.ndarray) -> np.ndarray:
        keys = flat_users * self.n_items + items
        if self._mask is not None:
            return self._mask[keys]  # type: ignore[no-any-return]
        assert self._seen_set is not None
        return self._seen_set.contains(keys)

    def _draw(self, flat_users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One unseen item per entry of ``flat_users``: draw, test, redraw the rejected ones."""
        out = rng.integers(0, self.n_items, size=flat_users.size)
        # the first test runs over every draw without an index array, later ones on the rejected
        todo = np.flatnonzero(self._is_seen(flat_users, out))
        for round_ in range(_REJECTION_ROUNDS):
            if todo.size == 0:
                break
            out[todo] = rng.integers(0, self.n_items, size=todo.size)
            if round_ + 1 < _REJECTION_ROUNDS:  # the last redraws are replaced by inversion
                todo = todo[self._is_seen(flat_users[todo], out[todo])]
        if todo.size:
            u = flat_users[todo]
            j = rng.integers(0, self.n_items - self.n_seen[u])
            out[todo] = _nth_unseen(u, j, self._keys, self._indptr, self.n_items)
        return out


class _KeySet:
    """An exact set of distinct non-negative integer keys with vectorised membership tests.

    Open addressing with linear probing in a power-of-two table at most half full, Fibonacci
    hashing of the keys; stored as uint32 when every key fits (a 20M-key set takes 256 MiB). Both
    building and lookup run as a few vectorised rounds over the keys still probing.
    """

    def __init__(self, keys: np.ndarray, key_bound: int) -> None:
        small = key_bound < np.iinfo(np.uint32).max
        self._dtype = np.dtype(np.uint32 if small else np.uint64)
        self._empty = self._dtype.type(np.iinfo(np.uint32 if small else np.uint64).max)
        self._bits = max(4, int(2 * max(keys.size, 1) - 1).bit_length())
        self._table = np.full(1 << self._bits, self._empty, dtype=self._dtype)
        for start in range(0, keys.size, _CHUNK):  # chunks bound the temporaries
            pending = keys[start : start + _CHUNK].astype(self._dtype)
            slot = self._slot(pending)
            while pending.size:  # place the keys whose slot is free; the others try the next
                free = self._table[slot] == self._empty
                self._table[slot[free]] = pending[free]  # one of the keys aiming at a slot wins
                lost = self._table[slot] != pending
                pending, slot = pending[lost], (slot[lost] + 1) & ((1 << self._bits) - 1)

    def _slot(self, keys: np.ndarray) -> np.ndarray:
        hashed = keys.astype(np.uint64) * _HASH_MULTIPLIER  # wraps modulo 2**64
        return (hashed >> np.uint64(64 - self._bits)).astype(np.intp)

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Boolean array: which of ``keys`` (non-negative ints below the bound) are in the set."""
        keys = keys.astype(self._dtype)
        found = np.zeros(keys.size, dtype=bool)
        slot = self._slot(keys)
        active = np.arange(keys.size)
        while active.size:
            stored = self._table[slot]
            hit = stored == keys[active]
            found[active[hit]] = True
            probe = ~hit & (stored != self._empty)  # occupied by another key: look further
            active, slot = active[probe], (slot[probe] + 1) & ((1 << self._bits) - 1)
        return found


def sample_negatives(
    user_idx: Any, seen: Any, n_negatives: int, *, random_state: Any = None
) -> np.ndarray:
    """Draw ``n_negatives`` items each user has not seen, for every entry of ``user_idx``.

    One-off form of :class:`NegativeSampler` (which precomputes the membership structures; build
    it once per fit when sampling every epoch).

    Parameters
    ----------
    user_idx : array-like of int of shape (n_rows,)
        User index of each row.
    seen : scipy.sparse matrix of shape (n_users, n_items)
        Each user's training positives.
    n_negatives : int
        Negatives per row.
    random_state : None, int or numpy.random.Generator, default None
        Randomness.

    Returns
    -------
    ndarray of int64 of shape (n_rows, n_negatives)
        Item indices drawn uniformly (with replacement) among the items not in the user's row.

    Raises
    ------
    ValueError
        If ``n_negatives`` is not positive, an index is out of range, or a user has seen every
        item (the message names those users).
    TypeError
        If ``seen`` is not a scipy.sparse matrix or ``user_idx`` does not hold integers.

    See Also
    --------
    NegativeSampler, sample_candidates

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> seen = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 1]]))
    >>> sample_negatives(np.array([0, 1]), seen, 3, random_state=0).tolist()
    [[1, 1, 1], [0, 0, 0]]
    """
    return NegativeSampler(seen).sample(user_idx, n_negatives, random_state=random_state)


def _draw_distinct(pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """For each row, ``n`` distinct integers drawn uniformly from ``0 .. pool[row] - 1``.

    Requires ``pool >= n``. Rows whose pool is large (``> 2n``) draw with replacement and redraw
    duplicates until none is left (each redraw succeeds with probability > 1/2); rows with a small
    pool take the ``n`` smallest of ``pool`` random keys. Both are uniform over ``n``-subsets
    because neither depends on the labels of the pool's elements.
    """
    out = np.empty((pool.size, n), dtype=np.int64)
    small = np.flatnonzero(pool <= 2 * n)
    large = np.flatnonzero(pool > 2 * n)
    if small.size:
        width = int(pool[small].max())
        keys = rng.random((small.size, width))
        keys[np.arange(width)[None, :] >= pool[small][:, None]] = np.inf
        out[small] = np.argpartition(keys, n - 1, axis=1)[:, :n]
    if large.size:
        draws = rng.integers(0, pool[large][:, None], size=(large.size, n))
        active = np.arange(large.size)
        while active.size:
            block = np.sort(draws[active], axis=1)
            dup = np.zeros(block.shape, dtype=bool)
            dup[:, 1:] = block[:, 1:] == block[:, :-1]
            n_dup = dup.sum(axis=1)
            block[dup] = rng.integers(0, np.repeat(pool[large[active]], n_dup))
            draws[active] = block
            active = active[n_dup > 0]
        out[large] = draws
    return out


def sample_candidates(
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    n_negatives: int | None = 99,
    user_col: str = "user",
    item_col: str = "item",
    random_state: Any = None,
) -> pd.DataFrame:
    """Evaluation candidates: each held-out target plus sampled (or all) unseen items per user.

    For every test row, a target row (``is_target=True``). For every test **user**,
    ``n_negatives`` items drawn uniformly without replacement from the training catalogue (the
    items that appear in ``train``), excluding every item the user interacted with in ``train`` or
    ``test``; all of the user's targets share these negatives. With ``n_negatives=None``, every
    catalogue item the user did not interact with is a negative (full ranking).

    Parameters
    ----------
    train : pandas.DataFrame
        Training interactions (columns ``user_col``, ``item_col``); defines the catalogue.
    test : pandas.DataFrame
        Held-out interactions; one target row per test row (several per user after a temporal
        split). Users or items absent from ``train`` are kept: their target rows are present and
        the model decides how to score them.
    n_negatives : int or None, default 99
        Negatives per test user (99 in the NCF protocol), or None for full ranking.
    user_col, item_col : str, default "user", "item"
        Id columns of both frames.
    random_state : None, int or numpy.random.Generator, default None
        Randomness; fixed seeds give identical candidates.

    Returns
    -------
    pandas.DataFrame
        Columns ``user_col``, ``item_col`` and ``"is_target"`` (bool), with a fresh RangeIndex.
        Rows are grouped by user in sorted user-id order; within a user, the targets come first
        (in their order in ``test``), then the negatives in sorted item-id order. Id dtypes are
        those of the input columns.

    Raises
    ------
    ValueError
        If a frame fails :func:`implicit_ncf.data.check_interactions`, ``n_negatives`` is not
        positive, or a user has fewer than ``n_negatives`` unseen catalogue items (the message
        names the user, the pool size and the fix).
    TypeError
        If ``n_negatives`` is neither an int nor None, or a frame is not a DataFrame.

    See Also
    --------
    implicit_ncf.metrics.evaluate : Ranks the targets once a score column is added.
    NegativeSampler : Training negatives in index space.

    Notes
    -----
    Vectorised over users: per-user pools are never materialised (except for full ranking,
    whose output is that large anyway); a draw ``j`` from ``0 .. pool - 1`` is mapped to the
    ``j``-th unseen item by one ``searchsorted`` over the sorted excluded items.

    References
    ----------
    He, X., Liao, L., Zhang, H., Nie, L., Hu, X., Chua, T.-S. "Neural Collaborative Filtering",
    WWW 2017 (leave-one-out evaluation with 99 sampled negatives).

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "c"]})
    >>> test = pd.DataFrame({"user": [1, 2], "item": ["c", "a"]})
    >>> sample_candidates(train, test, n_negatives=None)
       user item  is_target
    0     1    c       True
    1     2    a       True
    2     2    b      False
    """
    check_interactions(train, user_col=user_col, item_col=item_col, parameter="train")
    check_interactions(test, user_col=user_col, item_col=item_col, parameter="test")
    n_neg = None if n_negatives is None else _check_n_negatives(n_negatives, allow_none=True)
    rng = check_random_state(random_state)

    train_items = train[item_col].reset_index(drop=True)
    test_users = test[user_col].reset_index(drop=True)
    test_items = test[item_col].reset_index(drop=True)
    item_enc = IdEncoder("item").fit(train_items)
    user_enc = IdEncoder("user").fit(test_users)
    n_items, n_users = len(item_enc), len(user_enc)

    train_i = item_enc.get_indexer(train_items)
    train_u = user_enc.get_indexer(train[user_col].reset_index(drop=True))
    test_u = user_enc.get_indexer(test_users)
    test_i = item_enc.get_indexer(test_items)
    keep_train, keep_test = train_u >= 0, test_i >= 0
    excluded = interactions_to_csr(
        np.concatenate([train_u[keep_train], test_u[keep_test]]),
        np.concatenate([train_i[keep_train], test_i[keep_test]]),
        n_users,
        n_items,
    )
    pool = n_items - np.diff(excluded.indptr).astype(np.int64)

    if n_neg is None:
        mask = np.ones((n_users, n_items), dtype=bool)
        mask[np.repeat(np.arange(n_users), np.diff(excluded.indptr)), excluded.indices] = False
        neg_items = np.broadcast_to(np.arange(n_items, dtype=np.int64), mask.shape)[mask]
        del mask
        neg_users = np.repeat(np.arange(n_users, dtype=np.int64), pool)
        per_user_neg = pool
    else:
        short = np.flatnonzero(pool < n_neg)
        if short.size:
            u = short[np.argmin(pool[short])]
            lower = (
                f"lower n_negatives to at most {int(pool[u])}, or "
                if pool[u] > 0
                else "drop that user from test, or "
            )
            user = _plain(user_enc.classes_[u])
            raise ValueError(
                f"n_negatives={n_neg} is more than the {int(pool[u])} catalogue item(s) user "
                f"{user!r} has not interacted with in train or test ({short.size} user(s) have "
                f"fewer than {n_neg}); {lower}pass n_negatives=None to rank every unseen item."
            )
        j = _draw_distinct(pool, n_neg, rng)
        _, _, keys = _csr_parts(excluded)
        users_rep = np.repeat(np.arange(n_users, dtype=np.int64), n_neg)
        indptr = excluded.indptr.astype(np.int64)
        items = _nth_unseen(users_rep, j.ravel(), keys, indptr, n_items)
        neg_items = np.sort(items.reshape(n_users, n_neg), axis=1).ravel()
        neg_users = users_rep
        per_user_neg = np.full(n_users, n_neg, dtype=np.int64)

    # Lay out blocks: user by user (sorted ids), targets first, then negatives. ``source`` holds,
    # for each output row, a row of the id table [catalogue items..., test items...].
    per_user_t = np.bincount(test_u, minlength=n_users)
    block = per_user_t + per_user_neg
    offset = np.concatenate(([0], np.cumsum(block)[:-1])).astype(np.int64)
    n_test = test_u.size
    source = np.empty(n_test + neg_users.size, dtype=np.int64)
    order = np.argsort(test_u, kind="stable")
    sorted_u = test_u[order]
    t_first = np.concatenate(([0], np.cumsum(per_user_t)[:-1]))
    target_pos = offset[sorted_u] + (np.arange(n_test) - t_first[sorted_u])
    source[target_pos] = n_items + order
    # negatives are grouped by user in ascending order: shift each by the targets up to its user
    neg_shift = np.cumsum(per_user_t)
    neg_pos = np.arange(neg_users.size, dtype=np.int64)
    neg_pos += neg_shift[neg_users]
    source[neg_pos] = neg_items
    is_target = np.zeros(source.size, dtype=bool)
    is_target[target_pos] = True

    # Any row holding a code gives its raw id (with the column's dtype).
    item_row = np.empty(n_items, dtype=np.int64)
    item_row[train_i] = np.arange(train_i.size)
    id_table = pd.concat([train_items.take(item_row), test_items], ignore_index=True)
    user_row = np.empty(n_users, dtype=np.int64)
    user_row[test_u] = np.arange(n_test)
    return pd.DataFrame(
        {
            user_col: test_users.take(np.repeat(user_row, block)).reset_index(drop=True),
            item_col: id_table.take(source).reset_index(drop=True),
            "is_target": is_target,
        }
    )
