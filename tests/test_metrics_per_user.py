"""Tests for per-user results: metrics.evaluate(per_user=True) and metrics.metrics_from_ranks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from implicit_ncf import metrics
from implicit_ncf.metrics import evaluate, metrics_from_ranks

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def scored_frames(draw):
    """Candidates frames with one or more targets per user and frequent score ties."""
    n_users = draw(st.integers(1, 6))
    rows = []
    for user in range(n_users):
        n_rows = draw(st.integers(1, 8))
        n_targets = draw(st.integers(1, n_rows))
        for row in range(n_rows):
            rows.append((f"u{user}", row, row < n_targets, float(draw(st.integers(0, 3)))))
    frame = pd.DataFrame(rows, columns=["user", "item", "is_target", "score"])
    order = draw(st.permutations(range(len(frame))))
    return frame.iloc[list(order)].reset_index(drop=True)


rank_arrays = hnp.arrays(np.int64, st.integers(1, 40), elements=st.integers(0, 60))


# ---------------------------------------------------------------------------------------------
# metrics_from_ranks
# ---------------------------------------------------------------------------------------------


def test_metrics_from_ranks_hand_computed():
    result = metrics_from_ranks([0, 1, 4, 30], k=(1, 5))
    assert list(result) == ["hr@1", "hr@5", "ndcg@1", "ndcg@5", "mrr@1", "mrr@5"]
    assert result["hr@1"] == 0.25
    assert result["hr@5"] == 0.75
    assert result["ndcg@5"] == pytest.approx((1 + 1 / math.log2(3) + 1 / math.log2(6)) / 4)
    assert result["mrr@5"] == pytest.approx((1 + 1 / 2 + 1 / 5) / 4)
    assert result["mrr@1"] == 0.25


@SETTINGS
@given(rank_arrays, st.lists(st.integers(1, 50), min_size=1, max_size=4))
def test_metrics_from_ranks_matches_the_single_metrics(ranks, ks):
    result = metrics_from_ranks(ranks, k=ks)
    for cut in ks:
        assert result[f"hr@{cut}"] == metrics.hit_ratio_at_k(ranks, cut)
        assert result[f"ndcg@{cut}"] == metrics.ndcg_at_k(ranks, cut)
        assert result[f"mrr@{cut}"] == metrics.mrr_at_k(ranks, cut)


@SETTINGS
@given(rank_arrays, st.lists(st.integers(1, 50), min_size=1, max_size=4))
def test_per_user_frame_means_equal_the_summary_exactly(ranks, ks):
    summary = metrics_from_ranks(ranks, k=ks)
    users = [f"user{i}" for i in range(len(ranks))]
    frame = metrics_from_ranks(ranks, k=ks, users=users, per_user=True)
    assert list(frame.columns) == ["user", "rank", *summary]
    assert frame["rank"].tolist() == ranks.tolist()
    assert frame["user"].tolist() == users
    for name, value in summary.items():
        assert frame[name].mean() == value  # exact, not approximate


def test_per_user_frame_without_users_and_with_a_custom_column():
    frame = metrics_from_ranks(np.array([2, 0]), k=3, per_user=True)
    assert list(frame.columns) == ["rank", "hr@3", "ndcg@3", "mrr@3"]
    assert frame.index.tolist() == [0, 1]
    named = metrics_from_ranks([2, 0], k=3, users=pd.Series([7, 8]), per_user=True, user_col="uid")
    assert named["uid"].tolist() == [7, 8]


def test_per_user_frame_keeps_the_user_dtype():
    users = pd.Series(["a", "b"], dtype="string")
    frame = metrics_from_ranks([0, 1], k=1, users=users, per_user=True)
    assert frame["user"].dtype == users.dtype


def test_empty_ranks():
    frame = metrics_from_ranks(np.array([], dtype=np.int64), k=10, per_user=True)
    assert len(frame) == 0
    assert list(frame.columns) == ["rank", "hr@10", "ndcg@10", "mrr@10"]
    with pytest.raises(ValueError, match="ranks is empty"):
        metrics_from_ranks([], k=10)


@pytest.mark.parametrize(
    ("kwargs", "exc", "fragment"),
    [
        ({"ranks": [0, -1]}, ValueError, "non-negative"),
        ({"ranks": [0.5, 1.0]}, TypeError, "ranks must hold integers"),
        ({"ranks": [[0, 1]]}, ValueError, "1-D array"),
        ({"ranks": [0, 1], "k": 0}, ValueError, "k must be a positive integer"),
        ({"ranks": [0, 1], "k": []}, ValueError, "non-empty sequence"),
        ({"ranks": [0, 1], "per_user": "yes"}, TypeError, "per_user must be True or False"),
        (
            {"ranks": [0], "users": ["a"], "per_user": True, "user_col": "hr@10"},
            ValueError,
            "user_col must not be 'rank' or a metric name",
        ),
        (
            {"ranks": [0, 1], "users": ["a"], "per_user": True},
            ValueError,
            r"one user per rank \(shape \(2,\)\); got shape \(1,\)",
        ),
    ],
)
def test_metrics_from_ranks_bad_input(kwargs, exc, fragment):
    with pytest.raises(exc, match=fragment):
        metrics_from_ranks(**kwargs)


# ---------------------------------------------------------------------------------------------
# evaluate(per_user=True)
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(scored_frames(), st.lists(st.integers(1, 8), min_size=1, max_size=3))
def test_evaluate_per_user_means_equal_the_summary(frame, ks):
    summary = evaluate(frame, k=ks)
    per_user = evaluate(frame, k=ks, per_user=True)
    assert len(per_user) == summary["n_targets"]
    for name in summary:
        if "@" in name:
            assert per_user[name].mean() == summary[name]  # exact: the same averaging
    # the same frame as reduction="none", and the ranks metrics_from_ranks turns into the summary
    pd.testing.assert_frame_equal(per_user, evaluate(frame, k=ks, reduction="none"))
    from_ranks = metrics_from_ranks(per_user["rank"].to_numpy(), k=ks)
    assert from_ranks == {name: value for name, value in summary.items() if "@" in name}


def test_evaluate_per_user_one_row_per_user_under_leave_one_out():
    frame = pd.DataFrame(
        {
            "uid": ["x", "x", "x", "y", "y", "y"],
            "item": [1, 2, 3, 1, 2, 3],
            "is_target": [False, True, False, True, False, False],
            "score": [0.9, 0.5, 0.1, 0.3, 0.3, 0.8],
        }
    )
    per_user = evaluate(frame, k=(1, 2), user_col="uid", per_user=True)
    assert list(per_user.columns) == [
        "uid", "item", "rank", "hr@1", "hr@2", "ndcg@1", "ndcg@2", "mrr@1", "mrr@2",
    ]  # fmt: skip
    assert per_user["uid"].tolist() == ["x", "y"]
    assert per_user["rank"].tolist() == [1, 2]  # y's target ties with a negative: counted against
    assert per_user.index.tolist() == [1, 3]  # the target rows of the frame
    assert per_user["hr@2"].tolist() == [1.0, 0.0]
    assert per_user["mrr@2"].tolist() == [0.5, 0.0]


def test_evaluate_per_user_must_be_a_bool():
    frame = pd.DataFrame({"user": [1], "item": [1], "is_target": [True], "score": [0.0]})
    with pytest.raises(TypeError, match="per_user must be True or False; got 'yes'"):
        evaluate(frame, per_user="yes")
