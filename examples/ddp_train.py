"""Train NeuralCF on MovieLens-100K with one process or several DDP processes, and record what
each rank did.

Lightning's ``strategy="ddp"`` re-launches *this script* once per extra process, so everything
before ``fit`` runs on every rank (each loads and splits the data the same way) and everything after
``fit`` too: only rank 0 evaluates and writes the results. Run it as a script, never from inside
another program (a test runner, a notebook)::

    python examples/ddp_train.py --data-home ../shared/data --devices 1 --out runs/one
    python examples/ddp_train.py --data-home ../shared/data --devices 2 --out runs/two

With ``--devices N`` > 1 the model trains with N CPU processes (``accelerator="cpu"``,
``strategy="ddp"``, gloo backend); on GPUs pass ``--accelerator gpu``. Every rank writes
``rank<r>.json`` (samples and positives it trained on per epoch, a checksum of its final weights)
and ``rank<r>_epoch0.npz`` (the (user, item) index pairs of its positives in the first epoch, and
the users of its negatives), so that a test can check that the ranks split each epoch into
disjoint shares and ended with identical weights. Rank 0 also writes ``metrics.json``: HR@10 and
NDCG@10 with 99 sampled negatives (the NCF protocol), and the wall time of ``fit``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from implicit_ncf import NeuralCF
from implicit_ncf.datasets import load_movielens
from implicit_ncf.splits import leave_one_out


def state_checksum(module: torch.nn.Module) -> str:
    """SHA-256 of every tensor of ``module.state_dict()``, in key order."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class RankStats(pl.Callback):
    """Record, on every rank, the training examples it processed; write them at the end of fit."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.epochs: list[dict[str, int]] = []
        self._pos: list[np.ndarray] = []
        self._neg_users: list[np.ndarray] = []
        self._first_pos: np.ndarray | None = None
        self._first_neg_users: np.ndarray | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.epochs.append({"samples": 0, "positives": 0, "batches": 0})
        self._pos, self._neg_users = [], []

    def on_train_batch_start(
        self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        users, items, labels = (t.cpu().numpy() for t in batch)
        positive = labels == 1
        n_items = module.network.n_items
        self._pos.append(users[positive].astype(np.int64) * n_items + items[positive])
        self._neg_users.append(users[~positive])
        row = self.epochs[-1]
        row["samples"] += len(users)
        row["positives"] += int(positive.sum())
        row["batches"] += 1

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self._first_pos is None:
            self._first_pos = np.concatenate(self._pos)
            self._first_neg_users = np.concatenate(self._neg_users)

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        out = Path(self.out)
        rank = trainer.global_rank
        np.savez(
            out / f"rank{rank}_epoch0.npz",
            positive_pairs=self._first_pos,
            negative_users=self._first_neg_users,
        )
        info = {
            "rank": rank,
            "world_size": trainer.world_size,
            "n_items": int(module.network.n_items),
            "epochs": self.epochs,
            "trained_checksum": state_checksum(module.network),
        }
        (out / f"rank{rank}_train.json").write_text(json.dumps(info, indent=1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-home", required=True, help="folder holding ml-100k/")
    parser.add_argument("--out", required=True, help="folder for the per-rank records")
    parser.add_argument("--devices", type=int, default=1, help="processes (or GPUs)")
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--strategy", default="ddp", help="Lightning strategy when devices > 1")
    parser.add_argument("--model", default="neumf")
    parser.add_argument(
        "--loss",
        default="bce",
        help="NeuralCF loss (default bce: the per-rank records read BCE batches' labels)",
    )
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--n-factors", type=int, default=16)
    parser.add_argument(
        "--optimizer", default="auto", choices=["auto", "adam", "lazy_adam"], help="NeuralCF's"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frame = load_movielens("100k", data_home=args.data_home, download=False)
    split = leave_one_out(frame)

    trainer_kwargs: dict[str, Any] = {"callbacks": [RankStats(str(out))]}
    if args.devices > 1:
        trainer_kwargs["strategy"] = args.strategy
    est = NeuralCF(
        model=args.model,
        loss=args.loss,
        n_factors=args.n_factors,
        hidden_layers=(2 * args.n_factors, args.n_factors, args.n_factors // 2),
        n_epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        optimizer=args.optimizer,
        accelerator=args.accelerator,
        devices=args.devices,
        trainer_kwargs=trainer_kwargs,
        random_state=args.seed,
    )
    start = time.perf_counter()
    est.fit(split.train)
    wall = time.perf_counter() - start

    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    record = {"rank": rank, "final_checksum": state_checksum(est.network_)}
    (out / f"rank{rank}_final.json").write_text(json.dumps(record))
    if rank == 0:
        metrics = est.evaluate(split.test, k=10, n_negatives=99, random_state=0)
        metrics.update(
            devices=args.devices,
            strategy=args.strategy if args.devices > 1 else "single",
            model=args.model,
            optimizer=est.optimizer_,
            epochs=args.epochs,
            batch_size=args.batch_size,
            fit_seconds=wall,
            n_train=len(split.train),
            pid=os.getpid(),
        )
        (out / "metrics.json").write_text(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    main()
