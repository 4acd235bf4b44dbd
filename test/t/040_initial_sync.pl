# Initial sync: a region that joins receives every row the others hold, a
# table that becomes managed brings its existing rows along, and writes that
# run while a region joins are neither lost nor applied twice (the copy and
# the stream meet at the snapshot the slot exported).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes = map { my $n = LocalityCluster::new_region($_); $n->start; $n } qw(us-east1 eu-west1 ap-east1);
my ($us, $eu, $ap) = @nodes;
$us->safe_psql('postgres', 'CREATE EXTENSION pg_locality');
LocalityCluster::join_regions($us, $eu);

sub drain
{
	my @on = @_;
	is($_->safe_psql('postgres', "SELECT locality.wait_for_replication(NULL, '120s')"), 't',
		'drained on ' . $_->name) for @on;
}

# Rows written in two regions before the third exists.
$us->safe_psql('postgres', q{
	CREATE TABLE g (id int PRIMARY KEY, n int NOT NULL) WITH (locality = 'GLOBAL');
	CREATE TABLE users (id int PRIMARY KEY, name text) WITH (locality = 'REGIONAL BY ROW');
	INSERT INTO g SELECT i, i FROM generate_series(1, 1000) i;
	INSERT INTO users SELECT i, 'us' FROM generate_series(1, 100) i;
});
$eu->safe_psql('postgres', q{
	INSERT INTO g SELECT i, i FROM generate_series(1001, 1500) i;
	INSERT INTO users SELECT i, 'eu' FROM generate_series(101, 150) i;
});
drain($us, $eu);

# ap-east1 joins while us-east1 keeps writing.
my $bg = $us->background_psql('postgres');
$bg->query_until(qr/started/, q{
	\echo started
	DO $$ BEGIN FOR i IN 2001..3000 LOOP INSERT INTO g VALUES (i, i); COMMIT; END LOOP; END $$;
	\echo done
});
$us->safe_psql('postgres', "SELECT locality.add_region('ap-east1', '" . LocalityCluster::connstr($ap) . "')");
$bg->query_until(qr/done/, '');
$bg->quit;
drain(@nodes);

for my $node (@nodes)
{
	is($node->safe_psql('postgres', 'SELECT count(*), sum(n) FROM g'), '2500|3626250',
		'every row of g, exactly once, on ' . $node->name);
	is($node->safe_psql('postgres', q{SELECT string_agg(region || ':' || count, ',' ORDER BY region) FROM (SELECT region::text, count(*) FROM users GROUP BY 1) s}),
		'eu-west1:50,us-east1:100', 'users keep their homes on ' . $node->name);
}
like($ap->safe_psql('postgres',
	q{SELECT string_agg(source_region || '=' || phase, ',' ORDER BY source_region) FROM locality.sync_progress WHERE table_name = 'g'::regclass}),
	qr/^eu-west1=done,us-east1=done$/, 'sync_progress shows the copy from each source as done');
is($ap->safe_psql('postgres', q{SELECT rows_copied FROM locality.sync_progress WHERE table_name = 'g'::regclass AND source_region = 'eu-west1'}),
	'500', 'eu-west1 sent the 500 rows it wrote');
is($ap->safe_psql('postgres', 'SELECT count(*) FROM locality.conflicts'), '0',
	'the copy and the stream did not overlap');

# A local table with rows becomes managed: its rows reach every region.
$eu->safe_psql('postgres', q{
	CREATE TABLE legacy (id int PRIMARY KEY, v text);
	INSERT INTO legacy SELECT i, 'row ' || i FROM generate_series(1, 300) i;
	ALTER TABLE legacy SET (locality = 'GLOBAL');
	INSERT INTO legacy VALUES (301, 'after');
});
drain(@nodes);
is($_->safe_psql('postgres', 'SELECT count(*), max(v) FROM legacy'), '301|row 99',
	'existing rows of a newly managed table on ' . $_->name) for @nodes;

# A receiver with a column the source lacks: the copy maps by name and the
# receiver's default fills the rest, as streaming does.
$eu->safe_psql('postgres', q{
	CREATE TABLE extra (id int PRIMARY KEY);
	INSERT INTO extra SELECT generate_series(1, 20);
});
$ap->safe_psql('postgres', q{
	SET locality.remote_apply = on;  -- this region only
	CREATE TABLE extra (id int PRIMARY KEY, note text NOT NULL DEFAULT 'only on ap');
});
$eu->safe_psql('postgres', q{ALTER TABLE extra SET (locality = 'GLOBAL')});
drain(@nodes);
is($ap->safe_psql('postgres', q{SELECT count(*), min(note) FROM extra}), '20|only on ap',
	'rows copied into a table with an extra column get its default');

done_testing();
