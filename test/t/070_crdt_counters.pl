# CRDT columns merge on apply (SPEC.md section 5): concurrent increments of
# the same counter on two regions, made while neither sees the other, end
# as the exact sum on both; concurrent set adds both survive; an insert of
# the same key on both regions merges the counters too.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my ($us, $eu) = LocalityCluster::start_regions(qw(us-east1 eu-west1));
LocalityCluster::join_regions($us, $eu);
my @nodes = ($us, $eu);

sub drain
{
	for my $node (@nodes)
	{
		is($node->safe_psql('postgres', "SELECT locality.wait_for_replication(NULL, '60s')"), 't',
			'replication drained on ' . $node->name);
	}
}

sub pause_both
{
	$us->safe_psql('postgres', "SELECT locality.pause_replication('eu-west1')");
	$eu->safe_psql('postgres', "SELECT locality.pause_replication('us-east1')");
}

sub resume_both
{
	$us->safe_psql('postgres', "SELECT locality.resume_replication('eu-west1')");
	$eu->safe_psql('postgres', "SELECT locality.resume_replication('us-east1')");
}

$us->safe_psql('postgres', q{
	CREATE TABLE c (id int PRIMARY KEY,
	                g locality.gcounter NOT NULL DEFAULT '0',
	                p locality.pncounter NOT NULL DEFAULT '0',
	                s locality.orset NOT NULL DEFAULT '{}',
	                note text) WITH (locality = 'GLOBAL');
});
ok($eu->poll_query_until('postgres', q{SELECT count(*) = 1 FROM locality.replication_status WHERE state = 'streaming'}),
	'eu-west1 streams from us-east1');
ok($us->poll_query_until('postgres', q{SELECT count(*) = 1 FROM locality.replication_status WHERE state = 'streaming'}),
	'us-east1 streams from eu-west1');
$us->safe_psql('postgres', "INSERT INTO c (id) VALUES (1)");
drain();

# Concurrent increments with replication paused both ways.
pause_both();
$us->safe_psql('postgres', "UPDATE c SET g = g + 1, p = p + 10 WHERE id = 1") for 1 .. 5;
$eu->safe_psql('postgres', "UPDATE c SET g = g + 2, p = p - 3, note = 'eu' WHERE id = 1") for 1 .. 7;
$us->safe_psql('postgres', "UPDATE c SET s = locality.add(s, 'from-us') WHERE id = 1");
$eu->safe_psql('postgres', "UPDATE c SET s = locality.add(s, 'from-eu') WHERE id = 1");
is($us->safe_psql('postgres', 'SELECT g::bigint || \' \' || p::bigint FROM c WHERE id = 1'), '5 50',
	'us-east1 sees only its own increments while paused');
resume_both();
drain();
for my $node (@nodes)
{
	is($node->safe_psql('postgres', 'SELECT g::bigint || \' \' || p::bigint FROM c WHERE id = 1'),
		(5 + 14) . ' ' . (50 - 21), 'exact sums on ' . $node->name);
	is($node->safe_psql('postgres', 'SELECT locality.elements(s) FROM c WHERE id = 1'),
		'{from-eu,from-us}', 'both adds survive on ' . $node->name);
}
is($us->safe_psql('postgres', 'SELECT g::text FROM c WHERE id = 1'),
	$eu->safe_psql('postgres', 'SELECT g::text FROM c WHERE id = 1'), 'identical counter states');

# Same key inserted on both regions (insert_exists): counters merge.
pause_both();
$us->safe_psql('postgres', "INSERT INTO c (id, g, p) VALUES (2, '4', '4')");
$eu->safe_psql('postgres', "INSERT INTO c (id, g, p) VALUES (2, '6', '-1')");
resume_both();
drain();
for my $node (@nodes)
{
	is($node->safe_psql('postgres', 'SELECT g::bigint || \' \' || p::bigint FROM c WHERE id = 2'),
		'10 3', 'insert_exists merges counters on ' . $node->name);
}

# Replaying the same state changes nothing (idempotent merge): a later
# increment on one region still adds exactly once everywhere.
$eu->safe_psql('postgres', "UPDATE c SET g = g + 100 WHERE id = 1");
drain();
is($_->safe_psql('postgres', 'SELECT g::bigint FROM c WHERE id = 1'), '119', 'one more increment on ' . $_->name)
  for @nodes;

done_testing();
