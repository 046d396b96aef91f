"""The learned spaces of ``similar_items`` / ``similar_users``: unit vectors per user or item.

Cosine similarity needs one vector per item (or user) in which directions mean the same for
every network (torch only, no Lightning). For each tower of the network, the vector is what
that tower's logit actually uses of the embedding:

- **MF**: the embedding itself (``logit = p . q + b_i + b``; the item bias is popularity, not
  similarity, and is left out).
- **GMF** (and NeuMF's GMF tower): the embedding weighted factor by factor by the output
  weights, ``q * h`` (``logit = (p * h) . q``): a factor the output ignores (``h_f = 0``) does
  not make two items similar, and a factor it amplifies counts for more.
- **MLP** (and NeuMF's MLP tower): the embedding's first-layer projection ``W_item q`` (without
  the bias, which every item shares): the tower sees an item only through it, so directions of
  the embedding that the first layer discards do not count. An MLP without hidden layers uses
  the raw embedding.
- **NeuMF**: the two towers' vectors, each L2-normalised, concatenated and divided by
  ``sqrt(2)``, so that the cosine is the mean of the two towers' cosines.

Users get the same construction on their side (``p``, ``p * h``, ``W_user p``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .foldin import network_parts

__all__ = ["embedding_space"]


def embedding_space(network: nn.Module, side: str) -> Tensor:
    """Unit-norm vectors of every ``side`` ("user" or "item") of ``network``.

    Returns
    -------
    Tensor of shape (n_users or n_items, dim)
        Rows of L2 norm 1 (0 for an all-zero embedding), so that ``space @ space.T`` is the
        cosine similarity.
    """
    if side not in ("user", "item"):
        raise ValueError(f"side must be 'user' or 'item'; got {side!r}.")
    with torch.no_grad():
        blocks = []
        for tower in network_parts(network).towers:
            table = tower.table(side)
            if tower.kind == "dot":
                vectors = table * tower.out
            elif tower.kind == "mlp":
                vectors = table @ tower.weight(side).T
            else:
                vectors = table
            blocks.append(F.normalize(vectors.float(), dim=1))
        return torch.cat(blocks, dim=1) / math.sqrt(len(blocks))
