#!/usr/bin/env bash
# `make test-compose`: the Compose stacks built and run for real (backend/tests/compose).
#
#   1. engine    scripts/docker-engine.sh up: Debian's docker.io, Compose v2 and mmdebstrap
#                installed when missing; dockerd started unless one runs
#   2. images    scripts/offline-images.sh: local stand-ins for the official base images
#                (COMPOSE_BASE_IMAGES=official uses the official ones from a registry instead)
#   3. checkout  the working tree as Git would commit it now (new files included), cloned with
#                core.autocrlf=true, as a Windows machine checks it out: everything below is
#                built and started from that clone
#   4. build     every image of docker-compose.yml, docker-compose.replicas.yml and
#                docker-compose.dev.yml, one at a time (a shared 2-core machine)
#   5. tests     pytest tests/compose: the stack, 4 replicas, the development profile
#                (PYTEST_ARGS adds arguments; with --bench: `python -m bench.replicas_compose`,
#                1/4/8 replicas, docs/benchmarks/replicas.md, instead)
#   6. down      whatever a stack left (containers, networks, volumes of the fbact-* projects),
#                then scripts/docker-engine.sh down: the dockerd it started is stopped and the
#                host's iptables rules, sysctls (ip_forward), links, mounts are put back and
#                checked. This runs on success, failure and Ctrl-C alike.
#
# Images stay in Docker's data root between runs: the second run rebuilds nothing that did not
# change. Each phase's duration is printed at the end. Runs of this script on one machine wait
# for each other (a lock), since they share the engine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE=test
[[ "${1:-}" == --bench ]] && MODE=bench
PREFIX=fbact-
OUR_IMAGES=(fastapi-better-auth-backend:local fastapi-better-auth-backend:dev
    fastapi-better-auth-auth:local fastapi-better-auth-lb:local fastapi-better-auth-pgbouncer:local)

say() { printf '[test-compose] %s\n' "$*" >&2 || true; }

exec 9>/run/lock/fastapi-better-auth-compose.lock
if ! flock --nonblock 9; then
    say "another run holds the engine: waiting for it"
    flock --timeout 3600 9
fi

started_at=$SECONDS
timings=()
phase() {  # phase NAME COMMAND...: runs it, notes how long it took
    local name=$1 began=$SECONDS
    shift
    say "--- $name"
    "$@" || {
        local status=$?
        timings+=("$name $((SECONDS - began)) s (failed)")
        return "$status"
    }
    timings+=("$name $((SECONDS - began)) s")
}

work="$(mktemp -d /tmp/test-compose.XXXXXX)"
engine_up=false

remove_leftovers() {  # every container, network and volume of an fbact-* project
    docker info >/dev/null 2>&1 || return 0
    local ids
    ids="$(docker ps --all --format '{{.ID}} {{.Label "com.docker.compose.project"}}' \
        | awk -v p="$PREFIX" 'index($2, p) == 1 { print $1 }')"
    [[ -z "$ids" ]] || docker rm --force --volumes $ids >/dev/null
    ids="$(docker network ls --format '{{.Name}}' | grep "^$PREFIX" || true)"
    [[ -z "$ids" ]] || docker network rm $ids >/dev/null
    ids="$(docker volume ls --format '{{.Name}}' | grep "^$PREFIX" || true)"
    [[ -z "$ids" ]] || docker volume rm --force $ids >/dev/null
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    set +e
    say "--- down"
    local began=$SECONDS
    remove_leftovers
    rm -rf "$work"
    if $engine_up; then
        "$ROOT/scripts/docker-engine.sh" down || status=1
    fi
    timings+=("down $((SECONDS - began)) s")
    say "timings: $(printf '%s; ' "${timings[@]}")total $((SECONDS - started_at)) s"
    if ((status == 0)); then say "passed"; else say "FAILED ($status)"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

engine() {
    # (Here and below, `|| return`: `phase` runs these in an `||` list, where `set -e` is off.)
    "$ROOT/scripts/docker-engine.sh" up || return
    engine_up=true
    remove_leftovers  # an earlier run's, if it was killed before its clean-up
}

base_images() {
    if [[ "${COMPOSE_BASE_IMAGES:-offline}" == official ]]; then
        : >"$work/images.env"
    else
        "$ROOT/scripts/offline-images.sh" --env-file "$work/images.env" >/dev/null
    fi
}

# The working tree as `git add -A` would commit it, into a private index: the repository's own
# index, branch and stash are not touched (only objects are written, as `git add` writes them).
checkout() {
    local index="$work/index" tree commit
    GIT_INDEX_FILE="$index" git add --all || return
    tree="$(GIT_INDEX_FILE="$index" git write-tree)" || return
    commit="$(GIT_AUTHOR_NAME=test-compose GIT_AUTHOR_EMAIL=test-compose@localhost \
        GIT_COMMITTER_NAME=test-compose GIT_COMMITTER_EMAIL=test-compose@localhost \
        git commit-tree "$tree" -p HEAD -m "make test-compose: the working tree")" || return
    # --shared: the clone borrows this repository's objects, the commit above included.
    git clone --quiet --shared --no-checkout --config core.autocrlf=true "$ROOT" "$work/src" || return
    git -C "$work/src" checkout --quiet --detach "$commit"
}

build() {
    local image before=()
    for image in "${OUR_IMAGES[@]}"; do
        before+=("$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || echo none)")
    done
    (
        cd "$work/src"
        set -a
        . "$work/images.env"
        set +a
        # Interpolation needs them; no image holds them.
        export BETTER_AUTH_SECRET=build-only POSTGRES_PASSWORD=build-only COMPOSE_PARALLEL_LIMIT=1
        # `phase` calls this in an `||` list, where bash ignores `set -e`: every failure is
        # returned by hand, or a failed build would go on to test the images of an earlier run.
        docker compose --project-name "${PREFIX}build" -f docker-compose.yml \
            -f docker-compose.replicas.yml build --quiet || exit
        docker compose --project-name "${PREFIX}build" -f docker-compose.yml \
            -f docker-compose.dev.yml build --quiet migrate || exit
    ) || return
    # The images these builds replaced are no one's any more.
    local i
    for i in "${!OUR_IMAGES[@]}"; do
        local now
        now="$(docker image inspect --format '{{.Id}}' "${OUR_IMAGES[$i]}" 2>/dev/null || echo none)"
        if [[ "${before[$i]}" != none && "${before[$i]}" != "$now" ]]; then
            docker image rm "${before[$i]}" >/dev/null 2>&1 || true
        fi
    done
}

tests() {
    export COMPOSE_SOURCE_DIR="$work/src" COMPOSE_IMAGES_ENV="$work/images.env"
    cd "$ROOT/backend"
    if [[ "$MODE" == bench ]]; then
        uv run --frozen python -m bench.replicas_compose
    else
        # shellcheck disable=SC2086
        uv run --frozen pytest tests/compose -q -s -p no:cacheprovider ${PYTEST_ARGS:-}
    fi
}

phase engine engine
phase images base_images
phase checkout checkout
phase build build
phase "$MODE" tests
