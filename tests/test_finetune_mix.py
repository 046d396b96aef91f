"""NeuralCF(finetune_mix=m): the fine-tuned NeuMF's weights interpolated with its start."""

from __future__ import annotations

import copy

import numpy as np
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
