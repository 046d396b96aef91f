"""Recommender.evaluate: per-user results, corrected sampled metrics, and compare on models."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import planted_interactions

from implicit_ncf import NeuralCF, PopularityRecommender
from implicit_ncf.metrics import compare
from implicit_ncf.sampling import sample_candidates
from implicit_ncf.splits import leave_one_out


@pytest.fixture(scope="module")
def fitted():
    split = leave_one_out(planted_interactions(n_users=80, n_items=64, per_user=10, seed=3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = NeuralCF(
            model="mf",
            n_factors=8,
            n_epochs=4,
            batch_size=64,
            learning_rate=1e-2,
            random_state=0,
            accelerator="cpu",
        ).fit(split.train)
    pop = PopularityRecommender().fit(split.train)
    return split, mf, pop


@pytest.mark.parametrize("protocol", ["sampled", "full", "candidates"])
def test_per_user_means_equal_the_summary(fitted, protocol):
    split, mf, pop = fitted
    kwargs: dict = {"k": (1, 5, 10)}
    if protocol == "full":
        kwargs["n_negatives"] = None
    elif protocol == "sampled":
        kwargs["n_negatives"] = 20
    else:
        kwargs["candidates"] = sample_candidates(
            split.train, split.test, n_negatives=15, random_state=4
        )
    for model in (mf, pop):
        summary = model.evaluate(split.test, **kwargs)
        rows = model.evaluate(split.test, per_user=True, **kwargs)
        assert list(rows.columns[:3]) == ["user", "item", "rank"]
        assert len(rows) == summary["n_targets"] == len(split.test)
        assert set(rows["user"]) == set(split.test["user"])
        for name in ("hr@1", "hr@5", "ndcg@10", "mrr@10"):
            assert rows[name].mean() == pytest.approx(summary[name], abs=1e-12), name
        assert ((rows["rank"] < 10) == (rows["hr@10"] == 1)).all()


def test_full_ranking_per_user_ranks_match_the_candidates_frame(fitted):
    split, mf, _ = fitted
    fast = mf.evaluate(split.test, n_negatives=None, per_user=True)
    frame = sample_candidates(split.train, split.test, n_negatives=None)
    slow = mf.evaluate(split.test, candidates=frame, per_user=True)
    np.testing.assert_array_equal(fast["rank"].to_numpy(), slow["rank"].to_numpy())
    np.testing.assert_array_equal(fast["user"].to_numpy(), slow["user"].to_numpy())


def test_corrected_estimates_are_near_the_full_ranking():
    # 400 items in 4 clusters: full-ranking HR@10 well below the sampled one
    split = leave_one_out(planted_interactions(n_users=200, n_items=400, per_user=8, seed=6))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mf = NeuralCF(
            model="mf",
            n_factors=8,
            n_epochs=2,
            batch_size=128,
            learning_rate=1e-2,
            random_state=0,
            accelerator="cpu",
        ).fit(split.train)
        for model in (mf, PopularityRecommender().fit(split.train)):
            full = model.evaluate(split.test, k=10, n_negatives=None)["hr@10"]
            est = model.evaluate(split.test, k=10, n_negatives=50, corrected=True)
            assert 0.0 <= est["hr@10_corrected"] <= 1.0
            assert 0.0 <= est["ndcg@10_corrected"] <= 1.0
            assert est["hr@10"] > 1.5 * full  # the sampled figure is far off ...
            assert abs(est["hr@10_corrected"] - full) < 0.5 * abs(
                est["hr@10"] - full
            )  # ... less so


def test_corrected_needs_sampled_negatives_and_a_summary(fitted):
    split, mf, _ = fitted
    with pytest.raises(ValueError, match="needs sampled negatives"):
        mf.evaluate(split.test, n_negatives=None, corrected=True)
    with pytest.raises(ValueError, match="per_user=False"):
        mf.evaluate(split.test, per_user=True, corrected=True)
    with pytest.raises(TypeError, match="per_user must be True or False"):
        mf.evaluate(split.test, per_user="yes")


def test_compare_a_trained_model_with_popularity(fitted):
    split, mf, pop = fitted
    a = mf.evaluate(split.test, k=10, n_negatives=None, per_user=True)
    b = pop.evaluate(split.test, k=10, n_negatives=None, per_user=True)
    table = compare(a, b, n_resamples=2000)
    row = table.loc["hr@10"]
    assert row["difference"] == pytest.approx(a["hr@10"].mean() - b["hr@10"].mean())
    assert row["ci_low"] > 0 and row["p_value"] < 0.01
    same = compare(a, a, n_resamples=500).loc["ndcg@10"]
    assert same["difference"] == 0 and same["ci_low"] <= 0 <= same["ci_high"]
