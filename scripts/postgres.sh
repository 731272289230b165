#!/usr/bin/env bash
# A throwaway PostgreSQL for the storage tests: trust auth, 127.0.0.1 only, data under /tmp.
#
#   eval "$(bash scripts/postgres.sh)"      # start (installing Debian's postgresql if missing), export the URL
#   python -m pytest tests/storage -q       # now also runs every storage test on PostgreSQL
#   bash scripts/postgres.sh stop           # stop it (the data directory stays; `start` reuses it)
#
# Commands: start (default) | stop | status | url. Only the `export HNAS_TEST_POSTGRES_URL=...` line goes to
# stdout; progress goes to stderr. Idempotent: a server already answering on the port is reused when the
# `postgres` role can log in without a password. Works as root (the server then runs as the `postgres`
# user) and as an ordinary user (runs as that user), with no stdin (CI).
# Settings (environment): HNAS_PG_PORT (5432), HNAS_PG_DIR (/tmp/hnas-postgres), HNAS_PG_DB (hnas_test).
set -euo pipefail

HOST=127.0.0.1
PORT="${HNAS_PG_PORT:-5432}"
DATA="${HNAS_PG_DIR:-/tmp/hnas-postgres}"
DB="${HNAS_PG_DB:-hnas_test}"
URL="postgresql://postgres@${HOST}:${PORT}/${DB}"

log() { echo "postgres.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

find_bin() {  # the newest installed server's bin directory, or nothing
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]] && { echo "$dir"; return 0; }
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

install_postgres() {
    [[ $(id -u) -eq 0 ]] || die "PostgreSQL is not installed; run this as root, or: sudo apt-get install -y postgresql"
    command -v apt-get >/dev/null 2>&1 || die "PostgreSQL is not installed and there is no apt-get; install it yourself"
    log "installing Debian's postgresql (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql </dev/null >&2
}

# Run a server command as the data directory's owner: `postgres` when we are root (the server refuses to
# run as root), ourselves otherwise. `cd /` avoids "could not change directory" when our cwd is private.
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

psql_admin() {  # psql as the postgres role over TCP; never prompts for a password
    "$BIN/psql" -X -w -q -h "$HOST" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"
}

answering() { "$BIN/pg_isready" -q -h "$HOST" -p "$PORT" >/dev/null 2>&1; }

ensure_user() {
    [[ $(id -u) -eq 0 ]] || return 0
    id postgres >/dev/null 2>&1 && return 0
    log "creating the postgres system user"
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
}

init_cluster() {
    local version
    version=$("$BIN/pg_ctl" --version | sed -E 's/.* ([0-9]+)(\.[0-9]+)?.*/\1/')
    if [[ -s "$DATA/PG_VERSION" && "$(cat "$DATA/PG_VERSION")" != "$version" ]]; then
        log "$DATA holds a PostgreSQL $(cat "$DATA/PG_VERSION") cluster, the server is $version: making a new one"
        rm -rf "$DATA"
    fi
    [[ -s "$DATA/PG_VERSION" ]] && return 0
    log "creating a cluster in $DATA (PostgreSQL $version, trust auth)"
    rm -rf "$DATA"
    mkdir -p "$DATA"
    chmod 700 "$DATA"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$DATA"
    as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C >"$DATA.initdb.log" 2>&1 \
        || { cat "$DATA.initdb.log" >&2; die "initdb failed"; }
}

start_server() {
    log "starting PostgreSQL on $HOST:$PORT (data $DATA, log $DATA/server.log)"
    if ! as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
            -o "-c listen_addresses=$HOST -p $PORT -k $DATA" start >&2; then
        tail -n 20 "$DATA/server.log" >&2 || true
        die "the server did not start (see $DATA/server.log)"
    fi
}

ensure_database() {
    if [[ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]]; then
        log "creating database $DB"
        psql_admin -c "CREATE DATABASE \"$DB\"" >&2
    fi
}

cmd_start() {
    BIN=$(find_bin)
    if [[ -z "$BIN" ]]; then
        install_postgres
        BIN=$(find_bin)
        [[ -n "$BIN" ]] || die "postgresql was installed but initdb/pg_ctl cannot be found"
    fi
    if answering; then
        psql_admin -tAc "SELECT 1" >/dev/null 2>&1 || die "a server on $HOST:$PORT refuses password-less login \
for the postgres role; stop it (e.g. pg_ctlcluster <version> main stop) or choose another port: HNAS_PG_PORT=5433"
        log "a server already answers on $HOST:$PORT; using it"
    else
        ensure_user
        init_cluster
        start_server
    fi
    ensure_database
    log "ready: $URL"
    echo "export HNAS_TEST_POSTGRES_URL=$URL"
}

cmd_stop() {
    BIN=$(find_bin)
    [[ -n "$BIN" ]] || die "PostgreSQL is not installed"
    if [[ -f "$DATA/postmaster.pid" ]]; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >&2
    else
        log "no server of ours is running (no $DATA/postmaster.pid)"
    fi
}

cmd_status() {
    BIN=$(find_bin)
    [[ -n "$BIN" ]] || die "PostgreSQL is not installed"
    if answering; then log "a server answers on $HOST:$PORT"; else log "no server answers on $HOST:$PORT"; return 1; fi
}

case "${1:-start}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    url) echo "export HNAS_TEST_POSTGRES_URL=$URL" ;;
    -h|--help|help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" ;;
    *) die "unknown command '$1'; use start, stop, status or url" ;;
esac
