-- `binlake reload` asks, the binlake that runs on the state (or the next one to run) loads the
-- tables anew: the command never changes a running binlake's tables under it.
CREATE TABLE reload_requests (
    database_name TEXT NOT NULL,
    table_name TEXT NOT NULL,
    requested_at TEXT NOT NULL,
    PRIMARY KEY (database_name, table_name)
);
