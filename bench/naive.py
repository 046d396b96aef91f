"""Naive reference paths and the checks that hold the fast paths to them.

Every benchmark row that times a fast path also runs a naive one, written the way tutorials
write it (a Python loop per sample or per user, every pair through the network's ``forward``),
and checks that both give the same answer. A fast wrong answer raises :class:`BenchmarkError`.

Scores from the fast paths and from ``forward`` can differ in the last bits (the fast paths
reorder the arithmetic, e.g. NeuMF's first layer is split into a user part and an item part), so
rank checks allow ties within ``TIE_TOLERANCE``: a fast answer passes when it is one of the
answers the naive scores allow once near-equal scores are treated as ties.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

TIE_TOLERANCE = 1e-5  # absolute, on logits of magnitude ~1-10 computed in float32


class BenchmarkError(AssertionError):
    """A fast path disagrees with its naive reference."""


# ------------------------------------------------------------------------------------------------
# negative sampling
# ------------------------------------------------------------------------------------------------


def tutorial_negatives(
    users: np.ndarray,
    items: np.ndarray,
    user_item_set: set[tuple[int, int]],
    n_items: int,
    n_negatives: int,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The per-sample loop of the usual NCF tutorial: for every positive ``(users[k], items[k])``,
    ``n_negatives`` times, draw a random item until it is not in ``user_item_set`` (all training
    pairs; the tutorials rebuild that set every epoch, which is left out of the timing here).
    Returns the epoch's users, items and labels.
    """
    np.random.seed(seed)  # noqa: NPY002 (the tutorials use the legacy global generator)
    all_items = np.arange(n_items)
    out_users, out_items, labels = [], [], []
    for u, i in zip(users.tolist(), items.tolist(), strict=True):
        out_users.append(u)
        out_items.append(i)
        labels.append(1)
        for _ in range(n_negatives):
            negative = np.random.choice(all_items)  # noqa: NPY002
            while (u, negative) in user_item_set:
                negative = np.random.choice(all_items)  # noqa: NPY002
            out_users.append(u)
            out_items.append(negative)
            labels.append(0)
    return np.array(out_users), np.array(out_items), np.array(labels)


def check_negatives(users: np.ndarray, negatives: np.ndarray, seen: sp.csr_matrix) -> None:
    """Every negative is an item its user never interacted with; shapes match."""
    if negatives.shape[0] != len(users):
        raise BenchmarkError(f"sampler returned {negatives.shape[0]} rows for {len(users)} users")
    n_items = seen.shape[1]
    if negatives.min() < 0 or negatives.max() >= n_items:
        raise BenchmarkError("sampler returned an item index out of range")
    rows = np.repeat(np.arange(seen.shape[0], dtype=np.int64), np.diff(seen.indptr))
    keys = np.sort(rows * n_items + seen.indices)
    drawn = (users[:, None].astype(np.int64) * n_items + negatives).ravel()
    pos = np.minimum(np.searchsorted(keys, drawn), len(keys) - 1)
    hits = int((keys[pos] == drawn).sum())
    if hits:
        raise BenchmarkError(f"sampler returned {hits} item(s) the user interacted with")


# ------------------------------------------------------------------------------------------------
# full-catalogue recommendation
# ------------------------------------------------------------------------------------------------


@torch.inference_mode()
def naive_scores(network: torch.nn.Module, user_idx: np.ndarray) -> torch.Tensor:
    """Scores of every item for ``user_idx``: every (user, item) pair through ``forward``."""
    n_items = int(network.n_items)
    users = torch.from_numpy(np.asarray(user_idx, dtype=np.int64))
    pair_users = users.repeat_interleave(n_items)
    pair_items = torch.arange(n_items).repeat(len(users))
    return network(pair_users, pair_items).float().view(len(users), n_items)


@torch.inference_mode()
def naive_top_k(
    network: torch.nn.Module,
    seen: sp.csr_matrix,
    user_idx: np.ndarray,
    k: int,
    *,
    block: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` item indices per user (seen items excluded) and the naive scores of all items.

    Users go through the network ``block`` at a time (one, as in the tutorials: the fastest
    choice on a CPU, as larger blocks spill the pair activations out of cache), every pair
    scored by ``forward``; then seen items are set to ``-inf`` and ``torch.topk`` picks the best.
    """
    tops, scores = [], []
    for start in range(0, len(user_idx), block):
        rows = user_idx[start : start + block]
        s = naive_scores(network, rows)
        dense = torch.from_numpy(seen[rows].toarray() > 0)
        s = s.masked_fill(dense, -math.inf)
        tops.append(torch.topk(s, k, dim=1).indices.numpy())
        scores.append(s.numpy())
    return np.concatenate(tops), np.concatenate(scores)


def check_top_k(fast_items: np.ndarray, naive_items: np.ndarray, scores: np.ndarray) -> int:
    """The fast top-k equals the naive one, as item sets per user, up to ties at the boundary.

    ``scores`` are the naive scores (seen items at ``-inf``). Where the sets differ, every item of
    the fast set must score at least the naive k-th score minus ``TIE_TOLERANCE``. Returns the
    number of users whose sets differ only by such ties; raises :class:`BenchmarkError` otherwise.
    """
    if fast_items.shape != naive_items.shape:
        raise BenchmarkError(f"top-k shapes differ: {fast_items.shape} vs {naive_items.shape}")
    tied = 0
    for row in range(len(fast_items)):
        fast, naive = set(fast_items[row].tolist()), set(naive_items[row].tolist())
        if fast == naive:
            continue
        kth = scores[row, naive_items[row]].min()
        worst = scores[row, fast_items[row]].min()
        if not worst >= kth - TIE_TOLERANCE * max(1.0, abs(kth)):
            raise BenchmarkError(
                f"top-k of user row {row} differs from the naive path beyond ties: fast "
                f"{sorted(fast)}, naive {sorted(naive)} (k-th naive score {kth:.6g}, worst fast "
                f"item's naive score {worst:.6g})"
            )
        tied += 1
    return tied


# ------------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------------


def rank_bounds(target: float, others: np.ndarray) -> tuple[int, int]:
    """Ranks (0-based, ties count against) the target may take once near-ties are allowed."""
    tol = TIE_TOLERANCE * max(1.0, abs(target))
    return int((others > target + tol).sum()), int((others >= target - tol).sum())


@torch.inference_mode()
def naive_sampled_ranks(
    network: torch.nn.Module,
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    is_target: np.ndarray,
    users: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-user loop over a candidates frame (one target per user): score the user's candidates
    through ``forward`` and count the negatives scoring at least the target.

    Returns the (low, high) rank bounds of each user in ``users`` (see :func:`rank_bounds`).
    """
    order = np.argsort(user_idx, kind="stable")
    starts = np.searchsorted(user_idx[order], users, side="left")
    stops = np.searchsorted(user_idx[order], users, side="right")
    low = np.empty(len(users), dtype=np.int64)
    high = np.empty(len(users), dtype=np.int64)
    for n, (start, stop) in enumerate(zip(starts, stops, strict=True)):
        rows = order[start:stop]
        u = torch.full((len(rows),), int(users[n]), dtype=torch.int64)
        s = network(u, torch.from_numpy(item_idx[rows])).double().numpy()
        target = is_target[rows]
        low[n], high[n] = rank_bounds(float(s[target][0]), s[~target])
    return low, high


@torch.inference_mode()
def naive_full_ranks(
    network: torch.nn.Module,
    seen: sp.csr_matrix,
    user_idx: np.ndarray,
    target_idx: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-user loop for full ranking: score every item through ``forward``, leave out the
    user's training items, rank the held-out item against all the others (bounds as above)."""
    n_items = int(network.n_items)
    all_items = torch.arange(n_items)
    low = np.empty(len(user_idx), dtype=np.int64)
    high = np.empty(len(user_idx), dtype=np.int64)
    for n, (user, target) in enumerate(zip(user_idx.tolist(), target_idx.tolist(), strict=True)):
        s = network(torch.full((n_items,), user, dtype=torch.int64), all_items).double().numpy()
        keep = np.ones(n_items, dtype=bool)
        keep[seen.indices[seen.indptr[user] : seen.indptr[user + 1]]] = False
        keep[target] = False
        low[n], high[n] = rank_bounds(float(s[target]), s[keep])
    return low, high


def metric_bounds(low: np.ndarray, high: np.ndarray, k: int) -> dict[str, tuple[float, float]]:
    """HR@k and NDCG@k intervals allowed by per-user rank bounds."""

    def hr(r: np.ndarray) -> float:
        return float((r < k).mean())

    def ndcg(r: np.ndarray) -> float:
        return float(np.where(r < k, 1.0 / np.log2(r + 2.0), 0.0).mean())

    return {f"hr@{k}": (hr(high), hr(low)), f"ndcg@{k}": (ndcg(high), ndcg(low))}


def check_ranks(fast: np.ndarray, low: np.ndarray, high: np.ndarray, what: str) -> int:
    """Each fast rank lies within the naive bounds; returns how many needed the tie allowance."""
    bad = np.flatnonzero((fast < low) | (fast > high))
    if bad.size:
        row = int(bad[0])
        raise BenchmarkError(
            f"{what}: {bad.size} rank(s) differ from the naive per-user loop, e.g. row {row}: "
            f"fast rank {int(fast[row])}, naive rank in [{int(low[row])}, {int(high[row])}]"
        )
    return int((low != high).sum())


def check_metrics(fast: dict[str, Any], bounds: dict[str, tuple[float, float]], what: str) -> None:
    """Each fast metric lies within the interval the naive ranks allow (plus rounding)."""
    for name, (lo, hi) in bounds.items():
        value = float(fast[name])
        if not lo - 1e-9 <= value <= hi + 1e-9:
            raise BenchmarkError(
                f"{what}: {name} = {value:.6f} from the fast path, but the naive per-user loop "
                f"gives [{lo:.6f}, {hi:.6f}]"
            )


def candidates_ranks(scored: pd.DataFrame) -> pd.Series:
    """0-based rank of each user's target among its candidates, from a scored frame (fast)."""
    from implicit_ncf.metrics import evaluate

    return evaluate(scored, k=10, reduction="none").set_index("user")["rank"]
