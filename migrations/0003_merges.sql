-- Progress of the merger, one row per merged table. A merge is recorded as pending before its
-- Delta commit and as done after it; the Delta table's own transaction number (appId
-- "binlake") tells, after a crash between the two, whether the pending merge committed.
CREATE TABLE merges (
    table_url TEXT PRIMARY KEY,
    database_name TEXT NOT NULL,
    table_name TEXT NOT NULL,
    merge_number INTEGER NOT NULL DEFAULT 0,
    through_order TEXT,             -- the last input file merged (its sort key)
    through_kind TEXT,              -- LOAD | CDC
    pending_number INTEGER,
    pending_order TEXT,
    pending_kind TEXT,
    input_files INTEGER NOT NULL DEFAULT 0,
    merged_at TEXT
);

-- The old key of every update that changed a primary key, by CDC file and row: the files
-- carry only the new row (as DMS writes them), the merger needs the old key to remove it.
-- Written in the same transaction that commits the file.
CREATE TABLE key_moves (
    file_key TEXT NOT NULL,
    row_number INTEGER NOT NULL,    -- 0-based row of the file
    old_key TEXT NOT NULL,          -- the key's cells, as JSON
    PRIMARY KEY (file_key, row_number)
);
