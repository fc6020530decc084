"""The snapshot peer: ConnectorX reads a whole table into Arrow, pyarrow writes it as one
Snappy Parquet file (DMS's LOAD file shape, as binlake writes it). Prints the row count.

Usage: connectorx_snapshot.py URL TABLE OUT.parquet [PARTITIONS]
  PARTITIONS > 1 has ConnectorX read key ranges on that many connections at once.
  OUT may be s3://bucket/key: written to the S3 server of AWS_ENDPOINT_URL with the AWS_*
  credentials.
"""

import os
import sys

import connectorx as cx
import pyarrow.parquet as pq
from pyarrow import fs

url, table, out = sys.argv[1:4]
partitions = int(sys.argv[4]) if len(sys.argv) > 4 else 1
query = f"SELECT * FROM {table}"
if partitions > 1:
    data = cx.read_sql(url, query, return_type="arrow", partition_on="id", partition_num=partitions)
else:
    data = cx.read_sql(url, query, return_type="arrow")
filesystem = None
if out.startswith("s3://"):
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    filesystem = fs.S3FileSystem(
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region=os.environ.get("AWS_REGION", "us-east-1"),
        endpoint_override=endpoint.split("://", 1)[1],
        scheme=endpoint.split("://", 1)[0],
    )
    out = out.removeprefix("s3://")
pq.write_table(data, out, compression="snappy", filesystem=filesystem)
print(data.num_rows)
