"""NeuralCF(finetune_mix=m): the fine-tuned NeuMF's weights interpolated with its start."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import planted_interactions

import implicit_ncf.networks as networks
from implicit_ncf import NeuralCF

FAST = {"n_epochs": 2, "batch_size": 256, "n_factors": 8, "hidden_layers": (16, 8)}


@pytest.fixture(scope="module")
def data():
    return planted_interactions(n_users=60, n_items=40, per_user=8)


def _fit_capturing_start(monkeypatch, data, **params):
    """Fit a NeuMF and return (estimator, the state the fine-tuning started from)."""
    starts = []
    original = networks.NeuMF.load_pretrained

    def load_pretrained(self, gmf, mlp, alpha=0.5, *, residual=False):
        original(self, gmf, mlp, alpha, residual=residual)
        starts.append(copy.deepcopy(self.state_dict()))

    monkeypatch.setattr(networks.NeuMF, "load_pretrained", load_pretrained)
    est = NeuralCF(model="neumf", random_state=0, **FAST, **params).fit(data)
    monkeypatch.undo()
    assert len(starts) == 1
    return est, starts[0]


@pytest.mark.parametrize("loss", ["auto", "bce"])
def test_weights_are_the_interpolation_of_finetuned_and_start(monkeypatch, data, loss):
    tuned, start = _fit_capturing_start(monkeypatch, data, loss=loss)
    mixed, start_again = _fit_capturing_start(monkeypatch, data, loss=loss, finetune_mix=0.3)
    tuned_state, mixed_state = tuned.network_.state_dict(), mixed.network_.state_dict()
    moved = 0
    for name, value in mixed_state.items():
        assert torch.equal(start[name], start_again[name]), name  # same seed, same start
        expected = 0.7 * tuned_state[name] + 0.3 * start[name]
        torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-7, msg=name)
        moved += int(not torch.equal(tuned_state[name], start[name]))
    assert moved > 0  # the fine-tuning changed something, so the mix is not vacuous
    # the mixed network is what every method scores with
    users, items = ["u0", "u1", "u2"], [2, 8, 9]
    assert not np.allclose(mixed.predict(users, items), tuned.predict(users, items))


def test_mix_one_is_the_pretrained_start(monkeypatch, data):
    est, start = _fit_capturing_start(monkeypatch, data, finetune_mix=1.0)
    for name, value in est.network_.state_dict().items():
        torch.testing.assert_close(value, start[name], rtol=1e-6, atol=1e-7, msg=name)


def test_mix_zero_is_the_default(data):
    a = NeuralCF(model="neumf", random_state=0, **FAST).fit(data)
    b = NeuralCF(model="neumf", random_state=0, finetune_mix=0.0, **FAST).fit(data)
    for name, value in a.network_.state_dict().items():
        assert torch.equal(value, b.network_.state_dict()[name]), name


def test_mix_survives_save_and_load(data, tmp_path):
    est = NeuralCF(model="neumf", random_state=0, finetune_mix=0.5, **FAST).fit(data)
    est.save(tmp_path / "m.pt")
    back = NeuralCF.load(tmp_path / "m.pt")
    assert back.finetune_mix == 0.5
    np.testing.assert_allclose(back.predict(["u0"], [3]), est.predict(["u0"], [3]))


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan"), "0.5", True, None])
def test_invalid_mix_names_parameter_and_range(data, value):
    with pytest.raises(ValueError, match=r"finetune_mix must be a number in \[0, 1\]"):
        NeuralCF(finetune_mix=value, **FAST).fit(data)


# --------------------------------------------------------------------------------------------
# finetune_mix_space="scores": the logits, not the weights, are averaged
# --------------------------------------------------------------------------------------------


def _network_from(state, like):
    """A NeuMF of ``like``'s shape holding ``state``."""
    network = copy.deepcopy(like)
    network.load_state_dict(state)
    return network.eval()


@pytest.mark.parametrize("mix", [0.3, 1.0])
def test_score_mix_is_the_blend_of_finetuned_and_start_logits(monkeypatch, data, mix):
    tuned, start = _fit_capturing_start(monkeypatch, data)
    blended, start_again = _fit_capturing_start(
        monkeypatch, data, finetune_mix=mix, finetune_mix_space="scores"
    )
    for name, value in start.items():
        assert torch.equal(value, start_again[name]), name  # same seed, same start
    start_net = _network_from(start, tuned.network_)
    n_factors = tuned.network_.gmf.n_factors
    assert blended.network_.gmf.n_factors == 2 * n_factors  # both GMF towers side by side
    users = torch.arange(tuned.n_users_)
    with torch.no_grad():
        expected = (1 - mix) * tuned.network_.score_all(users) + mix * start_net.score_all(users)
        got = blended.network_.score_all(users)
        items = torch.arange(tuned.n_items_)
        pairs = blended.network_(users.repeat_interleave(len(items)), items.repeat(len(users)))
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(pairs.view(len(users), -1), expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(expected, tuned.network_.score_all(users).detach(), atol=1e-4)


def test_score_mix_saves_folds_in_and_grows(data, tmp_path):
    est = NeuralCF(
        model="neumf", random_state=0, finetune_mix=0.5, finetune_mix_space="scores", **FAST
    ).fit(data)
    est.save(tmp_path / "m.pt")
    back = NeuralCF.load(tmp_path / "m.pt")
    assert back.finetune_mix_space == "scores"
    assert back.network_.gmf.n_factors == est.network_.gmf.n_factors
    pd.testing.assert_frame_equal(
        back.recommend(["u0", "u1"], k=5), est.recommend(["u0", "u1"], k=5)
    )
    clicks = [2, 3, 5]
    pd.testing.assert_frame_equal(
        back.recommend("visitor", k=5, interactions=clicks),
        est.recommend("visitor", k=5, interactions=clicks),
    )
    assert len(est.similar_items(2, k=3)) == 3
    grown = copy.deepcopy(est).partial_fit(pd.DataFrame({"user": ["new"], "item": [999]}))
    assert grown.network_.gmf.n_factors == est.network_.gmf.n_factors
    assert len(grown.recommend("new", k=3)) == 3


def test_score_mix_zero_and_other_models_are_unchanged(data):
    a = NeuralCF(model="neumf", random_state=0, **FAST).fit(data)
    b = NeuralCF(model="neumf", random_state=0, finetune_mix_space="scores", **FAST).fit(data)
    assert b.network_.gmf.n_factors == a.network_.gmf.n_factors
    for name, value in a.network_.state_dict().items():
        assert torch.equal(value, b.network_.state_dict()[name]), name
    mf = NeuralCF(model="mf", random_state=0, finetune_mix=0.5, finetune_mix_space="scores")
    mf.set_params(**{k: v for k, v in FAST.items() if k != "hidden_layers"}).fit(data)
    assert mf.network_.user_embedding.weight.shape[1] == FAST["n_factors"]


def test_score_mix_needs_the_ials_finetuning(data):
    est = NeuralCF(finetune_mix=0.5, finetune_mix_space="scores", loss="bce", **FAST)
    with pytest.raises(ValueError, match="finetune_mix_space='scores' needs the iALS"):
        est.fit(data)


@pytest.mark.parametrize("value", ["score", None, 1])
def test_invalid_mix_space_names_the_choices(data, value):
    with pytest.raises(ValueError, match="finetune_mix_space must be 'weights'"):
        NeuralCF(finetune_mix_space=value, **FAST).fit(data)
