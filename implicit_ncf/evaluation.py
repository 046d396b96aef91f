"""Evaluation of any recommender of the library: sampled candidates and full ranking.

:class:`_Evaluation` is the part of :class:`implicit_ncf.recommender._BaseRecommender` that
scores held-out interactions: ``evaluate`` (HR@k, NDCG@k and MRR@k under the NCF protocol of
sampled negatives, a given candidates frame, or the full catalogue; as a summary, one row per
test target, or with corrected full-ranking estimates from sampled ranks) and ``score``. It
relies on the subclass's scoring primitives ``_score_pairs`` and ``_score_users`` and turns
ranks into metrics with :mod:`implicit_ncf.metrics`, the evaluator every model shares.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from ._progress import _Progress
from ._validation import _check_ks, _check_positive_int
from .data import DuplicateInteractionsWarning, IdEncoder, check_interactions
from .metrics import corrected_metrics, metrics_from_ranks
from .metrics import evaluate as evaluate_scored
from .sampling import sample_candidates

__all__ = ["UnknownIdWarning"]

# Score cells (users x items) per block of the scoring loops (full ranking, recommending many
# users): 2**22 float32 scores are 16 MiB, and a block's masks and comparisons a few times that,
# whatever the number of users. A network bounds its own activations inside a block (see
# ``networks._SCORE_BLOCK_ELEMENTS``).
_BLOCK_CELLS = 1 << 22
# Rows of a candidates frame scored per chunk (their index arrays are a few MiB).
_CANDIDATE_ROWS = 1 << 18


def _users_per_block(n_items: int) -> int:
    """Users whose whole score rows fit in :data:`_BLOCK_CELLS` cells (at least one)."""
    return max(1, _BLOCK_CELLS // max(1, n_items))


class UnknownIdWarning(UserWarning):
    """Rows with users or items unknown to the model were set aside (and counted)."""


class TrainingOverlapWarning(UserWarning):
    """Test interactions repeat (user, item) pairs the model was trained on.

    Each such target is still ranked (against the items its user has not interacted with),
    but the model saw the pair as a positive, so the metrics are inflated unless repeat
    consumption is what is being measured. :func:`implicit_ncf.splits.leakage_report` counts
    what a split leaks. Silence it with ``warnings.filterwarnings("ignore",
    category=TrainingOverlapWarning)``.
    """


class _Evaluation:
    """``evaluate`` / ``score`` over a fitted recommender's scoring primitives."""

    user_col: str
    item_col: str
    user_encoder_: IdEncoder
    item_encoder_: IdEncoder
    seen_: sp.csr_matrix

    @property
    def n_items_(self) -> int:  # pragma: no cover - provided by the recommender
        raise NotImplementedError

    def _check_fitted(self) -> None:  # pragma: no cover - provided by the recommender
        raise NotImplementedError

    def _score_pairs(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover - provided by the recommender

    def _score_users(self, user_idx: np.ndarray) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - provided by the recommender

    def _training_frame(self) -> pd.DataFrame:
        """The deduplicated training pairs as raw ids, rebuilt from the seen-items matrix."""
        seen = self.seen_
        u = np.repeat(np.arange(seen.shape[0]), np.diff(seen.indptr))
        return pd.DataFrame(
            {
                self.user_col: self.user_encoder_.inverse_transform(u),
                self.item_col: self.item_encoder_.inverse_transform(seen.indices),
            }
        )

    def _score_candidates(self, candidates: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
        """The candidates frame with a ``score`` column (-inf for unknown users or items).

        Scored in chunks of :data:`_CANDIDATE_ROWS` rows, so that the index arrays and the
        pairs handed to ``_score_pairs`` stay a few megabytes whatever the frame's length; the
        only full-length array is the score column itself.
        """
        users = candidates[self.user_col]
        items = candidates[self.item_col]
        n_rows = len(candidates)
        scores = np.full(n_rows, -np.inf)
        unknown_users: list[np.ndarray] = []
        n_unknown_targets = 0
        targets = candidates["is_target"].to_numpy(dtype=bool)
        step = _CANDIDATE_ROWS
        with _Progress(
            "evaluate (candidates)",
            n_rows,
            unit="rows",
            n_blocks=-(-n_rows // step),
            enabled=bool(getattr(self, "verbose", False)),
        ) as progress:
            for start in range(0, n_rows, step):
                stop = min(start + step, n_rows)
                raw_users = users.iloc[start:stop].to_numpy()
                u = self.user_encoder_.get_indexer(raw_users)
                i = self.item_encoder_.get_indexer(items.iloc[start:stop].to_numpy())
                known = (u >= 0) & (i >= 0)
                if known.all():
                    scores[start:stop] = self._score_pairs(u, i)
                elif known.any():
                    scores[start:stop][known] = self._score_pairs(u[known], i[known])
                if not known.all():
                    unknown_users.append(raw_users[u < 0])
                    n_unknown_targets += int((~known & targets[start:stop]).sum())
                progress.update(stop - start)
        n_unknown_users = 0
        if unknown_users:
            n_unknown_users = int(pd.unique(np.concatenate(unknown_users)).size)
        info = {"n_unknown_users": n_unknown_users, "n_unknown_targets": n_unknown_targets}
        scored = candidates.copy(deep=False)  # the caller's columns, not copies of them
        scored["score"] = scores
        return scored, info

    def evaluate(
        self,
        test: pd.DataFrame,
        *,
        k: int | Sequence[int] = (5, 10, 20),
        n_negatives: int | None = 99,
        random_state: Any = 0,
        candidates: pd.DataFrame | None = None,
        per_user: bool = False,
        corrected: bool = False,
    ) -> Any:
        """HR@k, NDCG@k and MRR@k of held-out test interactions.

        Parameters
        ----------
        test : pandas.DataFrame
            Held-out interactions (e.g. ``leave_one_out(frame).test``) with the same id columns.
        k : int or sequence of int, default (5, 10, 20)
            Cut-offs.
        n_negatives : int or None, default 99
            Rank each test item among this many sampled items the user never interacted with
            (the NCF protocol); ``None`` ranks it against the whole catalogue minus the user's
            training items (full ranking).
        random_state : int, Generator or None, default 0
            Seed of the sampled negatives, fixed by default so that scores are comparable.
        candidates : pandas.DataFrame or None, default None
            A ready candidates frame (``user``, ``item``, ``is_target`` columns, as
            :func:`implicit_ncf.sampling.sample_candidates` returns), e.g. a published set of
            negatives such as the NCF paper's; ``test`` is then used only for validation and
            ``n_negatives`` / ``random_state`` are ignored.
        per_user : bool, default False
            Return one row per test target instead of the averages (see Returns), for
            :func:`implicit_ncf.metrics.compare` and per-user breakdowns.
        corrected : bool, default False
            With sampled negatives: also estimate the full-ranking HR@k and NDCG@k from the
            sampled ranks (:func:`implicit_ncf.metrics.corrected_metrics`, smoothed maximum
            likelihood), as ``"hr@k_corrected"`` / ``"ndcg@k_corrected"``; each target's
            full-ranking pool is the catalogue minus the user's training and test items.
            Sampled HR@10 on 99 negatives is 5-20x the full-ranking HR@10 on MovieLens; the
            estimate is within about 12% of it there (``docs/evaluation.md``).

        Returns
        -------
        dict or pandas.DataFrame
            ``"hr@k"``, ``"ndcg@k"``, ``"mrr@k"`` for each k, ``"n_users"``, ``"n_targets"`` and
            ``"n_unknown_users"`` / ``"n_unknown_targets"``: test rows whose user or item was not in
            the training data are scored as misses (the model cannot rank what it has never seen)
            and counted here rather than dropped. With ``per_user=True`` a frame with one row per
            test target: the user and item columns, ``rank`` (0-based rank of the held-out item,
            ties counted against it) and one column per metric; its column means are the
            summary's values.

        Notes
        -----
        Memory does not grow with the number of users: full ranking scores blocks of
        ``2**22`` (user, item) cells (16 MiB of float32 scores), a candidates frame is scored
        ``2**18`` rows at a time. With the model's ``verbose`` set, a long loop (8 blocks or
        more) reports its progress on standard error: one redrawn line on a terminal, five
        lines elsewhere.
        """
        self._check_fitted()
        ks = _check_ks(k)
        n_negatives = _check_positive_int(n_negatives, "n_negatives", allow_none=True)
        for name, flag in (("per_user", per_user), ("corrected", corrected)):
            if not isinstance(flag, bool | np.bool_):
                raise TypeError(
                    f"{name} must be True or False; got {type(flag).__name__} {flag!r}."
                )
        if corrected and (per_user or (candidates is None and n_negatives is None)):
            raise ValueError(
                "corrected=True estimates full-ranking metrics from sampled ranks: it needs "
                "sampled negatives (n_negatives=<int> or candidates=...) and per_user=False "
                "(the estimate is a population figure). For exact full ranking pass "
                "n_negatives=None."
            )
        check_interactions(test, user_col=self.user_col, item_col=self.item_col, parameter="test")
        self._warn_about_test_rows(test)
        full = None
        if candidates is None and n_negatives is None:
            full = self._full_ranking(test[[self.user_col, self.item_col]], ks)
        if full is not None:
            ranks, info = full
            result = self._ranks_result(test, ranks, ks, per_user)
        elif candidates is None:
            candidates = sample_candidates(
                self._training_frame(),
                test[[self.user_col, self.item_col]],
                n_negatives=n_negatives,
                user_col=self.user_col,
                item_col=self.item_col,
                random_state=random_state,
            )
        else:
            check_interactions(
                candidates, user_col=self.user_col, item_col=self.item_col, parameter="candidates"
            )
            if "is_target" not in candidates.columns:
                raise ValueError(
                    "candidates needs a boolean 'is_target' column marking each user's held-out "
                    f"item(s); its columns are {list(candidates.columns)!r}."
                )
        if full is None:
            scored, info = self._score_candidates(candidates)
            result = evaluate_scored(
                scored, k=ks, user_col=self.user_col, item_col=self.item_col, per_user=per_user
            )
            if corrected:
                result.update(self._corrected(scored, test, ks))
        if info["n_unknown_targets"]:
            warnings.warn(
                f"{info['n_unknown_targets']} test interaction(s) have a user or item that was not "
                f"in the training data ({info['n_unknown_users']} unknown user(s)); they are "
                "scored as misses.",
                UnknownIdWarning,
                stacklevel=2,
            )
        if per_user:
            return result
        result.update(info)
        return result

    def _warn_about_test_rows(self, test: pd.DataFrame) -> None:
        """Warn when test rows repeat each other (:class:`DuplicateInteractionsWarning`: each
        still counts as a target) or training pairs (:class:`TrainingOverlapWarning`)."""
        repeated = int(test.duplicated(subset=[self.user_col, self.item_col]).sum())
        if repeated:
            warnings.warn(
                f"{repeated} of the {len(test)} test interaction(s) repeat a (user, item) pair "
                f"of an earlier test row; each is ranked and counted as its own target, so those "
                f"pairs weigh more in the metrics. Pass test.drop_duplicates(subset="
                f"[{self.user_col!r}, {self.item_col!r}]) to count each pair once.",
                DuplicateInteractionsWarning,
                stacklevel=3,
            )
        u = self.user_encoder_.get_indexer(test[self.user_col].to_numpy())
        i = self.item_encoder_.get_indexer(test[self.item_col].to_numpy())
        known = (u >= 0) & (i >= 0)
        if not known.any():
            return
        n = int((np.asarray(self.seen_[u[known], i[known]]).ravel() != 0).sum())
        if n:
            warnings.warn(
                f"{n} of the {len(test)} test interaction(s) repeat a (user, item) pair the "
                f"model was trained on; each is ranked against the items its user has not "
                f"interacted with, but the model saw it as a positive, which inflates the "
                f"metrics unless repeat consumption is what you measure. Hold those pairs out "
                f"of training (implicit_ncf.splits.leave_one_out or temporal_split), or "
                f"check the split with implicit_ncf.splits.leakage_report.",
                TrainingOverlapWarning,
                stacklevel=3,
            )

    def _ranks_result(
        self, test: pd.DataFrame, ranks: np.ndarray, ks: tuple[int, ...], per_user: bool
    ) -> Any:
        """Metrics of full-ranking ``ranks`` (in the order of a candidates frame: by user id,
        then test order), as the summary or the per-target frame."""
        group = IdEncoder("user").fit(test[self.user_col]).transform(test[self.user_col])
        order = np.argsort(group, kind="stable")
        if not per_user:
            result = metrics_from_ranks(ranks, ks)
            result["n_users"] = int(group.max()) + 1
            result["n_targets"] = len(ranks)
            return result
        frame = metrics_from_ranks(
            ranks,
            ks,
            users=test[self.user_col].to_numpy()[order],
            per_user=True,
            user_col=self.user_col,
        )
        frame.insert(1, self.item_col, test[self.item_col].to_numpy()[order])
        return frame

    def _corrected(
        self, scored: pd.DataFrame, test: pd.DataFrame, ks: tuple[int, ...]
    ) -> dict[str, float]:
        """Full-ranking estimates from the sampled ranks of a scored candidates frame."""
        frame = evaluate_scored(
            scored, k=ks, user_col=self.user_col, item_col=self.item_col, per_user=True
        )
        negatives = scored.loc[~scored["is_target"].to_numpy(dtype=bool), self.user_col]
        per_user_negatives = negatives.value_counts()
        n_negatives = per_user_negatives.reindex(frame[self.user_col]).fillna(0).to_numpy()
        u = self.user_encoder_.get_indexer(frame[self.user_col].to_numpy())
        n_train = np.where(u >= 0, np.diff(self.seen_.indptr)[np.maximum(u, 0)], 0)
        n_test = test.groupby(self.user_col, observed=True)[self.item_col].nunique()
        n_held = n_test.reindex(frame[self.user_col]).fillna(1).to_numpy()
        n_candidates = np.maximum(self.n_items_ - n_train - n_held, 1)
        return corrected_metrics(
            frame["rank"].to_numpy(), n_negatives.astype(np.int64), n_candidates, k=ks
        )

    def _full_ranking(
        self, test: pd.DataFrame, ks: tuple[int, ...]
    ) -> tuple[np.ndarray, dict[str, int]] | None:
        """Full-ranking ranks without a candidates frame: whole score rows per user block.

        The same ranks as ``sample_candidates(..., n_negatives=None)`` + ``_score_candidates`` +
        ``metrics.evaluate`` (each test row ranked against the catalogue minus the user's
        training and test items, ties counting against it, unknown users or items as misses,
        metrics averaged in the same order), but scored by ``_score_users`` (for NeuMF the split
        first layer) instead of one forward pass per (user, item) pair in a frame of
        ``n_users * n_items`` rows. Returns None when a score is NaN, so that the frame path
        raises its error. The ranks come in the frame's order (by user id, then test order).
        """
        raw_users = test[self.user_col].to_numpy()
        u = self.user_encoder_.get_indexer(raw_users)
        i = self.item_encoder_.get_indexer(test[self.item_col].to_numpy())
        n_items = self.n_items_
        seen = self.seen_
        group = IdEncoder("user").fit(raw_users).transform(raw_users)  # sorted, as the frame
        n_groups = int(group.max()) + 1
        # negatives per user: the catalogue minus its training items and its (known) test items
        pairs = np.unique(group[i >= 0].astype(np.int64) * n_items + i[i >= 0])
        pair_group, pair_item = pairs // n_items, pairs % n_items
        group_user = np.full(n_groups, -1, dtype=np.int64)
        group_user[group] = u
        in_train = np.zeros(len(pairs), dtype=bool)
        known = group_user[pair_group] >= 0
        if known.any():  # looked up in the CSR rows: nothing of the size of the training set
            found = seen[group_user[pair_group[known]], pair_item[known]]
            in_train[known] = np.asarray(found).ravel() != 0
        n_train = np.where(group_user >= 0, np.diff(seen.indptr)[np.maximum(group_user, 0)], 0)
        extra = np.bincount(pair_group[~in_train], minlength=n_groups)
        ranks = (n_items - n_train - extra)[group].astype(np.int64)  # misses rank last
        rows = np.flatnonzero((u >= 0) & (i >= 0))
        if len(rows):
            block = _users_per_block(n_items)
            users = np.unique(u[rows])
            by_user = rows[np.argsort(u[rows], kind="stable")]
            starts = np.searchsorted(u[by_user], users)
            progress = _Progress(
                "evaluate (full ranking)",
                len(users),
                unit="users",
                n_blocks=-(-len(users) // block),
                enabled=bool(getattr(self, "verbose", False)),
            )
            with torch.inference_mode(), progress:
                for b in range(0, len(users), block):
                    block_users = users[b : b + block]
                    scores = self._score_users(block_users)
                    # a finite sum rules out a NaN in one pass without a mask
                    if not torch.isfinite(scores.sum()) and torch.isnan(scores).any():
                        return None
                    stop = starts[b + block] if b + block < len(users) else len(by_user)
                    block_rows = by_user[starts[b] : stop]
                    ranks[block_rows] = _block_ranks(
                        scores,
                        seen[block_users],
                        np.searchsorted(block_users, u[block_rows]),
                        i[block_rows].astype(np.int64),
                    )
                    progress.update(len(block_users))
        order = np.argsort(group, kind="stable")  # the frame's order: by user id, then test order
        ranks = ranks[order]
        info = {
            "n_unknown_users": int(pd.unique(raw_users[u < 0]).size),
            "n_unknown_targets": int(((u < 0) | (i < 0)).sum()),
        }
        return ranks, info

    def score(
        self,
        test: pd.DataFrame,
        y: None = None,
        *,
        k: int = 10,
        n_negatives: int | None = 99,
        random_state: Any = 0,
        candidates: pd.DataFrame | None = None,
    ) -> float:
        """Hit Ratio@k on ``test``: by default each test item ranked among 99 sampled unseen items.

        See :meth:`evaluate` for the parameters; ``n_negatives=None`` ranks against the full
        catalogue. ``y`` is ignored (scikit-learn's ``score(X, y)`` convention).
        """
        k = _check_positive_int(k, "k")  # type: ignore[assignment]
        result = self.evaluate(
            test, k=(k,), n_negatives=n_negatives, random_state=random_state, candidates=candidates
        )
        return float(result[f"hr@{k}"])


def _block_ranks(
    scores: torch.Tensor, train: sp.csr_matrix, row_local: np.ndarray, row_items: np.ndarray
) -> np.ndarray:
    """0-based rank of each target in its user's score row (ties count against it).

    ``scores`` holds one row per user of a block (fresh from ``_score_users``: it is modified in
    place), ``train`` the block's rows of the seen-items matrix, and target ``j`` is item
    ``row_items[j]`` of row ``row_local[j]`` (sorted by row). Each target is ranked against the
    row's items that are neither training items nor targets of that user. The excluded cells are
    set to -inf, so that one comparison per cell counts the rest; with a -inf target (which
    -inf cells would tie) a mask of the excluded cells is used instead. The rows are compared in
    chunks of :func:`_users_per_block` rows, so that the comparison's temporaries stay within
    :data:`_BLOCK_CELLS` cells whatever the number of targets.
    """
    target_rows = torch.from_numpy(np.ascontiguousarray(row_local, dtype=np.int64))
    target_items = torch.from_numpy(np.ascontiguousarray(row_items, dtype=np.int64))
    target = scores[target_rows, target_items]
    coo = train.tocoo()
    train_rows = torch.from_numpy(coo.row.astype(np.int64))
    train_cols = torch.from_numpy(coo.col.astype(np.int64))
    n_rows, n_items = scores.shape
    chunk = _users_per_block(n_items)
    ranks = np.empty(len(target), dtype=np.int64)
    if torch.isneginf(target).any():
        excluded = torch.zeros(scores.shape, dtype=torch.bool)
        excluded[train_rows, train_cols] = True
        excluded[target_rows, target_items] = True
        for c in range(0, len(target), chunk):
            part = slice(c, c + chunk)
            beats = scores[target_rows[part]] >= target[part, None]
            beats &= ~excluded[target_rows[part]]
            ranks[part] = beats.sum(1, dtype=torch.int32).numpy()
        return ranks
    scores[train_rows, train_cols] = -torch.inf
    scores[target_rows, target_items] = -torch.inf
    # one target per row, in row order (leave-one-out): compare the rows where they are
    in_place = len(target) == n_rows and bool(np.array_equal(row_local, np.arange(n_rows)))
    for c in range(0, len(target), chunk):
        part = slice(c, c + chunk)
        rows = scores[c : c + chunk] if in_place else scores[target_rows[part]]
        ranks[part] = (rows >= target[part, None]).sum(1, dtype=torch.int32).numpy()
    return ranks


# --------------------------------------------------------------------------------------------
# intervals over users (the command line's evaluate, the demo, the docs' figures)
# --------------------------------------------------------------------------------------------

# bootstrap resamples drawn at once are capped at this many (user, resample) cells
_BOOTSTRAP_CELLS = 1 << 22


def _per_target_ranks(
    model: Any,
    test: pd.DataFrame,
    *,
    n_negatives: int | None = 99,
    random_state: int = 0,
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """0-based rank of every held-out interaction, as ``model.evaluate`` ranks it.

    Parameters
    ----------
    model : fitted recommender
        A fitted :class:`~implicit_ncf.NeuralCF` or
        :class:`~implicit_ncf.PopularityRecommender`.
    test : pandas.DataFrame
        Held-out interactions with the model's ``user_col`` and ``item_col``.
    n_negatives : int or None, default 99
        Rank each target among this many sampled unseen items (the candidates
        ``model.evaluate`` draws with the same ``random_state``), or ``None`` for the full
        catalogue minus the user's training and test items.
    random_state : int, default 0
        Seed of the sampled negatives (``evaluate``'s default).

    Returns
    -------
    ranks : ndarray of shape (n_targets,)
        Rank of each target (ties count against it); targets whose user or item the model has
        never seen rank last.
    users : ndarray of shape (n_targets,)
        Integer code of each target's user (for intervals over users).
    info : dict
        ``n_unknown_users`` and ``n_unknown_targets``.
    """
    user_col, item_col = model.user_col, model.item_col
    pairs = test[[user_col, item_col]]
    raw_users = pairs[user_col].to_numpy()
    u = model.user_encoder_.get_indexer(raw_users)
    i = model.item_encoder_.get_indexer(pairs[item_col].to_numpy())
    info = {
        "n_unknown_users": int(pd.unique(raw_users[u < 0]).size),
        "n_unknown_targets": int(((u < 0) | (i < 0)).sum()),
    }
    rows = model.evaluate(
        pairs, k=1, n_negatives=n_negatives, random_state=random_state, per_user=True
    )
    codes = pd.factorize(rows[user_col], sort=True)[0]
    return rows["rank"].to_numpy(dtype=np.int64), codes.astype(np.int64), info


def _bootstrap_interval(
    values: np.ndarray,
    users: np.ndarray,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of a mean over targets, resampling users.

    Users are resampled with replacement (all the targets of a drawn user come with it), so
    that users with several held-out interactions count as one unit.

    Parameters
    ----------
    values : ndarray of shape (n_targets,)
        A per-target metric (hit, NDCG, reciprocal rank).
    users : ndarray of shape (n_targets,)
        Integer user code of each target, in ``0 .. n_users - 1``.
    n_resamples : int, default 1000
        Bootstrap resamples.
    confidence : float, default 0.95
        Coverage of the interval.
    random_state : int, default 0
        Seed of the resampling.

    Returns
    -------
    (float, float)
        The ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the resampled
        means.
    """
    sums = np.bincount(users, weights=values.astype(np.float64))
    counts = np.bincount(users).astype(np.float64)
    n = len(sums)
    rng = np.random.default_rng(random_state)
    means = np.empty(n_resamples)
    step = max(1, _BOOTSTRAP_CELLS // max(1, n))
    for start in range(0, n_resamples, step):
        size = min(step, n_resamples - start)
        draw = rng.integers(0, n, size=(size, n))
        means[start : start + size] = sums[draw].sum(1) / counts[draw].sum(1)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _evaluate_with_intervals(
    model: Any,
    test: pd.DataFrame,
    *,
    k: Sequence[int] = (5, 10, 20),
    n_negatives: int | None = 99,
    random_state: int = 0,
    n_resamples: int = 1000,
) -> tuple[dict[str, float], dict[str, tuple[float, float]], dict[str, int]]:
    """HR, NDCG and MRR at each ``k`` with 95% bootstrap intervals over users.

    The per-target ranks of :func:`_per_target_ranks` become metrics through
    :func:`implicit_ncf.metrics.metrics_from_ranks` (``per_user=True``), whose means are those
    of ``model.evaluate(test, k=k, n_negatives=n_negatives)``; each interval is
    :func:`_bootstrap_interval` of one metric column over users.

    Returns
    -------
    means : dict
        ``"hr@k"``, ``"ndcg@k"``, ``"mrr@k"`` for each ``k``.
    intervals : dict
        The same keys -> ``(low, high)``.
    counts : dict
        ``n_users``, ``n_targets``, ``n_unknown_users``, ``n_unknown_targets``.
    """
    ranks, users, info = _per_target_ranks(
        model, test, n_negatives=n_negatives, random_state=random_state
    )
    per_user = metrics_from_ranks(ranks, list(k), users=users, per_user=True)
    means: dict[str, float] = {}
    intervals: dict[str, tuple[float, float]] = {}
    for key in per_user.columns:
        if "@" not in str(key):
            continue
        values = per_user[key].to_numpy(dtype=np.float64)
        means[key] = float(values.mean())
        intervals[key] = _bootstrap_interval(
            values, users, n_resamples=n_resamples, random_state=random_state
        )
    counts = {"n_users": int(users.max()) + 1 if len(users) else 0, "n_targets": len(ranks)}
    counts.update(info)
    return means, intervals, counts
