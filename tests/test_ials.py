"""``loss="ials"``: the Gramian sum against a naive loop, its batches, the fold-in's exact
solve, learning on planted data, and the errors for what it cannot do."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import planted_interactions

from implicit_ncf import NeuralCF, foldin
from implicit_ncf.batches import _PositiveBatches
from implicit_ncf.data import interactions_to_csr
from implicit_ncf.losses import ials_loss
from implicit_ncf.networks import GMF, build_network
from implicit_ncf.sampling import NegativeSampler
from implicit_ncf.splits import leave_one_out

N_USERS, N_ITEMS = 7, 11


def network(model: str, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_network(model, N_USERS, N_ITEMS, n_factors=4, hidden_layers=(6, 4), **kw)
    for p in net.parameters():  # away from the near-zero initialisation
        torch.nn.init.normal_(p, std=0.5)
    return net


@pytest.mark.parametrize(
    "model,kw", [("mf", {}), ("gmf", {"gmf_output": "learned"}), ("gmf", {"gmf_output": "fixed"})]
)
def test_factors_reproduce_score_all(model, kw):
    net = network(model, **kw)
    if isinstance(net, GMF) and kw["gmf_output"] == "fixed":
        torch.nn.init.ones_(net.output.weight)
    users = torch.tensor([0, 2, 6])
    x, y, c = net.factors(users)
    torch.testing.assert_close(x @ y.T + c, net.score_all(users), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model", ["mf", "gmf"])
def test_ials_loss_matches_a_loop_over_the_catalogue(model):
    net = network(model, gmf_output="learned")  # a learned h != 1 exercises the fold into x
    users, items = torch.tensor([0, 3, 3, 6]), torch.tensor([2, 5, 9, 0])
    unobserved = torch.tensor([0.5, 0.25, 0.25, 2.0])
    weights = torch.tensor([1.0, 3.0, 0.5, 2.0])
    terms, weighted = [], []
    with torch.no_grad():
        for u, i, a, w in zip(users.tolist(), items.tolist(), unobserved, weights, strict=True):
            every = net(torch.full((N_ITEMS,), u), torch.arange(N_ITEMS)).double()
            err = (every[i] - 1) ** 2
            terms.append(float(err + a * every.pow(2).sum()))
            weighted.append(float(w * err + a * every.pow(2).sum()))
    got = float(ials_loss(net, users, items, unobserved).detach())
    assert got == pytest.approx(np.mean(terms), rel=1e-5)
    got = float(ials_loss(net, users, items, unobserved, weights).detach())
    assert got == pytest.approx(np.mean(weighted), rel=1e-5)


def test_ials_loss_gradient_matches_the_naive_sum():
    net = network("mf")
    users, items, unobserved = torch.tensor([1, 4]), torch.tensor([3, 7]), torch.tensor([0.3, 1.0])
    ials_loss(net, users, items, unobserved).backward()
    fast = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    naive = torch.zeros(())
    for u, i, a in zip(users.tolist(), items.tolist(), unobserved, strict=True):
        every = net(torch.full((N_ITEMS,), u), torch.arange(N_ITEMS))
        naive = naive + (every[i] - 1) ** 2 + a * every.pow(2).sum()
    (naive / len(users)).backward()
    for a, b in zip(fast, (p.grad for p in net.parameters()), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_ials_batches_carry_each_users_share_of_the_catalogue():
    users = np.array([0, 0, 0, 1, 2, 2])
    items = np.array([0, 1, 2, 3, 4, 5])
    seen = interactions_to_csr(users, items, 3, 6)
    unobserved = 0.6 / np.bincount(users)
    data = _PositiveBatches(
        users,
        items,
        NegativeSampler(seen),
        n_negatives=2,
        batch_size=4,
        seed=1,
        n_items=6,
        unobserved=unobserved,
    )
    got_u, got_i, got_w = (torch.cat(t) for t in zip(*[b[:3] for b in data], strict=True))
    assert sorted(zip(got_u.tolist(), got_i.tolist(), strict=True)) == sorted(
        zip(users.tolist(), items.tolist(), strict=True)
    )
    assert got_w.dtype == torch.float32
    np.testing.assert_allclose(got_w.numpy(), unobserved[got_u.numpy()], rtol=1e-6)
    # an epoch gives every user's catalogue term a total weight of unobserved_weight
    totals = np.bincount(got_u.numpy(), weights=got_w.numpy())
    np.testing.assert_allclose(totals, 0.6, rtol=1e-6)


@pytest.mark.parametrize("model,side", [("mf", "user"), ("mf", "item"), ("gmf", "user")])
def test_solve_ials_is_the_minimiser_of_the_rows_objective(model, side):
    import scipy.sparse as sp

    net = network(model, gmf_output="learned")
    parts = foldin.network_parts(net)
    n_other = N_ITEMS if side == "user" else N_USERS
    positives = sp.csr_matrix(
        (np.ones(5), ([0, 0, 0, 2, 2], [1, 4, 6, 0, 3])), shape=(3, n_other)
    )  # row 1 has no interactions: it keeps its start
    wd, alpha = 0.05, 0.7
    folded = foldin.solve_ials(
        parts, positives, side=side, init="zeros", weight_decay=wd, unobserved_weight=alpha
    )
    tower = parts.towers[0]
    z = (tower.table("item" if side == "user" else "user") * tower.out).double()
    with_bias = folded.bias is not None
    assert with_bias == (model == "mf" and side == "item")
    for r, cols in [(0, [1, 4, 6]), (2, [0, 3])]:
        x = folded.vectors[0][r].double().clone().requires_grad_(True)
        own = folded.bias[r].double().clone().requires_grad_(True) if with_bias else None

        def objective(x, own, cols=cols):
            s = z @ x + parts.bias.double()
            if side == "user" and parts.item_bias is not None:
                s = s + parts.item_bias.double()
            if own is not None:
                s = s + own
            return ((s[cols] - 1) ** 2).sum() + alpha * s.pow(2).sum() + wd * len(cols) * x @ x

        grads = torch.autograd.grad(objective(x, own), [x] + ([own] if with_bias else []))
        for g in grads:  # the gradient vanishes at the minimiser
            assert float(g.abs().max()) < 1e-4, g
    assert float(folded.vectors[0][1].abs().max()) == 0.0  # no interactions: the start


def test_solve_ials_of_neumf_minimises_over_the_gmf_row_given_the_mlp_row(monkeypatch):
    import scipy.sparse as sp

    net = network("neumf")
    parts = foldin.network_parts(net)
    positives = sp.csr_matrix((np.ones(4), ([0, 0, 1, 1], [1, 4, 0, 3])), shape=(2, N_ITEMS))
    wd, alpha = 0.05, 0.7
    mean = foldin.start_rows(net, "user", N_USERS, "mean")
    start = foldin.Folded(tuple(v.expand(2, -1).clone() for v in mean.vectors), None)
    folded = foldin.solve_ials(
        parts, positives, init=start, weight_decay=wd, unobserved_weight=alpha
    )
    torch.testing.assert_close(folded.vectors[1], start.vectors[1])  # the MLP rows kept
    assert not torch.allclose(folded.vectors[0], start.vectors[0])
    gmf = parts.towers[0]
    z = (gmf.items * gmf.out).double()
    every = foldin.score_users(parts, folded.vectors).double()  # both towers' logits
    for r, cols in [(0, [1, 4]), (1, [0, 3])]:
        solved = folded.vectors[0][r].double()
        rest = every[r] - z @ solved  # the MLP tower's part and the bias
        x = solved.clone().requires_grad_(True)
        s = z @ x + rest
        objective = ((s[cols] - 1) ** 2).sum() + alpha * s.pow(2).sum() + wd * len(cols) * x @ x
        (grad,) = torch.autograd.grad(objective, [x])
        assert float(grad.abs().max()) < 1e-4, grad
    # chunked one row at a time (the offsets' memory bound): the same rows
    monkeypatch.setattr(foldin, "_OFFSET_ELEMENTS", N_ITEMS)
    again = foldin.solve_ials(
        parts, positives, init=start, weight_decay=wd, unobserved_weight=alpha
    )
    torch.testing.assert_close(again.vectors[0], folded.vectors[0])


def _planted_split():
    return leave_one_out(planted_interactions(n_users=80, n_items=64, per_user=10, seed=1))


def _fit_ials(model: str, data: pd.DataFrame, **kw) -> NeuralCF:
    params = {
        "loss": "ials",
        "model": model,
        "n_factors": 8,
        "batch_size": 64,
        "n_epochs": 12,
        "random_state": 0,
        "accelerator": "cpu",
        "learning_rate": 1e-2,
        "weight_decay": 0.0,
        "unobserved_weight": 1.0,
        "tower_params": None,  # every stage by Adam: the ALS tower is tests/test_als.py's
        **kw,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NeuralCF(**params).fit(data)


@pytest.mark.parametrize("model", ["mf", "gmf", "neumf"])
def test_ials_learns_planted_structure_under_full_ranking(model):
    split = _planted_split()
    est = _fit_ials(model, split.train)
    assert est.optimizer_ == "adam"  # the Gramian gives every item row a gradient
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hr = est.evaluate(split.test, k=10, n_negatives=None)["hr@10"]
    # 8 clusters of 8 items: full-ranking chance is about 10/54 ~ 0.19
    assert hr > 0.8, hr


def test_ials_tower_of_neumf():
    data = planted_interactions(n_users=20, n_items=16, per_user=4, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = NeuralCF(
            n_factors=4,
            hidden_layers=(8, 4),
            n_epochs=1,
            tower_params={"gmf": {"loss": "ials", "unobserved_weight": 0.5}},
            random_state=0,
            accelerator="cpu",
        ).fit(data)
    assert [row["stage"] for row in est.history_] == ["gmf", "mlp", "neumf"]


def test_bilinear_part_of_neumf_is_its_gmf_tower():
    net = network("neumf")
    users = torch.tensor([0, 2, 6])
    x, y, c = net.bilinear_part(users)
    net.output.weight.data[0, net.gmf.n_factors :] = 0.0  # the MLP tower's part silenced
    torch.testing.assert_close(x @ y.T + c, net.score_all(users), rtol=1e-5, atol=1e-5)


def _naive_ials(net, users, items, unobserved):
    terms = []
    with torch.no_grad():
        for u, i, a in zip(users.tolist(), items.tolist(), unobserved, strict=True):
            every = net(torch.full((N_ITEMS,), u), torch.arange(N_ITEMS)).double()
            terms.append(float((every[i] - 1) ** 2 + a * every.pow(2).sum()))
    return np.mean(terms)


@pytest.mark.parametrize("model", ["neumf", "mlp"])
def test_ials_loss_of_networks_without_factors_is_unbiased(model):
    # NeuMF: its GMF part summed exactly, the MLP's part estimated from sampled items; MLP:
    # the whole catalogue sum estimated. The mean over many draws is the exact loss.
    net = network(model)
    users, items = torch.tensor([0, 3, 3, 6]), torch.tensor([2, 5, 9, 0])
    unobserved = torch.tensor([0.5, 0.25, 0.25, 2.0])
    exact = _naive_ials(net, users, items, unobserved)
    torch.manual_seed(0)
    with torch.no_grad():
        draws = [float(ials_loss(net, users, items, unobserved, n_sampled=4)) for _ in range(4000)]
    assert np.mean(draws) == pytest.approx(exact, rel=0.01)
    assert np.std(draws) > 0  # sampled: a single draw is an estimate


def test_ials_loss_of_neumf_is_exact_without_the_mlp_part():
    # the residual start of the iALS fine-tuning: the sampled part vanishes
    net = network("neumf")
    net.output.weight.data[0, net.gmf.n_factors :] = 0.0
    users, items = torch.tensor([0, 3, 6]), torch.tensor([2, 9, 0])
    unobserved = torch.tensor([0.5, 0.25, 2.0])
    got = float(ials_loss(net, users, items, unobserved, n_sampled=2).detach())
    assert got == pytest.approx(_naive_ials(net, users, items, unobserved), rel=1e-5)


def test_ials_loss_gradient_of_neumf_is_repeatable_on_cpu_threads():
    # the sampled items repeat across a batch; their gradients must add up in a fixed order,
    # or two fits with the same random_state drift apart (advanced indexing did not)
    torch.manual_seed(0)
    net = build_network("neumf", 50, 40, n_factors=64, hidden_layers=(32, 16))
    users, items = torch.randint(0, 50, (4096,)), torch.randint(0, 40, (4096,))
    unobserved = torch.full((4096,), 0.1)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        grads = []
        for _ in range(4):
            net.zero_grad()
            torch.manual_seed(1)
            ials_loss(net, users, items, unobserved, n_sampled=8).backward()
            grads.append(net.gmf.item_embedding.weight.grad.clone())
    finally:
        torch.set_num_threads(threads)
    for grad in grads[1:]:
        assert torch.equal(grad, grads[0])


def test_neumf_ials_fine_tuning_starts_from_the_gmf_tower():
    from implicit_ncf.networks import MLP, NeuMF

    torch.manual_seed(0)
    gmf, mlp = GMF(N_USERS, N_ITEMS, 4), MLP(N_USERS, N_ITEMS, (6, 4))
    for p in [*gmf.parameters(), *mlp.parameters()]:
        torch.nn.init.normal_(p, std=0.5)
    net = NeuMF(N_USERS, N_ITEMS, 4, (6, 4))
    net.load_pretrained(gmf, mlp, residual=True)
    users = torch.arange(N_USERS)
    torch.testing.assert_close(net.score_all(users), gmf.score_all(users))
    net.load_pretrained(gmf, mlp)  # the NCF paper's blend
    blend = 0.5 * gmf.score_all(users) + 0.5 * mlp.score_all(users)
    torch.testing.assert_close(net.score_all(users), blend, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "params,message",
    [
        ({"model": "mf", "loss": "ials", "unobserved_weight": 0}, "unobserved_weight must be"),
        ({"model": "mf", "loss": "ials", "unobserved_weight": -1.0}, "unobserved_weight must be"),
        ({"model": "mf", "loss": "ials", "optimizer": "lazy_adam"}, "optimizer='adam' or 'auto'"),
        ({"model": "neumf", "loss": "ials", "optimizer": "lazy_adam"}, "optimizer='adam' or"),
    ],
)
def test_ials_errors_name_the_parameter_and_the_fix(params, message):
    data = planted_interactions(n_users=6, n_items=8, per_user=2)
    with pytest.raises(ValueError, match=message):
        NeuralCF(n_epochs=1, accelerator="cpu", **params).fit(data)


@pytest.mark.parametrize("model", ["mf", "neumf"])
def test_ials_fold_in_tracks_a_refit_and_partial_fit(model):
    split = _planted_split()
    train = split.train
    est = _fit_ials(model, train)
    user = train["user"].iloc[0]
    history = train[train["user"] == user]
    new_user, other_user = "someone new", "another"
    clicks = history.assign(user=new_user)
    known = est.recommend(user, k=10)["item"].tolist()
    folded = est.recommend(new_user, k=10, interactions=clicks)["item"].tolist()
    # the same history folded in as a new user lands on nearly the same list
    assert len(set(known) & set(folded)) >= 7, (known, folded)
    assert not set(folded) & set(history["item"])
    # and nearly the same scores of the whole catalogue (0.97 here; 0.89 with the fold-in's
    # catalogue term dropped)
    every = {"k": 64, "exclude_seen": False}
    refit = est.recommend(user, **every).set_index("item")["score"]
    again = est.recommend(new_user, interactions=clicks, **every).set_index("item")["score"]
    assert np.corrcoef(refit, again.loc[refit.index])[0, 1] > 0.95
    est.partial_fit(clicks)
    assert new_user in set(est.user_encoder_.classes_.tolist())
    assert len(set(known) & set(est.recommend(new_user, k=10)["item"].tolist())) >= 7
    with pytest.raises(ValueError, match="partial_fit_epochs=0"):
        est.set_params(partial_fit_epochs=1).partial_fit(clicks.assign(user=other_user))
    assert other_user not in set(est.user_encoder_.classes_.tolist())  # nothing changed


def test_mlp_trained_with_ials_fits_and_its_fold_in_names_the_fix():
    split = _planted_split()
    est = _fit_ials("mlp", split.train, n_epochs=2, hidden_layers=(8, 4))
    user = split.train["user"].iloc[0]
    assert len(est.recommend(user, k=5)) == 5
    clicks = split.train[split.train["user"] == user].assign(user="someone new")
    with pytest.raises(ValueError, match="model='mlp' network trained with loss='ials'"):
        est.recommend("someone new", k=5, interactions=clicks)
