"""Shared fixtures: data locations and small synthetic interaction sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository; tests using it skip cleanly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}")
    return SHARED_DATA


def planted_interactions(
    n_users: int = 120,
    n_items: int = 80,
    n_clusters: int = 4,
    per_user: int = 12,
    seed: int = 0,
) -> pd.DataFrame:
    """Users in clusters that interact only with their cluster's items, with timestamps.

    A model that learns the structure ranks a user's held-out item (from the same cluster) far
    above chance among random unseen items.
    """
    rng = np.random.default_rng(seed)
    items_per_cluster = n_items // n_clusters
    rows = []
    for user in range(n_users):
        cluster = user % n_clusters
        pool = np.arange(cluster * items_per_cluster, (cluster + 1) * items_per_cluster)
        chosen = rng.choice(pool, size=per_user, replace=False)
        for t, item in enumerate(chosen):
            rows.append((f"u{user}", int(item), float(rng.integers(1, 6)), 1_000 + t))
    return pd.DataFrame(rows, columns=["user", "item", "rating", "timestamp"])


@pytest.fixture
def planted() -> pd.DataFrame:
    return planted_interactions()
