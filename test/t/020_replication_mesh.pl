# The replication data plane across three regions: every region's own writes
# to managed tables reach every other region (full mesh, no loops), nothing
# of unmanaged tables travels, pause/resume keep changes, a schema mismatch
# shows in last_error and heals, and kill -9 of the receiving server or of an
# apply worker loses nothing and applies nothing twice.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

# ap-east1 survives a killed child: its postmaster resets and recovers.
my @nodes = map {
	my $n = LocalityCluster::new_region($_, $_ eq 'ap-east1' ? (conf => "restart_after_crash = on\n") : ());
	$n->start;
	$n
} qw(us-east1 eu-west1 ap-east1);
my ($us, $eu, $ap) = @nodes;
$us->safe_psql('postgres', 'CREATE EXTENSION pg_locality');
LocalityCluster::join_regions(@nodes);

# Wait until every region has applied everything every other region committed.
sub drain
{
	for my $node (@nodes)
	{
		is($node->safe_psql('postgres', "SELECT locality.wait_for_replication(NULL, '60s')"), 't',
			'replication drained on ' . $node->name);
	}
}

# insert_on_both($id, $us_v, $eu_v): us-east1 and eu-west1 each insert row
# $id before either has seen the other's (replication between them paused).
sub insert_on_both
{
	my ($id, $us_v, $eu_v) = @_;
	$us->safe_psql('postgres', "SELECT locality.pause_replication('eu-west1')");
	$eu->safe_psql('postgres', "SELECT locality.pause_replication('us-east1')");
	$us->safe_psql('postgres', "INSERT INTO g VALUES ($id, '$us_v', 0)");
	$eu->safe_psql('postgres', "INSERT INTO g VALUES ($id, '$eu_v', 0)");
	$us->safe_psql('postgres', "SELECT locality.resume_replication('eu-west1')");
	$eu->safe_psql('postgres', "SELECT locality.resume_replication('us-east1')");
}

sub same_everywhere { LocalityCluster::same_everywhere(\@nodes, @_) }

$us->safe_psql('postgres', q{
	CREATE TABLE g (id int PRIMARY KEY, v text, n bigint NOT NULL DEFAULT 0) WITH (locality = 'GLOBAL');
});
# An unmanaged table is not propagated: create it on every region.
$_->safe_psql('postgres', 'CREATE TABLE plain (id int PRIMARY KEY)') for @nodes;
ok($eu->poll_query_until('postgres', q{SELECT count(*) = 2 FROM locality.replication_status WHERE state = 'streaming'}),
	'eu-west1 streams from both other regions');

# Full mesh: each region's own writes reach the others, and do not come back.
$us->safe_psql('postgres', "INSERT INTO g VALUES (1, 'from us', 0)");
$eu->safe_psql('postgres', "INSERT INTO g VALUES (2, 'from eu', 0)");
$ap->safe_psql('postgres', "INSERT INTO g VALUES (3, 'from ap', 0)");
$us->safe_psql('postgres', 'INSERT INTO plain VALUES (1)');
drain();
is(same_everywhere('SELECT string_agg(id || v, \',\' ORDER BY id) FROM g', 'inserts'),
	'1from us,2from eu,3from ap', 'every region holds every row');
is($eu->safe_psql('postgres', 'SELECT count(*) FROM plain'), '0', 'unmanaged rows stay home');

$eu->safe_psql('postgres', "UPDATE g SET v = 'updated in eu' WHERE id = 1");
$ap->safe_psql('postgres', 'DELETE FROM g WHERE id = 2');
drain();
is(same_everywhere('SELECT string_agg(id || v, \',\' ORDER BY id) FROM g', 'update and delete'),
	'1updated in eu,3from ap', 'updates and deletes reach everyone');
is($us->safe_psql('postgres', 'SELECT count(*) FROM locality.conflicts'), '1', 'one conflict on us-east1');
is($us->safe_psql('postgres', q{SELECT kind || ' ' || remote_region || ' ' || (local_tuple->>'v') || ' -> ' || (remote_tuple->>'v') || ' ' || (local_commit_ts < remote_commit_ts) FROM locality.conflicts}),
	'update_origin_differs eu-west1 from us -> updated in eu true',
	'eu-west1 updating a row us-east1 wrote is logged as update_origin_differs, both versions kept');
is($eu->safe_psql('postgres', 'SELECT count(*) FROM locality.conflicts'), '0', 'none where the row was only applied');

# REGIONAL BY ROW: each home ships its rows; REGIONAL BY TABLE: the home ships.
$us->safe_psql('postgres', q{
	CREATE TABLE users (id int PRIMARY KEY, name text) WITH (locality = 'REGIONAL BY ROW');
	CREATE TABLE promos (code text PRIMARY KEY) WITH (locality = 'REGIONAL BY TABLE IN "eu-west1"');
});
$us->safe_psql('postgres', "INSERT INTO users VALUES (1, 'in us')");
$ap->safe_psql('postgres', "INSERT INTO users VALUES (2, 'in ap')");
$eu->safe_psql('postgres', "INSERT INTO promos VALUES ('WINTER')");
drain();
is(same_everywhere(q{SELECT string_agg(id || ' ' || region::text, ',' ORDER BY id) FROM users}, 'regional by row'),
	'1 us-east1,2 ap-east1', 'regional-by-row rows reach every region with their home');
is(same_everywhere('SELECT string_agg(code, \',\') FROM promos', 'regional by table'),
	'WINTER', 'the home of a regional-by-table table ships it everywhere');

# Pause keeps changes; resume applies them.
$eu->safe_psql('postgres', "SELECT locality.pause_replication('us-east1')");
ok($eu->poll_query_until('postgres',
	q{SELECT state = 'paused' FROM locality.replication_status WHERE source_region = 'us-east1'}),
	'paused');
$us->safe_psql('postgres', "INSERT INTO g VALUES (10, 'while paused', 0)");
is($eu->safe_psql('postgres', "SELECT locality.wait_for_replication('us-east1', '1s')"), 'f',
	'wait_for_replication times out while paused');
is($eu->safe_psql('postgres', 'SELECT count(*) FROM g WHERE id = 10'), '0', 'nothing applied while paused');
$eu->safe_psql('postgres', "SELECT locality.resume_replication('us-east1')");
drain();
is($eu->safe_psql('postgres', 'SELECT v FROM g WHERE id = 10'), 'while paused', 'resumed and applied');

# Two regions insert the same key before either sees the other's row: both
# detect insert_exists when the rows meet, and keep both versions in the log.
insert_on_both(900, 'us wrote', 'eu wrote');
drain();
for my $pair ([ $us, 'us wrote', 'eu wrote' ], [ $eu, 'eu wrote', 'us wrote' ])
{
	my ($node, $mine, $theirs) = @$pair;
	is($node->safe_psql('postgres',
		q{SELECT (local_tuple->>'v') || ' | ' || (remote_tuple->>'v') FROM locality.conflicts WHERE kind = 'insert_exists'}),
		"$mine | $theirs", 'insert_exists detected with both versions on ' . $node->name);
	is($node->safe_psql('postgres', 'SELECT count(*) FROM g WHERE id = 900'), '1',
		'one row with the key on ' . $node->name);
}

# Conflict resolution 'error' stops on the conflict (retrying, never
# skipping) until the DBA decides; 'keep_local' then keeps each side's row.
like(LocalityCluster::error_of($us, "SELECT locality.set_conflict_resolution('g', 'newest')"),
	qr/^22023: invalid conflict resolution "newest"/, 'an unknown mode is 22023');
$us->safe_psql('postgres', "SELECT locality.set_conflict_resolution('g', 'error')");
is(same_everywhere(q{SELECT conflict_resolution FROM locality.tables WHERE table_name = 'g'::regclass},
	'conflict resolution'), 'error', 'the mode is set on every region');
insert_on_both(950, 'us kept', 'eu kept');
ok($us->poll_query_until('postgres',
	q{SELECT last_error LIKE '%replication conflict on table "g": insert_exists from region "eu-west1"%' FROM locality.replication_status WHERE source_region = 'eu-west1'}),
	'error mode: the conflict stops apply and shows in last_error');
$us->safe_psql('postgres', "SELECT locality.set_conflict_resolution('g', 'keep_local')");
drain();
is($us->safe_psql('postgres', 'SELECT v FROM g WHERE id = 950'), 'us kept', 'keep_local kept the row on us-east1');
is($eu->safe_psql('postgres', 'SELECT v FROM g WHERE id = 950'), 'eu kept', 'keep_local kept the row on eu-west1');
is($us->safe_psql('postgres', q{SELECT resolution FROM locality.conflicts WHERE (local_tuple->>'id') = '950'}),
	'keep_local', 'the conflict is logged with its resolution');
is($us->safe_psql('postgres', q{SELECT last_error IS NULL FROM locality.replication_status WHERE source_region = 'eu-west1'}),
	't', 'apply resumed once the DBA decided');
$us->safe_psql('postgres', "DELETE FROM g WHERE id = 950");
$eu->safe_psql('postgres', "DELETE FROM g WHERE id = 950");
$us->safe_psql('postgres', "SELECT locality.set_conflict_resolution('g', 'last_write_wins')");
drain();

# A schema mismatch: reported, retried, healed once the DBA fixes it.
$eu->safe_psql('postgres', 'SET locality.remote_apply = on; ALTER TABLE g RENAME COLUMN v TO w');
$us->safe_psql('postgres', "INSERT INTO g VALUES (11, 'needs column v', 0)");
ok($eu->poll_query_until('postgres',
	q{SELECT last_error LIKE '%column "v"%does not exist here%' FROM locality.replication_status WHERE source_region = 'us-east1'}),
	'the missing column shows in last_error');
$eu->safe_psql('postgres', 'SET locality.remote_apply = on; ALTER TABLE g RENAME COLUMN w TO v');
drain();
is($eu->safe_psql('postgres', 'SELECT v FROM g WHERE id = 11'), 'needs column v', 'healed: the change was applied, not skipped');
is($eu->safe_psql('postgres', q{SELECT last_error IS NULL FROM locality.replication_status WHERE source_region = 'us-east1'}),
	't', 'last_error cleared after the heal');

# Crash the receiving server mid-stream: every increment lands exactly once.
$us->safe_psql('postgres', 'INSERT INTO g SELECT i, NULL, 0 FROM generate_series(100, 199) i');
drain();
my $bg = $us->background_psql('postgres');
$bg->query_until(qr/started/, q{
	\echo started
	DO $$ BEGIN FOR i IN 1..3000 LOOP UPDATE g SET n = n + 1 WHERE id = 100 + i % 100; COMMIT; END LOOP; END $$;
	\echo done
});
ok($eu->poll_query_until('postgres', 'SELECT sum(n) > 500 FROM g'), 'updates are flowing to eu-west1');
LocalityCluster::kill9_and_restart($eu);
$bg->query_until(qr/done/, '');
$bg->quit;
drain();
is(same_everywhere('SELECT sum(n) FROM g', 'after a crash of the receiver'), '3000',
	'every increment applied exactly once');

# kill -9 of an apply worker of ap-east1 mid-stream.
my $bg3 = $us->background_psql('postgres');
$bg3->query_until(qr/started/, q{
	\echo started
	DO $$ BEGIN FOR i IN 1..3000 LOOP UPDATE g SET n = n + 1 WHERE id = 100 + i % 100; COMMIT; END LOOP; END $$;
	\echo done
});
ok($ap->poll_query_until('postgres', 'SELECT sum(n) > 3300 FROM g'), 'updates are flowing to ap-east1');
# Any apply worker: killing one resets the whole server, both streams restart.
my $worker = $ap->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_locality apply' LIMIT 1});
kill 'KILL', $worker;
$bg3->query_until(qr/done/, '');
$bg3->quit;
ok($ap->poll_query_until('postgres', 'SELECT true'), 'ap-east1 is back after the reset');
drain();
is(same_everywhere('SELECT sum(n) FROM g', 'after kill -9 of an apply worker'), '6000',
	'every increment applied exactly once after the worker was killed');

done_testing();
