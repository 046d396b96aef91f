"""Alternating least squares on the iALS objective: ``optimizer="als"`` for MF and GMF.

The iALS objective (Hu et al., 2008; in the form of Rendle et al., 2022) of a network with
bilinear logits ``s(u, j) = x_u . y_j + c_j`` (:meth:`~implicit_ncf.networks.MF.factors`)::

    sum_{(u, i) observed} w_ui (s(u, i) - 1)**2
    + unobserved_weight * sum_u sum_j s(u, j)**2
    + weight_decay * (sum_u (n_u + unobserved_weight * n_items) * ||p_u||**2
                      + sum_i (n_i + unobserved_weight * n_users) * ||q_i||**2)

``w_ui`` are the positives' confidence weights (1 without ``weight_col``), ``n_u`` and ``n_i``
the rows' numbers of positives: the frequency-scaled penalty of Rendle et al. (2022), which
also grows with the catalogue term. With ``penalty_offset`` set, a constant ``c`` replaces
both catalogue parts (``unobserved_weight * n_items`` and ``unobserved_weight * n_users``):
the penalty of a row with ``n_r`` positives is ``weight_decay * (n_r + c) * ||row||**2``,
which does not grow with the size of the other side.

With the item side held, each user's row minimises a ridge regression, and the other way
round. An ALS sweep solves every user row, then every item row (an MF item's bias with its
vector, unpenalised), each by conjugate-gradient steps warm-started from the current row,
as implicit's ``AlternatingLeastSquares`` does (:data:`CG_STEPS` of them, where implicit
takes three: eight scored higher than three on validation data and sixteen no higher than
eight, ``docs/results.md`` section 2). A CG step costs
``O(nnz * f + (n_users + n_items) * f**2)``, through two sparse kernels on the positives'
CSR pattern (``torch.sparse.sampled_addmm`` and a CSR-dense product): no sampling, no
learning rate, no (positives x factors) copies; an ML-1M sweep at 128 factors takes about
0.4 s on two CPU cores (0.16 s at three steps).

Only torch, numpy and scipy; the estimator calls :func:`fit_als`.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

__all__ = [
    "CG_STEPS",
    "als_sweep",
    "choose_weight_decay",
    "fit_als",
    "ials_objective",
    "penalty_offsets",
]

# Conjugate-gradient steps per row and sweep (implicit's default is 3; 8 scored higher on
# validation data, 16 no higher than 8: docs/results.md section 2).
CG_STEPS = 8


def penalty_offsets(
    n_users: int, n_items: int, unobserved_weight: float, penalty_offset: float | None
) -> tuple[float, float]:
    """The constant part of the user rows' and the item rows' penalty (each times
    ``weight_decay``): ``unobserved_weight`` times the other side's size, or
    ``penalty_offset`` for both when it is set."""
    if penalty_offset is not None:
        return float(penalty_offset), float(penalty_offset)
    w0 = float(unobserved_weight)
    return w0 * n_items, w0 * n_users


class _Bilinear:
    """The tables of an MF or GMF network in the form ALS solves: user rows ``p``, item rows
    ``q``, the output vector ``h`` (ones for MF), item offsets, the global offset."""

    def __init__(self, network: torch.nn.Module) -> None:
        from .networks import GMF, MF

        if isinstance(network, MF):
            self.h = torch.ones(network.n_factors)
            self.item_bias: Tensor | None = network.item_bias.weight.data[:, 0]
            self.bias = network.bias.data[0]
        elif isinstance(network, GMF):
            self.h = network.output.weight.data[0]
            self.item_bias = None
            self.bias = network.output.bias.data[0]
        else:
            raise TypeError(
                "optimizer='als' trains networks with bilinear logits (model='mf' or 'gmf', and "
                f"NeuMF's GMF tower); got {type(network).__name__}. Use optimizer='adam' or "
                "'auto' for this network."
            )
        self.p = network.user_embedding.weight.data
        self.q = network.item_embedding.weight.data

    def item_offsets(self) -> Tensor:
        """``c_j``: each item's offset in a user's logits."""
        offset = self.bias.expand(self.q.shape[0])
        return offset + self.item_bias if self.item_bias is not None else offset.clone()


def _sampled_dots(pattern: Tensor, v: Tensor, zt: Tensor) -> Tensor:
    """``v_r . z_i`` at every position ``(r, i)`` of the CSR ``pattern``, in its order; a
    gather where the torch build has no ``sampled_addmm`` for the device."""
    try:
        return torch.sparse.sampled_addmm(pattern, v, zt, beta=0.0).values()
    except (RuntimeError, NotImplementedError):
        rows = torch.repeat_interleave(
            torch.arange(pattern.shape[0], device=v.device), pattern.crow_indices().diff()
        )
        return (v.index_select(0, rows) * zt.T.index_select(0, pattern.col_indices())).sum(1)


def _solve_rows(
    csr: sp.csr_matrix,
    rows: Tensor,
    z: Tensor,
    offsets: Tensor,
    *,
    unobserved_weight: float,
    ridge: Tensor,
    unpenalised: int,
    steps: int,
) -> None:
    """CG steps on every row ``r`` of ``rows`` (in place) for ``(w0 Z^T Z + Z_I^T W_I Z_I +
    ridge_r D) x_r = Z_I^T W_I (1 - o_I) - w0 Z^T o``; ``D`` is the identity but for the last
    ``unpenalised`` coordinates. ``csr`` holds each row's positives with their weights.

    Every row is stepped at once through two sparse kernels on ``csr``'s pattern: the
    sampled product ``v_r . z_i`` at each positive, and the sparse-dense product
    ``sum_{i in I_r} c_ri z_i``; neither gathers a (positives x factors) copy of ``z``.
    """
    w0 = float(unobserved_weight)
    gram = w0 * (z.T @ z)
    shared = w0 * (z.T @ offsets)
    mask = torch.ones(z.shape[1], dtype=z.dtype)
    if unpenalised:
        mask[-unpenalised:] = 0.0
    csr = csr if csr.has_sorted_indices else csr.sorted_indices()
    indptr = torch.from_numpy(csr.indptr.astype(np.int64))
    cols = torch.from_numpy(csr.indices.astype(np.int64))
    weight = torch.from_numpy(csr.data.astype(np.float32)).to(z.dtype)
    shape = csr.shape
    reg = ridge[:, None] * mask
    zt = z.T
    with warnings.catch_warnings():  # torch flags its sparse CSR support as beta
        warnings.simplefilter("ignore", UserWarning)
        pattern = torch.sparse_csr_tensor(indptr, cols, weight, size=shape)

        def spmm(values: Tensor) -> Tensor:
            """``sum_{i in I_r} values_ri z_i`` for every row ``r``."""
            return torch.sparse_csr_tensor(indptr, cols, values, size=shape) @ z

        def apply(v: Tensor) -> Tensor:
            return v @ gram + spmm(weight * _sampled_dots(pattern, v, zt)) + reg * v

        b = spmm(weight * (1.0 - offsets.index_select(0, cols))) - shared
        x = rows.clone()
        r = b - apply(x)
        p = r.clone()
        rs = (r * r).sum(1)
        for _ in range(steps):
            ap = apply(p)
            alpha = rs / (p * ap).sum(1).clamp_min(1e-20)
            x += alpha[:, None] * p
            r -= alpha[:, None] * ap
            rs_new = (r * r).sum(1)
            p = r + (rs_new / rs.clamp_min(1e-20))[:, None] * p
            rs = rs_new
    rows.copy_(x)


def als_sweep(
    network: torch.nn.Module,
    positives: sp.csr_matrix,
    *,
    weight_decay: float,
    unobserved_weight: float,
    penalty_offset: float | None = None,
    steps: int | None = None,
) -> None:
    """One ALS sweep of ``network`` (MF or GMF) on the iALS objective, in place: every user
    row, then every item row (see the module docstring).

    ``positives`` (n_users x n_items) holds the positives, its values their confidence
    weights (ones without ``weight_col``); ``penalty_offset`` as in the module docstring.
    ``steps``: CG steps per row, :data:`CG_STEPS` (read at call time) when None.
    """
    steps = CG_STEPS if steps is None else int(steps)
    t = _Bilinear(network)
    csr = sp.csr_matrix(positives, dtype=np.float32)
    csr.sum_duplicates()
    csr.sort_indices()
    by_item = csr.T.tocsr()
    n_users, n_items = csr.shape
    w0 = float(unobserved_weight)
    user_offset, item_offset = penalty_offsets(n_users, n_items, w0, penalty_offset)
    with torch.no_grad():
        user_degree = torch.from_numpy(np.diff(csr.indptr).astype(np.float32))
        item_degree = torch.from_numpy(np.diff(by_item.indptr).astype(np.float32))
        # users: s(u, j) = p_u . (h * q_j) + c_j
        _solve_rows(
            csr,
            t.p,
            t.q * t.h,
            t.item_offsets(),
            unobserved_weight=w0,
            ridge=weight_decay * (user_degree + user_offset),
            unpenalised=0,
            steps=steps,
        )
        # items: s(u, j) = q_j . (h * p_u) [+ b_j] + b
        z = t.p * t.h
        item_ridge = weight_decay * (item_degree + item_offset)
        offsets = t.bias.expand(n_users).clone()
        if t.item_bias is None:
            _solve_rows(
                by_item,
                t.q,
                z,
                offsets,
                unobserved_weight=w0,
                ridge=item_ridge,
                unpenalised=0,
                steps=steps,
            )
        else:
            z = torch.cat([z, torch.ones(n_users, 1, dtype=z.dtype)], 1)
            rows = torch.cat([t.q, t.item_bias[:, None]], 1)
            _solve_rows(
                by_item,
                rows,
                z,
                offsets,
                unobserved_weight=w0,
                ridge=item_ridge,
                unpenalised=1,
                steps=steps,
            )
            t.q.copy_(rows[:, :-1])
            t.item_bias.copy_(rows[:, -1])


def ials_objective(
    network: torch.nn.Module,
    positives: sp.csr_matrix,
    *,
    weight_decay: float,
    unobserved_weight: float,
    penalty_offset: float | None = None,
) -> float:
    """The iALS objective of the module docstring divided by the number of positives: what
    the history records as an ALS epoch's ``loss``."""
    t = _Bilinear(network)
    csr = sp.csr_matrix(positives, dtype=np.float32)
    csr.sum_duplicates()
    csr.sort_indices()
    indptr = torch.from_numpy(csr.indptr.astype(np.int64))
    items = torch.from_numpy(csr.indices.astype(np.int64))
    weight = torch.from_numpy(csr.data)
    n_users, n_items = csr.shape
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's sparse CSR support is beta
        y, c = t.q, t.item_offsets()
        x = t.p * t.h
        pattern = torch.sparse_csr_tensor(indptr, items, weight, size=csr.shape)
        s = _sampled_dots(pattern, x, y.T) + c.index_select(0, items)
        observed = float((weight * (s - 1) ** 2).sum())
        gram = y.T @ y
        catalogue = float(((x @ gram) * x).sum() + 2 * (x @ (y.T @ c)).sum() + len(x) * c @ c)
        user_degree = indptr.diff().to(torch.float32)
        item_degree = torch.from_numpy(np.bincount(csr.indices, minlength=n_items))
        w0 = float(unobserved_weight)
        user_offset, item_offset = penalty_offsets(n_users, n_items, w0, penalty_offset)
        penalty = float(
            ((user_degree + user_offset) * (t.p**2).sum(1)).sum()
            + ((item_degree.to(torch.float32) + item_offset) * (t.q**2).sum(1)).sum()
        )
    total = observed + w0 * catalogue + float(weight_decay) * penalty
    return total / max(1, csr.nnz)


def _validate(network: torch.nn.Module, users: Tensor, candidates: Tensor, k: int) -> dict:
    """HR@k and NDCG@k of each validation target (column 0 of ``candidates``, ``-1`` padding)
    among its candidates: what ``NCFModule.validation_step`` logs."""
    ranks = []
    with torch.no_grad():
        for start in range(0, len(users), 1024):  # the validation loader's batch of users
            u, c = users[start : start + 1024], candidates[start : start + 1024]
            valid = c >= 0
            scores = torch.full(c.shape, -torch.inf)
            scores[valid] = network(u[:, None].expand_as(c)[valid], c[valid])
            ranks.append((scores[:, 1:] >= scores[:, :1]).sum(1))
    rank = torch.cat(ranks)
    hit = (rank < k).float()
    ndcg = hit / torch.log2(rank.float() + 2.0)
    return {f"val_hr@{k}": float(hit.mean()), f"val_ndcg@{k}": float(ndcg.mean())}


def fit_als(
    network: torch.nn.Module,
    positives: sp.csr_matrix,
    *,
    n_epochs: int,
    weight_decay: float,
    unobserved_weight: float,
    penalty_offset: float | None = None,
    validation: tuple[Tensor, Tensor] | None = None,
    patience: int | None = None,
    verbose: bool = False,
    stage: str = "",
    validate: Callable[[torch.nn.Module], dict[str, float]] | None = None,
) -> tuple[list[dict[str, float]], int | None]:
    """Train ``network`` (MF or GMF) in place by ``n_epochs`` ALS sweeps (:func:`als_sweep`;
    ``weight_decay``, ``unobserved_weight`` and ``penalty_offset`` as there).

    Returns the per-epoch history (``epoch``, ``time``, ``loss`` (:func:`ials_objective`) and,
    with ``validation`` (``(users, candidates)`` of ``batches.validation_tensors``),
    ``val_hr@10`` and ``val_ndcg@10``, or what ``validate(network)`` returns, keys of the
    same names) and the best epoch by ``val_ndcg@10`` (None without validation). With
    validation the network ends with its best epoch's weights; with ``patience`` it stops
    after that many epochs without improvement.
    """
    import sys
    import time

    history: list[dict[str, float]] = []
    best, best_epoch, best_state, waited = -float("inf"), None, None, 0
    start = time.perf_counter()
    for epoch in range(int(n_epochs)):
        options: dict[str, Any] = {
            "weight_decay": weight_decay,
            "unobserved_weight": unobserved_weight,
            "penalty_offset": penalty_offset,
        }
        als_sweep(network, positives, **options)
        row: dict[str, float] = {"epoch": epoch, "time": time.perf_counter() - start}
        row["loss"] = ials_objective(network, positives, **options)
        if validate is not None:
            row.update(validate(network))
        elif validation is not None:
            row.update(_validate(network, *validation, k=10))
        history.append(row)
        if verbose:
            text = "  ".join(f"{k}={v:.4f}" for k, v in row.items() if k not in ("epoch", "time"))
            sys.stdout.write(f"{stage:<5} epoch {epoch:>3}  {text}  ({row['time']:.1f}s)\n")
            sys.stdout.flush()
        if validation is not None or validate is not None:
            if row["val_ndcg@10"] > best:
                best, best_epoch, waited = row["val_ndcg@10"], epoch, 0
                best_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
            else:
                waited += 1
                if patience is not None and waited >= patience:
                    break
    if best_state is not None:
        network.load_state_dict(best_state)
    return history, best_epoch


def _full_ranking(
    network: torch.nn.Module, seen: sp.csr_matrix, users: np.ndarray, targets: np.ndarray
) -> dict[str, float]:
    """Full-ranking HR@10 / NDCG@10 (keys ``val_hr@10``, ``val_ndcg@10``) of each user's
    target among every item outside ``seen``'s row; ties count against the target."""
    t = _Bilinear(network)
    with torch.no_grad():
        z, c = t.q * t.h, t.item_offsets()
        ranks = []
        for start in range(0, len(users), 1024):
            u = users[start : start + 1024]
            scores = t.p[torch.from_numpy(u)] @ z.T + c
            rows = seen[u]
            owner = np.repeat(np.arange(len(u)), np.diff(rows.indptr))
            scores[
                torch.from_numpy(owner), torch.from_numpy(rows.indices.astype(np.int64))
            ] = -torch.inf
            target = scores[torch.arange(len(u)), torch.from_numpy(targets[start : start + 1024])]
            ranks.append((scores >= target[:, None]).sum(1) - 1)
        rank = torch.cat(ranks).double()
    hit = (rank < 10).double()
    return {
        "val_hr@10": float(hit.mean()),
        "val_ndcg@10": float((hit / torch.log2(rank + 2.0)).mean()),
    }


def choose_weight_decay(
    network: torch.nn.Module,
    positives: sp.csr_matrix,
    candidates: Sequence[float],
    *,
    n_epochs: int,
    unobserved_weight: float,
    penalty_offset: float | None = None,
    random_state: int | None = None,
) -> tuple[float, list[dict[str, float]]]:
    """The ALS ``weight_decay`` among ``candidates`` whose fit scores the best full-ranking
    NDCG@10 on a validation item per user carved from ``positives``.

    One positive of every user with at least two is held out at random (``random_state``);
    from ``network``'s current weights (left unchanged), each candidate is fitted by
    ``n_epochs`` sweeps on the rest (:func:`fit_als`), scored after every sweep by the rank
    of each held-out item among every item outside the user's remaining positives, and
    keeps its best sweep. Returns the chosen value (the first of equal scores) and one row
    per candidate (``weight_decay``, ``best_epoch``, ``val_hr@10``, ``val_ndcg@10``); when no
    user has two positives, the first candidate and no rows.
    """
    csr = sp.csr_matrix(positives, dtype=np.float32)
    csr.sum_duplicates()
    csr.sort_indices()
    degree = np.diff(csr.indptr)
    users = np.flatnonzero(degree >= 2)
    if not len(users):  # nothing to hold out: the first candidate, unscored
        return float(candidates[0]), []
    rng = np.random.default_rng(random_state)
    pick = csr.indptr[users] + rng.integers(0, degree[users])
    targets = csr.indices[pick].astype(np.int64)
    keep = np.ones(csr.nnz, dtype=bool)
    keep[pick] = False
    owner = np.repeat(np.arange(csr.shape[0]), degree)
    inner = sp.csr_matrix((csr.data[keep], (owner[keep], csr.indices[keep])), shape=csr.shape)
    rows: list[dict[str, float]] = []
    for weight_decay in candidates:
        trial = copy.deepcopy(network)
        history, best_epoch = fit_als(
            trial,
            inner,
            n_epochs=n_epochs,
            weight_decay=float(weight_decay),
            unobserved_weight=unobserved_weight,
            penalty_offset=penalty_offset,
            validate=lambda net: _full_ranking(net, inner, users, targets),
        )
        best = history[int(best_epoch or 0)]
        rows.append(
            {
                "weight_decay": float(weight_decay),
                "best_epoch": float(best_epoch or 0),
                "val_hr@10": best["val_hr@10"],
                "val_ndcg@10": best["val_ndcg@10"],
            }
        )
    chosen = max(range(len(rows)), key=lambda r: (rows[r]["val_ndcg@10"], -r))
    return rows[chosen]["weight_decay"], rows
