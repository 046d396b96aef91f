"""Side by side on one evaluator: popularity, a tuned ALS, and NeuralCF, sampled and full ranking.

``python examples/compare_with_als.py [--datasets ml-latest-small,ml-100k] [--configs JSON]``

For each dataset: leave-one-out by timestamp (each user's latest interaction is the test item);
implicit's ALS (``pip install implicit_ncf[bench]``) is tuned on a validation set carved from
the training part (each user's latest training interaction; never the test set) over a small
grid, then refitted on all of the training part; every NeuralCF configuration (defaults unless
``--configs`` says otherwise) is fitted once with ``random_state=0``. Every model is scored by
the library's ``evaluate``: the test item among 99 sampled unseen items, and among every item the
user has not interacted with (full ranking). Each figure comes with a 95% bootstrap interval
over test users, and each NeuralCF configuration's full-ranking figures are paired with the
ALS's user by user (``metrics.compare``: the difference, its 95% paired bootstrap interval, a
Wilcoxon p). ml-100k is read from ``../shared/data`` and skipped when absent, as is
``ml-1m-2999`` (GroupLens's ML-1M ratings of users 1-2999, the part of ML-1M here with ratings
and timestamps; not in the default ``--datasets``).
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import ML1M_RATED, load_ml1m_rated  # noqa: E402
from implicit_ncf import NeuralCF, PopularityRecommender  # noqa: E402
from implicit_ncf.data import DuplicateInteractionsWarning  # noqa: E402
from implicit_ncf.datasets import load_movielens  # noqa: E402
from implicit_ncf.metrics import compare  # noqa: E402
from implicit_ncf.splits import leave_one_out  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def interval(values: np.ndarray, n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean of per-user values."""
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(n_resamples, len(values)))].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return float(low), float(high)


def scores(model: Any, test: pd.DataFrame) -> dict[str, Any]:
    """Each protocol's HR@10 / NDCG@10 with its interval, and (key ``"per_user full"``) the
    full-ranking per-user frame for the paired comparisons."""
    out: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, n_negatives in (("sampled", 99), ("full", None)):
            rows = model.evaluate(test, k=10, n_negatives=n_negatives, per_user=True)
            for metric in ("hr@10", "ndcg@10"):
                values = rows[metric].to_numpy()
                out[f"{name} {metric}"] = (float(values.mean()), *interval(values))
            if n_negatives is None:
                out["per_user full"] = rows[["user", "hr@10", "ndcg@10"]]
    return out


def datasets(names: list[str]) -> dict[str, pd.DataFrame]:
    out = {}
    for name in names:
        if name == "ml-latest-small":
            out[name] = load_movielens("latest-small")
        elif name == "ml-100k" and (SHARED / "ml-100k").is_dir():
            out[name] = load_movielens("100k", data_home=SHARED, download=False)
        elif name == "ml-1m-2999" and ML1M_RATED.exists():
            out[name] = load_ml1m_rated()  # every rating of ML-1M's users 1-2999
        else:
            print(f"skipped {name}: not found under {SHARED}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="ml-latest-small,ml-100k")
    parser.add_argument("--configs", default='[{"model": "mf"}, {"model": "neumf"}]')
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        from bench.peers import ImplicitALS, tune_als
    except ImportError:
        print("skipped: implicit is not installed (pip install implicit_ncf[bench])")
        return 0
    warnings.simplefilter("ignore", DuplicateInteractionsWarning)
    configs = json.loads(args.configs)
    report = {}
    for name, frame in datasets(args.datasets.split(",")).items():
        split = leave_one_out(frame)
        print(f"\n{name}: {len(split.train):,} training rows, {len(split.test)} test users")
        rows: list[tuple[str, dict[str, Any], float]] = []
        start = time.perf_counter()
        pop = PopularityRecommender().fit(split.train)
        rows.append(("popularity", scores(pop, split.test), time.perf_counter() - start))
        best, table = tune_als(split.train)
        als = ImplicitALS(**best).fit(split.train)
        label = "ALS " + ", ".join(f"{k}={v}" for k, v in best.items())
        rows.append((label, scores(als, split.test), als.fit_time_))
        for config in configs:
            model = NeuralCF(random_state=0, **config).fit(split.train)
            label = "NeuralCF " + (", ".join(f"{k}={v}" for k, v in config.items()) or "defaults")
            rows.append((label, scores(model, split.test), model.fit_time_))
        print("| model | sampled HR@10 | sampled NDCG@10 | full HR@10 | full NDCG@10 | fit s |")
        print("|---|---|---|---|---|---|")
        for label, result, seconds in rows:
            cells = [
                f"{v[0]:.4f} [{v[1]:.3f}, {v[2]:.3f}]"
                for v in (
                    result[c]
                    for c in ("sampled hr@10", "sampled ndcg@10", "full hr@10", "full ndcg@10")
                )
            ]
            print(f"| {label} | " + " | ".join(cells) + f" | {seconds:.1f} |", flush=True)
        paired = []
        print("\nfull ranking, paired with the ALS over the test users:")
        print("| model - ALS | HR@10 | p | NDCG@10 | p |")
        print("|---|---|---|---|---|")
        for label, result, _ in rows[2:]:
            diff = compare(result["per_user full"], rows[1][1]["per_user full"])
            cells = [
                f"{diff.loc[m, 'difference']:+.4f} [{diff.loc[m, 'ci_low']:+.4f}, "
                f"{diff.loc[m, 'ci_high']:+.4f}] | {diff.loc[m, 'p_value']:.2g}"
                for m in ("hr@10", "ndcg@10")
            ]
            print(f"| {label} | " + " | ".join(cells) + " |", flush=True)
            paired.append((label, diff.reset_index().to_dict("records")))
        for _, result, _ in rows:
            result.pop("per_user full")
        report[name] = {"rows": rows, "paired": paired, "als_grid": table.to_dict("records")}
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
