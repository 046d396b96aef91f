"""Probe: popularity-aware weights on the unobserved items of the iALS objective.

He et al. (SIGIR 2016, "Fast matrix factorization for online recommendation with implicit
feedback", eALS) weigh each unobserved item by its popularity instead of uniformly: item
``j``'s weight in the catalogue term is ``unobserved_weight * f_j**e / mean_k f_k**e``,
``f_j`` its number of training positives (at least 1), so the weights average
``unobserved_weight`` and ``e = 0`` is the library's uniform iALS. The library has no such
parameter; this script patches the two places the catalogue term is formed, for its own
process only: the ALS row solves (:mod:`implicit_ncf.als`: the user rows' Gramian becomes
``sum_j c_j z_j z_j^T``, each item row's is scaled by its ``c_j``) and the gradient iALS loss
(:func:`implicit_ncf.losses.ials_loss`: the bilinear part's Gramian weighted the same way,
the sampled remainder weighted by the sampled items' ``c_j``). The penalty is unchanged
(``penalty_offset`` sets it in the default NeuMF's GMF tower). The patched solve tells the
user rows from the item rows by their sizes, so it refuses data with as many users as items.

Each run fits ``NeuralCF`` on the ML-1M validation split of ``reproduce_ncf_ml1m.py
--tune`` (the test file is not read)::

    python examples/probe_popularity_weights.py 0.25 '[{"model": "neumf"}]'
    python examples/probe_popularity_weights.py 0.25 '[{"model": "neumf"}]' --only gmf

``--only gmf`` weighs the ALS stage only (NeuMF's GMF tower), ``--only finetune`` the
gradient iALS stages only (NeuMF's fine-tuning). Results: ``docs/results.md`` section 2.
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

import implicit_ncf.als as als
import implicit_ncf.losses as losses
from implicit_ncf.estimator import NeuralCF

WEIGHTS: dict[str, Tensor | None] = {"als": None, "loss": None}


def weighted_solve_rows(
    csr: sp.csr_matrix,
    rows: Tensor,
    z: Tensor,
    offsets: Tensor,
    *,
    unobserved_weight: float,
    ridge: Tensor,
    unpenalised: int,
    steps: int,
) -> None:
    """``implicit_ncf.als._solve_rows`` with the item weights in the catalogue term: on the
    user side (``z`` has a row per item) the Gramian ``sum_j c_j z_j z_j^T``, on the item side
    (a row per item in ``rows``) each row's Gramian and offset term times its ``c_j``."""
    weights = WEIGHTS["als"]
    n_items = -1 if weights is None else len(weights)
    if z.shape[0] == n_items and rows.shape[0] == n_items:
        raise ValueError(
            "the probe tells the user side from the item side by their sizes; this data has "
            f"as many users as items ({n_items}). Drop a user or an item to probe it."
        )
    col = weights if z.shape[0] == n_items else None
    row = weights if rows.shape[0] == n_items and col is None else None
    w0 = float(unobserved_weight)
    zw = z if col is None else z * col.to(z.dtype)[:, None]
    gram = w0 * (zw.T @ z)
    shared = w0 * (zw.T @ offsets)
    scale = torch.ones(rows.shape[0], 1, dtype=z.dtype) if row is None else row[:, None]
    mask = torch.ones(z.shape[1], dtype=z.dtype)
    if unpenalised:
        mask[-unpenalised:] = 0.0
    csr = csr if csr.has_sorted_indices else csr.sorted_indices()
    indptr = torch.from_numpy(csr.indptr.astype(np.int64))
    cols = torch.from_numpy(csr.indices.astype(np.int64))
    weight = torch.from_numpy(csr.data.astype(np.float32)).to(z.dtype)
    shape = csr.shape
    reg = ridge[:, None] * mask
    zt = z.T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pattern = torch.sparse_csr_tensor(indptr, cols, weight, size=shape)

        def spmm(values: Tensor) -> Tensor:
            return torch.sparse_csr_tensor(indptr, cols, values, size=shape) @ z

        def apply(v: Tensor) -> Tensor:
            dots = als._sampled_dots(pattern, v, zt)
            return scale * (v @ gram) + spmm(weight * dots) + reg * v

        b = spmm(weight * (1.0 - offsets.index_select(0, cols))) - scale * shared
        x = rows.clone()
        r = b - apply(x)
        p = r.clone()
        rs = (r * r).sum(1)
        for _ in range(steps):
            ap = apply(p)
            alpha = rs / (p * ap).sum(1).clamp_min(1e-20)
            x += alpha[:, None] * p
            r -= alpha[:, None] * ap
            rs_new = (r * r).sum(1)
            p = r + (rs_new / rs.clamp_min(1e-20))[:, None] * p
            rs = rs_new
    rows.copy_(x)


def weighted_catalogue(x: Tensor, y: Tensor, c: Tensor) -> Tensor:
    """``sum_j w_j (x_b . y_j + c_j) ** 2`` through the weighted Gramian."""
    w = WEIGHTS["loss"]
    if w is None:
        return (x @ (y.T @ y) * x).sum(1) + 2 * (x @ (y.T @ c)) + c.dot(c)
    w = w.to(y.dtype)
    wy = y * w[:, None]
    return (x @ (wy.T @ y) * x).sum(1) + 2 * (x @ (wy.T @ c)) + (w * c).dot(c)


def weighted_ials_loss(
    network: torch.nn.Module,
    users: Tensor,
    items: Tensor,
    unobserved: Tensor,
    weights: Tensor | None = None,
    n_sampled: int = 8,
) -> Tensor:
    """``implicit_ncf.losses.ials_loss`` with the item weights in the catalogue term."""
    positive = network(users, items)
    observed = (positive - 1).pow(2)
    if weights is not None:
        observed = observed * weights
    if hasattr(network, "factors"):
        return (observed + unobserved * weighted_catalogue(*network.factors(users))).mean()
    n_items = int(network.n_items)
    sampled = torch.randint(0, n_items, (len(users), n_sampled), device=users.device)
    scores = network(users.repeat_interleave(n_sampled), sampled.reshape(-1)).view(-1, n_sampled)
    flat = sampled.reshape(-1)
    if hasattr(network, "bilinear_part"):
        x, y, c = network.bilinear_part(users)
        exact = weighted_catalogue(x, y, c)
        picked = y.index_select(0, flat).view(*sampled.shape, -1)
        part = torch.einsum("bf,bkf->bk", x, picked) + c.index_select(0, flat).view_as(sampled)
        rest = scores.pow(2) - part.pow(2)
    else:
        exact, rest = torch.zeros_like(observed), scores.pow(2)
    w = WEIGHTS["loss"]
    if w is not None:
        rest = rest * w.to(rest.dtype).index_select(0, flat).view_as(rest)
    return (observed + unobserved * (exact + rest.sum(1) * (n_items / n_sampled))).mean()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exponent", type=float, help="e in f_j**e (0: uniform, the library's)")
    parser.add_argument("configs", type=str, help="JSON list of NeuralCF parameter dicts")
    parser.add_argument("--only", choices=("gmf", "finetune"), default=None)
    parser.add_argument("--shared", type=Path, default=None)
    args = parser.parse_args(argv)
    exponent, only = float(args.exponent), args.only
    original = NeuralCF._set_catalogue

    def set_catalogue(self: NeuralCF, positives: Any) -> Any:
        out = original(self, positives)
        f = np.maximum(np.asarray(out[3], dtype=np.float64), 1.0) ** exponent
        w = torch.from_numpy(f / f.mean()).to(torch.float32)
        WEIGHTS["als"] = None if only == "finetune" else w
        WEIGHTS["loss"] = None if only == "gmf" else w
        return out

    NeuralCF._set_catalogue = set_catalogue  # type: ignore[method-assign]
    als._solve_rows = weighted_solve_rows
    losses.LOSSES["ials"] = weighted_ials_loss  # the dict the training module reads
    script = Path(__file__).with_name("reproduce_ncf_ml1m.py")
    extra = [] if args.shared is None else ["--shared", str(args.shared)]
    sys.argv = [str(script), "--tune", "--configs", json.dumps(json.loads(args.configs)), *extra]
    runpy.run_path(str(script), run_name="__main__")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
