"""examples/ml20m_recipe.py on a tiny fake GroupLens ratings.csv and a capped synthetic set.

ML-20M itself is not in ``../shared/data``: the GroupLens branch reads a ``ratings.csv`` written
here in the same format (``userId,movieId,rating,timestamp`` with a header).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "ml20m_recipe.py"
TINY = json.dumps({"pretrain": False, "n_factors": 4, "hidden_layers": [8, 4], "batch_size": 256})


@pytest.fixture(scope="module")
def recipe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ml20m_recipe", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ml20m_recipe"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def fake_ratings(n_users: int = 200, n_items: int = 150, seed: int = 0) -> pd.DataFrame:
    """GroupLens-style ratings: 5-15 distinct movies per user, distinct timestamps per user
    (shuffled, so that the latest is not the last row), sparse movie ids."""
    rng = np.random.default_rng(seed)
    movie_ids = np.sort(rng.choice(5 * n_items, size=n_items, replace=False)) + 1
    rows = []
    for user in range(1, n_users + 1):
        n = int(rng.integers(5, 16))
        items = rng.choice(movie_ids, size=n, replace=False)
        stamps = 1_000_000 + rng.permutation(10 * n)[:n]
        rating = rng.integers(1, 6, size=n).astype(float)
        rows += list(zip([user] * n, items.tolist(), rating.tolist(), stamps.tolist(), strict=True))
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])


@pytest.fixture(scope="module")
def ml20m_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("data") / "ml-20m"
    folder.mkdir()
    fake_ratings().to_csv(folder / "ratings.csv", index=False)
    return folder


def test_grouplens_run_writes_sane_json(recipe: ModuleType, ml20m_dir: Path, tmp_path: Path):
    out = tmp_path / "ml20m.json"
    argv = ["--data", str(ml20m_dir), "--epochs", "1", "--params", TINY, "--out", str(out)]
    assert recipe.main([*argv, "--threads", "1"]) == 0
    result = json.loads(out.read_text())
    sizes = result["sizes"]
    assert sizes["n_users_total"] == 200
    assert sizes["n_users_sampled"] == sizes["n_users"] == 60  # 30% of the users
    assert sizes["n_test"] == sizes["n_test_users"] == 60  # one test row per sampled user
    assert sizes["n_train"] + sizes["n_test"] == sizes["n_interactions"]
    assert sizes["n_candidates"] == 60 * 100  # the target and 99 negatives each
    assert result["test_latest_fraction"] == 1.0
    assert result["synthetic"] is False and result["note"] is None
    assert result["protocol"]["train_negatives"] == 4  # the tutorial's, set by the script
    assert result["params"]["n_epochs"] == 1 and result["epochs_run"] == 1
    metrics = result["metrics"]
    for metric in ("hr@10", "ndcg@10"):
        assert 0.0 <= metrics[metric] <= 1.0
        low, high = result["intervals"][metric]
        assert 0.0 <= low <= metrics[metric] <= high <= 1.0
    assert metrics["ndcg@10"] <= metrics["hr@10"] and metrics["n_users"] == 60
    assert set(result["seconds"]) >= {"load", "split", "fit", "evaluate"}
    assert all(value >= 0 for value in result["seconds"].values())


def test_held_out_item_is_each_sampled_users_latest(recipe: ModuleType, ml20m_dir: Path):
    ratings = pd.read_csv(ml20m_dir / "ratings.csv")
    frame = recipe.load_ratings(ml20m_dir / "ratings.csv")  # the file itself reads the same
    assert list(frame.columns) == ["user", "item", "rating", "timestamp"] and len(frame) == len(
        ratings
    )
    prepared = recipe.prepare(frame, user_fraction=0.3, seed=0)
    again = recipe.prepare(recipe.load_ratings(ml20m_dir), user_fraction=0.3, seed=0)
    pd.testing.assert_frame_equal(prepared.test, again.test)  # same seed, same sample and split
    latest = ratings.sort_values("timestamp").groupby("userId").tail(1).set_index("userId")
    test = prepared.test.set_index("user").sort_index()
    assert len(test) == 60 and test.index.is_unique
    assert (test["item"] == latest.loc[test.index, "movieId"]).all()
    assert not prepared.train.merge(prepared.test, on=["user", "item"]).shape[0]  # disjoint
    other = recipe.prepare(frame, user_fraction=0.3, seed=1)
    assert set(other.test["user"]) != set(prepared.test["user"])  # the seed draws the users


def test_max_interactions_keeps_whole_users(recipe: ModuleType, ml20m_dir: Path):
    frame = recipe.load_ratings(ml20m_dir)
    prepared = recipe.prepare(frame, user_fraction=0.5, seed=0, max_interactions=300)
    assert len(prepared.frame) <= 300 and prepared.n_users_sampled == 100
    per_user = frame.groupby("user").size()
    kept = prepared.frame.groupby("user").size()
    assert (kept == per_user.loc[kept.index]).all()  # full histories


def test_missing_path_names_it_and_ml20m(recipe: ModuleType, tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nowhere" / "ml-20m"
    assert recipe.main(["--data", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and recipe.ML20M_URL in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert recipe.main(["--data", str(empty)]) == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "ml-20m.zip" in err
    assert recipe.main([]) == 2  # neither --data nor --synthetic
    assert "--synthetic" in capsys.readouterr().err


def test_synthetic_capped_run_is_labelled_timing_only(recipe: ModuleType, tmp_path: Path):
    out = tmp_path / "synthetic.json"
    argv = ["--synthetic", "--max-interactions", "20000", "--epochs", "1", "--params", TINY]
    assert recipe.main([*argv, "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["synthetic"] is True and result["timing_only"] is True
    assert "timing only" in result["note"] and result["test_latest_fraction"] is None
    assert 0 < result["sizes"]["n_interactions"] <= 20_000
    assert result["sizes"]["n_users_total"] > 130_000  # nearly all of ML-20M's 138,493 users
    assert 0.0 <= result["metrics"]["hr@10"] <= 1.0
