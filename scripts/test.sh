#!/usr/bin/env bash
# Quick start, tests: install, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# ffmpeg: the tests that make M4A files, a format only the audioread fallback reads;
# chromium: the browser page test (asr serve's page, with a WAV file as its microphone)
bash scripts/install.sh ffmpeg chromium
bash scripts/install_voices.sh  # MBROLA, Pico and Piper, so their engine tests run (a voice it cannot get: one line, skipped)
# asr bench's PyTorch and ONNX rows (the bench extra), so the test that fails when a row crashes runs them,
# and Keras's torch and jax backends (the backends extra), so training on them is tested; torch 2.13.0 and
# jax 0.10.2 are the CPU builds this machine keeps on disk (a bare `pip install torch` fetches GBs of CUDA)
.venv/bin/pip install -q "torch==2.13.0" "tf2onnx>=1.16" "jax==0.10.2" "jaxlib==0.10.2"
.venv/bin/lint-imports --no-cache  # the stages import downwards only (pyproject.toml [tool.importlinter])
.venv/bin/python -m pytest -q "$@"
