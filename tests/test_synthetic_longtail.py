"""bench.synthetic.sparse_longtail: shape, sparsity, distinct pairs, determinism, structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench import synthetic


@pytest.fixture(scope="module")
def default_frame() -> pd.DataFrame:
    return synthetic.sparse_longtail(seed=0)  # the default size: under a second


def test_default_set_is_sparse_long_tail_with_every_item(default_frame: pd.DataFrame) -> None:
    frame = default_frame
    assert list(frame.columns) == ["user", "item", "timestamp"]
    assert frame["user"].nunique() == 20_000 and frame["user"].between(1, 20_000).all()
    assert frame["item"].nunique() == 12_000 and frame["item"].between(1, 12_000).all()
    assert not frame.duplicated(["user", "item"]).any()
    per_user = frame.groupby("user").size()
    assert per_user.min() >= 5
    assert 15 <= per_user.mean() < 30 and per_user.median() < per_user.mean()
    assert len(frame) / (20_000 * 12_000) < 0.005
    per_item = frame.groupby("item").size().sort_values(ascending=False).to_numpy()
    assert per_item[:120].sum() / len(frame) > 0.1  # the top 1% of items: a long-tailed head
    assert np.median(per_item) < len(frame) / 12_000  # most items are below the mean


def test_each_user_has_an_order_without_ties(default_frame: pd.DataFrame) -> None:
    stamps = default_frame.groupby("user")["timestamp"]
    assert (stamps.nunique() == stamps.size()).all()


def test_same_seed_same_frame_other_seed_other_frame() -> None:
    a = synthetic.sparse_longtail(500, 10_000, seed=3)
    b = synthetic.sparse_longtail(500, 10_000, seed=3)
    c = synthetic.sparse_longtail(500, 10_000, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_items_follow_the_users_tastes() -> None:
    frame, truth = synthetic.sparse_longtail_with_truth(2_000, 10_000, seed=1)
    users = frame["user"].to_numpy() - 1
    taste = truth.item_taste[frame["item"].to_numpy() - 1]
    own = truth.user_tastes[users, taste]  # how much the user likes the drawn item's taste
    random_taste = truth.user_tastes[users, np.random.default_rng(0).integers(0, 50, len(users))]
    assert own.mean() > 5 * random_taste.mean()
    rows = truth.scores(np.arange(3))
    assert rows.shape == (3, 10_000) and np.allclose(rows.sum(axis=1), 1.0)
    pairs = truth.pair_scores(np.array([0, 1, 2]), np.array([5, 6, 7]))
    assert np.allclose(pairs, rows[[0, 1, 2], [5, 6, 7]])


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="mean_per_user"):
        synthetic.sparse_longtail(100, 1_000, mean_per_user=4)
    with pytest.raises(ValueError, match="in_taste"):
        synthetic.sparse_longtail(100, 1_000, in_taste=1.5)
