#!/usr/bin/env bash
# The Docker engine for `make test-compose`, on a Debian machine that may have none.
#
#   scripts/docker-engine.sh up     install what is missing (Debian's docker.io, Compose v2,
#                                   mmdebstrap), note the host's network state, start dockerd
#                                   unless one already answers
#   scripts/docker-engine.sh down   stop the dockerd that `up` started and put the host back as it
#                                   was: iptables rules, sysctls (ip_forward), network links,
#                                   mounts, /run entries; then compare with the notes and fail on
#                                   any difference
#
# A dockerd that was already running is used and left alone (so are its rules). Images stay in
# Docker's data root (/var/lib/docker): they are the cache that makes the next run fast.
# Compose v2 is packaged only in Debian's next release; its .deb (it needs only libc6 >= 2.34)
# is fetched from the same mirror this machine's apt uses, with a private apt state, so the
# machine's own package lists are not touched. Needs root.
set -euo pipefail

STATE=/run/fastapi-better-auth-engine
PACKAGES=(docker.io mmdebstrap nftables)
# Debian's next release, where docker-compose is v2.
declare -A NEXT_RELEASE=([bookworm]=trixie)

say() { printf '[engine] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

[[ "$(id -u)" == 0 ]] || die "run as root"

# --- installation -------------------------------------------------------------------------------

missing_packages() {
    local package
    for package in "${PACKAGES[@]}"; do
        dpkg-query -W -f '${Status}\n' "$package" 2>/dev/null | grep -q '^install ok installed$' \
            || echo "$package"
    done
}

# The URI of this machine's Debian mirror for its own release (e.g. http://deb.debian.org/debian/).
debian_mirror() {
    apt-get indextargets --format '$(RELEASE) $(REPO_URI)' 'Identifier: Packages' 2>/dev/null \
        | awk -v c="$1" '$1 == c { print $2; exit }'
}

install_compose_v2() {
    . /etc/os-release
    local codename="$VERSION_CODENAME" candidate
    candidate="$(apt-cache policy docker-compose 2>/dev/null | awk '/Candidate:/ { print $2 }')"
    if [[ "$candidate" == 2.* ]]; then
        apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
        return
    fi
    local next="${NEXT_RELEASE[$codename]:-}" mirror
    [[ -n "$next" ]] || die "no Compose v2 package known for Debian $codename: install docker-compose-plugin"
    mirror="$(debian_mirror "$codename")"
    [[ -n "$mirror" ]] || die "apt knows no Debian mirror for $codename"
    say "Compose v2: docker-compose from Debian $next ($mirror)"
    local apt_dir
    apt_dir="$(mktemp -d)"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/parts" "$apt_dir/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $next main" \
        >"$apt_dir/sources.list"
    local options=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=$apt_dir/parts"
        -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives"
        -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Sandbox::User=root")
    apt-get "${options[@]}" update -qq
    candidate="$(apt-cache "${options[@]}" policy docker-compose | awk '/Candidate:/ { print $2 }')"
    [[ "$candidate" == 2.* ]] || die "Debian $next has docker-compose $candidate, not 2.x"
    (cd "$apt_dir" && apt-get "${options[@]}" download -qq "docker-compose=$candidate")
    apt-get install -y -qq "$apt_dir"/docker-compose_*.deb >/dev/null
    rm -rf "$apt_dir"
}

install_engine() {
    local missing
    mapfile -t missing < <(missing_packages)
    if ((${#missing[@]})); then
        say "installing ${missing[*]}"
        apt-get update -qq
        # The package's init scripts do not start the daemon here: `up` does, and `down` stops it.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
    docker compose version >/dev/null 2>&1 || install_compose_v2
    docker compose version >/dev/null 2>&1 || die "docker compose does not run"
}

# --- the host's state ---------------------------------------------------------------------------

# iptables_state TOOL: the rules, without packet counters.
iptables_state() {
    if command -v "$1" >/dev/null; then
        "$1" 2>/dev/null | sed -e '/^#/d' -e 's/ \[[0-9]*:[0-9]*\]$//'
    fi
}

sysctl_state() {
    sysctl -a 2>/dev/null \
        | grep -E '^net\.(ipv4\.ip_forward|ipv4\.conf\.(all|default)\.|ipv6\.conf\.(all|default)\.|bridge\.)' \
        | sort || true
}

snapshot() {  # snapshot DIR
    mkdir -p "$1"
    iptables_state iptables-save >"$1/iptables"
    iptables_state ip6tables-save >"$1/ip6tables"
    sysctl_state >"$1/sysctl"
    ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print $2 }' | sort >"$1/links"
    findmnt -rn -o TARGET | sort >"$1/mounts"
    ls -A /run | sort >"$1/run"
    # The tables (nftables) that existed, so that `down` can drop the ones dockerd created.
    if command -v nft >/dev/null; then nft list tables | sort >"$1/nft-tables"; else : >"$1/nft-tables"; fi
}

dockerd_answers() { docker info >/dev/null 2>&1; }

# Running, and not a zombie: a dockerd started by an earlier run belongs to init once that run
# is over, and an init that does not reap children leaves it a zombie when it exits.
alive() {
    local state
    state="$(ps -o stat= -p "$1" 2>/dev/null)" && [[ -n "$state" && "$state" != Z* ]]
}

start_dockerd() {
    snapshot "$STATE/before"
    say "starting dockerd (log: $STATE/dockerd.log)"
    # setsid: its own session, so that a Ctrl-C meant for the test does not stop it half-way.
    setsid dockerd --host=unix:///var/run/docker.sock >"$STATE/dockerd.log" 2>&1 </dev/null &
    echo $! >"$STATE/dockerd.pid"
    local deadline=$((SECONDS + 60))
    until dockerd_answers; do
        alive "$(cat "$STATE/dockerd.pid")" || die "dockerd exited: $(tail -n 5 "$STATE/dockerd.log")"
        ((SECONDS < deadline)) || die "dockerd did not answer within 60 s"
        sleep 0.2
    done
}

stop_dockerd() {
    local pid
    pid="$(cat "$STATE/dockerd.pid")"
    if alive "$pid"; then
        say "stopping dockerd ($pid)"
        kill -TERM "$pid"
        local deadline=$((SECONDS + 60))
        while alive "$pid"; do
            if ((SECONDS >= deadline)); then
                say "dockerd ignored SIGTERM for 60 s: SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
            sleep 0.2
        done
    fi
    rm -f "$STATE/dockerd.pid"
}

restore_host() {
    local before="$STATE/before" now
    now="$(mktemp -d)"
    snapshot "$now"
    # Firewall: tables dockerd created are dropped; the ones that were there get their rules back.
    local family table tool
    while read -r family table; do
        nft delete table "$family" "$table"
    done < <(comm -13 "$before/nft-tables" "$now/nft-tables" | awk '{ print $2, $3 }')
    for tool in iptables ip6tables; do
        if [[ -s "$before/$tool" ]] && ! cmp -s <(iptables_state "$tool-save") "$before/$tool"; then
            "$tool-restore" <"$before/$tool"
        fi
    done
    # Sysctls dockerd changed (net.ipv4.ip_forward, ...): their old values.
    local key equals value
    while read -r key equals value; do
        sysctl -q -w "$key=$value" >/dev/null 2>&1 || say "could not reset $key to $value"
    done < <(comm -23 "$before/sysctl" "$now/sysctl")
    # Links (docker0, bridges, veths) and mounts it left.
    local link
    for link in $(comm -13 "$before/links" "$now/links"); do
        ip link delete "$link" 2>/dev/null || true
    done
    local mount
    comm -13 "$before/mounts" "$now/mounts" | sort -r | while read -r mount; do
        umount -l "$mount" 2>/dev/null || true
    done
    # /run: dockerd's and containerd's entries; runc's state and libmount's folders when empty.
    local entry
    for entry in $(comm -13 "$before/run" "$now/run"); do
        case "$entry" in
            docker | docker.pid | docker.sock | containerd) rm -rf "/run/$entry" ;;
            runc | mount) rmdir "/run/$entry" 2>/dev/null || true ;;
        esac
    done
    rm -rf "$now"
}

verify_host() {
    local before="$STATE/before" now differences=0 what
    now="$(mktemp -d)"
    snapshot "$now"
    # The state directory itself is this script's and goes last.
    grep -v '^fastapi-better-auth-engine$' "$now/run" >"$now/run.tmp" && mv "$now/run.tmp" "$now/run"
    grep -v '^fastapi-better-auth-engine$' "$before/run" >"$now/run.before" || true
    for what in iptables ip6tables sysctl links mounts run nft-tables; do
        local reference="$before/$what"
        [[ "$what" == run ]] && reference="$now/run.before"
        if ! diff -u "$reference" "$now/$what" >"$now/$what.diff"; then
            say "the host differs from before the test ($what):"
            sed -n '3,40p' "$now/$what.diff" >&2
            differences=1
        fi
    done
    local running
    running="$(ps -eo stat=,pid=,comm= | awk '$1 !~ /^Z/ && ($3 == "dockerd" || $3 ~ /^containerd/)')"
    if [[ -n "$running" ]]; then
        say "docker processes are still running: $running"
        differences=1
    fi
    rm -rf "$now"
    return "$differences"
}

# --- commands -----------------------------------------------------------------------------------

case "${1:-}" in
    up)
        install_engine
        mkdir -p "$STATE"
        if [[ -f "$STATE/dockerd.pid" ]] && alive "$(cat "$STATE/dockerd.pid")"; then
            # Started by an earlier run that never got to `down`: its notes still hold the host's
            # state from before it.
            say "reusing the dockerd an earlier run started"
        elif [[ -d "$STATE/before" ]]; then
            say "an earlier run's dockerd died: putting the host back first"
            restore_host
            rm -rf "$STATE/before"
            start_dockerd
        elif dockerd_answers; then
            say "using the running Docker engine ($(docker version --format '{{.Server.Version}}'))"
        else
            start_dockerd
        fi
        say "dockerd $(docker version --format '{{.Server.Version}}') is up"
        ;;
    down)
        if [[ -f "$STATE/dockerd.pid" ]]; then
            stop_dockerd
            restore_host
            if verify_host; then
                say "host restored: iptables, sysctls, links, mounts and /run as before"
                rm -rf "$STATE"
            else
                rm -rf "$STATE"
                die "the host was not fully restored (see above)"
            fi
        else
            say "dockerd was not started here: left running"
            rm -rf "$STATE"
        fi
        ;;
    *)
        sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
