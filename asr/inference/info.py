"""What a model is, read from its files without loading Keras or TensorFlow (``asr info``):
its alphabet and features (inside ``model.keras``'s ``config.json``, or a ``.tflite``'s
``.json`` sidecar), and, from the run or saved-model folder around it, what it was
trained on (``config.yaml``) and what it scored (``metrics.json``)."""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from asr.core.errors import ModelError
from asr.inference.loading import LITE_SUFFIX, resolve_model_path


@dataclass(frozen=True)
class ModelInfo:
    """Attributes: ``path``; ``size_bytes`` of each model file in its folder; ``characters``
    and ``repeat_token`` (the alphabet); ``features`` (the log-mel settings); ``trained_on``
    (the recipe's corpus section, or {}); ``metrics`` (``metrics.json``, or {})."""

    path: str
    size_bytes: dict
    characters: str
    repeat_token: bool
    features: dict
    trained_on: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


def _keras_config(path: Path) -> dict:
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))["config"]
        return {"characters": config["characters"], "repeat_token": bool(config.get("repeat_token")),
                "feature_config": config["feature_config"]}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{path}: not a model of this toolkit ({type(exc).__name__})") from None


def _sidecar(path: Path) -> dict:
    try:
        return json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ModelError(f"{path}: its settings file {path.name}.json is missing or not JSON") from None


def model_info(path: str | os.PathLike | None = None) -> ModelInfo:
    """A model's description (``path`` as ``asr.load`` takes it; None: the shipped one)."""
    model = resolve_model_path(path)
    config = _sidecar(model) if model.suffix == LITE_SUFFIX else _keras_config(model)
    folder = model.parent
    recipe = {}
    if (folder / "config.yaml").is_file():
        run = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8")) or {}
        own = (run.get("data") or {}).get("train_manifest")
        recipe = {"train_manifest": own} if own else run.get("corpus", {})  # own data: the corpus was not used
    metrics = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
    sizes = {p.name: p.stat().st_size for p in sorted(folder.glob("model.*")) if p.suffix in (".keras", LITE_SUFFIX)}
    return ModelInfo(str(model), sizes, config["characters"], bool(config.get("repeat_token")),
                     config["feature_config"], recipe, metrics)


def describe(info: ModelInfo) -> str:
    """``ModelInfo`` as the lines ``asr info`` prints."""
    f = info.features
    lines = [f"model       {info.path}",
             "files       " + ", ".join(f"{name} ({size / 1e6:.2f} MB)" for name, size in info.size_bytes.items()),
             f"alphabet    {info.characters!r}" + (" + repeat token" if info.repeat_token else ""),
             f"features    {f['n_mels']} log-mel bins, {f['sample_rate']} Hz, {f['win_length']}-sample window, "
             f"{f['hop_length']}-sample hop, normalize {f.get('normalize', 'utterance')}"]
    corpus = info.trained_on
    if corpus.get("train_manifest"):
        lines.append(f"trained on  {corpus['train_manifest']}")
    elif corpus:
        source = corpus.get("text_file") or f"grammar {corpus.get('grammar')}"
        lines.append(f"trained on  {source}, {corpus.get('n_train')} utterances, engines "
                     f"{', '.join(corpus.get('engines', []))}" + (", realistic acoustics" if any(
                         v for k, v in (corpus.get("acoustics") or {}).items() if k.endswith("_prob")) else ""))
    test = info.metrics.get("test")
    if test:
        lines.append(f"test        WER {100 * test['wer']:.2f} %, CER {100 * test['cer']:.2f} % "
                     f"({test['utterances']} utterances, voices not heard in training)")
    if info.metrics.get("parameters"):
        lines.append(f"parameters  {info.metrics['parameters']:,}")
    return "\n".join(lines)
