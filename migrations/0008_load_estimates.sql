-- What `binlake status` shows of a full load in progress: the server's estimate of the table's
-- rows when its load was planned, and the chunks that makes.
ALTER TABLE tables ADD COLUMN estimated_rows INTEGER;
ALTER TABLE tables ADD COLUMN estimated_chunks INTEGER;
