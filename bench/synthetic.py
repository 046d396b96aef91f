"""Synthetic interaction sets shaped like MovieLens, generated in a few seconds.

Item popularity follows a Zipf-like law (the ``r``-th most popular item has weight
``r ** -exponent``), user activity is log-normal with a floor, and every (user, item) pair is
distinct, so a frame holds exactly the requested number of implicit positives.

:func:`sparse_longtail` is different: a sparse long-tail set (about 20 interactions per user over
12,000 items) whose users draw from a few latent tastes, so that a collaborative model has
structure to learn beyond popularity (:func:`sparse_longtail_with_truth` also returns the
probabilities it was drawn from).
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class LongtailTruth:
    """The probabilities behind :func:`sparse_longtail` (item index = item id - 1).

    A user ``u`` draws item ``i`` with probability
    ``item_share[i] * (in_taste * user_tastes[u, t] + (1 - in_taste) * taste_weights[t])``,
    ``t = item_taste[i]``: a rank-``n_clusters`` non-negative factorisation. :meth:`scores`
    gives these probabilities, the generator's own ranking of the catalogue (a ceiling that no
    model fitted on the data should expect to reach).
    """

    user_tastes: np.ndarray  # (n_users, n_clusters), rows sum to 1
    taste_weights: np.ndarray  # (n_clusters,), sums to 1
    item_taste: np.ndarray  # (n_items,)
    item_share: np.ndarray  # (n_items,): probability of the item within its taste
    in_taste: float

    def scores(self, user_index: np.ndarray) -> np.ndarray:
        """Draw probabilities of every item for the given 0-based user indices."""
        mix = (
            self.in_taste * self.user_tastes[user_index]
            + (1.0 - self.in_taste) * (self.taste_weights[None, :])
        )
        return mix[:, self.item_taste] * self.item_share[None, :]

    def pair_scores(self, user_index: np.ndarray, item_index: np.ndarray) -> np.ndarray:
        """Draw probabilities of single (user, item) pairs (0-based indices)."""
        taste = self.item_taste[item_index]
        mix = self.in_taste * self.user_tastes[user_index, taste]
        return self.item_share[item_index] * (
            mix + (1.0 - self.in_taste) * self.taste_weights[taste]
        )


def _draw_in_blocks(cum: np.ndarray, block: np.ndarray, u: np.ndarray, size: int) -> np.ndarray:
    """Inverse-CDF draws inside blocks of a flat array: ``cum[b * size ... (b + 1) * size)``
    holds ``b`` + the cumulative probabilities of block ``b``; returns the offset in the block."""
    at = np.searchsorted(cum, block + u, side="right")
    return np.minimum(at - block * size, size - 1)


def sparse_longtail_with_truth(
    n_users: int = 20_000,
    n_items: int = 12_000,
    *,
    n_clusters: int = 50,
    mean_per_user: float = 20.0,
    min_per_user: int = 5,
    sigma: float = 0.75,
    concentration: float = 0.03,
    in_taste: float = 0.9,
    exponent: float = 1.0,
    taste_exponent: float = 0.5,
    seed: int = 0,
) -> tuple[pd.DataFrame, LongtailTruth]:
    """:func:`sparse_longtail`'s frame and the probabilities it was drawn from."""
    if n_items < 2 * n_clusters or n_users < 1:
        raise ValueError("need at least two items per cluster and one user")
    if not 0.0 <= in_taste <= 1.0:
        raise ValueError("in_taste must be in [0, 1]")
    if mean_per_user <= min_per_user or min_per_user < 1:
        raise ValueError("mean_per_user must exceed min_per_user >= 1")
    rng = np.random.default_rng(seed)
    k = n_clusters
    # tastes: long-tailed weights; items dealt round-robin from a random order, so each taste
    # holds n_items / k of them, ranked by their position (Zipf-like popularity inside it)
    weights = np.arange(1, k + 1, dtype=np.float64) ** -taste_exponent
    weights /= weights.sum()
    perm = rng.permutation(n_items)
    item_taste = np.empty(n_items, dtype=np.int64)
    item_rank = np.empty(n_items, dtype=np.int64)
    item_taste[perm] = np.arange(n_items) % k
    item_rank[perm] = np.arange(n_items) // k
    size = -(-n_items // k)  # block width: the largest taste
    raw = np.zeros((k, size))
    raw[item_taste, item_rank] = (item_rank + 1.0) ** -exponent
    block_share = raw / raw.sum(axis=1, keepdims=True)
    item_share = block_share[item_taste, item_rank]
    item_at = np.full((k, size), -1, dtype=np.int64)
    item_at[item_taste, item_rank] = np.arange(n_items)
    item_cum = (np.arange(k)[:, None] + np.cumsum(block_share, axis=1)).ravel()
    # each user's taste mixture: Dirichlet around the global weights (a few dominant tastes)
    gamma = rng.gamma(concentration * k * weights, size=(n_users, k))
    empty = gamma.sum(axis=1) == 0
    gamma[empty, rng.choice(k, size=int(empty.sum()), p=weights)] = 1.0
    tastes = gamma / gamma.sum(axis=1, keepdims=True)
    taste_cum = (np.arange(n_users)[:, None] + np.cumsum(tastes, axis=1)).ravel()
    weight_cum = np.cumsum(weights)
    # per-user counts: log-normal with a floor, its location set so that the mean is the target
    z = rng.standard_normal(n_users)
    cap = max(min_per_user + 1, min(n_items // 4, int(10 * mean_per_user)))
    low, high = np.log(1.0), np.log(mean_per_user) + 1.0
    for _ in range(50):  # bisection on the location of the log-normal
        mid = (low + high) / 2
        counts = np.clip(np.rint(np.exp(mid + sigma * z)), min_per_user, cap).astype(np.int64)
        low, high = (mid, high) if counts.mean() < mean_per_user else (low, mid)
    truth = LongtailTruth(tastes, weights, item_taste, item_share, in_taste)

    def draw(users: np.ndarray) -> np.ndarray:
        own = rng.random(users.size) < in_taste
        taste = np.empty(users.size, dtype=np.int64)
        taste[own] = _draw_in_blocks(taste_cum, users[own], rng.random(int(own.sum())), k)
        taste[~own] = np.minimum(
            np.searchsorted(weight_cum, rng.random(int((~own).sum())), side="right"), k - 1
        )
        offset = _draw_in_blocks(item_cum, taste, rng.random(users.size), size)
        return item_at[taste, offset]

    # distinct pairs: draw with replacement, keep each user's first `counts` distinct items in
    # draw order, top up the deficits; a last round fills what is left uniformly at random
    users = np.empty(0, dtype=np.int64)
    items = np.empty(0, dtype=np.int64)
    deficit = counts.copy()
    oversample = 1.3
    for round_ in range(12):
        if not deficit.any():
            break
        new_users = np.repeat(np.arange(n_users), np.ceil(deficit * oversample).astype(np.int64))
        new_items = (
            draw(new_users) if round_ < 11 else rng.integers(0, n_items, size=new_users.size)
        )
        users = np.concatenate([users, new_users])
        items = np.concatenate([items, new_items])
        _, first = np.unique(users * n_items + items, return_index=True)
        first.sort()  # draw order
        users, items = users[first], items[first]
        order = np.argsort(users, kind="stable")
        starts = np.searchsorted(users[order], np.arange(n_users))
        position = np.empty(users.size, dtype=np.int64)
        position[order] = np.arange(users.size) - np.repeat(
            starts, np.bincount(users, minlength=n_users)
        )
        keep = position < counts[users]
        users, items = users[keep], items[keep]
        deficit = counts - np.bincount(users, minlength=n_users)
        oversample *= 1.5
    if deficit.any():
        raise RuntimeError("could not draw enough distinct pairs; lower mean_per_user")
    # every item at least once: an unseen item goes to a user whose main taste is its own
    missing = np.flatnonzero(np.bincount(items, minlength=n_items) == 0)
    if missing.size:
        main = tastes.argmax(axis=1)
        by_taste = np.argsort(main, kind="stable")
        first_user = np.searchsorted(main[by_taste], np.arange(k + 1))
        lo, hi = first_user[item_taste[missing]], first_user[item_taste[missing] + 1]
        pick = np.where(
            hi > lo,
            by_taste[
                np.minimum(
                    lo + (rng.random(missing.size) * (hi - lo)).astype(np.int64), n_users - 1
                )
            ],
            rng.integers(0, n_users, size=missing.size),
        )
        users = np.concatenate([users, pick])
        items = np.concatenate([items, missing])
    # timestamps: a random order of each user's interactions, from a random start in one year
    order = np.lexsort((rng.random(users.size), users))
    users, items = users[order], items[order]
    starts = np.searchsorted(users, np.arange(n_users))
    gaps = rng.exponential(86_400.0, size=users.size).astype(np.int64) + 1
    elapsed = np.cumsum(gaps)
    elapsed -= np.repeat(elapsed[starts] - gaps[starts], np.bincount(users, minlength=n_users))
    start = rng.integers(1_500_000_000, 1_500_000_000 + 365 * 86_400, size=n_users)
    frame = pd.DataFrame(
        {"user": users + 1, "item": items + 1, "timestamp": start[users] + elapsed}, copy=False
    )
    return frame, truth


def sparse_longtail(
    n_users: int = 20_000,
    n_items: int = 12_000,
    *,
    n_clusters: int = 50,
    mean_per_user: float = 20.0,
    min_per_user: int = 5,
    sigma: float = 0.75,
    concentration: float = 0.03,
    in_taste: float = 0.9,
    exponent: float = 1.0,
    taste_exponent: float = 0.5,
    seed: int = 0,
) -> pd.DataFrame:
    """A sparse long-tail interaction set with learnable taste structure (columns ``user``,
    ``item``, ``timestamp``; ids ``1..n_users`` and ``1..n_items``; distinct pairs).

    The generative model (a rank-``n_clusters`` non-negative factorisation, like a topic model):

    - **Tastes.** ``n_clusters`` tastes with long-tailed weights ``w_t ~ (t + 1) **
      -taste_exponent``. Items are dealt round-robin from a random order, so each taste holds
      ``n_items / n_clusters`` items, and within a taste the ``r``-th item has probability
      ``~ (r + 1) ** -exponent`` (Zipf). The catalogue's popularity is therefore long-tailed
      overall (a mixture of Zipf laws weighted by the tastes' weights).
    - **Users.** Each user's taste mixture is Dirichlet with parameters ``concentration *
      n_clusters * w``: on average the global weights, but concentrated on a few tastes. Each
      interaction is drawn, with probability ``in_taste``, from a taste of the user's mixture,
      else from a taste drawn by the global weights ("global popularity"); then an item of that
      taste by its Zipf law. :func:`sparse_longtail_with_truth` returns these probabilities.
    - **Counts.** Per-user counts are log-normal (``sigma``) rounded, floored at
      ``min_per_user`` and capped at ``min(n_items / 4, 10 * mean_per_user)``, with the location
      set by bisection so the mean is ``mean_per_user``. Pairs are distinct: draws that repeat an
      item are re-drawn (a user who runs out of new items in its tastes after 11 rounds gets
      uniform random items; this does not happen at the defaults).
    - **Coverage.** Every item appears at least once: an item never drawn is given to a random
      user whose main taste is the item's (17 items at the defaults; with few users it is many,
      e.g. 2,340 of 10,000 items for 2,000 users, which then blurs the structure).
    - **Time.** Each user's interactions come in a random order (no drift), one exponential gap
      of mean one day apart, from a random start within a year, so a leave-one-out by timestamp
      holds out a random interaction of each user.

    At the defaults (20,000 users, 12,000 items, seed 0): 400,016 interactions, density 0.17%;
    per user mean 20.0, median 15, min 5, max 200 (the cap); per item median 12, max 3,121, the
    top 1% of items hold 22% of the interactions. Under a leave-one-out by timestamp the
    generating probabilities rank the test item in the top 10 of the user's unseen items for
    27% of the users, popularity for 5.5%, a tuned ALS for 21% (``docs/results.md``).
    """
    frame, _ = sparse_longtail_with_truth(
        n_users,
        n_items,
        n_clusters=n_clusters,
        mean_per_user=mean_per_user,
        min_per_user=min_per_user,
        sigma=sigma,
        concentration=concentration,
        in_taste=in_taste,
        exponent=exponent,
        taste_exponent=taste_exponent,
        seed=seed,
    )
    return frame
