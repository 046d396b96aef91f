"""The ML-20M-shaped scale benchmark, run in its own process so that its peak memory is its own.

``python -m bench.scale [--batches N]`` generates 20M distinct interactions (138,493 users,
26,744 items, Zipf-like item popularity), fits NeuMF with default sizes for one epoch (or its
first ``N`` trainer batches) and prints one JSON object: generation and data-preparation
seconds, a minimal preparation (``pd.factorize`` + ``scipy.sparse``) for comparison, the epoch's
set-up (sampling, shuffle) and training throughput, the same steps in a raw PyTorch loop, and the
peak resident memory of the process up to the end of ``fit``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import warnings
from typing import Any

import numpy as np


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux: KiB


def _timed(record: dict[str, float], name: str, fn: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            record[name] = record.get(name, 0.0) + time.perf_counter() - start

    return wrapper


def _epoch_clock() -> Any:
    import pytorch_lightning as pl

    class EpochClock(pl.Callback):
        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            self.epoch_start = time.perf_counter()

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            self.epoch_end = time.perf_counter()

    return EpochClock()


def _minimal_prep(frame: Any) -> float:
    """What any pipeline must do: encode both id columns and build the CSR of positives."""
    import pandas as pd
    import scipy.sparse as sp

    start = time.perf_counter()
    u, users = pd.factorize(frame["user"])
    i, items = pd.factorize(frame["item"])
    sp.csr_matrix((np.ones(len(u), dtype=np.float32), (u, i)), shape=(len(users), len(items)))
    return time.perf_counter() - start


def _raw_rate(est: Any, dataset: Any, n_examples: int) -> float:
    """Examples/s of a minimal PyTorch loop (:func:`bench.training.raw_loop`: same network sizes,
    loss, optimizers, batch size) on the fit's own first ``n_examples`` examples."""
    from bench.training import raw_loop

    if hasattr(dataset, "_parts"):  # decode only what is needed
        parts = getattr(dataset, "first_parts", None)
        if parts is None:
            parts = dataset._parts(0)
        epoch = dataset._decode(parts, 0, n_examples)
        del parts
        dataset.first_parts = None
    else:  # older versions of the library (for before/after runs)
        epoch = tuple(t[:n_examples].clone() for t in dataset.build_epoch(0))
    run = raw_loop(est, est.network_.n_users, est.network_.n_items, *epoch)
    del epoch
    run(0, min(4 * int(est.batch_size), n_examples))  # warm-up, like the fit's first steps
    return n_examples / run(0, n_examples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=None, help="trainer batches; default: epoch")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--users", type=int, default=None, help="default: ML-20M's 138,493")
    parser.add_argument("--items", type=int, default=None, help="default: ML-20M's 26,744")
    parser.add_argument("--interactions", type=int, default=None, help="default: 20,000,000")
    parser.add_argument("--params", type=json.loads, default={}, help="NeuralCF parameters (JSON)")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from bench.common import PARAMS, make_estimator, stop_after
    from bench.synthetic import ML20M_SHAPE, interactions

    shape = dict(ML20M_SHAPE)
    for key, value in (
        ("n_users", args.users),
        ("n_items", args.items),
        ("n_interactions", args.interactions),
    ):
        if value is not None:
            shape[key] = value
    out: dict[str, Any] = {"shape": shape}
    start = time.perf_counter()
    frame = interactions(**shape)
    out["generate_s"] = time.perf_counter() - start
    out["frame_gb"] = float(frame.memory_usage(index=False).sum()) / 1e9
    out["minimal_prep_s"] = _minimal_prep(frame)

    timing: dict[str, float] = {}
    clock = _epoch_clock()
    callbacks = [clock]
    stopper = None
    if args.batches is not None:
        stopper = stop_after(args.batches)
        callbacks.append(stopper)
    PARAMS.update(args.params)
    est = make_estimator(callbacks, pretrain=False, n_epochs=1, loss="bce")  # examples/s of BCE
    est._prepare = _timed(timing, "prepare", est._prepare)  # type: ignore[method-assign]
    est._set_catalogue = _timed(timing, "catalogue", est._set_catalogue)  # type: ignore[method-assign]
    datasets: list[Any] = []
    import implicit_ncf.batches as batches_module

    original = batches_module._EpochBatches

    class Recording(original):  # type: ignore[misc, valid-type]
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            datasets.append(self)
            self.first_parts: Any = None

        def _parts(self, epoch: int) -> Any:
            # keep the first epoch's compact form for the raw loop, which trains on the same
            # examples: rebuilding it (shuffle + 80M negatives) would cost another epoch set-up
            parts = super()._parts(epoch)
            if epoch == 0:
                self.first_parts = parts
            return parts

    batches_module._EpochBatches = Recording  # type: ignore[misc]
    fit_start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(frame)
    finally:
        batches_module._EpochBatches = original  # type: ignore[misc]
    fit_s = time.perf_counter() - fit_start
    out["peak_rss_gb"] = _peak_gb()  # before the raw loop allocates its own network
    out["optimizer"] = getattr(est, "optimizer_", est.optimizer)
    out["prep_s"] = timing.get("prepare", 0.0) + timing.get("catalogue", 0.0)
    out["fit_s"] = fit_s
    out["before_training_s"] = clock.epoch_start - fit_start
    dataset = datasets[-1]
    out["n_positives"] = len(dataset.user_idx)
    out["epoch_examples"] = len(dataset.user_idx) * (1 + dataset.n_negatives)
    out["steps_per_trainer_batch"] = getattr(dataset, "steps_per_batch", 1)
    if stopper is not None:
        out["batches_timed"] = len(stopper.ends) - 1
        out["examples_timed"] = int(sum(stopper.sizes[1:]))
        out["samples_per_s"] = stopper.steady_rate()
        first_batch_s = stopper.ends[0] - clock.epoch_start
        out["epoch_setup_s"] = first_batch_s - stopper.sizes[0] / out["samples_per_s"]
        rate = out["samples_per_s"]
        out["epoch_s_estimate"] = out["epoch_setup_s"] + out["epoch_examples"] / rate
        n_raw = out["examples_timed"]
    else:
        out["epoch_s"] = clock.epoch_end - clock.epoch_start
        out["samples_per_s"] = out["epoch_examples"] / out["epoch_s"]
        n_raw = min(out["epoch_examples"], 1 << 20)
    del frame
    out["raw_samples_per_s"] = _raw_rate(est, dataset, n_raw)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
