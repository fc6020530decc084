"""Offers bench.wide a steady insert load and measures, for every row, the time from its
COMMIT returning to the client to the commit of the CDC file that holds it (the file's
`committed_at` in binlake's state store: from then on a reader listing the folder sees it).

Every 10 ms one transaction inserts rate/100 new rows (ids from --first-id on); a tick that
falls behind is caught up at once, so the offered load holds. Then it waits for every inserted id to be in a committed CDC file and prints one JSON line:
{"rows", "offered_rows_per_s", "achieved_rows_per_s", "p50_s", "p99_s", "max_s"}.
A row missing from the files after --wait seconds is an error.

Usage: latency.py --insert SQL --rate ROWS_PER_S --seconds S --first-id N --state DB --files DIR
  SQL inserts the rows with ids FIRST to LAST (bench/lib.sh's wide_rows over seq_FIRST_to_LAST).
"""

import argparse
import datetime
import json
import os
import sqlite3
import sys
import time

import pyarrow.parquet as pq
import pymysql

TICK = 0.01


def drive(insert, rate, seconds, first_id):
    """Returns [(first id, last id, commit time)] of the transactions it committed."""
    db = pymysql.connect(host="127.0.0.1", port=3307, user="binlake", password="binlake", database="bench", autocommit=True)
    cur = db.cursor()
    per_tick = max(1, round(rate * TICK))
    ticks = round(seconds / TICK)
    commits = []
    next_id = first_id
    start = time.time()
    for k in range(ticks):
        wait = start + k * TICK - time.time()
        if wait > 0:
            time.sleep(wait)
        cur.execute(insert.replace("FIRST", str(next_id)).replace("LAST", str(next_id + per_tick - 1)))
        commits.append((next_id, next_id + per_tick - 1, time.time()))
        next_id += per_tick
    elapsed = time.time() - start
    db.close()
    return commits, elapsed


def committed_files(state, files_dir, seen):
    """{id: committed_at} of the rows of CDC files of bench.wide committed since the last call."""
    found = {}
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT key, committed_at FROM files WHERE kind = 'CDC' AND status = 'committed' "
        "AND database_name = 'bench' AND table_name = 'wide'"
    ).fetchall()
    db.close()
    for key, at in rows:
        if key in seen:
            continue
        seen.add(key)
        t = datetime.datetime.fromisoformat(at).timestamp()
        for i in pq.read_table(os.path.join(files_dir, key), columns=["id"]).column("id").to_pylist():
            found[i] = t
    return found


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--insert", required=True)
    a.add_argument("--rate", type=int, required=True)
    a.add_argument("--seconds", type=float, required=True)
    a.add_argument("--first-id", type=int, required=True)
    a.add_argument("--state", required=True)
    a.add_argument("--files", required=True)
    a.add_argument("--wait", type=float, default=15)
    args = a.parse_args()

    seen = set()
    committed_files(args.state, args.files, seen)  # files of earlier runs
    commits, elapsed = drive(args.insert, args.rate, args.seconds, args.first_id)
    rows = sum(last - first + 1 for first, last, _ in commits)
    in_files = {}
    deadline = time.time() + args.wait
    while len(in_files) < rows and time.time() < deadline:
        time.sleep(0.2)
        in_files.update(committed_files(args.state, args.files, seen))
    latencies = []
    missing = 0
    for first, last, committed in commits:
        for i in range(first, last + 1):
            if i in in_files:
                latencies.append(in_files[i] - committed)
            else:
                missing += 1
    if missing:
        sys.exit(f"latency.py: {missing} of {rows} rows are in no committed CDC file after {args.wait} s")
    latencies.sort()
    print(
        json.dumps(
            {
                "rows": rows,
                "offered_rows_per_s": args.rate,
                "achieved_rows_per_s": round(rows / elapsed),
                "p50_s": round(percentile(latencies, 0.50), 3),
                "p99_s": round(percentile(latencies, 0.99), 3),
                "max_s": round(latencies[-1], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
