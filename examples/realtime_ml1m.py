"""Real time on MovieLens-1M: fold-in quality, a partial_fit stream, latency, similar films.

Measures what docs/realtime.md reports, on the 2,999 ML-1M users whose ratings have timestamps
(``ratings.users0001-2999.dat.gz`` in ``../shared/data/ml-1m``: 487,650 ratings, every one an
implicit positive, as in the NCF paper). Parts (``--part``, several comma-separated):

``tune``
    Fold-in settings on validation users only: 10% of the users are held out as test users and
    never used here; the remaining (training) users are split into ``--folds`` (5) folds. For
    each fold, a model is fitted on the other training users and every validation user of the
    fold is folded in from all but their latest interaction, which is ranked among all unseen
    items; a second model, fitted with the fold's histories included, gives the refit's HR@50
    on the same items. A grid of (init, learning rate, steps), HR@50 over all folds' users;
    the rule: the fewest steps reaching 95% of the validation refit's HR@50 (a margin above
    the 0.9 bar of the test), then the best (init, learning rate) at that many steps.
``quality``
    The strong-generalisation test (the library's defaults, fixed before this part runs): a
    model fitted on the training users folds each test user in from all but their latest
    interaction (``recommend(..., interactions=history)``); a refit with the test users'
    histories included, same settings and seed, ranks the same latest items; so does
    popularity. Full ranking (every item the user has not interacted with); HR@10, HR@50,
    NDCG@10 with 95% bootstrap intervals over users, and the fold-in / refit HR@50 ratio.
``stream``
    The interactions sorted by time: a model fitted on the first 90%, then ``partial_fit`` on
    the last 10% in 10 equal slices. After each slice, each user of the next slice whom the
    model knows has their first interaction of that slice ranked among all their unseen items
    (HR@50); and, steadier, every interaction of the next slice by a user the model knows is a
    target of that user's top-50 list (recall@50 pooled over the slice's interactions, about
    4,800 targets, with a paired bootstrap over users). Full refits (same settings, same seed)
    on the same data at slices 3, 6 and 9.
    ``--partial-fit-epochs N`` sets ``NeuralCF(partial_fit_epochs=N)`` (the refresh of the
    whole network after the fold-in); ``--validation-stream`` runs the same protocol on the
    first 90% only (base 80%, slices up to 90%), to choose settings without the last 10%.
``latency``
    One new user with 50 interactions: fold-in + top-10 over the catalogue, 200 users, median
    and p99 wall time, beside a known user's top-10.
``similar``
    The five films most similar to a few well-known films (the fitted test-part model).

Run it on an otherwise idle machine (it trains several default models: about 3 minutes each
on two cores), e.g.::

    flock /tmp/implicit_ncf_cpu.lock .venv/bin/python examples/realtime_ml1m.py \\
        --part tune,quality,stream,latency,similar --cache /tmp/realtime_cache --json out.json

``--model mf`` runs the same protocol with the cheaper dot-product model. It exits cleanly
(status 0) when the data folder is absent.
"""

from __future__ import annotations

import argparse
import inspect
import itertools
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import load_ml1m_rated  # noqa: E402
from implicit_ncf import NeuralCF, PopularityRecommender, foldin  # noqa: E402
from implicit_ncf.datasets import load_movies  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "ml-1m"
RATINGS = "ratings.users0001-2999.dat.gz"
SEED = 0
GRID_INIT = ("mean", "zeros")
GRID_LR = (0.01, 0.03, 0.1, 0.3)
GRID_STEPS = (3, 6, 12, 24, 48)
REFIT_AT = (3, 6, 9)


# ------------------------------------------------------------------------------------------------
# data, protocol and metrics
# ------------------------------------------------------------------------------------------------


def load_ratings(folder: Path) -> pd.DataFrame:
    """``UserID::MovieID::Rating::Timestamp`` lines as user, item, rating, timestamp."""
    return load_ml1m_rated(folder / RATINGS)


def split_users(frame: pd.DataFrame, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept users, held-out users): a random ``fraction`` of the users held out."""
    users = np.sort(frame["user"].unique())
    rng = np.random.default_rng(seed)
    held = np.sort(rng.choice(users, size=round(fraction * len(users)), replace=False))
    return np.setdiff1d(users, held), held


def history_and_latest(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's latest interaction (ties: the later row) and all the others."""
    ordered = frame.sort_values(["user", "timestamp"], kind="stable")
    latest = ordered.groupby("user").tail(1)
    return ordered.drop(latest.index), latest


def ranks_from_top(top: pd.DataFrame, targets: pd.DataFrame, k: int) -> np.ndarray:
    """0-based rank of each target in its user's top-``k`` list, ``k`` when absent."""
    top = top.assign(rank=top.groupby("user").cumcount())
    merged = targets[["user", "item"]].merge(top[["user", "item", "rank"]], how="left")
    return merged["rank"].fillna(k).to_numpy().astype(np.int64)


def metrics(ranks: np.ndarray) -> dict[str, np.ndarray]:
    """Per-user HR@10, HR@50 and NDCG@10 from 0-based ranks."""
    return {
        "hr@10": (ranks < 10).astype(float),
        "hr@50": (ranks < 50).astype(float),
        "ndcg@10": np.where(ranks < 10, 1.0 / np.log2(ranks + 2.0), 0.0),
    }


def bootstrap(values: np.ndarray, *, n: int = 2000, seed: int = SEED) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean over users."""
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n, len(values)))].mean(1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def ratio_interval(a: np.ndarray, b: np.ndarray, *, n: int = 2000) -> tuple[float, float, float]:
    """mean(a) / mean(b) and its 95% paired bootstrap interval over users."""
    rng = np.random.default_rng(SEED)
    idx = rng.integers(0, len(a), size=(n, len(a)))
    ratios = a[idx].mean(1) / np.maximum(b[idx].mean(1), 1e-12)
    return float(a.mean() / b.mean()), *np.quantile(ratios, [0.025, 0.975]).tolist()


def summary(per_user: dict[str, np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, values in per_user.items():
        low, high = bootstrap(values)
        out[name] = {"mean": float(values.mean()), "ci95": [low, high]}
    return out


def fmt(row: dict[str, Any]) -> str:
    return ", ".join(
        f"{name} {v['mean']:.4f} [{v['ci95'][0]:.4f}, {v['ci95'][1]:.4f}]"
        for name, v in row.items()
    )


# ------------------------------------------------------------------------------------------------
# models (optionally cached on disk, so that a part can be rerun without refitting)
# ------------------------------------------------------------------------------------------------


CPU_SECONDS: dict[str, float] = {}  # process CPU time of each fit (all threads)
FOLD_IN_DEFAULTS = {
    name: inspect.signature(NeuralCF).parameters[name].default
    for name in ("fold_in_steps", "fold_in_learning_rate")
}


def fitted(name: str, frame: pd.DataFrame, args: argparse.Namespace) -> NeuralCF:
    """NeuralCF(model=args.model, loss=args.loss, random_state=0) fitted on ``frame``, or
    loaded from the cache.

    Its wall time is ``fit_time_``; its process CPU time (every thread) goes to
    ``CPU_SECONDS[name]`` (and a ``.json`` beside the cached model), the fairer cost on a
    machine shared with other work.
    """
    tag = args.model if args.loss == "bce" else f"{args.model}-{args.loss}"
    path = None if args.cache is None else args.cache / f"{tag}-{name}.pt"
    if path is not None and path.exists():
        # the cached weights, with this version's fold-in settings (not trained on, but saved)
        est = NeuralCF.load(path).set_params(**FOLD_IN_DEFAULTS)
        side = path.with_suffix(".json")
        if side.exists():
            CPU_SECONDS[name] = json.loads(side.read_text())["cpu_s"]
        print(f"  {name}: loaded {path} (fitted in {est.fit_time_:.0f} s)", flush=True)
        return est
    est = NeuralCF(model=args.model, loss=args.loss, random_state=SEED)
    cpu = time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(frame)
    CPU_SECONDS[name] = time.process_time() - cpu
    print(
        f"  {name}: fitted on {len(frame):,} rows in {est.fit_time_:.0f} s "
        f"({CPU_SECONDS[name]:.0f} s CPU)",
        flush=True,
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        est.save(path)
        path.with_suffix(".json").write_text(json.dumps({"cpu_s": CPU_SECONDS[name]}))
    return est


def fold_in_top(
    est: NeuralCF, history: pd.DataFrame, k: int, *, n_steps: int, learning_rate: float, init: str
) -> pd.DataFrame:
    """Top-``k`` of new users folded in with given settings (the tuning grid), through
    :mod:`implicit_ncf.foldin` directly; ``recommend(..., interactions=...)`` uses the
    library's settings."""
    known = history[history["item"].isin(est.item_encoder_.classes_)]
    users = np.sort(known["user"].unique())
    rows = np.searchsorted(users, known["user"].to_numpy())
    items = est.item_encoder_.transform(known["item"].to_numpy())
    positives = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, items)), shape=(len(users), est.n_items_)
    )
    parts = foldin.network_parts(est.network_)
    folded = foldin.fold_in(
        parts,
        positives,
        init=init,
        n_negatives=est.n_negatives,
        weight_decay=est.weight_decay,
        loss=est._final_loss(),  # "auto" resolved: the fitted network's loss
        unobserved_weight=est.unobserved_weight,
        n_steps=n_steps,
        learning_rate=learning_rate,
        random_state=SEED,
    )
    with torch.inference_mode():
        scores = foldin.score_users(parts, folded.vectors)
        coo = positives.tocoo()
        scores[
            torch.from_numpy(coo.row.astype(np.int64)), torch.from_numpy(coo.col.astype(np.int64))
        ] = -torch.inf
        top = torch.topk(scores, k, dim=1).indices.numpy()
    return pd.DataFrame(
        {
            "user": np.repeat(users, k),
            "item": est.item_encoder_.inverse_transform(top.ravel()),
        }
    )


# ------------------------------------------------------------------------------------------------
# the parts
# ------------------------------------------------------------------------------------------------


def part_tune(ratings: pd.DataFrame, args: argparse.Namespace, out: dict[str, Any]) -> None:
    train_users, _test_users = split_users(ratings, 0.1, SEED)
    train = ratings[ratings["user"].isin(train_users)]
    folds = np.array_split(np.random.default_rng(SEED + 1).permutation(train_users), args.folds)
    print(f"tune: {args.folds} folds of validation users over {len(train_users)} training users")
    hits: dict[tuple[str, float, int], list[np.ndarray]] = {}
    seconds: dict[tuple[str, float, int], float] = {}
    refit_hits = []
    for f, val_users in enumerate(folds):
        fit_part = train[~train["user"].isin(val_users)]
        history, latest = history_and_latest(train[train["user"].isin(val_users)])
        est = fitted(f"tune-{f}", fit_part, args)
        refit = fitted(f"tune-refit-{f}", pd.concat([fit_part, history]), args)
        top = refit.recommend(latest["user"].tolist(), k=50)
        refit_hits.append(metrics(ranks_from_top(top, latest, 50))["hr@50"])
        for init in GRID_INIT:
            for lr in GRID_LR:
                for steps in GRID_STEPS:
                    start = time.perf_counter()
                    top = fold_in_top(est, history, 50, n_steps=steps, learning_rate=lr, init=init)
                    key = (init, lr, steps)
                    seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - start
                    hits.setdefault(key, []).append(
                        metrics(ranks_from_top(top, latest, 50))["hr@50"]
                    )
        print(f"  fold {f}: {len(val_users)} users, refit HR@50 {refit_hits[-1].mean():.4f}")
    bar = float(np.concatenate(refit_hits).mean())
    grid: list[dict[str, Any]] = []
    for (init, lr, steps), parts in hits.items():
        hr = float(np.concatenate(parts).mean())
        row = {"init": init, "lr": lr, "steps": steps, "hr@50": hr, "s": seconds[(init, lr, steps)]}
        grid.append(row)
        print(f"  init={init:5s} lr={lr:<5} steps={steps:3d}: HR@50 {hr:.4f} ({row['s']:.1f} s)")
    print(f"  validation refit HR@50 {bar:.4f}; the rule's threshold 0.95 x {bar:.4f}")
    good = [row for row in grid if float(row["hr@50"]) >= 0.95 * bar] or grid
    steps = min(int(row["steps"]) for row in good)
    chosen = max((row for row in good if row["steps"] == steps), key=lambda r: float(r["hr@50"]))
    print(f"  chosen: {chosen}")
    library = {"init": foldin.INIT, "lr": foldin.LEARNING_RATE, "steps": foldin.N_STEPS}
    print(f"  the library's settings (implicit_ncf.foldin): {library}")
    out["tune"] = {
        "grid": grid,
        "chosen": chosen,
        "library": library,
        "refit_hr@50": bar,
        "n_users": int(sum(len(f) for f in folds)),
        "folds": args.folds,
    }


def part_quality(ratings: pd.DataFrame, args: argparse.Namespace, out: dict[str, Any]) -> None:
    train_users, test_users = split_users(ratings, 0.1, SEED)
    train = ratings[ratings["user"].isin(train_users)]
    history, latest = history_and_latest(ratings[ratings["user"].isin(test_users)])
    print(f"quality: {len(test_users)} test users, {len(train_users)} training users")
    est = fitted("train", train, args)
    settings = {
        "steps": est.fold_in_steps,
        "lr": est.fold_in_learning_rate,
        "init": foldin.INIT,
    }
    print(f"  fold-in settings: {settings}")
    users = latest["user"].tolist()
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        top = est.recommend(users, k=50, interactions=history)
    fold_s = time.perf_counter() - start
    n_unknown = sum("unknown to the model" in str(w.message) for w in caught)
    fold = metrics(ranks_from_top(top, latest, 50))
    refit = fitted("refit", pd.concat([train, history]), args)
    ref = metrics(ranks_from_top(refit.recommend(users, k=50), latest, 50))
    pop = PopularityRecommender().fit(train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        popular = metrics(
            ranks_from_top(pop.recommend(users, k=50, interactions=history), latest, 50)
        )
    ratio = ratio_interval(fold["hr@50"], ref["hr@50"])
    result = {
        "fold_in": summary(fold),
        "refit": summary(ref),
        "popularity": summary(popular),
        "hr@50_ratio": {"mean": ratio[0], "ci95": [ratio[1], ratio[2]]},
        "fold_in_seconds": fold_s,
        "refit_seconds": refit.fit_time_,
        "n_users": len(users),
        "unknown_item_warnings": n_unknown,
        "fold_in_settings": settings,
    }
    for name in ("fold_in", "refit", "popularity"):
        print(f"  {name:10s} {fmt(result[name])}")
    print(
        f"  fold-in / refit HR@50 {ratio[0]:.3f} [{ratio[1]:.3f}, {ratio[2]:.3f}]; fold-in of "
        f"{len(users)} users {fold_s:.1f} s, refit {refit.fit_time_:.0f} s"
    )
    out["quality"] = result


def _targets(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """Each user's first interaction in ``frame``, for the users the model knows."""
    first = frame.sort_values("timestamp", kind="stable").groupby("user").head(1)
    return first[first["user"].isin(model.user_encoder_.classes_)]


def _stream_hits(model: Any, targets: pd.DataFrame) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        top = model.recommend(targets["user"].tolist(), k=50)
    return metrics(ranks_from_top(top, targets, 50))["hr@50"]


def _stream_recall(
    model: Any, frame: pd.DataFrame, known_users: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Hits in the top 50 and interaction counts per user, over every interaction in ``frame``.

    Recall@50 of the next slice: each user of ``frame`` in ``known_users`` (those the
    partial_fit model knows) gets one top-50 list (the items they have already seen excluded,
    as by ``recommend``) and each of their interactions in ``frame`` is a target. Items the
    model does not know count as misses.
    """
    known = frame[frame["user"].isin(known_users)]
    users = known["user"].drop_duplicates().tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        top = model.recommend(users, k=50)
    merged = known[["user", "item"]].merge(
        top[["user", "item"]].assign(hit=1.0), how="left", on=["user", "item"]
    )
    merged["hit"] = merged["hit"].fillna(0.0)
    per_user = merged.groupby("user", sort=True)["hit"].agg(["sum", "count"])
    return per_user["sum"].to_numpy(), per_user["count"].to_numpy().astype(float)


def _pooled_diff_interval(
    hits_a: np.ndarray, hits_b: np.ndarray, counts: np.ndarray, *, n: int = 2000
) -> list[float]:
    """95% paired bootstrap interval over users of (sum(hits_a) - sum(hits_b)) / sum(counts)."""
    rng = np.random.default_rng(SEED)
    idx = rng.integers(0, len(counts), size=(n, len(counts)))
    boot = (hits_a[idx] - hits_b[idx]).sum(1) / counts[idx].sum(1)
    return np.quantile(boot, [0.025, 0.975]).tolist()


def _recall_against_refit(
    refit: Any, frame: pd.DataFrame, known_users: np.ndarray, hits: np.ndarray, counts: np.ndarray
) -> dict[str, Any]:
    """Recall@50 of the refit on the same targets, and partial_fit minus refit paired by user."""
    ref_hits, ref_counts = _stream_recall(refit, frame, known_users)
    if not np.array_equal(ref_counts, counts):  # same users, same targets, or no pairing
        raise RuntimeError("the refit and partial_fit models know different users")
    return {
        "recall50_refit": float(ref_hits.sum() / counts.sum()),
        "recall_diff": float((hits.sum() - ref_hits.sum()) / counts.sum()),
        "recall_diff_ci95": _pooled_diff_interval(hits, ref_hits, counts),
    }


def part_stream(ratings: pd.DataFrame, args: argparse.Namespace, out: dict[str, Any]) -> None:
    ordered = ratings.sort_values("timestamp", kind="stable").reset_index(drop=True)
    prefix = ""
    if args.validation_stream:  # the first 90% only: base 80% of all, slices up to 90%
        ordered = ordered.iloc[: int(0.9 * len(ordered))]
        n_base, prefix = int(len(ordered) * 8 / 9), "val-"
    else:
        n_base = int(0.9 * len(ordered))
    base = ordered.iloc[:n_base]
    bounds = np.linspace(n_base, len(ordered), 11).round().astype(int)
    slices = [ordered.iloc[a:b] for a, b in itertools.pairwise(bounds)]
    print(f"stream: base {len(base):,} interactions, 10 slices of about {len(slices[0]):,}")
    est = fitted(f"{prefix}stream-base", base, args)
    est.set_params(partial_fit_epochs=args.partial_fit_epochs)
    print(
        f"  fold-in settings: steps {est.fold_in_steps}, lr {est.fold_in_learning_rate}; "
        f"partial_fit_epochs {est.partial_fit_epochs}"
    )
    pop = PopularityRecommender().fit(base)
    rows = []
    for s, part in enumerate(slices, start=1):
        n_users, n_items = est.n_users_, est.n_items_
        start, cpu = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.partial_fit(part)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        pop.partial_fit(part)
        row: dict[str, Any] = {
            "slice": s,
            "partial_fit_s": seconds,
            "partial_fit_cpu_s": cpu,
            "new_users": est.n_users_ - n_users,
            "new_items": est.n_items_ - n_items,
            "changed_users": int(part["user"].nunique()),
        }
        if s < len(slices):
            targets = _targets(est, slices[s])
            hits = _stream_hits(est, targets)
            row.update(n_targets=len(targets), hr50_partial=float(hits.mean()))
            row["hr50_popularity"] = float(_stream_hits(pop, targets).mean())
            known_users = est.user_encoder_.classes_
            rec_hits, rec_counts = _stream_recall(est, slices[s], known_users)
            pop_hits, _ = _stream_recall(pop, slices[s], known_users)
            row.update(
                n_recall_targets=int(rec_counts.sum()),
                recall50_partial=float(rec_hits.sum() / rec_counts.sum()),
                recall50_popularity=float(pop_hits.sum() / rec_counts.sum()),
            )
            if s in REFIT_AT:
                data = pd.concat([base, *slices[:s]])
                refit = fitted(f"{prefix}stream-refit-{s}", data, args)
                ref = _stream_hits(refit, targets)
                diff = hits - ref
                rng = np.random.default_rng(SEED)
                boot = diff[rng.integers(0, len(diff), size=(2000, len(diff)))].mean(1)
                row.update(
                    hr50_refit=float(ref.mean()),
                    diff=float(diff.mean()),
                    diff_ci95=np.quantile(boot, [0.025, 0.975]).tolist(),
                    refit_s=float(refit.fit_time_),
                    **_recall_against_refit(refit, slices[s], known_users, rec_hits, rec_counts),
                    cost_ratio=seconds / float(refit.fit_time_),
                    refit_cpu_s=CPU_SECONDS.get(f"{prefix}stream-refit-{s}", float("nan")),
                    cpu_ratio=cpu / CPU_SECONDS.get(f"{prefix}stream-refit-{s}", float("nan")),
                )
        rows.append(row)
        print(
            "  "
            + ", ".join(
                f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
            ),
            flush=True,
        )
    out["stream"] = {"rows": rows, "base_fit_s": est.fit_time_}


def part_latency(ratings: pd.DataFrame, args: argparse.Namespace, out: dict[str, Any]) -> None:
    train_users, test_users = split_users(ratings, 0.1, SEED)
    est = fitted("train", ratings[ratings["user"].isin(train_users)], args)
    test = ratings[
        ratings["user"].isin(test_users) & ratings["item"].isin(est.item_encoder_.classes_)
    ]
    rng = np.random.default_rng(SEED)
    frames = []
    for i, (_, rows) in enumerate(test.groupby("user")):
        if len(rows) >= 50:
            pick = rows.iloc[np.sort(rng.choice(len(rows), 50, replace=False))]
            frames.append(pick.assign(user=f"new-{i}"))
    frames = frames[:200]
    known = est.user_encoder_.classes_[: len(frames)]
    for frame in frames[:5]:  # warm-up
        est.recommend(frame["user"].iloc[0], k=10, interactions=frame)
    fold_ms, known_ms = [], []
    for frame, user in zip(frames, known, strict=True):
        start = time.perf_counter()
        est.recommend(frame["user"].iloc[0], k=10, interactions=frame)
        fold_ms.append(1e3 * (time.perf_counter() - start))
        start = time.perf_counter()
        est.recommend(user, k=10)
        known_ms.append(1e3 * (time.perf_counter() - start))
    result = {
        "n_users": len(frames),
        "n_items": est.n_items_,
        "threads": torch.get_num_threads(),
        "fold_in_median_ms": float(np.median(fold_ms)),
        "fold_in_p99_ms": float(np.percentile(fold_ms, 99)),
        "known_median_ms": float(np.median(known_ms)),
        "known_p99_ms": float(np.percentile(known_ms, 99)),
    }
    print(
        f"latency ({result['threads']} threads, {est.n_items_} items, {len(frames)} new users of "
        f"50 interactions): fold-in + top-10 median {result['fold_in_median_ms']:.1f} ms, p99 "
        f"{result['fold_in_p99_ms']:.1f} ms; known user median {result['known_median_ms']:.2f} "
        f"ms, p99 {result['known_p99_ms']:.2f} ms"
    )
    out["latency"] = result


def part_similar(ratings: pd.DataFrame, args: argparse.Namespace, out: dict[str, Any]) -> None:
    train_users, _ = split_users(ratings, 0.1, SEED)
    est = fitted("train", ratings[ratings["user"].isin(train_users)], args)
    movies = load_movies("1m", data_home=DATA.parent, download=False).set_index("item")
    films = {260: "Star Wars", 1: "Toy Story", 2571: "The Matrix", 1196: "Empire"}
    result = {}
    for item in films:
        sims = est.similar_items(item, k=5)
        titles = movies.loc[sims["item"], "title"].tolist()
        print(
            f"  most similar to {movies.loc[item, 'title']}: "
            + "; ".join(f"{t} ({s:.2f})" for t, s in zip(titles, sims["score"], strict=True))
        )
        result[str(item)] = list(
            zip(sims["item"].tolist(), titles, sims["score"].tolist(), strict=True)
        )
    out["similar"] = result


PARTS = {
    "tune": part_tune,
    "quality": part_quality,
    "stream": part_stream,
    "latency": part_latency,
    "similar": part_similar,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", default="tune,quality,stream,latency,similar")
    parser.add_argument("--model", default="neumf", help="NeuralCF model (default settings)")
    parser.add_argument("--loss", default="auto", help="NeuralCF loss (default: the library's)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--cache", type=Path, default=None, help="folder of fitted models")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--folds", type=int, default=5, help="validation folds of the tune part")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument(
        "--max-users", type=int, default=None, help="only the first N users (a quick smoke run)"
    )
    parser.add_argument(
        "--partial-fit-epochs", type=int, default=0, help="NeuralCF(partial_fit_epochs=...)"
    )
    parser.add_argument(
        "--validation-stream",
        action="store_true",
        help="stream over the first 90%% only (base 80%%), to choose settings off the test",
    )
    args = parser.parse_args(argv)
    if not (args.data / RATINGS).exists():
        print(f"MovieLens-1M ratings not found at {args.data / RATINGS}; nothing to measure.")
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    parts = [p for p in args.part.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {list(PARTS)}")
    ratings = load_ratings(args.data)
    if args.max_users is not None:
        ratings = ratings[ratings["user"] <= np.sort(ratings["user"].unique())[args.max_users - 1]]
    print(
        f"ML-1M, users with timestamps: {len(ratings):,} ratings, {ratings['user'].nunique():,} "
        f"users, {ratings['item'].nunique():,} items; model={args.model!r}, "
        f"loss={args.loss!r}, torch {torch.__version__} with {torch.get_num_threads()} threads",
        flush=True,
    )
    out: dict[str, Any] = {"model": args.model, "loss": args.loss}
    for name in parts:
        PARTS[name](ratings, args, out)
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
