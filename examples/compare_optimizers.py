"""Dense Adam against lazy Adam (what ``optimizer="auto"`` picks on large tables), on validation
data carved from the training set, never on a test set.

``python examples/compare_optimizers.py --data ml1m`` (the NCF split's training positives) or
``--data ml100k`` (the training part of its leave-one-out by timestamp): NeuMF with the
defaults (``--n-negatives`` aside) and ``random_state=0``, fitted with each optimizer on
``validation_split(train)``. Prints, per optimizer, the fit time and HR@10 / NDCG@10 of the
validation items among 99 sampled negatives and under full ranking (``docs/performance.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import torch

from implicit_ncf import NeuralCF
from implicit_ncf.datasets import load_movielens, load_ncf_ml1m
from implicit_ncf.model_selection import validation_split
from implicit_ncf.splits import leave_one_out

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["ml1m", "ml100k"], default="ml100k")
    parser.add_argument("--shared", type=Path, default=SHARED, help="folder of the data sets")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-negatives", type=int, default=None, help="default: NeuralCF's")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    folder = args.shared / ("ncf-ml-1m" if args.data == "ml1m" else "ml-100k")
    if not folder.exists():
        print(f"{folder} not found; nothing to measure.")
        return 0
    if args.data == "ml1m":
        train = load_ncf_ml1m(folder).train
    else:  # the test items of docs/results.md (each user's latest) are set aside first
        train = leave_one_out(load_movielens("100k", data_home=args.shared, download=False)).train
    split = validation_split(train, random_state=0)
    warnings.simplefilter("ignore")  # validation items unseen in training count as misses
    for optimizer in ("adam", "lazy_adam"):
        start = time.perf_counter()
        extra = {} if args.n_negatives is None else {"n_negatives": args.n_negatives}
        est = NeuralCF(optimizer=optimizer, random_state=0, **extra).fit(split.train)
        fit_s = time.perf_counter() - start
        sampled = est.evaluate(split.test, k=10, n_negatives=99, random_state=0)
        full = est.evaluate(split.test, k=10, n_negatives=None)
        row = {
            "data": args.data,
            "optimizer": optimizer,
            "fit_s": round(fit_s, 1),
            "val_hr@10": round(sampled["hr@10"], 4),
            "val_ndcg@10": round(sampled["ndcg@10"], 4),
            "val_full_hr@10": round(full["hr@10"], 4),
            "val_full_ndcg@10": round(full["ndcg@10"], 4),
        }
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
