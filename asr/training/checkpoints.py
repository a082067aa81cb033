"""Checkpoints that survive a crash, and the lock that keeps one training per run directory.

Every write goes to a temporary file that is then renamed, so a crash leaves
either the old file or the new one, never half of one. Each epoch's checkpoint
is a pair: ``epoch-NNNN.keras`` (model with optimizer state) and
``epoch-NNNN.json`` (epoch counter, best dev WER, early-stopping wait), the JSON
written last. The newest ``keep`` pairs are kept, so when the newest model file
is damaged (a disk error, a copy cut short), resuming falls back to the one
before it and says so.
"""

from __future__ import annotations

import json
import logging
import os
import re
import zipfile
from pathlib import Path
from typing import Callable

import keras

from asr.core.atomic import atomic_path, atomic_write_text
from asr.core.errors import ASRError, describe_load_error, first_line
from asr.model import ctc as _layers  # noqa: F401  (registers the custom layers, for loading checkpoints)
from asr.training import distribute as _optimizers  # noqa: F401  (registers the optimizers, likewise)

_PAIR = re.compile(r"^epoch-(\d{4,})\.json$")


def atomic_save_model(model: keras.Model, path: Path) -> None:
    """``model.save`` to ``path`` through ``atomic_path`` (Keras wants the ``.keras`` suffix)."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


class RunLock:
    """An exclusive lock on a run directory, held while a training runs.

    The operating system drops the lock when the process ends, however it ends
    (SIGKILL included), so a crashed run never leaves a stale lock behind.

    Args:
        run_dir: the run directory (created if missing).
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / "train.lock"
        self._file = None

    def __enter__(self) -> "RunLock":
        import fcntl  # here: POSIX only, and only a training run takes the lock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ASRError(f"{self.path.parent}: another training is using this run directory "
                           f"({holder}); wait for it to finish or choose another run_dir") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        self._file = handle
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()  # closing releases the lock
            self._file = None


class CheckpointStore:
    """The rotating per-epoch checkpoints of one run.

    Args:
        folder: the run's ``checkpoints/`` folder.
        keep: how many of the newest epochs to keep (at least 2, so there is a
            fallback when the newest is damaged).
    """

    def __init__(self, folder: str | os.PathLike, keep: int = 2):
        self.folder = Path(folder)
        self.keep = max(2, keep)

    def epochs(self) -> list[int]:
        """Epochs with a committed checkpoint (its JSON written), newest first."""
        if not self.folder.is_dir():
            return []
        found = [int(m.group(1)) for p in self.folder.iterdir() if (m := _PAIR.match(p.name))]
        return sorted(found, reverse=True)

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete temporary files a killed writer left behind; call it under the ``RunLock``."""
        stale = list(self.folder.glob(".*.tmp-*")) if self.folder.is_dir() else []
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    def model_path(self, epoch: int) -> Path:
        return self.folder / f"epoch-{epoch:04d}.keras"

    def state_path(self, epoch: int) -> Path:
        return self.folder / f"epoch-{epoch:04d}.json"

    def save(self, model: keras.Model, state: dict) -> None:
        """Write epoch ``state["epoch"]``'s model, then its state (the commit), then prune."""
        epoch = int(state["epoch"])
        atomic_save_model(model, self.model_path(epoch))
        atomic_write_text(self.state_path(epoch), json.dumps(state, indent=2))
        for old in self.epochs()[self.keep:]:
            self.state_path(old).unlink(missing_ok=True)
            self.model_path(old).unlink(missing_ok=True)

    def load_latest(self, warn: Callable[[str], None] | None = None) -> tuple[keras.Model, dict]:
        """The newest checkpoint that loads, with its state.

        A damaged or missing model file is reported through ``warn`` and the
        previous epoch is tried.

        Raises:
            ASRError: when no checkpoint loads.
        """
        warn = warn or logging.getLogger("asr").warning
        problems = []
        for epoch in self.epochs():
            path = self.model_path(epoch)
            try:
                state = json.loads(self.state_path(epoch).read_text(encoding="utf-8"))
                model = _load_checkpoint(path)
            except (OSError, ValueError, ASRError) as exc:
                reason = first_line(exc)
                problems.append(f"{path.name}: {reason[:160]}")
                warn(f"checkpoint {path} is unusable ({reason[:160]}); trying the one before it")
                continue
            return model, state
        detail = f" ({'; '.join(problems)})" if problems else ""
        raise ASRError(f"{self.folder}: no usable checkpoint to resume from{detail}")


def _load_checkpoint(path: Path) -> keras.Model:
    """Load a training checkpoint (optimizer included), safely."""
    if not path.is_file():
        raise ASRError("file missing")
    if not zipfile.is_zipfile(path):
        raise ASRError("not a complete .keras archive (truncated or overwritten)")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a damaged archive
        raise ASRError(describe_load_error(exc)) from None
