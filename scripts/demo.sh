#!/usr/bin/env bash
# The local demo on the embedded defaults: a binlog-enabled MariaDB on 127.0.0.1:3307, a lake
# in ./demo/lake (a local directory) and the state in ./demo/binlake.db (SQLite).
#   1. creates the sample shop database (product, store, productorder) and fills it,
#   2. binlake takes the full load and catches up,
#   3. the seed's incremental script changes data,
#   4. binlake resumes from its checkpoint and writes CDC files,
#   5. prints the files, the status and the CDC rows,
#   6. checks the merged Delta tables in ./demo/tables against the source (binlake verify).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start mariadb
source_url=mysql://binlake:binlake@127.0.0.1:3307
sql() { mariadb --protocol=TCP -h127.0.0.1 -P3307 -ubinlake -pbinlake "$@"; }

echo "== 1. sample database 'dmsdemo' (scripts/demo-schema.sql)"
sql < scripts/demo-schema.sql

mkdir -p demo
rm -rf demo/lake demo/tables demo/binlake.db*
binlake() { cargo run --quiet --release -- "$@"; }

echo "== 2. full load and catch-up"
binlake run --source "$source_url" --target demo/lake --lake demo/tables --state demo/binlake.db --tables 'dmsdemo.*' --until caught-up

echo "== 3. the seed's incremental script (scripts/demo-changes.sql)"
sql < scripts/demo-changes.sql

echo "== 4. resume from the checkpoint"
binlake run --source "$source_url" --target demo/lake --lake demo/tables --state demo/binlake.db --tables 'dmsdemo.*' --until caught-up

echo "== 5. what is in the lake"
find demo/lake -type f | sort
binlake status --state demo/binlake.db
if python3 -c 'import pyarrow' 2>/dev/null; then
    python3 - <<'PY'
import glob, pyarrow.parquet as pq
for f in sorted(glob.glob("demo/lake/dmsdemo/*/2*.parquet")):
    t = pq.read_table(f)
    print(f, t.num_rows, "rows; first:", t.slice(0, 1).to_pylist())
PY
fi

echo "== 6. the merged tables equal the source"
find demo/tables -name '*.parquet' -not -path '*_delta_log*' | sort
binlake verify --source "$source_url" --lake demo/tables --tables 'dmsdemo.*'
