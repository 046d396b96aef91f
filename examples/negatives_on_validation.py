"""Full-ranking validation figures of NeuralCF settings on four datasets, never a test set.

``python examples/negatives_on_validation.py '{"n_negatives": 8}' small,100k,sparse,ml1m``
fits ``NeuralCF(random_state=0, **params)`` on each dataset's validation split and prints one
JSON line per dataset with the fit time and the validation items' full-ranking HR@10 / NDCG@10
(``docs/results.md`` section 2, the check that made ``n_negatives=8`` the default):

- ``small`` (ml-latest-small, embedded) and ``100k`` (ml-100k from ``../shared/data``): the
  training part of the leave-one-out by timestamp of ``docs/results.md`` section 0 (its test
  items are set aside first), then ``validation_split`` (each user's latest training item);
- ``sparse``: the same on :func:`bench.synthetic.sparse_longtail` (random order per user);
- ``ml1m``: the NCF ML-1M training pairs (``../shared/data/ncf-ml-1m``), a random item per user.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.synthetic import sparse_longtail  # noqa: E402
from implicit_ncf import NeuralCF  # noqa: E402
from implicit_ncf.datasets import load_movielens, load_ncf_ml1m  # noqa: E402
from implicit_ncf.model_selection import validation_split  # noqa: E402
from implicit_ncf.splits import leave_one_out  # noqa: E402

SHARED = REPO.parent / "shared" / "data"


def training_part(name: str) -> pd.DataFrame:
    """The data a validation set may be carved from: never a test item."""
    if name == "ml1m":
        return load_ncf_ml1m(SHARED / "ncf-ml-1m").train
    if name == "small":
        frame = load_movielens("latest-small")
    elif name == "100k":
        frame = load_movielens("100k", data_home=SHARED, download=False)
    elif name == "sparse":
        frame = sparse_longtail()
    else:
        raise SystemExit(f"unknown dataset {name!r}; choose from small, 100k, sparse, ml1m")
    return leave_one_out(frame).train


def main(argv: list[str]) -> int:
    params = json.loads(argv[0]) if argv else {}
    names = (argv[1] if len(argv) > 1 else "small,100k,sparse,ml1m").split(",")
    torch.set_num_threads(2)
    warnings.simplefilter("ignore")  # validation items unseen in training count as misses
    for name in names:
        split = validation_split(training_part(name), random_state=0)
        start = time.perf_counter()
        est = NeuralCF(random_state=0, **params).fit(split.train)
        fit_s = time.perf_counter() - start
        full = est.evaluate(split.test, k=10, n_negatives=None)
        row = {
            "set": name,
            "params": params,
            "fit_s": round(fit_s, 1),
            "val_full_hr@10": round(full["hr@10"], 4),
            "val_full_ndcg@10": round(full["ndcg@10"], 4),
        }
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
