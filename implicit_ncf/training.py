"""The training system: the ``LightningModule`` that fits any NCF network, and its callbacks.

:class:`NCFModule` is the ``LightningModule`` (Lightning's "system", kept apart from the
networks of :mod:`implicit_ncf.networks`): binary cross-entropy on logits, Adam, optional L2 on
the embeddings of each batch, and sampled-candidate HR@K / NDCG@K validation. Beside it: the
callback that records per-epoch history and keeps the best weights, and the context managers
that keep Lightning quiet, leave the caller's random state alone and turn Lightning's handling
of Ctrl+C back into ``KeyboardInterrupt``. The batches it trains on are built in
:mod:`implicit_ncf.batches`; the ``Trainer`` itself is built only by
:class:`implicit_ncf.NeuralCF`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

from .losses import LOSSES
from .networks import set_sparse_embeddings, split_sparse_parameters
from .optim import LazyAdam

__all__ = ["OPTIMIZERS", "NCFModule"]

logger = logging.getLogger(__name__)

# Hooks that Lightning calls around each manual step; if anything overrides one, NCFModule keeps
# Lightning's per-step path so that they run.
_STEP_HOOKS = (
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "backward",
    "optimizer_step",
)


OPTIMIZERS = ("adam", "lazy_adam")


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _adam(params: Any, *, lr: float) -> torch.optim.Optimizer:
    """Adam, as the fused kernel when this torch has one for the parameters' device and dtype.

    The fused kernel does the same arithmetic in one pass over each parameter instead of several
    (on a CPU it nearly halves the time of a step of the small NCF networks).
    """
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr)


class NCFModule(pl.LightningModule):
    """The Lightning training system for any NCF network.

    Parameters
    ----------
    network : nn.Module
        One of :class:`MF`, :class:`GMF`, :class:`MLP`, :class:`NeuMF`.
    learning_rate : float
        Adam learning rate.
    weight_decay : float
        L2 penalty on the embedding rows of each batch, ``weight_decay * mean_over_batch(||e||^2)``
        summed over the batch's user and item embeddings (regularising what each step touches,
        as the NCF reference code does with Keras embedding regularisers). A network with
        ``forward_rows`` (the four of :mod:`implicit_ncf.networks`) gives the loss its logits
        and the penalty its rows from one lookup; any other is penalised on
        ``network.embeddings(users, items)``.
    lr_decay : float
        Multiplicative learning-rate decay per epoch (``1.0`` keeps it constant).
    val_k : int
        Cut-off of the validation metrics.
    step_batch_size : int or None, default None
        ``None``: one Adam step per batch the trainer feeds (Lightning's automatic optimization).
        An int: every batch the trainer feeds is cut into consecutive slices of this many
        examples with one Adam step each (manual optimization), so that the trainer's fixed cost
        per batch (hooks, closures, progress tracking: a few hundred microseconds) is paid once
        per several steps. The steps are the same as with batches of ``step_batch_size``;
        ``trainer.global_step`` still counts optimizer steps. Manual optimization also lets the
        steps bypass Lightning's per-step wrappers (see Notes), so ``NeuralCF`` uses it even
        when a trainer batch holds a single step. Gradient clipping and accumulation by the
        Trainer need ``None``.
    optimizer : {"adam", "lazy_adam"}, default "adam"
        ``"adam"``: fused Adam over every parameter. ``"lazy_adam"``: the network's embeddings
        are switched to sparse gradients (:func:`set_sparse_embeddings`) and updated by
        :class:`implicit_ncf.optim.LazyAdam` (only the rows in the batch, moments included), the
        other parameters by Adam; two optimizers, so it needs ``step_batch_size``, and
        ``trainer.global_step`` (Lightning's count of ``optimizer.step()`` calls) advances by two
        per step.
    weighted : bool, default False
        Whether positives carry loss weights (``NeuralCF(weight_col=...)``): in the labels of
        ``"bce"`` batches, as a fourth batch tensor for the ranking losses.
    loss : {"bce", "bpr", "softmax", "ials"}, default "bce"
        The training loss (:mod:`implicit_ncf.losses`). ``"bce"`` trains on the
        ``(users, items, labels)`` batches of ``_EpochBatches``; ``"bpr"`` and ``"softmax"`` on
        the ``(users, items, negatives)`` batches of ``_PositiveBatches``, whose shared
        negatives (``"softmax"``) come one row per optimizer step; ``"ials"`` on its
        ``(users, items, unobserved)`` batches (each positive's weight of its user's catalogue
        term): exact through ``factors`` (MF, GMF), partly estimated from sampled items for
        NeuMF and the MLP (:func:`implicit_ncf.losses.ials_loss`).
    n_negatives : int, default 8
        ``"ials"`` with a network without ``factors`` (NeuMF, MLP) only: the items drawn
        uniformly per positive to estimate the part of the catalogue sum that has no Gramian.

    Notes
    -----
    The training loss is summed on the device without a host synchronisation and logged once per
    epoch as ``"loss"`` (the mean over the epoch's examples), rather than through ``self.log`` on
    every step, whose bookkeeping costs as much as a small model's step on a CPU. Adam runs as
    the fused kernel where the installed torch has one for the parameters' device.

    With ``step_batch_size`` set, each step calls ``loss.backward()`` and the optimizer directly
    (and advances ``trainer.global_step`` itself) when nothing would observe the difference: one
    process on one device, full precision or ``bf16-mixed`` (no gradient scaler), no profiler,
    and no callback overriding ``on_before_backward``, ``on_after_backward`` or
    ``on_before_optimizer_step``. Otherwise it goes through ``manual_backward`` and Lightning's
    optimizer wrapper, whose hooks, precision plugin and strategy calls cost about 6% of a GMF
    step on a CPU. Both paths compute the same steps (see :meth:`direct_steps`).
    """

    def __init__(
        self,
        network: nn.Module,
        *,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        lr_decay: float = 1.0,
        val_k: int = 10,
        step_batch_size: int | None = None,
        optimizer: str = "adam",
        loss: str = "bce",
        weighted: bool = False,
        n_negatives: int = 8,
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {list(LOSSES)}; got {loss!r}.")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}; got {optimizer!r}.")
        if optimizer == "lazy_adam" and step_batch_size is None:
            raise ValueError(
                "optimizer='lazy_adam' takes two optimizers (sparse embeddings, dense layers), "
                "which needs the module's own steps: pass step_batch_size=<batch size>."
            )
        self.network = network
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.lr_decay = lr_decay
        self.val_k = val_k
        self.step_batch_size = step_batch_size
        self.optimizer = optimizer
        self.automatic_optimization = step_batch_size is None
        if optimizer == "lazy_adam":
            set_sparse_embeddings(network, True)
            # DDP leaves the sparse tables alone: their gradients are gathered across processes
            # by _sync_sparse_gradients (rows and values) instead of DDP's sparse all-reduce
            self._ddp_params_and_buffers_to_ignore = [
                f"network.{name}.weight"
                for name, module in network.named_modules()
                if isinstance(module, torch.nn.Embedding)
            ]
        self.loss = loss
        self.loss_fn = LOSSES[loss]
        self.weighted = weighted
        self.n_negatives = n_negatives
        self._loss_sum: Tensor | None = None
        self._loss_count = 0
        self._direct: Any = None  # the step-progress tracker when direct steps apply (per fit)

    def forward(self, users: Tensor, items: Tensor) -> Tensor:
        return self.network(users, items)

    def _loss(
        self, users: Tensor, items: Tensor, extra: Tensor, weights: Tensor | None = None
    ) -> Tensor:
        """One step's loss; ``extra`` is the labels (``"bce"``), the negatives of each positive
        (``"bpr"``), the step's shared negatives (``"softmax"``; empty for the full softmax) or
        each positive's catalogue weight (``"ials"``);
        ``weights`` the positives' loss weights (weighted ``"bce"``: the labels themselves)."""
        if self.weighted and self.loss == "bce":
            weights = extra
        logits, rows = None, None
        full_softmax = self.loss == "softmax" and extra.numel() == 0  # reads score_all only
        if self.weight_decay > 0 and not full_softmax and hasattr(self.network, "forward_rows"):
            # the logits and the penalised rows from one lookup (the loss reads the logits)
            logits, rows = self.network.forward_rows(users, items)
        if self.loss == "ials":  # n_negatives: the sampled items of a non-bilinear network
            loss = self.loss_fn(
                self.network, users, items, extra, weights, self.n_negatives, logits=logits
            )
        else:
            loss = self.loss_fn(self.network, users, items, extra, weights, logits=logits)
        if self.weight_decay > 0:
            if rows is None:
                rows = self.network.embeddings(users, items)
            penalty = sum(e.pow(2).sum() for e in rows)
            loss = loss + self.weight_decay * penalty / len(users)
        return loss

    def _add_loss(self, total: Tensor, count: int) -> None:
        """Add a summed loss to the epoch's, on the device (no host sync); logged once per epoch
        by ``_log_epoch_loss``."""
        self._loss_sum = total if self._loss_sum is None else self._loss_sum + total
        self._loss_count += count

    def _step_extra(self, extra: Tensor, part: slice, index: int) -> Tensor:
        """The labels or negatives of the ``index``-th step (rows ``part``) of a trainer batch:
        shared negatives come one row per step, everything else one row per example."""
        return extra[index] if self.loss == "softmax" else extra[part]

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor | None:
        users, items, extra = batch[0], batch[1], batch[2]
        weights = batch[3] if len(batch) > 3 else None  # weighted ranking losses
        if self.automatic_optimization:
            loss = self._loss(users, items, self._step_extra(extra, slice(None), 0), weights)
            self._add_loss(loss.detach() * len(users), len(users))
            return loss
        step = int(self.step_batch_size)  # type: ignore[arg-type]
        losses = []
        progress = self._direct
        if progress is not None:
            optimizers = _as_list(self.optimizers(use_pl_optimizer=False))
            for index, start in enumerate(range(0, len(users), step)):
                part = slice(start, start + step)
                loss = self._loss(
                    users[part],
                    items[part],
                    self._step_extra(extra, part, index),
                    None if weights is None else weights[part],
                )
                for optimizer in optimizers:
                    optimizer.zero_grad()
                loss.backward()
                for optimizer in optimizers:  # Lightning counts every optimizer.step() call
                    optimizer.step()
                    progress.increment_ready()
                    progress.increment_completed()
                losses.append(loss.detach())
        else:
            optimizers = _as_list(self.optimizers())
            for index, start in enumerate(range(0, len(users), step)):
                part = slice(start, start + step)
                loss = self._loss(
                    users[part],
                    items[part],
                    self._step_extra(extra, part, index),
                    None if weights is None else weights[part],
                )
                for optimizer in optimizers:
                    optimizer.zero_grad()
                self.manual_backward(loss)
                self._sync_sparse_gradients()
                for optimizer in optimizers:
                    optimizer.step()
                losses.append(loss.detach())
        # every slice holds `step` examples but the last: weight the means by their sizes
        sizes = torch.full((len(losses),), float(step), device=losses[0].device)
        sizes[-1] = len(users) - step * (len(losses) - 1)
        self._add_loss((torch.stack(losses).float() * sizes).sum(), len(users))
        return None

    def direct_steps(self) -> bool:
        """Whether the manual steps of the current fit bypass Lightning's per-step wrappers.

        True when ``step_batch_size`` is set and nothing would observe the difference (see the
        class notes); decided once per fit, in ``on_train_start``.
        """
        return self._direct is not None

    def _direct_progress(self) -> Any:
        """The trainer's optimizer-step tracker if direct steps apply to this fit, else None."""
        if self.automatic_optimization:
            return None
        from pytorch_lightning.plugins.precision import MixedPrecision, Precision
        from pytorch_lightning.profilers import PassThroughProfiler
        from pytorch_lightning.strategies import SingleDeviceStrategy

        trainer: Any = self.trainer  # profiler and callbacks are set outside Trainer's class body
        precision = trainer.precision_plugin
        plain_precision = type(precision) is Precision or (
            type(precision) is MixedPrecision and precision.scaler is None
        )
        if not (
            type(trainer.strategy) is SingleDeviceStrategy
            and plain_precision
            and type(trainer.profiler) is PassThroughProfiler
        ):
            return None
        for obj, base in [(self, NCFModule), *((cb, pl.Callback) for cb in trainer.callbacks)]:
            for hook in _STEP_HOOKS:
                if getattr(type(obj), hook, None) is not getattr(base, hook, None):
                    return None
        try:  # where Lightning counts manual optimizer steps (trainer.global_step)
            progress = trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress
        except AttributeError:
            return None
        if not (
            callable(getattr(progress, "increment_ready", None))
            and callable(getattr(progress, "increment_completed", None))
        ):
            return None
        return progress

    def _processes(self) -> int:
        """Training processes of this fit: the trainer's world size (1 without a trainer)."""
        try:
            return int(self.trainer.world_size)
        except RuntimeError:  # not attached to a trainer
            return 1

    def _sparse_tables(self) -> list[nn.Parameter]:
        """The embedding weights that DDP leaves to this module (``optimizer="lazy_adam"``)."""
        names = set(getattr(self, "_ddp_params_and_buffers_to_ignore", []))
        return [p for name, p in self.named_parameters() if name in names]

    def _sync_sparse_gradients(self) -> None:
        """Under DDP with ``optimizer="lazy_adam"``: replace each sparse table's gradient by the
        mean over processes (DDP's own convention for the dense layers), built from every
        process's rows and values gathered with ``all_gather``, so that every process applies
        the same update to the union of the rows. A no-op with one process.

        Gathering (padded to the largest row count) is used instead of DDP's sparse all-reduce,
        which corrupted memory in a 2-process gloo run here (torch 2.13).
        """
        world = self._processes()
        if world <= 1 or self.optimizer != "lazy_adam":
            return
        import torch.distributed as dist

        tables = self._sparse_tables()  # every process takes part for every table, even one
        grads = [  # that its own step did not touch (no gradient: no rows)
            torch.sparse_coo_tensor(
                torch.empty((1, 0), dtype=torch.int64, device=p.device),
                torch.empty((0, *p.shape[1:]), dtype=p.dtype, device=p.device),
                p.shape,
            ).coalesce()
            if p.grad is None
            else p.grad.coalesce()
            for p in tables
        ]
        counts = torch.tensor([g._nnz() for g in grads], dtype=torch.int64, device=self.device)
        all_counts = [torch.empty_like(counts) for _ in range(world)]
        dist.all_gather(all_counts, counts)
        for t, (p, grad) in enumerate(zip(tables, grads, strict=True)):
            sizes = [int(c[t]) for c in all_counts]
            width, n = max(sizes), grad._nnz()
            rows = torch.zeros(width, dtype=torch.int64, device=p.device)
            values = torch.zeros((width, *p.shape[1:]), dtype=p.dtype, device=p.device)
            rows[:n], values[:n] = grad._indices()[0], grad._values()
            gathered_rows = [torch.empty_like(rows) for _ in range(world)]
            gathered_values = [torch.empty_like(values) for _ in range(world)]
            dist.all_gather(gathered_rows, rows)
            dist.all_gather(gathered_values, values)
            index = torch.cat([r[:k] for r, k in zip(gathered_rows, sizes, strict=True)])
            value = torch.cat([v[:k] for v, k in zip(gathered_values, sizes, strict=True)])
            p.grad = torch.sparse_coo_tensor(index[None], value / world, p.shape).coalesce()

    def on_train_start(self) -> None:
        self._direct = self._direct_progress()
        if self._processes() > 1 and self.optimizer == "lazy_adam":
            import torch.distributed as dist

            for p in self._sparse_tables():  # DDP broadcasts only the parameters it manages
                dist.broadcast(p.data, src=0)

    def on_train_end(self) -> None:
        self._direct = None

    def on_train_epoch_start(self) -> None:
        self._loss_sum, self._loss_count = None, 0

    def _log_epoch_loss(self) -> None:
        """Log the epoch's mean training loss as ``"loss"`` (once per epoch; idempotent)."""
        if self._loss_sum is not None and self._loss_count:
            mean = self._loss_sum / self._loss_count
            self.log("loss", mean, on_step=False, on_epoch=True, prog_bar=True, batch_size=1)
        self._loss_sum, self._loss_count = None, 0

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        # Lightning steps epoch schedulers itself only under automatic optimization: do it at the
        # same point (after the epoch's last batch, before validation and the epoch-end hooks)
        if not self.automatic_optimization and batch_idx + 1 == self.trainer.num_training_batches:
            for scheduler in _as_list(self.lr_schedulers()):
                scheduler.step()

    def on_train_epoch_end(self) -> None:
        self._log_epoch_loss()

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        users, candidates = batch  # candidates: (B, C) item indices, target in column 0, -1 padding
        valid = candidates >= 0
        flat_users = users[:, None].expand_as(candidates)[valid]
        scores = torch.full(candidates.shape, -torch.inf, device=candidates.device)
        scores[valid] = self.network(flat_users, candidates[valid]).float()
        target = scores[:, :1]
        rank = (scores[:, 1:] >= target).sum(1)
        hit = (rank < self.val_k).float()
        ndcg = hit / torch.log2(rank.float() + 2.0)
        n = len(users)
        self.log(f"val_hr@{self.val_k}", hit.mean(), prog_bar=True, batch_size=n, sync_dist=True)
        self.log(f"val_ndcg@{self.val_k}", ndcg.mean(), prog_bar=True, batch_size=n, sync_dist=True)

    def configure_optimizers(self) -> Any:
        if self.optimizer == "lazy_adam":
            sparse, dense = split_sparse_parameters(self.network)
            optimizers: list[torch.optim.Optimizer] = [LazyAdam(sparse, lr=self.learning_rate)]
            if dense:
                optimizers.append(_adam(dense, lr=self.learning_rate))
        else:
            optimizers = [_adam(self.network.parameters(), lr=self.learning_rate)]
        if self.lr_decay == 1.0:
            return optimizers[0] if len(optimizers) == 1 else optimizers
        schedulers = [
            {
                "scheduler": torch.optim.lr_scheduler.ExponentialLR(o, gamma=self.lr_decay),
                "interval": "epoch",
            }
            for o in optimizers
        ]
        if len(optimizers) == 1:
            return {"optimizer": optimizers[0], "lr_scheduler": schedulers[0]}
        return optimizers, schedulers


# --------------------------------------------------------------------------------------------
# Lightning callbacks
# --------------------------------------------------------------------------------------------


class History(pl.Callback):
    """Per-epoch loss, validation metrics and time; keeps the best weights by ``monitor``.

    With ``verbose`` it also reports each epoch as one line (``gmf  epoch   0  loss=0.4847
    ...``): above the progress bar when the Trainer shows one (a terminal), else on standard
    output, flushed, so that a log file gets one line per epoch. With ``lightning_info`` (set by
    ``NeuralCF._build_trainer`` when the user passed ``trainer_kwargs``) Lightning's own info
    lines, such as its model summary, are let through during the fit; otherwise the enclosing
    :func:`_quiet_lightning` hides them.
    """

    def __init__(self, monitor: str | None, verbose: bool, *, lightning_info: bool = False) -> None:
        self.monitor = monitor
        self.verbose = verbose
        self.lightning_info = lightning_info
        self.history: list[dict[str, float]] = []
        self.best_score = -math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_epoch: int | None = None
        self.start = time.perf_counter()
        self._info: contextlib.ExitStack | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self.lightning_info and self.verbose and self._info is None:
            self._info = contextlib.ExitStack()
            self._info.enter_context(_quiet_lightning(True, lightning_info=True))

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._info is not None:
            self._info.close()
            self._info = None

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self.teardown(trainer, pl_module, "fit")

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        log_epoch_loss = getattr(module, "_log_epoch_loss", None)
        if log_epoch_loss is not None:  # the module logs "loss" once per epoch; now, so
            log_epoch_loss()  # that this row has it (callbacks run before the module's hook)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        row = {"epoch": trainer.current_epoch, "time": time.perf_counter() - self.start}
        row.update(metrics)
        self.history.append(row)
        monitor = self.monitor
        if monitor is not None and monitor in metrics and metrics[monitor] > self.best_score:
            self.best_score = metrics[monitor]
            self.best_epoch = trainer.current_epoch
            self.best_state = {
                k: v.detach().to("cpu", copy=True) for k, v in module.network.state_dict().items()
            }
        if self.verbose and trainer.is_global_zero:
            self._report(trainer, module, row)

    def _report(
        self, trainer: pl.Trainer, module: pl.LightningModule, row: dict[str, float]
    ) -> None:
        """Write one line for the epoch of ``row``: through the progress bar, else to stdout."""
        network = getattr(module, "network", None)
        stage = type(network).__name__.lower() if network is not None else ""
        values = {k: v for k, v in row.items() if k not in ("epoch", "time")}
        names = sorted(values, key=lambda k: k != "loss")  # the loss first, then as logged
        text = "  ".join(f"{k}={values[k]:.4f}" for k in names)
        line = f"{stage:<5} epoch {int(row['epoch']):>3}  {text}  ({row['time']:.1f}s)"
        bar = trainer.progress_bar_callback
        if bar is not None and hasattr(bar, "print"):
            bar.print(line)
        else:
            # verbose=True asks for progress on the console: stdout, like Lightning's bar
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        logger.debug(line)


def _callbacks(monitor: str | None, patience: int | None, verbose: bool) -> list[Any]:
    """The history callback (first), and early stopping on ``monitor`` when patience is set."""
    callbacks: list[Any] = [History(monitor, verbose)]
    if monitor is not None and patience is not None:
        callbacks.append(
            pl.callbacks.EarlyStopping(
                monitor=monitor, mode="max", patience=patience, check_on_train_epoch_end=True
            )
        )
    return callbacks


# Lightning's loggers: rank_zero_info (device banner, logger tips, "`Trainer.fit` stopped") and
# the model summary log at INFO through these.
_LIGHTNING_LOGGERS = (
    "pytorch_lightning",
    "pytorch_lightning.utilities.rank_zero",
    "lightning.pytorch",
    "lightning.pytorch.utilities.rank_zero",
    "lightning_fabric",
    "lightning_fabric.utilities.rank_zero",
)
# Levels saved by each active _quiet_lightning, outermost first: [0] is the caller's own set-up.
_SAVED_LEVELS: list[list[int]] = []


@contextlib.contextmanager
def _quiet_lightning(verbose: bool, *, lightning_info: bool = False) -> Iterator[None]:
    """Keep Lightning's own output out of the way for the duration of a fit.

    ``verbose=False``: Lightning's loggers at ERROR and its advisory warnings hidden.
    ``verbose=True``: its warnings are shown but its info lines (the "GPU available / TPU
    available" banner, the model summary, logger advertisements, "`Trainer.fit` stopped") are
    not, unless ``lightning_info``, which puts the caller's own logging levels back (what Lightning
    would show without this library). Nested uses restore the enclosing one's levels on exit.

    Warnings about how the library itself drives Lightning (its iterable of whole batches, no
    worker processes, internal deprecations) say nothing a user can act on and are always hidden.
    """
    loggers = [logging.getLogger(n) for n in _LIGHTNING_LOGGERS]
    levels = [lg.level for lg in loggers]
    own = _SAVED_LEVELS[0] if _SAVED_LEVELS else levels
    internal = (
        ".*does not have many workers.*",
        ".*LeafSpec.*",
        ".*treespec.*",
        ".*Your `IterableDataset` has `__len__` defined.*",
        ".*You defined a `validation_step` but have no `val_dataloader`.*",
    )
    advisory = (
        ".*The number of training batches.*",
        ".*GPU available but not used.*",
        ".*Total length of .* across ranks is zero.*",
        ".*You are using a CUDA device.*",
    )
    _SAVED_LEVELS.append(levels)
    with warnings.catch_warnings():
        for pattern in internal:
            warnings.filterwarnings("ignore", message=pattern)
        if not verbose:
            for lg in loggers:
                lg.setLevel(logging.ERROR)
            for pattern in advisory:
                warnings.filterwarnings("ignore", message=pattern)
        elif lightning_info:
            for lg, level in zip(loggers, own, strict=True):
                lg.setLevel(level)
        else:
            for lg, level in zip(loggers, own, strict=True):
                lg.setLevel(max(logging.WARNING, level))
        try:
            yield
        finally:
            if _SAVED_LEVELS and _SAVED_LEVELS[0] is levels:
                _SAVED_LEVELS.clear()  # the outermost: nothing inside it outlives it
            else:
                _SAVED_LEVELS[:] = [saved for saved in _SAVED_LEVELS if saved is not levels]
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


@contextlib.contextmanager
def _preserve_torch_rng(seed: int) -> Iterator[None]:
    """Seed torch for this fit without disturbing the caller's global RNG state, the CPU's and
    every CUDA device's (``manual_seed`` reseeds them all), nor the deterministic-algorithms
    flag, which ``trainer_kwargs={"deterministic": ...}`` sets."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


@contextlib.contextmanager
def _interrupt_as_keyboard_interrupt() -> Iterator[None]:
    """Lightning turns Ctrl+C into ``sys.exit(1)`` and ignores SIGINT afterwards; a library must
    not. Restore the SIGINT handler and re-raise ``KeyboardInterrupt`` instead."""
    in_main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if in_main else None
    try:
        yield
    except SystemExit as exc:
        if exc.code == 1:
            raise KeyboardInterrupt(
                "training was interrupted; the estimator is unchanged"
            ) from None
        raise
    finally:
        if in_main and handler is not None:
            signal.signal(signal.SIGINT, handler)
