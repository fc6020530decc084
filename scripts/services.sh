#!/usr/bin/env bash
# Throwaway services for binlake's tests, benchmarks and demo, all on loopback:
#   - MariaDB with ROW binlog on 127.0.0.1:3307   (user binlake / binlake)
#   - MariaDB with binlog_format=STATEMENT on 127.0.0.1:3308 (for the preflight test)
#   - MariaDB with ROW binlog on 127.0.0.1:3309 whose binlogs the tests purge
#   All MariaDB servers offer TLS with a self-signed certificate; user binlake_tls must use it.
#   - s3s-fs, an S3-compatible server, on 127.0.0.1:9100 (access key binlake / binlakesecret)
# Usage: scripts/services.sh start [NAME...]|stop|env|install [mariadb]
#   NAME: mariadb, mariadb-statement, mariadb-purge, s3 (default: all of them)
# Data lives under $BINLAKE_SERVICES_DIR (default: ~/.cache/binlake/services): one place per
# machine whichever checkout starts them, so a test that restarts a server (or a second
# checkout, like CI's clean clone) finds the same data. The machine's own MariaDB on 3306 is
# never touched.
set -euo pipefail

dir=${BINLAKE_SERVICES_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/binlake/services}
S3S_VERSION=0.14.1

log() { echo "services: $*" >&2; }

install() {
    local what=${1:-all}
    if ! command -v mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
        log "installing mariadb-server (Debian package)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq mariadb-server mariadb-client >/dev/null
    fi
    if [ "$what" = all ] && ! command -v s3s-fs >/dev/null 2>&1; then
        log "installing s3s-fs $S3S_VERSION (cargo install, a few minutes the first time)"
        cargo install --locked --features binary "s3s-fs@$S3S_VERSION"
    fi
}

mariadbd_bin() { command -v mariadbd 2>/dev/null || echo /usr/sbin/mariadbd; }

# A self-signed certificate, so the tests can require TLS.
make_cert() {
    local certs=$dir/certs
    if [ ! -f "$certs/server.pem" ]; then
        mkdir -p "$certs"
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=127.0.0.1" \
            -keyout "$certs/server-key.pem" -out "$certs/server.pem" >/dev/null 2>&1
    fi
}

# start_mariadb NAME PORT EXTRA_ARGS...
start_mariadb() {
    local name=$1 port=$2; shift 2
    local data=$dir/$name
    make_cert
    if mariadb --protocol=TCP -h127.0.0.1 -P"$port" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
        log "$name already running on $port"
        return
    fi
    mkdir -p "$data"
    if [ ! -d "$data/db/mysql" ]; then
        mariadb-install-db --no-defaults --user=root --datadir="$data/db" \
            --auth-root-authentication-method=normal >"$data/install.log" 2>&1 \
            || { cat "$data/install.log" >&2; exit 1; }
    fi
    "$(mariadbd_bin)" --no-defaults --user=root --datadir="$data/db" \
        --port="$port" --bind-address=127.0.0.1 --socket="$data/mysqld.sock" \
        --pid-file="$data/mysqld.pid" --log-error="$data/error.log" \
        --server-id=1 --log-bin=mysql-bin --binlog-row-image=FULL \
        --innodb-buffer-pool-size=256M --innodb-flush-log-at-trx-commit=2 \
        --ssl-cert="$dir/certs/server.pem" --ssl-key="$dir/certs/server-key.pem" \
        --max-connections=500 --skip-name-resolve "$@" >>"$data/stdout.log" 2>&1 &
    for _ in $(seq 1 60); do
        if mariadb --protocol=TCP -h127.0.0.1 -P"$port" -uroot -e 'SELECT 1' >/dev/null 2>&1; then
            break
        fi
        sleep 0.5
    done
    mariadb --protocol=TCP -h127.0.0.1 -P"$port" -uroot -e "
        CREATE USER IF NOT EXISTS 'binlake'@'%' IDENTIFIED BY 'binlake';
        GRANT ALL PRIVILEGES ON *.* TO 'binlake'@'%' WITH GRANT OPTION;
        CREATE USER IF NOT EXISTS 'binlake_tls'@'%' IDENTIFIED BY 'binlake' REQUIRE SSL;
        GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'binlake_tls'@'%';
        CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
        GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" \
        || { cat "$data/error.log" >&2; exit 1; }
    log "$name ready on 127.0.0.1:$port"
}

start_s3() {
    local data=$dir/s3
    if curl -s -o /dev/null "http://127.0.0.1:9100/" 2>/dev/null; then
        log "s3s-fs already running on 9100"
        return
    fi
    mkdir -p "$data/root"
    s3s-fs --host 127.0.0.1 --port 9100 --access-key binlake --secret-key binlakesecret \
        "$data/root" >"$data/s3s.log" 2>&1 &
    echo $! >"$data/s3s.pid"
    for _ in $(seq 1 40); do
        curl -s -o /dev/null "http://127.0.0.1:9100/" && break
        sleep 0.25
    done
    log "s3s-fs ready on 127.0.0.1:9100 (buckets are folders of $data/root)"
}

stop() {
    # By port, not by pid file: the servers may have been started from another directory.
    for port in 3307 3308 3309; do
        mariadb-admin --protocol=TCP -h127.0.0.1 -P"$port" -uroot shutdown 2>/dev/null || true
    done
    pkill -f "s3s-fs --host 127.0.0.1 --port 9100" 2>/dev/null || true
    rm -f "$dir/s3/s3s.pid"
    log "stopped"
}

env_vars() {
    # The running s3s-fs may have been started from another checkout: ask it for its root.
    local s3_root
    s3_root=$(pgrep -a -x s3s-fs | awk '{print $NF}' | head -n 1)
    [ -n "$s3_root" ] || s3_root=$dir/s3/root
    cat <<EOV
export BINLAKE_TEST_MYSQL=mysql://binlake:binlake@127.0.0.1:3307
export BINLAKE_TEST_MYSQL_STATEMENT=mysql://binlake:binlake@127.0.0.1:3308
export BINLAKE_TEST_MYSQL_PURGE=mysql://binlake:binlake@127.0.0.1:3309
export BINLAKE_TEST_S3_ROOT=$s3_root
export AWS_ENDPOINT_URL=http://127.0.0.1:9100
export AWS_ACCESS_KEY_ID=binlake
export AWS_SECRET_ACCESS_KEY=binlakesecret
export AWS_REGION=us-east-1
export AWS_ALLOW_HTTP=true
EOV
}

case ${1:-} in
    install) install "${2:-all}" ;;
    start)
        shift
        names=${*:-mariadb mariadb-statement mariadb-purge s3}
        case " $names " in *" s3 "*) install all ;; *) install mariadb ;; esac
        for name in $names; do
            case $name in
                # A server zone that is not UTC, so the tests prove TIMESTAMP values reach
                # the lake in UTC; RDS's default max_allowed_packet, for the large-value tests.
                mariadb) start_mariadb mariadb 3307 --binlog-format=ROW --default-time-zone=+05:30 --max-allowed-packet=64M ;;
                mariadb-statement) start_mariadb mariadb-statement 3308 --binlog-format=STATEMENT --innodb-buffer-pool-size=64M ;;
                mariadb-purge) start_mariadb mariadb-purge 3309 --binlog-format=ROW --innodb-buffer-pool-size=64M ;;
                s3) start_s3 ;;
                *) echo "unknown service $name" >&2; exit 2 ;;
            esac
        done
        ;;
    stop) stop ;;
    env) env_vars ;;
    *) echo "usage: $0 install|start|stop|env" >&2; exit 2 ;;
esac
