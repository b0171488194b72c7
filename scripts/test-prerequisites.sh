#!/usr/bin/env bash
# `make test`'s first step: what the suite needs beyond uv, checked before anything runs.
#
#   Chromium   the browser tests (Swagger UI, ReDoc, the documentation site) drive it. Missing:
#              installed from the system's packages (apt-get install chromium) when this can be
#              done without a prompt (as root, or with sudo that needs no password); otherwise
#              the run stops here with one line saying what to install.
#   Node, npm  the end-to-end tests run the real Better-Auth server: one line when missing.
#
# CHROMIUM (default: chromium) is the command or path to look for; the browser tests are given
# the path found (CHROMIUM_PATH). The line printed last on stdout is that path.
set -euo pipefail

CHROMIUM="${CHROMIUM:-chromium}"

fail() { printf 'make test: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly as root, through sudo when it needs no password; else fails.
as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        return 1
    fi
}

can_become_root() {
    [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}

install_chromium() {
    command -v apt-get >/dev/null 2>&1 || return 1
    can_become_root || return 1
    printf 'make test: Chromium is missing; installing it: apt-get install chromium\n' >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || return 1
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2 || return 1
}

chromium_path() { command -v "$CHROMIUM" 2>/dev/null || true; }

found="$(chromium_path)"
if [ -z "$found" ]; then
    install_chromium || fail "the browser tests need Chromium, not found as '$CHROMIUM': install it (sudo apt-get install chromium, or your system's package) or set CHROMIUM=/path/to/chromium"
    found="$(chromium_path)"
    [ -n "$found" ] || fail "apt-get installed chromium but '$CHROMIUM' is still not on PATH: set CHROMIUM=/path/to/chromium"
fi

command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
    || fail "the end-to-end tests need Node.js (22 LTS) and npm on PATH: install them (https://nodejs.org or your system's package)"

printf '%s\n' "$found"
