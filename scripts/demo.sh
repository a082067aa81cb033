#!/usr/bin/env bash
# Quick start, main job: install, synthesise the default corpus, train the
# default model (configs/commands.yaml), evaluate it on unseen voices, and
# transcribe a sample.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS=0
bash scripts/install.sh
echo "install: ${SECONDS} s"
.venv/bin/python pipelines/run_recipe.py --config "${1:-configs/commands.yaml}"
