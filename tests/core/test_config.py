"""The config schema: YAML files, --set overrides, type checks, unknown keys."""

import dataclasses
from pathlib import Path

import pytest
import yaml
from helpers import REPO

from asr.config import Config, ModelConfig, TrainConfig, load_config, save_config, to_dict
from asr.core.errors import ConfigError

CONFIG_FILES = sorted((REPO / "configs").glob("*.yaml"))


def write_yaml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_load():
    cfg = load_config(None)
    assert cfg == Config()
    assert isinstance(cfg.model, ModelConfig)
    assert isinstance(cfg.train, TrainConfig)
    assert cfg.resolved_run_dir == str(Path("runs") / cfg.name)
    assert cfg.manifest("train") == str(Path(cfg.corpus.out_dir) / "train.jsonl")


def test_yaml_file_loads(tmp_path):
    path = write_yaml(tmp_path / "recipe.yaml", """
name: digits
run_dir: /tmp/somewhere
corpus:
  grammar: digits
  engines: [espeak-ng]
data:
  dev_manifest: dev.jsonl
features:
  n_mels: 40
  fmax: null
model:
  conv_channels: [16, 24]
  lstm_units: 64
train:
  learning_rate: 0.01
  epochs: 3
""")
    cfg = load_config(path)
    assert cfg.name == "digits"
    assert cfg.run_dir == "/tmp/somewhere" and cfg.resolved_run_dir == "/tmp/somewhere"
    assert cfg.corpus.grammar == "digits"
    assert cfg.corpus.engines == ["espeak-ng"]
    assert cfg.features.n_mels == 40
    assert cfg.features.fmax is None
    assert cfg.model.conv_channels == [16, 24]
    assert cfg.model.lstm_units == 64
    assert cfg.train.learning_rate == 0.01
    assert cfg.train.epochs == 3
    assert cfg.manifest("dev") == "dev.jsonl"
    # what the file does not set keeps its default
    assert cfg.model.lstm_layers == ModelConfig().lstm_layers
    assert cfg.train.batch_size == TrainConfig().batch_size


def test_empty_yaml_file_gives_defaults(tmp_path):
    assert load_config(write_yaml(tmp_path / "empty.yaml", "")) == Config()


def test_unknown_top_level_key(tmp_path):
    path = write_yaml(tmp_path / "c.yaml", "name: x\nbogus_key: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "bogus_key" in str(info.value)
    assert "c.yaml" in str(info.value)


def test_unknown_nested_key_is_named_with_its_dotted_path(tmp_path):
    path = write_yaml(tmp_path / "c.yaml", "model:\n  lstm_unit: 64\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "model.lstm_unit" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, key", [
    ("model:\n  lstm_units: big\n", "model.lstm_units"),
    ("train:\n  epochs: 2.5\n", "train.epochs"),
    ("train:\n  epochs: true\n", "train.epochs"),
    ("model:\n  conv_channels: 5\n", "model.conv_channels"),
    ("model:\n  conv_channels: [8, x]\n", "model.conv_channels[1]"),
    ("corpus:\n  engines: [1]\n", "corpus.engines[0]"),
    ("features:\n  fmax: high\n", "features.fmax"),
    ("run_dir: 5\n", "run_dir"),
    ("train: 3\n", "train"),
])
def test_wrong_type_raises_naming_the_key(tmp_path, text, key):
    with pytest.raises(ConfigError) as info:
        load_config(write_yaml(tmp_path / "c.yaml", text))
    assert key in str(info.value)


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError):
        load_config(write_yaml(tmp_path / "c.yaml", "- a\n- b\n"))


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="broken.yaml"):
        load_config(write_yaml(tmp_path / "broken.yaml", "model: [unclosed\n"))


def test_overrides_nested_int_to_float_and_lists():
    cfg = load_config(None, [
        "model.lstm_units=64",
        "train.learning_rate=1",
        "model.conv_channels=[8, 16, 32]",
        "corpus.engines=[flite]",
        "features.fmax=null",
        "name=my run",
        "train.epochs=7",
    ])
    assert cfg.model.lstm_units == 64 and type(cfg.model.lstm_units) is int
    assert cfg.train.learning_rate == 1.0 and type(cfg.train.learning_rate) is float
    assert cfg.model.conv_channels == [8, 16, 32]
    assert cfg.corpus.engines == ["flite"]
    assert cfg.features.fmax is None
    assert cfg.name == "my run"
    assert cfg.train.epochs == 7


def test_empty_list_override():
    assert load_config(None, ["model.conv_channels=[]", "model.time_reduction=1"]).model.conv_channels == []


def test_overrides_beat_the_file(tmp_path):
    path = write_yaml(tmp_path / "c.yaml", "model:\n  lstm_units: 64\n  lstm_layers: 3\n")
    cfg = load_config(path, ["model.lstm_units=16"])
    assert cfg.model.lstm_units == 16
    assert cfg.model.lstm_layers == 3


@pytest.mark.parametrize("override, fragment", [
    ("model.bogus=1", "model.bogus"),
    ("bogus=1", "bogus"),
    ("train.epochs=many", "train.epochs"),
    ("no_equals_sign", "no_equals_sign"),
    ("name.sub=1", "name"),
])
def test_bad_overrides_raise(override, fragment):
    with pytest.raises(ConfigError) as info:
        load_config(None, [override])
    assert fragment in str(info.value)


def test_python_object_tag_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = write_yaml(tmp_path / "evil.yaml",
                      f'name: !!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "evil.yaml" in str(info.value)
    assert not marker.exists()

    top = write_yaml(tmp_path / "evil2.yaml", f'!!python/object/apply:os.system ["touch {marker}"]\n')
    with pytest.raises(ConfigError):
        load_config(top)
    assert not marker.exists()


def test_python_object_tag_in_override_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ConfigError):
        load_config(None, [f'name=!!python/object/apply:os.system ["touch {marker}"]'])
    assert not marker.exists()


def test_save_load_round_trip(tmp_path):
    cfg = load_config(None, ["name=round", "model.conv_channels=[8]", "train.learning_rate=0.002",
                             "features.fmax=null", "data.train_manifest=x/train.jsonl", "corpus.grammar=digits"])
    path = tmp_path / "out" / "config.yaml"
    save_config(cfg, path)
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == to_dict(cfg)
    again = load_config(path)
    assert again == cfg
    assert dataclasses.asdict(again) == dataclasses.asdict(cfg)


@pytest.mark.parametrize("path", CONFIG_FILES, ids=[p.name for p in CONFIG_FILES])
def test_shipped_configs_load(path):
    cfg = load_config(path)
    assert isinstance(cfg, Config)
    # a shipped recipe must survive a save/load round trip unchanged
    assert yaml.safe_load(yaml.safe_dump(to_dict(cfg))) == to_dict(cfg)


def test_override_into_an_empty_yaml_section(tmp_path):
    path = write_yaml(tmp_path / "c.yaml", "model:\n")
    assert load_config(path).model == ModelConfig()
    assert load_config(path, ["model.lstm_units=3"]).model.lstm_units == 3


def test_an_unknown_key_that_is_not_printable_is_named_on_one_line(tmp_path):
    path = tmp_path / "odd.yaml"
    path.write_text('"\\n": {}\n"a\\tb": 1\n', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message and "unknown config key '\\n'" in message


def test_own_training_data_never_falls_back_to_the_corpus_for_dev_or_test():
    cfg = load_config(None, ["data.train_manifest=mine/train.jsonl", "data.dev_manifest=mine/dev.jsonl"])
    assert cfg.manifest("train") == "mine/train.jsonl" and cfg.manifest("dev") == "mine/dev.jsonl"
    assert cfg.manifest("test") is None  # not the synthetic corpus's test set
    assert load_config(None, ["data.train_manifest=a.jsonl", "data.dev_manifest=b.jsonl",
                              "data.test_manifest=c.jsonl"]).manifest("test") == "c.jsonl"
    with pytest.raises(ConfigError, match="data.dev_manifest: name a dev manifest too"):
        load_config(None, ["data.train_manifest=mine/train.jsonl"]).manifest("dev")
    # without own training data all three are the corpus's
    corpus = load_config(None, ["corpus.out_dir=somewhere"])
    assert [corpus.manifest(s) for s in ("train", "dev", "test")] == [
        str(Path("somewhere") / f"{s}.jsonl") for s in ("train", "dev", "test")]
