
-- ---------------------------------------------------------------------------
-- Conflict resolution on GLOBAL tables (SPEC.md section 5, docs/conflicts.md;
-- src/shim/stamps.c, src/shim/merge_function.c, apply.c).
-- ---------------------------------------------------------------------------

-- The hybrid-logical-clock stamp of every transaction that wrote a GLOBAL
-- table here: local commits (stamped at pre-commit) and applied remote
-- transactions (the origin's stamp).  Keyed by the full transaction id of
-- the writer (and of its committed subtransactions), so the apply worker
-- finds the stamp of a local row version from its xmin, and the output
-- plugin the stamp it sends in BEGIN.
CREATE TABLE locality.commit_stamps (
    xid        bigint      PRIMARY KEY,   -- FullTransactionId
    hlc        bigint      NOT NULL,
    region_id  smallint    NOT NULL,
    at         timestamptz NOT NULL
);
REVOKE ALL ON locality.commit_stamps FROM PUBLIC;

-- A deleted row of a GLOBAL table: its key (the replica identity columns'
-- text forms, as a JSON array) and the transaction that deleted it, whose
-- stamp is in commit_stamps.  A concurrent remote write that arrives after
-- the delete is decided against it instead of resurrecting the row.
CREATE TABLE locality.tombstones (
    relid      oid         NOT NULL,
    key        text        NOT NULL,
    xid        bigint      NOT NULL,
    -- last_write_wins_column: the deleted row's values (text forms, by
    -- attnum) and the writers of its columns, so a later update of some
    -- columns brings the row back whole, as on the regions that kept it.
    row_values text[],
    column_xids bigint[],
    PRIMARY KEY (relid, key)
);
REVOKE ALL ON locality.tombstones FROM PUBLIC;

-- A row version whose stamp is not its writer's: an applied write that lost
-- to the local row but changed its merged (CRDT) columns keeps the local
-- row's stamp, so the row never looks older than the write that won.
CREATE TABLE locality.row_stamps (
    relid      oid         NOT NULL,
    key        text        NOT NULL,
    xid        bigint      NOT NULL,   -- the version it holds for
    hlc        bigint      NOT NULL,
    region_id  smallint    NOT NULL,
    PRIMARY KEY (relid, key)
);
REVOKE ALL ON locality.row_stamps FROM PUBLIC;

-- last_write_wins_column: which transaction last wrote each column of a row
-- (xids[attnum], full transaction ids whose stamps are in commit_stamps),
-- valid for the row version written by row_xid only.  Kept for tables in
-- that mode: by an internal BEFORE UPDATE row trigger for local updates,
-- by the apply worker for applied ones; the output plugin sends only the
-- columns the transaction wrote (the others as unchanged).
CREATE TABLE locality.column_versions (
    relid      oid         NOT NULL,
    key        text        NOT NULL,
    row_xid    bigint      NOT NULL,
    xids       bigint[]    NOT NULL,
    PRIMARY KEY (relid, key)
);
REVOKE ALL ON locality.column_versions FROM PUBLIC;

CREATE FUNCTION locality._global_update_columns() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'locality_global_update_columns';

-- Stamps and tombstones are needed while a change concurrent with them can
-- still arrive; locality.stamp_retention (default 1 day) bounds how long
-- they are kept.  The apply workers call this once a minute.
CREATE FUNCTION locality.cleanup_conflict_state(older_than interval) RETURNS bigint
    LANGUAGE sql AS $$
    WITH old AS (
        DELETE FROM locality.commit_stamps
         WHERE at < pg_catalog.now() - older_than
        RETURNING xid
    ), gone AS (
        DELETE FROM locality.tombstones t USING old WHERE t.xid = old.xid RETURNING 1
    ), kept AS (
        DELETE FROM locality.row_stamps r USING old WHERE r.xid = old.xid RETURNING 1
    ), versions AS (
        DELETE FROM locality.column_versions v USING old WHERE v.row_xid = old.xid RETURNING 1
    )
    SELECT (SELECT pg_catalog.count(*) FROM old) + (SELECT pg_catalog.count(*) FROM gone)
         + (SELECT pg_catalog.count(*) FROM kept) + (SELECT pg_catalog.count(*) FROM versions)
$$;
REVOKE ALL ON FUNCTION locality.cleanup_conflict_state(interval) FROM PUBLIC;

-- Internal triggers on GLOBAL tables (created by set_locality): mark the
-- transaction for a stamp, and record tombstones.
CREATE FUNCTION locality._global_write() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'locality_global_write';
CREATE FUNCTION locality._global_delete() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'locality_global_delete';

-- The clock, for tests and operators: this server's last stamp.
CREATE FUNCTION locality.hlc_now() RETURNS bigint
    LANGUAGE C STRICT AS 'MODULE_PATHNAME', 'locality_hlc_current';

-- Both sides' stamps of a logged conflict.
ALTER TABLE locality.conflicts ADD COLUMN local_hlc bigint, ADD COLUMN remote_hlc bigint;

-- Merge functions: fn(local, remote) gives the value of col when a remote
-- write meets a local row, like a CRDT column.
CREATE TABLE locality.merge_functions (
    relid      oid         NOT NULL,
    attname    name        NOT NULL,
    fn         regprocedure NOT NULL,
    PRIMARY KEY (relid, attname)
);
SELECT pg_catalog.pg_extension_config_dump('locality.merge_functions', '');
REVOKE ALL ON locality.merge_functions FROM PUBLIC;
GRANT SELECT ON locality.merge_functions TO PUBLIC;

CREATE FUNCTION locality.set_merge_function(tbl regclass, col name, fn regprocedure)
    RETURNS void
    LANGUAGE C AS 'MODULE_PATHNAME', 'locality_set_merge_function';
