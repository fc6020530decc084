#!/usr/bin/env bash
# The local demo on the embedded defaults: a binlog-enabled MariaDB on 127.0.0.1:3307, a lake
# in ./demo/lake (a local directory) and the state in ./demo/binlake.db (SQLite).
#   1. creates the sample shop database (product, store, productorder) and fills it,
#   2. binlake takes the full load and catches up,
#   3. the seed's incremental script changes data,
#   4. binlake resumes from its checkpoint and writes CDC files,
#   5. prints the files, the status and the CDC rows.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start mariadb
source_url=mysql://binlake:binlake@127.0.0.1:3307
sql() { mariadb --protocol=TCP -h127.0.0.1 -P3307 -ubinlake -pbinlake "$@"; }

echo "== 1. sample database 'dmsdemo'"
sql -e "
DROP DATABASE IF EXISTS dmsdemo; CREATE DATABASE dmsdemo; USE dmsdemo;
CREATE TABLE product (id INT PRIMARY KEY, name VARCHAR(100), dept VARCHAR(50), category VARCHAR(50), price DECIMAL(10,2), updated_at DATETIME(3) DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3));
CREATE TABLE store (id INT PRIMARY KEY, address VARCHAR(100), city VARCHAR(50), state CHAR(2), country CHAR(2), zip VARCHAR(10));
CREATE TABLE productorder (id INT AUTO_INCREMENT PRIMARY KEY, productid INT, storeid INT, quantity INT, orderdate DATE);
INSERT INTO product (id, name, dept, category, price)
  SELECT 1000 + seq, CONCAT('Product ', seq), ELT(1 + seq % 3, 'Home', 'Garden', 'Toys'), ELT(1 + seq % 4, 'A', 'B', 'C', 'D'), 5 + (seq % 97) * 1.25 FROM seq_1_to_500;
INSERT INTO store SELECT 1000 + seq, CONCAT(seq, ' Main St.'), 'Springfield', 'IL', 'US', LPAD(62700 + seq, 5, '0') FROM seq_1_to_8;
CREATE PROCEDURE loadorders(n INT, d DATE)
  INSERT INTO productorder (productid, storeid, quantity, orderdate)
  SELECT 1001 + FLOOR(RAND() * 500), 1001 + FLOOR(RAND() * 8), 1 + FLOOR(RAND() * 5), d FROM seq_1_to_100000 LIMIT n;
CALL loadorders(10000, CURRENT_DATE - INTERVAL 1 DAY);"

mkdir -p demo
rm -rf demo/lake demo/binlake.db*
binlake() { cargo run --quiet --release -- "$@"; }

echo "== 2. full load and catch-up"
binlake run --source "$source_url" --target demo/lake --state demo/binlake.db --tables 'dmsdemo.*' --until caught-up

echo "== 3. the seed's incremental script"
sql dmsdemo -e "
update product set name = 'Sample Product', dept = 'Sample Dept', category = 'Sample Category' where id = 1001;
delete from product where id = 1002;
call loadorders(1345, current_date);
insert into store values(1009, '125 Technology Dr.', 'Irvine', 'CA', 'US', '92618');"

echo "== 4. resume from the checkpoint"
binlake run --source "$source_url" --target demo/lake --state demo/binlake.db --tables 'dmsdemo.*' --until caught-up

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
