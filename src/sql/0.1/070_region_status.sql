
-- ---------------------------------------------------------------------------
-- locality.region_status: can this server reach each region?  (SPEC.md
-- section 6; src/shim/breaker.c.)  One row per region: this server's own
-- region is always reachable and has no breaker; another region is
-- reachable while its circuit breaker is closed.  rtt_ms is the round trip
-- of the last successful call to it (remote execution included), last_error
-- the last call that could not reach it.  Figures are kept in shared memory
-- since the server started.
-- ---------------------------------------------------------------------------

CREATE FUNCTION locality._region_status(
    OUT region text, OUT breaker text, OUT rtt_ms double precision,
    OUT last_error text, OUT last_error_at timestamptz)
    RETURNS SETOF record
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_region_status';

CREATE VIEW locality.region_status AS
    SELECT r.region,
           r.is_local OR coalesce(s.breaker, 'closed') = 'closed' AS reachable,
           CASE WHEN NOT r.is_local THEN coalesce(s.breaker, 'closed') END AS breaker,
           CASE WHEN NOT r.is_local THEN s.rtt_ms END AS rtt_ms,
           CASE WHEN NOT r.is_local THEN s.last_error END AS last_error,
           CASE WHEN NOT r.is_local THEN s.last_error_at END AS last_error_at
      FROM locality.regions r
      LEFT JOIN locality._region_status() s ON s.region = r.region::text
     ORDER BY r.id;
GRANT SELECT ON locality.region_status TO PUBLIC;
