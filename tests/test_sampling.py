"""Tests for implicit_ncf.sampling: training negatives and evaluation candidates."""

from __future__ import annotations

import doctest
import itertools
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from implicit_ncf import sampling
from implicit_ncf.data import interactions_to_csr
from implicit_ncf.metrics import evaluate
from implicit_ncf.sampling import (
    NegativeSampler,
    check_random_state,
    sample_candidates,
    sample_negatives,
)

SETTINGS = settings(max_examples=60, deadline=None)
RESOURCES = Path(__file__).resolve().parents[1] / "implicit_ncf" / "resources"
MASK_MODES = [pytest.param(2**26, id="mask"), pytest.param(0, id="inversion")]


# ---------------------------------------------------------------------------------------------
# check_random_state
# ---------------------------------------------------------------------------------------------


def test_check_random_state_kinds():
    assert isinstance(check_random_state(None), np.random.Generator)
    rng = np.random.default_rng(3)
    assert check_random_state(rng) is rng
    assert check_random_state(7).integers(10**9) == check_random_state(np.int64(7)).integers(10**9)


@pytest.mark.parametrize("bad", [True, 1.5, "0", np.random.RandomState(0), [1]])
def test_check_random_state_rejects_other_kinds(bad):
    with pytest.raises(TypeError, match="random_state must be None, an int seed"):
        check_random_state(bad)


def test_check_random_state_rejects_negative_seed():
    with pytest.raises(ValueError, match="random_state must be a non-negative int seed; got -1"):
        check_random_state(-1)


# ---------------------------------------------------------------------------------------------
# NegativeSampler / sample_negatives
# ---------------------------------------------------------------------------------------------


@st.composite
def seen_matrices(draw):
    n_users = draw(st.integers(1, 8))
    n_items = draw(st.integers(1, 12))
    dense = draw(
        st.lists(
            st.lists(st.booleans(), min_size=n_items, max_size=n_items),
            min_size=n_users,
            max_size=n_users,
        )
    )
    dense = np.array(dense, dtype=bool).reshape(n_users, n_items)
    if dense.all(axis=1).all():  # need one user with an unseen item
        dense[0, 0] = False
    return dense


@SETTINGS
@given(seen_matrices(), st.integers(1, 6), st.integers(0, 2**32 - 1), st.sampled_from([2**26, 0]))
def test_sample_negatives_never_returns_a_seen_item(dense, n_neg, seed, max_mask_size):
    seen = sp.csr_matrix(dense.astype(np.float32))
    ok_users = np.flatnonzero(~dense.all(axis=1))
    rng = np.random.default_rng(seed)
    user_idx = rng.choice(ok_users, size=int(rng.integers(0, 20)))
    neg = NegativeSampler(seen, max_mask_size=max_mask_size).sample(
        user_idx, n_neg, random_state=seed
    )
    assert neg.shape == (user_idx.size, n_neg)
    assert neg.dtype == np.int64
    assert ((neg >= 0) & (neg < dense.shape[1])).all()
    assert not dense[user_idx[:, None], neg].any()


@pytest.mark.parametrize("max_mask_size", MASK_MODES)
def test_sampler_is_reproducible(max_mask_size):
    rng = np.random.default_rng(0)
    dense = rng.random((30, 40)) < 0.3
    sampler = NegativeSampler(sp.csr_matrix(dense), max_mask_size=max_mask_size)
    users = rng.integers(0, 30, size=200)
    a = sampler.sample(users, 4, random_state=11)
    b = sampler.sample(users, 4, random_state=11)
    c = sampler.sample(users, 4, random_state=12)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    gen = np.random.default_rng(5)
    first = sampler.sample(users, 4, random_state=gen)
    second = sampler.sample(users, 4, random_state=gen)
    assert not np.array_equal(first, second)  # a Generator continues its stream


def test_sample_negatives_equals_sampler():
    rng = np.random.default_rng(1)
    seen = sp.csr_matrix(rng.random((20, 30)) < 0.4)
    users = rng.integers(0, 20, size=100)
    np.testing.assert_array_equal(
        sample_negatives(users, seen, 3, random_state=4),
        NegativeSampler(seen).sample(users, 3, random_state=4),
    )


@pytest.mark.parametrize("max_mask_size", MASK_MODES)
def test_sampler_is_uniform_over_unseen_items(max_mask_size):
    dense = np.zeros((2, 10), dtype=bool)
    dense[0, [0, 3]] = True
    dense[1, :] = True
    dense[1, [2, 5, 9]] = False
    sampler = NegativeSampler(sp.csr_matrix(dense), max_mask_size=max_mask_size)
    neg = sampler.sample(np.array([0, 1]), 8000, random_state=0)
    counts0 = np.bincount(neg[0], minlength=10)
    assert counts0[[0, 3]].sum() == 0
    assert chisquare(counts0[~dense[0]]).pvalue > 1e-3
    counts1 = np.bincount(neg[1], minlength=10)
    assert set(np.flatnonzero(counts1)) == {2, 5, 9}
    assert chisquare(counts1[[2, 5, 9]]).pvalue > 1e-3


def test_nearly_full_user_terminates_exactly():
    dense = np.ones((1, 3000), dtype=bool)
    dense[0, 1234] = False
    neg = sample_negatives(np.zeros(50, dtype=np.int64), sp.csr_matrix(dense), 3, random_state=0)
    assert (neg == 1234).all()


@pytest.mark.parametrize("max_mask_size", MASK_MODES)
def test_full_user_raises(max_mask_size):
    dense = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=bool)
    sampler = NegativeSampler(sp.csr_matrix(dense), max_mask_size=max_mask_size)
    assert sampler.sample(np.array([1, 1]), 2, random_state=0).tolist() == [[1, 1], [1, 1]]
    with pytest.raises(ValueError, match=r"user index\(es\) \[0, 2\] \(2 in all\) have seen all 3"):
        sampler.sample(np.array([2, 1, 0, 2]), 2, random_state=0)


def test_sampler_canonicalises_seen():
    # unsorted indices, duplicates and an explicit zero (which does not count as seen)
    seen = sp.csr_matrix(
        (np.array([1.0, 1.0, 1.0, 0.0]), np.array([2, 0, 2, 1]), np.array([0, 4])), shape=(1, 4)
    )
    neg = sample_negatives(np.zeros(200, dtype=np.int64), seen, 2, random_state=0)
    assert set(np.unique(neg)) == {1, 3}
    neg = sample_negatives(np.zeros(3, dtype=np.int64), sp.coo_matrix(seen), 1, random_state=0)
    assert set(np.unique(neg)) <= {1, 3}


def test_sampler_empty_batch_and_repr():
    sampler = NegativeSampler(sp.csr_matrix(np.eye(3)))
    assert sampler.sample(np.array([], dtype=np.int64), 4).shape == (0, 4)
    assert sampler.sample([], 4).shape == (0, 4)
    assert repr(sampler) == "NegativeSampler(n_users=3, n_items=3, nnz=3)"
    assert sampler.n_seen.tolist() == [1, 1, 1]


@pytest.mark.parametrize(
    ("kwargs", "exc", "fragment"),
    [
        ({"n_negatives": 0}, ValueError, r"n_negatives must be a positive integer; got 0\."),
        ({"n_negatives": 2.0}, TypeError, r"n_negatives must be a positive int; got float"),
        ({"n_negatives": True}, TypeError, r"n_negatives must be a positive int"),
        ({"user_idx": np.array([0.0])}, TypeError, r"user_idx must hold integer"),
        ({"user_idx": np.array([[0]])}, ValueError, r"user_idx must be a 1-D array"),
        ({"user_idx": np.array([0, 3])}, ValueError, r"indices in \[0, 2\] .* got \[3\]"),
        ({"user_idx": np.array([-1])}, ValueError, r"indices in \[0, 2\]"),
        ({"random_state": 1.5}, TypeError, r"random_state must be"),
        ({"seen": np.eye(3)}, TypeError, r"seen must be a scipy.sparse matrix"),
    ],
)
def test_sample_negatives_bad_input(kwargs, exc, fragment):
    args = {
        "user_idx": np.array([0, 1]),
        "seen": sp.csr_matrix(np.eye(3)),
        "n_negatives": 2,
        "random_state": 0,
    }
    args.update(kwargs)
    with pytest.raises(exc, match=fragment):
        sample_negatives(
            args["user_idx"], args["seen"], args["n_negatives"], random_state=args["random_state"]
        )


def test_ml1m_sized_sampling_runs():
    """ML-1M shape (6040 x 3706, ~1M positives, 4 negatives each): a smoke test, not a timing."""
    rng = np.random.default_rng(0)
    n_users, n_items = 6040, 3706
    degree = rng.integers(20, 330, size=n_users)
    users = np.repeat(np.arange(n_users), degree)
    items = rng.integers(0, n_items, size=users.size)
    seen = interactions_to_csr(users, items, n_users, n_items)
    neg = NegativeSampler(seen).sample(users, 4, random_state=0)
    dense_rows = seen[users[:50_000]].toarray().astype(bool)
    assert not dense_rows[np.arange(50_000)[:, None], neg[:50_000]].any()


# ---------------------------------------------------------------------------------------------
# sample_candidates
# ---------------------------------------------------------------------------------------------


@st.composite
def train_test_frames(draw):
    n_items = draw(st.integers(1, 15))
    n_users = draw(st.integers(1, 6))
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1)),
            min_size=1,
            max_size=40,
        )
    )
    n_test = draw(st.integers(1, max(1, len(pairs) // 2)))
    test_pairs = pairs[:n_test]
    train_pairs = pairs[n_test:] or [(0, 0)]
    # a test user / item that is absent from train now and then
    if draw(st.booleans()):
        test_pairs = [*test_pairs, (n_users + 3, draw(st.integers(0, n_items + 2)))]
    if draw(st.booleans()):
        test_pairs = [*test_pairs, (0, n_items + 7)]
    str_ids = draw(st.booleans())

    def frame(rows):
        users = [r[0] + 10 for r in rows]
        items = [f"m{r[1]}" if str_ids else r[1] * 3 for r in rows]
        return pd.DataFrame({"user": users, "item": items})

    return frame(train_pairs), frame(test_pairs)


def interacted(train: pd.DataFrame, test: pd.DataFrame) -> dict:
    both = pd.concat([train, test])
    return both.groupby("user")["item"].agg(set).to_dict()


@SETTINGS
@given(train_test_frames(), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_candidates_properties(frames, n_neg, seed):
    train, test = frames
    catalogue = set(train["item"])
    seen = interacted(train, test)
    pool = {u: len(catalogue - seen[u]) for u in test["user"].unique()}
    if min(pool.values()) < n_neg:
        with pytest.raises(ValueError, match=f"n_negatives={n_neg} is more than the"):
            sample_candidates(train, test, n_negatives=n_neg, random_state=seed)
        return
    out = sample_candidates(train, test, n_negatives=n_neg, random_state=seed)
    assert list(out.columns) == ["user", "item", "is_target"]
    assert out["is_target"].dtype == bool
    assert out["user"].dtype == test["user"].dtype
    assert out["item"].dtype == test["item"].dtype
    assert isinstance(out.index, pd.RangeIndex)
    # every test row is a target row (absent users / items are kept)
    targets = out[out["is_target"]]
    assert Counter(zip(targets["user"], targets["item"], strict=True)) == Counter(
        zip(test["user"], test["item"], strict=True)
    )
    negatives = out[~out["is_target"]]
    for user, group in negatives.groupby("user"):
        items = group["item"].tolist()
        assert len(items) == n_neg
        assert len(set(items)) == n_neg
        assert set(items) <= catalogue
        assert not set(items) & seen[user]
    assert negatives["user"].nunique() == test["user"].nunique()
    # order: users sorted, targets first within each user, negatives in item order
    assert out["user"].is_monotonic_increasing
    for _, group in out.groupby("user", sort=False):
        flags = group["is_target"].tolist()
        assert flags == sorted(flags, reverse=True)
        assert group.loc[~group["is_target"], "item"].is_monotonic_increasing
        user_targets = group.loc[group["is_target"], "item"].tolist()
        assert user_targets == test.loc[test["user"] == group["user"].iloc[0], "item"].tolist()
    # same seed, same candidates
    again = sample_candidates(train, test, n_negatives=n_neg, random_state=seed)
    pd.testing.assert_frame_equal(out, again)


@SETTINGS
@given(train_test_frames())
def test_full_ranking_is_the_complement_of_train(frames):
    train, test = frames
    out = sample_candidates(train, test, n_negatives=None)
    catalogue = set(train["item"])
    train_items = train.groupby("user")["item"].agg(set).to_dict()
    test_items = test.groupby("user")["item"].agg(set).to_dict()
    for user in test["user"].unique():
        group = out[out["user"] == user]
        negatives = set(group.loc[~group["is_target"], "item"])
        assert len(negatives) == (~group["is_target"]).sum()
        assert negatives == catalogue - train_items.get(user, set()) - test_items[user]
        # targets ∪ negatives covers every catalogue item the user has not trained on
        targets = set(group.loc[group["is_target"], "item"]) & catalogue
        assert negatives | targets == (catalogue - train_items.get(user, set())) | targets
    assert out["is_target"].sum() == len(test)


def test_full_ranking_handles_a_user_who_has_seen_everything():
    train = pd.DataFrame({"user": [1, 1, 2], "item": [1, 2, 1]})
    test = pd.DataFrame({"user": [1, 2], "item": [3, 2]})
    out = sample_candidates(train, test, n_negatives=None)
    assert out.to_dict("list") == {"user": [1, 2], "item": [3, 2], "is_target": [True, True]}


def _subset_counts(n_users: int, n_items: int, n_seen: int, n_neg: int, seed: int) -> Counter:
    users = np.repeat(np.arange(n_users), n_seen)
    train = pd.DataFrame({"user": users, "item": np.tile(np.arange(n_seen), n_users)})
    # every item in the catalogue: one extra user has trained on all of them
    train = pd.concat(
        [train, pd.DataFrame({"user": -1, "item": np.arange(n_items)})], ignore_index=True
    )
    test = pd.DataFrame({"user": np.arange(n_users), "item": n_seen})  # target: item n_seen
    out = sample_candidates(train, test, n_negatives=n_neg, random_state=seed)
    negatives = out[~out["is_target"]]
    assert not negatives["item"].isin(range(n_seen + 1)).any()
    groups = negatives.groupby("user")["item"].agg(tuple)
    return Counter(groups.tolist())


@pytest.mark.parametrize(
    ("n_items", "n_seen", "n_neg"),
    [
        pytest.param(7, 2, 2, id="small-pool"),  # pool 4 <= 2 * n_neg: random keys
        pytest.param(8, 2, 2, id="large-pool"),  # pool 5 > 2 * n_neg: rejection of duplicates
    ],
)
def test_candidates_are_uniform_over_subsets(n_items, n_seen, n_neg):
    counts = _subset_counts(20_000, n_items, n_seen, n_neg, seed=1)
    pool = range(n_seen + 1, n_items)
    subsets = list(itertools.combinations(pool, n_neg))
    assert set(counts) == set(subsets)
    assert chisquare([counts[s] for s in subsets]).pvalue > 1e-3


def test_candidates_item_marginals_are_uniform():
    counts = _subset_counts(2000, 40, 5, 6, seed=2)
    per_item = Counter(item for subset, c in counts.items() for item in subset for _ in range(c))
    observed = [per_item[i] for i in range(6, 40)]
    assert chisquare(observed).pvalue > 1e-3


def test_candidates_pool_too_small_message():
    train = pd.DataFrame({"user": ["u1", "u1", "u2"], "item": [1, 2, 3]})
    test = pd.DataFrame({"user": ["u1", "u2"], "item": [3, 1]})
    with pytest.raises(ValueError) as info:
        sample_candidates(train, test, n_negatives=2)
    message = str(info.value)
    for fragment in ("n_negatives=2", "user 'u1'", "0 catalogue item(s)", "n_negatives=None"):
        assert fragment in message


def test_candidates_pool_message_suggests_a_lower_value():
    train = pd.DataFrame({"user": [1, 1, 2], "item": [1, 2, 3]})
    test = pd.DataFrame({"user": [1, 2], "item": [9, 1]})
    with pytest.raises(ValueError, match=r"user 1 has not interacted with .* at most 1, or pass"):
        sample_candidates(train, test, n_negatives=2)
    out = sample_candidates(train, test, n_negatives=1, random_state=0)
    assert out.to_dict("list") == {
        "user": [1, 1, 2, 2],
        "item": [9, 3, 1, 2],
        "is_target": [True, False, True, False],
    }


def test_candidates_keep_ids_absent_from_train_and_dtypes():
    train = pd.DataFrame(
        {"user": np.array([5, 5, 6], dtype=np.int32), "item": pd.array(["a", "b", "c"], "string")}
    )
    test = pd.DataFrame(
        {"user": np.array([5, 7], dtype=np.int32), "item": pd.array(["z", "a"], "string")}
    )
    out = sample_candidates(train, test, n_negatives=1, random_state=0)
    assert out["user"].dtype == np.int32
    assert out["item"].dtype == train["item"].dtype
    assert out["user"].tolist() == [5, 5, 7, 7]
    assert out["is_target"].tolist() == [True, False, True, False]
    items = out["item"].tolist()
    assert items[:3] == ["z", "c", "a"]  # user 7 is new, item "z" is new: both kept
    assert items[3] in {"b", "c"}
    # user 5 interacted with a, b (train) and z (test, outside the catalogue): only c is left
    with pytest.raises(ValueError, match="user 5 has not interacted"):
        sample_candidates(train, test, n_negatives=2)


def test_candidates_ignore_input_index_and_row_order():
    train = pd.DataFrame({"user": [2, 1, 2, 1], "item": [1, 2, 3, 4]}, index=[9, 9, 3, 1])
    test = pd.DataFrame({"user": [2, 1, 1], "item": [5, 6, 1]}, index=["a", "b", "c"])
    out = sample_candidates(train, test, n_negatives=None)
    assert out.to_dict("list") == {
        "user": [1, 1, 1, 2, 2, 2],
        "item": [6, 1, 3, 5, 2, 4],
        "is_target": [True, True, False, True, False, False],
    }


@pytest.mark.parametrize(
    ("kwargs", "exc", "fragment"),
    [
        ({"n_negatives": 0}, ValueError, r"n_negatives must be a positive integer; got 0\."),
        ({"n_negatives": 2.5}, TypeError, r"n_negatives must be a positive int or None"),
        ({"n_negatives": True}, TypeError, r"n_negatives must be a positive int or None"),
        ({"user_col": "uid"}, ValueError, r"user_col='uid' is not a column"),
        ({"random_state": "x"}, TypeError, r"random_state must be"),
    ],
)
def test_candidates_bad_input(kwargs, exc, fragment):
    train = pd.DataFrame({"user": [1, 1, 2], "item": [1, 2, 3]})
    test = pd.DataFrame({"user": [1], "item": [3]})
    with pytest.raises(exc, match=fragment):
        sample_candidates(train, test, **{"n_negatives": 1, **kwargs})


def test_candidates_validate_frames():
    train = pd.DataFrame({"user": [1], "item": [1]})
    with pytest.raises(ValueError, match="test is empty"):
        sample_candidates(train, train.iloc[:0], n_negatives=1)
    with pytest.raises(TypeError, match="train must be a pandas DataFrame"):
        sample_candidates([(1, 1)], train, n_negatives=1)
    with pytest.raises(ValueError, match="missing id"):
        sample_candidates(train, pd.DataFrame({"user": [None], "item": [1]}), n_negatives=1)


# ---------------------------------------------------------------------------------------------
# the embedded ml-latest-small
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ml_small_split():
    ratings = pd.read_csv(RESOURCES / "ml-latest-small" / "ratings.csv.gz")
    data = ratings.rename(columns={"userId": "user", "movieId": "item"})
    last = data.groupby("user")["timestamp"].idxmax()
    return data.drop(index=last)[["user", "item"]], data.loc[last, ["user", "item"]]


def test_ml_latest_small_candidates_never_contain_a_seen_item(ml_small_split):
    train, test = ml_small_split
    out = sample_candidates(train, test, n_negatives=99, random_state=0)
    assert len(out) == 610 * 100
    assert out["is_target"].sum() == 610
    assert (out.groupby("user")["is_target"].agg(["sum", "size"]).to_numpy() == [1, 100]).all()
    negatives = out[~out["is_target"]]
    both = pd.concat([train, test])
    leaked = negatives.merge(both, on=["user", "item"], how="inner")
    assert leaked.empty
    assert negatives["item"].isin(train["item"]).all()
    assert not negatives.duplicated(["user", "item"]).any()
    # a random scorer ranks the target uniformly among 100 candidates
    rng = np.random.default_rng(0)
    result = evaluate(out.assign(score=rng.random(len(out))), k=10)
    assert 0.05 < result["hr@10"] < 0.15
    assert evaluate(out.assign(score=out["is_target"].astype(float)), k=1)["hr@1"] == 1.0


def test_ml_latest_small_full_ranking(ml_small_split):
    train, test = ml_small_split
    out = sample_candidates(train, test, n_negatives=None)
    n_items = train["item"].nunique()
    train_sizes = train.groupby("user").size()
    sizes = out.groupby("user").size()
    test_in_catalogue = test.assign(known=test["item"].isin(train["item"])).set_index("user")
    # each user: every catalogue item not in train, plus a target outside the catalogue if any
    expected = n_items - train_sizes + (~test_in_catalogue["known"]).astype(int)
    pd.testing.assert_series_equal(sizes, expected.reindex(sizes.index), check_names=False)


# ---------------------------------------------------------------------------------------------
# module hygiene
# ---------------------------------------------------------------------------------------------


def test_docstring_examples_run():
    result = doctest.testmod(sampling, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_importing_sampling_does_not_load_torch():
    code = "import sys, implicit_ncf.sampling; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_compact_epoch_holds_int32_indices_and_decodes_the_same_examples(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The compact epoch keeps its positives' users and items in int32 (half the memory of
    the int64 gather, block by block), and decodes to the same int64 examples as the int64
    form would."""
    import torch

    import implicit_ncf.batches as batches
    from implicit_ncf.batches import _EpochBatches, _EpochParts
    from implicit_ncf.data import interactions_to_csr

    rng = np.random.default_rng(0)
    u = np.repeat(np.arange(50), 6).astype(np.int64)
    i = np.concatenate([rng.choice(40, 6, replace=False) for _ in range(50)]).astype(np.int64)
    seen = interactions_to_csr(u, i, 50, 40)
    data = _EpochBatches(u, i, NegativeSampler(seen), n_negatives=3, batch_size=32, seed=1)
    monkeypatch.setattr(batches, "_NEGATIVE_CHUNK", 7)  # the gather in blocks of 7
    users, items, _, _ = data._shuffled_positives(0)
    parts = data._parts(0)
    assert parts.users.dtype == np.int32 and parts.items.dtype == np.int32
    np.testing.assert_array_equal(parts.users, users)
    np.testing.assert_array_equal(parts.items, items)
    wide = _EpochParts(users, items, parts.negatives.astype(np.int64), parts.order, None)
    for got, want in zip(data._decode(parts, 0, 500), data._decode(wide, 0, 500), strict=True):
        assert got.dtype == want.dtype
        assert torch.equal(got, want)
    assert data._decode(parts, 0, 10)[0].dtype == torch.int64
    # indices past int32 keep their width
    big = np.array([0, 2**31 + 5], dtype=np.int64)
    assert batches._gather32(big, np.array([1, 0])).tolist() == [2**31 + 5, 0]


def test_large_epochs_draw_negatives_in_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Above _NEGATIVE_CHUNK draws an epoch's negatives come a block of users at a time, into
    an int32 array: still never a training item of the user, n_negatives per positive, and
    deterministic for a seed; at or below it, one call as before."""
    import implicit_ncf.batches as batches
    from implicit_ncf.batches import _EpochBatches
    from implicit_ncf.data import interactions_to_csr

    rng = np.random.default_rng(0)
    u = np.repeat(np.arange(50), 6)
    i = np.concatenate([rng.choice(40, 6, replace=False) for _ in range(50)])
    seen = interactions_to_csr(u, i, 50, 40)
    data = _EpochBatches(u, i, NegativeSampler(seen), n_negatives=3, batch_size=32, seed=1)
    whole = data._parts(0).negatives
    monkeypatch.setattr(batches, "_NEGATIVE_CHUNK", 20)  # 900 draws: blocks of 6 users
    users = data._shuffled_positives(0)[0]
    parts = data._parts(0)
    assert parts.negatives.dtype == np.int32 and len(parts.negatives) == 3 * len(users)
    assert not seen[np.repeat(users, 3), parts.negatives].any()
    np.testing.assert_array_equal(parts.negatives, data._parts(0).negatives)
    assert whole.dtype == np.int32 and len(whole) == len(parts.negatives)
