
-- ---------------------------------------------------------------------------
-- Table localities (SPEC.md section 3; src/shim/table_locality.c, ddl.c).
-- ALTER TABLE t SET (locality = '...') and CREATE TABLE t (...) WITH
-- (locality = '...') are intercepted by pg_locality's ProcessUtility hook and
-- take the same path as locality.set_locality().
-- ---------------------------------------------------------------------------

-- Gives a table a locality (and sends the change to every region).
CREATE FUNCTION locality.set_locality(tbl regclass, locality text) RETURNS void
    LANGUAGE C AS 'MODULE_PATHNAME', 'locality_set_locality';

-- CockroachDB's multi-region DDL: ALTER TABLE ... SET LOCALITY, ALTER
-- DATABASE ... ADD/DROP REGION, ALTER DATABASE ... [SET] PRIMARY REGION.
CREATE FUNCTION locality.execute(statement text) RETURNS void
    LANGUAGE C AS 'MODULE_PATHNAME', 'locality_execute';

-- Internal: sent ahead of a propagated locality change, so every region
-- homes existing rows in the region that ran it and keeps the table's
-- sequences above the values handed out there.
CREATE FUNCTION locality._ddl_context(origin_region text, sequence_floor bigint) RETURNS void
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_ddl_context';

-- Internal: moves a managed table's sequences into this region's residue
-- class (values congruent to the region id modulo 64) above sequence_floor.
CREATE FUNCTION locality._align_sequences(tbl regclass, sequence_floor bigint) RETURNS bigint
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_align_sequences';

-- The canonical text of a catalog row's locality.
CREATE FUNCTION locality._locality_text(kind text, home_region text, region_column name)
    RETURNS text
    LANGUAGE C IMMUTABLE PARALLEL SAFE AS 'MODULE_PATHNAME', 'locality_locality_text';

-- Managed tables.  home_region: where a REGIONAL BY TABLE table's rows are
-- written (the primary region for IN PRIMARY REGION); NULL otherwise.
CREATE VIEW locality.tables AS
SELECT t.relid AS table_name,
       locality._locality_text(t.kind, h.name, t.region_column) AS locality,
       CASE WHEN t.kind = 'REGIONAL BY TABLE'
            THEN coalesce(h.name, p.name)::locality.region END AS home_region,
       t.region_column,
       t.conflict_resolution
  FROM locality.table_catalog t
  LEFT JOIN locality.region_catalog h ON h.id = t.home_region
  LEFT JOIN locality.region_catalog p ON p.is_primary;

GRANT SELECT ON locality.tables TO PUBLIC;
