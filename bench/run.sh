#!/usr/bin/env bash
# binlake next to its peers, measured in the same run on the same data (these machines are
# noisy: the ratios are the figures that matter). Starts the local binlog-enabled MariaDB and
# the S3 server, installs the peers if missing, generates the wide mixed-type table in the
# server, runs every scenario, prints a table of figures, ratios and where binlake stands
# against its targets, and writes results.json, results.csv and chart.png to OUT.
#
#   snapshot  full load of ROWS rows to Parquet on 1, 2 and 4 connections (--snapshot-workers),
#             to a local directory and to the S3 server  vs  ConnectorX reading into Arrow on as
#             many connections (partition_num) + pyarrow writing Snappy Parquet to the same place
#   cdc       one transaction updating every row, and 100k single-row transactions, decoded and
#             written as CDC Parquet  vs  `mariadb-binlog -v` decoding the same binlog to
#             /dev/null, and `mariadb-binlog --raw` fetching it (the replication stream's limit)
#   latency   p50/p99 from COMMIT to the row being in a committed CDC file, at 1k and 10k rows/s
#             offered, with a 1 s flush interval (CdcMaxBatchInterval)
#   memory    peak RSS of a full load and of CDC of 50 MB LONGBLOB rows (every other scenario
#             reports binlake's peak RSS too)
#   merge     bench/merge.sh: 100k changes merged into the ROWS-row Delta table  vs  DuckDB
#   scale     peak RSS of full loads of 1M and 10M rows (4 workers): memory must not grow with the
#             table (last, it replaces the benchmark table; not run by default: ~10 minutes)
#
# Usage: bench/run.sh [ROWS]   (default 1000000; up to 10000000)
#   OUT=DIR          where the results go (default target/bench)
#   RUNS=N           runs of each snapshot and CDC measurement; the median counts (default 3)
#   SCENARIOS="..."  a subset of: snapshot cdc latency memory merge scale (cdc and latency start from
#                    the snapshot's state, so they run it too)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
out=${OUT:-target/bench}
scenarios=" ${SCENARIOS:-snapshot cdc latency memory merge} "
wants() { [[ "$scenarios" == *" $1 "* ]]; }
if [ "$rows" -lt 1000 ] || [ "$rows" -gt 10000000 ]; then
    echo "ROWS must be between 1000 and 10000000" >&2
    exit 2
fi

scripts/services.sh start mariadb s3
python3 -c 'import connectorx, pyarrow, duckdb, deltalake, matplotlib, pymysql' 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check "pyarrow==26.0.1" "duckdb==2.0.0" "deltalake==1.6.6" \
        "connectorx==0.4.6" "matplotlib==3.11.2" "pymysql==1.2.4"
echo "building binlake (release) ..." >&2
cargo build --release --quiet
eval "$(scripts/services.sh env)"
work=$(mktemp -d)
trap 'pkill -P $$ 2>/dev/null || true; rm -rf "$work"' EXIT
source bench/lib.sh
mkdir -p "$out"
export BENCH_RESULTS=$out/results.jsonl
: >"$BENCH_RESULTS"

lake=$work/lake
state=$work/state.db
run=("$bin" run --source "$url" --target "$lake" --state "$state" --tables bench.wide)
bucket=bench-$$

# Each measured run starts from what these set up.
fresh_local() { rm -rf "$lake" "$state"*; }
fresh_s3() {
    rm -rf "${BINLAKE_TEST_S3_ROOT:?}/$bucket" "$work"/s3.db*
    mkdir -p "$BINLAKE_TEST_S3_ROOT/$bucket"
}
saved_state() { rm -rf "$lake" "$state"* && cp -r "$work/saved/." "$work/"; }
save_state() { rm -rf "$work/saved" && mkdir "$work/saved" && cp -r "$lake" "$state"* "$work/saved/"; }

# snapshot_case N: the full load on N connections, binlake and ConnectorX, to the S3 server and
# to a local directory (binlake's local load last: its state is where CDC starts).
snapshot_case() {
    local n=$1 s kb
    read -r s kb < <(repeat fresh_s3 "$bin" run --source "$url" --target "s3://$bucket/dms" --state "$work/s3.db" --tables bench.wide \
        --snapshot-workers "$n" --until caught-up)
    record "snapshot: $rows rows, S3 server" "binlake, $n workers -> Parquet" "$s" "$rows" "$kb"
    read -r s kb < <(repeat fresh_s3 python3 bench/connectorx_snapshot.py "$url/bench" bench.wide "s3://$bucket/cx.parquet" "$n")
    [ "$(cat "$work/out")" = "$rows" ] || { echo "ConnectorX read $(cat "$work/out") rows, not $rows" >&2; exit 1; }
    record "snapshot: $rows rows, S3 server" "ConnectorX, $n conn. + pyarrow -> Parquet" "$s" "$rows" "$kb"
    rm -rf "${BINLAKE_TEST_S3_ROOT:?}/$bucket"
    read -r s kb < <(repeat : python3 bench/connectorx_snapshot.py "$url/bench" bench.wide "$work/cx.parquet" "$n")
    [ "$(cat "$work/out")" = "$rows" ] || { echo "ConnectorX read $(cat "$work/out") rows, not $rows" >&2; exit 1; }
    record "snapshot: $rows rows, local dir" "ConnectorX, $n conn. + pyarrow -> Parquet" "$s" "$rows" "$kb"
    rm -f "$work/cx.parquet"
    read -r s kb < <(repeat fresh_local "${run[@]}" --snapshot-workers "$n" --until caught-up)
    expect_rows "binlake's full load" "$(parquet_rows "$lake/bench/wide/LOAD*.parquet")" "$rows"
    record "snapshot: $rows rows, local dir" "binlake, $n workers -> Parquet" "$s" "$rows" "$kb"
}

if wants snapshot || wants cdc || wants latency; then
    make_wide "$rows"
    for n in 1 2 4; do
        echo "snapshot: $rows rows, $n connections ..." >&2
        snapshot_case "$n"
    done
fi

# cdc_case GROUP ROWS SQL: binlake, mariadb-binlog -v and --raw on the binlog of SQL alone.
cdc_case() {
    local group=$1 n=$2 file s kb
    echo "$group ..." >&2
    save_state
    sql -e "FLUSH BINARY LOGS"
    file=$(sql -N -e "SHOW MASTER STATUS" | awk '{print $1}')
    sql bench -e "$3"
    sql -e "FLUSH BINARY LOGS"
    local before
    before=$(parquet_rows "$lake/bench/wide/2*.parquet")
    read -r s kb < <(repeat saved_state "${run[@]}" --until caught-up)
    expect_rows "binlake's CDC files" "$(($(parquet_rows "$lake/bench/wide/2*.parquet") - before))" "$n"
    record "$group" "binlake -> Parquet, local dir" "$s" "$n" "$kb"
    local tool=(mariadb-binlog --read-from-remote-server -h127.0.0.1 -P3307 -ubinlake -pbinlake)
    read -r s kb < <(repeat : sh -c "$(printf '%q ' "${tool[@]}") -v --base64-output=decode-rows $file > /dev/null")
    record "$group" "mariadb-binlog -v -> /dev/null" "$s" "$n" "$kb"
    mkdir -p "$work/raw"
    read -r s kb < <(repeat : "${tool[@]}" --raw --result-file="$work/raw/" "$file")
    record "$group" "mariadb-binlog --raw (transfer only)" "$s" "$n" "$kb"
    rm -rf "$work/raw" "$work/saved"
}

if wants cdc; then
    cdc_case "cdc: 1 transaction of $rows updates" "$rows" "UPDATE wide SET qty = qty + 1"
    singles=$((rows < 100000 ? rows : 100000))
    sql bench --delimiter=// -e "CREATE PROCEDURE singles(n INT) BEGIN
        DECLARE i INT DEFAULT 1;
        WHILE i <= n DO UPDATE wide SET qty = qty + 1 WHERE id = i; SET i = i + 1; END WHILE; END//"
    cdc_case "cdc: $singles single-row transactions" "$singles" "CALL singles($singles)"
fi

if wants latency; then
    next=$((rows + 1))
    for rate in 1000 10000; do
        group="latency: $rate rows/s offered"
        echo "$group ..." >&2
        quiet "${run[@]}" --until caught-up
        /usr/bin/time -f "%e %M" -o "$work/time" "${run[@]}" --cdc-max-batch-interval 1 >"$work/log" 2>&1 &
        timer=$!
        for _ in $(seq 1 100); do grep -q "streaming the binlog" "$work/log" && break; sleep 0.1; done
        seconds=20
        python3 bench/latency.py --insert "INSERT INTO bench.wide $(wide_rows seq_FIRST_to_LAST)" --rate "$rate" \
            --seconds "$seconds" --first-id "$next" --state "$state" --files "$lake" >"$work/latency.json" ||
            { cat "$work/log" >&2; exit 1; }
        pkill -TERM -P "$timer"
        wait "$timer" || { cat "$work/log" >&2; exit 1; }
        read -r s kb <"$work/time"
        n=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['rows'])" "$work/latency.json")
        record "$group" "binlake, 1 s flush interval" "$s" "$n" "$kb" "$(cat "$work/latency.json")"
        next=$((next + n))
    done
fi

if wants memory; then
    group="memory: 3 rows of 50 MB LONGBLOB"
    echo "$group ..." >&2
    # REPEAT returns NULL beyond max_allowed_packet; new sessions get the new value, and the
    # server gets its own back at the end.
    packet=$(sql -N -e "SELECT @@GLOBAL.max_allowed_packet")
    sql -e "SET GLOBAL max_allowed_packet = 256 * 1024 * 1024"
    blob_rows="SELECT seq, REPEAT(MD5(seq), 50 * 1024 * 1024 / 32) FROM seq_"
    sql bench -e "DROP TABLE IF EXISTS bench.blobs; CREATE TABLE bench.blobs (id INT PRIMARY KEY, b LONGBLOB NOT NULL);
        INSERT INTO bench.blobs $blob_rows""1_to_3;"
    blobs=("$bin" run --source "$url" --target "$work/blobs" --state "$work/blobs.db" --tables bench.blobs --until caught-up)
    read -r s kb < <(measure "${blobs[@]}")
    expect_rows "binlake's full load of the blobs" "$(parquet_rows "$work/blobs/bench/blobs/LOAD*.parquet")" 3
    record "$group" "binlake snapshot -> Parquet, local dir" "$s" 3 "$kb"
    sql bench -e "INSERT INTO bench.blobs $blob_rows""4_to_6; UPDATE bench.blobs SET b = REVERSE(b) WHERE id = 1;"
    read -r s kb < <(measure "${blobs[@]}")
    expect_rows "binlake's CDC files of the blobs" "$(parquet_rows "$work/blobs/bench/blobs/2*.parquet")" 4
    record "$group" "binlake CDC (3 inserts, 1 update) -> Parquet" "$s" 4 "$kb"
    sql -e "SET GLOBAL max_allowed_packet = $packet; DROP TABLE bench.blobs"
fi

if wants merge; then
    bench/merge.sh "$rows" 100000
fi

# Last: it replaces bench.wide. The full load's memory must not grow with the table.
if wants scale; then
    for n in 1000000 10000000; do
        group="scale: full load, 4 workers, peak RSS"
        echo "$group, $n rows ..." >&2
        make_wide "$n"
        read -r s kb < <(RUNS=1 repeat fresh_local "${run[@]}" --snapshot-workers 4 --until caught-up)
        expect_rows "binlake's full load" "$(parquet_rows "$lake/bench/wide/LOAD*.parquet")" "$n"
        record "$group" "binlake, $n rows" "$s" "$n" "$kb"
    done
fi

python3 bench/report.py "$BENCH_RESULTS" "$out"
