"""The implicit_ncf benchmark suite: every row is a figure and its ratio to a baseline measured
in the same run, and every fast path is checked against a naive one.

Run ``python -m bench`` (all rows, full sizes) or ``python -m bench --quick`` (under two minutes
on a 2-core laptop: subsets, fractions of epochs, naive loops on subsamples extrapolated
linearly). ``make bench`` runs the quick mode. See docs/performance.md.

Exit status: 1 when a fast path disagrees with its naive reference (:class:`BenchmarkError`),
also when a target is missed with ``--strict``; otherwise 0.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.naive import (
    BenchmarkError,
    check_metrics,
    check_negatives,
    check_ranks,
    check_top_k,
    metric_bounds,
    naive_full_ranks,
    naive_sampled_ranks,
    naive_top_k,
    tutorial_negatives,
)

REPO = Path(__file__).resolve().parents[1]
NCF_DATA = REPO.parent / "shared" / "data" / "ncf-ml-1m"
NVIDIA_A100_TF32 = 22.6e6  # samples/s, NVIDIA DeepLearningExamples NCF, ML-20M, 1x A100 TF32
MEMORY_TARGET_GB = 4.0


@dataclass
class Mode:
    """Sizes of one benchmark run."""

    name: str
    train_positives: int | None  # positives of the training-throughput fits (None: all)
    train_epochs: int  # epochs per throughput fit; the first one is a warm-up
    tutorial_positives: int  # positives the per-sample Python loop samples for (extrapolated)
    rec_user_stride: int  # naive recommend on every n-th user (extrapolated)
    eval_users: int | None  # users of the naive evaluation loops (None: all; extrapolated)
    model_batches: int | None  # trainer batches of the model the scoring rows use (None: epoch)
    scale_batches: int | None  # trainer batches timed at ML-20M scale (None: one whole epoch)
    quality: bool  # run the time-to-quality row
    quality_epochs: int = 20  # epochs the time-to-quality fit may take before it gives up


# quick mode: time to quality stops after 2 epochs (NeuMF reaches 0.70 in its first on ML-1M,
# and 20 epochs would not fit in 2 minutes); on synthetic data main() leaves the row out
QUICK = Mode("quick", 60_000, 4, 10_000, 10, 600, 2, 2, True, quality_epochs=2)
# quick mode: faster models get more positives so that every timed epoch lasts about a second
# (an epoch of a fraction of a second is mostly the trainer's fixed per-epoch cost and noise)
QUICK_SCALE = {"gmf": 3.0, "mf": 3.0, "mlp": 1.5, "neumf": 1.0}
FULL = Mode("full", None, 3, 20_000, 1, None, None, None, True)


@dataclass
class Row:
    """One line of the table."""

    name: str
    figure: str
    baseline: str
    ratio: float | None
    target: str = ""
    ok: bool | None = None
    notes: list[str] = field(default_factory=list)
    style: str = "f"  # how the ratio prints: "f" 0.95, "x" 12.3x, "%" 2.1%
    seconds: float = 0.0

    def ratio_text(self) -> str:
        if self.ratio is None:
            return "-"
        if self.style == "x":
            return f"{self.ratio:,.1f}x" if self.ratio < 1000 else f"{self.ratio:,.0f}x"
        if self.style == "%":
            return f"{100 * self.ratio:.1f}%"
        return f"{self.ratio:.2f}"


@dataclass
class Context:
    """Data and results shared between rows."""

    mode: Mode
    train: pd.DataFrame
    test: pd.DataFrame
    candidates: pd.DataFrame
    real_data: bool
    verbose: bool = True
    results: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)


# NeuralCF parameters from --params, applied to every estimator the rows build
PARAMS: dict[str, Any] = {}


def make_estimator(callbacks: list[Any], **row: Any) -> Any:
    """NeuralCF with the row's settings, then --params on top (their trainer_kwargs are merged
    with the row's callbacks). The rows run on the CPU unless --params says otherwise."""
    from implicit_ncf import NeuralCF

    params = {"accelerator": "cpu", "random_state": 0, **row, **PARAMS}
    extra = dict(params.pop("trainer_kwargs", None) or {})
    extra["callbacks"] = [*callbacks, *(extra.get("callbacks") or [])]
    return NeuralCF(**params, trainer_kwargs=extra)


def device_of(est: Any) -> str:
    import torch

    gpu = str(est.accelerator) in ("gpu", "cuda") or (
        est.accelerator == "auto" and torch.cuda.is_available()
    )
    return "cuda" if gpu and torch.cuda.is_available() else "cpu"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence library warnings (duplicates, unknown ids) during timed sections."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Shortest wall time of ``repeat`` calls, and the last result."""
    best, result = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def fmt_rate(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M/s"
    if value >= 1e3:
        return f"{value / 1e3:.0f}k/s"
    return f"{value:.0f}/s"


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3g} s" if seconds < 100 else f"{seconds:.0f} s"


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------


def load_data(data: Path | None, *, synthetic: bool) -> tuple[pd.DataFrame, ...]:
    """(train, test, candidates, real): the NCF ML-1M split when present, else a look-alike."""
    folder = data or NCF_DATA
    if not synthetic and folder.is_dir():
        from implicit_ncf.datasets import load_ncf_ml1m

        train, test, candidates = load_ncf_ml1m(folder)
        return train, test, candidates, True
    from bench.synthetic import ml1m_like

    return (*ml1m_like(), False)


# ------------------------------------------------------------------------------------------------
# training throughput: NeuralCF.fit against a hand-written loop
# ------------------------------------------------------------------------------------------------


def raw_optimizers(est: Any, net: Any) -> list[Any]:
    """The optimizers ``NeuralCF`` trains ``net`` with (``NCFModule.configure_optimizers``):
    fused Adam, or with ``optimizer="lazy_adam"`` SparseAdam for the embeddings (made sparse) and
    fused Adam for the rest."""
    from implicit_ncf.model import NCFModule

    module = NCFModule(
        net,
        learning_rate=float(est.learning_rate),
        step_batch_size=int(est.batch_size),
        optimizer=str(getattr(est, "optimizer", "adam")),
    )
    config = module.configure_optimizers()
    if isinstance(config, dict):
        config = config["optimizer"]
    elif isinstance(config, tuple):  # (optimizers, schedulers)
        config = config[0]
    return list(config) if isinstance(config, list) else [config]


def raw_loop(
    est: Any,
    n_users: int,
    n_items: int,
    users: Any,
    items: Any,
    labels: Any,
    *,
    seed: int | None = None,
) -> Callable[[int, int], float]:
    """A minimal PyTorch loop training a fresh network of ``est``'s architecture with the same
    loss (BCE with logits plus the estimator's L2 on the batch's embeddings), the same optimizers
    and batch size, on the pre-built example tensors ``users, items, labels``. Returns
    ``run(first, stop)``, which trains examples ``first:stop`` in steps of ``batch_size`` and
    returns its seconds."""
    import torch

    from implicit_ncf.model import build_network

    if seed is not None:
        torch.manual_seed(seed)
    net = build_network(
        est.model,
        int(n_users),
        int(n_items),
        n_factors=int(est.n_factors),
        hidden_layers=tuple(int(h) for h in est.hidden_layers),
        dropout=float(est.dropout),
    )
    device = device_of(est)
    net.to(device)
    optimizers = raw_optimizers(est, net)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    weight_decay = float(est.weight_decay)
    users, items, labels = (t.to(device) for t in (users, items, labels))
    bs = int(est.batch_size)

    def run(first: int, stop: int) -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.enable_grad():
            for s in range(first, stop, bs):
                end = min(s + bs, stop)
                u, i, y = users[s:end], items[s:end], labels[s:end]
                for optimizer in optimizers:
                    optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(net(u, i), y)
                if weight_decay > 0:
                    penalty = sum(e.pow(2).sum() for e in net.embeddings(u, i))
                    loss = loss + weight_decay * penalty / len(u)
                loss.backward()
                for optimizer in optimizers:
                    optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    return run


def _raw_setup(
    est: Any, network: Any, dataset: Any, seed: int
) -> tuple[Callable[[int, int], float], int]:
    """:func:`raw_loop` on the fit's own first epoch (positives and negatives, shuffled), built
    once; returns ``(run, n_rows)``."""
    users, items, labels = dataset.build_epoch(0)
    run = raw_loop(est, network.n_users, network.n_items, users, items, labels, seed=seed)
    return run, len(users)


def _epoch_timer() -> Any:
    """A callback timing ``NeuralCF.fit``'s epochs against the raw loop, interleaved.

    From the second epoch on, after each trainer batch of the fit (16 optimizer steps) the raw
    loop trains the same number of examples (the same step sizes), so that both sides are timed
    within milliseconds of each other and see the same load from the machine's other jobs; an
    epoch's fit time is its wall time minus the raw loop's time inside it. The raw steps wait
    while the fit's background thread builds the next epoch (it would slow them and flatter the
    library) and catch up once it is done. The first epoch warms both up: after it, the raw loop
    is built and runs one whole epoch.
    """
    import pytorch_lightning as pl

    class EpochTimer(pl.Callback):
        def __init__(self) -> None:
            self.fit_times: list[float] = []
            self.raw_times: list[float] = []
            self.rows = 0
            self.raw: Callable[[int, int], float] | None = None
            self.raw_rows = 0
            self.make_raw: Callable[[Any, Any], tuple[Callable[[int, int], float], int]] | None = (
                None
            )

        @staticmethod
        def _builder(trainer: Any) -> Any:
            dataset = getattr(trainer.train_dataloader, "dataset", None)
            ahead = getattr(dataset, "_ahead", None)
            return None if ahead is None else ahead[1]

        def on_train_epoch_start(self, trainer: Any, module: Any) -> None:
            self.raw_s, self.done, self.pending = 0.0, 0, 0
            self.start = time.perf_counter()

        def _catch_up(self) -> None:
            assert self.raw is not None
            self.raw_s += self.raw(self.done, self.done + self.pending)
            self.done += self.pending
            self.pending = 0

        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, i: int):
            if trainer.current_epoch == 0:
                self.rows += len(batch[0])
            if self.raw is None:
                return
            self.pending += len(batch[0])
            builder = self._builder(trainer)
            if builder is None or not builder.is_alive():
                self._catch_up()

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            end, raw_inside = time.perf_counter(), self.raw_s
            self.fit_times.append(end - self.start - raw_inside)
            builder = self._builder(trainer)
            if builder is not None:  # rarely still running: neither side is charged the wait
                builder.join()
            if self.raw is None:
                if self.make_raw is not None:
                    dataset = trainer.train_dataloader.dataset
                    self.raw, self.raw_rows = self.make_raw(module.network, dataset)
                    self.raw_times.append(self.raw(0, self.raw_rows))  # the raw loop's warm-up
                return
            self._catch_up()  # whatever waited for the builder until the end
            if self.done != self.raw_rows:
                raise BenchmarkError(
                    f"the raw loop trained {self.done:,} examples in an epoch of "
                    f"{self.raw_rows:,}: the fit's epochs and the raw epoch differ in size"
                )
            self.raw_times.append(self.raw_s)

    return EpochTimer()


def train_row(ctx: Context, model: str, seed: int = 0) -> Row:
    mode = ctx.mode
    train = ctx.train
    if mode.train_positives is not None:
        n = int(mode.train_positives * (QUICK_SCALE.get(model, 1.0) if mode is QUICK else 1.0))
        if n < len(train):
            train = train.sample(n=n, random_state=seed)
    timer = _epoch_timer()
    est = make_estimator([timer], model=model, pretrain=False, n_epochs=mode.train_epochs)
    timer.make_raw = lambda network, dataset: _raw_setup(est, network, dataset, seed)
    with quiet():
        est.fit(train)
    timed = len(timer.fit_times) - 1
    fit_s, raw_s = sum(timer.fit_times[1:]), sum(timer.raw_times[1:])
    fit_rate, raw_rate = timer.rows * timed / fit_s, timer.rows * timed / raw_s
    ratio = fit_rate / raw_rate
    ctx.results[f"train_{model}"] = {
        "rows_per_epoch": timer.rows,
        "fit_epoch_s": timer.fit_times,
        "raw_epoch_s": timer.raw_times,
        "fit_rate": fit_rate,
        "raw_rate": raw_rate,
    }
    return Row(
        f"train {model}: NeuralCF.fit samples/s",
        fmt_rate(fit_rate),
        f"raw loop {fmt_rate(raw_rate)}",
        ratio,
        ">= 0.90",
        ratio >= 0.90,
        [
            f"{timer.rows:,} examples/epoch ({len(train):,} positives x {1 + est.n_negatives}), "
            f"batch {est.batch_size}, epochs 2..{mode.train_epochs} (epoch 1 warms up); raw "
            "loop: same network, loss, optimizer and batch size on pre-built tensors, "
            "interleaved with the fit (after each of its trainer batches the raw loop trains as "
            "many examples); rates from the summed times of those epochs"
        ],
    )


# ------------------------------------------------------------------------------------------------
# negative sampling
# ------------------------------------------------------------------------------------------------


def sampling_rows(ctx: Context) -> list[Row]:
    from implicit_ncf.data import IdEncoder, interactions_to_csr
    from implicit_ncf.sampling import NegativeSampler

    train = ctx.train
    users_enc = IdEncoder("user").fit(train["user"])
    items_enc = IdEncoder("item").fit(train["item"])
    u = users_enc.transform(train["user"])
    i = items_enc.transform(train["item"])
    seen = interactions_to_csr(u, i, len(users_enc), len(items_enc))
    rng = np.random.default_rng(0)
    users = u[rng.permutation(len(u))]
    n_neg = 4
    build_s, sampler = best_of(lambda: NegativeSampler(seen), 1)
    sample_s, negatives = best_of(lambda: sampler.sample(users, n_neg, random_state=rng), 3)
    check_negatives(users, negatives, seen)

    # one epoch of the default NeuMF on all positives, from the measured fit samples/s
    train_neumf = ctx.results.get("train_neumf")
    rows = len(u) * (1 + n_neg)
    rows_out = []
    if train_neumf is not None:
        epoch_s = rows / train_neumf["fit_rate"]
        share = sample_s / epoch_s
        rows_out.append(
            Row(
                "sampling: one ML-1M epoch of negatives",
                fmt_s(sample_s),
                f"NeuMF epoch {fmt_s(epoch_s)}",
                share,
                "<= 5%",
                share <= 0.05,
                style="%",
                notes=[
                    f"{len(u):,} positives x {n_neg} = {negatives.size:,} negatives, best of 3; "
                    f"the epoch time is {rows:,} examples at the NeuMF fit rate measured above "
                    f"(sampler set-up, once per fit: {fmt_s(build_s)})"
                ],
            )
        )
    n_loop = min(ctx.mode.tutorial_positives, len(u))
    pairs = set(zip(u.tolist(), i.tolist(), strict=True))
    perm = rng.permutation(len(u))[:n_loop]
    loop_s, (lu, li, ll) = best_of(
        lambda: tutorial_negatives(u[perm], i[perm], pairs, len(items_enc), n_neg), 1
    )
    drawn = zip(lu[ll == 0].tolist(), li[ll == 0].tolist(), strict=True)
    if (ll == 0).sum() != n_loop * n_neg or any(pair in pairs for pair in drawn):
        raise BenchmarkError("the tutorial loop drew wrong negatives")
    loop_epoch_s = loop_s * len(u) / n_loop
    speedup = loop_epoch_s / sample_s
    ctx.results["sampling"] = {
        "sample_s": sample_s,
        "sampler_setup_s": build_s,
        "tutorial_loop_s": loop_s,
        "tutorial_positives": n_loop,
        "tutorial_epoch_s_extrapolated": loop_epoch_s,
    }
    rows_out.append(
        Row(
            "sampling: speed-up over a per-sample loop",
            f"{speedup:,.0f}x",
            f"loop {fmt_s(loop_epoch_s)}/epoch",
            speedup,
            ">= 100x",
            speedup >= 100,
            style="x",
            notes=[
                f"the tutorial's loop (np.random.choice until unseen) timed on {n_loop:,} "
                f"positives ({fmt_s(loop_s)}) and extrapolated linearly to {len(u):,}"
            ],
        )
    )
    return rows_out


# ------------------------------------------------------------------------------------------------
# the model the scoring rows use
# ------------------------------------------------------------------------------------------------


def stop_after(n_batches: int) -> Any:
    """A callback that ends fit after ``n_batches`` trainer batches (a fraction of an epoch)."""
    import pytorch_lightning as pl

    class StopAfter(pl.Callback):
        def __init__(self) -> None:
            self.ends: list[float] = []  # end time of each batch
            self.sizes: list[int] = []  # examples of each batch

        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, i: int):
            self.ends.append(time.perf_counter())
            self.sizes.append(len(batch[0]))
            if len(self.ends) >= n_batches:
                trainer.should_stop = True

        def steady_rate(self) -> float:
            """Examples/s after the first batch (which also pays the epoch's set-up)."""
            if len(self.ends) < 2:
                return math.nan
            return sum(self.sizes[1:]) / (self.ends[-1] - self.ends[0])

    return StopAfter()


def scoring_model(ctx: Context) -> Any:
    """NeuMF (default sizes) fitted on all training positives: one epoch, or a few batches in
    quick mode (the scoring rows need a model, not a good one)."""

    if "model" in ctx.results:
        return ctx.results["model"]
    callbacks = [] if ctx.mode.model_batches is None else [stop_after(ctx.mode.model_batches)]
    est = make_estimator(callbacks, pretrain=False, n_epochs=1)
    with quiet():
        est.fit(ctx.train)
    ctx.results["model"] = est
    return est


# ------------------------------------------------------------------------------------------------
# full-catalogue recommendation
# ------------------------------------------------------------------------------------------------


def recommend_row(ctx: Context) -> Row:
    est = scoring_model(ctx)
    user_ids = est.user_encoder_.classes_
    k = 10
    fast_s, frame = best_of(lambda: est.recommend(user_ids, k=k), 2)
    fast_items = est.item_encoder_.transform(frame["item"].to_numpy()).reshape(len(user_ids), k)
    sample = np.arange(0, len(user_ids), ctx.mode.rec_user_stride)
    start = time.perf_counter()
    naive_items, scores = naive_top_k(est.network_, est.seen_, sample, k)
    naive_s = (time.perf_counter() - start) * len(user_ids) / len(sample)
    tied = check_top_k(fast_items[sample], naive_items, scores)
    speedup = naive_s / fast_s
    n_pairs = len(user_ids) * est.n_items_
    extrapolated = len(sample) < len(user_ids)
    ctx.results["recommend"] = {"fast_s": fast_s, "naive_s": naive_s, "tied_users": tied}
    return Row(
        "recommend: top-10 for every user",
        fmt_s(fast_s),
        f"forward+topk {fmt_s(naive_s)}",
        speedup,
        ">= 5x",
        speedup >= 5,
        style="x",
        notes=[
            f"{len(user_ids):,} users x {est.n_items_:,} items ({n_pairs / 1e6:.1f}M pairs), "
            f"NeuralCF.recommend(all users, k=10) vs, user by user, every pair through "
            f"NeuMF.forward, seen items masked, torch.topk"
            + (
                f"; naive path timed on every {ctx.mode.rec_user_stride}th user "
                f"({len(sample):,}) and extrapolated linearly"
                if extrapolated
                else ""
            ),
            f"top-10 sets identical for the {len(sample):,} users checked"
            + (f" ({tied} differ only by tied scores)" if tied else ""),
        ],
    )


# ------------------------------------------------------------------------------------------------
# evaluation
# ------------------------------------------------------------------------------------------------


def _eval_users(ctx: Context, users: np.ndarray) -> np.ndarray:
    n = ctx.mode.eval_users
    if n is None or n >= len(users):
        return users
    return np.sort(np.random.default_rng(0).choice(users, size=n, replace=False))


def eval_sampled_row(ctx: Context) -> Row:
    from implicit_ncf.metrics import evaluate

    est = scoring_model(ctx)
    cands = ctx.candidates
    k = 10

    def fast() -> tuple[dict[str, float], pd.DataFrame]:
        with quiet():
            scored, _ = est._score_candidates(cands)
            return evaluate(scored, k=k), scored

    fast_s, (fast_metrics, scored) = best_of(fast, 2)
    with quiet():
        public = est.evaluate(ctx.test, k=k, candidates=cands)
    if abs(public[f"hr@{k}"] - fast_metrics[f"hr@{k}"]) > 1e-12:
        raise BenchmarkError("NeuralCF.evaluate(candidates=...) disagrees with scoring + evaluate")
    # naive: a per-user loop over the candidates of users the model knows
    u = est.user_encoder_.get_indexer(cands["user"].to_numpy())
    i = est.item_encoder_.get_indexer(cands["item"].to_numpy())
    target = cands["is_target"].to_numpy(dtype=bool)
    known_target = np.zeros(len(est.user_encoder_), dtype=bool)
    known_target[u[target & (u >= 0) & (i >= 0)]] = True
    users = _eval_users(ctx, np.flatnonzero(known_target))
    keep = np.isin(u, users) & (i >= 0)
    start = time.perf_counter()
    low, high = naive_sampled_ranks(est.network_, u[keep], i[keep], target[keep], users)
    naive_s = (time.perf_counter() - start) * known_target.sum() / len(users)
    # the fast ranks of the same users
    per_target = evaluate(scored, k=k, reduction="none")
    fast_rank = pd.Series(
        per_target["rank"].to_numpy(),
        index=est.user_encoder_.get_indexer(per_target["user"].to_numpy()),
    )
    tied = check_ranks(fast_rank.loc[users].to_numpy(), low, high, "sampled evaluation")
    speedup = naive_s / fast_s
    ctx.results["eval_sampled"] = {"fast_s": fast_s, "naive_s": naive_s, "metrics": fast_metrics}
    return Row(
        "evaluate: 99 sampled negatives (NCF)",
        fmt_s(fast_s),
        f"per-user loop {fmt_s(naive_s)}",
        speedup,
        "",
        None,
        style="x",
        notes=[
            f"{len(cands):,} candidate pairs (the published ML-1M negatives), scoring the frame "
            f"+ metrics.evaluate, HR@10 {fast_metrics[f'hr@{k}']:.4f}; naive: one forward per "
            f"user, rank counted in Python"
            + (
                f", timed on {len(users):,} users and extrapolated"
                if len(users) < known_target.sum()
                else ""
            )
            + f"; ranks equal for the {len(users):,} users checked"
            + (f" ({tied} within ties)" if tied else ""),
        ],
    )


def eval_full_row(ctx: Context) -> Row:
    est = scoring_model(ctx)
    k = 10
    test = ctx.test[["user", "item"]]
    with quiet():
        fast_s, fast_metrics = best_of(lambda: est.evaluate(test, k=k, n_negatives=None), 1)
    u = est.user_encoder_.get_indexer(test["user"].to_numpy())
    i = est.item_encoder_.get_indexer(test["item"].to_numpy())
    known = np.flatnonzero((u >= 0) & (i >= 0))
    rows = _eval_users(ctx, known)
    start = time.perf_counter()
    low, high = naive_full_ranks(est.network_, est.seen_, u[rows], i[rows])
    naive_s = (time.perf_counter() - start) * len(known) / len(rows)
    # the public call on the same subsample, checked against the naive bounds
    with quiet():
        sub = est.evaluate(test.iloc[rows], k=k, n_negatives=None)
    check_metrics(sub, metric_bounds(low, high, k), "full-ranking evaluation")
    speedup = naive_s / fast_s
    ctx.results["eval_full"] = {"fast_s": fast_s, "naive_s": naive_s, "metrics": fast_metrics}
    return Row(
        "evaluate: full ranking",
        fmt_s(fast_s),
        f"per-user loop {fmt_s(naive_s)}",
        speedup,
        "",
        None,
        style="x",
        notes=[
            f"NeuralCF.evaluate(test, n_negatives=None): {len(known):,} users ranked against all "
            f"{est.n_items_:,} items minus their training items, HR@10 "
            f"{fast_metrics[f'hr@{k}']:.4f}; naive: every item of one user through forward per "
            "iteration"
            + (f", timed on {len(rows):,} users and extrapolated" if len(rows) < len(known) else "")
            + "; HR@10 and NDCG@10 of those users equal the naive loop's",
        ],
    )


# ------------------------------------------------------------------------------------------------
# time to quality
# ------------------------------------------------------------------------------------------------


def quality_row(ctx: Context, threshold: float = 0.70, max_epochs: int | None = None) -> Row:
    """Seconds of ``fit`` until validation HR@10 first reaches ``threshold`` (at most
    ``max_epochs``, default the mode's ``quality_epochs``)."""
    import pytorch_lightning as pl

    from implicit_ncf.splits import leave_one_out

    if max_epochs is None:
        max_epochs = ctx.mode.quality_epochs
    split = leave_one_out(ctx.train, time_col=None, random_state=0)

    class QualityClock(pl.Callback):
        def __init__(self) -> None:
            self.t0 = time.perf_counter()
            self.curve: list[tuple[int, float, float]] = []  # (epoch, seconds, val HR@10)
            self.reached: float | None = None

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            hr = trainer.callback_metrics.get("val_hr@10")
            if hr is None:
                return
            elapsed = time.perf_counter() - self.t0
            self.curve.append((trainer.current_epoch + 1, elapsed, float(hr)))
            if self.reached is None and float(hr) >= threshold:
                self.reached = elapsed
                trainer.should_stop = True

    clock = QualityClock()
    est = make_estimator([clock], pretrain=False, n_epochs=max_epochs)
    clock.t0 = time.perf_counter()
    with quiet():
        est.fit(split.train, validation=split.test)
    ctx.results["quality"] = {"curve": clock.curve, "reached_s": clock.reached}
    epochs = clock.curve[-1][0] if clock.curve else 0
    raw = ctx.results.get("train_neumf")
    baseline, ratio = "-", None
    if raw is not None and clock.reached is not None:
        raw_s = epochs * len(split.train) * (1 + est.n_negatives) / raw["raw_rate"]
        baseline, ratio = f"raw loop {fmt_s(raw_s)}", raw_s / clock.reached
    curve = ", ".join(f"{e}: {hr:.3f} @ {s:.0f}s" for e, s, hr in clock.curve)
    return Row(
        f"time to val HR@10 >= {threshold:.2f}",
        fmt_s(clock.reached) if clock.reached is not None else f"not in {epochs} epochs",
        baseline,
        ratio,
        "",
        None,  # no target: a figure to watch, not a pass/fail check
        notes=[
            f"NeuMF (defaults, pretrain=False) from scratch; validation = one random held-out "
            f"item per user carved from the training pairs, ranked against 99 sampled "
            f"negatives (easier than the temporal test split); epochs: {curve}; baseline: the "
            f"raw loop's time for the same number of training examples"
        ],
    )


# ------------------------------------------------------------------------------------------------
# scale: ML-20M-shaped data in a subprocess
# ------------------------------------------------------------------------------------------------


def scale_rows(ctx: Context, threads: int | None) -> list[Row]:
    command = [sys.executable, "-m", "bench.scale"]
    if ctx.mode.scale_batches is not None:
        command += ["--batches", str(ctx.mode.scale_batches + 1)]
    if threads:
        command += ["--threads", str(threads)]
    if PARAMS:
        command += ["--params", json.dumps(PARAMS)]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"bench.scale failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    ctx.results["scale"] = r
    shape = r["shape"]
    desc = (
        f"synthetic: {shape['n_users']:,} users x {shape['n_items']:,} items, "
        f"{shape['n_interactions'] / 1e6:.0f}M distinct pairs, Zipf-like item popularity "
        f"(generated in {fmt_s(r['generate_s'])}, frame {r['frame_gb']:.2f} GB)"
    )
    if "epoch_s_estimate" in r:
        train_note = (
            f"{r['examples_timed']:,} examples ({r['batches_timed']} trainer batches of "
            f"{r['steps_per_trainer_batch']} steps) after the full epoch's set-up "
            f"({fmt_s(r['epoch_setup_s'])}: shuffle + {r['epoch_examples'] - r['n_positives']:,} "
            f"negatives); a whole epoch of {r['epoch_examples']:,} examples would take about "
            f"{fmt_s(r['epoch_s_estimate'])}"
        )
    else:
        train_note = f"one whole epoch of {r['epoch_examples']:,} examples: {fmt_s(r['epoch_s'])}"
    rate_ratio = r["samples_per_s"] / r["raw_samples_per_s"]
    peak = r["peak_rss_gb"]
    return [
        Row(
            "scale 20M: data preparation",
            fmt_s(r["prep_s"]),
            f"factorize+CSR {fmt_s(r['minimal_prep_s'])}",
            r["minimal_prep_s"] / r["prep_s"],
            "",
            None,
            notes=[
                desc + "; NeuralCF's validation, dedup (to_implicit), id encoders and CSR, "
                "inside fit; baseline: pd.factorize of both columns + scipy CSR (ratio = "
                "baseline / figure)"
            ],
        ),
        Row(
            "scale 20M: NeuMF training samples/s",
            fmt_rate(r["samples_per_s"]),
            f"raw loop {fmt_rate(r['raw_samples_per_s'])}",
            rate_ratio,
            "",
            None,
            notes=[train_note + "; raw loop: the same examples, network, loss and optimizer"],
        ),
        Row(
            "scale 20M: peak resident memory",
            f"{peak:.2f} GB",
            f"frame {r['frame_gb']:.2f} GB",
            peak / r["frame_gb"],
            f"<= {MEMORY_TARGET_GB:.0f} GB",
            peak <= MEMORY_TARGET_GB,
            notes=[
                "ru_maxrss of the subprocess up to the end of fit (generation, the caller's "
                "frame, preparation, sampler, epoch build, training)"
            ],
        ),
    ]


# ------------------------------------------------------------------------------------------------
# driver
# ------------------------------------------------------------------------------------------------


def render(rows: list[Row]) -> str:
    head = ("benchmark", "figure", "baseline (same run)", "ratio", "target", "")
    body = [
        (
            r.name,
            r.figure,
            r.baseline,
            r.ratio_text(),
            r.target,
            "" if r.ok is None else ("ok" if r.ok else "MISSED"),
        )
        for r in rows
    ]
    widths = [max(len(str(x[c])) for x in [head, *body]) for c in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(b) for b in body]
    notes = [f"- **{r.name}**: " + "; ".join(r.notes) for r in rows if r.notes]
    return "\n".join(out) + "\n\n" + "\n".join(notes)


def machine(threads: int | None) -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} CPUs, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, numpy {np.__version__}, pandas {pd.__version__}, "
        f"Python {platform.python_version()}"
    )


ROWS = ("train", "sampling", "recommend", "eval", "quality", "scale")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the < 2 minute mode (make bench)")
    parser.add_argument("--only", default=None, help=f"comma-separated subset of {ROWS}")
    parser.add_argument("--skip", default="", help="comma-separated rows to leave out")
    parser.add_argument("--models", default="gmf,mlp,neumf", help="models of the training rows")
    parser.add_argument("--data", type=Path, default=None, help="folder of the NCF ML-1M files")
    parser.add_argument("--synthetic", action="store_true", help="ML-1M-shaped synthetic data")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads (default: 1 with --quick, torch's default otherwise)",
    )
    parser.add_argument(
        "--params",
        type=json.loads,
        default={},
        help="NeuralCF parameters for every row, as JSON, e.g. '{\"batch_size\": 8192}'",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    import torch

    mode = QUICK if args.quick else FULL
    if args.threads is None and args.quick:
        # on a small shared machine one intra-op thread per process keeps the ratios stable
        # (two threads on two busy cores wait for each other in every op)
        args.threads = 1
    if args.threads:
        torch.set_num_threads(args.threads)
    wanted = set(args.only.split(",")) if args.only else set(ROWS)
    wanted -= set(filter(None, args.skip.split(",")))
    if args.only is None and not mode.quality:
        wanted.discard("quality")
    unknown = wanted - set(ROWS)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; choose from {ROWS}")

    PARAMS.clear()
    PARAMS.update(args.params)
    started = time.perf_counter()
    train, test, candidates, real = load_data(args.data, synthetic=args.synthetic)
    ctx = Context(mode, train, test, candidates, real)
    print(f"implicit_ncf benchmark ({mode.name} mode)", flush=True)
    print(f"machine: {machine(args.threads)}", flush=True)
    if PARAMS:
        print(f"NeuralCF parameters: {json.dumps(PARAMS)}", flush=True)
    source = "NCF ML-1M split (load_ncf_ml1m)" if real else "synthetic ML-1M-shaped data"
    print(f"data: {source}: {len(train):,} training pairs, {len(test):,} test users", flush=True)
    if "quality" in wanted and not real and args.only is None:
        # the 0.70 threshold is ML-1M's; popularity-only synthetic data never reaches it
        wanted.discard("quality")
        print("time to quality: skipped (needs the real ML-1M split)", flush=True)

    steps: list[tuple[str, Callable[[], Row | list[Row]]]] = []
    if "train" in wanted:
        for model in args.models.split(","):
            steps.append((f"train {model}", lambda m=model: train_row(ctx, m)))
    if "sampling" in wanted:
        steps.append(("sampling", lambda: sampling_rows(ctx)))
    if "recommend" in wanted:
        steps.append(("recommend", lambda: recommend_row(ctx)))
    if "eval" in wanted:
        steps.append(("evaluate sampled", lambda: eval_sampled_row(ctx)))
        steps.append(("evaluate full", lambda: eval_full_row(ctx)))
    if "quality" in wanted:
        steps.append(("time to quality", lambda: quality_row(ctx)))
    if "scale" in wanted:
        steps.append(("scale", lambda: scale_rows(ctx, args.threads)))

    failures: list[str] = []
    for name, step in steps:
        start = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            result = step()
        except BenchmarkError as exc:
            failures.append(f"{name}: {exc}")
            result = Row(name, "WRONG", "-", None, "correct", False, notes=[str(exc)])
        elapsed = time.perf_counter() - start
        for row in result if isinstance(result, list) else [result]:
            row.seconds = elapsed
            ctx.rows.append(row)
        print(f"  {name}: {elapsed:.1f}s", file=sys.stderr, flush=True)

    total = time.perf_counter() - started
    print()
    print(render(ctx.rows))
    print(f"\ntotal {total:.0f} s ({mode.name} mode)")
    if args.json is not None:
        payload = {
            "mode": mode.name,
            "machine": machine(args.threads),
            "real_data": real,
            "total_s": total,
            "rows": [asdict(r) for r in ctx.rows],
            "results": {k: v for k, v in ctx.results.items() if k != "model"},
        }
        args.json.write_text(json.dumps(payload, indent=1, default=float))
    missed = [r.name for r in ctx.rows if r.ok is False]
    if failures:
        print("\nWRONG RESULTS (fast path disagrees with the naive path):", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    if missed and args.strict:
        print(f"\nmissed targets: {missed}", file=sys.stderr)
        return 1
    return 0
