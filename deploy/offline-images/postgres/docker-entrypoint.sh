#!/usr/bin/env bash
# First start on an empty data directory: initdb with POSTGRES_USER (postgres) as the superuser and
# POSTGRES_PASSWORD as its password (required, as in the official image), a database named
# POSTGRES_DB (default: the user's name), password (SCRAM) authentication for every TCP client.
# Then, and on every later start, exec the command (postgres).
set -euo pipefail

if [[ "${1:-}" == -* ]]; then
    set -- postgres "$@"
fi

if [[ "${1:-}" == postgres && ! -s "$PGDATA/PG_VERSION" ]]; then
    if [[ -z "${POSTGRES_PASSWORD:-}" ]]; then
        echo "error: the database is uninitialized and POSTGRES_PASSWORD is not set" >&2
        exit 1
    fi
    user="${POSTGRES_USER:-postgres}"
    database="${POSTGRES_DB:-$user}"
    echo "[entrypoint] initdb: superuser $user, database $database" >&2
    initdb --pgdata="$PGDATA" --username="$user" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        --encoding=UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
unix_socket_directories = '/var/run/postgresql'
CONF
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [[ "$database" != postgres ]]; then
        # Single-user mode: no server, no socket, nothing listening before the setup is done.
        printf 'CREATE DATABASE "%s"\n' "${database//\"/\"\"}" \
            | postgres --single -D "$PGDATA" postgres >/dev/null
    fi
fi

exec "$@"
