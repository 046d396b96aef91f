"""Tests for the beyond-accuracy metrics: novelty, average popularity, Gini index, diversity."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from implicit_ncf.metrics import average_popularity, gini_index, intra_list_diversity, novelty

SETTINGS = settings(max_examples=50, deadline=None)

# Six training users; popularity a: 4 users, b: 2, c: 1, d: 1 (the repeated (1, "a") counts once)
TRAIN = pd.DataFrame(
    {
        "user": [1, 2, 3, 4, 1, 5, 6, 1, 1],
        "item": ["a", "a", "a", "a", "b", "b", "c", "d", "a"],
    }
)
RECS = pd.DataFrame(
    {
        "user": [1, 1, 2, 2, 2, 3],
        "item": ["a", "b", "a", "c", "x", "d"],  # "x" never occurs in training
        "score": [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],
    }
)


@st.composite
def cases(draw):
    """A training frame and recommendation lists over a small catalogue of integer items."""
    n_items = draw(st.integers(1, 8))
    n_users = draw(st.integers(1, 8))
    train_rows = draw(
        st.lists(
            st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1)),
            min_size=1,
            max_size=30,
        )
    )
    rec_rows = []
    for user in range(draw(st.integers(1, 6))):
        items = draw(st.lists(st.integers(0, n_items + 1), min_size=1, max_size=5, unique=True))
        rec_rows.extend((user, item) for item in items)
    train = pd.DataFrame(train_rows, columns=["user", "item"])
    recs = pd.DataFrame(rec_rows, columns=["user", "item"])
    return train, recs


# ---------------------------------------------------------------------------------------------
# hand-computed cases
# ---------------------------------------------------------------------------------------------


def test_novelty_hand_computed():
    # p = share of the 6 training users: a 4/6, b 2/6, c 1/6, d 1/6, x unseen -> counted as 1/6
    info = {i: math.log2(6 / c) for i, c in {"a": 4, "b": 2, "c": 1, "d": 1, "x": 1}.items()}
    expected = np.mean(
        [
            (info["a"] + info["b"]) / 2,  # user 1
            (info["a"] + info["c"] + info["x"]) / 3,  # user 2
            info["d"],  # user 3
        ]
    )
    assert novelty(RECS, TRAIN) == pytest.approx(expected)


def test_average_popularity_hand_computed():
    expected = np.mean([(4 + 2) / 2, (4 + 1 + 0) / 3, 1])  # per list, then over users
    assert average_popularity(RECS, TRAIN) == pytest.approx(expected)


def test_gini_index_hand_computed():
    # exposure over the catalogue {a, b, c, d} plus the recommended x: a 2, b 1, c 1, d 1, x 1;
    # sorted [1, 1, 1, 1, 2], weights 2j - n - 1 = -4, -2, 0, 2, 4: (-4 - 2 + 0 + 2 + 8) / (4 * 6)
    assert gini_index(RECS, TRAIN) == pytest.approx(1 / 6)


def test_gini_counts_never_recommended_items():
    train = pd.DataFrame({"user": [1, 1, 1, 1], "item": [1, 2, 3, 4]})
    recs = pd.DataFrame({"user": [1, 2], "item": [1, 2]})  # exposure sorted [0, 0, 1, 1]
    assert gini_index(recs, train) == pytest.approx((1 + 3) / (3 * 2))


def test_gini_extremes():
    train = pd.DataFrame({"user": [1, 1, 1], "item": ["a", "b", "c"]})
    everyone_a = pd.DataFrame({"user": [1, 2, 3, 4], "item": ["a"] * 4})
    assert gini_index(everyone_a, train) == 1.0
    even = pd.DataFrame({"user": [1, 1, 1], "item": ["a", "b", "c"]})
    assert gini_index(even, train) == 0.0
    one_item = pd.DataFrame({"user": [1], "item": ["a"]})
    assert gini_index(one_item, pd.DataFrame({"user": [1], "item": ["a"]})) == 0.0


def test_intra_list_diversity_hand_computed():
    vectors = {"a": [1.0, 0.0, 0.0], "b": [1.0, 1.0, 0.0], "c": [0.0, 0.0, 5.0], "d": [-2.0, 0, 0]}
    recs = pd.DataFrame({"user": [1, 1, 1, 2, 2, 3], "item": ["a", "b", "c", "a", "d", "c"]})
    cos_ab = 1 / math.sqrt(2)
    user1 = ((1 - cos_ab) + (1 - 0.0) + (1 - 0.0)) / 3  # pairs ab, ac, bc
    user2 = 1 - (-1.0)  # opposite vectors: distance 2
    # user 3 has a single item: no pair, left out
    assert intra_list_diversity(recs, vectors) == pytest.approx((user1 + user2) / 2)


def test_intra_list_diversity_accepts_frames_and_arrays():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(6, 4))
    recs = pd.DataFrame({"user": [1, 1, 1, 2, 2], "item": [0, 3, 5, 1, 2]})
    from_array = intra_list_diversity(recs, table)
    from_dict = intra_list_diversity(recs, {i: table[i] for i in range(6)})
    from_frame = intra_list_diversity(recs, pd.DataFrame(table, index=range(6)))
    assert from_array == pytest.approx(from_dict) == pytest.approx(from_frame)


# ---------------------------------------------------------------------------------------------
# properties
# ---------------------------------------------------------------------------------------------


def naive_ild(recs: pd.DataFrame, vectors: np.ndarray) -> float:
    values = []
    for _, items in recs.groupby("user", sort=False)["item"]:
        items = items.tolist()
        if len(items) < 2:
            continue
        pairs = [
            1 - vectors[i] @ vectors[j] / (np.linalg.norm(vectors[i]) * np.linalg.norm(vectors[j]))
            for a, i in enumerate(items)
            for b, j in enumerate(items)
            if a != b
        ]
        values.append(np.mean(pairs))
    return float(np.mean(values))


@SETTINGS
@given(cases())
def test_novelty_and_popularity_bounds(case):
    train, recs = case
    n_users = train["user"].nunique()
    assert 0.0 <= novelty(recs, train) <= math.log2(n_users) + 1e-12
    assert 0.0 <= average_popularity(recs, train) <= n_users


@SETTINGS
@given(cases(), st.randoms(use_true_random=False))
def test_row_order_and_item_labels_do_not_matter(case, rnd):
    train, recs = case
    shuffled_train = train.sample(frac=1.0, random_state=rnd.randint(0, 1000))
    shuffled_recs = recs.sample(frac=1.0, random_state=rnd.randint(0, 1000))
    for fn in (novelty, average_popularity, gini_index):
        assert fn(shuffled_recs, shuffled_train) == pytest.approx(fn(recs, train))
    rename = {i: f"item-{(i * 7) % 11}" for i in range(12)}  # a relabelling of the ids
    relabelled = gini_index(
        recs.assign(item=recs["item"].map(rename)), train.assign(item=train["item"].map(rename))
    )
    assert relabelled == pytest.approx(gini_index(recs, train))


@SETTINGS
@given(cases())
def test_gini_is_in_the_unit_interval(case):
    train, recs = case
    assert 0.0 <= gini_index(recs, train) <= 1.0


@SETTINGS
@given(cases(), st.integers(0, 2**16))
def test_ild_matches_a_pairwise_loop_bounds_and_scale_invariance(case, seed):
    _, recs = case
    if recs.groupby("user").size().max() < 2:
        return
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(12, 3))
    value = intra_list_diversity(recs, vectors)
    assert value == pytest.approx(naive_ild(recs, vectors))
    assert 0.0 <= value <= 2.0
    scaled = vectors * rng.uniform(0.1, 10.0, size=(12, 1))  # positive scaling per item
    assert intra_list_diversity(recs, scaled) == pytest.approx(value)
    same = np.tile([[1.0, 2.0, 3.0]], (12, 1))
    assert intra_list_diversity(recs, same) == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [novelty, average_popularity, gini_index])
def test_popularity_metrics_bad_input(fn):
    with pytest.raises(TypeError, match="recommendations must be a pandas DataFrame"):
        fn(RECS.to_numpy(), TRAIN)
    with pytest.raises(TypeError, match="train must be a pandas DataFrame"):
        fn(RECS, TRAIN.to_numpy())
    with pytest.raises(ValueError, match="item_col='item' is not a column of recommendations"):
        fn(RECS.drop(columns="item"), TRAIN)
    with pytest.raises(ValueError, match="user_col='uid' is not a column of recommendations"):
        fn(RECS, TRAIN, user_col="uid")
    with pytest.raises(ValueError, match="recommendations has no rows"):
        fn(RECS.iloc[:0], TRAIN)
    with pytest.raises(ValueError, match="train has no rows"):
        fn(RECS, TRAIN.iloc[:0])
    with pytest.raises(ValueError, match="column 'user' of recommendations has missing ids"):
        fn(RECS.assign(user=[1, None, 2, 2, 2, 3]), TRAIN)


def test_custom_columns():
    train = TRAIN.rename(columns={"user": "u", "item": "i"})
    recs = RECS.rename(columns={"user": "u", "item": "i"})
    assert novelty(recs, train, user_col="u", item_col="i") == novelty(RECS, TRAIN)
    vectors = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [1.0, 1.0], "d": [1.0, 0.0], "x": [0.0, 1.0]}
    assert intra_list_diversity(recs, vectors, user_col="u", item_col="i") == pytest.approx(
        intra_list_diversity(RECS, vectors)
    )


def test_intra_list_diversity_bad_input():
    recs = pd.DataFrame({"user": [1, 1], "item": [0, 1]})
    with pytest.raises(ValueError, match=r"no vector for 1 recommended item\(s\), e.g. \[1\]"):
        intra_list_diversity(recs, {0: [1.0, 0.0]})
    with pytest.raises(ValueError, match="no vector for"):
        intra_list_diversity(recs, np.ones((1, 2)))
    with pytest.raises(ValueError, match="zero vector"):
        intra_list_diversity(recs, np.array([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="shape \\(n_items, n_dims\\)"):
        intra_list_diversity(recs, np.ones(3))
    with pytest.raises(ValueError, match="one common length"):
        intra_list_diversity(recs, {0: [1.0], 1: [1.0, 2.0]})
    with pytest.raises(ValueError, match="repeated index labels"):
        intra_list_diversity(recs, pd.DataFrame(np.ones((2, 2)), index=[0, 0]))
    with pytest.raises(ValueError, match="NaN or infinite"):
        intra_list_diversity(recs, np.array([[1.0, np.nan], [1.0, 0.0]]))
    with pytest.raises(TypeError, match="item ids must be the integer row numbers"):
        intra_list_diversity(pd.DataFrame({"user": [1, 1], "item": ["a", "b"]}), np.ones((2, 2)))
    with pytest.raises(TypeError, match="item_vectors must be a dict"):
        intra_list_diversity(recs, [[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="two or more items"):
        intra_list_diversity(pd.DataFrame({"user": [1, 2], "item": [0, 1]}), np.eye(2))
