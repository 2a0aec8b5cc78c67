"""One progress bar for every long command (import, billing, receipts, broadcasts), on stderr."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Self, TextIO

from tqdm import tqdm


class Progress:
    """`update(done, total=None)` moves the bar to `done`; hidden when `enabled` is false (small
    jobs, or output that is not a terminal and not asked for)."""

    def __init__(
        self, title: str, total: int, *, enabled: bool = True, stream: TextIO | None = None
    ) -> None:
        self._bar = tqdm(
            total=max(total, 1),
            desc=title,
            file=stream or sys.stderr,
            disable=not enabled,
            leave=True,
            dynamic_ncols=True,
            mininterval=0.2,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]",
        )

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None and total != self._bar.total:
            self._bar.total = max(total, 1)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
