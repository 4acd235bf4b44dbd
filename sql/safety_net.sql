-- The row-level safety net on one server (src/shim/safety_net.c): which
-- tables carry its triggers and when, every write path of rows homed here
-- passing, TRUNCATE, and what a table owner cannot do to the net.  Rows homed
-- in another region need a second region: test/t/075_safety_net.pl.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_locality CASCADE;
CREATE EXTENSION pg_locality;
RESET client_min_messages;
SELECT locality.add_region('regress-test',
    format('host=%s port=%s dbname=%s',
           split_part(current_setting('unix_socket_directories'), ',', 1),
           current_setting('port'), current_database()));

-- The safety net's triggers on a table, as kind and events.
CREATE VIEW guards AS
  SELECT c.relname AS table_name,
         regexp_replace(t.tgname, '_[0-9]+$', '') AS trigger,
         t.tgisinternal AS internal, t.tgenabled AS enabled,
         CASE WHEN t.tgtype & 1 = 1 THEN 'row' ELSE 'statement' END AS level,
         CASE WHEN t.tgtype & 2 = 2 THEN 'before' ELSE 'after' END AS timing,
         concat_ws(',', CASE WHEN t.tgtype & 4 = 4 THEN 'insert' END,
                        CASE WHEN t.tgtype & 8 = 8 THEN 'delete' END,
                        CASE WHEN t.tgtype & 16 = 16 THEN 'update' END,
                        CASE WHEN t.tgtype & 32 = 32 THEN 'truncate' END) AS events
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
   WHERE t.tgfoid = 'locality._home_guard()'::regprocedure
   ORDER BY 1, 2;

-- Regional tables carry two internal triggers; GLOBAL and unmanaged ones none.
CREATE TABLE t_row (id int PRIMARY KEY, v text) WITH (locality = 'REGIONAL BY ROW');
CREATE TABLE t_home (id int PRIMARY KEY, v text) WITH (locality = 'REGIONAL BY TABLE');
CREATE TABLE t_global (id int PRIMARY KEY, v text) WITH (locality = 'GLOBAL');
CREATE TABLE t_plain (id int PRIMARY KEY, v text);
SELECT * FROM guards;

-- They follow the locality: gone when GLOBAL, back when regional again.
SELECT locality.set_locality('t_row', 'GLOBAL');
SELECT * FROM guards;
ALTER TABLE t_row SET (locality = 'REGIONAL BY ROW');
SELECT locality.execute('ALTER TABLE t_global SET LOCALITY REGIONAL BY TABLE IN "regress-test"');
SELECT locality.set_locality('t_global', 'GLOBAL');
SELECT locality.set_locality('t_home', 'REGIONAL BY TABLE IN PRIMARY REGION');
SELECT * FROM guards;

-- Every write path of rows homed here passes.
SET locality.route_writes = off;
INSERT INTO t_row VALUES (1, 'insert');
INSERT INTO t_row (id, v, region) VALUES (2, 'explicit home', 'regress-test');
INSERT INTO t_row VALUES (1, 'upsert') ON CONFLICT (id) DO UPDATE SET v = excluded.v;
UPDATE t_row SET v = v || '!' WHERE id = 2;
COPY t_row (id, v) FROM stdin;
3	copied
4	copied
\.
MERGE INTO t_row t USING (VALUES (4, 'merged'), (5, 'merged')) s(id, v) ON t.id = s.id
  WHEN MATCHED THEN UPDATE SET v = s.v
  WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v);
DO $$ BEGIN
  INSERT INTO t_row VALUES (6, 'plpgsql');
  EXECUTE format('UPDATE %I SET v = %L WHERE id = 6', 't_row', 'dynamic');
END $$;
CREATE FUNCTION sql_write(i int) RETURNS void LANGUAGE sql
  AS $$ INSERT INTO t_row VALUES (i, 'sql function') $$;
SELECT sql_write(7);
PREPARE del(int) AS DELETE FROM t_row WHERE id = $1;
EXECUTE del(5);
CREATE FUNCTION copy_to_row() RETURNS trigger LANGUAGE plpgsql
  AS $$ BEGIN INSERT INTO t_row VALUES (NEW.id, 'by a trigger'); RETURN NEW; END $$;
CREATE TRIGGER copy_to_row AFTER INSERT ON t_plain FOR EACH ROW EXECUTE FUNCTION copy_to_row();
INSERT INTO t_plain VALUES (8, 'plain');
INSERT INTO t_home VALUES (1, 'home table');
UPDATE t_home SET v = 'home table updated';
SELECT id, v, region FROM t_row ORDER BY id;
SELECT * FROM t_home;
RESET locality.route_writes;

-- TRUNCATE: never of a REGIONAL BY ROW table; of a REGIONAL BY TABLE table
-- at its home.  Apply workers (replica) pass.
TRUNCATE t_row;
\echo SQLSTATE :SQLSTATE
TRUNCATE t_plain, t_row;
\echo SQLSTATE :SQLSTATE
TRUNCATE t_home;
SELECT count(*) FROM t_home;
SET session_replication_role = replica;
TRUNCATE t_row;
RESET session_replication_role;
SELECT count(*) FROM t_row;

-- The net cannot be dropped, and only a superuser can disable it.
SELECT format('DROP TRIGGER %I ON t_row', tgname) AS drop_guard
  FROM pg_trigger WHERE tgrelid = 't_row'::regclass AND tgname LIKE 'locality_home_guard%' \gset
-- (Only the SQLSTATE: the message names the trigger, whose name holds its OID.)
\set VERBOSITY sqlstate
:drop_guard;
\set VERBOSITY default
DROP TRIGGER copy_to_row ON t_plain;
DROP TRIGGER IF EXISTS no_such_trigger ON t_row;
CREATE ROLE regress_safety_owner;
ALTER TABLE t_home OWNER TO regress_safety_owner;
SET ROLE regress_safety_owner;
\set VERBOSITY sqlstate
ALTER TABLE t_home DISABLE TRIGGER ALL;
\set VERBOSITY default
ALTER TABLE t_home DISABLE TRIGGER USER;
-- locality.route_writes is a superuser's switch.
SET locality.route_writes = off;
\echo SQLSTATE :SQLSTATE
SHOW locality.route_writes;
RESET ROLE;
SELECT trigger, enabled FROM guards WHERE table_name = 't_home';

-- Dropping a regional table takes its triggers along.
DROP TABLE t_home;
SELECT * FROM guards;

DROP TABLE t_row, t_global, t_plain;
DROP VIEW guards;
DROP FUNCTION sql_write(int), copy_to_row();
DROP ROLE regress_safety_owner;
