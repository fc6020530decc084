-- The schema of every replicated table at every binlog position where it changed (a DDL, or
-- the snapshot of a full load). A restart from an older checkpoint decodes the older events
-- with the schema they were written with.
CREATE TABLE schema_history (
    database_name TEXT NOT NULL,
    table_name TEXT NOT NULL,
    binlog_file TEXT NOT NULL,
    binlog_offset INTEGER NOT NULL,
    schema_json TEXT,               -- NULL: the table is gone from here on
    cause TEXT NOT NULL,            -- the DDL statement, or 'full load'
    renamed_columns TEXT,           -- columns the DDL renamed: [["old", "new"], ...]
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (database_name, table_name, binlog_file, binlog_offset)
);
