"""Progress bars: drawn on a terminal only."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

RATE = 16000
SHIPPED_TFLITE = REPO / "saved_models" / "commands" / "model.tflite"

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


# ----------------------------------------------------------------------------
# progress bars
# ----------------------------------------------------------------------------

PROGRESS_SCRIPT = "from asr.progress import progress\nprint(sum(progress(range(50), 'counting')))\n"


def run_progress(stderr_on_terminal: bool) -> tuple[str, str]:
    """Run PROGRESS_SCRIPT with stderr on a pseudo-terminal or a pipe: (stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if not stderr_on_terminal:
        done = subprocess.run([sys.executable, "-c", PROGRESS_SCRIPT], capture_output=True, text=True, env=env,
                              timeout=60)
        return done.stdout, done.stderr
    import fcntl
    import pty
    import select
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # a new pty is 0 columns wide
    proc = subprocess.Popen([sys.executable, "-c", PROGRESS_SCRIPT], stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError:  # the terminal closed: the child has exited
            break
        if not data:
            break
        out += data
    os.close(master)
    stdout = proc.communicate(timeout=30)[0].decode()
    return stdout, out.decode(errors="replace")


def test_progress_bar_on_a_terminal_only():
    stdout, stderr = run_progress(stderr_on_terminal=False)
    assert stdout.strip() == "1225" and stderr == ""
    stdout, stderr = run_progress(stderr_on_terminal=True)
    assert stdout.strip() == "1225"
    assert "counting" in stderr and "/50" in stderr
