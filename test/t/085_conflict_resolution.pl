# Conflict resolution on GLOBAL tables across three regions, one of them
# (eu-west1) running 400 ms behind under libfaketime, the only test double
# allowed: causal last-write-wins beats a plain commit-timestamp comparison,
# concurrent writes are ordered by their stamps the same way everywhere,
# tombstones make delete/update races converge, the clock-skew bound delays
# changes from a clock too far ahead, merge functions are applied on apply,
# and a unique violation on a non-key index keeps the later row everywhere
# (or, in mode error, stops apply until resolved); the clock survives a crash.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my $faketime_lib;
for my $dir ('/usr/lib/x86_64-linux-gnu/faketime', '/usr/lib/faketime', '/usr/lib64/faketime')
{
	$faketime_lib = "$dir/libfaketime.so.1" if !$faketime_lib && -e "$dir/libfaketime.so.1";
}
BAIL_OUT('libfaketime not found: install the Debian package faketime (scripts/setup.sh)')
  unless $faketime_lib;

my @nodes = map { LocalityCluster::new_region($_) } qw(us-east1 eu-west1 ap-east1);
my ($us, $eu, $ap) = @nodes;
$us->start;
{
	# eu-west1's server, and every process it starts, sees a clock 400 ms behind.
	local $ENV{LD_PRELOAD} = $faketime_lib;
	local $ENV{FAKETIME} = '-0.4';
	# Observed here: client backends get the fake clock, while the postmaster
	# and background workers (apply workers) log with the real one; the lag
	# is therefore that of the sessions' commits, which is what this tests.
	$eu->start;
}
$ap->start;
$us->safe_psql('postgres', 'CREATE EXTENSION pg_locality');
LocalityCluster::join_regions(@nodes);

sub drain
{
	for my $node (@nodes)
	{
		is($node->safe_psql('postgres', "SELECT locality.wait_for_replication(NULL, '60s')"), 't',
			'replication drained on ' . $node->name);
	}
}

sub same_everywhere { LocalityCluster::same_everywhere(\@nodes, @_) }

# isolate($a, $b) / reconnect($a, $b): neither applies the other's changes meanwhile.
sub isolate
{
	my ($x, $y) = @_;
	for my $pair ([ $x, $y ], [ $y, $x ])
	{
		my ($target, $source) = @$pair;
		$target->safe_psql('postgres', "SELECT locality.pause_replication('" . $source->name . "')");
		$target->poll_query_until('postgres', "SELECT state = 'paused' FROM locality.replication_status WHERE source_region = '"
			  . $source->name . "'") or die 'replication did not pause';
	}
}

sub reconnect
{
	my ($x, $y) = @_;
	$x->safe_psql('postgres', "SELECT locality.resume_replication('" . $y->name . "')");
	$y->safe_psql('postgres', "SELECT locality.resume_replication('" . $x->name . "')");
}

$us->safe_psql('postgres', q{
	CREATE TABLE g (id int PRIMARY KEY, v text) WITH (locality = 'GLOBAL');
	INSERT INTO g SELECT i, 'initial' FROM generate_series(1, 10) i;
});
drain();

# --- The skew test (issue 5, "done when") -----------------------------------
# eu-west1 waits, inside the server, until it has applied us-east1's update,
# then updates the row itself: causally after, but its clock is 400 ms behind.
my ($out, $err) = ('', '');
my $waiter = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', LocalityCluster::connstr($eu), '-c', q{
		DO $$
		DECLARE deadline timestamptz := clock_timestamp() + interval '60 s';
		BEGIN
			WHILE (SELECT v FROM g WHERE id = 1) <> 'A' AND clock_timestamp() < deadline LOOP
				PERFORM pg_sleep(0.001);
			END LOOP;
			UPDATE g SET v = 'B' WHERE id = 1 AND v = 'A';
		END $$;
		SELECT xmin FROM g WHERE id = 1;
	} ], '>', \$out, '2>', \$err);
my $a_xid = $us->safe_psql('postgres',
	"BEGIN; UPDATE g SET v = 'A' WHERE id = 1; SELECT pg_current_xact_id(); COMMIT;");
$waiter->finish;
my $a_commit = $us->safe_psql('postgres', "SELECT pg_xact_commit_timestamp('$a_xid'::xid8::text::xid)");
is($err, '', 'eu-west1 saw A and wrote B');
chomp(my $b_xmin = $out);
my $b_commit = $eu->safe_psql('postgres', "SELECT pg_xact_commit_timestamp('$b_xmin'::xid)");
drain();
is(same_everywhere('SELECT v FROM g WHERE id = 1', 'skew'), 'B',
	'the causally later write (B, from the lagging clock) wins on every region');
is($us->safe_psql('postgres', "SELECT '$b_commit'::timestamptz < '$a_commit'::timestamptz"), 't',
	"B's commit timestamp ($b_commit) is before A's ($a_commit): commit-timestamp LWW would have kept A");
is($us->safe_psql('postgres', q{SELECT kind || ' ' || resolution || ' ' || remote_region || ' ' || local_region
	|| ' ' || (remote_hlc > local_hlc) || ' ' || (remote_commit_ts < local_commit_ts)
	FROM locality.conflicts WHERE remote_tuple->>'v' = 'B'}),
	'update_origin_differs apply_remote eu-west1 us-east1 true true',
	'logged on us-east1 with both regions, stamps and commit timestamps');

# --- Stored and derived stamps (docs/conflicts.md section 8) ---------------
# A is an ordinary commit: us-east1's clock had not run ahead of its physical
# time, so its stamp is its commit timestamp's millisecond and origin, and no
# region stores a commit_stamps row for it (the sender nor the receivers).
# B was committed by a clock that had run ahead of physical time (eu-west1
# had observed A, 400 ms in its future): its stamp is stored on eu-west1 and
# with each applied copy, is later than A's, and won above.
my $a_hlc = $us->safe_psql('postgres',
	"SELECT floor(extract(epoch FROM '$a_commit'::timestamptz) * 1000)::bigint << 16");
is($us->safe_psql('postgres', "SELECT count(*) FROM locality.commit_stamps WHERE xid = $a_xid"),
	'0', 'an ordinary commit stores no stamp on its region');
for my $node ($eu, $ap)
{
	is($node->safe_psql('postgres', "SELECT count(*) FROM locality.commit_stamps WHERE hlc = $a_hlc"),
		'0', 'nor where it is applied: ' . $node->name);
}
my $b_stamp = $eu->safe_psql('postgres',
	"SELECT hlc || ' ' || region_id FROM locality.commit_stamps WHERE xid % 4294967296 = $b_xmin");
like($b_stamp, qr/^\d+ \d+$/, 'a commit whose clock ran ahead stores its stamp');
my ($b_hlc, $b_region) = split / /, $b_stamp;
ok($b_hlc > $a_hlc, "B's stored stamp ($b_hlc) is later than A's derived one ($a_hlc)");
is($eu->safe_psql('postgres', q{SELECT id FROM locality.regions WHERE region = 'eu-west1'}), $b_region,
	"B's stamp has eu-west1's region id");
for my $node ($us, $ap)
{
	is($node->safe_psql('postgres',
		"SELECT count(*) FROM locality.commit_stamps WHERE hlc = $b_hlc AND region_id = $b_region"),
		'1', 'the applied copy of B stores the same stamp on ' . $node->name);
}

# --- Concurrent writes: ordered by stamp, the same everywhere ---------------
# us-east1 and eu-west1 cannot see each other; eu-west1 writes after us-east1
# in real time, but 400 ms behind, so its stamp is earlier: concurrent
# writes are ordered by stamps (not by arrival), and every region agrees.
isolate($us, $eu);
$us->safe_psql('postgres', "UPDATE g SET v = 'us, concurrent' WHERE id = 3");
$eu->safe_psql('postgres', "UPDATE g SET v = 'eu, concurrent' WHERE id = 3");
reconnect($us, $eu);
drain();
is(same_everywhere('SELECT v FROM g WHERE id = 3', 'concurrent'), 'us, concurrent',
	'the write with the later stamp wins everywhere, whatever order changes arrived in');
is($eu->safe_psql('postgres', q{SELECT resolution FROM locality.conflicts WHERE remote_tuple->>'v' = 'us, concurrent'}),
	'apply_remote', 'eu-west1 logged the conflict and applied the later write');
is($us->safe_psql('postgres', q{SELECT resolution FROM locality.conflicts WHERE remote_tuple->>'v' = 'eu, concurrent'}),
	'keep_local', 'us-east1 logged the conflict and kept its later write');

# Same clock: the later of two concurrent inserts of one key wins everywhere.
isolate($us, $ap);
$us->safe_psql('postgres', "INSERT INTO g VALUES (20, 'us first')");
$ap->safe_psql('postgres', "INSERT INTO g VALUES (20, 'ap second')");
reconnect($us, $ap);
drain();
is(same_everywhere('SELECT v FROM g WHERE id = 20', 'insert/insert'), 'ap second',
	'insert_exists: the later insert wins on every region');

# --- Delete/update races converge through tombstones ------------------------
# An update, then (later) a concurrent delete: deleted everywhere; without
# the tombstone the deleting region would take the update as a new row.
isolate($us, $ap);
$ap->safe_psql('postgres', "UPDATE g SET v = 'updated before the delete' WHERE id = 4");
$us->safe_psql('postgres', 'DELETE FROM g WHERE id = 4');
reconnect($us, $ap);
drain();
is(same_everywhere('SELECT count(*) FROM g WHERE id = 4', 'update then delete'), '0',
	'the later delete wins on every region');
is($us->safe_psql('postgres', q{SELECT kind || ' ' || resolution FROM locality.conflicts WHERE remote_tuple->>'v' = 'updated before the delete'}),
	'update_missing keep_local', 'us-east1 decided the update against its tombstone');

# A delete, then (later) a concurrent update: the row survives with the update.
isolate($us, $ap);
$us->safe_psql('postgres', 'DELETE FROM g WHERE id = 5');
$ap->safe_psql('postgres', "UPDATE g SET v = 'updated after the delete' WHERE id = 5");
reconnect($us, $ap);
drain();
is(same_everywhere('SELECT v FROM g WHERE id = 5', 'delete then update'), 'updated after the delete',
	'the later update wins on every region');
ok($us->safe_psql('postgres', q{SELECT count(*) FROM locality.tombstones WHERE relid = 'g'::regclass}) > 0,
	'deletes leave tombstones');

# --- Merge functions --------------------------------------------------------
$_->safe_psql('postgres', q{
	CREATE FUNCTION higher_balance(local numeric, remote numeric) RETURNS numeric
	    LANGUAGE sql IMMUTABLE AS 'SELECT greatest(local, remote)';
}) for @nodes;
$us->safe_psql('postgres', q{
	CREATE TABLE acct (id int PRIMARY KEY, balance numeric, note text) WITH (locality = 'GLOBAL');
	SELECT locality.set_merge_function('acct', 'balance', 'higher_balance(numeric, numeric)');
	INSERT INTO acct VALUES (1, 10, 'start');
});
drain();
is(same_everywhere(q{SELECT fn::text FROM locality.merge_functions WHERE relid = 'acct'::regclass},
	'merge function'), 'higher_balance(numeric,numeric)', 'the merge function is set on every region');
isolate($us, $ap);
$us->safe_psql('postgres', "UPDATE acct SET balance = 100, note = 'us' WHERE id = 1");
$ap->safe_psql('postgres', "UPDATE acct SET balance = 50, note = 'ap' WHERE id = 1");
reconnect($us, $ap);
drain();
is(same_everywhere('SELECT balance || note FROM acct WHERE id = 1', 'merged'), '100ap',
	'the balance is merged by the function, the other column by last-write-wins');

# --- last_write_wins_column -------------------------------------------------
# Concurrent updates of different columns both survive; of the same column,
# the later one wins, on every region.
$us->safe_psql('postgres', q{
	CREATE TABLE profile (id int PRIMARY KEY, name text, city text, email text) WITH (locality = 'GLOBAL');
	SELECT locality.set_conflict_resolution('profile', 'last_write_wins_column');
	INSERT INTO profile VALUES (1, 'n0', 'c0', 'e0');
});
drain();
isolate($us, $ap);
$us->safe_psql('postgres', "UPDATE profile SET name = 'n-us', email = 'e-us' WHERE id = 1");
$ap->safe_psql('postgres', "UPDATE profile SET city = 'c-ap', email = 'e-ap' WHERE id = 1");
reconnect($us, $ap);
drain();
is(same_everywhere(q{SELECT concat_ws(' ', name, city, email) FROM profile WHERE id = 1}, 'columns'),
	'n-us c-ap e-ap', 'different columns both survive; the same column goes to the later write');
is($ap->safe_psql('postgres', q{SELECT kind || ' ' || resolution FROM locality.conflicts WHERE table_name = 'profile'::regclass}),
	'update_origin_differs columns', 'logged on ap-east1 with resolution columns (name from us-east1, the rest its own)');
# A later update of one column only does not bring back the other side's stale columns.
isolate($us, $ap);
$ap->safe_psql('postgres', "UPDATE profile SET name = 'n-ap' WHERE id = 1");
$us->safe_psql('postgres', "UPDATE profile SET city = 'c-us' WHERE id = 1");
reconnect($us, $ap);
drain();
is(same_everywhere(q{SELECT concat_ws(' ', name, city, email) FROM profile WHERE id = 1}, 'columns again'),
	'n-ap c-us e-ap', 'each column holds its latest write');

# A delete, then (later) a concurrent update of one column: the row comes
# back whole everywhere, its other columns from the tombstone.
isolate($us, $ap);
$us->safe_psql('postgres', 'DELETE FROM profile WHERE id = 1');
$ap->safe_psql('postgres', "UPDATE profile SET city = 'c-after-delete' WHERE id = 1");
reconnect($us, $ap);
drain();
is(same_everywhere(q{SELECT concat_ws(' ', name, city, email) FROM profile WHERE id = 1}, 'column delete/update'),
	'n-ap c-after-delete e-ap', 'the later one-column update brings the row back whole on every region');

# --- A unique violation on a non-key index ----------------------------------
# Two regions insert different keys with the same unique value: a
# unique_violation, logged with both rows; in last_write_wins the row with
# the later stamp stays on every region (the other is removed where it was
# local and not applied where it arrives).
# One schema change at a time, each after the initial copies of the last: a
# change during a copy can wait on the copy's lock across regions (see 030).
$us->safe_psql('postgres',
	q{CREATE TABLE people (id int PRIMARY KEY, email text UNIQUE) WITH (locality = 'GLOBAL')});
drain();
$us->safe_psql('postgres',
	q{CREATE TABLE people_strict (id int PRIMARY KEY, email text UNIQUE) WITH (locality = 'GLOBAL')});
drain();
$us->safe_psql('postgres', q{SELECT locality.set_conflict_resolution('people_strict', 'error')});
drain();
isolate($us, $ap);
$us->safe_psql('postgres', "INSERT INTO people VALUES (1, 'x\@example.com')");
$ap->safe_psql('postgres', "INSERT INTO people VALUES (2, 'x\@example.com')");    # later: wins
$ap->safe_psql('postgres', "INSERT INTO people VALUES (4, 'y\@example.com')");
$us->safe_psql('postgres', "INSERT INTO people VALUES (3, 'y\@example.com')");    # later: wins
reconnect($us, $ap);
drain();
is(same_everywhere('SELECT string_agg(id || email, \',\' ORDER BY id) FROM people', 'unique'),
	'2x@example.com,3y@example.com', 'the row with the later stamp keeps the unique value on every region');
is($us->safe_psql('postgres', q{SELECT kind || ' ' || resolution || ' ' || local_region || ' ' || remote_region
	|| ' ' || (local_tuple->>'id') || ' ' || (remote_tuple->>'id') || ' ' || (remote_hlc > local_hlc)
	|| ' ' || (local_commit_ts IS NOT NULL AND remote_commit_ts IS NOT NULL)
	FROM locality.conflicts WHERE table_name = 'people'::regclass ORDER BY id}),
	"unique_violation apply_remote us-east1 ap-east1 1 2 true true\nunique_violation keep_local us-east1 ap-east1 3 4 false true",
	'us-east1 logged both unique violations with both rows, regions, stamps and commit timestamps');
is($ap->safe_psql('postgres', q{SELECT kind || ' ' || resolution || ' ' || (local_tuple->>'id') || ' ' || (remote_tuple->>'id')
	FROM locality.conflicts WHERE table_name = 'people'::regclass ORDER BY id}),
	"unique_violation keep_local 2 1\nunique_violation apply_remote 4 3",
	'ap-east1 decided the same rows the other way round');
is(same_everywhere(q{SELECT count(*) FROM locality.tombstones WHERE relid = 'people'::regclass}, 'unique tombstones'),
	'0', 'the losing rows leave no tombstone on any region');

# Mode 'error': apply stops on it until the DBA resolves it.
isolate($us, $ap);
$us->safe_psql('postgres', "INSERT INTO people_strict VALUES (1, 'x\@example.com')");
$ap->safe_psql('postgres', "INSERT INTO people_strict VALUES (2, 'x\@example.com')");
reconnect($us, $ap);
ok($us->poll_query_until('postgres',
	q{SELECT last_error LIKE '%duplicate key value violates unique constraint "people_strict_email_key"%' FROM locality.replication_status WHERE source_region = 'ap-east1'}),
	'in mode error the unique violation stops apply and shows in last_error');
$us->safe_psql('postgres', "UPDATE people_strict SET email = 'one\@example.com' WHERE id = 1");
$ap->safe_psql('postgres', "UPDATE people_strict SET email = 'two\@example.com' WHERE id = 2");
drain();
is(same_everywhere('SELECT string_agg(id || email, \',\' ORDER BY id) FROM people_strict', 'unique, error'),
	'1one@example.com,2two@example.com', 'resolved by the DBA: every region holds both rows');

# --- An unchanged TOASTed value in a concurrent update ----------------------
# ap-east1 replaces a large (TOASTed) value; us-east1, later, updates another
# column of the row.  us-east1's row wins everywhere, with the large value it
# had: the update must carry it, though it did not change it.  Sent as
# "unchanged", ap-east1 would keep its own value under us-east1's row.
$us->safe_psql('postgres', q{
	CREATE TABLE docs (id int PRIMARY KEY, body text, n int) WITH (locality = 'GLOBAL');
	INSERT INTO docs SELECT 1, string_agg(md5(i::text || 'old'), ''), 0 FROM generate_series(1, 3000) i;
});
drain();
is($us->safe_psql('postgres', q{SELECT pg_relation_size(reltoastrelid) > 8192 FROM pg_class WHERE oid = 'docs'::regclass}),
	't', 'the body is stored out of line (TOASTed)');
isolate($us, $ap);
$ap->safe_psql('postgres', q{UPDATE docs SET body = (SELECT string_agg(md5(i::text || 'ap'), '') FROM generate_series(1, 3000) i)});
$us->safe_psql('postgres', 'UPDATE docs SET n = 7');    # later: wins the row
reconnect($us, $ap);
drain();
is(same_everywhere(q{SELECT md5(body) || ' ' || n FROM docs}, 'toast'),
	$us->safe_psql('postgres', q{SELECT md5(string_agg(md5(i::text || 'old'), '')) || ' 7' FROM generate_series(1, 3000) i}),
	'the later row wins whole on every region, with the TOASTed value it did not change');

# --- The skew bound ---------------------------------------------------------
# ap-east1 restarts with a clock an hour ahead: its changes wait at us-east1
# (55000 in last_error, retried, never skipped) while they are more than
# locality.max_clock_skew ahead, and apply once the bound allows them.
$ap->stop;
{
	local $ENV{LD_PRELOAD} = $faketime_lib;
	local $ENV{FAKETIME} = '+3600';
	$ap->start;
}
$ap->safe_psql('postgres', "UPDATE g SET v = 'an hour ahead' WHERE id = 2");
ok($us->poll_query_until('postgres',
	q{SELECT last_error LIKE '%remote clock is % ms ahead of the local clock%' FROM locality.replication_status WHERE source_region = 'ap-east1'}),
	'a change stamped more than max_clock_skew ahead is refused: 55000 in last_error');
is($us->safe_psql('postgres', 'SELECT v FROM g WHERE id = 2'), 'initial', 'and not applied');
$us->safe_psql('postgres', "ALTER SYSTEM SET locality.max_clock_skew = '2h'; SELECT pg_reload_conf()");
is($us->safe_psql('postgres', "SELECT locality.wait_for_replication('ap-east1', '60s')"), 't',
	'applied once the bound allows it');
is($us->safe_psql('postgres', 'SELECT v FROM g WHERE id = 2'), 'an hour ahead', 'nothing was skipped');

# --- An exact tie, broken by region id --------------------------------------
# Once us-east1 and eu-west1 have both observed ap-east1's stamp from an hour
# ahead, and nothing else, their clocks are purely logical and equal: one
# update each, concurrently, gets the very same hlc.  The higher region id
# (eu-west1, added after us-east1) wins on every region.
# ap-east1's own apply workers run on the real clock (see the top): they need
# the wide bound too, to accept stamps following its sessions' clock.
$_->safe_psql('postgres', "ALTER SYSTEM SET locality.max_clock_skew = '2h'; SELECT pg_reload_conf()")
  for ($eu, $ap);
drain();
$ap->safe_psql('postgres', "UPDATE g SET v = 'sets the clocks' WHERE id = 6");
drain();
isolate($us, $eu);
$us->safe_psql('postgres', "UPDATE g SET v = 'tie: us-east1' WHERE id = 6");
$eu->safe_psql('postgres', "UPDATE g SET v = 'tie: eu-west1' WHERE id = 6");
reconnect($us, $eu);
drain();
is($us->safe_psql('postgres', q{SELECT remote_hlc = local_hlc AND remote_region = 'eu-west1' FROM locality.conflicts WHERE remote_tuple->>'v' = 'tie: eu-west1'}),
	't', 'the two writes have the same hlc');
is(same_everywhere('SELECT v FROM g WHERE id = 6', 'tie'), 'tie: eu-west1',
	'an exact tie goes to the higher region id on every region');

# --- The clock survives a crash ---------------------------------------------
# us-east1 has observed ap-east1's stamps from an hour ahead (with
# max_clock_skew 2h): its clock runs an hour ahead of its physical clock.
# After a crash (kill -9) and restart, a local write must still be stamped
# above every stamp the clock handed out or observed before; a clock that
# started again from physical time would stamp it an hour earlier, and it
# would lose to the writes it observed.
my $before = $us->safe_psql('postgres', 'SELECT locality.hlc_now()');
is($us->safe_psql('postgres', "SELECT ($before >> 16) > extract(epoch FROM clock_timestamp()) * 1000 + 1800000"),
	't', 'us-east1 clock runs ahead of its physical clock before the crash');
LocalityCluster::kill9_and_restart($us);
my $after_xid = $us->safe_psql('postgres',
	"BEGIN; UPDATE g SET v = 'after the crash' WHERE id = 7; SELECT pg_current_xact_id(); COMMIT;");
is($us->safe_psql('postgres', "SELECT hlc > $before FROM locality.commit_stamps WHERE xid = '$after_xid'::text::bigint"),
	't', 'a write after the crash is stamped above every stamp seen before it');
drain();
is(same_everywhere('SELECT v FROM g WHERE id = 7', 'after the crash'), 'after the crash',
	'and wins on every region');

done_testing();
