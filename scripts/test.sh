#!/usr/bin/env bash
# THE test command: install what the suite needs on Debian 12, then lint, type-check and test.
#
#   bash scripts/test.sh              # everything (CI runs this through .ci/run)
#   bash scripts/test.sh -k config    # extra arguments go to pytest
#   bash scripts/test.sh --fast       # the fast lane: unit and contract tests only (see below)
#
# Full lane steps: Debian packages (scripts/debian-packages.txt, only the missing ones; apt-get
# update first when something is missing), syslog-ng for side-by-side receiver tests, the .venv
# with the pinned versions of constraints.txt, then ruff check, ruff format --check, mypy (strict),
# lint-imports (the import contracts in pyproject.toml) and pytest over the whole suite in
# parallel (pytest-xdist, one worker per core plus one; MIMECAST_SIEM_TEST_WORKERS=N changes that, 0 = none).
# The extra worker: many e2e tests wait on subprocesses, receivers and sleeps, so with one worker per
# core the cores sat about half idle over a full run (CPU seconds / wall seconds of the 2-core machine).
#
# Fast lane (--fast): the .venv, lint-imports, then pytest of the tests that carry none of the
# markers e2e, postgres, slow, external (tests/conftest.py applies them), in parallel. No Debian
# packages, no ruff, no mypy: run those before landing (or run the full lane).
#
# Every step runs; the script fails if any failed. pytest finding no tests (exit 5) is a failure.
# Idempotent and quick on a machine that is already set up. Needs root for apt-get.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PYTHONDONTWRITEBYTECODE=1
VENV="${MIMECAST_SIEM_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"

FAST=0
if [ "${1:-}" = "--fast" ]; then
    FAST=1
    shift
fi
WORKERS="${MIMECAST_SIEM_TEST_WORKERS:-$(( $(nproc 2>/dev/null || echo 1) + 1 ))}"

say() { printf '\n=== %s\n' "$*"; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

# --- Debian packages -------------------------------------------------------------------------
install_debian_packages() {
    local missing=() line pkg cmd
    while IFS= read -r line || [ -n "$line" ]; do
        line="${line%%#*}"
        line="$(echo "$line" | tr -d '[:space:]')"
        [ -z "$line" ] && continue
        pkg="${line%%:*}"
        cmd=""
        [ "$line" != "$pkg" ] && cmd="${line#*:}"
        if [ -n "$cmd" ] && command -v "$cmd" >/dev/null 2>&1; then
            continue
        fi
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done < scripts/debian-packages.txt
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "All Debian packages present."
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "missing Debian packages (${missing[*]}) and not root to install them"
    echo "Installing: ${missing[*]}"
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null || die "apt-get install failed"
}

if [ "$FAST" = 0 ]; then
    say "Debian packages"
    install_debian_packages
    if [ -f scripts/install-syslog-ng.sh ]; then
        bash scripts/install-syslog-ng.sh </dev/null || die "scripts/install-syslog-ng.sh failed"
    fi
fi

# --- virtualenv ------------------------------------------------------------------------------
say "Python environment ($VENV)"
[ -x "$PY" ] || python3 -m venv "$VENV" || die "python3 -m venv failed"
# Reinstall only when the inputs changed: the stamp holds a hash of pyproject.toml + constraints.txt.
stamp="$VENV/.mimecast-siem-test-stamp"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! "$PY" -c "import mimecast_siem, pytest" 2>/dev/null; then
    "$PY" -m pip install -q -c constraints.txt -e '.[test]' </dev/null || die "pip install failed"
    echo "$want" > "$stamp"
else
    echo "Up to date."
fi

# --- checks ----------------------------------------------------------------------------------
failed=()
run() {
    local name="$1"
    shift
    say "$name"
    "$@"
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "--- $name FAILED (exit $rc)"
        failed+=("$name")
    fi
    return 0
}

py_dirs=()
for d in mimecast_siem tests scripts bench; do
    if [ -d "$d" ] && [ -n "$(find "$d" -name '*.py' -print -quit)" ]; then
        py_dirs+=("$d")
    fi
done

pytest_args=(-p no:cacheprovider -q)
if [ "$WORKERS" != 0 ]; then
    # loadfile: a module's tests share one worker, so module fixtures start once; no reorder: tests/conftest.py
    # orders the modules heaviest first (xdist would sort them by test count).
    pytest_args+=(-n "$WORKERS" --dist loadfile --no-loadscope-reorder)
fi
if [ "$FAST" = 1 ]; then
    pytest_args+=(-m "not e2e and not postgres and not slow and not external")
else
    run "ruff check" "$VENV/bin/ruff" check "${py_dirs[@]}"
    run "ruff format --check" "$VENV/bin/ruff" format --check "${py_dirs[@]}"
    run "mypy --strict" "$VENV/bin/mypy" "${py_dirs[@]}"
    # The slowest tests, in CI's output: the first thing to read when one nears the 300 s timeout.
    pytest_args+=(--durations=15 --durations-min=60)
fi
# The import rules of pyproject.toml ([tool.importlinter]): layers, forbidden imports, no cycles.
run "lint-imports" "$VENV/bin/lint-imports" --no-cache

if [ "$FAST" = 1 ]; then say "pytest (fast lane)"; else say "pytest"; fi
"$VENV/bin/pytest" "${pytest_args[@]}" "$@" </dev/null
rc=$?
case "$rc" in
    0) ;;
    5) echo "--- pytest collected no tests: that is a failure"; failed+=("pytest (no tests)") ;;
    *) echo "--- pytest FAILED (exit $rc)"; failed+=("pytest") ;;
esac

echo
if [ "${#failed[@]}" -gt 0 ]; then
    echo "FAILED: ${failed[*]}"
    exit 1
fi
echo "All checks passed."
