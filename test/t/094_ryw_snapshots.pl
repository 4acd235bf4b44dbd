# Read-your-writes and snapshots (SPEC.md section 4).  The wait for this
# server's forwarded commits, and the fresh snapshot that lets a read see
# them, happen only where PostgreSQL takes a new snapshot anyway: a READ
# COMMITTED statement's start, and each statement of a VOLATILE function.
# A STABLE function's queries keep the calling statement's snapshot even
# when a forwarded commit is applied meanwhile, and a REPEATABLE READ
# transaction keeps its snapshot.  Reads pinned to a region the transaction
# forwarded writes to follow that write through the extended query protocol
# too (the unnamed statement, as libpq's PQexecParams and JDBC use it, and
# pipelines), not only named prepared statements.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use IPC::Run;
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1));
my ($us, $eu) = @nodes;
LocalityCluster::join_regions(@nodes);

sub wait_all { LocalityCluster::drain(@nodes) }

$us->safe_psql('postgres', q{
	CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance int NOT NULL)
		WITH (locality = 'REGIONAL BY ROW');
});
$_->poll_query_until('postgres', "SELECT count(*) = 1 FROM locality.tables") for @nodes;
$eu->safe_psql('postgres', "INSERT INTO accounts VALUES (1, 'anna', 10), (2, 'bob', 20)");
wait_all();
# A forwarded commit tracked here: reads of accounts check read-your-writes from now on.
$us->safe_psql('postgres', "INSERT INTO accounts VALUES (3, 'carl', 30, 'eu-west1')");
is($us->safe_psql('postgres', "SELECT count(*) FROM accounts WHERE region = 'eu-west1'"), '3',
	'read-your-writes: the forwarded INSERT is read here at once');

$us->safe_psql('postgres', q{
	-- gate > 0: waits until advisory lock gate is free before reading.
	CREATE FUNCTION eu_count(gate int) RETURNS bigint STABLE LANGUAGE plpgsql AS $$
	DECLARE n bigint;
	BEGIN
		IF gate > 0 THEN
			PERFORM pg_advisory_lock_shared(gate);
			PERFORM pg_advisory_unlock_shared(gate);
		END IF;
		SELECT count(*) INTO n FROM accounts WHERE region = 'eu-west1';
		RETURN n;
	END $$;
	CREATE FUNCTION eu_count_sql() RETURNS bigint STABLE LANGUAGE sql AS $$
		SELECT count(*) FROM accounts WHERE region = 'eu-west1' $$;
	CREATE FUNCTION eu_counts_volatile(gate int) RETURNS text VOLATILE LANGUAGE plpgsql AS $$
	DECLARE a bigint; b bigint;
	BEGIN
		SELECT count(*) INTO a FROM accounts WHERE region = 'eu-west1';
		PERFORM pg_advisory_lock_shared(gate);
		PERFORM pg_advisory_unlock_shared(gate);
		SELECT count(*) INTO b FROM accounts WHERE region = 'eu-west1';
		RETURN a || ':' || b;
	END $$;
});

my $lock = $us->background_psql('postgres');
my $reader = $us->background_psql('postgres');
my $reader_pid = $reader->query_safe('SELECT pg_backend_pid()');
my $id = 10;

# forward_one_applied(): a forwarded INSERT of a new eu-west1 row from
# another session, committed and applied here when it returns.
sub forward_one_applied
{
	$id++;
	$us->safe_psql('postgres', "INSERT INTO accounts VALUES ($id, 'new', 0, 'eu-west1')");
	$us->poll_query_until('postgres', "SELECT count(*) = 1 FROM accounts WHERE id = $id")
	  or die "row $id not applied";
}

# blocked_on_gate(): $reader waits for the advisory lock.
sub blocked_on_gate
{
	return $us->poll_query_until('postgres', qq{
		SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $reader_pid});
}

# 1. A STABLE function keeps the statement's snapshot: a forwarded commit
# applied while the statement runs is not seen by its later calls, in a
# statement that reads accounts itself (fresh snapshot at its start) and in
# one that does not.
for my $case (
	[ 'SELECT eu_count(0) || \':\' || eu_count(7)', 'a statement calling a STABLE PL/pgSQL function twice' ],
	[ 'SELECT (SELECT count(*) FROM accounts WHERE region = \'eu-west1\') || \':\' || eu_count(0) || \':\' || eu_count(7) || \':\' || eu_count_sql()',
	  'a statement reading accounts itself and calling STABLE functions' ])
{
	my ($sql, $what) = @$case;
	my $before = $us->safe_psql('postgres', "SELECT count(*) FROM accounts WHERE region = 'eu-west1'");
	$lock->query_safe('SELECT pg_advisory_lock(7)');
	$reader->query_until(qr/sent/, "\\echo sent\n$sql;\n\\echo done\n");
	ok(blocked_on_gate(), "$what: blocked in the middle of the statement");
	forward_one_applied();
	$lock->query_safe('SELECT pg_advisory_unlock(7)');
	my $out = $reader->query_until(qr/done/, '');
	$out =~ s/\s*done\s*$//;
	my @counts = split /:/, $out;
	is(join(':', @counts), join(':', ($before) x scalar(@counts)),
		"$what: every read in it sees the statement's snapshot, not the commit applied meanwhile");
	is($reader->query_safe("SELECT eu_count(0)"), $before + 1, "$what: the next statement sees it");
}

# 1b. Read-your-writes still holds for what functions read: a statement
# calling a function waits, at its start, for every region this server
# forwarded commits to.
{
	my $before = $us->safe_psql('postgres', "SELECT count(*) FROM accounts WHERE region = 'eu-west1'");
	$us->safe_psql('postgres', "SELECT locality.pause_replication('eu-west1')");
	$id++;
	$us->safe_psql('postgres', "INSERT INTO accounts VALUES ($id, 'new', 0, 'eu-west1')");
	$reader->query_until(qr/sent/, "\\echo sent\nSELECT eu_count(0) || ':' || eu_count_sql();\n\\echo done\n");
	ok($us->poll_query_until('postgres', qq{
		SELECT wait_event = 'Extension' OR state = 'idle' FROM pg_stat_activity WHERE pid = $reader_pid}),
		'a statement calling STABLE functions waits for the replica (or has finished)');
	$us->safe_psql('postgres', "SELECT locality.resume_replication('eu-west1')");
	my $out = $reader->query_until(qr/done/, '');
	$out =~ s/\s*done\s*$//;
	is($out, ($before + 1) . ':' . ($before + 1), 'and its functions see the forwarded commit');
}

# 2. Each statement of a VOLATILE function takes a new snapshot: its read
# after a forwarded commit waits until the commit is applied here, and sees it.
{
	my $before = $us->safe_psql('postgres', "SELECT count(*) FROM accounts WHERE region = 'eu-west1'");
	$lock->query_safe('SELECT pg_advisory_lock(7)');
	$reader->query_until(qr/sent/, "\\echo sent\nSELECT eu_counts_volatile(7);\n\\echo done\n");
	ok(blocked_on_gate(), 'VOLATILE function: blocked between its two reads');
	$us->safe_psql('postgres', "SELECT locality.pause_replication('eu-west1')");
	$id++;
	$us->safe_psql('postgres', "INSERT INTO accounts VALUES ($id, 'new', 0, 'eu-west1')");
	$lock->query_safe('SELECT pg_advisory_unlock(7)');
	ok($us->poll_query_until('postgres', qq{
		SELECT wait_event = 'Extension' OR state = 'idle' FROM pg_stat_activity WHERE pid = $reader_pid}),
		'VOLATILE function: its second read waits for the replica (or has finished)');
	$us->safe_psql('postgres', "SELECT locality.resume_replication('eu-west1')");
	my $out = $reader->query_until(qr/done/, '');
	$out =~ s/\s*done\s*$//;
	is($out, $before . ':' . ($before + 1),
		'VOLATILE function: its second statement sees the forwarded commit made before it started');
}

# 3. A REPEATABLE READ transaction never takes a new snapshot.
{
	my $before = $reader->query_safe("BEGIN ISOLATION LEVEL REPEATABLE READ; "
		  . "SELECT count(*) FROM accounts WHERE region = 'eu-west1'");
	forward_one_applied();
	is($reader->query_safe("SELECT count(*) FROM accounts WHERE region = 'eu-west1'"), $before,
		'REPEATABLE READ: a later read keeps the transaction snapshot');
	is($reader->query_safe("SELECT eu_count(0)"), $before, 'REPEATABLE READ: so does a STABLE function');
	is($reader->query_safe("SELECT eu_counts_volatile(0)"), "$before:$before",
		'REPEATABLE READ: and a VOLATILE one');
	$reader->query_safe('COMMIT');
	is($reader->query_safe("SELECT count(*) FROM accounts WHERE region = 'eu-west1'"), $before + 1,
		'after COMMIT the next statement sees the commit');
}
$lock->quit;
$reader->quit;

# 4. Pinned reads through the extended query protocol.  The client is a
# small libpq program (psql 15 cannot Bind).
my $tmp = PostgreSQL::Test::Utils::tempdir();
my $client = "$tmp/extended_client";
my $incdir = `pg_config --includedir`;
my $libdir = `pg_config --libdir`;
chomp($incdir, $libdir);
system('cc', '-o', $client, "$FindBin::RealBin/../perl/extended_client.c", "-I$incdir", "-L$libdir", '-lpq') == 0
  or BAIL_OUT('cannot build extended_client.c');

sub client
{
	my @steps = @_;
	my ($stdout, $stderr);
	IPC::Run::run([ $client, LocalityCluster::connstr($us), @steps ], '>', \$stdout, '2>', \$stderr);
	chomp $stdout;
	return $stdout . ($stderr ne '' ? "\n$stderr" : '');
}

my @txn = ('prepare:b:BEGIN', 'prepare:u:UPDATE accounts SET balance = balance + 1 WHERE id = 1',
	'prepare:r:ROLLBACK');
is(client(@txn, 'prepare::SELECT balance FROM accounts WHERE id = 1',
		'exec:', 'exec:b', 'exec:', 'exec:u', 'exec:', 'exec:r', 'exec:'),
	"10\n10\n11\n10",
	'the unnamed statement without parameters (a generic plan) is replanned after the first forwarded write');
is(client(@txn, 'prepare::SELECT balance FROM accounts WHERE id = $1',
		('exec::1') x 6, 'exec:b', 'exec::1', 'exec:u', 'exec::1', 'exec:r', 'exec::1'),
	join("\n", (10) x 7, 11, 10),
	'the unnamed statement with a parameter, past its custom plans, too');
is(client('params:BEGIN', 'params:UPDATE accounts SET balance = balance + 1 WHERE id = $1|1',
		'params:SELECT balance FROM accounts WHERE id = $1|1', 'params:ROLLBACK'),
	'11', 'PQexecParams (Parse, Bind, Execute each time)');
is(client('pipeline:BEGIN;;UPDATE accounts SET balance = balance + 1 WHERE id = 1;;'
		. 'SELECT balance FROM accounts WHERE id = 1;;ROLLBACK'),
	'11', 'a pipeline of BEGIN, a forwarded UPDATE, a read and ROLLBACK, with one Sync');
is(client('pipeline:UPDATE accounts SET balance = balance + 1 WHERE id = 1;;'
		. 'SELECT balance FROM accounts WHERE id = 1;;SELECT balance FROM accounts WHERE id = 1 AND region = \'eu-west1\''),
	"11\n11", 'a pipeline\'s implicit transaction reads its forwarded write by key and by region');
is($eu->safe_psql('postgres', 'SELECT balance FROM accounts WHERE id = 1'), '11', 'committed at the home at Sync');

# A SQL function plans its whole body before running it: its read planned
# before its forwarded UPDATE ran still reads that UPDATE at the home.
$us->safe_psql('postgres', q{
	CREATE FUNCTION bump_and_read(k int) RETURNS int VOLATILE LANGUAGE sql AS $$
		UPDATE accounts SET balance = balance + 100 WHERE id = k;
		SELECT balance FROM accounts WHERE id = k $$;
});
is($us->safe_psql('postgres', "BEGIN; SELECT bump_and_read(2); ROLLBACK;"), '120',
	'a SQL function reads its own forwarded UPDATE (in a transaction block)');
is($us->safe_psql('postgres', "SELECT bump_and_read(2)"), '120', 'and in autocommit');
is($us->safe_psql('postgres', "SELECT balance FROM accounts WHERE id = 2"), '120',
	'read-your-writes after it');

wait_all();
my $rows = "SELECT string_agg(id || ':' || balance, ',' ORDER BY id) FROM accounts";
is($us->safe_psql('postgres', $rows), $eu->safe_psql('postgres', $rows), 'both regions hold the same rows');

done_testing();
