# Schema changes of managed tables across three real servers: every DDL kind
# and every door of table localities reaches every region, as the same role,
# in one distributed transaction; a region that is down (before or in the
# middle of a change) or that refuses the change leaves every region as it
# was; statements on unmanaged tables never leave the server.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1 ap-east1));
my ($us, $eu, $ap) = @nodes;
LocalityCluster::join_regions(@nodes);
*error_of = \&LocalityCluster::error_of;

# on_all($sql): $sql's result on each region, as "region=result" lines.
sub on_all
{
	my ($sql) = @_;
	return join("\n", map { $_->name . '=' . $_->safe_psql('postgres', $sql) } @nodes);
}

# same_everywhere($sql, $expected, $what): $sql gives $expected on every region.
sub same_everywhere
{
	my ($sql, $expected, $what) = @_;
	is(on_all($sql), join("\n", map { $_->name . "=$expected" } @nodes), $what);
}

sub columns_sql
{
	my ($table) = @_;
	return "SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute "
	  . "WHERE attrelid = '$table'::regclass AND attnum > 0 AND NOT attisdropped";
}

sub locality_sql
{
	my ($table) = @_;
	return "SELECT coalesce((SELECT locality || '|' || coalesce(region_column::text, '') "
	  . "FROM locality.tables WHERE table_name = to_regclass('$table')), 'unmanaged')";
}

# The role that owns the tables exists on every server (roles are global
# objects, not propagated); changes run on every region as that role.
for my $node (@nodes)
{
	$node->safe_psql('postgres', q{
		CREATE ROLE app LOGIN;
		GRANT CREATE ON DATABASE postgres TO app;
		GRANT CREATE ON SCHEMA public TO app;
	});
}

# --- CREATE TABLE ... WITH (locality), other reloptions kept -------------
$us->safe_psql('postgres', q{
	SET ROLE app;
	CREATE TABLE orders (id int PRIMARY KEY, item text)
	    WITH (fillfactor = 70, locality = 'REGIONAL BY ROW');
});
same_everywhere(locality_sql('orders'), 'REGIONAL BY ROW|region',
	'CREATE TABLE ... WITH (locality) reaches every region');
same_everywhere(columns_sql('orders'), 'id,item,region', 'with the region column everywhere');
same_everywhere("SELECT reloptions FROM pg_class WHERE relname = 'orders'", '{fillfactor=70}',
	'the other reloptions are kept everywhere');
same_everywhere("SELECT relowner::regrole FROM pg_class WHERE relname = 'orders'", 'app',
	'the table belongs to the same role everywhere');

# --- ALTER TABLE, CREATE/ALTER/DROP INDEX, RENAME ---------------------------
$eu->safe_psql('postgres', 'SET ROLE app; ALTER TABLE orders ADD COLUMN qty int NOT NULL DEFAULT 1');
same_everywhere(columns_sql('orders'), 'id,item,region,qty', 'ALTER TABLE ADD COLUMN from eu-west1');
$ap->safe_psql('postgres', 'SET ROLE app; CREATE INDEX orders_item ON orders (item)');
same_everywhere("SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_item'", '1',
	'CREATE INDEX from ap-east1');
$us->safe_psql('postgres', 'SET ROLE app; ALTER INDEX orders_item RENAME TO orders_item_idx');
same_everywhere("SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_item_idx'", '1',
	'ALTER INDEX ... RENAME');
$us->safe_psql('postgres', 'SET ROLE app; DROP INDEX orders_item_idx');
same_everywhere("SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'orders_item%'", '0',
	'DROP INDEX');
$eu->safe_psql('postgres', 'SET ROLE app; ALTER TABLE orders RENAME COLUMN region TO home');
same_everywhere(locality_sql('orders'), 'REGIONAL BY ROW AS "home"|home',
	'RENAME of the region column keeps every catalog in step');
like(error_of($ap, 'ALTER TABLE orders DROP COLUMN home'),
	qr/^2BP01: cannot drop column "home" of table "orders"/,
	'the region column cannot be dropped');
same_everywhere(columns_sql('orders'), 'id,item,home,qty', 'and it is still there everywhere');

# Several statements in one query string: each is sent on its own.
$us->safe_psql('postgres',
	'SET ROLE app; CREATE TABLE scratch (id int); ALTER TABLE orders ADD COLUMN note text; DROP TABLE scratch');
same_everywhere(columns_sql('orders'), 'id,item,home,qty,note',
	'one ALTER TABLE of a multi-statement string');
same_everywhere("SELECT to_regclass('scratch') IS NULL", 't',
	'the unmanaged table of the same string stayed local');

# --- The other doors: set_locality, ALTER TABLE SET (locality), execute() ---
# Rows every region holds (replicated) keep one home, the same everywhere.
$us->safe_psql('postgres',
	q{CREATE TABLE accounts (id int PRIMARY KEY, balance int) WITH (locality = 'GLOBAL')});
same_everywhere(locality_sql('accounts'), 'GLOBAL|', 'GLOBAL table everywhere');
$us->safe_psql('postgres', 'INSERT INTO accounts VALUES (1, 10), (2, 20)');
ok($_->poll_query_until('postgres', 'SELECT count(*) = 2 FROM accounts'),
	'the rows reached ' . $_->name) for ($eu, $ap);
$eu->safe_psql('postgres', "SELECT locality.set_locality('accounts', 'REGIONAL BY ROW')");
same_everywhere(locality_sql('accounts'), 'REGIONAL BY ROW|region', 'set_locality from eu-west1');
same_everywhere(q{SELECT string_agg(id || ':' || region, ',' ORDER BY id) FROM accounts},
	'1:eu-west1,2:eu-west1',
	'existing rows are homed in the region that ran the change, on every region');
# (The initial copies of accounts may still run: a copy gives way to the
# schema change, test/t/041_sync_vs_ddl.pl.)
$ap->safe_psql('postgres',
	q{ALTER TABLE accounts SET (fillfactor = 90, locality = 'REGIONAL BY TABLE IN "ap-east1"')});
same_everywhere(locality_sql('accounts'), 'REGIONAL BY TABLE IN "ap-east1"|',
	'ALTER TABLE SET (locality) from ap-east1');
same_everywhere(columns_sql('accounts'), 'id,balance',
	'the region column pg_locality added is gone everywhere');
same_everywhere("SELECT reloptions FROM pg_class WHERE relname = 'accounts'", '{fillfactor=90}',
	'with the other reloption applied everywhere');
$us->safe_psql('postgres', q{SELECT locality.set_locality('accounts', 'REGIONAL BY ROW')});
same_everywhere(q{SELECT string_agg(id || ':' || region, ',' ORDER BY id) FROM accounts},
	'1:ap-east1,2:ap-east1', 'rows of a REGIONAL BY TABLE table keep its home');
$us->safe_psql('postgres',
	q{SELECT locality.execute('ALTER TABLE public.accounts SET LOCALITY REGIONAL BY TABLE IN PRIMARY REGION')});
same_everywhere(
	"SELECT locality || '|' || home_region FROM locality.tables WHERE table_name = 'accounts'::regclass",
	'REGIONAL BY TABLE IN PRIMARY REGION|us-east1', 'locality.execute() from us-east1');

# A local table with history joins: the others get its definition, and
# every region's sequence starts above the values it handed out.
$us->safe_psql('postgres', q{
	CREATE TABLE events (id serial PRIMARY KEY, what text);
	INSERT INTO events (what) SELECT 'old ' || g FROM generate_series(1, 100) g;
});
is($eu->safe_psql('postgres', "SELECT to_regclass('events') IS NULL"), 't',
	'a local table is not on other regions');
$us->safe_psql('postgres', "SELECT locality.set_locality('events', 'GLOBAL')");
same_everywhere(locality_sql('events'), 'GLOBAL|', 'set_locality brings its definition to every region');
is(on_all("INSERT INTO events (what) VALUES ('new') RETURNING id"),
	"us-east1=129\neu-west1=130\nap-east1=131",
	'each region hands out its own residue class above every value handed out');
is(on_all("INSERT INTO events (what) VALUES ('new') RETURNING id % 64"),
	"us-east1=1\neu-west1=2\nap-east1=3", 'and stays in it');

# --- DROP TABLE, and drops of managed tables by other statements ----------
$us->safe_psql('postgres', 'CREATE SCHEMA shop');
$_->safe_psql('postgres', 'CREATE SCHEMA IF NOT EXISTS shop') for ($eu, $ap);
$us->safe_psql('postgres',
	q{CREATE TABLE shop.carts (id int PRIMARY KEY) WITH (locality = 'REGIONAL BY TABLE')});
$eu->safe_psql('postgres', 'DROP TABLE events');
same_everywhere("SELECT to_regclass('events') IS NULL", 't', 'DROP TABLE reaches every region');
$ap->safe_psql('postgres', 'DROP SCHEMA shop CASCADE');
same_everywhere("SELECT to_regclass('shop.carts') IS NULL", 't',
	'a managed table dropped by DROP SCHEMA ... CASCADE is dropped everywhere');
same_everywhere(
	'SELECT count(*) FROM locality.table_catalog t WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = t.relid)',
	'0', 'no catalog row is left for a dropped table');

# A rolled-back change is rolled back everywhere.
$us->safe_psql('postgres', 'BEGIN; ALTER TABLE orders ADD COLUMN never int; ROLLBACK');
same_everywhere(columns_sql('orders'), 'id,item,home,qty,note', 'ROLLBACK undoes a change everywhere');

# --- Unmanaged tables: never sent, no remote call at all --------------------
$us->safe_psql('postgres', q{
	CREATE TABLE local_only (id int PRIMARY KEY);
	ALTER TABLE local_only ADD COLUMN v text;
	CREATE INDEX local_only_v ON local_only (v);
});
is($eu->safe_psql('postgres', "SELECT to_regclass('local_only') IS NULL"), 't',
	'an unmanaged table stays on its server');

# --- All or nothing ---------------------------------------------------------
# A region that is down: the change fails and changes nobody.
$ap->stop;
like(error_of($us, 'ALTER TABLE orders ADD COLUMN lost int'),
	qr/^08006: region "ap-east1" is unavailable/, 'a change while a region is down fails with 08006');
like(error_of($eu, "SELECT locality.set_locality('orders', 'GLOBAL')"),
	qr/^08006: region "ap-east1" is unavailable/, 'so does a locality change');
is($_->safe_psql('postgres', columns_sql('orders')), 'id,item,home,qty,note',
	'nothing changed on ' . $_->name) for ($us, $eu);
is($_->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'), '0',
	'no prepared transaction left on ' . $_->name) for ($us, $eu);
# Unmanaged tables do not notice: no remote call is made for them.
is(error_of($us, 'ALTER TABLE local_only ADD COLUMN w int'), '',
	'DDL on an unmanaged table works while a region is down');
$ap->start;

# A region that goes down in the middle of a transaction's changes.
my $session = $us->background_psql('postgres', on_error_stop => 0);
$session->query_safe('BEGIN');
$session->query_safe('ALTER TABLE orders ADD COLUMN half int');
$ap->stop('immediate');
$session->query('COMMIT');
like($session->{stderr}, qr/ERROR:.*region "ap-east1"/s,
	'COMMIT fails when a region died after the change reached it');
$session->quit;
$ap->start;
same_everywhere(columns_sql('orders'), 'id,item,home,qty,note',
	'the change is on no region, not even the ones that had it');
same_everywhere('SELECT count(*) FROM pg_prepared_xacts', '0', 'and no prepared transaction is left');

# A region that refuses the change (an index of that name exists only there).
$ap->safe_psql('postgres', 'SET locality.remote_apply = on; CREATE INDEX orders_qty ON orders (qty)');
like(error_of($us, 'CREATE INDEX orders_qty ON orders (note)'),
	qr/^42P07: relation "orders_qty" already exists/, 'the refusing region\'s error is raised');
is($_->safe_psql('postgres', "SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_qty'"),
	'0', 'no index created on ' . $_->name) for ($us, $eu);

# After all this, every region agrees on the catalog.
same_everywhere(
	"SELECT string_agg(table_name::text || ' ' || locality, ', ' ORDER BY table_name::text) FROM locality.tables",
	'accounts REGIONAL BY TABLE IN PRIMARY REGION, orders REGIONAL BY ROW AS "home"',
	'every region has the same managed tables');

# A region that still homes a table or rows cannot be dropped (2BP01 names them).
$us->safe_psql('postgres', q{
	CREATE TABLE homed_rows (id int PRIMARY KEY) WITH (locality = 'REGIONAL BY ROW');
	CREATE TABLE homed_table (id int PRIMARY KEY) WITH (locality = 'REGIONAL BY TABLE IN "eu-west1"');
});
$ap->safe_psql('postgres', 'INSERT INTO homed_rows VALUES (1), (2)');
$us->safe_psql('postgres', "SELECT locality.wait_for_replication('ap-east1', '60s')");
like(LocalityCluster::error_of($us, q{SELECT locality.drop_region('ap-east1')}),
	qr/^2BP01: cannot drop region "ap-east1": \d+ rows of table [\w.]+ are homed there/,
	'rows homed in a region keep it from being dropped');
like(LocalityCluster::error_of($us, q{SELECT locality.drop_region('eu-west1')}),
	qr/^2BP01: cannot drop region "eu-west1": (table [\w.]+ is homed there|\d+ rows of table [\w.]+ are homed there)/,
	'a table homed in a region keeps it from being dropped');

# A table owner cannot pass a schema change off as another region's work:
# locality.remote_apply is only believed with the cluster's secret.
$us->safe_psql('postgres', q{
	SET ROLE app;
	CREATE TABLE owned (id int PRIMARY KEY) WITH (locality = 'GLOBAL');
	SET locality.remote_apply = 'on';
	ALTER TABLE owned ADD COLUMN sneaky int;
});
is(on_all(q{SELECT count(*) FROM pg_attribute WHERE attrelid = 'owned'::regclass AND attname = 'sneaky'}),
	"us-east1=1\neu-west1=1\nap-east1=1", 'a claimed remote_apply by a table owner still propagates');
like(LocalityCluster::error_of($us, q{SET ROLE app; SHOW locality.remote_apply}),
	qr/^42501: /, 'the token is not readable by other roles');

done_testing();
