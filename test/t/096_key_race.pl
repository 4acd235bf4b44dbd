# Two apply workers, one inserting a key this region has never seen and one
# recording a delete of it, must not both decide on an empty view
# (docs/conflicts.md section 8, "A key no region here has seen").  Regions:
# us-east1 (A, where the race happens), eu-west1 (B), ap-east1 (C).  B
# inserts a key; C receives it and deletes it (so the delete is the later
# write, everywhere); A has seen neither when both arrive.  Each case holds
# one of A's two workers at the moment that used to lose the other's write,
# with a lock taken by a local session on A, and then checks that all three
# regions end without the row.
#
# 1. The insert's tombstone probe runs while the delete's tombstone is
#    written but not committed: C's transaction deletes the key, then
#    updates a row a local session on A holds locked, so worker C waits
#    there with its tombstone uncommitted while worker B inserts the key.
#    (Without the fix, B's probe did not see the uncommitted tombstone and
#    A kept the row.)
# 2. The delete looks for the row before the insert writes it, and writes
#    its tombstone after the insert committed: a local session on A holds a
#    SHARE lock on locality.conflicts, so worker C stops where it logs its
#    delete_missing, after its lookup and before its tombstone, while worker
#    B inserts and commits the key.  (Without the fix, C recorded its
#    tombstone over an empty view and A kept the row.)
# 3. As 2 the other way round, on a table with a CRDT column (whose remote
#    inserts look the key up before inserting): worker B has looked for the
#    key (nothing) and stops before inserting it, at a CHECK constraint
#    whose function waits for an advisory lock a local session on A holds,
#    while worker C records its delete (looking for the row again finds
#    nothing yet) and commits.  (Without the fix, B inserted over an empty
#    view and A kept the row.)
# 4. Both see each other, so both wait: a deadlock, which PostgreSQL's
#    detector ends by aborting one worker's transaction; that worker retries
#    and the regions still converge.  Worker C stops before its tombstone
#    (as in 2) while worker B inserts the key into a table without CRDT
#    columns (its tombstone probe deferred to the end of the transaction)
#    and stops at a CHECK constraint on its next row (as in 3); then C
#    writes its tombstone and finds B's row in progress (waits for B), and B
#    reaches its probe and finds C's tombstone in progress (waits for C).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1 ap-east1));
my ($a, $b, $c) = @nodes;
LocalityCluster::join_regions(@nodes);

$a->safe_psql('postgres', q{
	CREATE TABLE g (id int PRIMARY KEY, v text DEFAULT 'b') WITH (locality = 'GLOBAL');
	INSERT INTO g VALUES (0, 'initial');
});
ok($_->poll_query_until('postgres', q{SELECT count(*) = 1 FROM g}), $_->name . ' has the table')
  for ($b, $c);
ok(LocalityCluster::drain(@nodes), 'replication drained');

# $a's apply workers waiting on a heavyweight lock.
my $waiting = q{SELECT count(*) FROM pg_stat_activity
	WHERE wait_event_type = 'Lock' AND backend_type <> 'client backend'};

sub set_replication
{
	my ($what, $source) = @_;
	$a->safe_psql('postgres', "SELECT locality.${what}_replication('" . $source->name . "')");
	$a->poll_query_until('postgres', "SELECT state " . ($what eq 'pause' ? '=' : '<>')
		  . " 'paused' FROM locality.replication_status WHERE source_region = '" . $source->name . "'")
	  or die "replication from " . $source->name . " did not $what";
}

# B inserts $id, C deletes it after receiving it ($c_sql: C's transaction),
# while A applies neither.
sub insert_on_b_delete_on_c
{
	my ($id, $c_sql, $table) = @_;
	$table //= 'g';
	set_replication('pause', $_) for ($b, $c);
	$b->safe_psql('postgres', "INSERT INTO $table (id) VALUES ($id)");
	$c->poll_query_until('postgres', "SELECT count(*) = 1 FROM $table WHERE id = $id")
	  or die "ap-east1 did not receive row $id";
	$c->safe_psql('postgres', $c_sql);
}

sub check_converged
{
	my ($id, $label, $table) = @_;
	$table //= 'g';
	ok(LocalityCluster::drain(@nodes), "$label: replication drained");
	for my $node (@nodes)
	{
		is($node->safe_psql('postgres', "SELECT count(*) FROM $table WHERE id = $id"), '0',
			"$label: " . $node->name . ' has no row (the later delete wins)');
	}
	is($a->safe_psql('postgres', "SELECT string_agg(t::text, ',' ORDER BY id) FROM $table t"),
		$c->safe_psql('postgres', "SELECT string_agg(t::text, ',' ORDER BY id) FROM $table t"),
		"$label: us-east1 holds ap-east1's rows");
}

# Case 1: worker C holds an uncommitted tombstone of key 1 while worker B
# inserts key 1.
insert_on_b_delete_on_c(1, q{BEGIN; DELETE FROM g WHERE id = 1; UPDATE g SET v = 'c' WHERE id = 0; COMMIT;});
my $lock = $a->background_psql('postgres');
$lock->query_safe('BEGIN');
$lock->query_safe('SELECT * FROM g WHERE id = 0 FOR UPDATE');
set_replication('resume', $c);
ok($a->poll_query_until('postgres', "SELECT ($waiting) = 1"),
	'case 1: worker C waits for the locked row, its tombstone of key 1 written, not committed');
set_replication('resume', $b);
# Without the fix worker B commits the row; with it, B waits for C.
ok($a->poll_query_until('postgres', "SELECT ($waiting) = 2 OR (SELECT count(*) = 1 FROM g WHERE id = 1)"),
	'case 1: worker B has applied the insert, or waits for worker C');
$lock->query_safe('COMMIT');
check_converged(1, 'case 1');

# Case 2: worker C has looked for key 2 (none) and stops before writing its
# tombstone, while worker B inserts key 2 and commits.
insert_on_b_delete_on_c(2, q{DELETE FROM g WHERE id = 2});
$lock->query_safe('BEGIN');
$lock->query_safe('LOCK TABLE locality.conflicts IN SHARE MODE');
set_replication('resume', $c);
ok($a->poll_query_until('postgres', "SELECT ($waiting) = 1"),
	'case 2: worker C waits to log its delete_missing, before writing the tombstone of key 2');
set_replication('resume', $b);
ok($a->poll_query_until('postgres', 'SELECT count(*) = 1 FROM g WHERE id = 2'),
	'case 2: worker B has inserted key 2 meanwhile');
$lock->query_safe('COMMIT');
check_converged(2, 'case 2');

# Case 3: worker B has looked for key 3 of table c (nothing) and waits at
# the CHECK constraint, before inserting, while worker C records its delete
# and commits.  The gate's function exists on every region; only A's local
# session ever holds its lock.
for my $node (@nodes)
{
	$node->safe_psql('postgres', q{
		CREATE OR REPLACE FUNCTION public.gate() RETURNS boolean LANGUAGE plpgsql AS
		$$ BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN true; END $$;
	});
}
$a->safe_psql('postgres', q{
	CREATE TABLE c (id int PRIMARY KEY, n locality.gcounter NOT NULL DEFAULT '0', CHECK (public.gate()))
	WITH (locality = 'GLOBAL');
});
ok($_->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_class WHERE relname = 'c'}),
	$_->name . ' has table c') for ($b, $c);
ok(LocalityCluster::drain(@nodes), 'table c everywhere');
insert_on_b_delete_on_c(3, q{DELETE FROM c WHERE id = 3}, 'c');
$lock->query_safe('SELECT pg_advisory_lock(4242)');
set_replication('resume', $b);
ok($a->poll_query_until('postgres', "SELECT ($waiting) = 1"),
	'case 3: worker B waits at the CHECK constraint, after looking for key 3, before inserting it');
set_replication('resume', $c);
ok($a->poll_query_until('postgres', q{SELECT count(*) = 1 FROM locality.tombstones WHERE relid = 'c'::regclass}),
	'case 3: worker C has recorded its delete of key 3');
$lock->query_safe('SELECT pg_advisory_unlock(4242)');
check_converged(3, 'case 3', 'c');

# Case 4: table d, whose CHECK waits for the advisory lock only for id 99.
for my $node (@nodes)
{
	$node->safe_psql('postgres', q{
		CREATE OR REPLACE FUNCTION public.gate(id int) RETURNS boolean LANGUAGE plpgsql AS
		$$ BEGIN IF id = 99 THEN PERFORM pg_advisory_xact_lock_shared(4242); END IF; RETURN true; END $$;
	});
}
$a->safe_psql('postgres', q{
	CREATE TABLE d (id int PRIMARY KEY, v text, CHECK (public.gate(id))) WITH (locality = 'GLOBAL');
});
ok($_->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_class WHERE relname = 'd'}),
	$_->name . ' has table d') for ($b, $c);
ok(LocalityCluster::drain(@nodes), 'table d everywhere');
set_replication('pause', $_) for ($b, $c);
$b->safe_psql('postgres', q{BEGIN; INSERT INTO d VALUES (4, 'b'); INSERT INTO d VALUES (99, 'b'); COMMIT;});
$c->poll_query_until('postgres', 'SELECT count(*) = 2 FROM d') or die 'ap-east1 did not receive d';
$c->safe_psql('postgres', 'DELETE FROM d WHERE id = 4');
my $lock2 = $a->background_psql('postgres');
$lock->query_safe('BEGIN');
$lock->query_safe('LOCK TABLE locality.conflicts IN SHARE MODE');
set_replication('resume', $c);
ok($a->poll_query_until('postgres', "SELECT ($waiting) = 1"), 'case 4: worker C waits before its tombstone');
$lock2->query_safe('SELECT pg_advisory_lock(4242)');
set_replication('resume', $b);
ok($a->poll_query_until('postgres', "SELECT ($waiting) = 2"),
	'case 4: worker B has inserted key 4 and waits at the CHECK of row 99');
$lock->query_safe('COMMIT');
ok($a->poll_query_until('postgres', q{SELECT count(*) = 1 FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'}),
	'case 4: worker C, its tombstone written, waits for worker B, whose row of key 4 it found');
my $log_offset = -s $a->logfile;
$lock2->query_safe('SELECT pg_advisory_unlock(4242)');
ok($a->wait_for_log(qr/ERROR:  deadlock detected/, $log_offset),
	'case 4: worker B, reaching its probe, waits for C: a deadlock, one of them is aborted (and retries)');
check_converged(4, 'case 4', 'd');
is($a->safe_psql('postgres', 'SELECT string_agg(id::text, \',\' ORDER BY id) FROM d'), '99', 'case 4: row 99 applied');
$lock->quit;
$lock2->quit;

done_testing();
