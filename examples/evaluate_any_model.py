"""Evaluate any recommender with the implicit_ncf toolkit: popularity and PureSVD, no torch.

The toolkit never needs to know what the model is. A model is anything that can score
(user, item) pairs; here it is a function ``scores(user_idx, item_idx) -> ndarray`` over the
contiguous indices of the training data. Evaluation is always the same four steps:

1. split the interactions (:func:`implicit_ncf.splits.leave_one_out`);
2. build the candidates to rank (:func:`implicit_ncf.sampling.sample_candidates`: each held-out
   item plus 99 sampled unseen items, or every unseen item with ``n_negatives=None``);
3. add a ``score`` column with the model (:func:`score_candidates` below);
4. rank and average (:func:`implicit_ncf.metrics.evaluate`).

Two models are evaluated:

* **popularity**: an item's score is the number of training users who interacted with it, the
  same for every user;
* **PureSVD** (Cremonesi, Koren and Turrin, RecSys 2010): the truncated SVD ``R ~ U S V^T`` of
  the binary user x item training matrix ``R``; the score of (u, i) is entry (u, i) of
  ``U S V^T``. The rank is chosen on a validation split carved from the training data (the
  latest remaining interaction of each user), never on the test set.

on two data sets:

* the embedded MovieLens ``latest-small`` (ships with the package), split leave-one-out by
  timestamp, under both protocols: 99 sampled negatives and full ranking;
* the canonical NCF MovieLens-1M split of He et al. (WWW 2017), scored on exactly its 99
  negatives, when ``../shared/data/ncf-ml-1m`` exists beside the repository.

Run it from anywhere with ``python examples/evaluate_any_model.py``; it takes well under a minute
on two CPU cores. See docs/evaluation.md for what the numbers mean.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.linalg import svds

from implicit_ncf import datasets, metrics, sampling, splits

Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""A model: scores of (user_idx[r], item_idx[r]) for each r, higher is better."""

SEED = 0
RANKS = (16, 32, 64, 128)
NCF_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "ncf-ml-1m"


# ------------------------------------------------------------------------------------------------
# The glue between a model and the toolkit: raw ids -> indices -> scores.


@dataclass(frozen=True)
class TrainingData:
    """The training interactions as a binary user x item matrix, with the id <-> index maps."""

    users: pd.Index  # users[u] is the raw id of row u
    items: pd.Index  # items[i] is the raw id of column i
    matrix: sp.csr_matrix  # 1.0 where the user interacted with the item in train


def index_training(train: pd.DataFrame) -> TrainingData:
    """Encode the raw ids of ``train`` (sorted) and build the binary interaction matrix."""
    users = pd.Index(np.sort(train["user"].unique()))
    items = pd.Index(np.sort(train["item"].unique()))
    u = users.get_indexer(train["user"])
    i = items.get_indexer(train["item"])
    matrix = sp.csr_matrix(
        (np.ones(len(train)), (u, i)), shape=(len(users), len(items)), dtype=np.float64
    )
    matrix.data[:] = 1.0  # repeated pairs count once
    return TrainingData(users, items, matrix)


def score_candidates(candidates: pd.DataFrame, data: TrainingData, scores: Scorer) -> pd.DataFrame:
    """Return ``candidates`` with a ``score`` column from any model.

    Users or items that never occur in train cannot be scored by a model fitted on train; they
    get ``-inf``, which ranks them last (and a ``-inf`` target ties with every ``-inf`` candidate,
    and ties count against the target in :func:`implicit_ncf.metrics.evaluate`).
    """
    u = data.users.get_indexer(candidates["user"])
    i = data.items.get_indexer(candidates["item"])
    known = (u >= 0) & (i >= 0)
    score = np.full(len(candidates), -np.inf)
    score[known] = scores(u[known], i[known])
    return candidates.assign(score=score)


# ------------------------------------------------------------------------------------------------
# Two models, each a function of the training matrix that returns a Scorer.


def popularity(matrix: sp.csr_matrix) -> Scorer:
    """Score every item by its number of training users, whoever the user is."""
    counts = np.asarray(matrix.sum(axis=0)).ravel()

    def scores(user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        return counts[item_idx]

    return scores


def svd_factors(matrix: sp.csr_matrix, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``rank`` truncated SVD ``R ~ U S V^T``: returns ``(U S, V)``, largest factors first."""
    rng = np.random.default_rng(SEED)  # a fixed start vector makes the result repeatable
    try:  # PROPACK is several times faster than ARPACK for a hundred factors
        u, s, vt = svds(matrix, k=rank, solver="propack", v0=rng.uniform(size=matrix.shape[0]))
    except ValueError:  # a scipy build without PROPACK
        u, s, vt = svds(matrix, k=rank, solver="arpack", v0=rng.uniform(size=min(matrix.shape)))
    order = np.argsort(s)[::-1]  # svds does not promise an order
    return u[:, order] * s[order], vt[order].T


def pure_svd(user_factors: np.ndarray, item_factors: np.ndarray, rank: int) -> Scorer:
    """PureSVD scores from the first ``rank`` factors: row ``u`` of ``U S V^T`` at ``item_idx``."""
    p, q = user_factors[:, :rank], item_factors[:, :rank]

    def scores(user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        out = np.empty(len(user_idx))
        for start in range(0, len(user_idx), 1 << 16):  # bounded memory for millions of pairs
            rows = slice(start, start + (1 << 16))
            out[rows] = np.einsum("rf,rf->r", p[user_idx[rows]], q[item_idx[rows]])
        return out

    return scores


def choose_rank(train: pd.DataFrame, *, n_negatives: int | None) -> tuple[int, dict[int, float]]:
    """Pick the PureSVD rank with the best validation NDCG@10; the test set is never touched.

    The validation split is a leave-one-out split *of the training data*: each user's latest
    remaining interaction by timestamp (at random when train has no timestamps), ranked under the
    same protocol (``n_negatives``) as the final test.
    """
    time_col = "timestamp" if "timestamp" in train.columns else None
    inner = splits.leave_one_out(train, time_col=time_col, random_state=SEED)
    data = index_training(inner.train)
    candidates = sampling.sample_candidates(
        inner.train, inner.test, n_negatives=n_negatives, random_state=SEED
    )
    # One SVD of the largest rank serves every rank: the top-r factors of a rank-128 SVD are the
    # rank-r truncated SVD.
    user_factors, item_factors = svd_factors(data.matrix, max(RANKS))
    ndcg = {}
    for rank in RANKS:
        scored = score_candidates(candidates, data, pure_svd(user_factors, item_factors, rank))
        ndcg[rank] = metrics.evaluate(scored, k=10)["ndcg@10"]
    return max(ndcg, key=ndcg.__getitem__), ndcg


# ------------------------------------------------------------------------------------------------
# The experiments.


def run_models(
    dataset: str,
    protocol: str,
    train: pd.DataFrame,
    candidates: pd.DataFrame,
    n_negatives: int | None,
) -> list[dict[str, object]]:
    """Fit both models on ``train``, score ``candidates`` and evaluate; one table row per model."""
    rows: list[dict[str, object]] = []

    start = time.perf_counter()
    data = index_training(train)
    result = metrics.evaluate(score_candidates(candidates, data, popularity(data.matrix)), k=10)
    rows.append(row(dataset, protocol, "popularity", "-", result, time.perf_counter() - start))

    start = time.perf_counter()
    rank, validation = choose_rank(train, n_negatives=n_negatives)
    user_factors, item_factors = svd_factors(data.matrix, rank)
    scored = score_candidates(candidates, data, pure_svd(user_factors, item_factors, rank))
    result = metrics.evaluate(scored, k=10)
    rows.append(row(dataset, protocol, "PureSVD", str(rank), result, time.perf_counter() - start))
    shown = ", ".join(f"{r}: {v:.4f}" for r, v in validation.items())
    print(f"  {dataset} / {protocol}: validation NDCG@10 by rank {{{shown}}} -> rank {rank}")
    return rows


def row(
    dataset: str, protocol: str, model: str, rank: str, result: dict[str, float], seconds: float
) -> dict[str, object]:
    return {
        "dataset": dataset,
        "protocol": protocol,
        "model": model,
        "rank": rank,
        "users": result["n_users"],
        "HR@10": result["hr@10"],
        "NDCG@10": result["ndcg@10"],
        "seconds": seconds,
    }


def movielens_latest_small() -> list[dict[str, object]]:
    """Embedded ml-latest-small: every rating is a positive; leave-one-out by timestamp."""
    ratings = datasets.load_movielens("latest-small")
    split = splits.leave_one_out(ratings, time_col="timestamp")
    report = splits.leakage_report(split.train, split.test)
    print(
        f"  ml-latest-small: {len(split.train)} train rows, {len(split.test)} test users; "
        f"{report.future_train_other_users} of {report.n_test} test rows have later train rows "
        f"of other users (leakage_report)"
    )
    rows = []
    for protocol, n_negatives in (("99 sampled", 99), ("full ranking", None)):
        candidates = sampling.sample_candidates(
            split.train, split.test, n_negatives=n_negatives, random_state=SEED
        )
        rows += run_models("ml-latest-small", protocol, split.train, candidates, n_negatives)
    return rows


def ncf_movielens_1m() -> list[dict[str, object]]:
    """The NCF paper's ML-1M split, scored on exactly its published 99 negatives per user."""
    if not NCF_DIR.is_dir():
        print(f"  skipped NCF ML-1M: {NCF_DIR} does not exist (it is not redistributable).")
        return []
    train, _test, candidates = datasets.load_ncf_ml1m(NCF_DIR)
    print(
        f"  NCF ML-1M: {len(train)} train rows, {candidates['is_target'].sum()} test users, "
        f"{len(candidates)} candidates (the 156 negatives equal to the test item are dropped)"
    )
    # The validation split inside choose_rank samples 99 negatives, like the published protocol.
    return run_models("NCF ML-1M", "99 published", train, candidates, 99)


def main() -> None:
    total = time.perf_counter()
    rows = movielens_latest_small() + ncf_movielens_1m()
    table = pd.DataFrame(rows)
    print()
    print(
        table.to_string(
            index=False,
            formatters={
                "HR@10": "{:.4f}".format,
                "NDCG@10": "{:.4f}".format,
                "seconds": "{:.1f}".format,
            },
        )
    )
    print(f"\ntotal {time.perf_counter() - total:.1f} s")


if __name__ == "__main__":
    main()
