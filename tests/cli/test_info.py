"""``asr --version`` and ``asr info``: a model described from its files, no model loaded."""

from __future__ import annotations

import json

import pytest

from asr.core.errors import ModelError
from asr.inference.info import describe, model_info


def test_version(cli):
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("asr ") and result.stdout.split()[1][0].isdigit()


def test_info_of_the_shipped_model_and_its_tflite(cli):
    result = cli("info", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    shipped_metrics = json.loads(open("saved_models/commands/metrics.json").read())
    assert info["characters"] == " 'abcdefghijklmnopqrstuvwxyz" and info["repeat_token"] is True
    assert info["features"]["n_mels"] == 40 and info["metrics"]["test"] == shipped_metrics["test"]
    assert info["trained_on"]["grammar"] == "commands"
    assert set(info["size_bytes"]) == {"model.keras", "model.tflite", "model.dynamic.tflite"}
    text = cli("info", "saved_models/commands/model.tflite").stdout
    assert "alphabet" in text and f"WER {100 * shipped_metrics['test']['wer']:.2f} %" in text


def test_info_of_a_run_on_own_manifests_names_them(trained_run):
    info = model_info(trained_run.run_dir)
    assert info.trained_on == {"train_manifest": str(trained_run.cfg.data.train_manifest)}
    assert f"trained on  {trained_run.cfg.data.train_manifest}" in describe(info)


def test_info_of_a_file_that_is_not_a_model(tmp_path):
    import zipfile

    bad = tmp_path / "model.keras"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("config.json", "{}")
    with pytest.raises(ModelError, match="not a model of this toolkit"):
        model_info(bad)
