
-- ---------------------------------------------------------------------------
-- The end of this server's WAL as other regions' waiters need it, flushed
-- (src/shim/replication_control.c locality_wal_end, LOCALITY_WAL_END_SQL):
-- called over forwarding connections, as any role.
-- ---------------------------------------------------------------------------

CREATE FUNCTION locality._wal_end() RETURNS pg_lsn
    LANGUAGE C VOLATILE AS 'MODULE_PATHNAME', 'locality_wal_end';
