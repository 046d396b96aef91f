"""Corrected sampled metrics: full-ranking HR@k and NDCG@k estimated from sampled ranks.

Ranking each test item among ``n`` sampled negatives (the NCF protocol) is cheap, but the sampled
HR@10 answers "is the item in the top ~10% of the catalogue?", not "is it in the top 10?", and it
can order models differently from the full ranking (Krichene & Rendle, 2020).
:func:`corrected_metrics` estimates the full-ranking values from the sampled ranks alone.

The model behind both estimators: a user whose held-out item has full rank ``R`` among
``N`` candidates (the catalogue minus the user's training items and the item itself) and relative
rank ``p = R / N`` has a sampled rank ``r ~ Binomial(n, p)``: each of ``n`` negatives drawn
uniformly from those ``N`` candidates beats the item with probability ``p``. (The negatives are
drawn without replacement, which makes ``r`` hypergeometric; with ``n << N`` the two agree.)
Only numpy and scipy are needed.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ._checks import _check_ks, _check_ranks

__all__ = ["corrected_metrics"]

Method = Literal["smoothed_mle", "bias_variance"]

# smoothed_mle: a grid on the relative rank, log-spaced from _P_MIN_FACTOR / max(N) to 1, and a
# Gaussian random-walk prior of this strength on the log-density from one cell to the next.
_N_CELLS = 60
_P_MIN_FACTOR = 0.1
_SMOOTHING = 100.0
_MAX_NEWTON_STEPS = 200
_CHUNK = 1 << 22  # elements of the (chunk, k, n + 1) incomplete-beta blocks


def _as_counts(values: Any, parameter: str, n_rows: int, minimum: int) -> np.ndarray:
    """An int or a per-user array of ints >= minimum, broadcast to shape (n_rows,)."""
    if isinstance(values, (bool, np.bool_)):
        raise TypeError(f"{parameter} must be an integer or an array of integers; got {values!r}.")
    if isinstance(values, numbers.Integral):
        arr = np.full(n_rows, int(values), dtype=np.int64)
    else:
        arr = np.asarray(values)
        if arr.ndim != 1 or arr.shape[0] != n_rows:
            raise ValueError(
                f"{parameter} must be an integer or a 1-D array with one value per sampled rank "
                f"(shape ({n_rows},)); got shape {arr.shape}."
            )
        if arr.size and (arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer)):
            raise TypeError(f"{parameter} must hold integers; got dtype {arr.dtype}.")
        arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < minimum:
        bad = int(np.flatnonzero(arr < minimum)[0])
        raise ValueError(
            f"{parameter} must be at least {minimum}; got {int(arr[bad])} at position {bad}."
        )
    return arr


def _metric_weights(k: int, kind: str) -> np.ndarray:
    """The metric of each full rank 0 .. k - 1 (HR: 1; NDCG: 1 / log2(rank + 2))."""
    ranks = np.arange(k, dtype=np.float64)
    return np.ones(k) if kind == "hr" else 1.0 / np.log2(ranks + 2.0)


def _rank_integral(x: np.ndarray, k: int, kind: str) -> np.ndarray:
    """``G(x) = integral_0^x g(floor(t)) dt`` with ``g`` the metric of a full rank (0 from k)."""
    g = _metric_weights(k, kind)
    cumulative = np.concatenate(([0.0], np.cumsum(g)))
    x = np.clip(x, 0.0, float(k))
    whole = np.floor(x).astype(np.int64)
    return cumulative[whole] + (x - whole) * np.concatenate((g, [0.0]))[whole]


# ---------------------------------------------------------------------------------------------
# smoothed maximum likelihood over a log-spaced relative-rank grid
# ---------------------------------------------------------------------------------------------


def _cell_likelihood(edges: np.ndarray, r: np.ndarray, n: np.ndarray) -> np.ndarray:
    """P(sampled rank r | relative rank uniform in each cell), shape (len(r), n_cells)."""
    from scipy import special

    a = r[:, None] + 1.0
    b = (n - r)[:, None] + 1.0
    cdf = special.betainc(a, b, edges[None, :])  # integral_0^e Binom(r; n, p) dp * (n + 1)
    return np.diff(cdf, axis=1) / ((n[:, None] + 1.0) * np.diff(edges)[None, :])


def _cell_metric(edges: np.ndarray, n_candidates: np.ndarray, k: int, kind: str) -> np.ndarray:
    """E[metric | relative rank uniform in each cell] for each N, shape (len(N), n_cells).

    The full rank of relative rank ``p`` among ``N`` candidates is ``floor(p (N + 1))``.
    """
    scale = n_candidates[:, None] + 1.0
    upper = _rank_integral(edges[None, 1:] * scale, k, kind)
    lower = _rank_integral(edges[None, :-1] * scale, k, kind)
    return (upper - lower) / (np.diff(edges)[None, :] * scale)


def _fit_cell_masses(likelihood: np.ndarray, counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """MAP cell masses by Newton's method on the log-densities ``psi`` of the cells.

    Minimises ``-sum_c counts_c log(L_c . pi) + smoothing / 2 * |diff(psi)|^2`` where
    ``pi_j = softmax(psi + log(width))_j`` is the mass of cell ``j``. The exact Hessian is used
    where it is positive definite, else the (positive semi-definite) Hessian of the complete-data
    objective; a backtracking line search keeps every step downhill. A few dozen small dense
    solves, no optimiser state: it converges in well under a hundred steps.
    """
    n_cells = edges.size - 1
    log_width = np.log(np.diff(edges))
    steps = np.diff(np.eye(n_cells), axis=0)
    penalty = _SMOOTHING * (steps.T @ steps)
    total = float(counts.sum())
    ridge = 1e-9 * (total + _SMOOTHING) * np.eye(n_cells)  # the softmax ignores a constant shift

    def masses(psi: np.ndarray) -> np.ndarray:
        theta = psi + log_width
        pi = np.exp(theta - theta.max())
        return pi / pi.sum()

    def objective(psi: np.ndarray) -> float:
        return -float(counts @ np.log(likelihood @ masses(psi))) + 0.5 * float(psi @ penalty @ psi)

    psi = np.zeros(n_cells)  # a uniform relative rank: a random scorer
    value = objective(psi)
    for _ in range(_MAX_NEWTON_STEPS):
        pi = masses(psi)
        posterior = likelihood * pi
        posterior /= posterior.sum(axis=1, keepdims=True)
        expected = counts @ posterior  # expected users per cell
        grad = total * pi - expected + penalty @ psi
        complete = total * (np.diag(pi) - np.outer(pi, pi)) + penalty + ridge
        hessian = complete - np.diag(expected) + (posterior.T * counts) @ posterior
        try:
            np.linalg.cholesky(hessian)
            direction = np.linalg.solve(hessian, grad)
        except np.linalg.LinAlgError:
            direction = np.linalg.solve(complete, grad)
        slope = float(grad @ direction)
        t = 1.0
        while True:
            candidate = psi - t * direction
            new_value = objective(candidate)
            if new_value <= value - 1e-4 * t * slope or t < 1e-10:
                break
            t /= 2.0
        converged = value - new_value <= 1e-12 * max(1.0, abs(value))
        if new_value <= value:
            psi, value = candidate, new_value
        if converged:
            break
    return masses(psi)


def _smoothed_mle(
    ranks: np.ndarray, n_negatives: np.ndarray, n_candidates: np.ndarray, ks: list[int]
) -> dict[str, float]:
    p_min = _P_MIN_FACTOR / float(n_candidates.max() + 1)
    edges = np.concatenate(([0.0], np.geomspace(p_min, 1.0, _N_CELLS)))
    pairs, pair_of_user, pair_counts = np.unique(
        np.stack([ranks, n_negatives], axis=1), axis=0, return_inverse=True, return_counts=True
    )
    pair_of_user = pair_of_user.ravel()
    likelihood = _cell_likelihood(edges, pairs[:, 0].astype(np.float64), pairs[:, 1])
    pi = _fit_cell_masses(likelihood, pair_counts.astype(np.float64), edges)
    posterior = likelihood * pi
    posterior /= posterior.sum(axis=1, keepdims=True)  # P(cell | sampled rank), per pair
    sizes, size_of_user = np.unique(n_candidates, return_inverse=True)
    size_of_user = size_of_user.ravel()
    # users grouped by (sampled rank and n, N): each group shares its expected metric
    joint, joint_counts = np.unique(pair_of_user * sizes.size + size_of_user, return_counts=True)
    joint_posterior = posterior[joint // sizes.size]
    out: dict[str, float] = {}
    for kind in ("hr", "ndcg"):
        for k in ks:
            cell_metric = _cell_metric(edges, sizes.astype(np.float64), k, kind)
            values = np.einsum("uj,uj->u", joint_posterior, cell_metric[joint % sizes.size])
            out[f"{kind}@{k}_corrected"] = float(values @ joint_counts / ranks.size)
    return out


# ---------------------------------------------------------------------------------------------
# Krichene & Rendle's bias-variance corrected estimator
# ---------------------------------------------------------------------------------------------


def _bernstein_gram(n: int) -> np.ndarray:
    """``G[r, s] = integral_0^1 Binom(r; n, p) Binom(s; n, p) dp``."""
    from scipy import special

    r = np.arange(n + 1, dtype=np.float64)
    log_choose = special.gammaln(n + 1.0) - special.gammaln(r + 1.0) - special.gammaln(n - r + 1.0)
    total = r[:, None] + r[None, :]
    return np.exp(
        log_choose[:, None]
        + log_choose[None, :]
        + special.betaln(total + 1.0, 2.0 * n - total + 1.0)
    )


def _bias_variance(
    ranks: np.ndarray,
    n_negatives: np.ndarray,
    n_candidates: np.ndarray,
    ks: list[int],
    gamma: float,
) -> dict[str, float]:
    from scipy import special

    sums = {f"{kind}@{k}_corrected": 0.0 for kind in ("hr", "ndcg") for k in ks}
    for n in np.unique(n_negatives):
        n = int(n)
        rows = n_negatives == n
        gram = _bernstein_gram(n)
        # minimise sum_R (E[M~(r) | R] - M(R))^2 + gamma Var[M~(r) | R] over relative ranks
        weights = np.linalg.solve(
            (1.0 - gamma) * gram + gamma / (n + 1.0) * np.eye(n + 1), np.eye(n + 1)
        )
        sizes, size_of_user = np.unique(n_candidates[rows], return_inverse=True)
        size_of_user = size_of_user.ravel()
        user_ranks = ranks[rows]
        r = np.arange(n + 1, dtype=np.float64)
        for k in ks:
            block = max(1, _CHUNK // (k * (n + 1)))
            # I[m, j, r] = (n + 1) * integral_0^{j / (N_m + 1)} Binom(r; n, p) dp, j = 1 .. k
            rhs = {kind: np.empty((sizes.size, n + 1)) for kind in ("hr", "ndcg")}
            for start in range(0, sizes.size, block):
                chunk = sizes[start : start + block].astype(np.float64)
                cut = np.minimum(np.arange(1, k + 1)[None, :] / (chunk[:, None] + 1.0), 1.0)
                cdf = special.betainc(
                    r[None, None, :] + 1.0, n - r[None, None, :] + 1.0, cut[..., None]
                )
                for kind in ("hr", "ndcg"):
                    g = _metric_weights(k, kind)
                    step = g - np.concatenate((g[1:], [0.0]))  # g(j - 1) - g(j), g(k) = 0
                    rhs[kind][start : start + block] = np.einsum("j,mjr->mr", step, cdf) / (n + 1.0)
            for kind in ("hr", "ndcg"):
                table = rhs[kind] @ weights.T  # corrected metric of each sampled rank, per N
                sums[f"{kind}@{k}_corrected"] += float(table[size_of_user, user_ranks].sum())
    return {name: total / ranks.size for name, total in sums.items()}


def corrected_metrics(
    sampled_ranks: Any,
    n_negatives: int | Any,
    n_candidates: int | Any,
    k: int | Sequence[int] = (10,),
    *,
    method: Method = "smoothed_mle",
    gamma: float = 0.01,
) -> dict[str, float]:
    """Estimate full-ranking HR@k and NDCG@k from ranks among sampled negatives.

    Parameters
    ----------
    sampled_ranks : array-like of int of shape (n_users,)
        Each test user's 0-based rank of the held-out item among ``n_negatives`` negatives drawn
        uniformly without replacement from the user's candidates (ties against the item), e.g.
        ``evaluate(candidates, per_user=True)["rank"]`` for 99 sampled negatives.
    n_negatives : int or array-like of int of shape (n_users,)
        Number of sampled negatives of each user (the largest possible sampled rank).
    n_candidates : int or array-like of int of shape (n_users,)
        Number of items the held-out item is ranked against under **full** ranking: the
        catalogue minus the user's training items, minus 1 for the item itself. At least
        ``n_negatives``.
    k : int or sequence of int, default (10,)
        Cut-offs.
    method : {"smoothed_mle", "bias_variance"}, default "smoothed_mle"
        ``"smoothed_mle"`` fits the distribution of relative ranks by maximum likelihood with a
        smoothness prior and averages each user's posterior expected metric;
        ``"bias_variance"`` is Krichene & Rendle's corrected metric with trade-off ``gamma``.
        See Notes.
    gamma : float, default 0.01
        Weight of the variance against the squared bias for ``method="bias_variance"``, in
        ``(0, 1]``; ignored otherwise.

    Returns
    -------
    dict
        ``"hr@{k}_corrected"`` for each ``k``, then ``"ndcg@{k}_corrected"``: estimates of the
        mean full-ranking HR@k and NDCG@k over the users (floats, clipped to ``[0, 1]``).

    Raises
    ------
    ValueError
        If a rank is negative or exceeds its ``n_negatives``, ``n_candidates`` is below
        ``n_negatives``, an array has the wrong length, ``sampled_ranks`` is empty, ``k`` is not
        a positive integer or a sequence of them, ``method`` is unknown or ``gamma`` is not in
        ``(0, 1]``.
    TypeError
        If a rank or count is not an integer.

    See Also
    --------
    evaluate : Sampled ranks from a candidates frame (``per_user=True``, column ``"rank"``).

    Notes
    -----
    **The sampling model.** With relative rank ``p = R / N`` (``R`` the full 0-based rank), the
    sampled rank is taken to be ``Binomial(n, p)``, which approximates the hypergeometric count
    of uniform sampling without replacement when ``n << N``. Negatives sampled non-uniformly
    (by popularity, say) break this model and the correction.

    **What cannot be known.** With 99 negatives the sampled ranks resolve relative ranks down to
    about 1 / 99 of the catalogue, while HR@10 asks about the top ``10 / N`` (0.3% of ML-1M's
    3,700 items): the data say little about how the top percent of the catalogue is split into
    ranks 0, 1, ..., 9, and each estimator fills the gap with an assumption, here that the
    density of relative ranks is smooth (roughly flat) at the very top. Measured
    (docs/evaluation.md): within 14% of the full-ranking values for five models on the NCF
    ML-1M split (``N`` about 3,600, 6,040 users), but up to 30-40% low on ml-latest-small
    (``N`` about 9,600, 610 users): the error grows with ``N / n`` and shrinks with more users.

    **smoothed_mle.** The relative rank is given a piecewise-constant density on 60 cells,
    log-spaced from ``0.1 / max(N)`` to 1 (plus ``[0, 0.1 / max(N))``), so that the few top
    ranks that matter for HR@10 get cells of their own. The likelihood of a sampled rank in a
    cell is the binomial probability averaged over the cell (a difference of regularised
    incomplete beta functions). The cell masses maximise the likelihood of the observed ranks
    plus a Gaussian random-walk prior on the log-density from one cell to the next (strength
    100, chosen on ml-100k and ml-latest-small rank distributions, not on ML-1M), found by
    Newton's method: where the sampled ranks cannot tell cells apart, the density stays flat
    rather than piling up at rank 0, the failure of a plain EM on a uniform grid. Each user's
    estimate is the posterior expected metric given the sampled rank, computed in closed form
    per cell with the user's own ``N``, and the result is their mean. This is the MLE/EM
    approach of Krichene & Rendle (2020) on a non-uniform grid with a smoothness prior.

    **bias_variance.** Krichene & Rendle's (2020) bias-variance corrected metric: a value
    ``M~(r)`` for each sampled rank, chosen to minimise, summed over all full ranks ``R``
    weighted uniformly, ``(E[M~(r) | R] - M(R))^2 + gamma * Var[M~(r) | R]``; the estimate is
    the mean of ``M~`` over users. It is linear in the sampled ranks and needs no fitting, but
    its uniform weighting assumes a flat density of relative ranks, so it is noisier than
    ``smoothed_mle`` and also underestimates when ``N / n`` is large. Relative ranks are
    treated as continuous, which turns the sums over ``R`` into closed-form integrals of
    Bernstein polynomials. Smaller ``gamma`` means less bias and more variance.

    References
    ----------
    W. Krichene and S. Rendle. 2020. On Sampled Metrics for Item Recommendation. In *KDD '20*,
    1748-1757. https://doi.org/10.1145/3394486.3403226

    Examples
    --------
    Full ranks among 3,000 candidates: 30% of the held-out items near the top, the rest spread
    out; each sampled rank counts the 99 negatives that beat the item:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> top = rng.uniform(size=5000) < 0.3
    >>> p = np.where(top, rng.beta(1.0, 300.0, size=5000), rng.beta(1.0, 3.0, size=5000))
    >>> full = np.floor(3000 * p).astype(int)
    >>> sampled = rng.binomial(99, full / 3000)
    >>> round(float(np.mean(full < 10)), 3), round(float(np.mean(sampled < 10)), 3)
    (0.196, 0.488)
    >>> result = corrected_metrics(sampled, 99, 3000, k=10)
    >>> {name: round(value, 3) for name, value in result.items()}
    {'hr@10_corrected': 0.2, 'ndcg@10_corrected': 0.108}
    """
    if method not in ("smoothed_mle", "bias_variance"):
        raise ValueError(
            f"method must be 'smoothed_mle' (smoothed maximum likelihood) or 'bias_variance' "
            f"(Krichene & Rendle's corrected metric); got {method!r}."
        )
    if (
        isinstance(gamma, (bool, np.bool_))
        or not isinstance(gamma, numbers.Real)
        or not 0.0 < float(gamma) <= 1.0
    ):
        raise ValueError(
            f"gamma must be a number in (0, 1] (the weight of variance against bias, e.g. 0.01); "
            f"got {gamma!r}."
        )
    ks = _check_ks(k)
    ranks = _check_ranks(sampled_ranks)
    if ranks.size == 0:
        raise ValueError(
            "sampled_ranks is empty: there are no users to estimate the metrics from; pass one "
            "sampled rank per test user."
        )
    negatives = _as_counts(n_negatives, "n_negatives", ranks.size, 1)
    candidates = _as_counts(n_candidates, "n_candidates", ranks.size, 1)
    if (ranks > negatives).any():
        bad = int(np.flatnonzero(ranks > negatives)[0])
        raise ValueError(
            f"sampled_ranks must not exceed n_negatives (a rank among n negatives is at most n); "
            f"got rank {int(ranks[bad])} with n_negatives {int(negatives[bad])} at position {bad}."
        )
    if (candidates < negatives).any():
        bad = int(np.flatnonzero(candidates < negatives)[0])
        raise ValueError(
            f"n_candidates must be at least n_negatives (the negatives are drawn from the "
            f"candidates); got n_candidates {int(candidates[bad])} with n_negatives "
            f"{int(negatives[bad])} at position {bad}."
        )
    if method == "bias_variance":
        estimates = _bias_variance(ranks, negatives, candidates, ks, float(gamma))
    else:
        estimates = _smoothed_mle(ranks, negatives, candidates, ks)
    # the bias-variance estimator is linear in the ranks and can stray just outside [0, 1]
    return {name: min(max(value, 0.0), 1.0) for name, value in estimates.items()}
