"""The negative-sampling rows: one epoch of negatives against a NeuMF epoch, and the speed-up over
the tutorials' per-sample loop (:func:`sampling_rows`)."""

from __future__ import annotations

import numpy as np

from bench.common import Context, Row, best_of, fmt_s
from bench.naive import BenchmarkError, check_negatives, tutorial_negatives


def sampling_rows(ctx: Context) -> list[Row]:
    from implicit_ncf.data import IdEncoder, interactions_to_csr
    from implicit_ncf.sampling import NegativeSampler

    train = ctx.train
    users_enc = IdEncoder("user").fit(train["user"])
    items_enc = IdEncoder("item").fit(train["item"])
    u = users_enc.transform(train["user"])
    i = items_enc.transform(train["item"])
    seen = interactions_to_csr(u, i, len(users_enc), len(items_enc))
    rng = np.random.default_rng(0)
    users = u[rng.permutation(len(u))]
    n_neg = 4
    build_s, sampler = best_of(lambda: NegativeSampler(seen), 1)
    sample_s, negatives = best_of(lambda: sampler.sample(users, n_neg, random_state=rng), 3)
    check_negatives(users, negatives, seen)

    # one epoch of the default NeuMF on all positives, from the measured fit samples/s
    train_neumf = ctx.results.get("train_neumf")
    rows = len(u) * (1 + n_neg)
    rows_out = []
    if train_neumf is not None:
        epoch_s = rows / train_neumf["fit_rate"]
        share = sample_s / epoch_s
        rows_out.append(
            Row(
                "sampling: one ML-1M epoch of negatives",
                fmt_s(sample_s),
                f"NeuMF epoch {fmt_s(epoch_s)}",
                share,
                "<= 5%",
                share <= 0.05,
                style="%",
                notes=[
                    f"{len(u):,} positives x {n_neg} = {negatives.size:,} negatives, best of 3; "
                    f"the epoch time is {rows:,} examples at the NeuMF fit rate measured above "
                    f"(sampler set-up, once per fit: {fmt_s(build_s)})"
                ],
            )
        )
    n_loop = min(ctx.mode.tutorial_positives, len(u))
    pairs = set(zip(u.tolist(), i.tolist(), strict=True))
    perm = rng.permutation(len(u))[:n_loop]
    loop_s, (lu, li, ll) = best_of(
        lambda: tutorial_negatives(u[perm], i[perm], pairs, len(items_enc), n_neg), 1
    )
    drawn = zip(lu[ll == 0].tolist(), li[ll == 0].tolist(), strict=True)
    if (ll == 0).sum() != n_loop * n_neg or any(pair in pairs for pair in drawn):
        raise BenchmarkError("the tutorial loop drew wrong negatives")
    loop_epoch_s = loop_s * len(u) / n_loop
    speedup = loop_epoch_s / sample_s
    ctx.results["sampling"] = {
        "sample_s": sample_s,
        "sampler_setup_s": build_s,
        "tutorial_loop_s": loop_s,
        "tutorial_positives": n_loop,
        "tutorial_epoch_s_extrapolated": loop_epoch_s,
    }
    rows_out.append(
        Row(
            "sampling: speed-up over a per-sample loop",
            f"{speedup:,.0f}x",
            f"loop {fmt_s(loop_epoch_s)}/epoch",
            speedup,
            ">= 100x",
            speedup >= 100,
            style="x",
            notes=[
                f"the tutorial's loop (np.random.choice until unseen) timed on {n_loop:,} "
                f"positives ({fmt_s(loop_s)}) and extrapolated linearly to {len(u):,}"
            ],
        )
    )
    return rows_out
