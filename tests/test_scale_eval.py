"""Bounded memory of evaluation and recommendation at scale (issue 13), and their progress lines.

Every blocked loop is checked against the same computation in one block: the network's scoring
with a tiny activation budget (:data:`implicit_ncf.networks._SCORE_BLOCK_ELEMENTS`), full ranking
and ``recommend`` with a tiny score budget (:data:`implicit_ncf.evaluation._BLOCK_CELLS`), the
candidates path with tiny chunks (:data:`implicit_ncf.evaluation._CANDIDATE_ROWS`). The progress
reporter writes nothing unless ``verbose`` is set and the loop is long, and a few whole lines off
a terminal. The benchmark worker (:mod:`bench.scale_eval`) runs on a small shape.
"""

from __future__ import annotations

import io
import itertools
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import planted_interactions

from bench import scale_eval
from implicit_ncf import NeuralCF, PopularityRecommender, evaluation, networks
from implicit_ncf._progress import MIN_BLOCKS, _Progress
from implicit_ncf.evaluation import _block_ranks
from implicit_ncf.sampling import sample_candidates
from implicit_ncf.splits import leave_one_out, temporal_split

PHASES = ("full", "recommend", "candidates")
SMALL = {
    "n_factors": 8,
    "hidden_layers": (16, 8, 4),
    "n_epochs": 1,
    "batch_size": 128,
    "pretrain": False,
    "accelerator": "cpu",
    "random_state": 0,
}


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    split = leave_one_out(planted_interactions(n_users=60, n_items=48, per_user=10, seed=5))
    return split.train, split.test


@pytest.fixture(scope="module")
def models(data: tuple[pd.DataFrame, pd.DataFrame]) -> dict[str, object]:
    train, _ = data
    out: dict[str, object] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("mf", "neumf"):
            out[name] = NeuralCF(model=name, **SMALL).fit(train)
    out["popularity"] = PopularityRecommender().fit(train)
    return out


# ------------------------------------------------------------------------------------------------
# the network's blocks
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n_items", [1, 7, 100, 5000, 10**6])
@pytest.mark.parametrize("elements", [1, 64, 1000, 1 << 19])
def test_tail_blocks_bound_the_widest_layer(
    monkeypatch: pytest.MonkeyPatch, n_items: int, elements: int
) -> None:
    monkeypatch.setattr(networks, "_SCORE_BLOCK_ELEMENTS", elements)
    mlp = networks.MLP(3, 5, hidden_layers=(16, 8, 4))
    widest = 8
    users, items = mlp._tail_blocks(10_000, n_items, torch.device("cpu"))
    assert users >= 1 and 1 <= items <= n_items
    assert users * items * widest <= max(elements, widest)
    if items < n_items:
        assert users == 1  # a slice of the catalogue only ever for one user


@pytest.mark.parametrize("model", ["mlp", "neumf"])
@pytest.mark.parametrize("elements", [8, 40, 1 << 19])
def test_blocked_network_scores_equal_one_forward_per_pair(
    monkeypatch: pytest.MonkeyPatch, model: str, elements: int
) -> None:
    torch.manual_seed(0)
    net = networks.build_network(
        model, 9, 23, n_factors=4, hidden_layers=(16, 8, 4), dropout=0.0
    ).eval()
    users = torch.arange(9)
    with torch.inference_mode():
        pairs_u = users.repeat_interleave(23)
        pairs_i = torch.arange(23).repeat(9)
        reference = net(pairs_u, pairs_i).reshape(9, 23)
        monkeypatch.setattr(networks, "_SCORE_BLOCK_ELEMENTS", elements)
        blocked = net.score_all(users)  # type: ignore[operator]
    torch.testing.assert_close(blocked, reference, rtol=1e-5, atol=1e-6)


def test_neumf_block_of_an_ml20m_catalogue_stays_small() -> None:
    """Default NeuMF sizes on 26,744 items: a block's activations stay within the budget (2 MiB
    of float32 on a CPU), whatever the number of users scored."""
    net = networks.NeuMF(2, 26_744, 64, (128, 64, 32))
    users, items = net.mlp._tail_blocks(138_493, 26_744, torch.device("cpu"))
    assert users * items * 64 <= networks._SCORE_BLOCK_ELEMENTS


# ------------------------------------------------------------------------------------------------
# full ranking, recommend, candidates: blocked equals unblocked
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mf", "neumf", "popularity"])
@pytest.mark.parametrize("cells", [1, 100])
def test_blocked_full_ranking_equals_one_block(
    monkeypatch: pytest.MonkeyPatch, data: tuple, models: dict, name: str, cells: int
) -> None:
    _, test = data
    model = models[name]
    reference = model.evaluate(test, k=(1, 5, 10), n_negatives=None, per_user=True)
    monkeypatch.setattr(evaluation, "_BLOCK_CELLS", cells)  # 1 or 2 users per block
    blocked = model.evaluate(test, k=(1, 5, 10), n_negatives=None, per_user=True)
    pd.testing.assert_frame_equal(blocked, reference)


@pytest.mark.parametrize("cells", [1, 50, 1 << 22])
def test_full_ranking_with_several_targets_per_user_equals_the_frame_path(
    monkeypatch: pytest.MonkeyPatch, models: dict, cells: int
) -> None:
    """Several test items per user (a temporal split): the rows are gathered per target and
    compared in chunks; the ranks are those of the full candidates frame."""
    frame = planted_interactions(n_users=60, n_items=48, per_user=10, seed=5)
    model = NeuralCF(model="neumf", **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        split = temporal_split(frame, cutoff=1007)  # the last 3 of each user's 10
        model.fit(split.train)
    monkeypatch.setattr(evaluation, "_BLOCK_CELLS", cells)
    fast = model.evaluate(split.test, k=10, n_negatives=None, per_user=True)
    candidates = sample_candidates(split.train, split.test, n_negatives=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slow = model.evaluate(split.test, k=10, candidates=candidates, per_user=True)
    assert split.test.groupby("user").size().max() > 1
    np.testing.assert_array_equal(fast["rank"].to_numpy(), slow["rank"].to_numpy())


def test_full_ranking_of_test_pairs_also_in_training_equals_the_frame_path(
    monkeypatch: pytest.MonkeyPatch, data: tuple, models: dict
) -> None:
    """Test rows that repeat a training pair (looked up in the seen-items CSR) and an unknown
    item rank as the candidates frame ranks them."""
    train, test = data
    extra = train.groupby("user", sort=False).head(1).iloc[::3][["user", "item"]]
    unknown = test.iloc[:2][["user"]].assign(item=-5)
    test = pd.concat([test[["user", "item"]], extra, unknown], ignore_index=True)
    model = models["neumf"]
    monkeypatch.setattr(evaluation, "_BLOCK_CELLS", 100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = model.evaluate(test, k=10, n_negatives=None, per_user=True)
        candidates = sample_candidates(train, test, n_negatives=None)
        slow = model.evaluate(test, k=10, candidates=candidates, per_user=True)
    np.testing.assert_array_equal(fast["rank"].to_numpy(), slow["rank"].to_numpy())


def test_block_ranks_of_minus_infinite_targets_ignore_the_excluded_items() -> None:
    """A -inf target ties every excluded (-inf) cell: the mask path counts only the items that
    are neither training nor target items, like the candidates frame."""
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    scores = torch.from_numpy(rng.normal(size=(3, 6)))
    scores[0, 1] = scores[2, 4] = -torch.inf  # targets at -inf
    scores[1, 2] = scores[1, 3]  # a tie
    train = sp.csr_matrix(np.array([[0, 0, 1, 0, 0, 0], [1, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0]]))
    row_local, row_items = np.array([0, 1, 1, 2]), np.array([1, 3, 4, 4])
    ranks = _block_ranks(scores.clone(), train, row_local, row_items)
    expected = []
    for r, item in zip(row_local, row_items, strict=True):
        excluded = set(train[r].indices) | set(row_items[row_local == r])
        others = [c for c in range(6) if c not in excluded]
        expected.append(sum(bool(scores[r, c] >= scores[r, item]) for c in others))
    np.testing.assert_array_equal(ranks, expected)


@pytest.mark.parametrize("name", ["mf", "neumf", "popularity"])
def test_blocked_recommend_equals_one_block(
    monkeypatch: pytest.MonkeyPatch, models: dict, name: str
) -> None:
    model = models[name]
    users = model.user_encoder_.classes_
    reference = model.recommend(users, k=5)
    monkeypatch.setattr(evaluation, "_BLOCK_CELLS", 1)  # one user per block
    blocked = model.recommend(users, k=5, batch_size=4096)
    pd.testing.assert_frame_equal(blocked, reference)


@pytest.mark.parametrize("name", ["mf", "neumf"])
def test_chunked_candidates_equal_one_chunk(
    monkeypatch: pytest.MonkeyPatch, data: tuple, models: dict, name: str
) -> None:
    """Chunks of 37 rows, with an unknown user whose rows span several chunks (counted once)
    and an unknown target item."""
    train, test = data
    model = models[name]
    candidates = sample_candidates(train, test, n_negatives=20, random_state=1)
    stranger = candidates[candidates["user"] == candidates["user"].iloc[0]].assign(user="new")
    candidates = pd.concat([candidates, stranger], ignore_index=True)
    candidates.loc[5, "item"] = -1  # an unknown item (a negative)
    target = np.flatnonzero(candidates["is_target"].to_numpy())[3]
    candidates.loc[target, "item"] = -2  # an unknown target item
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = model.evaluate(test, k=(1, 10), candidates=candidates)
        rows = model.evaluate(test, k=(1, 10), candidates=candidates, per_user=True)
        monkeypatch.setattr(evaluation, "_CANDIDATE_ROWS", 37)
        blocked = model.evaluate(test, k=(1, 10), candidates=candidates)
        blocked_rows = model.evaluate(test, k=(1, 10), candidates=candidates, per_user=True)
    assert blocked == reference
    assert reference["n_unknown_users"] == 1 and reference["n_unknown_targets"] == 2
    pd.testing.assert_frame_equal(blocked_rows, rows)


def test_scoring_candidates_leaves_the_callers_frame_alone(data: tuple, models: dict) -> None:
    """The scored frame shares the caller's columns (no copy of a 13.8M-row frame) but writes
    its scores into a column of its own, even over a ``score`` column of the caller's."""
    train, test = data
    candidates = sample_candidates(train, test, n_negatives=20, random_state=1)
    candidates["score"] = 7.0
    before = candidates.copy()
    scored, _ = models["neumf"]._score_candidates(candidates)
    pd.testing.assert_frame_equal(candidates, before)
    assert not (scored["score"] == 7.0).any()


# ------------------------------------------------------------------------------------------------
# progress under verbose=True
# ------------------------------------------------------------------------------------------------


def _three_loops(model: NeuralCF, test: pd.DataFrame, candidates: pd.DataFrame) -> tuple:
    return (
        model.evaluate(test, k=10, n_negatives=None),
        model.recommend(model.user_encoder_.classes_, k=5),
        model.evaluate(test, k=10, candidates=candidates),
    )


def test_progress_only_with_verbose_and_results_unchanged(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    data: tuple,
    models: dict,
) -> None:
    train, test = data
    model = models["neumf"]
    candidates = sample_candidates(train, test, n_negatives=20, random_state=1)
    monkeypatch.setattr(evaluation, "_BLOCK_CELLS", 48 * 4)  # 4 users per block: 15 blocks
    monkeypatch.setattr(evaluation, "_CANDIDATE_ROWS", 64)  # 1,260 rows: 20 chunks
    capsys.readouterr()
    quiet = _three_loops(model, test, candidates)
    assert capsys.readouterr().err == ""
    model.set_params(verbose=True)
    try:
        loud = _three_loops(model, test, candidates)
    finally:
        model.set_params(verbose=False)
    err = capsys.readouterr().err
    assert quiet[0] == loud[0] and quiet[2] == loud[2]
    pd.testing.assert_frame_equal(quiet[1], loud[1])
    lines = err.splitlines()
    for what in ("evaluate (full ranking)", "recommend", "evaluate (candidates)"):
        mine = [line for line in lines if line.startswith(what + ":")]
        assert 2 <= len(mine) <= 6, (what, mine)  # a few lines: start, quarters, end
    assert "\r" not in err  # capsys is not a terminal
    assert "60 users in" in err and "1,260 rows in" in err


def test_short_loops_write_nothing(capsys: pytest.CaptureFixture[str], data, models) -> None:
    _, test = data
    model = models["mf"]
    model.set_params(verbose=True)
    try:
        model.evaluate(test, k=10, n_negatives=None)  # one block
    finally:
        model.set_params(verbose=False)
    assert capsys.readouterr().err == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_redraws_one_line() -> None:
    out = _Terminal()
    with _Progress("x", 1000, unit="rows", n_blocks=1000, enabled=True, stream=out, interval=0):
        pass  # interrupted before any update
    assert out.getvalue().startswith("\rx:   0% 0/1,000 rows") and "(stopped)\n" in out.getvalue()
    out = _Terminal()
    with _Progress(
        "x", 100, unit="rows", n_blocks=100, enabled=True, stream=out, interval=0
    ) as bar:
        for _ in range(100):
            bar.update(1)
    text = out.getvalue()
    assert text.count("\r") == 101 and text.endswith("\n") and text.count("\n") == 1
    assert "x: 100 rows in" in text


def test_progress_off_a_terminal_writes_a_few_lines() -> None:
    out = io.StringIO()
    with _Progress("x", 10**6, unit="rows", n_blocks=10**4, enabled=True, stream=out) as bar:
        for _ in range(10**4):
            bar.update(100)
    lines = out.getvalue().splitlines()
    assert len(lines) == 5  # start, 25%, 50%, 75%, end
    assert lines[0] == "x: 1,000,000 rows in 10,000 blocks" and "\r" not in out.getvalue()
    quiet = io.StringIO()
    with _Progress("x", 10, unit="rows", n_blocks=MIN_BLOCKS - 1, enabled=True, stream=quiet):
        pass
    with _Progress("x", 10, unit="rows", n_blocks=100, enabled=False, stream=quiet) as bar:
        bar.update(10)
    assert quiet.getvalue() == ""


# ------------------------------------------------------------------------------------------------
# the benchmark worker
# ------------------------------------------------------------------------------------------------


def test_scale_eval_worker_on_a_small_shape(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--shape", "20m", "--shape-users", "300", "--shape-items", "200"]
    argv += ["--interactions", "6000", "--users", "80", "--batches", "1", "--threads", "1"]
    assert scale_eval.main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n_items"] <= 200 and out["candidate_rows"] == 100 * out["candidate_users"]
    for model in ("mf", "neumf"):
        full = out[model]["full"]
        assert full["users"] == 80 and full["small_users"] == 20
        assert full["all_users_s"] >= full["s"] > 0 and full["peak_gb"] > 0
        assert out[model]["recommend"]["users"] == 80
        assert out[model]["candidates"]["rows"] == out["candidate_rows"]
    both = {"20m": out, "1m": out, "ratios": scale_eval.ratios(out, out, ["mf", "neumf"])}
    assert all(ratio == pytest.approx(1.0) for ratio in both["ratios"].values())
    rows = scale_eval.rows_from(both, subset_note="test")
    assert all(r.ratio is not None for r in rows)
    assert rows[-1].name.endswith("peak memory") and rows[-1].ok is not None


def test_scale_eval_workers_take_turns() -> None:
    """``run_both``'s two worker processes alternate their timed calls, one at a time: no call
    of one shape overlaps a call of the other, and while both have calls to make their turns
    alternate, so a change in the host's load slows both shapes' calls alike."""
    tiny = ["--users", "40", "--candidate-users", "40", "--threads", "1"]
    big = ["--shape-users", "120", "--shape-items", "200", "--interactions", "2400", *tiny]
    small = ["--shape-users", "80", "--shape-items", "150", "--interactions", "1600", *tiny]
    result = scale_eval.run_both(batches=1, shape_args={"20m": big, "1m": small})
    assert result["20m"]["n_items"] <= 200 and result["1m"]["n_items"] <= 150
    assert set(result["ratios"]) == {f"{m}_{p}" for m in ("mf", "neumf") for p in PHASES}
    spans = sorted(
        [(start, end, shape) for shape in ("20m", "1m") for start, end in result[shape]["calls"]]
    )
    counts = {shape: len(result[shape]["calls"]) for shape in ("20m", "1m")}
    assert min(counts.values()) >= 6  # candidates build + per model: full, recommend, candidates
    for (_, end, _), (start, _, _) in itertools.pairwise(spans):
        assert end <= start  # one call at a time
    owners = [shape for _, _, shape in spans]
    alternating = 2 * min(counts.values())
    assert owners[:alternating] == ["20m", "1m"] * (alternating // 2)
