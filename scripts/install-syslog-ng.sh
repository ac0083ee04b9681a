#!/usr/bin/env bash
# Install the real syslog receivers the syslog sink's end-to-end tests run against.
#
# rsyslog and syslog-ng-core conflict as Debian packages (both provide system-log-daemon), so
# rsyslog (+ its two TLS drivers) is installed normally and syslog-ng-core is unpacked privately
# with `apt-get download` + `dpkg-deb -x` into a cache directory the test fixtures look in:
#
#   ${MIMECAST_SIEM_SYSLOG_NG_ROOT:-/var/cache/mimecast-siem-test/syslog-ng}
#
# Neither daemon is started here; the pytest fixtures (tests/fixtures/receivers.py) start them on
# free loopback ports and stop them by pid. Idempotent: re-running is cheap. Needs root (apt).
set -euo pipefail

ROOT="${MIMECAST_SIEM_SYSLOG_NG_ROOT:-/var/cache/mimecast-siem-test/syslog-ng}"
export DEBIAN_FRONTEND=noninteractive

need_update=1
apt_install() {
    if [ "$need_update" = 1 ]; then
        apt-get update -qq
        need_update=0
    fi
    apt-get install -y -qq --no-install-recommends "$@"
}

# rsyslog and its TLS drivers; then syslog-ng-core's runtime libraries (its Depends in bookworm),
# which a fresh machine may lack because the package itself is never installed.
missing=()
for pkg in rsyslog rsyslog-gnutls rsyslog-openssl rsyslog-relp openssl \
    libcap2 libglib2.0-0 libivykis0 libjson-c5 libnet1 libpcre3 libssl3 libsystemd0 libwrap0; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi

if [ ! -x "$ROOT/root/usr/sbin/syslog-ng" ]; then
    if [ "$need_update" = 1 ]; then
        apt-get update -qq
        need_update=0
    fi
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    # apt-get download writes into the current directory; _apt must be able to write there.
    chmod 0777 "$tmp"
    (cd "$tmp" && apt-get download -qq syslog-ng-core)
    mkdir -p "$ROOT"
    rm -rf "$ROOT/root.new"
    dpkg-deb -x "$tmp"/syslog-ng-core_*.deb "$ROOT/root.new"
    rm -rf "$ROOT/root"
    mv "$ROOT/root.new" "$ROOT/root"
fi

# Prove both start (the private syslog-ng needs its own library directory).
echo "rsyslog: $(rsyslogd -v | sed -n 1p)"
echo "syslog-ng: $(LD_LIBRARY_PATH="$ROOT/root/usr/lib/syslog-ng" "$ROOT/root/usr/sbin/syslog-ng" --version | sed -n 1p), in $ROOT/root"
