-- The demo's sample shop database (in the spirit of the DMS + Glue sample in the seeds).
-- Portable between MariaDB and MySQL 8: used by scripts/demo.sh and by docker/.
DROP DATABASE IF EXISTS dmsdemo;
DROP DATABASE IF EXISTS demo_util;
CREATE DATABASE demo_util;
CREATE TABLE demo_util.digits (d INT PRIMARY KEY);
INSERT INTO demo_util.digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
CREATE VIEW demo_util.numbers AS
  SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 1 AS n
  FROM demo_util.digits a, demo_util.digits b, demo_util.digits c, demo_util.digits e, demo_util.digits f;

CREATE DATABASE dmsdemo;
USE dmsdemo;
CREATE TABLE product (id INT PRIMARY KEY, name VARCHAR(100), dept VARCHAR(50), category VARCHAR(50),
  price DECIMAL(10,2), updated_at DATETIME(3) DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3));
CREATE TABLE store (id INT PRIMARY KEY, address VARCHAR(100), city VARCHAR(50), state CHAR(2), country CHAR(2), zip VARCHAR(10));
CREATE TABLE productorder (id INT AUTO_INCREMENT PRIMARY KEY, productid INT, storeid INT, quantity INT, orderdate DATE);
INSERT INTO product (id, name, dept, category, price)
  SELECT 1000 + n, CONCAT('Product ', n), ELT(1 + n % 3, 'Home', 'Garden', 'Toys'), ELT(1 + n % 4, 'A', 'B', 'C', 'D'), 5 + (n % 97) * 1.25
  FROM demo_util.numbers WHERE n <= 500;
INSERT INTO store SELECT 1000 + n, CONCAT(n, ' Main St.'), 'Springfield', 'IL', 'US', LPAD(62700 + n, 5, '0')
  FROM demo_util.numbers WHERE n <= 8;
CREATE PROCEDURE loadorders(n INT, d DATE)
  INSERT INTO productorder (productid, storeid, quantity, orderdate)
  SELECT 1001 + FLOOR(RAND() * 500), 1001 + FLOOR(RAND() * 8), 1 + FLOOR(RAND() * 5), d FROM demo_util.numbers LIMIT n;
CALL loadorders(10000, CURRENT_DATE - INTERVAL 1 DAY);
