#!/usr/bin/env bash
# Install everything into .venv: the speech synthesisers and PortAudio (Debian
# packages, only when missing) and the asr package with its test and serve extras.
#   bash scripts/install.sh [TOOL ...]   also apt-get install these tools when missing
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in espeak-ng flite "$@"; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
ldconfig -p 2>/dev/null | grep -q libportaudio.so.2 || missing+=(libportaudio2)  # asr listen's microphone
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test,serve]"
