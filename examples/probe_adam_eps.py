"""Probe: Adam's ``eps`` in NeuMF's iALS fine-tuning.

The iALS loss's catalogue term reaches every item row through the GMF tower's Gramian, so
every step of the fine-tuning gives every item row a gradient, and Adam divides each
coordinate's step by the root of its own squared-gradient average: the rows of rare items,
whose gradients are an order of magnitude smaller than popular items', move about as far per
step. A larger ``eps`` (torch's default is 1e-8) damps the steps of coordinates whose
gradients are below it. ``docs/results.md`` section 2 asks whether that moves the sampled
protocol, which ranks the held-out item against 99 mostly rare items, without a full-ranking
cost. The library has no such parameter; the script patches
:meth:`implicit_ncf.training.NCFModule.configure_optimizers` (for the NeuMF fine-tuning
only: the iALS loss on a NeuMF) and caches the towers, which do not depend on ``eps``, so that
each further value costs one fine-tuning, all in its own process. Validation data only, the
splits of ``examples/probe_blend_gmf.py``; the test files are never read::

    python examples/probe_adam_eps.py ml1m-latest 1e-8,1e-5,3e-5,1e-4

One JSON line per (set, eps). The first line of a set is a plain fit (``eps`` 1e-8, towers
trained), with the median root of Adam's squared-gradient average per item row by the item's
number of training positives; the others reuse its towers, and their figures are paired
against it. The first value of the list is usually 1e-8 again: it differs from the first fit
only in the state of torch's global generator when the fine-tuning starts (the towers'
training draws from it), so it measures the noise of the fine-tuning alone. The patched Adam
is torch's plain (for-each) kernel, not the library's fused one.
"""

from __future__ import annotations

import copy
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
sys.path.insert(0, str(REPO / "examples"))

import probe_blend_gmf as pb  # noqa: E402

import implicit_ncf.training as training  # noqa: E402
from implicit_ncf import NeuralCF  # noqa: E402
from implicit_ncf.metrics import compare  # noqa: E402
from implicit_ncf.networks import NeuMF  # noqa: E402

DEFAULT_EPS = 1e-8
STATE: dict[str, Any] = {"eps": DEFAULT_EPS, "optimizers": [], "towers": {}}
POPULARITY_BINS = ((0, 5), (5, 20), (20, 100), (100, 500), (500, None))
_configure = training.NCFModule.configure_optimizers
_train = NeuralCF._train


def configure_optimizers(self: Any) -> Any:
    """The fine-tuning's Adam with ``STATE["eps"]``; every other stage as the library has it."""
    if self.loss == "ials" and isinstance(self.network, NeuMF):
        optimizer = torch.optim.Adam(
            self.network.parameters(), lr=self.learning_rate, eps=STATE["eps"]
        )
        STATE["optimizers"].append(optimizer)
        return optimizer
    return _configure(self)


def train(self: Any, *args: Any, model: str, weights: Any = None, network: Any = None) -> Any:
    """``NeuralCF._train`` with the towers (GMF, MLP) kept by their training data, so that a
    later fit on the same data reuses them; each use gets its own copy."""
    if model in ("gmf", "mlp") and network is None:
        train_u, train_i = args[2], args[3]
        key = (model, len(train_u), int(train_u.sum()), int(train_i.sum()))
        if key not in STATE["towers"]:
            STATE["towers"][key] = _train(self, *args, model=model, weights=weights)
        return copy.deepcopy(STATE["towers"][key])
    return _train(self, *args, model=model, weights=weights, network=network)


def install() -> None:
    training.NCFModule.configure_optimizers = configure_optimizers  # type: ignore[method-assign]
    NeuralCF._train = train  # type: ignore[method-assign]


def gradient_scale(est: NeuralCF, train_frame: pd.DataFrame) -> dict[str, list[float]]:
    """Median over item rows of ``sqrt(exp_avg_sq)`` (mean over the row's coordinates) in the
    last fine-tuning's Adam, by the item's number of training positives: ``[items, median]``."""
    optimizer = STATE["optimizers"][-1]
    weight = est.network_.gmf.item_embedding.weight
    rms = optimizer.state[weight]["exp_avg_sq"].sqrt().mean(1).numpy()
    codes = est.item_encoder_.get_indexer(train_frame["item"].to_numpy())
    counts = np.bincount(codes, minlength=est.n_items_)
    out: dict[str, list[float]] = {}
    for low, high in POPULARITY_BINS:
        mask = (counts >= low) & (counts < (np.inf if high is None else high))
        if mask.any():
            name = f"{low}-{high}" if high is not None else f"{low}+"
            out[name] = [int(mask.sum()), float(np.median(rms[mask]))]
    return out


def main(argv: list[str]) -> int:
    if not argv:
        raise SystemExit(__doc__)
    names = argv[0].split(",")
    values = [float(v) for v in (argv[1] if len(argv) > 1 else "1e-8,1e-5,3e-5,1e-4").split(",")]
    install()
    torch.set_num_threads(2)
    warnings.simplefilter("ignore")  # validation items unseen in training count as misses
    for name in names:
        train_frame, validation = pb.split_of(name)
        STATE["eps"], start = DEFAULT_EPS, time.perf_counter()
        first = NeuralCF(random_state=0).fit(train_frame)
        row: dict[str, Any] = {"set": name, "eps": DEFAULT_EPS, "towers": "trained"}
        row["s"] = round(time.perf_counter() - start, 1)
        row["gradient_rms_by_positives"] = gradient_scale(first, train_frame)
        print(json.dumps(row), flush=True)
        base = pb.per_user(first, validation)
        for eps in values:
            STATE["eps"], start = eps, time.perf_counter()
            est = NeuralCF(random_state=0).fit(train_frame)
            row = {"set": name, "eps": eps, "towers": "reused"}
            row["s"] = round(time.perf_counter() - start, 1)
            scores = pb.per_user(est, validation)
            for protocol in ("full", "sampled"):
                table = compare(scores[protocol], base[protocol], metrics=["hr@10", "ndcg@10"])
                for metric, r in table.iterrows():
                    row[f"{protocol}_{metric}"] = [round(float(r["b"]), 4), round(float(r["a"]), 4)]
                    row[f"{protocol}_difference_{metric}"] = [
                        round(float(r["difference"]), 4),
                        round(float(r["ci_low"]), 4),
                        round(float(r["ci_high"]), 4),
                    ]
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
