"""Live transcription on a device: microphone → energy endpointing → TFLite model.

Needs numpy, sounddevice (PortAudio) and ai-edge-litert; no TensorFlow, no asr package:

    pip install numpy sounddevice ai-edge-litert soundfile
    python listen.py model.tflite                      # the default microphone; Ctrl-C stops
    python listen.py model.tflite --input speech.wav   # a 16 kHz mono file instead, as fast as it goes
    python listen.py model.tflite --grammar lights.npz

Each utterance is printed when it ends: 100 ms blocks, 10 ms frames whose energy
rises 10 dB above the noise floor (the 10th percentile of the last 3 s, zeros
left out) are
speech, and 0.5 s without speech ends an utterance (as ``asr listen`` does, in
a few lines of numpy).
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
from collections import deque

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grammar_search  # noqa: E402  (beside this file: the grammar search, numpy only)
from transcribe import Transcriber, read_wav  # noqa: E402  (beside this file: the model and the decoding)

HOP = 0.01  # seconds per energy frame
RISE_DB, FLOOR_SECONDS, PAUSE, MARGIN, MAX_SECONDS = 10.0, 3.0, 0.5, 0.15, 20.0
DIGITAL_SILENCE_DB = -90.0  # quieter frames (a file's zeros) are left out of the noise floor


def utterances(blocks, rate: int):
    """Blocks of float32 samples → each utterance's samples, as it ends (the last at the end of the input)."""
    hop = int(HOP * rate)
    energies, before = deque(maxlen=int(FLOOR_SECONDS / HOP)), deque(maxlen=int(MARGIN * rate))
    current, silent, pending = None, 0, np.zeros(0, np.float32)
    for block in blocks:
        pending = np.concatenate([pending, block])
        while len(pending) >= hop:
            frame, pending = pending[:hop], pending[hop:]
            energy = 10 * np.log10(np.mean(frame.astype(np.float64) ** 2) + 1e-10)
            audible = [e for e in energies if e > DIGITAL_SILENCE_DB]  # zeros are not a noise level
            floor = np.percentile(audible, 10) if len(audible) >= 10 else energy
            energies.append(energy)
            speech = energy > -70 and energy > floor + RISE_DB
            if current is None:
                if speech:
                    current, silent = [np.array(before, np.float32), frame], 0
                else:
                    before.extend(frame)
                continue
            current.append(frame)
            silent = 0 if speech else silent + 1
            if silent * HOP >= PAUSE or sum(map(len, current)) >= MAX_SECONDS * rate:
                yield np.concatenate(current)
                current = None
                before.clear()
    if current is not None:
        yield np.concatenate(current)


def microphone(rate: int, device=None):
    import sounddevice as sd  # here: only the microphone needs PortAudio

    blocks: queue.Queue = queue.Queue()
    with sd.InputStream(samplerate=rate, channels=1, dtype="float32", blocksize=rate // 10, device=device,
                        callback=lambda data, *_: blocks.put(data[:, 0].copy())):
        while True:
            yield blocks.get()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .tflite file from `asr export` (with its .json beside it)")
    parser.add_argument("--input", help="a mono WAV at the model's rate instead of the microphone")
    parser.add_argument("--device", help="input device name or number")
    parser.add_argument("--grammar", help="a compiled grammar (`asr grammar compile`)")
    args = parser.parse_args(argv)
    try:
        transcriber = Transcriber(args.model)
        grammar = grammar_search.load_grammar(args.grammar) if args.grammar else None
        rate = transcriber.sample_rate
        if args.input:
            samples = read_wav(args.input, rate)
            blocks = (samples[i:i + rate // 10] for i in range(0, len(samples), rate // 10))
        else:
            device = int(args.device) if args.device and args.device.isdigit() else args.device
            blocks = microphone(rate, device)
        for utterance in utterances(blocks, rate):
            if len(utterance) >= rate // 20:  # shorter than 50 ms: a click, not speech
                print(transcriber.transcribe(utterance, grammar), flush=True)
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # PortAudio, file or model errors: one line, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
