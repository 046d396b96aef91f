"""Tests for implicit_ncf.metrics: every metric against a naive pure-Python reference."""

from __future__ import annotations

import doctest
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from implicit_ncf import metrics
from implicit_ncf.metrics import (
    coverage,
    evaluate,
    hit_ratio_at_k,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    rank_of_target,
    recall_at_k,
)

SETTINGS = settings(max_examples=60, deadline=None)
RANK_METRICS = [hit_ratio_at_k, ndcg_at_k, mrr_at_k]
LIST_METRICS = [precision_at_k, recall_at_k, map_at_k]


# ---------------------------------------------------------------------------------------------
# naive references
# ---------------------------------------------------------------------------------------------


def naive_rank(row: list[float], target: int) -> int:
    return sum(1 for c, s in enumerate(row) if c != target and s >= row[target])


def naive_hr(rank: int, k: int) -> float:
    return 1.0 if rank < k else 0.0


def naive_ndcg(rank: int, k: int) -> float:
    return 1.0 / math.log2(rank + 2) if rank < k else 0.0


def naive_mrr(rank: int, k: int) -> float:
    return 1.0 / (rank + 1) if rank < k else 0.0


NAIVE_RANK = {hit_ratio_at_k: naive_hr, ndcg_at_k: naive_ndcg, mrr_at_k: naive_mrr}


def naive_hits(rec: list, rel: set, k: int) -> list[bool]:
    out, seen = [], set()
    for item in rec[:k]:
        out.append(item in rel and item not in seen)
        seen.add(item)
    return out


def naive_precision(rec: list, rel: set, k: int) -> float:
    return sum(naive_hits(rec, rel, k)) / k


def naive_recall(rec: list, rel: set, k: int) -> float:
    return sum(naive_hits(rec, rel, k)) / len(rel)


def naive_ap(rec: list, rel: set, k: int) -> float:
    hits = naive_hits(rec, rel, k)
    total, found = 0.0, 0
    for i, hit in enumerate(hits):
        if hit:
            found += 1
            total += found / (i + 1)
    return total / min(k, len(rel))


NAIVE_LIST = {precision_at_k: naive_precision, recall_at_k: naive_recall, map_at_k: naive_ap}


def naive_evaluate_ranks(frame: pd.DataFrame) -> list[int]:
    """Rank of every target row (in frame order) against its user's non-target rows."""
    ranks = []
    for _, row in frame.iterrows():
        if not row["is_target"]:
            continue
        same = frame[(frame["user"] == row["user"]) & (~frame["is_target"])]
        ranks.append(int((same["score"] >= row["score"]).sum()))
    return ranks


# ---------------------------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------------------------


@st.composite
def score_matrices(draw):
    n_rows = draw(st.integers(1, 12))
    n_cand = draw(st.integers(1, 10))
    # small integer scores so that ties are frequent
    scores = draw(hnp.arrays(np.float64, (n_rows, n_cand), elements=st.integers(0, 3)))
    target = draw(hnp.arrays(np.int64, n_rows, elements=st.integers(0, n_cand - 1)))
    return scores, target


rank_arrays = hnp.arrays(np.int64, st.integers(1, 30), elements=st.integers(0, 40))
ks = st.integers(1, 45)
ids = st.integers(0, 12)


@st.composite
def list_cases(draw, nonempty: bool = True):
    n = draw(st.integers(1, 8))
    rec = draw(st.lists(st.lists(ids, min_size=0, max_size=10), min_size=n, max_size=n))
    rel = draw(
        st.lists(st.sets(ids, min_size=1 if nonempty else 0, max_size=6), min_size=n, max_size=n)
    )
    return rec, rel


@st.composite
def scored_frames(draw):
    n_users = draw(st.integers(1, 5))
    rows = []
    for user in range(n_users):
        n_targets = draw(st.integers(0, 3))
        n_neg = draw(st.integers(0, 6))
        for j in range(n_targets + n_neg):
            rows.append((user * 7 + 100, j, j < n_targets, float(draw(st.integers(0, 3)))))
    if not any(r[2] for r in rows):
        rows.append((999, 0, True, 1.0))
    frame = pd.DataFrame(rows, columns=["user", "item", "is_target", "score"])
    seed = draw(st.integers(0, 2**16))
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# rank_of_target
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(score_matrices())
def test_rank_of_target_matches_naive(case):
    scores, target = case
    ranks = rank_of_target(scores, target)
    expected = [naive_rank(list(row), int(t)) for row, t in zip(scores, target, strict=True)]
    assert ranks.dtype == np.int64
    assert ranks.shape == (scores.shape[0],)
    assert ranks.tolist() == expected
    assert ((ranks >= 0) & (ranks < scores.shape[1])).all()


def test_constant_scorer_ranks_last_and_scores_zero():
    scores = np.zeros((4, 100))
    ranks = rank_of_target(scores, np.array([0, 5, 50, 99]))
    assert ranks.tolist() == [99] * 4
    for fn in RANK_METRICS:
        assert fn(ranks, 10) == 0.0
        assert fn(ranks, 99) == 0.0
    assert hit_ratio_at_k(ranks, 100) == 1.0


def test_rank_of_target_allows_inf_and_integer_scores():
    scores = np.array([[3, 1, 2], [-np.inf, 0.0, np.inf]])
    assert rank_of_target(scores[:1].astype(int), [2]).tolist() == [1]
    assert rank_of_target(scores, [2, 1]).tolist() == [1, 1]


def test_rank_of_target_nan_raises():
    scores = np.array([[0.1, np.nan, 0.3]])
    with pytest.raises(ValueError, match="scores holds 1 NaN"):
        rank_of_target(scores, [0])


@pytest.mark.parametrize(
    ("scores", "target", "exc", "fragment"),
    [
        (np.zeros(3), [0], ValueError, "scores must be a 2-D array"),
        (np.zeros((2, 3)), [0], ValueError, "target must be a 1-D array"),
        (np.zeros((2, 3)), [[0], [1]], ValueError, "target must be a 1-D array"),
        (np.zeros((2, 3)), [0, 3], ValueError, "got 3 at row 1"),
        (np.zeros((2, 3)), [-1, 0], ValueError, "column indices in [0, 2]"),
        (np.zeros((2, 3)), [0.0, 1.0], TypeError, "target must hold integer"),
        (np.array([["a", "b"]]), [0], TypeError, "scores must be numeric"),
    ],
)
def test_rank_of_target_bad_input(scores, target, exc, fragment):
    with pytest.raises(exc, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        rank_of_target(scores, target)


# ---------------------------------------------------------------------------------------------
# rank metrics
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(rank_arrays, ks)
def test_rank_metrics_match_naive(ranks, k):
    for fn, naive in NAIVE_RANK.items():
        per_row = fn(ranks, k, reduction="none")
        expected = [naive(int(r), k) for r in ranks]
        assert per_row.shape == ranks.shape
        np.testing.assert_allclose(per_row, expected, rtol=1e-12)
        mean = fn(ranks, k)
        assert isinstance(mean, float)
        assert mean == pytest.approx(sum(expected) / len(expected), rel=1e-12)


@SETTINGS
@given(rank_arrays, ks)
def test_rank_metrics_bounded_and_monotone_in_k(ranks, k):
    for fn in RANK_METRICS:
        now, later = fn(ranks, k, reduction="none"), fn(ranks, k + 1, reduction="none")
        assert ((now >= 0) & (now <= 1)).all()
        assert (later >= now).all()
        assert 0.0 <= fn(ranks, k) <= fn(ranks, k + 1) <= 1.0


def test_rank_metric_values():
    ranks = np.array([0, 1, 9, 10])
    assert hit_ratio_at_k(ranks, 10) == 0.75
    assert ndcg_at_k(ranks, 10, reduction="none").tolist() == pytest.approx(
        [1.0, 1 / math.log2(3), 1 / math.log2(11), 0.0]
    )
    assert mrr_at_k(ranks, 2, reduction="none").tolist() == [1.0, 0.5, 0.0, 0.0]


@pytest.mark.parametrize("fn", RANK_METRICS)
@pytest.mark.parametrize("k", [0, -3, 1.5, True, "10", None, np.float64(2.0)])
def test_rank_metrics_reject_bad_k(fn, k):
    with pytest.raises(ValueError, match="k must be a positive integer; got"):
        fn([0, 1], k)


def test_bad_k_message_is_exact():
    with pytest.raises(ValueError) as info:
        hit_ratio_at_k([0], 0)
    assert str(info.value) == "k must be a positive integer; got 0."


def test_numpy_integer_k_is_accepted():
    assert hit_ratio_at_k([0, 5], np.int64(3)) == 0.5


@pytest.mark.parametrize("fn", RANK_METRICS)
def test_rank_metrics_bad_ranks(fn):
    with pytest.raises(ValueError, match="ranks must be non-negative"):
        fn([0, -1], 10)
    with pytest.raises(ValueError, match="ranks is empty: there are no users"):
        fn([], 10)
    assert fn([], 10, reduction="none").shape == (0,)
    with pytest.raises(TypeError, match="ranks must hold integers"):
        fn([0.5, 1.0], 10)
    with pytest.raises(TypeError, match="ranks must hold integers"):
        fn([True, False], 10)
    with pytest.raises(ValueError, match="ranks must be a 1-D array"):
        fn([[0, 1]], 10)
    with pytest.raises(ValueError, match="reduction must be 'mean'"):
        fn([0], 10, reduction="sum")


# ---------------------------------------------------------------------------------------------
# list metrics
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(list_cases(), st.integers(1, 12))
def test_list_metrics_match_naive(case, k):
    rec, rel = case
    for fn, naive in NAIVE_LIST.items():
        per_user = fn(rec, rel, k, reduction="none")
        expected = [naive(r, s, k) for r, s in zip(rec, rel, strict=True)]
        assert per_user.shape == (len(rec),)
        np.testing.assert_allclose(per_user, expected, rtol=1e-12)
        assert ((per_user >= 0) & (per_user <= 1)).all()
        assert fn(rec, rel, k) == pytest.approx(float(np.mean(expected)), rel=1e-12)


@SETTINGS
@given(list_cases(), st.integers(1, 12))
def test_recall_monotone_in_k(case, k):
    rec, rel = case
    now = recall_at_k(rec, rel, k, reduction="none")
    assert (recall_at_k(rec, rel, k + 1, reduction="none") >= now).all()


@SETTINGS
@given(list_cases(nonempty=False), st.integers(1, 12))
def test_precision_allows_users_without_relevant_items(case, k):
    rec, rel = case
    per_user = precision_at_k(rec, rel, k, reduction="none")
    for value, s in zip(per_user, rel, strict=True):
        if not s:
            assert value == 0.0


def test_list_metrics_accept_arrays_and_string_ids():
    rec = np.array([[3, 1, 2], [5, 4, 0]])
    rel = [np.array([1, 2]), [9]]
    assert precision_at_k(rec, rel, 3) == pytest.approx((2 / 3 + 0) / 2)
    assert recall_at_k(rec, rel, 2, reduction="none").tolist() == [0.5, 0.0]
    assert map_at_k([["b", "a"]], [{"a"}], 2) == 0.5


def test_perfect_list_scores_one():
    rec, rel = [[1, 2, 3, 4]], [{1, 2, 3}]
    assert map_at_k(rec, rel, 3) == 1.0
    assert map_at_k(rec, rel, 10) == 1.0
    assert recall_at_k(rec, rel, 3) == 1.0
    assert precision_at_k(rec, rel, 3) == 1.0


def test_duplicate_recommendations_count_once():
    assert precision_at_k([[1, 1, 1]], [{1}], 3) == pytest.approx(1 / 3)
    assert map_at_k([[1, 1, 2]], [{1, 2}], 3) == pytest.approx((1 + 2 / 3) / 2)


@pytest.mark.parametrize("fn", LIST_METRICS)
def test_list_metrics_bad_input(fn):
    with pytest.raises(ValueError, match="got 2 recommended list"):
        fn([[1], [2]], [{1}], 10)
    with pytest.raises(ValueError, match=r"k must be a positive integer; got 0\."):
        fn([[1]], [{1}], 0)
    with pytest.raises(ValueError, match="recommended is empty"):
        fn([], [], 10)
    assert fn([], [], 10, reduction="none").shape == (0,)
    with pytest.raises(TypeError, match="not a string"):
        fn(["abc"], [{"a"}], 10)
    with pytest.raises(TypeError, match="recommended must be a sequence"):
        fn(5, [{1}], 10)


@pytest.mark.parametrize("fn", [recall_at_k, map_at_k])
def test_recall_and_map_need_relevant_items(fn):
    with pytest.raises(ValueError, match=r"relevant\[1\] is empty"):
        fn([[1], [2]], [{1}, set()], 10)


# ---------------------------------------------------------------------------------------------
# coverage
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(st.lists(st.lists(st.integers(-2, 15), max_size=5), max_size=6), st.integers(1, 12))
def test_coverage_matches_naive(rec, n_items):
    expected = len({x for row in rec for x in row if 0 <= x < n_items}) / n_items
    assert coverage(rec, n_items) == pytest.approx(expected)
    assert coverage(rec, list(range(n_items))) == pytest.approx(expected)
    if rec and all(len(r) == len(rec[0]) for r in rec) and rec[0]:
        assert coverage(np.array(rec), n_items) == pytest.approx(expected)


def test_coverage_values_and_errors():
    assert coverage([[0, 1], [1, 2]], 4) == 0.75
    assert coverage([["a", "z"]], ["a", "b"]) == 0.5
    with pytest.raises(ValueError, match="catalogue must be a positive number"):
        coverage([[1]], 0)
    with pytest.raises(ValueError, match="non-empty collection"):
        coverage([[1]], [])
    with pytest.raises(TypeError, match="catalogue must be n_items"):
        coverage([[1]], True)


# ---------------------------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------------------------


@SETTINGS
@given(scored_frames(), st.integers(1, 8))
def test_evaluate_matches_naive_loop(frame, k):
    expected_ranks = naive_evaluate_ranks(frame)
    per_target = evaluate(frame, k=k, reduction="none")
    assert per_target["rank"].tolist() == expected_ranks
    assert per_target.index.tolist() == frame.index[frame["is_target"]].tolist()
    result = evaluate(frame, k=[k, k + 2])
    for name, naive in (("hr", naive_hr), ("ndcg", naive_ndcg), ("mrr", naive_mrr)):
        for cut in (k, k + 2):
            expected = np.mean([naive(r, cut) for r in expected_ranks])
            assert result[f"{name}@{cut}"] == pytest.approx(expected)
            assert per_target[f"{name}@{k}"].tolist() == pytest.approx(
                [naive(r, k) for r in expected_ranks]
            )
        assert 0.0 <= result[f"{name}@{k}"] <= result[f"{name}@{k + 2}"] <= 1.0
    assert result["n_targets"] == len(expected_ranks)
    assert result["n_users"] == frame.loc[frame["is_target"], "user"].nunique()


@SETTINGS
@given(scored_frames())
def test_both_ranking_strategies_agree(frame):
    users = pd.factorize(frame["user"])[0].astype(np.int64)
    is_target = frame["is_target"].to_numpy()
    score = frame["score"].to_numpy()
    broadcast = metrics._frame_ranks(users, is_target, score, max_slots=8)
    binned = metrics._frame_ranks(users, is_target, score, max_slots=0)
    assert broadcast.tolist() == binned.tolist() == naive_evaluate_ranks(frame)


def test_evaluate_large_frame_strategies_agree():
    rng = np.random.default_rng(0)
    n_users, n_cand = 500, 100
    users = np.repeat(np.arange(n_users), n_cand)
    is_target = np.zeros(users.size, dtype=bool)
    is_target[rng.choice(users.size, size=1500, replace=False)] = True
    score = rng.integers(0, 50, size=users.size).astype(np.float64)
    a = metrics._frame_ranks(users, is_target, score, max_slots=100)
    b = metrics._frame_ranks(users, is_target, score, max_slots=0)
    assert a.tolist() == b.tolist()


def test_evaluate_constant_scorer_is_zero():
    frame = pd.DataFrame(
        {
            "user": np.repeat([1, 2, 3], 100),
            "item": np.tile(np.arange(100), 3),
            "is_target": np.tile(np.arange(100) == 0, 3),
            "score": 0.5,
        }
    )
    result = evaluate(frame, k=(1, 10, 99))
    assert all(result[f"{m}@{k}"] == 0.0 for m in ("hr", "ndcg", "mrr") for k in (1, 10, 99))
    assert evaluate(frame, k=100)["hr@100"] == 1.0


def test_evaluate_keys_and_special_users():
    frame = pd.DataFrame(
        {
            "user": ["a", "a", "a", "b", "b", "c"],
            "item": [1, 2, 3, 1, 2, 9],
            "is_target": [True, False, False, False, False, True],
            "score": [0.2, 0.9, 0.1, 0.5, 0.4, -1.0],
        }
    )
    result = evaluate(frame, k=(1, 5))
    assert list(result) == [
        "hr@1", "hr@5", "ndcg@1", "ndcg@5", "mrr@1", "mrr@5", "n_users", "n_targets",
    ]  # fmt: skip
    assert result["n_users"] == 2  # "b" has no target and is ignored
    assert result["n_targets"] == 2
    ranks = evaluate(frame, k=5, reduction="none")
    assert ranks["rank"].tolist() == [1, 0]  # "c" has no negatives: rank 0
    assert list(ranks.columns) == ["user", "item", "rank", "hr@5", "ndcg@5", "mrr@5"]
    assert result["hr@1"] == 0.5


def test_evaluate_several_targets_are_each_left_out():
    frame = pd.DataFrame(
        {
            "user": [1, 1, 1, 1],
            "item": [1, 2, 3, 4],
            "is_target": [True, True, False, False],
            "score": [0.9, 0.8, 0.85, 0.1],
        }
    )
    assert evaluate(frame, k=1, reduction="none")["rank"].tolist() == [0, 1]


def test_evaluate_accepts_int_target_and_custom_columns():
    frame = pd.DataFrame({"u": [1, 1], "i": [1, 2], "t": [1, 0], "s": [1.0, 0.0]})
    result = evaluate(frame, k=1, user_col="u", item_col="i", target_col="t", score_col="s")
    assert result["hr@1"] == 1.0


@pytest.mark.parametrize(
    ("change", "exc", "fragment"),
    [
        (lambda f: f.drop(columns="score"), ValueError, "score_col='score' is not a column"),
        (lambda f: f.drop(columns="user"), ValueError, "user_col='user' is not a column"),
        (lambda f: f.drop(columns="item"), ValueError, "item_col='item' is not a column"),
        (lambda f: f.drop(columns="is_target"), ValueError, "target_col='is_target' is not a"),
        (lambda f: f.assign(score=[np.nan, 1.0, 0.0]), ValueError, "column 'score' .* NaN"),
        (lambda f: f.assign(score=["a", "b", "c"]), TypeError, "numeric scores"),
        (lambda f: f.assign(is_target=["y", "n", "n"]), ValueError, "boolean-like"),
        (lambda f: f.assign(is_target=[2, 0, 0]), ValueError, "boolean-like"),
        (lambda f: f.assign(is_target=False), ValueError, "no target row"),
        (lambda f: f.assign(user=[1, None, 1]), ValueError, "missing user ids"),
        (lambda f: f.to_numpy(), TypeError, "scored must be a pandas DataFrame"),
    ],
)
def test_evaluate_bad_input(change, exc, fragment):
    frame = pd.DataFrame(
        {"user": [1, 1, 1], "item": [1, 2, 3], "is_target": [True, False, False], "score": 0.5}
    )
    with pytest.raises(exc, match=fragment):
        evaluate(change(frame))


@pytest.mark.parametrize("k", [0, [], [5, 0], "5", 2.5])
def test_evaluate_bad_k(k):
    frame = pd.DataFrame({"user": [1], "item": [1], "is_target": [True], "score": [0.0]})
    with pytest.raises(ValueError, match="k must be a positive integer"):
        evaluate(frame, k=k)


def test_evaluate_bad_reduction():
    frame = pd.DataFrame({"user": [1], "item": [1], "is_target": [True], "score": [0.0]})
    with pytest.raises(ValueError, match="reduction must be"):
        evaluate(frame, reduction="sum")


# ---------------------------------------------------------------------------------------------
# module hygiene
# ---------------------------------------------------------------------------------------------


def test_docstring_examples_run():
    result = doctest.testmod(metrics, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_importing_metrics_does_not_load_torch():
    code = "import sys, implicit_ncf.metrics; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
