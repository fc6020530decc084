#!/usr/bin/env bash
# Merge cost of binlake's merger, with DuckDB doing the same merge in the same run on the same
# files (ratios matter: these machines are noisy).
#   load: `binlake merge` building the Delta table from the LOAD files (not the main figure)
#   cdc:  `binlake merge` applying CHANGES row changes (CDC files) to that table  vs  DuckDB
#         reading the table's Parquet files and the same CDC files, keeping the last change per
#         key, and writing the current rows as Parquet
# Both are measured at ROWS and ROWS/10 rows for the same change count: a merge rewrites the
# data files holding changed keys, so its cost follows the changes once a table has many files
# (a file holds about --merge-file-size, 128 MB: a few million rows of this table), and the
# table's size while it has few. Each figure includes its process's fixed costs: binlake reads
# the source's catalog, DuckDB's includes starting Python and importing duckdb (~0.3 s here).
# For load, changes/s counts the loaded rows.
# SPREAD=recent makes the updates and deletes hit the newest 2*CHANGES ids only (most tables
# change where they grow) instead of ids all over the table (SPREAD=all); MERGE_FILE_MB sets
# --merge-file-size. With SPREAD=recent and files smaller than the table, the merge rewrites
# the same few files at both sizes: its cost follows the changes, not the table.
# Usage: [SPREAD=all|recent] [MERGE_FILE_MB=128] bench/merge.sh [ROWS] [CHANGES]
#        (default 1000000 100000; the wide table of bench/lib.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-1000000}
changes=${2:-100000}
batch=1000 # changes per source transaction: many small transactions, as an application makes them
spread=${SPREAD:-all}
file_mb=${MERGE_FILE_MB:-128}
case "$spread" in all | recent) ;; *) echo "SPREAD must be all or recent" >&2; exit 2 ;; esac
scripts/services.sh start mariadb >/dev/null
cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
source bench/lib.sh

# CHANGES changes over the ids 1..N in transactions of `batch`: 60% updates and 20% deletes of
# random ids, 20% inserts of new ids. Random ids repeat and may hit deleted rows, so the rows
# changed are a little fewer; the CDC files are counted instead. Seeded RAND keeps runs alike;
# the ids go through a derived table so each statement is key lookups, not a scan.
changes_sql() {
    local n=$1 left=$changes t=0 next=$(($1 + 1)) size u d i lo=1
    [ "$spread" = recent ] && [ "$n" -gt $((2 * changes)) ] && lo=$((n - 2 * changes + 1))
    while [ "$left" -gt 0 ]; do
        size=$((left < batch ? left : batch))
        u=$((size * 6 / 10)) d=$((size * 2 / 10)) i=$((size - size * 6 / 10 - size * 2 / 10))
        t=$((t + 1))
        echo "BEGIN;"
        [ "$u" -gt 0 ] && echo "UPDATE wide JOIN (SELECT DISTINCT FLOOR($lo + RAND($((2 * t))) * $((n - lo + 1))) AS id FROM seq_1_to_$u) k USING (id)
  SET qty = qty + 1, amount = amount + 1, status = 'shipped', note = CONCAT('changed in transaction $t');"
        [ "$d" -gt 0 ] && echo "DELETE wide FROM wide JOIN (SELECT DISTINCT FLOOR($lo + RAND($((2 * t + 1))) * $((n - lo + 1))) AS id FROM seq_1_to_$d) k USING (id);"
        [ "$i" -gt 0 ] && echo "INSERT INTO wide $(wide_rows "(SELECT $((next - 1)) + seq AS seq FROM seq_1_to_$i) s");"
        echo "COMMIT;"
        next=$((next + i)) left=$((left - size))
    done
}

# The peer: base Parquet files + CDC files -> current rows, as Parquet. The CDC columns are cast
# to the merged table's types (BIGINT UNSIGNED is DECIMAL(20,0) there), as binlake converts them.
# File lists are spelled into the SQL: DuckDB takes no parameters in COPY or views.
cat >"$work/duckdb_merge.py" <<'EOF'
import sys, duckdb
files = lambda path: "[" + ", ".join(f"'{f}'" for f in open(path).read().split()) + "]"
base, cdc, out = files(sys.argv[1]), files(sys.argv[2]), sys.argv[3]
db = duckdb.connect()
columns = db.execute(f"DESCRIBE SELECT * FROM read_parquet({base})").fetchall()
cast = ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t, *_ in columns)
db.execute(f"""
COPY (
  WITH changes AS (
    SELECT Op, {cast} FROM read_parquet({cdc}, filename = true, file_row_number = true)
    QUALIFY row_number() OVER (PARTITION BY id ORDER BY filename DESC, file_row_number DESC) = 1)
  SELECT base.* FROM read_parquet({base}) base ANTI JOIN changes USING (id)
  UNION ALL
  SELECT * EXCLUDE (Op) FROM changes WHERE Op <> 'D'
) TO '{out}' (FORMAT parquet, COMPRESSION snappy, FILE_SIZE_BYTES '128MB')""")
EOF

# Rows of DuckDB's result, and rows in it but not in binlake's Delta table or the other way round.
cat >"$work/check.py" <<'EOF'
import sys, duckdb, deltalake
out, table = sys.argv[1], sys.argv[2]
merged = "[" + ", ".join(f"'{u.removeprefix('file://')}'" for u in deltalake.DeltaTable(table).file_uris()) + "]"
db = duckdb.connect()
db.execute(f"CREATE VIEW a AS FROM read_parquet('{out}/*.parquet')")
db.execute(f"CREATE VIEW b AS FROM read_parquet({merged})")
count = db.execute("SELECT count(*) FROM a").fetchone()[0]
differ = db.execute("SELECT (SELECT count(*) FROM (FROM a EXCEPT ALL FROM b)) + (SELECT count(*) FROM (FROM b EXCEPT ALL FROM a))").fetchone()[0]
print(count, differ)
EOF

results=()
for n in "$rows" "$((rows / 10))"; do
    dir=$work/$n
    mkdir -p "$dir"
    make_wide "$n"
    run=("$bin" run --source "$url" --target "$dir/files" --state "$dir/state.db" --tables bench.wide --until caught-up)
    merge=("$bin" merge --source "$url" --target "$dir/files" --lake "$dir/lake" --state "$dir/merge.db" --tables bench.wide --until caught-up --merge-file-size "$file_mb")
    table=$dir/lake/bench/wide

    quiet "${run[@]}"
    read -r load_s load_kb < <(measure "${merge[@]}")
    # The peer's base is the table as it stands before the changes are merged.
    python3 -c "import sys, deltalake; print('\n'.join(u.removeprefix('file://') for u in deltalake.DeltaTable(sys.argv[1]).file_uris()))" "$table" >"$dir/base.txt"

    echo "applying $changes changes in transactions of $batch ..." >&2
    changes_sql "$n" >"$dir/changes.sql"
    sql bench <"$dir/changes.sql"
    quiet "${run[@]}"
    find "$dir/files/bench/wide" -name '[0-9]*-*.parquet' | sort >"$dir/cdc.txt"
    cdc_rows=$(python3 -c "import sys, duckdb; print(duckdb.execute('SELECT count(*) FROM read_parquet(?)', [open(sys.argv[1]).read().split()]).fetchone()[0])" "$dir/cdc.txt")
    echo "$cdc_rows row changes in $(wc -l <"$dir/cdc.txt") CDC files" >&2

    read -r merge_s merge_kb < <(measure "${merge[@]}")
    quiet "$bin" verify --source "$url" --lake "$dir/lake" --tables bench.wide
    read -r duck_s duck_kb < <(measure python3 "$work/duckdb_merge.py" "$dir/base.txt" "$dir/cdc.txt" "$dir/duckdb")

    read -r duck_count differ < <(python3 "$work/check.py" "$dir/duckdb" "$table")
    source_count=$(sql -N -e "SELECT COUNT(*) FROM bench.wide")
    if [ "$duck_count" != "$source_count" ] || [ "$differ" != 0 ]; then
        echo "DuckDB's merge has $duck_count rows (the source $source_count), $differ rows differ from binlake's table" >&2
        exit 1
    fi
    group="merge: $cdc_rows changes into $n rows"
    record "$group" "binlake merge -> Delta" "$merge_s" "$cdc_rows" "$merge_kb"
    record "$group" "DuckDB same merge -> Parquet" "$duck_s" "$cdc_rows" "$duck_kb"
    results+=("$n $load_s $load_kb $merge_s $merge_kb $duck_s $duck_kb $cdc_rows $(wc -l <"$dir/base.txt")")
done

rate() { awk -v r="$1" -v s="$2" 'BEGIN { printf "%.0f", r / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
echo "changes spread over $spread ids; merged tables in files of $file_mb MB"
printf '%-18s %-44s %10s %12s %10s\n' scenario tool seconds changes/s peak_MB
for r in "${results[@]}"; do
    read -r n load_s load_kb merge_s merge_kb duck_s duck_kb cdc_rows _ <<<"$r"
    printf '%-18s %-44s %10s %12s %10d\n' "load, $n rows" "binlake merge of the LOAD files -> Delta" "$load_s" "$(rate "$n" "$load_s")" $((load_kb / 1024))
    printf '%-18s %-44s %10s %12s %10d\n' "cdc, $n rows" "binlake merge of $cdc_rows changes -> Delta" "$merge_s" "$(rate "$cdc_rows" "$merge_s")" $((merge_kb / 1024))
    printf '%-18s %-44s %10s %12s %10d\n' "cdc, $n rows" "DuckDB same merge -> Parquet (local dir)" "$duck_s" "$(rate "$cdc_rows" "$duck_s")" $((duck_kb / 1024))
done
for r in "${results[@]}"; do
    read -r n _ _ merge_s _ duck_s _ _ <<<"$r"
    echo "binlake merge is $(ratio "$merge_s" "$duck_s")x DuckDB's speed at $n rows"
done
read -r big _ _ big_s _ _ _ _ big_files <<<"${results[0]}"
read -r small _ _ small_s _ _ _ _ small_files <<<"${results[1]}"
echo "binlake merge of the same changes takes $(ratio "$small_s" "$big_s")x as long at $big rows ($big_files data files) as at $small rows ($small_files)"
