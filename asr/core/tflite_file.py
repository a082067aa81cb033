"""Reading and editing ``.tflite`` files (TFLite flatbuffers).

The toolkit's settings travel inside the file: the model's ``metadata`` list of
``(name, buffer)`` entries gets one named ``asr_config`` whose buffer is UTF-8
JSON::

    {"format": 1, "characters": " 'abc...", "blank_id": 0,
     "feature_config": {...FeatureConfig...}, "quantization": "none", ...}

Reading it (``read_metadata``, ``read_model_config``) is a small pure-Python
flatbuffer walk with bounds checks, so the ai-edge-litert runtime and devices
need no TensorFlow. The editing functions (export time only) use TensorFlow's
generated TFLite schema and the ``flatbuffers`` package.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from asr.core.errors import ModelError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

METADATA_NAME = "asr_config"
FILE_IDENTIFIER = b"TFL3"
BUFFER_ALIGNMENT = 16  # what the TFLite converter gives weight buffers

# field slots of the TFLite schema (tensorflow/compiler/mlir/lite/schema/schema.fbs)
_MODEL_BUFFERS, _MODEL_METADATA = 4, 6
_METADATA_NAME, _METADATA_BUFFER = 0, 1
_BUFFER_DATA = 0


def embed_metadata(model: bytes, config: dict, name: str = METADATA_NAME) -> bytes:
    """Return ``model`` (a ``.tflite`` flatbuffer) with ``config`` stored as a
    JSON metadata entry called ``name`` (an existing entry of that name is replaced).

    Needs TensorFlow's generated TFLite schema and the ``flatbuffers`` package.
    """
    schema = _schema()
    if model[4:8] != FILE_IDENTIFIER:
        raise ModelError("embed_metadata: not a TFLite flatbuffer")
    tree = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    payload = np.frombuffer(json.dumps(config, sort_keys=True).encode("utf-8"), dtype=np.uint8)
    entry = schema.BufferT()
    entry.data = payload
    tree.buffers = list(tree.buffers or [])
    tree.metadata = [m for m in (tree.metadata or []) if _text(m.name) != name]
    tree.buffers.append(entry)
    tree.metadata.append(schema.MetadataT())
    tree.metadata[-1].name = name
    tree.metadata[-1].buffer = len(tree.buffers) - 1
    return pack_model(tree)


def pack_model(tree) -> bytes:
    """Serialise a TFLite ``schema.ModelT`` (TensorFlow's generated object API),
    with every buffer 16-byte aligned as the converter writes them."""
    import flatbuffers  # lazily: only writing metadata (export) needs it

    schema = _schema()
    # the generated packer aligns byte vectors to 1; weights read in place want the converter's 16
    tree.buffers = [_AlignedBuffer(buffer, schema) for buffer in tree.buffers or []]
    size = sum(len(b.buffer.data) for b in tree.buffers if b.buffer.data is not None)
    builder = flatbuffers.Builder(size + 65536)
    builder.Finish(tree.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def _schema():
    from tensorflow.lite.python import schema_py_generated  # lazily: it loads TensorFlow

    return schema_py_generated


def _builtin_code(code) -> int:
    """An operator code's builtin id (new field, or the deprecated int8 one for old ids)."""
    return max(code.BuiltinCode(), code.DeprecatedBuiltinCode())


def builtin_operator_names() -> set[str]:
    """Every TFLite builtin operator name (``CONV_2D``, ``UNIDIRECTIONAL_SEQUENCE_LSTM``...)."""
    return {k for k in vars(_schema().BuiltinOperator) if not k.startswith("_")}


def operator_names(model: bytes) -> list[str]:
    """The operators a ``.tflite`` flatbuffer uses; a custom op (Flex ones included) by its custom code."""
    schema = _schema()
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    tree = schema.Model.GetRootAs(model, 0)
    found = []
    for i in range(tree.OperatorCodesLength()):
        code = tree.OperatorCodes(i)
        name = names.get(_builtin_code(code), str(_builtin_code(code)))
        if name == "CUSTOM":
            name = (code.CustomCode() or b"CUSTOM").decode()
        found.append(name)
    return found


def output_tensor_names(model: bytes, prefix: str | tuple[str, ...]) -> list[str]:
    """Names starting with ``prefix`` (or any of several) of the tensors that the model's operators write."""
    tree = _schema().Model.GetRootAs(model, 0)
    names = set()
    for g in range(tree.SubgraphsLength()):
        graph = tree.Subgraphs(g)
        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            for j in range(op.OutputsLength()):
                name = graph.Tensors(op.Outputs(j)).Name().decode()
                if name.startswith(prefix):
                    names.add(name)
    return sorted(names)


def remove_lstm_cell_clip(model: bytes) -> bytes:
    """Set ``cell_clip`` of every fused LSTM op to 0 (no clipping), in place.

    The converter gives an LSTM lowered from Keras a cell clip of 10, which the
    trained model never had: once a cell state passes 10 the outputs drift (by
    up to 1e-2 on the shipped model). For float LSTMs only; the int8 LSTM kernel
    derives its int16 cell-state scale from the clip.
    """
    schema = _schema()
    data = bytearray(model)
    tree = schema.Model.GetRootAs(data, 0)
    options = {schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM: schema.UnidirectionalSequenceLSTMOptions,
               schema.BuiltinOperator.BIDIRECTIONAL_SEQUENCE_LSTM: schema.BidirectionalSequenceLSTMOptions}
    for g in range(tree.SubgraphsLength()):
        graph = tree.Subgraphs(g)
        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            kind = options.get(_builtin_code(tree.OperatorCodes(op.OpcodeIndex())))
            table = op.BuiltinOptions() if kind is not None else None
            if table is None:
                continue
            lstm = kind()
            lstm.Init(table.Bytes, table.Pos)
            slot = lstm._tab.Offset(6)  # cell_clip (vtable slot 1); absent means 0 already
            if slot:
                struct.pack_into("<f", data, lstm._tab.Pos + slot, 0.0)
    return bytes(data)


def restore_float_weights(model: bytes, originals: Sequence[np.ndarray]) -> bytes:
    """Put float32 weights back into the ``FULLY_CONNECTED`` ops of a
    dynamic-range quantized model whose int8 weights dequantize to one of
    ``originals`` (same shape ``[out, in]``, within one quantization step).
    TFLite then runs those ops with its float kernel.
    """
    schema = _schema()
    tree = schema.ModelT.InitFromObj(schema.Model.GetRootAs(model, 0))
    for graph in tree.subgraphs:
        for op in graph.operators:
            code = tree.operatorCodes[op.opcodeIndex]
            if max(code.builtinCode, code.deprecatedBuiltinCode) != schema.BuiltinOperator.FULLY_CONNECTED:
                continue
            weights = graph.tensors[op.inputs[1]]
            if weights.type != schema.TensorType.INT8 or weights.quantization is None:
                continue
            shape = tuple(int(d) for d in weights.shape)
            scale = np.asarray(weights.quantization.scale, dtype=np.float64).reshape(-1, 1)  # per output row
            values = np.frombuffer(bytes(bytearray(tree.buffers[weights.buffer].data)), np.int8)
            dequantized = values.reshape(shape[0], -1) * scale
            for original in originals:
                if original.shape == shape and np.abs(dequantized - original).max() <= scale.max():
                    tree.buffers[weights.buffer].data = np.frombuffer(
                        np.ascontiguousarray(original, dtype="<f4").tobytes(), np.uint8)
                    weights.type = schema.TensorType.FLOAT32
                    weights.quantization = None
                    break
    return pack_model(tree)


class _AlignedBuffer:
    """A ``BufferT`` stand-in whose ``Pack`` aligns the data to ``BUFFER_ALIGNMENT`` bytes."""

    def __init__(self, buffer, schema):
        self.buffer, self.schema = buffer, schema

    def Pack(self, builder):  # the flatbuffers object API's name
        schema, data = self.schema, self.buffer.data
        offset = None
        if data is not None:
            payload = bytes(bytearray(data))
            builder.StartVector(1, len(payload), BUFFER_ALIGNMENT)
            builder.head -= len(payload)
            builder.Bytes[builder.head: builder.head + len(payload)] = payload
            offset = builder.EndVector()
        schema.BufferStart(builder)
        if offset is not None:
            schema.BufferAddData(builder, offset)
        schema.BufferAddOffset(builder, self.buffer.offset)
        schema.BufferAddSize(builder, self.buffer.size)
        return schema.BufferEnd(builder)


def _text(value) -> str | None:
    return value.decode("utf-8") if isinstance(value, bytes) else value


class _Malformed(Exception):
    """Raised inside the reader; turned into a ModelError naming the file."""


class _Reader:
    """Bounds-checked reads of a little-endian flatbuffer."""

    def __init__(self, data: bytes):
        self.data = data

    def _unpack(self, fmt: str, pos: int):
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.data):
            raise _Malformed(f"offset {pos} is outside the file ({len(self.data)} bytes)")
        return struct.unpack_from(fmt, self.data, pos)[0]

    def table(self, pos: int) -> tuple[int, int, int]:
        """``(table position, vtable position, vtable size)``."""
        vtable = pos - self._unpack("<i", pos)
        size = self._unpack("<H", vtable)
        if size < 4 or size % 2:
            raise _Malformed(f"bad vtable at offset {vtable}")
        return pos, vtable, size

    def field(self, table: tuple[int, int, int], slot: int) -> int | None:
        """Position of field ``slot`` of a table, or None when absent."""
        pos, vtable, size = table
        entry = 4 + 2 * slot
        if entry + 2 > size:
            return None
        offset = self._unpack("<H", vtable + entry)
        return pos + offset if offset else None

    def indirect(self, pos: int) -> int:
        return pos + self._unpack("<I", pos)

    def vector(self, pos: int) -> tuple[int, int]:
        """``(first element position, length)`` of the vector that ``pos`` points to."""
        start = self.indirect(pos)
        length = self._unpack("<I", start)
        return start + 4, length

    def bytes_at(self, pos: int) -> bytes:
        start, length = self.vector(pos)
        if start + length > len(self.data):
            raise _Malformed(f"a vector of {length} bytes runs past the end of the file")
        return self.data[start: start + length]

    def tables(self, pos: int) -> list[tuple[int, int, int]]:
        start, length = self.vector(pos)
        if start + 4 * length > len(self.data):
            raise _Malformed(f"a vector of {length} entries runs past the end of the file")
        return [self.table(self.indirect(start + 4 * i)) for i in range(length)]


def read_metadata(data: bytes, name: str = METADATA_NAME, source: str = "<bytes>") -> dict:
    """The JSON metadata entry ``name`` of a ``.tflite`` flatbuffer, without TensorFlow.

    Args:
        data: the whole file's bytes.
        name: the metadata entry.
        source: the file name used in error messages.

    Raises:
        ModelError: the bytes are not a TFLite model, are truncated or damaged,
            or hold no such entry.
    """
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise ModelError(f"{source}: not a TFLite model (no {FILE_IDENTIFIER.decode()} file identifier)")
    reader = _Reader(data)
    try:
        model = reader.table(reader.indirect(0))
        entries = reader.field(model, _MODEL_METADATA)
        buffers = reader.field(model, _MODEL_BUFFERS)
        if entries is None or buffers is None:
            raise ModelError(f"{source}: no {name!r} metadata (not exported by asr export?)")
        for entry in reader.tables(entries):
            name_at = reader.field(entry, _METADATA_NAME)
            if name_at is None or reader.bytes_at(name_at) != name.encode("utf-8"):
                continue
            index_at = reader.field(entry, _METADATA_BUFFER)
            index = reader._unpack("<I", index_at) if index_at is not None else 0
            buffer_tables = reader.tables(buffers)
            if index >= len(buffer_tables):
                raise _Malformed(f"metadata buffer {index} does not exist")
            data_at = reader.field(buffer_tables[index], _BUFFER_DATA)
            if data_at is None:
                raise _Malformed(f"metadata buffer {index} is empty")
            payload = reader.bytes_at(data_at)
            try:
                config = json.loads(payload.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise _Malformed(f"{name!r} metadata is not JSON ({exc})") from None
            if not isinstance(config, dict):
                raise _Malformed(f"{name!r} metadata is not a JSON object")
            return config
    except _Malformed as exc:
        raise ModelError(f"{source}: damaged or truncated TFLite model ({exc})") from None
    raise ModelError(f"{source}: no {name!r} metadata (not exported by asr export?)")


def read_model_config(path: str | os.PathLike) -> dict:
    """The ``asr_config`` metadata of a ``.tflite`` file (see ``read_metadata``)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"{path}: cannot read model ({exc.strerror or exc})") from None
    return read_metadata(data, source=str(path))
