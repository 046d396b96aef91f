"""How training batches are built: shuffled positives with fresh sampled negatives each epoch.

:class:`_EpochBatches` is the training set the Lightning ``Trainer`` iterates (one iteration per
epoch, whole-tensor batches, built one epoch ahead in a thread when a core is spare);
:class:`_TensorBatches` slices fixed tensors (the validation candidates). Both are torch
``IterableDataset``s over contiguous indices; negatives come from
:class:`implicit_ncf.sampling.NegativeSampler`. No Lightning here: the trainer is only read for
its ranks and epoch count.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from .data import IdEncoder, check_interactions, interactions_to_csr
from .sampling import _csr_parts, _draw_distinct, _nth_unseen

# Epochs of at most this many examples are built one epoch ahead in a background thread (their
# tensors, 20 bytes per example, are then held twice); larger ones are built when they start and
# decoded batch by batch, to keep the peak memory of ML-20M-sized data low.
_LOOKAHEAD_MAX_ROWS = 1 << 24
# Negative draws per sampler call when an epoch has more (see _EpochBatches._negatives).
_NEGATIVE_CHUNK = 1 << 24


def _gather32(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[index]`` in int32 when every value fits (non-negative indices below 2**31),
    gathered a block at a time so that the int64 result never exists whole; else as is."""
    if not values.size or values.dtype == np.int32 or int(values.max()) >= 2**31:
        return values[index]
    out = np.empty(len(index), dtype=np.int32)
    for start in range(0, len(index), _NEGATIVE_CHUNK):
        block = index[start : start + _NEGATIVE_CHUNK]
        out[start : start + len(block)] = values[block]
    return out


class _EpochParts(NamedTuple):
    """One epoch in compact form: ``order`` indexes ``[positives..., negatives...]``."""

    users: np.ndarray  # (m,) users of the rank's shuffled positives (int32 if they fit)
    items: np.ndarray  # (m,) their items (int32 if they fit)
    negatives: np.ndarray  # (m * n_negatives,) negative items, n_negatives per positive in turn
    order: np.ndarray  # (m * (1 + n_negatives),) the shuffle of all examples (int32 if it fits)
    weights: np.ndarray | None = None  # (m,) the positives' loss weights, if weighted


class _EpochBatches(torch.utils.data.IterableDataset):
    """One epoch of whole-tensor training batches, with fresh negatives each epoch.

    Every iteration (epoch) shuffles the positives, draws ``n_negatives`` negatives per positive
    from the items the user never interacted with in training (vectorised, see
    :func:`implicit_ncf.sampling.sample_negatives`), and yields ``(users, items, labels)`` slices of
    pre-built tensors. Under distributed training each rank takes its own equal share of the
    shuffled positives, so no rank repeats another's work.

    Each yielded batch holds ``steps_per_batch`` optimizer steps of ``batch_size`` examples (the
    module slices it; see ``NCFModule(step_batch_size=...)``). Epochs of up to
    ``_LOOKAHEAD_MAX_ROWS`` examples are built one epoch ahead in a background thread (numpy
    releases the GIL), so that training does not wait for the shuffle and the sampling; larger
    epochs are kept in compact form and decoded batch by batch. Either way the batches of an epoch
    depend only on ``(seed, epoch, rank)``.
    """

    def __init__(
        self,
        user_idx: np.ndarray,
        item_idx: np.ndarray,
        sampler: Any,
        *,
        n_negatives: int,
        batch_size: int,
        seed: int,
        steps_per_batch: int = 1,
        weights: np.ndarray | None = None,
    ) -> None:
        super().__init__()
        self.user_idx = user_idx
        self.item_idx = item_idx
        self.weights = weights
        self.sampler = sampler
        self.n_negatives = n_negatives
        self.batch_size = batch_size
        self.seed = seed
        self.steps_per_batch = steps_per_batch
        self.epoch = 0
        self.trainer: Any = None  # set by NeuralCF._train; its ranks decide the shares
        self._ahead: tuple[int, threading.Thread, list[Any]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_ahead"] = None  # a running thread cannot be pickled; it is only a cache
        return state

    def _world(self) -> tuple[int, int]:
        if self.trainer is not None:  # a process group left by an earlier fit must not count
            return int(self.trainer.global_rank), int(self.trainer.world_size)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1

    def _share(self) -> int:
        _, world = self._world()
        return math.ceil(len(self.user_idx) / world)

    def __len__(self) -> int:
        rows = self._share() * (1 + self.n_negatives)
        return math.ceil(rows / (self.batch_size * self.steps_per_batch))

    def _shuffled_positives(
        self, epoch: int, *, compact: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
        """This rank's share of the epoch's shuffled positives (users, items, weights or
        None), and the rank. ``compact`` gathers the users and items in int32 when every index
        fits (the epoch's compact form, which lives through the epoch: at ML-20M half of 320
        MB); the values are the same."""
        rank, world = self._world()
        n = len(self.user_idx)
        # the same permutation on every rank, then a disjoint share per rank
        perm = np.random.default_rng([self.seed, epoch]).permutation(n)
        share = self._share()
        if world > 1:
            perm = np.resize(perm, share * world)  # pad by wrapping so every rank has `share`
            perm = perm[rank * share : (rank + 1) * share]
        weights = None if self.weights is None else self.weights[perm]
        if compact:
            return _gather32(self.user_idx, perm), _gather32(self.item_idx, perm), weights, rank
        return self.user_idx[perm], self.item_idx[perm], weights, rank

    def _parts(self, epoch: int) -> _EpochParts:
        users, items, weights, rank = self._shuffled_positives(epoch, compact=True)
        rng = np.random.default_rng([self.seed, epoch, rank, 1])
        negatives = self._negatives(users, rng)
        total = len(users) * (1 + self.n_negatives)
        # shuffling an arange draws exactly what rng.permutation(total) draws, in int32 when it
        # fits: half the memory traffic of the int64 permutation
        order = np.arange(total, dtype=np.int32 if total < 2**31 else np.int64)
        rng.shuffle(order)
        return _EpochParts(users, items, negatives, order, weights)

    def _negatives(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``n_negatives`` draws per positive of ``users``, flat, in int32 when the catalogue
        allows. Epochs of more than ``_NEGATIVE_CHUNK`` draws are drawn a block of users at a
        time into the int32 array, so that the sampler's int64 output never exists whole (at
        ML-20M with 8 negatives it would be 1.3 GB on top of the epoch); smaller epochs are
        drawn in one call, as before."""
        n = self.n_negatives
        n_items = int(self.sampler.n_items)
        total = len(users) * n
        if total <= _NEGATIVE_CHUNK or n_items >= 2**31:
            negatives = self.sampler.sample(users, n, random_state=rng).reshape(-1)
            if negatives.size and n_items < 2**31:  # half the memory for large epochs
                negatives = negatives.astype(np.int32)
            return negatives
        out = np.empty(total, dtype=np.int32)
        step = max(1, _NEGATIVE_CHUNK // n)
        for start in range(0, len(users), step):
            block = self.sampler.sample(users[start : start + step], n, random_state=rng)
            out[start * n : (start + len(block)) * n] = block.reshape(-1)
        return out

    def _decode(
        self, parts: _EpochParts, start: int, stop: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Examples ``order[start:stop]`` of ``[positives..., negatives...]`` as tensors."""
        o = parts.order[start:stop].astype(np.int64)
        m = len(parts.users)
        positive = o < m
        neg = np.maximum(o - m, 0)  # position among the negatives (0 for positives, unused)
        users = parts.users[np.where(positive, o, neg // self.n_negatives)]
        users = users.astype(np.int64, copy=False)
        items = np.where(positive, parts.items[np.minimum(o, m - 1)], parts.negatives[neg])
        items = items.astype(np.int64, copy=False)
        if parts.weights is None:
            labels = positive.astype(np.float32)
        else:  # a weighted positive's label is its (positive) weight; negatives stay 0
            weight = parts.weights[np.minimum(o, m - 1)]
            labels = np.where(positive, weight, 0.0).astype(np.float32)
        return torch.from_numpy(users), torch.from_numpy(items), torch.from_numpy(labels)

    def build_epoch(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """All of one epoch's ``(users, items, labels)`` in training order, as whole tensors."""
        parts = self._parts(epoch)
        return self._decode(parts, 0, len(parts.order))

    def _spare_core(self) -> bool:
        """Whether building ahead can overlap training: the model is on an accelerator, or torch
        leaves a CPU core free. When torch's threads already take every core, the builder thread
        would only slow its intra-op threads down, so the next epoch is built when it starts."""
        accelerator = getattr(self.trainer, "accelerator", None)
        if accelerator is not None and type(accelerator).__name__ != "CPUAccelerator":
            return True
        try:
            cores = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cores = os.cpu_count() or 1
        return torch.get_num_threads() < cores

    def _start_ahead(self, epoch: int) -> None:
        box: list[Any] = []

        def build() -> None:
            try:
                box.append(self.build_epoch(epoch))
            except BaseException as exc:  # handed to the training thread by _take
                box.append(exc)

        thread = threading.Thread(target=build, name="implicit_ncf-next-epoch", daemon=True)
        thread.start()
        self._ahead = (epoch, thread, box)

    def _take(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ahead, self._ahead = self._ahead, None
        if ahead is None or ahead[0] != epoch:
            return self.build_epoch(epoch)
        ahead[1].join()
        result = ahead[2][0]
        if isinstance(result, BaseException):
            raise result
        return result  # type: ignore[no-any-return]

    def _epoch_tensors(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """This epoch's tensors (built ahead if they were), and the next epoch's build started
        in a thread when a core is spare and there is a next epoch."""
        tensors = self._take(epoch)
        max_epochs = getattr(self.trainer, "max_epochs", None)
        last = isinstance(max_epochs, int) and 0 <= max_epochs <= epoch + 1
        if not last and self._spare_core():
            self._start_ahead(epoch + 1)
        return tensors

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        epoch = self.epoch
        self.epoch += 1
        step = self.batch_size * self.steps_per_batch
        if self._share() * (1 + self.n_negatives) > _LOOKAHEAD_MAX_ROWS:
            parts = self._parts(epoch)
            for start in range(0, len(parts.order), step):
                yield self._decode(parts, start, start + step)
            return
        users, items, labels = self._epoch_tensors(epoch)
        for start in range(0, len(users), step):
            stop = start + step
            yield users[start:stop], items[start:stop], labels[start:stop]


class _PositiveBatches(_EpochBatches):
    """Epochs of shuffled positives with their negatives, for the ranking losses.

    Each optimizer step holds ``batch_size`` positives (not examples) and either

    - ``n_shared=0``: ``n_negatives`` items per positive drawn from the items its user never
      interacted with, as for :class:`_EpochBatches` (the pairwise BPR loss); yields
      ``(users, items, negatives)`` with ``negatives`` of shape ``(b, n_negatives)``;
    - ``n_shared > 0``: ``n_shared`` items drawn uniformly from the whole catalogue, shared by
      the step's positives (the sampled-softmax loss; the module masks a positive that is drawn
      among its own negatives); yields ``negatives`` of shape ``(steps, n_shared)``, one row
      per optimizer step of the batch;
    - ``n_shared=-1``: no negatives (the full softmax scores the whole catalogue); yields an
      empty ``(steps, 0)`` tensor.

    With ``unobserved`` (one weight per user index; the ``loss="ials"`` batches) nothing is
    sampled and ``negatives`` is instead each positive's ``unobserved[user]``, shape ``(b,)``
    (float32): the weight of its user's catalogue term.

    The batches of an epoch depend only on ``(seed, epoch, rank)``, and each rank takes its
    own share of the shuffled positives, as in :class:`_EpochBatches`.
    """

    def __init__(
        self,
        user_idx: np.ndarray,
        item_idx: np.ndarray,
        sampler: Any,
        *,
        n_negatives: int,
        batch_size: int,
        seed: int,
        n_items: int,
        n_shared: int = 0,
        steps_per_batch: int = 1,
        weights: np.ndarray | None = None,
        unobserved: np.ndarray | None = None,
    ) -> None:
        super().__init__(
            user_idx,
            item_idx,
            sampler,
            n_negatives=n_negatives,
            batch_size=batch_size,
            seed=seed,
            steps_per_batch=steps_per_batch,
            weights=weights,
        )
        self.n_items = n_items
        self.n_shared = 0 if unobserved is not None else n_shared
        self.unobserved = unobserved

    def __len__(self) -> int:
        return math.ceil(self._share() / (self.batch_size * self.steps_per_batch))

    def build_epoch(self, epoch: int) -> tuple[torch.Tensor, ...]:  # type: ignore[override]
        """One epoch's ``(users, items, negatives)`` in training order (see the class notes),
        and the positives' ``weights`` when weighted."""
        users, items, weights, rank = self._shuffled_positives(epoch)
        rng = np.random.default_rng([self.seed, epoch, rank, 2])
        extra: torch.Tensor | None = None
        if self.unobserved is not None:
            extra = torch.from_numpy(self.unobserved[users].astype(np.float32, copy=False))
            negatives = np.empty((0, 0), dtype=np.int64)
        elif self.n_shared == 0:
            negatives = self.sampler.sample(users, self.n_negatives, random_state=rng)
        else:
            n_steps = math.ceil(len(users) / self.batch_size)
            width = max(0, self.n_shared)
            negatives = rng.integers(0, self.n_items, size=(n_steps, width))
        out = (
            torch.from_numpy(users.astype(np.int64, copy=False)),
            torch.from_numpy(items.astype(np.int64, copy=False)),
            torch.from_numpy(negatives.astype(np.int64, copy=False)) if extra is None else extra,
        )
        if weights is None:
            return out
        return (*out, torch.from_numpy(weights.astype(np.float32, copy=False)))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:  # type: ignore[override]
        epoch = self.epoch
        self.epoch += 1
        tensors: tuple[torch.Tensor, ...] = self._epoch_tensors(epoch)
        users, items, negatives, weights = tensors[0], tensors[1], tensors[2], tensors[3:]
        step = self.batch_size * self.steps_per_batch
        for batch, start in enumerate(range(0, len(users), step)):
            stop = start + step
            if self.n_shared == 0:
                extra = negatives[start:stop]
            else:
                extra = negatives[batch * self.steps_per_batch : (batch + 1) * self.steps_per_batch]
            yield (users[start:stop], items[start:stop], extra, *(w[start:stop] for w in weights))


class _TensorBatches(torch.utils.data.IterableDataset):
    """Fixed tensors yielded in slices (validation candidates)."""

    def __init__(self, *tensors: torch.Tensor, batch_size: int) -> None:
        super().__init__()
        self.tensors = tensors
        self.batch_size = batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.tensors[0]) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        n = len(self.tensors[0])
        for start in range(0, n, self.batch_size):
            yield tuple(t[start : start + self.batch_size] for t in self.tensors)


def validation_candidates(
    seen_train: sp.csr_matrix,
    val_users: np.ndarray,
    val_items: np.ndarray,
    *,
    n_negatives: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Candidates of every distinct validation (user, item) pair, in index space.

    Each pair is a target ranked against ``n_negatives`` items drawn uniformly without
    replacement from the items its user has neither in ``seen_train`` nor among *any* of its
    validation pairs (all of a user's targets share these negatives, as in
    :func:`implicit_ncf.sampling.sample_candidates`). A user with fewer unseen items gets all
    of them. The catalogue is every column of ``seen_train``: an item seen only in validation
    is still a candidate.

    Returns
    -------
    users : ndarray of shape (n_rows,)
        The user of each row, sorted.
    candidates : ndarray of shape (n_rows, 1 + n_negatives)
        The target in column 0, then the negatives, ``-1`` where a user has fewer.
    n_without : int
        Pairs left out because their user has no unseen item to rank them against.
    """
    n_users, n_items = seen_train.shape
    keys = np.unique(val_users.astype(np.int64) * n_items + val_items.astype(np.int64))
    pair_u, pair_i = keys // n_items, keys % n_items
    train = seen_train.tocoo()
    excluded = interactions_to_csr(
        np.concatenate([train.row.astype(np.int64), pair_u]),
        np.concatenate([train.col.astype(np.int64), pair_i]),
        n_users,
        n_items,
    )
    users = np.unique(pair_u)
    pool = n_items - np.diff(excluded.indptr)[users].astype(np.int64)
    negatives = np.full((len(users), n_negatives), -1, dtype=np.int64)
    rng = np.random.default_rng([seed, 2])
    full = np.flatnonzero(pool >= n_negatives)
    if len(full):
        j = _draw_distinct(pool[full], n_negatives, rng)
        _, _, inversion = _csr_parts(excluded)
        indptr = excluded.indptr.astype(np.int64)
        rows = np.repeat(users[full], n_negatives)
        drawn = _nth_unseen(rows, j.ravel(), inversion, indptr, n_items)
        negatives[full] = np.sort(drawn.reshape(len(full), n_negatives), axis=1)
    for row in np.flatnonzero((pool < n_negatives) & (pool > 0)):  # every unseen item
        unseen = np.setdiff1d(np.arange(n_items), excluded[users[row]].indices)
        negatives[row, : len(unseen)] = unseen
    keep = pool[np.searchsorted(users, pair_u)] > 0
    position = np.searchsorted(users, pair_u[keep])
    matrix = np.concatenate([pair_i[keep, None], negatives[position]], axis=1)
    return pair_u[keep], matrix, int((~keep).sum())


def validation_tensors(
    frame: pd.DataFrame,
    users: IdEncoder,
    items: IdEncoder,
    train_u: np.ndarray,
    train_i: np.ndarray,
    *,
    seed: int,
    n_negatives: int = 99,
    user_col: str = "user",
    item_col: str = "item",
) -> tuple[torch.Tensor, torch.Tensor]:
    """A validation frame as ``(users, candidates)`` tensors for ``NCFModule.validation_step``.

    Rows whose user or item the training data lacks are left out with an
    :class:`~implicit_ncf.evaluation.UnknownIdWarning`; every other distinct row is a target
    among :func:`validation_candidates` (``n_negatives`` per user, fewer where fewer are left).

    Raises
    ------
    ValueError
        If no row can be validated (unknown users or items only, or users who interacted with
        every item).
    """
    from .evaluation import UnknownIdWarning

    check_interactions(frame, user_col=user_col, item_col=item_col, parameter="validation")
    vu = users.get_indexer(frame[user_col].to_numpy())
    vi = items.get_indexer(frame[item_col].to_numpy())
    known = (vu >= 0) & (vi >= 0)
    if not known.all():
        warnings.warn(
            f"{int((~known).sum())} validation row(s) have a user or item absent from the "
            "training interactions and are left out of validation.",
            UnknownIdWarning,
            stacklevel=3,
        )
    if not known.any():
        raise ValueError(
            "validation has no row whose user and item both appear in the training "
            "interactions; pass held-out interactions of known users and items."
        )
    seen_train = interactions_to_csr(train_u, train_i, len(users), len(items))
    val_users, matrix, n_without = validation_candidates(
        seen_train, vu[known], vi[known], n_negatives=n_negatives, seed=seed
    )
    if n_without:
        warnings.warn(
            f"{n_without} validation row(s) belong to users who interacted with every other "
            "item, so nothing can be ranked against them; they are left out of validation.",
            UserWarning,
            stacklevel=3,
        )
    if not len(val_users):
        raise ValueError(
            "no validation row can be ranked: every validation user interacted with every "
            "item. Pass validation rows of users with unobserved items, or "
            "early_stopping=False."
        )
    return torch.from_numpy(val_users), torch.from_numpy(matrix)
