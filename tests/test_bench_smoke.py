"""The benchmark's correctness checks on tiny synthetic data (no timings are asserted).

``python -m bench`` holds every fast path to a naive one; these tests run the same rows on a
few hundred interactions so that CI covers the benchmark code, and check that a wrong fast answer
is caught.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from bench import naive, run, scale, synthetic
from implicit_ncf.sampling import sample_candidates
from implicit_ncf.splits import leave_one_out

TINY = run.Mode(
    name="smoke",
    train_positives=None,
    train_epochs=2,
    tutorial_positives=50,
    rec_user_stride=3,
    eval_users=25,
    model_batches=1,
    scale_batches=2,
    quality=False,
)


@pytest.fixture(scope="module")
def ctx() -> run.Context:
    frame = synthetic.interactions(80, 50, 1200, seed=3)
    split = leave_one_out(frame, time_col=None, random_state=0)
    candidates = sample_candidates(split.train, split.test, n_negatives=20, random_state=0)
    return run.Context(TINY, split.train, split.test, candidates, real_data=False, verbose=False)


def test_synthetic_interactions_are_distinct_and_exact() -> None:
    keys = synthetic.interaction_keys(200, 90, 4000, seed=1)
    assert len(keys) == 4000 and len(np.unique(keys)) == 4000
    frame = synthetic.interactions(200, 90, 4000, seed=1)
    assert len(frame) == 4000 and not frame.duplicated().any()
    assert frame["user"].nunique() == 200


def test_training_row_runs_and_reports_a_ratio(ctx: run.Context) -> None:
    row = run.train_row(ctx, "gmf")
    assert row.ratio is not None and row.ratio > 0
    result = ctx.results["train_gmf"]
    from implicit_ncf import NeuralCF

    assert result["rows_per_epoch"] == (1 + NeuralCF().n_negatives) * len(ctx.train)
    assert len(result["fit_epoch_s"]) == len(result["raw_epoch_s"]) == 2


def test_time_to_quality_row_records_its_validation_curve(ctx: run.Context) -> None:
    row = run.quality_row(ctx, threshold=0.0, max_epochs=2)  # any HR@10 reaches 0.0
    curve = ctx.results["quality"]["curve"]
    assert [epoch for epoch, _, _ in curve] == [1]  # stopped at the first epoch that reached it
    assert ctx.results["quality"]["reached_s"] == curve[0][1] > 0
    assert row.ok is None and row.figure.endswith("s")
    never = run.quality_row(ctx, threshold=1.01, max_epochs=2)  # no HR@10 reaches 1.01
    assert [epoch for epoch, _, _ in ctx.results["quality"]["curve"]] == [1, 2]
    assert never.ok is None and never.figure == "not in 2 epochs"  # no target: never MISSED


def test_sampling_rows_check_their_negatives(ctx: run.Context) -> None:
    rows = run.sampling_rows(ctx)
    assert rows[-1].ratio is not None and rows[-1].ratio > 0


def test_scoring_rows_agree_with_the_naive_paths(ctx: run.Context) -> None:
    for row in (run.recommend_row(ctx), run.eval_sampled_row(ctx), run.eval_full_row(ctx)):
        assert row.figure != "WRONG" and row.ratio is not None


def test_a_wrong_top_k_fails_loudly(ctx: run.Context) -> None:
    est = run.scoring_model(ctx)
    users = np.arange(5)
    items, scores = naive.naive_top_k(est.network_, est.seen_, users, 5)
    assert naive.check_top_k(items, items, scores) == 0
    wrong = items.copy()
    wrong[2] = np.argsort(scores[2])[:5]  # the worst items instead of the best
    with pytest.raises(naive.BenchmarkError, match="differs from the naive path"):
        naive.check_top_k(wrong, items, scores)


def test_a_wrong_rank_or_metric_fails_loudly() -> None:
    low, high = np.array([0, 3, 5]), np.array([0, 4, 5])
    assert naive.check_ranks(np.array([0, 4, 5]), low, high, "x") == 1
    with pytest.raises(naive.BenchmarkError, match="rank"):
        naive.check_ranks(np.array([1, 4, 5]), low, high, "x")
    bounds = naive.metric_bounds(low, high, k=4)
    naive.check_metrics({"hr@4": 1 / 3, "ndcg@4": bounds["ndcg@4"][0]}, bounds, "x")
    with pytest.raises(naive.BenchmarkError, match="hr@4"):
        naive.check_metrics({"hr@4": 1.0, "ndcg@4": bounds["ndcg@4"][0]}, bounds, "x")


def test_a_seen_negative_fails_loudly() -> None:
    seen = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 0]], dtype=np.float32))
    users = np.array([0, 1])
    naive.check_negatives(users, np.array([[1], [2]]), seen)
    with pytest.raises(naive.BenchmarkError, match="interacted with"):
        naive.check_negatives(users, np.array([[1], [1]]), seen)


def test_tutorial_loop_never_draws_a_seen_item() -> None:
    users, items = np.array([0, 0, 1]), np.array([0, 1, 2])
    pairs = set(zip(users.tolist(), items.tolist(), strict=True))
    u, i, label = naive.tutorial_negatives(users, items, pairs, 4, 3)
    assert (label == 1).sum() == 3 and (label == 0).sum() == 9
    assert not any((a, b) in pairs for a, b in zip(u[label == 0], i[label == 0], strict=True))


def test_scale_worker_on_a_small_shape(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--users", "400", "--items", "300", "--interactions", "8000", "--batches", "3"]
    assert scale.main([*argv, "--threads", "1"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    from implicit_ncf import NeuralCF

    assert out["n_positives"] == 8000
    assert out["epoch_examples"] == 8000 * (1 + NeuralCF().n_negatives)
    assert out["peak_rss_gb"] > 0 and out["prep_s"] > 0


def test_render_prints_every_row() -> None:
    rows = [
        run.Row("a", "1 s", "b 2 s", 2.0, ">= 1x", True, ["note"], style="x"),
        run.Row("c", "3", "-", None),
        run.Row("d", "0.1 s", "e", 0.021, "<= 5%", False, style="%"),
    ]
    text = run.render(rows)
    assert "2.0x" in text and "2.1%" in text and "MISSED" in text and "- **a**: note" in text
    assert not math.isnan(rows[0].ratio or 0)
    assert isinstance(pd.DataFrame([vars(r) for r in rows]), pd.DataFrame)


def test_realtime_row_folds_in_new_users_and_checks_them(ctx: run.Context) -> None:
    assert "realtime" in run.ROWS
    small = dataclasses.replace(ctx, mode=dataclasses.replace(ctx.mode, realtime_users=10))
    row = run.realtime_row(small, n_clicks=5)  # the module's model (small.results is ctx's)
    result = small.results["realtime"]
    assert result["n_clicks"] == 5 and result["n_users"] > 0
    assert 0 < result["fold_in_median_s"] <= result["fold_in_p99_s"]
    assert result["n_users"] <= 10 and 0.0 <= result["top10_overlap"] <= 1.0
    assert row.ratio is not None and row.ratio > 0 and row.figure.startswith("median")
    with pytest.raises(naive.BenchmarkError, match="no training user"):
        run.realtime_row(small, n_clicks=10_000)


def test_similar_row_matches_the_reference_top10(ctx: run.Context) -> None:
    row = run.similar_row(ctx, n_items=20)
    result = ctx.results["similar"]
    assert 0 < result["median_s"] <= result["p99_s"] and result["bare_median_s"] > 0
    assert row.ratio is not None and row.ratio > 0 and row.figure.startswith("median")


def test_similar_row_fails_when_similar_items_is_wrong(ctx: run.Context, monkeypatch) -> None:
    est = run.scoring_model(ctx)
    shuffled = est.similar_items  # the right answer, reversed: not the reference's order
    monkeypatch.setattr(
        est, "similar_items", lambda item, k: shuffled(item, k=k).iloc[::-1], raising=False
    )
    with pytest.raises(naive.BenchmarkError, match="differs from the reference top-10"):
        run.similar_row(ctx, n_items=3)


def test_implicit_als_peer_goes_through_the_librarys_evaluator():
    pytest.importorskip("implicit")
    from bench.peers import ImplicitALS, tune_als

    frame = synthetic.interactions(60, 40, 900, seed=5)
    split = leave_one_out(frame, time_col=None, random_state=0)
    best, table = tune_als(
        split.train, grid={"factors": [4, 8], "regularization": [0.1], "alpha": [1.0]}
    )
    assert len(table) == 2 and best["factors"] in (4, 8) and isinstance(best["factors"], int)
    model = ImplicitALS(**best).fit(split.train)
    full = model.evaluate(split.test, k=10, n_negatives=None)
    rows = model.evaluate(split.test, k=10, n_negatives=None, per_user=True)
    assert rows["hr@10"].mean() == pytest.approx(full["hr@10"])
    scores = model._score_users(np.arange(3)).numpy()
    pairs = model._score_pairs(np.repeat(np.arange(3), 40), np.tile(np.arange(40), 3))
    np.testing.assert_allclose(scores.ravel(), pairs, rtol=1e-5, atol=1e-5)
    assert len(model.recommend(split.test["user"].iloc[0], k=5)) == 5


def test_time_to_als_quality_row(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import common, training

    frame = synthetic.interactions(120, 160, 2400, seed=4)  # > 99 unseen items per user
    split = leave_one_out(frame, time_col=None, random_state=0)
    ctx = run.Context(TINY, split.train, split.test, split.test, real_data=False, verbose=False)

    monkeypatch.setitem(common.PARAMS, "n_epochs", 1)
    monkeypatch.setitem(common.PARAMS, "n_factors", 4)
    monkeypatch.setitem(common.PARAMS, "hidden_layers", (8, 4))
    monkeypatch.setitem(sys.modules, "implicit", None)  # as without the bench extra
    skipped = run.als_quality_row(ctx)
    assert skipped.figure == "skipped" and "implicit" in skipped.notes[0]
    monkeypatch.delitem(sys.modules, "implicit")
    pytest.importorskip("implicit")
    monkeypatch.setattr(training, "ALS_TUNED", {"factors": 4, "regularization": 0.1, "alpha": 1.0})
    row = run.als_quality_row(ctx)
    result = ctx.results["als_quality"]
    # a pretrained NeuMF: one epoch of each tower, then the fine-tuning (the final network)
    assert [stage for stage, *_ in result["curve"]] == [0, 1, 2]
    final_hr = result["curve"][-1][3]
    assert (result["reached_s"] is not None) == (final_hr >= result["als_val_hr@10"])
    assert row.ok is None and row.baseline.startswith("ALS fit")
