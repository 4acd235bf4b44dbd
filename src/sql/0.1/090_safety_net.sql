
-- ---------------------------------------------------------------------------
-- The row-level safety net (src/shim/safety_net.c, ARCHITECTURE.md's first
-- invariant).  pg_locality puts two internal triggers calling this function
-- on every REGIONAL BY ROW and REGIONAL BY TABLE table: a write of a row homed
-- in another region, or a TRUNCATE that would remove such rows, fails with
-- 55000.  Apply workers (session_replication_role = replica) do not fire them.
-- ---------------------------------------------------------------------------

CREATE FUNCTION locality._home_guard() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'locality_home_guard';
