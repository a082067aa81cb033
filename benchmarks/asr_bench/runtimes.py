"""Section b, batch 1 on one thread: the real-time factor of every runtime on the same
clip (the Keras model's traced call, the SavedModel, our TFLite float32 and int8 files,
Keras 3's own LiteRT export, ONNX Runtime on a tf2onnx conversion, the PyTorch port),
each with its max |Δ log-probability| against Keras."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asr.core.errors import first_line
from asr.core.quiet import quiet_stderr
from asr.core.tflite_file import operator_names
from asr.export.architecture import read_architecture
from asr.export.exporter import _quiet_tf_logs
from asr.export.saved_model import export_saved_model
from asr.export.tflite import build_lite_model, export_tflite
from asr.features.graph import FrontEnd
from asr.inference.lite import LiteModel
from asr_bench.measure import max_difference, timed_runs
from asr_bench.rows import FAILED, MEASURED, SKIPPED, make_row, missing_dependency, reason_of

RTF_UNIT = "RTF (wall s / audio s)"
ONNX_OPSET = 17
LOG_MEL_IN = "log-mels in (librosa, computed outside the timing)"
PCM_IN = "PCM in (front end in the graph)"
LITERT_RUNTIMES = ("ai-edge-litert", "tf.lite.Interpreter")


@dataclass(frozen=True)
class Clip:
    """The batch-1 input and the Keras reference for it.

    Attributes:
        samples: ``[n]`` float32 PCM at the model's rate.
        seconds: its duration.
        features: ``[T, F]`` librosa log-mels of it.
        reference: ``[T', V]`` Keras log-probabilities (log-softmax of its logits).
    """

    samples: np.ndarray
    seconds: float
    features: np.ndarray
    reference: np.ndarray


def rtf_row(row_id: str, times: Sequence[float], clip: Clip, scope: str, log_probs: np.ndarray | None,
            **extra) -> dict:
    """A measured ``rtf`` row: runs as real-time factors, with the max |Δ log-prob| against Keras."""
    row = make_row(row_id, MEASURED, 1, RTF_UNIT, [t / clip.seconds for t in times], scope=scope, **extra)
    row["ms_median"] = 1e3 * row["median"] * clip.seconds
    if log_probs is not None:
        row["max_abs_log_prob_diff_vs_keras"] = max_difference(log_probs, clip.reference)
    return row


def attempt(row_id: str, measure: Callable[[], dict], unit: str = RTF_UNIT) -> dict:
    """``measure()``, or a ``failed`` row with the exception's one-line reason."""
    try:
        return measure()
    except Exception as exc:  # noqa: BLE001  (a tool's failure is a result, recorded as the row)
        return make_row(row_id, FAILED, 1, unit, reason=reason_of(exc))


def rtf_keras(recognizer, clip: Clip, repeats: int) -> dict:
    """The Keras model's traced ``tf.function`` (``Recognizer.logits``) on the clip's log-mels."""
    times = timed_runs(lambda: recognizer.logits([clip.features]), repeats)
    return rtf_row("rtf.keras", times, clip, LOG_MEL_IN, clip.reference, note="the reference")


def rtf_saved_model(model, clip: Clip, work: Path, repeats: int) -> dict:
    """``export_saved_model``, loaded back, its ``transcribe`` signature (PCM → text and log-probs)."""
    import tensorflow as tf  # heavy: only the one-thread process, never the parent, imports it

    with _quiet_tf_logs():
        path = export_saved_model(model, work)
    transcribe = tf.saved_model.load(str(path)).signatures["transcribe"]
    audio, lengths = tf.constant(clip.samples[None]), tf.constant([len(clip.samples)], tf.int32)
    times = timed_runs(lambda: transcribe(audio=audio, lengths=lengths)["log_probs"].numpy(), repeats)
    log_probs = transcribe(audio=audio, lengths=lengths)["log_probs"].numpy()[0]
    return rtf_row("rtf.saved_model", times, clip, PCM_IN + ", greedy decoding in the graph", log_probs)


def export_tflite_variants(model, work: Path, calibration: Sequence[np.ndarray]) -> dict[str, Path | Exception]:
    """Our float32 (``none``), dynamic-range and int8 files by ``asr.export.tflite.export_tflite``: converted
    together (the float conversion made once), else one at a time so that one failing leaves the other; a failure
    is kept as its exception."""
    modes = ("none", "dynamic", "int8")
    with _quiet_tf_logs():
        try:
            return dict(export_tflite(model, work, modes, calibration))
        except Exception:  # noqa: BLE001  (retried one variant at a time, below)
            pass
        out: dict[str, Path | Exception] = {}
        for mode in modes:
            try:
                out[mode] = export_tflite(model, work / mode, [mode], calibration)[mode]
            except Exception as exc:  # noqa: BLE001  (the row records it)
                out[mode] = exc
        return out


def rtf_tflite(row_id: str, path: Path | Exception, clip: Clip, repeats: int) -> dict:
    """An exported ``.tflite`` file (or the exception its export raised) run by ``asr.inference.lite.LiteModel``
    with one thread, its LSTM variables reset before every invoke."""
    if isinstance(path, Exception):
        raise path
    lite = LiteModel(path, num_threads=1)
    times = timed_runs(lambda: lite(clip.samples), repeats)
    return rtf_row(row_id, times, clip, PCM_IN, lite(clip.samples), bytes=path.stat().st_size)


def rtf_keras_litert(model, clip: Clip, work: Path, repeats: int) -> dict:
    """Keras 3's own ``model.export(format="litert")``, run by ai-edge-litert, else by
    ``tf.lite.Interpreter``; ``failed`` with both runtimes' reasons when neither can."""
    path = work / "keras_litert.tflite"
    with contextlib.redirect_stdout(io.StringIO()), quiet_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.export(str(path), format="litert")
    flex = sorted({op for op in operator_names(path.read_bytes()) if op.startswith("Flex")})
    reasons = []
    for runtime in LITERT_RUNTIMES:
        try:
            invoke = _litert_invoker(path, runtime, clip.features)
        except Exception as exc:  # noqa: BLE001  (the runtime's refusal is the result)
            reasons.append(f"{runtime}: {_first_sentence(first_line(exc))}")
            continue
        times = timed_runs(invoke, repeats)
        return rtf_row("rtf.keras_litert", times, clip, LOG_MEL_IN, None, runtime=runtime, flex_ops=flex)
    needs = f"needs Flex ops {', '.join(flex)}; " if flex else ""
    return make_row("rtf.keras_litert", FAILED, 1, RTF_UNIT, reason=needs + "; ".join(reasons),
                    scope=LOG_MEL_IN, flex_ops=flex, bytes=path.stat().st_size)


def _first_sentence(text: str) -> str:
    return text.split(". ")[0].strip().rstrip(".")


def _litert_invoker(path: Path, runtime: str, features: np.ndarray) -> Callable[[], object]:
    """Load a Keras-exported ``.tflite`` (inputs: features ``[1, T, F]`` and lengths ``[1]``) and return one invoke."""
    with quiet_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # each runtime imported only when tried: the second one is TensorFlow's (heavy)
        if runtime == "ai-edge-litert":
            from ai_edge_litert.interpreter import Interpreter
        else:
            from tensorflow.lite.python.interpreter import Interpreter
        interpreter = Interpreter(model_path=str(path), num_threads=1)
        inputs = interpreter.get_input_details()
        for detail in inputs:
            shape = [1, *features.shape] if len(detail["shape_signature"]) == 3 else [1]
            interpreter.resize_tensor_input(detail["index"], shape)
        interpreter.allocate_tensors()

    def invoke():
        interpreter.reset_all_variables()
        for detail in inputs:
            value = features[None] if len(detail["shape_signature"]) == 3 else np.array([len(features)])
            interpreter.set_tensor(detail["index"], value.astype(detail["dtype"]))
        interpreter.invoke()

    invoke()  # a runtime that loads but cannot run fails here
    return invoke


def rtf_onnxruntime(model, clip: Clip, repeats: int) -> dict:
    """ONNX Runtime (one thread) on tf2onnx's conversion of the graph our TFLite files come
    from (``asr.export.tflite.build_lite_model``: front end, convs, LSTMs, head, log-softmax)."""
    missing = missing_dependency("onnxruntime", "tf2onnx")
    if missing:
        return make_row("rtf.onnxruntime", SKIPPED, 1, RTF_UNIT, reason=missing)
    proto = _onnx_conversion(model)
    session = _onnx_session(proto)
    feed = {session.get_inputs()[0].name: clip.samples[None]}
    times = timed_runs(lambda: session.run(None, feed), repeats)
    ops = sorted({node.op_type for node in proto.graph.node})
    return rtf_row("rtf.onnxruntime", times, clip, PCM_IN, session.run(None, feed)[0][0], opset=ONNX_OPSET,
                   fused_lstm="LSTM" in ops, onnx_ops=ops)


def _onnx_conversion(model):
    """tf2onnx's ONNX model of ``build_lite_model`` (PCM ``[1, n]`` in)."""
    # tensorflow and tf2onnx (heavy; tf2onnx is the optional bench extra): imported once known to be there
    import tensorflow as tf
    import tf2onnx

    lite_model = build_lite_model(read_architecture(model), FrontEnd.from_config(model.features))
    signature = [tf.TensorSpec((1, None), tf.float32, name="audio")]
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    with quiet_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto, _ = tf2onnx.convert.from_function(tf.function(lambda audio: lite_model(audio)),
                                                 input_signature=signature, opset=ONNX_OPSET)
    return proto


def _onnx_session(proto):
    """An ONNX Runtime CPU session of ``proto`` on one thread, sequential."""
    import onnxruntime  # the optional bench extra (heavy): imported once known to be there

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    return onnxruntime.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
