-- pg_locality 0.1: CockroachDB-style table localities across one PostgreSQL
-- primary per region.  See docs/sql-reference.md.

\echo Use "CREATE EXTENSION pg_locality" to load this file. \quit

-- Refuse to install where pg_locality cannot run (55000 names the setting).
CREATE FUNCTION locality._check_prerequisites() RETURNS void
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_check_prerequisites';
SELECT locality._check_prerequisites();

