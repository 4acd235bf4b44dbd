-- This server's region, from locality.region (the temp instance runs as
-- region "regress-test"; see Makefile, target regress).
CREATE EXTENSION pg_locality;
SELECT locality.gateway_region();
SHOW locality.region;
-- locality.region is fixed at server start.
SET locality.region = 'eu-west1';
-- The extension lives in schema locality and cannot be moved.
SELECT extname, extversion, extnamespace::regnamespace, extrelocatable
  FROM pg_extension WHERE extname = 'pg_locality';
