-- Conflict resolution settings on one server (SPEC.md section 5):
-- locality.set_conflict_resolution and locality.set_merge_function, their
-- errors and SQLSTATEs, the internal triggers that stamp writes to GLOBAL
-- tables and record tombstones, and the clock.  Applying conflicts is
-- tested across regions in test/t/085_conflict_resolution.pl.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_locality CASCADE;
CREATE EXTENSION pg_locality;
RESET client_min_messages;

SELECT locality.add_region('regress-test',
    format('host=%s port=%s dbname=%s',
           split_part(current_setting('unix_socket_directories'), ',', 1),
           current_setting('port'), current_database()));

CREATE TABLE cr_global (id int PRIMARY KEY, balance numeric, tags text[], c locality.pncounter DEFAULT '0')
    WITH (locality = 'GLOBAL');
CREATE TABLE cr_regional (id int PRIMARY KEY, v text) WITH (locality = 'REGIONAL BY TABLE');
CREATE TABLE cr_plain (id int PRIMARY KEY, v numeric);

-- set_conflict_resolution: every mode, then the errors.
SELECT locality.set_conflict_resolution('cr_global', 'last_write_wins_column');
SELECT conflict_resolution FROM locality.tables WHERE table_name = 'cr_global'::regclass;
-- Column mode keeps column versions: a third internal trigger, and a local
-- update records which transaction wrote each column.
SELECT tgfoid::regproc FROM pg_trigger WHERE tgrelid = 'cr_global'::regclass ORDER BY 1;
INSERT INTO cr_global VALUES (9, 1, '{x}');
UPDATE cr_global SET balance = 2 WHERE id = 9;
SELECT key, xids[2] = row_xid AS balance_written, xids[3] = row_xid AS tags_written
  FROM locality.column_versions;
DELETE FROM cr_global WHERE id = 9;
SELECT locality.set_conflict_resolution('cr_global', 'newest');
\echo SQLSTATE :SQLSTATE
SELECT locality.set_conflict_resolution('cr_plain', 'keep_local');
\echo SQLSTATE :SQLSTATE
SELECT locality.set_conflict_resolution('cr_global', 'last_write_wins');

-- Merge functions: fn(local T, remote T) returns T.
CREATE FUNCTION higher_balance(local numeric, remote numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE AS 'SELECT greatest(local, remote)';
CREATE FUNCTION tags_union(local text[], remote text[]) RETURNS text[]
    LANGUAGE sql IMMUTABLE AS
    'SELECT array(SELECT DISTINCT t FROM unnest(local || remote) t ORDER BY t)';
CREATE FUNCTION wrong_arity(a numeric) RETURNS numeric LANGUAGE sql AS 'SELECT a';
CREATE FUNCTION wrong_return(a numeric, b numeric) RETURNS text LANGUAGE sql AS 'SELECT a::text';
SELECT locality.set_merge_function('cr_global', 'balance', 'higher_balance(numeric, numeric)');
SELECT locality.set_merge_function('cr_global', 'tags', 'tags_union(text[], text[])');
SELECT relid::regclass, attname, fn FROM locality.merge_functions ORDER BY attname;
-- A merge function applies on apply only: a local write is not merged.
INSERT INTO cr_global VALUES (1, 10, '{b,a}');
UPDATE cr_global SET balance = 5 WHERE id = 1;
SELECT balance, tags FROM cr_global;
-- Wrong signature: 42883.
SELECT locality.set_merge_function('cr_global', 'balance', 'wrong_arity(numeric)');
\echo SQLSTATE :SQLSTATE
SELECT locality.set_merge_function('cr_global', 'balance', 'wrong_return(numeric, numeric)');
\echo SQLSTATE :SQLSTATE
SELECT locality.set_merge_function('cr_global', 'tags', 'higher_balance(numeric, numeric)');
\echo SQLSTATE :SQLSTATE
-- No such column: 42703; a CRDT column merges already: 22023.
SELECT locality.set_merge_function('cr_global', 'nope', 'higher_balance(numeric, numeric)');
\echo SQLSTATE :SQLSTATE
SELECT locality.set_merge_function('cr_global', 'c', 'higher_balance(numeric, numeric)');
\echo SQLSTATE :SQLSTATE
-- Not a managed table: 55000; NULL table or column: 22004.
SELECT locality.set_merge_function('cr_plain', 'v', 'higher_balance(numeric, numeric)');
\echo SQLSTATE :SQLSTATE
SELECT locality.set_merge_function(NULL, 'v', 'higher_balance(numeric, numeric)');
\echo SQLSTATE :SQLSTATE
-- Not the owner: 42501, for both functions.
CREATE ROLE cr_other;
GRANT USAGE ON SCHEMA locality TO cr_other;
SET ROLE cr_other;
SELECT locality.set_merge_function('cr_global', 'balance', 'higher_balance(numeric, numeric)');
\echo SQLSTATE :SQLSTATE
SELECT locality.set_conflict_resolution('cr_global', 'keep_local');
\echo SQLSTATE :SQLSTATE
RESET ROLE;
REVOKE USAGE ON SCHEMA locality FROM cr_other;
DROP ROLE cr_other;
-- NULL removes the merge function.
SELECT locality.set_merge_function('cr_global', 'tags', NULL);
SELECT attname FROM locality.merge_functions;

-- GLOBAL tables, and only they, get the internal triggers; changing the
-- locality drops them.
SELECT tgrelid::regclass, tgfoid::regproc, tgisinternal
  FROM pg_trigger WHERE tgfoid::regproc::text LIKE 'locality._global%' ORDER BY 1, 2;
-- A local write to a GLOBAL table is stamped by this server's clock: most
-- stamps are derived from the commit timestamp and not stored, those of
-- writes that keep rows keyed by their transaction (column versions, the
-- tombstones of deletes) are stored; a delete leaves a tombstone keyed by
-- the row's key.
SELECT count(*) > 0 AS some_stored,
       bool_and(s.hlc <= locality.hlc_now() AND s.region_id = 1 AND s.xid > 0) AS valid
  FROM locality.commit_stamps s;
DELETE FROM cr_global WHERE id = 1;
SELECT relid::regclass, key, xid = (SELECT max(xid) FROM locality.commit_stamps) AS stamped
  FROM locality.tombstones ORDER BY key;
-- Writes to other tables are not stamped.
SELECT count(*) AS before FROM locality.commit_stamps \gset
INSERT INTO cr_regional VALUES (1, 'x');
INSERT INTO cr_plain VALUES (1, 1);
SELECT count(*) = :before AS not_stamped FROM locality.commit_stamps;
SELECT locality.set_locality('cr_global', 'REGIONAL BY TABLE');
SELECT count(*) FROM pg_trigger WHERE tgfoid::regproc::text LIKE 'locality._global%';
SHOW locality.max_clock_skew;

-- The internal triggers go with the extension.
CREATE TABLE cr_global2 (id int PRIMARY KEY) WITH (locality = 'GLOBAL');
SET client_min_messages = warning;
DROP EXTENSION pg_locality CASCADE;
RESET client_min_messages;
SELECT count(*) FROM pg_trigger WHERE tgrelid = 'cr_global2'::regclass;
DROP TABLE cr_global2, cr_global, cr_regional, cr_plain;
DROP FUNCTION higher_balance, tags_union, wrong_arity, wrong_return;
