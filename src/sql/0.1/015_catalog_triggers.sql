
-- ---------------------------------------------------------------------------
-- Every backend keeps the LOCALITY catalog in memory (src/shim/catalog.c).
-- A change to either table sends a relcache invalidation of it, so this
-- backend rebuilds its copy at its next command and every other backend
-- once the change commits.  ENABLE ALWAYS: also when a replication or
-- propagation session runs with session_replication_role = replica.
-- ---------------------------------------------------------------------------

CREATE FUNCTION locality._catalog_changed() RETURNS trigger
    LANGUAGE C AS 'MODULE_PATHNAME', 'locality_catalog_changed';
REVOKE ALL ON FUNCTION locality._catalog_changed() FROM PUBLIC;

CREATE TRIGGER region_catalog_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON locality.region_catalog
    FOR EACH STATEMENT EXECUTE FUNCTION locality._catalog_changed();
ALTER TABLE locality.region_catalog ENABLE ALWAYS TRIGGER region_catalog_changed;

CREATE TRIGGER table_catalog_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON locality.table_catalog
    FOR EACH STATEMENT EXECUTE FUNCTION locality._catalog_changed();
ALTER TABLE locality.table_catalog ENABLE ALWAYS TRIGGER table_catalog_changed;
