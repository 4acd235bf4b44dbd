
-- ---------------------------------------------------------------------------
-- Replication status and control (SPEC.md section 6; src/shim/replication_control.c).
-- ---------------------------------------------------------------------------

CREATE FUNCTION locality._replication_status(
    OUT source_region text, OUT target_region text, OUT state text,
    OUT received_lsn pg_lsn, OUT applied_lsn pg_lsn, OUT lag_bytes bigint,
    OUT lag interval, OUT last_commit_time timestamptz, OUT last_error text)
    RETURNS SETOF record
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_replication_status';

CREATE VIEW locality.replication_status AS
    SELECT * FROM locality._replication_status();

CREATE FUNCTION locality.pause_replication(source_region text) RETURNS void
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_pause_replication';
CREATE FUNCTION locality.resume_replication(source_region text) RETURNS void
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_resume_replication';
CREATE FUNCTION locality.wait_for_replication(source_region text DEFAULT NULL,
                                              timeout interval DEFAULT '30s')
    RETURNS boolean
    LANGUAGE C AS 'MODULE_PATHNAME', 'locality_wait_for_replication';

GRANT SELECT ON locality.replication_status TO PUBLIC;
REVOKE ALL ON FUNCTION locality.pause_replication(text), locality.resume_replication(text)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION locality.pause_replication(text), locality.resume_replication(text)
    TO locality_admin;

-- Conflicts met while applying other regions' changes (SPEC.md section 5).
CREATE TABLE locality.conflicts (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at                timestamptz NOT NULL DEFAULT pg_catalog.now(),
    table_name        regclass,
    kind              text        NOT NULL,
    resolution        text        NOT NULL,
    local_region      text,
    remote_region     text,
    local_tuple       jsonb,
    remote_tuple      jsonb,
    local_commit_ts   timestamptz,
    remote_commit_ts  timestamptz
);
REVOKE ALL ON locality.conflicts FROM PUBLIC;
GRANT SELECT ON locality.conflicts TO PUBLIC;

-- The output plugin reads the catalog under decoding's historic snapshot.
ALTER TABLE locality.table_catalog SET (user_catalog_table = true);
ALTER TABLE locality.region_catalog SET (user_catalog_table = true);

-- Initial sync: which tables were copied from which source, and from which
-- source LSN on the stream takes over (src/shim/initial_sync.c).
CREATE TABLE locality.sync_state (
    relid         regclass    NOT NULL,
    source_region text        NOT NULL,
    phase         text        NOT NULL CHECK (phase IN ('done')),
    sync_lsn      pg_lsn      NOT NULL,
    rows_copied   bigint      NOT NULL,
    synced_at     timestamptz NOT NULL,
    PRIMARY KEY (relid, source_region)
);
REVOKE ALL ON locality.sync_state FROM PUBLIC;

CREATE FUNCTION locality._sync_progress_live(
    OUT table_name text, OUT source_region text, OUT rows_copied bigint, OUT rows_estimate bigint)
    RETURNS SETOF record
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_sync_progress_live';

CREATE VIEW locality.sync_progress AS
    SELECT table_name::regclass AS table_name, source_region, 'copying'::text AS phase,
           rows_copied, rows_estimate
      FROM locality._sync_progress_live()
    UNION ALL
    SELECT relid, source_region, phase, rows_copied, rows_copied
      FROM locality.sync_state;
GRANT SELECT ON locality.sync_progress TO PUBLIC;
