
-- ---------------------------------------------------------------------------
-- locality.regions: the regions, in the order they were added (the order
-- locality.region values sort in).  Readable by everyone; conninfo stays in
-- region_catalog, readable only by roles that may change regions.
-- ---------------------------------------------------------------------------

CREATE VIEW locality.regions AS
    SELECT locality._region_from_id(c.id) AS region,
           c.is_primary,
           c.name = pg_catalog.current_setting('locality.region', true) AS is_local,
           c.id,
           c.added_at
      FROM locality.region_catalog c
     ORDER BY c.id;
GRANT SELECT ON locality.regions TO PUBLIC;
