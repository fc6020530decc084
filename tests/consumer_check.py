"""Reads binlake's Parquet files with independent readers (pyarrow and DuckDB) and checks them
against a spec written by the type-matrix test (tests/it/types.rs): the Parquet schema the
DMS output contract asks for, the conventions of the real DMS sample file, and every value as
MySQL's own SELECT returned it.

Usage: python3 tests/consumer_check.py SPEC.json   (exit status 0 when everything holds)
"""

import datetime
import decimal
import json
import sys

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

failures = []


def check(ok, message):
    if not ok:
        failures.append(message)


def dms_conventions(path, first_required):
    """What the real DMS sample shows, as predicates any DMS-shaped file must satisfy:
    only the leading DMS columns (Op, the timestamp column) are required; decimals are
    FIXED_LEN_BYTE_ARRAY of the smallest width; timestamps are INT64 adjusted to UTC."""
    schema = pq.ParquetFile(path).schema
    for i in range(len(schema)):
        column = schema.column(i)
        required = column.max_definition_level == 0
        check(required == (i < first_required), f"{path}: {column.name} required={required}")
        logical = str(column.logical_type)
        if logical.startswith("Decimal"):
            check(column.physical_type == "FIXED_LEN_BYTE_ARRAY", f"{path}: {column.name} decimal as {column.physical_type}")
            check(column.length == smallest_decimal_width(column.precision), f"{path}: {column.name} width {column.length}")
        if logical.startswith("Timestamp"):
            check(column.physical_type == "INT64" and "isAdjustedToUTC=true" in logical, f"{path}: {column.name} {logical}")


def smallest_decimal_width(precision):
    width = 1
    while 10**precision > 2 ** (8 * width - 1):
        width += 1
    return width


def check_schema(path, spec_columns, leading):
    schema = pq.ParquetFile(path).schema
    names = [schema.column(i).name for i in range(len(schema))]
    check(names == leading + [c["name"] for c in spec_columns], f"{path}: columns {names}")
    for i, name in enumerate(leading):
        column = schema.column(i)
        check(
            column.physical_type == "BYTE_ARRAY" and str(column.logical_type) == "String" and column.max_definition_level == 0,
            f"{path}: {name} must be a required UTF8 string",
        )
    for offset, spec in enumerate(spec_columns):
        column = schema.column(len(leading) + offset)
        got = (column.physical_type, str(column.logical_type))
        check(got == (spec["physical"], spec["logical"]), f"{path}: {spec['name']} is {got}, contract says {(spec['physical'], spec['logical'])}")
        if spec["width"] is not None:
            check(column.length == spec["width"], f"{path}: {spec['name']} width {column.length}, expected {spec['width']}")
        check(column.max_definition_level == 1, f"{path}: source column {spec['name']} must be optional")


def canonical(column):
    """The test's canonical text of every value of an Arrow column (see types.rs)."""
    t = column.type
    if pa.types.is_timestamp(t):
        column = pc.cast(column.cast(pa.timestamp("us", tz=t.tz)), pa.int64())
    elif pa.types.is_date32(t):
        column = pc.cast(column, pa.int32())
    out = []
    for v in column.to_pylist():
        if v is None:
            out.append(None)
        elif isinstance(v, bool):
            out.append("true" if v else "false")
        elif isinstance(v, bytes):
            out.append(v.hex().upper())
        elif isinstance(v, decimal.Decimal):
            out.append(format(v, "f"))
        else:
            out.append(v if isinstance(v, (str, float)) else str(v))
    return out


def rows_of(table):
    columns = [canonical(table.column(i)) for i in range(table.num_columns)]
    return [list(r) for r in zip(*columns)] if columns else []


def compare(reader, path, actual, expected, float_columns):
    check(len(actual) == len(expected), f"{reader} {path}: {len(actual)} rows, expected {len(expected)}")
    for a, e in zip(actual, expected):
        for c, (x, y) in enumerate(zip(a, e)):
            same = float(x) == float(y) if (c in float_columns and x is not None and y is not None) else x == y
            if not same:
                short = lambda v: (repr(v[:80]) + f"... ({len(v)})") if isinstance(v, str) and len(v) > 80 else repr(v)
                check(False, f"{reader} {path}: row {e[0] if e else '?'} column {c}: {short(x)} vs MySQL {short(y)}")


def main():
    spec = json.load(open(sys.argv[1]))
    columns = spec["columns"]
    for kind, leading in (("load", []), ("cdc", ["Op"])):
        part = spec[kind]
        paths = part["files"] if kind == "cdc" else [part["file"]]
        floats = {i + len(leading) for i, c in enumerate(columns) if c["float"]}
        pyarrow_rows, duckdb_rows = [], []
        for path in paths:
            check_schema(path, columns, leading)
            dms_conventions(path, len(leading))
            pyarrow_rows += rows_of(pq.read_table(path))
            duckdb_rows += rows_of(duckdb.sql(f"SELECT * FROM read_parquet('{path}')").fetch_arrow_table())
        compare("pyarrow", kind, pyarrow_rows, part["rows"], floats)
        compare("duckdb", kind, duckdb_rows, part["rows"], floats)
    # The same conventions hold for the real DMS sample (its timestamp column leads).
    dms_conventions(spec["dms_sample"], 1)
    for f in failures:
        print(f)
    print(f"consumer check: {len(failures)} failure(s)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
