"""The defects found in review (issue 15), one test (or a few) per numbered item.

Each test failed on the code before its fix. They use tiny networks and data (1 epoch, a few
factors), so the whole file runs in a few seconds.
"""

from __future__ import annotations

import os
import stat
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from implicit_ncf import NeuralCF, PopularityRecommender
from implicit_ncf.batches import validation_tensors
from implicit_ncf.data import IdEncoder
from implicit_ncf.splits import leave_one_out

FAST: dict[str, Any] = {
    "n_epochs": 1,
    "batch_size": 64,
    "n_factors": 4,
    "hidden_layers": (8, 4),
    "accelerator": "cpu",
    "random_state": 0,
}


def frame(n_users: int = 12, n_items: int = 15, per_user: int = 5, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [
        (u, int(i), 1_000 + t)
        for u in range(n_users)
        for t, i in enumerate(rng.choice(n_items, per_user, replace=False))
    ]
    return pd.DataFrame(rows, columns=["user", "item", "timestamp"])


def ncf(**params: Any) -> NeuralCF:
    return NeuralCF(**{**FAST, **params})


# 1. save() wrote files that load() refused (numpy scalars in the parameters) ----------------------


def test_numpy_scalar_parameters_survive_a_round_trip(tmp_path):
    params = {
        "n_factors": np.int64(4),
        "hidden_layers": (np.int64(8), np.int32(4)),
        "n_epochs": np.int64(1),
        "batch_size": np.int64(64),
        "n_negatives": np.int16(2),
        "learning_rate": np.float64(1e-3),
        "weight_decay": np.float32(0.0),
        "dropout": np.float64(0.0),
        "lr_decay": np.float64(1.0),
        "finetune_learning_rate": np.float64(5e-4),
        "random_state": np.int64(0),
        "pretrain": np.bool_(False),
        "verbose": np.bool_(False),
        "model": np.str_("neumf"),
        "accelerator": "cpu",
    }
    model = NeuralCF(**params).fit(frame())
    path = tmp_path / "m.pt"
    model.save(path)
    loaded = NeuralCF.load(path)
    for name, value in params.items():
        got = loaded.get_params()[name]
        assert got == (tuple(value) if isinstance(value, tuple) else value), name
        assert not isinstance(got, np.generic), name
    pd.testing.assert_frame_equal(loaded.recommend(0, k=5), model.recommend(0, k=5))


# 2. large integer ids came back corrupted ---------------------------------------------------------


@pytest.mark.parametrize(
    "dtype,ids",
    [
        ("uint64", [2**63 + 1, 2**64 - 1, 5, 7]),
        ("int64", [-(2**62), 3, 2**62, 9]),
        (
            "datetime64[ns]",
            pd.to_datetime(["2020-01-01", "2021-05-03", "1999-12-31", "2000-02-02"]),
        ),
    ],
)
def test_id_dtypes_survive_a_round_trip(tmp_path, dtype, ids):
    base = frame(n_users=4, n_items=8)
    users = np.array(list(ids), dtype=dtype)
    data = base.assign(user=users[base["user"].to_numpy()])
    model = ncf(model="mf").fit(data)
    model.save(tmp_path / "m.pt")
    loaded = NeuralCF.load(tmp_path / "m.pt")
    assert loaded.user_encoder_.classes_.dtype == model.user_encoder_.classes_.dtype
    np.testing.assert_array_equal(loaded.user_encoder_.classes_, model.user_encoder_.classes_)
    user = users[0]
    pd.testing.assert_frame_equal(loaded.recommend(user, k=3), model.recommend(user, k=3))
    both = loaded.recommend(list(users[:2]), k=2)
    assert both["user"].dtype == model.recommend(list(users[:2]), k=2)["user"].dtype


def test_uint64_item_ids_come_back_as_integers(tmp_path):
    base = frame(n_users=5, n_items=6)
    items = base["item"].to_numpy().astype(np.uint64)
    data = base.assign(item=np.where(items % 2 == 0, items + np.uint64(2**63), items))  # mixed
    model = ncf(model="gmf").fit(data)
    model.save(tmp_path / "m.pt")
    recs = NeuralCF.load(tmp_path / "m.pt").recommend(0, k=6, exclude_seen=False)
    assert recs["item"].dtype == np.uint64
    pd.testing.assert_frame_equal(recs, model.recommend(0, k=6, exclude_seen=False))


# 3. fit validated a timestamp column it did not use -----------------------------------------------


@pytest.mark.parametrize("bad", ["strings", "nan"])
def test_unused_timestamp_column_is_not_read(bad):
    data = frame()
    if bad == "strings":
        data["timestamp"] = data["timestamp"].astype(str) + " o'clock"
    else:
        data["timestamp"] = data["timestamp"].astype(float)
        data.loc[0, "timestamp"] = np.nan
    PopularityRecommender().fit(data)
    ncf(model="mf").fit(data)
    ncf(model="mf", early_stopping=True).fit(data, validation=data.iloc[:3])
    with pytest.raises(
        ValueError, match=r"early_stopping=True.*time_col='timestamp'.*time_col=None"
    ):
        ncf(model="mf", early_stopping=True).fit(data)
    ncf(model="mf", early_stopping=True, time_col=None).fit(data)  # the advertised fix works


# 4. early_stopping=True crashed on small catalogues -----------------------------------------------


def test_early_stopping_on_a_small_catalogue():
    # user 0 has every item: no negative is left for it, and the densest user sized the
    # validation negatives of everyone
    rows = [(0, i, t) for t, i in enumerate(range(5))]
    rows += [(u, i, 10 + t) for u in (1, 2, 3) for t, i in enumerate([(u + j) % 5 for j in (0, 1)])]
    data = pd.DataFrame(rows, columns=["user", "item", "timestamp"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = ncf(model="mf", early_stopping=True, n_epochs=2).fit(data)
    assert all("val_hr@10" in row for row in model.history_)


# 5. user-supplied validation kept one row per user ------------------------------------------------


def test_validation_uses_every_row_and_excludes_every_validation_item():
    data = frame(n_users=6, n_items=40, per_user=4)
    users = IdEncoder("user").fit(data["user"])
    items = IdEncoder("item").fit(np.arange(40))
    train_u = users.transform(data["user"])
    train_i = items.transform(data["item"])
    seen = {(u, i) for u, i in zip(train_u, train_i, strict=True)}
    validation = pd.DataFrame(
        {
            "user": [0, 0, 0, 1, 1],
            "item": [i for i in range(40) if (0, i) not in seen][:3]
            + [i for i in range(40) if (1, i) not in seen][:2],
        }
    )
    val_users, matrix = validation_tensors(validation, users, items, train_u, train_i, seed=0)
    assert len(val_users) == 5  # every row is a target
    assert sorted(matrix[:, 0].tolist()) == sorted(validation["item"].tolist())
    for user, row in zip(val_users.tolist(), matrix.tolist(), strict=True):
        held = set(validation.loc[validation["user"] == user, "item"])
        negatives = {i for i in row[1:] if i >= 0}
        assert not negatives & held  # no other validation positive of the user is a negative
        assert not {(user, i) for i in negatives} & seen


# 6. unknown-user fallback scores were on another scale --------------------------------------------


def test_popularity_scores_unknown_users_like_known_ones():
    data = frame()
    model = PopularityRecommender(on_unknown_user="popular").fit(data)
    unknown = model.recommend("nobody", k=5)
    known = model.recommend(0, k=model.n_items_, exclude_seen=False).set_index("item")["score"]
    np.testing.assert_allclose(unknown["score"], known.loc[unknown["item"]].to_numpy())


def test_neuralcf_scores_unknown_users_on_the_probability_scale():
    data = frame()
    model = ncf(model="mf", on_unknown_user="popular").fit(data)
    recs = model.recommend("nobody", k=4)
    expected = [
        model.predict(list(model.user_encoder_.classes_), [item] * model.n_users_).mean()
        for item in recs["item"]
    ]
    np.testing.assert_allclose(recs["score"], expected, rtol=1e-6)
    mixed = model.recommend([0, "nobody"], k=4)
    assert mixed["score"].between(0, 1).all()


# 7. IdEncoder failed on a pd.Index ----------------------------------------------------------------


def test_id_encoder_takes_an_index_and_any_iterable():
    enc = IdEncoder("item").fit(pd.Index(["b", "a", "c"]))
    assert enc.transform(pd.Index(["a", "c"])).tolist() == [0, 2]
    assert enc.get_indexer(pd.Index(["z", "b"])).tolist() == [-1, 1]
    assert enc.transform(x for x in ["c"]).tolist() == [2]
    with pytest.raises(ValueError, match="unknown item id"):
        enc.transform(pd.Index(["z"]))


# 8. scikit-learn calling conventions --------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fit_and_score_take_a_positional_y():
    data = frame()
    split = leave_one_out(data)
    for model in (PopularityRecommender(), ncf(model="mf")):
        assert model.fit(split.train, None) is model
        assert 0.0 <= model.score(split.test, None, n_negatives=5) <= 1.0


# 9. recommend / predict argument forms ------------------------------------------------------------


def test_recommend_takes_any_iterable_of_users():
    model = ncf(model="mf").fit(frame())
    expected = model.recommend([0, 1, 2], k=3)
    pd.testing.assert_frame_equal(model.recommend(range(3), k=3), expected)
    pd.testing.assert_frame_equal(model.recommend(u for u in [0, 1, 2]), model.recommend([0, 1, 2]))
    pd.testing.assert_frame_equal(model.recommend(pd.Index([0, 1, 2]), k=3), expected)
    pd.testing.assert_frame_equal(model.recommend((0, 1, 2), k=3), expected)  # a tuple is several
    np.testing.assert_allclose(model.predict(range(2), range(2)), model.predict([0, 1], [0, 1]))
    with pytest.raises(TypeError, match="each hashable"):
        model.recommend({0: 1})


# 10. the caller's CUDA random state was overwritten -----------------------------------------------


def test_fit_forks_the_random_state_of_every_cuda_device(monkeypatch):
    forked: list[Any] = []
    real_fork = torch.random.fork_rng

    def recording_fork(devices=None, **kwargs):
        forked.append(list(devices))
        return real_fork(devices=[], **kwargs)  # no CUDA here: fork the CPU only

    monkeypatch.setattr(torch.random, "fork_rng", recording_fork)
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: None)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    ncf(model="mf").fit(frame())  # trains on the CPU, but CUDA would be reseeded
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    ncf(model="mf").fit(frame())
    assert forked == [[0, 1], []]


@pytest.mark.gpu
def test_fit_leaves_the_cuda_random_state_alone():  # pragma: no cover - needs a GPU
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    torch.cuda.manual_seed(123)
    before = torch.cuda.get_rng_state()
    ncf(model="mf", accelerator="gpu", devices=1).fit(frame())
    assert torch.equal(torch.cuda.get_rng_state(), before)


# 11. model files were written 0600 ----------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_model_files_get_the_permissions_of_a_plain_open(tmp_path):
    model = ncf(model="mf").fit(frame())
    old = os.umask(0o022)
    try:
        model.save(tmp_path / "new.pt")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.pt").stat().st_mode) == 0o644
    existing = tmp_path / "existing.pt"
    existing.write_bytes(b"")
    existing.chmod(0o640)
    model.save(existing)  # replacing a file keeps its permissions, as open(path, "wb") does
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640
    assert NeuralCF.load(existing).n_items_ == model.n_items_
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# 12. leave-one-out's tie rule: documented, and a seeded random option -----------------------------


def test_leave_one_out_random_ties():
    rng = np.random.default_rng(0)
    rows = [
        (u, i, 100 if i >= 5 else i) for u in range(200) for i in rng.choice(10, 7, replace=False)
    ]
    data = pd.DataFrame(rows, columns=["user", "item", "timestamp"])
    last = leave_one_out(data).test.set_index("user")["item"]
    tied = data.groupby("user")["timestamp"].apply(lambda t: (t == t.max()).sum() > 1)
    assert (last == data[data.timestamp == 100].groupby("user")["item"].max()).all()
    random = leave_one_out(data, ties="random", random_state=0).test.set_index("user")["item"]
    assert (
        random == leave_one_out(data, ties="random", random_state=0).test.set_index("user")["item"]
    ).all()
    shuffled = leave_one_out(data.sample(frac=1, random_state=1), ties="random", random_state=0)
    assert (shuffled.test.set_index("user")["item"].sort_index() == random.sort_index()).all()
    assert (random[~tied] == last[~tied]).all()  # only ties are drawn
    latest = data[data.timestamp == data.groupby("user")["timestamp"].transform("max")]
    assert set(zip(random.index, random, strict=True)) <= set(
        zip(latest.user, latest.item, strict=True)
    )
    changed = (random[tied] != last[tied]).mean()
    assert 0.3 < changed < 0.95  # about 1 - 1/(number of tied items)
    with pytest.raises(ValueError, match="ties must be 'last_item'"):
        leave_one_out(data, ties="first")
