"""Bad input, unseen test data and determinism (issue 5).

Every public entry point (``NeuralCF.fit``, ``leave_one_out``, ``sample_candidates``, ``recommend``,
``score`` / ``evaluate`` and the metrics) is fed adversarial input. Each case gets either a correct
result or a ``ValueError`` / ``TypeError`` raised by implicit_ncf itself with a message naming the
parameter and the fix: never a traceback from inside torch, pandas or numpy, never a hang.

``BAD_INPUT`` is the table of the cases that must fail, ``test_result_*`` the cases that must work;
docs/robustness.md lists both (``test_docs_table_lists_every_case`` keeps them in sync). The
hypothesis tests at the end throw random mixtures of the same values at the same functions.
"""

from __future__ import annotations

import importlib.util
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from implicit_ncf import NeuralCF
from implicit_ncf.estimator import UnknownIdWarning
from implicit_ncf.metrics import (
    coverage,
    evaluate,
    hit_ratio_at_k,
    map_at_k,
    ndcg_at_k,
    precision_at_k,
    rank_of_target,
    recall_at_k,
)
from implicit_ncf.sampling import sample_candidates
from implicit_ncf.splits import leave_one_out

HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None
DOCS = Path(__file__).resolve().parents[1] / "docs" / "robustness.md"
FAST: dict[str, Any] = {
    "n_epochs": 1,
    "batch_size": 64,
    "n_factors": 4,
    "hidden_layers": (8, 4),
    "accelerator": "cpu",
    "random_state": 0,
}
MODELS = ["neumf", "gmf", "mlp", "mf"]


def frame(n_users: int = 8, n_items: int = 10, per_user: int = 4, seed: int = 0) -> pd.DataFrame:
    """Integer ids, ``per_user`` distinct items per user, distinct timestamps within a user."""
    rng = np.random.default_rng(seed)
    rows = [
        (u, int(i), 1_000 + t)
        for u in range(n_users)
        for t, i in enumerate(rng.choice(n_items, per_user, replace=False))
    ]
    return pd.DataFrame(rows, columns=["user", "item", "timestamp"])


def ncf(**params: Any) -> NeuralCF:
    return NeuralCF(**{**FAST, **params})


def raised_by_library(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc`` is implicit_ncf code (not torch/pandas/numpy)."""
    last = traceback.extract_tb(exc.__traceback__)[-1]
    return "implicit_ncf" in Path(last.filename).parts


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return frame()


@pytest.fixture(scope="module")
def fitted(data: pd.DataFrame) -> NeuralCF:
    return ncf().fit(data)


@pytest.fixture(scope="module")
def split(data: pd.DataFrame):
    return leave_one_out(data)


@pytest.fixture(scope="module")
def held_out(split) -> NeuralCF:
    """Fitted on the split's training part, for evaluation on its test part."""
    return ncf().fit(split.train)


# ------------------------------------------------------------------------------------------------
# the table of bad input that must fail clearly
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One bad input: what is called, on what, and the exact error expected."""

    id: str
    function: str
    given: str
    call: Callable[[dict[str, Any]], Any]
    error: type[Exception]
    fragment: str


def _with(column: str, values: Any, *, dtype: Any = None) -> Callable[[], pd.DataFrame]:
    def build() -> pd.DataFrame:
        out = frame()
        if dtype is not None:
            out[column] = out[column].astype(dtype)
        out[column] = values(out[column]) if callable(values) else values
        return out

    return build


def _first_missing(na: Any) -> Callable[[pd.Series], pd.Series]:
    def put(col: pd.Series) -> pd.Series:
        col = col.copy()
        col.iloc[0] = na
        return col

    return put


NAN_USER = _with("user", _first_missing(np.nan), dtype=float)
NONE_ITEM = _with("item", _first_missing(None), dtype=object)
INF_ITEM = _with("item", _first_missing(np.inf), dtype=float)
INT64_NA_ITEM = _with("item", _first_missing(pd.NA), dtype="Int64")
NAN_TIME = _with("timestamp", _first_missing(np.nan), dtype=float)
INF_TIME = _with("timestamp", _first_missing(np.inf), dtype=float)
INT64_NA_TIME = _with("timestamp", _first_missing(pd.NA), dtype="Int64")
STR_TIME = _with("timestamp", lambda c: c.astype(str))
BOOL_TIME = _with("timestamp", True)
TIMEDELTA_TIME = _with("timestamp", lambda c: pd.to_timedelta(c, unit="s"))
LIST_ITEMS = _with("item", lambda c: c.map(lambda v: [v]))


def _nat_time() -> pd.DataFrame:
    out = frame()
    out["timestamp"] = pd.to_datetime(out["timestamp"], unit="s")
    out.loc[0, "timestamp"] = pd.NaT
    return out


def _single_each() -> pd.DataFrame:
    return frame().drop_duplicates("user")


def _scored() -> pd.DataFrame:
    base = frame()
    parts = leave_one_out(base)
    cands = sample_candidates(parts.train, parts.test, n_negatives=3, random_state=0)
    return cands.assign(score=np.linspace(0.0, 1.0, len(cands)))


# fmt: off
BAD_INPUT: list[Case] = [
    # NeuralCF.fit ------------------------------------------------------------------------------
    Case("fit-list", "NeuralCF.fit", "a list of tuples instead of a DataFrame",
         lambda f: ncf().fit([(1, 2), (2, 3)]), TypeError,
         "interactions must be a pandas DataFrame"),
    Case("fit-empty", "NeuralCF.fit", "empty DataFrame (0 rows)",
         lambda f: ncf().fit(frame().iloc[:0]), ValueError, "interactions is empty"),
    Case("fit-nan-user", "NeuralCF.fit", "NaN user id (float column)",
         lambda f: ncf().fit(NAN_USER()), ValueError, "has 1 missing id(s) (NaN/None)"),
    Case("fit-none-item", "NeuralCF.fit", "None item id (object column)",
         lambda f: ncf().fit(NONE_ITEM()), ValueError, "has 1 missing id(s) (NaN/None)"),
    Case("fit-inf-item", "NeuralCF.fit", "inf item id (float column)",
         lambda f: ncf().fit(INF_ITEM()), ValueError, "has 1 infinite id(s)"),
    Case("fit-int64-na-item", "NeuralCF.fit", "nullable Int64 item ids with pd.NA",
         lambda f: ncf().fit(INT64_NA_ITEM()), ValueError, "has 1 missing id(s) (NaN/None)"),
    Case("fit-unhashable-ids", "NeuralCF.fit", "item ids that are lists",
         lambda f: ncf().fit(LIST_ITEMS()), TypeError, "holds unhashable ids"),
    Case("fit-nan-timestamp", "NeuralCF.fit", "NaN in the timestamp column, early_stopping=True",
         lambda f: ncf(early_stopping=True).fit(NAN_TIME()), ValueError,
         "missing or infinite timestamps"),
    Case("fit-nat-timestamp", "NeuralCF.fit",
         "NaT in a datetime64 timestamp column, early_stopping=True",
         lambda f: ncf(early_stopping=True).fit(_nat_time()), ValueError,
         "missing or infinite timestamps"),
    Case("fit-str-timestamp", "NeuralCF.fit", "timestamps stored as strings, early_stopping=True",
         lambda f: ncf(early_stopping=True).fit(STR_TIME()), ValueError,
         "must hold numeric timestamps"),
    Case("fit-one-user", "NeuralCF.fit", "a single user (the catalogue is that user's items)",
         lambda f: ncf().fit(frame(n_users=1)), ValueError,
         "every user interacted with every item"),
    Case("fit-one-item", "NeuralCF.fit", "a single item",
         lambda f: ncf().fit(frame().assign(item=7)), ValueError,
         "every user interacted with every item"),
    Case("fit-early-stopping-single", "NeuralCF.fit",
         "early_stopping=True, every user with a single interaction",
         lambda f: ncf(early_stopping=True).fit(_single_each()), ValueError,
         "early_stopping=True holds out each user's latest interaction"),
    Case("fit-validation-unknown", "NeuralCF.fit", "validation whose users are all unknown",
         lambda f: ncf().fit(frame(), validation=frame().assign(user=lambda x: x.user + 100)),
         ValueError, "validation has no row whose user and item both appear"),
    Case("fit-negative-seed", "NeuralCF.fit", "random_state=-1",
         lambda f: ncf(random_state=-1).fit(frame()), ValueError,
         "random_state must be a non-negative int seed"),
    Case("fit-verbose-str", "NeuralCF.fit", 'verbose="no" (a truthy string)',
         lambda f: ncf(verbose="no").fit(frame()), TypeError, "verbose must be True or False"),
    Case("fit-ddp-spawn", "NeuralCF.fit", 'trainer_kwargs={"strategy": "ddp_spawn"}, devices=2',
         lambda f: ncf(devices=2, trainer_kwargs={"strategy": "ddp_spawn"}).fit(frame()),
         ValueError, "is not supported"),
    Case("fit-ddp-no-seed", "NeuralCF.fit", 'strategy="ddp", devices=2, random_state=None',
         lambda f: ncf(devices=2, random_state=None, trainer_kwargs={"strategy": "ddp"})
         .fit(frame()), ValueError, "random_state=None with 2 training processes"),
    Case("fit-unknown-optimizer", "NeuralCF.fit", 'optimizer="sgd"',
         lambda f: ncf(optimizer="sgd").fit(frame()), ValueError,
         "optimizer must be one of ['auto', 'adam', 'lazy_adam', 'als']; got 'sgd'"),
    Case("fit-lazy-adam-clipping", "NeuralCF.fit",
         'optimizer="lazy_adam", trainer_kwargs={"gradient_clip_val": 1.0}',
         lambda f: ncf(optimizer="lazy_adam", trainer_kwargs={"gradient_clip_val": 1.0})
         .fit(frame()), ValueError,
         "optimizer='lazy_adam' cannot be combined with trainer_kwargs ['gradient_clip_val']"),
    Case("fit-lazy-adam-full-softmax", "NeuralCF.fit",
         'optimizer="lazy_adam", loss="softmax", 10 items <= n_sampled=512 (the full softmax)',
         lambda f: ncf(optimizer="lazy_adam", loss="softmax").fit(frame()), ValueError,
         "optimizer='lazy_adam' with loss='softmax' over a catalogue of 10 items"),
    # leave_one_out -----------------------------------------------------------------------------
    Case("loo-list", "leave_one_out", "a list instead of a DataFrame",
         lambda f: leave_one_out([(0, 1, 2)]), TypeError, "frame must be a pandas DataFrame"),
    Case("loo-empty", "leave_one_out", "empty DataFrame",
         lambda f: leave_one_out(frame().iloc[:0]), ValueError, "frame is empty"),
    Case("loo-single-each", "leave_one_out", "every user with a single interaction",
         lambda f: leave_one_out(_single_each()), ValueError,
         "needs at least one user with two distinct items"),
    Case("loo-one-item", "leave_one_out", "a single item for everyone",
         lambda f: leave_one_out(frame().assign(item=3)), ValueError,
         "needs at least one user with two distinct items"),
    Case("loo-inf-timestamp", "leave_one_out", "inf timestamp",
         lambda f: leave_one_out(INF_TIME()), ValueError, "missing or infinite timestamps"),
    Case("loo-int64-na-timestamp", "leave_one_out", "nullable Int64 timestamps with pd.NA",
         lambda f: leave_one_out(INT64_NA_TIME()), ValueError, "missing or infinite timestamps"),
    Case("loo-bool-timestamp", "leave_one_out", "boolean timestamps",
         lambda f: leave_one_out(BOOL_TIME()), ValueError, "must hold numeric timestamps"),
    Case("loo-timedelta-timestamp", "leave_one_out", "timedelta64 timestamps",
         lambda f: leave_one_out(TIMEDELTA_TIME()), ValueError, "must hold numeric timestamps"),
    Case("loo-missing-time-col", "leave_one_out", "no timestamp column, time_col left default",
         lambda f: leave_one_out(frame().drop(columns="timestamp")), ValueError,
         "time_col='timestamp' is not a column"),
    Case("loo-validation-str", "leave_one_out", 'validation="yes"',
         lambda f: leave_one_out(frame(), validation="yes"), TypeError,
         "validation must be True or False"),
    # sample_candidates -------------------------------------------------------------------------
    Case("sc-n-negatives-too-large", "sample_candidates", "n_negatives larger than the unseen pool",
         lambda f: sample_candidates(f["train"], f["test"], n_negatives=7), ValueError,
         "lower n_negatives to at most 6"),
    Case("sc-n-negatives-zero", "sample_candidates", "n_negatives=0",
         lambda f: sample_candidates(f["train"], f["test"], n_negatives=0), ValueError,
         "n_negatives must be a positive integer; got 0"),
    Case("sc-n-negatives-bool", "sample_candidates", "n_negatives=True",
         lambda f: sample_candidates(f["train"], f["test"], n_negatives=True), TypeError,
         "n_negatives must be a positive int or None; got bool"),
    Case("sc-n-negatives-float", "sample_candidates", "n_negatives=2.5",
         lambda f: sample_candidates(f["train"], f["test"], n_negatives=2.5), TypeError,
         "n_negatives must be a positive int or None; got float"),
    Case("sc-nan-test-item", "sample_candidates", "NaN item ids in test",
         lambda f: sample_candidates(f["train"], f["test"].assign(item=np.nan)), ValueError,
         "missing id(s) (NaN/None)"),
    Case("sc-empty-test", "sample_candidates", "empty test frame",
         lambda f: sample_candidates(f["train"], f["test"].iloc[:0]), ValueError, "test is empty"),
    Case("sc-list-train", "sample_candidates", "a list as train",
         lambda f: sample_candidates([(0, 1)], f["test"]), TypeError,
         "train must be a pandas DataFrame"),
    # recommend ---------------------------------------------------------------------------------
    Case("rec-k-zero", "NeuralCF.recommend", "k=0",
         lambda f: f["model"].recommend(0, k=0), ValueError,
         "k must be a positive integer; got 0."),
    Case("rec-k-negative", "NeuralCF.recommend", "k=-1",
         lambda f: f["model"].recommend(0, k=-1), ValueError,
         "k must be a positive integer; got -1."),
    Case("rec-k-bool", "NeuralCF.recommend", "k=True",
         lambda f: f["model"].recommend(0, k=True), ValueError,
         "k must be a positive integer; got True."),
    Case("rec-k-float", "NeuralCF.recommend", "k=2.0",
         lambda f: f["model"].recommend(0, k=2.0), ValueError,
         "k must be a positive integer; got 2.0."),
    Case("rec-2d-users", "NeuralCF.recommend", "a 2-D array of users",
         lambda f: f["model"].recommend(np.array([[0, 1]])), ValueError,
         "user must be one id or a 1-D sequence of ids"),
    Case("rec-unhashable-user", "NeuralCF.recommend", "a dict as the user",
         lambda f: f["model"].recommend({0: 1}), TypeError, "each hashable"),
    Case("rec-exclude-seen-str", "NeuralCF.recommend", 'exclude_seen="no"',
         lambda f: f["model"].recommend(0, exclude_seen="no"), TypeError,
         "exclude_seen must be True or False"),
    Case("rec-nan-user", "NeuralCF.recommend", "user=NaN",
         lambda f: f["model"].recommend(np.nan), ValueError, "unknown user id(s) [nan]"),
    Case("rec-str-for-int-user", "NeuralCF.recommend", 'user="0" for a model fitted on int ids',
         lambda f: f["model"].recommend("0"), ValueError, "on_unknown_user='popular'"),
    Case("rec-batch-size-zero", "NeuralCF.recommend", "batch_size=0",
         lambda f: f["model"].recommend(0, batch_size=0), ValueError,
         "batch_size must be a positive integer; got 0."),
    # score / evaluate --------------------------------------------------------------------------
    Case("eval-list", "NeuralCF.evaluate", "a list instead of a test DataFrame",
         lambda f: f["model"].evaluate([(0, 1)]), TypeError, "test must be a pandas DataFrame"),
    Case("eval-empty", "NeuralCF.evaluate", "empty test frame",
         lambda f: f["model"].evaluate(f["test"].iloc[:0], n_negatives=3), ValueError,
         "test is empty"),
    Case("eval-k-zero", "NeuralCF.evaluate", "k=0",
         lambda f: f["model"].evaluate(f["test"], k=0, n_negatives=3), ValueError,
         "k must be a positive integer; got 0."),
    Case("eval-k-str", "NeuralCF.evaluate", 'k="10"',
         lambda f: f["model"].evaluate(f["test"], k="10", n_negatives=3), ValueError,
         "k must be a positive integer or a sequence of them; got '10'."),
    Case("eval-k-empty", "NeuralCF.evaluate", "k=[]",
         lambda f: f["model"].evaluate(f["test"], k=[], n_negatives=3), ValueError,
         "k must be a positive integer or a sequence of them"),
    Case("eval-n-negatives-too-large", "NeuralCF.evaluate", "n_negatives larger than the pool",
         lambda f: f["model"].evaluate(f["test"], n_negatives=1000), ValueError,
         "n_negatives=1000 is more than the"),
    Case("eval-n-negatives-bool", "NeuralCF.evaluate", "n_negatives=True",
         lambda f: f["model"].evaluate(f["test"], n_negatives=True), ValueError,
         "n_negatives must be a positive integer or None; got True."),
    Case("eval-nan-user", "NeuralCF.evaluate", "NaN user id in test",
         lambda f: f["model"].evaluate(f["test"].assign(user=np.nan), n_negatives=3), ValueError,
         "missing id(s) (NaN/None)"),
    Case("score-k-tuple", "NeuralCF.score", "k=(5, 10) (score takes one cut-off)",
         lambda f: f["model"].score(f["test"], k=(5, 10), n_negatives=3), ValueError,
         "k must be a positive integer; got (5, 10)."),
    # metrics -----------------------------------------------------------------------------------
    Case("hr-k-zero", "hit_ratio_at_k", "k=0",
         lambda f: hit_ratio_at_k([0, 1], k=0), ValueError, "k must be a positive integer; got 0."),
    Case("hr-k-bool", "hit_ratio_at_k", "k=True",
         lambda f: hit_ratio_at_k([0, 1], k=True), ValueError,
         "k must be a positive integer; got True."),
    Case("hr-nan-ranks", "hit_ratio_at_k", "ranks with NaN (float array)",
         lambda f: hit_ratio_at_k([0, np.nan], k=2), TypeError, "ranks must hold integers"),
    Case("hr-negative-ranks", "hit_ratio_at_k", "a negative rank",
         lambda f: hit_ratio_at_k([0, -1], k=2), ValueError, "ranks must be non-negative"),
    Case("ndcg-empty-mean", "ndcg_at_k", "no ranks at all, reduction='mean'",
         lambda f: ndcg_at_k([], k=2), ValueError, "ranks is empty"),
    Case("ndcg-2d-ranks", "ndcg_at_k", "a 2-D array of ranks",
         lambda f: ndcg_at_k([[0, 1]], k=2), ValueError, "ranks must be a 1-D array"),
    Case("rank-nan-score", "rank_of_target", "a NaN score",
         lambda f: rank_of_target([[np.nan, 1.0]], [0]), ValueError, "holds 1 NaN value(s)"),
    Case("rank-none-score", "rank_of_target", "None among the scores (object array)",
         lambda f: rank_of_target([[None, 1.0]], [0]), TypeError, "scores must be numeric"),
    Case("precision-unhashable", "precision_at_k", "lists as ids",
         lambda f: precision_at_k([[[1]]], [[[1]]], k=1), TypeError, "ids must be hashable"),
    Case("recall-not-collection", "recall_at_k", "relevant=[1] (an id, not a collection)",
         lambda f: recall_at_k([[1]], [1], k=1), TypeError,
         "relevant[0] must be a collection of ids"),
    Case("map-empty-relevant", "map_at_k", "a user with no relevant item",
         lambda f: map_at_k([[1]], [set()], k=1), ValueError, "relevant[0] is empty"),
    Case("coverage-none", "coverage", "catalogue=None",
         lambda f: coverage([[1]], None), TypeError,
         "catalogue must be n_items (an int) or a collection of ids"),
    Case("evaluate-nan-score", "metrics.evaluate", "NaN scores",
         lambda f: evaluate(_scored().assign(score=np.nan), k=1), ValueError, "NaN score(s)"),
    Case("evaluate-str-score", "metrics.evaluate", "scores stored as strings",
         lambda f: evaluate(_scored().assign(score="high"), k=1), TypeError,
         "must hold numeric scores"),
    Case("evaluate-target-2", "metrics.evaluate", "is_target holding 2",
         lambda f: evaluate(_scored().assign(is_target=2), k=1), ValueError,
         "must be boolean-like"),
    Case("evaluate-no-target", "metrics.evaluate", "no target row",
         lambda f: evaluate(_scored().assign(is_target=False), k=1), ValueError,
         "scored has no target row"),
]
# fmt: on


@pytest.mark.parametrize("case", BAD_INPUT, ids=[c.id for c in BAD_INPUT])
def test_bad_input(case: Case, fitted: NeuralCF, split) -> None:
    context = {"model": fitted, "train": split.train, "test": split.test}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(case.error) as info:
            case.call(context)
    assert type(info.value) is case.error
    assert case.fragment in str(info.value), str(info.value)
    assert raised_by_library(info.value), traceback.format_exception(info.value)


def test_bad_input_table_has_at_least_30_distinct_cases() -> None:
    ids = [c.id for c in BAD_INPUT]
    assert len(ids) == len(set(ids)) >= 30


# ------------------------------------------------------------------------------------------------
# adversarial input that must give a correct result
# ------------------------------------------------------------------------------------------------


def _recs(model: NeuralCF, users: list[Any], k: int = 3) -> pd.DataFrame:
    return model.recommend(users, k=k)


def _assert_unseen(recs: pd.DataFrame, train: pd.DataFrame) -> None:
    seen = set(zip(train["user"], train["item"], strict=True))
    assert not any((u, i) in seen for u, i in zip(recs["user"], recs["item"], strict=True))


def test_result_mixed_int_and_str_ids() -> None:
    data = frame()
    data["user"] = data["user"].astype(object)
    data.loc[data["user"] == 0, "user"] = "zero"
    model = ncf().fit(data)
    recs = _recs(model, ["zero", 1])
    assert set(recs["user"]) == {"zero", 1}
    _assert_unseen(recs, data)


@pytest.mark.parametrize("dtype", ["category", "Int64", "uint64"])
def test_result_categorical_and_nullable_ids_match_int64(dtype: str) -> None:
    """The same ids in another dtype give the same encoding, hence the same model."""
    data = frame()
    plain = ncf().fit(data)
    other = ncf().fit(data.astype({"user": dtype, "item": dtype}))
    users = [0, 3, 5]
    a, b = _recs(plain, users), _recs(other, users)
    assert a["item"].tolist() == b["item"].tolist()
    np.testing.assert_allclose(a["score"], b["score"])


def test_result_categorical_with_unused_categories() -> None:
    data = frame().astype({"user": "category"})
    data["user"] = data["user"].cat.add_categories([99])
    split = leave_one_out(data)
    assert 99 not in set(split.test["user"])
    assert len(split.test) == 8


@pytest.mark.parametrize(
    "storage",
    [
        "python",
        pytest.param(
            "pyarrow", marks=pytest.mark.skipif(not HAS_PYARROW, reason="pyarrow not installed")
        ),
    ],
)
def test_result_string_dtype_ids(storage: str) -> None:
    """pandas 3 stores strings as ``str`` (pyarrow-backed when pyarrow is installed)."""
    data = frame()
    dtype = pd.StringDtype(storage)
    data = data.astype({"user": dtype, "item": dtype})
    split = leave_one_out(data)
    model = ncf().fit(split.train)
    recs = _recs(model, ["0", "1"])
    assert set(recs["user"]) == {"0", "1"}
    assert all(isinstance(i, str) for i in recs["item"])
    _assert_unseen(recs, split.train)
    result = model.evaluate(split.test, k=3, n_negatives=3)
    assert result["n_targets"] == 8 and 0.0 <= result["hr@3"] <= 1.0
    cands = sample_candidates(split.train, split.test, n_negatives=3, random_state=0)
    assert cands["item"].dtype == data["item"].dtype


def test_result_huge_and_negative_ids_round_trip() -> None:
    """Ids near the int64 limits stay exact (no float conversion) and order like the originals."""
    data = frame()
    shifted = data.assign(user=data["user"] - 2**62, item=data["item"] + 2**62)
    a = _recs(ncf().fit(data), [0, 1])
    b = _recs(ncf().fit(shifted), [-(2**62), 1 - 2**62])
    assert b["item"].dtype == np.int64
    assert (b["item"] - 2**62).tolist() == a["item"].tolist()
    assert (b["user"] + 2**62).tolist() == a["user"].tolist()


def test_result_tuple_ids() -> None:
    data = frame()
    data["user"] = [(u, "x") for u in data["user"]]
    model = ncf().fit(data)
    recs = model.recommend([(0, "x"), (1, "x")], k=2)
    assert recs["user"].tolist() == [(0, "x")] * 2 + [(1, "x")] * 2


@pytest.mark.parametrize("kind", ["datetime64", "tz-aware"])
def test_result_datetime_timestamps_split_like_numbers(kind: str) -> None:
    data = frame()
    stamps = pd.to_datetime(data["timestamp"], unit="s")
    if kind == "tz-aware":
        stamps = stamps.dt.tz_localize("Europe/Paris")
    dated = data.assign(timestamp=stamps)
    assert leave_one_out(dated).test.index.tolist() == leave_one_out(data).test.index.tolist()
    model = ncf(early_stopping=True).fit(dated)
    assert "val_hr@10" in model.history_[0]


def test_result_all_timestamps_equal_ties_go_to_the_largest_item() -> None:
    data = frame().assign(timestamp=5)
    test = leave_one_out(data).test
    largest = data.groupby("user")["item"].max()
    assert test.set_index("user")["item"].sort_index().tolist() == largest.tolist()


def test_result_every_user_single_interaction_trains_without_validation() -> None:
    data = frame().drop_duplicates("user")
    model = ncf().fit(data)
    recs = _recs(model, data["user"].tolist())
    _assert_unseen(recs, data)


def test_result_one_user_leave_one_out() -> None:
    data = frame(n_users=1)
    split = leave_one_out(data)
    assert len(split.test) == 1 and len(split.train) == len(data) - 1
    assert split.test["timestamp"].item() == data["timestamp"].max()


def test_result_user_who_saw_every_item_is_left_out_with_a_warning() -> None:
    data = frame()
    everything = pd.DataFrame({"user": 99, "item": np.arange(10), "timestamp": 1})
    with pytest.warns(UserWarning, match="interacted with every item"):
        model = ncf().fit(pd.concat([data, everything], ignore_index=True))
    assert model.recommend(99, k=5).empty


def test_result_k_larger_than_catalogue(
    fitted: NeuralCF, held_out: NeuralCF, data: pd.DataFrame, split
) -> None:
    recs = fitted.recommend([0, 1], k=10**6)
    assert recs.groupby("user").size().tolist() == [6, 6]  # 10 items, 4 seen
    assert len(fitted.recommend(0, k=10**6, exclude_seen=False)) == 10
    assert held_out.evaluate(split.test, k=10**6, n_negatives=3)["hr@1000000"] == 1.0
    assert held_out.score(split.test, k=10**6, n_negatives=3) == 1.0
    assert precision_at_k([[1, 2]], [{2}], k=10**12) == pytest.approx(1e-12)  # no (1, k) matrix
    assert map_at_k([[1, 2]], [{2}], k=10**12) == 0.5


def test_result_n_negatives_larger_than_unseen_pool_in_training(data: pd.DataFrame) -> None:
    """Training negatives are drawn with replacement: 20 per positive from 6 unseen items."""
    model = ncf(n_negatives=20).fit(data)
    _assert_unseen(_recs(model, [0, 1]), data)


def test_result_n_negatives_equal_to_pool_takes_every_unseen_item(split) -> None:
    cands = sample_candidates(split.train, split.test, n_negatives=6, random_state=0)
    full = sample_candidates(split.train, split.test, n_negatives=None)
    key = ["user", "item"]
    pd.testing.assert_frame_equal(
        cands.sort_values(key).reset_index(drop=True), full.sort_values(key).reset_index(drop=True)
    )


def test_result_recommend_empty_list_and_numpy_scalar(fitted: NeuralCF) -> None:
    empty = fitted.recommend([])
    assert empty.empty and list(empty.columns) == ["user", "item", "score"]
    pd.testing.assert_frame_equal(fitted.recommend(np.int64(0)), fitted.recommend(0))
    pd.testing.assert_frame_equal(fitted.recommend(np.array(0)), fitted.recommend(0))


def test_result_infinite_scores_rank_with_ties_against_the_target() -> None:
    scored = _scored().assign(score=np.inf)
    assert evaluate(scored, k=1)["hr@1"] == 0.0
    scored.loc[~scored["is_target"], "score"] = -np.inf
    assert evaluate(scored, k=1)["hr@1"] == 1.0


def test_result_huge_ranks_and_k() -> None:
    assert hit_ratio_at_k([2**62, 0], k=2**62) == 0.5
    assert hit_ratio_at_k([2**62, 0], k=2**62 + 1) == 1.0
    assert ndcg_at_k([2**62], k=2**63 - 1) > 0.0


# ------------------------------------------------------------------------------------------------
# test users and items never seen in training
# ------------------------------------------------------------------------------------------------


def test_unknown_test_users_and_items_are_counted_and_scored_as_misses(
    held_out: NeuralCF, split
) -> None:
    fitted = held_out
    known = split.test
    strangers = pd.DataFrame({"user": [100, 0], "item": [1, 555], "timestamp": [9_999, 9_999]})
    both = pd.concat([known[known["user"] != 0], strangers], ignore_index=True)
    with pytest.warns(UnknownIdWarning, match="scored as misses"):
        result = fitted.evaluate(both, k=(1, 3), n_negatives=None)
    assert result["n_unknown_users"] == 1
    assert result["n_unknown_targets"] == 2
    assert result["n_targets"] == len(both) == 9
    # scored as misses, not dropped: the known rows' hits divided by *all* targets (full
    # ranking, so that the known rows are ranked against the same candidates in both calls)
    only_known = fitted.evaluate(known[known["user"] != 0], k=(1, 3), n_negatives=None)
    for key in ("hr@1", "hr@3", "ndcg@3", "mrr@3"):
        assert result[key] == pytest.approx(only_known[key] * 7 / 9)
    with pytest.warns(UnknownIdWarning):
        assert fitted.score(both, k=3, n_negatives=None) == result["hr@3"]


def test_unknown_test_rows_are_kept_as_candidates(split) -> None:
    strangers = pd.DataFrame({"user": [100], "item": [555]})
    cands = sample_candidates(split.train, strangers, n_negatives=3, random_state=0)
    assert cands["is_target"].sum() == 1
    assert (cands["user"] == 100).all() and len(cands) == 4


def test_evaluate_without_unknowns_warns_nothing(held_out: NeuralCF, split) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = held_out.evaluate(split.test, k=3, n_negatives=3)
    assert result["n_unknown_users"] == 0 and result["n_unknown_targets"] == 0


# ------------------------------------------------------------------------------------------------
# determinism on CPU
# ------------------------------------------------------------------------------------------------


def _same_weights(a: NeuralCF, b: NeuralCF) -> bool:
    sa, sb = a.network_.state_dict(), b.network_.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("early_stopping", [False, True], ids=["plain", "early_stopping"])
@pytest.mark.parametrize("model", MODELS)
def test_same_random_state_same_recommendations(model: str, early_stopping: bool) -> None:
    data = frame(n_users=20, n_items=15, per_user=5)
    params = {"model": model, "n_epochs": 2, "early_stopping": early_stopping, "patience": 1}
    a = ncf(random_state=3, **params).fit(data)
    b = ncf(random_state=3, **params).fit(data)
    assert _same_weights(a, b)
    users = list(range(20))
    pd.testing.assert_frame_equal(a.recommend(users, k=5), b.recommend(users, k=5))
    assert [r.get("loss") for r in a.history_] == [r.get("loss") for r in b.history_]
    assert a.best_epoch_ == b.best_epoch_
    c = ncf(random_state=4, **params).fit(data)
    assert not _same_weights(a, c)


@pytest.mark.parametrize("flag", [False, True])
def test_fit_leaves_the_torch_deterministic_flag_as_it_was(flag: bool) -> None:
    """``trainer_kwargs={"deterministic": ...}`` applies to the fit only (Lightning sets it
    globally); without it, fit does not touch the user's setting."""
    torch.use_deterministic_algorithms(flag)
    try:
        ncf(trainer_kwargs={"deterministic": not flag}).fit(frame())
        assert torch.are_deterministic_algorithms_enabled() is flag
        ncf().fit(frame())
        assert torch.are_deterministic_algorithms_enabled() is flag
    finally:
        torch.use_deterministic_algorithms(False)


def test_same_random_state_same_model_with_pretraining() -> None:
    data = frame(n_users=20, n_items=15, per_user=5)
    a = ncf(pretrain=True, random_state=1).fit(data)
    b = ncf(pretrain=True, random_state=1).fit(data)
    assert _same_weights(a, b)


# ------------------------------------------------------------------------------------------------
# hypothesis: random mixtures of adversarial values
# ------------------------------------------------------------------------------------------------

# Each frame draws its ids from one pool (small ints, int64 extremes, strings or a mix of them),
# its timestamps from one kind, then gets a few adversarial values planted at random rows.
ID_POOLS = {
    "small": st.integers(0, 5),
    "extreme": st.sampled_from([-(2**63), -1, 0, 2**62, 2**63 - 1]),
    "str": st.sampled_from(["a", "b", "", "ü", "10", "9"]),
    "mixed": st.one_of(st.integers(0, 3), st.sampled_from(["0", "a"])),
}
BAD_IDS = st.sampled_from([None, np.nan, np.inf, -np.inf, 1.5, True, pd.NA, pd.NaT, (1, [2])])
TIME_POOLS = {
    "int": st.integers(0, 3),
    "float": st.floats(-1e18, 1e18),
    "equal": st.just(7),
    "datetime": st.sampled_from(pd.date_range("2020-01-01", periods=3, freq="D").tolist()),
    "tz": st.sampled_from(pd.date_range("2020-01-01", periods=3, freq="h", tz="UTC").tolist()),
}
BAD_TIMES = st.sampled_from([None, np.nan, np.inf, "2020-01-01", True, pd.NaT])
ID_VALUES = st.one_of(ID_POOLS["small"], ID_POOLS["extreme"], ID_POOLS["str"], BAD_IDS)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def interaction_frames(draw: st.DrawFn, *, with_time: bool = True) -> pd.DataFrame:
    n = draw(st.integers(0, 14))
    columns: dict[str, list[Any]] = {}
    for name in ("user", "item"):
        pool = ID_POOLS[draw(st.sampled_from(sorted(ID_POOLS)))]
        columns[name] = draw(st.lists(pool, min_size=n, max_size=n))
    if with_time:
        pool = TIME_POOLS[draw(st.sampled_from(sorted(TIME_POOLS)))]
        columns["timestamp"] = draw(st.lists(pool, min_size=n, max_size=n))
    if n:
        for _ in range(draw(st.integers(0, 2))):
            name = draw(st.sampled_from(sorted(columns)))
            row = draw(st.integers(0, n - 1))
            columns[name][row] = draw(BAD_TIMES if name == "timestamp" else BAD_IDS)
    out = pd.DataFrame(columns)
    cast = draw(st.sampled_from([None, None, "category", "str", "object", "Int64"]))
    if cast is not None and n:
        column = draw(st.sampled_from(["user", "item"]))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # e.g. NaN cast to Int64
                out[column] = out[column].astype(cast)
        except (TypeError, ValueError, OverflowError):
            pass
    return out


def _result_or_library_error(fn: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn()
        except (ValueError, TypeError) as exc:
            assert raised_by_library(exc), "".join(traceback.format_exception(exc))
            return exc


@SETTINGS
@given(data=interaction_frames())
def test_hypothesis_leave_one_out(data: pd.DataFrame) -> None:
    out = _result_or_library_error(lambda: leave_one_out(data))
    if isinstance(out, Exception):
        return
    assert len(out.train) + len(out.test) <= len(data)
    assert not set(out.train.index) & set(out.test.index) or data.index.has_duplicates
    assert out.test["user"].is_unique


@SETTINGS
@given(
    train=interaction_frames(with_time=False),
    test=interaction_frames(with_time=False),
    n_negatives=st.one_of(st.none(), st.integers(-1, 4), st.sampled_from([True, 2.0, "3"])),
)
def test_hypothesis_sample_candidates(train, test, n_negatives) -> None:
    out = _result_or_library_error(
        lambda: sample_candidates(train, test, n_negatives=n_negatives, random_state=0)
    )
    if isinstance(out, Exception):
        return
    assert out["is_target"].sum() == len(test)
    negatives = out[~out["is_target"]]
    train_pairs = set(zip(train["user"], train["item"], strict=True))
    assert not any(p in train_pairs for p in zip(negatives["user"], negatives["item"], strict=True))


K_VALUES = st.one_of(
    st.integers(-2, 12), st.sampled_from([True, False, 2.0, "3", None, [], [1, 0], 2**40])
)


@SETTINGS
@given(
    ranks=st.one_of(
        st.lists(st.integers(-1, 2**62), max_size=6),
        st.lists(st.floats(allow_nan=True), max_size=3),
        st.lists(st.lists(st.integers(0, 3), max_size=2), max_size=2),
    ),
    k=K_VALUES,
)
def test_hypothesis_rank_metrics(ranks, k) -> None:
    for metric in (hit_ratio_at_k, ndcg_at_k):
        out = _result_or_library_error(lambda metric=metric: metric(ranks, k=k))
        if not isinstance(out, Exception):
            assert 0.0 <= out <= 1.0


@SETTINGS
@given(
    scores=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=12),
    targets=st.lists(st.booleans(), min_size=12, max_size=12),
    users=st.lists(ID_VALUES, min_size=12, max_size=12),
    k=K_VALUES,
)
def test_hypothesis_evaluate_scored_frame(scores, targets, users, k) -> None:
    n = len(scores)
    scored = pd.DataFrame(
        {"user": users[:n], "item": range(n), "is_target": targets[:n], "score": scores}
    )
    out = _result_or_library_error(lambda: evaluate(scored, k=k))
    if not isinstance(out, Exception):
        assert all(0.0 <= v <= 1.0 for key, v in out.items() if "@" in key)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=interaction_frames(), k=K_VALUES)
def test_hypothesis_fit_and_recommend(data: pd.DataFrame, k) -> None:
    model = _result_or_library_error(lambda: ncf().fit(data))
    if isinstance(model, Exception):
        return
    user = data["user"].iloc[0]
    recs = _result_or_library_error(lambda: model.recommend(user, k=k))
    if not isinstance(recs, Exception):
        assert len(recs) <= k and recs["score"].between(0.0, 1.0).all()


# ------------------------------------------------------------------------------------------------
# docs/robustness.md lists every case
# ------------------------------------------------------------------------------------------------


def test_docs_table_lists_every_case() -> None:
    text = DOCS.read_text(encoding="utf-8")
    missing = [c.id for c in BAD_INPUT if f"test_bad_input[{c.id}]" not in text]
    assert not missing, f"cases missing from {DOCS.name}: {missing}"
    result_tests = [name for name in globals() if name.startswith("test_result_")]
    missing = [name for name in result_tests if name not in text]
    assert not missing, f"result tests missing from {DOCS.name}: {missing}"
