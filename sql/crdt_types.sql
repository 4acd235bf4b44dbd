-- CRDT column types locality.gcounter, locality.pncounter, locality.orset
-- (SPEC.md section 5).  The merge rules themselves are unit-tested in the
-- core; here: SQL surface, local-region crediting, text round trips,
-- errors with their SQLSTATEs, storage size.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_locality CASCADE;
CREATE EXTENSION pg_locality;
RESET client_min_messages;

-- No local region yet: a zero / empty plain value is fine, crediting is not.
SELECT '0'::locality.gcounter AS zero, '{}'::locality.orset AS empty;
SELECT '5'::locality.gcounter;
\echo SQLSTATE :SQLSTATE

-- Register this server's region (and another one) directly.
INSERT INTO locality.region_catalog (id, name, conninfo, is_primary) VALUES
    (1, 'regress-test', 'dbname=x', true),
    (2, 'us-east1', 'dbname=x', false);

CREATE TABLE crdt_t (
    id int PRIMARY KEY,
    g locality.gcounter NOT NULL DEFAULT '0',
    p locality.pncounter NOT NULL DEFAULT '0',
    s locality.orset NOT NULL DEFAULT '{}'
);
INSERT INTO crdt_t (id) VALUES (1);
INSERT INTO crdt_t VALUES (2, '5', '5', '{a,b}');
SELECT id, g, p, s FROM crdt_t ORDER BY id;

-- Counters: + credits the local region, - (pncounter) too.
UPDATE crdt_t SET g = g + 3, p = p + 3 WHERE id = 2;
UPDATE crdt_t SET p = p - 2 WHERE id = 2;
SELECT id, g, p, locality.value(g) AS gv, locality.value(p) AS pv,
       g::bigint AS gb, p::bigint AS pb
  FROM crdt_t ORDER BY id;
UPDATE crdt_t SET p = p - 10 WHERE id = 1;
SELECT p, p::bigint FROM crdt_t WHERE id = 1;

-- Text forms round-trip the whole state, other regions' slots included.
SELECT '{us-east1:7,regress-test:2}'::locality.gcounter AS g,
       '{us-east1:7,regress-test:2}'::locality.gcounter::bigint AS v;
SELECT '{us-east1:7-1,regress-test:2}'::locality.pncounter::bigint AS v;
SELECT g::text::locality.gcounter = g AS g_round_trips,
       p::text::locality.pncounter = p AS p_round_trips,
       s::text::locality.orset = s AS s_round_trips
  FROM crdt_t;
SELECT locality.merge('{us-east1:7}'::locality.gcounter, '{us-east1:4,regress-test:3}') AS merged,
       locality.merge('{us-east1:7}'::locality.gcounter, '{us-east1:4,regress-test:3}')::bigint AS v;

-- orset: add, remove, elements, @>.
UPDATE crdt_t SET s = locality.add(s, 'c') WHERE id = 2;
UPDATE crdt_t SET s = locality.remove(s, 'a') WHERE id = 2;
SELECT id, locality.elements(s) AS elements, s @> 'b' AS has_b, s @> 'a' AS has_a
  FROM crdt_t ORDER BY id;
SELECT locality.elements(locality.add(locality.add('{}'::locality.orset, 'x y'), '')) AS elements;
SELECT s::text::locality.orset @> 'c' AS survives FROM crdt_t WHERE id = 2;

-- Errors.
SELECT '-1'::locality.gcounter;
\echo SQLSTATE :SQLSTATE
SELECT '{1,'::locality.orset;
\echo SQLSTATE :SQLSTATE
SELECT 'abc'::locality.pncounter;
\echo SQLSTATE :SQLSTATE
SELECT '{nowhere:1}'::locality.gcounter;
\echo SQLSTATE :SQLSTATE
SELECT g + (-1) FROM crdt_t WHERE id = 2;
\echo SQLSTATE :SQLSTATE
SELECT '9223372036854775807'::locality.gcounter + 1;
\echo SQLSTATE :SQLSTATE
SELECT '9223372036854775807'::locality.pncounter + 1;
\echo SQLSTATE :SQLSTATE
SELECT '{us-east1:9223372036854775807,regress-test:9223372036854775807}'::locality.gcounter::bigint;
\echo SQLSTATE :SQLSTATE

-- Compact: a counter with a few regions stays well under 64 bytes.
SELECT pg_column_size(g) < 64 AS g_small, pg_column_size(p) < 64 AS p_small
  FROM crdt_t WHERE id = 2;
SELECT pg_column_size('{us-east1:123456,regress-test:99999,3:42}'::locality.pncounter) < 64 AS small;

-- Binary form (send, then recv with validation): a binary COPY round trip.
CREATE TABLE crdt_copy (LIKE crdt_t);
COPY crdt_t TO '/tmp/pg_locality_crdt_types.bin' (FORMAT binary);
COPY crdt_copy FROM '/tmp/pg_locality_crdt_types.bin' (FORMAT binary);
COPY (SELECT 1) TO PROGRAM 'rm -f /tmp/pg_locality_crdt_types.bin';
SELECT c.id, c.g = t.g AND c.p = t.p AND c.s = t.s AS same
  FROM crdt_copy c JOIN crdt_t t USING (id) ORDER BY id;

DROP TABLE crdt_t, crdt_copy;

