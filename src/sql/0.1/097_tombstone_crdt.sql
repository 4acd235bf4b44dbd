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

-- The per-column join of two such states (tombstones.c): a tombstone's state
-- is merged in the statement that writes it, on its row's latest version.
CREATE FUNCTION locality._merge_crdt_values(relid oid, a bytea[], b bytea[]) RETURNS bytea[]
    LANGUAGE C AS 'MODULE_PATHNAME', 'locality_merge_crdt_values';
