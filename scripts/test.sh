#!/usr/bin/env bash
# Quick start, tests: install, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# ffmpeg: the tests that make M4A files, a format only the audioread fallback reads;
# chromium: the browser page test (asr serve's page, with a WAV file as its microphone)
bash scripts/install.sh ffmpeg chromium
bash scripts/install_voices.sh  # MBROLA, Pico and Piper, so their engine tests run (a voice it cannot get: one line, skipped)
.venv/bin/lint-imports --no-cache  # the stages import downwards only (pyproject.toml [tool.importlinter])
.venv/bin/python -m pytest -q "$@"
