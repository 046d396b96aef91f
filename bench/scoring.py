"""The rows that score a fitted model: full-catalogue recommendation (:func:`recommend_row`) and
evaluation, on the sampled candidates (:func:`eval_sampled_row`) and against the full catalogue
(:func:`eval_full_row`). All of them use one model, :func:`scoring_model`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bench.common import Context, Row, best_of, fmt_s, make_estimator, quiet, stop_after
from bench.naive import (
    BenchmarkError,
    check_metrics,
    check_ranks,
    check_top_k,
    metric_bounds,
    naive_full_ranks,
    naive_sampled_ranks,
    naive_top_k,
)

# ------------------------------------------------------------------------------------------------
# the model the scoring rows use, and the timing of their naive paths
# ------------------------------------------------------------------------------------------------


def scoring_model(ctx: Context) -> Any:
    """NeuMF (default sizes) fitted on all training positives: one epoch, or a few batches in
    quick mode (the scoring rows need a model, not a good one)."""

    if "model" in ctx.results:
        return ctx.results["model"]
    callbacks = [] if ctx.mode.model_batches is None else [stop_after(ctx.mode.model_batches)]
    est = make_estimator(callbacks, pretrain=False, n_epochs=1)
    with quiet():
        est.fit(ctx.train)
    ctx.results["model"] = est
    return est


def _extrapolated(naive: Callable[[], Any], n_all: int, n_timed: int) -> tuple[float, Any]:
    """Seconds of one call of ``naive`` on ``n_timed`` users, extrapolated linearly to ``n_all``,
    and its result."""
    start = time.perf_counter()
    result = naive()
    return (time.perf_counter() - start) * n_all / n_timed, result


# ------------------------------------------------------------------------------------------------
# full-catalogue recommendation
# ------------------------------------------------------------------------------------------------


def recommend_row(ctx: Context) -> Row:
    est = scoring_model(ctx)
    user_ids = est.user_encoder_.classes_
    k = 10
    fast_s, frame = best_of(lambda: est.recommend(user_ids, k=k), 2)
    fast_items = est.item_encoder_.transform(frame["item"].to_numpy()).reshape(len(user_ids), k)
    sample = np.arange(0, len(user_ids), ctx.mode.rec_user_stride)
    naive_s, (naive_items, scores) = _extrapolated(
        lambda: naive_top_k(est.network_, est.seen_, sample, k), len(user_ids), len(sample)
    )
    tied = check_top_k(fast_items[sample], naive_items, scores)
    speedup = naive_s / fast_s
    n_pairs = len(user_ids) * est.n_items_
    extrapolated = len(sample) < len(user_ids)
    ctx.results["recommend"] = {"fast_s": fast_s, "naive_s": naive_s, "tied_users": tied}
    return Row(
        "recommend: top-10 for every user",
        fmt_s(fast_s),
        f"forward+topk {fmt_s(naive_s)}",
        speedup,
        ">= 5x",
        speedup >= 5,
        style="x",
        notes=[
            f"{len(user_ids):,} users x {est.n_items_:,} items ({n_pairs / 1e6:.1f}M pairs), "
            f"NeuralCF.recommend(all users, k=10) vs, user by user, every pair through "
            f"NeuMF.forward, seen items masked, torch.topk"
            + (
                f"; naive path timed on every {ctx.mode.rec_user_stride}th user "
                f"({len(sample):,}) and extrapolated linearly"
                if extrapolated
                else ""
            ),
            f"top-10 sets identical for the {len(sample):,} users checked"
            + (f" ({tied} differ only by tied scores)" if tied else ""),
        ],
    )


# ------------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------------


def _encode(est: Any, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The model's indices of the frame's users and items (-1 where the model does not know one)."""
    return (
        est.user_encoder_.get_indexer(frame["user"].to_numpy()),
        est.item_encoder_.get_indexer(frame["item"].to_numpy()),
    )


def _timed_on(n_timed: int, n_all: int) -> str:
    """The note's words for a naive path timed on a subsample (none when it ran on all)."""
    return f", timed on {n_timed:,} users and extrapolated" if n_timed < n_all else ""


def _eval_row(
    ctx: Context,
    key: str,
    name: str,
    fast_s: float,
    naive_s: float,
    fast_metrics: dict[str, float],
    note: str,
) -> Row:
    """An evaluation row: the fast path's seconds against the naive per-user loop's, recorded
    under ``ctx.results[key]``."""
    speedup = naive_s / fast_s
    ctx.results[key] = {"fast_s": fast_s, "naive_s": naive_s, "metrics": fast_metrics}
    return Row(
        name,
        fmt_s(fast_s),
        f"per-user loop {fmt_s(naive_s)}",
        speedup,
        "",
        None,
        style="x",
        notes=[note],
    )


def _eval_users(ctx: Context, users: np.ndarray) -> np.ndarray:
    n = ctx.mode.eval_users
    if n is None or n >= len(users):
        return users
    return np.sort(np.random.default_rng(0).choice(users, size=n, replace=False))


def eval_sampled_row(ctx: Context) -> Row:
    from implicit_ncf.metrics import evaluate

    est = scoring_model(ctx)
    cands = ctx.candidates
    k = 10

    def fast() -> tuple[dict[str, float], pd.DataFrame]:
        with quiet():
            scored, _ = est._score_candidates(cands)
            return evaluate(scored, k=k), scored

    fast_s, (fast_metrics, scored) = best_of(fast, 2)
    with quiet():
        public = est.evaluate(ctx.test, k=k, candidates=cands)
    if abs(public[f"hr@{k}"] - fast_metrics[f"hr@{k}"]) > 1e-12:
        raise BenchmarkError("NeuralCF.evaluate(candidates=...) disagrees with scoring + evaluate")
    # naive: a per-user loop over the candidates of users the model knows
    u, i = _encode(est, cands)
    target = cands["is_target"].to_numpy(dtype=bool)
    known_target = np.zeros(len(est.user_encoder_), dtype=bool)
    known_target[u[target & (u >= 0) & (i >= 0)]] = True
    users = _eval_users(ctx, np.flatnonzero(known_target))
    keep = np.isin(u, users) & (i >= 0)
    naive_s, (low, high) = _extrapolated(
        lambda: naive_sampled_ranks(est.network_, u[keep], i[keep], target[keep], users),
        known_target.sum(),
        len(users),
    )
    # the fast ranks of the same users
    per_target = evaluate(scored, k=k, reduction="none")
    fast_rank = pd.Series(
        per_target["rank"].to_numpy(),
        index=est.user_encoder_.get_indexer(per_target["user"].to_numpy()),
    )
    tied = check_ranks(fast_rank.loc[users].to_numpy(), low, high, "sampled evaluation")
    return _eval_row(
        ctx,
        "eval_sampled",
        "evaluate: 99 sampled negatives (NCF)",
        fast_s,
        naive_s,
        fast_metrics,
        f"{len(cands):,} candidate pairs (the published ML-1M negatives), scoring the frame "
        f"+ metrics.evaluate, HR@10 {fast_metrics[f'hr@{k}']:.4f}; naive: one forward per "
        f"user, rank counted in Python"
        + _timed_on(len(users), known_target.sum())
        + f"; ranks equal for the {len(users):,} users checked"
        + (f" ({tied} within ties)" if tied else ""),
    )


def eval_full_row(ctx: Context) -> Row:
    est = scoring_model(ctx)
    k = 10
    test = ctx.test[["user", "item"]]
    with quiet():
        fast_s, fast_metrics = best_of(lambda: est.evaluate(test, k=k, n_negatives=None), 1)
    u, i = _encode(est, test)
    known = np.flatnonzero((u >= 0) & (i >= 0))
    rows = _eval_users(ctx, known)
    naive_s, (low, high) = _extrapolated(
        lambda: naive_full_ranks(est.network_, est.seen_, u[rows], i[rows]), len(known), len(rows)
    )
    # the public call on the same subsample, checked against the naive bounds
    with quiet():
        sub = est.evaluate(test.iloc[rows], k=k, n_negatives=None)
    check_metrics(sub, metric_bounds(low, high, k), "full-ranking evaluation")
    return _eval_row(
        ctx,
        "eval_full",
        "evaluate: full ranking",
        fast_s,
        naive_s,
        fast_metrics,
        f"NeuralCF.evaluate(test, n_negatives=None): {len(known):,} users ranked against all "
        f"{est.n_items_:,} items minus their training items, HR@10 "
        f"{fast_metrics[f'hr@{k}']:.4f}; naive: every item of one user through forward per "
        "iteration"
        + _timed_on(len(rows), len(known))
        + "; HR@10 and NDCG@10 of those users equal the naive loop's",
    )
