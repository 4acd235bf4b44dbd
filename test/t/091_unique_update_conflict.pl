# A remote UPDATE of a GLOBAL table that gives its row the value of a
# non-key unique index another local row holds is a unique_violation, as a
# remote INSERT's is (docs/conflicts.md section 3): logged with both rows;
# in last_write_wins (and last_write_wins_column) the row whose write has
# the greater stamp keeps the value on every region and the other row is
# deleted everywhere, whatever order the two writes arrive in (three
# regions: the two writers, and a third that receives both, in each order);
# keep_local and apply_remote do what they say; in mode error apply stops
# with 23505 until the DBA changes a row, and nothing is skipped.
# Concurrency comes from locality.pause_replication, not from timing.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

# Verbose error logging: the log then shows each error's SQLSTATE.
my @nodes = map { LocalityCluster::new_region($_, conf => "log_error_verbosity = verbose\n") }
  qw(us-east1 eu-west1 ap-east1);
my ($r1, $r2, $r3) = @nodes;
$_->start for @nodes;
$r1->safe_psql('postgres', 'CREATE EXTENSION pg_locality');
LocalityCluster::join_regions(@nodes);

sub drain
{
	ok(LocalityCluster::drain(@nodes), 'replication drained');
}

# pause($target, $source): $target applies nothing from $source meanwhile.
sub pause
{
	my ($target, $source) = @_;
	$target->safe_psql('postgres', "SELECT locality.pause_replication('" . $source->name . "')");
	$target->poll_query_until('postgres', "SELECT state = 'paused' FROM locality.replication_status WHERE source_region = '"
		  . $source->name . "'") or die 'replication did not pause';
}

sub resume
{
	my ($target, $source) = @_;
	$target->safe_psql('postgres', "SELECT locality.resume_replication('" . $source->name . "')");
}

sub isolate_all
{
	for my $target (@nodes)
	{
		pause($target, $_) for grep { $_ != $target } @nodes;
	}
}

sub resume_all
{
	for my $target (@nodes)
	{
		resume($target, $_) for grep { $_ != $target } @nodes;
	}
}

# The rows of $table, the same on every region.
sub same_everywhere
{
	my ($table, $label) = @_;
	my $sql = "SELECT coalesce(string_agg(concat_ws(' ', id, email, note), ',' ORDER BY id), '') FROM $table";
	my @got = map { $_->safe_psql('postgres', $sql) } @nodes;
	is($got[1], $got[0], "$label: eu-west1 holds the rows us-east1 holds");
	is($got[2], $got[0], "$label: ap-east1 holds the rows us-east1 holds");
	return $got[0];
}

sub same_everywhere_sql
{
	my ($sql) = @_;
	my @got = map { $_->safe_psql('postgres', $sql) } @nodes;
	is($got[$_], $got[0], "$sql: " . $nodes[$_]->name . ' equals us-east1') for 1 .. 2;
	return $got[0];
}

sub rows_on
{
	my ($node, $table) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(concat_ws(' ', id, email, note), ',' ORDER BY id), '') FROM $table");
}

# The unique_violation rows $node logged for $table (the ids in $ids):
# "resolution local_region remote_region local_id remote_id local_email remote_email".
sub unique_conflicts
{
	my ($node, $table, $ids) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT string_agg(concat_ws(' ', resolution, local_region, remote_region,
			local_tuple->>'id', remote_tuple->>'id', local_tuple->>'email', remote_tuple->>'email'), ',' ORDER BY id)
		FROM locality.conflicts
		WHERE table_name = '$table'::regclass AND kind = 'unique_violation'
		  AND (remote_tuple->>'id')::int IN ($ids)});
}

# race($table, $sql1, $sql2, $first): us-east1 runs $sql1, then eu-west1
# runs $sql2 (so its write has the greater stamp), neither seeing the
# other's; ap-east1 receives first the write of $first (a node), then the
# other's.  Then everything drains.
sub race
{
	my ($table, $sql1, $sql2, $first) = @_;
	isolate_all();
	$r1->safe_psql('postgres', $sql1);
	$r2->safe_psql('postgres', $sql2);
	my $second = $first == $r1 ? $r2 : $r1;
	resume($r3, $first);
	is($r3->safe_psql('postgres', "SELECT locality.wait_for_replication('" . $first->name . "', '60s')"), 't',
		'ap-east1 applied ' . $first->name . "'s write first");
	resume($r3, $second);
	is($r3->safe_psql('postgres', "SELECT locality.wait_for_replication('" . $second->name . "', '60s')"), 't',
		'then ' . $second->name . "'s");
	resume_all();
	drain();
}

# One table per mode; one schema change at a time, each after the initial
# copies of the last (see 085).
for my $mode ('last_write_wins', 'last_write_wins_column', 'keep_local', 'apply_remote', 'error')
{
	$r1->safe_psql('postgres', qq{
		CREATE TABLE p_$mode (id int PRIMARY KEY, email text UNIQUE, note text) WITH (locality = 'GLOBAL');
		INSERT INTO p_$mode SELECT i, 'e' || i, 'n' || i FROM generate_series(1, 12) i;
	});
	drain();
	# Row 2 last written by eu-west1 (before the mode is set): each region
	# then receives the other's update of a row last written by the sender
	# (no key conflict, only the unique one).
	if ($mode =~ /^(keep_local|apply_remote|error)$/)
	{
		$r2->safe_psql('postgres', "UPDATE p_$mode SET note = note WHERE id = 2");
		drain();
	}
	$r1->safe_psql('postgres', "SELECT locality.set_conflict_resolution('p_$mode', '$mode')")
	  unless $mode eq 'last_write_wins';
	drain();
}

# --- last_write_wins --------------------------------------------------------
# Row 1 (us-east1) and row 2 (eu-west1, later) both take 'v1'; ap-east1
# receives row 1's update first.  Row 2's write is later: it keeps 'v1',
# row 1 is deleted on every region.
race('p_last_write_wins', q{UPDATE p_last_write_wins SET email = 'v1' WHERE id = 1},
	q{UPDATE p_last_write_wins SET email = 'v1' WHERE id = 2}, $r1);
like(same_everywhere('p_last_write_wins', 'update/update, ap-east1 receiving the earlier first'),
	qr/^2 v1 n2,3 e3 n3/, 'the later write keeps the value; the earlier row is gone everywhere');
is(unique_conflicts($r1, 'p_last_write_wins', '1,2'), 'apply_remote us-east1 eu-west1 1 2 v1 v1',
	'us-east1 logged both rows: the incoming update wins, its own row 1 is deleted');
is(unique_conflicts($r2, 'p_last_write_wins', '1,2'), 'keep_local eu-west1 us-east1 2 1 v1 v1',
	'eu-west1 logged both rows: the incoming update loses, its copy of row 1 is deleted');
is(unique_conflicts($r3, 'p_last_write_wins', '1,2'), 'apply_remote us-east1 eu-west1 1 2 v1 v1',
	'ap-east1 applied row 1 first, then decided row 2 the same way');
ok($r1->safe_psql('postgres', q{SELECT remote_hlc > local_hlc FROM locality.conflicts
	WHERE table_name = 'p_last_write_wins'::regclass AND kind = 'unique_violation' AND remote_tuple->>'id' = '2'}) eq 't',
	'the winning write has the greater stamp');

# The same with ap-east1 receiving the later write first: it keeps it and
# deletes its copy of the earlier row when that row's update arrives.
race('p_last_write_wins', q{UPDATE p_last_write_wins SET email = 'v2' WHERE id = 3},
	q{UPDATE p_last_write_wins SET email = 'v2' WHERE id = 4}, $r2);
like(same_everywhere('p_last_write_wins', 'update/update, ap-east1 receiving the later first'),
	qr/^2 v1 n2,4 v2 n4,5 e5 n5/, 'the same row keeps the value in the other arrival order');
is(unique_conflicts($r3, 'p_last_write_wins', '3,4'), 'keep_local eu-west1 us-east1 4 3 v2 v2',
	'ap-east1 logged the incoming earlier update losing to the row it already had');

# An insert against an update: eu-west1 inserts row 20 with 'v3', later than
# us-east1's update of row 5 to 'v3': the insert wins everywhere.  And the
# other way round: us-east1 inserts row 21 with 'v4' before eu-west1
# updates row 6 to 'v4': the update wins everywhere.
race('p_last_write_wins',
	q{UPDATE p_last_write_wins SET email = 'v3' WHERE id = 5; INSERT INTO p_last_write_wins VALUES (21, 'v4', 'n21')},
	q{INSERT INTO p_last_write_wins VALUES (20, 'v3', 'n20'); UPDATE p_last_write_wins SET email = 'v4' WHERE id = 6},
	$r1);
my $rows = same_everywhere('p_last_write_wins', 'insert/update');
unlike($rows, qr/(^|,)5 /, 'the earlier update lost to the later insert: row 5 is gone');
like($rows, qr/,6 v4 n6,.*,20 v3 n20$/, 'the later update and the later insert keep their values');
unlike($rows, qr/,21 /, 'the earlier insert lost to the later update');

# An update that also changes the key: row 7 becomes row 17 with 'v5'
# (us-east1), row 8 takes 'v5' later (eu-west1).  Neither 7 nor 17 remains.
race('p_last_write_wins', q{UPDATE p_last_write_wins SET id = 17, email = 'v5' WHERE id = 7},
	q{UPDATE p_last_write_wins SET email = 'v5' WHERE id = 8}, $r1);
$rows = same_everywhere('p_last_write_wins', 'key change');
like($rows, qr/,8 v5 n8,/, 'the later update keeps the value');
unlike($rows, qr/(^|,)(7|17) /, 'the row whose key changed lost on every region');

# A later write of the losing row (update_missing): us-east1 updates row 9
# to 'v6', eu-west1 row 10 to 'v6' (later), then us-east1 updates row 9
# again (later than both, still unaware of row 10's).  Row 9 wins in the
# end: eu-west1 deletes its copy on the first update, re-creates it on the
# second (no tombstone stands in the way) and then deletes row 10.
isolate_all();
$r1->safe_psql('postgres', q{UPDATE p_last_write_wins SET email = 'v6' WHERE id = 9});
$r2->safe_psql('postgres', q{UPDATE p_last_write_wins SET email = 'v6' WHERE id = 10});
$r1->safe_psql('postgres', q{UPDATE p_last_write_wins SET note = 'later' WHERE id = 9});
resume_all();
drain();
$rows = same_everywhere('p_last_write_wins', 'a later update of the losing row');
like($rows, qr/,9 v6 later,/, 'the losing row, updated again later, comes back and keeps the value');
unlike($rows, qr/,10 /, 'the row that had taken the value meanwhile is gone');
like(unique_conflicts($r2, 'p_last_write_wins', '9,10'), qr/^keep_local eu-west1 us-east1 10 9 v6 v6,apply_remote eu-west1 us-east1 10 9 v6 v6$/,
	'eu-west1 logged both decisions: the first update of row 9 lost, the later one won');
is(same_everywhere_sql(q{SELECT count(*) FROM locality.tombstones WHERE relid = 'p_last_write_wins'::regclass}),
	'0', 'the losing rows leave no tombstone on any region');

# --- Two unique indexes held by two different rows: refused ---------------
# us-east1 gives row 1 both a = 'x' and b = 'y'; eu-west1 (later) gives 'x'
# to row 2 and 'y' to row 3.  On eu-west1 row 1's update meets two holders:
# apply stops with 23505 until the DBA changes one of them; then it is
# decided against the one left, the same way as everywhere else.
$r1->safe_psql('postgres', q{
	CREATE TABLE p_two (id int PRIMARY KEY, a text UNIQUE, b text UNIQUE) WITH (locality = 'GLOBAL');
	INSERT INTO p_two SELECT i, 'a' || i, 'b' || i FROM generate_series(1, 3) i;
});
drain();
isolate_all();
$r1->safe_psql('postgres', q{UPDATE p_two SET a = 'x', b = 'y' WHERE id = 1});
$r2->safe_psql('postgres', q{UPDATE p_two SET a = 'x' WHERE id = 2; UPDATE p_two SET b = 'y' WHERE id = 3});
my $log_two = -s $r2->logfile;
resume_all();
ok($r2->poll_query_until('postgres', q{SELECT last_error LIKE '%replication conflict on table "p_two": unique_violation from region "us-east1" with more than one row%'
	FROM locality.replication_status WHERE source_region = 'us-east1'}),
	'two holders: eu-west1 refuses the update, and says why in last_error');
like(slurp_file($r2->logfile, $log_two), qr/ERROR:  23505: replication conflict on table "p_two"/, 'two holders: the error is 23505');
is($r2->safe_psql('postgres', q{SELECT string_agg(concat_ws(' ', id, a, b), ',' ORDER BY id) FROM p_two}),
	'1 a1 b1,2 x b2,3 a3 y', 'two holders: eu-west1 applied nothing of it');
$r2->safe_psql('postgres', q{UPDATE p_two SET b = 'y2' WHERE id = 3});
drain();
my @two = map { $_->safe_psql('postgres', q{SELECT string_agg(concat_ws(' ', id, a, b), ',' ORDER BY id) FROM p_two}) } @nodes;
is($two[0], '2 x b2,3 a3 y2', 'two holders, resolved by the DBA: the later row keeps the value on us-east1');
is($two[1], $two[0], 'two holders: eu-west1 holds the same rows');
is($two[2], $two[0], 'two holders: ap-east1 holds the same rows');

# --- last_write_wins_column: the unique value is decided per row ---------
race('p_last_write_wins_column', q{UPDATE p_last_write_wins_column SET email = 'v1' WHERE id = 1},
	q{UPDATE p_last_write_wins_column SET email = 'v1' WHERE id = 2}, $r1);
like(same_everywhere('p_last_write_wins_column', 'column mode'), qr/^2 v1 n2,3 e3 n3/,
	'column mode: the later write keeps the value and the other row is gone everywhere');
is(unique_conflicts($r2, 'p_last_write_wins_column', '1,2'), 'keep_local eu-west1 us-east1 2 1 v1 v1',
	'column mode: logged as a unique_violation with both rows');

# --- keep_local / apply_remote: each does what it says (and regions diverge)
for my $mode ('keep_local', 'apply_remote')
{
	isolate_all();
	$r1->safe_psql('postgres', "UPDATE p_$mode SET email = 'v1' WHERE id = 1");
	$r2->safe_psql('postgres', "UPDATE p_$mode SET email = 'v1' WHERE id = 2");
	resume($r1, $r2);
	resume($r2, $r1);
	is($r1->safe_psql('postgres', "SELECT locality.wait_for_replication('eu-west1', '60s')"), 't', "$mode: us-east1 drained");
	is($r2->safe_psql('postgres', "SELECT locality.wait_for_replication('us-east1', '60s')"), 't', "$mode: eu-west1 drained");
	my $expect = $mode eq 'keep_local'
	  ? [ '1 v1 n1,2 e2 n2', '1 e1 n1,2 v1 n2' ]
	  : [ '2 v1 n2', '1 v1 n1' ];
	is(substr(rows_on($r1, "p_$mode"), 0, length $expect->[0]), $expect->[0],
		"$mode: us-east1 " . ($mode eq 'keep_local' ? 'keeps its rows' : 'applied the remote update over its row'));
	is(substr(rows_on($r2, "p_$mode"), 0, length $expect->[1]), $expect->[1],
		"$mode: eu-west1 " . ($mode eq 'keep_local' ? 'keeps its rows' : 'applied the remote update over its row'));
	is(unique_conflicts($r1, "p_$mode", '1,2'), "$mode us-east1 eu-west1 1 2 v1 v1", "$mode: logged on us-east1");
	is(unique_conflicts($r2, "p_$mode", '1,2'), "$mode eu-west1 us-east1 2 1 v1 v1", "$mode: logged on eu-west1");
	resume_all();
	drain();
}

# --- error: apply stops with 23505 until the DBA changes a row --------------
isolate_all();
$r1->safe_psql('postgres', q{UPDATE p_error SET email = 'v1' WHERE id = 1});
$r2->safe_psql('postgres', q{UPDATE p_error SET email = 'v1' WHERE id = 2});
my $log1 = -s $r1->logfile;
my $log2 = -s $r2->logfile;
resume_all();
for my $pair ([ $r1, $r2 ], [ $r2, $r1 ])
{
	my ($node, $source) = @$pair;
	ok($node->poll_query_until('postgres', qq{SELECT last_error LIKE '%duplicate key value violates unique constraint "p_error_email_key"%'
		FROM locality.replication_status WHERE source_region = '} . $source->name . q{'}),
		'error: ' . $node->name . ' stops on the update from ' . $source->name . ' and shows it in last_error');
}
like(slurp_file($r1->logfile, $log1), qr/ERROR:  23505: duplicate key value violates unique constraint "p_error_email_key"/,
	'error: the apply error is 23505');
like(slurp_file($r2->logfile, $log2), qr/ERROR:  23505: duplicate key value violates unique constraint "p_error_email_key"/,
	'error: on both regions');
is(rows_on($r1, 'p_error') =~ /^1 v1 n1,2 e2 n2,/ ? 1 : 0, 1, 'error: us-east1 applied nothing of the conflicting update');
is($r1->safe_psql('postgres', q{SELECT count(*) FROM locality.conflicts WHERE table_name = 'p_error'::regclass AND kind = 'unique_violation'}), '0',
	'error: nothing logged as resolved');
# The DBA moves the local row off the value on both regions; the stopped
# updates then apply, followed by the fixes.
$r1->safe_psql('postgres', q{UPDATE p_error SET email = 'fixed1' WHERE id = 1});
$r2->safe_psql('postgres', q{UPDATE p_error SET email = 'fixed2' WHERE id = 2});
drain();
like(same_everywhere('p_error', 'error, resolved by the DBA'), qr/^1 fixed1 n1,2 fixed2 n2,3 e3 n3/,
	'error: every update applied, none skipped, every region holds the same rows');
is(same_everywhere_sql(q{SELECT string_agg(state, ',') FROM locality.replication_status}), 'streaming,streaming',
	'error: apply resumed');

done_testing();
