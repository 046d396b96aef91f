"""LazyAdam (row-sparse Adam) and the ``optimizer="auto"`` rule (issue 13)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import planted_interactions

import implicit_ncf.optim as optim
from implicit_ncf import NeuralCF
from implicit_ncf.optim import LazyAdam, resolve_optimizer

FAST = {"n_epochs": 1, "batch_size": 128, "n_factors": 4, "hidden_layers": (8, 4)}


def _naive_lazy_adam(
    weight: np.ndarray, steps: list[tuple[np.ndarray, np.ndarray]], lr: float
) -> np.ndarray:
    """Row-wise Adam in float64 numpy: each step is (rows, gradient rows), duplicates summed;
    only those rows move; the step count is the table's."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    w = weight.astype(np.float64).copy()
    m, v = np.zeros_like(w), np.zeros_like(w)
    for t, (rows, grads) in enumerate(steps, start=1):
        g = np.zeros_like(w)
        np.add.at(g, rows, grads)
        for r in np.unique(rows):
            m[r] = b1 * m[r] + (1 - b1) * g[r]
            v[r] = b2 * v[r] + (1 - b2) * g[r] ** 2
            m_hat, v_hat = m[r] / (1 - b1**t), v[r] / (1 - b2**t)
            w[r] -= lr * m_hat / (np.sqrt(v_hat) + eps)
    return w


def test_lazy_adam_matches_a_naive_row_wise_reference():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    table = torch.nn.Embedding(12, 3, sparse=True)
    start = table.weight.detach().numpy().copy()
    opt = LazyAdam(table.parameters(), lr=0.05)
    steps = []
    for _ in range(6):
        rows = rng.integers(0, 12, 7)  # with repeats: their gradients add up
        grads = rng.normal(size=(7, 3))
        steps.append((rows, grads))
        opt.zero_grad()
        out = table(torch.from_numpy(rows))
        (out * torch.from_numpy(grads).float()).sum().backward()
        opt.step()
    expected = _naive_lazy_adam(start, steps, lr=0.05)
    np.testing.assert_allclose(table.weight.detach().numpy(), expected, rtol=1e-5, atol=1e-6)
    untouched = np.setdiff1d(np.arange(12), np.concatenate([r for r, _ in steps]))
    np.testing.assert_array_equal(table.weight.detach().numpy()[untouched], start[untouched])


def test_lazy_adam_equals_adam_when_every_row_is_in_every_step():
    torch.manual_seed(1)
    sparse = torch.nn.Embedding(5, 4, sparse=True)
    dense = torch.nn.Embedding(5, 4)
    dense.load_state_dict(sparse.state_dict())
    a = LazyAdam(sparse.parameters(), lr=0.01)
    b = torch.optim.Adam(dense.parameters(), lr=0.01, foreach=False)
    for step in range(5):
        rows = torch.arange(5).repeat(2)
        target = torch.randn(10, 4, generator=torch.Generator().manual_seed(step))
        for net, opt in ((sparse, a), (dense, b)):
            opt.zero_grad()
            ((net(rows) - target) ** 2).sum().backward()
            opt.step()
    torch.testing.assert_close(sparse.weight, dense.weight, rtol=1e-5, atol=1e-6)


def test_lazy_adam_refuses_dense_gradients_and_bad_settings():
    layer = torch.nn.Linear(2, 1)
    opt = LazyAdam(layer.parameters())
    layer(torch.ones(1, 2)).sum().backward()
    with pytest.raises(TypeError, match="LazyAdam takes sparse gradients only"):
        opt.step()
    with pytest.raises(ValueError, match="lr must be at least 0"):
        LazyAdam(layer.parameters(), lr=-1.0)
    with pytest.raises(ValueError, match="betas must lie in"):
        LazyAdam(layer.parameters(), betas=(1.0, 0.9))


def test_resolve_optimizer_rule():
    limit = optim.AUTO_DENSE_LIMIT["cpu"]
    assert resolve_optimizer("auto", limit, "cpu") == "adam"
    assert resolve_optimizer("auto", limit + 1, "cpu") == "lazy_adam"
    assert resolve_optimizer("auto", limit + 1, "cuda") == "adam"  # the GPU's limit is higher
    assert resolve_optimizer("auto", limit + 1, "mps") == "lazy_adam"  # others: the CPU's
    assert resolve_optimizer("auto", 10**9, "cpu", dense_only="full softmax") == "adam"
    for explicit in ("adam", "lazy_adam"):
        assert resolve_optimizer(explicit, 10**9, "cpu", dense_only="x") == explicit


@pytest.fixture()
def data() -> pd.DataFrame:
    return planted_interactions(n_users=40, n_items=30, per_user=6)


def test_auto_keeps_adam_on_small_tables(data):
    est = NeuralCF(random_state=0, **FAST).fit(data)
    assert est.optimizer == "auto" and est.optimizer_ == "adam"
    same = NeuralCF(random_state=0, optimizer="adam", **FAST).fit(data)
    for key, value in est.network_.state_dict().items():
        assert torch.equal(value, same.network_.state_dict()[key]), key


def test_auto_takes_lazy_adam_above_the_limit(data, monkeypatch, tmp_path):
    monkeypatch.setitem(optim.AUTO_DENSE_LIMIT, "cpu", 10)
    # loss="bce" (sampled negatives): the default "auto" is the iALS loss here, whose item
    # Gramian gives every item row a gradient, so it keeps Adam (tests/test_ials.py)
    est = NeuralCF(random_state=0, accelerator="cpu", loss="bce", **FAST).fit(data)
    assert est.optimizer_ == "lazy_adam"
    lazy = NeuralCF(
        random_state=0, accelerator="cpu", optimizer="lazy_adam", loss="bce", **FAST
    ).fit(data)
    for key, value in est.network_.state_dict().items():
        assert torch.equal(value, lazy.network_.state_dict()[key]), key
    est.save(tmp_path / "m.pt")
    assert NeuralCF.load(tmp_path / "m.pt").optimizer_ == "lazy_adam"
    # what lazy Adam cannot do, auto leaves to dense Adam
    full = NeuralCF(random_state=0, accelerator="cpu", loss="softmax", **FAST).fit(data)
    assert full.optimizer_ == "adam"
    clipped = NeuralCF(
        random_state=0,
        accelerator="cpu",
        loss="bce",
        trainer_kwargs={"gradient_clip_val": 1.0},
        **FAST,
    ).fit(data)
    assert clipped.optimizer_ == "adam"
    default = NeuralCF(random_state=0, accelerator="cpu", **FAST).fit(data)  # the iALS loss
    assert default.optimizer_ == "adam"
    sampled = NeuralCF(random_state=0, accelerator="cpu", loss="softmax", n_sampled=8, **FAST).fit(
        data
    )
    assert sampled.optimizer_ == "lazy_adam"
