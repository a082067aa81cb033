"""Where live audio comes from: the default microphone, or a file fed at real-time pace
through the same code (``asr listen --input FILE``). Each source yields float32 mono
blocks ``[n]`` at the model's rate; a block is ``block_seconds`` long (the last may be shorter)."""

from __future__ import annotations

import os
import queue
import time
from typing import Iterator

import numpy as np

from asr.audio.files import load_audio
from asr.core.errors import ASRError

BLOCK_SECONDS = 0.1  # 100 ms blocks: the endpointer's and the partials' time step


class FileSource:
    """A recording played as if it were being spoken now.

    Args:
        path: any audio file ``asr`` reads; resampled to ``sample_rate``.
        sample_rate: Hz.
        speed: 1.0 sleeps so blocks arrive in real time; 2.0 twice as fast; 0 as fast as possible.
        max_seconds: longer files are refused (default: no limit).
    """

    def __init__(self, path: str | os.PathLike, sample_rate: int, speed: float = 1.0,
                 block_seconds: float = BLOCK_SECONDS, max_seconds: float = 24 * 3600.0):
        if speed < 0:
            raise ASRError(f"speed must be >= 0, got {speed}")
        self.samples = load_audio(path, sample_rate, max_seconds)
        self.sample_rate, self.speed, self.block = sample_rate, speed, max(1, int(block_seconds * sample_rate))

    def __iter__(self) -> Iterator[np.ndarray]:
        start = time.monotonic()
        for i in range(0, len(self.samples), self.block):
            if self.speed:
                due = start + (i + self.block) / self.sample_rate / self.speed
                time.sleep(max(0.0, due - time.monotonic()))
            yield self.samples[i:i + self.block]


class MicSource:
    """The default (or a named) input device through PortAudio (``sounddevice``).

    A missing library, no input device or a busy one is an ``ASRError`` with one line.
    Iterating blocks until the next block is recorded; stop with Ctrl-C.
    """

    def __init__(self, sample_rate: int, device: str | int | None = None, block_seconds: float = BLOCK_SECONDS):
        try:
            import sounddevice  # here: only the microphone needs PortAudio
        except (ImportError, OSError) as exc:
            raise ASRError(f"no microphone support ({exc}); pip install sounddevice, apt-get install "
                           "libportaudio2, or use --input FILE") from None
        self.sd, self.sample_rate, self.device = sounddevice, sample_rate, device
        self.block = max(1, int(block_seconds * sample_rate))
        try:
            self.sd.check_input_settings(device=device, channels=1, samplerate=sample_rate, dtype="float32")
        except Exception as exc:  # PortAudioError or ValueError: no device, or it cannot do this
            raise ASRError(f"microphone {device if device is not None else '(default)'}: {exc}") from None

    def __iter__(self) -> Iterator[np.ndarray]:
        blocks: queue.Queue = queue.Queue()

        def callback(data, frames, time_info, status):  # PortAudio's thread: hand the block over
            blocks.put(data[:, 0].copy())

        try:
            stream = self.sd.InputStream(samplerate=self.sample_rate, channels=1, dtype="float32",
                                         blocksize=self.block, device=self.device, callback=callback)
        except Exception as exc:
            raise ASRError(f"microphone: cannot open it ({exc})") from None
        with stream:
            while True:
                yield blocks.get()
