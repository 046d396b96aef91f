"""Tests for metrics.compare: paired bootstrap interval and Wilcoxon test of per-user metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from implicit_ncf.metrics import compare, metrics_from_ranks

SETTINGS = settings(max_examples=30, deadline=None)
COLUMNS = ["a", "b", "difference", "ci_low", "ci_high", "p_value", "n_users"]


def per_user(values: dict[str, list[float]], users: list) -> pd.DataFrame:
    return pd.DataFrame({"user": users, **values})


@st.composite
def frame_pairs(draw):
    """Two per-user frames over partly shared users, with discrete metric values (many ties)."""
    n_a = draw(st.integers(1, 25))
    n_shared = draw(st.integers(1, n_a))
    n_b_only = draw(st.integers(0, 5))
    users_a = list(range(n_a))
    users_b = users_a[:n_shared] + list(range(100, 100 + n_b_only))
    ranks_a = draw(hnp.arrays(np.int64, n_a, elements=st.integers(0, 15)))
    ranks_b = draw(hnp.arrays(np.int64, len(users_b), elements=st.integers(0, 15)))
    a = metrics_from_ranks(ranks_a, k=(1, 10), users=users_a, per_user=True)
    b = metrics_from_ranks(ranks_b, k=(1, 10), users=users_b, per_user=True)
    return a, b.sample(frac=1.0, random_state=0)  # row order must not matter


def test_hand_computed_case():
    a = per_user({"hr@10": [1.0, 1.0, 0.0, 1.0], "ndcg@10": [1.0, 0.5, 0.0, 0.5]}, [1, 2, 3, 4])
    b = per_user({"hr@10": [0.0, 0.0, 1.0, 0.0], "ndcg@10": [0.0, 0.0, 1.0, 0.5]}, [4, 3, 2, 1])
    result = compare(a, b, n_resamples=2000)
    assert list(result.columns) == COLUMNS
    assert result.index.tolist() == ["hr@10", "ndcg@10"]
    assert result.index.name == "metric"
    # paired by user (b is in another order): hr of users 1..4 is a = 1, 1, 0, 1 and b = 0, 1, 0, 0
    assert result.loc["hr@10", "a"] == 0.75
    assert result.loc["hr@10", "b"] == 0.25
    assert result.loc["hr@10", "difference"] == 0.5
    assert result.loc["ndcg@10", "difference"] == pytest.approx(0.5 - 0.375)
    assert (result["n_users"] == 4).all()
    assert result.loc["hr@10", "ci_low"] <= 0.5 <= result.loc["hr@10", "ci_high"]
    # differences of hr: +1, 0, 0, +1 -> resampled means lie in {0, 0.25, 0.5, 0.75, 1}
    assert result.loc["hr@10", "ci_low"] >= 0.0
    assert result.loc["hr@10", "ci_high"] <= 1.0
    assert 0.0 < result.loc["hr@10", "p_value"] < 1.0


def test_comparing_a_frame_with_itself_finds_nothing():
    rng = np.random.default_rng(0)
    a = metrics_from_ranks(rng.integers(0, 50, 300), k=(5, 10), users=range(300), per_user=True)
    result = compare(a, a)
    assert (result["difference"] == 0.0).all()
    assert (result["ci_low"] == 0.0).all() and (result["ci_high"] == 0.0).all()
    assert (result["p_value"] == 1.0).all()
    assert (result["n_users"] == 300).all()


def test_only_shared_users_are_compared():
    a = per_user({"hr@10": [1.0, 0.0, 1.0]}, ["u1", "u2", "u3"])
    b = per_user({"hr@10": [0.0, 0.0, 1.0]}, ["u2", "u3", "u9"])
    result = compare(a, b, n_resamples=100)
    assert result.loc["hr@10", "n_users"] == 2
    assert result.loc["hr@10", "a"] == 0.5  # u2, u3 of a
    assert result.loc["hr@10", "b"] == 0.0  # u2, u3 of b
    with pytest.raises(ValueError, match="share no user in column 'user'"):
        compare(a, per_user({"hr@10": [1.0]}, ["nobody"]))


def test_several_rows_of_a_user_are_averaged_first():
    a = per_user({"hr@10": [1.0, 0.0, 1.0]}, ["u1", "u1", "u2"])  # u1 has two targets
    b = per_user({"hr@10": [0.0, 0.0]}, ["u1", "u2"])
    result = compare(a, b, n_resamples=100)
    assert result.loc["hr@10", "n_users"] == 2
    assert result.loc["hr@10", "a"] == 0.75  # (0.5 + 1) / 2: each user counts once


def test_metric_columns_default_and_explicit():
    a = metrics_from_ranks([0, 5, 9], k=(1, 10), users=[1, 2, 3], per_user=True)
    b = metrics_from_ranks([3, 0, 20], k=(10, 20), users=[1, 2, 3], per_user=True)
    a["item"] = [10, 20, 30]  # numeric, but not a metric: left out by default
    b["item"] = [10, 20, 30]
    assert compare(a, b, n_resamples=50).index.tolist() == ["hr@10", "ndcg@10", "mrr@10"]
    chosen = compare(a, b, n_resamples=50, metrics=["rank", "mrr@10"])
    assert chosen.index.tolist() == ["rank", "mrr@10"]
    assert chosen.loc["rank", "difference"] == pytest.approx((14 - 23) / 3)
    assert compare(a, b, n_resamples=50, metrics="hr@10").index.tolist() == ["hr@10"]


def test_custom_user_column():
    a = per_user({"hr@10": [1.0, 0.0]}, [1, 2]).rename(columns={"user": "uid"})
    b = per_user({"hr@10": [0.0, 0.0]}, [1, 2]).rename(columns={"user": "uid"})
    assert compare(a, b, user_col="uid", n_resamples=10).loc["hr@10", "difference"] == 0.5
    with pytest.raises(ValueError, match="a has no user column 'user'"):
        compare(a, b)


def test_the_seed_repeats_and_a_generator_is_accepted():
    rng = np.random.default_rng(1)
    a = metrics_from_ranks(rng.integers(0, 30, 200), k=10, users=range(200), per_user=True)
    b = metrics_from_ranks(rng.integers(0, 30, 200), k=10, users=range(200), per_user=True)
    first = compare(a, b, n_resamples=500, random_state=7)
    pd.testing.assert_frame_equal(first, compare(a, b, n_resamples=500, random_state=7))
    other = compare(a, b, n_resamples=500, random_state=np.random.default_rng(8))
    assert other.loc["hr@10", "difference"] == first.loc["hr@10", "difference"]
    assert compare(a, b, n_resamples=500, random_state=None).shape == first.shape


def test_a_clear_difference_is_significant():
    rng = np.random.default_rng(2)
    n = 2000
    good = metrics_from_ranks(rng.integers(0, 12, n), k=10, users=range(n), per_user=True)
    bad = metrics_from_ranks(rng.integers(5, 40, n), k=10, users=range(n), per_user=True)
    result = compare(good, bad, n_resamples=1000)
    assert (result["ci_low"] > 0).all()
    assert (result["p_value"] < 1e-6).all()


def test_bootstrap_interval_covers_the_true_difference_about_95_percent_of_the_time():
    """200 samples of 400 users: HR of model a ~ Bernoulli(0.5), of b ~ Bernoulli(0.4)."""
    n_users, n_seeds, true_difference = 400, 200, 0.1
    covered = 0
    for seed in range(n_seeds):
        rng = np.random.default_rng(seed)
        a = per_user({"hr@10": (rng.uniform(size=n_users) < 0.5).astype(float)}, range(n_users))
        b = per_user({"hr@10": (rng.uniform(size=n_users) < 0.4).astype(float)}, range(n_users))
        result = compare(a, b, n_resamples=1000, random_state=seed)
        covered += (
            result.loc["hr@10", "ci_low"] <= true_difference <= result.loc["hr@10", "ci_high"]
        )
    assert 0.90 <= covered / n_seeds <= 0.99


def test_default_resamples_on_movielens_sized_data():
    """10,000 resamples x 6,040 users x 9 metrics, drawn in chunks (bounded memory)."""
    rng = np.random.default_rng(3)
    ks = (5, 10, 20)
    a = metrics_from_ranks(rng.integers(0, 60, 6040), k=ks, users=range(6040), per_user=True)
    b = metrics_from_ranks(rng.integers(0, 70, 6040), k=ks, users=range(6040), per_user=True)
    result = compare(a, b)
    assert len(result) == 9
    assert np.isfinite(result[["ci_low", "ci_high", "p_value"]].to_numpy()).all()
    assert (result["ci_low"] <= result["difference"]).all()
    assert (result["difference"] <= result["ci_high"]).all()


@SETTINGS
@given(frame_pairs(), st.integers(0, 2**16))
def test_swapping_the_models_mirrors_the_result(pair, seed):
    a, b = pair
    ab = compare(a, b, n_resamples=200, random_state=seed)
    ba = compare(b, a, n_resamples=200, random_state=seed)
    assert (ab["difference"].to_numpy() == -ba["difference"].to_numpy()).all()
    assert ab["a"].tolist() == ba["b"].tolist()
    np.testing.assert_allclose(ab["ci_low"], -ba["ci_high"], atol=1e-12)
    np.testing.assert_allclose(ab["ci_high"], -ba["ci_low"], atol=1e-12)
    np.testing.assert_allclose(ab["p_value"], ba["p_value"], rtol=1e-12)
    assert (ab["n_users"] == ba["n_users"]).all()


@SETTINGS
@given(frame_pairs(), st.integers(0, 2**16))
def test_bounds(pair, seed):
    a, b = pair
    result = compare(a, b, n_resamples=200, random_state=seed)
    assert ((result["p_value"] >= 0.0) & (result["p_value"] <= 1.0)).all()
    assert (result["ci_low"] <= result["ci_high"]).all()
    for name in ("hr@1", "hr@10", "ndcg@10", "mrr@10"):
        assert -1.0 <= result.loc[name, "ci_low"] and result.loc[name, "ci_high"] <= 1.0
    shared = len(set(a["user"]) & set(b["user"]))
    assert (result["n_users"] == shared).all()


@pytest.mark.parametrize(
    ("kwargs", "exc", "fragment"),
    [
        ({"n_resamples": 0}, ValueError, "n_resamples must be a positive integer; got 0"),
        ({"n_resamples": 10.0}, ValueError, "n_resamples must be a positive integer"),
        ({"confidence": 1.0}, ValueError, "confidence must be a number strictly between 0 and 1"),
        ({"confidence": "95%"}, ValueError, "confidence must be"),
        ({"random_state": "seed"}, TypeError, "random_state must be an int"),
        ({"random_state": -1}, ValueError, "random_state must be a non-negative integer"),
        ({"metrics": ["hr@5"]}, ValueError, "metrics names 'hr@5', which is not a column of a"),
        ({"metrics": []}, ValueError, "at least one column"),
        ({"metrics": ["user"]}, ValueError, "names the user column"),
        ({"metrics": 5}, TypeError, "metrics must be a sequence of column names"),
    ],
)
def test_bad_arguments(kwargs, exc, fragment):
    a = per_user({"hr@10": [1.0, 0.0]}, [1, 2])
    with pytest.raises(exc, match=fragment):
        compare(a, a, **kwargs)


def test_bad_frames():
    a = per_user({"hr@10": [1.0, 0.0]}, [1, 2])
    with pytest.raises(TypeError, match="b must be a pandas DataFrame"):
        compare(a, a.to_numpy())
    with pytest.raises(ValueError, match="share no metric column"):
        compare(a, per_user({"ndcg@10": [1.0, 0.0]}, [1, 2]))
    with pytest.raises(ValueError, match="column 'hr@10' of b holds 1 NaN"):
        compare(a, per_user({"hr@10": [1.0, np.nan]}, [1, 2]))
    with pytest.raises(TypeError, match="column 'label' of a must be numeric"):
        compare(a.assign(label="x"), a.assign(label="y"), metrics=["label"])
    with pytest.raises(ValueError, match="missing user ids"):
        compare(per_user({"hr@10": [1.0, 0.0]}, [1, None]), a)
