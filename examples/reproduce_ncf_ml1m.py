"""Reproduce the NCF paper's MovieLens-1M result (He et al., WWW 2017) with implicit_ncf.

Three modes:

``python examples/reproduce_ncf_ml1m.py``
    Fit every model with the library's default hyperparameters (``random_state=0``) on the
    canonical training pairs of ``../shared/data/ncf-ml-1m`` and score each user's test item among
    exactly the paper's 99 negatives. Popularity is printed beside it.

``python examples/reproduce_ncf_ml1m.py --tune``
    The model-selection runs behind the defaults: every configuration is trained on the canonical
    training pairs minus a validation set carved from them, and validated every epoch. The test
    file and its negatives are never read in this mode.

``python examples/reproduce_ncf_ml1m.py --tutorial``
    The reference tutorial's protocol (per-user leave-one-out by latest timestamp, 99 sampled
    unseen items) on ml-100k (from ``../shared/data`` when present) and the embedded
    ml-latest-small.

The validation set: the canonical training file has no timestamps, but GroupLens's ratings of
users 1-2999 (``../shared/data/ml-1m/ratings.users0001-2999.dat.gz``) do, so each of those users'
latest *training* interaction is held out (leave_one_out by timestamp on the training pairs only).
Without that file a random training item per user is held out instead.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from implicit_ncf import NeuralCF, PopularityRecommender
from implicit_ncf.data import DuplicateInteractionsWarning
from implicit_ncf.datasets import load_movielens, load_ncf_ml1m
from implicit_ncf.splits import leave_one_out

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
# The NCF paper's NeuMF (with pretraining) on this split; GMF and MLP: guoyang9/NCF's PyTorch
# re-run of the paper's settings (32 factors, 20 epochs, batch 256), as its README reports.
PAPER = {"neumf": (0.730, 0.447), "gmf": (0.708, 0.429), "mlp": (0.691, 0.416)}


def carve_validation(train: pd.DataFrame, shared: Path) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Split the canonical training pairs into (tuning train, validation, description)."""
    ratings = shared / "ml-1m" / "ratings.users0001-2999.dat.gz"
    item_map = shared / "ncf-ml-1m" / "ml-1m.item_map.tsv.gz"
    if ratings.exists() and item_map.exists():
        mapping = pd.read_csv(item_map, sep="\t")
        mapping.columns = ["item", "movie"]
        stamped = pd.read_csv(ratings, sep=":", header=None, usecols=[0, 2, 6])
        stamped.columns = ["user", "movie", "timestamp"]
        stamped["user"] -= 1
        stamped = stamped.merge(mapping, on="movie")[["user", "item", "timestamp"]]
        known = train.merge(stamped, on=["user", "item"], how="inner")
        split = leave_one_out(known, time_col="timestamp")
        held = split.test[["user", "item"]]
        how = f"latest training interaction of {len(held)} users (timestamps of users 1-2999)"
    else:
        split = leave_one_out(train, time_col=None, random_state=0)
        held = split.test[["user", "item"]]
        how = f"one random training interaction of each of {len(held)} users"
    rest = train.merge(held.assign(_held=True), on=["user", "item"], how="left")
    tune_train = rest[rest["_held"].isna()].drop(columns="_held").reset_index(drop=True)
    return tune_train, held.reset_index(drop=True), how


GRID: list[dict[str, Any]] = [
    {"model": "neumf"},
]


def tune(shared: Path, configs: list[dict[str, Any]], out: Path | None) -> None:
    train, _, _ = load_ncf_ml1m(shared / "ncf-ml-1m")  # test and its negatives are not used
    tune_train, validation, how = carve_validation(train, shared)
    print(f"validation: {how}; tuning on {len(tune_train):,} training pairs")
    runs = []
    for config in configs:
        params = {"random_state": 0, **config}
        model = NeuralCF(**params)
        start = time.perf_counter()
        model.fit(tune_train, validation=validation)
        seconds = time.perf_counter() - start
        curve = [
            (r["stage"], int(r["epoch"]), round(r["val_hr@10"], 4), round(r["val_ndcg@10"], 4))
            for r in model.history_
        ]
        last = [row[1:] for row in curve if row[0] == curve[-1][0]]  # the kept stage
        best = max(last, key=lambda row: row[2])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            full = model.evaluate(validation, k=10, n_negatives=None)
        print(
            f"{config}  best epoch {best[0]} HR@10 {best[1]:.4f} NDCG@10 {best[2]:.4f}  "
            f"full HR@10 {full['hr@10']:.4f} NDCG@10 {full['ndcg@10']:.4f} "
            f"({seconds:.0f}s)\n  curve (stage, epoch, HR@10, NDCG@10): {curve}",
            flush=True,
        )
        runs.append(
            {
                "config": config,
                "seconds": seconds,
                "curve": curve,
                "best": best,
                "full": [full["hr@10"], full["ndcg@10"]],
            }
        )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"validation": how, "runs": runs}, indent=1))


def reproduce(shared: Path, models: list[str], out: Path | None) -> None:
    train, test, candidates = load_ncf_ml1m(shared / "ncf-ml-1m")
    print(
        f"NCF ML-1M: {len(train):,} training pairs, {len(test):,} test users, "
        f"{len(candidates):,} candidates (the paper's 99 negatives per user)"
    )
    rows = []
    start = time.perf_counter()
    pop = PopularityRecommender().fit(train)
    result = pop.evaluate(test, k=10, candidates=candidates)
    rows.append(("popularity", result["hr@10"], result["ndcg@10"], time.perf_counter() - start))
    for name in models:
        model = NeuralCF(model=name, random_state=0)
        model.fit(train)
        result = model.evaluate(test, k=10, candidates=candidates)
        rows.append((name, result["hr@10"], result["ndcg@10"], model.fit_time_))
        print(
            f"{name}: HR@10 {result['hr@10']:.4f} NDCG@10 {result['ndcg@10']:.4f} "
            f"fit {model.fit_time_:.0f}s ({len(model.history_)} epochs)",
            flush=True,
        )
    print(f"\n{'model':<12}{'HR@10':>8}{'NDCG@10':>9}{'fit s':>8}   published HR@10 / NDCG@10")
    for name, hr, ndcg, seconds in rows:
        paper = PAPER.get(name)
        ref = f"{paper[0]:.3f} / {paper[1]:.3f}" if paper else "-"
        print(f"{name:<12}{hr:>8.4f}{ndcg:>9.4f}{seconds:>8.0f}   {ref}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=1))


def tutorial(shared: Path, models: list[str]) -> None:
    datasets = {"ml-latest-small": lambda: load_movielens("latest-small")}
    if (shared / "ml-100k").is_dir():
        datasets["ml-100k"] = lambda: load_movielens("100k", data_home=shared, download=False)
    for name, load in datasets.items():
        split = leave_one_out(load())
        print(f"\n{name}: leave-one-out by timestamp, {len(split.test)} test users")
        print(
            f"{'model':<12}{'HR@10':>8}{'NDCG@10':>9}{'full HR@10':>12}{'full NDCG@10':>14}"
            f"{'fit s':>8}"
        )
        for model_name in ["popularity", *models]:
            if model_name == "popularity":
                model: Any = PopularityRecommender()
                start = time.perf_counter()
                model.fit(split.train)
                seconds = time.perf_counter() - start
            else:
                model = NeuralCF(model=model_name, random_state=0).fit(split.train)
                seconds = model.fit_time_
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sampled = model.evaluate(split.test, k=10)
                full = model.evaluate(split.test, k=10, n_negatives=None)
            print(
                f"{model_name:<12}{sampled['hr@10']:>8.4f}{sampled['ndcg@10']:>9.4f}"
                f"{full['hr@10']:>12.4f}{full['ndcg@10']:>14.4f}{seconds:>8.0f}",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shared", type=Path, default=SHARED, help="folder with ncf-ml-1m/")
    parser.add_argument("--models", default="neumf,gmf,mlp,mf")
    parser.add_argument("--tune", action="store_true", help="model selection on validation data")
    parser.add_argument(
        "--configs", type=str, default=None, help="JSON list of NeuralCF parameter dicts for --tune"
    )
    parser.add_argument("--tutorial", action="store_true", help="tutorial protocol, ml-100k/small")
    parser.add_argument("--out", type=Path, default=None, help="write results as JSON here")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", DuplicateInteractionsWarning)
    models = [m for m in args.models.split(",") if m]
    if args.tutorial:
        tutorial(args.shared, models)
        return 0
    if not (args.shared / "ncf-ml-1m").is_dir():
        print(f"skipped: the NCF ML-1M split is not at {args.shared / 'ncf-ml-1m'}")
        return 0
    if args.tune:
        configs = json.loads(args.configs) if args.configs else GRID
        tune(args.shared, configs, args.out)
    else:
        reproduce(args.shared, models, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
