"""Probe: the default NeuMF's logits blended with those of a second GMF, Rendle et al.'s recipe.

``(1 - m) * NeuMF(u, i) + m * GMF(u, i)``, where the GMF is fitted separately with Rendle et
al.'s (2022) iALS recipe for the NCF ML-1M split (``RENDLE``: 192 factors, the
frequency-scaled penalty 7e-3, ``unobserved_weight=0.3``, 12 ALS sweeps). Both are trained on
the iALS objective, so their logits share one scale and need no standardising. The blend is
one NeuMF whose GMF tower holds both GMF towers side by side (:func:`blend`), scored by the
library's ``evaluate`` like any other. The library has no such parameter; this script asks
whether the blend moves the sampled protocol without a full-ranking cost (``docs/results.md``
section 2). Validation data only: each set's split is ``examples/negatives_on_validation.py``'s
(``ml1m-latest``: ``reproduce_ncf_ml1m.py --tune``'s latest-item set); the test files are
never read. One JSON line per (set, m), with paired differences against ``m = 0``::

    python examples/probe_blend_gmf.py ml1m-latest,ml1m,sparse,100k,small 0.2,0.35,0.5

A third argument, a JSON object of ``NeuralCF`` parameters (``{}`` for ``RENDLE``), replaces
``RENDLE`` as the second GMF (``"model": "gmf"`` is implied), e.g. ``'{"optimizer": "als",
"n_factors": 128, "unobserved_weight": 0.3, "weight_decay": [0.015, 0.03, 0.06, 0.1],
"penalty_offset": 100}'``. A fourth sets both models' ``random_state`` (default 0; the
validation splits do not change)::

    python examples/probe_blend_gmf.py small 0.2,0.35,0.5 '{}' 1
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "examples"))

import negatives_on_validation as nov  # noqa: E402
from reproduce_ncf_ml1m import carve_validation  # noqa: E402

from implicit_ncf import NeuralCF  # noqa: E402
from implicit_ncf.datasets import load_ncf_ml1m  # noqa: E402
from implicit_ncf.metrics import compare  # noqa: E402
from implicit_ncf.model_selection import validation_split  # noqa: E402
from implicit_ncf.networks import GMF, NeuMF  # noqa: E402

RENDLE: dict[str, Any] = {
    "model": "gmf",
    "optimizer": "als",
    "n_factors": 192,
    "weight_decay": 7e-3,
    "unobserved_weight": 0.3,
    "n_epochs": 12,
}


@torch.no_grad()
def blend(neumf: NeuMF, gmf: GMF, mix: float) -> NeuMF:
    """One NeuMF with logits ``(1 - mix) * neumf + mix * gmf`` (same users and items)."""
    f, g = neumf.gmf.n_factors, gmf.n_factors
    w = neumf.output.weight[0]
    a, b = math.sqrt(1.0 - mix), math.sqrt(mix)
    p = torch.cat(
        [
            a * neumf.gmf.user_embedding.weight * w[:f],
            b * gmf.user_embedding.weight * gmf.output.weight[0],
        ],
        dim=1,
    )
    q = torch.cat([a * neumf.gmf.item_embedding.weight, b * gmf.item_embedding.weight], dim=1)
    out = copy.deepcopy(neumf)
    out.gmf = GMF(neumf.n_users, neumf.n_items, f + g)
    out.gmf.user_embedding.weight.copy_(p)
    out.gmf.item_embedding.weight.copy_(q)
    out.output = nn.Linear(f + g + neumf.mlp.n_features, 1)
    out.output.weight.copy_(torch.cat([torch.ones(f + g), (1.0 - mix) * w[f:]]).unsqueeze(0))
    out.output.bias.copy_((1.0 - mix) * neumf.output.bias + mix * gmf.output.bias)
    return out.eval()


def split_of(name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training part, validation items) of a validation set; never a test file."""
    if name == "ml1m-latest":
        train = load_ncf_ml1m(nov.SHARED / "ncf-ml-1m").train
        tune_train, held, _ = carve_validation(train, nov.SHARED)
        return tune_train, held
    split = validation_split(nov.training_part(name), random_state=0)
    return split.train, split.test


def per_user(est: NeuralCF, validation: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {
        "full": est.evaluate(validation, k=10, n_negatives=None, per_user=True),
        "sampled": est.evaluate(
            validation, k=10, n_negatives=nov.SAMPLED_NEGATIVES, random_state=0, per_user=True
        ),
    }


def main(argv: list[str]) -> int:
    names = (argv[0] if argv else "ml1m-latest").split(",")
    mixes = [float(m) for m in (argv[1] if len(argv) > 1 else "0.2,0.35,0.5").split(",")]
    given = json.loads(argv[2]) if len(argv) > 2 else {}
    second = {"model": "gmf", **given} if given else RENDLE
    seed = int(argv[3]) if len(argv) > 3 else 0
    torch.set_num_threads(2)
    warnings.simplefilter("ignore")  # validation items unseen in training count as misses
    for name in names:
        train, validation = split_of(name)
        start = time.perf_counter()
        neumf = NeuralCF(random_state=seed).fit(train)
        neumf_s = time.perf_counter() - start
        start = time.perf_counter()
        gmf = NeuralCF(random_state=seed, **second).fit(train)
        gmf_s = time.perf_counter() - start
        assert neumf.user_encoder_.classes_.tolist() == gmf.user_encoder_.classes_.tolist()
        assert neumf.item_encoder_.classes_.tolist() == gmf.item_encoder_.classes_.tolist()
        base = per_user(neumf, validation)
        for mix in mixes:
            blended = copy.copy(neumf)
            blended.__dict__.pop("_weights_cache", None)
            blended.network_ = blend(neumf.network_, gmf.network_, mix)
            scores = per_user(blended, validation)
            row: dict[str, Any] = {"set": name, "m": mix, "seed": seed}
            row["neumf_s"] = round(neumf_s, 1)
            row["gmf_s"] = round(gmf_s, 1)
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
