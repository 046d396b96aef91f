"""``optimizer="als"``: each row solve against a closed-form ridge regression, the sweep
against a naive objective, learning on planted data, the fold-in's penalty, and the errors."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import planted_interactions

from implicit_ncf import NeuralCF, als
from implicit_ncf.networks import build_network
from implicit_ncf.splits import leave_one_out

N_USERS, N_ITEMS, F = 7, 11, 4
WD, W0 = 0.05, 0.7


def network(model: str, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_network(model, N_USERS, N_ITEMS, n_factors=F, hidden_layers=(8, 4), **kw)
    for p in net.parameters():  # away from the near-zero initialisation
        torch.nn.init.normal_(p, std=0.5)
    return net


def positives() -> sp.csr_matrix:
    rng = np.random.default_rng(0)
    x = sp.random(N_USERS, N_ITEMS, density=0.35, random_state=0, format="csr", dtype=np.float32)
    x.data[:] = rng.uniform(0.5, 2.0, x.nnz)  # confidence weights
    return x


def naive_objective(
    net: torch.nn.Module, x: sp.csr_matrix, offset: float | None = None
) -> torch.Tensor:
    """The objective of implicit_ncf.als's docstring, by a loop over every (user, item);
    ``offset`` is ``penalty_offset``."""
    total = torch.zeros((), dtype=torch.float64)
    dense = x.toarray()
    for u in range(N_USERS):
        s = net(torch.full((N_ITEMS,), u), torch.arange(N_ITEMS)).double()
        for j in range(N_ITEMS):
            if dense[u, j] > 0:
                total = total + float(dense[u, j]) * (s[j] - 1) ** 2
        total = total + W0 * s.pow(2).sum()
    n_u, n_i = (dense > 0).sum(1), (dense > 0).sum(0)
    p, q = net.user_embedding.weight.double(), net.item_embedding.weight.double()
    user_c, item_c = (W0 * N_ITEMS, W0 * N_USERS) if offset is None else (offset, offset)
    penalty = ((torch.tensor(n_u) + user_c) * p.pow(2).sum(1)).sum()
    penalty = penalty + ((torch.tensor(n_i) + item_c) * q.pow(2).sum(1)).sum()
    return total + WD * penalty


@pytest.mark.parametrize(
    "model,kw", [("mf", {}), ("gmf", {"gmf_output": "learned"}), ("gmf", {"gmf_output": "fixed"})]
)
def test_user_rows_are_the_closed_form_ridge_solution(model, kw):
    net, x = network(model, **kw), positives()
    t = als._Bilinear(net)
    z, c = (t.q * t.h).double(), t.item_offsets().double()
    expected = torch.zeros(N_USERS, F, dtype=torch.float64)
    for u in range(N_USERS):
        idx, w = x[u].indices, torch.tensor(x[u].data, dtype=torch.float64)
        a = W0 * z.T @ z + (z[idx].T * w) @ z[idx]
        a = a + WD * (len(idx) + W0 * N_ITEMS) * torch.eye(F, dtype=torch.float64)
        b = (z[idx].T * w) @ (1 - c[idx]) - W0 * z.T @ c
        expected[u] = torch.linalg.solve(a, b)
    ridge = WD * (torch.from_numpy(np.diff(x.indptr)).float() + W0 * N_ITEMS)
    # F conjugate-gradient steps solve an F-dimensional system exactly (up to rounding)
    als._solve_rows(
        x, t.p, t.q * t.h, t.item_offsets(), unobserved_weight=W0, ridge=ridge,
        unpenalised=0, steps=F + 2,
    )  # fmt: skip
    torch.testing.assert_close(t.p.double(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fallback", [False, True])
def test_row_solves_with_empty_rows_and_without_sampled_addmm(fallback, monkeypatch):
    if fallback:  # a torch build whose sparse kernels lack the device: the gather path

        def missing(*args, **kwargs):
            raise NotImplementedError("sampled_addmm")

        monkeypatch.setattr(torch.sparse, "sampled_addmm", missing)
    x = positives().tolil()
    x[2, :] = 0  # a user without positives: only the catalogue term and the ridge
    x = x.tocsr()
    x.eliminate_zeros()
    reference, net = network("gmf"), network("gmf")
    options = {"weight_decay": WD, "unobserved_weight": W0}
    als.als_sweep(net, x, steps=F + 3, **options)
    t = als._Bilinear(reference)
    ridge = WD * (torch.from_numpy(np.diff(x.indptr)).float() + W0 * N_ITEMS)
    z, c = t.q * t.h, t.item_offsets()
    users = t.p.clone()
    # the dense closed form of every user row, item side as it was before the sweep
    for u in range(N_USERS):
        idx, w = x[u].indices, torch.tensor(x[u].data)
        a = W0 * z.T @ z + (z[idx].T * w) @ z[idx] + ridge[u] * torch.eye(F)
        users[u] = torch.linalg.solve(a, (z[idx].T * w) @ (1 - c[idx]) - W0 * z.T @ c)
    torch.testing.assert_close(net.user_embedding.weight.detach(), users, rtol=1e-4, atol=1e-5)
    empty = network("gmf")
    als.als_sweep(empty, sp.csr_matrix((N_USERS, N_ITEMS), dtype=np.float32), **options)
    assert torch.isfinite(empty.user_embedding.weight).all()


@pytest.mark.parametrize("offset", [None, 2.5])
@pytest.mark.parametrize("model", ["mf", "gmf"])
def test_sweep_minimises_the_item_side_and_lowers_the_objective(model, offset):
    net, x = network(model), positives()
    options = {"weight_decay": WD, "unobserved_weight": W0, "penalty_offset": offset}
    objective = [als.ials_objective(net, x, **options)]
    naive = float(naive_objective(net, x, offset).detach()) / x.nnz
    np.testing.assert_allclose(objective[0], naive, rtol=1e-5)
    for _ in range(4):
        als.als_sweep(net, x, steps=F + 3, **options)
        objective.append(als.ials_objective(net, x, **options))
    assert all(b <= a + 1e-6 for a, b in itertools.pairwise(objective)), objective
    assert objective[-1] < 0.5 * objective[0]
    # the item side was solved last: the objective's gradient in the item rows (and an MF
    # item's bias, unpenalised) is zero there
    tables = [net.item_embedding.weight] + ([net.item_bias.weight] if model == "mf" else [])
    grads = torch.autograd.grad(naive_objective(net, x, offset), tables)
    for g in grads:
        assert float(g.abs().max()) < 1e-3, g


def _planted_split():
    return leave_one_out(planted_interactions(n_users=80, n_items=64, per_user=10, seed=1))


def _fit(data, validation=None, **kw) -> NeuralCF:
    params = {"model": "mf", "optimizer": "als", "n_factors": 8, "n_epochs": 10,
              "weight_decay": 1e-3, "random_state": 0, **kw}  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NeuralCF(**params).fit(data, validation=validation)


@pytest.mark.parametrize("model", ["mf", "gmf"])
def test_als_learns_planted_structure_under_full_ranking(model):
    split = _planted_split()
    est = _fit(split.train, model=model)
    assert est.optimizer_ == "als"
    losses = [row["loss"] for row in est.history_]
    assert len(losses) == 10 and losses[-1] < losses[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hr = est.evaluate(split.test, k=10, n_negatives=None)["hr@10"]
    # 8 clusters of 8 items: full-ranking chance is about 10/54 ~ 0.19
    assert hr > 0.8, hr


def test_als_validation_keeps_the_best_epoch_and_stops_early():
    split = _planted_split()
    est = _fit(split.train, n_epochs=30, early_stopping=True, patience=2, validation=split.test)
    assert len(est.history_) < 30
    assert "val_ndcg@10" in est.history_[0]
    best = max(range(len(est.history_)), key=lambda e: est.history_[e]["val_ndcg@10"])
    assert est.best_epoch_ == best


@pytest.mark.parametrize(
    "params",
    [
        {"tower_params": {"gmf": {"optimizer": "als"}}},
        {"tower_params": {"gmf": {"optimizer": "als", "penalty_offset": 3.0}}},
        {"penalty_offset": 3.0, "tower_params": {"gmf": {"optimizer": "als"}}},
    ],
)
def test_neumf_gmf_tower_by_als(params):
    data = planted_interactions(n_users=20, n_items=16, per_user=4, seed=5)
    est = NeuralCF(n_factors=4, hidden_layers=(8, 4), n_epochs=2, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(data)
    assert [row["stage"] for row in est.history_] == ["gmf"] * 2 + ["mlp"] * 2 + ["neumf"]
    assert est.optimizer_ != "als"  # the fine-tuning's


@pytest.mark.parametrize("offset", [None, 30.0])
def test_fold_in_of_an_als_model_reproduces_its_fixed_point(offset):
    split = _planted_split()
    est = _fit(split.train, n_epochs=40, weight_decay=1e-2, penalty_offset=offset)
    users = split.train["user"].unique()[:5]
    from implicit_ncf import foldin

    index = est.user_encoder_.get_indexer(users)
    positives = est.seen_[index]
    parts = foldin.network_parts(est.network_)
    options = est._fold_options()
    assert options["catalogue_penalty"] is True and options["penalty_offset"] == offset
    solved = foldin.fold_in(parts, positives, init="zeros", **options)
    trained = est.network_.user_embedding.weight.detach()[index]
    error = float((solved.vectors[0] - trained).abs().max())
    assert error < 1e-3, error
    # the Adam objective's penalty (weight_decay * n_u) gives other rows
    options["catalogue_penalty"] = False
    other = foldin.fold_in(parts, positives, init="zeros", **options)
    assert float((other.vectors[0] - trained).abs().max()) > 20 * error
    # and the other form of the ALS penalty gives other rows too
    options["catalogue_penalty"], options["penalty_offset"] = True, 1.0 if offset else 30.0
    other = foldin.fold_in(parts, positives, init="zeros", **options)
    assert float((other.vectors[0] - trained).abs().max()) > 20 * error


@pytest.mark.parametrize(
    "params,match",
    [
        ({"model": "mlp", "optimizer": "als"}, "bilinear logits"),
        ({"model": "neumf", "optimizer": "als"}, r"tower_params=\{'gmf'"),
        ({"model": "mf", "optimizer": "als", "loss": "bce"}, "loss='ials'"),
        ({"tower_params": {"mlp": {"optimizer": "als"}}}, "tower_params"),
        ({"model": "gmf", "penalty_offset": 5.0}, "no stage of this model uses optimizer='als'"),
        ({"penalty_offset": 5.0}, r"tower_params=\{'gmf': \{'optimizer': 'als'\}\}"),
        ({"model": "gmf", "optimizer": "als", "penalty_offset": -1.0}, "penalty_offset must be"),
        ({"model": "gmf", "optimizer": "als", "penalty_offset": "5"}, "got '5'"),
        ({"tower_params": {"mlp": {"penalty_offset": 5.0}}}, r"tower_params\['mlp'\]"),
    ],
)
def test_als_errors_name_the_fix(params, match):
    with pytest.raises(ValueError, match=match):
        NeuralCF(**params).fit(planted_interactions(n_users=8, n_items=16, per_user=3))


def test_grid_search_tunes_the_als_penalty():
    from implicit_ncf.model_selection import grid_search

    data = _planted_split().train
    base = NeuralCF(model="gmf", optimizer="als", n_factors=8, n_epochs=4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = grid_search(base, {"weight_decay": [1e-3, 1.0]}, data)
    assert len(search.results) == 2
    assert search.best_estimator.optimizer_ == "als"
    # a penalty of 1 shrinks every row to about zero: the search must not pick it
    assert search.best_params["weight_decay"] == 1e-3
