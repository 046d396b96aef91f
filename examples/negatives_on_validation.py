"""Full-ranking validation figures of NeuralCF settings on four datasets, never a test set.

``python examples/negatives_on_validation.py '{"n_negatives": 8}' small,100k,sparse,ml1m``
fits ``NeuralCF(random_state=0, **params)`` on each dataset's validation split and prints one
JSON line per dataset with the fit time and the validation items' HR@10 / NDCG@10 under full
ranking (``val_full_*``) and among 99 sampled negatives (``val_sampled_*``; ``docs/results.md``
section 2, the check that made ``n_negatives=8`` the default):

- ``small`` (ml-latest-small, embedded) and ``100k`` (ml-100k from ``../shared/data``): the
  training part of the leave-one-out by timestamp of ``docs/results.md`` section 0 (its test
  items are set aside first), then ``validation_split`` (each user's latest training item);
- ``sparse``: the same on :func:`bench.synthetic.sparse_longtail` (random order per user);
- ``ml1m``: the NCF ML-1M training pairs (``../shared/data/ncf-ml-1m``), a random item per user;
- ``ml1m-2999``: GroupLens's ML-1M ratings of users 1-2999, the part of ML-1M here with ratings
  and timestamps (:func:`bench.common.load_ml1m_rated`), split as ``small``: the set on which
  ``weight_col="rating"`` is measured on ML-1M.

A third argument, another parameter set, also fits that one on the same split and adds the
paired difference (``metrics.compare``: first minus second, 95% paired bootstrap interval over
the validation users, Wilcoxon p) to each line: ``difference_*`` under full ranking,
``sampled_difference_*`` among the sampled negatives, e.g.
``python examples/negatives_on_validation.py '{}' small,100k '{"gmf_output": "learned"}'``.
On the small sets a cell's mean has a standard error of about 0.01 (610 and 943 validation
users), so read the interval, not the mean alone.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import load_ml1m_rated  # noqa: E402
from bench.synthetic import sparse_longtail  # noqa: E402
from implicit_ncf import NeuralCF  # noqa: E402
from implicit_ncf.datasets import load_movielens, load_ncf_ml1m  # noqa: E402
from implicit_ncf.metrics import compare  # noqa: E402
from implicit_ncf.model_selection import validation_split  # noqa: E402
from implicit_ncf.splits import leave_one_out  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
PROTOCOLS = ("full", "sampled")
SAMPLED_NEGATIVES = 99  # the NCF protocol's


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
    elif name == "ml1m-2999":
        frame = load_ml1m_rated()
    else:
        raise SystemExit(
            f"unknown dataset {name!r}; choose from small, 100k, sparse, ml1m, ml1m-2999"
        )
    return leave_one_out(frame).train


def fit_and_score(params: dict, split: Any) -> tuple[float, dict[str, pd.DataFrame]]:
    """Fit ``NeuralCF(random_state=0, **params)`` on the split's training part; its fit time
    and per-user HR@10 / NDCG@10 of the validation items under full ranking (``"full"``) and
    among 99 sampled negatives (``"sampled"``, the same negatives for every parameter set)."""
    start = time.perf_counter()
    est = NeuralCF(random_state=0, **params).fit(split.train)
    fit_s = time.perf_counter() - start
    per_user = {
        "full": est.evaluate(split.test, k=10, n_negatives=None, per_user=True),
        "sampled": est.evaluate(
            split.test, k=10, n_negatives=SAMPLED_NEGATIVES, random_state=0, per_user=True
        ),
    }
    return fit_s, per_user


def main(argv: list[str]) -> int:
    params = json.loads(argv[0]) if argv else {}
    names = (argv[1] if len(argv) > 1 else "small,100k,sparse,ml1m").split(",")
    against = json.loads(argv[2]) if len(argv) > 2 else None
    torch.set_num_threads(2)
    warnings.simplefilter("ignore")  # validation items unseen in training count as misses
    for name in names:
        split = validation_split(training_part(name), random_state=0)
        fit_s, per_user = fit_and_score(params, split)
        row: dict[str, Any] = {"set": name, "params": params, "fit_s": round(fit_s, 1)}
        for protocol in PROTOCOLS:
            for metric in ("hr@10", "ndcg@10"):
                mean = float(per_user[protocol][metric].mean())
                row[f"val_{protocol}_{metric}"] = round(mean, 4)
        if against is not None:
            other_s, other = fit_and_score(against, split)
            row["against"] = against
            row["against_fit_s"] = round(other_s, 1)
            for protocol in PROTOCOLS:
                table = compare(per_user[protocol], other[protocol], metrics=["hr@10", "ndcg@10"])
                # full ranking keeps the unprefixed keys it always had
                tag = "" if protocol == "full" else f"{protocol}_"
                for metric, r in table.iterrows():
                    row[f"against_val_{protocol}_{metric}"] = round(float(r["b"]), 4)
                    row[f"{tag}difference_{metric}"] = [
                        round(float(r["difference"]), 4),
                        round(float(r["ci_low"]), 4),
                        round(float(r["ci_high"]), 4),
                    ]
                    row[f"{tag}p_{metric}"] = float(f"{r['p_value']:.2g}")
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
