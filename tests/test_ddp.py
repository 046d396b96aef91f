"""Scale-out on Lightning DDP (issue 5).

The slow test trains NeuralCF on MovieLens-100K with one process and with two DDP CPU processes by
running ``examples/ddp_train.py`` in a subprocess: ``strategy="ddp"`` re-launches the running
script for the other rank, so it must never run inside the pytest process. The script records what
each rank trained on and a checksum of its weights; the test checks that the ranks split every
epoch into disjoint equal shares, drew negatives for their own share only, ended with identical
weights, and that two processes reach the quality of one.

The fast tests pin the pieces the slow test relies on without starting any process.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from implicit_ncf import NeuralCF
from implicit_ncf.batches import _EpochBatches
from implicit_ncf.data import interactions_to_csr
from implicit_ncf.sampling import NegativeSampler

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "examples" / "ddp_train.py"
SHARED_DATA = REPO.parent / "shared" / "data"
N_NEGATIVES = NeuralCF().n_negatives  # the default, which the script uses


# ------------------------------------------------------------------------------------------------
# fast: the per-rank shares and the DDP-readiness of every model
# ------------------------------------------------------------------------------------------------


def _epoch_batches(n_users: int = 30, n_items: int = 20, per_user: int = 5) -> _EpochBatches:
    rng = np.random.default_rng(0)
    u = np.repeat(np.arange(n_users), per_user)
    i = np.concatenate([rng.choice(n_items, per_user, replace=False) for _ in range(n_users)])
    sampler = NegativeSampler(interactions_to_csr(u, i, n_users, n_items))
    return _EpochBatches(u, i, sampler, n_negatives=N_NEGATIVES, batch_size=64, seed=7)


def _positives(data: _EpochBatches, rank: int, world: int, epoch: int) -> np.ndarray:
    data.trainer = SimpleNamespace(global_rank=rank, world_size=world)
    users, items, labels = (t.numpy() for t in data.build_epoch(epoch))
    positive = labels == 1
    assert (~positive).sum() == N_NEGATIVES * positive.sum()
    # negatives are drawn for the rank's own users, N_NEGATIVES per positive
    n_users = int(data.user_idx.max()) + 1
    np.testing.assert_array_equal(
        np.bincount(users[~positive], minlength=n_users),
        N_NEGATIVES * np.bincount(users[positive], minlength=n_users),
    )
    seen = data.sampler._mask.reshape(data.sampler.n_users, data.sampler.n_items)
    assert not seen[users[~positive], items[~positive]].any()
    return users[positive] * 1000 + items[positive]


@pytest.mark.parametrize("world", [2, 3, 4])
def test_each_rank_takes_a_disjoint_equal_share_of_every_epoch(world: int) -> None:
    data = _epoch_batches()
    everything = np.sort(data.user_idx * 1000 + data.item_idx)
    for epoch in range(2):
        shares = [_positives(data, rank, world, epoch) for rank in range(world)]
        assert {len(s) for s in shares} == {math.ceil(len(everything) / world)}
        union = np.concatenate(shares)
        # every positive is trained on; only the padding of the last share repeats positives
        np.testing.assert_array_equal(np.unique(union), everything)
        assert len(union) - len(np.unique(union)) < world


def test_one_process_trains_on_every_positive_once_per_epoch() -> None:
    data = _epoch_batches()
    shares = _positives(data, 0, 1, 0)
    np.testing.assert_array_equal(np.sort(shares), np.sort(data.user_idx * 1000 + data.item_idx))


def test_shares_follow_the_trainer_not_a_leftover_process_group(monkeypatch) -> None:
    """A process group left initialised by an earlier DDP fit must not halve a later plain fit."""
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "get_world_size", lambda *a: 2)
    monkeypatch.setattr(torch.distributed, "get_rank", lambda *a: 1)
    data = _epoch_batches()
    assert data._world() == (1, 2)  # no trainer attached: falls back on torch.distributed
    data.trainer = SimpleNamespace(global_rank=0, world_size=1)
    assert data._world() == (0, 1) and len(_positives(data, 0, 1, 0)) == len(data.user_idx)


@pytest.mark.parametrize("model", ["neumf", "gmf", "mlp", "mf"])
def test_every_trainable_parameter_gets_a_gradient(model: str) -> None:
    """DDP (find_unused_parameters=False) fails on a trainable parameter without a gradient."""
    data = pd.DataFrame({"user": np.repeat(np.arange(6), 3), "item": np.arange(18) % 7})
    est = NeuralCF(
        model=model,
        n_epochs=1,
        n_factors=4,
        hidden_layers=(8, 4),
        accelerator="cpu",
        random_state=0,
    ).fit(data)
    network = est.network_.train()
    network.zero_grad()
    network(torch.arange(6), torch.arange(6)).sum().backward()
    unused = [name for name, p in network.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused


def _sync_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    """One process of test_sparse_gradients_are_averaged_over_processes."""
    import torch.distributed as dist

    from implicit_ncf.networks import GMF
    from implicit_ncf.training import NCFModule

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        module = NCFModule(GMF(6, 5, 2), step_batch_size=4, optimizer="lazy_adam")
        module._processes = lambda: world  # type: ignore[method-assign]
        # rank 0 touches users 0, 1, 1; rank 1 users 1, 4 (and 3 items each)
        users = [torch.tensor([0, 1, 1]), torch.tensor([1, 4])][rank]
        items = torch.arange(len(users))
        module.network(users, items).sum().backward()
        module._sync_sparse_gradients()
        out = {n: p.grad.to_dense() for n, p in module.network.named_parameters()
               if p.grad is not None and p.grad.is_sparse}  # fmt: skip
        torch.save(out, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_sparse_gradients_are_averaged_over_processes(tmp_path: Path) -> None:
    """optimizer="lazy_adam" under DDP: the embedding gradients DDP is told to ignore are
    gathered from both processes and averaged, identical on every process and equal to the mean
    of the per-process gradients (what DDP does for the dense layers)."""
    import torch.multiprocessing as mp

    from implicit_ncf.networks import GMF
    from implicit_ncf.training import NCFModule

    mp.spawn(_sync_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    got = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    torch.manual_seed(0)
    reference = NCFModule(GMF(6, 5, 2), step_batch_size=4, optimizer="lazy_adam")
    assert set(reference._ddp_params_and_buffers_to_ignore) == {
        "network.user_embedding.weight",
        "network.item_embedding.weight",
    }
    expected: dict[str, torch.Tensor] = {}
    for users in (torch.tensor([0, 1, 1]), torch.tensor([1, 4])):
        reference.network.zero_grad()
        reference.network(users, torch.arange(len(users))).sum().backward()
        for name, p in reference.network.named_parameters():
            if p.grad is not None and p.grad.is_sparse:
                expected[name] = expected.get(name, 0) + p.grad.to_dense() / 2
    assert set(got[0]) == set(expected) == set(got[1])
    for name, value in expected.items():
        torch.testing.assert_close(got[0][name], value)
        assert torch.equal(got[0][name], got[1][name])


# ------------------------------------------------------------------------------------------------
# slow: one process versus two DDP CPU processes on MovieLens-100K
# ------------------------------------------------------------------------------------------------

EPOCHS = 4
LEARNING_RATE = 2e-3
GLOBAL_BATCH = 256
TIMEOUT_S = 900


def _run_script(out: Path, devices: int, optimizer: str = "auto") -> dict[str, Any]:
    """Run examples/ddp_train.py; kill the whole process group (all ranks) on timeout."""
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO),
        "PYTHONWARNINGS": "ignore",
    }
    command = [
        sys.executable,
        str(SCRIPT),
        "--data-home", str(SHARED_DATA),
        "--out", str(out),
        "--devices", str(devices),
        "--epochs", str(EPOCHS),
        "--learning-rate", str(LEARNING_RATE),
        # the same global batch: each of N processes takes GLOBAL_BATCH / N per step
        "--batch-size", str(GLOBAL_BATCH // devices),
        "--threads", "1",
        "--optimizer", optimizer,
    ]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        cwd=out,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"{devices}-process run exceeded {TIMEOUT_S}s:\n{output[-3000:]}")
    assert proc.returncode == 0, f"{devices}-process run failed:\n{output[-6000:]}"
    metrics = json.loads((out / "metrics.json").read_text())
    metrics["total_seconds"] = time.perf_counter() - start
    return metrics


def _rank(out: Path, rank: int) -> tuple[dict[str, Any], dict[str, Any], Any]:
    train = json.loads((out / f"rank{rank}_train.json").read_text())
    final = json.loads((out / f"rank{rank}_final.json").read_text())
    return train, final, np.load(out / f"rank{rank}_epoch0.npz")


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["auto", "lazy_adam"])
def test_two_ddp_cpu_processes_match_one_process_on_ml100k(tmp_path: Path, optimizer: str) -> None:
    """With the default optimizer (dense Adam on ML-100K's small tables) and with lazy Adam,
    whose sparse embedding gradients DDP all-reduces (gloo)."""
    if not (SHARED_DATA / "ml-100k").is_dir():
        pytest.skip(f"MovieLens-100K not found under {SHARED_DATA}")
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    m1 = _run_script(one, 1, optimizer)
    m2 = _run_script(two, 2, optimizer)
    print(json.dumps({"one_process": m1, "two_processes": m2}, indent=1))
    expected = "adam" if optimizer == "auto" else optimizer
    assert m1["optimizer"] == m2["optimizer"] == expected

    # one process trained on every training positive in the first epoch
    t1, _, e1 = _rank(one, 0)
    assert t1["world_size"] == 1 and not (one / "rank1_train.json").exists()
    n_pos = m1["n_train"]
    all_pairs = np.unique(e1["positive_pairs"])
    assert len(all_pairs) == len(e1["positive_pairs"]) == n_pos

    # two processes: disjoint equal shares, negatives for their own users, identical weights
    ranks = [_rank(two, r) for r in (0, 1)]
    share = math.ceil(n_pos / 2)
    for train, _final, epoch0 in ranks:
        assert train["world_size"] == 2
        assert all(e["positives"] == share for e in train["epochs"])
        assert all(e["samples"] == share * (1 + N_NEGATIVES) for e in train["epochs"])
        pos_users = epoch0["positive_pairs"] // train["n_items"]
        n_users = int(pos_users.max()) + 1
        np.testing.assert_array_equal(
            np.bincount(epoch0["negative_users"], minlength=n_users),
            N_NEGATIVES * np.bincount(pos_users, minlength=n_users),
        )
    p0, p1 = (r[2]["positive_pairs"] for r in ranks)
    assert len(np.intersect1d(p0, p1)) == 2 * share - n_pos  # only the wrap-around padding
    np.testing.assert_array_equal(np.union1d(p0, p1), all_pairs)
    checksums = {r[0]["trained_checksum"] for r in ranks} | {r[1]["final_checksum"] for r in ranks}
    assert len(checksums) == 1, "weights differ across ranks"

    # quality comparable to one process (99 sampled negatives, NCF protocol)
    assert m1["hr@10"] > 0.45 and m2["hr@10"] > 0.45
    assert abs(m1["hr@10"] - m2["hr@10"]) <= 0.03
    assert abs(m1["ndcg@10"] - m2["ndcg@10"]) <= 0.03
