"""The real-time rows, on the model the scoring rows use (:func:`bench.scoring.scoring_model`):
a new user's recommendation from their latest clicks (fold-in + top-10) against a known user's
recommendation, and ``similar_items`` against a top-10 over the exported unit vectors."""

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
SIMILAR_TARGET_S = 0.002  # median similar_items(item, k=10) of one item


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


def similar_row(ctx: Context, *, n_items: int = 200) -> Row:
    """Median and p99 seconds of ``similar_items(item, k=10)`` on a live model (the space
    cached after the first call), and their ratio to the bare top-10 of one product of an
    item's unit vector with every item's (``similarity_vectors``), the least any
    exact search does; checked: the same ten items as that reference."""
    import torch

    est = scoring_model(ctx)
    ids, vectors = est.similarity_vectors("item")
    space = torch.from_numpy(vectors)
    queries = np.linspace(0, len(ids) - 1, num=min(n_items, len(ids))).astype(np.int64)
    with quiet():
        est.similar_items(ids[queries[0]], k=10)  # warm-up: computes and caches the space
        api_s, bare_s = [], []
        for j in queries:
            start = time.perf_counter()
            got = est.similar_items(ids[j], k=10)
            api_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            with torch.inference_mode():
                scores = space[int(j) : int(j) + 1] @ space.T  # one row, as similar_items
                scores[0, int(j)] = -torch.inf
                top = torch.topk(scores, 10, dim=1).indices[0].numpy()
            bare_s.append(time.perf_counter() - start)
            if got["item"].tolist() != ids[top].tolist():
                raise BenchmarkError(f"similar_items({ids[j]!r}) differs from the reference top-10")
    median, p99 = float(np.median(api_s)), float(np.percentile(api_s, 99))
    base = float(np.median(bare_s))
    ctx.results["similar"] = {"median_s": median, "p99_s": p99, "bare_median_s": base}
    return Row(
        "similar_items: one item, top-10",
        f"median {1e3 * median:.2f} ms, p99 {1e3 * p99:.2f} ms",
        f"bare top-10 on the vectors {1e3 * base:.2f} ms",
        median / base,
        f"median <= {1e3 * SIMILAR_TARGET_S:.0f} ms",
        median <= SIMILAR_TARGET_S,
        style="x",
        notes=[
            f"{len(queries)} items spread over a catalogue of {len(ids):,} ({vectors.shape[1]} "
            f"dimensions); NeuralCF.similar_items(item, k=10) one call at a time (id lookup, "
            f"product, top-10, frame) vs the product and top-10 alone"
        ],
    )
