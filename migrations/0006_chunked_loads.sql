-- A full load is read in chunks (key ranges of the table's chunk key), each committed with its
-- LOAD files and the binlog position its rows are as of; a load interrupted midway goes on
-- with the chunks not yet committed. Each full load of a table is a generation: its LOAD files
-- carry it, so the merger tells the files of one load from those of a reload.
ALTER TABLE tables ADD COLUMN load_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN load_generation INTEGER;

CREATE TABLE load_chunks (
    database_name TEXT NOT NULL,
    table_name TEXT NOT NULL,
    generation INTEGER NOT NULL,
    key_from TEXT,                  -- the chunk key's range [key_from, key_to), decimal text;
    key_to TEXT,                    -- NULL: unbounded
    binlog_file TEXT NOT NULL,      -- the chunk's rows are the table's as of this position
    binlog_offset INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    columns TEXT NOT NULL,          -- the table's columns the chunk was read with
    committed_at TEXT NOT NULL
);
CREATE INDEX load_chunks_by_table ON load_chunks (database_name, table_name, generation);
