#!/usr/bin/env bash
# `make test-matrix`: the end-to-end suite against each Better-Auth release line we support.
#
#   scripts/test-matrix.sh                 the newest 1.6.x and 1.7.x (MATRIX_VERSIONS below)
#   MATRIX_VERSIONS="1.6.34" scripts/...   only these versions
#   scripts/test-matrix.sh --install-only  install the variants, run nothing
#
# The pinned version (auth-server/package.json) runs from auth-server/ itself, with its lockfile.
# Any other version is installed into auth-server/.variants/<version>/ (git-ignored): our
# auth-server sources copied beside a package.json naming that better-auth and the matching
# @better-auth/api-key and @better-auth/redis-storage of its line (COMPANIONS), then
# `npm install`. The suite runs with E2E_AUTH_SERVER_DIR pointing there (backend/devstack reads
# it), so every test starts that server; tests of what an older line lacks skip with a reason.
#
# Each run writes its JUnit report to auth-server/.variants/results/<version>.xml and prints one
# line: version, passed, failed, skipped, duration. docs/reference/better-auth-versions.md holds
# the latest results. The script exits non-zero when any version failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AUTH_SERVER="$ROOT/auth-server"
VARIANTS="$AUTH_SERVER/.variants"
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
    if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package.json" -nt "$dir/node_modules/.package-lock.json" ]; then
        printf 'test-matrix: installing better-auth %s into %s\n' "$version" "${dir#"$ROOT"/}" >&2
        (cd "$dir" && npm install --no-audit --no-fund >&2)
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

install_only=0
[ "${1:-}" = "--install-only" ] && install_only=1

mkdir -p "$RESULTS"
chromium="$("$ROOT/scripts/test-prerequisites.sh")"
declare -a lines=()
status=0
for version in $MATRIX_VERSIONS; do
    dir="$(install_variant "$version")"
    [ "$install_only" = 1 ] && continue
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
