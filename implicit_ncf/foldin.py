"""Fold-in: vectors for users (or items) the network was not trained on, the rest frozen.

A fitted NCF network knows only the users and items of its training data. To recommend from a
user's latest clicks without retraining, :func:`fold_in` gives each such user fresh embedding
rows (one per tower: GMF / MF and MLP) and optimises them alone, with every item vector and
layer frozen, on the training objective: the user's interactions are the positives,
``n_negatives`` items the user never interacted with are drawn uniformly per positive at every
step (as training draws them every epoch), the loss is the training loss on the network's
logits (:data:`LOSSES`), and the model's ``weight_decay`` penalises the rows as training does.
Many users are folded in at once, one parameter tensor of shape ``(n_rows, dim)`` per tower;
the objective is a sum over users, and Adam is element-wise, so each user's vector is the same
whoever else is in the batch (given its negatives). The same procedure on the item side
(users frozen) gives new items their vectors (:func:`fold_in` with ``side="item"``), which is
what ``NeuralCF.partial_fit`` uses.

Nothing here writes to the network: :func:`network_parts` takes detached views of its weights,
every call works on tensors it allocated itself, and the randomness is a NumPy generator per
call, so concurrent calls are safe. :func:`score_users` scores the whole catalogue from given
user vectors (the same arithmetic as the networks' ``score_all``), and :func:`grow_network`
copies a network into one with more user or item rows (for ``partial_fit``).

The procedure (:data:`N_STEPS` = 6 full-batch steps of Adam at :data:`LEARNING_RATE` = 0.1,
new rows starting at the mean row of their table, :data:`INIT`; known users and items start
from their current rows) was chosen on validation users carved from the training users of
MovieLens-1M, the cheapest of a grid to reach 95% of a refit's HR@50
(``examples/realtime_ml1m.py``; ``docs/realtime.md``).
torch, NumPy and SciPy only: no Lightning.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, cast

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .data import check_random_state
from .networks import GMF, MF, MLP, NeuMF
from .sampling import NegativeSampler

__all__ = [
    "INIT",
    "LEARNING_RATE",
    "LOSSES",
    "N_STEPS",
    "Folded",
    "FrozenSide",
    "NetworkParts",
    "bce_loss",
    "bpr_loss",
    "current_rows",
    "fold_in",
    "frozen_side",
    "grow_network",
    "network_parts",
    "score_users",
    "solve_ials",
    "stack_init",
    "start_rows",
    "update_network",
    "write_rows",
]

# The fold-in procedure, chosen on validation users of ML-1M (5 folds over the training users;
# docs/realtime.md): the fewest steps of a grid (3, 6, 12, 24, 48 steps; learning rates
# 0.01-0.3; mean or zero start) whose HR@50 reaches 95% of a refit's, then the best there.
N_STEPS = 6
LEARNING_RATE = 0.1
INIT = "mean"
# Positives per optimisation chunk: small chunks keep each step's activations in cache (2**11
# positives took half the CPU time of 2**15 per step for 70k positives of NeuMF on one core).
_MAX_POSITIVES = 1 << 11
# Negatives drawn at once (several steps' worth when a chunk is small).
_DRAWS_PER_BLOCK = 1 << 21
# Elements of one (users x items x width) block when scoring the MLP tower.
_SCORE_BLOCK_ELEMENTS = 1 << 19
# Offsets (rows x other-side indices) per chunk of solve_ials on a network with an MLP tower.
_OFFSET_ELEMENTS = 1 << 22
# Chunks of at most this many rows form each row's Gram matrix by its own product in
# solve_ials (no (positives, dim, dim) outer products: 0.05 ms instead of 0.9 ms for one
# user of 50 items at 128 factors).
_ROWS_BY_MATMUL = 16


# --------------------------------------------------------------------------------------------
# the loss
# --------------------------------------------------------------------------------------------


def bce_loss(logits: Tensor) -> Tensor:
    """Binary cross-entropy on logits, one value per positive (the training loss of NCF).

    Parameters
    ----------
    logits : Tensor of shape (n_positives, 1 + n_negatives)
        Column 0 holds the logit of each positive, the other columns those of the negatives
        drawn for it.

    Returns
    -------
    Tensor of shape (n_positives,)
        The mean binary cross-entropy over each positive and its negatives, so that the mean
        over a user's positives is the mean over all of that user's training examples.
    """
    sign = torch.ones(logits.shape[1], dtype=logits.dtype)
    sign[0] = -1.0
    return F.softplus(logits * sign).mean(1)


def bpr_loss(logits: Tensor) -> Tensor:
    """Bayesian personalised ranking, one value per positive: the mean over its negatives of
    ``-log sigmoid(s_pos - s_neg)`` (the training loss ``loss="bpr"``; ``logits`` as in
    :func:`bce_loss`)."""
    return -F.logsigmoid(logits[:, :1] - logits[:, 1:]).mean(1)


def softmax_loss(logits: Tensor) -> Tensor:
    """Sampled softmax, one value per positive: the cross-entropy of the positive against
    itself and its negatives, ``-log_softmax(logits)[:, 0]`` (the per-row form of the training
    loss ``loss="softmax"``, whose negatives are shared by a step's positives instead; uniform
    negatives need no log-Q correction). ``logits`` as in :func:`bce_loss`."""
    return -torch.log_softmax(logits, dim=1)[:, 0]


LOSSES: dict[str, Callable[[Tensor], Tensor]] = {
    "bce": bce_loss,
    "bpr": bpr_loss,
    "softmax": softmax_loss,
}
"""Fold-in losses by the name of the training loss: ``f(logits) -> loss per positive``, where
``logits[:, 0]`` are the positives and ``logits[:, 1:]`` their negatives. ``loss="ials"``
models are folded in exactly instead (:func:`solve_ials`)."""

SOFTMAX_NEGATIVES = 64
"""Negatives per positive when folding in a model trained with ``loss="softmax"`` (at most its
``n_sampled``): a softmax over a handful of items says little about the rest of the catalogue.
"""


# --------------------------------------------------------------------------------------------
# the network as frozen parts
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tower:
    """One tower of a network, as detached tensors.

    ``kind`` is ``"dot"`` (MF, GMF and NeuMF's GMF tower: ``sum_f out_f p_f q_f``), ``"mlp"``
    (``out . tower(relu(W_user p + W_item q + b))``) or ``"linear"`` (an MLP without hidden
    layers: ``out_user . p + out_item . q``).
    """

    kind: str
    users: Tensor  # (n_users, d)
    items: Tensor  # (n_items, d)
    out: Tensor  # dot: (d,); mlp: (d_last,); linear: (2 d,)
    w_user: Tensor | None = None  # mlp: (h, d)
    w_item: Tensor | None = None  # mlp: (h, d)
    b_first: Tensor | None = None  # mlp: (h,)
    rest: tuple[tuple[Tensor, Tensor], ...] = ()  # mlp: the later (weight, bias) layers

    def weight(self, side: str) -> Tensor:
        """First-layer weight of ``side`` (mlp) or its half of ``out`` (linear)."""
        if self.kind == "mlp":
            w = self.w_user if side == "user" else self.w_item
            assert w is not None
            return w
        half = self.users.shape[1]
        return self.out[:half] if side == "user" else self.out[half:]

    def table(self, side: str) -> Tensor:
        return self.users if side == "user" else self.items


@dataclass(frozen=True)
class NetworkParts:
    """A network's weights as detached tensors: its towers, the item biases and the bias.

    ``logit(u, i) = sum over towers + item_bias[i] + bias`` for every network of
    :mod:`implicit_ncf.networks`. Built by :func:`network_parts`; the tensors share memory with
    the network and are never written to here.
    """

    towers: tuple[_Tower, ...]
    item_bias: Tensor | None  # (n_items,): MF only
    bias: Tensor  # scalar

    @property
    def n_users(self) -> int:
        return int(self.towers[0].users.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.towers[0].items.shape[0])


def _mlp_tower(mlp: MLP, out: Tensor) -> _Tower:
    users, items = mlp.user_embedding.weight.detach(), mlp.item_embedding.weight.detach()
    if not len(mlp.tower):
        return _Tower("linear", users, items, out)
    linears = [cast(nn.Linear, layer) for layer in mlp.tower]
    layers = [(layer.weight.detach(), layer.bias.detach()) for layer in linears]
    first, bias = layers[0]
    half = users.shape[1]
    return _Tower(
        "mlp", users, items, out, first[:, :half], first[:, half:], bias, tuple(layers[1:])
    )


def network_parts(network: nn.Module) -> NetworkParts:
    """The weights of an MF, GMF, MLP or NeuMF network as :class:`NetworkParts`.

    Raises
    ------
    TypeError
        For any other module.
    """
    if isinstance(network, MF):
        users = network.user_embedding.weight.detach()
        items = network.item_embedding.weight.detach()
        ones = torch.ones(users.shape[1], dtype=users.dtype)
        return NetworkParts(
            (_Tower("dot", users, items, ones),),
            network.item_bias.weight.detach()[:, 0],
            network.bias.detach()[0],
        )
    if isinstance(network, GMF):
        tower = _Tower(
            "dot",
            network.user_embedding.weight.detach(),
            network.item_embedding.weight.detach(),
            network.output.weight.detach()[0],
        )
        return NetworkParts((tower,), None, network.output.bias.detach()[0])
    if isinstance(network, MLP):
        out = network.output.weight.detach()[0]
        return NetworkParts((_mlp_tower(network, out),), None, network.output.bias.detach()[0])
    if isinstance(network, NeuMF):
        w = network.output.weight.detach()[0]
        f = network.gmf.n_factors
        gmf = _Tower(
            "dot",
            network.gmf.user_embedding.weight.detach(),
            network.gmf.item_embedding.weight.detach(),
            w[:f],
        )
        return NetworkParts(
            (gmf, _mlp_tower(network.mlp, w[f:])), None, network.output.bias.detach()[0]
        )
    raise TypeError(
        f"fold-in needs an MF, GMF, MLP or NeuMF network of implicit_ncf.networks; got "
        f"{type(network).__name__}."
    )


def _tables(network: nn.Module, side: str) -> list[nn.Embedding]:
    """The embedding tables of ``side`` ("user" or "item"), one per tower, in tower order."""
    towers: list[Any] = [network.gmf, network.mlp] if isinstance(network, NeuMF) else [network]
    return [t.user_embedding if side == "user" else t.item_embedding for t in towers]


# --------------------------------------------------------------------------------------------
# logits of (folded row, other-side index) pairs
# --------------------------------------------------------------------------------------------


class _Other(NamedTuple):
    """The frozen side, precomputed once per call: each tower's per-index term and the bias."""

    terms: tuple[Tensor, ...]  # dot: table * out (n, d); mlp: W q + b (n, h); linear: (n,)
    bias: Tensor  # (n_other,) or a scalar


def _other_side(parts: NetworkParts, side: str) -> _Other:
    other = "item" if side == "user" else "user"
    terms = []
    for t in parts.towers:
        table = t.table(other)
        if t.kind == "dot":
            terms.append(table * t.out)
        elif t.kind == "mlp":
            assert t.b_first is not None
            terms.append(torch.addmm(t.b_first, table, t.weight(other).T))
        else:
            terms.append(table @ t.weight(other))
    bias = parts.bias
    if side == "user" and parts.item_bias is not None:
        bias = parts.item_bias + parts.bias
    return _Other(tuple(terms), bias)


@dataclass(frozen=True)
class FrozenSide:
    """What every fold-in on one side computes from the frozen other side, computed once.

    Built by :func:`frozen_side` and passed to :func:`fold_in` and :func:`score_users` (or
    :func:`solve_ials`), it saves the per-call work that does not depend on the folded rows:
    each tower's per-index terms (``_Other``) and, for the iALS solve, the dot-product
    tower's other-side rows ``z`` (double precision, an MF item's bias column appended) with
    their Gram matrix ``z^T z`` and ``z^T o`` (``o`` the bias offsets). It is valid for the
    weights it was computed from: a caller that keeps one must drop it when the network
    changes (``NeuralCF`` keys its copy on the network's parameter versions).
    """

    side: str
    other: _Other
    z: Tensor | None  # (n_other, dim) double: the dot tower's other side times its ``out``
    gram: Tensor | None  # (dim, dim): z^T z
    z_offset: Tensor | None  # (dim,): z^T offset
    offset: Tensor | None  # (n_other,) double: the bias (and MF's item bias) per index


def frozen_side(parts: NetworkParts, side: str = "user", *, solve: bool = True) -> FrozenSide:
    """The :class:`FrozenSide` of ``parts`` for folding in rows of ``side``.

    ``solve=False`` leaves out the iALS solve's terms (``z``, its Gram matrix), for a
    network folded in by gradient steps (any loss but ``"ials"``); :func:`solve_ials`
    computes them itself when they are missing.

    Raises
    ------
    ValueError
        If ``side`` is not "user" or "item".
    """
    if side not in ("user", "item"):
        raise ValueError(f"side must be 'user' or 'item'; got {side!r}.")
    with torch.no_grad():
        other = _other_side(parts, side)
        kinds = [t.kind for t in parts.towers]
        if not solve or kinds.count("dot") != 1:
            return FrozenSide(side, other, None, None, None, None)
        at = kinds.index("dot")
        n_other = parts.towers[at].table("item" if side == "user" else "user").shape[0]
        z = other.terms[at].double()  # the other side's rows times the tower's out
        offset = parts.bias.double().expand(n_other)
        if side == "user" and parts.item_bias is not None:
            offset = offset + parts.item_bias.double()
        if side == "item" and parts.item_bias is not None:  # an MF item's own bias column
            z = torch.cat([z, torch.ones(n_other, 1, dtype=z.dtype)], 1)
        return FrozenSide(side, other, z, z.T @ z, z.T @ offset, offset)


def _check_frozen(frozen: FrozenSide | None, side: str) -> FrozenSide | None:
    if frozen is None:
        return None
    if not isinstance(frozen, FrozenSide) or frozen.side != side:
        got = frozen.side if isinstance(frozen, FrozenSide) else type(frozen).__name__
        raise ValueError(
            f"frozen must be the FrozenSide of side={side!r} (frozen_side(parts, {side!r})); "
            f"got one for {got!r}."
        )
    return frozen


def _mlp_rest(t: _Tower, h: Tensor) -> Tensor:
    h = h.relu()
    for weight, bias in t.rest:
        h = F.linear(h, weight, bias).relu()
    return h @ t.out


def _pair_logits(
    parts: NetworkParts,
    side: str,
    vectors: list[Tensor],
    row_bias: Tensor | None,
    other: _Other,
    rows: Tensor,
    idx: Tensor,
) -> Tensor:
    """Logits of pairs (folded row ``rows[j]``, other-side index ``idx[j]``).

    Gathers use ``index_select`` (several times faster than advanced indexing on a CPU).
    """
    if other.bias.ndim:
        logits = other.bias.index_select(0, idx)
    else:
        logits = other.bias.expand(len(idx))
    for t, x, term in zip(parts.towers, vectors, other.terms, strict=True):
        gathered = term.index_select(0, idx)
        if t.kind == "dot":
            logits = logits + (x.index_select(0, rows) * gathered).sum(-1)
        elif t.kind == "mlp":
            h = (x @ t.weight(side).T).index_select(0, rows) + gathered
            logits = logits + _mlp_rest(t, h)
        else:
            logits = logits + (x @ t.weight(side)).index_select(0, rows) + gathered
    if row_bias is not None:
        logits = logits + row_bias.index_select(0, rows)
    return logits


# --------------------------------------------------------------------------------------------
# fold-in
# --------------------------------------------------------------------------------------------


class Folded(NamedTuple):
    """Fold-in result: one ``(n_rows, dim)`` tensor per tower, and the rows' item biases (MF
    items only, else None)."""

    vectors: tuple[Tensor, ...]
    bias: Tensor | None


def _initial(
    parts: NetworkParts, side: str, init: str | Folded, n_rows: int
) -> tuple[list[Tensor], Tensor | None]:
    has_bias = side == "item" and parts.item_bias is not None
    if isinstance(init, Folded):
        vectors = [v.detach().clone().float() for v in init.vectors]
        if len(vectors) != len(parts.towers) or any(
            v.shape != (n_rows, t.table(side).shape[1])
            for v, t in zip(vectors, parts.towers, strict=True)
        ):
            raise ValueError(
                "init must hold one (n_rows, dim) tensor per tower of the network; got shapes "
                f"{[tuple(v.shape) for v in vectors]}."
            )
        bias = None
        if has_bias:
            bias = init.bias.detach().clone().float() if init.bias is not None else None
            bias = torch.zeros(n_rows) if bias is None else bias
        return vectors, bias
    if init not in ("mean", "zeros"):
        raise ValueError(f"init must be 'mean', 'zeros' or a Folded; got {init!r}.")
    vectors = []
    for t in parts.towers:
        table = t.table(side)
        row = table.mean(0) if init == "mean" and len(table) else torch.zeros(table.shape[1])
        vectors.append(row.float().expand(n_rows, -1).clone())
    bias = None
    if has_bias:
        assert parts.item_bias is not None
        value = float(parts.item_bias.mean()) if init == "mean" and len(parts.item_bias) else 0.0
        bias = torch.full((n_rows,), value)
    return vectors, bias


def _chunks(rows: np.ndarray, degree: np.ndarray, limit: int) -> Iterator[np.ndarray]:
    """Consecutive groups of ``rows`` holding at most ``limit`` positives (one row at least)."""
    start = 0
    ends = np.cumsum(degree[rows])
    while start < len(rows):
        base = ends[start - 1] if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, base + limit, side="right")))
        yield rows[start:stop]
        start = stop


def fold_in(
    parts: NetworkParts,
    positives: sp.spmatrix,
    *,
    side: str = "user",
    init: str | Folded = INIT,
    n_negatives: int = 4,
    weight_decay: float = 0.0,
    n_steps: int = N_STEPS,
    learning_rate: float = LEARNING_RATE,
    loss: str = "bce",
    unobserved_weight: float = 1.0,
    random_state: Any = None,
    catalogue_penalty: bool = False,
    penalty_offset: float | None = None,
    frozen: FrozenSide | None = None,
) -> Folded:
    """Optimise fresh embedding rows for ``positives``, everything else frozen.

    Parameters
    ----------
    parts : NetworkParts
        The fitted network (:func:`network_parts`).
    positives : scipy.sparse matrix of shape (n_rows, n_other)
        Row ``r`` holds the interactions of the ``r``-th folded user (``side="user"``: columns
        are item indices) or item (``side="item"``: columns are user indices).
    side : {"user", "item"}, default "user"
        Which side is folded in; the other side's vectors stay as they are.
    init : {"mean", "zeros"} or Folded, default INIT
        Starting rows: the mean row of the side's tables, zeros, or given rows (a warm start,
        e.g. a known user's current vectors).
    n_negatives : int, default 4
        Negatives drawn per positive at every step: uniform over the other-side indices the row
        has no interaction with (fresh each step, as training draws them each epoch).
    weight_decay : float, default 0.0
        The model's L2 penalty: ``weight_decay * ||row||^2`` per example, as in training.
    n_steps : int, default N_STEPS
        Full-batch Adam steps.
    learning_rate : float, default LEARNING_RATE
        Adam learning rate.
    loss : str, default "bce"
        The training loss (a key of :data:`LOSSES`).
    unobserved_weight : float, default 1.0
        The model's ``unobserved_weight`` (``loss="ials"`` only: such models are folded in by
        :func:`solve_ials`, exactly: ``n_negatives``, ``n_steps``, ``learning_rate`` and
        ``random_state`` do not apply, ``init`` only to rows without interactions).
    random_state : None, int or numpy.random.Generator, default None
        Seed of the negatives; the result is deterministic for a fixed seed.
    catalogue_penalty : bool, default False
        ``loss="ials"`` only: the model was trained by ``optimizer="als"``, whose penalty also
        grows with the catalogue (see :func:`solve_ials`).
    penalty_offset : float or None, default None
        With ``catalogue_penalty``: the model's ``penalty_offset`` (see :func:`solve_ials`).
    frozen : FrozenSide or None, default None
        ``frozen_side(parts, side)``, when the caller keeps it across calls on unchanged
        weights; computed here when None. The result is the same either way.

    Returns
    -------
    Folded
        One tensor of shape ``(n_rows, dim)`` per tower, and the rows' item biases (MF items).
        Rows without interactions, or whose interactions cover every index of the other side
        (no negative can be drawn), keep their initial values.

    Notes
    -----
    The objective of row ``r`` is the mean loss over its positives and their negatives plus
    ``weight_decay * ||row_r||^2``, the part of the training objective that involves row ``r``;
    the rows are optimised together (their objectives summed), in chunks of at most
    ``2**11`` positives, and do not interact.
    """
    if side not in ("user", "item"):
        raise ValueError(f"side must be 'user' or 'item'; got {side!r}.")
    frozen = _check_frozen(frozen, side)
    if loss not in LOSSES and loss != "ials":
        raise ValueError(
            f"fold-in supports models trained with loss in {sorted([*LOSSES, 'ials'])}; got "
            f"loss={loss!r}. "
            "Refit with one of those losses to fold users in, or refit with the new "
            "interactions included."
        )
    csr = sp.csr_matrix(positives)
    csr.sum_duplicates()
    csr.sort_indices()
    n_other = csr.shape[1]
    expected, other_name = (parts.n_items, "item") if side == "user" else (parts.n_users, "user")
    if n_other != expected:
        raise ValueError(
            f"positives must have {expected} columns (one per {other_name} of the network); "
            f"got {n_other}."
        )
    if loss == "ials":
        return solve_ials(
            parts,
            csr,
            side=side,
            init=init,
            weight_decay=float(weight_decay),
            unobserved_weight=float(unobserved_weight),
            catalogue_penalty=bool(catalogue_penalty),
            penalty_offset=penalty_offset,
            frozen=frozen,
        )
    with torch.inference_mode(False):
        return _fold_in(
            parts,
            csr,
            side=side,
            init=init,
            n_negatives=int(n_negatives),
            weight_decay=float(weight_decay),
            n_steps=int(n_steps),
            learning_rate=float(learning_rate),
            step_loss=LOSSES[loss],
            random_state=random_state,
            other=None if frozen is None else frozen.other,
        )


def _fold_in(
    parts: NetworkParts,
    csr: sp.csr_matrix,
    *,
    side: str,
    init: str | Folded,
    n_negatives: int,
    weight_decay: float,
    n_steps: int,
    learning_rate: float,
    step_loss: Callable[[Tensor], Tensor],
    random_state: Any,
    other: _Other | None = None,
) -> Folded:
    n_rows, n_other = csr.shape
    vectors, bias = _initial(parts, side, init, n_rows)
    degree = np.diff(csr.indptr).astype(np.int64)
    active = np.flatnonzero((degree > 0) & (degree < n_other))
    if not len(active) or n_steps <= 0:
        return Folded(tuple(vectors), bias)
    rng = check_random_state(random_state)
    other = _other_side(parts, side) if other is None else other
    for chunk in _chunks(active, degree, _MAX_POSITIVES):
        index = torch.from_numpy(chunk)
        params = [v[index].clone().requires_grad_(True) for v in vectors]
        row_bias = None if bias is None else bias[index].clone().requires_grad_(True)
        _optimise(
            parts,
            side,
            params,
            row_bias,
            other,
            csr[chunk],
            n_negatives=n_negatives,
            weight_decay=weight_decay,
            n_steps=n_steps,
            learning_rate=learning_rate,
            step_loss=step_loss,
            rng=rng,
        )
        with torch.no_grad():
            for v, p in zip(vectors, params, strict=True):
                v[index] = p
            if bias is not None and row_bias is not None:
                bias[index] = row_bias
    return Folded(tuple(vectors), bias)


def _optimise(
    parts: NetworkParts,
    side: str,
    params: list[Tensor],
    row_bias: Tensor | None,
    other: _Other,
    chunk: sp.csr_matrix,
    *,
    n_negatives: int,
    weight_decay: float,
    n_steps: int,
    learning_rate: float,
    step_loss: Callable[[Tensor], Tensor],
    rng: np.random.Generator,
) -> None:
    """Adam on ``params`` (and ``row_bias``) in place: the rows of one chunk.

    Each step scores a ``(n_positives, 1 + n_negatives)`` matrix of pairs (a positive and its
    fresh negatives per row). Adam is written out (the moments of a few small tensors): the
    ``torch.optim`` step costs more than the rest of a step for one user.
    """
    degree = np.diff(chunk.indptr).astype(np.int64)
    rows_np = np.repeat(np.arange(chunk.shape[0], dtype=np.int64), degree)
    n_pos, width = len(rows_np), 1 + n_negatives
    rows = torch.from_numpy(np.repeat(rows_np, width))
    positives = torch.from_numpy(chunk.indices.astype(np.int64))[:, None]
    weights = torch.from_numpy(1.0 / degree[rows_np]).float()
    sampler = NegativeSampler(chunk)
    per_block = max(1, min(n_steps, _DRAWS_PER_BLOCK // max(1, n_pos * n_negatives)))
    trainable = params + ([row_bias] if row_bias is not None else [])
    first = [torch.zeros_like(p) for p in trainable]
    second = [torch.zeros_like(p) for p in trainable]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    block = torch.empty(0, dtype=torch.int64)
    for step in range(n_steps):
        at = step % per_block
        if at == 0:
            n_draw = n_negatives * min(per_block, n_steps - step)
            block = torch.from_numpy(sampler.sample(rows_np, n_draw, random_state=rng))
        negatives = block[:, at * n_negatives : (at + 1) * n_negatives]
        idx = torch.cat([positives, negatives], 1).reshape(-1)
        with torch.enable_grad():
            logits = _pair_logits(parts, side, params, row_bias, other, rows, idx)
            objective = (step_loss(logits.view(n_pos, width)) * weights).sum()
            grads = torch.autograd.grad(objective, trainable)
        with torch.no_grad():
            t = step + 1
            correction1, correction2 = 1 - beta1**t, 1 - beta2**t
            for j, (p, g, m, v) in enumerate(zip(trainable, grads, first, second, strict=True)):
                if weight_decay > 0 and j < len(params):  # d/dp of weight_decay * ||p||^2
                    g = g.add(p, alpha=2 * weight_decay)
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                denom = (v / correction2).sqrt_().add_(eps)
                p.addcdiv_(m, denom, value=-learning_rate / correction1)


def solve_ials(
    parts: NetworkParts,
    positives: sp.spmatrix,
    *,
    side: str = "user",
    init: str | Folded = INIT,
    weight_decay: float = 0.0,
    unobserved_weight: float = 1.0,
    catalogue_penalty: bool = False,
    penalty_offset: float | None = None,
    frozen: FrozenSide | None = None,
) -> Folded:
    """Fold-in of a ``loss="ials"`` model: each row's exact minimiser over its dot-product
    tower, one ridge solve per row, as ALS updates a row.

    The objective of row ``r`` is the part of the training objective that involves it:
    ``sum_{i in I_r} (s_ri - 1)**2 + unobserved_weight * sum_j s_rj**2 + weight_decay * |I_r| *
    ||row_r||**2`` over its positives ``I_r`` and every index ``j`` of the other side (training
    penalises a row once per positive). With ``s_rj = x_r . z_j + o_rj`` (``z`` the other side's
    rows times GMF's ``h``, ``o`` the offsets; an MF item's bias joins ``x`` with ``z_j``'s
    entry 1, unpenalised), the minimiser solves ``(Z_I^T Z_I + unobserved_weight * Z^T Z +
    weight_decay * |I_r| * D) x_r = Z_I^T (1 - o_rI) - unobserved_weight * Z^T o_r``. Rows
    without interactions keep ``init``; arguments as in :func:`fold_in`.

    For NeuMF the dot-product tower is its GMF tower, solved so; the MLP tower's rows keep
    ``init`` (the mean row for a new user or item, a known one's current row for a warm
    start) and their part of every logit joins the offsets ``o_rj``, so the GMF row is the
    exact minimiser given them.

    With ``catalogue_penalty`` the penalty is ``weight_decay * (|I_r| + unobserved_weight *
    n_other) * ||row_r||**2`` instead, the frequency-scaled one ``optimizer="als"`` trains
    with (:mod:`implicit_ncf.als`), or ``weight_decay * (|I_r| + penalty_offset) *
    ||row_r||**2`` when ``penalty_offset`` is set, as the model was trained with it.

    Raises
    ------
    ValueError
        If the network has no dot-product tower, or more than one.
    """
    kinds = [t.kind for t in parts.towers]
    if kinds.count("dot") != 1:
        raise ValueError(
            "solve_ials folds in networks with one dot-product tower (MF, GMF, NeuMF; "
            f"loss='ials'); got a network with towers {kinds}. A model='mlp' network trained "
            "with loss='ials' cannot be folded in: refit it with the new interactions, or "
            "train model='neumf' (whose GMF tower is solved) or another loss."
        )
    at = kinds.index("dot")
    frozen = _check_frozen(frozen, side)
    if frozen is None or frozen.z is None:
        frozen = frozen_side(parts, side)
    assert frozen.z is not None and frozen.gram is not None
    assert frozen.z_offset is not None and frozen.offset is not None
    csr = sp.csr_matrix(positives)
    csr.sum_duplicates()
    csr.sort_indices()
    n_rows, n_other = csr.shape
    vectors, bias = _initial(parts, side, init, n_rows)
    # z: the other side's rows times GMF's h; an MF item's own bias is solved for with its
    # vector (z's last column, ones)
    z, offset = frozen.z, frozen.offset
    dim = z.shape[1]
    penalty = torch.ones(dim, dtype=z.dtype)
    if bias is not None:
        penalty[-1] = 0.0
    gram = unobserved_weight * frozen.gram
    rhs_all = -unobserved_weight * frozen.z_offset
    other = frozen.other if len(kinds) > 1 else None
    degree = np.diff(csr.indptr).astype(np.int64)
    active = np.flatnonzero(degree > 0)
    limit = _MAX_POSITIVES
    if other is not None:  # each chunk's (rows, n_other) offsets stay within _OFFSET_ELEMENTS
        limit = max(1, min(limit, _OFFSET_ELEMENTS // max(1, n_other)))
    for chunk in _chunks(active, degree, limit):
        part = csr if len(chunk) == n_rows else csr[chunk]  # (every row active: no copy)
        cols = torch.from_numpy(part.indices.astype(np.int64))
        owner = torch.from_numpy(np.repeat(np.arange(len(chunk)), np.diff(part.indptr)))
        index = torch.from_numpy(chunk)
        zi = z.index_select(0, cols)
        if len(chunk) <= _ROWS_BY_MATMUL:  # a few rows (a live request): one product each
            bounds = part.indptr.tolist()
            a = torch.stack([zi[s:e].T @ zi[s:e] for s, e in itertools.pairwise(bounds)])
        else:
            a = torch.zeros(len(chunk), dim, dim, dtype=z.dtype)
            a.index_add_(0, owner, zi[:, :, None] * zi[:, None, :])
        if other is None:
            rhs = rhs_all
            target = 1.0 - offset.index_select(0, cols)
        else:  # the other towers' part of each row's logits, from the rows' starting vectors
            rest = _other_towers(parts, side, [v[index] for v in vectors], other, at).double()
            rest = rest + offset
            rhs = -unobserved_weight * (rest @ z)
            target = 1.0 - rest[owner, cols]
        b = torch.zeros(len(chunk), dim, dtype=z.dtype)
        b.index_add_(0, owner, zi * target[:, None])
        ridge = weight_decay * torch.from_numpy(degree[chunk]).double()
        if catalogue_penalty:
            offset_part = unobserved_weight * n_other if penalty_offset is None else penalty_offset
            ridge = ridge + weight_decay * float(offset_part)
        # (a tiny jitter keeps a zero column of z, e.g. a GMF h entry at 0, solvable)
        a = a + gram + torch.diag_embed(ridge[:, None] * penalty + 1e-10)
        x = torch.linalg.solve(a, b + rhs)
        vectors[at][index] = x[:, : vectors[at].shape[1]].to(vectors[at].dtype)
        if bias is not None:
            bias[index] = x[:, -1].to(bias.dtype)
    return Folded(tuple(vectors), bias)


def _other_towers(
    parts: NetworkParts, side: str, vectors: list[Tensor], other: _Other, skip: int
) -> Tensor:
    """The logits' part from every tower but ``skip``, for rows given by their ``vectors``
    against every index of the other side: shape ``(n_rows, n_other)`` (no bias)."""
    n_rows, n_other = vectors[0].shape[0], int(other.terms[0].shape[0])
    out = torch.zeros(n_rows, n_other)
    for k, (t, x, term) in enumerate(zip(parts.towers, vectors, other.terms, strict=True)):
        if k == skip:
            continue
        if t.kind == "linear":
            out += (x @ t.weight(side))[:, None] + term[None, :]
        elif t.kind == "mlp":
            own = x @ t.weight(side).T
            width = max([term.shape[1], *(w.shape[0] for w, _ in t.rest)])
            block = max(1, _SCORE_BLOCK_ELEMENTS // max(1, n_other * width))
            for s in range(0, n_rows, block):
                out[s : s + block] += _mlp_rest(t, own[s : s + block, None, :] + term[None])
        else:
            out += x @ term.T
    return out


# --------------------------------------------------------------------------------------------
# scoring from vectors, writing rows, growing tables
# --------------------------------------------------------------------------------------------


def score_users(
    parts: NetworkParts, vectors: tuple[Tensor, ...], frozen: FrozenSide | None = None
) -> Tensor:
    """Logits of every item for users given by their vectors: shape ``(n_rows, n_items)``.

    The same arithmetic as the networks' ``score_all`` (the MLP tower's first layer split into
    a user part and an item part), from one ``(n_rows, dim)`` tensor per tower instead of
    embedding rows. ``frozen`` is ``frozen_side(parts, "user")`` when the caller keeps it
    (computed here when None).
    """
    frozen = _check_frozen(frozen, "user")
    with torch.no_grad():
        n_rows = vectors[0].shape[0] if vectors else 0
        other = _other_side(parts, "user") if frozen is None else frozen.other
        out = other.bias.expand(n_rows, parts.n_items).clone() if other.bias.ndim else None
        if out is None:
            out = torch.full((n_rows, parts.n_items), float(other.bias))
        for t, x, term in zip(parts.towers, vectors, other.terms, strict=True):
            if t.kind == "dot":
                out.addmm_(x * t.out, t.items.T)
            elif t.kind == "linear":
                out += (x @ t.weight("user"))[:, None] + term[None, :]
            else:
                user_part = x @ t.weight("user").T
                width = max([term.shape[1], *(w.shape[0] for w, _ in t.rest)])
                block = max(1, _SCORE_BLOCK_ELEMENTS // max(1, parts.n_items * width))
                for s in range(0, n_rows, block):
                    h = user_part[s : s + block, None, :] + term[None, :, :]
                    out[s : s + block] += _mlp_rest(t, h)
        return out


def write_rows(network: nn.Module, side: str, rows: np.ndarray, folded: Folded) -> None:
    """Write folded vectors into rows ``rows`` of ``network``'s ``side`` tables, in place.

    For a network that is not shared yet (``partial_fit`` writes into a grown copy).
    """
    index = torch.from_numpy(np.asarray(rows, dtype=np.int64))
    with torch.no_grad():
        for table, vectors in zip(_tables(network, side), folded.vectors, strict=True):
            table.weight[index] = vectors.to(table.weight.dtype)
        if side == "item" and folded.bias is not None and isinstance(network, MF):
            network.item_bias.weight[index, 0] = folded.bias.to(network.item_bias.weight.dtype)


def grow_network(network: nn.Module, grown: nn.Module) -> nn.Module:
    """Copy ``network``'s weights into ``grown``, a fresh network of the same kind with at
    least as many users and items; returns ``grown``.

    Existing rows keep their values; the new rows are zeros until :func:`write_rows` fills them.
    """
    old, new = network.state_dict(), grown.state_dict()
    with torch.no_grad():
        for name, value in new.items():
            source = old[name]
            if source.shape == value.shape:
                value.copy_(source)
                continue
            if source.ndim != value.ndim or source.shape[1:] != value.shape[1:]:
                raise ValueError(
                    f"cannot grow {name!r} from shape {tuple(source.shape)} to "
                    f"{tuple(value.shape)}: only the number of rows may grow."
                )
            value.zero_()
            value[: source.shape[0]] = source
    grown.load_state_dict(new)
    return grown.eval()


def start_rows(network: nn.Module, side: str, n_rows: int, init: str | None = None) -> Folded:
    """One starting row per ``side`` table (repeated by :func:`stack_init`): the mean of the
    first ``n_rows`` rows (``init="mean"``) or zeros (``"zeros"``); default :data:`INIT`."""
    init = INIT if init is None else init
    if init not in ("mean", "zeros"):
        raise ValueError(f"init must be 'mean' or 'zeros'; got {init!r}.")
    tables = _tables(network, side)
    vectors = tuple(
        table.weight.detach()[:n_rows].mean(0, keepdim=True).float()
        if init == "mean"
        else torch.zeros(1, table.weight.shape[1])
        for table in tables
    )
    bias = None
    if side == "item" and isinstance(network, MF):
        weight = network.item_bias.weight.detach()[:n_rows, 0]
        bias = weight.mean().reshape(1).float() if init == "mean" else torch.zeros(1)
    return Folded(vectors, bias)


def current_rows(network: nn.Module, side: str, rows: np.ndarray) -> Folded:
    """The current vectors of rows ``rows`` of the ``side`` tables (a warm start)."""
    index = torch.from_numpy(np.asarray(rows, dtype=np.int64))
    vectors = tuple(table.weight.detach()[index].float() for table in _tables(network, side))
    bias = None
    if side == "item" and isinstance(network, MF):
        bias = network.item_bias.weight.detach()[index, 0].float()
    return Folded(vectors, bias)


def stack_init(known: Folded, base: np.ndarray, fallback: Folded) -> Folded:
    """Rows ``base[r] >= 0`` from ``known`` (row ``base[r]`` of it), the others ``fallback``.

    ``known`` holds the rows of every non-negative entry of ``base``, in order; ``fallback``
    one row, repeated.
    """
    n = len(base)
    take = np.flatnonzero(base >= 0)
    vectors = []
    for k_vec, f_vec in zip(known.vectors, fallback.vectors, strict=True):
        out = f_vec.expand(n, -1).clone()
        if len(take):
            out[torch.from_numpy(take)] = k_vec
        vectors.append(out)
    bias = None
    if fallback.bias is not None:
        bias = fallback.bias.expand(n).clone()
        if len(take) and known.bias is not None:
            bias[torch.from_numpy(take)] = known.bias
    return Folded(tuple(vectors), bias)


def _restrict_items(parts: NetworkParts, n_items: int) -> NetworkParts:
    """``parts`` seen through its first ``n_items`` items only."""
    towers = tuple(replace(t, items=t.items[:n_items]) for t in parts.towers)
    bias = None if parts.item_bias is None else parts.item_bias[:n_items]
    return NetworkParts(towers, bias, parts.bias)


def update_network(
    network: nn.Module,
    grown: nn.Module,
    seen: sp.csr_matrix,
    added: sp.csr_matrix,
    *,
    n_old_items: int,
    n_old_users: int,
    n_negatives: int,
    weight_decay: float,
    loss: str = "bce",
    unobserved_weight: float = 1.0,
    n_steps: int = N_STEPS,
    learning_rate: float = LEARNING_RATE,
    random_state: Any = None,
    catalogue_penalty: bool = False,
    penalty_offset: float | None = None,
) -> nn.Module:
    """The network of ``partial_fit``: ``network`` copied into ``grown`` (a fresh network of
    ``seen``'s shape), its new and changed users and its new items folded in; returns it.

    ``seen`` holds every interaction, old and new, and ``added`` the pairs new to the model.
    Three passes, each :func:`fold_in` with everything else frozen:

    1. every user with a new pair (new users from :func:`start_rows`, known users from their
       current rows), from their interactions with the items the network already knew;
    2. every new item (from :func:`start_rows`), from all its users, as now represented;
    3. every user with an interaction with a new item, from all their interactions (warm).

    ``network`` is not modified. The shared layers and the vectors of the items the network
    already knew are left as they are.
    """
    net = grow_network(network, grown)
    rng = check_random_state(random_state)
    n_items = seen.shape[1]
    options: dict[str, Any] = {
        "n_negatives": n_negatives,
        "weight_decay": weight_decay,
        "loss": loss,
        "unobserved_weight": unobserved_weight,
        "n_steps": n_steps,
        "learning_rate": learning_rate,
        "random_state": rng,
        "catalogue_penalty": catalogue_penalty,
        "penalty_offset": penalty_offset,
    }
    changed = np.unique(added.nonzero()[0])
    if len(changed):
        old_users = changed[changed < n_old_users]
        init = stack_init(
            current_rows(net, "user", old_users),
            np.where(changed < n_old_users, changed, -1),
            start_rows(net, "user", n_old_users),
        )
        parts = _restrict_items(network_parts(net), n_old_items)
        positives = sp.csr_matrix(seen[changed][:, :n_old_items])
        write_rows(net, "user", changed, fold_in(parts, positives, init=init, **options))
    if n_items > n_old_items:
        new_items = np.arange(n_old_items, n_items)
        by_item = sp.csr_matrix(seen.T)[new_items]
        init = stack_init(
            current_rows(net, "item", new_items[:0]),
            np.full(len(new_items), -1),
            start_rows(net, "item", n_old_items),
        )
        folded = fold_in(network_parts(net), by_item, side="item", init=init, **options)
        write_rows(net, "item", new_items, folded)
        touched = np.unique(sp.csr_matrix(seen[:, n_old_items:]).nonzero()[0])
        if len(touched):
            init = current_rows(net, "user", touched)
            positives = sp.csr_matrix(seen[touched])
            write_rows(
                net, "user", touched, fold_in(network_parts(net), positives, init=init, **options)
            )
    return net.eval()
