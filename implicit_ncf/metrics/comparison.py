"""Paired comparison of two models' per-user metrics: bootstrap interval and Wilcoxon test.

:func:`compare` takes two per-user frames (``evaluate(..., per_user=True)`` or
``metrics_from_ranks(..., per_user=True)`` of two models on the same test users) and says, metric
by metric, how large the difference of the means is, how uncertain it is (a paired bootstrap
percentile interval) and how surprising it would be if the models were equally good (a two-sided
Wilcoxon signed-rank test). Only numpy, pandas and scipy are needed.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["compare"]

_CHUNK_ELEMENTS = 1 << 21  # resamples x users drawn at once: 16 MiB per int64/float64 array
_EXACT_MAX_USERS = 50  # exact Wilcoxon distribution up to this many users without zeros or ties


def _check_random_state(random_state: Any) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or (
        isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool)
    ):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state must be a non-negative integer; got {random_state}.")
        return np.random.default_rng(None if random_state is None else int(random_state))
    raise TypeError(
        f"random_state must be an int, a numpy Generator or None; got "
        f"{type(random_state).__name__} {random_state!r}."
    )


def _metric_columns(a: Any, b: Any, metrics: Any, user_col: str) -> list[str]:
    import pandas as pd

    if metrics is None:
        shared = [c for c in a.columns if c in b.columns and c != user_col]
        names = [
            c
            for c in shared
            if isinstance(c, str)
            and "@" in c
            and pd.api.types.is_numeric_dtype(a[c].dtype)
            and pd.api.types.is_numeric_dtype(b[c].dtype)
        ]
        if not names:
            raise ValueError(
                f"a and b share no metric column (a numeric column named like 'hr@10'); a has "
                f"{list(a.columns)!r}, b has {list(b.columns)!r}. Build both with "
                f"evaluate(..., per_user=True) and the same k, or name the columns with metrics=."
            )
        return names
    if isinstance(metrics, str):
        metrics = [metrics]
    if not isinstance(metrics, Iterable):
        raise TypeError(
            f"metrics must be a sequence of column names or None; got {type(metrics).__name__}."
        )
    names = list(dict.fromkeys(metrics))
    if not names:
        raise ValueError("metrics must name at least one column; got an empty sequence.")
    for name in names:
        for label, frame in (("a", a), ("b", b)):
            if name not in frame.columns:
                raise ValueError(
                    f"metrics names {name!r}, which is not a column of {label}; its columns are "
                    f"{list(frame.columns)!r}."
                )
            dtype = frame[name].dtype
            if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
                raise TypeError(
                    f"column {name!r} of {label} must be numeric to be compared; got dtype {dtype}."
                )
        if name == user_col:
            raise ValueError(
                f"metrics names the user column {user_col!r} (user_col); name metric columns only."
            )
    return names


def _per_user_means(frame: Any, label: str, names: list[str], user_col: str) -> Any:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"{label} must be a pandas DataFrame of per-user metrics, e.g. "
            f"evaluate(..., per_user=True); got {type(frame).__name__}."
        )
    if user_col not in frame.columns:
        raise ValueError(
            f"{label} has no user column {user_col!r} (user_col); its columns are "
            f"{list(frame.columns)!r}. Pass user_col=<your column>, or build the frame with "
            f"evaluate(..., per_user=True) or metrics_from_ranks(..., users=..., per_user=True)."
        )
    if frame[user_col].isna().any():
        raise ValueError(f"column {user_col!r} of {label} has missing user ids; drop them first.")
    values = frame[[user_col, *names]]
    for name in names:
        column = values[name].to_numpy(dtype=np.float64, na_value=np.nan)
        if not np.isfinite(column).all():
            raise ValueError(
                f"column {name!r} of {label} holds {int((~np.isfinite(column)).sum())} NaN or "
                f"infinite value(s); every user needs a finite metric value to be paired."
            )
    # several rows of one user (several targets) are averaged, so the unit is always the user
    return values.groupby(user_col, sort=False)[names].mean()


def _canonical_order(users: Any) -> Any:
    """The users sorted, so that compare(a, b) and compare(b, a) resample them identically."""
    try:
        return users.sort_values()
    except TypeError:  # ids of mixed types: by type name, then text
        keys = [(type(u).__name__, str(u)) for u in users]
        return users[sorted(range(len(users)), key=keys.__getitem__)]


def compare(
    a: Any,
    b: Any,
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    random_state: int | np.random.Generator | None = 0,
    metrics: Iterable[str] | None = None,
    user_col: str = "user",
) -> Any:
    """Paired comparison of two models' per-user metrics: difference, bootstrap interval, p-value.

    Both frames are paired user by user: only users present in **both** ``a`` and ``b`` (an
    inner join on ``user_col``) are compared, and every other user is dropped, so evaluate the
    two models on the same test users (and, for sampled metrics, the same candidates). For each
    metric the mean difference ``mean(a) - mean(b)`` over those users is given with a paired
    bootstrap percentile interval and a two-sided Wilcoxon signed-rank p-value.

    Parameters
    ----------
    a, b : pandas.DataFrame
        Per-user metrics of the two models, e.g. ``evaluate(..., per_user=True)`` or
        ``metrics_from_ranks(..., users=..., per_user=True)``: a ``user_col`` column and one
        numeric column per metric. A user with several rows (several test targets) is averaged
        first, so each user counts once.
    n_resamples : int, default 10_000
        Number of bootstrap resamples of the users.
    confidence : float, default 0.95
        Coverage of the interval, in ``(0, 1)``.
    random_state : int, numpy.random.Generator or None, default 0
        Seed of the bootstrap; the default makes the interval repeatable. With the same seed,
        ``compare(b, a)`` draws the same resamples as ``compare(a, b)``, so its interval is the
        mirror image.
    metrics : sequence of str, optional
        Columns to compare. By default every numeric column shared by ``a`` and ``b`` whose name
        contains ``"@"`` (``"hr@10"``, ``"ndcg@10"``, ...), in the order of ``a``; ``"rank"`` and
        id columns are left out.
    user_col : str, default "user"
        The user column of both frames.

    Returns
    -------
    pandas.DataFrame
        Indexed by metric name (index name ``"metric"``), with columns

        - ``a``, ``b``: the mean of the metric over the shared users for each model;
        - ``difference``: ``a - b``;
        - ``ci_low``, ``ci_high``: the ``confidence`` percentile interval of the mean paired
          difference over ``n_resamples`` resamples of the users with replacement;
        - ``p_value``: two-sided Wilcoxon signed-rank test of the paired differences (1.0 when
          every difference is zero);
        - ``n_users``: the number of shared users.

    Raises
    ------
    ValueError
        If no user is shared, a frame lacks ``user_col`` or a named metric, a metric value is NaN
        or infinite, the frames share no metric column, ``n_resamples`` is not a positive integer
        or ``confidence`` is not in ``(0, 1)``.
    TypeError
        If ``a`` or ``b`` is not a DataFrame, a metric column is not numeric or ``random_state``
        is of the wrong kind.

    See Also
    --------
    evaluate : Builds the per-user frames (``per_user=True``).
    metrics_from_ranks : The same frames from ranks computed elsewhere.

    Notes
    -----
    **Bootstrap.** The paired differences ``d_u = a_u - b_u`` are resampled as whole users (the
    same user for both models, which keeps the pairing), ``n_resamples`` times, and the interval
    is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` percentiles of the resampled
    means (Efron & Tibshirani, 1993, ch. 13). The resamples are drawn in vectorised chunks of
    about two million (resample, user) pairs, so 10,000 resamples of 6,040 users take about a
    second and under 100 MB.

    **Wilcoxon test** (``scipy.stats.wilcoxon``, ``zero_method="zsplit"``). Top-K metrics are
    mostly zero for both models, so most differences are exactly zero. The default
    ``zero_method="wilcox"`` discards those users, which tests only the users where the models
    differ and overstates the evidence; ``"zsplit"`` keeps them in the ranking and splits their
    ranks evenly between the positive and negative sums (Pratt, 1959; Conover, 1999), so a large
    share of ties pulls the p-value towards 1, and all-zero differences give exactly 1. The
    p-value comes from the normal approximation with scipy's correction for ties, or from the
    exact null distribution when there are at most 50 users and no zero or tied differences.
    The sign of the differences does not matter: ``compare(b, a)`` gives the same p-value.

    **When is a difference real?** When the interval excludes 0 *and* the p-value is small.
    Both assume the users are an independent sample; neither corrects for comparing many
    metrics, cut-offs or models at once (with 20 comparisons, one will have ``p < 0.05`` by
    chance): adjust, e.g. Holm-Bonferroni, or fix the one comparison that decides in advance.

    References
    ----------
    B. Efron and R. J. Tibshirani. 1993. *An Introduction to the Bootstrap*. Chapman & Hall.

    J. W. Pratt. 1959. Remarks on Zeros and Ties in the Wilcoxon Signed Rank Procedures. *Journal
    of the American Statistical Association* 54(287):655-667.

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"user": [1, 2, 3, 4], "hr@10": [1.0, 1.0, 0.0, 1.0]})
    >>> b = pd.DataFrame({"user": [4, 3, 2, 1, 9], "hr@10": [0.0, 0.0, 1.0, 0.0, 1.0]})
    >>> result = compare(a, b, n_resamples=1000)  # user 9 is not in a: dropped
    >>> result[["a", "b", "difference", "n_users"]]
               a     b  difference  n_users
    metric
    hr@10   0.75  0.25         0.5        4
    >>> bool(result.loc["hr@10", "ci_low"] <= 0.5 <= result.loc["hr@10", "ci_high"])
    True
    >>> compare(a, a).loc["hr@10", ["difference", "ci_low", "ci_high", "p_value"]].tolist()
    [0.0, 0.0, 0.0, 1.0]
    """
    import pandas as pd
    from scipy import stats

    if isinstance(n_resamples, (bool, np.bool_)) or not isinstance(n_resamples, numbers.Integral):
        raise ValueError(f"n_resamples must be a positive integer; got {n_resamples!r}.")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer; got {n_resamples!r}.")
    if (
        isinstance(confidence, (bool, np.bool_))
        or not isinstance(confidence, numbers.Real)
        or not 0.0 < float(confidence) < 1.0
    ):
        raise ValueError(
            f"confidence must be a number strictly between 0 and 1 (e.g. 0.95); got {confidence!r}."
        )
    rng = _check_random_state(random_state)
    for label, frame in (("a", a), ("b", b)):
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(
                f"{label} must be a pandas DataFrame of per-user metrics, e.g. "
                f"evaluate(..., per_user=True); got {type(frame).__name__}."
            )
    names = _metric_columns(a, b, metrics, user_col)
    mean_a = _per_user_means(a, "a", names, user_col)
    mean_b = _per_user_means(b, "b", names, user_col)
    shared = _canonical_order(mean_a.index.intersection(mean_b.index, sort=False))
    if len(shared) == 0:
        raise ValueError(
            f"a and b share no user in column {user_col!r} (a has {len(mean_a)} user(s), b has "
            f"{len(mean_b)}); a paired comparison needs the same test users in both. Evaluate "
            f"both models on the same test set."
        )
    va = mean_a.loc[shared, names].to_numpy(dtype=np.float64)
    vb = mean_b.loc[shared, names].to_numpy(dtype=np.float64)
    n = va.shape[0]
    diff = va - vb
    alpha = (1.0 - float(confidence)) / 2.0

    boot = np.empty((n_resamples, len(names)))
    chunk = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        rows = stop - start
        draws = rng.integers(0, n, size=(rows, n))
        draws += np.arange(rows)[:, None] * n  # one bincount for all resamples of the chunk
        counts = np.bincount(draws.ravel(), minlength=rows * n).reshape(rows, n)
        boot[start:stop] = (counts @ diff) / n
    ci_low, ci_high = np.quantile(boot, [alpha, 1.0 - alpha], axis=0)

    p_values = np.ones(len(names))
    for j in range(len(names)):
        d = diff[:, j]
        if not np.any(d != 0.0):
            continue  # identical metrics: no evidence of a difference at all
        magnitudes = np.abs(d)
        exact = n <= _EXACT_MAX_USERS and np.unique(magnitudes).size == n and magnitudes.min() > 0
        method = "exact" if exact else "asymptotic"
        p_values[j] = float(stats.wilcoxon(d, zero_method="zsplit", method=method).pvalue)

    means_a, means_b = va.mean(axis=0), vb.mean(axis=0)
    out = pd.DataFrame(
        {
            "a": means_a,
            "b": means_b,
            "difference": means_a - means_b,
            "ci_low": ci_low,
            "ci_high": ci_high,
            "p_value": p_values,
            "n_users": n,
        },
        index=pd.Index(names, name="metric"),
    )
    return out
