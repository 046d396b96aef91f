"""examples/probe_frozen_gmf.py: the fine-tuning leaves the frozen GMF rows as loaded and
trains the rest."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from conftest import planted_interactions

import implicit_ncf.networks as networks
from implicit_ncf import NeuralCF

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "probe_frozen_gmf.py"
TINY = {"n_epochs": 2, "batch_size": 256, "n_factors": 8, "hidden_layers": [16, 8]}


@pytest.fixture()
def probe(monkeypatch) -> ModuleType:
    # the probe patches NeuMF.load_pretrained; monkeypatch restores it after the test
    monkeypatch.setattr(networks.NeuMF, "load_pretrained", networks.NeuMF.load_pretrained)
    spec = importlib.util.spec_from_file_location("probe_frozen_gmf", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["probe_frozen_gmf"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("part", ["gmf", "gmf_items"])
def test_frozen_rows_keep_their_loaded_values(probe, monkeypatch, part):
    probe.install(part)
    loaded: dict[str, torch.Tensor] = {}
    patched = networks.NeuMF.load_pretrained

    def spy(self, gmf, mlp, alpha=0.5, *, residual=False):
        patched(self, gmf, mlp, alpha, residual=residual)
        loaded.update({k: v.detach().clone() for k, v in self.state_dict().items()})

    monkeypatch.setattr(networks.NeuMF, "load_pretrained", spy)
    est = NeuralCF(random_state=0, **TINY).fit(planted_interactions())
    after = est.network_.state_dict()
    frozen = {f"gmf.{name}" for name in probe.PARTS[part]}
    assert loaded, "the fine-tuning did not load pretrained towers"
    for name in frozen:
        assert torch.equal(after[name], loaded[name]), name
    for name in ("gmf.user_embedding.weight", "mlp.user_embedding.weight", "output.weight"):
        if name not in frozen:
            assert not torch.equal(after[name], loaded[name]), name


def test_unknown_part_is_refused(probe):
    with pytest.raises(SystemExit, match="part must be one of"):
        probe.install("mlp")
