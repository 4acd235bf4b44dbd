-- ---------------------------------------------------------------------------
-- Backup and restore (docs/operations.md).  pg_dump keeps the catalog's
-- rows but not the internal triggers of managed tables; a restore gives
-- each table its triggers back at its first post-data step (its primary
-- key), and this function does it for every managed table still without
-- them (a restore that skipped the post-data section).  Returns how many
-- tables it changed.
-- ---------------------------------------------------------------------------
CREATE FUNCTION locality.finish_restore() RETURNS integer
    LANGUAGE C STRICT VOLATILE AS 'MODULE_PATHNAME', 'locality_finish_restore';
REVOKE ALL ON FUNCTION locality.finish_restore() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION locality.finish_restore() TO locality_admin;
