"""Train/test splits of interaction frames, and a report of what leaks between them.

Two hold-out strategies, both vectorised (no per-user Python loop) and both returning subsets of the
input rows, with the original columns, dtypes and index labels:

* :func:`leave_one_out` holds out each user's latest interaction (He et al., WWW 2017), optionally
  the second latest as a validation set.
* :func:`temporal_split` cuts the whole data set at one point in time, so that nothing in train
  happens after anything in test.

:func:`leakage_report` counts, for any pair of frames, the ways in which train knows about test.
"""

from __future__ import annotations

import datetime as _dt
import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from implicit_ncf.data import IdEncoder, check_interactions, check_random_state

__all__ = [
    "LeakageReport",
    "Split",
    "SplitWarning",
    "leakage_report",
    "leave_one_out",
    "temporal_split",
]


class SplitWarning(UserWarning):
    """A split dropped rows of the input (they are in neither train nor test).

    Silence it with ``warnings.filterwarnings("ignore", category=SplitWarning)``.
    """


@dataclass(frozen=True)
class Split:
    """A train/test split of an interactions frame, with an optional validation set.

    Each frame is a subset of the rows of the frame that was split, with its original columns,
    dtypes and index labels.

    Attributes
    ----------
    train : pandas.DataFrame
        Interactions to fit on.
    test : pandas.DataFrame
        Held-out interactions to evaluate on.
    validation : pandas.DataFrame or None, default None
        Held-out interactions for model selection, when requested.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    validation: pd.DataFrame | None = None

    def __repr__(self) -> str:
        parts = [f"train={len(self.train)} rows", f"test={len(self.test)} rows"]
        if self.validation is not None:
            parts.append(f"validation={len(self.validation)} rows")
        return f"Split({', '.join(parts)})"


# --------------------------------------------------------------------------------------------------
# helpers


def _check_bool(value: Any, parameter: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{parameter} must be True or False; got {type(value).__name__} {value!r}.")
    return bool(value)


def _time_key(values: pd.Series) -> np.ndarray:
    """Order-preserving int64/float64 keys of a validated numeric or datetime column."""
    dtype = values.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        # asi8: integers in the column's own unit (UTC for tz-aware columns).
        return np.asarray(pd.DatetimeIndex(values).asi8, dtype=np.int64)
    arr = np.asarray(values.to_numpy(dtype=getattr(dtype, "numpy_dtype", None)))
    if arr.dtype.kind not in "iuf":
        arr = arr.astype(np.float64)
    return arr


def _label_rank(labels: pd.Index) -> np.ndarray:
    """Rank of each index label in sorted order (mixed types: type name, then text)."""
    try:
        order = np.asarray(labels.argsort(), dtype=np.int64)
    except TypeError:
        keys = [(type(v).__name__, str(v)) for v in labels]
        order = np.array(sorted(range(len(keys)), key=keys.__getitem__), dtype=np.int64)
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels), dtype=np.int64)
    return rank


def _group_extreme(keys: np.ndarray, values: np.ndarray, n_groups: int, *, top: bool) -> np.ndarray:
    """Per-group max (``top``) or min of ``values``; groups without values get the fill value."""
    if values.dtype.kind == "f":
        fill: Any = -np.inf if top else np.inf
    else:
        info = np.iinfo(values.dtype)
        fill = info.min if top else info.max
    out = np.full(n_groups, fill, dtype=values.dtype)
    (np.maximum if top else np.minimum).at(out, keys, values)
    return out


def _pick_latest(
    rows: np.ndarray,
    u: np.ndarray,
    i: np.ndarray,
    t: np.ndarray | None,
    labels: pd.Index,
    n_users: int,
    tie_rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Positions of one row per user among ``rows``: the max of (time, item, label), or with
    ``tie_rng`` the max of (time, a random key per distinct (user, item) pair, label)."""
    if t is not None:
        tt = t[rows]
        rows = rows[tt == _group_extreme(u[rows], tt, n_users, top=True)[u[rows]]]
    if tie_rng is not None and len(rows):
        # keys drawn over the distinct pairs in (user, item) order: independent of row order
        n_items = int(i[rows].max()) + 1
        codes = u[rows].astype(np.int64) * n_items + i[rows]
        distinct, inverse = np.unique(codes, return_inverse=True)
        keys = tie_rng.random(len(distinct))[inverse]
        rows = rows[keys == _group_extreme(u[rows], keys, n_users, top=True)[u[rows]]]
    else:
        ii = i[rows]
        rows = rows[ii == _group_extreme(u[rows], ii, n_users, top=True)[u[rows]]]
    # Only exact copies (same user, item and time) are left to choose between: by index label.
    if len(rows) and np.bincount(u[rows], minlength=n_users).max() > 1:
        rank = _label_rank(labels[rows])
        order = np.lexsort((rank, u[rows]))
        rows = rows[order]
        users = u[rows]
        last = np.ones(len(rows), dtype=bool)
        last[:-1] = users[1:] != users[:-1]
        rows = rows[last]
    return np.sort(rows)


def _hold_out(
    keep: np.ndarray,
    u: np.ndarray,
    i: np.ndarray,
    t: np.ndarray | None,
    labels: pd.Index,
    n_users: int,
    n_items: int,
    rng: np.random.Generator,
    random_ties: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out one pair per user with >= 2 distinct items among ``keep``.

    Returns the positions of the held-out rows (one per user) and the mask of the rows of ``keep``
    whose pair was not held out.
    """
    rows = np.flatnonzero(keep)
    uu, ii = u[rows], i[rows]
    eligible = _group_extreme(uu, ii, n_users, top=False) < _group_extreme(
        uu, ii, n_users, top=True
    )
    rows = rows[eligible[uu]]
    held_item = np.full(n_users, -1, dtype=np.int64)
    if len(rows) == 0:
        return rows, keep.copy()
    if t is not None:
        picked = _pick_latest(rows, u, i, t, labels, n_users, rng if random_ties else None)
        held_item[u[picked]] = i[picked]
    else:
        # Distinct pairs in (user, item) index order, so the draw ignores the input's row order.
        # The code cannot overflow: it would need about 3e9 distinct users and items.
        distinct = np.sort(u[rows] * np.int64(n_items) + i[rows])
        first = np.ones(len(distinct), dtype=bool)
        first[1:] = distinct[1:] != distinct[:-1]
        distinct = distinct[first]
        du = distinct // n_items
        counts = np.bincount(du, minlength=n_users)
        users = np.flatnonzero(counts)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        offsets = rng.integers(0, counts[users])
        held_item[users] = distinct[starts[users] + offsets] % n_items
    in_held = np.zeros(len(u), dtype=bool)
    in_held[rows] = i[rows] == held_item[u[rows]]
    if t is None:  # the copy of the drawn pair with the greatest index label
        picked = _pick_latest(np.flatnonzero(in_held), u, i, t, labels, n_users)
    return picked, keep & ~in_held


# --------------------------------------------------------------------------------------------------
# leave one out


def leave_one_out(
    frame: pd.DataFrame,
    *,
    user_col: str = "user",
    item_col: str = "item",
    time_col: str | None = "timestamp",
    validation: bool = False,
    ties: str = "last_item",
    random_state: int | np.random.Generator | None = None,
) -> Split:
    """Hold out each user's latest interaction (leave-one-out evaluation).

    Every user with at least two distinct items gives exactly one test row: their latest
    interaction. Every other copy of that (user, item) pair leaves train, so that a repeated
    interaction cannot leak the answer. Users with a single distinct item stay wholly in train.

    Parameters
    ----------
    frame : pandas.DataFrame
        Interactions, one row each; validated with :func:`implicit_ncf.data.check_interactions`.
        Repeated (user, item) pairs are allowed.
    user_col, item_col : str, default "user", "item"
        Columns holding raw user and item ids.
    time_col : str or None, default "timestamp"
        Column of numeric or datetime (also tz-aware) timestamps. ``None`` holds out a random item
        per user instead: that split is **not** temporal.
    validation : bool, default False
        Also hold out each user's second-latest distinct item as a validation set: the same rule is
        applied to the train part (users whose train part still has at least two distinct items),
        and every copy of the validation pair leaves train too.
    ties : {"last_item", "random"}, default "last_item"
        Which of a user's items is held out when several share its latest timestamp:
        ``"last_item"`` the one whose id sorts last (deterministic, see Notes), ``"random"`` one
        drawn uniformly among them with ``random_state``. On ml-latest-small 94 of the 610 users
        have such ties. Ignored when ``time_col=None``.
    random_state : int, numpy.random.Generator or None, default None
        Seed of the random choice when ``time_col=None`` or ``ties="random"`` (ignored
        otherwise). The same int gives the same split; a Generator is advanced by the draw.

    Returns
    -------
    Split
        ``train``, ``test`` (one row per eligible user) and, with ``validation=True``,
        ``validation``: subsets of the rows of ``frame`` (same columns, dtypes and index labels),
        in the order they had in ``frame``.

    Raises
    ------
    TypeError
        If ``frame`` is not a DataFrame, ``validation`` is not a bool, or ``random_state`` is not
        an int, a Generator or None.
    ValueError
        If a column is missing, an id or timestamp is missing, timestamps are not numeric or
        datetimes, the frame is empty, ``random_state`` is negative, or no user has two distinct
        items.

    Warns
    -----
    SplitWarning
        When earlier copies of a held-out pair were dropped (they are in neither train nor test).
        Collapse repeats first with :func:`implicit_ncf.data.to_implicit` to avoid it.

    See Also
    --------
    temporal_split : A global time cut, with no future interactions in train.
    leakage_report : What train knows about test.

    Notes
    -----
    *Ties* (``ties="last_item"``). Among the rows at a user's latest timestamp, the one whose
    item id comes last in the
    sorted order of :class:`implicit_ncf.data.IdEncoder` is held out: ids of one type sort
    naturally (``300 > 40``); a column mixing types sorts by type name, then text (all ints before
    all strings, and ``'5' > '40'``). Among copies of that pair at that timestamp, the row with
    the greatest index label is the test row (by position if the labels are equal too). The split
    therefore does not depend on the row order of ``frame``.

    *Without timestamps* (``time_col=None``) the held-out item is drawn uniformly at random among
    the user's distinct items (each distinct item once, whatever its number of copies); the draw
    runs over the distinct pairs sorted by (user, item), so it does not depend on the row order
    either. The test row is then the copy with the greatest index label. This split is **not**
    temporal: the test item may be older than items left in train.

    Leave-one-out keeps *other users'* later interactions in train: a model may learn from the
    future of a test interaction (Ji et al., 2023). Use :func:`temporal_split` when that matters,
    and :func:`leakage_report` to measure it.

    References
    ----------
    .. [1] X. He, L. Liao, H. Zhang, L. Nie, X. Hu and T.-S. Chua, "Neural Collaborative
       Filtering", WWW 2017.
    .. [2] Y. Ji, A. Sun, J. Zhang and C. Li, "A Critical Study on Data Leakage in Recommender
       System Offline Evaluation", ACM TOIS 41(3), 2023.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame(
    ...     {
    ...         "user": [1, 1, 1, 2, 2, 3],
    ...         "item": ["a", "b", "c", "a", "c", "b"],
    ...         "timestamp": [10, 30, 20, 5, 5, 7],
    ...     }
    ... )
    >>> split = leave_one_out(frame)
    >>> split
    Split(train=4 rows, test=2 rows)
    >>> split.test
       user item  timestamp
    1     1    b         30
    4     2    c          5
    >>> split = leave_one_out(frame, validation=True)
    >>> split.validation
       user item  timestamp
    2     1    c         20
    >>> leave_one_out(frame, time_col=None, random_state=0).test["user"].tolist()
    [1, 2]
    """
    check_interactions(
        frame, user_col=user_col, item_col=item_col, time_col=time_col, parameter="frame"
    )
    validation = _check_bool(validation, "validation")
    if not isinstance(ties, str) or ties not in ("last_item", "random"):
        raise ValueError(
            f"ties must be 'last_item' (hold out the tied item whose id sorts last) or 'random' "
            f"(draw one with random_state); got {ties!r}."
        )
    rng = check_random_state(random_state)
    u = IdEncoder("user").fit_transform(frame[user_col])
    i = IdEncoder("item").fit_transform(frame[item_col])
    n_users, n_items = int(u.max()) + 1, int(i.max()) + 1
    t = None if time_col is None else _time_key(frame[time_col])
    labels = frame.index

    keep = np.ones(len(frame), dtype=bool)
    random_ties = ties == "random"
    test_pos, keep = _hold_out(keep, u, i, t, labels, n_users, n_items, rng, random_ties)
    if len(test_pos) == 0:
        raise ValueError(
            f"leave_one_out needs at least one user with two distinct items in {item_col!r}; "
            f"every one of the {n_users} user(s) in frame has a single item. Nothing can be "
            f"held out: add interactions or use a different split."
        )
    n_dropped = len(frame) - int(keep.sum()) - len(test_pos)
    val_pos = None
    if validation:
        before = int(keep.sum())
        val_pos, keep = _hold_out(keep, u, i, t, labels, n_users, n_items, rng, random_ties)
        n_dropped += before - int(keep.sum()) - len(val_pos)
    if n_dropped:
        warnings.warn(
            f"leave_one_out dropped {n_dropped} earlier cop{'y' if n_dropped == 1 else 'ies'} of "
            f"held-out (user, item) pairs (repeat interactions), so that no held-out pair stays in "
            f"train; they are in no part of the split. Collapse repeats first with "
            f"implicit_ncf.data.to_implicit, or filter SplitWarning, to silence this.",
            SplitWarning,
            stacklevel=2,
        )
    return Split(
        train=frame.iloc[np.flatnonzero(keep)],
        test=frame.iloc[test_pos],
        validation=None if val_pos is None else frame.iloc[val_pos],
    )


# --------------------------------------------------------------------------------------------------
# temporal split


def _check_cutoff(values: pd.Series, cutoff: Any, time_col: str) -> np.ndarray:
    """Boolean mask of the rows strictly before ``cutoff``."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        if isinstance(cutoff, _dt.datetime | np.datetime64):  # pd.Timestamp is a datetime
            stamp = pd.Timestamp(cutoff)
        else:
            raise TypeError(
                f"cutoff must be a timestamp, since column {time_col!r} holds datetimes "
                f"({values.dtype}); got {type(cutoff).__name__} {cutoff!r}. Pass e.g. "
                f"cutoff=pd.Timestamp('2015-01-01')."
            )
        if pd.isna(stamp):
            raise ValueError(f"cutoff must be a valid timestamp; got {cutoff!r}.")
        column_tz = values.dt.tz
        if (column_tz is None) != (stamp.tz is None):
            raise ValueError(
                f"cutoff={stamp!r} and column {time_col!r} ({values.dtype}) must both carry a "
                f"timezone or both be naive. Pass e.g. cutoff=pd.Timestamp('2015-01-01', "
                f"tz={str(column_tz) if column_tz is not None else None!r})."
            )
        return np.asarray(values < stamp, dtype=bool)
    if isinstance(cutoff, (bool, np.bool_)) or not isinstance(cutoff, numbers.Real):
        raise TypeError(
            f"cutoff must be a number, since column {time_col!r} holds numbers ({values.dtype}); "
            f"got {type(cutoff).__name__} {cutoff!r}. Pass a value on the scale of the column, "
            f"e.g. cutoff={values.median()!r}."
        )
    if not np.isfinite(float(cutoff)):
        raise ValueError(f"cutoff must be a finite number; got {cutoff!r}.")
    return np.asarray(_time_key(values) < cutoff, dtype=bool)


def temporal_split(
    frame: pd.DataFrame,
    *,
    cutoff: Any,
    user_col: str = "user",
    item_col: str = "item",
    time_col: str = "timestamp",
) -> Split:
    """Split at one point in time: train before ``cutoff``, test at or after it.

    Test keeps only users who have interactions in train (a model cannot rank items for a user it
    has never seen) and drops every (user, item) pair already in train (a repeat is not a new item
    to recommend). A :class:`SplitWarning` gives the counts of what was dropped.

    Parameters
    ----------
    frame : pandas.DataFrame
        Interactions, validated with :func:`implicit_ncf.data.check_interactions`.
    cutoff : number or datetime-like
        Rows with ``time_col < cutoff`` go to train. A number for a numeric column; a
        ``pandas.Timestamp``, ``datetime.datetime`` or ``numpy.datetime64`` for a datetime column,
        with a timezone exactly when the column has one.
    user_col, item_col : str, default "user", "item"
        Columns holding raw user and item ids.
    time_col : str, default "timestamp"
        Column of numeric or datetime timestamps.

    Returns
    -------
    Split
        ``train`` and ``test``: subsets of the rows of ``frame`` (same columns, dtypes and index
        labels), in their original order.

    Raises
    ------
    TypeError
        If ``cutoff`` is not of the kind of the column (number vs timestamp).
    ValueError
        If the frame fails validation, ``cutoff`` is NaN/NaT or its timezone-awareness differs from
        the column's, or train or test ends up empty.

    Warns
    -----
    SplitWarning
        When test rows were dropped (users unseen before the cutoff, pairs already in train).

    See Also
    --------
    leave_one_out : Per-user hold-out of the latest interaction.
    leakage_report : What train knows about test.

    Notes
    -----
    Every train interaction happens before every test interaction, so no model trained on train
    can learn from the future of a test interaction, unlike leave-one-out (Ji et al., 2023). Items
    first seen after the cutoff stay in test; :func:`leakage_report` counts them. Repeats of a new
    pair within test are kept.

    References
    ----------
    .. [1] Y. Ji, A. Sun, J. Zhang and C. Li, "A Critical Study on Data Leakage in Recommender
       System Offline Evaluation", ACM TOIS 41(3), 2023.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame(
    ...     {"user": [1, 1, 2, 2], "item": ["a", "b", "a", "c"], "timestamp": [1, 5, 2, 6]}
    ... )
    >>> temporal_split(frame, cutoff=4)
    Split(train=2 rows, test=2 rows)
    """
    if not isinstance(time_col, str):
        raise TypeError(
            f"time_col must name the timestamp column; got {type(time_col).__name__} "
            f"{time_col!r}. A temporal split needs timestamps."
        )
    check_interactions(
        frame, user_col=user_col, item_col=item_col, time_col=time_col, parameter="frame"
    )
    values = frame[time_col]
    before = _check_cutoff(values, cutoff, time_col)
    if not before.any():
        raise ValueError(
            f"train is empty: no interaction is before cutoff={cutoff!r} (the earliest "
            f"{time_col!r} is {values.min()!r}). Choose a later cutoff."
        )
    if before.all():
        raise ValueError(
            f"test is empty: no interaction is at or after cutoff={cutoff!r} (the latest "
            f"{time_col!r} is {values.max()!r}). Choose an earlier cutoff."
        )
    u = IdEncoder("user").fit_transform(frame[user_col])
    i = IdEncoder("item").fit_transform(frame[item_col])
    n_users, n_items = int(u.max()) + 1, int(i.max()) + 1
    after = np.flatnonzero(~before)
    seen_user = np.bincount(u[before], minlength=n_users) > 0
    known = seen_user[u[after]]
    pairs = u * np.int64(n_items) + i
    repeat = known & np.isin(pairs[after], pairs[before])
    test_pos = after[known & ~repeat]
    n_new_users = int((~known).sum())
    n_repeat = int(repeat.sum())
    if n_new_users or n_repeat:
        warnings.warn(
            f"temporal_split dropped {n_new_users} test row(s) of "
            f"{len(np.unique(u[after[~known]]))} user(s) with no interaction before the cutoff "
            f"and {n_repeat} test row(s) whose (user, item) pair already occurs in train; "
            f"{len(test_pos)} test row(s) remain. Filter SplitWarning to silence this.",
            SplitWarning,
            stacklevel=2,
        )
    if len(test_pos) == 0:
        raise ValueError(
            f"test is empty: every one of the {len(after)} interaction(s) at or after "
            f"cutoff={cutoff!r} belongs to a user unseen before it or repeats a pair in train. "
            f"Choose an earlier cutoff."
        )
    return Split(train=frame.iloc[np.flatnonzero(before)], test=frame.iloc[test_pos])


# --------------------------------------------------------------------------------------------------
# leakage report


@dataclass(frozen=True)
class LeakageReport:
    """Counts of the ways a training set knows about its test set. See :func:`leakage_report`.

    Attributes
    ----------
    n_train, n_test : int
        Rows of train and test.
    overlapping_pairs : int
        Distinct (user, item) pairs of test that also occur in train.
    unseen_test_items : int
        Test rows whose item never occurs in train.
    unseen_test_users : int
        Test rows whose user never occurs in train.
    future_train_same_user : int or None
        Train rows later than the earliest test timestamp of the same user. ``None`` without
        timestamps.
    future_train_other_users : int or None
        Test rows for which train holds an interaction of *another* user with a later timestamp.
        ``None`` without timestamps.
    """

    n_train: int
    n_test: int
    overlapping_pairs: int
    unseen_test_items: int
    unseen_test_users: int
    future_train_same_user: int | None
    future_train_other_users: int | None

    def __str__(self) -> str:
        def time_field(value: int | None, total: int, of: str) -> str:
            if value is None:
                return "n/a (no timestamps)"
            share = f" ({100 * value / total:.1f}% of {of})" if total else ""
            return f"{value}{share}"

        lines = [
            f"LeakageReport: {self.n_train} train rows, {self.n_test} test rows",
            f"  (user, item) pairs in both train and test       : {self.overlapping_pairs}",
            f"  test rows whose item never occurs in train      : {self.unseen_test_items}",
            f"  test rows whose user never occurs in train      : {self.unseen_test_users}",
            "  train rows later than the same user's test      : "
            + time_field(self.future_train_same_user, self.n_train, "train"),
            "  test rows with later train rows of other users  : "
            + time_field(self.future_train_other_users, self.n_test, "test"),
        ]
        return "\n".join(lines)


_UNIT_ORDER = {"s": 0, "ms": 1, "us": 2, "ns": 3}


def _time_keys_pair(
    train: pd.Series, test: pd.Series, time_col: str
) -> tuple[np.ndarray, np.ndarray]:
    """Comparable keys of the timestamps of train and test."""
    is_dt = [pd.api.types.is_datetime64_any_dtype(s.dtype) for s in (train, test)]
    if is_dt[0] != is_dt[1]:
        raise TypeError(
            f"column {time_col!r} must hold the same kind of timestamps in train and test; got "
            f"{train.dtype} and {test.dtype}. Convert both to numbers or both to datetimes."
        )
    if not is_dt[0]:
        a, b = _time_key(train), _time_key(test)
        common = np.result_type(a.dtype, b.dtype)
        if common.kind not in "iu":
            common = np.dtype(np.float64)
        return a.astype(common, copy=False), b.astype(common, copy=False)
    idx = [pd.DatetimeIndex(s) for s in (train, test)]
    if (idx[0].tz is None) != (idx[1].tz is None):
        raise ValueError(
            f"column {time_col!r} must carry a timezone in both train and test or in neither; got "
            f"{train.dtype} and {test.dtype}. Use Series.dt.tz_localize to align them."
        )
    unit = max((str(x.unit) for x in idx), key=lambda name: _UNIT_ORDER.get(name, 3))
    a, b = (np.asarray(x.as_unit(unit).asi8, dtype=np.int64) for x in idx)  # type: ignore[arg-type]
    return a, b


def leakage_report(
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    user_col: str = "user",
    item_col: str = "item",
    time_col: str | None = "timestamp",
) -> LeakageReport:
    """Count what a training set knows about its test set.

    Parameters
    ----------
    train, test : pandas.DataFrame
        Interactions (either may be empty).
    user_col, item_col : str, default "user", "item"
        Columns holding raw user and item ids.
    time_col : str or None, default "timestamp"
        Timestamp column. When it is ``None`` or missing from either frame, the time-based counts
        are ``None``.

    Returns
    -------
    LeakageReport
        With fields

        * ``overlapping_pairs``: distinct (user, item) pairs of test that also occur in train;
        * ``unseen_test_items``: test rows whose item never occurs in train;
        * ``unseen_test_users``: test rows whose user never occurs in train;
        * ``future_train_same_user``: train rows whose timestamp is later than the earliest test
          timestamp of the same user;
        * ``future_train_other_users``: test rows for which train holds at least one interaction
          of another user with a strictly later timestamp, i.e. test rows whose prediction could
          use the global future;

        and ``n_train``, ``n_test``. ``str(report)`` is a readable summary.

    Raises
    ------
    TypeError
        If a frame is not a DataFrame, or the time column holds numbers in one frame and datetimes
        in the other.
    ValueError
        If a frame fails :func:`implicit_ncf.data.check_interactions`, or the time column is
        timezone-aware in only one frame.

    Notes
    -----
    Per-user leave-one-out (:func:`leave_one_out`) keeps *other users'* interactions that happen
    after a test interaction in train, so ``future_train_other_users`` is usually most of the test
    set: the model may learn, e.g., an item's later popularity. Ji et al. (2023) show that this
    leakage changes the ranking of models. :func:`temporal_split` avoids it: both future counts are
    0.

    References
    ----------
    .. [1] Y. Ji, A. Sun, J. Zhang and C. Li, "A Critical Study on Data Leakage in Recommender
       System Offline Evaluation", ACM TOIS 41(3), 2023.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame(
    ...     {"user": [1, 1, 2, 2], "item": ["a", "b", "a", "c"], "timestamp": [1, 2, 3, 4]}
    ... )
    >>> split = leave_one_out(frame)
    >>> report = leakage_report(split.train, split.test)
    >>> report.overlapping_pairs, report.future_train_other_users
    (0, 1)
    """
    parts = (("train", train), ("test", test))
    for name, part in parts:
        check_interactions(
            part, user_col=user_col, item_col=item_col, allow_empty=True, parameter=name
        )
    use_time = time_col is not None and time_col in train.columns and time_col in test.columns
    if use_time:
        for name, part in parts:
            check_interactions(
                part,
                user_col=user_col,
                item_col=item_col,
                time_col=time_col,
                allow_empty=True,
                parameter=name,
            )
    n_train, n_test = len(train), len(test)
    if n_train == 0 or n_test == 0:
        zero = 0 if use_time else None
        return LeakageReport(
            n_train=n_train,
            n_test=n_test,
            overlapping_pairs=0,
            unseen_test_items=n_test if n_train == 0 else 0,
            unseen_test_users=n_test if n_train == 0 else 0,
            future_train_same_user=zero,
            future_train_other_users=zero,
        )
    users = IdEncoder("user").fit(pd.concat([train[user_col], test[user_col]], ignore_index=True))
    items = IdEncoder("item").fit(pd.concat([train[item_col], test[item_col]], ignore_index=True))
    n_users, n_items = len(users), len(items)
    tr_u, te_u = users.transform(train[user_col]), users.transform(test[user_col])
    tr_i, te_i = items.transform(train[item_col]), items.transform(test[item_col])

    tr_pairs = tr_u * np.int64(n_items) + tr_i
    te_pairs = np.unique(te_u * np.int64(n_items) + te_i)
    overlapping = int(np.isin(te_pairs, tr_pairs).sum())
    seen_item = np.bincount(tr_i, minlength=n_items) > 0
    seen_user = np.bincount(tr_u, minlength=n_users) > 0
    future_same: int | None = None
    future_other: int | None = None
    if use_time and time_col is not None:
        tr_t, te_t = _time_keys_pair(train[time_col], test[time_col], time_col)
        first_test = _group_extreme(te_u, te_t, n_users, top=False)
        has_test = np.bincount(te_u, minlength=n_users) > 0
        future_same = int((has_test[tr_u] & (tr_t > first_test[tr_u])).sum())
        # Latest train time of each user; the latest of *other* users is the global top, or the
        # runner-up for the user holding the top alone.
        last_train = _group_extreme(tr_u, tr_t, n_users, top=True)
        top_user = int(np.argmax(last_train))
        top = last_train[top_user]
        rest = np.delete(last_train[seen_user], np.flatnonzero(seen_user[:top_user]).size)
        runner_up = rest.max() if rest.size else None
        other_latest = np.full(len(te_u), top, dtype=last_train.dtype)
        mine = te_u == top_user
        if runner_up is None:
            later = ~mine & (te_t < top)
        else:
            other_latest[mine] = runner_up
            later = te_t < other_latest
        future_other = int(later.sum())
    return LeakageReport(
        n_train=n_train,
        n_test=n_test,
        overlapping_pairs=overlapping,
        unseen_test_items=int((~seen_item[te_i]).sum()),
        unseen_test_users=int((~seen_user[te_u]).sum()),
        future_train_same_user=future_same,
        future_train_other_users=future_other,
    )
