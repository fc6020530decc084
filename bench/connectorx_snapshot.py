"""The snapshot peer: ConnectorX reads a whole table into Arrow, pyarrow writes it as one
Snappy Parquet file (DMS's LOAD file shape, as binlake writes it). Prints the row count.

Usage: connectorx_snapshot.py URL TABLE OUT.parquet [PARTITIONS]
  PARTITIONS > 1 has ConnectorX read key ranges on that many connections at once.
"""

import sys

import connectorx as cx
import pyarrow.parquet as pq

url, table, out = sys.argv[1:4]
partitions = int(sys.argv[4]) if len(sys.argv) > 4 else 1
query = f"SELECT * FROM {table}"
if partitions > 1:
    data = cx.read_sql(url, query, return_type="arrow", partition_on="id", partition_num=partitions)
else:
    data = cx.read_sql(url, query, return_type="arrow")
pq.write_table(data, out, compression="snappy")
print(data.num_rows)
