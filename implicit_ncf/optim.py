"""Row-sparse Adam for embedding tables, and the rule ``optimizer="auto"`` follows.

With dense gradients, every Adam step reads and writes every row of every embedding table (the
gradient, both moments and the weight), so on a catalogue of ML-20M's size the step costs the
tables rather than the batch: NeuMF trains at about a tenth of its ML-1M speed on two CPU cores
(``docs/performance.md``). :class:`LazyAdam` updates only the rows a step's sparse gradient
touches, their moments included, as TensorFlow's LazyAdam and ``torch.optim.SparseAdam`` do, so
its cost follows the batch. It is written with gathers and row writes (``index_select`` /
``index_put_`` on the coalesced gradient's rows) instead of sparse-tensor arithmetic, which made
the whole NeuMF step about 1.35x faster than ``SparseAdam`` on an ML-20M-shaped catalogue and
1.15x on an ML-1M-shaped one on this project's CPU. The rows are unique after coalescing, so the
writes are deterministic on every device.

The update is torch's Adam, row by row: for each row ``r`` in the step's gradient, ``m_r`` and
``v_r`` take the usual exponential averages, and ``w_r -= lr * m_r / (1 - b1^t) /
(sqrt(v_r / (1 - b2^t)) + eps)`` with ``t`` the parameter's step count (shared by its rows, as
in ``SparseAdam``). Rows outside the step keep their weight and moments.

This module imports only torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

__all__ = ["AUTO_DENSE_LIMIT", "LazyAdam", "resolve_optimizer"]

# Embedding parameters (rows x width, all tables) up to which optimizer="auto" keeps dense Adam.
# CPU: measured on two cores with NeuMF's default sizes, dense fused Adam and LazyAdam cost the
# same per step at about 1.3M parameters (ML-1M's 9,746 rows x 128), and dense Adam is 10x
# slower at ML-20M's 21M; above 2M the sparse update wins clearly. CUDA: dense Adam streams the
# tables at memory bandwidth (21M parameters read and written in well under a millisecond), so
# the limit sits much higher; not yet measured on a GPU (bench/gpu.py times both optimizers).
AUTO_DENSE_LIMIT = {"cpu": 1 << 21, "cuda": 1 << 27}


class LazyAdam(torch.optim.Optimizer):
    """Adam that updates only the rows of a sparse gradient (embedding tables).

    Parameters
    ----------
    params : iterable of torch.nn.Parameter or dict
        Parameters whose gradients are sparse (``nn.Embedding(..., sparse=True)``) or absent.
    lr : float, default 1e-3
        Learning rate.
    betas : tuple of float, default (0.9, 0.999)
        Decay rates of the first and second moments.
    eps : float, default 1e-8
        Added to the bias-corrected root of the second moment.

    Raises
    ------
    ValueError
        On a negative learning rate or epsilon, or betas outside [0, 1).
    TypeError
        At ``step`` on a parameter whose gradient is dense (use ``torch.optim.Adam`` for those).

    Examples
    --------
    >>> import torch
    >>> table = torch.nn.Embedding(5, 2, sparse=True)
    >>> opt = LazyAdam(table.parameters(), lr=0.1)
    >>> before = table.weight.detach().clone()
    >>> table(torch.tensor([1, 3])).sum().backward()
    >>> opt.step()
    >>> changed = (table.weight.detach() != before).any(1)
    >>> changed.tolist()
    [False, True, False, True, False]
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        if not lr >= 0.0:
            raise ValueError(f"lr must be at least 0; got {lr!r}.")
        if not eps >= 0.0:
            raise ValueError(f"eps must be at least 0; got {eps!r}.")
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"betas must lie in [0, 1); got {betas!r}.")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        """One update of the rows in each parameter's sparse gradient.

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss (as in ``torch.optim``).

        Returns
        -------
        The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            lr, eps = float(group["lr"]), float(group["eps"])
            for p in group["params"]:
                if p.grad is None:
                    continue
                if not p.grad.is_sparse:
                    raise TypeError(
                        "LazyAdam takes sparse gradients only (nn.Embedding(..., sparse=True)); "
                        f"got a dense gradient of shape {tuple(p.grad.shape)}. Give the dense "
                        "parameters to torch.optim.Adam."
                    )
                grad = p.grad.coalesce()  # unique rows, duplicates summed
                rows, values = grad._indices()[0], grad._values()
                if rows.numel() == 0:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                t = state["step"]
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                m = exp_avg.index_select(0, rows).lerp_(values, 1.0 - beta1)
                v = exp_avg_sq.index_select(0, rows).mul_(beta2)
                v.addcmul_(values, values, value=1.0 - beta2)
                exp_avg.index_put_((rows,), m)
                exp_avg_sq.index_put_((rows,), v)
                denom = v.sqrt_().div_(math.sqrt(1.0 - beta2**t)).add_(eps)
                new = p.index_select(0, rows).addcdiv_(m, denom, value=-lr / (1.0 - beta1**t))
                p.index_put_((rows,), new)
        return loss


def resolve_optimizer(
    optimizer: str,
    embedding_parameters: int,
    device: str,
    *,
    dense_only: str | None = None,
) -> str:
    """The optimizer a fit uses: ``optimizer`` itself unless it is ``"auto"``.

    ``"auto"`` takes ``"lazy_adam"`` when the embedding tables hold more than
    ``AUTO_DENSE_LIMIT[device]`` parameters, where a dense Adam step costs the tables rather than
    the batch, and ``"adam"`` otherwise or when ``dense_only`` names a reason the sparse update
    cannot be used (e.g. the full softmax, which gives every item row a gradient).

    Parameters
    ----------
    optimizer : {"auto", "adam", "lazy_adam"}
        The estimator's parameter.
    embedding_parameters : int
        Rows times width, summed over the network's embedding tables.
    device : str
        ``"cuda"`` or ``"cpu"`` (any other device uses the CPU's limit).
    dense_only : str or None, default None
        Why only dense Adam applies to this fit, or None.

    Returns
    -------
    str
        ``"adam"`` or ``"lazy_adam"``.

    Examples
    --------
    >>> resolve_optimizer("auto", 9_746 * 128, "cpu")  # ML-1M, NeuMF defaults
    'adam'
    >>> resolve_optimizer("auto", 165_237 * 128, "cpu")  # ML-20M
    'lazy_adam'
    >>> resolve_optimizer("auto", 165_237 * 128, "cpu", dense_only="full softmax")
    'adam'
    """
    if optimizer != "auto":
        return optimizer
    if dense_only is not None:
        return "adam"
    limit = AUTO_DENSE_LIMIT["cuda" if device == "cuda" else "cpu"]
    return "lazy_adam" if embedding_parameters > limit else "adam"
