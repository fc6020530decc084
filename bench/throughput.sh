#!/usr/bin/env bash
# Snapshot and CDC throughput of binlake, with the server's own tools measured in the same run
# on the same data (ratios matter: these machines are noisy).
#   snapshot: binlake full load to a local directory   vs  `mariadb` streaming the same SELECT to /dev/null
#   cdc:      binlake decoding + writing one large transaction  vs  `mariadb-binlog -v` decoding it to /dev/null
# Usage: bench/throughput.sh [ROWS]   (default 1000000; the wide mixed-type table of the bench plan)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
scripts/services.sh start mariadb >/dev/null
cargo build --release --quiet
bin=target/release/binlake
url=mysql://binlake:binlake@127.0.0.1:3307
sql() { mariadb --protocol=TCP -h127.0.0.1 -P3307 -ubinlake -pbinlake "$@"; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "generating $rows rows in bench.wide ..." >&2
sql -e "
DROP DATABASE IF EXISTS bench; CREATE DATABASE bench; USE bench;
CREATE TABLE wide (
  id BIGINT UNSIGNED PRIMARY KEY, customer INT NOT NULL, status ENUM('new','paid','shipped','returned') NOT NULL,
  amount DECIMAL(12,2) NOT NULL, qty SMALLINT NOT NULL, note VARCHAR(200), created DATETIME(6) NOT NULL,
  updated TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), attrs JSON, flag TINYINT NOT NULL);
INSERT INTO wide SELECT seq, seq % 10007, ELT(1 + seq % 4, 'new','paid','shipped','returned'), (seq % 100000) / 100,
  seq % 300, CONCAT('note for row ', seq, ' ', REPEAT('x', seq % 60)), '2024-01-01' + INTERVAL seq SECOND,
  '2024-06-01' + INTERVAL seq SECOND, CONCAT('{\"k\": ', seq % 97, ', \"tag\": \"t', seq % 13, '\"}'), seq % 2
  FROM seq_1_to_$rows;"

# seconds and peak RSS (KB) of a command
measure() { /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || { cat "$work/stderr" >&2; exit 1; }; cat "$work/time"; }

read -r snap_s snap_kb < <(measure "$bin" run --source "$url" --target "$work/lake" --state "$work/state.db" --tables 'bench.wide' --until caught-up)
read -r client_s client_kb < <(measure sh -c "mariadb --protocol=TCP -h127.0.0.1 -P3307 -ubinlake -pbinlake --quick -N -e 'SELECT * FROM bench.wide' > /dev/null")

start=$(sql -N -e "SHOW MASTER STATUS" | awk '{print $1" "$2}')
sql -e "UPDATE bench.wide SET qty = qty + 1"
read -r file pos <<<"$start"
stop=$(sql -N -e "SHOW MASTER STATUS" | awk '{print $2}')
read -r cdc_s cdc_kb < <(measure "$bin" run --source "$url" --target "$work/lake" --state "$work/state.db" --tables 'bench.wide' --until caught-up)
read -r c_s c_kb < <(measure sh -c "mariadb-binlog --read-from-remote-server -h127.0.0.1 -P3307 -ubinlake -pbinlake -v --base64-output=decode-rows --start-position=$pos --stop-position=$stop $file > /dev/null")

rate() { awk -v r="$rows" -v s="$1" 'BEGIN { printf "%.0f", r / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
printf '%-10s %-44s %10s %12s %10s\n' scenario tool seconds rows/s peak_MB
printf '%-10s %-44s %10s %12s %10d\n' snapshot "binlake full load -> Parquet (local dir)" "$snap_s" "$(rate "$snap_s")" $((snap_kb / 1024))
printf '%-10s %-44s %10s %12s %10d\n' snapshot "mariadb client SELECT -> /dev/null" "$client_s" "$(rate "$client_s")" $((client_kb / 1024))
printf '%-10s %-44s %10s %12s %10d\n' cdc "binlake 1 txn of $rows updates -> Parquet" "$cdc_s" "$(rate "$cdc_s")" $((cdc_kb / 1024))
printf '%-10s %-44s %10s %12s %10d\n' cdc "mariadb-binlog -v -> /dev/null" "$c_s" "$(rate "$c_s")" $((c_kb / 1024))
echo "binlake speed vs peer: snapshot $(ratio "$snap_s" "$client_s")x the client read, cdc $(ratio "$cdc_s" "$c_s")x mariadb-binlog -v"
