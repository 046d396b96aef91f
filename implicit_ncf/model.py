"""Neural Collaborative Filtering networks and the Lightning training system.

The networks (:class:`MF`, :class:`GMF`, :class:`MLP`, :class:`NeuMF`) are plain ``nn.Module``s
mapping (user index, item index) pairs to logits, after He et al., *Neural Collaborative
Filtering*, WWW 2017. Each also scores whole item catalogues for a block of users without building
every (user, item) pair (:meth:`score_all`), which is what makes ``recommend`` fast.

:class:`NCFModule` is the ``LightningModule``: binary cross-entropy on logits, Adam, optional L2
on the embeddings of each batch, and sampled-candidate HR@K / NDCG@K validation.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, cast

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

__all__ = [
    "GMF",
    "MF",
    "MLP",
    "NCFModule",
    "NeuMF",
    "build_network",
    "set_sparse_embeddings",
    "split_sparse_parameters",
]

# Upper bound on elements of the (users x items x widest hidden layer) block built by MLP scoring.
# On a CPU, 2 MiB of float32, so that a block stays in a core's cache between the element-wise
# passes and the next layer's matrix product, which runs at 75-85 GFLOP/s on 1-2 MiB blocks and
# at 55 GFLOP/s on 8 MiB ones (one core of the development machine; NeuMF scoring of all of
# ML-1M, best of 5: 1.66 s with 2 MiB blocks, 1.86 s with 8 MiB, median 1.68 s against 2.49 s; a
# 64 MiB block was 2-3x slower). On an accelerator, 64 MiB, so that a block is a few large kernels
# rather than many small launches.
_SCORE_BLOCK_ELEMENTS = 1 << 19
_SCORE_BLOCK_ELEMENTS_ACCELERATOR = 1 << 24


def _init_embedding(emb: nn.Embedding, std: float = 0.01) -> None:
    nn.init.normal_(emb.weight, std=std)


class MF(nn.Module):
    """Dot-product matrix factorisation with item and global biases (a strong baseline).

    ``logit(u, i) = p_u . q_i + b_i + b``, trained the same way as the NCF models (binary
    cross-entropy with sampled negatives). Rendle et al. (RecSys 2020) show a well-tuned dot product
    matches or beats learned similarity functions.
    """

    def __init__(self, n_users: int, n_items: int, n_factors: int = 32) -> None:
        super().__init__()
        self.n_users, self.n_items, self.n_factors = n_users, n_items, n_factors
        self.user_embedding = nn.Embedding(n_users, n_factors)
        self.item_embedding = nn.Embedding(n_items, n_factors)
        self.item_bias = nn.Embedding(n_items, 1)
        self.bias = nn.Parameter(torch.zeros(1))
        _init_embedding(self.user_embedding)
        _init_embedding(self.item_embedding)
        nn.init.zeros_(self.item_bias.weight)

    def embeddings(self, users: Tensor, items: Tensor) -> list[Tensor]:
        """Embedding rows used for a batch (what the L2 penalty acts on)."""
        return [self.user_embedding(users), self.item_embedding(items)]

    def forward(self, users: Tensor, items: Tensor) -> Tensor:
        p, q = self.user_embedding(users), self.item_embedding(items)
        return (p * q).sum(-1) + self.item_bias(items).squeeze(-1) + self.bias

    def score_all(self, users: Tensor) -> Tensor:
        """Logits of every item for each user in ``users``: shape (len(users), n_items)."""
        p = self.user_embedding(users)
        return torch.addmm(
            (self.item_bias.weight.squeeze(-1) + self.bias).unsqueeze(0),
            p,
            self.item_embedding.weight.T,
        )


class GMF(nn.Module):
    """Generalised Matrix Factorisation: ``h^T (p_u * q_i)`` with a learned output layer."""

    def __init__(self, n_users: int, n_items: int, n_factors: int = 32) -> None:
        super().__init__()
        self.n_users, self.n_items, self.n_factors = n_users, n_items, n_factors
        self.user_embedding = nn.Embedding(n_users, n_factors)
        self.item_embedding = nn.Embedding(n_items, n_factors)
        self.output = nn.Linear(n_factors, 1)
        _init_embedding(self.user_embedding)
        _init_embedding(self.item_embedding)
        nn.init.ones_(self.output.weight)  # starts as a plain dot product
        nn.init.zeros_(self.output.bias)

    def embeddings(self, users: Tensor, items: Tensor) -> list[Tensor]:
        return [self.user_embedding(users), self.item_embedding(items)]

    def features(self, users: Tensor, items: Tensor) -> Tensor:
        return self.user_embedding(users) * self.item_embedding(items)

    def forward(self, users: Tensor, items: Tensor) -> Tensor:
        return self.output(self.features(users, items)).squeeze(-1)

    def score_all(self, users: Tensor) -> Tensor:
        p = self.user_embedding(users) * self.output.weight  # (B, f): fold h into the user side
        return torch.addmm(self.output.bias.unsqueeze(0), p, self.item_embedding.weight.T)


class MLP(nn.Module):
    """Multi-layer perceptron over concatenated user and item embeddings.

    ``hidden_layers[0]`` is the width of the concatenated embedding (each side gets half), as in the
    NCF paper's ``layers=[64, 32, 16, 8]``; the following entries are the ReLU tower.
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        hidden_layers: Sequence[int] = (64, 32, 16, 8),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        layers = [int(h) for h in hidden_layers]
        self.n_users, self.n_items = n_users, n_items
        half = layers[0] // 2
        self.user_embedding = nn.Embedding(n_users, half)
        self.item_embedding = nn.Embedding(n_items, half)
        _init_embedding(self.user_embedding)
        _init_embedding(self.item_embedding)
        self.tower = nn.ModuleList(
            nn.Linear(a if i else 2 * half, b)
            for i, (a, b) in enumerate(itertools.pairwise(layers))
        )
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.n_features = layers[-1] if len(layers) > 1 else 2 * half
        self.output = nn.Linear(self.n_features, 1)
        for layer in self.tower:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        nn.init.xavier_uniform_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def embeddings(self, users: Tensor, items: Tensor) -> list[Tensor]:
        return [self.user_embedding(users), self.item_embedding(items)]

    def _rest(self, h: Tensor, start: int) -> Tensor:
        for layer in self.tower[start:]:
            h = self.dropout(torch.relu(layer(h)))
        return h

    def features(self, users: Tensor, items: Tensor) -> Tensor:
        h = torch.cat([self.user_embedding(users), self.item_embedding(items)], dim=-1)
        return self._rest(h, 0)

    def forward(self, users: Tensor, items: Tensor) -> Tensor:
        return self.output(self.features(users, items)).squeeze(-1)

    def features_all(self, users: Tensor, items: Tensor) -> Tensor:
        """Tower output for every (user, item) in ``users x items``: (len(users), len(items), d).

        The first layer ``W [p_u; q_i] + b`` is split into ``W_u p_u + (W_i q_i + b)``: the user
        part and the item part are computed once each and broadcast-added, so no concatenated
        pair is ever materialised.
        """
        p, q = self.user_embedding(users), self.item_embedding(items)
        if not len(self.tower):
            return torch.cat(
                [p[:, None, :].expand(-1, len(items), -1), q[None].expand(len(users), -1, -1)], -1
            )
        first = self.tower[0]
        half = p.shape[-1]
        user_part = p @ first.weight[:, :half].T
        item_part = torch.addmm(first.bias.unsqueeze(0), q, first.weight[:, half:].T)
        # in-place ReLUs on fresh tensors: one pass and no extra block per layer
        h = self.dropout((user_part[:, None, :] + item_part[None, :, :]).relu_())
        for layer in self.tower[1:]:
            h = self.dropout(layer(h).relu_())
        return h

    def _tail_usable(self) -> bool:
        """Whether :meth:`_score_tail` applies: a tower, no autograd, no active dropout."""
        active_dropout = self.training and isinstance(self.dropout, nn.Dropout)
        return bool(len(self.tower)) and not torch.is_grad_enabled() and not active_dropout

    def _user_block(self, device: torch.device) -> int:
        """Users per block of (users x items x widest layer) activations on ``device``."""
        widths = [int(cast(nn.Linear, layer).out_features) for layer in self.tower]
        elements = (
            _SCORE_BLOCK_ELEMENTS if device.type == "cpu" else _SCORE_BLOCK_ELEMENTS_ACCELERATOR
        )
        return max(1, elements // max(1, self.n_items * max(widths, default=1)))

    def _score_tail(self, users: Tensor, weight: Tensor) -> Tensor:
        """``weight . tower_output(u, i)`` for every user in ``users`` and every item.

        The same arithmetic as :meth:`features_all` followed by a dot product with ``weight``,
        shape ``(len(users), n_items)``, but computed over blocks of users into buffers allocated
        once per call (a fresh multi-megabyte tensor per block and layer is page-faulted in on
        every allocation, which made the element-wise passes cost as much as the matrix
        products), with in-place ReLUs. Needs :meth:`_tail_usable`.
        """
        first, *rest = (cast(nn.Linear, layer) for layer in self.tower)
        p, q = self.user_embedding(users), self.item_embedding.weight
        half = p.shape[-1]
        user_part = p @ first.weight[:, :half].T
        item_part = torch.addmm(first.bias.unsqueeze(0), q, first.weight[:, half:].T)
        n_users, n_items = len(users), q.shape[0]
        out = torch.empty((n_users, n_items), dtype=item_part.dtype, device=item_part.device)
        if not n_users:
            return out
        block = min(n_users, self._user_block(item_part.device))
        like: dict[str, Any] = {"dtype": item_part.dtype, "device": item_part.device}
        first_block = torch.empty((block, n_items, first.out_features), **like)
        buffers = [torch.empty((block * n_items, layer.out_features), **like) for layer in rest]
        for start in range(0, n_users, block):
            n = min(block, n_users - start)
            h = first_block[:n]
            torch.add(user_part[start : start + n, None, :], item_part[None, :, :], out=h)
            x = h.relu_().view(n * n_items, -1)
            for layer, buffer in zip(rest, buffers, strict=True):
                y = buffer[: n * n_items]
                torch.addmm(layer.bias, x, layer.weight.T, out=y)
                x = y.relu_()
            torch.mv(x, weight, out=out[start : start + n].view(-1))
        return out

    def score_all(self, users: Tensor) -> Tensor:
        if self._tail_usable():
            return self._score_tail(users, self.output.weight[0]).add_(self.output.bias)
        items = torch.arange(self.n_items, device=users.device)
        step = self._user_block(users.device)
        parts = [
            self.output(self.features_all(users[s : s + step], items)).squeeze(-1)
            for s in range(0, len(users), step)
        ]
        return torch.cat(parts) if parts else torch.empty((0, self.n_items), device=users.device)


class NeuMF(nn.Module):
    """Neural Matrix Factorisation: a GMF tower and an MLP tower with separate embeddings, their
    last features concatenated into one output layer (He et al., 2017, Section 3.4)."""

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_factors: int = 32,
        hidden_layers: Sequence[int] = (64, 32, 16, 8),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.n_users, self.n_items = n_users, n_items
        self.gmf = GMF(n_users, n_items, n_factors)
        self.mlp = MLP(n_users, n_items, hidden_layers, dropout)
        # The towers' own output layers are unused in NeuMF (they hold pretrained weights only).
        self.output = nn.Linear(n_factors + self.mlp.n_features, 1)
        nn.init.xavier_uniform_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def embeddings(self, users: Tensor, items: Tensor) -> list[Tensor]:
        return self.gmf.embeddings(users, items) + self.mlp.embeddings(users, items)

    def forward(self, users: Tensor, items: Tensor) -> Tensor:
        h = torch.cat([self.gmf.features(users, items), self.mlp.features(users, items)], -1)
        return self.output(h).squeeze(-1)

    def score_all(self, users: Tensor) -> Tensor:
        f = self.gmf.n_factors
        w_gmf, w_mlp = self.output.weight[0, :f], self.output.weight[0, f:]
        gmf = torch.addmm(
            self.output.bias.unsqueeze(0),
            self.gmf.user_embedding(users) * w_gmf,
            self.gmf.item_embedding.weight.T,
        )
        if self.mlp._tail_usable():
            return gmf.add_(self.mlp._score_tail(users, w_mlp))
        items = torch.arange(self.n_items, device=users.device)
        step = self.mlp._user_block(users.device)
        for s in range(0, len(users), step):
            gmf[s : s + step] += self.mlp.features_all(users[s : s + step], items) @ w_mlp
        return gmf

    @torch.no_grad()
    def load_pretrained(self, gmf: GMF, mlp: MLP, alpha: float = 0.5) -> None:
        """Initialise from trained GMF and MLP towers, as in the NCF paper (Section 3.4.1).

        Embeddings and hidden layers are copied; the output layer is the concatenation of the two
        towers' output weights weighted by ``alpha`` and ``1 - alpha``.
        """
        self.gmf.load_state_dict(gmf.state_dict())
        self.mlp.load_state_dict(mlp.state_dict())
        self.output.weight.copy_(
            torch.cat([alpha * gmf.output.weight, (1 - alpha) * mlp.output.weight], dim=1)
        )
        self.output.bias.copy_(alpha * gmf.output.bias + (1 - alpha) * mlp.output.bias)


def build_network(
    model: str,
    n_users: int,
    n_items: int,
    *,
    n_factors: int,
    hidden_layers: Sequence[int],
    dropout: float = 0.0,
) -> nn.Module:
    """Build the network named ``model`` ("mf", "gmf", "mlp" or "neumf")."""
    if model == "mf":
        return MF(n_users, n_items, n_factors)
    if model == "gmf":
        return GMF(n_users, n_items, n_factors)
    if model == "mlp":
        return MLP(n_users, n_items, hidden_layers, dropout)
    if model == "neumf":
        return NeuMF(n_users, n_items, n_factors, hidden_layers, dropout)
    raise ValueError(f"model must be one of 'mf', 'gmf', 'mlp', 'neumf'; got {model!r}.")


def score_all_batched(network: nn.Module, users: Tensor, *, block: int | None = None) -> Tensor:
    """``network.score_all`` over blocks of users, bounded in memory.

    Each block's scores take at most ``4 * 2**22`` bytes (16 MiB); the networks bound their own
    per-pair activations (see ``_SCORE_BLOCK_ELEMENTS``).
    """
    n_items = int(network.n_items)  # type: ignore[arg-type]
    if block is None:
        block = max(1, min(4096, (1 << 22) // max(1, n_items)))
    parts = [network.score_all(users[s : s + block]) for s in range(0, len(users), block)]
    if not parts:
        return torch.empty((0, n_items), device=users.device)
    return torch.cat(parts)


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


def set_sparse_embeddings(network: nn.Module, sparse: bool) -> None:
    """Make every ``nn.Embedding`` of ``network`` produce sparse (``True``) or dense gradients.

    Only the gradients change: the weights, ``forward`` and the scores stay the same.
    """
    for module in network.modules():
        if isinstance(module, nn.Embedding):
            module.sparse = sparse


def split_sparse_parameters(network: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """The trainable parameters of ``network``: (sparse-gradient embedding weights, the rest)."""
    sparse_ids = {
        id(module.weight)
        for module in network.modules()
        if isinstance(module, nn.Embedding) and module.sparse
    }
    params = [p for p in network.parameters() if p.requires_grad]
    return (
        [p for p in params if id(p) in sparse_ids],
        [p for p in params if id(p) not in sparse_ids],
    )


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
        as the NCF reference code does with Keras embedding regularisers).
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
        ``torch.optim.SparseAdam`` (only the rows in the batch, moments included), the other
        parameters by Adam; two optimizers, so it needs ``step_batch_size``, and
        ``trainer.global_step`` (Lightning's count of ``optimizer.step()`` calls) advances by two
        per step.

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
    ) -> None:
        super().__init__()
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
        self.loss_fn = nn.BCEWithLogitsLoss()
        self._loss_sum: Tensor | None = None
        self._loss_count = 0
        self._direct: Any = None  # the step-progress tracker when direct steps apply (per fit)

    def forward(self, users: Tensor, items: Tensor) -> Tensor:
        return self.network(users, items)

    def _loss(self, users: Tensor, items: Tensor, labels: Tensor) -> Tensor:
        loss = self.loss_fn(self.network(users, items), labels)
        if self.weight_decay > 0:
            penalty = sum(e.pow(2).sum() for e in self.network.embeddings(users, items))
            loss = loss + self.weight_decay * penalty / len(users)
        return loss

    def _add_loss(self, total: Tensor, count: int) -> None:
        """Add a summed loss to the epoch's, on the device (no host sync); logged once per epoch
        by ``_log_epoch_loss``."""
        self._loss_sum = total if self._loss_sum is None else self._loss_sum + total
        self._loss_count += count

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor], batch_idx: int) -> Tensor | None:
        users, items, labels = batch
        if self.automatic_optimization:
            loss = self._loss(users, items, labels)
            self._add_loss(loss.detach() * len(users), len(users))
            return loss
        step = int(self.step_batch_size)  # type: ignore[arg-type]
        losses = []
        progress = self._direct
        if progress is not None:
            optimizers = _as_list(self.optimizers(use_pl_optimizer=False))
            for start in range(0, len(users), step):
                part = slice(start, start + step)
                loss = self._loss(users[part], items[part], labels[part])
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
            for start in range(0, len(users), step):
                part = slice(start, start + step)
                loss = self._loss(users[part], items[part], labels[part])
                for optimizer in optimizers:
                    optimizer.zero_grad()
                self.manual_backward(loss)
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

    def on_train_start(self) -> None:
        self._direct = self._direct_progress()

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
            optimizers: list[torch.optim.Optimizer] = [
                torch.optim.SparseAdam(sparse, lr=self.learning_rate)
            ]
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
