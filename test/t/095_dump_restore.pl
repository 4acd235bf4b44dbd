# Backup and removal (docs/operations.md): a pg_dump of a region's database
# restored into a fresh database on a server of the same region (plain
# pg_dump | psql, and pg_dump -Fc | pg_restore) behaves like the original:
# the catalog rows, the internal triggers pg_dump leaves out (the safety net
# of REGIONAL tables, the triggers of GLOBAL ones), sequences in the
# region's residue class, region column defaults, CRDT states, the rows of
# every home; a write to a row homed elsewhere is forwarded, or refused
# with the router out of the way.  Then DROP EXTENSION pg_locality: refused
# without CASCADE (2BP01) and while a prepared transaction of pg_locality
# exists (55006); with CASCADE it leaves no apply worker, replication origin,
# slot or prepared transaction on that server, and the region that still
# lists it is refused a new slot there.
use strict;
use warnings;
use File::Temp qw(tempdir);
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my ($us, $eu) = LocalityCluster::start_regions(qw(us-east1 eu-west1));
LocalityCluster::join_regions($us, $eu);

$us->safe_psql('postgres', q{
	CREATE TABLE users (id bigserial PRIMARY KEY, name text) WITH (locality = 'REGIONAL BY ROW');
	CREATE TABLE promos (code text PRIMARY KEY, pct int)
	    WITH (locality = 'REGIONAL BY TABLE IN "eu-west1"');
	CREATE TABLE stats (id int PRIMARY KEY, hits locality.pncounter NOT NULL DEFAULT '0',
	                    tags locality.orset NOT NULL DEFAULT '{}', note text)
	    WITH (locality = 'GLOBAL');
	CREATE TABLE prefs (id int PRIMARY KEY, a text, b text) WITH (locality = 'GLOBAL');
	SELECT locality.set_conflict_resolution('prefs', 'last_write_wins_column');
	CREATE TABLE plain (id int PRIMARY KEY, v text);
	INSERT INTO plain VALUES (1, 'not managed');
});
$us->safe_psql('postgres', q{
	INSERT INTO users (name) VALUES ('ann'), ('bob');
	INSERT INTO stats (id, hits, tags) VALUES (1, '5', '{a}');
	INSERT INTO prefs VALUES (1, 'x', 'y');
});
ok(LocalityCluster::drain($us, $eu), 'replication drained');
$eu->safe_psql('postgres', q{
	INSERT INTO users (name) VALUES ('eva'), ('eli');
	INSERT INTO promos VALUES ('EU10', 10);
	UPDATE stats SET hits = hits + 3, tags = locality.add(tags, 'b') WHERE id = 1;
});
ok(LocalityCluster::drain($us, $eu), 'replication drained');

# What the restore must give back, read from the original.
my %q = (
	tables => q{SELECT table_name::text, locality, home_region, region_column, conflict_resolution
	              FROM locality.tables ORDER BY 1},
	regions => q{SELECT region, is_primary, id FROM locality.regions ORDER BY id},
	triggers => q{SELECT c.relname || ' ' || p.proname || ' ' || t.tgenabled::text
	                FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
	                JOIN pg_proc p ON p.oid = t.tgfoid
	               WHERE p.pronamespace = 'locality'::regnamespace
	                 AND c.relnamespace = 'public'::regnamespace ORDER BY 1},
	sequences => q{SELECT sequencename, increment_by, last_value FROM pg_sequences
	                WHERE schemaname = 'public' ORDER BY 1},
	defaults => q{SELECT c.relname || '.' || a.attname || ' ' || pg_get_expr(d.adbin, d.adrelid)
	                FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid
	                JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
	               WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1},
	users => q{SELECT id, name, region FROM users ORDER BY id},
	promos => q{SELECT * FROM promos ORDER BY code},
	stats => q{SELECT id, hits, locality.value(hits), tags, locality.elements(tags) FROM stats},
	prefs => q{SELECT * FROM prefs},
	plain => q{SELECT * FROM plain},
);
my %original = map { $_ => $us->safe_psql('postgres', $q{$_}) } keys %q;
like($original{triggers}, qr/users _home_guard/, 'the original has its safety net');
like($original{sequences}, qr/^users_id_seq\|\d+\|/, 'the original has a residue-class sequence');

# The server a backup is restored on: region us-east1, a fresh server.
my $restored = LocalityCluster::new_region('us_restore', region => 'us-east1');
$restored->start;

my $dir = tempdir(CLEANUP => 1);
my ($out, $err);

# run_out(@cmd): runs a client program, returns its stdout; dies if it fails.
sub run_out
{
	my @cmd = @_;
	my ($o, $e) = ('', '');
	IPC::Run::run(\@cmd, '>', \$o, '2>', \$e) or die "@cmd failed: $e";
	return $o;
}

# run(@cmd): runs a client program, returns its stderr; dies if it fails.
sub run
{
	my @cmd = @_;
	my ($o, $e) = ('', '');
	IPC::Run::run(\@cmd, '>', \$o, '2>', \$e) or die "@cmd failed: $e";
	return $e;
}

run('pg_dump', '-d', $us->connstr('postgres'), '-f', "$dir/plain.sql");
run('pg_dump', '-Fc', '-d', $us->connstr('postgres'), '-f', "$dir/custom.dump");

$restored->safe_psql('postgres', 'CREATE DATABASE plain_restore');
$restored->safe_psql('postgres', 'CREATE DATABASE custom_restore');
my $psql_err = run('psql', '-X', '-v', 'ON_ERROR_STOP=1', '-d',
	$restored->connstr('plain_restore'), '-f', "$dir/plain.sql");
is($psql_err, '', 'pg_dump | psql restores without an error or warning');
my $restore_err = run('pg_restore', '-d', $restored->connstr('custom_restore'),
	"$dir/custom.dump");
is($restore_err, '', 'pg_dump -Fc | pg_restore restores without an error or warning');
# --disable-triggers wraps each table's data in ALTER TABLE ... DISABLE/ENABLE
# TRIGGER ALL: the triggers still come after the data.
$restored->safe_psql('postgres', 'CREATE DATABASE notrig_restore');
is(run('pg_restore', '--disable-triggers', '-d', $restored->connstr('notrig_restore'),
	"$dir/custom.dump"), '', 'pg_restore --disable-triggers restores without an error');

for my $db (qw(plain_restore custom_restore notrig_restore))
{
	for my $what (sort keys %q)
	{
		is($restored->safe_psql($db, $q{$what}), $original{$what}, "$db: $what as in the original");
	}

	# The safety net is back: with the router out of the way, a write of a
	# row homed in eu-west1 is refused here.
	$restored->psql($db, q{SET locality.route_writes = off;
		UPDATE users SET name = 'stray' WHERE name = 'eva'}, stderr => \$err);
	like($err, qr/row of table "users" is homed in region "eu-west1"/,
		"$db: a local write of a row homed in eu-west1 is refused");
	$restored->psql($db, q{SET locality.route_writes = off;
		UPDATE promos SET pct = 0}, stderr => \$err);
	like($err, qr/row of table "promos" is homed in region "eu-west1"/,
		"$db: a local write of a REGIONAL BY TABLE table homed in eu-west1 is refused");
	$restored->psql($db, 'TRUNCATE users', stderr => \$err);
	like($err, qr/cannot truncate REGIONAL BY ROW table "users"/, "$db: TRUNCATE of a REGIONAL BY ROW table is refused");

	# A new row takes the next value of this region's residue class.
	my ($before) = $original{sequences} =~ /^users_id_seq\|\d+\|(\d+)/m;
	my $id = $restored->safe_psql($db,
		q{INSERT INTO users (name) VALUES ('new') RETURNING id});
	is($restored->safe_psql($db,
		"SELECT $id % 64 = $before % 64 AND $id > $before"),
		't', "$db: a new users id continues the region's residue class");
	$restored->safe_psql($db, "DELETE FROM users WHERE id = $id");

	# Schema changes of managed tables run on every region again.
	is($restored->safe_psql($db, 'SELECT locality.finish_restore()'), '0',
		"$db: nothing left for finish_restore");
}

# The router forwards a write of a row homed in eu-west1 from the restored
# database to eu-west1 (its catalog holds eu-west1's conninfo).
$restored->safe_psql('plain_restore', q{UPDATE users SET name = 'eva2' WHERE name = 'eva'});
is($eu->safe_psql('postgres', q{SELECT count(*) FROM users WHERE name = 'eva2'}), '1',
	'a write of a row homed in eu-west1 is forwarded there from the restored database');

# A restore of only the pre-data and data sections (no post-data) leaves
# the tables without their triggers: finish_restore gives them back.
$restored->safe_psql('postgres', 'CREATE DATABASE partial_restore');
run('pg_restore', '--section=pre-data', '--section=data', '-d',
	$restored->connstr('partial_restore'), "$dir/custom.dump");
is($restored->safe_psql('partial_restore', 'SELECT locality.finish_restore()'), '4',
	'finish_restore gives the four managed tables their triggers');
is($restored->safe_psql('partial_restore', $q{triggers}), $original{triggers},
	'partial_restore: triggers as in the original');

# A table in a schema that sorts before "locality": pg_dump loads its rows
# before the catalog's, so its region column cannot be read; a pg_restore
# list that loads the catalog first restores it (docs/operations.md).
$eu->safe_psql('postgres', 'CREATE SCHEMA app');
$us->safe_psql('postgres', q{
	CREATE SCHEMA app;
	CREATE TABLE app.carts (id int PRIMARY KEY, item text) WITH (locality = 'REGIONAL BY ROW');
	INSERT INTO app.carts VALUES (1, 'tea');
});
# Each region's copy of app.carts from the other ends before the DROP
# EXTENSION below: a copy in progress holds the table's lock on its source.
for my $node ($us, $eu)
{
	ok($node->poll_query_until('postgres', q{
		SELECT EXISTS (SELECT FROM locality.sync_progress
		                WHERE table_name = 'app.carts'::regclass AND phase = 'done')}),
		$node->name . ' has copied app.carts');
}
run('pg_dump', '-Fc', '-d', $us->connstr('postgres'), '-f', "$dir/app.dump");
$restored->safe_psql('postgres', 'CREATE DATABASE app_restore');
IPC::Run::run([ 'pg_restore', '-d', $restored->connstr('app_restore'), "$dir/app.dump" ],
	'>', \$out, '2>', \$err);
like($err, qr/region "us-east1" does not exist/,
	'a region column in schema app is read before the catalog is loaded: 42704');
$restored->safe_psql('postgres', 'CREATE DATABASE app_listed');
my @list = split /\n/, run_out('pg_restore', '-l', "$dir/app.dump");
my @catalog = grep { /TABLE DATA locality (region_catalog|table_catalog)/ } @list;
my @rest = grep { !/TABLE DATA locality (region_catalog|table_catalog)/ } @list;
my $first_data = (grep { $rest[$_] =~ /TABLE DATA/ } 0 .. $#rest)[0];
splice @rest, $first_data, 0, @catalog;
open my $fh, '>', "$dir/app.list" or die;
print $fh join("\n", @rest), "\n";
close $fh;
is(run('pg_restore', '-L', "$dir/app.list", '-d', $restored->connstr('app_listed'),
	"$dir/app.dump"), '', 'with the catalog loaded first the restore succeeds');
is($restored->safe_psql('app_listed', q{SELECT id, item, region FROM app.carts}),
	'1|tea|us-east1', 'app.carts restored');
is($restored->safe_psql('app_listed', $q{triggers} =~ s/'public'/'app'/r),
	"carts _home_guard O\ncarts _home_guard O", 'app.carts has its safety net');

# --- DROP EXTENSION ----------------------------------------------------------

sub leftovers
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
		SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pg_locality%')
		    || ' slots, ' ||
		       (SELECT count(*) FROM pg_replication_origin WHERE roname LIKE 'pg_locality%')
		    || ' origins, ' ||
		       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_locality apply'
		           AND datname = 'postgres')
		    || ' apply workers, ' ||
		       (SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE 'locality%')
		    || ' prepared'});
}
like(leftovers($eu), qr/^[1-9]\d* slots, [1-9]\d* origins, [1-9]\d* apply workers, 0 prepared$/,
	'eu-west1 has its slots, origin and apply worker before the drop');

like(LocalityCluster::error_of($eu, 'DROP EXTENSION pg_locality'),
	qr/^2BP01: cannot drop extension pg_locality because other objects depend on it/,
	'DROP EXTENSION without CASCADE: 2BP01');

# A prepared transaction of pg_locality (a forwarded write awaiting its
# coordinator's decision) blocks the drop.
$eu->safe_psql('postgres', q{
	CREATE TABLE scratch (id int);
	BEGIN; INSERT INTO scratch VALUES (1); PREPARE TRANSACTION 'locality_us-east1_999_1';
});
like(LocalityCluster::error_of($eu, 'DROP EXTENSION pg_locality CASCADE'),
	qr/^55006: cannot drop extension pg_locality while 1 of its prepared transactions exist/,
	'DROP EXTENSION with a prepared transaction of pg_locality: 55006');
$eu->safe_psql('postgres', q{ROLLBACK PREPARED 'locality_us-east1_999_1'});

my $eu_rows = $eu->safe_psql('postgres', 'SELECT count(*) FROM users');
$eu->safe_psql('postgres', 'DROP EXTENSION pg_locality CASCADE');
is($eu->safe_psql('postgres', 'SELECT count(*) FROM users'), $eu_rows,
	'the tables and their rows stay');
is($eu->safe_psql('postgres',
	q{SELECT count(*) FROM pg_attribute WHERE attrelid = 'users'::regclass AND attname = 'region'
	    AND NOT attisdropped}), '0', 'the region column went with its type');
ok($eu->poll_query_until('postgres', q{
	SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'pg_locality%')
	     + (SELECT count(*) FROM pg_replication_origin WHERE roname LIKE 'pg_locality%')
	     + (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_locality apply')
	     = 0}), 'no slot, origin or apply worker left on eu-west1');
# us-east1 still lists eu-west1: its apply worker's next attempt is refused.
ok($us->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM locality.replication_status
	 WHERE source_region = 'eu-west1' AND last_error LIKE '%not installed%'}),
	'us-east1 is refused streaming from eu-west1');
is(leftovers($eu), '0 slots, 0 origins, 0 apply workers, 0 prepared',
	'still nothing on eu-west1 after us-east1 retried');

done_testing();
