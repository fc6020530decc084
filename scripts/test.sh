#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what is missing (MariaDB, s3s-fs, pyarrow,
# DuckDB and the deltalake package), starts the throwaway services on loopback, then runs the unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
# CI builds in a clean clone: its build outputs live under ~/.cargo instead, so a later run
# on the same machine rebuilds binlake only (a fresh machine builds everything, as before).
if [ "${CI:-}" = true ] && [ -z "${CARGO_TARGET_DIR:-}" ]; then
    export CARGO_TARGET_DIR="${CARGO_HOME:-$HOME/.cargo}/binlake-ci-target"
fi
cargo fmt --check || { echo "test.sh: run cargo fmt" >&2; exit 1; }
cargo clippy --locked --all-targets --features test-hooks -- -D warnings
scripts/services.sh start
# The independent readers: Parquet for the consumer check (tests/consumer_check.py), Delta for
# the merged tables (tests/delta_check.py).
python3 -c 'import pyarrow, duckdb, deltalake' 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check "pyarrow==26.0.1" "duckdb==2.0.0" "deltalake==1.6.6"
eval "$(scripts/services.sh env)"
# The shared fixtures live beside the checkout; a clone elsewhere finds them beside its origin.
if [ -z "${BINLAKE_FIXTURES:-}" ] && [ ! -d ../shared/fixtures ]; then
    origin=$(git config --get remote.origin.url || true)
    if [ -d "$origin/../shared/fixtures" ]; then
        BINLAKE_FIXTURES=$(cd "$origin/../shared/fixtures" && pwd)
        export BINLAKE_FIXTURES
    fi
fi
# Two test threads: the machine has two cores and each test also runs binlake processes.
cargo test --locked --all-targets --features test-hooks -- --test-threads 2
