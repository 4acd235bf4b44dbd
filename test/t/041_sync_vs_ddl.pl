# A schema change of a table whose initial copy is in progress: the copy
# holds the source's table (its cursor) and needs this region's; the change
# holds this region's and needs the source's.  Across servers no deadlock
# detector sees that cycle: the change waited until locality.forward_timeout
# and failed.  The copy now never waits for a lock: it gives way, and starts
# again (at a new snapshot) once the change is done, losing and duplicating
# nothing.
#
# The cycle is built step by step, each step observed, not timed:
#  1. ap-east1 stops applying from eu-west1; table t, with rows written in
#     eu-west1, becomes managed: ap-east1 owes it a copy from eu-west1.
#  2. ap-east1 resumes while a session there locks t: the copy waits for it
#     (fixed: gives way), holding nothing of t.
#  3. A session of eu-west1 locks t there, then ap-east1's lock goes: the
#     copy moves on to eu-west1 and waits there.
#  4. The session that will change t locks it on ap-east1, then eu-west1's
#     lock goes: the copy (unfixed) now holds eu-west1's t and waits for
#     ap-east1's.
#  5. That session changes t's schema: the change needs eu-west1's t.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1 ap-east1));
my ($us, $eu, $ap) = @nodes;
LocalityCluster::join_regions(@nodes);

# poll_until($what, $check): polls $check until true (timeout_default).
sub poll_until
{
	my ($what, $check) = @_;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	until ($check->())
	{
		if (time > $deadline)
		{
			fail("timed out waiting: $what");
			return 0;
		}
		usleep(20_000);
	}
	pass($what);
	return 1;
}

# log_since($node, $offset): what $node logged after $offset bytes.
sub log_since
{
	my ($node, $offset) = @_;
	return PostgreSQL::Test::Utils::slurp_file($node->logfile, $offset);
}

# 1. ap-east1 owes t a copy from eu-west1.
ok($ap->poll_query_until('postgres',
	q{SELECT count(*) = 2 FROM locality.replication_status WHERE state = 'streaming'}),
	'ap-east1 streams from both regions');
$ap->safe_psql('postgres', q{SELECT locality.pause_replication('eu-west1')});
ok($ap->poll_query_until('postgres',
	q{SELECT state = 'paused' FROM locality.replication_status WHERE source_region = 'eu-west1'}),
	'ap-east1 stopped applying from eu-west1');
$eu->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t SELECT i, 'row ' || i FROM generate_series(1, 4500) i;
	ALTER TABLE t SET (locality = 'GLOBAL');
});
# Every other copy of t is done (they are not part of the cycle).
ok($_->[0]->poll_query_until('postgres',
	q{SELECT count(*) = } . $_->[1] . q{ FROM locality.sync_state WHERE relid = 't'::regclass}),
	'the other copies of t are done on ' . $_->[0]->name)
  for ([ $us, 2 ], [ $eu, 2 ], [ $ap, 1 ]);
is($us->safe_psql('postgres', 'SELECT count(*) FROM t'), '4500', 'us-east1 has the rows of t');
is($ap->safe_psql('postgres', 'SELECT count(*) FROM t'), '0', 'ap-east1 has none yet');

# 2. ap-east1's copy of t starts while a session of ap-east1 locks t there:
#    it waits for (or gives way to) that lock, holding nothing of t.
my $ap_lock = $ap->background_psql('postgres');
$ap_lock->query_safe('BEGIN');
$ap_lock->query_safe('LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
my $offset = -s $ap->logfile;
$ap->safe_psql('postgres', q{SELECT locality.resume_replication('eu-west1')});
poll_until('the copy meets the lock on ap-east1', sub {
	$ap->safe_psql('postgres',
		q{SELECT count(*) > 0 FROM pg_locks WHERE relation = 't'::regclass AND NOT granted}) eq 't'
	  || log_since($ap, $offset) =~ /A session of this region holds or waits for a conflicting lock/;
});

# 3. A session of eu-west1 locks t there; ap-east1's lock goes: the copy
#    goes on and waits on eu-west1 (for t, or to create its slot).
my $eu_lock = $eu->background_psql('postgres');
$eu_lock->query_safe('BEGIN');
$eu_lock->query_safe('LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
$ap_lock->query_safe('COMMIT');
$ap_lock->quit;
poll_until('the copy meets the lock on eu-west1', sub {
	$eu->safe_psql('postgres',
		q{SELECT count(*) > 0 FROM pg_locks WHERE NOT granted AND (relation = 't'::regclass OR locktype = 'transactionid')}) eq 't';
});

# 4. The session that will change t locks it on ap-east1; eu-west1's lock
#    goes: the copy (unfixed) takes eu-west1's t and waits for ap-east1's.
my $ddl = $ap->background_psql('postgres', on_error_stop => 0);
$ddl->query_safe('BEGIN');
$ddl->query_safe('LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
$offset = -s $ap->logfile;
$eu_lock->query_safe('COMMIT');
$eu_lock->quit;
poll_until('the copy meets the lock on ap-east1 again', sub {
	$ap->safe_psql('postgres',
		q{SELECT count(*) > 0 FROM pg_locks WHERE relation = 't'::regclass AND NOT granted}) eq 't'
	  || log_since($ap, $offset) =~ /A session of this region holds or waits for a conflicting lock/;
});

# 5. The schema change, in every region, in the same transaction.
$ddl->query('ALTER TABLE t ADD COLUMN extra int NOT NULL DEFAULT 7');
is($ddl->{stderr}, '', 'the schema change does not wait for the copy');
$ddl->{stderr} = '';
$ddl->query('COMMIT');
is($ddl->{stderr}, '', 'and commits');
$ddl->quit;

# The copy starts again after it and brings every row once.
ok(LocalityCluster::drain(@nodes), 'every region applied everything');
for my $node (@nodes)
{
	is($node->safe_psql('postgres', q{SELECT count(*), count(DISTINCT id), min(extra), max(extra) FROM t}),
		'4500|4500|7|7', 'every row of t, once, with the new column, on ' . $node->name);
}
is($ap->safe_psql('postgres',
	q{SELECT phase || ':' || rows_copied FROM locality.sync_progress WHERE table_name = 't'::regclass AND source_region = 'eu-west1'}),
	'done:4500', 'ap-east1 recorded the copy from eu-west1 once, with every row');
is($ap->safe_psql('postgres', 'SELECT count(*) FROM locality.conflicts'), '0',
	'the copy and the stream did not overlap');
like(log_since($ap, 0), qr/gives way to a concurrent lock/, 'the copy gave way (logged)');

# Rows written after the change still flow from eu-west1 to ap-east1.
$eu->safe_psql('postgres', q{INSERT INTO t VALUES (4501, 'after', 8)});
ok($ap->poll_query_until('postgres', q{SELECT extra = 8 FROM t WHERE id = 4501}),
	'a row written after the change reaches ap-east1');

done_testing();
