-- Positions as a binlog file and an offset, not "file:offset" text; the order of the files
-- as an explicit sequence, not SQLite's rowid.
ALTER TABLE files ADD COLUMN sequence INTEGER;
ALTER TABLE files ADD COLUMN first_file TEXT;
ALTER TABLE files ADD COLUMN first_offset INTEGER;
ALTER TABLE files ADD COLUMN last_file TEXT;
ALTER TABLE files ADD COLUMN last_offset INTEGER;

UPDATE files SET sequence = rowid;
-- The offset is the digits after the last ':' (a file name may hold one).
UPDATE files SET
    first_file = substr(first_position, 1, length(rtrim(first_position, '0123456789')) - 1),
    first_offset = CAST(substr(first_position, length(rtrim(first_position, '0123456789')) + 1) AS INTEGER)
WHERE first_position IS NOT NULL;
UPDATE files SET
    last_file = substr(last_position, 1, length(rtrim(last_position, '0123456789')) - 1),
    last_offset = CAST(substr(last_position, length(rtrim(last_position, '0123456789')) + 1) AS INTEGER)
WHERE last_position IS NOT NULL;

ALTER TABLE files DROP COLUMN first_position;
ALTER TABLE files DROP COLUMN last_position;
CREATE UNIQUE INDEX files_by_sequence ON files (sequence);
