"""examples/realtime_ml1m.py's pooled next-slice recall@50 and its paired interval, on a stub."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "realtime_ml1m.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("realtime_ml1m", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["realtime_ml1m"] = module
    spec.loader.exec_module(module)
    return module


class FixedLists:
    """A model whose top-k list per user is fixed (its first k entries)."""

    def __init__(self, lists: dict[str, list[int]]) -> None:
        self.lists = lists

    def recommend(self, users: list[str], k: int) -> pd.DataFrame:
        rows = [(u, i) for u in users for i in self.lists.get(u, [])[:k]]
        return pd.DataFrame(rows, columns=["user", "item"])


def test_recall_counts_every_target_of_known_users(script):
    frame = pd.DataFrame({"user": ["a", "a", "a", "b", "c"], "item": [1, 2, 3, 4, 5]}, dtype=object)
    model = FixedLists({"a": [1, 3, 9], "b": [7], "c": [5]})
    hits, counts = script._stream_recall(model, frame, np.array(["a", "b"], dtype=object))
    # users sorted: a (2 of 3 hit), b (0 of 1); c is not known, so not a target
    np.testing.assert_array_equal(hits, [2.0, 0.0])
    np.testing.assert_array_equal(counts, [3.0, 1.0])


def test_recall_misses_beyond_the_top_50(script):
    frame = pd.DataFrame({"user": ["a", "a"], "item": [0, 60]})
    model = FixedLists({"a": list(range(100))})
    hits, counts = script._stream_recall(model, frame, np.array(["a"]))
    assert hits.tolist() == [1.0] and counts.tolist() == [2.0]


def test_pooled_difference_interval_brackets_the_difference(script):
    rng = np.random.default_rng(1)
    counts = rng.integers(1, 30, size=400).astype(float)
    a = rng.binomial(counts.astype(int), 0.3).astype(float)
    b = rng.binomial(counts.astype(int), 0.2).astype(float)
    low, high = script._pooled_diff_interval(a, b, counts)
    difference = (a.sum() - b.sum()) / counts.sum()
    assert low < difference < high
    assert 0.0 < low and high < 0.2  # a planted +0.1 gap: the interval excludes 0
    same_low, same_high = script._pooled_diff_interval(a, a, counts)
    assert same_low == same_high == 0.0


def test_refit_with_other_users_is_refused(script):
    frame = pd.DataFrame({"user": ["a", "b"], "item": [1, 2]})
    partial = FixedLists({"a": [1], "b": [2]})
    hits, counts = script._stream_recall(partial, frame, np.array(["a", "b"]))
    with pytest.raises(RuntimeError, match="different users"):
        script._recall_against_refit(FixedLists({"a": [1]}), frame, np.array(["a"]), hits, counts)
    result = script._recall_against_refit(
        FixedLists({"a": [9], "b": [2]}), frame, np.array(["a", "b"]), hits, counts
    )
    assert result["recall50_refit"] == 0.5 and result["recall_diff"] == 0.5
