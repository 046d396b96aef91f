"""NeuralCF's hyperparameters: the values each may take, and the check ``fit`` runs first.

Kept apart from :mod:`implicit_ncf.estimator` so that "which values does ``loss`` accept?" is
answered by a short file; ``NeuralCF._check_params`` calls :func:`check_params`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._validation import _check_positive_int

__all__ = ["AUTO_TOWER_PARAMS", "check_params", "tower_overrides"]

_MODELS = ("neumf", "gmf", "mlp", "mf")
# Trainer options whose meaning depends on one optimizer step per trainer batch.
_PER_BATCH_TRAINER_OPTIONS = frozenset(
    {
        "gradient_clip_val",
        "gradient_clip_algorithm",
        "accumulate_grad_batches",
        "limit_train_batches",
        "val_check_interval",
        "max_steps",
        "min_steps",
        "overfit_batches",
        "log_every_n_steps",
    }
)
# What tower_params may set for each stage of a pretrained NeuMF (fine-tuning has its own
# finetune_epochs and finetune_learning_rate).
_STAGE_PARAMS = (
    "loss",
    "n_negatives",
    "n_sampled",
    "unobserved_weight",
    "batch_size",
    "weight_decay",
    "lr_decay",
)
_TOWER_PARAMS = {
    "gmf": (*_STAGE_PARAMS, "n_epochs", "learning_rate", "optimizer", "penalty_offset"),
    "mlp": (*_STAGE_PARAMS, "n_epochs", "learning_rate"),
    "neumf": _STAGE_PARAMS,
}


# tower_params="auto" (the default): a pretrained NeuMF's GMF tower solved by ALS, its penalty
# weight_decay * (n_r + 100) chosen per fit among these candidates on a validation item per user
# carved from the training data (docs/results.md section 2).
AUTO_TOWER_PARAMS: dict[str, dict[str, Any]] = {
    "gmf": {"optimizer": "als", "weight_decay": (0.015, 0.03, 0.06, 0.1), "penalty_offset": 100.0}
}


def tower_overrides(est: Any) -> dict[str, dict[str, Any]]:
    """The per-stage overrides of ``est.tower_params``: ``"auto"`` resolves to
    :data:`AUTO_TOWER_PARAMS` when the GMF tower trains on the iALS loss with its output
    vector fixed (what ALS solves), and to none otherwise; ``None`` is none."""
    towers = est.tower_params
    if towers is None:
        return {}
    if isinstance(towers, str) and towers == "auto":
        ials = est.loss in ("auto", "ials")
        if ials and est.gmf_output == "fixed":
            return {name: dict(params) for name, params in AUTO_TOWER_PARAMS.items()}
        return {}
    return dict(towers) if isinstance(towers, dict) else {}  # anything else: check_params says


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def check_params(est: Any) -> None:
    """Check every hyperparameter of a :class:`~implicit_ncf.NeuralCF` (``est``); the errors
    name the parameter, the value and the fix."""
    if est.model not in _MODELS:
        raise ValueError(f"model must be one of {list(_MODELS)}; got {est.model!r}.")
    from .losses import LOSSES
    from .networks import GMF_OUTPUTS

    if not isinstance(est.gmf_output, str) or est.gmf_output not in GMF_OUTPUTS:
        raise ValueError(
            f"gmf_output must be one of {list(GMF_OUTPUTS)}: 'fixed' (GMF's output vector held "
            f"at ones) or 'learned' (the NCF paper's); got {est.gmf_output!r}."
        )

    if not isinstance(est.loss, str) or est.loss not in ("auto", *LOSSES):
        raise ValueError(
            f"loss must be one of {['auto', *LOSSES]}: 'auto' ('ials' for MF, GMF and NeuMF, "
            f"'bce' for the MLP), 'bce' (the NCF paper's), 'bpr' or 'softmax' (ranking "
            f"losses), 'ials' (the implicit-ALS objective over the whole catalogue); got "
            f"{est.loss!r}."
        )
    if est.n_factors is not None:
        _check_positive_int(est.n_factors, "n_factors")
    for name in (
        "n_negatives",
        "n_sampled",
        "batch_size",
        "n_epochs",
        "finetune_epochs",
        "patience",
    ):
        _check_positive_int(getattr(est, name), name)
    layers = est.hidden_layers
    if (
        isinstance(layers, str | bytes)
        or not isinstance(layers, Sequence)
        or not layers
        or any(isinstance(h, bool) or not isinstance(h, int | np.integer) or h <= 0 for h in layers)
    ):
        raise ValueError(
            f"hidden_layers must be a non-empty sequence of positive integers such as "
            f"(64, 32, 16, 8); got {layers!r}."
        )
    if est.model in ("mlp", "neumf") and layers[0] < 2:
        raise ValueError(
            f"hidden_layers[0] is the concatenated user+item embedding width and must be at "
            f"least 2; got {layers[0]}."
        )
    positive = "must be a finite number above 0"
    for name, within, rule in (
        ("dropout", lambda v: 0.0 <= v < 1.0, "must be a number in [0, 1) (0: no dropout)"),
        ("learning_rate", lambda v: v > 0, f"{positive}, such as 1e-3"),
        ("finetune_learning_rate", lambda v: v > 0, f"{positive}, such as 5e-4"),
        (
            "finetune_mix",
            lambda v: 0.0 <= v <= 1.0,
            "must be a number in [0, 1] (0 keeps the fine-tuned NeuMF, 1 the pretrained one)",
        ),
        ("unobserved_weight", lambda v: v > 0, f"{positive} (1 weighs the catalogue term fully)"),
        ("lr_decay", lambda v: 0.0 < v <= 1.0, "must be a number in (0, 1] (1: a constant rate)"),
    ):
        value = getattr(est, name)
        ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
        if not (ok and math.isfinite(value) and within(value)):
            raise ValueError(f"{name} {rule}; got {value!r}.")
    if not isinstance(est.finetune_mix_space, str) or est.finetune_mix_space not in (
        "weights",
        "scores",
    ):
        raise ValueError(
            f"finetune_mix_space must be 'weights' (finetune_mix averages the weights) or "
            f"'scores' (it averages the logits); got {est.finetune_mix_space!r}."
        )
    _check_weight_decay(est)
    from .training import OPTIMIZERS

    choices = ["auto", *OPTIMIZERS, "als"]
    if est.optimizer not in choices:
        raise ValueError(f"optimizer must be one of {choices}; got {est.optimizer!r}.")
    if est.optimizer == "als":
        if est.model not in ("mf", "gmf"):
            fix = (
                "For NeuMF, train its GMF tower so: tower_params={'gmf': {'optimizer': 'als'}}."
                if est.model == "neumf"
                else "Use optimizer='auto' or 'adam' for it."
            )
            raise ValueError(
                f"optimizer='als' solves networks with bilinear logits (model='mf' or 'gmf'); "
                f"got model={est.model!r}. {fix}"
            )
        if est.loss not in ("auto", "ials"):
            raise ValueError(
                f"optimizer='als' minimises the iALS objective; got loss={est.loss!r}. Pass "
                "loss='ials' (or 'auto'), or optimizer='auto' for this loss."
            )
    _check_penalty_offset(est)
    if est.optimizer == "lazy_adam" and est._per_batch_options():
        options = sorted(set(est.trainer_kwargs or {}) & _PER_BATCH_TRAINER_OPTIONS)
        raise ValueError(
            f"optimizer='lazy_adam' cannot be combined with trainer_kwargs {options}: those "
            "options need Lightning's automatic optimization, which takes one optimizer and "
            "dense gradients. Drop them, or use optimizer='adam'."
        )
    _check_tower_params(est)
    if est.weight_col is not None and not isinstance(est.weight_col, str):
        raise TypeError(
            f"weight_col must be a column name (str) or None; got "
            f"{type(est.weight_col).__name__} {est.weight_col!r}."
        )
    if est.on_unknown_user not in ("raise", "popular"):
        raise ValueError(
            f"on_unknown_user must be 'raise' or 'popular'; got {est.on_unknown_user!r}."
        )
    if est.trainer_kwargs is not None and not isinstance(est.trainer_kwargs, dict):
        raise TypeError(
            f"trainer_kwargs must be a dict of Trainer arguments or None; got "
            f"{type(est.trainer_kwargs).__name__}."
        )
    if est.random_state is not None and (
        isinstance(est.random_state, bool) or not isinstance(est.random_state, int | np.integer)
    ):
        raise TypeError(
            f"random_state must be an int or None (a seed that can be stored); got "
            f"{type(est.random_state).__name__}."
        )
    if est.random_state is not None and est.random_state < 0:
        raise ValueError(
            f"random_state must be a non-negative int seed or None; got {est.random_state!r}."
            " Pass e.g. random_state=0."
        )
    for name in ("pretrain", "early_stopping", "verbose"):
        if not isinstance(getattr(est, name), bool | np.bool_):
            raise TypeError(
                f"{name} must be True or False; got {type(getattr(est, name)).__name__} "
                f"{getattr(est, name)!r}."
            )


def _check_weight_decay(est: Any) -> None:
    value = est.weight_decay
    if _is_number(value) and value >= 0:
        return
    candidates = (
        isinstance(value, list | tuple | np.ndarray)
        and len(value) > 0
        and all(_is_number(v) and v >= 0 for v in value)
    )
    if candidates and est.optimizer == "als":
        return
    if candidates:
        raise ValueError(
            f"weight_decay={value!r}: a sequence of candidates (chosen per fit on a validation "
            f"item per user carved from the training data) is for optimizer='als' stages; got "
            f"optimizer={est.optimizer!r}. Pass one number, optimizer='als' (model='mf' or "
            "'gmf'), or the candidates in tower_params={'gmf': {'optimizer': 'als', "
            "'weight_decay': [...]}} for NeuMF."
        )
    raise ValueError(
        f"weight_decay must be a finite number >= 0 (e.g. 1e-3), or for optimizer='als' a "
        f"non-empty sequence of them; got {value!r}."
    )


def _check_penalty_offset(est: Any) -> None:
    offset = est.penalty_offset
    if offset is None:
        return
    ok = isinstance(offset, int | float | np.integer | np.floating) and not isinstance(offset, bool)
    if not ok or not math.isfinite(offset) or offset < 0:
        raise ValueError(
            f"penalty_offset must be None or a finite number >= 0 (the constant part of the ALS "
            f"penalty, e.g. 150.0); got {offset!r}."
        )
    towers = tower_overrides(est) if isinstance(est.tower_params, dict | str) else {}
    gmf = towers.get("gmf") if isinstance(towers.get("gmf"), dict) else {}
    tower_als = est.model == "neumf" and est.pretrain and gmf.get("optimizer") == "als"
    if est.optimizer != "als" and not tower_als:
        raise ValueError(
            f"penalty_offset={offset!r} is the ALS penalty's constant part, and no stage of this "
            f"model uses optimizer='als' (optimizer={est.optimizer!r}, model={est.model!r}). "
            "Pass optimizer='als' (model='mf' or 'gmf'), or tower_params={'gmf': "
            "{'optimizer': 'als'}} for NeuMF, or drop penalty_offset."
        )


def _check_tower_params(est: Any) -> None:
    towers = est.tower_params
    if towers is None:
        return
    if isinstance(towers, str) and towers == "auto":
        towers = tower_overrides(est)
    if not isinstance(towers, dict) or set(towers) - set(_TOWER_PARAMS):
        raise ValueError(
            f"tower_params must be 'auto', None or a dict keyed by 'gmf', 'mlp' and/or "
            f"'neumf', each a dict of parameters; got {towers!r}."
        )
    for name, params in towers.items():
        allowed = _TOWER_PARAMS[name]
        if not isinstance(params, dict) or set(params) - set(allowed):
            raise ValueError(
                f"tower_params[{name!r}] must be a dict over {sorted(allowed)}; got {params!r}."
            )
        try:
            # each stage trains its own network: the GMF tower, the MLP tower, NeuMF
            stage = {**est.get_params(), **params, "tower_params": None, "model": name}
            if stage.get("optimizer") != "als":  # only an ALS stage takes the offset
                stage["penalty_offset"] = None
            type(est)(**stage)._check_params()
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"tower_params[{name!r}]: {exc}") from None
