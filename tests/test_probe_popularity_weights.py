"""examples/probe_popularity_weights.py: its weighted solves and loss against naive references."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from implicit_ncf import als, losses
from implicit_ncf.networks import GMF, NeuMF

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "probe_popularity_weights.py"


@pytest.fixture()
def probe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("probe_popularity_weights", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["probe_popularity_weights"] = module
    spec.loader.exec_module(module)
    return module


def _case(n_rows: int, n_other: int, f: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    dense = (rng.random((n_rows, n_other)) < 0.3).astype(np.float32)
    dense[:, 0] = 1.0  # every row has a positive
    csr = sp.csr_matrix(dense * rng.uniform(1.0, 3.0, dense.shape).astype(np.float32))
    z = torch.from_numpy(rng.normal(size=(n_other, f))).to(torch.float64)
    offsets = torch.from_numpy(rng.normal(size=n_other)).to(torch.float64)
    ridge = torch.from_numpy(rng.uniform(0.5, 2.0, n_rows)).to(torch.float64)
    return csr, z, offsets, ridge


def _exact(csr, z, offsets, ridge, w0, col, row):
    """Each row's minimiser of sum_I c_ri (s - 1)^2 + w0 s_r scale_r sum_j col_j s_rj^2 +
    ridge_r |x|^2, s_rj = x . z_j + o_j, by a dense solve."""
    Z, o = z.numpy(), offsets.numpy()
    out = []
    for r in range(csr.shape[0]):
        idx, c = (
            csr.indices[csr.indptr[r] : csr.indptr[r + 1]],
            csr.data[csr.indptr[r] : csr.indptr[r + 1]],
        )
        scale = 1.0 if row is None else float(row[r])
        cw = np.ones(len(Z)) if col is None else col.numpy().astype(np.float64)
        a = (
            scale * w0 * (Z.T * cw) @ Z
            + (Z[idx].T * c) @ Z[idx]
            + ridge[r].item() * np.eye(Z.shape[1])
        )
        b = (Z[idx].T * c) @ (1.0 - o[idx]) - scale * w0 * (Z.T * cw) @ o
        out.append(np.linalg.solve(a, b))
    return np.array(out)


@pytest.mark.parametrize("side", ["user", "item"])
def test_weighted_solve_rows_is_the_weighted_least_squares_solution(probe, side):
    f, n_items, n_users = 4, 7, 5
    weights = torch.linspace(0.2, 2.0, n_items).to(torch.float64)
    if side == "user":  # rows: users; z: one row per item, weighted as columns
        csr, z, offsets, ridge = _case(n_users, n_items, f)
        col, row = weights, None
    else:  # rows: items, each scaled by its weight
        csr, z, offsets, ridge = _case(n_items, n_users, f, seed=1)
        col, row = None, weights
    probe.WEIGHTS["als"] = weights
    rows = torch.zeros(csr.shape[0], f, dtype=torch.float64)
    probe.weighted_solve_rows(
        csr, rows, z, offsets, unobserved_weight=0.7, ridge=ridge, unpenalised=0, steps=f
    )
    expected = _exact(csr, z, offsets, ridge, 0.7, col, row)
    np.testing.assert_allclose(rows.numpy(), expected, rtol=1e-6, atol=1e-8)


def test_uniform_weights_give_the_library_solve(probe):
    csr, z, offsets, ridge = _case(5, 7, 4)
    probe.WEIGHTS["als"] = torch.ones(7, dtype=torch.float64)
    ours = torch.zeros(5, 4, dtype=torch.float64)
    theirs = torch.zeros(5, 4, dtype=torch.float64)
    options = {"unobserved_weight": 0.5, "ridge": ridge, "unpenalised": 0, "steps": 3}
    probe.weighted_solve_rows(csr, ours, z, offsets, **options)
    als._solve_rows(csr, theirs, z, offsets, **options)
    torch.testing.assert_close(ours, theirs)


def test_as_many_users_as_items_is_refused(probe):
    csr, z, offsets, ridge = _case(7, 7, 4)
    probe.WEIGHTS["als"] = torch.ones(7, dtype=torch.float64)
    rows = torch.zeros(7, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="as many users as items"):
        probe.weighted_solve_rows(
            csr, rows, z, offsets, unobserved_weight=1.0, ridge=ridge, unpenalised=0, steps=2
        )


def test_weighted_catalogue_against_the_explicit_sum(probe):
    torch.manual_seed(0)
    x, y, c = torch.randn(3, 4), torch.randn(6, 4), torch.randn(6)
    w = torch.linspace(0.1, 3.0, 6)
    probe.WEIGHTS["loss"] = w
    explicit = ((x @ y.T + c).pow(2) * w).sum(1)
    torch.testing.assert_close(probe.weighted_catalogue(x, y, c), explicit)


def test_weighted_loss_with_uniform_weights_is_the_library_loss(probe):
    torch.manual_seed(0)
    network = GMF(5, 6, 4)
    users, items = torch.tensor([0, 1, 4]), torch.tensor([2, 5, 0])
    unobserved = torch.tensor([0.5, 0.25, 1.0])
    probe.WEIGHTS["loss"] = torch.ones(6)
    torch.testing.assert_close(
        probe.weighted_ials_loss(network, users, items, unobserved),
        losses.ials_loss(network, users, items, unobserved),
    )
    w = torch.linspace(0.1, 3.0, 6)
    probe.WEIGHTS["loss"] = w
    x, y, c = network.factors(users)
    scores = x @ y.T + c
    positive = scores[torch.arange(3), items]
    expected = ((positive - 1).pow(2) + unobserved * (scores.pow(2) * w).sum(1)).mean()
    torch.testing.assert_close(
        probe.weighted_ials_loss(network, users, items, unobserved), expected
    )


def test_weighted_loss_weighs_neumf_sampled_items_by_their_weights(probe, monkeypatch):
    """With the "sampled" items being the whole catalogue once, the estimate of NeuMF's
    catalogue sum is the exact weighted sum."""
    torch.manual_seed(0)
    network = NeuMF(4, 6, n_factors=3, hidden_layers=(4, 2))
    with torch.no_grad():
        network.output.weight.mul_(5.0)  # the MLP part far from negligible
    users, items = torch.tensor([0, 3]), torch.tensor([1, 2])
    unobserved = torch.tensor([0.5, 2.0])
    w = torch.tensor([0.0, 0.5, 0.0, 1.0, 0.0, 4.5])  # mean 1
    probe.WEIGHTS["loss"] = w
    every = torch.arange(6)
    monkeypatch.setattr(torch, "randint", lambda low, high, size, **kw: every.expand(*size))
    with torch.no_grad():
        scores = torch.stack([network(torch.full((6,), int(u)), every) for u in users])
        positive = network(users, items)
        exact = ((positive - 1).pow(2) + unobserved * (scores.pow(2) * w).sum(1)).mean()
        estimate = probe.weighted_ials_loss(network, users, items, unobserved, n_sampled=6)
    torch.testing.assert_close(estimate, exact)
