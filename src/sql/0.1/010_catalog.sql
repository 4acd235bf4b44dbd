
-- ---------------------------------------------------------------------------
-- The LOCALITY catalog (SPEC.md sections 2 and 3).  Every region holds the
-- same rows: changes are applied on every region in one distributed
-- transaction (src/shim/dist_xact.c).  Read through the views
-- locality.regions and locality.tables; conninfo is only readable by roles
-- that may change regions.
-- ---------------------------------------------------------------------------

-- Roles that may add, drop and re-prioritise regions (besides superusers).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'locality_admin') THEN
        CREATE ROLE locality_admin NOLOGIN;
    END IF;
END
$$;

-- Regions: id is the compact, stable value stored by the locality.region type.
CREATE TABLE locality.region_catalog (
    id          smallint    PRIMARY KEY CHECK (id > 0),
    name        text        NOT NULL UNIQUE
                            CHECK (name ~ '^[a-z][a-z0-9-]{0,62}$'),
    conninfo    text        NOT NULL,
    is_primary  boolean     NOT NULL DEFAULT false,
    added_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
-- At most one primary region.
CREATE UNIQUE INDEX region_catalog_one_primary
    ON locality.region_catalog (is_primary) WHERE is_primary;

-- Managed tables.  A table not listed here is an ordinary local table.
CREATE TABLE locality.table_catalog (
    relid               regclass PRIMARY KEY,
    kind                text     NOT NULL
                        CHECK (kind IN ('GLOBAL', 'REGIONAL BY TABLE', 'REGIONAL BY ROW')),
    -- REGIONAL BY TABLE IN <region>; NULL follows the primary region.
    home_region         smallint REFERENCES locality.region_catalog (id),
    -- REGIONAL BY ROW: the locality.region column, and whether we added it.
    region_column       name,
    column_added        boolean  NOT NULL DEFAULT false,
    conflict_resolution text     NOT NULL DEFAULT 'last_write_wins'
                        CHECK (conflict_resolution IN ('last_write_wins', 'last_write_wins_column',
                                                       'keep_local', 'apply_remote', 'error')),
    CHECK ((kind = 'REGIONAL BY ROW') = (region_column IS NOT NULL)),
    CHECK (kind = 'REGIONAL BY TABLE' OR home_region IS NULL)
);

-- pg_dump keeps the catalog's rows.
SELECT pg_catalog.pg_extension_config_dump('locality.region_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('locality.table_catalog', '');

REVOKE ALL ON locality.region_catalog, locality.table_catalog FROM PUBLIC;
GRANT SELECT ON locality.region_catalog TO locality_admin;
GRANT USAGE ON SCHEMA locality TO PUBLIC;

-- Distributed transactions this server committed (or is committing): a
-- row here, committed with the local transaction, is the decision to
-- COMMIT PREPARED its gid on region_id.  The recovery step
-- (locality.recover_prepared_transactions) commits prepared transactions
-- that have a row, rolls back those whose coordinator ended without one,
-- and removes rows whose prepared transaction is gone.
CREATE TABLE locality.dist_transactions (
    gid         text        NOT NULL,
    region_id   smallint    NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (gid, region_id)
);
REVOKE ALL ON locality.dist_transactions FROM PUBLIC;

-- The cluster's secret: sessions a region opens on another present it, so
-- only they are believed to apply another region's work (peer_secret.c).
-- Readable by the extension's owner only.
CREATE TABLE locality.peer_secret (
    secret text NOT NULL
);
SELECT pg_catalog.pg_extension_config_dump('locality.peer_secret', '');
REVOKE ALL ON locality.peer_secret FROM PUBLIC;
