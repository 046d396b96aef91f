"""The learned space of ``similar_items`` / ``similar_users``: computed once per state of the
weights, recomputed when they change, and exported by ``similarity_vectors`` for a
nearest-neighbour index."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import planted_interactions

from implicit_ncf import NeuralCF, NotFittedError, PopularityRecommender, similarity

SMALL = {
    "n_negatives": 4,
    "n_epochs": 2,
    "batch_size": 256,
    "n_factors": 8,
    "hidden_layers": (16, 8),
    "accelerator": "cpu",
    "random_state": 0,
}


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return planted_interactions(n_users=120, n_items=60, per_user=10, seed=2)


@pytest.fixture(scope="module", params=["neumf", "gmf", "mlp", "mf"])
def fitted(request: pytest.FixtureRequest, data: pd.DataFrame) -> NeuralCF:
    return NeuralCF(model=request.param, **SMALL).fit(data)


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = similarity.embedding_space

    def counted(network: torch.nn.Module, side: str) -> torch.Tensor:
        calls.append(side)
        return original(network, side)

    monkeypatch.setattr(similarity, "embedding_space", counted)
    return calls


def test_the_space_is_computed_once_per_side_and_state_of_the_weights(
    fitted: NeuralCF, monkeypatch: pytest.MonkeyPatch
) -> None:
    est = copy.deepcopy(fitted)
    calls = _counting(monkeypatch)
    item = est.item_encoder_.classes_[3]
    user = est.user_encoder_.classes_[5]
    first = est.similar_items(item, k=5)
    pd.testing.assert_frame_equal(est.similar_items(item, k=5), first)
    est.similar_items([item, est.item_encoder_.classes_[0]], k=3)
    est.similar_users(user, k=4)
    est.similar_users(user, k=4)
    assert calls == ["item", "user"]
    # the fold-in's cache lives beside it and does not drop the space
    est.recommend(
        "someone-new", k=3, interactions=pd.DataFrame({"user": "someone-new", "item": [item]})
    )
    est.similar_items(item, k=5)
    assert calls == ["item", "user"]
    # weights written in place: recomputed, and the same answer as a copy without the cache
    with torch.no_grad():
        for p in est.network_.parameters():
            p.add_(torch.randn_like(p))
    changed = est.similar_items(item, k=5)
    assert calls == ["item", "user", "item"]
    reference = copy.deepcopy(est)
    assert getattr(reference, "_weights_cache", None) is None
    pd.testing.assert_frame_equal(changed, reference.similar_items(item, k=5))
    assert not changed.equals(first)


def test_partial_fit_and_refit_recompute_the_space(fitted: NeuralCF, data: pd.DataFrame) -> None:
    est = copy.deepcopy(fitted)
    ids, before = est.similarity_vectors("item")
    est.partial_fit(pd.DataFrame({"user": ["u0", "u1", "u2"], "item": ["fresh"] * 3}))
    ids_after, after = est.similarity_vectors("item")
    assert len(ids_after) == len(ids) + 1 and "fresh" in set(ids_after.tolist())
    assert after.shape == (len(ids) + 1, before.shape[1])
    assert "fresh" in set(est.similar_items(est.item_encoder_.classes_[0], k=len(ids))["item"])
    est.fit(data.iloc[: len(data) // 2])
    ids_refit, refit = est.similarity_vectors("item")
    assert len(ids_refit) == est.n_items_ and len(refit) == est.n_items_
    fresh = copy.deepcopy(est)
    np.testing.assert_array_equal(refit, fresh.similarity_vectors("item")[1])


@pytest.mark.parametrize("side", ["item", "user"])
def test_similarity_vectors_reproduce_similar_items(fitted: NeuralCF, side: str) -> None:
    ids, vectors = fitted.similarity_vectors(side)
    encoder = fitted.item_encoder_ if side == "item" else fitted.user_encoder_
    np.testing.assert_array_equal(ids, encoder.classes_)
    assert vectors.dtype == np.float32 and vectors.shape[0] == len(ids)
    norms = np.linalg.norm(vectors, axis=1)
    np.testing.assert_allclose(norms[norms > 0], 1.0, rtol=1e-5)
    query = 7
    scores = vectors @ vectors[query]
    scores[query] = -np.inf
    order = np.argsort(-scores, kind="stable")[:5]
    similar = fitted.similar_items if side == "item" else fitted.similar_users
    found = similar(ids[query], k=5)
    np.testing.assert_allclose(found["score"].to_numpy(), scores[order], rtol=1e-5, atol=1e-6)
    # the same neighbours, up to the order of exact ties
    assert set(found[side]) == set(ids[order].tolist()) or np.isclose(
        scores[order][-1], np.sort(scores)[-6]
    )


def test_similarity_vectors_are_a_copy(fitted: NeuralCF) -> None:
    est = copy.deepcopy(fitted)
    item = est.item_encoder_.classes_[2]
    before = est.similar_items(item, k=5)
    ids, vectors = est.similarity_vectors("item")
    vectors[:] = 0.0
    ids[:] = ids[::-1]
    pd.testing.assert_frame_equal(est.similar_items(item, k=5), before)
    np.testing.assert_array_equal(est.similarity_vectors("item")[0], est.item_encoder_.classes_)


def test_a_model_pickles_after_similar_items(fitted: NeuralCF) -> None:
    item = fitted.item_encoder_.classes_[1]
    before = fitted.similar_items(item, k=5)
    loaded = pickle.loads(pickle.dumps(fitted))
    pd.testing.assert_frame_equal(loaded.similar_items(item, k=5), before)


def test_a_space_first_computed_in_inference_mode_serves_a_later_fold_in(
    data: pd.DataFrame,
) -> None:
    est = NeuralCF(model="neumf", **SMALL).fit(data)
    item = est.item_encoder_.classes_[0]
    with torch.inference_mode():
        est.similar_items(item, k=3)
        est.recommend("u0", k=3)
    clicks = pd.DataFrame({"user": "new", "item": est.item_encoder_.classes_[:4]})
    recs = est.recommend("new", k=3, interactions=clicks)
    assert len(recs) == 3
    assert not any(
        t.is_inference() for t in est._weights_cache[2].values() if isinstance(t, torch.Tensor)
    )


@pytest.mark.parametrize("side", ["items", "", None, 1, "USER"])
def test_similarity_vectors_name_a_bad_side(fitted: NeuralCF, side: object) -> None:
    with pytest.raises(ValueError, match=r'side must be "item" or "user"; got'):
        fitted.similarity_vectors(side)  # type: ignore[arg-type]


def test_similarity_vectors_of_the_popularity_baseline_and_of_an_unfitted_model(
    data: pd.DataFrame,
) -> None:
    with pytest.raises(TypeError, match="no learned item space"):
        PopularityRecommender().fit(data).similarity_vectors("item")
    with pytest.raises(NotFittedError):
        NeuralCF().similarity_vectors()
