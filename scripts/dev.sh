#!/usr/bin/env bash
# `make run`: the whole local stack in one terminal.
#
#   1. installs both sides: the backend (uv sync) and the auth server (npm ci when node_modules is
#      missing or older than package-lock.json);
#   2. migrates the shared database: Better-Auth's migration first, then ours (alembic upgrade head);
#   3. runs the Better-Auth server (http://localhost:3000) and the API (http://localhost:8000),
#      their logs prefixed [auth] / [api], and prints how to get a token;
#   Ctrl-C (SIGINT) or SIGTERM, at any point, stops everything it started.
#
# Settings: the environment, then .env at the repository root (shell syntax; the environment wins,
# as it does for the API). Nothing set: both sides share the SQLite file data/app.db. DATABASE_URL
# pointing at PostgreSQL: both run on PostgreSQL. Also read here: AUTH_PORT (3000), API_HOST
# (127.0.0.1), API_PORT (8000). BETTER_AUTH_URL (default http://localhost:$AUTH_PORT) goes to both
# processes: the auth server puts its origin into the JWTs as iss/aud, the API expects it there.
# BETTER_AUTH_SECRET (default: one generated once into data/dev-secret) goes to both as well, so
# the API verifies the signed session tokens the auth server hands out. FRONTEND_ORIGIN (a browser
# app on another origin, comma-separated) becomes the API's CORS_ORIGINS and the auth server's
# TRUSTED_ORIGINS, unless those are set themselves. The admin console (admin-console/, at
# http://localhost:$API_PORT/admin/) is built when its sources changed, and its origin (the API's)
# is added to TRUSTED_ORIGINS: its page signs in on the auth server. Its sign-in buttons
# (ADMIN_CONSOLE_SIGN_IN_PROVIDERS, unless set) are the providers the auth server is given here:
# google, github, and OIDC_PROVIDER_ID (default oidc) when OIDC_DISCOVERY_URL is set.
# ADMIN_CONSOLE_ENABLED=false skips all of it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Never fails: a closed stderr must not stop the clean-up half-way (SIGPIPE is ignored there).
say() { printf '[dev] %s\n' "$*" >&2 || true; }
die() { say "error: $*"; exit 1; }

# --- processes --------------------------------------------------------------------------------
# Everything this script starts runs as a background job in a process group of its own: the job
# and whatever it starts (npm -> node, uv -> python) are stopped together with one kill of the
# group. Job control (set -m) is switched on only while such a job is forked (`spawn`): with it
# on, bash would also hand the terminal to every foreground command (the banner's `cat`, ...), and
# a Ctrl-C pressed then would reach that command alone and be lost; with it off, Ctrl-C always
# reaches this script (and make), never the servers directly. The script itself only ever waits
# with the `wait` builtin, which a trapped signal interrupts at once (a foreground command would
# delay the trap until it finished). The traps are in place before the first child starts, and
# `stop` takes the groups to stop from bash's own job table (`jobs -p`), which a job enters as it
# is forked: no started process is ever unknown to it. The clean-up survives a closed stdout
# (SIGPIPE ignored, `say` never fails) and a second signal (which only hurries it).

servers=()     # process groups of the two servers, for `alive`
stopping=0
forced=0
STOP_TIMEOUT="${DEV_STOP_TIMEOUT:-10}"

# shellcheck disable=SC2317  # invoked by the traps below
stop() {
    local status=$?
    ((stopping)) && return
    stopping=1
    trap - EXIT
    # A second Ctrl-C / SIGTERM while stopping: kill at once instead of waiting (never abort the
    # clean-up half-way, which would leave processes behind).
    trap 'forced=1' INT TERM
    trap '' PIPE
    local groups group
    groups="$(jobs -p)"
    set +m  # in case the signal came while a job was being forked
    if [[ -n "$groups" ]]; then
        say "stopping (${#servers[@]} server(s) running)"
        for group in $groups; do kill -TERM -- "-$group" 2>/dev/null || true; done
        # Wait until every process of every group is gone (servers, their children, the log
        # prefixers); SIGKILL what is left after STOP_TIMEOUT seconds or on a second signal.
        local deadline=$((SECONDS + STOP_TIMEOUT))
        for group in $groups; do
            while kill -0 -- "-$group" 2>/dev/null; do
                if ((forced || SECONDS >= deadline)); then
                    say "killing process group $group"
                    kill -KILL -- "-$group" 2>/dev/null || true
                fi
                sleep 0.1
            done
        done
        wait 2>/dev/null || true
        say "stopped"
    fi
    exit "$status"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# spawn COMMAND...: start COMMAND as a background job in a process group of its own ($! is it).
spawn() {
    set -m
    "$@" &
    set +m
}

# job COMMAND...: run COMMAND as a job (own process group, stdin closed) and wait for it.
job() {
    spawn "$@" </dev/null
    wait "$!"
}

# --- settings: .env under the environment -----------------------------------------------------
if [[ -f .env ]]; then
    # Variables the file sets that are already in the environment keep their value afterwards.
    restore=""
    while IFS= read -r name; do
        if value="$(printenv "$name")"; then
            restore+="export $name=$(printf '%q' "$value");"
        fi
    done < <(sed -n 's/^[[:space:]]*\(export[[:space:]][[:space:]]*\)\{0,1\}\([A-Za-z_][A-Za-z0-9_]*\)=.*/\2/p' .env)
    set -a
    # shellcheck disable=SC1091
    . ./.env
    set +a
    eval "$restore"
    unset restore name value
    say "read .env"
fi

UV="${UV:-uv}"
AUTH_PORT="${AUTH_PORT:-3000}"
API_HOST="${API_HOST:-127.0.0.1}"
API_PORT="${API_PORT:-8000}"
export BETTER_AUTH_URL="${BETTER_AUTH_URL:-http://localhost:${AUTH_PORT}}"
BETTER_AUTH_URL="${BETTER_AUTH_URL%/}"
# The API fetches the keys from the auth server directly (it listens on 127.0.0.1 only).
export JWKS_URL="${JWKS_URL:-http://127.0.0.1:${AUTH_PORT}/api/auth/jwks}"
export LOG_FORMAT="${LOG_FORMAT:-console}"
# One setting for a browser app on another origin (e.g. a Vite dev server on :5173): the API
# answers its CORS requests, the auth server trusts it (Origin checks, CORS). Either side's own
# variable, when set, replaces it there. Nothing set: no CORS, as the API's own default.
FRONTEND_ORIGIN="${FRONTEND_ORIGIN:-}"
export CORS_ORIGINS="${CORS_ORIGINS:-${FRONTEND_ORIGIN}}"
export TRUSTED_ORIGINS="${TRUSTED_ORIGINS:-${FRONTEND_ORIGIN}}"
export DATABASE_URL="${DATABASE_URL:-}"
# The admin console's page is served by the API and signs in on the auth server: the API's
# origin (as the banner prints it) is one the auth server must trust.
case "${ADMIN_CONSOLE_ENABLED:-true}" in
    [Ff][Aa][Ll][Ss][Ee] | 0 | [Nn][Oo] | [Oo][Ff][Ff]) console=0 ;;
    *) console=1 ;;
esac
if ((console)); then
    TRUSTED_ORIGINS="${TRUSTED_ORIGINS:+${TRUSTED_ORIGINS},}http://localhost:${API_PORT}"
    if [[ -z "${ADMIN_CONSOLE_SIGN_IN_PROVIDERS:-}" ]]; then
        providers=()
        [[ -n "${GOOGLE_CLIENT_ID:-}" ]] && providers+=(google)
        [[ -n "${GITHUB_CLIENT_ID:-}" ]] && providers+=(github)
        [[ -n "${OIDC_DISCOVERY_URL:-}" ]] && providers+=("${OIDC_PROVIDER_ID:-oidc}")
        ADMIN_CONSOLE_SIGN_IN_PROVIDERS="$(IFS=,; echo "${providers[*]}")"
        export ADMIN_CONSOLE_SIGN_IN_PROVIDERS
    fi
fi

mkdir -p data
if [[ -z "${BETTER_AUTH_SECRET:-}" ]]; then
    if [[ ! -s data/dev-secret ]]; then
        (umask 077 && head -c 32 /dev/urandom | base64 | tr -d '\n' >data/dev-secret)
        say "generated a development secret in data/dev-secret"
    fi
    BETTER_AUTH_SECRET="$(cat data/dev-secret)"
fi
export BETTER_AUTH_SECRET

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_in_use "$AUTH_PORT" && die "port $AUTH_PORT is taken (another auth server?); stop it or set AUTH_PORT"
port_in_use "$API_PORT" && die "port $API_PORT is taken (another API?); stop it or set API_PORT"

# --- install ----------------------------------------------------------------------------------
command -v "$UV" >/dev/null 2>&1 || job python3 -m pip install --quiet --disable-pip-version-check uv
command -v npm >/dev/null 2>&1 || die "npm not found: the auth server needs Node.js 22 LTS"
say "backend: uv sync"
job bash -c 'cd backend && "$0" sync --frozen --quiet' "$UV"
if [[ ! -d auth-server/node_modules || auth-server/package-lock.json -nt auth-server/node_modules/.package-lock.json ]]; then
    say "auth-server: npm ci (compiles better-sqlite3 when no prebuilt binary is available: ~80 s)"
    job npm --prefix auth-server ci --no-audit --no-fund
fi

# The admin console: npm ci when its lockfile changed, a build when a source did (as make does).
if ((console)); then
    if [[ ! -d admin-console/node_modules || admin-console/package-lock.json -nt admin-console/node_modules/.package-lock.json ]]; then
        say "admin-console: npm ci"
        job npm --prefix admin-console ci --no-audit --no-fund
    fi
    built=admin-console/dist/index.html
    if [[ ! -f "$built" ]] || [[ -n "$(find admin-console/src admin-console/public admin-console/index.html \
        admin-console/vite.config.ts admin-console/tsconfig.json admin-console/package-lock.json \
        clients/typescript/src -newer "$built" -print -quit)" ]]; then
        say "admin-console: build (type check + vite)"
        job npm --prefix admin-console run -s build
    fi
fi

# --- migrate: Better-Auth's, then ours --------------------------------------------------------
# Both run from backend/, so a relative sqlite:/// path means the same file to both (npm resolves
# it against the directory it was started from, SQLAlchemy against the current one).
if [[ -z "$DATABASE_URL" ]]; then
    say "database: SQLite data/app.db (set DATABASE_URL for PostgreSQL)"
else
    say "database: ${DATABASE_URL%%://*}://… (DATABASE_URL)"
fi
say "migrate: Better-Auth (npm run migrate)"
job bash -c 'cd backend && exec npm --prefix ../auth-server run -s migrate'
say "migrate: ours (alembic upgrade head)"
job bash -c 'cd backend && exec "$0" run --frozen alembic upgrade head' "$UV"

# --- run --------------------------------------------------------------------------------------
# start NAME DIR COMMAND...: COMMAND's output prefixed with [NAME]. The server gets the group's
# SIGTERM; the subshell and the prefixer outlive it, to print its last words and end with them.
serve() {
    local name=$1 dir=$2
    shift 2
    cd "$dir"
    trap : INT TERM
    "$@" 2>&1 </dev/null | {
        trap '' INT TERM
        exec awk -v prefix="[$name] " '{ print prefix $0; fflush() }'
    }
}
start() {
    spawn serve "$@"
    servers+=("$!")
}

# Ready when it answers (and every server started so far is still alive).
if command -v curl >/dev/null 2>&1; then
    probe() { job curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null; }
else
    probe() { job bash -c 'cd backend && exec "$0" run --frozen python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)" "$1"' "$UV" "$1" 2>/dev/null; }
fi
alive() { local pid; for pid in "${servers[@]}"; do kill -0 "$pid" 2>/dev/null || return 1; done; }
wait_ready() {
    local deadline=$((SECONDS + 90))
    until probe "$2"; do
        alive || die "$1 stopped during start-up (see its log above)"
        ((SECONDS < deadline)) || die "$1 not ready after 90 s ($2)"
        job sleep 0.3
    done
}

# The auth server first: the API fetches its keys (JWKS) when it starts.
start auth backend env HOST=127.0.0.1 PORT="$AUTH_PORT" npm --prefix ../auth-server run -s start
wait_ready "the auth server" "http://127.0.0.1:${AUTH_PORT}/health"
start api backend "$UV" run --frozen uvicorn app.main:app --host "$API_HOST" --port "$API_PORT"
wait_ready "the API" "http://127.0.0.1:${API_PORT}/health/live"

# localhost, not 127.0.0.1: Better-Auth's session cookie belongs to the host name the auth server
# is reached by (BETTER_AUTH_URL, localhost), and a browser sends it only to that same host name.
API="http://localhost:${API_PORT}"
cat >&2 <<EOF

[dev] ready ------------------------------------------------------------------------------
  API (Swagger UI)   ${API}/docs
  Admin console      $(((console)) && echo "${API}/admin/   (sign in as an admin: make admin EMAIL=...)" || echo "off (ADMIN_CONSOLE_ENABLED=false)")
  Auth server        ${BETTER_AUTH_URL}/api/auth   (Better-Auth, JWKS at /api/auth/jwks)
  Browser app        ${FRONTEND_ORIGIN:-none (set FRONTEND_ORIGIN, e.g. http://localhost:5173)}
  Ctrl-C stops both.

  Get a token (sign up at the auth server, trade the session token for a JWT, call the API):

TOKEN=\$(curl -sS -X POST ${BETTER_AUTH_URL}/api/auth/sign-up/email -H 'content-type: application/json' \\
  -d '{"email":"you@example.com","password":"a-long-password","name":"You"}' -D - -o /dev/null \\
  | tr -d '\r' | sed -n 's/^set-auth-token: //p')
JWT=\$(curl -sS ${BETTER_AUTH_URL}/api/auth/token -H "Authorization: Bearer \$TOKEN" | sed -E 's/.*"token":"([^"]+)".*/\1/')
curl -sS ${API}/api/v1/users/me -H "Authorization: Bearer \$JWT"

  Signed up already? Sign in instead (then the JWT and /users/me lines again):
TOKEN=\$(curl -sS -X POST ${BETTER_AUTH_URL}/api/auth/sign-in/email -H 'content-type: application/json' \\
  -d '{"email":"you@example.com","password":"a-long-password"}' -D - -o /dev/null \\
  | tr -d '\r' | sed -n 's/^set-auth-token: //p')

  The session token works as a bearer too: curl -sS ${API}/api/v1/users/me -H "Authorization: Bearer \$TOKEN"
  First admin: make admin EMAIL=you@example.com
------------------------------------------------------------------------------------------

EOF

# Until Ctrl-C, or until one of them stops on its own (then the other is stopped too).
while alive; do
    job sleep 1 || true
done
die "a server stopped (see its log above)"
