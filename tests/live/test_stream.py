"""Live recognition: the endpointer cuts a stream at its pauses, partials come while speech
goes on, finals at each end; a file fed through ``asr listen --input`` takes the same path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from asr.core.errors import ASRError
from asr.inference.longform import Transcript
from asr.live.sources import FileSource, MicSource
from asr.live.stream import Endpointer, StreamingRecognizer

RATE = 16000


def _signal(bursts, total: float, seed: int = 0) -> np.ndarray:
    """Quiet noise with 300 Hz tone bursts at ``[(start, end)]`` seconds."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.001, int(total * RATE)).astype(np.float32)
    for start, end in bursts:
        t = np.arange(int(start * RATE), int(end * RATE))
        x[t] += 0.3 * np.sin(2 * np.pi * 300 * t / RATE)
    return x


def _blocks(x: np.ndarray, seconds: float = 0.1):
    step = int(seconds * RATE)
    return [x[i:i + step] for i in range(0, len(x), step)]


class FakeRecognizer:
    """Says how many samples it heard: enough to check what the streamer hands it."""

    sample_rate, max_duration = RATE, 20.0
    decoder = object()

    class features:
        win_length = 400

    def __init__(self):
        self.calls = []

    def transcribe(self, samples, sample_rate):
        assert sample_rate == RATE  # the stream says its rate: no "taken to be" warning
        self.calls.append(len(samples))
        return f"heard {len(samples)}"

    def transcribe_long(self, samples, sample_rate):
        assert sample_rate == RATE
        return Transcript(f"final {len(samples)}", [], len(samples) / RATE)


def test_the_endpointer_cuts_at_pauses_and_keeps_a_margin():
    ep = Endpointer(RATE, pause=0.5)
    cuts = []
    for block in _blocks(_signal([(1.0, 1.6), (2.8, 3.3)], 5.0)):
        while ep.push(block)[1]:
            block = np.zeros(0, np.float32)
            samples, start = ep.take()
            cuts.append((start, start + len(samples) / RATE))
    assert len(cuts) == 2
    for (start, end), (s, e) in zip(cuts, [(1.0, 1.6), (2.8, 3.3)]):
        assert s - 0.2 <= start <= s  # the margin before the speech
        assert e + 0.45 <= end <= e + 0.6  # the pause that ended it


def _zeros_around_noisy_speech() -> np.ndarray:
    """A file as TTS writes it: zeros outside the speech, a little noise around it (about -62 dBFS),
    bursts at (2.0, 2.6) and (3.4, 4.0)."""
    x = _signal([(2.0, 2.6), (3.4, 4.0)], 6.0) * 0.8
    x[: int(1.8 * RATE)] = 0.0
    x[int(4.2 * RATE):] = 0.0
    return x


def test_digital_silence_does_not_drag_the_floor_under_the_pauses_noise():
    # with the zeros in the floor's percentile, the noisy pause between the bursts counted as speech
    x = _zeros_around_noisy_speech()
    ep = Endpointer(RATE, pause=0.5)
    cuts = []
    for block in _blocks(x):
        while ep.push(block)[1]:
            block = np.zeros(0, np.float32)
            samples, start = ep.take()
            cuts.append((start, start + len(samples) / RATE))
    assert len(cuts) == 2, cuts
    for (start, end), (s, e) in zip(cuts, [(2.0, 2.6), (3.4, 4.0)]):
        assert s - 0.2 <= start <= s and e + 0.45 <= end <= e + 0.6


def test_the_edge_loop_leaves_digital_silence_out_of_its_floor_too():
    import runpy
    from pathlib import Path

    edge = runpy.run_path(str(Path(__file__).resolve().parents[2] / "examples" / "edge" / "listen.py"))
    cuts = list(edge["utterances"](_blocks(_zeros_around_noisy_speech()), RATE))
    assert len(cuts) == 2 and all(0.9 <= len(c) / RATE <= 1.4 for c in cuts)


def test_partials_while_speaking_then_one_final_per_utterance():
    fake = FakeRecognizer()
    streamer = StreamingRecognizer(fake, pause=0.5, partial_seconds=0.3)
    results = [r for b in _blocks(_signal([(0.5, 2.0), (3.0, 3.5)], 4.2)) for r in streamer.feed(b)]
    results += streamer.flush()
    finals = [r for r in results if r.final]
    assert len(finals) == 2 and all(r.text.startswith("final") for r in finals)
    first = results[:results.index(finals[0])]
    assert len(first) >= 3 and all(not r.final for r in first)  # provisional text every 0.3 s
    lengths = [int(r.text.split()[1]) for r in first]
    assert lengths == sorted(lengths)  # each partial decodes more of the open utterance
    assert finals[0].start < 0.5 < 2.0 < finals[0].end


def test_the_end_of_the_stream_flushes_an_open_utterance():
    streamer = StreamingRecognizer(FakeRecognizer(), pause=0.5, partial_seconds=0)
    for b in _blocks(_signal([(0.5, 1.5)], 1.6)):
        assert not streamer.feed(b)  # no pause yet, no partials asked for
    (final,) = streamer.flush()
    assert final.final and final.text.startswith("final") and not streamer.flush()


def test_a_file_source_plays_in_real_time_or_as_fast_as_asked(tmp_path):
    import time

    path = tmp_path / "a.wav"
    sf.write(path, _signal([(0.2, 0.4)], 1.0), RATE)
    start = time.monotonic()
    blocks = list(FileSource(path, RATE, speed=2.0))
    assert 0.45 <= time.monotonic() - start < 1.5 and sum(map(len, blocks)) == RATE
    with pytest.raises(ASRError, match="speed must be >= 0"):
        FileSource(path, RATE, speed=-1)


def test_a_missing_microphone_is_one_line():
    with pytest.raises(ASRError) as err:
        MicSource(RATE, device="no such microphone")
    assert "\n" not in str(err.value) and "microphone" in str(err.value)


@pytest.mark.slow
def test_listen_on_a_file_is_the_streamer_on_its_blocks(cli, corpus, tmp_path):
    import asr

    recognizer = asr.load()  # the shipped model knows the corpus's digits: the finals have text
    a, b = (recognizer.samples(str(corpus.dir / r["audio_filepath"])) for r in corpus.rows["test"][:2])
    stream = np.concatenate([np.zeros(RATE // 2), a, np.zeros(RATE), b, np.zeros(RATE // 2)]).astype(np.float32)
    stream += np.random.default_rng(0).normal(0, 1e-3, len(stream)).astype(np.float32)
    path = tmp_path / "two.wav"
    sf.write(path, stream, RATE, subtype="FLOAT")
    result = cli("listen", "--input", path, "--speed", "0", "--format", "json")
    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    streamer = StreamingRecognizer(recognizer)
    expected = [r.to_dict() for blk in FileSource(path, RATE, speed=0) for r in streamer.feed(blk)]
    expected += [r.to_dict() for r in streamer.flush()]
    assert printed == json.loads(json.dumps(expected))
    finals = [p for p in printed if p["type"] == "final"]
    assert len(finals) == 2 and all(p["text"] and p["words"] for p in finals)
    text = cli("listen", "--input", path, "--speed", "0")
    assert text.stdout.splitlines() == [p["text"] for p in printed if p["type"] == "final" and p["text"]]
    mic = cli("listen", "--model", "saved_models/commands/model.tflite", "--device", "no such microphone")
    assert mic.returncode == 1 and mic.stderr.strip().splitlines()[-1].startswith("asr: error: ")
