# CRDT columns of GLOBAL tables across deletes and inserts of their rows
# (docs/conflicts.md section 5): a DELETE resets the CRDT state it observed,
# an increment or add concurrent with it (not observed) survives, and an
# INSERT over the key's tombstone continues the key's state.  Each case runs
# with two regions that do not see each other's changes until both have
# written, so each region applies the other's change in the other order;
# then every region must hold the same state and exactly the figure the
# definition gives.  Both conflict modes with row versions (last_write_wins
# and last_write_wins_column).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1));
LocalityCluster::join_regions(@nodes);
my ($us, $eu) = @nodes;

$us->safe_psql('postgres', q{
	CREATE TABLE rc (id int PRIMARY KEY, a int NOT NULL DEFAULT 0,
	                 p locality.pncounter NOT NULL DEFAULT '0',
	                 g locality.gcounter NOT NULL DEFAULT '0',
	                 s locality.orset NOT NULL DEFAULT '{}') WITH (locality = 'GLOBAL');
	CREATE TABLE cc (id int PRIMARY KEY, a int NOT NULL DEFAULT 0,
	                 p locality.pncounter NOT NULL DEFAULT '0',
	                 g locality.gcounter NOT NULL DEFAULT '0',
	                 s locality.orset NOT NULL DEFAULT '{}') WITH (locality = 'GLOBAL');
	SELECT locality.set_conflict_resolution('cc', 'last_write_wins_column');
});
for my $node (@nodes)
{
	ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM locality.tables WHERE conflict_resolution IN ('last_write_wins', 'last_write_wins_column')}),
		'both tables on ' . $node->name);
	ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM locality.replication_status WHERE state = 'streaming'}),
		$node->name . ' streams');
}

# isolate / reconnect: neither region applies the other's changes meanwhile.
sub isolate
{
	for my $pair ([ $us, $eu ], [ $eu, $us ])
	{
		my ($target, $source) = @$pair;
		$target->safe_psql('postgres', "SELECT locality.pause_replication('" . $source->name . "')");
		$target->poll_query_until('postgres', "SELECT state = 'paused' FROM locality.replication_status WHERE source_region = '"
			  . $source->name . "'") or die 'replication did not pause';
	}
}

sub reconnect
{
	$us->safe_psql('postgres', "SELECT locality.resume_replication('eu-west1')");
	$eu->safe_psql('postgres', "SELECT locality.resume_replication('us-east1')");
	ok(LocalityCluster::drain(@nodes), 'drained');
}

# state($t, $id): the row's values and full CRDT states on each region;
# equal everywhere, returned from us-east1.
sub state
{
	my ($t, $id, $label) = @_;
	my $sql = qq{SELECT coalesce((SELECT format('%s %s %s %s', p::bigint, g::bigint,
	                      array_to_string(array(SELECT e FROM unnest(locality.elements(s)) e ORDER BY 1), ','),
	                      a) FROM $t WHERE id = $id), 'none')};
	my $full = qq{SELECT coalesce((SELECT format('%s %s %s', p, g, s) FROM $t WHERE id = $id), 'none')};
	is($eu->safe_psql('postgres', $full), $us->safe_psql('postgres', $full),
		"$label: the same CRDT states on both regions");
	return $us->safe_psql('postgres', $sql);
}

for my $t (qw(rc cc))
{
	# 1. us-east1 increments and adds while eu-west1 deletes the row later:
	# deleted everywhere (the later delete wins).  us-east1 applies the
	# delete after its increment, eu-west1 the increment after its delete
	# (it loses to the tombstone, but stays in it).  The increment was not
	# observed by the delete, so an insert of the key continues from it.
	$us->safe_psql('postgres', "INSERT INTO $t (id, p, g, s) VALUES (1, '10', '10', '{a}')");
	ok(LocalityCluster::drain(@nodes), "$t row 1 everywhere");
	isolate();
	$us->safe_psql('postgres', "UPDATE $t SET p = p + 5, g = g + 5, s = locality.add(s, 'b') WHERE id = 1");
	$eu->safe_psql('postgres', "DELETE FROM $t WHERE id = 1");
	reconnect();
	is(state($t, 1, "$t case 1"), 'none', "$t: the later delete wins over the concurrent increment");
	$us->safe_psql('postgres', "INSERT INTO $t (id, p, g, s) VALUES (1, '1', '1', '{c}')");
	ok(LocalityCluster::drain(@nodes), 'drained');
	is(state($t, 1, "$t case 1, inserted again"), '6 6 b,c 0',
		"$t: an insert after a delete continues from the increments the delete did not observe (5 + 1; {b, c})");

	# 2. eu-west1 deletes; us-east1, not having seen it, increments later:
	# the row survives everywhere (the later update wins), and its counters
	# hold only what the delete did not observe.  eu-west1 brings the row
	# back over its tombstone; us-east1 keeps the row and merges the reset.
	$us->safe_psql('postgres', "INSERT INTO $t (id, p, g, s) VALUES (2, '10', '10', '{a}')");
	ok(LocalityCluster::drain(@nodes), "$t row 2 everywhere");
	isolate();
	$eu->safe_psql('postgres', "DELETE FROM $t WHERE id = 2");
	$us->safe_psql('postgres', "UPDATE $t SET a = 7, p = p - 3, g = g + 2, s = locality.add(s, 'b') WHERE id = 2");
	reconnect();
	is(state($t, 2, "$t case 2"), '-3 2 b 7',
		"$t: the later update keeps the row; the delete reset the 10 and {a} it observed");

	# 3. eu-west1 deletes and inserts again while us-east1's increment of the
	# old row is in flight: us-east1 applies the delete (later) and then the
	# insert over its tombstone; eu-west1 merges the increment into the row
	# it inserted again.
	$us->safe_psql('postgres', "INSERT INTO $t (id, p, g, s) VALUES (3, '10', '10', '{a}')");
	ok(LocalityCluster::drain(@nodes), "$t row 3 everywhere");
	isolate();
	$us->safe_psql('postgres', "UPDATE $t SET p = p + 5, g = g + 5, s = locality.add(s, 'b') WHERE id = 3");
	$eu->safe_psql('postgres', "DELETE FROM $t WHERE id = 3");
	$eu->safe_psql('postgres', "INSERT INTO $t (id, p, g, s) VALUES (3, '3', '3', '{c}')");
	reconnect();
	is(state($t, 3, "$t case 3"), '8 8 b,c 0',
		"$t: the increment of the old row in flight survives the delete and the insert (5 + 3)");

	# 4. Both regions delete the same observed state concurrently, one
	# inserts again: the reset counts once.
	$us->safe_psql('postgres', "INSERT INTO $t (id, p, g, s) VALUES (4, '10', '10', '{a}')");
	ok(LocalityCluster::drain(@nodes), "$t row 4 everywhere");
	isolate();
	$us->safe_psql('postgres', "DELETE FROM $t WHERE id = 4");
	$eu->safe_psql('postgres', "DELETE FROM $t WHERE id = 4");
	$eu->safe_psql('postgres', "INSERT INTO $t (id, p, g, s) VALUES (4, '2', '2', '{c}')");
	reconnect();
	is(state($t, 4, "$t case 4"), '2 2 c 0', "$t: two concurrent deletes of the same state reset it once");
}

done_testing();
