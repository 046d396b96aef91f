"""The rows that fit NeuralCF: training throughput against a hand-written PyTorch loop
(:func:`train_row`), time to a validation HR@10 (:func:`quality_row`) and the ML-20M-shaped run
in a subprocess (:func:`scale_rows`, whose worker is :mod:`bench.scale`).

:func:`raw_loop` is the one raw training loop, used here and by :mod:`bench.scale`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from bench.common import (
    MEMORY_TARGET_GB,
    PARAMS,
    QUICK,
    QUICK_SCALE,
    REPO,
    Context,
    Row,
    device_of,
    fmt_rate,
    fmt_s,
    make_estimator,
    quiet,
)
from bench.naive import BenchmarkError

# ------------------------------------------------------------------------------------------------
# training throughput: NeuralCF.fit against a hand-written loop
# ------------------------------------------------------------------------------------------------


def raw_optimizers(est: Any, net: Any) -> list[Any]:
    """The optimizers ``NeuralCF`` trains ``net`` with (``NCFModule.configure_optimizers``):
    fused Adam, or with ``optimizer="lazy_adam"`` (and ``"auto"`` on large tables)
    :class:`implicit_ncf.optim.LazyAdam` for the embeddings (made sparse) and fused Adam for the
    rest."""
    import torch

    from implicit_ncf.training import NCFModule

    optimizer = str(getattr(est, "optimizer", "adam"))
    try:
        from implicit_ncf.optim import resolve_optimizer
    except ImportError:  # older versions of the library (for before/after runs)
        pass
    else:
        tables = sum(m.weight.numel() for m in net.modules() if isinstance(m, torch.nn.Embedding))
        optimizer = resolve_optimizer(optimizer, tables, device_of(est))
    module = NCFModule(
        net,
        learning_rate=float(est.learning_rate),
        step_batch_size=int(est.batch_size),
        optimizer=optimizer,
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
    loss (BCE with logits plus the estimator's L2 on the batch's embeddings, the logits and the
    rows from one lookup where the network has ``forward_rows``), the same optimizers and batch
    size, on the pre-built example tensors ``users, items, labels``. Returns
    ``run(first, stop)``, which trains examples ``first:stop`` in steps of ``batch_size`` and
    returns its seconds."""
    import torch

    if seed is not None:
        torch.manual_seed(seed)
    net = est._build_network(n_users, n_items)
    device = device_of(est)
    net.to(device)
    optimizers = raw_optimizers(est, net)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    weight_decay = float(est.weight_decay)
    users, items, labels = (t.to(device) for t in (users, items, labels))
    bs = int(est.batch_size)
    # as the library's step does where the network offers it (older versions: two lookups)
    one_lookup = weight_decay > 0 and hasattr(net, "forward_rows")

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
                if one_lookup:  # the logits and the penalised rows from one lookup
                    logits, rows = net.forward_rows(u, i)
                else:
                    logits, rows = net(u, i), net.embeddings(u, i) if weight_decay > 0 else []
                loss = loss_fn(logits, y)
                if weight_decay > 0:
                    penalty = sum(e.pow(2).sum() for e in rows)
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
    # loss="bce": the hand-written loop it is measured against trains the NCF paper's BCE
    est = make_estimator(
        [timer], model=model, pretrain=False, n_epochs=mode.train_epochs, loss="bce"
    )
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
    est = make_estimator([clock], pretrain=False, n_epochs=max_epochs, loss="bce")
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


# the tuned ALS of the time-to-ALS-quality row: the best of bench.peers.ALS_GRID by full-ranking
# NDCG@10 on validation carved from the NCF ML-1M training pairs (docs/results.md)
ALS_TUNED: dict[str, Any] = {"factors": 192, "regularization": 0.01, "alpha": 1.0}


def als_quality_row(ctx: Context) -> Row:
    """Seconds of the default ``NeuralCF().fit`` until the validation HR@10 of its final network
    reaches the tuned ALS's, beside ALS's own fit time (issue 10); needs ``implicit``."""
    import pytorch_lightning as pl

    from implicit_ncf.splits import leave_one_out

    settings = "NeuralCF defaults" if not PARAMS else f"NeuralCF {json.dumps(PARAMS)}"
    name = f"time to tuned-ALS val HR@10 ({settings})"
    try:
        from bench.peers import ImplicitALS
    except ImportError:  # pragma: no cover - bench.peers imports implicit lazily
        return Row(name, "skipped", "-", None, notes=["needs implicit_ncf[bench]"])
    try:
        import implicit  # noqa: F401
    except ImportError:
        return Row(
            name, "skipped", "-", None, notes=["needs implicit: pip install implicit_ncf[bench]"]
        )
    split = leave_one_out(ctx.train, time_col=None, random_state=0)
    als = ImplicitALS(**ALS_TUNED).fit(split.train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        als_hr = float(als.evaluate(split.test, k=10, n_negatives=99, random_state=0)["hr@10"])

    class StageClock(pl.Callback):
        """(stage, epoch, seconds since fit started, val HR@10) for every epoch of every stage."""

        def __init__(self) -> None:
            self.t0 = time.perf_counter()
            self.stage = -1
            self.curve: list[tuple[int, int, float, float]] = []

        def on_fit_start(self, trainer: Any, module: Any) -> None:
            self.stage += 1

        def on_train_epoch_end(self, trainer: Any, module: Any) -> None:
            hr = trainer.callback_metrics.get("val_hr@10")
            if hr is not None:
                elapsed = time.perf_counter() - self.t0
                self.curve.append((self.stage, trainer.current_epoch + 1, elapsed, float(hr)))

    clock = StageClock()
    est = make_estimator([clock])
    clock.t0 = time.perf_counter()
    with quiet():
        est.fit(split.train, validation=split.test)
    fit_s = float(est.fit_time_)
    names = list(dict.fromkeys(r["stage"] for r in est.history_))
    outside = len(names) - (clock.stage + 1)
    if outside > 0:
        # an optimizer="als" stage trains outside Lightning (alone, or a NeuMF's GMF tower,
        # its first stage): its epochs are in the history, timed from the start of the stage,
        # which is the start of the fit
        als_rows = [
            (names.index(r["stage"]), int(r["epoch"]) + 1, r["time"], r["val_hr@10"])
            for r in est.history_
            if r["stage"] in names[:outside]
        ]
        clock.curve = als_rows + [(st + outside, ep, t, hr) for st, ep, t, hr in clock.curve]
        clock.stage += outside
    final = [row for row in clock.curve if row[0] == clock.stage]
    reached = next((s for _, _, s, hr in final if hr >= als_hr), None)
    any_stage = next((s for _, _, s, hr in clock.curve if hr >= als_hr), None)
    ctx.results["als_quality"] = {
        "als_params": ALS_TUNED,
        "als_val_hr@10": als_hr,
        "als_fit_s": als.fit_time_,
        "curve": clock.curve,
        "reached_s": reached,
        "any_stage_reached_s": any_stage,
        "fit_s": fit_s,
    }
    stages = ["gmf", "mlp", "neumf"] if clock.stage == 2 else ["final"]
    curve = "; ".join(
        f"{stages[st] if st < len(stages) else st} {ep}: {hr:.3f} @ {s:.0f}s"
        for st, ep, s, hr in clock.curve
    )
    return Row(
        name,
        fmt_s(reached) if reached is not None else f"not reached (fit {fmt_s(fit_s)})",
        f"ALS fit {fmt_s(als.fit_time_)}",
        None if reached is None else reached / als.fit_time_,
        "",
        None,  # a figure to watch: the goal is a default at ALS's quality, not a time bar
        notes=[
            f"tuned ALS ({ALS_TUNED}) val HR@10 {als_hr:.3f}; validation = one random held-out "
            f"item per user carved from the training pairs, 99 sampled negatives (ALS: "
            f"evaluate(n_negatives=99); NeuralCF: its validation candidates); the clock runs "
            f"from the start of fit and counts the final network's epochs (a pretrained NeuMF's "
            f"towers first reach it at "
            f"{fmt_s(any_stage) if any_stage is not None else 'no epoch'}); epochs: {curve}"
        ],
        style="x",
    )


# ------------------------------------------------------------------------------------------------
# scale: ML-20M-shaped data in a subprocess
# ------------------------------------------------------------------------------------------------


# the catalogue-size row: the same 1M synthetic interactions on both catalogues, these many
# trainer batches timed after a warm-up one (each of 16 steps of 2,048 examples)
SHAPE_INTERACTIONS = 1_000_000
SHAPE_BATCHES = 40
SHAPE_TARGET = 0.5


def _bench_scale(threads: int | None, *extra: str) -> dict[str, Any]:
    """Run ``python -m bench.scale`` in its own process; its JSON result."""
    command = [sys.executable, "-m", "bench.scale", *extra]
    if threads:
        command += ["--threads", str(threads)]
    if PARAMS:
        command += ["--params", json.dumps(PARAMS)]
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"bench.scale failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def shape_row(ctx: Context, threads: int | None) -> Row:
    """NeuMF samples/s with the defaults on ML-20M's catalogue over ML-1M's, same interactions."""
    from bench.synthetic import ML1M_SHAPE, ML20M_SHAPE

    runs = {}
    for name, shape in (("ml1m", ML1M_SHAPE), ("ml20m", ML20M_SHAPE)):
        runs[name] = _bench_scale(
            threads,
            "--users", str(shape["n_users"]),
            "--items", str(shape["n_items"]),
            "--interactions", str(SHAPE_INTERACTIONS),
            "--batches", str(SHAPE_BATCHES + 1),
        )  # fmt: skip
    small, large = runs["ml1m"], runs["ml20m"]
    ctx.results["scale_shape"] = runs
    ratio = large["samples_per_s"] / small["samples_per_s"]
    return Row(
        "scale: NeuMF samples/s, ML-20M catalogue / ML-1M catalogue",
        fmt_rate(large["samples_per_s"]),
        f"ML-1M-shaped {fmt_rate(small['samples_per_s'])}",
        ratio,
        f">= {SHAPE_TARGET}",
        ratio >= SHAPE_TARGET,
        notes=[
            f"defaults (optimizer='auto': {large.get('optimizer', '?')} on 138,493 x 26,744, "
            f"{small.get('optimizer', '?')} on 6,040 x 3,706), no pretraining, "
            f"{SHAPE_INTERACTIONS:,} synthetic interactions on each catalogue, "
            f"{SHAPE_BATCHES} trainer batches timed after the epoch's set-up"
        ],
    )


def scale_rows(ctx: Context, threads: int | None) -> list[Row]:
    extra = []
    if ctx.mode.scale_batches is not None:
        extra = ["--batches", str(ctx.mode.scale_batches + 1)]
    r = _bench_scale(threads, *extra)
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
        shape_row(ctx, threads),
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
