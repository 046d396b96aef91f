"""The training losses against naive references, their batches, and learning on planted data."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from conftest import planted_interactions

from implicit_ncf import NeuralCF
from implicit_ncf.batches import _PositiveBatches
from implicit_ncf.data import interactions_to_csr
from implicit_ncf.losses import bce_loss, bpr_loss, softmax_loss
from implicit_ncf.networks import build_network
from implicit_ncf.sampling import NegativeSampler
from implicit_ncf.splits import leave_one_out

N_USERS, N_ITEMS = 7, 11
MODELS = ["mf", "gmf", "mlp", "neumf"]


def network(model: str) -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_network(model, N_USERS, N_ITEMS, n_factors=4, hidden_layers=(6, 4))
    for p in net.parameters():  # away from the near-zero initialisation
        torch.nn.init.normal_(p, std=0.5)
    return net


@pytest.mark.parametrize("model", MODELS)
def test_score_candidates_equals_forward_on_every_pair(model):
    net = network(model)
    users, items = torch.tensor([0, 3, 6]), torch.tensor([1, 1, 10, 4])
    fast = net.score_candidates(users, items)
    slow = torch.stack([net(users, torch.full_like(users, int(i))) for i in items], dim=1)
    torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("model", MODELS)
def test_bce_loss_matches_the_formula(model):
    net = network(model)
    users, items = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5])
    labels = torch.tensor([1.0, 0.0, 1.0])
    s = net(users, items)
    p = torch.sigmoid(s)
    naive = -(labels * p.log() + (1 - labels) * (1 - p).log()).mean()
    torch.testing.assert_close(bce_loss(net, users, items, labels), naive, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model", MODELS)
def test_bpr_loss_matches_a_loop_over_pairs(model):
    net = network(model)
    users, items = torch.tensor([0, 5]), torch.tensor([2, 7])
    negatives = torch.tensor([[1, 3, 9], [0, 4, 10]])
    terms = []
    for row, (u, i) in enumerate(zip(users.tolist(), items.tolist(), strict=True)):
        for j in negatives[row].tolist():
            with torch.no_grad():
                diff = net(torch.tensor([u]), torch.tensor([i])) - net(
                    torch.tensor([u]), torch.tensor([j])
                )
            terms.append(-math.log(1 / (1 + math.exp(-diff.item()))))
    got = bpr_loss(net, users, items, negatives).item()
    assert got == pytest.approx(np.mean(terms), rel=1e-5)


@pytest.mark.parametrize("model", MODELS)
def test_sampled_softmax_matches_a_loop_and_masks_the_positive(model):
    net = network(model)
    users, items = torch.tensor([0, 2, 4]), torch.tensor([3, 8, 1])
    negatives = torch.tensor([1, 3, 6, 10])  # item 3 is user 0's positive, item 1 user 4's
    terms = []
    for u, i in zip(users.tolist(), items.tolist(), strict=True):
        candidates = [i] + [j for j in negatives.tolist() if j != i]
        s = net(torch.tensor([u] * len(candidates)), torch.tensor(candidates)).double()
        terms.append((torch.logsumexp(s, 0) - s[0]).item())
    got = softmax_loss(net, users, items, negatives).item()
    assert got == pytest.approx(np.mean(terms), rel=1e-5)


@pytest.mark.parametrize("model", MODELS)
def test_full_softmax_is_the_cross_entropy_over_the_catalogue(model):
    net = network(model).eval()
    users, items = torch.tensor([1, 6]), torch.tensor([0, 9])
    terms = []
    for u, i in zip(users.tolist(), items.tolist(), strict=True):
        s = net(torch.full((N_ITEMS,), u), torch.arange(N_ITEMS)).double()
        terms.append((torch.logsumexp(s, 0) - s[i]).item())
    got = softmax_loss(net, users, items, torch.empty(0, dtype=torch.long)).item()
    assert got == pytest.approx(np.mean(terms), rel=1e-5)


def _batches(n_shared: int, **kw) -> _PositiveBatches:
    users = np.repeat(np.arange(6), 3)
    items = np.concatenate([np.arange(u, u + 3) % 9 for u in range(6)])
    seen = interactions_to_csr(users, items, 6, 9)
    return _PositiveBatches(
        users,
        items,
        NegativeSampler(seen),
        n_negatives=2,
        batch_size=4,
        seed=3,
        n_items=9,
        n_shared=n_shared,
        **kw,
    )


def test_positive_batches_pairwise_negatives_are_unseen_and_seeded():
    data = _batches(0, steps_per_batch=2)
    got = list(data)
    assert len(got) == len(data) == math.ceil(18 / 8)
    pairs = set(zip(data.user_idx.tolist(), data.item_idx.tolist(), strict=True))
    users = torch.cat([b[0] for b in got])
    items = torch.cat([b[1] for b in got])
    assert sorted(zip(users.tolist(), items.tolist(), strict=True)) == sorted(pairs)
    for u, _, negatives in got:
        assert negatives.shape == (len(u), 2)
        for user, row in zip(u.tolist(), negatives.tolist(), strict=True):
            assert not {(user, j) for j in row} & pairs
    again = _batches(0, steps_per_batch=2)
    for a, b in zip(got, list(again), strict=True):
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x, y)


def test_positive_batches_shared_negatives_one_row_per_step():
    data = _batches(5, steps_per_batch=2)
    for users, _, negatives in data:
        steps = math.ceil(len(users) / 4)
        assert negatives.shape == (steps, 5)
        assert negatives.min() >= 0 and negatives.max() < 9
    full = next(iter(_batches(-1, steps_per_batch=2)))[2]
    assert full.shape == (2, 0)


@pytest.mark.parametrize("loss", ["bpr", "softmax"])
@pytest.mark.parametrize("model", ["mf", "neumf"])
def test_ranking_losses_learn_planted_structure(loss, model):
    split = leave_one_out(planted_interactions(n_users=80, n_items=64, per_user=10, seed=1))
    params = {
        "loss": loss,
        "model": model,
        "n_factors": 8,
        "hidden_layers": (16, 8),
        "batch_size": 64,
        "n_epochs": 6,
        "n_sampled": 16,
        "random_state": 0,
        "accelerator": "cpu",
        "learning_rate": 1e-2,
        "weight_decay": 0.0,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = NeuralCF(**params).fit(split.train)
        hr = est.evaluate(split.test, k=10, n_negatives=20)["hr@10"]
    # chance is 10/21 ~ 0.48; the planted clusters put the held-out item in the top 10
    assert hr > 0.85, hr


def test_full_softmax_on_a_small_catalogue_learns_too():
    split = leave_one_out(planted_interactions(n_users=80, n_items=64, per_user=10, seed=1))
    est = NeuralCF(
        model="gmf",
        loss="softmax",
        n_sampled=512,
        n_factors=8,
        batch_size=64,
        n_epochs=6,
        random_state=0,
        accelerator="cpu",
        learning_rate=1e-2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(split.train)
        assert est.evaluate(split.test, k=10, n_negatives=20)["hr@10"] > 0.85


def test_bad_loss_names_the_choices():
    choices = r"loss must be one of \['auto', 'bce', 'bpr', 'softmax', 'ials'\]"
    with pytest.raises(ValueError, match=choices):
        NeuralCF(loss="hinge").fit(planted_interactions(n_users=4, n_items=8, per_user=2))
    with pytest.raises(ValueError, match="n_sampled must be a positive integer"):
        NeuralCF(loss="softmax", n_sampled=0).fit(
            planted_interactions(n_users=4, n_items=8, per_user=2)
        )


# confidence weights (NeuralCF(weight_col=...)) ------------------------------------------------


def test_weighted_losses_match_their_formulas():
    net = network("gmf")
    users, items = torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5])
    w = torch.tensor([2.0, 0.5, 1.0])
    labels = torch.tensor([2.0, 0.0, 1.0])  # a weighted bce batch: positives carry their weight
    s = net(users, items)
    p = torch.sigmoid(s)
    naive = -(torch.tensor([2.0, 1.0, 1.0]) * torch.where(labels > 0, p.log(), (1 - p).log()))
    torch.testing.assert_close(bce_loss(net, users, items, labels, labels), naive.mean())
    negatives = torch.tensor([[1, 2], [0, 6], [7, 8]])
    per_row = torch.stack(
        [bpr_loss(net, users[r : r + 1], items[r : r + 1], negatives[r : r + 1]) for r in range(3)]
    )
    torch.testing.assert_close(bpr_loss(net, users, items, negatives, w), (per_row * w).mean())
    shared = torch.tensor([0, 9, 10])
    per_row = torch.stack(
        [softmax_loss(net, users[r : r + 1], items[r : r + 1], shared) for r in range(3)]
    )
    torch.testing.assert_close(softmax_loss(net, users, items, shared, w), (per_row * w).mean())


def test_pair_weights_sum_repeats_then_log1p_scaled_to_mean_one():
    import pandas as pd

    from implicit_ncf.data import IdEncoder, pair_weights

    frame = pd.DataFrame({"user": [1, 1, 2, 2], "item": [7, 7, 7, 8], "plays": [1, 2, 3, 9]})
    users, items = IdEncoder().fit([1, 2]), IdEncoder().fit([7, 8])
    got = pair_weights(
        frame, users, items, np.array([0, 1, 1]), np.array([0, 0, 1]), weight_col="plays"
    )
    raw = np.log1p([3.0, 3.0, 9.0])
    np.testing.assert_allclose(got, raw / raw.mean())
    for bad, message in [
        ({"plays": [1, 0, 3, 9]}, "positive, finite"),
        ({"plays": ["a", "b", "c", "d"]}, "numeric strengths"),
    ]:
        with pytest.raises(ValueError, match=message):
            pair_weights(
                frame.assign(**bad), users, items, np.array([0]), np.array([0]), weight_col="plays"
            )
    with pytest.raises(ValueError, match="is not a column"):
        pair_weights(frame, users, items, np.array([0]), np.array([0]), weight_col="dwell")


@pytest.mark.parametrize("loss", ["bce", "softmax"])
def test_constant_weights_give_the_unweighted_model(loss):
    data = planted_interactions(n_users=30, n_items=24, per_user=6, seed=4)
    params = {
        "model": "gmf",
        "loss": loss,
        "n_factors": 4,
        "batch_size": 32,
        "n_epochs": 2,
        "n_sampled": 8,
        "random_state": 0,
        "accelerator": "cpu",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = NeuralCF(**params).fit(data)
        constant = NeuralCF(weight_col="w", **params).fit(data.assign(w=3.0))
        weighted = NeuralCF(weight_col="rating", **params).fit(data)
        again = NeuralCF(weight_col="rating", **params).fit(data)
    for a, b in zip(plain.network_.parameters(), constant.network_.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    for a, b in zip(weighted.network_.parameters(), again.network_.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    differs = any(
        not torch.allclose(a, b)
        for a, b in zip(plain.network_.parameters(), weighted.network_.parameters(), strict=True)
    )
    assert differs


def test_weight_col_errors_name_the_column():
    data = planted_interactions(n_users=6, n_items=8, per_user=2)
    with pytest.raises(ValueError, match="weight_col='plays' is not a column"):
        NeuralCF(weight_col="plays", n_epochs=1).fit(data)
    with pytest.raises(TypeError, match="weight_col must be a column name"):
        NeuralCF(weight_col=3, n_epochs=1).fit(data)


def test_tower_params_train_each_stage_with_its_own_parameters(monkeypatch):
    from implicit_ncf import training

    seen: list[tuple[str, float, int]] = []
    original = training.NCFModule.__init__

    def recording(self, network, **kwargs):
        seen.append((kwargs["loss"], kwargs["learning_rate"], type(network).__name__))
        original(self, network, **kwargs)

    monkeypatch.setattr(training.NCFModule, "__init__", recording)
    data = planted_interactions(n_users=20, n_items=16, per_user=4, seed=5)
    towers = {"gmf": {"loss": "softmax", "learning_rate": 0.01}, "neumf": {"loss": "bpr"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = NeuralCF(
            n_factors=4,
            hidden_layers=(8, 4),
            n_epochs=1,
            n_sampled=4,
            tower_params=towers,
            random_state=0,
            accelerator="cpu",
        ).fit(data)
    assert seen == [("softmax", 0.01, "GMF"), ("bce", 2e-3, "MLP"), ("bpr", 5e-4, "NeuMF")]
    assert [row["stage"] for row in est.history_] == ["gmf", "mlp", "neumf"]
    assert est.get_params()["tower_params"] == towers


@pytest.mark.parametrize(
    "towers,message",
    [
        ({"deep": {}}, "keyed by 'gmf', 'mlp' and/or 'neumf'"),
        ({"gmf": {"model": "mf"}}, r"tower_params\['gmf'\] must be a dict over"),
        ({"neumf": {"n_epochs": 3}}, r"tower_params\['neumf'\] must be a dict over"),
        ({"mlp": {"loss": "hinge"}}, r"tower_params\['mlp'\]: loss must be one of"),
        ([("gmf", {})], "must be 'auto', None or a dict"),
    ],
)
def test_bad_tower_params_name_the_stage(towers, message):
    with pytest.raises(ValueError, match=message):
        NeuralCF(tower_params=towers).fit(planted_interactions(n_users=4, n_items=8, per_user=2))
