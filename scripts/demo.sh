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

if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "demo.sh: python3-venv is missing; run as root or: apt-get install python3-venv" >&2
        exit 1
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates </dev/null
fi

[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
stamp="$VENV/.mimecast-siem-demo-stamp"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$VENV/bin/python" -c "import mimecast_siem" 2>/dev/null; then
    "$VENV/bin/python" -m pip install -q -c constraints.txt -e . </dev/null
    echo "$want" > "$stamp"
fi

exec "$VENV/bin/mimecast-siem" demo "$@"
