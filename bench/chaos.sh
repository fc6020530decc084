#!/usr/bin/env bash
# A fault campaign anyone can rerun, on loopback only: a random workload on a throwaway
# MariaDB (127.0.0.1:3309) while binlake streams it to an S3 server of its own and keeps merged
# tables, with faults injected in random order (SIGKILL of binlake during a full load and
# during the stream, kill -9 and restart of the source, an S3 outage, rows written in
# statement format, a schema change with sql_log_bin=0, a binlog purge past the checkpoint
# followed by the command binlake names). After each fault it checks that the files replayed
# in commit order and the merged tables equal the source, and it prints the faults injected,
# survived, and rows lost or duplicated (both must be 0).
#
# Usage: bench/chaos.sh [ROUNDS] [SEED]
#   ROUNDS  every fault once per round, in a new random order (default 3: 21 faults,
#           about five minutes here); the suite runs one round
#   SEED    the order and timing of faults and the workload (default: the time)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seed=${2:-$(date +%s)}
scripts/services.sh start mariadb-purge s3
eval "$(scripts/services.sh env)"
export BINLAKE_CHAOS_ROUNDS=$rounds BINLAKE_CHAOS_SEED=$seed
# The campaign is an integration test of the suite, run alone and longer.
log=$(mktemp)
status=0
cargo test --locked --features test-hooks --test it -- --exact chaos::every_fault_once_leaves_the_lake_exact --nocapture >"$log" 2>&1 || status=$?
grep -E "^chaos:|^after |panicked" "$log" || tail -n 40 "$log"
rm -f "$log"
exit $status
