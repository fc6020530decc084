# Shared by the bench scripts (sourced, not run): the benchmark table, the server, measuring.
# The caller sets `work` (a scratch directory) and may set BENCH_RESULTS (a JSON-lines file
# every measured run is appended to, for bench/report.py).

url=mysql://binlake:binlake@127.0.0.1:3307
bin=target/release/binlake
sql() { mariadb --protocol=TCP -h127.0.0.1 -P3307 -ubinlake -pbinlake "$@"; }

# The rows of the wide mixed-type table for the ids of `seq` in FROM_CLAUSE, generated in the
# server so that inserted rows look like loaded ones.
wide_rows() {
    echo "SELECT seq, seq % 10007, ELT(1 + seq % 4, 'new','paid','shipped','returned'), (seq % 100000) / 100,
  seq % 300, CONCAT('note for row ', seq, ' ', REPEAT('x', seq % 60)), '2024-01-01' + INTERVAL seq SECOND,
  '2024-06-01' + INTERVAL seq SECOND, CONCAT('{\"k\": ', seq % 97, ', \"tag\": \"t', seq % 13, '\"}'), seq % 2
  FROM $1"
}

# bench.wide with ROWS rows (a fresh database `bench`).
make_wide() {
    echo "generating $1 rows in bench.wide ..." >&2
    sql -e "
DROP DATABASE IF EXISTS bench; CREATE DATABASE bench; USE bench;
CREATE TABLE wide (
  id BIGINT UNSIGNED PRIMARY KEY, customer INT NOT NULL, status ENUM('new','paid','shipped','returned') NOT NULL,
  amount DECIMAL(12,2) NOT NULL, qty SMALLINT NOT NULL, note VARCHAR(200), created DATETIME(6) NOT NULL,
  updated TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), attrs JSON, flag TINYINT NOT NULL);
INSERT INTO wide $(wide_rows "seq_1_to_$1");"
}

# Prints the seconds and peak RSS (KB) of a command; its output goes to $work/out, and its
# error output is shown if it fails.
measure() {
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" >"$work/out" 2>"$work/stderr" || {
        cat "$work/stderr" >&2
        echo "failed: $*" >&2
        exit 1
    }
    cat "$work/time"
}

# repeat SETUP COMMAND...: runs SETUP (a function, or :) and measures COMMAND, RUNS times
# (default 3); prints the median seconds and the highest peak RSS (KB).
repeat() {
    local setup=$1 runs=${RUNS:-3} i
    shift
    for i in $(seq 1 "$runs"); do
        "$setup"
        measure "$@" >>"$work/runs"
    done
    sort -n "$work/runs" | awk -v n="$runs" '{ s[NR] = $1; if ($2 > kb) kb = $2 } END { print s[int((n + 1) / 2)], kb }'
    rm -f "$work/runs"
}

# Rows in the Parquet files of a directory whose names match a pattern (read from their footers).
parquet_rows() {
    python3 -c "import glob, sys, pyarrow.parquet as pq; print(sum(pq.ParquetFile(f).metadata.num_rows for f in glob.glob(sys.argv[1])))" "$1"
}

# expect_rows WHAT GOT WANTED: a measured run must have written every row.
expect_rows() { [ "$2" = "$3" ] || { echo "$1: $2 rows written, $3 expected" >&2; exit 1; }; }

# A command whose output only matters when it fails.
quiet() { "$@" >"$work/log" 2>&1 || { cat "$work/log" >&2; echo "failed: $*" >&2; exit 1; }; }

# record GROUP TOOL SECONDS ROWS PEAK_KB [EXTRA_JSON_FIELDS]: one measured run, for the report.
# GROUP names what was done (the same work for every tool in it); binlake's tools start with
# "binlake", and the report sets each of them against every other tool of its group.
record() {
    [ -n "${BENCH_RESULTS:-}" ] || return 0
    python3 - "$@" >>"$BENCH_RESULTS" <<'EOF'
import json, sys
group, tool, seconds, rows, kb, *extra = sys.argv[1:]
r = {"group": group, "tool": tool, "seconds": float(seconds), "rows": int(rows), "peak_mb": round(int(kb) / 1024, 1)}
r["rows_per_s"] = round(r["rows"] / r["seconds"]) if r["seconds"] > 0 else None
if extra:
    r.update(json.loads(extra[0]))
print(json.dumps(r))
EOF
}
