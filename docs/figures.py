"""The models behind the figures of the Plots page (``plots.rst``), fitted once per build.

The plot directive runs each figure's code when the docs are built; the code imports
:func:`fitted` from here, so that every figure is drawn by ``implicit_ncf.plotting`` from
models trained on the embedded MovieLens ml-latest-small in the same build. The models are
small (16 factors, 4 epochs per tower) to keep ``make docs`` quick; they are not tuned.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any


@functools.cache
def fitted() -> dict[str, Any]:
    """Popularity and a small pretrained NeuMF on a leave-one-out split of ml-latest-small,
    with their sampled-protocol metrics and 95% bootstrap intervals over users."""
    from implicit_ncf import NeuralCF, PopularityRecommender, load_movielens
    from implicit_ncf.evaluation import _evaluate_with_intervals
    from implicit_ncf.splits import leave_one_out

    warnings.simplefilter("ignore", UserWarning)  # duplicates collapsed, unknown test items
    split = leave_one_out(load_movielens("latest-small"))
    models = {
        "popularity": PopularityRecommender().fit(split.train),
        "NeuMF": NeuralCF(
            n_factors=16,
            hidden_layers=(32, 16),
            n_epochs=4,
            early_stopping=True,
            patience=4,
            random_state=0,
        ).fit(split.train),
    }
    results, intervals = {}, {}
    for name, model in models.items():
        results[name], intervals[name], _ = _evaluate_with_intervals(
            model, split.test, k=(1, 5, 10, 20)
        )
    return {"models": models, "results": results, "intervals": intervals, "split": split}
