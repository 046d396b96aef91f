"""IdEncoder.get_indexer: the few-id path (one hash lookup per id, for live requests) gives
exactly what pandas' get_indexer gives, for every kind of id the estimators accept."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import pytest

from implicit_ncf import data
from implicit_ncf.data import IdEncoder

CLASSES: dict[str, Any] = {
    "int": np.arange(0, 3000, 3),
    "uint": np.arange(5, dtype=np.uint32),
    "float": np.array([0.5, 1.0, 2.0, 7.25]),
    "str": np.array(["a", "b", "c10", "c2"]),
    "object str": np.array(["a", "b", "Z"], dtype=object),
    "mixed": np.array([1, "a", 2.5, "1"], dtype=object),
    "tuples": pd.Series([(1, 2), (3, 4), ("a", 1)]).to_numpy(),
    "bool": np.array([True, False]),
    "datetime": pd.to_datetime(["2024-01-01", "2024-06-01"]).to_numpy(),
    "date": np.array([dt.date(2024, 1, 1), dt.date(2024, 6, 1)], dtype=object),
}
PROBES: list[Any] = [
    0, 1, 3, 2999, 3000, -3, 1.0, 2.5, 7.25, np.float32(2.0), np.int64(6), np.uint8(3), True,
    False, "a", "1", "Z", "c2", b"a", (1, 2), ("a", 1), (9,), None, np.nan, 10**20,
    np.datetime64("2024-01-01"), pd.Timestamp("2024-06-01"), dt.date(2024, 1, 1),
    "2024-01-01", "2024", "0.5",
]  # fmt: skip


def _as_query(values: list[Any]) -> np.ndarray:
    return np.fromiter(values, dtype=object, count=len(values))  # as recommend passes ids


@pytest.mark.parametrize("kind", list(CLASSES))
def test_few_ids_are_looked_up_as_get_indexer_does(kind: str) -> None:
    enc = IdEncoder("item").fit(CLASSES[kind])
    assert len(PROBES) > data._FEW_IDS
    for probe in PROBES:
        query = _as_query([probe, enc.classes_[0]])
        expected = enc._index.get_indexer(query)
        np.testing.assert_array_equal(enc.get_indexer(query), expected, err_msg=repr(probe))
    # typed arrays and Series of the classes' own dtype, few and many
    few, many = enc.classes_[-2:], np.resize(enc.classes_, data._FEW_IDS + 3)
    for query in (few, many, pd.Series(few), list(few)):
        np.testing.assert_array_equal(
            enc.get_indexer(query), enc._index.get_indexer(data._id_values(query))
        )
    assert enc.get_indexer(few).tolist() == [len(enc) - 2, len(enc) - 1]


def test_the_few_id_path_is_taken_and_the_many_id_path_agrees(monkeypatch) -> None:
    enc = IdEncoder("user").fit(np.arange(100))
    calls: list[int] = []
    original = pd.Index.get_indexer

    def counting(self: pd.Index, target: Any, *args: Any, **kwargs: Any) -> np.ndarray:
        calls.append(len(target))
        return original(self, target, *args, **kwargs)

    monkeypatch.setattr(pd.Index, "get_indexer", counting)
    assert enc.get_indexer([5, 200, 7]).tolist() == [5, -1, 7]
    assert calls == []  # one get_loc per id
    ids = list(range(95, 95 + data._FEW_IDS + 1))
    assert enc.get_indexer(ids).tolist() == [*range(95, 100), *[-1] * (len(ids) - 5)]
    assert calls == [len(ids)]
