# A remote INSERT into a GLOBAL table is inserted before the key is looked
# up (apply.c InsertRowChecked): it must still be decided against a local
# DELETE of the key's row that is in progress when it arrives (the worker
# waits for it and then finds its tombstone), against a tombstone, and
# against an existing row (insert_exists), the same way on both regions.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes = map { LocalityCluster::new_region($_) } qw(us-east1 eu-west1);
my ($us, $eu) = @nodes;
$_->start for @nodes;
$us->safe_psql('postgres', 'CREATE EXTENSION pg_locality');
LocalityCluster::join_regions(@nodes);

sub drain
{
	ok(LocalityCluster::drain(@nodes), 'replication drained');
}

sub pause_both
{
	for my $pair ([ $us, $eu ], [ $eu, $us ])
	{
		my ($target, $source) = @$pair;
		$target->safe_psql('postgres', "SELECT locality.pause_replication('" . $source->name . "')");
		$target->poll_query_until('postgres', "SELECT state = 'paused' FROM locality.replication_status WHERE source_region = '"
			  . $source->name . "'") or die 'replication did not pause';
	}
}

sub same_everywhere
{
	my ($sql, $label) = @_;
	my @got = map { $_->safe_psql('postgres', $sql) } @nodes;
	is($got[1], $got[0], "$label: eu-west1 equals us-east1");
	return $got[0];
}

$us->safe_psql('postgres', q{
	CREATE TABLE g (id int PRIMARY KEY, v text) WITH (locality = 'GLOBAL');
	INSERT INTO g VALUES (1, 'initial');
});
ok($eu->poll_query_until('postgres', q{SELECT count(*) = 1 FROM g}), 'the table and its row reached eu-west1');
drain();

# Row 2 inserted on both regions apart (eu-west1 first), then eu-west1
# deletes it in a transaction still open when us-east1's insert arrives.
pause_both();
$eu->safe_psql('postgres', q{INSERT INTO g VALUES (2, 'eu')});
$us->safe_psql('postgres', q{INSERT INTO g VALUES (2, 'us')});
my $session = $eu->background_psql('postgres');
$session->query_safe('BEGIN');
$session->query_safe('DELETE FROM g WHERE id = 2');
$eu->safe_psql('postgres', q{SELECT locality.resume_replication('us-east1')});
ok($eu->poll_query_until('postgres', q{
	SELECT count(*) > 0 FROM pg_stat_activity
	WHERE wait_event_type = 'Lock' AND backend_type <> 'client backend'}),
	"eu-west1's apply worker waits for the local DELETE of the row us-east1 inserts again");
$session->query_safe('COMMIT');
$session->quit;
$us->safe_psql('postgres', q{SELECT locality.resume_replication('eu-west1')});
drain();
is(same_everywhere(q{SELECT count(*) FROM g WHERE id = 2}, 'row 2'), '0',
	'the later delete wins over the insert that arrived while it was in progress');

# An insert that loses to a tombstone: eu-west1 inserts row 4 and deletes it
# later than us-east1, not having seen it, inserts it; the delete wins.
pause_both();
$eu->safe_psql('postgres', q{INSERT INTO g VALUES (4, 'eu')});
$us->safe_psql('postgres', q{INSERT INTO g VALUES (4, 'us')});
$eu->safe_psql('postgres', q{DELETE FROM g WHERE id = 4});
$_->safe_psql('postgres', 'SELECT locality.resume_replication(\'' . ($_ == $us ? 'eu-west1' : 'us-east1') . '\')')
  for @nodes;
drain();
is(same_everywhere(q{SELECT count(*) FROM g WHERE id = 4}, 'row 4'), '0',
	'an insert earlier than a delete it had not seen stays deleted everywhere');

# An insert over a tombstone: us-east1 deletes row 1, eu-west1 inserts it
# again later without having seen the delete; the later insert wins.
pause_both();
$us->safe_psql('postgres', q{DELETE FROM g WHERE id = 1});
$eu->safe_psql('postgres', q{DELETE FROM g WHERE id = 1; INSERT INTO g VALUES (1, 'back')});
$_->safe_psql('postgres', 'SELECT locality.resume_replication(\'' . ($_ == $us ? 'eu-west1' : 'us-east1') . '\')')
  for @nodes;
drain();
is(same_everywhere(q{SELECT v FROM g WHERE id = 1}, 'row 1'), 'back',
	'an insert later than a concurrent delete brings the row back everywhere');

# insert_exists: both insert row 3 apart; the later one wins everywhere.
pause_both();
$us->safe_psql('postgres', q{INSERT INTO g VALUES (3, 'us')});
$eu->safe_psql('postgres', q{INSERT INTO g VALUES (3, 'eu')});
$_->safe_psql('postgres', 'SELECT locality.resume_replication(\'' . ($_ == $us ? 'eu-west1' : 'us-east1') . '\')')
  for @nodes;
drain();
is(same_everywhere(q{SELECT v FROM g WHERE id = 3}, 'row 3'), 'eu', 'insert_exists: the later insert wins');

# Many new keys in one transaction (the fast path), after all of the above.
$us->safe_psql('postgres', q{INSERT INTO g SELECT i, 'bulk' FROM generate_series(100, 1099) i});
drain();
is(same_everywhere(q{SELECT count(*) || ' ' || sum(id) FROM g WHERE v = 'bulk'}, 'bulk rows'), '1000 599500',
	'a bulk insert of new keys is applied whole');

# A bulk of new keys among which some have tombstones, larger than one batch
# of deferred tombstone checks (apply.c CheckPendingInserts), with an UPDATE
# of one of its rows in the same transaction.  eu-west1 inserts rows 5000 and
# 7000, deletes 7000 before us-east1's bulk (which brings it back) and 5000
# after it (the delete wins).
pause_both();
$eu->safe_psql('postgres', q{INSERT INTO g VALUES (5000, 'eu'), (7000, 'eu')});
$eu->safe_psql('postgres', q{DELETE FROM g WHERE id = 7000});
$us->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO g SELECT i, 'bulk2' FROM generate_series(2000, 8999) i;
	UPDATE g SET v = 'upd' WHERE id = 2500;
	COMMIT;
});
$eu->safe_psql('postgres', q{DELETE FROM g WHERE id = 5000});
$_->safe_psql('postgres', 'SELECT locality.resume_replication(\'' . ($_ == $us ? 'eu-west1' : 'us-east1') . '\')')
  for @nodes;
drain();
is(same_everywhere(q{SELECT count(*) || ' ' || sum(id) FROM g WHERE v = 'bulk2'}, 'bulk2 rows'),
	(7000 - 2) . ' ' . (((2000 + 8999) * 7000 / 2) - 5000 - 2500),
	'a bulk over tombstones: the rows it wins are applied, the one a later delete wins is not');
is(same_everywhere(q{SELECT string_agg(id || '=' || v, ',' ORDER BY id) FROM g WHERE id IN (2500, 5000, 7000)},
	'rows 2500, 5000, 7000'), '2500=upd,7000=bulk2', 'the update in the bulk transaction applied');

# A table that never had a tombstone: its bulk is checked with one probe.
$us->safe_psql('postgres', q{
	CREATE TABLE h (id int PRIMARY KEY, v text) WITH (locality = 'GLOBAL');
	INSERT INTO h SELECT i, 'h' FROM generate_series(1, 5000) i;
});
drain();
is(same_everywhere(q{SELECT count(*) || ' ' || sum(id) FROM h}, 'table h'), '5000 12502500',
	'a bulk insert into a table without tombstones is applied whole');

done_testing();
