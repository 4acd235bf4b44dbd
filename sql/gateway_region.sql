-- This server's region, from locality.region (the temp instance runs as
-- region "regress-test"; see Makefile, target regress).
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_locality CASCADE;
CREATE EXTENSION pg_locality;
RESET client_min_messages;
SHOW locality.region;
-- locality.region is fixed at server start.
SET locality.region = 'eu-west1';
-- The extension lives in schema locality and cannot be moved.
SELECT extname, extversion, extnamespace::regnamespace, extrelocatable
  FROM pg_extension WHERE extname = 'pg_locality';

-- gateway_region() is the catalog's entry for locality.region: until this
-- server's region has been added it fails with 55000 and says what to do.
SELECT count(*) AS regions FROM locality.region_catalog;
SELECT locality.gateway_region();
\echo SQLSTATE :SQLSTATE

-- Add it (directly: add_region would also connect to the conninfo).
INSERT INTO locality.region_catalog (id, name, conninfo, is_primary)
VALUES (1, 'regress-test', 'dbname=contrib_regression', true);
SELECT locality.gateway_region();
SELECT pg_typeof(locality.gateway_region());
SELECT region, is_primary, is_local, id FROM locality.regions;

-- It is the default of REGIONAL BY ROW region columns.
CREATE TABLE gateway_rows (id int PRIMARY KEY,
                           region locality.region NOT NULL DEFAULT locality.gateway_region());
INSERT INTO gateway_rows (id) VALUES (1);
SELECT * FROM gateway_rows;

DROP TABLE gateway_rows;
DELETE FROM locality.region_catalog;
