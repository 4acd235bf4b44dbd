# SELECT ... FOR UPDATE/SHARE of a REGIONAL BY ROW table that no qual pins to
# one region (SPEC.md section 4: locks belong where the writes happen): the
# statement runs at every region with that region's qual, in the caller's
# transaction, each home locking the rows it homes, and here for the rows
# homed here; the rows come back together.  Local replicas of rows homed
# elsewhere are never locked.  WITH TIES, subqueries and views are refused
# (0A000); a region qual naming this region keeps the normal plan.
# ORDER BY / LIMIT / OFFSET: each region returns its first limit + offset rows
# in order, merged here (rows cut by the final LIMIT stay locked).
# Also: the 2PC prepare phase sends PREPARE TRANSACTION to every participant
# before reading any answer, a PREPARE failing at one region leaves no
# prepared transaction anywhere, and a synchronous commit sends COMMIT
# PREPARED to every participant before reading any answer.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1 ap-east1));
my ($us, $eu, $ap) = @nodes;
# eu-west1 is 20 ms away; its proxy can hold a PREPARE TRANSACTION.
my $eu_proxy = LocalityCluster::start_proxy($eu, delay_ms => 20,
	hold_pattern => 'PREPARE TRANSACTION');
# ap-east1's proxy can hold a COMMIT PREPARED.
my $ap_proxy = LocalityCluster::start_proxy($ap, delay_ms => 0, hold_pattern => 'COMMIT PREPARED');
$us->safe_psql('postgres', "SELECT locality.add_region('" . $_->[0]->name . "', '"
	  . LocalityCluster::connstr($_->[0], %{ $_->[1] }) . "')")
  for ([ $us, {} ], [ $eu, { port => $eu_proxy->port } ], [ $ap, { port => $ap_proxy->port } ]);
*error_of = \&LocalityCluster::error_of;

*failure = \&LocalityCluster::failure_of;

sub wait_all
{
	$_->safe_psql('postgres', 'SELECT locality.wait_for_replication()') for @nodes;
}

# sorted($text): the lines of $text, sorted, joined by ','.
sub sorted { join(',', sort split /\n/, $_[0]) }

$us->safe_psql('postgres', q{
	CREATE TABLE acct (id int PRIMARY KEY, owner text NOT NULL, balance int NOT NULL)
		WITH (locality = 'REGIONAL BY ROW');
	CREATE TABLE eu_cfg (k text PRIMARY KEY, v text) WITH (locality = 'REGIONAL BY TABLE IN "eu-west1"');
	CREATE TABLE d (id int PRIMARY KEY, k int NOT NULL,
		CONSTRAINT d_k UNIQUE (k) DEFERRABLE INITIALLY DEFERRED) WITH (locality = 'REGIONAL BY ROW');
	CREATE VIEW acct_v AS SELECT * FROM acct;
});
$_->poll_query_until('postgres', "SELECT count(*) = 3 FROM locality.tables") for @nodes;
$eu->safe_psql('postgres', "INSERT INTO acct VALUES (1, 'anna', 10), (2, 'ben', 0)");
$ap->safe_psql('postgres', "INSERT INTO acct VALUES (3, 'cleo', 30), (4, 'dan', 40)");
$us->safe_psql('postgres', "INSERT INTO acct VALUES (5, 'eve', 50), (6, 'finn', 60)");
$eu->safe_psql('postgres', "INSERT INTO eu_cfg VALUES ('a', '1')");
wait_all();

my $fanout = "SELECT id, owner, region FROM acct WHERE balance > 5";
my $want = sorted($us->safe_psql('postgres', $fanout));
is($want, '1|anna|eu-west1,3|cleo|ap-east1,4|dan|ap-east1,5|eve|us-east1,6|finn|us-east1',
	'the rows as a local run sees them');

# EXPLAIN names the regions; a region qual naming this region stays local.
like($us->safe_psql('postgres', "EXPLAIN (COSTS OFF) $fanout FOR UPDATE"),
	qr/Custom Scan \(LocalityForward\)\n\s+Target Region: every region \(us-east1, eu-west1, ap-east1\)\n\s+Remote SQL: SELECT id, owner, region FROM acct WHERE \(balance > 5\) FOR UPDATE OF acct\n\s+Remote Qual: region = <each region>\n\s+->  LockRows\n.*Filter: \(\(balance > 5\) AND \(region = 'us-east1'::locality.region\)\)/s,
	'EXPLAIN: every region named, the remote SQL, and the local plan for the rows homed here');
unlike($us->safe_psql('postgres',
	"EXPLAIN (COSTS OFF) SELECT id FROM acct WHERE region = 'us-east1' AND balance > 5 FOR UPDATE"),
	qr/LocalityForward/, 'rows pinned here by their region qual: the normal plan');
unlike($us->safe_psql('postgres',
	"EXPLAIN (COSTS OFF) SELECT id FROM acct WHERE region = locality.gateway_region() FOR SHARE"),
	qr/LocalityForward/, 'and by gateway_region()');

# (1) The locks are taken at the homes, in the caller's transaction.
my $s1 = $us->background_psql('postgres');
$s1->query_safe('BEGIN');
is(sorted($s1->query_safe("$fanout FOR UPDATE")), $want,
	'FOR UPDATE without a region qual returns what a local run returns');
for my $case ([ $eu, 1, 'eu-west1' ], [ $ap, 3, 'ap-east1' ], [ $us, 5, 'us-east1' ])
{
	my ($node, $id, $name) = @$case;
	like(error_of($node, "SELECT id FROM acct WHERE id = $id FOR UPDATE NOWAIT"),
		qr/^55P03: could not obtain lock on row/, "row $id is locked at its home $name");
}
is(error_of($eu, "SELECT id FROM acct WHERE id = 2 FOR UPDATE NOWAIT"), '',
	'a row the qual does not match is not locked at its home');
is($us->safe_psql('postgres', q{
	SET locality.route_writes = off;
	SELECT id FROM acct WHERE id IN (1, 3, 4) ORDER BY id FOR UPDATE NOWAIT;}),
	"1\n3\n4", 'the local replicas of rows homed elsewhere are not locked');
$s1->query_safe('ROLLBACK');
for my $case ([ $eu, 1 ], [ $ap, 3 ], [ $us, 5 ])
{
	my ($node, $id) = @$case;
	is(error_of($node, "SELECT id FROM acct WHERE id = $id FOR UPDATE NOWAIT"), '',
		"ROLLBACK releases the lock on row $id at its home");
}

# FOR SHARE / NO KEY UPDATE / KEY SHARE the same way; a write at the home waits.
for my $strength ('FOR SHARE', 'FOR NO KEY UPDATE', 'FOR KEY SHARE')
{
	$s1->query_safe('BEGIN');
	is(sorted($s1->query_safe("$fanout $strength")), $want, "$strength returns the same rows");
	like(error_of($ap, "SET lock_timeout = '50ms'; DELETE FROM acct WHERE id = 4"),
		qr/^55P03: canceling statement due to lock timeout/, "$strength: a DELETE at the home waits");
	$s1->query_safe('ROLLBACK');
}

# (2) NOWAIT and SKIP LOCKED apply at each home.
my $s2 = $eu->background_psql('postgres');
$s2->query_safe("BEGIN; SELECT id FROM acct WHERE id = 1 FOR UPDATE");
like(error_of($us, "BEGIN; $fanout FOR UPDATE NOWAIT"), qr/^55P03: could not obtain lock on row/,
	'NOWAIT: a row locked at its home fails the statement with 55P03');
is(sorted($us->safe_psql('postgres', "BEGIN; $fanout FOR UPDATE SKIP LOCKED; COMMIT")),
	'3|cleo|ap-east1,4|dan|ap-east1,5|eve|us-east1,6|finn|us-east1',
	'SKIP LOCKED skips the row locked at its home');
$s2->query_safe('ROLLBACK');

# A write through a fanned-out lock: the usual forwarded UPDATE after it.
my @out = split /\n/, $us->safe_psql('postgres', qq{
	BEGIN;
	$fanout FOR UPDATE;
	UPDATE acct SET balance = balance + 1 WHERE id = 3;
	COMMIT;
	SELECT balance FROM acct WHERE id = 3;});
is(scalar(@out) . ':' . $out[-1], '6:31',
	'a transaction locks everywhere, then updates one row at its home');

# (3) REGIONAL BY TABLE homed elsewhere: pinned to its home.
$s1->query_safe('BEGIN');
is($s1->query_safe("SELECT k, v FROM eu_cfg FOR UPDATE"), 'a|1', 'REGIONAL BY TABLE: the row');
like(error_of($eu, "SELECT k FROM eu_cfg FOR UPDATE NOWAIT"), qr/^55P03/,
	'REGIONAL BY TABLE homed elsewhere: locked at its home');
$s1->query_safe('ROLLBACK');

# (4) ORDER BY / LIMIT / OFFSET: each region returns its first limit + offset
# rows in order, merged here; the result is what a local run returns.
for my $tail ('ORDER BY id', 'ORDER BY balance DESC, id LIMIT 2 OFFSET 1', 'ORDER BY owner DESC LIMIT 3',
	'ORDER BY region, id OFFSET 2', 'ORDER BY id LIMIT ALL', 'ORDER BY id FETCH FIRST 4 ROWS ONLY')
{
	is($us->safe_psql('postgres', "BEGIN; $fanout $tail FOR UPDATE; COMMIT"),
		$us->safe_psql('postgres', "$fanout $tail"), "$tail: the rows and order of a local run");
}
is($us->safe_psql('postgres', "BEGIN; SELECT id FROM acct WHERE balance > 5 ORDER BY owner DESC LIMIT 3 FOR SHARE; COMMIT"),
	"6\n5\n4", 'ORDER BY a column not selected');
is($us->safe_psql('postgres', "BEGIN; SELECT count(*) FROM ($fanout LIMIT 2) s; COMMIT"), '2', 'sanity: LIMIT 2');
my @limited = split /\n/, $us->safe_psql('postgres', "BEGIN; $fanout LIMIT 2 FOR UPDATE; COMMIT");
is(scalar(@limited), 2, 'LIMIT without ORDER BY: that many rows');
my @offset = split /\n/, $us->safe_psql('postgres', "BEGIN; $fanout OFFSET 4 FOR UPDATE; COMMIT");
is(scalar(@offset), 1, 'OFFSET without ORDER BY: the others');
is($us->safe_psql('postgres', q{
	PREPARE lim(int, int) AS SELECT id FROM acct WHERE balance > 5 ORDER BY id LIMIT $1 OFFSET $2 FOR UPDATE;
	SET plan_cache_mode = force_generic_plan;
	BEGIN; EXECUTE lim(2, 1); COMMIT;}), "3\n4", 'LIMIT and OFFSET as parameters of a generic plan');
like($us->safe_psql('postgres', "EXPLAIN (COSTS OFF) $fanout ORDER BY id LIMIT 2 OFFSET 1 FOR UPDATE"),
	qr/Remote SQL: SELECT id, owner, region FROM acct WHERE \(balance > 5\) ORDER BY id LIMIT \(\(2\)::bigint \+ \(1\)::bigint\) FOR UPDATE OF acct\n.*Merged Here: ORDER BY, OFFSET, LIMIT/s,
	'EXPLAIN: each region gets LIMIT limit + offset; ORDER BY, OFFSET and LIMIT are applied here');
like(error_of($us, "$fanout ORDER BY id LIMIT -1 FOR UPDATE"), qr/^2201W: LIMIT must not be negative/,
	'a negative LIMIT: the local error');

# Rows a region locked that the final LIMIT cuts stay locked (documented).
$s1->query_safe('BEGIN');
is($s1->query_safe("SELECT id FROM acct WHERE balance > 5 ORDER BY id LIMIT 1 FOR UPDATE"), '1',
	'ORDER BY id LIMIT 1: the first row');
like(error_of($eu, "SELECT id FROM acct WHERE id = 1 FOR UPDATE NOWAIT"), qr/^55P03/,
	'it is locked at its home');
like(error_of($ap, "SELECT id FROM acct WHERE id = 3 FOR UPDATE NOWAIT"), qr/^55P03/,
	'ap-east1\'s first row, cut by the final LIMIT, is locked too until the transaction ends');
is(error_of($ap, "SELECT id FROM acct WHERE id = 4 FOR UPDATE NOWAIT"), '',
	'ap-east1\'s second row is not');
$s1->query_safe('ROLLBACK');

# What cannot be fanned out correctly is refused, not run on local copies.
like(failure($us, "$fanout ORDER BY id FETCH FIRST 1 ROW WITH TIES FOR UPDATE"),
	qr/^0A000: cannot lock rows of "acct" with FETCH ... WITH TIES without a region qual: they may be homed in several regions\nLocks on rows homed in another region are taken at their home/,
	'WITH TIES without a region qual: 0A000');
like(error_of($us, "SELECT id FROM acct WHERE id IN (SELECT id FROM acct WHERE balance > 5) FOR UPDATE"),
	qr/^0A000: cannot lock rows of "acct" without a region qual in a statement with a subquery/,
	'a subquery: 0A000');
like(failure($us, "SELECT count(*) FROM ($fanout FOR UPDATE) s"),
	qr/^0A000: cannot lock rows of "acct" in a subquery or WITH query: they may be homed in another region\n/,
	'FOR UPDATE in a subquery of a plain SELECT: 0A000, not a lock on local copies');
like(error_of($us, "WITH l AS (SELECT id FROM acct WHERE balance > 5 FOR UPDATE) SELECT count(*) FROM l"),
	qr/^0A000: cannot lock rows of "acct" in a subquery or WITH query/, 'in a WITH query: 0A000');
like(error_of($us, "SELECT EXISTS (SELECT 1 FROM acct WHERE region = 'eu-west1' AND balance > 0 FOR SHARE)"),
	qr/^0A000: cannot lock rows of "acct" in a subquery or WITH query/,
	'in a sublink, of rows homed elsewhere: 0A000');
is($us->safe_psql('postgres', "SELECT count(*) FROM (SELECT id FROM acct WHERE region = 'us-east1' FOR UPDATE) s"),
	'2', 'a locking subquery of rows pinned here runs here');
like(error_of($us, "SELECT id FROM acct_v FOR UPDATE"),
	qr/^0A000: cannot lock rows of "acct" through a subquery or view/, 'a view: 0A000');
is($us->safe_psql('postgres', "BEGIN; SELECT id FROM acct WHERE region = 'ap-east1' ORDER BY id DESC LIMIT 1 FOR UPDATE; COMMIT"),
	'4', 'with a region qual, ORDER BY and LIMIT run at the home');
is($us->safe_psql('postgres', "BEGIN; SELECT id FROM acct WHERE region = 'us-east1' ORDER BY id LIMIT 1 FOR UPDATE; COMMIT"),
	'5', 'and here');

# (5) locality.enforce_home_region refuses the cross-region parts.
like(error_of($us, "SET locality.enforce_home_region = on; $fanout FOR UPDATE"),
	qr/^55000: statement needs region "(eu-west1|ap-east1)", but locality.enforce_home_region is on/,
	'enforce_home_region: 55000 naming a region');
is($us->safe_psql('postgres', "SET locality.enforce_home_region = on; BEGIN; "
	  . "SELECT id FROM acct WHERE region = 'us-east1' AND balance > 5 FOR UPDATE; COMMIT"),
	"5\n6", 'enforce_home_region: rows pinned here lock here');

# (6) 2PC: PREPARE TRANSACTION goes to every participant before any answer.
# The eu-west1 proxy holds its PREPARE; with the participants prepared one
# after the other, ap-east1 (the second) would not get one until eu-west1
# answered.
$eu_proxy->hold;
$s1->query_until(qr/sent/, "\\echo sent\nBEGIN;\n"
	  . "INSERT INTO d VALUES (10, 10, 'eu-west1');\n"
	  . "INSERT INTO d VALUES (11, 11, 'ap-east1');\n"
	  . "INSERT INTO d VALUES (12, 12, 'us-east1');\n"
	  . "COMMIT;\n\\echo done\n");
ok($ap->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_prepared_xacts"),
	'ap-east1 is prepared while eu-west1\'s PREPARE is held: sent before any answer');
is($eu->safe_psql('postgres', "SELECT count(*) FROM pg_prepared_xacts"), '0',
	'eu-west1 has not seen its PREPARE yet');
$eu_proxy->release;
$s1->query_until(qr/done/, '');
is(join(',', map { $_->safe_psql('postgres', "SELECT count(*) FROM pg_prepared_xacts") } @nodes),
	'0,0,0', 'after COMMIT nothing is left prepared');
is($eu->safe_psql('postgres', "SELECT count(*) FROM d WHERE id = 10") . $ap->safe_psql('postgres',
	"SELECT count(*) FROM d WHERE id = 11") . $us->safe_psql('postgres', "SELECT count(*) FROM d WHERE id = 12"),
	'111', 'every part committed at its home');

# A PREPARE failing at one participant (a deferred unique constraint checked
# at PREPARE): the others, prepared meanwhile, are rolled back.
$eu_proxy->hold;
$s1->query_until(qr/sent/, "\\echo sent\nBEGIN;\n"
	  . "INSERT INTO d VALUES (20, 7, 'eu-west1');\n"
	  . "INSERT INTO d VALUES (21, 7, 'eu-west1');\n"
	  . "INSERT INTO d VALUES (22, 22, 'ap-east1');\n"
	  . "INSERT INTO d VALUES (23, 23, 'us-east1');\n"
	  . "\\set VERBOSITY verbose\n\\set ON_ERROR_STOP 0\nCOMMIT;\n\\echo done\n");
ok($ap->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_prepared_xacts"),
	'ap-east1 is prepared while eu-west1\'s PREPARE is held');
$eu_proxy->release;
$s1->query_until(qr/done/, '');
like($s1->{stderr}, qr/23505: duplicate key value violates unique constraint "d_k"/,
	'COMMIT fails with eu-west1\'s error and SQLSTATE');
$s1->{stderr} = '';
is(join(',', map { $_->safe_psql('postgres', "SELECT count(*) FROM pg_prepared_xacts") } @nodes),
	'0,0,0', 'no prepared transaction is left anywhere');
is(join(',', map { $_->safe_psql('postgres', "SELECT count(*) FROM d WHERE id BETWEEN 20 AND 23") } @nodes),
	'0,0,0', 'nothing of the transaction committed anywhere');

# With locality.synchronous_forward_commit = on, COMMIT waits for every
# COMMIT PREPARED, sent to all participants before any answer is read: the
# ap-east1 proxy holds its COMMIT PREPARED (the first participant's), and
# eu-west1 (the second) commits meanwhile.
$ap_proxy->hold;
$s1->query_until(qr/sent/, "\\echo sent\nSET locality.synchronous_forward_commit = on;\nBEGIN;\n"
	  . "INSERT INTO d VALUES (30, 30, 'ap-east1');\n"
	  . "INSERT INTO d VALUES (31, 31, 'eu-west1');\n"
	  . "COMMIT;\nRESET locality.synchronous_forward_commit;\n\\echo done\n");
ok($eu->poll_query_until('postgres', "SELECT count(*) = 1 FROM d WHERE id = 31"),
	'synchronous commit: eu-west1 commits while ap-east1\'s COMMIT PREPARED is held');
is($ap->safe_psql('postgres', "SELECT count(*) FROM pg_prepared_xacts"), '1',
	'ap-east1 is still prepared');
$ap_proxy->release;
$s1->query_until(qr/done/, '');
is($ap->safe_psql('postgres', "SELECT count(*) FROM d WHERE id = 30") . ','
	  . $ap->safe_psql('postgres', "SELECT count(*) FROM pg_prepared_xacts"), '1,0',
	'COMMIT returned once ap-east1 committed too');

# (7) An open circuit breaker: the fan-out fails at once with 08006; locks
# of rows pinned here do not wait on it.
$s1->quit;
$ap->stop('fast');
my $err = '';
for my $try (1 .. 5)
{
	$err = failure($us, "BEGIN; $fanout FOR UPDATE");
	last if $err =~ /circuit breaker has been open/;
}
like($err, qr/^08006: region "ap-east1" is unavailable\nIts circuit breaker has been open since/,
	'a region down: the fan-out fails with 08006, then at once with the breaker open');
is($us->safe_psql('postgres', "BEGIN; SELECT id FROM acct WHERE region = 'us-east1' AND balance > 5 FOR UPDATE; COMMIT"),
	"5\n6", 'rows pinned here still lock here');

$s2->quit;
$eu_proxy->stop;
$ap_proxy->stop;
done_testing();
