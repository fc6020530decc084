-- The last CDC key issued for each table, committed or not. New CDC names must sort after
-- every name ever issued, also after a pending file was deleted and forgotten, and whatever
-- the date folders in front of the names (DDMMYYYY folders do not sort by time).
ALTER TABLE tables ADD COLUMN last_cdc_key TEXT;

-- Names are issued in increasing order, so the newest CDC file of a table holds the last one.
UPDATE tables SET last_cdc_key = (
    SELECT f.key FROM files f
    WHERE f.database_name = tables.database_name AND f.table_name = tables.table_name AND f.kind = 'CDC'
    ORDER BY f.rowid DESC LIMIT 1
);

-- binlake's sequence column starts with this number, raised whenever streaming resumes by
-- GTID (on another server, or after RESET MASTER): that server's binlog positions may be
-- lower than the ones before, and the sequence must still increase.
ALTER TABLE checkpoint ADD COLUMN sequence_epoch INTEGER NOT NULL DEFAULT 0;
