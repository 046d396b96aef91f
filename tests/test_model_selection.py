"""implicit_ncf.model_selection: validation carved from training, grid and random search."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from conftest import planted_interactions

from implicit_ncf import NeuralCF, PopularityRecommender
from implicit_ncf.model_selection import grid_search, random_search, validation_split

TINY = {
    "n_factors": 4,
    "hidden_layers": (8, 4),
    "batch_size": 64,
    "accelerator": "cpu",
    "random_state": 0,
    "n_epochs": 3,
}


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    return planted_interactions(n_users=60, n_items=40, per_user=8, seed=2)


def test_validation_split_is_the_latest_interaction_or_random_without_time(planted):
    split = validation_split(planted)
    latest = planted.loc[planted.groupby("user")["timestamp"].idxmax()]
    assert set(zip(split.test.user, split.test.item, strict=True)) == set(
        zip(latest.user, latest.item, strict=True)
    )
    untimed = validation_split(planted.drop(columns="timestamp"), random_state=1)
    assert len(untimed.test) == planted["user"].nunique()
    again = validation_split(planted.drop(columns="timestamp"), random_state=1)
    pd.testing.assert_frame_equal(untimed.test, again.test)


def test_grid_search_tries_every_combination_and_picks_the_best(planted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = grid_search(
            NeuralCF(model="mf", **TINY),
            {"learning_rate": [1e-4, 2e-2], "n_factors": [2, 8]},
            planted,
            n_negatives=None,
        )
    table = result.results
    assert len(table) == 4
    assert sorted(zip(table.param_learning_rate, table.param_n_factors, strict=True)) == [
        (1e-4, 2),
        (1e-4, 8),
        (2e-2, 2),
        (2e-2, 8),
    ]
    best = table.loc[table["ndcg@10"].idxmax()]
    assert result.best_params == best["params"] and result.best_score == best["ndcg@10"]
    assert table.loc[table["rank"] == 1, "ndcg@10"].iloc[0] == result.best_score
    assert result.best_params["learning_rate"] == 2e-2  # 1e-4 cannot learn in 3 epochs
    assert table["best_epoch"].notna().all()  # early stopping on the carved validation set
    assert isinstance(result.best_estimator, NeuralCF)
    assert result.best_estimator.n_users_ == planted["user"].nunique()  # refitted on everything
    assert result.best_estimator.learning_rate == 2e-2


def test_grid_search_on_a_given_validation_frame_matches_evaluate(planted):
    split = validation_split(planted)
    result = grid_search(
        PopularityRecommender(),
        {"min_rating": [None, 3.0]},
        split.train,
        validation=split.test,
        n_negatives=None,
        refit=False,
    )
    expected = PopularityRecommender(min_rating=3.0).fit(split.train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metrics = expected.evaluate(split.test, k=10, n_negatives=None)
    row = result.results[result.results.param_min_rating == 3.0].iloc[0]
    assert row["hr@10"] == metrics["hr@10"] and row["ndcg@10"] == metrics["ndcg@10"]
    assert result.best_estimator is None


def test_random_search_is_seeded_and_draws_from_lists_and_distributions(planted):
    space = {"min_rating": [None, 2.0, 3.0, 4.0], "rating_col": ["rating"]}
    a = random_search(PopularityRecommender(), space, planted, n_iter=3, refit=False)
    b = random_search(PopularityRecommender(), space, planted, n_iter=3, refit=False)
    assert a.results["params"].tolist() == b.results["params"].tolist()
    assert 1 <= len(a.results) <= 3
    dist = {"learning_rate": scipy.stats.loguniform(1e-3, 1e-1)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = random_search(NeuralCF(model="mf", **TINY), dist, planted, n_iter=2, refit=False)
    rates = c.results["param_learning_rate"]
    assert ((rates >= 1e-3) & (rates <= 1e-1)).all()
    assert all(isinstance(v, float) for v in rates)


@pytest.mark.parametrize(
    "call,error,message",
    [
        (
            lambda f: grid_search(PopularityRecommender(), {"n_factors": [1]}, f),
            ValueError,
            "unknown parameter",
        ),
        (
            lambda f: grid_search(PopularityRecommender(), {"min_rating": 3.0}, f),
            TypeError,
            "must be a list of values",
        ),
        (
            lambda f: grid_search(PopularityRecommender(), {"min_rating": []}, f),
            ValueError,
            "is empty",
        ),
        (
            lambda f: grid_search(PopularityRecommender(), "min_rating", f),
            TypeError,
            "param_grid must be a dict",
        ),
        (
            lambda f: grid_search(PopularityRecommender(), f, {"min_rating": [None]}),
            TypeError,
            r"got a DataFrame\. The interactions come after it",
        ),
        (lambda f: grid_search(object(), {"a": [1]}, f), TypeError, "estimator must be"),
        (
            lambda f: grid_search(
                PopularityRecommender(), {"min_rating": [None]}, f, scoring="auc"
            ),
            ValueError,
            "scoring must name",
        ),
        (
            lambda f: random_search(PopularityRecommender(), {"min_rating": [None]}, f, n_iter=0),
            ValueError,
            "n_iter must be a positive integer",
        ),
        (
            lambda f: random_search(PopularityRecommender(), {"min_rating": 3}, f),
            TypeError,
            "must be a non-empty list",
        ),
    ],
)
def test_bad_search_arguments_fail_clearly(planted, call, error, message):
    with pytest.raises(error, match=message):
        call(planted)


def test_scores_are_on_training_data_only(planted):
    # the search never sees anything but what it is given: a user absent from it is unknown
    split = validation_split(planted)
    result = grid_search(PopularityRecommender(), {"min_rating": [None]}, split.train)
    with pytest.raises(ValueError, match="unknown user"):
        result.best_estimator.recommend("nobody")
    assert np.isfinite(result.best_score)
