-- The replication user binlake needs (see README: Source).
CREATE USER 'binlake'@'%' IDENTIFIED WITH mysql_native_password BY 'binlake';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT, LOCK TABLES ON *.* TO 'binlake'@'%';
