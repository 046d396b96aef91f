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


def test_sweep_steps_default_to_cg_steps_read_at_call_time(monkeypatch):
    x = positives()
    runs = {}
    for name, steps, constant in [("one", 1, als.CG_STEPS), ("patched", None, 1),
                                  ("default", None, als.CG_STEPS)]:  # fmt: skip
        monkeypatch.setattr(als, "CG_STEPS", constant)
        net = network("gmf")
        als.als_sweep(net, x, weight_decay=WD, unobserved_weight=W0, steps=steps)
        runs[name] = net.user_embedding.weight.detach().clone()
    assert torch.equal(runs["one"], runs["patched"])
    assert not torch.equal(runs["one"], runs["default"])


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
        (
            {"penalty_offset": 5.0, "tower_params": None},
            r"tower_params=\{'gmf': \{'optimizer': 'als'\}\}",
        ),
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


def _naive_full_ranking(net, seen, users, targets):
    """HR@10 / NDCG@10 of each target among the items outside the user's row, by a loop."""
    hits, gains = [], []
    dense = seen.toarray() > 0
    for u, target in zip(users, targets, strict=True):
        with torch.no_grad():
            s = net(torch.full((seen.shape[1],), int(u)), torch.arange(seen.shape[1]))
        rank = sum(
            1 for j in range(seen.shape[1]) if j != target and not dense[u, j] and s[j] >= s[target]
        )
        hits.append(float(rank < 10))
        gains.append(float(rank < 10) / np.log2(rank + 2.0))
    return np.mean(hits), np.mean(gains)


def test_full_ranking_validation_matches_a_loop():
    net = network("gmf")
    x = positives()
    users = np.array([0, 1, 3, 5])
    targets = np.array([2, 9, 4, 0])
    x = x.tolil()
    for u, t in zip(users, targets, strict=True):
        x[u, t] = 0
    x = x.tocsr()
    x.eliminate_zeros()
    got = als._full_ranking(net, x, users, targets)
    hr, ndcg = _naive_full_ranking(net, x, users, targets)
    assert got["val_hr@10"] == pytest.approx(hr)
    assert got["val_ndcg@10"] == pytest.approx(ndcg)


def test_choose_weight_decay_scores_each_candidate_and_leaves_the_network():
    split = _planted_split()
    est = _fit(split.train, n_epochs=1)
    net = est.network_
    before = {k: v.clone() for k, v in net.state_dict().items()}
    chosen, rows = als.choose_weight_decay(
        net, est.seen_, [1e-3, 30.0], n_epochs=4, unobserved_weight=1.0, random_state=0
    )
    assert [r["weight_decay"] for r in rows] == [1e-3, 30.0]
    assert all(0 <= r["best_epoch"] < 4 and 0 <= r["val_ndcg@10"] <= 1 for r in rows)
    # a ridge of 30 * (10 + 64) per row drowns 10 positives: the search must not pick it
    assert chosen == 1e-3 and rows[0]["val_ndcg@10"] > rows[1]["val_ndcg@10"]
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_weight_decay_candidates_are_chosen_refitted_and_saved(tmp_path):
    split = _planted_split()
    # MF: its unpenalised item offsets make the ridge of 30 fail on these data (the test
    # above); the GMF's ranking survives a heavy ridge here, level with 1e-3 within 0.01
    est = _fit(split.train, model="mf", weight_decay=[30.0, 1e-3])
    (search,) = est.penalty_search_
    assert search["stage"] == "mf" and search["chosen"] == 1e-3
    best = next(r for r in search["candidates"] if r["weight_decay"] == 1e-3)
    assert len(est.history_) == best["best_epoch"] + 1  # refitted for the best's sweeps
    assert est._fold_options()["weight_decay"] == 1e-3  # the fold-in's penalty: the chosen one
    est.save(tmp_path / "m.pt")
    loaded = NeuralCF.load(tmp_path / "m.pt")
    assert loaded.penalty_search_ == est.penalty_search_
    assert loaded._fold_options()["weight_decay"] == 1e-3


def test_default_neumf_solves_its_gmf_tower_by_als_with_a_chosen_penalty():
    data = planted_interactions(n_users=40, n_items=32, per_user=6, seed=3)
    kw = {"n_factors": 4, "hidden_layers": (8, 4), "n_epochs": 2, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        default = NeuralCF(**kw).fit(data)
        plain = NeuralCF(tower_params=None, **kw).fit(data)
        bce = NeuralCF(loss="bce", **kw).fit(data)
    assert NeuralCF().tower_params == "auto"
    (search,) = default.penalty_search_
    assert search["stage"] == "gmf"
    assert [r["weight_decay"] for r in search["candidates"]] == [0.015, 0.03, 0.06, 0.1]
    assert plain.penalty_search_ is None and bce.penalty_search_ is None
    # the ALS tower's rows hold no learning-rate steps: its history differs from Adam's
    assert [r["stage"] for r in default.history_][-1] == "neumf"
    assert default.history_[0]["loss"] != plain.history_[0]["loss"]


@pytest.mark.parametrize(
    "params,match",
    [
        ({"model": "gmf", "weight_decay": [1e-3, 1e-2]}, "is for optimizer='als' stages"),
        ({"model": "gmf", "optimizer": "als", "weight_decay": []}, "weight_decay must be"),
        ({"model": "gmf", "optimizer": "als", "weight_decay": [1e-3, -1]}, "weight_decay must"),
        ({"tower_params": "als"}, "tower_params must be 'auto', None or a dict"),
    ],
)
def test_weight_decay_candidate_errors_name_the_fix(params, match):
    with pytest.raises(ValueError, match=match):
        NeuralCF(**params).fit(planted_interactions(n_users=8, n_items=16, per_user=3))


def test_default_neumf_fold_in_tracks_its_trained_user():
    """The default NeuMF (GMF tower by ALS, fine-tuned by Adam on the iALS loss) folds a
    known user's history in as a new user close to the trained user's scores."""
    split = _planted_split()
    train = split.train
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = NeuralCF(
            n_factors=8, hidden_layers=(8, 4), batch_size=64, n_epochs=12, random_state=0,
            learning_rate=1e-2, weight_decay=0.0,
        ).fit(train)  # fmt: skip
    assert est.penalty_search_ is not None
    user = train["user"].iloc[0]
    clicks = train[train["user"] == user].assign(user="someone new")
    every = {"k": 64, "exclude_seen": False}
    trained = est.recommend(user, **every).set_index("item")["score"]
    folded = est.recommend("someone new", interactions=clicks, **every).set_index("item")["score"]
    # 0.945 here (0.95+ for the all-Adam NeuMF of tests/test_ials.py)
    assert np.corrcoef(trained, folded.loc[trained.index])[0, 1] > 0.9
