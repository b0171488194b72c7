#!/usr/bin/env bash
# Writes PgBouncer's configuration from the environment, then runs it in the foreground (logs to
# stderr). Every database name is forwarded to the same name on DATABASE_HOST.
#
#   DATABASE_HOST (db), DATABASE_PORT (5432)    the PostgreSQL server
#   DATABASE_USER, DATABASE_PASSWORD            the one role clients log in as (required); it
#                                               logs in to PostgreSQL with the same password
#   POOL_MODE (transaction)                     transaction | session
#   DEFAULT_POOL_SIZE (20)                      server connections per database/user pair
#   MAX_CLIENT_CONN (1000)                      client connections accepted
#   SERVER_IDLE_TIMEOUT (60)                    seconds an unused server connection is kept
set -euo pipefail

if [[ "${1:-}" == pgbouncer ]]; then
    : "${DATABASE_USER:?set DATABASE_USER}"
    : "${DATABASE_PASSWORD:?set DATABASE_PASSWORD}"
    config="$(mktemp -d)"
    chmod 0700 "$config"
    # userlist.txt: "user" "password"; a double quote inside is written twice.
    printf '"%s" "%s"\n' "${DATABASE_USER//\"/\"\"}" "${DATABASE_PASSWORD//\"/\"\"}" \
        >"$config/userlist.txt"
    cat >"$config/pgbouncer.ini" <<INI
[databases]
* = host=${DATABASE_HOST:-db} port=${DATABASE_PORT:-5432}

[pgbouncer]
listen_addr = 0.0.0.0
listen_port = 6432
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $config/userlist.txt
pool_mode = ${POOL_MODE:-transaction}
default_pool_size = ${DEFAULT_POOL_SIZE:-20}
max_client_conn = ${MAX_CLIENT_CONN:-1000}
server_idle_timeout = ${SERVER_IDLE_TIMEOUT:-60}
server_reset_query = DISCARD ALL
ignore_startup_parameters = extra_float_digits
log_connections = 0
log_disconnections = 0
INI
    exec pgbouncer "$config/pgbouncer.ini"
fi

exec "$@"
