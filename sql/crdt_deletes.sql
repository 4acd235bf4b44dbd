-- CRDT columns across a delete and an insert of the same key on one server
-- (docs/conflicts.md section 5): the tombstone keeps the key's CRDT state
-- with what the delete observed reset, and an insert of the key continues
-- it.  Across regions: test/t/088_crdt_deletes.pl.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_locality CASCADE;
CREATE EXTENSION pg_locality;
RESET client_min_messages;
SELECT locality.add_region('regress-test',
    format('host=%s port=%s dbname=%s',
           split_part(current_setting('unix_socket_directories'), ',', 1),
           current_setting('port'), current_database()));
CREATE TABLE cd (id int PRIMARY KEY, p locality.pncounter DEFAULT '0',
                 g locality.gcounter NOT NULL DEFAULT '0',
                 s locality.orset NOT NULL DEFAULT '{}') WITH (locality = 'GLOBAL');
INSERT INTO cd VALUES (1, '10', '10', '{a,b}');
UPDATE cd SET p = p - 3, g = g + 2, s = locality.remove(s, 'a') WHERE id = 1;
SELECT p, g, s FROM cd;
DELETE FROM cd WHERE id = 1;
-- The tombstone keeps the state reset: floors up to the counts, no elements.
SELECT c::text FROM locality.tombstones t, unnest(t.crdt_values) WITH ORDINALITY u(c, n)
 WHERE t.relid = 'cd'::regclass ORDER BY n;
-- An insert of the key continues it: the values are the inserted ones.
INSERT INTO cd VALUES (1, '5', '1', '{c}');
SELECT p, p::bigint, g, g::bigint, s, locality.elements(s) FROM cd;
-- Deleted and inserted again with NULL and defaults: the kept state, 0, {}.
DELETE FROM cd WHERE id = 1;
INSERT INTO cd (id, p) VALUES (1, NULL);
SELECT p, p::bigint, g::bigint, locality.elements(s) FROM cd;
-- A key never deleted starts afresh.
INSERT INTO cd VALUES (2, '4', '4', '{x}');
SELECT p, g, s FROM cd WHERE id = 2;
-- Tables without CRDT columns keep no CRDT state.
CREATE TABLE cd_plain (id int PRIMARY KEY, v text) WITH (locality = 'GLOBAL');
INSERT INTO cd_plain VALUES (1, 'a');
DELETE FROM cd_plain;
INSERT INTO cd_plain VALUES (1, 'b');
SELECT count(*) FILTER (WHERE crdt_values IS NULL) FROM locality.tombstones WHERE relid = 'cd_plain'::regclass;
-- The text form of counters with floors round-trips; a floor above its count
-- is refused.
SELECT '{regress-test:7-2/5-1}'::locality.pncounter, '{regress-test:7-2/5-1}'::locality.pncounter::bigint;
SELECT '{regress-test:7/7}'::locality.gcounter::bigint, '{regress-test:7/0}'::locality.gcounter;
SELECT '{regress-test:7/8}'::locality.gcounter;
SELECT '{regress-test:7-1/5-2}'::locality.pncounter;
DROP TABLE cd, cd_plain;
SET client_min_messages = warning;
DROP EXTENSION pg_locality CASCADE;
RESET client_min_messages;
