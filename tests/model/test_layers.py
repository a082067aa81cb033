"""Every custom Keras layer of ``asr`` (registered with ``package="asr"``) goes
through the same save-load round trip (``helpers.assert_layer_round_trip``):
get_config → from_config, and a ``.keras`` file loaded with ``safe_mode=True``.

The layers are found in Keras's registry, so a new registered layer without a
case below fails ``test_every_registered_layer_round_trips``."""

import importlib

import keras
import numpy as np
import pytest
from helpers import REPO, assert_layer_round_trip

from asr.config import FeatureConfig, ModelConfig
from asr.text import Tokenizer

N_MELS = 6


def registered_asr_layers() -> list[str]:
    """Registry names (``asr>Class``) of the Layer subclasses the ``asr`` modules register.

    Imports only the modules whose source registers something, so the list does not
    depend on which tests ran first."""
    for path in sorted((REPO / "asr").rglob("*.py")):
        if "register_keras_serializable" in path.read_text(encoding="utf-8"):
            parts = path.relative_to(REPO).with_suffix("").parts
            importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(name for name, obj in keras.saving.get_custom_objects().items()
                  if name.startswith("asr>") and isinstance(obj, type) and issubclass(obj, keras.layers.Layer))


def frames(batch: int = 2, steps: int = 9, channels: int = N_MELS, seed: int = 0):
    """Random ``[B, T, C]`` features and lengths ``[B]`` with padding in every row but the first."""
    x = np.random.default_rng(seed).standard_normal((batch, steps, channels)).astype(np.float32)
    lengths = np.array([steps] + [max(1, steps - 3 * i) for i in range(1, batch)], np.int32)
    return x, lengths


def length_mask():
    from asr.model.ctc import LengthMask

    return LengthMask(name="mask"), list(frames())


def masked_conv1d():
    from asr.model.ctc import MaskedConv1D

    return MaskedConv1D(5, 3, strides=2, activation="tanh", name="conv"), list(frames())


def ctc_model():
    from asr.model.ctc import build_model

    keras.utils.set_random_seed(0)
    cfg = ModelConfig(conv_channels=[4], conv_kernel=3, time_reduction=2, lstm_units=3, lstm_layers=1, dropout=0.0)
    model = build_model(cfg, FeatureConfig(n_mels=N_MELS), Tokenizer("ab ", repeat_token=True))
    # fresh biases are zero: perturbed weights make outputs that a lost weight would change
    rng = np.random.default_rng(1)
    model.set_weights([w + rng.normal(0.0, 0.3, w.shape).astype(w.dtype) for w in model.get_weights()])
    x, lengths = frames()
    return model, {"features": x, "feature_lengths": lengths}


# registry name → () -> (layer, inputs): one case per registered layer
CASES = {
    "asr>LengthMask": length_mask,
    "asr>MaskedConv1D": masked_conv1d,
    "asr>CTCModel": ctc_model,
}


@pytest.mark.parametrize("name", registered_asr_layers())
def test_every_registered_layer_round_trips(name, tmp_path):
    assert name in CASES, f"{name} is registered with Keras but has no round-trip case in CASES ({__file__})"
    layer, inputs = CASES[name]()
    assert keras.saving.get_registered_name(type(layer)) == name
    assert_layer_round_trip(layer, inputs, tmp_path)


def test_every_case_is_a_registered_layer():
    assert set(CASES) <= set(registered_asr_layers())
