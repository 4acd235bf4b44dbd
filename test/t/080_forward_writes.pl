# Writes to rows homed in another region are forwarded to that region's
# primary inside the caller's transaction: INSERT, UPDATE, DELETE with
# RETURNING and row counts, ON CONFLICT, updates by primary key of rows
# homed elsewhere, updates without a region qual on every region, remote
# errors with their SQLSTATE and detail, rollback and savepoint rollback,
# two-phase commit with a local write, EXPLAIN, read-your-writes.  ap-east1
# is reached through the latency proxy, so the second phase of a two-phase
# commit (sent, not awaited, by default) is really in flight after COMMIT.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1 ap-east1));
my ($us, $eu, $ap) = @nodes;
my $ap_proxy = LocalityCluster::start_proxy($ap, delay_ms => 100, hold_pattern => 'COMMIT PREPARED');
$us->safe_psql('postgres', "SELECT locality.add_region('" . $_->[0]->name . "', '"
	  . LocalityCluster::connstr($_->[0], %{ $_->[1] }) . "')")
  for ([ $us, {} ], [ $eu, {} ], [ $ap, { port => $ap_proxy->port } ]);
*error_of = \&LocalityCluster::error_of;

*failure = \&LocalityCluster::failure_of;

sub wait_all
{
	for my $n (@nodes)
	{
		$n->safe_psql('postgres', 'SELECT locality.wait_for_replication()');
	}
}

$us->safe_psql('postgres', q{
	CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance int NOT NULL DEFAULT 0
		CHECK (balance >= 0)) WITH (locality = 'REGIONAL BY ROW');
	CREATE TABLE eu_config (k text PRIMARY KEY, v text) WITH (locality = 'REGIONAL BY TABLE IN "eu-west1"');
});
$_->poll_query_until('postgres', "SELECT count(*) = 2 FROM locality.tables") for @nodes;

# Let every region start streaming the new tables.
$eu->safe_psql('postgres', "INSERT INTO accounts VALUES (0, 'warmup', 0)");
wait_all();

# INSERT of a row homed in eu-west1, from us-east1: it runs at eu-west1.
is($us->safe_psql('postgres',
	"INSERT INTO accounts VALUES (1, 'anna', 10, 'eu-west1') RETURNING id, owner, region"),
	'1|anna|eu-west1', 'forwarded INSERT returns its RETURNING row');
is($eu->safe_psql('postgres', "SELECT owner, balance FROM accounts WHERE id = 1"),
	'anna|10', 'the row is at its home at once (committed there when the statement returned)');
is($us->safe_psql('postgres', "SELECT owner FROM accounts WHERE id = 1"),
	'anna', 'read-your-writes: the next local read on us-east1 sees it');

# Read-your-writes waits for the replica, bounded by forward_timeout.
$us->safe_psql('postgres', "SELECT locality.pause_replication('eu-west1')");
$us->safe_psql('postgres', "INSERT INTO accounts VALUES (100, 'ryw', 0, 'eu-west1')");
is(failure($us, "SET locality.forward_timeout = '200ms'; SELECT owner FROM accounts WHERE id = 100")
	  =~ /^55000: the replica of region "eu-west1" has not applied this server's forwarded writes yet\nIt is \d+ bytes behind/ ? 1 : 0,
	1, 'a read waits for the forwarded write and fails with 55000 naming the region and its lag');
is($us->safe_psql('postgres',
	"SET locality.read_your_writes = off; SELECT count(*) FROM accounts WHERE id = 100"),
	'0', 'with locality.read_your_writes = off the read does not wait (and is stale)');
is($us->safe_psql('postgres', "SELECT locality.resume_replication('eu-west1') \\g /dev/null\n"
	  . "SELECT owner FROM accounts WHERE id = 100"), 'ryw',
	'after resuming, the read waits until the write is applied and sees it');

# Multi-row INSERT for one region, with a row count.
my ($ret, $out, $err);
$us->safe_psql('postgres',
	"INSERT INTO accounts VALUES (2, 'bob', 5, 'eu-west1'), (3, 'carl', 7, 'eu-west1')");
$out = $us->safe_psql('postgres',
	"INSERT INTO accounts VALUES (4, 'dora', 1, 'ap-east1'), (5, 'emil', 2, 'ap-east1') RETURNING id");
is($out, "4\n5", 'multi-row INSERT for one region returns rows in input order');
is($us->safe_psql('postgres', "INSERT INTO accounts VALUES (6, 'f', 1, 'eu-west1'), (7, 'g', 1, 'ap-east1') RETURNING id"),
	"6\n7", 'rows for two other regions in one INSERT go to their homes (083 for more)');
$us->safe_psql('postgres', "DELETE FROM accounts WHERE id IN (6, 7)");
$us->safe_psql('postgres', "INSERT INTO accounts VALUES (10, 'local', 3, 'us-east1')");
wait_all();

# UPDATE with the region qual, by primary key, and without either.
is($us->safe_psql('postgres',
	"UPDATE accounts SET balance = balance + 1 WHERE region = 'eu-west1' AND id = 1 RETURNING balance"),
	'11', 'UPDATE with a region qual runs at that region');
is($us->safe_psql('postgres',
	"UPDATE accounts SET balance = balance + 1 WHERE id = 4 RETURNING balance, region"),
	'2|ap-east1', 'UPDATE by primary key goes to the row\'s home');
$us->safe_psql('postgres', "UPDATE accounts SET balance = balance + 100 WHERE balance < 1000");
wait_all();
is($us->safe_psql('postgres', "SELECT count(*) FROM accounts WHERE balance >= 100"), '8',
	'UPDATE without a region qual updates the rows of every region');
($ret, $out, $err) = $us->psql('postgres', "UPDATE accounts SET balance = balance - 100 WHERE balance >= 100");
is($ret, 0, 'fan-out UPDATE succeeds');
is($eu->safe_psql('postgres', "SELECT sum(balance) FROM accounts WHERE region = 'eu-west1'"), '23',
	'each region updated its own rows once');

is($us->safe_psql('postgres', "DELETE FROM accounts WHERE owner = 'nobody' RETURNING id"), '',
	'DELETE matching nothing anywhere returns no rows');

# ON CONFLICT at the home.
is($us->safe_psql('postgres',
	"INSERT INTO accounts VALUES (1, 'anna2', 0, 'eu-west1') ON CONFLICT (id) DO UPDATE SET owner = excluded.owner RETURNING owner"),
	'anna2', 'INSERT ... ON CONFLICT DO UPDATE runs at the home');
is($us->safe_psql('postgres',
	"INSERT INTO accounts VALUES (1, 'x', 0, 'eu-west1') ON CONFLICT DO NOTHING RETURNING id"),
	'', 'ON CONFLICT DO NOTHING returns nothing');

# Remote errors keep SQLSTATE, message and detail.
is(failure($us, "INSERT INTO accounts VALUES (1, 'dup', 0, 'eu-west1')"),
	"23505: duplicate key value violates unique constraint \"accounts_pkey\"\n"
	  . "Key (id)=(1) already exists.",
	'a unique violation at the home comes back with SQLSTATE and detail');
like(error_of($us, "UPDATE accounts SET balance = -1 WHERE id = 2"),
	qr/^23514: new row for relation "accounts" violates check constraint/,
	'a check violation at the home: 23514');

# Transactions: rollback and savepoint rollback undo forwarded work.
$us->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO accounts VALUES (20, 'rolled', 0, 'eu-west1');
	ROLLBACK;
});
is($eu->safe_psql('postgres', "SELECT count(*) FROM accounts WHERE id = 20"), '0',
	'ROLLBACK undoes a forwarded INSERT');
$us->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO accounts VALUES (21, 'kept', 0, 'eu-west1');
	SAVEPOINT a;
	INSERT INTO accounts VALUES (22, 'undone', 0, 'eu-west1');
	ROLLBACK TO SAVEPOINT a;
	COMMIT;
});
is($eu->safe_psql('postgres', "SELECT string_agg(owner, ',' ORDER BY id) FROM accounts WHERE id IN (21, 22)"),
	'kept', 'ROLLBACK TO SAVEPOINT undoes only the forwarded work after it');
is(failure($us, q{
	BEGIN;
	INSERT INTO accounts VALUES (23, 'ok', 0, 'eu-west1');
	INSERT INTO accounts VALUES (1, 'dup', 0, 'eu-west1');
	COMMIT;
}) =~ /^23505/ ? 1 : 0, 1, 'an error in a transaction raises the remote error');
is($eu->safe_psql('postgres', "SELECT count(*) FROM accounts WHERE id = 23"), '0',
	'and the whole transaction is rolled back at the home');

# Two phases: a local write and a forwarded one commit together.  With
# locality.synchronous_forward_commit = on, COMMIT returns once the home has
# committed too.
$us->safe_psql('postgres', q{
	SET locality.synchronous_forward_commit = on;
	BEGIN;
	INSERT INTO accounts VALUES (30, 'here', 0, 'us-east1');
	INSERT INTO accounts VALUES (31, 'there', 0, 'ap-east1');
	COMMIT;
});
is($ap->safe_psql('postgres', "SELECT owner FROM accounts WHERE id = 31"), 'there',
	'two-phase, synchronous: the forwarded row is committed at its home');
is($ap->safe_psql('postgres', "SELECT count(*) FROM pg_prepared_xacts"), '0',
	'no prepared transaction is left behind');
is($us->safe_psql('postgres', "SELECT owner FROM accounts WHERE id = 30"), 'here',
	'and the local row here');

# The default: COMMIT returns once the decision is durable here; COMMIT
# PREPARED is on its way to ap-east1 (half a round trip through the proxy)
# and the row reaches this server's replica a round trip later.  Still:
# (a) the session's next read sees it, (b) so does a read in another
# session on this server, (c) the session's next forwarded statement (on
# the same connection, behind the commit) finds it at the home.
my $s1 = $us->background_psql('postgres');
my $s2 = $us->background_psql('postgres');
# (d) holds a commit in the proxy for as long as a loaded machine takes to
# see the waiting statement: no forwarded call may time out meanwhile.
$_->query_safe("SET locality.forward_timeout = '5min'") for ($s1, $s2);
$s1->query_safe("INSERT INTO accounts VALUES (60, 'warm', 0, 'ap-east1')");
$s2->query_safe("SELECT count(*) FROM accounts");
$s1->query_safe(q{
	BEGIN;
	INSERT INTO accounts VALUES (61, 'here', 0, 'us-east1');
	INSERT INTO accounts VALUES (62, 'there', 0, 'ap-east1');
	COMMIT;
});
is($s2->query_safe("SELECT owner FROM accounts WHERE id = 62"), 'there',
	'(b) a read in another session right after COMMIT sees the forwarded row');
is($s1->query_safe(q{
	BEGIN;
	INSERT INTO accounts VALUES (63, 'here', 0, 'us-east1');
	INSERT INTO accounts VALUES (64, 'there', 0, 'ap-east1');
	COMMIT;
	SELECT owner FROM accounts WHERE id = 64;
}), 'there', '(a) the session\'s own next read sees it');
is($s1->query_safe(q{
	BEGIN;
	INSERT INTO accounts VALUES (65, 'here', 0, 'us-east1');
	INSERT INTO accounts VALUES (66, 'there', 0, 'ap-east1');
	COMMIT;
	UPDATE accounts SET balance = balance + 1 WHERE id = 66 AND region = 'ap-east1' RETURNING id;
}), '66', '(c) the next forwarded statement (autocommit) runs after the commit at the home');
is($s1->query_safe(q{
	BEGIN;
	INSERT INTO accounts VALUES (67, 'here', 0, 'us-east1');
	INSERT INTO accounts VALUES (68, 'there', 0, 'ap-east1');
	COMMIT;
	BEGIN;
	UPDATE accounts SET balance = balance + 1 WHERE id = 68 AND region = 'ap-east1' RETURNING id;
	INSERT INTO accounts VALUES (69, 'here', 0, 'us-east1');
	COMMIT;
}), '68', '(c) and so does one in a transaction');

# (d) Another session's forwarded statement right after COMMIT returned is
# ordered behind the commit in flight too: it first waits at the home for
# this server's pending commits there.  The proxy holds COMMIT PREPARED, so
# the window stays open until the home has the statement; the statement is
# followed by a forwarded INSERT of a marker row, so the home shows either
# the statement waiting for the commit or the marker (it did not wait).
sub other_session_after_commit
{
	my ($id, $marker, $sql) = @_;
	$ap_proxy->hold;
	$s1->query_safe(qq{
		BEGIN;
		INSERT INTO accounts VALUES ($id, 'here', 0, 'us-east1');
		INSERT INTO accounts VALUES ($id + 1, 'there', 0, 'ap-east1');
		COMMIT;
	});
	$s2->query_until(qr/sent/, "\\echo sent\n$sql\n"
		  . "INSERT INTO accounts VALUES ($marker, 'marker', 0, 'ap-east1');\n\\echo done\n");
	$ap->poll_query_until('postgres', qq{
		SELECT EXISTS (SELECT FROM pg_stat_activity WHERE wait_event = 'transactionid')
			OR EXISTS (SELECT FROM accounts WHERE id = $marker)});
	$ap_proxy->release;
	my $out = $s2->query_until(qr/done/, '');
	$out =~ s/\s*done\s*$//;
	return $out;
}
is(other_session_after_commit(70, 72,
	"UPDATE accounts SET balance = balance + 1 WHERE id = 71 AND region = 'ap-east1' RETURNING id;"),
	'71', '(d) another session\'s forwarded UPDATE right after COMMIT finds the row at the home');
is(other_session_after_commit(73, 75,
	"BEGIN ISOLATION LEVEL REPEATABLE READ;\n"
	  . "UPDATE accounts SET balance = balance + 1 WHERE id = 74 AND region = 'ap-east1' RETURNING id;\n"
	  . "COMMIT;"),
	'74', '(d) and so does one in a REPEATABLE READ transaction');
is($s2->query_safe("SELECT string_agg(id || ':' || balance, ',' ORDER BY id) FROM accounts "
	  . "WHERE id BETWEEN 70 AND 75"), '70:0,71:1,72:0,73:0,74:1,75:0',
	'(d) the updates are read here too');
is($s2->query_safe("SELECT string_agg(id || ':' || balance, ',' ORDER BY id) FROM accounts "
	  . "WHERE id BETWEEN 61 AND 69"), '61:0,62:0,63:0,64:0,65:0,66:1,67:0,68:1,69:0',
	'every row of those transactions is read here, with the updates');
$s1->quit;
$s2->quit;
ok($ap->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_prepared_xacts"),
	'and the home has committed every prepared transaction');
is($ap->safe_psql('postgres', "SELECT count(*) FROM accounts WHERE id IN (62, 64, 66, 68)"), '4',
	'with every forwarded row');

# REGIONAL BY TABLE: every write goes to the home.
is($us->safe_psql('postgres', "INSERT INTO eu_config VALUES ('a', '1') RETURNING k"), 'a',
	'INSERT into a REGIONAL BY TABLE table homed elsewhere is forwarded');
is($eu->safe_psql('postgres', "SELECT v FROM eu_config"), '1', 'and is at the home');
is($us->safe_psql('postgres', "UPDATE eu_config SET v = '2' RETURNING v"), '2', 'UPDATE too');
is($us->safe_psql('postgres', "DELETE FROM eu_config RETURNING k"), 'a', 'DELETE too');

# DELETE by primary key at the home, with a row count.
is($us->safe_psql('postgres', "DELETE FROM accounts WHERE id = 5 RETURNING owner"), 'emil',
	'DELETE by primary key is forwarded');
is($ap->safe_psql('postgres', "SELECT count(*) FROM accounts WHERE id = 5"), '0', 'and done at the home');

# Prepared statements (generic plans) route at run time.
$out = $us->safe_psql('postgres', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE ins(int, text, locality.region) AS INSERT INTO accounts VALUES ($1, $2, 0, $3) RETURNING region;
	EXECUTE ins(40, 'p1', 'eu-west1');
	EXECUTE ins(41, 'p2', 'us-east1');
	EXECUTE ins(42, 'p3', 'ap-east1');
	PREPARE upd(int) AS UPDATE accounts SET balance = balance + 1 WHERE id = $1 RETURNING id;
	EXECUTE upd(40);
	EXECUTE upd(41);
});
is($out, "eu-west1\nus-east1\nap-east1\n40\n41", 'a generic plan routes each execution');
is($eu->safe_psql('postgres', "SELECT balance FROM accounts WHERE id = 40"), '1',
	'its parameters reach the home');

# EXPLAIN names the target and the remote SQL.
like($us->safe_psql('postgres', "EXPLAIN (COSTS OFF) INSERT INTO accounts VALUES (50, 'e', 0, 'eu-west1')"),
	qr/Custom Scan \(LocalityForward\)\n\s+Target Region: eu-west1\n\s+Remote SQL: INSERT INTO accounts \(id, owner, balance, region\) VALUES \(50, 'e'::text, 0, 'eu-west1'::locality.region\)$/,
	'EXPLAIN shows the target region and the remote SQL');
like($us->safe_psql('postgres', "EXPLAIN (ANALYZE, COSTS OFF) UPDATE accounts SET balance = 0 WHERE id = 40"),
	qr/Regions Reached: eu-west1\n\s+Remote Time: [0-9.]+ ms/, 'EXPLAIN ANALYZE shows the remote time');
unlike($us->safe_psql('postgres', "EXPLAIN (COSTS OFF) INSERT INTO accounts VALUES (51, 'l', 0, 'us-east1')"),
	qr/LocalityForward/, 'a local write keeps the normal plan');

wait_all();
my $rows = "SELECT string_agg(id || ':' || owner || ':' || balance || ':' || region, ',' ORDER BY id) FROM accounts";
my $want = $us->safe_psql('postgres', $rows);
is($eu->safe_psql('postgres', $rows), $want, 'eu-west1 holds the same rows');
is($ap->safe_psql('postgres', $rows), $want, 'ap-east1 holds the same rows');

$ap_proxy->stop;
done_testing();
