#!/usr/bin/env bash
# THE demo command: install mimecast-siem (runtime dependencies only) and run `mimecast-siem demo`,
# which starts the built-in Mimecast simulator and shows events flowing into local sinks.
#
#   bash scripts/demo.sh            # extra arguments go to `mimecast-siem demo`
#
# Debian 12, as root (or with python3-venv already installed). Idempotent: re-running is quick.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1
VENV="${MIMECAST_SIEM_VENV:-$ROOT/.venv}"

# Progress on stderr, with the seconds since the script started.
step() { echo "demo.sh [${SECONDS}s]: $*" >&2; }

if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "demo.sh: python3-venv is missing; run as root or: apt-get install python3-venv" >&2
        exit 1
    fi
    step "installing python3-venv with apt-get"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates </dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    step "creating the virtualenv $VENV"
    python3 -m venv "$VENV"
fi
stamp="$VENV/.mimecast-siem-demo-stamp"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$VENV/bin/python" -c "import mimecast_siem" 2>/dev/null; then
    step "installing mimecast-siem and its pinned dependencies (first run: a minute or two; pip shows each package)"
    # No -q: pip prints every package it collects and installs, so a long first install is never silent.
    "$VENV/bin/python" -m pip install --progress-bar on -c constraints.txt -e . </dev/null \
        | grep --line-buffered -E '^(Collecting|Installing|Successfully|Requirement already satisfied: mimecast)' || true
    "$VENV/bin/python" -c "import mimecast_siem" || { echo "demo.sh: the install failed (see above)" >&2; exit 1; }
    echo "$want" > "$stamp"
    step "installed"
else
    step "mimecast-siem is already installed in $VENV"
fi
step "starting the demo (simulator -> collector -> ./demo-out/); Ctrl-C stops it"

exec "$VENV/bin/mimecast-siem" demo "$@"
