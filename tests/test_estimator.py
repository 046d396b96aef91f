"""Contract tests for NeuralCF and PopularityRecommender (one test per convention)."""

from __future__ import annotations

import math
import os
import pickle
import threading
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import pytorch_lightning as pl
import torch
from conftest import planted_interactions

from implicit_ncf import NeuralCF, NotFittedError, PopularityRecommender
from implicit_ncf.data import DuplicateInteractionsWarning
from implicit_ncf.evaluation import TrainingOverlapWarning
from implicit_ncf.splits import leave_one_out

FAST = {"n_epochs": 2, "batch_size": 256, "n_factors": 8, "hidden_layers": (16, 8)}
MODELS = ["neumf", "gmf", "mlp", "mf"]


def clone(estimator):
    """scikit-learn's clone, without depending on scikit-learn."""
    params = estimator.get_params(deep=False)
    return type(estimator)(**params)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return planted_interactions(n_users=60, n_items=40, per_user=8)


@pytest.fixture(scope="module", params=MODELS)
def fitted(request, data) -> NeuralCF:
    return NeuralCF(model=request.param, random_state=0, **FAST).fit(data)


@pytest.fixture(scope="module", params=MODELS)
def held_out(request, data) -> tuple[NeuralCF, pd.DataFrame, pd.DataFrame]:
    """A model fitted on a leave-one-out training part, with (train, test)."""
    split = leave_one_out(data)
    model = NeuralCF(model=request.param, random_state=0, **FAST).fit(split.train)
    return model, split.train, split.test


def test_init_only_stores_parameters():
    est = NeuralCF(model="not-a-model", n_epochs=-3, random_state=0)
    assert est.model == "not-a-model" and est.n_epochs == -3  # validated in fit, not __init__
    assert not any(name.endswith("_") for name in vars(est))


def test_get_params_round_trip_and_clone():
    est = NeuralCF(model="gmf", n_factors=16, random_state=3)
    params = est.get_params()
    assert params["model"] == "gmf" and params["n_factors"] == 16 and params["random_state"] == 3
    twin = clone(est)
    assert twin is not est and twin.get_params() == params
    assert NeuralCF().set_params(**params).get_params() == params


def test_sklearn_clone_when_available():
    base = pytest.importorskip("sklearn.base")
    est = NeuralCF(model="mlp", hidden_layers=(8, 4))
    assert base.clone(est).get_params() == est.get_params()


def test_set_params_rejects_unknown_name():
    with pytest.raises(ValueError, match="invalid parameter 'n_factor'"):
        NeuralCF().set_params(n_factor=3)


def test_repr_shows_changed_parameters():
    assert repr(NeuralCF(model="gmf")) == "NeuralCF(model='gmf')"


@pytest.mark.parametrize("method", ["recommend", "predict", "score", "save"])
def test_not_fitted_error(method, tmp_path):
    est = NeuralCF()
    args = {
        "recommend": ("u1",),
        "predict": (["u1"], [1]),
        "score": (pd.DataFrame({"user": ["u1"], "item": [1]}),),
        "save": (tmp_path / "m.pt",),
    }[method]
    with pytest.raises(NotFittedError, match="not fitted"):
        getattr(est, method)(*args)


def test_fit_returns_self(data):
    est = NeuralCF(model="mf", random_state=0, **FAST)
    assert est.fit(data) is est
    assert est.n_users_ == data["user"].nunique() and est.n_items_ == data["item"].nunique()
    assert len(est.history_) == FAST["n_epochs"]


def test_second_fit_starts_over(data):
    est = NeuralCF(model="gmf", random_state=0, **FAST).fit(data)
    other = pd.DataFrame({"user": ["x", "x", "y", "y"], "item": [100, 101, 101, 102]})
    est.fit(other)
    assert list(est.user_encoder_.classes_) == ["x", "y"]
    assert list(est.item_encoder_.classes_) == [100, 101, 102]
    fresh = NeuralCF(model="gmf", random_state=0, **FAST).fit(other)
    pd.testing.assert_frame_equal(est.recommend("x", k=1), fresh.recommend("x", k=1))


def test_recommend_never_contains_training_item(fitted, data):
    users = data["user"].unique().tolist()
    recs = fitted.recommend(users, k=10)
    seen = set(zip(data["user"], data["item"], strict=True))
    assert not any((u, i) in seen for u, i in zip(recs["user"], recs["item"], strict=True))
    assert (recs.groupby("user").size() == 10).all()


def test_recommend_single_user_frame(fitted, data):
    recs = fitted.recommend("u0", k=5)
    assert list(recs.columns) == ["item", "score"] and len(recs) == 5
    assert recs["score"].is_monotonic_decreasing
    assert set(recs["item"]) <= set(data["item"])


def test_recommend_include_seen_can_return_training_items(fitted, data):
    recs = fitted.recommend("u0", k=fitted.n_items_, exclude_seen=False)
    assert len(recs) == fitted.n_items_


def test_recommend_matches_predict(fitted):
    recs = fitted.recommend("u1", k=5)
    scores = fitted.predict(["u1"] * 5, recs["item"].tolist())
    np.testing.assert_allclose(scores, recs["score"].to_numpy(), rtol=1e-5, atol=1e-6)


def test_recommend_k_larger_than_unseen_returns_all_unseen(fitted, data):
    n_seen = int((data["user"] == "u0").sum())
    recs = fitted.recommend("u0", k=10_000)
    assert len(recs) == fitted.n_items_ - n_seen


def test_unknown_user_raises_naming_id(fitted):
    with pytest.raises(ValueError, match=r"unknown user id.*'nobody'"):
        fitted.recommend("nobody")


def test_unknown_user_popular_fallback(data):
    est = NeuralCF(model="mf", on_unknown_user="popular", random_state=0, **FAST).fit(data)
    recs = est.recommend(["nobody", "u0"], k=3)
    counts = data["item"].value_counts()
    popular = recs.loc[recs["user"] == "nobody", "item"]
    assert counts[popular].tolist() == counts.iloc[:3].tolist()


def test_predict_unknown_item_raises(fitted):
    with pytest.raises(ValueError, match="unknown item id"):
        fitted.predict(["u0"], [99999])


def test_same_random_state_same_model(data):
    a = NeuralCF(model="neumf", random_state=7, **FAST).fit(data)
    b = NeuralCF(model="neumf", random_state=7, **FAST).fit(data)
    for (name, x), (_, y) in zip(
        a.network_.state_dict().items(), b.network_.state_dict().items(), strict=True
    ):
        assert torch.equal(x, y), name
    pd.testing.assert_frame_equal(a.recommend(["u0", "u1"]), b.recommend(["u0", "u1"]))


def test_fit_does_not_touch_global_torch_rng(data):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    NeuralCF(model="mf", random_state=0, **FAST).fit(data)
    assert torch.equal(torch.rand(3), expected)


def test_save_load_round_trip(fitted, tmp_path):
    path = tmp_path / "model.pt"
    fitted.save(path)
    loaded = NeuralCF.load(path)
    users = ["u0", "u5", "u9"]
    pd.testing.assert_frame_equal(fitted.recommend(users), loaded.recommend(users))
    assert loaded.get_params() == {**fitted.get_params(), "hidden_layers": [16, 8]} or (
        loaded.get_params()["model"] == fitted.model
    )
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_saved_file_loads_with_weights_only(fitted, tmp_path):
    path = tmp_path / "model.pt"
    fitted.save(path)
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "implicit_ncf.model"


def test_pickle_round_trip(fitted):
    clone_ = pickle.loads(pickle.dumps(fitted))
    pd.testing.assert_frame_equal(fitted.recommend(["u0", "u3"]), clone_.recommend(["u0", "u3"]))


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_load_refuses_malicious_pickle(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    torch.save({"format": "implicit_ncf.model", "format_version": 1, "x": _Boom()}, path)
    with pytest.raises(ValueError, match="refused without running them"):
        NeuralCF.load(path)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_load_truncated_file(fitted, tmp_path):
    path = tmp_path / "model.pt"
    fitted.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated, corrupted"):
        NeuralCF.load(path)


def test_load_junk_names_the_underlying_error(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"junk")  # torch 2.13: struct.error, whose bare name is "error"
    with pytest.raises(ValueError, match="truncated, corrupted") as caught:
        NeuralCF.load(path)
    cause = caught.value.__cause__
    assert cause is not None
    kind = type(cause).__qualname__
    if type(cause).__module__ != "builtins":
        kind = f"{type(cause).__module__}.{kind}"
    assert str(caught.value).endswith(f"({kind}: {str(cause).splitlines()[0][:200]})")


def test_load_incompatible_version(fitted, tmp_path):
    path = tmp_path / "model.pt"
    fitted.save(path)
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = 999
    torch.save(payload, path)
    with pytest.raises(ValueError, match="format version 999"):
        NeuralCF.load(path)


def test_load_not_a_model_file(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not an implicit_ncf model file"):
        NeuralCF.load(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file"):
        NeuralCF.load(tmp_path / "missing.pt")


class _RaiseAt(pl.Callback):
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def on_train_epoch_end(self, trainer, module) -> None:
        raise self.exc


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()])
def test_failed_fit_keeps_previous_state(data, exc):
    est = NeuralCF(model="gmf", random_state=0, **FAST).fit(data)
    network, before = est.network_, est.recommend("u0")
    est.set_params(trainer_kwargs={"callbacks": [_RaiseAt(exc)]})
    with pytest.raises(type(exc)):
        est.fit(data.iloc[:100])
    assert est.network_ is network
    pd.testing.assert_frame_equal(est.recommend("u0"), before)


def test_failed_first_fit_leaves_estimator_unfitted(data):
    est = NeuralCF(
        model="gmf",
        random_state=0,
        trainer_kwargs={"callbacks": [_RaiseAt(RuntimeError("boom"))]},
        **FAST,
    )
    with pytest.raises(RuntimeError, match="boom"):
        est.fit(data)
    assert not hasattr(est, "network_")
    with pytest.raises(NotFittedError):
        est.recommend("u0")


def test_recommend_is_thread_safe(fitted, data):
    users = data["user"].unique().tolist()
    expected = fitted.recommend(users, k=5)
    results: list[pd.DataFrame] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(fitted.recommend(users, k=5))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for frame in results:
        pd.testing.assert_frame_equal(frame, expected)


def test_validation_keeps_best_epoch(data):
    split = leave_one_out(data)
    est = NeuralCF(model="gmf", random_state=0, **{**FAST, "n_epochs": 3})
    est.fit(split.train, validation=split.test)
    assert all("val_hr@10" in row and "val_ndcg@10" in row for row in est.history_)
    best = max(range(3), key=lambda e: est.history_[e]["val_ndcg@10"])
    assert est.best_epoch_ == best


def test_early_stopping_uses_internal_split(data):
    est = NeuralCF(model="mf", early_stopping=True, patience=1, random_state=0, **FAST)
    est.fit(data)
    assert "val_hr@10" in est.history_[0]
    # recommendations still exclude every interaction passed to fit
    recs = est.recommend(data["user"].unique().tolist(), k=5)
    seen = set(zip(data["user"], data["item"], strict=True))
    assert not any((u, i) in seen for u, i in zip(recs["user"], recs["item"], strict=True))


def test_evaluate_reports_both_protocols(held_out):
    model, _, test = held_out
    sampled = model.evaluate(test, k=(5, 10), n_negatives=20)
    full = model.evaluate(test, k=(5, 10), n_negatives=None)
    for result in (sampled, full):
        assert {"hr@5", "hr@10", "ndcg@10", "mrr@10", "n_users"} <= set(result)
        assert 0.0 <= result["hr@5"] <= result["hr@10"] <= 1.0
    assert model.score(test, n_negatives=20) == sampled["hr@10"]


def test_evaluate_n_negatives_larger_than_pool(held_out):
    model, _, test = held_out
    with pytest.raises(ValueError, match="n_negatives=99 is more than"):
        model.evaluate(test)


def test_evaluate_counts_unknown_test_users_as_misses(held_out):
    model, _, test = held_out
    first = test.iloc[:1][["user", "item"]]
    rows = pd.concat([first, pd.DataFrame({"user": ["stranger"], "item": [1]})])
    with pytest.warns(UserWarning, match="scored as misses"):
        result = model.evaluate(rows, k=10, n_negatives=20)
    assert result["n_unknown_users"] == 1 and result["n_unknown_targets"] == 1
    assert result["n_targets"] == 2


def test_evaluate_warns_about_test_pairs_seen_in_training(held_out, data):
    """A model fitted on every interaction, evaluated on a split of them: each test pair was
    a training positive, and the warning counts them; a held-out model's test warns nothing."""
    model, train, test = held_out
    everything = NeuralCF(model=model.model, random_state=0, **FAST).fit(data)
    with pytest.warns(TrainingOverlapWarning, match=f"{len(test)} of the {len(test)} test"):
        everything.evaluate(test, k=10, n_negatives=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingOverlapWarning)
        model.evaluate(test, k=10, n_negatives=None)
        model.evaluate(test, k=10, n_negatives=20)
    mixed = pd.concat([test[["user", "item"]], train.iloc[:3][["user", "item"]]])
    with pytest.warns(TrainingOverlapWarning, match=f"3 of the {len(mixed)} test"):
        result = model.evaluate(mixed, k=10, n_negatives=None)
    assert result["n_targets"] == len(mixed)  # ranked, not dropped


def test_evaluate_warns_about_repeated_test_pairs(held_out):
    """Repeated test rows are each ranked and counted; the warning says how many repeat."""
    model, _, test = held_out
    once = model.evaluate(test, k=10, n_negatives=None)
    twice = pd.concat([test, test.iloc[:2]])
    for n_negatives in (None, 20):
        with pytest.warns(DuplicateInteractionsWarning, match=f"2 of the {len(twice)} test"):
            result = model.evaluate(twice, k=10, n_negatives=n_negatives)
        assert result["n_targets"] == len(twice)
    with pytest.warns(DuplicateInteractionsWarning):
        repeated = model.evaluate(twice, k=10, n_negatives=None, per_user=True)
    assert len(repeated) == len(twice)
    distinct = repeated.drop_duplicates(subset=["user", "item"])  # a repeat ranks the same
    assert distinct["hr@10"].mean() == pytest.approx(once["hr@10"])


def test_learning_planted_structure_beats_chance():
    data = planted_interactions(n_users=200, n_items=100, n_clusters=5, per_user=15, seed=1)
    split = leave_one_out(data)
    est = NeuralCF(
        model="neumf",
        n_epochs=15,
        batch_size=512,
        learning_rate=5e-3,
        n_factors=16,
        hidden_layers=(32, 16),
        random_state=0,
    ).fit(split.train)
    hr = est.score(split.test, n_negatives=50)
    pop = PopularityRecommender().fit(split.train).score(split.test, n_negatives=50)
    # chance is 10/51 ~ 0.2; the cluster structure makes near-perfect ranking possible
    assert hr > 0.8 and hr > pop + 0.3


def test_popularity_recommender_contract(data):
    pop = PopularityRecommender().fit(data)
    recs = pop.recommend("u0", k=3)
    assert list(recs.columns) == ["item", "score"]
    seen = set(data.loc[data["user"] == "u0", "item"])
    assert not set(recs["item"]) & seen
    assert clone(pop).get_params() == pop.get_params()


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"model": "transformer"}, "model must be one of"),
        ({"n_epochs": 0}, "n_epochs must be a positive integer; got 0"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer; got 2.5"),
        ({"hidden_layers": ()}, "hidden_layers must be a non-empty sequence"),
        ({"learning_rate": -1.0}, "learning_rate must be a finite number above 0.*got -1.0"),
        ({"learning_rate": float("nan")}, "learning_rate must be a finite number above 0"),
        ({"finetune_learning_rate": True}, "finetune_learning_rate must be a finite number"),
        ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\).*got 1.0"),
        ({"lr_decay": 0.0}, r"lr_decay must be a number in \(0, 1\].*got 0.0"),
        ({"unobserved_weight": 0}, "unobserved_weight must be a finite number above 0.*got 0"),
        ({"on_unknown_user": "ignore"}, "on_unknown_user must be 'raise' or 'popular'"),
        ({"gmf_output": "frozen"}, "gmf_output must be one of \\['fixed', 'learned'\\]"),
    ],
)
def test_bad_hyperparameters(data, params, fragment):
    with pytest.raises(ValueError, match=fragment):
        NeuralCF(**params).fit(data)


def test_model_file_path_accepts_str(fitted, tmp_path):
    path = str(Path(tmp_path) / "m.pt")
    fitted.save(path)
    assert isinstance(NeuralCF.load(path), NeuralCF)


def test_full_ranking_equals_candidate_frame_path(held_out):
    from implicit_ncf.metrics import evaluate as evaluate_frame
    from implicit_ncf.sampling import sample_candidates

    fitted, train, held = held_out
    # a second test item for u0 (one it has not interacted with), an unknown item, a stranger
    both = pd.concat([train, held])
    had = set(both.loc[both["user"] == "u0", "item"])
    other = min(set(train["item"]) - had)
    extra = pd.DataFrame({"user": ["u0", "u1", "stranger"], "item": [other, 99999, 3]})
    test = pd.concat([held[["user", "item"]], extra], ignore_index=True)
    with pytest.warns(UserWarning, match="scored as misses"):
        fast = fitted.evaluate(test, k=(1, 5, 10), n_negatives=None)
    candidates = sample_candidates(fitted._training_frame(), test, n_negatives=None)
    scored, info = fitted._score_candidates(candidates)
    slow = evaluate_frame(scored, k=(1, 5, 10))
    for key, value in slow.items():
        assert fast[key] == pytest.approx(value), key
    assert fast["n_unknown_users"] == info["n_unknown_users"]
    assert fast["n_unknown_targets"] == info["n_unknown_targets"]


class _StepProbe(pl.Callback):
    """Records whether each epoch ran direct steps, and each fit's ``global_step``."""

    def __init__(self) -> None:
        self.direct: list[bool] = []
        self.global_steps: list[int] = []

    def on_train_epoch_start(self, trainer, module) -> None:
        self.direct.append(module.direct_steps())

    def on_train_end(self, trainer, module) -> None:
        self.global_steps.append(trainer.global_step)


class _BackwardCounter(_StepProbe):
    """Listens to a per-step hook, which must keep Lightning's per-step path."""

    def __init__(self) -> None:
        super().__init__()
        self.backward_calls = 0

    def on_after_backward(self, trainer, module) -> None:
        self.backward_calls += 1


def _assert_same_training(a: NeuralCF, b: NeuralCF) -> None:
    for (name, x), (_, y) in zip(
        a.network_.state_dict().items(), b.network_.state_dict().items(), strict=True
    ):
        assert torch.equal(x, y), name
    losses = [[row["loss"] for row in est.history_] for est in (a, b)]
    assert len(losses[0]) == len(a.history_) > 0
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)


@pytest.mark.parametrize(
    ("model", "precision", "batch_size"),
    [
        ("gmf", None, 256),
        ("neumf", None, 256),
        ("neumf", "bf16-mixed", 256),
        ("gmf", None, 20_000),  # one step per trainer batch (the large batches of a GPU)
    ],
)
def test_direct_steps_match_lightning_steps(data, model, precision, batch_size):
    """Steps that bypass Lightning's wrappers train the same weights, count the same
    ``global_step``, and give way to Lightning's path when a callback listens to a step hook
    (``bf16-mixed`` has no gradient scaler, so it keeps the direct steps)."""
    plain, hooked = _StepProbe(), _BackwardCounter()
    extra = {} if precision is None else {"precision": precision}
    params = {**FAST, "model": model, "random_state": 3, "batch_size": batch_size}
    a = NeuralCF(trainer_kwargs={"callbacks": [plain], **extra}, **params)
    b = NeuralCF(trainer_kwargs={"callbacks": [hooked], **extra}, **params)
    a.fit(data)
    b.fit(data)
    assert plain.direct and all(plain.direct)
    assert hooked.direct and not any(hooked.direct)
    assert plain.global_steps == hooked.global_steps
    assert hooked.backward_calls == sum(hooked.global_steps) > 0
    _assert_same_training(a, b)


def test_a_profiler_keeps_lightning_steps(data):
    plain, profiled = _StepProbe(), _StepProbe()
    a = NeuralCF(model="gmf", random_state=3, trainer_kwargs={"callbacks": [plain]}, **FAST)
    b = NeuralCF(
        model="gmf",
        random_state=3,
        trainer_kwargs={"callbacks": [profiled], "profiler": "simple"},
        **FAST,
    )
    a.fit(data)
    b.fit(data)
    assert all(plain.direct) and profiled.direct and not any(profiled.direct)
    assert plain.global_steps == profiled.global_steps
    _assert_same_training(a, b)


@pytest.mark.parametrize(
    "option", [{"gradient_clip_val": 0.5}, {"accumulate_grad_batches": 2}, {"max_steps": 3}]
)
def test_per_batch_trainer_options_keep_their_meaning(data, option):
    """Options that act on every step or count batches get Lightning's automatic optimization
    with one step per trainer batch, so clipping, accumulation and step limits do what they say."""
    plain, probe = _StepProbe(), _StepProbe()
    a = NeuralCF(model="gmf", random_state=3, trainer_kwargs={"callbacks": [plain]}, **FAST)
    b = NeuralCF(
        model="gmf", random_state=3, trainer_kwargs={"callbacks": [probe], **option}, **FAST
    )
    a.fit(data)
    b.fit(data)
    assert probe.direct and not any(probe.direct)
    steps = plain.global_steps[0]
    per_epoch = steps // FAST["n_epochs"]  # an epoch's last, incomplete accumulation steps too
    expected = {
        "gradient_clip_val": steps,
        "accumulate_grad_batches": math.ceil(per_epoch / 2) * FAST["n_epochs"],
        "max_steps": 3,
    }[next(iter(option))]
    assert probe.global_steps == [expected]
    assert np.isfinite([row["loss"] for row in b.history_]).all()


@pytest.mark.parametrize("model", ["mf", "neumf"])
def test_lazy_adam_fit(data, model):
    """lazy_adam trains deterministically, through direct steps or Lightning's path alike (two
    optimizer steps per step in ``global_step``), and leaves plain dense embeddings behind."""
    plain, hooked = _StepProbe(), _BackwardCounter()
    params = {**FAST, "model": model, "optimizer": "lazy_adam", "loss": "bce", "random_state": 5}
    a = NeuralCF(trainer_kwargs={"callbacks": [plain]}, **params).fit(data)
    b = NeuralCF(trainer_kwargs={"callbacks": [hooked]}, **params).fit(data)
    assert all(plain.direct) and not any(hooked.direct)
    assert plain.global_steps == hooked.global_steps
    assert sum(hooked.global_steps) == 2 * hooked.backward_calls > 0  # sparse + dense optimizer
    _assert_same_training(a, b)
    embeddings = [m for m in a.network_.modules() if isinstance(m, torch.nn.Embedding)]
    assert embeddings and not any(m.sparse for m in embeddings)
    adam = NeuralCF(**{**params, "optimizer": "adam"}).fit(data)
    assert not torch.equal(
        next(iter(a.network_.state_dict().values())),
        next(iter(adam.network_.state_dict().values())),
    )


def test_lazy_adam_learns_planted_structure():
    data = planted_interactions(n_users=200, n_items=100, n_clusters=5, per_user=15, seed=1)
    split = leave_one_out(data)
    est = NeuralCF(
        model="gmf",
        optimizer="lazy_adam",
        loss="bce",
        n_epochs=15,
        batch_size=512,
        learning_rate=5e-3,
        n_factors=16,
        random_state=0,
    ).fit(split.train)
    hr = est.score(split.test, n_negatives=50)
    pop = PopularityRecommender().fit(split.train).score(split.test, n_negatives=50)
    assert hr > 0.8 and hr > pop + 0.3  # chance is 10/51 ~ 0.2


@pytest.mark.parametrize("model", ["gmf", "neumf"])
def test_gmf_output_fixed_keeps_h_at_ones_and_learned_moves_it(data, model):
    for output in ("fixed", "learned"):
        est = NeuralCF(model=model, gmf_output=output, random_state=0, **FAST).fit(data)
        gmf = est.network_ if model == "gmf" else est.network_.gmf
        assert torch.equal(gmf.output.weight, torch.ones_like(gmf.output.weight)) == (
            output == "fixed"
        ), output


def test_model_file_without_gmf_output_loads_as_learned(data, tmp_path):
    """Files written before gmf_output existed were trained with the paper's learned h."""
    path = tmp_path / "model.pt"
    NeuralCF(model="gmf", gmf_output="learned", random_state=0, **FAST).fit(data).save(path)
    payload = torch.load(path, weights_only=True)
    del payload["params"]["gmf_output"]
    torch.save(payload, path)
    loaded = NeuralCF.load(path)
    assert loaded.gmf_output == "learned" and loaded.network_.output.weight.requires_grad


def test_model_file_without_loss_loads_as_bce(data, tmp_path):
    """Files written before loss existed were trained with BCE (the default until "auto"), and
    a saved "auto" stays "auto"."""
    path = tmp_path / "model.pt"
    NeuralCF(model="mf", loss="bce", random_state=0, **FAST).fit(data).save(path)
    payload = torch.load(path, weights_only=True)
    del payload["params"]["loss"]
    torch.save(payload, path)
    assert NeuralCF.load(path).loss == "bce"
    NeuralCF(model="mf", random_state=0, **FAST).fit(data).save(path)
    assert NeuralCF.load(path).loss == "auto"
