"""``train.init_from`` / ``asr train --init-from``: a run that starts from another model's
weights copies what it should, freezes what it is told to, and refuses a model it cannot use."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from asr.config import load_config
from asr.core.errors import ConfigError
from asr.inference.loading import load_keras_model
from asr.model.ctc import build_model
from asr.text import Tokenizer
from asr.training.init_from import encoder_blocks, freeze_lower_blocks, initialise_from
from helpers import tiny_overrides

pytestmark = pytest.mark.slow


def _cfg(corpus, tmp_path, source, *extra):
    return load_config(None, tiny_overrides(corpus, tmp_path / "adapted", extra=[
        f"train.init_from={source}", "train.epochs=1", *extra]))


def _fresh(cfg):
    return build_model(cfg.model, cfg.features, Tokenizer(repeat_token=cfg.tokenizer.repeat_token))


def _weights(model_or_layer):
    return [np.array(w) for w in model_or_layer.get_weights()]


def test_every_weight_is_copied_when_the_tokenizers_agree(trained_run, corpus, tmp_path):
    source = load_keras_model(trained_run.run_dir / "model.keras")
    cfg = _cfg(corpus, tmp_path, trained_run.run_dir)
    model = _fresh(cfg)
    assert not all(np.array_equal(a, b) for a, b in zip(_weights(model), _weights(source)))
    initialise_from(model, cfg)
    for ours, theirs in zip(_weights(model), _weights(source), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_another_alphabet_copies_the_encoder_and_starts_the_head_afresh(trained_run, corpus, tmp_path):
    source = load_keras_model(trained_run.run_dir / "model.keras")
    cfg = _cfg(corpus, tmp_path, trained_run.run_dir, "tokenizer.repeat_token=false")  # one output fewer
    model = _fresh(cfg)
    head_before = _weights(model.get_layer("ctc_head"))
    initialise_from(model, cfg)
    for ours, theirs in zip(_weights(model.encoder), _weights(source.encoder), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    head = _weights(model.get_layer("ctc_head"))
    assert head[0].shape[-1] == source.get_layer("ctc_head").get_weights()[0].shape[-1] - 1
    for ours, fresh in zip(head, head_before, strict=True):
        np.testing.assert_array_equal(ours, fresh)


def test_other_features_are_refused_naming_each_difference(trained_run, corpus, tmp_path):
    cfg = _cfg(corpus, tmp_path, trained_run.run_dir, "features.n_mels=32", "features.hop_length=200")
    with pytest.raises(ConfigError, match=r"other features: features.hop_length: 160 in the model, 200 in the "
                                          r"recipe; features.n_mels: 40 in the model, 32 in the recipe"):
        initialise_from(_fresh(cfg), cfg)


def test_another_encoder_is_refused_naming_the_layer(trained_run, corpus, tmp_path):
    cfg = _cfg(corpus, tmp_path, trained_run.run_dir, "model.lstm_units=16")
    with pytest.raises(ConfigError, match=r"another encoder: .*bilstm0.*\(32, 128\) in the model, \(32, 64\)"):
        initialise_from(_fresh(cfg), cfg)


@pytest.mark.parametrize("content, message", [
    (None, "model not found"),
    (b"not a zip archive", "not a Keras model"),
    ("config.json", "cannot load model"),  # a zip archive whose config is damaged
])
def test_a_missing_or_damaged_source_is_a_one_line_error_naming_it(corpus, tmp_path, content, message):
    path = tmp_path / "source.keras"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(content, '{"class_name": "CTCModel", "config": {broken')
    cfg = _cfg(corpus, tmp_path, path)
    with pytest.raises(ConfigError) as err:
        initialise_from(_fresh(cfg), cfg)
    assert str(path) in str(err.value) and message in str(err.value) and "\n" not in str(err.value)


def test_freezing_needs_a_source_and_a_block_that_exists(trained_run, corpus, tmp_path):
    with pytest.raises(ConfigError, match="freezing needs train.init_from"):
        load_config(None, ["train.freeze_blocks=1"])
    cfg = _cfg(corpus, tmp_path, trained_run.run_dir)
    model = _fresh(cfg)
    assert [block[-1] for block in encoder_blocks(model)] == ["conv0", "bilstm0"]
    with pytest.raises(ConfigError, match="more than the encoder's 2 blocks"):
        freeze_lower_blocks(model, 3)


def test_adaptation_trains_only_the_unfrozen_layers(trained_run, corpus, tmp_path):
    """A one-epoch run from the shared model with its conv block frozen: the conv
    weights come out as loaded, the BiLSTM and the head move, and config.yaml records the source."""
    from asr.training.trainer import train

    source = load_keras_model(trained_run.run_dir / "model.keras")
    cfg = _cfg(corpus, tmp_path, trained_run.run_dir, "train.freeze_blocks=1")
    train(cfg)
    adapted = load_keras_model(tmp_path / "adapted" / "model.keras")
    for ours, theirs in zip(_weights(adapted.encoder.get_layer("conv0")),
                            _weights(source.encoder.get_layer("conv0")), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    for name in ("bilstm0",):
        assert not np.array_equal(_weights(adapted.encoder.get_layer(name))[0],
                                  _weights(source.encoder.get_layer(name))[0])
    assert not np.array_equal(_weights(adapted.get_layer("ctc_head"))[0], _weights(source.get_layer("ctc_head"))[0])
    # the checkpoint loads frozen too, so a resumed run keeps the block frozen (and its optimizer state)
    checkpoint = load_keras_model(tmp_path / "adapted" / "checkpoints" / "best.keras")
    assert not checkpoint.encoder.get_layer("conv0").trainable_weights
    assert checkpoint.encoder.get_layer("bilstm0").trainable_weights
    saved = load_config(tmp_path / "adapted" / "config.yaml")
    assert saved.train.init_from == str(trained_run.run_dir) and saved.train.freeze_blocks == 1


def test_the_cli_flag_sets_the_source(trained_run, corpus, tmp_path, cli):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("name: tiny\n")
    sets = [a for o in tiny_overrides(corpus, tmp_path / "cli_adapted", extra=["train.epochs=1"]) for a in ("--set", o)]
    result = cli("train", "--config", recipe, *sets, "--init-from", tmp_path / "missing")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"asr: error: train.init_from: {tmp_path / 'missing'}: model not found")
    result = cli("train", "--config", recipe, *sets, "--init-from", trained_run.run_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"initialised every weight from {trained_run.run_dir}" in result.stderr
    # one epoch of 8 steps against 10 warm-up steps: said, with a value that fits; and what to run next
    assert "train.warmup_steps 10 is more than half of this run's 8 steps" in result.stderr
    assert f"the model: {tmp_path / 'cli_adapted'}/model.keras" in result.stderr
    assert f"asr transcribe --model {tmp_path / 'cli_adapted'} FILE.wav" in result.stderr
