# A write forwarded to its home region and committed there is durable there
# before the client is told it committed, even when the home region's own
# commits are asynchronous (synchronous_commit = off, as applied
# transactions always are): the forwarder reads the home's WAL end in the
# commit's round trip (locality._wal_end(), LOCALITY_WAL_END_SQL), which
# flushes the WAL up to it.  eu-west1 runs with synchronous_commit = off and
# the walwriter's longest delay, and is killed (-9) right after each commit.
# full_page_writes = off there: after the restart's checkpoint, the next
# transaction's full-page images fill WAL pages, which the walwriter writes
# out at once, and that could take the commit along (the test then passed
# without the flush).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my $us = LocalityCluster::new_region('us-east1');
my $eu = LocalityCluster::new_region('eu-west1',
	conf => "synchronous_commit = off\nwal_writer_delay = 10s\nfull_page_writes = off\n");
for my $node ($us, $eu)
{
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION pg_locality');
}
LocalityCluster::join_regions($us, $eu);
$us->safe_psql('postgres',
	"CREATE TABLE t (id int PRIMARY KEY, v text) WITH (locality = 'REGIONAL BY ROW')");
is($eu->safe_psql('postgres', q{SELECT current_setting('synchronous_commit')}), 'off',
	'eu-west1 commits asynchronously');

# A transaction that forwards two statements and then commits (one phase:
# nothing is written here).
$us->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO t (id, v, region) VALUES (2, 'in a transaction', 'eu-west1');
	INSERT INTO t (id, v, region) VALUES (4, 'in a transaction', 'eu-west1');
	COMMIT;
});
LocalityCluster::kill9_and_restart($eu);
is($eu->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id IN (2, 4)'), '2',
	'a forwarded transaction committed in one phase survives a crash of its home');

# An autocommit INSERT of a row homed in eu-west1, run there.
$us->safe_psql('postgres', q{INSERT INTO t (id, v, region) VALUES (1, 'one phase', 'eu-west1')});
LocalityCluster::kill9_and_restart($eu);
is($eu->safe_psql('postgres', 'SELECT v FROM t WHERE id = 1'), 'one phase',
	'a one-phase forwarded commit survives a crash of its home right after it returned');

# Control: a local asynchronous commit there is lost by the same crash (so
# the test would see a forwarded commit that is not flushed).
$eu->safe_psql('postgres', q{INSERT INTO t (id, v) VALUES (3, 'local asynchronous')});
LocalityCluster::kill9_and_restart($eu);
is($eu->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id = 3'), '0',
	'a local asynchronous commit at eu-west1 is lost by the crash');

done_testing();
