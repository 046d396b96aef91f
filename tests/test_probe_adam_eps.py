"""examples/probe_adam_eps.py: the fine-tuning's Adam takes the probe's eps, the other stages
keep the library's, and a second fit on the same data reuses the first fit's towers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from conftest import planted_interactions

import implicit_ncf.training as training
from implicit_ncf import NeuralCF

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "probe_adam_eps.py"
TINY = {"n_epochs": 2, "batch_size": 256, "n_factors": 8, "hidden_layers": [16, 8]}


@pytest.fixture()
def probe(monkeypatch) -> ModuleType:
    # the probe patches two methods; monkeypatch restores them after the test
    monkeypatch.setattr(
        training.NCFModule, "configure_optimizers", training.NCFModule.configure_optimizers
    )
    monkeypatch.setattr(NeuralCF, "_train", NeuralCF._train)
    spec = importlib.util.spec_from_file_location("probe_adam_eps", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["probe_adam_eps"] = module
    spec.loader.exec_module(module)
    module.install()
    return module


def _tower_rows(probe: ModuleType) -> torch.Tensor:
    (tower,) = [t for (model, *_), t in probe.STATE["towers"].items() if model == "gmf"]
    return tower.item_embedding.weight.detach()


def test_a_large_eps_stills_the_fine_tuning_of_reused_towers(probe) -> None:
    data = planted_interactions(n_users=60, n_items=40, per_user=8)
    first = NeuralCF(random_state=0, **TINY).fit(data)
    assert len(probe.STATE["towers"]) == 2  # the GMF and the MLP tower, trained once
    (optimizer,) = probe.STATE["optimizers"]  # the fine-tuning's only: towers keep theirs
    assert optimizer.defaults["eps"] == probe.DEFAULT_EPS
    tower = _tower_rows(probe)
    moved = first.network_.gmf.item_embedding.weight.detach()
    assert not torch.allclose(moved, tower, atol=1e-4)  # the default eps fine-tunes the rows

    probe.STATE["eps"] = 1e6  # steps of about lr * gradient / 1e6: none to speak of
    second = NeuralCF(random_state=0, **TINY).fit(data)
    assert len(probe.STATE["towers"]) == 2  # reused, not retrained
    assert probe.STATE["optimizers"][-1].defaults["eps"] == 1e6
    still = second.network_.gmf.item_embedding.weight.detach()
    torch.testing.assert_close(still, tower, atol=1e-6, rtol=0)


def test_gradient_scale_covers_every_item(probe) -> None:
    data = planted_interactions(n_users=60, n_items=40, per_user=8)
    est = NeuralCF(random_state=0, **TINY).fit(data)
    scale = probe.gradient_scale(est, data)
    assert sum(n for n, _ in scale.values()) == est.n_items_
    assert all(rms > 0 for _, rms in scale.values())
