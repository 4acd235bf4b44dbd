# The apply worker keeps a relation's executor state (indexes, slots) from one
# applied transaction to the next: a local schema change on the receiving
# region between two transactions must still be seen by the next one.  An
# index created there is maintained by later applied rows; a column added
# there with a default keeps that default in rows written before it was
# added when they are updated by the stream; a dropped index is no longer
# used.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1));
my ($us, $eu) = @nodes;
LocalityCluster::join_regions(@nodes);

sub drain
{
	is($eu->safe_psql('postgres', "SELECT locality.wait_for_replication('us-east1', '60s')"), 't',
		'eu-west1 applied everything us-east1 committed');
}

# The rows of t on eu-west1 found through an index only / through the heap only.
sub by_index
{
	my ($where) = @_;
	return $eu->safe_psql('postgres', qq{
		SET enable_seqscan = off; SET enable_bitmapscan = off;
		SELECT string_agg(id::text, ',' ORDER BY id) FROM t WHERE $where});
}

sub by_heap
{
	my ($where) = @_;
	return $eu->safe_psql('postgres', qq{
		SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off;
		SELECT string_agg(id::text, ',' ORDER BY id) FROM t WHERE $where});
}

$us->safe_psql('postgres', q{CREATE TABLE t (id int PRIMARY KEY, v text, n int NOT NULL DEFAULT 0) WITH (locality = 'GLOBAL')});
ok($eu->poll_query_until('postgres', q{SELECT count(*) = 1 FROM locality.sync_state
	WHERE relid = 't'::regclass AND source_region = 'us-east1' AND phase = 'done'}),
	'initial sync of t done on eu-west1');

# Several single-row transactions: the worker's state for t is built and kept.
$us->safe_psql('postgres', "INSERT INTO t VALUES ($_, 'a', 0)") for 1 .. 5;
$us->safe_psql('postgres', 'UPDATE t SET n = n + 1 WHERE id = 1');
drain();
is($eu->safe_psql('postgres', 'SELECT count(*) || \' \' || sum(n) FROM t'), '5 1', 'rows applied');

# An index on eu-west1 only, created while the worker is idle between
# transactions: later inserts and non-HOT updates must enter it.
$eu->safe_psql('postgres', 'SET locality.remote_apply = on; CREATE INDEX t_v ON t (v)');
$us->safe_psql('postgres', "INSERT INTO t VALUES ($_, 'b', 0)") for 6 .. 8;
$us->safe_psql('postgres', "UPDATE t SET v = 'b' WHERE id = 2");
drain();
is(by_heap("v = 'b'"), '2,6,7,8', "heap: the rows with v = 'b'");
is(by_index("v = 'b'"), '2,6,7,8', 'the index created on the receiver holds the rows applied after it');
is($eu->safe_psql('postgres', q{SELECT count(*) FROM pg_indexes WHERE indexname = 't_v'}), '1',
	'the index exists on eu-west1');
is($us->safe_psql('postgres', q{SELECT count(*) FROM pg_indexes WHERE indexname = 't_v'}), '0',
	'and only there');

# A column with a default added on eu-west1 only: rows stored before carry it
# as a "missing" value of the descriptor, which an update must keep.
$eu->safe_psql('postgres', q{SET locality.remote_apply = on; ALTER TABLE t ADD COLUMN region_note text NOT NULL DEFAULT 'eu'});
$us->safe_psql('postgres', 'UPDATE t SET n = n + 10 WHERE id = 3');
$us->safe_psql('postgres', "INSERT INTO t VALUES (9, 'c', 0)");
drain();
is($eu->safe_psql('postgres', q{SELECT id || ':' || n || ':' || region_note FROM t WHERE id IN (3, 9) ORDER BY id}),
	"3:10:eu\n9:0:eu", 'an updated old row keeps the default of the column added later; a new row gets it');

# The index dropped again: applying must not touch it any more.
$eu->safe_psql('postgres', 'SET locality.remote_apply = on; DROP INDEX t_v');
$us->safe_psql('postgres', "INSERT INTO t VALUES (10, 'b', 0)");
$us->safe_psql('postgres', 'DELETE FROM t WHERE id = 6');
drain();
is(by_heap("v = 'b'"), '2,7,8,10', 'rows applied after the index was dropped');
is($eu->safe_psql('postgres', q{SELECT state || ':' || coalesce(last_error, '') FROM locality.replication_status
	WHERE source_region = 'us-east1'}), 'streaming:', 'no apply error');

# Both regions hold the same rows in the end.
is($eu->safe_psql('postgres', q{SELECT string_agg(id || v || n, ',' ORDER BY id) FROM t}),
	$us->safe_psql('postgres', q{SELECT string_agg(id || v || n, ',' ORDER BY id) FROM t}),
	'eu-west1 equals us-east1');

done_testing();
