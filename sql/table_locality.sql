-- Table localities on one server (SPEC.md section 3): the three doors
-- (locality.set_locality, the locality reloption of CREATE/ALTER TABLE, and
-- locality.execute), every locality form and its canonical text, the region
-- column rules, sequences, and the errors of SPEC.md section 7.
-- \echo SQLSTATE shows each error's code.  What would be sent to other
-- regions is logged at DEBUG1 ("propagating to every other region: ...").
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS pg_locality CASCADE;
CREATE EXTENSION pg_locality;
RESET client_min_messages;

CREATE TABLE early (id int PRIMARY KEY);

-- Before this server's region is added: 55000 with a hint.
SELECT locality.set_locality('early', 'GLOBAL');
\echo SQLSTATE :SQLSTATE
CREATE TABLE early2 (id int PRIMARY KEY) WITH (locality = 'GLOBAL');
\echo SQLSTATE :SQLSTATE
ALTER TABLE early SET (locality = 'GLOBAL');
\echo SQLSTATE :SQLSTATE

-- This server's own region, reached through the temp instance's socket.
SELECT locality.add_region('regress-test',
    format('host=%s port=%s dbname=%s',
           split_part(current_setting('unix_socket_directories'), ',', 1),
           current_setting('port'), current_database()));
SELECT region, is_primary, is_local FROM locality.regions;

-- Every accepted form, case-insensitive, and its canonical text.
CREATE TABLE t_global (id int PRIMARY KEY, v text);
CREATE TABLE t_table (id int PRIMARY KEY, v text);
CREATE TABLE t_primary (id int PRIMARY KEY, v text);
CREATE TABLE t_in (id int PRIMARY KEY, v text);
CREATE TABLE t_crdb (id int PRIMARY KEY, v text);
CREATE TABLE t_row (id int PRIMARY KEY, v text);
SELECT locality.set_locality('t_global', 'global');
SELECT locality.set_locality('t_table', 'REGIONAL BY TABLE');
SELECT locality.set_locality('t_primary', 'Regional By Table In Primary Region');
SELECT locality.set_locality('t_in', 'REGIONAL BY TABLE IN "regress-test"');
SELECT locality.set_locality('t_crdb', 'REGIONAL IN "regress-test"');
SELECT locality.set_locality('t_row', 'regional by row');
SELECT table_name, locality, home_region, region_column, conflict_resolution
  FROM locality.tables ORDER BY table_name::text;
SELECT kind, home_region, region_column, column_added
  FROM locality.table_catalog WHERE relid = 't_in'::regclass;

-- locality.tables is readable by everyone; the catalog behind it is not.
CREATE ROLE regress_locality_user;
SET ROLE regress_locality_user;
SELECT count(*) FROM locality.tables;
SELECT count(*) FROM locality.table_catalog;
\echo SQLSTATE :SQLSTATE
RESET ROLE;

-- Bad locality text: 22023, the accepted forms, a caret at the bad token.
SELECT locality.set_locality('t_global', 'REGIONAL BY COLUMN');
\echo SQLSTATE :SQLSTATE
SELECT locality.set_locality('t_global', '');
\echo SQLSTATE :SQLSTATE
SELECT locality.set_locality('t_global', NULL);
\echo SQLSTATE :SQLSTATE
-- An unknown region: 42704 with the regions as hint; a malformed one: 22023.
SELECT locality.set_locality('t_global', 'REGIONAL BY TABLE IN "mars-north1"');
\echo SQLSTATE :SQLSTATE
SELECT locality.set_locality('t_global', 'REGIONAL BY TABLE IN "Mars"');
\echo SQLSTATE :SQLSTATE

-- No primary key: 55000 naming the table.  A replica identity index will do.
CREATE TABLE no_pk (id int NOT NULL, v text);
SELECT locality.set_locality('no_pk', 'GLOBAL');
\echo SQLSTATE :SQLSTATE
CREATE UNIQUE INDEX no_pk_id ON no_pk (id);
ALTER TABLE no_pk REPLICA IDENTITY USING INDEX no_pk_id;
SELECT locality.set_locality('no_pk', 'GLOBAL');
-- Only ordinary, permanent tables.
CREATE VIEW a_view AS SELECT 1 AS id;
SELECT locality.set_locality('a_view', 'GLOBAL');
\echo SQLSTATE :SQLSTATE
CREATE TEMP TABLE a_temp (id int PRIMARY KEY);
SELECT locality.set_locality('a_temp', 'GLOBAL');
\echo SQLSTATE :SQLSTATE
CREATE UNLOGGED TABLE an_unlogged (id int PRIMARY KEY);
SELECT locality.set_locality('an_unlogged', 'GLOBAL');
\echo SQLSTATE :SQLSTATE

-- Only the table's owner: 42501 with PostgreSQL's wording, at every door.
GRANT CREATE, USAGE ON SCHEMA public TO regress_locality_user;
SET ROLE regress_locality_user;
SELECT locality.set_locality('t_global', 'REGIONAL BY TABLE');
\echo SQLSTATE :SQLSTATE
ALTER TABLE t_global SET (locality = 'REGIONAL BY TABLE');
\echo SQLSTATE :SQLSTATE
SELECT locality.execute('ALTER TABLE t_global SET LOCALITY REGIONAL BY TABLE');
\echo SQLSTATE :SQLSTATE
-- An owner who is not a superuser may.
CREATE TABLE owned (id int PRIMARY KEY) WITH (locality = 'GLOBAL');
SELECT locality.set_locality('owned', 'REGIONAL BY ROW');
SELECT table_name, locality FROM locality.tables WHERE table_name = 'owned'::regclass;
DROP TABLE owned;
RESET ROLE;

-- CREATE TABLE ... WITH (locality): the option is taken out before
-- PostgreSQL checks reloptions, the others stay.
CREATE TABLE c_plain (id int PRIMARY KEY) WITH (locality = 'GLOBAL');
CREATE TABLE c_mixed (id int PRIMARY KEY, v text)
    WITH (fillfactor = 70, locality = 'REGIONAL BY ROW', autovacuum_enabled = false);
SELECT relname, reloptions FROM pg_class WHERE relname IN ('c_plain', 'c_mixed') ORDER BY 1;
SELECT table_name, locality FROM locality.tables
 WHERE table_name IN ('c_plain'::regclass, 'c_mixed'::regclass) ORDER BY 1;
-- Errors of the option itself.
CREATE TABLE c_bad (id int PRIMARY KEY) WITH (locality = 'REGIONAL BY NOTHING');
\echo SQLSTATE :SQLSTATE
CREATE TABLE c_twice (id int PRIMARY KEY) WITH (locality = 'GLOBAL', locality = 'GLOBAL');
\echo SQLSTATE :SQLSTATE
CREATE TABLE c_nopk (id int) WITH (locality = 'GLOBAL');
\echo SQLSTATE :SQLSTATE
SELECT to_regclass('c_nopk') IS NULL AS rolled_back;
CREATE TEMP TABLE c_temp (id int PRIMARY KEY) WITH (locality = 'GLOBAL');
\echo SQLSTATE :SQLSTATE
-- IF NOT EXISTS on an existing table leaves it (and its locality) alone.
CREATE TABLE IF NOT EXISTS c_plain (id int PRIMARY KEY) WITH (locality = 'REGIONAL BY TABLE');
SELECT locality FROM locality.tables WHERE table_name = 'c_plain'::regclass;
-- Other reloptions keep PostgreSQL's own errors.
CREATE TABLE c_other (id int PRIMARY KEY) WITH (fillfactor = 5, locality = 'GLOBAL');
\echo SQLSTATE :SQLSTATE

-- ALTER TABLE ... SET (locality): alone it runs no ALTER TABLE of its own;
-- with other options and subcommands those still run.
CREATE TABLE a_tab (id int PRIMARY KEY, v text) WITH (fillfactor = 80);
ALTER TABLE a_tab SET (locality = 'GLOBAL');
SELECT reloptions FROM pg_class WHERE relname = 'a_tab';
ALTER TABLE a_tab SET (fillfactor = 60, locality = 'REGIONAL BY TABLE IN PRIMARY REGION');
SELECT reloptions FROM pg_class WHERE relname = 'a_tab';
ALTER TABLE a_tab ADD COLUMN w int, SET (locality = 'REGIONAL BY ROW');
SELECT attname FROM pg_attribute WHERE attrelid = 'a_tab'::regclass AND attnum > 0 ORDER BY attnum;
SELECT locality FROM locality.tables WHERE table_name = 'a_tab'::regclass;
ALTER TABLE a_tab RESET (locality);
\echo SQLSTATE :SQLSTATE
ALTER TABLE a_tab SET (locality = 'GLOBAL', locality = 'GLOBAL');
\echo SQLSTATE :SQLSTATE
ALTER TABLE IF EXISTS no_such_table SET (locality = 'GLOBAL');
ALTER TABLE no_such_table SET (locality = 'GLOBAL');
\echo SQLSTATE :SQLSTATE
-- A table without a primary key gains one in the same statement.
CREATE TABLE a_late_pk (id int NOT NULL);
ALTER TABLE a_late_pk ADD PRIMARY KEY (id), SET (locality = 'GLOBAL');
SELECT locality FROM locality.tables WHERE table_name = 'a_late_pk'::regclass;

-- REGIONAL BY ROW: the region column is added where absent, NOT NULL,
-- defaulting to gateway_region(); existing rows keep the home they had.
CREATE TABLE r_from_table (id int PRIMARY KEY);
INSERT INTO r_from_table VALUES (1), (2);
SELECT locality.set_locality('r_from_table', 'REGIONAL BY TABLE IN PRIMARY REGION');
SELECT locality.set_locality('r_from_table', 'REGIONAL BY ROW');
SELECT id, region FROM r_from_table ORDER BY id;
SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid) AS default
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = 'r_from_table'::regclass AND a.attname = 'region';
INSERT INTO r_from_table (id) VALUES (3);
SELECT id, region FROM r_from_table ORDER BY id;
SELECT region_column, column_added FROM locality.table_catalog
 WHERE relid = 'r_from_table'::regclass;
-- Changing away drops the column pg_locality added.
SELECT locality.set_locality('r_from_table', 'GLOBAL');
SELECT count(*) AS region_columns FROM pg_attribute
 WHERE attrelid = 'r_from_table'::regclass AND attname = 'region' AND NOT attisdropped;

-- An existing locality.region column named region is adopted, and kept.
CREATE TABLE r_adopt (id int PRIMARY KEY,
                      region locality.region NOT NULL DEFAULT 'regress-test');
SELECT locality.set_locality('r_adopt', 'REGIONAL BY ROW');
SELECT region_column, column_added FROM locality.table_catalog WHERE relid = 'r_adopt'::regclass;
SELECT locality.set_locality('r_adopt', 'GLOBAL');
SELECT attname FROM pg_attribute WHERE attrelid = 'r_adopt'::regclass AND attnum > 0 ORDER BY attnum;

-- A region column of another type: 42804 with a hint to use AS.
CREATE TABLE r_text (id int PRIMARY KEY, region text);
SELECT locality.set_locality('r_text', 'REGIONAL BY ROW');
\echo SQLSTATE :SQLSTATE

-- AS <column>: 42703 missing, 42804 another type, 55000 nullable.
CREATE TABLE r_as (id int PRIMARY KEY, home locality.region NOT NULL DEFAULT 'regress-test',
                   maybe locality.region, label text NOT NULL DEFAULT '');
SELECT locality.set_locality('r_as', 'REGIONAL BY ROW AS nowhere');
\echo SQLSTATE :SQLSTATE
SELECT locality.set_locality('r_as', 'REGIONAL BY ROW AS label');
\echo SQLSTATE :SQLSTATE
SELECT locality.set_locality('r_as', 'REGIONAL BY ROW AS maybe');
\echo SQLSTATE :SQLSTATE
SELECT locality.set_locality('r_as', 'REGIONAL BY ROW AS home');
SELECT table_name, locality, region_column FROM locality.tables
 WHERE table_name = 'r_as'::regclass;

-- A generated region column is fine.
CREATE FUNCTION home_of(country text) RETURNS locality.region
    LANGUAGE sql IMMUTABLE AS $$ SELECT 'regress-test'::locality.region $$;
CREATE TABLE r_generated (id int PRIMARY KEY, country text NOT NULL,
    home locality.region NOT NULL GENERATED ALWAYS AS (home_of(country)) STORED);
SELECT locality.set_locality('r_generated', 'REGIONAL BY ROW AS "home"');
SELECT locality FROM locality.tables WHERE table_name = 'r_generated'::regclass;

-- The region column cannot be dropped (2BP01), nor lose its type or NOT
-- NULL; it can be renamed, and the catalog follows.
ALTER TABLE r_as DROP COLUMN home;
\echo SQLSTATE :SQLSTATE
ALTER TABLE r_as ALTER COLUMN home TYPE text;
\echo SQLSTATE :SQLSTATE
ALTER TABLE r_as ALTER COLUMN home DROP NOT NULL;
\echo SQLSTATE :SQLSTATE
ALTER TABLE r_as RENAME COLUMN home TO home_region;
SELECT locality, region_column FROM locality.tables WHERE table_name = 'r_as'::regclass;
ALTER TABLE r_as DROP COLUMN home_region;
\echo SQLSTATE :SQLSTATE
ALTER TABLE r_generated DROP COLUMN country CASCADE;
\echo SQLSTATE :SQLSTATE
ALTER TABLE r_as RENAME home_region TO region;
SELECT locality, region_column FROM locality.tables WHERE table_name = 'r_as'::regclass;
-- Other columns drop as usual.
ALTER TABLE r_as DROP COLUMN maybe;
-- After a change of locality it is an ordinary column again.
SELECT locality.set_locality('r_as', 'GLOBAL');
ALTER TABLE r_as DROP COLUMN region;

-- RBR AS another column drops the one pg_locality had added.
CREATE TABLE r_switch (id int PRIMARY KEY, home locality.region NOT NULL DEFAULT 'regress-test');
SELECT locality.set_locality('r_switch', 'REGIONAL BY ROW');
SELECT locality.set_locality('r_switch', 'REGIONAL BY ROW AS home');
SELECT attname FROM pg_attribute WHERE attrelid = 'r_switch'::regclass AND attnum > 0
   AND NOT attisdropped ORDER BY attnum;

-- Sequences behind serial and identity columns move into this region's
-- residue class (INCREMENT BY 64, values congruent to the region id), above
-- every value already handed out or stored.
CREATE TABLE s_serial (id serial PRIMARY KEY, v text);
INSERT INTO s_serial (v) VALUES ('a'), ('b'), ('c');
INSERT INTO s_serial (id, v) VALUES (100, 'explicit');
CREATE TABLE s_identity (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text);
INSERT INTO s_identity (v) VALUES ('a');
SELECT locality.set_locality('s_serial', 'GLOBAL');
SELECT locality.set_locality('s_identity', 'REGIONAL BY ROW');
SELECT sequencename, increment_by FROM pg_sequences
 WHERE sequencename IN ('s_serial_id_seq', 's_identity_id_seq') ORDER BY 1;
SELECT last_value, is_called FROM s_serial_id_seq;
SELECT last_value, is_called FROM s_identity_id_seq;
INSERT INTO s_serial (v) VALUES ('d'), ('e');
INSERT INTO s_identity (v) VALUES ('b'), ('c');
SELECT id, id % 64 AS residue, v FROM s_serial ORDER BY id;
SELECT id, id % 64 AS residue, v FROM s_identity ORDER BY id;
-- Changing locality again leaves an aligned sequence alone.
SELECT locality.set_locality('s_serial', 'REGIONAL BY TABLE');
SELECT last_value, is_called FROM s_serial_id_seq;
-- A serial column added to a managed table joins the class at once.
ALTER TABLE s_serial ADD COLUMN n bigserial;
SELECT increment_by FROM pg_sequences WHERE sequencename = 's_serial_n_seq';
SELECT last_value, is_called FROM s_serial_n_seq;
-- A descending sequence cannot serve a managed table.
CREATE SEQUENCE s_down_seq INCREMENT BY -1;
CREATE TABLE s_down (id int PRIMARY KEY DEFAULT nextval('s_down_seq'));
ALTER SEQUENCE s_down_seq OWNED BY s_down.id;
SELECT locality.set_locality('s_down', 'GLOBAL');
\echo SQLSTATE :SQLSTATE

-- locality.execute: CockroachDB's statements and quoting rules.
CREATE SCHEMA "My Schema";
CREATE TABLE "My Schema"."Orders" (id int PRIMARY KEY);
CREATE TABLE "My Schema".lower_t (id int PRIMARY KEY);
SELECT locality.execute('ALTER TABLE "My Schema"."Orders" SET LOCALITY REGIONAL BY ROW');
SELECT locality.execute('alter table "My Schema".LOWER_T set locality global;');
SELECT locality.execute(format('ALTER TABLE %I."My Schema".lower_t SET LOCALITY REGIONAL BY TABLE IN "regress-test"', current_database()));
SELECT table_name, locality FROM locality.tables
 WHERE table_name::text LIKE '"My Schema".%' ORDER BY 1;
SET search_path = "My Schema", public;
SELECT locality.execute('ALTER TABLE lower_t SET LOCALITY REGIONAL BY TABLE IN PRIMARY REGION');
RESET search_path;
SELECT locality FROM locality.tables WHERE table_name = '"My Schema".lower_t'::regclass;
SELECT locality.execute('ALTER TABLE IF EXISTS no_such_table SET LOCALITY GLOBAL');
SELECT locality.execute('ALTER TABLE no_such_table SET LOCALITY GLOBAL');
\echo SQLSTATE :SQLSTATE
SELECT locality.execute('ALTER TABLE other_db.public.t_global SET LOCALITY GLOBAL');
\echo SQLSTATE :SQLSTATE
-- Parse errors point at the offending token.
SELECT locality.execute('ALTER TABLE t_global SET LOCALITY REGIONAL BY TABLE IN us-east1');
\echo SQLSTATE :SQLSTATE
SELECT locality.execute('ALTER TABLE t_global SET LOCALITY SOMEWHERE');
\echo SQLSTATE :SQLSTATE
SELECT locality.execute('SHOW REGIONS');
\echo SQLSTATE :SQLSTATE
-- Region statements name the current database.
SELECT locality.execute(format('ALTER DATABASE %I PRIMARY REGION "regress-test"', current_database()));
SELECT locality.execute(format('ALTER DATABASE %I SET PRIMARY REGION "nowhere"', current_database()));
\echo SQLSTATE :SQLSTATE
SELECT locality.execute(format('ALTER DATABASE %I ADD REGION IF NOT EXISTS "regress-test" CONNECTION ''dbname=x''', current_database()));
SELECT locality.execute(format('ALTER DATABASE %I DROP REGION IF EXISTS "nowhere"', current_database()));
DO $$
BEGIN
    PERFORM locality.execute('ALTER DATABASE postgres DROP REGION IF EXISTS "nowhere"');
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE '%: %', SQLSTATE, replace(SQLERRM, current_database(), '<current>');
END
$$;
SELECT locality.execute('ALTER DATABASE no_such_db DROP REGION IF EXISTS "nowhere"');
\echo SQLSTATE :SQLSTATE

-- What is sent to other regions (DEBUG1).  Schema changes of managed
-- tables are sent as the text of the one statement; locality changes as a
-- canonical set_locality call or the statement itself, after the context;
-- the DDL pg_locality runs itself (the region column) is not sent.
SET client_min_messages = debug1;
SELECT locality.set_locality('c_plain', 'regional by row');
CREATE TABLE c_new (id int PRIMARY KEY, v int) WITH (locality = 'REGIONAL BY TABLE');
ALTER TABLE c_plain ADD COLUMN note int;
CREATE INDEX c_plain_note ON c_plain (note);
ALTER INDEX c_plain_note RENAME TO c_plain_note2;
DROP INDEX c_plain_note2;
ALTER TABLE c_plain RENAME COLUMN note TO remark;
ALTER TABLE c_plain SET (fillfactor = 90, locality = 'GLOBAL');
-- One statement of several in one query string is sent alone.
SELECT 1 AS one \; ALTER TABLE c_plain ADD COLUMN extra int \; SELECT 2 AS two;
ALTER TABLE c_new SET SCHEMA "My Schema";
DROP TABLE "My Schema".c_new;
-- A drop of managed and unmanaged tables sends the managed ones only.
DROP TABLE t_global, early;
-- So does any other statement that drops a managed table.
DROP SCHEMA "My Schema" CASCADE;
-- Statements that touch no managed table send nothing.
CREATE TABLE u_plain (id int PRIMARY KEY);
ALTER TABLE u_plain ADD COLUMN note int;
CREATE INDEX u_plain_note ON u_plain (note);
DROP INDEX u_plain_note;
ALTER TABLE u_plain RENAME TO u_plain2;
DROP TABLE u_plain2;
RESET client_min_messages;

-- CONCURRENTLY cannot run in a distributed transaction.
CREATE INDEX CONCURRENTLY c_plain_remark ON c_plain (remark);
\echo SQLSTATE :SQLSTATE

-- Applying another region's change (what a propagated statement does):
-- nothing is sent on, existing rows are homed where the change was made,
-- and sequences start above the sender's floor.
INSERT INTO locality.region_catalog (id, name, conninfo) VALUES (2, 'us-east1', 'dbname=unused');
CREATE TABLE x_applied (id serial PRIMARY KEY, v text);
INSERT INTO x_applied (v) VALUES ('a'), ('b');
SET locality.remote_apply = on;
SET client_min_messages = debug1;
BEGIN;
SELECT locality._ddl_context('us-east1', 1000);
SELECT locality.set_locality('x_applied', 'REGIONAL BY ROW');
COMMIT;
RESET client_min_messages;
SELECT id, v, region FROM x_applied ORDER BY id;
SELECT last_value, is_called FROM x_applied_id_seq;
SELECT locality.set_locality('t_in', 'REGIONAL BY TABLE IN "us-east1"');
SELECT table_name, locality, home_region FROM locality.tables WHERE table_name = 't_in'::regclass;
-- The context only counts in such sessions.
RESET locality.remote_apply;
SELECT locality._ddl_context('us-east1', 1);
\echo SQLSTATE :SQLSTATE
SET locality.remote_apply = on;
SELECT locality.set_locality('t_in', 'GLOBAL');
DELETE FROM locality.region_catalog WHERE name = 'us-east1';
RESET locality.remote_apply;

-- The drops above forgot their tables: no catalog row names a dropped one.
SELECT count(*) AS dropped_tables_left FROM locality.table_catalog t
 WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.relid);

-- Every locality change and drop kept the catalog consistent.
SELECT table_name, locality, home_region, region_column
  FROM locality.tables ORDER BY table_name::text;

DROP TABLE t_table, t_primary, t_in, t_crdb, t_row, no_pk, c_plain, c_mixed, a_tab, a_late_pk,
    r_from_table, r_adopt, r_text, r_as, r_generated, r_switch, s_serial, s_identity, s_down,
    x_applied, an_unlogged;
DROP VIEW a_view;
DROP FUNCTION home_of(text);
REVOKE CREATE, USAGE ON SCHEMA public FROM regress_locality_user;
DROP ROLE regress_locality_user;
SELECT count(*) AS managed_tables_left FROM locality.table_catalog;
