"""Progress bars for long jobs: drawn by tqdm on stderr when stderr is a
terminal, nothing at all otherwise (logs, pipes and CI stay clean).

tqdm is already installed with ai-edge-litert, which depends on it.
"""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def on_terminal() -> bool:
    """True when stderr is an interactive terminal."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def progress(items: Iterable[T], desc: str | None = None, total: int | None = None,
             unit: str = "it") -> Iterator[T]:
    """Iterate over ``items``, with a bar on a terminal.

    Args:
        items: anything iterable; consumed once.
        desc: the bar's label (None: no bar, whatever stderr is).
        total: how many items, when ``items`` has no ``len`` (None: a counter without a bar).
        unit: what one item is, for the rate ("utt", "file"...).

    Returns:
        An iterator over the same items. The bar disappears when the iteration ends.
    """
    if desc is None or not on_terminal():
        return iter(items)
    return iter(tqdm(items, desc=desc, total=total, unit=unit, leave=False, file=sys.stderr, dynamic_ncols=True))
