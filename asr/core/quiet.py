"""Keeping native libraries' log lines off the terminal.

TensorFlow, its TFLite converter and the ai-edge-litert runtime write INFO lines
from C++ straight to file descriptor 2, which no environment variable turns off
in the versions this project uses.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null inside the block (Python exceptions still propagate)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
