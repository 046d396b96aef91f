"""examples/negatives_on_validation.py on planted data: the means and the paired comparison."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
from conftest import planted_interactions

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "negatives_on_validation.py"
TINY = {"n_epochs": 2, "batch_size": 256, "n_factors": 8, "hidden_layers": [16, 8]}


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("negatives_on_validation", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["negatives_on_validation"] = module
    spec.loader.exec_module(module)
    return module


def test_paired_comparison_against_a_second_parameter_set(script, monkeypatch, capsys):
    monkeypatch.setattr(script, "training_part", lambda name: planted_interactions())
    monkeypatch.setattr(script.torch, "set_num_threads", lambda n: None)
    monkeypatch.setattr(script, "SAMPLED_NEGATIVES", 20)  # 80 planted items
    first = {**TINY, "model": "mf"}
    second = {**TINY, "model": "mf", "n_factors": 4}
    assert script.main([json.dumps(first), "planted", json.dumps(second)]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert row["set"] == "planted" and row["against"] == second
    for protocol, tag in (("full", ""), ("sampled", "sampled_")):
        for metric in ("hr@10", "ndcg@10"):
            difference, low, high = row[f"{tag}difference_{metric}"]
            mean = row[f"val_{protocol}_{metric}"]
            other = row[f"against_val_{protocol}_{metric}"]
            assert difference == pytest.approx(mean - other, abs=2e-4)  # rounded to 4 places
            assert low <= difference <= high and 0.0 <= row[f"{tag}p_{metric}"] <= 1.0
    # the sampled negatives are a subset of full ranking's candidates: the rank can only rise
    assert row["val_sampled_hr@10"] >= row["val_full_hr@10"]

    # without a second set, one line of means only, the same as the first set's above
    assert script.main([json.dumps(first), "planted"]) == 0
    alone = json.loads(capsys.readouterr().out.strip())
    assert "against" not in alone
    assert alone["val_full_hr@10"] == row["val_full_hr@10"]
    assert alone["val_sampled_hr@10"] == row["val_sampled_hr@10"]


def test_ml1m_2999_is_the_rated_part_of_ml1m_less_its_test_items(script):
    if not script.load_ml1m_rated.__defaults__[0].exists():
        pytest.skip("../shared/data/ml-1m/ratings.users0001-2999.dat.gz not found")
    frame = script.load_ml1m_rated()
    assert list(frame.columns) == ["user", "item", "rating", "timestamp"]
    assert len(frame) == 487_650 and frame["user"].nunique() == 2999
    assert set(frame["rating"].unique()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    train = script.training_part("ml1m-2999")
    assert len(train) == len(frame) - 2999  # one test item per user set aside
    assert "rating" in train.columns
