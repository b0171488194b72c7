#!/usr/bin/env bash
# `make test-matrix`: the end-to-end suite against each Better-Auth release line we support.
#
#   scripts/test-matrix.sh                 the newest 1.6.x and 1.7.x (MATRIX_VERSIONS below)
#   MATRIX_VERSIONS="1.6.34" scripts/...   only these versions
#   scripts/test-matrix.sh --install-only  install the variants, run nothing
#   scripts/test-matrix.sh --lock          write each variant's lockfile (npm install
#                                          --package-lock-only: what is installed there, else
#                                          resolved afresh)
#
# The pinned version (auth-server/package.json) runs from auth-server/ itself, with its lockfile.
# Any other version is installed into auth-server/.variants/<version>/ (git-ignored): our
# auth-server sources copied beside a package.json naming that better-auth and the matching
# @better-auth/api-key and @better-auth/redis-storage of its line (COMPANIONS), then `npm ci`
# from its committed lockfile, auth-server/matrix-locks/<version>.package-lock.json, so that a
# matrix run installs the same packages on every machine. A version without a lockfile (or whose
# lockfile no longer matches, after auth-server/package.json changed) is refused: `--lock`
# writes one. The suite runs with E2E_AUTH_SERVER_DIR pointing there (backend/devstack reads it),
# so every test starts that server; tests of what an older line lacks skip with a reason.
#
# Each run writes its JUnit report to auth-server/.variants/results/<version>.xml and prints one
# line: version, passed, failed, skipped, duration. docs/reference/better-auth-versions.md holds
# the latest results. The script exits non-zero when any version failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AUTH_SERVER="$ROOT/auth-server"
VARIANTS="$AUTH_SERVER/.variants"
LOCKS="$AUTH_SERVER/matrix-locks"
RESULTS="$VARIANTS/results"
MATRIX_VERSIONS="${MATRIX_VERSIONS:-1.6.34 1.7.29}"
UV="${UV:-uv}"

# The plugin packages that go with each line: @better-auth/api-key and @better-auth/redis-storage
# are released on their own schedule, so "the newest of the line" is per package.
companions() {
    case "$1" in
        1.6.*) echo "@better-auth/api-key=1.6.33 @better-auth/redis-storage=1.6.33" ;;
        1.7.*) echo "@better-auth/api-key=1.7.21 @better-auth/redis-storage=1.7.5" ;;
        *) printf 'test-matrix: no companion versions known for better-auth %s\n' "$1" >&2; return 1 ;;
    esac
}

pinned_version() {
    node -p 'require(process.argv[1]).dependencies["better-auth"]' "$AUTH_SERVER/package.json"
}

# Prints the directory the suite should run the auth server from, installing it when needed.
install_variant() {
    local version="$1" dir
    if [ "$version" = "$(pinned_version)" ]; then
        [ -f "$AUTH_SERVER/node_modules/.package-lock.json" ] ||
            (cd "$AUTH_SERVER" && npm ci --no-audit --no-fund >&2)
        echo "$AUTH_SERVER"
        return
    fi
    dir="$VARIANTS/$version"
    mkdir -p "$dir"
    # Fresh sources every run (they are ours and change); node_modules stays between runs.
    rm -rf "$dir/src"
    cp -R "$AUTH_SERVER/src" "$dir/src"
    cp "$AUTH_SERVER/tsconfig.json" "$AUTH_SERVER/.npmrc" "$dir/"
    # shellcheck disable=SC2046
    node - "$AUTH_SERVER/package.json" "$dir/package.json" "$version" $(companions "$version") <<'EOF'
const fs = require("node:fs");
const [source, target, version, ...pins] = process.argv.slice(2);
const manifest = JSON.parse(fs.readFileSync(source, "utf8"));
manifest.name = `auth-server-better-auth-${version}`;
manifest.dependencies["better-auth"] = version;
for (const pin of pins) {
  const [name, pinned] = pin.split("=");
  manifest.dependencies[name] = pinned;
}
const text = `${JSON.stringify(manifest, null, 2)}\n`;
if (!fs.existsSync(target) || fs.readFileSync(target, "utf8") !== text) fs.writeFileSync(target, text);
EOF
    local lock="$LOCKS/$version.package-lock.json"
    if [ "$mode" = lock ]; then
        printf 'test-matrix: resolving better-auth %s into %s\n' "$version" "${lock#"$ROOT"/}" >&2
        rm -f "$dir/package-lock.json"
        (cd "$dir" && npm install --package-lock-only --no-audit --no-fund >&2)
        mkdir -p "$LOCKS"
        cp "$dir/package-lock.json" "$lock"
    fi
    if [ ! -f "$lock" ]; then
        printf 'test-matrix: no lockfile for better-auth %s (%s): run scripts/test-matrix.sh --lock\n' \
            "$version" "${lock#"$ROOT"/}" >&2
        return 1
    fi
    cmp -s "$lock" "$dir/package-lock.json" || cp "$lock" "$dir/package-lock.json"
    if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
        [ "$dir/package.json" -nt "$dir/node_modules/.package-lock.json" ] ||
        [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        printf 'test-matrix: installing better-auth %s into %s\n' "$version" "${dir#"$ROOT"/}" >&2
        # npm ci refuses a lockfile that does not match package.json: --lock makes a new one.
        (cd "$dir" && npm ci --no-audit --no-fund >&2) || {
            printf 'test-matrix: %s does not match the manifest: run scripts/test-matrix.sh --lock\n' \
                "${lock#"$ROOT"/}" >&2
            return 1
        }
        touch "$dir/node_modules/.package-lock.json"
    fi
    echo "$dir"
}

# passed failed skipped from a JUnit report (pytest's --junitxml).
summarize() {
    python3 - "$1" <<'EOF'
import sys
import xml.etree.ElementTree as ET

suite = ET.parse(sys.argv[1]).getroot()
suite = suite.find("testsuite") if suite.tag == "testsuites" else suite
total, failures, errors, skipped = (int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
print(total - failures - errors - skipped, failures + errors, skipped)
EOF
}

mode=run
case "${1:-}" in
    --install-only) mode=install ;;
    --lock) mode=lock ;;
    "") ;;
    *) printf 'usage: %s [--install-only | --lock]\n' "$0" >&2; exit 2 ;;
esac

mkdir -p "$RESULTS"
chromium="$("$ROOT/scripts/test-prerequisites.sh")"
declare -a lines=()
status=0
for version in $MATRIX_VERSIONS; do
    dir="$(install_variant "$version")"
    [ "$mode" = run ] || continue
    report="$RESULTS/$version.xml"
    started=$(date +%s)
    set +e
    (cd "$ROOT/backend" && CHROMIUM_PATH="$chromium" E2E_REQUIRED=1 E2E_AUTH_SERVER_DIR="$dir" \
        "$UV" run --frozen pytest tests/e2e -m e2e -q -p no:cacheprovider --junitxml="$report")
    code=$?
    set -e
    seconds=$(( $(date +%s) - started ))
    [ "$code" = 0 ] || status=1
    read -r passed failed skipped < <(summarize "$report")
    lines+=("better-auth $version: $passed passed, $failed failed, $skipped skipped in $((seconds / 60)) min $((seconds % 60)) s ($(date -u +%Y-%m-%d))")
done
for line in "${lines[@]}"; do printf 'test-matrix: %s\n' "$line"; done
exit "$status"
