#!/usr/bin/env bash
# Quick start, tests: install, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh ffmpeg  # ffmpeg: the tests that make M4A files, a format only the audioread fallback reads
bash scripts/install_voices.sh  # MBROLA, Pico and Piper, so their engine tests run (a voice it cannot get: one line, skipped)
.venv/bin/lint-imports --no-cache  # the stages import downwards only (pyproject.toml [tool.importlinter])
.venv/bin/python -m pytest -q "$@"
