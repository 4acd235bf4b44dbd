-- Routing of writes on one server (SPEC.md section 4): which statements the
-- router forwards, and what EXPLAIN shows for them.  A second region whose
-- server never answers stands in for a remote region: EXPLAIN without
-- ANALYZE never connects.  Forwarding across real servers:
-- test/t/080_forward_writes.pl.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_locality CASCADE;
CREATE EXTENSION pg_locality;
RESET client_min_messages;

INSERT INTO locality.region_catalog (id, name, conninfo, is_primary) VALUES
    (1, 'regress-test', 'dbname=x', true);
CREATE TABLE acct (id int PRIMARY KEY, owner text, balance int DEFAULT 0)
    WITH (locality = 'REGIONAL BY ROW');
CREATE TABLE far_cfg (k text PRIMARY KEY, v text)
    WITH (locality = 'REGIONAL BY TABLE IN PRIMARY REGION');
CREATE TABLE everywhere (k int PRIMARY KEY, v text) WITH (locality = 'GLOBAL');
CREATE TABLE plain (k int PRIMARY KEY, v text);
INSERT INTO locality.region_catalog (id, name, conninfo, is_primary) VALUES
    (2, 'far-east1', 'host=127.0.0.1 port=1 dbname=postgres connect_timeout=5', false);
-- far_cfg's home is the primary region: make it the far one.
UPDATE locality.region_catalog SET is_primary = (name = 'far-east1');

-- Local rows keep the normal plan.
EXPLAIN (COSTS OFF) INSERT INTO acct VALUES (1, 'a');
EXPLAIN (COSTS OFF) INSERT INTO acct VALUES (1, 'a', 0, 'regress-test');
EXPLAIN (COSTS OFF) UPDATE acct SET balance = 1 WHERE region = 'regress-test' AND id = 1;
EXPLAIN (COSTS OFF) INSERT INTO everywhere VALUES (1, 'x');
EXPLAIN (COSTS OFF) UPDATE plain SET v = 'y';

-- Rows homed in far-east1 go there.
EXPLAIN (COSTS OFF) INSERT INTO acct VALUES (2, 'b', 5, 'far-east1') RETURNING id, balance;
EXPLAIN (COSTS OFF) INSERT INTO acct VALUES (2, 'b', 5, 'far-east1'), (3, 'c', 6, 'far-east1');
EXPLAIN (COSTS OFF) INSERT INTO acct VALUES (2, 'b', 5, 'far-east1')
    ON CONFLICT (id) DO UPDATE SET balance = acct.balance + excluded.balance;
EXPLAIN (COSTS OFF) UPDATE acct SET balance = balance + 1 WHERE region = 'far-east1' AND owner = 'b';
EXPLAIN (COSTS OFF) DELETE FROM acct WHERE region = 'far-east1' RETURNING *;
EXPLAIN (COSTS OFF) INSERT INTO far_cfg VALUES ('k', 'v');
EXPLAIN (COSTS OFF) UPDATE far_cfg SET v = 'w' WHERE k = 'k';

-- Decided at run time, with the local plan for rows homed here.
EXPLAIN (COSTS OFF) UPDATE acct SET balance = 0 WHERE id = 7;
EXPLAIN (COSTS OFF) DELETE FROM acct WHERE owner = 'nobody';
PREPARE ins(int, locality.region) AS INSERT INTO acct VALUES ($1, 'p', 0, $2);
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE ins(8, 'far-east1');
SET plan_cache_mode = force_custom_plan;
EXPLAIN (COSTS OFF) EXECUTE ins(8, 'far-east1');
EXPLAIN (COSTS OFF) EXECUTE ins(8, 'regress-test');
RESET plan_cache_mode;

-- Rows for several regions, or homes known only per row: the Row Router
-- under the local insert sends each remote row home.
EXPLAIN (COSTS OFF) INSERT INTO acct VALUES (4, 'd', 0, 'regress-test'), (5, 'e', 0, 'far-east1')
    RETURNING id;
CREATE TABLE staging (id int, owner text, region locality.region);
EXPLAIN (COSTS OFF) INSERT INTO acct (id, owner, region) SELECT id, owner, region FROM staging
    ON CONFLICT (id) DO UPDATE SET owner = excluded.owner;
EXPLAIN (COSTS OFF, VERBOSE) INSERT INTO acct SELECT id, owner, 1, region FROM staging
    WHERE owner <> 'x' ON CONFLICT DO NOTHING;
-- Every row here: the Row Router passes them to the local insert.
INSERT INTO staging VALUES (40, 's1', 'regress-test'), (41, 's2', 'regress-test');
INSERT INTO acct (id, owner, region) SELECT id, owner, region FROM staging RETURNING id, owner;
-- A row for the far region fails the statement (it is unreachable): no row stays.
\set VERBOSITY terse
INSERT INTO acct (id, owner, region) VALUES (42, 'h', 'regress-test'), (43, 'i', 'far-east1');
SELECT id FROM acct WHERE id IN (42, 43);
\set VERBOSITY default
DROP TABLE staging;

-- SELECT ... FOR UPDATE/SHARE of rows homed elsewhere runs at the home.
EXPLAIN (COSTS OFF) SELECT owner FROM acct WHERE id = 7 FOR UPDATE;
EXPLAIN (COSTS OFF) SELECT * FROM acct WHERE region = 'far-east1' AND owner = 'b' FOR SHARE SKIP LOCKED;
EXPLAIN (COSTS OFF) SELECT v FROM far_cfg WHERE k = 'k' FOR NO KEY UPDATE;
-- Rows pinned here: the normal plan.
EXPLAIN (COSTS OFF) SELECT owner FROM acct WHERE region = 'regress-test' AND id = 7 FOR UPDATE;
-- No pin: every region locks the rows it homes (the local plan with this
-- region's qual); ORDER BY / LIMIT / OFFSET are merged here.
EXPLAIN (COSTS OFF) SELECT owner FROM acct WHERE owner = 'b' FOR UPDATE;
EXPLAIN (COSTS OFF) SELECT owner FROM acct WHERE owner = 'b' ORDER BY balance LIMIT 3 FOR SHARE;

-- A locking join runs at the home when every REGIONAL table it locks is
-- pinned there, here when they are all pinned here; otherwise 0A000.
EXPLAIN (COSTS OFF) SELECT a.owner, e.v FROM acct a JOIN everywhere e ON a.id = e.k
    WHERE a.region = 'far-east1' FOR UPDATE OF a;
EXPLAIN (COSTS OFF) SELECT a.owner FROM acct a, far_cfg c WHERE c.k = a.owner AND a.region = 'far-east1' FOR SHARE;
EXPLAIN (COSTS OFF) SELECT a.owner FROM acct a JOIN plain p ON a.id = p.k
    WHERE a.region = 'regress-test' FOR UPDATE;
EXPLAIN (COSTS OFF) SELECT a.owner FROM acct a JOIN plain p ON a.id = p.k WHERE a.id = 7 FOR UPDATE OF p;
PREPARE lockjoin(locality.region) AS SELECT a.owner FROM acct a JOIN everywhere e ON a.id = e.k
    WHERE a.region = $1 FOR UPDATE OF a;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE lockjoin('far-east1');
RESET plan_cache_mode;
DEALLOCATE lockjoin;
SELECT a.owner FROM acct a JOIN plain p ON a.id = p.k WHERE a.id = 7 FOR UPDATE OF a;
SELECT a.owner FROM acct a JOIN plain p ON a.id = p.k WHERE a.region = 'far-east1' FOR UPDATE OF a;
SELECT 1 FROM acct a JOIN far_cfg c ON true WHERE a.region = 'regress-test' FOR UPDATE;
SELECT 1 FROM (SELECT * FROM acct) s JOIN plain p ON s.id = p.k FOR UPDATE;

-- A plain read keeps the normal plan outside a transaction that forwarded
-- writes (the pinned reads of such transactions: test/t/086_pinned_reads.pl).
EXPLAIN (COSTS OFF) SELECT owner FROM acct WHERE id = 7;
EXPLAIN (COSTS OFF) SELECT v FROM far_cfg WHERE k = 'k';

-- locality.route_writes = off leaves every write to the safety net.
SET locality.route_writes = off;
EXPLAIN (COSTS OFF) INSERT INTO far_cfg VALUES ('k', 'v');
RESET locality.route_writes;

-- What cannot be forwarded is refused, saying why.
\set VERBOSITY default
UPDATE acct SET balance = 1 FROM plain WHERE acct.id = plain.k AND acct.region = 'far-east1';
-- Executing a forwarded write needs the region: here it is unreachable.
\set VERBOSITY terse
INSERT INTO acct VALUES (6, 'f', 0, 'far-east1');
-- Local rows are written here, without any call to the far region.
INSERT INTO acct VALUES (7, 'g', 0, 'regress-test');
SELECT id, owner, region FROM acct;

DELETE FROM locality.region_catalog WHERE name = 'far-east1';
SET client_min_messages = warning;
DROP TABLE acct, far_cfg, everywhere, plain;
DROP EXTENSION pg_locality CASCADE;
