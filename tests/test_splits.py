"""Tests of implicit_ncf.splits: leave-one-out, temporal split and the leakage report.

Property tests compare the vectorised splits against naive per-user Python references on
hypothesis-generated frames with repeats, ties, single-interaction users and int, string and mixed
ids; crafted cases pin the documented rules; the embedded ml-latest-small checks the contract on
real data.
"""

from __future__ import annotations

import doctest
import subprocess
import sys
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from implicit_ncf import splits
from implicit_ncf.data import IdEncoder
from implicit_ncf.splits import (
    LeakageReport,
    Split,
    SplitWarning,
    leakage_report,
    leave_one_out,
    temporal_split,
)

ML_SMALL = (
    Path(__file__).resolve().parents[1]
    / "implicit_ncf"
    / "resources"
    / "ml-latest-small"
    / "ratings.csv.gz"
)

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --------------------------------------------------------------------------------------------------
# strategies

ID_POOLS: dict[str, list[Any]] = {
    "int": [3, 1, 10, 2, 7, 5],
    "str": ["b", "a", "ab", "B", "z", "10"],
    "mixed": [2, "a", 10, "10", "b", 1],
}


@st.composite
def interaction_frames(
    draw: st.DrawFn, *, time_kind: str | None = None, max_rows: int = 30
) -> pd.DataFrame:
    """Small frames with repeats, ties, single-item users, arbitrary index labels, extra columns."""
    user_pool = ID_POOLS[draw(st.sampled_from(sorted(ID_POOLS)))]
    item_pool = ID_POOLS[draw(st.sampled_from(sorted(ID_POOLS)))]
    n_users = draw(st.integers(1, len(user_pool)))
    n_items = draw(st.integers(1, len(item_pool)))
    max_time = draw(st.sampled_from([0, 2, 5, 50]))
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(0, n_users - 1),
                st.integers(0, n_items - 1),
                st.integers(0, max_time),
            ),
            min_size=1,
            max_size=max_rows,
        )
    )
    n = len(rows)
    labels = draw(st.permutations(range(n)))
    kind = time_kind or draw(st.sampled_from(["int", "float", "datetime", "datetime_tz"]))
    times = np.array([r[2] for r in rows], dtype=np.int64)
    timestamp: Any
    if kind == "int":
        timestamp = times
    elif kind == "float":
        timestamp = times * 0.5
    elif kind == "datetime":
        timestamp = pd.to_datetime(times, unit="s")
    else:
        timestamp = pd.to_datetime(times, unit="s", utc=True).tz_convert("Europe/Paris")
    return pd.DataFrame(
        {
            "user": pd.Series([user_pool[r[0]] for r in rows], dtype=object).infer_objects(),
            "item": pd.Series([item_pool[r[1]] for r in rows], dtype=object).infer_objects(),
            "timestamp": timestamp,
            "rating": np.arange(n, dtype=np.float32) / 2,
        }
    ).set_axis(pd.Index([7 + 3 * label for label in labels]), axis=0)


def shuffled(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    return frame.iloc[np.random.default_rng(seed).permutation(len(frame))]


# --------------------------------------------------------------------------------------------------
# naive references


def ref_leave_one_out(
    frame: pd.DataFrame, *, time_col: str | None = "timestamp", validation: bool = False
) -> tuple[list[Any], list[Any], list[Any] | None]:
    """Labels of (train, test, validation) rows by a per-user Python loop (time_col given)."""
    rank = {v: k for k, v in enumerate(IdEncoder().fit(frame["item"]).classes_)}
    records = [
        (label, user, item, 0 if time_col is None else t)
        for label, user, item, t in zip(
            frame.index, frame["user"], frame["item"], frame["timestamp"], strict=True
        )
    ]

    def hold(rows: list[tuple[Any, ...]]) -> tuple[list[Any], list[tuple[Any, ...]]]:
        by_user: dict[Any, list[tuple[Any, ...]]] = defaultdict(list)
        for row in rows:
            by_user[row[1]].append(row)
        held = {}
        for user, user_rows in by_user.items():
            if len({row[2] for row in user_rows}) < 2:
                continue
            held[user] = max(user_rows, key=lambda r: (r[3], rank[r[2]], r[0]))
        rest = [r for r in rows if not (r[1] in held and held[r[1]][2] == r[2])]
        return sorted(r[0] for r in held.values()), rest

    test, rest = hold(records)
    val = None
    if validation:
        val, rest = hold(rest)
    return sorted(r[0] for r in rest), test, val


def pairs(frame: pd.DataFrame) -> set[tuple[Any, Any]]:
    return set(zip(frame["user"], frame["item"], strict=True))


def n_distinct_items(frame: pd.DataFrame) -> dict[Any, int]:
    out: dict[Any, set[Any]] = defaultdict(set)
    for user, item in zip(frame["user"], frame["item"], strict=True):
        out[user].add(item)
    return {user: len(items) for user, items in out.items()}


def assert_subset_of(part: pd.DataFrame, frame: pd.DataFrame) -> None:
    """``part`` holds rows of ``frame``: same columns, dtypes, labels and values."""
    assert list(part.columns) == list(frame.columns)
    assert (part.dtypes == frame.dtypes).all()
    assert part.index.is_unique
    assert part.index.isin(frame.index).all()
    pd.testing.assert_frame_equal(part, frame.loc[part.index])


def sorted_frame(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_index()


def quiet_loo(frame: pd.DataFrame, **kwargs: Any) -> Split:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        return leave_one_out(frame, **kwargs)


def has_eligible_user(frame: pd.DataFrame) -> bool:
    return max(n_distinct_items(frame).values()) >= 2


# --------------------------------------------------------------------------------------------------
# leave_one_out: properties


def check_loo_contract(frame: pd.DataFrame, split: Split) -> None:
    """Contract points that hold with or without timestamps."""
    train, test = split.train, split.test
    assert_subset_of(train, frame)
    assert_subset_of(test, frame)
    distinct = n_distinct_items(frame)
    eligible = {user for user, n in distinct.items() if n >= 2}
    # exactly one test row per eligible user, none for the others
    assert sorted(map(repr, test["user"])) == sorted(map(repr, eligible))
    assert test["user"].is_unique
    # users with one distinct item stay wholly in train
    single = frame[~frame["user"].isin(list(eligible))]
    assert set(single.index) <= set(train.index)
    # every copy of a held-out pair leaves train; pairs covered; disjoint
    parts = [train, test] + ([split.validation] if split.validation is not None else [])
    labels = [set(p.index) for p in parts]
    for a in range(len(parts)):
        for b in range(a + 1, len(parts)):
            assert not (pairs(parts[a]) & pairs(parts[b]))
            assert not (labels[a] & labels[b])
    assert set().union(*(pairs(p) for p in parts)) == pairs(frame)
    # rows in no part are copies of held-out pairs
    held = set().union(*(pairs(p) for p in parts[1:]))
    dropped = frame.drop(index=list(set().union(*labels)))
    assert pairs(dropped) <= held
    # test rows keep the input order
    positions = frame.index.get_indexer(test.index)
    assert (np.diff(positions) > 0).all()


@PROPERTY
@given(frame=interaction_frames(), validation=st.booleans())
def test_leave_one_out_matches_reference(frame: pd.DataFrame, validation: bool) -> None:
    if not has_eligible_user(frame):
        with pytest.raises(ValueError, match="two distinct items"):
            leave_one_out(frame, validation=validation)
        return
    split = quiet_loo(frame, validation=validation)
    check_loo_contract(frame, split)
    train, test, val = ref_leave_one_out(frame, validation=validation)
    assert sorted(split.train.index) == train
    assert sorted(split.test.index) == test
    if validation:
        assert split.validation is not None
        assert sorted(split.validation.index) == val
    else:
        assert split.validation is None


@PROPERTY
@given(frame=interaction_frames(), validation=st.booleans())
def test_leave_one_out_test_row_is_latest(frame: pd.DataFrame, validation: bool) -> None:
    if not has_eligible_user(frame):
        return
    split = quiet_loo(frame, validation=validation)
    latest = frame.groupby("user")["timestamp"].max()
    for label, row in split.test.iterrows():
        assert row["timestamp"] == latest[row["user"]]
        same_pair = frame[(frame["user"] == row["user"]) & (frame["item"] == row["item"])]
        assert row["timestamp"] == same_pair["timestamp"].max()
        assert label == same_pair.index[same_pair["timestamp"] == row["timestamp"]].max()
    if validation:
        assert split.validation is not None
        test_time = split.test.set_index("user")["timestamp"]
        for _, row in split.validation.iterrows():
            assert row["timestamp"] <= test_time[row["user"]]
            user_train = split.train[split.train["user"] == row["user"]]
            assert (user_train["timestamp"] <= row["timestamp"]).all()


@PROPERTY
@given(frame=interaction_frames(), seed=st.integers(0, 2**16), validation=st.booleans())
def test_leave_one_out_ignores_row_order(frame: pd.DataFrame, seed: int, validation: bool) -> None:
    if not has_eligible_user(frame):
        return
    a = quiet_loo(frame, validation=validation)
    b = quiet_loo(shuffled(frame, seed), validation=validation)
    pd.testing.assert_frame_equal(sorted_frame(a.train), sorted_frame(b.train))
    pd.testing.assert_frame_equal(sorted_frame(a.test), sorted_frame(b.test))
    if validation:
        assert a.validation is not None and b.validation is not None
        pd.testing.assert_frame_equal(sorted_frame(a.validation), sorted_frame(b.validation))


@PROPERTY
@given(frame=interaction_frames(time_kind="int"))
def test_leave_one_out_datetime_matches_numeric(frame: pd.DataFrame) -> None:
    if not has_eligible_user(frame):
        return
    numeric = quiet_loo(frame, validation=True)
    for stamps in (
        pd.to_datetime(frame["timestamp"], unit="s"),
        pd.to_datetime(frame["timestamp"], unit="s", utc=True).dt.tz_convert("Asia/Tokyo"),
    ):
        dated = quiet_loo(frame.assign(timestamp=stamps), validation=True)
        for part in ("train", "test", "validation"):
            assert list(getattr(dated, part).index) == list(getattr(numeric, part).index)


@PROPERTY
@given(
    frame=interaction_frames(),
    seed=st.integers(0, 2**16),
    order_seed=st.integers(0, 2**16),
    validation=st.booleans(),
)
def test_leave_one_out_random_contract(
    frame: pd.DataFrame, seed: int, order_seed: int, validation: bool
) -> None:
    if not has_eligible_user(frame):
        with pytest.raises(ValueError, match="two distinct items"):
            leave_one_out(frame, time_col=None, random_state=seed)
        return
    split = quiet_loo(frame, time_col=None, random_state=seed, validation=validation)
    check_loo_contract(frame, split)
    # the test row is the copy of its pair with the greatest index label
    for label, row in split.test.iterrows():
        same_pair = frame[(frame["user"] == row["user"]) & (frame["item"] == row["item"])]
        assert label == same_pair.index.max()
    again = quiet_loo(frame, time_col=None, random_state=seed, validation=validation)
    other_order = quiet_loo(
        shuffled(frame, order_seed), time_col=None, random_state=seed, validation=validation
    )
    for part in ("train", "test", "validation"):
        a, b, c = (getattr(s, part) for s in (split, again, other_order))
        if a is None:
            assert b is None and c is None
            continue
        pd.testing.assert_frame_equal(a, b)
        pd.testing.assert_frame_equal(sorted_frame(a), sorted_frame(c))


# --------------------------------------------------------------------------------------------------
# leave_one_out: crafted cases


def test_doctests() -> None:
    result = doctest.testmod(splits, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_split_repr() -> None:
    frame = pd.DataFrame({"user": [1, 1], "item": [1, 2], "timestamp": [1, 2]})
    assert repr(leave_one_out(frame)) == "Split(train=1 rows, test=1 rows)"
    assert repr(leave_one_out(frame, validation=True)) == (
        "Split(train=1 rows, test=1 rows, validation=0 rows)"
    )


def test_repeat_of_latest_pair_leaves_train_entirely() -> None:
    frame = pd.DataFrame(
        {
            "user": [1, 1, 1, 1, 1],
            "item": ["x", "y", "x", "z", "x"],
            "timestamp": [1, 2, 3, 4, 9],
        },
        index=[10, 11, 12, 13, 14],
    )
    with pytest.warns(SplitWarning, match="dropped 2 earlier copies"):
        split = leave_one_out(frame)
    assert split.test.index.tolist() == [14]
    assert split.train.index.tolist() == [11, 13]
    assert "x" not in set(split.train["item"])


def test_repeat_of_validation_pair_leaves_train() -> None:
    frame = pd.DataFrame(
        {"user": [1] * 5, "item": ["y", "x", "z", "y", "x"], "timestamp": [1, 2, 3, 4, 5]}
    )
    with pytest.warns(SplitWarning, match="dropped 2 earlier copies"):
        split = leave_one_out(frame, validation=True)
    assert split.test.index.tolist() == [4]
    assert split.validation is not None and split.validation.index.tolist() == [3]
    assert split.train.index.tolist() == [2]


def test_no_warning_without_repeats() -> None:
    frame = pd.DataFrame({"user": [1, 1, 2, 2], "item": [1, 2, 1, 2], "timestamp": [1, 2, 3, 4]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        leave_one_out(frame, validation=True)


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([5, 40, 300, 7], 300),  # ints sort numerically
        (["b", "ab", "B", "a"], "b"),  # strings sort as text
        ([5, 40, "a", 7], "a"),  # mixed ids sort by type name first: 'int' < 'str'
        ([5, 40, 300, "a"], 5),  # ... then by text: '5' > '40' > '300'
    ],
)
def test_tie_at_latest_timestamp_holds_out_greatest_item(items: list[Any], expected: Any) -> None:
    frame = pd.DataFrame(
        {
            "user": ["u"] * 4 + ["v"] * 2,
            "item": [*items, items[0], items[1]],
            "timestamp": [8, 8, 8, 1, 3, 3],
        }
    )
    frame.loc[3, "timestamp"] = 1 if items[3] != expected else 8
    for seed in range(5):
        split = leave_one_out(shuffled(frame, seed))
        held = dict(zip(split.test["user"], split.test["item"], strict=True))
        assert held["u"] == expected
        assert held["v"] == max(
            items[:2], key=IdEncoder().fit(frame["item"]).classes_.tolist().index
        )


def test_tie_between_copies_of_the_same_pair_uses_index_label() -> None:
    frame = pd.DataFrame(
        {"user": [1, 1, 1], "item": [2, 2, 1], "timestamp": [5, 5, 1], "rating": [1.0, 2.0, 3.0]},
        index=["b", "c", "a"],
    )
    for seed in range(4):
        with pytest.warns(SplitWarning):
            split = leave_one_out(shuffled(frame, seed))
        assert split.test.index.tolist() == ["c"]
        assert split.test["rating"].tolist() == [2.0]


def test_single_interaction_users_stay_in_train() -> None:
    frame = pd.DataFrame(
        {"user": [1, 2, 2, 2, 3, 3], "item": [1, 1, 2, 1, 4, 4], "timestamp": [1, 2, 3, 4, 5, 6]}
    )
    split = quiet_loo(frame, validation=True)
    assert split.test["user"].tolist() == [2]
    assert {1, 3} <= set(split.train["user"])
    assert split.train[split.train["user"].isin([1, 3])].index.tolist() == [0, 4, 5]
    assert split.validation is not None and len(split.validation) == 0


def test_shuffled_input_gives_same_split() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "user": rng.integers(0, 30, 600),
            "item": rng.integers(0, 40, 600),
            "timestamp": rng.integers(0, 20, 600),
        }
    )
    ref = quiet_loo(frame, validation=True)
    for seed in range(3):
        other = quiet_loo(shuffled(frame, seed), validation=True)
        for part in ("train", "test", "validation"):
            pd.testing.assert_frame_equal(
                sorted_frame(getattr(ref, part)), sorted_frame(getattr(other, part))
            )


def test_time_col_none_reproducible_and_seed_dependent() -> None:
    users = np.repeat(np.arange(300), 10)
    items = np.tile(np.arange(10), 300)
    frame = pd.DataFrame({"user": users, "item": items})
    a = leave_one_out(frame, time_col=None, random_state=0)
    b = leave_one_out(frame, time_col=None, random_state=0)
    c = leave_one_out(frame, time_col=None, random_state=1)
    pd.testing.assert_frame_equal(a.test, b.test)
    pd.testing.assert_frame_equal(a.train, b.train)
    assert not a.test.equals(c.test)
    g1 = leave_one_out(frame, time_col=None, random_state=np.random.default_rng(5))
    g2 = leave_one_out(frame, time_col=None, random_state=np.random.default_rng(5))
    pd.testing.assert_frame_equal(g1.test, g2.test)
    # not temporal: the held-out item is not always the last one
    assert a.test["item"].nunique() > 1


def test_time_col_none_draws_uniformly_over_distinct_items() -> None:
    # 4 distinct items per user; item 0 has 7 copies, which must not raise its chance.
    n_users = 2000
    per_user = [0] * 7 + [1, 2, 3]
    frame = pd.DataFrame(
        {"user": np.repeat(np.arange(n_users), len(per_user)), "item": per_user * n_users}
    )
    split = quiet_loo(frame, time_col=None, random_state=123)
    counts = split.test["item"].value_counts().reindex(range(4), fill_value=0)
    # each item is held out for ~500 users (sd ~19): a wide band that never fails by chance
    assert ((counts > 400) & (counts < 600)).all(), counts.to_dict()


def test_time_col_none_ignores_existing_timestamp_column() -> None:
    frame = pd.DataFrame({"user": [1, 1], "item": [1, 2], "when": ["x", "y"]})
    split = leave_one_out(frame, time_col=None, random_state=0)
    assert len(split.test) == 1


def test_float_and_nullable_timestamps() -> None:
    frame = pd.DataFrame({"user": [1, 1, 1], "item": [1, 2, 3], "timestamp": [0.5, 2.25, 1.0]})
    assert leave_one_out(frame).test["item"].tolist() == [2]
    nullable = frame.assign(timestamp=pd.array([5, 9, 7], dtype="Int64"))
    split = leave_one_out(nullable)
    assert split.test["item"].tolist() == [2]
    assert split.train["timestamp"].dtype == "Int64"


def test_keeps_columns_dtypes_and_labels() -> None:
    frame = pd.DataFrame(
        {
            "u": pd.Categorical(["a", "a", "b", "b"]),
            "i": [10, 20, 10, 30],
            "t": pd.to_datetime([1, 2, 3, 4], unit="D", utc=True),
            "extra": ["p", "q", "r", "s"],
        },
        index=pd.Index(["r0", "r1", "r2", "r3"], name="row"),
    )
    split = leave_one_out(frame, user_col="u", item_col="i", time_col="t")
    assert_subset_of(split.train, frame)
    assert_subset_of(split.test, frame)
    assert split.test.index.tolist() == ["r1", "r3"]
    assert split.test.index.name == "row"


def test_ml_latest_small_contract() -> None:
    frame = pd.read_csv(ML_SMALL).rename(columns={"userId": "user", "movieId": "item"})
    split = leave_one_out(frame, validation=True)
    assert len(split.test) == 610
    assert split.validation is not None and len(split.validation) == 610
    assert len(split.train) + 2 * 610 == len(frame)
    assert_subset_of(split.train, frame)
    assert_subset_of(split.test, frame)
    latest = frame.groupby("user")["timestamp"].max()
    assert (split.test["timestamp"].to_numpy() == latest[split.test["user"]].to_numpy()).all()
    report = leakage_report(split.train, split.test)
    assert report.overlapping_pairs == 0
    assert report.unseen_test_users == 0
    assert report.future_train_same_user == 0
    assert report.future_train_other_users is not None and report.future_train_other_users > 500
    report_val = leakage_report(split.train, split.validation)
    assert report_val.overlapping_pairs == 0
    # the validation set comes from train only: nothing of test reaches it
    assert not (pairs(split.validation) & pairs(split.test))


# --------------------------------------------------------------------------------------------------
# leave_one_out: bad input


@pytest.mark.parametrize(
    ("frame", "kwargs", "error", "fragment"),
    [
        ({"user": [1], "item": [1]}, {}, ValueError, "time_col='timestamp' is not a column"),
        ({"user": [1], "timestamp": [1]}, {}, ValueError, "item_col='item' is not a column"),
        (
            {"user": [1.0, np.nan], "item": [1, 2], "timestamp": [1, 2]},
            {},
            ValueError,
            "1 missing id(s)",
        ),
        (
            {"user": [1, 1], "item": ["a", None], "timestamp": [1, 2]},
            {},
            ValueError,
            "column 'item' (item_col) has 1 missing id(s)",
        ),
        (
            {"user": [1, 1], "item": [1, 2], "timestamp": ["2020", "2021"]},
            {},
            ValueError,
            "must hold numeric timestamps",
        ),
        (
            {"user": [1, 1], "item": [1, 2], "timestamp": [1.0, np.nan]},
            {},
            ValueError,
            "missing or infinite timestamps",
        ),
        ({"user": [], "item": [], "timestamp": []}, {}, ValueError, "frame is empty"),
        (
            {"user": [1, 2], "item": [1, 1], "timestamp": [1, 2]},
            {},
            ValueError,
            "at least one user with two distinct items",
        ),
        (
            {"user": [1, 1], "item": [1, 2]},
            {"time_col": None, "random_state": "7"},
            TypeError,
            "random_state must be None, an int seed or a numpy.random.Generator; got str ('7')",
        ),
        (
            {"user": [1, 1], "item": [1, 2]},
            {"time_col": None, "random_state": 1.5},
            TypeError,
            "random_state must be None, an int seed",
        ),
        (
            {"user": [1, 1], "item": [1, 2]},
            {"time_col": None, "random_state": True},
            TypeError,
            "random_state must be None, an int seed",
        ),
        (
            {"user": [1, 1], "item": [1, 2]},
            {"time_col": None, "random_state": -1},
            ValueError,
            "random_state must be a non-negative int seed; got -1",
        ),
        (
            {"user": [1, 1], "item": [1, 2], "timestamp": [1, 2]},
            {"validation": "yes"},
            TypeError,
            "validation must be True or False",
        ),
    ],
)
def test_leave_one_out_bad_input(
    frame: dict[str, list[Any]], kwargs: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error) as info:
        leave_one_out(pd.DataFrame(frame), **kwargs)
    assert fragment in str(info.value)


def test_leave_one_out_rejects_non_frame() -> None:
    with pytest.raises(TypeError, match="frame must be a pandas DataFrame"):
        leave_one_out([(1, 2, 3)])  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# temporal_split


@PROPERTY
@given(frame=interaction_frames(time_kind="int"), cutoff=st.integers(-1, 52))
def test_temporal_split_properties(frame: pd.DataFrame, cutoff: int) -> None:
    before = frame[frame["timestamp"] < cutoff]
    after = frame[frame["timestamp"] >= cutoff]
    seen_users = set(before["user"])
    train_pairs = pairs(before)
    expected_test = [
        label
        for label, user, item in zip(after.index, after["user"], after["item"], strict=True)
        if user in seen_users and (user, item) not in train_pairs
    ]
    n_dropped = len(after) - len(expected_test)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if before.empty or after.empty or not expected_test:
            with pytest.raises(ValueError, match="is empty"):
                temporal_split(frame, cutoff=cutoff)
            return
        split = temporal_split(frame, cutoff=cutoff)
    dropped_warnings = [w for w in caught if issubclass(w.category, SplitWarning)]
    assert len(dropped_warnings) == (1 if n_dropped else 0)
    assert split.train.index.tolist() == before.index.tolist()
    assert split.test.index.tolist() == expected_test
    assert_subset_of(split.train, frame)
    assert_subset_of(split.test, frame)
    report = leakage_report(split.train, split.test)
    assert report.overlapping_pairs == 0
    assert report.unseen_test_users == 0
    assert report.future_train_same_user == 0
    assert report.future_train_other_users == 0
    # same split whatever the row order
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SplitWarning)
        other = temporal_split(shuffled(frame, 0), cutoff=cutoff)
    pd.testing.assert_frame_equal(sorted_frame(other.test), sorted_frame(split.test))


def test_temporal_split_warns_with_counts() -> None:
    frame = pd.DataFrame(
        {
            "user": [1, 1, 2, 1, 1, 3, 3],
            "item": ["a", "b", "a", "a", "c", "a", "b"],
            "timestamp": [1, 2, 3, 10, 11, 12, 13],
        }
    )
    with pytest.warns(SplitWarning) as record:
        split = temporal_split(frame, cutoff=10)
    message = str(record[0].message)
    assert "dropped 2 test row(s) of 1 user(s) with no interaction before the cutoff" in message
    assert "1 test row(s) whose (user, item) pair already occurs in train" in message
    assert "1 test row(s) remain" in message
    assert split.train.index.tolist() == [0, 1, 2]
    assert split.test.index.tolist() == [4]


def test_temporal_split_datetime_cutoffs() -> None:
    stamps = pd.to_datetime(["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01"])
    frame = pd.DataFrame({"user": [1, 1, 1, 1], "item": [1, 2, 3, 4], "timestamp": stamps})
    import datetime

    for cutoff in (
        pd.Timestamp("2020-02-15"),
        datetime.datetime(2020, 2, 15),
        np.datetime64("2020-02-15"),
    ):
        split = temporal_split(frame, cutoff=cutoff)
        assert split.test["item"].tolist() == [3, 4]
    aware = frame.assign(timestamp=stamps.tz_localize("UTC"))
    split = temporal_split(aware, cutoff=pd.Timestamp("2020-02-15", tz="Europe/Paris"))
    assert split.train["item"].tolist() == [1, 2]
    with pytest.raises(ValueError, match="both carry a timezone or both be naive"):
        temporal_split(aware, cutoff=pd.Timestamp("2020-02-15"))
    with pytest.raises(ValueError, match="both carry a timezone or both be naive"):
        temporal_split(frame, cutoff=pd.Timestamp("2020-02-15", tz="UTC"))


@pytest.mark.parametrize(
    ("timestamps", "cutoff", "error", "fragment"),
    [
        ([1, 2, 3], pd.Timestamp("2020-01-01"), TypeError, "cutoff must be a number"),
        ([1, 2, 3], "2", TypeError, "cutoff must be a number"),
        ([1, 2, 3], True, TypeError, "cutoff must be a number"),
        ([1, 2, 3], float("nan"), ValueError, "cutoff must be a finite number"),
        (pd.to_datetime([1, 2, 3], unit="D"), 2, TypeError, "cutoff must be a timestamp"),
        (pd.to_datetime([1, 2, 3], unit="D"), "1970-01-02", TypeError, "pd.Timestamp"),
        ([1, 2, 3], 1, ValueError, "train is empty: no interaction is before cutoff=1"),
        ([1, 2, 3], 4, ValueError, "test is empty: no interaction is at or after cutoff=4"),
    ],
)
def test_temporal_split_bad_cutoff(
    timestamps: Any, cutoff: Any, error: type[Exception], fragment: str
) -> None:
    frame = pd.DataFrame({"user": [1, 1, 1], "item": [1, 2, 3], "timestamp": timestamps})
    with pytest.raises(error) as info:
        temporal_split(frame, cutoff=cutoff)
    assert fragment in str(info.value)


def test_temporal_split_empty_after_filtering() -> None:
    frame = pd.DataFrame({"user": [1, 1, 2], "item": [1, 1, 2], "timestamp": [1, 5, 6]})
    with pytest.warns(SplitWarning), pytest.raises(ValueError, match="test is empty: every one"):
        temporal_split(frame, cutoff=3)


def test_temporal_split_bad_frame() -> None:
    with pytest.raises(ValueError, match="time_col='when' is not a column"):
        temporal_split(pd.DataFrame({"user": [1], "item": [1]}), cutoff=1, time_col="when")
    with pytest.raises(TypeError, match="time_col must name the timestamp column"):
        temporal_split(pd.DataFrame({"user": [1], "item": [1]}), cutoff=1, time_col=None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# leakage_report


def ref_leakage(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, int]:
    train_rows = list(zip(train["user"], train["item"], train["timestamp"], strict=True))
    test_rows = list(zip(test["user"], test["item"], test["timestamp"], strict=True))
    train_items = {r[1] for r in train_rows}
    train_users = {r[0] for r in train_rows}
    first_test: dict[Any, Any] = {}
    for user, _, t in test_rows:
        first_test[user] = min(t, first_test.get(user, t))
    return {
        "overlapping_pairs": len(pairs(train) & pairs(test)),
        "unseen_test_items": sum(r[1] not in train_items for r in test_rows),
        "unseen_test_users": sum(r[0] not in train_users for r in test_rows),
        "future_train_same_user": sum(
            r[0] in first_test and r[2] > first_test[r[0]] for r in train_rows
        ),
        "future_train_other_users": sum(
            any(tr[0] != te[0] and tr[2] > te[2] for tr in train_rows) for te in test_rows
        ),
    }


@PROPERTY
@given(data=st.data(), kind=st.sampled_from(["int", "float", "datetime", "datetime_tz"]))
def test_leakage_report_matches_reference(data: st.DataObject, kind: str) -> None:
    train = data.draw(interaction_frames(time_kind=kind), label="train")
    test = data.draw(interaction_frames(time_kind=kind), label="test")
    report = leakage_report(train, test)
    expected = ref_leakage(train, test)
    assert {k: getattr(report, k) for k in expected} == expected
    assert (report.n_train, report.n_test) == (len(train), len(test))
    untimed = leakage_report(train, test, time_col=None)
    assert untimed.future_train_same_user is None
    assert untimed.future_train_other_users is None
    assert untimed.overlapping_pairs == expected["overlapping_pairs"]


def test_leakage_report_crafted() -> None:
    train = pd.DataFrame(
        {"user": [1, 1, 2, 2, 3], "item": ["a", "b", "a", "c", "d"], "timestamp": [1, 9, 2, 3, 4]}
    )
    test = pd.DataFrame({"user": [1, 2, 4], "item": ["a", "e", "b"], "timestamp": [5, 3, 10]})
    report = leakage_report(train, test)
    assert report == LeakageReport(
        n_train=5,
        n_test=3,
        overlapping_pairs=1,  # (1, "a")
        unseen_test_items=1,  # "e"
        unseen_test_users=1,  # user 4
        future_train_same_user=1,  # (1, "b") at 9 > 5
        future_train_other_users=1,  # user 2 at 3 < user 1's 9; user 1 at 5 > others' max 4
    )
    text = str(report)
    assert "5 train rows, 3 test rows" in text
    assert "(user, item) pairs in both train and test       : 1" in text
    assert "test rows with later train rows of other users  : 1 (33.3% of test)" in text
    assert len(text.splitlines()) == 6
    untimed = str(leakage_report(train, test.drop(columns="timestamp")))
    assert "n/a (no timestamps)" in untimed


def test_leakage_report_runner_up_and_ties() -> None:
    # user 1 holds the latest train time alone; another user ties it
    train = pd.DataFrame({"user": [1, 2], "item": [1, 1], "timestamp": [10, 10]})
    test = pd.DataFrame({"user": [1, 2, 3], "item": [2, 2, 2], "timestamp": [9, 9, 10]})
    assert leakage_report(train, test).future_train_other_users == 2
    train = pd.DataFrame({"user": [1, 2], "item": [1, 1], "timestamp": [10, 4]})
    test = pd.DataFrame({"user": [1, 2], "item": [2, 2], "timestamp": [5, 5]})
    assert leakage_report(train, test).future_train_other_users == 1
    # only one train user: their own test rows see no other users' future
    train = pd.DataFrame({"user": [1], "item": [1], "timestamp": [10]})
    test = pd.DataFrame({"user": [1, 2], "item": [2, 2], "timestamp": [5, 5]})
    assert leakage_report(train, test).future_train_other_users == 1


def test_leakage_report_datetimes_of_different_units() -> None:
    train = pd.DataFrame(
        {
            "user": [1, 2],
            "item": [1, 1],
            "timestamp": pd.to_datetime([10, 20], unit="s").as_unit("s"),
        }
    )
    assert train["timestamp"].dt.unit == "s"
    test = train.assign(item=[2, 2], timestamp=train["timestamp"].astype("datetime64[ns]"))
    report = leakage_report(train, test)
    assert report.future_train_other_users == 1  # user 1's test at 10 s, user 2's train at 20 s
    assert report.future_train_same_user == 0
    with pytest.raises(ValueError, match="timezone in both train and test or in neither"):
        leakage_report(train, test.assign(timestamp=test["timestamp"].dt.tz_localize("UTC")))
    with pytest.raises(TypeError, match="same kind of timestamps in train and test"):
        leakage_report(train, test.assign(timestamp=[1, 2]))


def test_leakage_report_empty_and_bad_input() -> None:
    train = pd.DataFrame({"user": [1], "item": [1], "timestamp": [1]})
    empty = train.iloc[:0]
    report = leakage_report(train, empty)
    assert report.n_test == 0 and report.future_train_other_users == 0
    assert leakage_report(empty, train).unseen_test_items == 1
    with pytest.raises(TypeError, match="test must be a pandas DataFrame"):
        leakage_report(train, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="user_col='who' is not a column"):
        leakage_report(train, train, user_col="who")
    with pytest.raises(ValueError, match="column 'timestamp' \\(time_col\\) must hold numeric"):
        leakage_report(train, train.assign(timestamp=["x"]))


def test_splits_does_not_import_torch() -> None:
    code = "import sys, implicit_ncf.splits; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
