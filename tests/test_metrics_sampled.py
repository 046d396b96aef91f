"""Tests for metrics.corrected_metrics: full-ranking HR@k / NDCG@k estimated from sampled ranks.

Synthetic tests draw full ranks from a known distribution, simulate each sampled rank as
Binomial(n_negatives, rank / n_candidates) and check that the estimate recovers the mean
full-ranking metric. The slow test does the same on the NCF MovieLens-1M split with its published
99 negatives and cheap numpy models.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from implicit_ncf.metrics import corrected_metrics, evaluate, metrics_from_ranks

METHODS = ["smoothed_mle", "bias_variance"]
N_USERS = 6000


def full_metrics(full: np.ndarray, k: int) -> tuple[float, float]:
    result = metrics_from_ranks(full, k=k)
    return result[f"hr@{k}"], result[f"ndcg@{k}"]


def relative_rank_draws(kind: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """Relative full ranks in [0, 1): mixtures with a finite density at the top, and a power law.

    The mixtures mimic real models on MovieLens-1M: a share of held-out items near the top of
    the catalogue, the rest spread out (full HR@10 about 0.23, 0.075 and 0.05 with ~2,600
    candidates).
    """
    if kind == "strong":
        near, top, rest = 0.35, rng.beta(1.0, 250.0, size), rng.beta(1.0, 4.0, size)
    elif kind == "weak":
        near, top, rest = 0.15, rng.beta(1.0, 150.0, size), rng.beta(1.0, 2.0, size)
    elif kind == "popularity":
        near, top, rest = 0.20, rng.beta(1.0, 60.0, size), rng.beta(1.0, 1.5, size)
    elif kind == "power_law":  # P(p < x) = (x / 0.3) ** 0.8: the density grows towards rank 0
        return 0.3 * rng.uniform(size=size) ** (1.0 / 0.8)
    else:
        raise AssertionError(kind)
    return np.where(rng.uniform(size=size) < near, top, rest)


def simulate(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(full ranks, sampled ranks among 99 negatives, n_candidates in [1500, 3700] per user)."""
    rng = np.random.default_rng(seed)
    n_candidates = rng.integers(1500, 3701, size=N_USERS)
    p = relative_rank_draws(kind, rng, N_USERS)
    full = np.minimum(np.floor(p * (n_candidates + 1)), n_candidates).astype(np.int64)
    sampled = rng.binomial(99, full / n_candidates)
    return full, sampled, n_candidates


# Stated tolerances: relative error on 6,000 users with 99 negatives (seed 0). Over seeds 0-4 the
# worst errors measured were 9% / 17% (HR@10 / NDCG@10, smoothed_mle) and 17% / 24%
# (bias_variance); the rest is the sampling noise of the ranks.
TOLERANCE = {"smoothed_mle": (0.15, 0.25), "bias_variance": (0.25, 0.35)}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", ["strong", "weak", "popularity", "power_law"])
def test_recovers_the_full_ranking_metrics_of_known_distributions(kind, method):
    full, sampled, n_candidates = simulate(kind, seed=0)
    true_hr, true_ndcg = full_metrics(full, 10)
    result = corrected_metrics(sampled, 99, n_candidates, k=10, method=method)
    hr_tol, ndcg_tol = TOLERANCE[method]
    assert result["hr@10_corrected"] == pytest.approx(true_hr, rel=hr_tol)
    assert result["ndcg@10_corrected"] == pytest.approx(true_ndcg, rel=ndcg_tol)
    # the uncorrected sampled metric is off by a factor of 2.5 (strong) to 14 (power law)
    sampled_hr = metrics_from_ranks(sampled, k=10)["hr@10"]
    assert sampled_hr > 2.4 * true_hr


def test_several_cut_offs_and_key_order():
    full, sampled, n_candidates = simulate("strong", seed=1)
    result = corrected_metrics(sampled, 99, n_candidates, k=(5, 10, 20))
    assert list(result) == [
        "hr@5_corrected", "hr@10_corrected", "hr@20_corrected",
        "ndcg@5_corrected", "ndcg@10_corrected", "ndcg@20_corrected",
    ]  # fmt: skip
    for k in (5, 10, 20):
        true_hr, true_ndcg = full_metrics(full, k)
        assert result[f"hr@{k}_corrected"] == pytest.approx(true_hr, rel=0.35)
        assert result[f"ndcg@{k}_corrected"] == pytest.approx(true_ndcg, rel=0.35)
    assert result["hr@5_corrected"] < result["hr@10_corrected"] < result["hr@20_corrected"]


@pytest.mark.parametrize("method", METHODS)
def test_a_random_scorer_gets_about_k_over_n(method):
    rng = np.random.default_rng(2)
    n_candidates = 3000
    sampled = rng.binomial(99, rng.integers(0, n_candidates + 1, N_USERS) / n_candidates)
    result = corrected_metrics(sampled, 99, n_candidates, k=10, method=method)
    assert result["hr@10_corrected"] == pytest.approx(10 / 3001, abs=0.005)


def test_a_perfect_model_is_recognised():
    result = corrected_metrics(np.zeros(N_USERS, dtype=np.int64), 99, 3000, k=(1, 10))
    assert result["hr@1_corrected"] > 0.95
    assert result["hr@10_corrected"] > 0.99


def test_sampling_without_replacement_is_close_to_the_binomial_model():
    rng = np.random.default_rng(3)
    n_candidates = 2500
    p = relative_rank_draws("strong", rng, N_USERS)
    full = np.minimum(np.floor(p * (n_candidates + 1)), n_candidates).astype(np.int64)
    sampled = rng.hypergeometric(full, n_candidates - full, 99)  # what uniform sampling does
    true_hr, true_ndcg = full_metrics(full, 10)
    result = corrected_metrics(sampled, 99, n_candidates, k=10)
    assert result["hr@10_corrected"] == pytest.approx(true_hr, rel=0.3)
    assert result["ndcg@10_corrected"] == pytest.approx(true_ndcg, rel=0.35)


@pytest.mark.parametrize("method", METHODS)
def test_per_user_numbers_of_negatives(method):
    """The NCF file ranks 156 users among 98 distinct negatives: counts may differ per user."""
    full, _, n_candidates = simulate("weak", seed=4)
    rng = np.random.default_rng(4)
    n_negatives = np.where(rng.uniform(size=N_USERS) < 0.1, 98, 99)
    sampled = rng.binomial(n_negatives, full / n_candidates)
    true_hr, _ = full_metrics(full, 10)
    result = corrected_metrics(sampled, n_negatives, n_candidates, k=10, method=method)
    assert result["hr@10_corrected"] == pytest.approx(true_hr, rel=0.3)


@settings(max_examples=25, deadline=None)
@given(
    hnp.arrays(np.int64, st.integers(1, 60), elements=st.integers(0, 20)),
    st.integers(20, 5000),
    st.sampled_from(METHODS),
)
def test_estimates_are_probabilities_and_ndcg_is_at_most_hr(ranks, n_candidates, method):
    result = corrected_metrics(ranks, 20, n_candidates, k=(1, 10), method=method)
    assert all(0.0 <= value <= 1.0 for value in result.values())
    if method == "smoothed_mle":  # a posterior expectation: NDCG <= HR user by user
        assert result["ndcg@10_corrected"] <= result["hr@10_corrected"] + 1e-12
        assert result["hr@1_corrected"] <= result["hr@10_corrected"] + 1e-12


def test_users_are_exchangeable():
    _, sampled, n_candidates = simulate("popularity", seed=5)
    order = np.random.default_rng(5).permutation(N_USERS)
    for method in METHODS:
        first = corrected_metrics(sampled, 99, n_candidates, method=method)
        shuffled = corrected_metrics(sampled[order], 99, n_candidates[order], method=method)
        assert shuffled == pytest.approx(first, rel=1e-9)


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "fragment"),
    [
        (([0, 100], 99, 3000), {}, ValueError, "must not exceed n_negatives.*rank 100"),
        (([0, -1], 99, 3000), {}, ValueError, "non-negative"),
        (([0.5], 99, 3000), {}, TypeError, "ranks must hold integers"),
        (([], 99, 3000), {}, ValueError, "sampled_ranks is empty"),
        (([0, 1], 99, 50), {}, ValueError, "n_candidates must be at least n_negatives"),
        (([0, 1], 0, 3000), {}, ValueError, "n_negatives must be at least 1; got 0"),
        (([0, 1], [99], 3000), {}, ValueError, r"one value per sampled rank \(shape \(2,\)\)"),
        (([0, 1], 99, [3000.0, 3000.0]), {}, TypeError, "n_candidates must hold integers"),
        (([0, 1], True, 3000), {}, TypeError, "n_negatives must be an integer"),
        (([0, 1], 99, 3000), {"k": 0}, ValueError, "k must be a positive integer"),
        (([0, 1], 99, 3000), {"method": "em"}, ValueError, "method must be 'smoothed_mle'"),
        (([0, 1], 99, 3000), {"gamma": 0.0}, ValueError, r"gamma must be a number in \(0, 1\]"),
    ],
)
def test_bad_input(args, kwargs, exc, fragment):
    with pytest.raises(exc, match=fragment):
        corrected_metrics(*args, **kwargs)


# ---------------------------------------------------------------------------------------------
# real data: the NCF MovieLens-1M split with its 99 published negatives
# ---------------------------------------------------------------------------------------------


def plain_em(
    sampled: np.ndarray, n_negatives: np.ndarray, n_candidates: np.ndarray, k: int = 10
) -> tuple[float, float]:
    """The baseline: EM for each user's relative rank on a uniform grid, binomial likelihood."""
    from scipy import stats

    grid = np.linspace(0.0, 1.0, 1001)
    pairs, inverse = np.unique(np.stack([sampled, n_negatives], 1), axis=0, return_inverse=True)
    likelihood = stats.binom.pmf(pairs[:, :1], pairs[:, 1:], grid[None, :])
    counts = np.bincount(inverse.ravel(), minlength=len(pairs))
    pi = np.full(grid.size, 1.0 / grid.size)
    for _ in range(500):
        posterior = likelihood * pi
        posterior /= posterior.sum(axis=1, keepdims=True)
        pi = counts @ posterior / counts.sum()
    posterior = (likelihood * pi)[inverse.ravel()]
    posterior /= posterior.sum(axis=1, keepdims=True)
    rank = np.floor(grid[None, :] * n_candidates[:, None])
    hr = ((rank < k) * posterior).sum(axis=1).mean()
    ndcg = (np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0) * posterior).sum(axis=1).mean()
    return float(hr), float(ndcg)


def ml1m_models(matrix):
    """Cheap numpy/scipy models: name -> function(user indices) -> dense score rows."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import svds

    popularity = np.asarray(matrix.sum(axis=0)).ravel()
    rng = np.random.default_rng(0)
    u, s, vt = svds(matrix, k=64, solver="propack", v0=rng.uniform(size=matrix.shape[0]))
    order = np.argsort(s)[::-1]
    user_factors, item_factors = u[:, order] * s[order], vt[order].T
    gram = (matrix.T @ matrix).toarray()
    norms = np.sqrt(np.diag(gram)) + 1e-9
    cosine = gram / norms[:, None] / norms[None, :]
    np.fill_diagonal(cosine, 0.0)
    cosine[cosine < -np.partition(-cosine, 50, axis=0)[50]] = 0.0  # 50 neighbours per item
    knn = sp.csr_matrix(cosine)
    gram[np.diag_indices_from(gram)] += 500.0
    inverse = np.linalg.inv(gram)
    ease = -inverse / np.diag(inverse)  # EASE (Steck, 2019), lambda = 500
    np.fill_diagonal(ease, 0.0)
    return {
        "popularity": lambda users: np.broadcast_to(popularity, (len(users), popularity.size)),
        "PureSVD-8": lambda users: user_factors[users, :8] @ item_factors[:, :8].T,
        "PureSVD-64": lambda users: user_factors[users] @ item_factors.T,
        "item-kNN": lambda users: (matrix[users] @ knn).toarray(),
        "EASE": lambda users: np.asarray(matrix[users] @ ease),
    }


def ml1m_ranks(data, scores) -> pd.DataFrame:
    """Per user: sampled rank among the published negatives, n_negatives, full rank, N."""
    import scipy.sparse as sp

    train, test, candidates = data
    n_users = int(train["user"].max()) + 1
    items = np.sort(train["item"].unique())
    n_items = items.size
    column = pd.Index(items)
    matrix = sp.csr_matrix(
        (np.ones(len(train)), (train["user"].to_numpy(), column.get_indexer(train["item"]))),
        shape=(n_users, n_items),
    )
    matrix.data[:] = 1.0
    model_scores = scores(matrix)
    test_user = test["user"].to_numpy()
    test_item = column.get_indexer(test["item"])  # -1: never in train, a miss for every model
    cand_user = candidates["user"].to_numpy()
    cand_item = column.get_indexer(candidates["item"])
    out = {}
    for name, score_rows in model_scores.items():
        cand_score = np.full(len(candidates), -np.inf)
        full = np.empty(len(test), dtype=np.int64)
        for start in range(0, n_users, 1024):
            users = np.arange(start, min(n_users, start + 1024))
            block = np.asarray(score_rows(users), dtype=np.float64)
            rows = np.flatnonzero((cand_user >= start) & (cand_user < start + len(users)))
            known = rows[cand_item[rows] >= 0]
            cand_score[known] = block[cand_user[known] - start, cand_item[known]]
            tests = np.flatnonzero((test_user >= start) & (test_user < start + len(users)))
            local = test_user[tests] - start
            target = np.where(
                test_item[tests] >= 0, block[local, np.maximum(test_item[tests], 0)], -np.inf
            )
            beats = (block[local] >= target[:, None]) & ~matrix[test_user[tests]].toarray().astype(
                bool
            )
            beats[np.arange(len(tests)), np.maximum(test_item[tests], 0)] &= test_item[tests] < 0
            full[tests] = beats.sum(axis=1)
        scored = candidates.assign(score=cand_score)
        sampled = evaluate(scored, k=10, per_user=True).set_index("user")["rank"]
        n_negatives = (~candidates["is_target"]).groupby(candidates["user"]).sum()
        n_train = np.diff(matrix.indptr)[test_user]
        out[name] = pd.DataFrame(
            {
                "sampled": sampled.loc[test_user].to_numpy(),
                "n_negatives": n_negatives.loc[test_user].to_numpy(),
                "full": full,
                "n_candidates": n_items - n_train - (test_item >= 0),
            }
        )
    return out


@pytest.mark.slow
def test_corrected_metrics_on_the_ncf_movielens_1m_split(shared_data: Path) -> None:
    """Sampled vs corrected vs full-ranking HR@10 / NDCG@10 of five models (docs/evaluation.md)."""
    from implicit_ncf.datasets import load_ncf_ml1m

    folder = shared_data / "ncf-ml-1m"
    if not folder.is_dir():
        pytest.skip(f"the NCF MovieLens-1M split is not at {folder}")
    start = time.perf_counter()
    ranks = ml1m_ranks(load_ncf_ml1m(folder), ml1m_models)
    rows = []
    for name, frame in ranks.items():
        sampled = frame["sampled"].to_numpy()
        n_negatives = frame["n_negatives"].to_numpy()
        n_candidates = frame["n_candidates"].to_numpy()
        row = {"model": name}
        row["sampled_hr"], row["sampled_ndcg"] = full_metrics(sampled, 10)
        row["full_hr"], row["full_ndcg"] = full_metrics(frame["full"].to_numpy(), 10)
        for method in METHODS:
            result = corrected_metrics(sampled, n_negatives, n_candidates, k=10, method=method)
            row[f"{method}_hr"] = result["hr@10_corrected"]
            row[f"{method}_ndcg"] = result["ndcg@10_corrected"]
        row["plain_em_hr"], row["plain_em_ndcg"] = plain_em(sampled, n_negatives, n_candidates)
        rows.append(row)
    table = pd.DataFrame(rows).set_index("model")
    for method in [*METHODS, "plain_em"]:
        for metric in ("hr", "ndcg"):
            table[f"{method}_{metric}_err"] = (
                table[f"{method}_{metric}"] / table[f"full_{metric}"] - 1.0
            )
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.round(4).T)
    print(f"real-data check: {time.perf_counter() - start:.1f} s")

    errors = table.filter(like="smoothed_mle").filter(like="_err").abs()
    trained = errors.drop(index="popularity")
    # the acceptance bar: 35% for trained models, 70% for popularity ...
    assert (trained <= 0.35).all().all()
    assert (errors.loc["popularity"] <= 0.70).all()
    # ... and the plain-EM baseline measured by the team: 25% / 27% (ALS), 30% / 67% (popularity)
    assert (trained["smoothed_mle_hr_err"] <= 0.25).all()
    assert (trained["smoothed_mle_ndcg_err"] <= 0.27).all()
    assert errors.loc["popularity", "smoothed_mle_hr_err"] <= 0.30
    assert errors.loc["popularity", "smoothed_mle_ndcg_err"] <= 0.67
    # the corrected values order the models as the full ranking does
    for metric in ("hr", "ndcg"):
        full_order = table[f"full_{metric}"].sort_values().index.tolist()
        assert table[f"smoothed_mle_{metric}"].sort_values().index.tolist() == full_order
