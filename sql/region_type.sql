-- locality.region: a region name stored as its 2-byte id (SPEC.md sections
-- 2 and 4).  add_region is tested elsewhere: here the catalog rows are
-- inserted directly, as a superuser.  \echo SQLSTATE shows each error's code.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_locality CASCADE;
CREATE EXTENSION pg_locality;
RESET client_min_messages;

-- No region yet: every name is unknown, and the hint says what to do.
SELECT 'us-east1'::locality.region;
\echo SQLSTATE :SQLSTATE
SELECT locality.gateway_region();
\echo SQLSTATE :SQLSTATE

INSERT INTO locality.region_catalog (id, name, conninfo, is_primary) VALUES
    (1, 'regress-test', 'dbname=x', true),
    (2, 'us-east1', 'dbname=x', false),
    (3, 'eu-west1', 'dbname=x', false);

-- Text I/O round trip; a value takes 2 bytes.
SELECT 'us-east1'::locality.region AS region,
       'us-east1'::locality.region::text AS text,
       pg_column_size('us-east1'::locality.region) AS bytes;
SELECT r, r::text::locality.region = r AS round_trips
  FROM (VALUES ('regress-test'::locality.region), ('us-east1'), ('eu-west1')) v(r);
SELECT locality.gateway_region(), locality.gateway_region() = 'regress-test' AS is_regress_test;

-- Malformed names: 22023 with the rule.
SELECT ''::locality.region;
\echo SQLSTATE :SQLSTATE
SELECT 'US-East1'::locality.region;
\echo SQLSTATE :SQLSTATE
SELECT 'us_east1'::locality.region;
\echo SQLSTATE :SQLSTATE
SELECT '1us'::locality.region;
\echo SQLSTATE :SQLSTATE
SELECT repeat('a', 64)::locality.region;
\echo SQLSTATE :SQLSTATE
SELECT repeat('a', 63)::locality.region;
\echo SQLSTATE :SQLSTATE

-- An unknown region: 42704, with the regions in the order they were added.
SELECT 'ap-east1'::locality.region;
\echo SQLSTATE :SQLSTATE

-- Assignment casts from text and varchar (drivers that send strings as text).
CREATE TABLE homes (id int PRIMARY KEY, region locality.region NOT NULL);
INSERT INTO homes VALUES (1, 'us-east1'::text);
INSERT INTO homes VALUES (2, 'eu-' || 'west1');
PREPARE ins_text(int, text) AS INSERT INTO homes VALUES ($1, $2);
EXECUTE ins_text(3, 'regress-test');
PREPARE ins_varchar(int, varchar) AS INSERT INTO homes VALUES ($1, $2);
EXECUTE ins_varchar(4, 'us-east1');
PREPARE set_region(int, text) AS UPDATE homes SET region = $2 WHERE id = $1;
EXECUTE set_region(4, 'eu-west1');
EXECUTE ins_text(5, 'nowhere');
\echo SQLSTATE :SQLSTATE
EXECUTE ins_varchar(5, 'No Where');
\echo SQLSTATE :SQLSTATE
SELECT * FROM homes ORDER BY id;
-- ... and to text.
CREATE TABLE home_names (id int, name text);
INSERT INTO home_names SELECT id, region FROM homes;
SELECT * FROM home_names ORDER BY id;
-- text to region is not implicit: a text value needs a cast to compare.
SELECT id FROM homes WHERE region = 'us-east1'::text;
SELECT id FROM homes WHERE region = 'us-east1'::text::locality.region;

-- Operators (found without schema locality on the search_path).
SHOW search_path;
SELECT a, b, a = b AS eq, a <> b AS ne, a < b AS lt, a <= b AS le, a > b AS gt, a >= b AS ge
  FROM (VALUES ('us-east1'::locality.region, 'eu-west1'::locality.region),
               ('eu-west1', 'eu-west1'),
               ('eu-west1', 'regress-test')) v(a, b);
-- Order is by id, that is the order regions were added, not by name.
SELECT id, region FROM homes ORDER BY region, id;
SELECT region, count(*) FROM homes GROUP BY region ORDER BY region DESC;
SELECT DISTINCT region FROM homes ORDER BY 1;

-- btree and hash indexes; hash and merge joins.
CREATE TABLE many AS
  SELECT g AS id, (ARRAY['regress-test', 'us-east1', 'eu-west1'])[g % 3 + 1]::locality.region AS region
    FROM generate_series(1, 3000) g;
CREATE INDEX many_region_btree ON many USING btree (region);
ANALYZE many;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM many WHERE region = 'eu-west1';
SELECT count(*) FROM many WHERE region = 'eu-west1';
EXPLAIN (COSTS OFF) SELECT id FROM many WHERE region > 'us-east1';
SELECT count(*) FROM many WHERE region > 'us-east1';
DROP INDEX many_region_btree;
CREATE INDEX many_region_hash ON many USING hash (region);
EXPLAIN (COSTS OFF) SELECT id FROM many WHERE region = 'eu-west1';
SELECT count(*) FROM many WHERE region = 'eu-west1';
RESET enable_seqscan;
RESET enable_bitmapscan;
SET enable_nestloop = off;
SET enable_mergejoin = off;
EXPLAIN (COSTS OFF) SELECT h.id, m.id FROM homes h JOIN many m ON m.region = h.region;
SET enable_hashjoin = off;
SET enable_mergejoin = on;
EXPLAIN (COSTS OFF) SELECT h.id, m.id FROM homes h JOIN many m ON m.region = h.region;
RESET enable_nestloop;
RESET enable_mergejoin;
RESET enable_hashjoin;
SELECT h.region, count(*) FROM homes h JOIN many m ON m.region = h.region
 GROUP BY h.region ORDER BY h.region;

-- Parallel workers start with an empty cache and fill it themselves.
SET force_parallel_mode = on;
EXPLAIN (COSTS OFF) SELECT region::text, locality.gateway_region()::text FROM homes WHERE id = 1;
SELECT region::text, locality.gateway_region()::text FROM homes WHERE id = 1;
RESET force_parallel_mode;

-- The binary form is the name (never the id).
SELECT locality.region_send('eu-west1');
\getenv abs_builddir PG_ABS_BUILDDIR
\set binfile :abs_builddir '/results/region_type.bin'
COPY (SELECT id, region FROM homes ORDER BY id) TO :'binfile' (FORMAT binary);
-- Give eu-west1 another id: rows stored with the old id now show it as
-- dropped (and read without error), while the binary copy still reads back
-- as eu-west1, under its new id.
UPDATE locality.region_catalog SET id = 7 WHERE name = 'eu-west1';
SELECT * FROM homes ORDER BY id;
CREATE TABLE homes_copy (id int, region locality.region);
COPY homes_copy FROM :'binfile' (FORMAT binary);
SELECT c.id, c.region, c.region = 'eu-west1' AS is_eu_west1, h.region AS stored
  FROM homes_copy c JOIN homes h USING (id) ORDER BY id;
SELECT id, region FROM locality.regions;
-- A name this server does not know: 42704 on receive too.
DELETE FROM homes_copy;
DELETE FROM locality.region_catalog WHERE name = 'us-east1';
COPY homes_copy FROM :'binfile' (FORMAT binary);
\echo SQLSTATE :SQLSTATE
INSERT INTO locality.region_catalog (id, name, conninfo) VALUES (2, 'us-east1', 'dbname=x');
COPY homes_copy FROM :'binfile' (FORMAT binary);

-- The cache follows catalog changes made in this session: a renamed region
-- (the trigger on region_catalog invalidates the cache at once) ...
UPDATE locality.region_catalog SET name = 'eu-west2' WHERE id = 7;
SELECT 'eu-west2'::locality.region;
SELECT 'eu-west1'::locality.region;
\echo SQLSTATE :SQLSTATE
SELECT id, region FROM homes_copy ORDER BY id;
-- ... a region added and rolled back, in a transaction and a subtransaction ...
BEGIN;
INSERT INTO locality.region_catalog (id, name, conninfo) VALUES (8, 'ap-east1', 'dbname=x');
SELECT 'ap-east1'::locality.region;
ROLLBACK;
SELECT 'ap-east1'::locality.region;
\echo SQLSTATE :SQLSTATE
BEGIN;
SAVEPOINT s;
INSERT INTO locality.region_catalog (id, name, conninfo) VALUES (8, 'ap-east1', 'dbname=x');
SELECT 'ap-east1'::locality.region;
ROLLBACK TO SAVEPOINT s;
SELECT 'ap-east1'::locality.region;
ROLLBACK;
-- ... a region added through a function in one statement ...
CREATE FUNCTION add_and_read() RETURNS locality.region LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO locality.region_catalog (id, name, conninfo) VALUES (9, 'sa-east1', 'dbname=x');
    RETURN 'sa-east1'::text;
END $$;
SELECT add_and_read();
DROP FUNCTION add_and_read();
-- ... and TRUNCATE.
CREATE TABLE saved_regions AS SELECT * FROM locality.region_catalog;
TRUNCATE locality.region_catalog CASCADE;
SELECT 'regress-test'::locality.region;
\echo SQLSTATE :SQLSTATE
INSERT INTO locality.region_catalog SELECT * FROM saved_regions;
SELECT 'sa-east1'::locality.region;

-- locality.regions: everyone can read it; conninfo stays private.
SELECT region, is_primary, is_local, id, added_at <= now() AS added FROM locality.regions;
CREATE ROLE regress_locality_reader;
SET ROLE regress_locality_reader;
SELECT region, is_primary, is_local, id FROM locality.regions;
SELECT 'us-east1'::locality.region;
SELECT conninfo FROM locality.region_catalog;
\echo SQLSTATE :SQLSTATE
RESET ROLE;
DROP ROLE regress_locality_reader;

-- Dropping and re-creating the extension leaves no stale cache behind.
SET client_min_messages = warning;
DROP EXTENSION pg_locality CASCADE;
RESET client_min_messages;
SELECT 'us-east1'::locality.region;
CREATE EXTENSION pg_locality;
SELECT 'us-east1'::locality.region;
\echo SQLSTATE :SQLSTATE
INSERT INTO locality.region_catalog (id, name, conninfo, is_primary)
VALUES (5, 'regress-test', 'dbname=x', true);
SELECT 'regress-test'::locality.region, locality.gateway_region();

DROP TABLE homes, home_names, many, homes_copy, saved_regions;
DELETE FROM locality.region_catalog;
