"""examples/probe_blend_gmf.py: the blended network's logits are the blend of the two."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from conftest import planted_interactions

from implicit_ncf import NeuralCF

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "probe_blend_gmf.py"
TINY = {"n_epochs": 2, "batch_size": 256, "n_factors": 8, "hidden_layers": [16, 8]}


@pytest.fixture(scope="module")
def probe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("probe_blend_gmf", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["probe_blend_gmf"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("mix", [0.0, 0.35, 1.0])
def test_blend_scores_are_the_blend_of_the_two_networks(probe, mix) -> None:
    data = planted_interactions(n_users=60, n_items=40, per_user=8)
    neumf = NeuralCF(model="neumf", random_state=0, **TINY).fit(data)
    gmf_params = {**probe.RENDLE, "n_factors": 12, "n_epochs": 3}
    gmf = NeuralCF(random_state=0, **gmf_params).fit(data)
    blended = probe.blend(neumf.network_, gmf.network_, mix)
    users = torch.arange(neumf.n_users_)
    items = torch.arange(neumf.n_items_)
    with torch.no_grad():
        expected = (1 - mix) * neumf.network_.score_all(users) + mix * gmf.network_.score_all(users)
        pairs = blended(users.repeat_interleave(len(items)), items.repeat(len(users)))
        torch.testing.assert_close(blended.score_all(users), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(pairs.view(len(users), -1), expected, rtol=1e-5, atol=1e-6)
    assert blended.gmf.n_factors == 8 + 12


def test_the_reproduction_scripts_blend_recipe_is_the_blend_of_two_fits(probe) -> None:
    """``reproduce_ncf_ml1m.py --models neumf-rgmf035``: the default NeuMF and the Rendle GMF,
    fitted as the script fits them, blended at 0.35."""
    spec = importlib.util.spec_from_file_location(
        "reproduce_ncf_ml1m", REPO / "examples" / "reproduce_ncf_ml1m.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    data = planted_interactions(n_users=40, n_items=30, per_user=6)
    mix = script.BLENDS["neumf-rgmf035"]
    blended = script.fit_blend(data, mix)
    neumf = NeuralCF(random_state=0).fit(data)
    gmf = NeuralCF(random_state=0, **probe.RENDLE).fit(data)
    users = torch.arange(neumf.n_users_)
    with torch.no_grad():
        expected = (1 - mix) * neumf.network_.score_all(users) + mix * gmf.network_.score_all(users)
        torch.testing.assert_close(
            blended.network_.score_all(users), expected, rtol=1e-5, atol=1e-5
        )
    # the estimator around the blend ranks by it (a cached space of the NeuMF would not)
    row = expected[0].clone()
    row[torch.from_numpy(neumf.seen_[0].indices).long()] = -torch.inf
    best = neumf.item_encoder_.inverse_transform(torch.topk(row, 3).indices.numpy())
    top = blended.recommend(neumf.user_encoder_.classes_[0], k=3)
    assert top["item"].tolist() == list(best)
