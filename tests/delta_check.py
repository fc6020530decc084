"""Reads a merged table with the `deltalake` Python package (delta-rs's own reader, independent
of binlake's writer) and prints its rows as JSON text, ordered by the first column, formatted
as MariaDB prints them: the integration tests compare them with SELECT.

Usage: delta_check.py TABLE_URI   (s3:// URIs use AWS_ENDPOINT_URL and the AWS_* variables)
"""

import datetime
import decimal
import json
import os
import sys

from deltalake import DeltaTable


def text(value):
    if value is None:
        return "NULL"
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    return str(value)


def main():
    uri = sys.argv[1]
    options = {}
    if uri.startswith("s3://"):
        options = {
            "AWS_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
            "AWS_ACCESS_KEY_ID": os.environ["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": os.environ["AWS_SECRET_ACCESS_KEY"],
            "AWS_REGION": os.environ.get("AWS_REGION", "us-east-1"),
            "AWS_ALLOW_HTTP": "true",
            "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
        }
    table = DeltaTable(uri, storage_options=options)
    rows = table.to_pyarrow_table().to_pylist()
    names = [f.name for f in table.schema().fields]
    out = [[text(row[n]) for n in names] for row in rows]
    out.sort(key=lambda r: (int(r[0]), r[1:]))
    json.dump(out, sys.stdout)
    sys.stdout.flush()
    # Leave without the interpreter's teardown: the deltalake package's background runtime
    # sometimes aborts while being torn down ("terminate called without an active exception")
    # after everything was read and printed.
    os._exit(0)


if __name__ == "__main__":
    main()
