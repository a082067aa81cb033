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


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up log lines (which no environment
    variable silences in TF 2.21) sent to /dev/null; errors are re-raised loudly.
    The CLI, the pipelines and ``asr.load`` call it before their first Keras import."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_stderr():
        try:
            import tensorflow as tf  # here: only what needs it pays for it

            tf.config.list_physical_devices()  # device probing logs happen here
        except Exception:  # noqa: BLE001
            pass  # imported again below with stderr back, so the error is seen
    import tensorflow  # noqa: F401
