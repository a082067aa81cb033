"""Section d, feature extraction on one thread: log-mels of the batch-1 clip by librosa
(``asr.features.logmel.log_mel``) and by the in-graph front end (``asr.features.graph``)."""

from __future__ import annotations

import statistics

from asr.config import FeatureConfig
from asr.features.graph import FrontEnd, log_mel_graph
from asr.features.logmel import log_mel
from asr_bench.measure import timed_runs
from asr_bench.rows import MEASURED, make_row
from asr_bench.runtimes import Clip, attempt

UNIT = "× real time"


def librosa_row(features: FeatureConfig, clip: Clip, repeats: int) -> dict:
    """``features.librosa``: ``log_mel`` on the clip's samples."""
    times = timed_runs(lambda: log_mel(clip.samples, features), repeats)
    return make_row("features.librosa", MEASURED, 1, UNIT, [clip.seconds / t for t in times],
                    ms_median=1e3 * statistics.median(times))


def graph_row(features: FeatureConfig, clip: Clip, repeats: int) -> dict:
    """``features.graph``: the in-graph front end as a traced ``tf.function``."""
    import tensorflow as tf  # heavy: only the one-thread process, never the parent, imports it

    front_end = FrontEnd.from_config(features)
    graph = tf.function(lambda audio: log_mel_graph(audio, front_end)[0],
                        input_signature=[tf.TensorSpec((1, None), tf.float32)])
    audio = tf.constant(clip.samples[None])
    times = timed_runs(lambda: graph(audio).numpy(), repeats)
    return make_row("features.graph", MEASURED, 1, UNIT, [clip.seconds / t for t in times],
                    ms_median=1e3 * statistics.median(times), note="a traced tf.function")


def feature_rows(features: FeatureConfig, clip: Clip, repeats: int) -> list[dict]:
    """``features.librosa`` and ``features.graph``: × real time on the clip, one thread."""
    return [attempt("features.librosa", lambda: librosa_row(features, clip, repeats), UNIT),
            attempt("features.graph", lambda: graph_row(features, clip, repeats), UNIT)]
