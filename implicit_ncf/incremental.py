"""The refresh step of ``NeuralCF.partial_fit``: a short fine-tuning of the whole network.

Fold-in (:mod:`implicit_ncf.foldin`) gives new and changed users (and new items) vectors with
everything else frozen, so the vectors of the items the model already had and the shared layers
do not follow the new data: on a temporal MovieLens-1M stream the gap to a refit grew with every
slice (``docs/realtime.md``). :func:`refresh` then trains every parameter for a few epochs on
the new interactions together with as many interactions replayed from the old data (drawn
uniformly, so the model does not forget what it knew), with the estimator's loss, negatives,
batch size and L2 penalty. Embedding tables take :class:`implicit_ncf.optim.LazyAdam`, so only
the rows of the pairs trained on move, and its cost is that of those pairs, not of the tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

__all__ = ["refresh"]


def _replayed(
    seen: sp.csr_matrix, added: sp.csr_matrix, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (user, item) pairs drawn uniformly with replacement from ``seen`` minus ``added``."""
    old = (seen - seen.multiply(added > 0)).tocoo()
    old.eliminate_zeros()
    if old.nnz == 0 or n == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    pick = rng.integers(0, old.nnz, n)
    return old.row[pick].astype(np.int64), old.col[pick].astype(np.int64)


def refresh(
    est: Any,
    network: nn.Module,
    seen: sp.csr_matrix,
    added: sp.csr_matrix,
    *,
    n_epochs: int,
    learning_rate: float,
    seed: int,
) -> nn.Module:
    """Fine-tune ``network`` in place on the pairs of ``added`` plus as many replayed from
    ``seen``; returns it (in eval mode, with dense embedding gradients again).

    Parameters
    ----------
    est : NeuralCF
        Gives the loss, ``n_negatives``, ``n_sampled``, ``batch_size`` and ``weight_decay``.
    network : torch.nn.Module
        The grown network of ``partial_fit`` (users and items of ``seen``), already folded in.
    seen : scipy.sparse.csr_matrix
        Every interaction, old and new; negatives are drawn from its unobserved items.
    added : scipy.sparse.csr_matrix
        The pairs new to the model.
    n_epochs : int
        Passes over the new and replayed pairs (0 returns ``network`` unchanged).
    learning_rate : float
        Adam's learning rate (new moments: the optimizer state of ``fit`` is not kept).
    seed : int
        Seeds the replayed pairs, the negatives and the shuffles.
    """
    if n_epochs <= 0 or added.nnz == 0:
        return network
    from .networks import set_sparse_embeddings
    from .sampling import NegativeSampler
    from .training import NCFModule

    rng = np.random.default_rng(seed)
    new = added.tocoo()
    old_u, old_i = _replayed(seen, added, new.nnz, rng)
    users = np.concatenate([new.row.astype(np.int64), old_u])
    items = np.concatenate([new.col.astype(np.int64), old_i])
    module = NCFModule(
        network,
        learning_rate=float(learning_rate),
        weight_decay=est._fitted_weight_decay(),
        step_batch_size=int(est.batch_size),
        optimizer="lazy_adam",
        loss=est._final_loss(),
    )
    optimizers = module.configure_optimizers()
    optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
    data = est._training_batches(
        users, items, NegativeSampler(seen), seen.shape[1], seed, steps_per_batch=1
    )
    network.train()
    try:
        with torch.enable_grad():
            for _ in range(int(n_epochs)):
                for batch in data:
                    loss = module._loss(
                        batch[0], batch[1], module._step_extra(batch[2], slice(None), 0)
                    )
                    for optimizer in optimizers:
                        optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    for optimizer in optimizers:
                        optimizer.step()
    finally:
        set_sparse_embeddings(network, False)
        network.eval()
    return network
