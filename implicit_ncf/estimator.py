"""The estimator: :class:`NeuralCF`, its hyperparameters, ``fit`` and the only ``Trainer`` builder.

``NeuralCF`` hides a PyTorch Lightning trainer behind ``fit`` / ``recommend`` / ``score``. What it
shares with every recommender (``recommend``, ``evaluate``, parameters) is in
:mod:`implicit_ncf.recommender`; the networks are in :mod:`implicit_ncf.networks`, the training
system in :mod:`implicit_ncf.training`, the batches in :mod:`implicit_ncf.batches` and the model
file in :mod:`implicit_ncf.model_file`. ``PopularityRecommender``, ``NotFittedError`` and
``UnknownIdWarning`` are re-exported here for code that imported them from this module.
"""

from __future__ import annotations

import math
import os
import time
import warnings
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import batches
from ._validation import _check_positive_int
from .data import IdEncoder, interactions_to_csr, pair_weights
from .hyperparameters import _PER_BATCH_TRAINER_OPTIONS, check_params, tower_overrides
from .popularity import PopularityRecommender
from .recommender import NotFittedError, UnknownIdWarning, _BaseRecommender

__all__ = ["NeuralCF", "NotFittedError", "PopularityRecommender", "UnknownIdWarning"]

# Examples per batch handed to the Lightning Trainer: batches of batch_size are grouped into one
# trainer batch of up to this many examples, each still one optimizer step (NCFModule slices it).
_BATCH_EXAMPLES = 1 << 15
# Sampled items each validation target is ranked against (fewer for users with fewer unseen).
_VALIDATION_NEGATIVES = 99


class NeuralCF(_BaseRecommender):
    """Neural Collaborative Filtering (GMF, MLP, NeuMF) on implicit feedback.

    Every interaction is a positive; each epoch draws ``n_negatives`` unobserved items per positive
    as negatives, and the network is trained with binary cross-entropy (He et al., WWW 2017). A
    PyTorch Lightning ``Trainer`` does the training; it stays hidden behind ``fit``.

    Parameters
    ----------
    model : {"neumf", "gmf", "mlp", "mf"}, default "neumf"
        The network. ``"mf"`` is plain dot-product matrix factorisation (with biases), the
        baseline every NCF number should stand beside.
    n_factors : int or None, default None
        Embedding size of the GMF / MF towers (NCF's "predictive factors"). ``None``: 128 for
        NeuMF (whose GMF tower ``tower_params="auto"`` solves by ALS), 64 for the other
        networks; both chosen on validation data (``docs/results.md`` section 2).
    hidden_layers : sequence of int, default (128, 64, 32)
        MLP tower: ``hidden_layers[0]`` is the concatenated embedding width, then the ReLU layers.
        ``(64, 32, 16)`` fits NeuMF on ML-1M in about three quarters of the time at the same
        validation quality within the noise (``docs/results.md`` section 2).
    dropout : float, default 0.0
        Dropout between MLP layers.
    gmf_output : {"fixed", "learned"}, default "fixed"
        GMF's output vector ``h`` in ``h^T (p_u * q_i)``, for ``model="gmf"`` and NeuMF's GMF
        tower (NeuMF's own output layer is always learned). ``"learned"`` is the NCF paper's.
        ``"fixed"`` holds ``h`` at ones. A learned ``h`` adds nothing the embeddings cannot
        express, but it lets training escape ``weight_decay``: scaling ``h`` up and the
        embeddings down keeps every score and shrinks the penalty (Rendle et al., RecSys
        2020). On validation data carved from four datasets, the default NeuMF with the fixed
        ``h`` gained 0.024 full-ranking HR@10 on a sparse long-tail set and 0.011 on ML-1M,
        and was level within the noise on ml-100k and ml-latest-small
        (``docs/results.md`` section 2).
    loss : {"auto", "bce", "bpr", "softmax", "ials"}, default "auto"
        ``"auto"`` is ``"ials"`` for MF, GMF and NeuMF (both its GMF tower and its fine-tuning) and
        ``"bce"`` for the MLP (NeuMF's MLP tower too, a warm start for the part the fine-tuning
        learns). On validation data carved from four datasets (ML-1M, ml-100k, ml-latest-small, a
        sparse long-tail set) that NeuMF raised full-ranking HR@10 over the previous default
        (``"bce"`` everywhere) on all four, by +0.002 to +0.021, and was above MF with ``"ials"`` on
        all four in single runs (level with it over three seeds on the two small sets;
        ``docs/results.md`` section 2). Otherwise the training loss (:mod:`implicit_ncf.losses`):
        binary cross-entropy over positives and ``n_negatives`` sampled unobserved items each (the
        NCF paper's); BPR, the pairwise ``-log sigmoid(s(u, i) - s(u, j))`` against ``n_negatives``
        sampled unobserved items per positive; softmax, the cross-entropy of each positive against
        the whole catalogue when it has at most ``n_sampled`` items, else against ``n_sampled``
        items drawn uniformly from the catalogue and shared by the step's positives; or ``"ials"``,
        the implicit-ALS objective by gradient steps: squared error to 1 on the positives plus
        ``unobserved_weight`` times the squared score of every item of the catalogue, summed exactly
        through the item Gramian for MF and GMF. NeuMF gets its GMF tower's part of that sum exactly
        and the MLP tower's part estimated from ``n_negatives`` items drawn uniformly per positive;
        its fine-tuning starts from the GMF tower's logits (the MLP tower's output weights at zero)
        and learns what the MLP adds. The MLP alone gets the whole sum estimated that way. The
        ranking losses (``"bpr"``, ``"softmax"``) target the order of items, which top-k metrics
        measure. The fold-in of an ``"ials"`` model (``recommend(..., interactions=...)``,
        ``partial_fit``) solves each row's dot-product tower exactly
        (:func:`implicit_ncf.foldin.solve_ials`; NeuMF's MLP rows keep their start; ``model="mlp"``
        cannot be folded in); ``partial_fit_epochs > 0`` is refused.
    n_negatives : int, default 8
        Negatives sampled per positive each epoch (``"bce"`` and ``"bpr"``; for ``"ials"``,
        the items that estimate the MLP tower's part of the catalogue sum), and per positive
        by the fold-in. 8 rather than the NCF paper's 4: on validation data carved from four
        datasets (ML-1M, ml-100k, ml-latest-small, a sparse long-tail set) it raised the
        full-ranking HR@10 of both NeuMF and MF on every one, at about 1.3-2x the fit time
        (``docs/results.md`` section 2).
    n_sampled : int, default 512
        Items the sampled softmax ranks each step's positives against (``"softmax"`` only).
    unobserved_weight : float, default 1.0
        ``"ials"`` only: the weight of each unobserved (user, item) pair's squared score
        against 1 for an observed pair (iALS's ``alpha_0``; implicit's ``alpha`` is about
        ``1 / unobserved_weight - 1``). Larger values push the scores of items a user never
        chose down harder.
    batch_size : int, default 2048
        Per optimizer step: training examples (positives and negatives) for ``"bce"``,
        positives for ``"bpr"``, ``"softmax"`` and ``"ials"``.
    n_epochs : int, default 8
        Maximum number of epochs (of each tower when NeuMF is pretrained).
    learning_rate : float, default 2e-3
        Adam learning rate.
    weight_decay : float or sequence of float, default 1e-3
        L2 penalty on the embedding rows touched by each batch (see ``NCFModule``); with
        ``optimizer="als"`` the frequency-scaled penalty of that entry. An ALS stage also
        takes a sequence of candidates: one positive of every user with at least two is held
        out at random, each candidate is fitted on the rest for ``n_epochs`` sweeps and scored
        after each by the full-ranking NDCG@10 of the held-out items, and the best is refitted
        on every positive for as many sweeps as its best score took
        (:func:`implicit_ncf.als.choose_weight_decay`; ``penalty_search_`` records it).
    lr_decay : float, default 1.0
        Learning rate multiplier applied after every epoch (1.0 keeps it constant). 0.8 was the
        best setting found on MovieLens-1M, but it costs 3-5 points of HR@10 on smaller datasets,
        whose epochs have fewer steps (``docs/results.md``).
    optimizer : {"auto", "adam", "lazy_adam", "als"}, default "auto"
        ``"adam"`` updates every parameter on every step, embedding rows outside the batch
        included (their moments keep moving them), as the NCF reference code does. ``"lazy_adam"``
        gives the embeddings sparse gradients and updates only the rows in the batch, moments
        included (:class:`implicit_ncf.optim.LazyAdam`; plain Adam for the dense layers), as
        TensorFlow's official NCF does with LazyAdam: its step costs the batch's rows instead of
        the whole tables. ``"auto"`` takes ``"lazy_adam"`` when the network's embedding tables
        hold more than ``implicit_ncf.optim.AUTO_DENSE_LIMIT`` parameters for the device (2**21
        on a CPU, where dense Adam is then the slower; ML-1M with the default sizes stays
        below it, ML-20M is 10x above), and ``"adam"`` otherwise, or for the full softmax
        (every item row gets a gradient) and ``trainer_kwargs`` that need Lightning's automatic
        optimization (clipping, accumulation). ``optimizer_`` says which one a fit used. The
        two are different optimizers, level in quality on ML-1M (``docs/performance.md``).
        ``"lazy_adam"`` is not combined with those ``trainer_kwargs``. ``"als"`` (``model="mf"``
        or ``"gmf"`` with the iALS loss, or NeuMF's GMF tower through ``tower_params``) solves
        the iALS objective by alternating least squares instead of gradient steps: each epoch
        is one sweep over every user row, then every item row, each by eight
        conjugate-gradient steps (implicit's ALS takes three; :mod:`implicit_ncf.als`); no learning
        rate, no batches, no Lightning, and ``weight_decay`` is the frequency-scaled penalty
        ``weight_decay * (n_r + unobserved_weight * n_other) * ||row||**2`` of Rendle et al.
        (2022), or ``weight_decay * (n_r + penalty_offset) * ||row||**2`` with
        ``penalty_offset`` set. An ALS stage runs on the CPU in this process:
        ``trainer_kwargs`` (devices, callbacks, loggers) apply only to the other stages. The
        default NeuMF solves its GMF tower so (``tower_params="auto"``), with the penalty chosen
        per fit: no single penalty suits every density (``docs/results.md`` section 2).
    penalty_offset : float or None, default None
        ``optimizer="als"`` stages only (and the fold-in of a model they trained): the constant
        ``c`` of the penalty ``weight_decay * (n_r + c) * ||row||**2`` on a row with ``n_r``
        positives. ``None`` takes ``c = unobserved_weight * n_other`` (the number of items for
        a user row, of users for an item row), Rendle et al.'s frequency-scaled penalty, which
        grows with the catalogue; a number keeps it the same on both sides whatever their
        sizes. An error unless some stage uses ``optimizer="als"``.
    pretrain : bool, default True
        For NeuMF: first train a GMF and an MLP tower separately for ``n_epochs`` each, then
        initialise NeuMF from them and fine-tune it for ``finetune_epochs`` at
        ``finetune_learning_rate`` (the NCF paper's recipe, Section 3.4.1). Ignored by the other
        models. With ``pretrain=False`` NeuMF trains from scratch for ``n_epochs``.
    finetune_epochs : int, default 1
        Epochs of NeuMF after pretraining.
    finetune_learning_rate : float, default 5e-4
        Adam learning rate of NeuMF after pretraining (lower than ``learning_rate``: the
        pretrained towers are already close to a good solution).
    finetune_mix : float, default 0.0
        For a pretrained NeuMF: after the fine-tuning, set every weight to ``(1 - m) *
        fine-tuned + m * start``, where ``start`` is the NeuMF the fine-tuning began from
        (the towers as loaded) and ``m = finetune_mix``, in ``[0, 1]``: a weight-space
        ensemble of the fine-tuned and the pretrained model (WiSE-FT; Wortsman et al., CVPR
        2022). 0 keeps the fine-tuned weights, 1 the pretrained ones; the result is one NeuMF,
        scored, folded in and saved like any other (``history_`` and the kept epoch
        describe the fine-tuning, before the mix). On validation data carved from four
        datasets ``0.5`` raised HR@10 on 99 sampled negatives by 0.006-0.007 on the two
        larger ones and moved full-ranking HR@10 by -0.003 to +0.003, so the default,
        chosen on full ranking, keeps 0 (``docs/results.md`` section 2).
    finetune_mix_space : {"weights", "scores"}, default "weights"
        Where ``finetune_mix`` ensembles the fine-tuned NeuMF with its start. ``"weights"``:
        the weight-space mix above. ``"scores"``: every logit becomes ``(1 - m) *
        fine-tuned + m * start``, still one NeuMF whose GMF tower holds both GMF towers side
        by side (``2 * n_factors`` columns; the MLP tower is the fine-tuned one), scored,
        folded in and saved like any other. It needs the iALS fine-tuning (``loss="auto"``
        or ``"ials"``), whose start is the GMF tower alone. On the same validation data as
        ``finetune_mix`` ``m = 0.5`` in score space raised sampled HR@10 by 0.005-0.013 on
        the three larger sets and moved full-ranking HR@10 by -0.0015 to +0.0023
        (``docs/results.md`` section 2); an option, not the default.
    tower_params : "auto", dict or None, default "auto"
        For a pretrained NeuMF: parameters that differ per stage, keyed ``"gmf"``, ``"mlp"``
        (the towers' own fits) and ``"neumf"`` (the fine-tuning), each a dict over
        ``loss``, ``n_negatives``, ``n_sampled``, ``unobserved_weight``, ``batch_size``,
        ``weight_decay``, ``lr_decay`` and, for the towers, ``n_epochs`` and ``learning_rate``
        (and ``optimizer`` and ``penalty_offset`` for the GMF tower: ``{"gmf": {"optimizer":
        "als"}}``); e.g. ``{"gmf": {"loss": "softmax"}}`` trains the GMF tower with the
        softmax loss and the rest with ``loss``. Stages not named use the estimator's own
        parameters; ``None`` names none. ``"auto"`` is
        ``implicit_ncf.hyperparameters.AUTO_TOWER_PARAMS`` when the GMF tower trains on the
        iALS loss with ``gmf_output="fixed"`` (``loss="auto"`` or ``"ials"``), none
        otherwise: the GMF tower solved by ALS (``optimizer="als"``, ``penalty_offset=100``)
        with its ``weight_decay`` chosen per fit among 0.015, 0.03, 0.06 and 0.1 (see
        ``weight_decay``; ``docs/results.md`` section 2).
    early_stopping : bool, default False
        Hold out each user's latest training interaction (random one without timestamps) as an
        internal validation set carved from the training data, validate HR@10/NDCG@10 every epoch,
        stop after ``patience`` epochs without improvement and keep the best weights. When
        ``validation`` is passed to ``fit``, it is used instead of the internal split.
    patience : int, default 3
        Epochs without improvement before early stopping.
    min_rating : float or None, default None
        Treat only interactions rated at least this as positives (needs ``rating_col``).
    weight_col : str or None, default None
        A column of positive interaction strengths (play counts, ratings, dwell time) that
        weighs each positive's loss: the strengths of a (user, item) pair's rows are summed,
        transformed by ``log1p`` (a tenth play counts less than the first) and scaled to mean 1
        over the training positives, so the learning rate keeps its meaning. Negatives weigh 1.
        ``None`` weighs every positive alike.
    user_col, item_col, rating_col : str
        Column names of the interactions frames.
    time_col : str or None, default "timestamp"
        Timestamp column, read only by ``early_stopping`` without a ``validation`` frame (to
        hold out each user's latest interaction); ``None`` holds out a random one instead. Any
        other fit leaves the column alone, whatever it holds.
    on_unknown_user : {"raise", "popular"}, default "raise"
        What ``recommend`` does with a user absent from training: raise a ``ValueError`` naming
        it, or give it the most popular items, each scored by its mean predicted probability
        over the training users (the known users' scale; see ``recommend``).
    fold_in_steps : int, default 6
        Adam steps that fold users (and, in ``partial_fit``, items) in from their interactions,
        everything else frozen (``recommend(..., interactions=...)``, ``partial_fit``;
        :mod:`implicit_ncf.foldin`). With ``fold_in_learning_rate=0.1``, the cheapest setting
        to reach 95% of a refit's HR@50 on validation users of MovieLens-1M; other data may
        want more steps at a lower rate (``docs/realtime.md``).
    fold_in_learning_rate : float, default 0.1
        Adam learning rate of the fold-in.
    partial_fit_epochs : int, default 0
        After ``partial_fit``'s fold-in, epochs that fine-tune the whole network (items and
        shared layers too) on the new interactions plus as many replayed from the old data, at
        ``finetune_learning_rate`` (:mod:`implicit_ncf.incremental`). 0 keeps ``partial_fit``
        to the fold-in. On a MovieLens-1M validation stream the fold-in alone kept up with a
        refit and the refresh made no measurable difference; on the later stream of
        ``docs/realtime.md``, 2 epochs narrowed the gap to a refit after 9% new data from 0.093
        to 0.060 HR@50, at about twice the cost of a plain ``partial_fit`` (2% of a refit).
    accelerator, devices : str or int
        Passed to the Lightning ``Trainer`` ("auto" uses a GPU when there is one).
    trainer_kwargs : dict or None, default None
        Anything else for the ``Trainer`` (strategy, precision, callbacks, loggers, ...).
    verbose : bool, default False
        Show training progress: one progress bar per stage on a terminal, one line per epoch
        (loss and validation metrics) elsewhere. Lightning's own banners and model summary
        appear only when ``trainer_kwargs`` is given. Long scoring loops (full-ranking
        ``evaluate``, ``evaluate`` with a large candidates frame, ``recommend`` for many users)
        report progress on standard error too.
    random_state : int or None, default None
        Seed of weight initialisation, shuffling and negative sampling.

    Attributes
    ----------
    network_ : torch.nn.Module
        The trained network (on the CPU, in eval mode).
    user_encoder_, item_encoder_ : IdEncoder
        Raw id <-> index maps.
    seen_ : scipy.sparse.csr_matrix of shape (n_users, n_items)
        Training interactions, excluded from recommendations.
    item_popularity_ : ndarray of shape (n_items,)
        Training interactions per item.
    history_ : list of dict
        One row per epoch: ``stage`` (the network trained: ``"gmf"`` and ``"mlp"`` rows precede
        ``"neumf"`` when pretraining), ``epoch``, ``loss``, validation metrics when validating,
        and elapsed seconds of that stage.
    best_epoch_ : int or None
        Epoch of the last stage whose weights were kept (with validation), else None.
    optimizer_ : {"adam", "lazy_adam", "als"}
        The optimizer the final network was trained with (``optimizer``, resolved when it is
        ``"auto"``).
    penalty_search_ : list of dict or None
        One entry per ALS stage whose ``weight_decay`` was a sequence (the default NeuMF's GMF
        tower): ``stage``, the ``chosen`` value and, per candidate, its ``weight_decay``,
        ``best_epoch``, ``val_hr@10`` and ``val_ndcg@10``; None when no stage searched.
    fit_time_ : float
        Seconds spent in ``fit``.

    Notes
    -----
    The defaults were chosen on validation data carved from the training pairs of the NCF paper's
    MovieLens-1M split (never on its test set); ``docs/results.md`` lists every configuration
    tried with its validation curve, and the test figures. On that split a regularised
    dot product (``model="mf"``) is as accurate as NeuMF and several times cheaper to train
    (Rendle et al., RecSys 2020): report it beside any NCF number.

    References
    ----------
    X. He, L. Liao, H. Zhang, L. Nie, X. Hu and T.-S. Chua. Neural Collaborative Filtering.
    WWW 2017.

    Examples
    --------
    >>> from implicit_ncf import NeuralCF, load_movielens
    >>> from implicit_ncf.splits import leave_one_out
    >>> split = leave_one_out(load_movielens())
    >>> model = NeuralCF(n_epochs=2, random_state=0).fit(split.train)  # doctest: +SKIP
    >>> model.recommend(1, k=3)  # doctest: +SKIP
    """

    _fitted_attribute = "network_"

    def __init__(
        self,
        *,
        model: str = "neumf",
        n_factors: int | None = None,
        hidden_layers: Sequence[int] = (128, 64, 32),
        dropout: float = 0.0,
        gmf_output: str = "fixed",
        loss: str = "auto",
        n_negatives: int = 8,
        n_sampled: int = 512,
        unobserved_weight: float = 1.0,
        batch_size: int = 2048,
        n_epochs: int = 8,
        learning_rate: float = 2e-3,
        weight_decay: float | Sequence[float] = 1e-3,
        lr_decay: float = 1.0,
        optimizer: str = "auto",
        penalty_offset: float | None = None,
        pretrain: bool = True,
        finetune_epochs: int = 1,
        finetune_learning_rate: float = 5e-4,
        finetune_mix: float = 0.0,
        finetune_mix_space: str = "weights",
        tower_params: dict[str, dict[str, Any]] | str | None = "auto",
        early_stopping: bool = False,
        patience: int = 3,
        min_rating: float | None = None,
        weight_col: str | None = None,
        user_col: str = "user",
        item_col: str = "item",
        rating_col: str = "rating",
        time_col: str = "timestamp",
        on_unknown_user: str = "raise",
        fold_in_steps: int = 6,
        fold_in_learning_rate: float = 0.1,
        partial_fit_epochs: int = 0,
        accelerator: str = "auto",
        devices: int | str | Sequence[int] = "auto",
        trainer_kwargs: dict[str, Any] | None = None,
        verbose: bool = False,
        random_state: int | None = None,
    ) -> None:
        self.model = model
        self.n_factors = n_factors
        self.hidden_layers = hidden_layers
        self.dropout = dropout
        self.gmf_output = gmf_output
        self.loss = loss
        self.n_negatives = n_negatives
        self.n_sampled = n_sampled
        self.unobserved_weight = unobserved_weight
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.lr_decay = lr_decay
        self.optimizer = optimizer
        self.penalty_offset = penalty_offset
        self.pretrain = pretrain
        self.finetune_epochs = finetune_epochs
        self.finetune_learning_rate = finetune_learning_rate
        self.finetune_mix = finetune_mix
        self.finetune_mix_space = finetune_mix_space
        self.tower_params = tower_params
        self.early_stopping = early_stopping
        self.patience = patience
        self.min_rating = min_rating
        self.weight_col = weight_col
        self.user_col = user_col
        self.item_col = item_col
        self.rating_col = rating_col
        self.time_col = time_col
        self.on_unknown_user = on_unknown_user
        self.fold_in_steps = fold_in_steps
        self.fold_in_learning_rate = fold_in_learning_rate
        self.partial_fit_epochs = partial_fit_epochs
        self.accelerator = accelerator
        self.devices = devices
        self.trainer_kwargs = trainer_kwargs
        self.verbose = verbose
        self.random_state = random_state

    # -- validation of hyperparameters ---------------------------------------------------------
    def _check_params(self) -> None:
        check_params(self)

    # -- fit --------------------------------------------------------------------------------------
    def fit(
        self,
        interactions: pd.DataFrame,
        y: None = None,
        *,
        validation: pd.DataFrame | None = None,
    ) -> NeuralCF:
        """Train on an interactions frame; returns ``self``.

        Parameters
        ----------
        interactions : pandas.DataFrame
            Columns ``user_col`` and ``item_col`` (ids of any hashable type), optionally
            ``rating_col`` and ``time_col``. Every row is a positive (or only those rated at least
            ``min_rating``); repeated pairs are collapsed with a warning. ``time_col`` is read
            only by ``early_stopping`` without ``validation``; otherwise a timestamp column is
            left alone, whatever it holds.
        y : None
            Ignored: there for scikit-learn's ``fit(X, y)`` convention (Pipeline, search
            utilities). The interactions are the only data.
        validation : pandas.DataFrame or None, default None
            Held-out interactions (never the test set) used to validate HR@10 / NDCG@10 after
            every epoch; the weights of the best epoch are kept. Rows whose user or item is not
            in ``interactions`` are set aside with a warning.

        Returns
        -------
        NeuralCF
            The fitted estimator. A second call starts over. If ``fit`` fails or is interrupted,
            the estimator keeps its previous state.
        """
        self._check_params()
        start = time.perf_counter()
        seed = (
            int(self.random_state)
            if self.random_state is not None
            else int(np.random.default_rng().integers(2**31))
        )
        internal_split = validation is None and bool(self.early_stopping)
        positives = self._prepare(
            interactions,
            reason="early_stopping=True (without validation)" if internal_split else None,
        )
        users, items, seen, popularity, train_u, train_i = self._set_catalogue(positives)
        val_frame = validation
        if val_frame is None and self.early_stopping:
            from .splits import leave_one_out

            time_col = self.time_col if self.time_col in positives.columns else None
            try:
                split = leave_one_out(
                    positives,
                    user_col=self.user_col,
                    item_col=self.item_col,
                    time_col=time_col,
                    random_state=seed,
                )
            except ValueError as exc:
                raise ValueError(
                    "early_stopping=True holds out each user's latest interaction as validation, "
                    f"but no user has two distinct items ({exc}). Pass validation=<frame> or "
                    "early_stopping=False."
                ) from exc
            val_frame = split.test
            keep = (
                users.transform(split.train[self.user_col]),
                items.transform(split.train[self.item_col]),
            )
            train_u, train_i = keep
        train_w = None
        if self.weight_col is not None:
            train_w = pair_weights(
                interactions,
                users,
                items,
                train_u,
                train_i,
                weight_col=str(self.weight_col),
                user_col=self.user_col,
                item_col=self.item_col,
                rating_col=self.rating_col,
                min_rating=self.min_rating,
            )
        val_tensors = None
        if val_frame is not None:
            val_tensors = batches.validation_tensors(
                val_frame,
                users,
                items,
                train_u,
                train_i,
                seed=seed,
                n_negatives=_VALIDATION_NEGATIVES,
                user_col=self.user_col,
                item_col=self.item_col,
            )

        self._stages: list[tuple[str, list[dict[str, float]], int | None, str]] = []
        self._searches: list[dict[str, Any]] = []
        try:
            from .training import _preserve_torch_rng

            with _preserve_torch_rng(seed):
                network = self._train(
                    users,
                    items,
                    train_u,
                    train_i,
                    val_tensors,
                    seed,
                    model=str(self.model),
                    weights=train_w,
                )
            stages, searches = self._stages, self._searches
        finally:
            del self._stages, self._searches
        network = network.cpu().eval()
        history = [{"stage": name, **row} for name, rows, _, _ in stages for row in rows]
        best_epoch, optimizer = stages[-1][2], stages[-1][3]
        # All fitted state is assigned at once, only after training succeeded.
        self.user_encoder_, self.item_encoder_ = users, items
        self.seen_, self.item_popularity_ = seen, popularity
        self.history_, self.best_epoch_ = history, best_epoch
        self.optimizer_ = optimizer
        self.penalty_search_ = searches or None
        self.network_ = network
        self.fit_time_ = time.perf_counter() - start
        return self

    def _train(
        self,
        users: IdEncoder,
        items: IdEncoder,
        train_u: np.ndarray,
        train_i: np.ndarray,
        val_tensors: tuple[torch.Tensor, torch.Tensor] | None,
        seed: int,
        *,
        model: str,
        weights: np.ndarray | None = None,
        network: torch.nn.Module | None = None,
    ) -> torch.nn.Module:
        """Train a ``model`` network (the given ``network``, else a fresh one) with this
        estimator's hyperparameters; a pretrained NeuMF trains its towers first, each with
        its ``tower_params`` (see :meth:`_stage`), then fine-tunes."""
        from .networks import GMF, MLP, NeuMF, set_sparse_embeddings
        from .training import (
            NCFModule,
            _callbacks,
            _interrupt_as_keyboard_interrupt,
            _quiet_lightning,
        )

        if network is None:
            network = self._build_network(len(users), len(items), model=model, blended=False)
        if model == "neumf" and self.pretrain:
            args = (users, items, train_u, train_i, val_tensors, seed)
            finetune = self._stage(
                "neumf",
                n_epochs=self.finetune_epochs,
                learning_rate=self.finetune_learning_rate,
                pretrain=False,
            )
            residual = finetune._network_loss("neumf") == "ials"
            mix = float(self.finetune_mix)
            if mix and self.finetune_mix_space == "scores" and not residual:
                raise ValueError(
                    f"finetune_mix_space='scores' needs the iALS fine-tuning (loss='auto' or "
                    f"'ials'), whose start is the GMF tower alone; this NeuMF fine-tunes with "
                    f"loss={finetune._network_loss('neumf')!r}. Use finetune_mix_space="
                    f"'weights', or loss='auto'."
                )
            gmf = self._stage("gmf")._train(*args, model="gmf", weights=weights)
            mlp = self._stage("mlp")._train(*args, model="mlp", weights=weights)
            assert isinstance(network, NeuMF) and isinstance(gmf, GMF) and isinstance(mlp, MLP)
            # the iALS fine-tuning starts from the GMF tower's logits and learns the MLP's part
            network.load_pretrained(gmf, mlp, residual=residual)
            start = {k: v.detach().clone() for k, v in network.state_dict().items()} if mix else {}
            network = finetune._train(*args, model="neumf", weights=weights, network=network)
            if mix and self.finetune_mix_space == "scores":
                from .networks import blend_with_start

                assert isinstance(network, NeuMF)
                return blend_with_start(network, start, mix)
            if mix:  # WiSE-FT: the weight-space ensemble of the fine-tuned and the start
                with torch.no_grad():
                    for name, value in network.state_dict().items():
                        if value.is_floating_point():  # weights, not integer counters
                            value.mul_(1.0 - mix).add_(start[name], alpha=mix)
            return network
        loss = self._network_loss(model)
        if loss != self.loss:  # "auto": train this network with the loss it resolves to
            stage = type(self)(**{**self.get_params(), "loss": loss})
            stage._stages, stage._searches = self._stages, self._searches
            args = (users, items, train_u, train_i, val_tensors, seed)
            return stage._train(*args, model=model, weights=weights, network=network)
        if self.optimizer == "als":
            return self._train_als(
                network, train_u, train_i, val_tensors, model=model, weights=weights
            )
        n_epochs, learning_rate = int(self.n_epochs), float(self.learning_rate)
        if isinstance(network, NeuMF):
            # The towers' own output layers only hold pretrained weights and get no gradient;
            # freeze them so that DDP, which needs a gradient for every trainable parameter,
            # accepts the model (Adam skipped them anyway).
            network.gmf.output.requires_grad_(False)
            network.mlp.output.requires_grad_(False)
        steps_per_batch = self._steps_per_batch()
        seen_train = interactions_to_csr(train_u, train_i, len(users), len(items))
        full = np.flatnonzero(np.diff(seen_train.indptr) >= len(items))
        if len(full):
            keep = ~np.isin(train_u, full)
            warnings.warn(
                f"{len(full)} user(s) interacted with every item, so no negative can be sampled "
                f"for them; their {int((~keep).sum())} positive(s) are left out of training.",
                UserWarning,
                stacklevel=4,
            )
            train_u, train_i = train_u[keep], train_i[keep]
            weights = None if weights is None else weights[keep]
            if not len(train_u):
                raise ValueError(
                    "every user interacted with every item: implicit feedback training needs "
                    "unobserved items to sample as negatives."
                )
        from .sampling import NegativeSampler

        sampler = NegativeSampler(seen_train)
        del seen_train  # the sampler keeps what it needs; at ML-20M the CSR is 160 MB
        train_data = self._training_batches(
            train_u,
            train_i,
            sampler,
            len(items),
            seed,
            steps_per_batch,
            weights,
        )
        loader = torch.utils.data.DataLoader(train_data, batch_size=None)
        val_loader = None
        monitor = None
        if val_tensors is not None:
            val_loader = torch.utils.data.DataLoader(
                batches._TensorBatches(*val_tensors, batch_size=1024), batch_size=None
            )
            monitor = "val_ndcg@10"  # NCFModule validates at its default val_k=10
        patience = int(self.patience) if (self.early_stopping and monitor) else None
        callbacks = _callbacks(monitor, patience, bool(self.verbose))
        with _quiet_lightning(bool(self.verbose)), _interrupt_as_keyboard_interrupt():
            trainer = self._build_trainer(callbacks, n_epochs)
            optimizer = self._resolve_optimizer(network, trainer, len(items))
            self._check_distributed(trainer)
            module = NCFModule(
                network,
                learning_rate=learning_rate,
                weight_decay=float(self.weight_decay),
                lr_decay=float(self.lr_decay),
                # manual optimization (the module's own steps, direct where nothing observes
                # them) unless a Trainer option needs Lightning's automatic optimization
                step_batch_size=None if self._per_batch_options() else int(self.batch_size),
                optimizer=optimizer,
                loss=str(self.loss),
                weighted=weights is not None,
                n_negatives=int(self.n_negatives),
            )
            train_data.trainer = trainer  # each rank takes its share by the trainer's ranks
            trainer.fit(module, train_dataloaders=loader, val_dataloaders=val_loader)
        set_sparse_embeddings(network, False)  # the fitted network is the plain one again
        history = callbacks[0]
        if history.best_state is not None:
            network.load_state_dict(history.best_state)
        self._stages.append((model, history.history, history.best_epoch, optimizer))
        return network

    def _train_als(
        self,
        network: torch.nn.Module,
        train_u: np.ndarray,
        train_i: np.ndarray,
        val_tensors: tuple[torch.Tensor, torch.Tensor] | None,
        *,
        model: str,
        weights: np.ndarray | None,
    ) -> torch.nn.Module:
        """Train an MF or GMF ``network`` by ALS sweeps on the iALS objective
        (:func:`implicit_ncf.als.fit_als`), outside Lightning: no learning rate, no batches."""
        import scipy.sparse as sp

        from .als import choose_weight_decay, fit_als

        values = np.ones(len(train_u), np.float32) if weights is None else weights
        positives = sp.csr_matrix(
            (np.asarray(values, np.float32), (train_u, train_i)),
            shape=(network.n_users, network.n_items),
        )
        patience = int(self.patience) if (self.early_stopping and val_tensors) else None
        offset = None if self.penalty_offset is None else float(self.penalty_offset)
        weight_decay, n_epochs = self.weight_decay, int(self.n_epochs)
        if not isinstance(weight_decay, int | float | np.integer | np.floating):
            # candidates: the penalty is chosen on a validation item per user carved from
            # these positives (implicit_ncf.als.choose_weight_decay), then refitted on all of
            # them for as many sweeps as its best
            weight_decay, rows = choose_weight_decay(
                network,
                positives,
                [float(w) for w in weight_decay],
                n_epochs=int(self.n_epochs),
                unobserved_weight=float(self.unobserved_weight),
                penalty_offset=offset,
                random_state=self.random_state,
            )
            self._searches.append({"stage": model, "chosen": weight_decay, "candidates": rows})
            best = [r["best_epoch"] for r in rows if r["weight_decay"] == weight_decay]
            n_epochs = 1 + int(best[0]) if best else n_epochs
        history, best_epoch = fit_als(
            network,
            positives,
            n_epochs=n_epochs,
            weight_decay=float(weight_decay),
            unobserved_weight=float(self.unobserved_weight),
            penalty_offset=offset,
            validation=val_tensors,
            patience=patience,
            verbose=bool(self.verbose),
            stage=model,
        )
        self._stages.append((model, history, best_epoch, "als"))
        return network

    def _resolve_optimizer(self, network: torch.nn.Module, trainer: Any, n_items: int) -> str:
        """The optimizer of this stage: ``self.optimizer``, or for ``"auto"`` the rule of
        :func:`implicit_ncf.optim.resolve_optimizer` on the network's embedding tables and the
        trainer's device."""
        from .optim import resolve_optimizer

        tables = sum(
            m.weight.numel() for m in network.modules() if isinstance(m, torch.nn.Embedding)
        )
        dense_only = None
        if self._per_batch_options():
            dense_only = "trainer options that need automatic optimization"
        elif self.loss == "softmax" and n_items <= int(self.n_sampled):
            dense_only = "the full softmax gives every item row a gradient"
        elif self.loss == "ials":
            dense_only = "the iALS loss gives every item row a gradient"
        device = str(getattr(getattr(trainer.strategy, "root_device", None), "type", "cpu"))
        return resolve_optimizer(str(self.optimizer), tables, device, dense_only=dense_only)

    def _network_loss(self, model: str) -> str:
        """The loss a ``model`` network trains with: ``self.loss``, or for ``"auto"``
        ``"ials"`` where a dot-product tower gives the catalogue sum its Gramian (MF, GMF,
        NeuMF) and ``"bce"`` for the MLP (NeuMF's MLP tower included)."""
        if self.loss != "auto":
            return str(self.loss)
        return "bce" if model == "mlp" else "ials"

    def _final_loss(self) -> str:
        """The loss of the fitted network (NeuMF's fine-tuning, ``tower_params["neumf"]``
        included): the one its fold-in and ``partial_fit`` follow."""
        loss = self
        if self.model == "neumf" and self.pretrain:
            overrides = dict(tower_overrides(self).get("neumf", {}))
            if "loss" in overrides:
                loss = type(self)(loss=overrides["loss"])
        return loss._network_loss(str(self.model))

    def _stage(self, name: str, **fixed: Any) -> NeuralCF:
        """The estimator that trains stage ``name`` of a pretrained NeuMF: ``self`` with
        ``fixed`` and then ``tower_params[name]`` applied (``self`` when neither changes
        anything); it records its history in this fit's stages."""
        overrides = {**fixed, **dict(tower_overrides(self).get(name, {}))}
        if not overrides:
            return self
        stage = type(self)(**{**self.get_params(), **overrides})
        stage._stages, stage._searches = self._stages, self._searches
        return stage

    def _training_batches(
        self,
        train_u: np.ndarray,
        train_i: np.ndarray,
        sampler: Any,
        n_items: int,
        seed: int,
        steps_per_batch: int,
        weights: np.ndarray | None = None,
    ) -> batches._EpochBatches:
        """The training set of this estimator's loss (see :mod:`implicit_ncf.batches`)."""
        common: dict[str, Any] = {
            "n_negatives": int(self.n_negatives),
            "batch_size": int(self.batch_size),
            "seed": seed,
            "steps_per_batch": steps_per_batch,
            "weights": weights,
        }
        if self.loss == "bce":
            return batches._EpochBatches(train_u, train_i, sampler, **common)
        if self.loss == "ials":
            if self.optimizer == "lazy_adam":
                raise ValueError(
                    "optimizer='lazy_adam' with loss='ials' is not supported: the iALS loss "
                    "gives every item row a gradient (through the item Gramian). Use "
                    "optimizer='adam' or 'auto'."
                )
            # each positive carries 1 / n_u of its user's catalogue term: once per user and epoch
            counts = np.bincount(train_u).astype(np.float64)
            unobserved = float(self.unobserved_weight) / np.maximum(counts, 1.0)
            return batches._PositiveBatches(
                train_u, train_i, sampler, n_items=n_items, unobserved=unobserved, **common
            )
        n_shared = 0
        if self.loss == "softmax":
            n_shared = -1 if n_items <= int(self.n_sampled) else int(self.n_sampled)
            if n_shared == -1 and self.optimizer == "lazy_adam":
                raise ValueError(
                    f"optimizer='lazy_adam' with loss='softmax' over a catalogue of {n_items} "
                    f"items (at most n_sampled={self.n_sampled}, so the full softmax) is not "
                    "supported: the full softmax gives every item row a gradient. Use "
                    f"optimizer='adam', or n_sampled < {n_items} for the sampled softmax."
                )
        return batches._PositiveBatches(
            train_u, train_i, sampler, n_items=n_items, n_shared=n_shared, **common
        )

    def _n_factors(self) -> int:
        """``n_factors``, or for ``None`` 128 for NeuMF (every stage of it) and 64 otherwise."""
        if self.n_factors is None:
            return 128 if self.model == "neumf" else 64
        return int(self.n_factors)

    def _score_blended(self) -> bool:
        """Whether ``fit`` returns the score-space blend of :func:`networks.blend_with_start`
        (a NeuMF whose GMF tower is ``2 * n_factors`` wide)."""
        return (
            self.model == "neumf"
            and bool(self.pretrain)
            and float(self.finetune_mix) > 0
            and self.finetune_mix_space == "scores"
        )

    def _build_network(
        self, n_users: int, n_items: int, *, model: str | None = None, blended: bool = True
    ) -> Any:
        """A fresh network of this estimator's hyperparameters (``model`` overrides the kind):
        the shape ``fit`` returns, or with ``blended=False`` the NeuMF that is fine-tuned
        before a score-space blend widens it."""
        from .networks import build_network

        wide = blended and model in (None, "neumf") and self._score_blended()
        return build_network(
            self.model if model is None else model,
            int(n_users),
            int(n_items),
            n_factors=self._n_factors() * (2 if wide else 1),
            hidden_layers=tuple(int(h) for h in self.hidden_layers),
            dropout=float(self.dropout),
            gmf_output=str(self.gmf_output),
        )

    def _check_distributed(self, trainer: Any) -> None:
        """Refuse multi-process set-ups under which fit would silently go wrong."""
        start_method = getattr(trainer.strategy, "_start_method", "popen")
        if start_method in ("spawn", "fork", "forkserver"):
            raise ValueError(
                f"trainer_kwargs strategy {type(trainer.strategy).__name__} with start method "
                f"{start_method!r} (ddp_spawn, ddp_fork, ddp_notebook) is not supported: it trains "
                "in child processes and loses the per-epoch history and best weights. Use "
                "strategy='ddp' and run your code as a script (or under torchrun / srun)."
            )
        if trainer.world_size > 1 and self.random_state is None:
            raise ValueError(
                f"random_state=None with {trainer.world_size} training processes: every process "
                "must draw the same shuffles and validation split, so the seed must be fixed. "
                "Pass random_state=<int>, e.g. random_state=0."
            )

    def _steps_per_batch(self) -> int:
        """Optimizer steps per batch handed to the Trainer (see ``NCFModule.step_batch_size``).

        Several steps share one trainer batch so that Lightning's fixed cost per batch is paid
        once per ``_BATCH_EXAMPLES`` examples; the steps themselves are unchanged. Trainer options
        that count batches or act on every step (clipping, accumulation, batch limits, validation
        intervals in batches, step limits) keep one step per batch, so their meaning is unchanged.
        """
        if self._per_batch_options():
            return 1
        return max(1, _BATCH_EXAMPLES // int(self.batch_size))

    def _per_batch_options(self) -> bool:
        """Whether ``trainer_kwargs`` holds an option that needs one optimizer step per trainer
        batch, taken by Lightning's automatic optimization (clipping, accumulation, limits)."""
        return bool(set(self.trainer_kwargs or {}) & _PER_BATCH_TRAINER_OPTIONS)

    def _build_trainer(self, callbacks: list[Any], n_epochs: int) -> Any:
        """The only place in the library that builds a Lightning Trainer.

        Called inside ``training._quiet_lightning``. With ``verbose``: Lightning's progress bar
        (one per fit, so one per stage of a pretrained NeuMF) when standard output is a terminal
        or a notebook, and otherwise none, the ``History`` callback writing one line per epoch
        instead (a carriage-return bar in a log file is thousands of updates). Lightning's own
        info lines (device banner, model summary, logger tips) stay hidden unless the user
        configured the Trainer through ``trainer_kwargs``, whose options also win over these.
        """
        import sys

        import pytorch_lightning as pl

        from .training import History, _quiet_lightning

        verbose = bool(self.verbose)
        stdout = sys.stdout
        interactive = bool(getattr(stdout, "isatty", lambda: False)()) or type(
            stdout
        ).__module__.startswith("ipykernel")
        user_trainer = bool(self.trainer_kwargs)
        kwargs: dict[str, Any] = {
            "max_epochs": n_epochs,
            "accelerator": self.accelerator,
            "devices": self.devices,
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": verbose and interactive,
            "enable_model_summary": verbose and user_trainer,
            "num_sanity_val_steps": 0,
            "deterministic": None,  # leave torch.use_deterministic_algorithms as the user set it
        }
        extra = dict(self.trainer_kwargs or {})
        user_callbacks = extra.pop("callbacks", None) or []
        if not isinstance(user_callbacks, list):
            user_callbacks = [user_callbacks]
        kwargs.update(extra)
        kwargs["callbacks"] = [*callbacks, *user_callbacks]
        for callback in callbacks:
            if isinstance(callback, History):
                callback.lightning_info = user_trainer
        try:
            with _quiet_lightning(verbose, lightning_info=user_trainer):
                return pl.Trainer(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"could not build the Lightning Trainer from accelerator={self.accelerator!r}, "
                f"devices={self.devices!r}, trainer_kwargs={self.trainer_kwargs!r}: {exc}"
            ) from exc

    # -- scoring ----------------------------------------------------------------------------------
    def _score_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        out = np.empty(len(user_idx), dtype=np.float64)
        # small chunks keep each layer's activations in cache: 2**11 pairs score 604k pairs
        # about 4x faster on a CPU than 2**18 (whose activations are fresh 100 MB allocations)
        step = 1 << 11
        with torch.inference_mode():
            for s in range(0, len(user_idx), step):
                u = torch.from_numpy(np.ascontiguousarray(user_idx[s : s + step], dtype=np.int64))
                i = torch.from_numpy(np.ascontiguousarray(item_idx[s : s + step], dtype=np.int64))
                out[s : s + step] = self.network_(u, i).double().numpy()
        return out

    def _score_users(self, user_idx: np.ndarray) -> torch.Tensor:
        from .networks import score_all_batched

        with torch.inference_mode():
            return score_all_batched(self.network_, torch.from_numpy(user_idx.astype(np.int64)))

    def predict(self, users: Any, items: Any) -> np.ndarray:
        """Predicted probability that each (user, item) pair is a positive (raw ids in).

        The sigmoid of the network's logit: a probability for ``loss="bce"``; for the other
        losses it orders pairs the same way but is not calibrated (``"ials"`` fits scores to 1
        on positives and 0 elsewhere, so its raw scores sit near [0, 1] and their sigmoid near
        [0.5, 0.73]). See :meth:`_BaseRecommender.predict`.
        """
        return 1.0 / (1.0 + np.exp(-super().predict(users, items)))

    def _to_output_score(self, scores: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-scores))

    # -- real time: fold-in, partial_fit, similarity ----------------------------------------------
    def _fold_options(self, *salt: int) -> dict[str, Any]:
        """Fold-in settings of this model (:mod:`implicit_ncf.foldin`), checked; seeded by
        ``random_state`` and ``salt`` (a fresh seed when ``random_state`` is None)."""
        _check_positive_int(self.fold_in_steps, "fold_in_steps")
        lr = self.fold_in_learning_rate
        if (
            isinstance(lr, bool)
            or not isinstance(lr, int | float | np.floating)
            or not (math.isfinite(lr) and lr > 0)
        ):
            raise ValueError(
                f"fold_in_learning_rate must be a positive number; got {lr!r}. Pass e.g. "
                "fold_in_learning_rate=0.1."
            )
        seed = None
        if self.random_state is not None:
            seed = np.random.default_rng(np.random.SeedSequence([int(self.random_state), *salt]))
        n_negatives = int(self.n_negatives)
        loss = self._final_loss()
        if loss == "softmax":  # per-positive negatives standing in for the shared ones
            from .foldin import SOFTMAX_NEGATIVES

            n_negatives = min(int(self.n_sampled), SOFTMAX_NEGATIVES)
        return {
            "n_negatives": n_negatives,
            "weight_decay": self._fitted_weight_decay(),
            "loss": loss,
            "unobserved_weight": float(self.unobserved_weight),
            "n_steps": int(self.fold_in_steps),
            "learning_rate": float(lr),
            "random_state": seed,
            # an ALS-trained network's penalty has a constant part (implicit_ncf.als)
            "catalogue_penalty": getattr(self, "optimizer_", None) == "als",
            "penalty_offset": None if self.penalty_offset is None else float(self.penalty_offset),
        }

    def _fitted_weight_decay(self) -> float:
        """The fitted network's ``weight_decay``: the one chosen among candidates for an ALS
        network (``penalty_search_``), else the parameter."""
        search = getattr(self, "penalty_search_", None)
        if getattr(self, "optimizer_", None) == "als" and search:
            return float(search[-1]["chosen"])
        return float(self.weight_decay)

    def _per_weights(self, name: str, compute: Any) -> Any:
        """``compute()``, kept until the fitted network's weights change.

        Every value in the cache belongs to one state of the weights: it is dropped when the
        network is replaced (a refit, ``partial_fit``) or any parameter or buffer is written
        in place (which raises its version counter) or reallocated. The cache is never
        pickled, saved or deep-copied.
        """
        network = self.network_
        tensors = [*network.parameters(), *network.buffers()]
        key = tuple((t.data_ptr(), t._version) for t in tensors)
        cached: tuple[Any, tuple[tuple[int, int], ...], dict[str, Any]] | None
        cached = getattr(self, "_weights_cache", None)
        if cached is None or cached[0]() is not network or cached[1] != key:
            # a weak reference: the cache never keeps a replaced network alive, and a network
            # allocated where a freed one was is never mistaken for it
            cached = (weakref.ref(network), key, {})
            self._weights_cache = cached
        values = cached[2]
        if name not in values:
            # never inference tensors, which a later fold-in could not use with autograd
            with torch.inference_mode(False), torch.no_grad():
                values[name] = compute()
        return values[name]

    def _frozen_user_side(self) -> tuple[Any, Any, Any]:
        """(parts, frozen side, start rows) of the fitted network for folding users in,
        computed once per state of its weights: every ``recommend(..., interactions=...)``
        call reuses them until the network changes (see :meth:`_per_weights`)."""
        from . import foldin

        def compute() -> tuple[Any, Any, Any]:
            network = self.network_
            parts = foldin.network_parts(network)
            solve = self._final_loss() == "ials"
            return (
                parts,
                foldin.frozen_side(parts, "user", solve=solve),
                foldin.start_rows(network, "user", self.n_users_),
            )

        return self._per_weights("fold_user", compute)

    def _score_folded(self, base_idx: np.ndarray, positives: Any) -> torch.Tensor:
        from . import foldin

        network = self.network_
        parts, frozen, start = self._frozen_user_side()
        init = foldin.stack_init(
            foldin.current_rows(network, "user", base_idx[base_idx >= 0]), base_idx, start
        )
        options = self._fold_options()
        folded = foldin.fold_in(parts, positives, init=init, frozen=frozen, **options)
        with torch.inference_mode():
            return foldin.score_users(parts, folded.vectors, frozen)

    def partial_fit(self, interactions: pd.DataFrame, y: None = None) -> NeuralCF:
        """Add new interactions to the fitted model without a refit; returns ``self``.

        Users and items new to the model are added (after the existing indices); the users
        with new interactions get vectors folded in from all their interactions and new items
        from all their users, the rest of the network frozen (the procedure of
        ``recommend(..., interactions=...)``; :func:`implicit_ncf.foldin.update_network`).
        The seen items, item popularity and model file include the new data.

        Parameters
        ----------
        interactions : pandas.DataFrame
            New interactions, with the columns of the training frame; pairs the model already
            has are kept once.
        y : None
            Ignored (scikit-learn's convention).

        Returns
        -------
        NeuralCF
            The updated estimator. If it fails, the estimator keeps its previous state.

        Notes
        -----
        It does not retrain the shared layers nor the vectors of the items the model already
        had, so what the network learned about items drifts from the data as new interactions
        pile up; refit when they are a sizeable share of the data or when quality on recent
        interactions drops (``docs/realtime.md`` measures the drift on MovieLens-1M). Not safe
        to call while other threads call ``recommend`` on the same instance (it swaps the
        fitted state at the end).
        """
        self._check_fitted()
        from . import foldin

        epochs = self.partial_fit_epochs
        if isinstance(epochs, bool) or not isinstance(epochs, int | np.integer) or epochs < 0:
            raise ValueError(
                f"partial_fit_epochs must be a non-negative int; got {epochs!r}. Pass 0 for "
                "the fold-in alone, or e.g. partial_fit_epochs=2."
            )
        if epochs and self._final_loss() == "ials":
            raise ValueError(
                f"partial_fit_epochs={epochs} is not supported for a model trained with "
                f"the iALS loss (loss={self.loss!r}; the replayed fine-tuning samples "
                "negatives, the iALS loss sums over the catalogue). Pass "
                "partial_fit_epochs=0 (the fold-in alone), or fit with loss='bce' to refresh."
            )
        grown = self._grow_catalogue(self._prepare(interactions))
        network = foldin.update_network(
            self.network_,
            self._build_network(len(grown.users), len(grown.items)),
            grown.seen,
            grown.added,
            n_old_users=self.n_users_,
            n_old_items=self.n_items_,
            **self._fold_options(self.n_users_, self.n_items_, int(self.seen_.nnz)),
        )
        if epochs:
            from .incremental import refresh
            from .training import _preserve_torch_rng

            salt = [self.n_users_, self.n_items_, int(self.seen_.nnz)]
            sequence = (
                np.random.SeedSequence()  # a fresh seed, like fit's
                if self.random_state is None
                else np.random.SeedSequence([int(self.random_state), *salt])
            )
            seed = int(sequence.generate_state(1)[0])
            with _preserve_torch_rng(seed):
                refresh(
                    self,
                    network,
                    grown.seen,
                    grown.added,
                    n_epochs=int(epochs),
                    learning_rate=float(self.finetune_learning_rate),
                    seed=seed,
                )
        self.user_encoder_, self.item_encoder_ = grown.users, grown.items
        self.seen_, self.item_popularity_ = grown.seen, grown.popularity
        self.network_ = network
        return self

    def _similarity_space(self, side: str) -> torch.Tensor:
        """See :mod:`implicit_ncf.similarity` for the space of each network; computed once
        per state of the weights (:meth:`_per_weights`), so a live ``similar_items`` call
        costs one product with the catalogue."""
        from .similarity import embedding_space

        return self._per_weights(f"space_{side}", lambda: embedding_space(self.network_, side))

    # -- persistence ------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted model to one file: hyperparameters, id maps, seen items, weights.

        The file holds only tensors and plain Python values, so :meth:`load` reads it with
        ``torch.load(..., weights_only=True)``, which cannot run code. It is written to a temporary
        file and renamed, so an interrupted save never leaves a half-written model behind.
        ``trainer_kwargs`` are not saved (they may hold callbacks and loggers).
        """
        self._check_fitted()
        from .model_file import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NeuralCF:
        """Load a model written by :meth:`save`; needs no training data.

        Raises
        ------
        ValueError
            If the file is truncated, corrupted, not a model file, written by an incompatible
            version, or carries anything but tensors and plain values (it is never executed).
        FileNotFoundError
            If ``path`` does not exist.
        """
        from .model_file import load_model

        return load_model(cls, path)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_stages", None)
        state.pop("_searches", None)
        state.pop("_weights_cache", None)  # a cache (and a weak reference: not picklable)
        return state
