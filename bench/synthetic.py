"""Synthetic interaction sets shaped like MovieLens, generated in a few seconds.

Item popularity follows a Zipf-like law (the ``r``-th most popular item has weight
``r ** -exponent``), user activity is log-normal with a floor, and every (user, item) pair is
distinct, so a frame holds exactly the requested number of implicit positives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ML1M_SHAPE = {"n_users": 6040, "n_items": 3706, "n_interactions": 994_169}
ML20M_SHAPE = {"n_users": 138_493, "n_items": 26_744, "n_interactions": 20_000_000}


def _zipf_ranks(rng: np.random.Generator, size: int, n_items: int, exponent: float) -> np.ndarray:
    """0-based popularity ranks drawn with P(r) ~ (r + 1) ** -exponent (continuous inversion)."""
    a = 1.0 - exponent
    top = float(n_items + 1) ** a
    u = rng.random(size)
    ranks = np.floor((1.0 + u * (top - 1.0)) ** (1.0 / a)) - 1.0
    return np.clip(ranks, 0, n_items - 1).astype(np.int64)


def interaction_keys(
    n_users: int,
    n_items: int,
    n_interactions: int,
    *,
    exponent: float = 0.8,
    min_per_user: int = 20,
    seed: int = 0,
) -> np.ndarray:
    """Sorted distinct keys ``user * n_items + item``, exactly ``n_interactions`` of them."""
    if n_interactions > n_users * n_items // 2:
        raise ValueError("n_interactions must be at most half of n_users * n_items")
    rng = np.random.default_rng(seed)
    floor = min(min_per_user, max(1, n_interactions // n_users))
    cap = max(floor, n_items // 8)
    weight = rng.lognormal(0.0, 1.0, n_users)
    extra = n_interactions - floor * n_users
    counts = floor + np.minimum(np.floor(weight / weight.sum() * extra), cap - floor)
    item_of_rank = rng.permutation(n_items)
    keys = np.empty(0, dtype=np.int64)
    want = counts.astype(np.int64)
    oversample = 1.15
    for _ in range(20):  # a few rounds: draw with replacement, keep distinct pairs, top up
        have = np.bincount(keys // n_items, minlength=n_users) if keys.size else 0
        deficit = np.maximum(want - have, 0)
        missing = n_interactions - keys.size
        if missing <= 0:
            break
        draws = np.ceil(deficit * oversample).astype(np.int64)
        if draws.sum() < missing:  # users at their cap: spread the rest over everyone
            draws += int(np.ceil((missing - draws.sum()) / n_users)) + 1
        users = np.repeat(np.arange(n_users, dtype=np.int64), draws)
        new = users * n_items + item_of_rank[_zipf_ranks(rng, users.size, n_items, exponent)]
        del users
        keys = np.sort(np.concatenate([keys, new]))
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
        oversample *= 1.5
    if keys.size < n_interactions:
        raise RuntimeError("could not draw enough distinct pairs; lower n_interactions")
    drop = rng.choice(keys.size, size=keys.size - n_interactions, replace=False)
    return np.delete(keys, drop)


def interactions(
    n_users: int,
    n_items: int,
    n_interactions: int,
    *,
    exponent: float = 0.8,
    seed: int = 0,
) -> pd.DataFrame:
    """A frame with columns ``user`` (ids 1..n_users) and ``item`` (sparse ids, like movieIds).

    Rows are sorted by user, then item id, like MovieLens' ratings files.
    """
    keys = interaction_keys(n_users, n_items, n_interactions, exponent=exponent, seed=seed)
    rng = np.random.default_rng(seed + 1)
    item_ids = np.sort(rng.choice(5 * n_items, size=n_items, replace=False)) + 1
    users = keys // n_items + 1
    items = item_ids[keys % n_items]
    del keys
    return pd.DataFrame({"user": users, "item": items}, copy=False)


def ml1m_like(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train, test, candidates) shaped like the NCF ML-1M split, for when it is not on disk.

    Test holds one random interaction per user; candidates hold each test item and 99 items the
    user never interacted with, like ``load_ncf_ml1m``'s.
    """
    from implicit_ncf.sampling import sample_candidates
    from implicit_ncf.splits import leave_one_out

    shape = ML1M_SHAPE
    frame = interactions(
        shape["n_users"], shape["n_items"], shape["n_interactions"] + shape["n_users"], seed=seed
    )
    split = leave_one_out(frame, time_col=None, random_state=seed)
    candidates = sample_candidates(split.train, split.test, n_negatives=99, random_state=seed)
    return split.train.reset_index(drop=True), split.test.reset_index(drop=True), candidates
