"""What ``run_bench`` measures (``BenchOptions``), checked before anything runs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from asr.core.errors import ASRError
from asr_bench.cpu import usable_cores

QUICK = {"repeats": 1, "clip_seconds": 2.0, "train_batches": 2, "batch_size": 4}


@dataclass(frozen=True)
class BenchOptions:
    """What ``run_bench`` measures.

    Attributes:
        model: the trained ``.keras`` model (or a folder holding one) for the
            batch-1 rows; None for the shipped model.
        config: the recipe whose architecture and batch size the training rows use.
        overrides: ``section.key=value`` strings applied to it.
        repeats: timed runs per row (after one warm-up run).
        clip_seconds: length of the batch-1 clip (synthetic speech-like audio).
        train_batches: batches per training pass.
        batch_size: utterances per batch (default: the recipe's).
        threads: training threads for both frameworks (default: every usable core).
        manifest: train on these utterances (features through the cache) instead
            of synthetic batches.
        calibration_manifest: audio calibrating the int8 TFLite file (default:
            synthetic clips; the int8 file's speed is what is measured).
        quick: 1 repeat, a 2 s clip, 2 training batches of 4 (tests, CI).
        cpu_mhz: the clock for the single-core peak (default: ``lscpu``'s max, else ``/proc/cpuinfo``).
        note: a line written under the title of ``RESULTS.md`` (e.g. the machine's state).
    """

    model: str | None = None
    config: str = "configs/commands.yaml"
    overrides: list[str] = field(default_factory=list)
    repeats: int = 7
    clip_seconds: float = 10.0
    train_batches: int = 8
    batch_size: int | None = None
    threads: int | None = None
    manifest: str | None = None
    calibration_manifest: str | None = None
    quick: bool = False
    cpu_mhz: float | None = None
    note: str = ""

    def resolved(self) -> BenchOptions:
        """The options with ``quick`` applied and the thread count filled in; refuses bad values."""
        opts = dataclasses.replace(self, **QUICK) if self.quick else self
        if opts.threads is None:
            opts = dataclasses.replace(opts, threads=usable_cores())
        for name in ("repeats", "train_batches", "threads"):
            if getattr(opts, name) < 1:
                raise ASRError(f"bench: {name} must be at least 1, got {getattr(opts, name)}")
        if opts.batch_size is not None and opts.batch_size < 1:
            raise ASRError(f"bench: batch_size must be at least 1, got {opts.batch_size}")
        for name in ("clip_seconds", "cpu_mhz"):
            value = getattr(opts, name)
            if value is not None and not value > 0:
                raise ASRError(f"bench: {name} must be positive, got {value}")
        return opts
