"""Starting a run from another model's weights (``train.init_from``, ``asr train --init-from``):
fine-tuning a trained model on a user's recordings instead of training from random weights.

The source model must hear what the new run feeds it: its feature settings and
its encoder's architecture must equal the recipe's, and any difference is a
``ConfigError`` that names each field. The tokenizer may differ: the encoder is
copied and the CTC head (one row per character) starts afresh. The lowest
``train.freeze_blocks`` encoder blocks (``conv0``, ``conv1``... then each
BiLSTM with its LayerNormalization) are frozen, so adaptation moves only the upper layers.
"""

from __future__ import annotations

import dataclasses
import logging
import os

from asr.config import Config
from asr.core.errors import ConfigError, ModelError
from asr.inference.loading import LITE_SUFFIX, load_keras_model, resolve_model_path
from asr.model.ctc import CTCModel, MaskedConv1D

log = logging.getLogger("asr")


def load_source(source: str | os.PathLike) -> CTCModel:
    """The model ``source`` names: a run or saved-model folder, or a ``.keras`` file.
    A missing, damaged or TFLite file is a one-line error naming it."""
    try:
        path = resolve_model_path(source)
        if path.suffix == LITE_SUFFIX:
            raise ModelError(f"{path}: a TFLite file has no trainable weights; give the .keras model or its folder")
        model = load_keras_model(path)
    except ModelError as exc:
        raise ConfigError(f"train.init_from: {exc}") from None
    if not isinstance(model, CTCModel):
        raise ConfigError(f"train.init_from: {path}: not an asr model (a {type(model).__name__})")
    return model


def feature_differences(source: CTCModel, cfg: Config) -> list[str]:
    """``features.<field>: <source> (model) != <recipe> (recipe)`` for each feature setting that differs."""
    theirs, ours = dataclasses.asdict(source.features), dataclasses.asdict(cfg.features)
    return [f"features.{k}: {theirs[k]!r} in the model, {ours[k]!r} in the recipe"
            for k in ours if theirs[k] != ours[k]]


def encoder_differences(source: CTCModel, model: CTCModel) -> list[str]:
    """Each encoder weight whose shape differs, in weight order, named by the recipe's
    model's path (a loaded model's paths are spelled differently, so order is what matches)."""
    theirs = [tuple(w.shape) for w in source.encoder.weights]
    ours = [(w.path, tuple(w.shape)) for w in model.encoder.weights]
    differences = [f"{path}: {other} in the model, {shape} in the recipe"
                   for (path, shape), other in zip(ours, theirs) if shape != other]
    if len(theirs) != len(ours):
        differences.append(f"{len(theirs)} weights in the model, {len(ours)} in the recipe")
    return differences


def _refuse(source_path: str, what: str, differences: list[str], fix: str) -> None:
    if differences:
        shown = "; ".join(differences[:4]) + (f"; and {len(differences) - 4} more" if len(differences) > 4 else "")
        raise ConfigError(f"train.init_from: {source_path} {what}: {shown}. {fix}")


def initialise_from(model: CTCModel, cfg: Config) -> None:
    """Copy ``cfg.train.init_from``'s weights into the freshly built ``model``.

    The encoder is always copied; the CTC head too when both tokenizers are the
    same, else it keeps its fresh initialisation (logged).

    Raises:
        ConfigError: the source cannot be loaded, or its features or encoder
            architecture differ from the recipe's (every difference is named).
    """
    source_path = cfg.train.init_from
    source = load_source(source_path)
    _refuse(source_path, "was trained on other features", feature_differences(source, cfg),
            "Set the recipe's features section to the model's (its features.json), or train from scratch.")
    _refuse(source_path, "has another encoder", encoder_differences(source, model),
            "Set the recipe's model section to the model's (its config.yaml).")
    model.encoder.set_weights(source.encoder.get_weights())
    head, source_head = model.get_layer("ctc_head"), source.get_layer("ctc_head")
    if source.tokenizer == model.tokenizer:
        head.set_weights(source_head.get_weights())
        log.info(f"initialised every weight from {source_path}")
    else:
        log.info(f"initialised the encoder from {source_path}; the CTC head starts afresh "
                 f"(its characters {source.characters!r} / repeat token {source.repeat_token} differ "
                 f"from this recipe's {model.characters!r} / {model.repeat_token})")


def encoder_blocks(model: CTCModel) -> list[list[str]]:
    """The encoder's layers with weights, bottom up, grouped into blocks: each conv
    layer alone, each BiLSTM with the LayerNormalization before it."""
    blocks: list[list[str]] = []
    pending: list[str] = []
    for layer in model.encoder.layers:
        if not layer.weights:
            continue
        pending.append(layer.name)
        if isinstance(layer, MaskedConv1D) or layer.name.startswith("bilstm") and not layer.name.endswith("_norm"):
            blocks.append(pending)
            pending = []
    return blocks + ([pending] if pending else [])


def freeze_lower_blocks(model: CTCModel, n: int) -> list[str]:
    """Make the lowest ``n`` encoder blocks untrainable; returns their layer names."""
    blocks = encoder_blocks(model)
    if n > len(blocks):
        raise ConfigError(f"train.freeze_blocks: {n} is more than the encoder's {len(blocks)} blocks "
                          f"({', '.join(b[-1] for b in blocks)})")
    frozen = [name for block in blocks[:n] for name in block]
    for name in frozen:
        model.encoder.get_layer(name).trainable = False
    if frozen:
        log.info(f"frozen: {', '.join(frozen)}")
    return frozen

