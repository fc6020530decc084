#!/usr/bin/env bash
# Runs every test on a fresh machine: installs what is missing (MariaDB, s3s-fs), starts the
# throwaway services on loopback, then runs the unit and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start
eval "$(scripts/services.sh env)"
# Two test threads: the machine has two cores and each test also runs binlake processes.
cargo test --locked --all-targets -- --test-threads 2
