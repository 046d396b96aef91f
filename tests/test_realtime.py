"""Real time: fold-in at recommend time, partial_fit, similar items / users, candidate filters.

One test per clause of the contract (docs/realtime.md), on planted synthetic data: users in
clusters that interact only with their cluster's items, so that a user folded in from a few
interactions must be recommended its cluster's other items.
"""

from __future__ import annotations

import copy
import threading
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from conftest import planted_interactions

from implicit_ncf import NeuralCF, PopularityRecommender, foldin
from implicit_ncf.networks import build_network
from implicit_ncf.recommender import DuplicateInteractionsWarning, UnknownIdWarning
from implicit_ncf.similarity import embedding_space

SMALL = {
    # the thresholds below were set with 4 negatives, the default before 8; on this tiny
    # planted catalogue (80 items) 8 negatives per positive train a weaker NeuMF
    "n_negatives": 4,
    "n_epochs": 8,
    "batch_size": 256,
    "n_factors": 8,
    "hidden_layers": (16, 8),
    "accelerator": "cpu",
    "random_state": 0,
}
N_ITEMS, N_CLUSTERS = 80, 4


def _cluster(user: str) -> int:
    return int(user[1:]) % N_CLUSTERS


def _item_cluster(item: int) -> int:
    return int(item) // (N_ITEMS // N_CLUSTERS)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return planted_interactions(n_users=200, n_items=N_ITEMS, per_user=12, seed=0)


@pytest.fixture(scope="module")
def held(data: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """40 users held out entirely: their history (all but the latest) and their latest item."""
    rng = np.random.default_rng(0)
    users = rng.choice(data["user"].unique(), 40, replace=False)
    rows = data[data["user"].isin(users)].sort_values(["user", "timestamp"])
    last = rows.groupby("user").tail(1)
    return {
        "train": data[~data["user"].isin(users)],
        "history": rows.drop(last.index),
        "last": last,
        "all": rows,
    }


@pytest.fixture(scope="module")
def neumf(held: dict[str, pd.DataFrame]) -> NeuralCF:
    return NeuralCF(model="neumf", **SMALL).fit(held["train"])


@pytest.fixture(scope="module")
def mf(held: dict[str, pd.DataFrame]) -> NeuralCF:
    return NeuralCF(model="mf", **SMALL).fit(held["train"])


@pytest.fixture(params=["neumf", "mf"])
def model(request: pytest.FixtureRequest) -> NeuralCF:
    """Each of the two fitted models (never modified by the tests that take it)."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def _hit_rate(recs: pd.DataFrame, last: pd.DataFrame) -> float:
    return len(recs.merge(last, on=["user", "item"])) / last["user"].nunique()


def _state(est: NeuralCF) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in est.network_.state_dict().items()}


# --------------------------------------------------------------------------------------------
# fold-in quality
# --------------------------------------------------------------------------------------------


def test_fold_in_of_new_users_is_far_above_chance(model: NeuralCF, held) -> None:
    users = held["last"]["user"].tolist()
    recs = model.recommend(users, k=10, interactions=held["history"])
    # each user has 11 history items: chance of the held-out item in a top-10 of 69 is 0.145;
    # the default 3 steps (chosen on ML-1M) reach about 0.45 here
    assert _hit_rate(recs, held["last"]) >= 0.35
    top5 = model.recommend(users, k=5, interactions=held["history"])
    in_cluster = top5["item"].map(_item_cluster) == top5["user"].map(_cluster)
    assert in_cluster.mean() >= 0.3  # the user's cluster: chance 9 of 69 unseen items, 0.13


def test_more_fold_in_steps_converge_on_small_data(model: NeuralCF, held) -> None:
    """``fold_in_steps`` / ``fold_in_learning_rate`` are the knobs for data unlike ML-1M."""
    est = copy.deepcopy(model).set_params(fold_in_steps=24, fold_in_learning_rate=0.1)
    recs = est.recommend(held["last"]["user"].tolist(), k=10, interactions=held["history"])
    assert _hit_rate(recs, held["last"]) >= 0.8
    top5 = est.recommend(held["last"]["user"].tolist(), k=5, interactions=held["history"])
    assert (top5["item"].map(_item_cluster) == top5["user"].map(_cluster)).mean() >= 0.8


def test_fold_in_defaults_are_the_modules(neumf: NeuralCF) -> None:
    assert (neumf.fold_in_steps, neumf.fold_in_learning_rate) == (
        foldin.N_STEPS,
        foldin.LEARNING_RATE,
    )
    for name, value in (("fold_in_steps", 0), ("fold_in_learning_rate", float("nan"))):
        est = copy.deepcopy(neumf).set_params(**{name: value})
        with pytest.raises(ValueError, match=name):
            est.recommend("x", interactions=pd.DataFrame({"user": ["x"], "item": [1]}))


def test_fold_in_never_returns_the_interactions_or_training_items(model: NeuralCF, held) -> None:
    users = held["last"]["user"].tolist()
    recs = model.recommend(users, k=20, interactions=held["history"])
    assert recs.merge(held["history"], on=["user", "item"]).empty
    kept = model.recommend(users, k=69, interactions=held["history"], exclude_seen=False)
    assert len(kept.merge(held["history"], on=["user", "item"])) > 0  # exclude_seen=False keeps


def test_fold_in_of_a_known_user_adds_to_the_training_history(model: NeuralCF, data) -> None:
    user = model.user_encoder_.classes_[0]
    train_items = set(data.loc[data["user"] == user, "item"])
    cluster_items = [i for i in range(N_ITEMS) if _item_cluster(i) == _cluster(user)]
    new = [i for i in cluster_items if i not in train_items][:3]
    recs = model.recommend(user, k=30, interactions=pd.DataFrame({"user": user, "item": new}))
    assert not set(recs["item"]) & (train_items | set(new))
    # pairs the model already has change nothing: the result is the plain recommendation
    old = pd.DataFrame({"user": user, "item": sorted(train_items)[:3]})
    pd.testing.assert_frame_equal(
        model.recommend(user, k=5, interactions=old), model.recommend(user, k=5)
    )


def test_fold_in_of_known_users_starts_from_their_trained_vectors(model: NeuralCF) -> None:
    """Known users folded in from one more item of their cluster recommend their cluster at
    least as well as their trained vectors do (chance: about 7 of 67 unseen items)."""
    users = model.user_encoder_.classes_[:20].tolist()
    extra = pd.DataFrame(
        {"user": users, "item": [_cluster(u) * (N_ITEMS // N_CLUSTERS) + 19 for u in users]}
    )
    folded = model.recommend(users, k=5, interactions=extra)
    plain = model.recommend(users, k=5)
    rate = {
        name: (recs["item"].map(_item_cluster) == recs["user"].map(_cluster)).mean()
        for name, recs in (("folded", folded), ("plain", plain))
    }
    assert rate["folded"] >= max(0.5, rate["plain"] - 0.05), rate


@pytest.mark.parametrize("loss", ["bpr", "softmax"])
@pytest.mark.parametrize("model", ["mf", "neumf"])
def test_ranking_loss_models_fold_in(held, loss: str, model: str) -> None:
    """Models trained with the ranking losses fold users in with the same loss (softmax: the
    positive against foldin.SOFTMAX_NEGATIVES sampled items), well above chance (0.145)."""
    users = held["last"]["user"].tolist()
    est = NeuralCF(model=model, loss=loss, **SMALL).fit(held["train"])
    recs = est.recommend(users, k=10, interactions=held["history"])
    assert _hit_rate(recs, held["last"]) >= 0.5
    again = est.recommend(users, k=10, interactions=held["history"])
    pd.testing.assert_frame_equal(recs, again)  # deterministic for a fixed random_state


def test_softmax_fold_in_loss_is_the_cross_entropy_of_the_positive() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 3.0, 1.0]])
    expected = torch.stack([-torch.log_softmax(row, 0)[0] for row in logits])
    torch.testing.assert_close(foldin.softmax_loss(logits), expected)
    with pytest.raises(ValueError, match="fold-in supports models trained with loss in"):
        net = build_network("mf", 3, 4, n_factors=2, hidden_layers=(4,))
        foldin.fold_in(foldin.network_parts(net), sp.csr_matrix((1, 4)), loss="hinge")


# --------------------------------------------------------------------------------------------
# no change to the model, determinism, threads
# --------------------------------------------------------------------------------------------


def test_recommend_with_interactions_leaves_the_model_unchanged(neumf: NeuralCF, held) -> None:
    before = _state(neumf)
    grads = [None if p.grad is None else p.grad.clone() for p in neumf.network_.parameters()]
    seen, users = neumf.seen_.copy(), neumf.user_encoder_.classes_.copy()
    neumf.recommend(held["last"]["user"].tolist(), k=5, interactions=held["history"])
    after = neumf.network_.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert (neumf.seen_ != seen).nnz == 0
    np.testing.assert_array_equal(neumf.user_encoder_.classes_, users)
    for p, g in zip(neumf.network_.parameters(), grads, strict=True):
        assert (p.grad is None and g is None) or (
            p.grad is not None and g is not None and torch.equal(p.grad, g)
        )
    with pytest.raises(ValueError, match="unknown user"):
        neumf.recommend(held["last"]["user"].iloc[0])  # still unknown afterwards


def test_fold_in_is_deterministic_for_a_fixed_random_state(neumf: NeuralCF, held) -> None:
    users = held["last"]["user"].tolist()
    a, b = neumf, copy.deepcopy(neumf)
    first = a.recommend(users, k=5, interactions=held["history"])
    pd.testing.assert_frame_equal(first, a.recommend(users, k=5, interactions=held["history"]))
    pd.testing.assert_frame_equal(first, b.recommend(users, k=5, interactions=held["history"]))


def test_fold_in_is_thread_safe(neumf: NeuralCF, held) -> None:
    users = held["last"]["user"].tolist()
    expected = neumf.recommend(users, k=5, interactions=held["history"])
    results: list[pd.DataFrame] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(neumf.recommend(users, k=5, interactions=held["history"]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 12
    for frame in results:
        pd.testing.assert_frame_equal(frame, expected)


# --------------------------------------------------------------------------------------------
# edge cases and bad input
# --------------------------------------------------------------------------------------------


def test_empty_interactions_change_nothing(neumf: NeuralCF, held) -> None:
    empty = held["history"].iloc[:0]
    known = neumf.user_encoder_.classes_[0]
    pd.testing.assert_frame_equal(
        neumf.recommend(known, interactions=empty), neumf.recommend(known)
    )
    with pytest.raises(ValueError, match="interactions has no rows for them"):
        neumf.recommend("nobody", interactions=empty)


def test_a_user_whose_interactions_cover_the_catalogue(neumf: NeuralCF) -> None:
    everything = pd.DataFrame({"user": "glutton", "item": neumf.item_encoder_.classes_})
    recs = neumf.recommend("glutton", k=10, interactions=everything)
    assert recs.empty and list(recs.columns) == ["item", "score"]
    every = neumf.recommend(
        "glutton", k=neumf.n_items_, interactions=everything, exclude_seen=False
    )
    assert len(every) == neumf.n_items_ and every["score"].is_monotonic_decreasing


def test_whitelist_smaller_than_k(model: NeuralCF, held) -> None:
    user = held["last"]["user"].iloc[0]
    history = held["history"][held["history"]["user"] == user]
    seen_item = int(history["item"].iloc[0])
    unseen = [i for i in range(N_ITEMS) if i not in set(history["item"])][:3]
    recs = model.recommend(user, k=10, interactions=history, items=[*unseen, seen_item])
    assert sorted(recs["item"]) == sorted(unseen)  # the seen one is excluded
    assert recs["score"].is_monotonic_decreasing
    known = model.user_encoder_.classes_[0]
    assert len(model.recommend(known, k=10, items=unseen[:2], exclude_seen=False)) == 2
    assert model.recommend(known, k=10, items=[]).empty


def test_exclude_items_are_never_returned(model: NeuralCF, held) -> None:
    users = held["last"]["user"].tolist()
    plain = model.recommend(users, k=5, interactions=held["history"])
    banned = plain["item"].unique().tolist()
    recs = model.recommend(users, k=5, interactions=held["history"], exclude_items=banned)
    assert not set(recs["item"]) & set(banned)
    assert (recs.groupby("user").size() == 5).all()
    both = model.recommend(
        users, k=5, interactions=held["history"], items=banned, exclude_items=banned
    )
    assert both.empty


@pytest.mark.parametrize("parameter", ["items", "exclude_items"])
def test_unknown_ids_in_the_filters_raise_naming_them(neumf: NeuralCF, parameter: str) -> None:
    user = neumf.user_encoder_.classes_[0]
    with pytest.raises(ValueError, match=rf"{parameter} holds item id\(s\) \[999, 'x'\]"):
        neumf.recommend(user, **{parameter: [1, 999, "x"]})


def test_unknown_items_in_interactions_are_counted_in_a_warning(neumf: NeuralCF, held) -> None:
    user = held["last"]["user"].iloc[0]
    history = held["history"][held["history"]["user"] == user]
    frame = pd.concat([history, pd.DataFrame({"user": [user] * 2, "item": [999, 1000]})])
    with pytest.warns(UnknownIdWarning, match=r"2 row\(s\) of interactions have item id\(s\)"):
        recs = neumf.recommend(user, k=5, interactions=frame)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pd.testing.assert_frame_equal(recs, neumf.recommend(user, k=5, interactions=history))


def test_interactions_of_users_not_requested_raise(neumf: NeuralCF, held) -> None:
    user = held["last"]["user"].iloc[0]
    with pytest.raises(ValueError, match="interactions holds rows of user id"):
        neumf.recommend(user, interactions=held["history"])


def test_bad_interactions_name_the_parameter(neumf: NeuralCF) -> None:
    with pytest.raises(TypeError, match="interactions must be a pandas DataFrame"):
        neumf.recommend("x", interactions={"x": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="interactions must be a pandas DataFrame"):
        neumf.recommend("x", interactions=iter([1, 2]))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="item_col='item' is not a column"):
        neumf.recommend("x", interactions=pd.DataFrame({"user": ["x"], "movie": [1]}))
    # (user, item) pairs in a list are read as item ids: none is in the catalogue
    with pytest.warns(UnknownIdWarning, match=r"\('x', 1\)"):
        with pytest.raises(ValueError, match="none of their interactions can be folded in"):
            neumf.recommend("x", interactions=[("x", 1)])
    with pytest.raises(ValueError, match=r"\['x'\].*interactions has no rows for them"):
        neumf.recommend("x", interactions=[])
    other = pd.DataFrame({"user": ["y"], "item": [0]})
    with pytest.raises(ValueError, match=r"\['x'\].*interactions has no rows for them"):
        neumf.recommend(["x", "y"], interactions=other)


@pytest.mark.parametrize(
    "as_clicks", [list, tuple, np.array, pd.Series, pd.Index], ids=lambda f: f.__name__
)
def test_a_list_of_item_ids_is_one_users_interactions(
    model: NeuralCF, held, as_clicks: Any
) -> None:
    user = held["last"]["user"].iloc[0]
    history = held["history"][held["history"]["user"] == user]
    clicks = as_clicks(history["item"].tolist())
    pd.testing.assert_frame_equal(
        model.recommend(user, k=5, interactions=clicks),
        model.recommend(user, k=5, interactions=history),
    )
    known = model.user_encoder_.classes_[0]
    extra = [i for i in range(N_ITEMS) if not model.seen_[0, i]][:2]
    frame = pd.DataFrame({"user": known, "item": extra})
    pd.testing.assert_frame_equal(
        model.recommend(known, k=5, interactions=as_clicks(extra)),
        model.recommend(known, k=5, interactions=frame),
    )
    pd.testing.assert_frame_equal(
        model.recommend(known, k=5, interactions=as_clicks([])), model.recommend(known, k=5)
    )


def test_a_list_of_item_ids_counts_repeats_and_unknown_items(neumf: NeuralCF, held) -> None:
    user = held["last"]["user"].iloc[0]
    items = held["history"].loc[held["history"]["user"] == user, "item"].tolist()
    expected = neumf.recommend(user, k=5, interactions=items)
    with pytest.warns(UnknownIdWarning, match=r"1 row\(s\) of interactions"):
        with pytest.warns(DuplicateInteractionsWarning, match="1 repeated"):
            got = neumf.recommend(user, k=5, interactions=[*items, items[0], 999])
    pd.testing.assert_frame_equal(got, expected)


def test_a_list_of_item_ids_is_for_one_user(neumf: NeuralCF, held) -> None:
    users = held["last"]["user"].tolist()[:2]
    with pytest.raises(TypeError, match="list of item ids is for one user; got 2 users"):
        neumf.recommend(users, interactions=[1, 2])
    with pytest.raises(ValueError, match="interactions must be one id or a 1-D sequence"):
        neumf.recommend(users[0], interactions=np.array([[1, 2]]))


def test_a_list_of_item_ids_needs_no_rating_under_min_rating(held) -> None:
    rated = held["train"].assign(rating=5.0)
    est = NeuralCF(model="mf", min_rating=4, **SMALL).fit(rated)
    user = held["last"]["user"].iloc[0]
    items = held["history"].loc[held["history"]["user"] == user, "item"].tolist()
    frame = pd.DataFrame({"user": user, "item": items, "rating": 5.0})
    pd.testing.assert_frame_equal(
        est.recommend(user, k=5, interactions=items),
        est.recommend(user, k=5, interactions=frame),
    )
    low = frame.assign(rating=1.0)  # a frame's ratings still filter its rows
    with pytest.raises(ValueError, match="ratings below min_rating=4"):
        est.recommend(user, k=5, interactions=low)


def test_unknown_user_without_interactions_gets_filtered_popular_items(mf: NeuralCF) -> None:
    est = copy.deepcopy(mf).set_params(on_unknown_user="popular")
    banned = est.recommend("nobody", k=3)["item"].tolist()
    recs = est.recommend("nobody", k=3, exclude_items=banned)
    assert len(recs) == 3 and not set(recs["item"]) & set(banned)
    assert sorted(est.recommend("nobody", k=5, items=banned[:2])["item"]) == sorted(banned[:2])


def test_popularity_accepts_the_same_arguments(held) -> None:
    pop = PopularityRecommender().fit(held["train"])
    top = pop.recommend(pop.user_encoder_.classes_[0], k=3, exclude_seen=False)["item"].tolist()
    user = held["last"]["user"].iloc[0]
    history = pd.DataFrame({"user": user, "item": top[:2]})
    recs = pop.recommend(user, k=3, interactions=history)
    assert recs["item"].iloc[0] == top[2] and not set(recs["item"]) & set(top[:2])
    pd.testing.assert_frame_equal(pop.recommend(user, k=3, interactions=top[:2]), recs)
    filtered = pop.recommend(user, k=3, interactions=history, items=top, exclude_items=top[2:])
    assert filtered.empty
    with pytest.raises(ValueError, match="items holds item id"):
        pop.recommend(user, interactions=history, items=[-5])


# --------------------------------------------------------------------------------------------
# partial_fit
# --------------------------------------------------------------------------------------------


def test_partial_fit_adds_users_items_and_interactions(neumf: NeuralCF, held) -> None:
    est = copy.deepcopy(neumf)
    before = _state(est)
    n_users, n_items = est.n_users_, est.n_items_
    new_item = pd.DataFrame({"user": held["history"]["user"].unique()[:6], "item": 500})
    assert est.partial_fit(pd.concat([held["history"], new_item])) is est
    assert est.n_users_ == n_users + held["history"]["user"].nunique()
    assert est.n_items_ == n_items + 1 and est.item_encoder_.classes_[-1] == 500
    assert est.item_popularity_[-1] == 6
    np.testing.assert_array_equal(est.user_encoder_.classes_[:n_users], before_users(held))
    after = est.network_.state_dict()
    for name, value in before.items():
        if "user_embedding" in name or "item_embedding" in name or "item_bias" in name:
            assert torch.equal(after[name][: n_users if "user" in name else n_items][:5], value[:5])
        else:
            assert torch.equal(after[name], value), name  # the shared layers are not retrained
    users = held["last"]["user"].tolist()
    recs = est.recommend(users, k=10)  # known users now, no interactions needed
    assert _hit_rate(recs, held["last"]) >= 0.35  # chance 0.145
    assert recs.merge(held["history"], on=["user", "item"]).empty


def before_users(held: dict[str, pd.DataFrame]) -> np.ndarray:
    return np.sort(held["train"]["user"].unique())


def test_partial_fit_updates_changed_users_only(mf: NeuralCF, data: pd.DataFrame) -> None:
    est = copy.deepcopy(mf)
    user = est.user_encoder_.classes_[0]
    before = est.network_.user_embedding.weight.detach().clone()
    items_before = est.network_.item_embedding.weight.detach().clone()
    had = set(data.loc[data["user"] == user, "item"])
    new = [i for i in range(N_ITEMS) if i not in had][:2]
    est.partial_fit(pd.DataFrame({"user": user, "item": new}))
    after = est.network_.user_embedding.weight.detach()
    changed = np.flatnonzero((after != before).any(1).numpy())
    assert changed.tolist() == [est.user_encoder_.transform([user])[0]]
    assert torch.equal(est.network_.item_embedding.weight.detach(), items_before)
    assert set(new) <= set(est.item_encoder_.inverse_transform(est.seen_[changed[0]].indices))


def test_partial_fit_is_deterministic_and_atomic(neumf: NeuralCF, held) -> None:
    a = copy.deepcopy(neumf).partial_fit(held["history"])
    b = copy.deepcopy(neumf).partial_fit(held["history"])
    assert all(
        torch.equal(v, b.network_.state_dict()[k]) for k, v in a.network_.state_dict().items()
    )
    state = _state(a)
    bad = pd.DataFrame({"user": ["z", None], "item": [1, 2]})
    with pytest.raises(ValueError, match="missing id"):
        a.partial_fit(bad)
    assert all(torch.equal(v, a.network_.state_dict()[k]) for k, v in state.items())
    with pytest.raises(ValueError, match="not fitted"):
        NeuralCF().partial_fit(held["history"])


def test_save_and_load_after_partial_fit(neumf: NeuralCF, held, tmp_path) -> None:
    est = copy.deepcopy(neumf)
    est.partial_fit(pd.concat([held["history"], pd.DataFrame({"user": ["new"], "item": [777]})]))
    est.save(tmp_path / "m.pt")
    loaded = NeuralCF.load(tmp_path / "m.pt")
    users = [*held["last"]["user"], "new"]
    pd.testing.assert_frame_equal(loaded.recommend(users, k=5), est.recommend(users, k=5))
    np.testing.assert_array_equal(loaded.item_popularity_, est.item_popularity_)
    assert (loaded.seen_ != est.seen_).nnz == 0
    pd.testing.assert_frame_equal(loaded.similar_items(777, k=3), est.similar_items(777, k=3))


def test_popularity_partial_fit_equals_a_refit(held) -> None:
    pop = PopularityRecommender().fit(held["train"]).partial_fit(held["all"])
    refit = PopularityRecommender().fit(pd.concat([held["train"], held["all"]]))
    ours = pd.Series(pop.item_popularity_, index=pop.item_encoder_.classes_).sort_index()
    theirs = pd.Series(refit.item_popularity_, index=refit.item_encoder_.classes_).sort_index()
    pd.testing.assert_series_equal(ours, theirs)
    user = held["last"]["user"].iloc[0]
    np.testing.assert_array_equal(
        np.sort(pop.recommend(user, k=5)["score"]), np.sort(refit.recommend(user, k=5)["score"])
    )


# --------------------------------------------------------------------------------------------
# similar items and users
# --------------------------------------------------------------------------------------------


def test_similar_items_are_the_items_cluster(model: NeuralCF) -> None:
    queries = list(range(0, N_ITEMS, 7))
    sims = model.similar_items(queries, k=5)
    assert list(sims.columns) == ["query_item", "item", "score"]
    assert (sims.groupby("query_item").size() == 5).all()
    assert not (sims["query_item"] == sims["item"]).any()
    same = sims["query_item"].map(_item_cluster) == sims["item"].map(_item_cluster)
    assert same.mean() >= 0.7  # chance: 19 of 79 items, 0.24
    one = model.similar_items(queries[0], k=5)
    assert list(one.columns) == ["item", "score"] and one["score"].is_monotonic_decreasing
    assert (one["score"] <= 1 + 1e-6).all()
    assert len(model.similar_items(0, k=10_000)) == model.n_items_ - 1


def test_similar_users_are_the_users_cluster(model: NeuralCF) -> None:
    users = model.user_encoder_.classes_[:12].tolist()
    sims = model.similar_users(users, k=5)
    assert list(sims.columns) == ["query_user", "user", "score"]
    same = sims["query_user"].map(_cluster) == sims["user"].map(_cluster)
    assert same.mean() >= 0.7


def test_similar_to_unknown_ids_raise_naming_them(neumf: NeuralCF) -> None:
    with pytest.raises(ValueError, match=r"unknown item id\(s\) \[12345\]"):
        neumf.similar_items([0, 12345])
    with pytest.raises(ValueError, match=r"unknown user id\(s\) \['nobody'\]"):
        neumf.similar_users("nobody")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        neumf.similar_items(0, k=0)


def _cosines(est: NeuralCF, side: str, query: Any) -> pd.Series:
    """Every other id's cosine with ``query``, from the exported unit vectors (a reference)."""
    ids, vectors = est.similarity_vectors(side)
    row = int(np.flatnonzero(ids == query)[0])
    cos = pd.Series(vectors @ vectors[row], index=ids)
    return cos.drop(query)


@pytest.mark.parametrize("side", ["item", "user"])
def test_similar_filters_return_the_best_allowed_neighbours(model: NeuralCF, side: str) -> None:
    similar = model.similar_items if side == "item" else model.similar_users
    ids = (model.item_encoder_ if side == "item" else model.user_encoder_).classes_
    query = ids[3]
    cos = _cosines(model, side, query)
    allowed = list(ids[::3])  # holds the query itself, which is never returned
    banned = list(cos.index[::5])
    got = similar(query, k=7, **{f"{side}s": allowed, f"exclude_{side}s": banned})
    expected = cos[cos.index.isin(allowed) & ~cos.index.isin(banned)].sort_values(ascending=False)
    assert got[side].tolist() == expected.index[:7].tolist()
    np.testing.assert_allclose(got["score"], expected.iloc[:7], rtol=1e-5, atol=1e-6)
    # fewer candidates than k: all of them, the query left out
    few = similar(query, k=10, **{f"{side}s": [query, ids[0], ids[1]]})
    assert sorted(few[side].tolist()) == sorted([ids[0], ids[1]])
    assert similar(query, k=5, **{f"{side}s": [query]}).empty
    assert similar(query, k=5, **{f"exclude_{side}s": list(ids)}).empty
    # several queries: each query's own neighbours, counts per query
    many = similar([query, ids[0]], k=10, **{f"{side}s": [query, ids[0], ids[1]]})
    assert many.groupby(f"query_{side}", sort=False).size().tolist() == [2, 2]
    one = similar(ids[0], k=10, **{f"{side}s": [query, ids[0], ids[1]]})
    np.testing.assert_array_equal(
        many.loc[many[f"query_{side}"] == ids[0], side].to_numpy(), one[side].to_numpy()
    )


def test_similar_filters_name_unknown_ids(neumf: NeuralCF) -> None:
    with pytest.raises(ValueError, match=r"items holds item id\(s\) \[12345\]"):
        neumf.similar_items(0, items=[1, 12345])
    with pytest.raises(ValueError, match=r"exclude_users holds user id\(s\) \['nobody'\]"):
        neumf.similar_users(neumf.user_encoder_.classes_[0], exclude_users=["nobody"])
    pop = PopularityRecommender().fit(pd.DataFrame({"user": [1, 2], "item": [1, 2]}))
    with pytest.raises(TypeError, match="no learned item space"):
        pop.similar_items(1, items=[999])


def test_explain_ranks_the_users_items_by_cosine_with_the_item(model: NeuralCF) -> None:
    user = model.user_encoder_.classes_[5]
    top = model.recommend(user, k=1)["item"].iloc[0]
    got = model.explain(user, top, k=4)
    history = model.item_encoder_.inverse_transform(model.seen_[5].indices)
    cos = _cosines(model, "item", top)
    expected = cos[cos.index.isin(history)].sort_values(ascending=False)
    assert got["item"].tolist() == expected.index[:4].tolist()
    np.testing.assert_allclose(got["score"], expected.iloc[:4], rtol=1e-5, atol=1e-6)
    # an item of the history is never its own explanation; k above the history: all of it
    own = history[0]
    every = model.explain(user, own, k=1000)
    assert own not in set(every["item"]) and len(every) == len(history) - 1
    assert every["score"].is_monotonic_decreasing


def test_explain_reads_interactions_as_recommend_does(neumf: NeuralCF, held) -> None:
    user = held["last"]["user"].iloc[0]
    items = held["history"].loc[held["history"]["user"] == user, "item"].tolist()
    target = neumf.recommend(user, k=1, interactions=items)["item"].iloc[0]
    got = neumf.explain(user, target, k=3, interactions=items)
    assert set(got["item"]) <= set(items) and len(got) == 3
    frame = pd.DataFrame({"user": user, "item": items})
    pd.testing.assert_frame_equal(neumf.explain(user, target, k=3, interactions=frame), got)
    known = neumf.user_encoder_.classes_[0]
    extra = [i for i in range(N_ITEMS) if not neumf.seen_[0, i]][:1]
    with_extra = neumf.explain(known, target, k=1000, interactions=extra)
    assert len(with_extra) == len(neumf.explain(known, target, k=1000)) + (target not in extra)


def test_explain_errors_name_the_problem(neumf: NeuralCF, held) -> None:
    user = neumf.user_encoder_.classes_[0]
    with pytest.raises(ValueError, match="unknown item id 12345"):
        neumf.explain(user, 12345)
    with pytest.raises(ValueError, match=r"unknown user id\(s\) \['nobody'\]: not in the"):
        neumf.explain("nobody", 1)
    with pytest.warns(UnknownIdWarning, match="12345"):
        with pytest.raises(ValueError, match="none of their interactions can be folded in"):
            neumf.explain("nobody", 1, interactions=[12345])
    with pytest.raises(TypeError, match="explain takes one user id; got 2"):
        neumf.explain([user, user], 1)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        neumf.explain(user, 1, k=0)
    pop = PopularityRecommender().fit(held["train"])
    with pytest.raises(TypeError, match="no learned item space"):
        pop.explain(user, 1)


def test_popularity_has_no_item_space(held) -> None:
    pop = PopularityRecommender().fit(held["train"])
    with pytest.raises(TypeError, match="has no learned item space"):
        pop.similar_items(0)
    with pytest.raises(TypeError, match="has no learned user space"):
        pop.similar_users(pop.user_encoder_.classes_[0])


# --------------------------------------------------------------------------------------------
# the fold-in machinery
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mf", "gmf", "mlp", "neumf"])
def test_scores_from_vectors_equal_the_networks_scores(kind: str) -> None:
    torch.manual_seed(0)
    net = build_network(kind, 30, 20, n_factors=6, hidden_layers=(8, 4)).eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    parts = foldin.network_parts(net)
    rows = foldin.current_rows(net, "user", np.arange(30))
    with torch.no_grad():
        expected = net.score_all(torch.arange(30))  # type: ignore[operator]
    torch.testing.assert_close(foldin.score_users(parts, rows.vectors), expected)
    space = embedding_space(net, "item")
    torch.testing.assert_close(space.norm(dim=1), torch.ones(20))


def test_fold_in_rows_without_usable_interactions_keep_their_start() -> None:
    torch.manual_seed(0)
    net = build_network("gmf", 10, 6, n_factors=4, hidden_layers=(4,)).eval()
    parts = foldin.network_parts(net)
    positives = sp.csr_matrix(np.array([[0] * 6, [1] * 6, [1, 0, 0, 0, 0, 0]], dtype=np.float32))
    folded = foldin.fold_in(parts, positives, init="mean", n_steps=10, random_state=0)
    mean = net.user_embedding.weight.detach().mean(0)  # type: ignore[union-attr, operator]
    torch.testing.assert_close(folded.vectors[0][0], mean)  # no interactions
    torch.testing.assert_close(folded.vectors[0][1], mean)  # every item: no negative to draw
    assert not torch.equal(folded.vectors[0][2], mean)
    zeros = foldin.fold_in(parts, positives, init="zeros", n_steps=10, random_state=0)
    assert not zeros.vectors[0][:2].any()
    with pytest.raises(ValueError, match="positives must have 6 columns"):
        foldin.fold_in(parts, sp.csr_matrix((1, 5)))


def test_fold_in_and_similarity_import_no_lightning() -> None:
    import subprocess
    import sys

    code = (
        "import sys, implicit_ncf.foldin, implicit_ncf.similarity; "
        "print(sorted(m for m in sys.modules if 'lightning' in m))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------------
# partial_fit_epochs: the refresh of the whole network after the fold-in
# --------------------------------------------------------------------------------------------


def test_partial_fit_refresh_trains_items_and_layers(held) -> None:
    # the refresh replays sampled-negative fine-tuning: a BCE model (the default's iALS
    # fine-tuning refuses partial_fit_epochs > 0, tests/test_ials.py)
    neumf = NeuralCF(model="neumf", loss="bce", **SMALL).fit(held["train"])
    plain = copy.deepcopy(neumf).partial_fit(held["history"])
    est = copy.deepcopy(neumf).set_params(partial_fit_epochs=2)
    again = copy.deepcopy(neumf).set_params(partial_fit_epochs=2)
    before = _state(est)
    est.partial_fit(held["history"])
    again.partial_fit(held["history"])
    after = est.network_.state_dict()
    assert all(torch.equal(v, again.network_.state_dict()[k]) for k, v in after.items())
    n_items = neumf.n_items_
    moved = [
        name
        for name, value in before.items()
        if not torch.equal(after[name][: len(value)] if "embedding" in name else after[name], value)
        and "user" not in name
    ]
    # old items and the shared layers move now; the fold-in alone leaves them as they were
    assert any("item_embedding" in n for n in moved) and any(
        "layers" in n or "output" in n for n in moved
    ), moved
    for name, value in before.items():
        if "item_embedding" in name:
            assert torch.equal(plain.network_.state_dict()[name][:n_items], value)
    recs = est.recommend(held["last"]["user"].tolist(), k=10)
    assert _hit_rate(recs, held["last"]) >= 0.35  # chance 0.145
    assert recs.merge(held["history"], on=["user", "item"]).empty
    assert not any(m.sparse for m in est.network_.modules() if isinstance(m, torch.nn.Embedding))


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_partial_fit_epochs_is_checked_before_anything_changes(neumf: NeuralCF, held, bad) -> None:
    est = copy.deepcopy(neumf).set_params(partial_fit_epochs=bad)
    state, n_users = _state(est), est.n_users_
    with pytest.raises(ValueError, match="partial_fit_epochs must be a non-negative int"):
        est.partial_fit(held["history"])
    assert est.n_users_ == n_users
    assert all(torch.equal(v, est.network_.state_dict()[k]) for k, v in state.items())
