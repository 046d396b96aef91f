"""``python -m implicit_ncf``: the command line of :mod:`implicit_ncf.cli`.

``python -m implicit_ncf demo`` trains NeuMF on the embedded MovieLens ml-latest-small,
evaluates it under the NCF protocol (test item among 99 sampled unseen items) and under full
ranking beside a popularity baseline, and prints a user's top-10 with movie titles; ``train``,
``recommend`` and ``evaluate`` work on the user's own files (``--help`` lists them).
"""

from __future__ import annotations

import sys

from .cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
