"""The fold-in's precomputed frozen side: reused while the weights stay as they are, dropped
when they change, and never a change in what ``recommend(..., interactions=...)`` returns.

Also the two ways ``solve_ials`` forms each row's Gram matrix, and the repeated pairs of a
fold-in request (collapsed, counted in a warning).
"""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from conftest import planted_interactions

from implicit_ncf import NeuralCF, foldin
from implicit_ncf.data import DuplicateInteractionsWarning
from implicit_ncf.recommender import UnknownIdWarning

SMALL = {
    "n_negatives": 4,
    "n_epochs": 3,
    "batch_size": 256,
    "n_factors": 8,
    "hidden_layers": (16, 8),
    "accelerator": "cpu",
    "random_state": 0,
}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return planted_interactions(n_users=120, n_items=60, per_user=10, seed=1)


@pytest.fixture(scope="module", params=[("neumf", "auto"), ("neumf", "bce"), ("mf", "auto")])
def fitted(request: pytest.FixtureRequest, data: pd.DataFrame) -> NeuralCF:
    model, loss = request.param
    return NeuralCF(model=model, loss=loss, **SMALL).fit(data)


def _clicks(user: str, items: list[int]) -> pd.DataFrame:
    return pd.DataFrame({"user": user, "item": items})


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = foldin.frozen_side

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(foldin, "frozen_side", counted)
    return calls


def test_the_frozen_side_is_computed_once_per_state_of_the_weights(
    fitted: NeuralCF, monkeypatch: pytest.MonkeyPatch
) -> None:
    est = copy.deepcopy(fitted)
    calls = _counting(monkeypatch)
    clicks = _clicks("new", [0, 1, 2, 3])
    first = est.recommend("new", k=5, interactions=clicks)
    second = est.recommend("new", k=5, interactions=clicks)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(first, second)
    # weights written in place: recomputed, and the answer is that of an uncached copy
    with torch.no_grad():
        for p in est.network_.parameters():
            p.mul_(1.5)
    changed = est.recommend("new", k=5, interactions=clicks)
    assert len(calls) == 2
    reference = copy.deepcopy(est)  # a deep copy drops the cache
    assert getattr(reference, "_weights_cache", None) is None
    pd.testing.assert_frame_equal(changed, reference.recommend("new", k=5, interactions=clicks))
    assert not changed["score"].equals(first["score"])


def test_partial_fit_and_refit_drop_the_frozen_side(
    fitted: NeuralCF, data: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    est = copy.deepcopy(fitted)
    calls = _counting(monkeypatch)
    clicks = _clicks("new", [4, 5, 6])
    est.recommend("new", k=5, interactions=clicks)
    est.partial_fit(pd.DataFrame({"user": ["u0", "u1"], "item": [7, 8]}))
    calls.clear()  # (partial_fit's own fold-ins compute theirs)
    after = est.recommend("new", k=5, interactions=clicks)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(
        after, copy.deepcopy(est).recommend("new", k=5, interactions=clicks)
    )
    est.fit(data.iloc[: len(data) // 2])
    calls.clear()
    refit = est.recommend("new", k=5, interactions=clicks)
    assert len(calls) == 1
    pd.testing.assert_frame_equal(
        refit, copy.deepcopy(est).recommend("new", k=5, interactions=clicks)
    )


def test_a_model_pickles_after_recommend_and_recommends_the_same(fitted: NeuralCF) -> None:
    clicks = _clicks("new", [1, 2, 9])
    before = fitted.recommend("new", k=5, interactions=clicks)
    loaded = pickle.loads(pickle.dumps(fitted))
    pd.testing.assert_frame_equal(loaded.recommend("new", k=5, interactions=clicks), before)


@pytest.mark.parametrize("side", ["user", "item"])
def test_fold_in_with_a_frozen_side_equals_fold_in_without(fitted: NeuralCF, side: str) -> None:
    parts = foldin.network_parts(fitted.network_)
    n_other = parts.n_items if side == "user" else parts.n_users
    rng = np.random.default_rng(0)
    positives = sp.random(5, n_other, density=0.2, random_state=rng, format="csr")
    # (fresh options per call: they hold the seeded generator of the negatives)
    plain = foldin.fold_in(parts, positives, side=side, **fitted._fold_options())
    for solve in (True, False):  # solve_ials computes what a solve=False side leaves out
        frozen = foldin.frozen_side(parts, side, solve=solve)
        options = fitted._fold_options()
        given = foldin.fold_in(parts, positives, side=side, frozen=frozen, **options)
        for a, b in zip(plain.vectors, given.vectors, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    if side == "user":
        frozen = foldin.frozen_side(parts, "user")
        torch.testing.assert_close(
            foldin.score_users(parts, plain.vectors, frozen),
            foldin.score_users(parts, plain.vectors),
            rtol=0,
            atol=0,
        )


def test_a_frozen_side_of_the_other_side_is_refused(fitted: NeuralCF) -> None:
    parts = foldin.network_parts(fitted.network_)
    positives = sp.csr_matrix(np.eye(2, parts.n_items))
    with pytest.raises(ValueError, match="frozen must be the FrozenSide of side='user'"):
        foldin.fold_in(parts, positives, frozen=foldin.frozen_side(parts, "item"))
    with pytest.raises(ValueError, match="frozen must be the FrozenSide"):
        foldin.score_users(parts, (), frozen={"side": "user"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="side must be 'user' or 'item'"):
        foldin.frozen_side(parts, "items")


@pytest.mark.parametrize("model", ["neumf", "mf"])
def test_both_gram_paths_of_solve_ials_agree(
    data: pd.DataFrame, model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    est = NeuralCF(model=model, **SMALL).fit(data)
    parts = foldin.network_parts(est.network_)
    rng = np.random.default_rng(3)
    options = {"weight_decay": 1e-2, "unobserved_weight": 0.5}
    for side, n_rows in (("user", 40), ("item", 30), ("user", 3)):
        n_other = parts.n_items if side == "user" else parts.n_users
        positives = sp.random(n_rows, n_other, density=0.15, random_state=rng, format="csr")
        positives.data[:] = 1.0
        monkeypatch.setattr(foldin, "_ROWS_BY_MATMUL", 0)  # outer products, index_add
        outer = foldin.solve_ials(parts, positives, side=side, **options)
        monkeypatch.setattr(foldin, "_ROWS_BY_MATMUL", 10**6)  # one product per row
        per_row = foldin.solve_ials(parts, positives, side=side, **options)
        for a, b in zip(outer.vectors, per_row.vectors, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
        if outer.bias is not None:
            assert per_row.bias is not None
            torch.testing.assert_close(outer.bias, per_row.bias, rtol=1e-5, atol=1e-6)


def test_repeated_pairs_of_a_request_are_collapsed_and_counted(fitted: NeuralCF) -> None:
    once = _clicks("new", [3, 4, 5])
    twice = _clicks("new", [3, 4, 3, 5, 4, 3])
    expected = fitted.recommend("new", k=6, interactions=once)
    message = r"3 repeated .*\(3 distinct pairs from 6 rows\)"
    with pytest.warns(DuplicateInteractionsWarning, match=message):
        got = fitted.recommend("new", k=6, interactions=twice)
    pd.testing.assert_frame_equal(got, expected)
    # an unknown item repeated is one unknown row; known users' rows are told apart
    known = str(fitted.user_encoder_.classes_[0])
    frame = pd.DataFrame(
        {"user": ["new", "new", "new", known, known], "item": [3, "zz", "zz", 3, "zz"]}
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fitted.recommend(["new", known], k=3, interactions=frame)
    duplicate = [w for w in caught if issubclass(w.category, DuplicateInteractionsWarning)]
    unknown = [w for w in caught if issubclass(w.category, UnknownIdWarning)]
    assert len(duplicate) == 1 and "1 repeated" in str(duplicate[0].message)
    assert len(unknown) == 1 and str(unknown[0].message).startswith("2 row(s)")
    assert duplicate[0].filename == __file__ and unknown[0].filename == __file__
