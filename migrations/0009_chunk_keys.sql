-- A chunk's range is of its table's chunk key: the primary key's columns (or the first of
-- them) with how binlake orders each, as JSON. NULL for chunks of loads begun before it was
-- recorded: those are of the primary key's first column, an integer.
ALTER TABLE load_chunks ADD COLUMN chunk_key TEXT;
