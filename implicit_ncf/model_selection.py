"""Choose hyperparameters on validation data carved from training: the library's own method.

:func:`validation_split` holds out each user's latest training interaction (a random one
without timestamps); :func:`grid_search` and :func:`random_search` fit one estimator per
candidate on the rest, score each on the held-out interactions (full ranking by default: the
measure that matches what a user sees), and return every candidate's figures with the best
estimator refitted on all the training data. They work with any recommender of the library
(``NeuralCF``, ``PopularityRecommender``) and never read a test set: pass them training data
only. The defaults of ``NeuralCF`` were chosen this way (``docs/results.md``).
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .data import check_random_state
from .splits import Split, leave_one_out

__all__ = ["SearchResult", "grid_search", "random_search", "validation_split"]


def validation_split(
    interactions: pd.DataFrame,
    *,
    user_col: str = "user",
    item_col: str = "item",
    time_col: str | None = "timestamp",
    random_state: int | np.random.Generator | None = 0,
) -> Split:
    """Carve a validation set from training interactions: each user's latest interaction.

    :func:`implicit_ncf.splits.leave_one_out` by ``time_col`` when the frame has that column,
    else a random interaction per user (seeded by ``random_state``). ``Split.test`` is the
    validation set; ``Split.train`` is what candidates are fitted on.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame(
    ...     {"user": [1, 1, 2, 2], "item": [1, 2, 1, 3], "timestamp": [1, 2, 3, 4]}
    ... )
    >>> validation_split(frame).test["item"].tolist()
    [2, 3]
    """
    has_time = time_col is not None and time_col in interactions.columns
    return leave_one_out(
        interactions,
        user_col=user_col,
        item_col=item_col,
        time_col=time_col if has_time else None,
        random_state=random_state,
    )


@dataclass(frozen=True)
class SearchResult:
    """What a search returns.

    Attributes
    ----------
    results : pandas.DataFrame
        One row per candidate, in the order tried: ``params`` (a dict), one ``param_<name>``
        column per searched parameter, the validation metrics (``hr@k``, ``ndcg@k``,
        ``mrr@k``), ``fit_time`` (seconds), ``best_epoch`` (epoch kept by early stopping, if
        any) and ``rank`` (1 = best by ``scoring``).
    best_params : dict
        The parameters of the best candidate.
    best_score : float
        Its validation ``scoring`` metric.
    best_estimator : object or None
        A fresh estimator with ``best_params``, fitted on all of ``interactions`` (``refit``),
        else None.
    scoring : str
        The metric the candidates were ranked by.
    """

    results: pd.DataFrame
    best_params: dict[str, Any]
    best_score: float
    best_estimator: Any
    scoring: str


def _check_estimator(estimator: Any) -> None:
    for method in ("get_params", "fit", "evaluate"):
        if not callable(getattr(estimator, method, None)):
            raise TypeError(
                f"estimator must be a recommender of implicit_ncf (with get_params, fit and "
                f"evaluate), e.g. NeuralCF(); got {type(estimator).__name__}."
            )


def _candidates_from_grid(param_grid: Any) -> list[dict[str, Any]]:
    grids = [param_grid] if isinstance(param_grid, Mapping) else param_grid
    if isinstance(param_grid, pd.DataFrame):
        raise TypeError(
            "param_grid must be a dict of parameter name -> list of values; got a DataFrame. "
            "The interactions come after it: grid_search(estimator, param_grid, interactions)."
        )
    if isinstance(grids, str) or not isinstance(grids, Iterable):
        raise TypeError(
            "param_grid must be a dict of parameter name -> list of values (or a list of such "
            f"dicts), e.g. {{'n_factors': [32, 64]}}; got {type(param_grid).__name__}."
        )
    out: list[dict[str, Any]] = []
    for grid in grids:
        if not isinstance(grid, Mapping):
            raise TypeError(
                f"param_grid entries must be dicts of parameter name -> list of values; got "
                f"{type(grid).__name__}."
            )
        names = sorted(grid)
        values = []
        for name in names:
            options = grid[name]
            if isinstance(options, str | bytes) or not isinstance(options, Sequence):
                raise TypeError(
                    f"param_grid[{name!r}] must be a list of values to try; got {options!r}. "
                    f"Wrap a single value in a list: [{options!r}]."
                )
            if not len(options):
                raise ValueError(f"param_grid[{name!r}] is empty; give at least one value.")
            values.append(list(options))
        out.extend(dict(zip(names, combo, strict=True)) for combo in itertools.product(*values))
    return out


def _sample(options: Any, name: str, rng: np.random.Generator) -> Any:
    if hasattr(options, "rvs"):
        return options.rvs(random_state=rng)
    if isinstance(options, str | bytes) or not isinstance(options, Sequence) or not len(options):
        raise TypeError(
            f"param_distributions[{name!r}] must be a non-empty list of values or a scipy.stats "
            f"distribution (with .rvs); got {options!r}."
        )
    return options[int(rng.integers(len(options)))]


def _search(
    estimator: Any,
    candidates: list[dict[str, Any]],
    interactions: pd.DataFrame,
    *,
    validation: pd.DataFrame | None,
    scoring: str,
    k: int | Sequence[int],
    n_negatives: int | None,
    early_stopping: bool,
    refit: bool,
    random_state: Any,
) -> SearchResult:
    _check_estimator(estimator)
    base = estimator.get_params()
    unknown = sorted({name for c in candidates for name in c} - set(base))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for {type(estimator).__name__}; valid parameters "
            f"are {sorted(base)}."
        )
    ks = (k,) if isinstance(k, int | np.integer) else tuple(k)
    if scoring.split("@")[0] not in ("hr", "ndcg", "mrr") or "@" not in scoring:
        raise ValueError(
            f"scoring must name a metric at a cut-off, such as 'ndcg@10' or 'hr@10'; got "
            f"{scoring!r}."
        )
    cut = int(scoring.split("@")[1])
    if cut not in ks:
        ks = (*ks, cut)
    cols = {
        "user_col": base.get("user_col", "user"),
        "item_col": base.get("item_col", "item"),
    }
    if validation is None:
        split = validation_split(interactions, time_col=base.get("time_col", "timestamp"), **cols)
        train, held = split.train, split.test
    else:
        train, held = interactions, validation
    use_validation = early_stopping and "early_stopping" in base
    rows = []
    for params in candidates:
        model = type(estimator)(**{**base, **params})
        if use_validation:
            model.set_params(early_stopping=True)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if use_validation:
                model.fit(train, validation=held)
            else:
                model.fit(train)
            seconds = time.perf_counter() - start
            metrics = model.evaluate(held, k=ks, n_negatives=n_negatives, random_state=random_state)
        row: dict[str, Any] = {"params": params}
        row.update({f"param_{name}": value for name, value in params.items()})
        row.update({name: value for name, value in metrics.items() if "@" in name})
        row["fit_time"] = seconds
        row["best_epoch"] = getattr(model, "best_epoch_", None)
        rows.append(row)
    results = pd.DataFrame(rows)
    results["rank"] = results[scoring].rank(ascending=False, method="min").astype(int)
    best = int(np.argmax(results[scoring].to_numpy()))
    best_params = dict(results["params"].iloc[best])
    best_estimator = None
    if refit:
        best_estimator = type(estimator)(**{**base, **best_params})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            best_estimator.fit(interactions)
    return SearchResult(
        results=results,
        best_params=best_params,
        best_score=float(results[scoring].iloc[best]),
        best_estimator=best_estimator,
        scoring=scoring,
    )


def grid_search(
    estimator: Any,
    param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]],
    interactions: pd.DataFrame,
    *,
    validation: pd.DataFrame | None = None,
    scoring: str = "ndcg@10",
    k: int | Sequence[int] = 10,
    n_negatives: int | None = None,
    early_stopping: bool = True,
    refit: bool = True,
    random_state: Any = 0,
) -> SearchResult:
    """Fit one estimator per combination of ``param_grid`` and rank them on validation data.

    Parameters
    ----------
    estimator : recommender
        The template (e.g. ``NeuralCF(n_epochs=20)``); every candidate is a fresh estimator
        with its parameters updated by the candidate's.
    param_grid : dict or list of dict
        Parameter name -> list of values; every combination is tried (a list of dicts: the
        union of their grids).
    interactions : pandas.DataFrame
        **Training** interactions only (never the test set).
    validation : pandas.DataFrame or None, default None
        Held-out interactions to score candidates on; ``None`` carves them from
        ``interactions`` with :func:`validation_split` and fits candidates on the rest.
    scoring : str, default "ndcg@10"
        Metric that ranks the candidates (``"hr@k"``, ``"ndcg@k"`` or ``"mrr@k"``).
    k : int or sequence of int, default 10
        Cut-offs reported in ``results``.
    n_negatives : int or None, default None
        ``None`` ranks each validation item against every item the user has not interacted
        with (full ranking); an int against that many sampled ones (the NCF protocol).
    early_stopping : bool, default True
        For estimators with an ``early_stopping`` parameter (``NeuralCF``): validate every
        epoch on the validation set and keep each candidate's best epoch.
    refit : bool, default True
        Fit a fresh estimator with the best parameters on all of ``interactions``.
    random_state : int, Generator or None, default 0
        Seed of the validation split without timestamps and of sampled negatives.

    Returns
    -------
    SearchResult

    Examples
    --------
    >>> from implicit_ncf import PopularityRecommender, load_movielens
    >>> result = grid_search(
    ...     PopularityRecommender(), {"min_rating": [None, 4.0]}, load_movielens(), refit=False
    ... )
    >>> sorted(result.results.columns)[:3]
    ['best_epoch', 'fit_time', 'hr@10']
    """
    return _search(
        estimator,
        _candidates_from_grid(param_grid),
        interactions,
        validation=validation,
        scoring=scoring,
        k=k,
        n_negatives=n_negatives,
        early_stopping=early_stopping,
        refit=refit,
        random_state=random_state,
    )


def random_search(
    estimator: Any,
    param_distributions: Mapping[str, Any],
    interactions: pd.DataFrame,
    *,
    n_iter: int = 10,
    validation: pd.DataFrame | None = None,
    scoring: str = "ndcg@10",
    k: int | Sequence[int] = 10,
    n_negatives: int | None = None,
    early_stopping: bool = True,
    refit: bool = True,
    random_state: Any = 0,
) -> SearchResult:
    """Like :func:`grid_search`, over ``n_iter`` candidates drawn from ``param_distributions``.

    Each value of ``param_distributions`` is a list (drawn uniformly) or a scipy.stats
    distribution (drawn with ``.rvs``), e.g. ``{"learning_rate": scipy.stats.loguniform(1e-4,
    1e-2), "n_factors": [32, 64, 128]}``. The draws depend only on ``random_state``; repeated
    candidates are tried once.
    """
    if isinstance(n_iter, bool) or not isinstance(n_iter, int | np.integer) or n_iter < 1:
        raise ValueError(f"n_iter must be a positive integer; got {n_iter!r}.")
    if not isinstance(param_distributions, Mapping) or not param_distributions:
        raise TypeError(
            "param_distributions must be a non-empty dict of parameter name -> list of values "
            f"or scipy.stats distribution; got {param_distributions!r}."
        )
    rng = check_random_state(random_state)
    candidates: list[dict[str, Any]] = []
    for _ in range(int(n_iter)):
        candidate = {
            name: _plain(_sample(param_distributions[name], name, rng))
            for name in sorted(param_distributions)
        }
        if candidate not in candidates:
            candidates.append(candidate)
    return _search(
        estimator,
        candidates,
        interactions,
        validation=validation,
        scoring=scoring,
        k=k,
        n_negatives=n_negatives,
        early_stopping=early_stopping,
        refit=refit,
        random_state=random_state,
    )


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
