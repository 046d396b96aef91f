"""Probe: NeuMF's fine-tuning with its GMF tower held at the ALS solution.

The default NeuMF fine-tunes every weight after its towers are trained; on ML-1M's validation
data the fine-tuning raises full-ranking HR@10 over the GMF tower's and lowers sampled HR@10
(``docs/results.md`` section 2). This probe asks which weights carry that trade by freezing part
of the GMF tower during the fine-tuning, so that only the MLP tower and the output layer (and,
with ``gmf_items``, the GMF user rows) learn. The library has no such parameter; the script
patches :meth:`implicit_ncf.networks.NeuMF.load_pretrained`, for its own process only, and runs
the configurations through ``reproduce_ncf_ml1m.py --tune`` (the test file is not read)::

    python examples/probe_frozen_gmf.py gmf '[{"model": "neumf"}]'
    python examples/probe_frozen_gmf.py gmf_items '[{"model": "neumf"}]'

``gmf`` freezes the GMF tower's user and item rows, ``gmf_items`` its item rows only.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from typing import Any

import implicit_ncf.networks as networks

PARTS = {
    "gmf": ("user_embedding.weight", "item_embedding.weight"),
    "gmf_items": ("item_embedding.weight",),
}
_original = networks.NeuMF.load_pretrained


def install(part: str) -> None:
    """Patch ``NeuMF.load_pretrained`` to freeze ``PARTS[part]`` of the GMF tower after the
    copy; frozen parameters get no gradient, so the fine-tuning's optimizer leaves them."""
    if part not in PARTS:
        raise SystemExit(f"part must be one of {sorted(PARTS)}; got {part!r}")
    names = PARTS[part]

    def load_pretrained(
        self: Any, gmf: Any, mlp: Any, alpha: float = 0.5, *, residual: bool = False
    ) -> None:
        _original(self, gmf, mlp, alpha, residual=residual)
        for name, parameter in self.gmf.named_parameters():
            if name in names:
                parameter.requires_grad_(False)

    networks.NeuMF.load_pretrained = load_pretrained  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit(__doc__)
    install(argv[0])
    script = Path(__file__).resolve().parent / "reproduce_ncf_ml1m.py"
    sys.argv = [str(script), "--tune", "--configs", argv[1]]
    runpy.run_path(str(script), run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
