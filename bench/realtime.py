"""The real-time row: a new user's recommendation from their latest clicks (fold-in + top-10),
against a known user's recommendation, on the model the scoring rows use
(:func:`bench.scoring.scoring_model`)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from bench.common import Context, Row, quiet
from bench.naive import BenchmarkError
from bench.scoring import scoring_model

N_CLICKS = 50  # interactions of each new user
TARGET_S = 0.020  # median fold-in + top-10 of one new user


def _new_users(est: Any, n_users: int, n_clicks: int, seed: int = 0) -> list[pd.DataFrame]:
    """``n_users`` new users, each with ``n_clicks`` items drawn from one training user's items
    (a real taste, under a new id), the training users taken evenly across the index order."""
    seen = est.seen_
    degree = np.diff(seen.indptr)
    eligible = np.flatnonzero(degree > n_clicks)
    take = eligible[np.linspace(0, len(eligible) - 1, num=min(n_users, len(eligible))).astype(int)]
    rng = np.random.default_rng(seed)
    frames = []
    for j, u in enumerate(take):
        row = seen.indices[seen.indptr[u] : seen.indptr[u + 1]]
        items = est.item_encoder_.inverse_transform(rng.choice(row, n_clicks, replace=False))
        frames.append(pd.DataFrame({"user": f"bench-new-{j}", "item": items, "_from": u}))
    return frames


def realtime_row(ctx: Context, *, n_clicks: int = N_CLICKS) -> Row:
    """Median and p99 seconds of ``recommend(new_user, k=10, interactions=n_clicks clicks)``,
    and their ratio to a known user's ``recommend(user, k=10)``; checked: no clicked item
    returned, scores sorted, the same answer twice (a fixed ``random_state``)."""
    est = scoring_model(ctx)
    frames = _new_users(est, ctx.mode.realtime_users, n_clicks)
    if not frames:
        raise BenchmarkError(f"no training user has more than {n_clicks} interactions to copy")
    known = est.user_encoder_.classes_[[int(f["_from"].iloc[0]) for f in frames]]
    with quiet():
        for frame in frames[:3]:  # warm-up
            est.recommend(frame["user"].iloc[0], k=10, interactions=frame)
        fold_s, known_s, overlap = [], [], []
        for frame, user in zip(frames, known, strict=True):
            new_id = frame["user"].iloc[0]
            start = time.perf_counter()
            recs = est.recommend(new_id, k=10, interactions=frame)
            fold_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            own = est.recommend(user, k=10)
            known_s.append(time.perf_counter() - start)
            if set(recs["item"]) & set(frame["item"]) or not recs["score"].is_monotonic_decreasing:
                raise BenchmarkError(f"fold-in of {new_id} returned a clicked item or unsorted")
            # the same exclusions as the known user's (all of that user's training items)
            trained = est.item_encoder_.inverse_transform(
                est.seen_[int(frame["_from"].iloc[0])].indices
            )
            same = est.recommend(new_id, k=10, interactions=frame, exclude_items=trained)
            overlap.append(len(set(same["item"]) & set(own["item"])) / 10)
        first = est.recommend(frames[0]["user"].iloc[0], k=10, interactions=frames[0])
        again = est.recommend(frames[0]["user"].iloc[0], k=10, interactions=frames[0])
    if est.random_state is not None and not again.equals(first):
        raise BenchmarkError("fold-in with a fixed random_state gave two different answers")
    median, p99 = float(np.median(fold_s)), float(np.percentile(fold_s, 99))
    base = float(np.median(known_s))
    ctx.results["realtime"] = {
        "fold_in_median_s": median,
        "fold_in_p99_s": p99,
        "known_median_s": base,
        "top10_overlap": float(np.mean(overlap)),
        "n_users": len(frames),
        "n_clicks": n_clicks,
    }
    return Row(
        f"realtime: new user, {n_clicks} clicks, fold-in + top-10",
        f"median {1e3 * median:.1f} ms, p99 {1e3 * p99:.1f} ms",
        f"known user top-10 {1e3 * base:.2f} ms",
        median / base,
        f"median <= {1e3 * TARGET_S:.0f} ms",
        median <= TARGET_S,
        style="x",
        notes=[
            f"{len(frames)} new users, each {n_clicks} items of one training user, catalogue of "
            f"{est.n_items_:,} items; NeuralCF.recommend(new_id, k=10, interactions=clicks) vs "
            f"recommend(known_id, k=10) one call at a time",
            f"top-10 of the fold-in vs that of the trained vector of the user whose items were "
            f"copied (that user's training items excluded from both): "
            f"{100 * np.mean(overlap):.0f}% overlap",
        ],
    )
