"""Beyond accuracy: novelty, popularity bias, exposure concentration and diversity of lists.

Each function takes a recommendations frame, one row per recommended (user, item) pair with
columns ``user`` and ``item`` (``score`` and any other columns are ignored), as
``recommend(users, k)`` returns it for many users, and, where popularity matters, the training
frame (``user``, ``item``). Item popularity is always the number of **distinct training users**
who interacted with the item: repeated (user, item) rows count once. Lists are averaged per user
first, so every user counts the same however long their list. Only numpy and pandas are needed.

:func:`~implicit_ncf.metrics.coverage` (the share of the catalogue recommended at all) completes
the set.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["average_popularity", "gini_index", "intra_list_diversity", "novelty"]


def _check_frame(frame: Any, parameter: str, columns: tuple[tuple[str, str], ...]) -> Any:
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"{parameter} must be a pandas DataFrame with columns "
            f"{[c for _, c in columns]!r}; got {type(frame).__name__}."
        )
    for name, column in columns:
        if column not in frame.columns:
            raise ValueError(
                f"{name}={column!r} is not a column of {parameter}; its columns are "
                f"{list(frame.columns)!r}. Pass {name}=<your column name>."
            )
        if frame[column].isna().any():
            raise ValueError(
                f"column {column!r} of {parameter} has missing ids; drop or fill those rows first."
            )
    return frame


def _recommendations(recommendations: Any, user_col: str, item_col: str) -> Any:
    frame = _check_frame(
        recommendations, "recommendations", (("user_col", user_col), ("item_col", item_col))
    )
    if len(frame) == 0:
        raise ValueError(
            "recommendations has no rows, so there is no list to measure; pass the output of "
            "recommend(users, k) for at least one user."
        )
    return frame


def _item_popularity(train: Any, user_col: str, item_col: str) -> tuple[Any, int]:
    """Distinct training users per item (a Series indexed by item) and the number of users."""
    frame = _check_frame(train, "train", (("user_col", user_col), ("item_col", item_col)))
    if len(frame) == 0:
        raise ValueError("train has no rows; item popularity needs the training interactions.")
    pairs = frame[[user_col, item_col]].drop_duplicates()
    return pairs[item_col].value_counts(sort=False), int(pairs[user_col].nunique())


def _per_list_mean(recommendations: Any, values: np.ndarray, user_col: str) -> float:
    """Mean of ``values`` (one per recommendation row) within each user's list, then over users."""
    import pandas as pd

    per_user = pd.Series(values, index=recommendations.index).groupby(
        recommendations[user_col].to_numpy(), sort=False
    )
    return float(per_user.mean().mean())


def novelty(
    recommendations: Any, train: Any, *, user_col: str = "user", item_col: str = "item"
) -> float:
    """Mean self-information ``-log2(p_i)`` of the recommended items, in bits.

    ``p_i`` is the share of training users who interacted with item ``i``: recommending an item
    that every user already knows carries 0 bits, one known to a single user of ``n_users``
    carries ``log2(n_users)`` bits (Zhou et al., 2010; Castells et al., 2022).

    Parameters
    ----------
    recommendations : pandas.DataFrame
        One row per recommended (user, item) pair: columns ``user_col`` and ``item_col``.
    train : pandas.DataFrame
        The training interactions: columns ``user_col`` and ``item_col``.
    user_col, item_col : str
        Column names, in both frames.

    Returns
    -------
    float
        The mean over users of the mean self-information of the user's list, in bits (base 2),
        in ``[0, log2(n_users)]`` where ``n_users`` is the number of distinct training users.

    Raises
    ------
    ValueError
        If a column is missing or has missing ids, or a frame has no rows.
    TypeError
        If a frame is not a DataFrame.

    See Also
    --------
    average_popularity : The same popularity, not log-scaled.

    Notes
    -----
    **Items never seen in training** have ``p_i = 0`` and an infinite self-information; they are
    counted as if one training user had interacted with them (``p_i = 1 / n_users``), the
    largest finite value, ``log2(n_users)`` bits. A model fitted on the training data cannot
    recommend such items anyway, unless its catalogue is larger than the training data's.

    References
    ----------
    T. Zhou, Z. Kuscsik, J.-G. Liu, M. Medo, J. R. Wakeling and Y.-C. Zhang. 2010. Solving the
    apparent diversity-accuracy dilemma of recommender systems. *PNAS* 107(10):4511-4515.

    P. Castells, N. Hurley and S. Vargas. 2022. Novelty and Diversity in Recommender Systems. In
    *Recommender Systems Handbook*, 3rd ed., 603-646. Springer.

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"user": [1, 2, 3, 4, 1], "item": ["a", "a", "a", "a", "b"]})
    >>> recs = pd.DataFrame({"user": [1, 1, 2, 2], "item": ["a", "b", "a", "c"]})
    >>> novelty(recs, train)  # a: 0 bits, b: log2(4 / 1) = 2 bits, c (unseen): 2 bits
    1.0
    """
    recs = _recommendations(recommendations, user_col, item_col)
    counts, n_users = _item_popularity(train, user_col, item_col)
    count = recs[item_col].map(counts).fillna(0).to_numpy(dtype=np.float64)
    info = np.log2(n_users) - np.log2(np.maximum(count, 1.0))
    return _per_list_mean(recs, info, user_col)


def average_popularity(
    recommendations: Any, train: Any, *, user_col: str = "user", item_col: str = "item"
) -> float:
    """Average recommendation popularity: the mean training popularity of the recommended items.

    An item's popularity is its number of distinct training users (0 for an item never seen in
    training). The mean is taken within each user's list, then over users (the ARP of
    Abdollahpouri et al., 2019).

    Parameters
    ----------
    recommendations : pandas.DataFrame
        One row per recommended (user, item) pair: columns ``user_col`` and ``item_col``.
    train : pandas.DataFrame
        The training interactions: columns ``user_col`` and ``item_col``.
    user_col, item_col : str
        Column names, in both frames.

    Returns
    -------
    float
        In ``[0, n_users]``, ``n_users`` being the number of distinct training users. Divide by
        ``n_users`` for the average share of users who know the recommended items.

    Raises
    ------
    ValueError
        If a column is missing or has missing ids, or a frame has no rows.
    TypeError
        If a frame is not a DataFrame.

    See Also
    --------
    novelty : The same popularity, as self-information.

    References
    ----------
    H. Abdollahpouri, R. Burke and B. Mobasher. 2019. Managing Popularity Bias in Recommender
    Systems with Personalized Re-ranking. In *FLAIRS-32*, 413-418.

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"user": [1, 2, 3, 4, 1], "item": ["a", "a", "a", "a", "b"]})
    >>> recs = pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "c"]})
    >>> average_popularity(recs, train)  # user 1: (4 + 1) / 2, user 2: 0; mean of 2.5 and 0
    1.25
    """
    recs = _recommendations(recommendations, user_col, item_col)
    counts, _ = _item_popularity(train, user_col, item_col)
    count = recs[item_col].map(counts).fillna(0).to_numpy(dtype=np.float64)
    return _per_list_mean(recs, count, user_col)


def gini_index(
    recommendations: Any, train: Any, *, user_col: str = "user", item_col: str = "item"
) -> float:
    """Gini index of the exposure the recommendations give to the items of the catalogue.

    An item's exposure is the number of lists it appears in (rows of ``recommendations``). The
    index is 0 when every catalogue item is recommended equally often and 1 when all
    recommendations go to a single item; items never recommended count with exposure 0, so a
    system that recommends few items scores close to 1.

    Parameters
    ----------
    recommendations : pandas.DataFrame
        One row per recommended (user, item) pair: columns ``user_col`` and ``item_col``.
    train : pandas.DataFrame
        The training interactions: columns ``user_col`` and ``item_col``. Its items are the
        catalogue.
    user_col, item_col : str
        Column names, in both frames.

    Returns
    -------
    float
        In ``[0, 1]``.

    Raises
    ------
    ValueError
        If a column is missing or has missing ids, or a frame has no rows.
    TypeError
        If a frame is not a DataFrame.

    See Also
    --------
    coverage : The share of the catalogue recommended at least once.

    Notes
    -----
    The catalogue is the set of distinct items of ``train``, plus any recommended item that is
    not in ``train``. With the ``n`` exposures sorted increasingly, ``x_1 <= ... <= x_n``, and
    their shares ``p_j = x_j / sum(x)``, the index is
    ``G = sum_j (2 j - n - 1) p_j / (n - 1)`` (Castells et al., 2022, the Gini coefficient
    rescaled so that one item taking everything gives exactly 1); a one-item catalogue gives 0.

    Examples
    --------
    >>> import pandas as pd
    >>> train = pd.DataFrame({"user": [1, 1, 2, 2], "item": ["a", "b", "c", "d"]})
    >>> same = pd.DataFrame({"user": [1, 2, 3], "item": ["a", "a", "a"]})
    >>> gini_index(same, train)  # everything on "a"
    1.0
    >>> even = pd.DataFrame({"user": [1, 1, 2, 2], "item": ["a", "b", "c", "d"]})
    >>> gini_index(even, train)
    0.0
    """
    import pandas as pd

    recs = _recommendations(recommendations, user_col, item_col)
    counts, _ = _item_popularity(train, user_col, item_col)
    exposure = recs[item_col].value_counts(sort=False)
    catalogue = counts.index.union(exposure.index, sort=False)
    x = np.sort(pd.Series(exposure).reindex(catalogue, fill_value=0).to_numpy(dtype=np.float64))
    n = x.size
    if n < 2:
        return 0.0
    j = np.arange(1, n + 1, dtype=np.float64)
    return float(np.clip(((2.0 * j - n - 1.0) * x).sum() / (x.sum() * (n - 1)), 0.0, 1.0))


def _item_matrix(item_vectors: Any, items: Any) -> np.ndarray:
    """Vectors of ``items`` (an array of ids), one row each, from a mapping, frame or array."""
    import pandas as pd

    ids = np.asarray(items)
    if isinstance(item_vectors, pd.DataFrame):
        position = item_vectors.index.get_indexer(ids) if item_vectors.index.is_unique else None
        if position is None:
            raise ValueError(
                "item_vectors has repeated index labels; give each item one row (index = item id)."
            )
        missing = position < 0
        table = item_vectors.to_numpy(dtype=np.float64)
    elif isinstance(item_vectors, Mapping):
        keys = list(item_vectors)
        index = pd.Index(keys)
        position = index.get_indexer(ids)
        missing = position < 0
        rows = [np.asarray(item_vectors[key], dtype=np.float64) for key in keys]
        if len({row.shape for row in rows}) > 1 or (rows and rows[0].ndim != 1):
            raise ValueError(
                "item_vectors must map each item id to a 1-D vector of one common length; got "
                f"shapes {sorted({row.shape for row in rows})!r}."
            )
        table = np.stack(rows) if rows else np.zeros((0, 0))
    elif isinstance(item_vectors, np.ndarray):
        if item_vectors.ndim != 2:
            raise ValueError(
                f"item_vectors as an array must have shape (n_items, n_dims), row i for item id "
                f"i; got shape {item_vectors.shape}."
            )
        if not (np.issubdtype(ids.dtype, np.integer) and ids.dtype != bool):
            raise TypeError(
                f"item_vectors is an array, so item ids must be the integer row numbers "
                f"0 .. {item_vectors.shape[0] - 1}; got ids of dtype {ids.dtype}. Pass a dict "
                f"or a DataFrame indexed by item id instead."
            )
        position = ids.astype(np.int64)
        missing = (position < 0) | (position >= item_vectors.shape[0])
        table = item_vectors.astype(np.float64, copy=False)
    else:
        raise TypeError(
            f"item_vectors must be a dict (item id -> vector), a DataFrame indexed by item id or "
            f"an array of shape (n_items, n_dims); got {type(item_vectors).__name__}."
        )
    if missing.any():
        absent = list(dict.fromkeys(ids[missing].tolist()))
        raise ValueError(
            f"item_vectors has no vector for {len(absent)} recommended item(s), e.g. "
            f"{absent[:5]!r}; give every recommended item a vector."
        )
    vectors = table[position]
    if not np.isfinite(vectors).all():
        raise ValueError("item_vectors holds NaN or infinite values for recommended items.")
    return vectors


def intra_list_diversity(
    recommendations: Any,
    item_vectors: Any,
    *,
    user_col: str = "user",
    item_col: str = "item",
) -> float:
    """Intra-list diversity: mean pairwise cosine distance between the items of each list.

    For a list of ``m >= 2`` items, ``ILD = sum_{i != j} (1 - cos(v_i, v_j)) / (m (m - 1))``
    (Smyth & McClave, 2001; Ziegler et al., 2005), averaged over users. 0 means every list holds
    items with parallel vectors (all alike); 1 is the value for orthogonal vectors, and up to 2
    for opposite ones.

    Parameters
    ----------
    recommendations : pandas.DataFrame
        One row per recommended (user, item) pair: columns ``user_col`` and ``item_col``.
    item_vectors : dict, pandas.DataFrame or ndarray of shape (n_items, n_dims)
        A vector per item: a dict ``{item id: vector}``, a DataFrame indexed by item id (one
        column per dimension), or an array whose row ``i`` belongs to the integer item id ``i``
        (e.g. a model's item embeddings over contiguous indices). Genre indicators, embeddings
        or rows of the item x user matrix all work.
    user_col, item_col : str
        Column names of ``recommendations``.

    Returns
    -------
    float
        In ``[0, 2]``: the mean over users with at least two recommended items.

    Raises
    ------
    ValueError
        If a column is missing, a recommended item has no vector or a zero vector (its cosine is
        undefined), the vectors are not finite, or no list has two items.
    TypeError
        If ``recommendations`` is not a DataFrame or ``item_vectors`` is of an unsupported kind.

    Notes
    -----
    Computed without pairs: with unit vectors ``u_i`` and their sum ``s`` over a list,
    ``sum_{i != j} cos = |s|^2 - m``. Lists with a single item have no pair and are left out.
    The result does not change when a vector is multiplied by a positive number.

    References
    ----------
    B. Smyth and P. McClave. 2001. Similarity vs. Diversity. In *ICCBR 2001*, LNCS 2080, 347-361.

    C.-N. Ziegler, S. M. McNee, J. A. Konstan and G. Lausen. 2005. Improving Recommendation Lists
    Through Topic Diversification. In *WWW '05*, 22-32.

    Examples
    --------
    >>> import pandas as pd
    >>> vectors = {"a": [1.0, 0.0], "b": [0.0, 2.0], "c": [3.0, 0.0]}
    >>> recs = pd.DataFrame({"user": [1, 1, 2, 2], "item": ["a", "b", "a", "c"]})
    >>> intra_list_diversity(recs, vectors)  # user 1: orthogonal (1.0), user 2: parallel (0.0)
    0.5
    """
    import pandas as pd

    recs = _recommendations(recommendations, user_col, item_col)
    vectors = _item_matrix(item_vectors, recs[item_col].to_numpy())
    norms = np.linalg.norm(vectors, axis=1)
    if (norms == 0).any():
        zero = recs[item_col].to_numpy()[norms == 0]
        raise ValueError(
            f"item_vectors has a zero vector for recommended item(s) "
            f"{list(dict.fromkeys(zero.tolist()))[:5]!r}; the cosine distance to a zero vector is "
            f"undefined. Drop those items or give them a non-zero vector."
        )
    unit = vectors / norms[:, None]
    group = np.asarray(pd.factorize(recs[user_col], sort=False)[0], dtype=np.int64)
    n_groups = int(group.max()) + 1
    m = np.bincount(group, minlength=n_groups).astype(np.float64)
    sums = np.zeros((n_groups, unit.shape[1]))
    np.add.at(sums, group, unit)
    pairs = m * (m - 1.0)
    keep = pairs > 0
    if not keep.any():
        raise ValueError(
            "intra_list_diversity needs at least one list with two or more items; every user in "
            "recommendations has a single item."
        )
    similarity = ((sums[keep] ** 2).sum(axis=1) - m[keep]) / pairs[keep]
    return float(np.clip(1.0 - similarity, 0.0, 2.0).mean())
