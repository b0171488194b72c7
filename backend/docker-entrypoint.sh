#!/usr/bin/env bash
# Entry point of the backend image; works the same outside Docker (run from anywhere, with the
# backend's virtualenv on PATH). The commands are the ones `make migrate` / `make run` run.
#
#   docker-entrypoint.sh            serve: uvicorn (after `alembic upgrade head` if RUN_MIGRATIONS=true)
#   docker-entrypoint.sh serve      same
#   docker-entrypoint.sh migrate    `alembic upgrade head` once, then exit (compose's `migrate` service)
#   docker-entrypoint.sh CMD ...    run CMD, e.g. `python -m app.cli grant-admin you@example.com`
#
# Environment: every setting of app/config.py (DATABASE_URL, BETTER_AUTH_URL, ...), plus
#   PORT (8000), WEB_CONCURRENCY (2 workers), FORWARDED_ALLOW_IPS (127.0.0.1: the proxies whose
#   X-Forwarded-* headers are trusted), RUN_MIGRATIONS (false), PROMETHEUS_MULTIPROC_DIR (empty;
#   when set, created and emptied before the workers start).
set -euo pipefail

# alembic.ini and the app package live beside this script.
cd "$(dirname "${BASH_SOURCE[0]}")"

migrate() {
    echo "[entrypoint] alembic upgrade head" >&2
    alembic upgrade head
}

serve() {
    if [[ "${RUN_MIGRATIONS:-false}" == "true" ]]; then
        migrate
    fi
    # prometheus-client's multiprocess mode: the workers' files, emptied before they start.
    if [[ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]]; then
        mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
        find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
    fi
    exec uvicorn app.main:app --host 0.0.0.0 --port "${PORT:-8000}" \
        --workers "${WEB_CONCURRENCY:-2}" --loop uvloop --http httptools --no-access-log \
        --proxy-headers --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}"
}

case "${1:-serve}" in
    serve)
        serve
        ;;
    migrate)
        migrate
        ;;
    *)
        exec "$@"
        ;;
esac
