"""Training losses of the NCF networks: pointwise, pairwise and listwise (torch only).

Each loss takes a network of :mod:`implicit_ncf.networks` and one optimizer step's examples in
index space, and returns the mean loss over the step's positives (or examples, for ``"bce"``):

``"bce"``
    Binary cross-entropy on logits over positives (label 1) and sampled unobserved items
    (label 0), the NCF paper's loss (He et al., 2017).
``"bpr"``
    Bayesian personalised ranking: ``-log sigmoid(s(u, i) - s(u, j))`` for each positive ``i``
    and each of its sampled unobserved items ``j`` (Rendle et al., UAI 2009).
``"softmax"``
    Cross-entropy of the positive against a set of items: every item of the catalogue (full
    softmax), or items drawn uniformly from the catalogue and shared by the step's positives
    (sampled softmax; uniform sampling needs no log-Q correction, since it shifts every logit by
    the same constant). A positive drawn among its own negatives is masked out. The listwise
    loss targets the ranking itself, which is what top-k metrics measure.
``"ials"``
    The implicit-ALS objective (Hu, Koren and Volinsky, 2008; Rendle et al., 2022) by gradient
    steps: the squared error ``(s(u, i) - 1) ** 2`` of each positive, plus ``alpha0 * s(u, j) **
    2`` for *every* item ``j`` of the catalogue, with no sampling. For a network whose logits
    are bilinear, ``s(u, j) = x_u . y_j + c_j`` (MF, GMF), the sum over the catalogue is
    ``x_u^T (Y^T Y) x_u + 2 x_u . (Y^T c) + c . c``: one ``(f, f)`` Gramian per step, so a step
    costs ``O(n_items * f**2)`` whatever the batch size. Each positive carries ``1 / n_u`` of its
    user's catalogue term (``n_u``: the user's positives), so an epoch weighs every user's
    unobserved items once. NeuMF gets its GMF tower's part of the sum exactly and the rest
    (what the MLP tower adds to the squared logits) estimated from items sampled uniformly per
    positive; the MLP, which has no bilinear part, gets the whole sum estimated that way.

References
----------
S. Rendle, C. Freudenthaler, Z. Gantner and L. Schmidt-Thieme. BPR: Bayesian Personalized
Ranking from Implicit Feedback. UAI 2009.
S. Jean, K. Cho, R. Memisevic and Y. Bengio. On Using Very Large Target Vocabulary for Neural
Machine Translation. ACL 2015 (sampled softmax).
Y. Hu, Y. Koren and C. Volinsky. Collaborative Filtering for Implicit Feedback Datasets. ICDM
2008 (iALS).
S. Rendle, W. Krichene, L. Zhang and Y. Koren. Revisiting the Performance of iALS on Item
Recommendation Benchmarks. RecSys 2022.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["LOSSES", "bce_loss", "bpr_loss", "ials_loss", "softmax_loss"]


def _weighted_mean(values: Tensor, weights: Tensor | None) -> Tensor:
    return values.mean() if weights is None else (values * weights).mean()


def bce_loss(
    network: nn.Module,
    users: Tensor,
    items: Tensor,
    labels: Tensor,
    weights: Tensor | None = None,
    *,
    logits: Tensor | None = None,
) -> Tensor:
    """Mean binary cross-entropy of ``network(users, items)`` against 0/1 ``labels``.

    Weighted (``weights`` given, the labels of a weighted batch): a positive's label is its
    weight (> 0) and weighs its term; negatives (label 0) weigh 1.

    ``logits``, when given, is ``network(users, items)`` already computed: the training step
    computes it together with the embedding rows its L2 penalty reads
    (:meth:`implicit_ncf.networks.MF.forward_rows`), so that each row is looked up once.
    """
    if logits is None:
        logits = network(users, items)
    if weights is None:
        return F.binary_cross_entropy_with_logits(logits, labels)
    positive = labels > 0
    return F.binary_cross_entropy_with_logits(
        logits, positive.to(logits.dtype), weight=torch.where(positive, labels, 1.0)
    )


def bpr_loss(
    network: nn.Module,
    users: Tensor,
    items: Tensor,
    negatives: Tensor,
    weights: Tensor | None = None,
    *,
    logits: Tensor | None = None,
) -> Tensor:
    """Mean ``-log sigmoid(s(u, i) - s(u, j))`` over positives and their negatives.

    ``negatives`` has shape ``(len(users), n_negatives)``: sampled items each user never
    interacted with. ``weights`` (one per positive) weigh each positive's pairs. ``logits``,
    when given, is ``network(users, items)`` already computed (see :func:`bce_loss`).
    """
    positive = network(users, items) if logits is None else logits
    n = negatives.shape[1]
    negative = network(users.repeat_interleave(n), negatives.reshape(-1)).view(-1, n)
    terms = -F.logsigmoid(positive[:, None] - negative).mean(dim=1)
    return _weighted_mean(terms, weights)


def softmax_loss(
    network: nn.Module,
    users: Tensor,
    items: Tensor,
    negatives: Tensor,
    weights: Tensor | None = None,
    *,
    logits: Tensor | None = None,
) -> Tensor:
    """Mean cross-entropy of each positive against ``negatives`` (1-D, shared), or against the
    whole catalogue when ``negatives`` is empty.

    Sampled: the logits are ``[s(u, i), s(u, j_1), ..., s(u, j_S)]`` with the positive first; a
    ``j`` equal to the user's positive ``i`` is masked (it would count the positive as its own
    negative). Full: ``network.score_all(users)`` with the positive's index as the target.
    ``weights`` (one per positive) weigh each positive's term. ``logits``, when given, is
    ``network(users, items)`` already computed (see :func:`bce_loss`); the full softmax does
    not read it.
    """
    if negatives.numel() == 0:
        return _weighted_mean(
            F.cross_entropy(network.score_all(users), items, reduction="none"), weights
        )
    positive = network(users, items) if logits is None else logits
    negative = network.score_candidates(users, negatives)
    negative = negative.masked_fill(negatives[None, :] == items[:, None], -torch.inf)
    scores = torch.cat([positive[:, None], negative], dim=1)
    target = torch.zeros(len(users), dtype=torch.long, device=users.device)
    return _weighted_mean(F.cross_entropy(scores, target, reduction="none"), weights)


def ials_loss(
    network: nn.Module,
    users: Tensor,
    items: Tensor,
    unobserved: Tensor,
    weights: Tensor | None = None,
    n_sampled: int = 8,
    *,
    logits: Tensor | None = None,
) -> Tensor:
    """Mean over positives of ``(s(u, i) - 1) ** 2 + unobserved * sum_j s(u, j) ** 2``.

    ``unobserved`` (one per positive) is the weight of the user's catalogue term carried by
    that positive: ``alpha0 / n_u`` in training, so that the positives of a user carry its
    catalogue once per epoch. ``weights`` (one per positive) weigh the positives' squared
    errors: iALS's confidence. ``logits``, when given, is ``network(users, items)`` already
    computed (see :func:`bce_loss`).

    The sum over every item ``j`` (the positives included, as in iALS):

    - a network with ``factors(users)`` (MF, GMF: ``(x, y, c)`` with ``score_all(users) ==
      x @ y.T + c``) gives it exactly, through the Gramian ``y.T @ y``;
    - a network with ``bilinear_part(users)`` (NeuMF: its GMF tower, ``s = x . y_j + c_j +
      r(u, j)``) gives the bilinear part's ``sum_j (x . y_j + c_j) ** 2`` exactly, and the
      rest, ``sum_j (s(u, j) ** 2 - (x . y_j + c_j) ** 2)``, is estimated from ``n_sampled``
      items drawn uniformly from the catalogue per positive (``n_items / n_sampled`` times
      their sum: unbiased);
    - any other network (MLP) gets the whole sum estimated that way.
    """
    positive = network(users, items) if logits is None else logits
    observed = (positive - 1).pow(2)
    if weights is not None:
        observed = observed * weights
    if hasattr(network, "factors"):
        catalogue = _bilinear_catalogue(*network.factors(users))
        return (observed + unobserved * catalogue).mean()
    n_items = int(network.n_items)
    sampled = torch.randint(0, n_items, (len(users), n_sampled), device=users.device)
    scores = network(users.repeat_interleave(n_sampled), sampled.reshape(-1)).view(-1, n_sampled)
    if hasattr(network, "bilinear_part"):
        x, y, c = network.bilinear_part(users)
        exact = _bilinear_catalogue(x, y, c)
        # index_select, not y[sampled]: the backward of advanced indexing accumulates by
        # atomic adds on CPU threads, which made fits with random_state unrepeatable
        flat = sampled.reshape(-1)
        picked = y.index_select(0, flat).view(*sampled.shape, -1)
        part = torch.einsum("bf,bkf->bk", x, picked) + c.index_select(0, flat).view_as(sampled)
        rest = scores.pow(2) - part.pow(2)
    else:
        exact, rest = torch.zeros_like(observed), scores.pow(2)
    catalogue = exact + rest.sum(1) * (n_items / n_sampled)
    return (observed + unobserved * catalogue).mean()


def _bilinear_catalogue(x: Tensor, y: Tensor, c: Tensor) -> Tensor:
    """``sum_j (x_b . y_j + c_j) ** 2`` for every row ``b`` of ``x``, through ``y.T @ y``."""
    return (x @ (y.T @ y) * x).sum(1) + 2 * (x @ (y.T @ c)) + c.dot(c)


LOSSES: dict[str, Callable[..., Tensor]] = {
    "bce": bce_loss,
    "bpr": bpr_loss,
    "softmax": softmax_loss,
    "ials": ials_loss,
}
