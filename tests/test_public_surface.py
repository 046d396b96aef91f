"""Property test of the public surface: fit -> recommend -> evaluate -> save -> load -> recommend.

hypothesis draws small interaction frames whose ids have one of the dtypes users hand us (int64,
uint64 beyond 2**63, str, categorical, nullable Int64), with repeated pairs and one-interaction
users, and timestamps that are ints, floats, datetimes or absent. Each frame goes through the
whole life of a model on a tiny network. The property: every call returns a consistent result
or raises a ``ValueError`` / ``TypeError`` raised by implicit_ncf itself (never a traceback from
inside torch, pandas or numpy), and a saved and loaded model gives exactly the same answers.
What it found is listed in docs/robustness.md.
"""

from __future__ import annotations

import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from implicit_ncf import NeuralCF, PopularityRecommender
from implicit_ncf.splits import leave_one_out

LIBRARY = Path(__file__).resolve().parents[1] / "implicit_ncf"
TINY: dict[str, Any] = {
    "n_epochs": 1,
    "batch_size": 32,
    "n_factors": 3,
    "hidden_layers": (4, 2),
    "accelerator": "cpu",
    "random_state": 0,
    "finetune_epochs": 1,
}
ID_KINDS = ("int", "uint64", "str", "category", "Int64")
TIME_KINDS = ("none", "int", "float", "datetime")


def _ids(kind: str, codes: list[int]) -> pd.Series:
    values = np.asarray(codes, dtype=np.int64)
    if kind == "int":
        return pd.Series(values * 7 - 3)
    if kind == "uint64":
        return pd.Series(values.astype(np.uint64) * np.uint64(2**61) + np.uint64(5))
    if kind == "str":
        return pd.Series([f"id-{v}" for v in values], dtype=object)
    if kind == "category":
        return pd.Series([f"c{v}" for v in values], dtype="category")
    return pd.Series(values + 10, dtype="Int64")


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n_users = draw(st.integers(1, 6))
    n_items = draw(st.integers(2, 8))
    n = draw(st.integers(4, 30))
    users = draw(st.lists(st.integers(0, n_users - 1), min_size=n, max_size=n))
    items = draw(st.lists(st.integers(0, n_items - 1), min_size=n, max_size=n))
    data = pd.DataFrame(
        {
            "user": _ids(draw(st.sampled_from(ID_KINDS)), users),
            "item": _ids(draw(st.sampled_from(ID_KINDS)), items),
        }
    )
    time_kind = draw(st.sampled_from(TIME_KINDS))
    if time_kind != "none":
        times = np.asarray(draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)))
        if time_kind == "float":
            data["timestamp"] = times.astype(float) / 3
        elif time_kind == "datetime":
            data["timestamp"] = pd.to_datetime(times, unit="D")
        else:
            data["timestamp"] = times
    return data


def _library_error(exc: BaseException) -> bool:
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and Path(frames[-1].filename).resolve().is_relative_to(LIBRARY)


def _call(fn: Callable[[], Any]) -> Any:
    """``fn()``, or the clear error it raised (any other exception fails the test)."""
    try:
        return fn()
    except (ValueError, TypeError) as exc:
        assert _library_error(exc), "".join(traceback.format_exception(exc))
        return exc


def _same(a: Any, b: Any) -> None:
    if isinstance(a, Exception) or isinstance(b, Exception):
        assert type(a) is type(b) and str(a) == str(b)
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == b[key] or (np.isnan(a[key]) and np.isnan(b[key])), key
    else:
        np.testing.assert_array_equal(a, b)


def _answers(model: Any, data: pd.DataFrame, test: pd.DataFrame, k: int) -> list[Any]:
    users = list(pd.unique(data["user"]))
    return [
        _call(lambda: model.recommend(users, k=k)),
        _call(lambda: model.recommend(users[0], k=k, exclude_seen=False)),
        _call(lambda: model.predict(data["user"], data["item"])),
        _call(lambda: model.evaluate(test, k=(1, k), n_negatives=None)),
        _call(lambda: model.evaluate(test, k=k, n_negatives=1, random_state=0)),
    ]


def _check_recommendations(model: Any, recs: Any, data: pd.DataFrame, k: int) -> None:
    if isinstance(recs, Exception):
        return
    assert list(recs.columns) == ["user", "item", "score"]
    seen = set(zip(data["user"], data["item"], strict=True))
    assert not any(pair in seen for pair in zip(recs["user"], recs["item"], strict=True))
    for _, group in recs.groupby("user", sort=False, observed=True):
        assert len(group) <= k
        assert group["score"].is_monotonic_decreasing
        assert group["item"].is_unique
    assert set(recs["item"]) <= set(data["item"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=frames(),
    model=st.sampled_from(["neumf", "popularity", "mf", "gmf", "mlp"]),
    k=st.integers(1, 4),
)
def test_fit_recommend_evaluate_save_load(tmp_path_factory, data, model, k) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        time_col = "timestamp" if "timestamp" in data.columns else None
        split = _call(lambda: leave_one_out(data, time_col=time_col, random_state=0))
        if isinstance(split, Exception):
            split_train, split_test = data, data.iloc[:0]
        else:
            split_train, split_test = split.train, split.test
        if model == "popularity":
            est: Any = PopularityRecommender()
        else:
            est = NeuralCF(model=model, **TINY)
        fitted = _call(lambda: est.fit(split_train))
        if isinstance(fitted, Exception):
            return
        before = _answers(fitted, split_train, split_test, k)
        _check_recommendations(fitted, before[0], split_train, k)
        if model == "popularity":
            return
        path = tmp_path_factory.mktemp("model") / "m.pt"
        saved = _call(lambda: fitted.save(path))
        if isinstance(saved, Exception):
            return
        loaded = NeuralCF.load(path)
        assert loaded.get_params() == {**fitted.get_params(), "trainer_kwargs": None}
        for a, b in zip(before, _answers(loaded, split_train, split_test, k), strict=True):
            _same(a, b)
