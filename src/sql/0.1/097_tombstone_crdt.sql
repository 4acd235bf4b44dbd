-- The CRDT state a deleted row's key keeps (docs/conflicts.md section 5):
-- per column (by attnum, NULL for other columns), the state of the
-- locality.gcounter / pncounter / orset column with what the delete
-- observed reset, merged with every later write that did not bring the row
-- back.  An INSERT of the key continues it; a write that brings the row
-- back merges it.  The output plugin sends it with the DELETE, so every
-- region resets exactly what the deleting region had observed.
ALTER TABLE locality.tombstones ADD COLUMN crdt_values bytea[];

-- The row trigger of local INSERTs into GLOBAL tables (global_triggers.c).
CREATE FUNCTION locality._global_insert() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'locality_global_insert';
