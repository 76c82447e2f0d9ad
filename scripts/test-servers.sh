#!/usr/bin/env bash
# Throw-away MariaDB and PostgreSQL servers for the test suite.
#
#   scripts/test-servers.sh start          wipe the state dir, start both servers,
#                                          write the env file
#   scripts/test-servers.sh stop           stop what `start` started (by PID)
#   scripts/test-servers.sh env            print the env file (source it)
#   scripts/test-servers.sh restart-mysql  restart MariaDB in place (same port,
#                                          socket and data)
#   scripts/test-servers.sh deps           install missing Debian packages
#
# Both servers listen on 127.0.0.1 only, on ports the OS picks. Everything
# (data, logs, certificates, sockets, PID files) lives in one state directory,
# $ZEN_MLMD_TEST_SERVERS_DIR (default: <repo>/.test-servers).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SELF="$REPO/scripts/test-servers.sh"
STATE=${ZEN_MLMD_TEST_SERVERS_DIR:-$REPO/.test-servers}
START_TIMEOUT=${ZEN_MLMD_TEST_SERVERS_TIMEOUT:-60}   # seconds per server
PG_OS_USER=postgres

log() { printf 'test-servers: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- packages ----------------------------------------------------------------
mariadb_bin() {
    local name
    for name in mariadbd mysqld; do
        command -v "$name" 2>/dev/null && return 0
        [[ -x /usr/sbin/$name ]] && { echo "/usr/sbin/$name"; return 0; }
    done
    return 1
}

pg_bindir() {
    local dir
    if command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir 2>/dev/null || true)
        [[ -x $dir/initdb && -x $dir/postgres ]] && { echo "$dir"; return 0; }
    fi
    # Newest installed major version first.
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -rn); do
        [[ -x $dir/initdb && -x $dir/postgres ]] && { echo "$dir"; return 0; }
    done
    return 1
}

ensure_packages() {
    local missing=()
    mariadb_bin >/dev/null || missing+=(mariadb-server)
    command -v mariadb-install-db >/dev/null 2>&1 || command -v mysql_install_db >/dev/null 2>&1 \
        || missing+=(mariadb-server)
    pg_bindir >/dev/null || missing+=(postgresql)
    command -v dot >/dev/null 2>&1 || missing+=(graphviz)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    # the web view's browser tests: Debian's Chromium and its WebDriver
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
    [[ ${#missing[@]} -eq 0 ]] && return 0
    missing=($(printf '%s\n' "${missing[@]}" | sort -u))
    if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        die "missing packages: ${missing[*]}; install them (Debian: apt-get install ${missing[*]})"
    fi
    log "installing ${missing[*]}"
    # Keep the packages' maintainer scripts from starting system-wide services:
    # the tests start their own servers.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
    fi
    local status=0
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                "${missing[@]}"
    } >&2 || status=$?
    [[ $made_policy -eq 1 ]] && rm -f "$policy"
    [[ $status -eq 0 ]] || die "apt-get install ${missing[*]} failed (exit $status)"
}

# --- helpers -----------------------------------------------------------------
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

random_secret() { openssl rand -hex 16; }

# True when PID is alive and its command line mentions our state directory:
# a stale PID file must never make us signal someone else's process.
ours() {
    local pid=$1 marker=$2
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$marker"
}

# Signal PID (if it is ours) and wait until it is gone; SIGKILL after a grace period.
stop_pid() {
    local pid=$1 marker=$2 signal=$3 what=$4 i
    ours "$pid" "$marker" || return 0
    kill "-$signal" "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 150; i++)); do            # 15 s
        ours "$pid" "$marker" || return 0
        sleep 0.1
    done
    log "$what (pid $pid) did not stop in 15 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        ours "$pid" "$marker" || return 0
        sleep 0.1
    done
    die "$what (pid $pid) survived SIGKILL"
}

show_log() {
    local file=$1
    [[ -f $file ]] || return 0
    log "last lines of $file:"
    tail -n 40 "$file" >&2 || true
}

# Run as the PostgreSQL OS user when we are root (postgres refuses to run as root).
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u "$PG_OS_USER" -- "$@"
    else
        "$@"
    fi
}

# Unix socket paths are limited to ~107 bytes; fall back to /tmp for deep checkouts.
socket_dir() {
    if [[ ${#STATE} -lt 70 ]]; then
        echo "$STATE/run"
    else
        mktemp -d /tmp/zen-mlmd-sock.XXXXXX
    fi
}

# --- TLS material ------------------------------------------------------------
make_certs() {
    local dir=$STATE/tls
    mkdir -p "$dir"
    (
        cd "$dir"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=zen-mlmd test CA" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -keyout ca-key.pem -out ca.pem 2>/dev/null
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=zen-mlmd unrelated CA" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -keyout wrong-ca-key.pem -out wrong-ca.pem 2>/dev/null
        printf '%s\n' "basicConstraints=CA:FALSE" \
            "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth" \
            "subjectAltName=IP:127.0.0.1,DNS:localhost" \
            "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid,issuer" >server.ext
        printf '%s\n' "basicConstraints=CA:FALSE" \
            "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=clientAuth" \
            "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid,issuer" >client.ext
        local who
        for who in server client; do
            local cn=127.0.0.1
            [[ $who == client ]] && cn=zen_tls
            openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" \
                -keyout "$who-key.pem" -out "$who.csr" 2>/dev/null
            openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial \
                -days 3650 -extfile "$who.ext" -out "$who-cert.pem" 2>/dev/null
        done
        rm -f ./*.csr ./*.ext ./*.srl
        chmod 600 ./*-key.pem
    ) || die "could not create the test certificates with openssl"
}

# --- MariaDB -------------------------------------------------------------------
mysql_args() {
    # Shared by `start` and `restart-mysql`: the server must come back identical.
    local user_args=()
    [[ $EUID -eq 0 ]] && user_args=(--user=root)
    MYSQL_ARGS=(--no-defaults "${user_args[@]}"
        --datadir="$STATE/mysql/data" --socket="$MYSQL_SOCKET" --port="$MYSQL_PORT"
        --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$STATE/mysql/mariadbd.pid"
        --log-error="$STATE/mysql/server.log"
        --ssl-ca="$STATE/tls/ca.pem" --ssl-cert="$STATE/tls/server-cert.pem"
        --ssl-key="$STATE/tls/server-key.pem"
        --max-connections=500 --innodb-buffer-pool-size=64M --innodb-log-file-size=16M
        --innodb-flush-log-at-trx-commit=2 --innodb-file-per-table=0 --skip-log-bin)
}

mysql_root() {
    mariadb --no-defaults --protocol=socket --socket="$MYSQL_SOCKET" -uroot --batch --skip-column-names "$@"
}

launch_mysql() {
    local bin i
    bin=$(mariadb_bin) || die "MariaDB server binary not found"
    mysql_args
    setsid "$bin" "${MYSQL_ARGS[@]}" </dev/null >>"$STATE/mysql/server.log" 2>&1 &
    local launched=$!
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        if mysql_root -e 'SELECT 1' >/dev/null 2>&1; then
            return 0
        fi
        if ! kill -0 "$launched" 2>/dev/null && [[ ! -s $STATE/mysql/mariadbd.pid ]]; then
            show_log "$STATE/mysql/server.log"
            die "MariaDB exited during start-up"
        fi
        sleep 0.1
    done
    show_log "$STATE/mysql/server.log"
    die "MariaDB did not accept connections within ${START_TIMEOUT}s"
}

start_mysql() {
    local install_db
    install_db=$(command -v mariadb-install-db || command -v mysql_install_db) \
        || die "mariadb-install-db not found"
    mkdir -p "$STATE/mysql/data"
    mysql_args
    local user_args=()
    [[ $EUID -eq 0 ]] && user_args=(--user=root)
    if ! "$install_db" --no-defaults "${user_args[@]}" --datadir="$STATE/mysql/data" \
        --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
        --innodb-log-file-size=16M >"$STATE/mysql/install.log" 2>&1; then
        show_log "$STATE/mysql/install.log"
        die "mariadb-install-db failed"
    fi
    launch_mysql
    # Explicit plugin: MLMD's MySQL client cannot do caching_sha2_password, and
    # the tests must not depend on the server's default.
    mysql_root <<SQL || { show_log "$STATE/mysql/server.log"; die "could not create the MariaDB test users"; }
DELETE FROM mysql.global_priv WHERE User = '';
FLUSH PRIVILEGES;
CREATE USER 'zen'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('$MYSQL_PASSWORD');
GRANT ALL PRIVILEGES ON *.* TO 'zen'@'%' WITH GRANT OPTION;
CREATE USER 'zen_tls'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('$MYSQL_TLS_PASSWORD')
    REQUIRE SSL;
GRANT ALL PRIVILEGES ON *.* TO 'zen_tls'@'%';
FLUSH PRIVILEGES;
SQL
    local plugins
    plugins=$(mysql_root -e "SELECT DISTINCT plugin FROM mysql.user WHERE User IN ('zen', 'zen_tls')")
    [[ $plugins == mysql_native_password ]] \
        || die "MariaDB test users use '$plugins', expected mysql_native_password"
    [[ $(mysql_root -e "SELECT @@have_ssl") == YES ]] || {
        show_log "$STATE/mysql/server.log"
        die "MariaDB started without TLS"
    }
}

# The command line a test runs to restart MariaDB (a shell-quoted string).
restart_command() {
    local quoted
    quoted=$(printf '%q ' env "ZEN_MLMD_TEST_SERVERS_DIR=$STATE" bash "$SELF" restart-mysql)
    echo "${quoted% }"
}

restart_mysql() {
    [[ -f $STATE/env ]] || die "no test servers running (run: $SELF start)"
    # shellcheck disable=SC1091
    source "$STATE/env"
    MYSQL_PORT=$ZEN_MLMD_TEST_MYSQL_PORT
    MYSQL_SOCKET=$ZEN_MLMD_TEST_MYSQL_SOCKET
    local pid
    pid=$(cat "$STATE/mysql/mariadbd.pid" 2>/dev/null || true)
    stop_pid "$pid" "$STATE/mysql/data" TERM "MariaDB"
    launch_mysql
    log "MariaDB restarted on 127.0.0.1:$MYSQL_PORT"
}

# --- PostgreSQL ------------------------------------------------------------------
start_postgres() {
    local bindir
    bindir=$(pg_bindir) || die "PostgreSQL binaries not found"
    local root=$STATE/postgres
    mkdir -p "$root"
    if [[ $EUID -eq 0 ]]; then
        id "$PG_OS_USER" >/dev/null 2>&1 || die "OS user '$PG_OS_USER' missing (install postgresql)"
        chown "$PG_OS_USER" "$root"
        # The server runs as postgres and must reach its directory; a checkout
        # under a private home directory does not allow that. Its socket path
        # must also stay short.
        if [[ ${#root} -gt 70 ]] || ! as_pg test -w "$root"; then
            root=$(mktemp -d /tmp/zen-mlmd-postgres.XXXXXX)
            chown "$PG_OS_USER" "$root"
            echo "$root" >"$STATE/postgres.root"
        fi
    fi
    PG_ROOT=$root
    local pwfile=$root/superuser.pw
    random_secret >"$pwfile"
    [[ $EUID -eq 0 ]] && chown "$PG_OS_USER" "$pwfile"
    chmod 600 "$pwfile"
    if ! as_pg "$bindir/initdb" -D "$root/data" -U postgres --pwfile="$pwfile" -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 >"$root/initdb.log" 2>&1; then
        show_log "$root/initdb.log"
        die "initdb failed"
    fi
    rm -f "$pwfile"
    if ! as_pg "$bindir/pg_ctl" -D "$root/data" -l "$root/server.log" -w -t "$START_TIMEOUT" \
        -o "-p $PG_PORT -k $root -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >"$root/pg_ctl.log" 2>&1; then
        show_log "$root/pg_ctl.log"
        show_log "$root/server.log"
        die "PostgreSQL did not start"
    fi
    head -n 1 "$root/data/postmaster.pid" >"$STATE/postgres.pid"
    if ! as_pg "$bindir/psql" -h "$root" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -q \
        -c "CREATE ROLE zen LOGIN CREATEDB PASSWORD '$PG_PASSWORD'" \
        -c "GRANT pg_signal_backend TO zen" >"$root/setup.log" 2>&1; then
        show_log "$root/setup.log"
        die "could not create the PostgreSQL test user"
    fi
}

# --- commands ----------------------------------------------------------------------
cmd_stop() {
    local pid root
    pid=$(cat "$STATE/mysql/mariadbd.pid" 2>/dev/null || true)
    stop_pid "$pid" "$STATE/mysql/data" TERM "MariaDB"
    root=$STATE/postgres
    [[ -f $STATE/postgres.root ]] && root=$(cat "$STATE/postgres.root")
    pid=$(cat "$STATE/postgres.pid" 2>/dev/null || true)
    # SIGINT is PostgreSQL's "fast" shutdown.
    stop_pid "$pid" "$root/data" INT "PostgreSQL"
    rm -f "$STATE/postgres.pid"
    # Servers whose PID files were deleted with the state directory (e.g. by
    # `git clean`) still name their data directory on their command line.
    for pid in $(orphans "--datadir=$STATE/mysql/data "); do
        stop_pid "$pid" "$STATE/mysql/data" TERM "MariaDB"
    done
    for pid in $(orphans "-D $STATE/postgres/data "); do
        stop_pid "$pid" "$STATE/postgres/data" INT "PostgreSQL"
    done
}

# PIDs of MariaDB/PostgreSQL server processes whose command line contains MARKER.
orphans() {
    local marker=$1 dir comm cmdline
    for dir in /proc/[0-9]*; do
        { read -r comm <"$dir/comm"; } 2>/dev/null || continue   # processes come and go
        [[ $comm == mariadbd || $comm == mysqld || $comm == postgres ]] || continue
        cmdline=$(tr '\0' ' ' <"$dir/cmdline" 2>/dev/null) || continue
        [[ $cmdline == *"$marker"* ]] && echo "${dir#/proc/}"
    done
    return 0
}

cmd_start() {
    local t0=$SECONDS
    ensure_packages
    command -v python3 >/dev/null || die "python3 not found"
    [[ -n $STATE && $STATE != / ]] || die "bad state directory '$STATE'"
    cmd_stop
    if [[ -f $STATE/postgres.root ]]; then
        local old
        old=$(cat "$STATE/postgres.root")
        [[ $old == /tmp/zen-mlmd-postgres.* ]] && rm -rf "$old"
    fi
    if [[ -f $STATE/socket.dir ]]; then
        local old_sock
        old_sock=$(cat "$STATE/socket.dir")
        [[ $old_sock == /tmp/zen-mlmd-sock.* ]] && rm -rf "$old_sock"
    fi
    rm -rf "$STATE"
    mkdir -p "$STATE/mysql"
    local sockdir
    sockdir=$(socket_dir)
    mkdir -p "$sockdir"
    [[ $sockdir == "$STATE/run" ]] || echo "$sockdir" >"$STATE/socket.dir"

    MYSQL_PORT=$(free_port)
    PG_PORT=$(free_port)
    while [[ $PG_PORT == "$MYSQL_PORT" ]]; do PG_PORT=$(free_port); done
    MYSQL_SOCKET=$sockdir/mysql.sock
    MYSQL_PASSWORD=$(random_secret)
    MYSQL_TLS_PASSWORD=$(random_secret)
    PG_PASSWORD=$(random_secret)

    make_certs
    # The two servers start in parallel; each reports its own failure.
    (start_mysql) & local mysql_job=$!
    (start_postgres) & local pg_job=$!
    local failed=0
    wait "$mysql_job" || failed=1
    wait "$pg_job" || failed=1
    if [[ $failed -ne 0 ]]; then
        cmd_stop
        die "test servers did not start (logs under $STATE)"
    fi

    local tls=$STATE/tls
    {
        echo "# Test servers started by scripts/test-servers.sh; source this file."
        printf 'export %s=%q\n' \
            ZEN_MLMD_TEST_MYSQL_HOST 127.0.0.1 \
            ZEN_MLMD_TEST_MYSQL_PORT "$MYSQL_PORT" \
            ZEN_MLMD_TEST_MYSQL_SOCKET "$MYSQL_SOCKET" \
            ZEN_MLMD_TEST_MYSQL_USER zen \
            ZEN_MLMD_TEST_MYSQL_PASSWORD "$MYSQL_PASSWORD" \
            ZEN_MLMD_TEST_MYSQL_TLS_USER zen_tls \
            ZEN_MLMD_TEST_MYSQL_TLS_PASSWORD "$MYSQL_TLS_PASSWORD" \
            ZEN_MLMD_TEST_MYSQL_SSL_CA "$tls/ca.pem" \
            ZEN_MLMD_TEST_MYSQL_SSL_CERT "$tls/client-cert.pem" \
            ZEN_MLMD_TEST_MYSQL_SSL_KEY "$tls/client-key.pem" \
            ZEN_MLMD_TEST_MYSQL_WRONG_CA "$tls/wrong-ca.pem" \
            ZEN_MLMD_TEST_MYSQL_PIDFILE "$STATE/mysql/mariadbd.pid" \
            ZEN_MLMD_TEST_MYSQL_RESTART "$(restart_command)" \
            ZEN_MLMD_TEST_PG_HOST 127.0.0.1 \
            ZEN_MLMD_TEST_PG_PORT "$PG_PORT" \
            ZEN_MLMD_TEST_PG_USER zen \
            ZEN_MLMD_TEST_PG_PASSWORD "$PG_PASSWORD"
    } >"$STATE/env"
    chmod 600 "$STATE/env"
    log "MariaDB on 127.0.0.1:$MYSQL_PORT (TLS), PostgreSQL on 127.0.0.1:$PG_PORT;" \
        "env in $STATE/env (started in $((SECONDS - t0))s)"
}

cmd_env() {
    [[ -f $STATE/env ]] || die "no test servers started (run: $SELF start)"
    cat "$STATE/env"
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    env) cmd_env ;;
    restart-mysql) restart_mysql ;;
    deps) ensure_packages ;;
    *)
        echo "usage: $0 start|stop|env|restart-mysql|deps" >&2
        exit 2
        ;;
esac
