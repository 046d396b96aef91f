"""Neural Collaborative Filtering networks: plain ``nn.Module`` subclasses, no Lightning.

The networks (:class:`MF`, :class:`GMF`, :class:`MLP`, :class:`NeuMF`) map (user index, item
index) pairs to logits, after He et al., *Neural Collaborative Filtering*, WWW 2017. Each also
scores whole item catalogues for a block of users without building every (user, item) pair
(:meth:`score_all`), which is what makes ``recommend`` fast. The training system that fits them is
:class:`implicit_ncf.training.NCFModule`.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

__all__ = [
    "GMF",
    "GMF_OUTPUTS",
    "MF",
    "MLP",
    "NeuMF",
    "blend_with_start",
    "build_network",
    "score_all_batched",
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
# GMF's output vector h: trained ("learned", the NCF paper's) or held at ones ("fixed").
GMF_OUTPUTS = ("fixed", "learned")


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
        return self.forward_rows(users, items)[0]

    def forward_rows(self, users: Tensor, items: Tensor) -> tuple[Tensor, list[Tensor]]:
        """``forward``'s logits and the embedding rows they were computed from (those of
        :meth:`embeddings`), from one lookup each: the training step's L2 penalty reads the
        rows without looking them up a second time."""
        p, q = self.user_embedding(users), self.item_embedding(items)
        return (p * q).sum(-1) + self.item_bias(items).squeeze(-1) + self.bias, [p, q]

    def score_all(self, users: Tensor) -> Tensor:
        """Logits of every item for each user in ``users``: shape (len(users), n_items)."""
        p = self.user_embedding(users)
        return torch.addmm(
            (self.item_bias.weight.squeeze(-1) + self.bias).unsqueeze(0),
            p,
            self.item_embedding.weight.T,
        )

    def factors(self, users: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(x, y, c)`` with ``score_all(users) == x @ y.T + c``: the user rows, every item row
        and every item's offset (its bias plus the global one); the bilinear form the
        ``loss="ials"`` Gramian needs."""
        return (
            self.user_embedding(users),
            self.item_embedding.weight,
            self.item_bias.weight.squeeze(-1) + self.bias,
        )

    def score_candidates(self, users: Tensor, items: Tensor) -> Tensor:
        """Logits of every (user, item) in ``users x items``: shape (len(users), len(items)).

        The same logits as ``forward`` on every pair, as one matrix product (differentiable:
        the sampled-softmax loss scores each user against shared negatives with it).
        """
        p, q = self.user_embedding(users), self.item_embedding(items)
        return torch.addmm((self.item_bias(items).squeeze(-1) + self.bias).unsqueeze(0), p, q.T)


class GMF(nn.Module):
    """Generalised Matrix Factorisation: ``h^T (p_u * q_i) + b``.

    ``output="learned"`` trains ``h``, as the NCF paper does. ``output="fixed"`` holds ``h`` at
    ones (``output.weight`` gets no gradient; the bias ``b`` is still learned): ``h`` adds
    nothing a model can express, since ``diag(h)`` folds into ``p_u``, but a learned ``h`` lets
    training escape the L2 penalty on ``p`` and ``q``. Scaling ``h`` up by ``c**2`` and both
    embeddings down by ``c`` keeps every logit and shrinks the penalty by ``c**2`` (Rendle et
    al., RecSys 2020). With ``h`` fixed, the penalty bites.
    """

    def __init__(
        self, n_users: int, n_items: int, n_factors: int = 32, output: str = "learned"
    ) -> None:
        if output not in GMF_OUTPUTS:
            raise ValueError(f"output must be one of {list(GMF_OUTPUTS)}; got {output!r}.")
        super().__init__()
        self.n_users, self.n_items, self.n_factors = n_users, n_items, n_factors
        self.user_embedding = nn.Embedding(n_users, n_factors)
        self.item_embedding = nn.Embedding(n_items, n_factors)
        self.output = nn.Linear(n_factors, 1)
        _init_embedding(self.user_embedding)
        _init_embedding(self.item_embedding)
        nn.init.ones_(self.output.weight)  # starts as a plain dot product
        nn.init.zeros_(self.output.bias)
        self.output.weight.requires_grad_(output == "learned")

    def embeddings(self, users: Tensor, items: Tensor) -> list[Tensor]:
        return [self.user_embedding(users), self.item_embedding(items)]

    def features(self, users: Tensor, items: Tensor) -> Tensor:
        return self.features_rows(users, items)[0]

    def features_rows(self, users: Tensor, items: Tensor) -> tuple[Tensor, list[Tensor]]:
        """:meth:`features` and the embedding rows they were computed from."""
        p, q = self.user_embedding(users), self.item_embedding(items)
        return p * q, [p, q]

    def forward(self, users: Tensor, items: Tensor) -> Tensor:
        return self.forward_rows(users, items)[0]

    def forward_rows(self, users: Tensor, items: Tensor) -> tuple[Tensor, list[Tensor]]:
        """``forward``'s logits and the embedding rows of :meth:`embeddings` (see
        :meth:`MF.forward_rows`)."""
        h, rows = self.features_rows(users, items)
        return self.output(h).squeeze(-1), rows

    def score_all(self, users: Tensor) -> Tensor:
        p = self.user_embedding(users) * self.output.weight  # (B, f): fold h into the user side
        return torch.addmm(self.output.bias.unsqueeze(0), p, self.item_embedding.weight.T)

    def factors(self, users: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(x, y, c)`` with ``score_all(users) == x @ y.T + c`` (see :meth:`MF.factors`):
        ``h`` folded into the user rows, the output bias as every item's offset."""
        x = self.user_embedding(users) * self.output.weight
        return x, self.item_embedding.weight, self.output.bias.expand(self.n_items)

    def score_candidates(self, users: Tensor, items: Tensor) -> Tensor:
        """Logits of every (user, item) in ``users x items`` (see :meth:`MF.score_candidates`)."""
        p = self.user_embedding(users) * self.output.weight
        return torch.addmm(self.output.bias.unsqueeze(0), p, self.item_embedding(items).T)


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
        return self.features_rows(users, items)[0]

    def features_rows(self, users: Tensor, items: Tensor) -> tuple[Tensor, list[Tensor]]:
        """:meth:`features` and the embedding rows they were computed from."""
        p, q = self.user_embedding(users), self.item_embedding(items)
        return self._rest(torch.cat([p, q], dim=-1), 0), [p, q]

    def forward(self, users: Tensor, items: Tensor) -> Tensor:
        return self.forward_rows(users, items)[0]

    def forward_rows(self, users: Tensor, items: Tensor) -> tuple[Tensor, list[Tensor]]:
        """``forward``'s logits and the embedding rows of :meth:`embeddings` (see
        :meth:`MF.forward_rows`)."""
        h, rows = self.features_rows(users, items)
        return self.output(h).squeeze(-1), rows

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

    def _block_pairs(self, device: torch.device) -> int:
        """(user, item) pairs per block of (pairs x widest layer) activations on ``device``."""
        widths = [int(cast(nn.Linear, layer).out_features) for layer in self.tower]
        elements = (
            _SCORE_BLOCK_ELEMENTS if device.type == "cpu" else _SCORE_BLOCK_ELEMENTS_ACCELERATOR
        )
        return max(1, elements // max(1, max(widths, default=1)))

    def _user_block(self, device: torch.device) -> int:
        """Users per block of (users x items x widest layer) activations on ``device``."""
        return max(1, self._block_pairs(device) // max(1, self.n_items))

    def _tail_blocks(self, n_users: int, n_items: int, device: torch.device) -> tuple[int, int]:
        """(users, items) per block of :meth:`_score_tail`: whole catalogue rows of as many
        users as :meth:`_block_pairs` allows, or, when one row alone is more, equal slices of
        the catalogue for one user (a short last slice ran 15% slower on ML-20M's 26,744
        items: 4 slices of 6,686 rather than 3 of 8,192 and one of 2,168); ``users * items <=
        _block_pairs`` either way."""
        pairs = self._block_pairs(device)
        if n_items <= pairs:
            return max(1, min(n_users, pairs // max(1, n_items))), n_items
        slices = -(-n_items // pairs)
        return 1, -(-n_items // slices)

    def _score_tail(self, users: Tensor, weight: Tensor) -> Tensor:
        """``weight . tower_output(u, i)`` for every user in ``users`` and every item.

        The same arithmetic as :meth:`features_all` followed by a dot product with ``weight``,
        shape ``(len(users), n_items)``, but computed over blocks into buffers allocated once
        per call (a fresh multi-megabyte tensor per block and layer is page-faulted in on every
        allocation, which made the element-wise passes cost as much as the matrix products),
        with in-place ReLUs. A block holds at most :meth:`_block_pairs` (user, item) pairs, so
        that the activations of the widest layer stay within ``_SCORE_BLOCK_ELEMENTS``
        elements: whole catalogue rows of several users, or, when one user's row alone is
        larger (a big catalogue), a slice of the catalogue for one user. Needs
        :meth:`_tail_usable`.
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
        block, span = self._tail_blocks(n_users, n_items, item_part.device)
        like: dict[str, Any] = {"dtype": item_part.dtype, "device": item_part.device}
        first_block = torch.empty((block, span, first.out_features), **like)
        buffers = [torch.empty((block * span, layer.out_features), **like) for layer in rest]
        for start in range(0, n_users, block):
            n = min(block, n_users - start)
            for low in range(0, n_items, span):
                m = min(span, n_items - low)  # m < span only with one user: h is contiguous
                h = first_block[:n, :m]
                torch.add(
                    user_part[start : start + n, None, :], item_part[None, low : low + m], out=h
                )
                x = h.relu_().view(n * m, -1)
                for layer, buffer in zip(rest, buffers, strict=True):
                    y = buffer[: n * m]
                    torch.addmm(layer.bias, x, layer.weight.T, out=y)
                    x = y.relu_()
                torch.mv(x, weight, out=out[start : start + n, low : low + m].view(-1))
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

    def score_candidates(self, users: Tensor, items: Tensor) -> Tensor:
        """Logits of every (user, item) in ``users x items`` (see :meth:`MF.score_candidates`),
        through the split first layer of :meth:`features_all`."""
        return self.output(self.features_all(users, items)).squeeze(-1)


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
        gmf_output: str = "learned",
    ) -> None:
        super().__init__()
        self.n_users, self.n_items = n_users, n_items
        # gmf_output matters to the GMF tower's own (pretraining) fit; NeuMF's output layer,
        # which weighs the GMF features here, is always learned.
        self.gmf = GMF(n_users, n_items, n_factors, gmf_output)
        self.mlp = MLP(n_users, n_items, hidden_layers, dropout)
        # The towers' own output layers are unused in NeuMF (they hold pretrained weights only).
        self.output = nn.Linear(n_factors + self.mlp.n_features, 1)
        nn.init.xavier_uniform_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def embeddings(self, users: Tensor, items: Tensor) -> list[Tensor]:
        return self.gmf.embeddings(users, items) + self.mlp.embeddings(users, items)

    def forward(self, users: Tensor, items: Tensor) -> Tensor:
        return self.forward_rows(users, items)[0]

    def forward_rows(self, users: Tensor, items: Tensor) -> tuple[Tensor, list[Tensor]]:
        """``forward``'s logits and the embedding rows of :meth:`embeddings`, the GMF tower's
        then the MLP tower's (see :meth:`MF.forward_rows`)."""
        g, g_rows = self.gmf.features_rows(users, items)
        m, m_rows = self.mlp.features_rows(users, items)
        return self.output(torch.cat([g, m], -1)).squeeze(-1), g_rows + m_rows

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

    def bilinear_part(self, users: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(x, y, c)``: the GMF tower's part of the logits, ``x @ y.T + c``, with NeuMF's
        output weights of the GMF features folded into the user rows and its output bias as
        every item's offset; the logits are that plus the MLP tower's part (``loss="ials"``
        sums the first over the catalogue exactly, :func:`implicit_ncf.losses.ials_loss`)."""
        x = self.gmf.user_embedding(users) * self.output.weight[0, : self.gmf.n_factors]
        return x, self.gmf.item_embedding.weight, self.output.bias.expand(self.n_items)

    def score_candidates(self, users: Tensor, items: Tensor) -> Tensor:
        """Logits of every (user, item) in ``users x items`` (see :meth:`MF.score_candidates`)."""
        f = self.gmf.n_factors
        w_gmf, w_mlp = self.output.weight[0, :f], self.output.weight[0, f:]
        gmf = torch.addmm(
            self.output.bias.unsqueeze(0),
            self.gmf.user_embedding(users) * w_gmf,
            self.gmf.item_embedding(items).T,
        )
        return gmf + self.mlp.features_all(users, items) @ w_mlp

    @torch.no_grad()
    def load_pretrained(
        self, gmf: GMF, mlp: MLP, alpha: float = 0.5, *, residual: bool = False
    ) -> None:
        """Initialise from trained GMF and MLP towers, as in the NCF paper (Section 3.4.1).

        Embeddings and hidden layers are copied; the output layer is the concatenation of the two
        towers' output weights weighted by ``alpha`` and ``1 - alpha``. ``residual=True``
        starts NeuMF as the GMF tower instead: its output weights and bias as they are, the MLP
        tower's output weights at zero, so that fine-tuning learns what the MLP tower adds to
        the GMF tower's logits (``loss="ials"``: a squared loss on the logits, which a blend
        of two fitted towers would overshoot or undershoot; ``alpha`` is then ignored).
        """
        self.gmf.load_state_dict(gmf.state_dict())
        self.mlp.load_state_dict(mlp.state_dict())
        if residual:
            self.output.weight.copy_(
                torch.cat([gmf.output.weight, torch.zeros_like(mlp.output.weight)], dim=1)
            )
            self.output.bias.copy_(gmf.output.bias)
            return
        self.output.weight.copy_(
            torch.cat([alpha * gmf.output.weight, (1 - alpha) * mlp.output.weight], dim=1)
        )
        self.output.bias.copy_(alpha * gmf.output.bias + (1 - alpha) * mlp.output.bias)


@torch.no_grad()
def blend_with_start(network: NeuMF, start: dict[str, Tensor], mix: float) -> NeuMF:
    """One NeuMF whose logits are ``(1 - mix) * network + mix * start``: a score-space ensemble
    of a fine-tuned NeuMF and the residual start it was fine-tuned from
    (``load_pretrained(..., residual=True)``, whose logits are its GMF tower's alone).

    The result's GMF tower holds the two GMF towers side by side (``2 * n_factors`` columns:
    the fine-tuned rows scaled by ``sqrt(1 - mix)``, the start's by ``sqrt(mix)``, each with
    its NeuMF output weights folded into the user rows), its output weights on them are ones,
    the MLP tower is the fine-tuned one with its output weights scaled by ``1 - mix``, and the
    bias is the blend of the two biases. ``start`` is the start's ``state_dict``.
    """
    f = network.gmf.n_factors
    mlp_start = start["output.weight"][0, f:]
    if bool((mlp_start != 0).any()):
        raise ValueError(
            "blend_with_start needs the residual start (the MLP tower's output weights at "
            "zero): the fine-tuning of loss='ials' (or 'auto'), whose start is the GMF tower."
        )
    w = network.output.weight[0]
    p = torch.cat(
        [
            math.sqrt(1.0 - mix) * network.gmf.user_embedding.weight * w[:f],
            math.sqrt(mix) * start["gmf.user_embedding.weight"] * start["output.weight"][0, :f],
        ],
        dim=1,
    )
    q = torch.cat(
        [
            math.sqrt(1.0 - mix) * network.gmf.item_embedding.weight,
            math.sqrt(mix) * start["gmf.item_embedding.weight"],
        ],
        dim=1,
    )
    blended = copy.deepcopy(network)  # the MLP tower as fine-tuned; GMF and output replaced
    blended.gmf = GMF(network.n_users, network.n_items, 2 * f).to(w.device)
    blended.gmf.output.requires_grad_(network.gmf.output.weight.requires_grad)
    blended.output = nn.Linear(2 * f + network.mlp.n_features, 1).to(w.device)
    blended.gmf.user_embedding.weight.copy_(p)
    blended.gmf.item_embedding.weight.copy_(q)
    blended.output.weight.copy_(
        torch.cat([torch.ones(2 * f, device=w.device), (1.0 - mix) * w[f:]]).unsqueeze(0)
    )
    blended.output.bias.copy_((1.0 - mix) * network.output.bias + mix * start["output.bias"])
    return blended.train(network.training)


def build_network(
    model: str,
    n_users: int,
    n_items: int,
    *,
    n_factors: int,
    hidden_layers: Sequence[int],
    dropout: float = 0.0,
    gmf_output: str = "learned",
) -> nn.Module:
    """Build the network named ``model`` ("mf", "gmf", "mlp" or "neumf"); ``gmf_output`` is
    GMF's ``output`` (see :class:`GMF`), for "gmf" and NeuMF's GMF tower."""
    if model == "mf":
        return MF(n_users, n_items, n_factors)
    if model == "gmf":
        return GMF(n_users, n_items, n_factors, gmf_output)
    if model == "mlp":
        return MLP(n_users, n_items, hidden_layers, dropout)
    if model == "neumf":
        return NeuMF(n_users, n_items, n_factors, hidden_layers, dropout, gmf_output)
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
    return parts[0] if len(parts) == 1 else torch.cat(parts)


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
