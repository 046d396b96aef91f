"""A sparse long-tail set: popularity, a tuned ALS, MF and NeuMF on one evaluator.

``python examples/results_sparse.py [--users 20000] [--items 12000] [--seed 0] [--out FILE]
[--threads 2]``

The data come from :func:`bench.synthetic.sparse_longtail` (users with a few latent tastes,
Zipf-like popularity inside each taste, log-normal activity of about 20 interactions per user;
see its docstring). Each user's latest interaction (by timestamp) is the test item
(:func:`implicit_ncf.splits.leave_one_out`). Models:

- popularity (``PopularityRecommender``);
- implicit's ALS (``pip install implicit_ncf[bench]``; skipped with a message when absent),
  tuned by :func:`bench.peers.tune_als` on a validation set it carves from the training part
  (each user's latest training interaction), then refitted on the whole training part;
- ``NeuralCF(model="mf", random_state=0)`` and ``NeuralCF(random_state=0)`` (NeuMF), defaults,
  and ``NeuralCF(loss="bce", random_state=0)`` (NeuMF as it was by default before
  ``loss="auto"``);
- as a reference, not a model: the generator's own probabilities (the ceiling a model fitted on
  these data can approach).

Each model is scored once per protocol after it is fitted, and nothing is chosen on the test
set: HR@10 / NDCG@10 with the test item among 99 sampled unseen items
(``evaluate(test, k=10, n_negatives=99, random_state=0)``) and among every item the user has not
interacted with (``n_negatives=None``), each with a 95% bootstrap interval over users; then
paired comparisons over users (``implicit_ncf.metrics.compare``: difference of means, paired
bootstrap interval, Wilcoxon p-value). Prints a markdown table; ``--out`` writes the figures as
JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.synthetic import LongtailTruth, sparse_longtail_with_truth  # noqa: E402
from implicit_ncf import NeuralCF, PopularityRecommender  # noqa: E402
from implicit_ncf.evaluation import _bootstrap_interval  # noqa: E402
from implicit_ncf.metrics import compare  # noqa: E402
from implicit_ncf.recommender import _BaseRecommender  # noqa: E402
from implicit_ncf.splits import leave_one_out  # noqa: E402

METRICS = ("hr@10", "ndcg@10")
PAIRS = [
    ("neumf", "als"),
    ("neumf", "mf"),
    ("mf", "als"),
    ("neumf", "popularity"),
    ("neumf", "neumf-bce"),
]


class GeneratorScores(_BaseRecommender):
    """The generator's own draw probabilities behind the recommender API (a reference ceiling:
    it knows every user's tastes, so no model fitted on the data should expect to reach it)."""

    def __init__(self, truth: LongtailTruth) -> None:
        self.truth = truth
        self.user_col, self.item_col = "user", "item"
        self.rating_col, self.time_col = "rating", "timestamp"
        self.min_rating = None
        self.on_unknown_user = "raise"

    def fit(self, interactions: pd.DataFrame, y: None = None) -> GeneratorScores:
        cat = self._set_catalogue(self._prepare(interactions))
        self.user_encoder_, self.item_encoder_ = cat.users, cat.items
        self.seen_, self.item_popularity_ = cat.seen, cat.popularity
        # ids are 1-based indices of the generator's arrays
        self.user_rows_ = np.asarray(cat.users.classes_, dtype=np.int64) - 1
        self.item_cols_ = np.asarray(cat.items.classes_, dtype=np.int64) - 1
        return self

    def _score_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        return self.truth.pair_scores(self.user_rows_[user_idx], self.item_cols_[item_idx])

    def _score_users(self, user_idx: np.ndarray) -> torch.Tensor:
        scores = self.truth.scores(self.user_rows_[user_idx])[:, self.item_cols_]
        return torch.from_numpy(scores)


def _summary(rows: pd.DataFrame) -> dict[str, Any]:
    """Means and 95% bootstrap intervals over users of a per-user result frame."""
    users = pd.factorize(rows["user"], sort=True)[0].astype(np.int64)
    out: dict[str, Any] = {}
    for metric in METRICS:
        values = rows[metric].to_numpy(dtype=np.float64)
        low, high = _bootstrap_interval(values, users, random_state=0)
        out[metric] = {"mean": float(values.mean()), "low": low, "high": high}
    return out


def _describe(frame: pd.DataFrame, split: Any, n_items: int) -> dict[str, Any]:
    per_user = frame.groupby("user").size()
    per_item = frame.groupby("item").size().sort_values(ascending=False).to_numpy()
    train_items = set(split.train["item"].unique())
    return {
        "n_users": int(per_user.size),
        "n_items": int(n_items),
        "n_interactions": len(frame),
        "density": len(frame) / (per_user.size * n_items),
        "per_user_mean": float(per_user.mean()),
        "per_user_median": float(per_user.median()),
        "per_user_max": int(per_user.max()),
        "per_user_min": int(per_user.min()),
        "per_item_median": float(np.median(per_item)),
        "per_item_max": int(per_item[0]),
        "top_1pct_items_share": float(per_item[: max(1, n_items // 100)].sum() / len(frame)),
        "items_with_at_most_3": float((per_item <= 3).mean()),
        "n_train": len(split.train),
        "n_test_users": len(split.test),
        "test_items_unseen_in_train": int((~split.test["item"].isin(train_items)).sum()),
    }


def _cell(summary: dict[str, Any], metric: str) -> str:
    s = summary[metric]
    return f"{s['mean']:.4f} [{s['low']:.3f}, {s['high']:.3f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=12_000)
    parser.add_argument("--seed", type=int, default=0, help="seed of the generator")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    parser.add_argument("--threads", type=int, default=2, help="torch and OpenMP threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()

    frame, truth = sparse_longtail_with_truth(args.users, args.items, seed=args.seed)
    split = leave_one_out(frame)  # each user's latest interaction, by timestamp
    train, test = split.train, split.test
    stats = _describe(frame, split, args.items)
    print(
        f"sparse_longtail(n_users={args.users}, n_items={args.items}, seed={args.seed}): "
        f"{stats['n_interactions']:,} interactions, density {stats['density']:.4%}; per user "
        f"mean {stats['per_user_mean']:.1f}, median {stats['per_user_median']:.0f}, max "
        f"{stats['per_user_max']}, min {stats['per_user_min']}; per item median "
        f"{stats['per_item_median']:.0f}, max {stats['per_item_max']}, top 1% of items hold "
        f"{stats['top_1pct_items_share']:.1%} of interactions, "
        f"{stats['items_with_at_most_3']:.1%} of items have <= 3",
        flush=True,
    )
    print(
        f"leave-one-out by timestamp: {stats['n_train']:,} training rows, "
        f"{stats['n_test_users']:,} test users ({stats['test_items_unseen_in_train']} test items "
        "never occur in training: misses for every model)",
        flush=True,
    )

    models: dict[str, tuple[str, Any, float]] = {}  # name -> (label, fitted model, fit seconds)
    start = time.perf_counter()
    models["popularity"] = (
        "popularity",
        PopularityRecommender().fit(train),
        time.perf_counter() - start,
    )
    als_grid: list[dict[str, Any]] = []
    try:
        import implicit.cpu.als  # noqa: F401  (loads implicit's OpenMP runtime before the limit)
        from threadpoolctl import threadpool_limits

        from bench.peers import ImplicitALS, tune_als
    except ImportError as error:
        print(f"skipped ALS: {error} (pip install implicit_ncf[bench])", flush=True)
    else:
        with (
            threadpool_limits(limits=args.threads, user_api="openmp"),
            threadpool_limits(1, "blas"),
        ):
            start = time.perf_counter()
            best, table = tune_als(train)
            tuning = time.perf_counter() - start
            als = ImplicitALS(**best).fit(train)
        als_grid = table.to_dict("records")
        label = f"ALS ({best['factors']} factors, reg {best['regularization']:g}, "
        label += f"alpha {best['alpha']:g}; tuned on validation)"
        models["als"] = (label, als, als.fit_time_)
        print(
            f"ALS: tuned over {len(table)} configurations in {tuning:.0f}s on a validation set "
            f"carved from training; best {best}; refit {als.fit_time_:.1f}s",
            flush=True,
        )
    labels = {
        "mf": "MF, defaults",
        "neumf": "NeuMF, defaults",
        "neumf-bce": 'NeuMF, loss="bce" (the default before loss="auto")',
    }
    recipes = (("mf", {"model": "mf"}), ("neumf", {}), ("neumf-bce", {"loss": "bce"}))
    for name, params in recipes:
        model = NeuralCF(random_state=0, **params).fit(train)
        label = labels[name]
        models[name] = (label, model, model.fit_time_)
        print(
            f"{name}: fitted in {model.fit_time_:.0f}s ({len(model.history_)} epochs)", flush=True
        )
    models["generator"] = (
        "generator's probabilities (reference ceiling, not a model)",
        GeneratorScores(truth).fit(train),
        0.0,
    )

    # the test set: scored once per protocol for each fitted model, nothing chosen on it
    per_user: dict[str, dict[str, pd.DataFrame]] = {"sampled": {}, "full": {}}
    rows: list[dict[str, Any]] = []
    for name, (label, model, seconds) in models.items():
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sampled = model.evaluate(test, k=10, n_negatives=99, random_state=0, per_user=True)
            full = model.evaluate(test, k=10, n_negatives=None, per_user=True)
        per_user["sampled"][name], per_user["full"][name] = sampled, full
        rows.append(
            {
                "name": name,
                "model": label,
                "fit_s": seconds,
                "eval_s": time.perf_counter() - start,
                "sampled": _summary(sampled),
                "full": _summary(full),
            }
        )
        print(f"{name}: evaluated in {rows[-1]['eval_s']:.0f}s", flush=True)

    print(
        f"\nsparse_longtail, {stats['n_test_users']:,} test users; brackets: 95% bootstrap "
        "intervals over users\n"
    )
    print("| model | sampled HR@10 | sampled NDCG@10 | full HR@10 | full NDCG@10 | fit s |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        cells = [_cell(row[p], m) for p in ("sampled", "full") for m in METRICS]
        fit = "-" if row["name"] == "generator" else f"{row['fit_s']:.1f}"
        print(f"| {row['model']} | " + " | ".join(cells) + f" | {fit} |")

    comparisons = []
    print("\nPaired over users (difference of means [95% paired bootstrap], Wilcoxon p):\n")
    print("| comparison | protocol | HR@10 | p | NDCG@10 | p |")
    print("|---|---|---|---|---|---|")
    for a, b in PAIRS:
        if a not in models or b not in models:
            continue
        for protocol in ("full", "sampled"):
            table = compare(per_user[protocol][a], per_user[protocol][b], metrics=list(METRICS))
            cells = []
            for metric in METRICS:
                r = table.loc[metric]
                comparisons.append(
                    {
                        "a": a,
                        "b": b,
                        "protocol": protocol,
                        "metric": metric,
                        "difference": float(r["difference"]),
                        "low": float(r["ci_low"]),
                        "high": float(r["ci_high"]),
                        "p_value": float(r["p_value"]),
                    }
                )
                cells.append(
                    f"{r['difference']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}] | "
                    f"{r['p_value']:.2g}"
                )
            print(f"| {a} - {b} | {protocol} | " + " | ".join(cells) + " |")
    total = time.perf_counter() - started
    print(f"\ntotal {total:.0f}s", flush=True)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "generator": {
                "function": "bench.synthetic.sparse_longtail",
                "n_users": args.users,
                "n_items": args.items,
                "seed": args.seed,
            },
            "data": stats,
            "rows": rows,
            "comparisons": comparisons,
            "als_grid": als_grid,
            "threads": args.threads,
            "total_s": total,
        }
        args.out.write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
