"""Compatibility module: the networks and the training system under their 0.1 import path.

The networks now live in :mod:`implicit_ncf.networks` (plain torch, no Lightning) and the
``LightningModule`` in :mod:`implicit_ncf.training`; ``from implicit_ncf.model import GMF,
NCFModule`` keeps working. Importing this module imports Lightning.
"""

from __future__ import annotations

from .networks import (
    GMF,
    MF,
    MLP,
    NeuMF,
    build_network,
    score_all_batched,
    set_sparse_embeddings,
    split_sparse_parameters,
)
from .training import OPTIMIZERS, NCFModule

__all__ = [
    "GMF",
    "MF",
    "MLP",
    "OPTIMIZERS",
    "NCFModule",
    "NeuMF",
    "build_network",
    "score_all_batched",
    "set_sparse_embeddings",
    "split_sparse_parameters",
]
