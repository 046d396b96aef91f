"""Progress of the long scoring loops (full ranking, candidates, recommending many users).

:class:`_Progress` writes to standard error, and only when the estimator's ``verbose`` is true
and the loop is long (at least :data:`MIN_BLOCKS` blocks). On a terminal it redraws one line
(carriage returns, at most every ``interval`` seconds); elsewhere (a log file, a pipe, a
notebook's captured stream) it writes a handful of whole lines: one when the loop starts, one at
each quarter, one at the end, so that a log gets a few lines instead of thousands of carriage
returns. No dependency: Lightning's tqdm is not needed to evaluate a model.
"""

from __future__ import annotations

import math
import sys
import time
from types import TracebackType
from typing import IO

__all__: list[str] = []

# loops of fewer blocks than this report nothing, however verbose the estimator
MIN_BLOCKS = 8


class _Progress:
    """A progress line for a loop over ``total`` units (users, rows) in ``n_blocks`` blocks.

    Parameters
    ----------
    description : str
        What runs, e.g. ``"evaluate (full ranking)"``.
    total : int
        Units of the whole loop.
    unit : str
        Their name, plural (``"users"``, ``"rows"``).
    n_blocks : int
        Blocks the loop takes; below :data:`MIN_BLOCKS` nothing is written.
    enabled : bool
        The estimator's ``verbose``.
    stream : text stream or None, default None
        Where to write; ``None`` is ``sys.stderr`` as it is when the loop starts.
    interval : float, default 0.2
        Seconds between two redraws of a terminal line.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with _Progress("demo", 8, unit="users", n_blocks=8, enabled=True, stream=out) as bar:
    ...     for _ in range(8):
    ...         bar.update(1)
    >>> print(out.getvalue().splitlines()[0])
    demo: 8 users in 8 blocks
    """

    def __init__(
        self,
        description: str,
        total: int,
        *,
        unit: str,
        n_blocks: int,
        enabled: bool,
        stream: IO[str] | None = None,
        interval: float = 0.2,
    ) -> None:
        self.description, self.total, self.unit = description, int(total), unit
        self.active = bool(enabled) and n_blocks >= MIN_BLOCKS and self.total > 0
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty()) if callable(isatty) else False
        self.interval = interval
        self.done = 0
        self.start = time.perf_counter()
        self.last_draw = -math.inf
        self.next_quarter = 1
        self.closed = False
        if self.active and not self.tty:
            self._write(f"{description}: {self.total:,} {unit} in {n_blocks:,} blocks\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def _line(self) -> str:
        elapsed = time.perf_counter() - self.start
        share = self.done / self.total
        text = (
            f"{self.description}: {100 * share:3.0f}% {self.done:,}/{self.total:,} {self.unit}, "
            f"{elapsed:.1f} s"
        )
        if 0 < share < 1:
            text += f", about {elapsed * (1 - share) / share:.0f} s left"
        return text

    def update(self, n: int) -> None:
        """Count ``n`` more units done."""
        if not self.active:
            return
        self.done = min(self.total, self.done + int(n))
        if self.tty:
            now = time.perf_counter()
            if now - self.last_draw >= self.interval:
                self.last_draw = now
                self._write("\r" + self._line())
            return
        quarter = 4 * self.done // self.total
        if self.next_quarter <= quarter < 4:
            self.next_quarter = quarter + 1
            self._write(self._line() + "\n")

    def close(self) -> None:
        """Write the last line (once)."""
        if not self.active or self.closed:
            return
        self.closed = True
        elapsed = time.perf_counter() - self.start
        if self.done >= self.total:
            text = f"{self.description}: {self.total:,} {self.unit} in {elapsed:.1f} s"
        else:
            text = self._line() + " (stopped)"
        self._write(("\r" + text + "\n") if self.tty else (text + "\n"))

    def __enter__(self) -> _Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
