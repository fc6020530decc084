-- binlake state store. The commit point of the pipeline is one transaction over these tables.

-- Who runs the pipeline on this state: one binlake at a time.
CREATE TABLE lease (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    owner TEXT NOT NULL,
    expires_at INTEGER NOT NULL -- unix seconds
);

-- Where streaming resumes: a transaction boundary whose earlier changes are all in
-- committed files (or were skipped as not selected).
CREATE TABLE checkpoint (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    source TEXT NOT NULL,
    binlog_file TEXT NOT NULL,
    binlog_offset INTEGER NOT NULL,
    gtid TEXT,
    committed_at TEXT NOT NULL
);

-- One row per replicated table.
CREATE TABLE tables (
    database_name TEXT NOT NULL,
    table_name TEXT NOT NULL,
    phase TEXT NOT NULL,            -- loading | streaming
    snapshot_file TEXT,             -- LOAD files hold the table as of this position
    snapshot_offset INTEGER,
    rows_loaded INTEGER NOT NULL DEFAULT 0,
    load_files INTEGER NOT NULL DEFAULT 0,
    cdc_files INTEGER NOT NULL DEFAULT 0,
    cdc_rows INTEGER NOT NULL DEFAULT 0,
    last_commit_at TEXT,
    PRIMARY KEY (database_name, table_name)
);

-- The file manifest. A file is recorded as pending before its upload starts; the commit
-- transaction marks it committed. Pending files found at start-up were never committed:
-- they are deleted from the target before anything else happens.
CREATE TABLE files (
    key TEXT PRIMARY KEY,
    database_name TEXT NOT NULL,
    table_name TEXT NOT NULL,
    kind TEXT NOT NULL,             -- LOAD | CDC
    status TEXT NOT NULL,           -- pending | committed
    rows INTEGER,
    bytes INTEGER,
    first_position TEXT,            -- binlog position of the first row (CDC)
    last_position TEXT,             -- position the file is complete up to
    created_at TEXT NOT NULL,
    committed_at TEXT
);
CREATE INDEX files_by_table ON files (database_name, table_name, kind, key);
