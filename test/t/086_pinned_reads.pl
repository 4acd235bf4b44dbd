# Reads pinned to a region a transaction has forwarded writes to (SPEC.md
# section 4): a plain SELECT by primary key or region qual of rows homed in X
# runs in the transaction's remote part at X, so it sees the transaction's
# own uncommitted writes, which the local replica cannot have.  Other reads
# see the local replica.  Cached plans (PREPARE, PL/pgSQL) made before the
# first forwarded write follow too.  SELECT ... FOR UPDATE/SHARE of joins
# runs at the home when every locked REGIONAL table is pinned there, and is
# refused (0A000) when it cannot be, instead of locking local copies.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1 ap-east1));
my ($us, $eu, $ap) = @nodes;
LocalityCluster::join_regions(@nodes);
*error_of = \&LocalityCluster::error_of;

sub wait_all { LocalityCluster::drain(@nodes) }

$us->safe_psql('postgres', q{
	CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance int NOT NULL)
		WITH (locality = 'REGIONAL BY ROW');
	CREATE TABLE eu_cfg (k text PRIMARY KEY, v text) WITH (locality = 'REGIONAL BY TABLE IN "eu-west1"');
	CREATE TABLE rates (id int PRIMARY KEY, rate int) WITH (locality = 'GLOBAL');
});
$_->poll_query_until('postgres', "SELECT count(*) = 3 FROM locality.tables") for @nodes;
$eu->safe_psql('postgres', "INSERT INTO accounts VALUES (1, 'anna', 10)");
$ap->safe_psql('postgres', "INSERT INTO accounts VALUES (2, 'bob', 20)");
$us->safe_psql('postgres', "INSERT INTO accounts VALUES (3, 'carl', 30)");
$eu->safe_psql('postgres', "INSERT INTO eu_cfg VALUES ('a', '1')");
$us->safe_psql('postgres', "INSERT INTO rates VALUES (1, 5), (2, 6), (3, 7)");
$us->safe_psql('postgres', "CREATE TABLE notes (id int PRIMARY KEY, note text)");
$us->safe_psql('postgres', "INSERT INTO notes VALUES (1, 'n1'), (3, 'n3')");
wait_all();

# Inside a transaction with forwarded writes to eu-west1.
is($us->safe_psql('postgres', q{
	BEGIN;
	UPDATE accounts SET balance = 11 WHERE id = 1;
	SELECT balance FROM accounts WHERE id = 1;
	SELECT balance FROM accounts WHERE region = 'eu-west1' AND id = 1;
	INSERT INTO accounts VALUES (4, 'dora', 40, 'eu-west1');
	SELECT owner FROM accounts WHERE id = 4;
	SELECT count(*) FROM accounts WHERE region = 'eu-west1';
	SELECT balance FROM accounts WHERE id = 2;
	SELECT sum(balance) FROM accounts;
	SELECT count(*) FROM accounts WHERE id = 4 AND owner = 'x' OR id = 4;
	ROLLBACK;
}), "11\n11\ndora\n2\n20\n60\n0",
	'by primary key and by region qual a read sees the uncommitted forwarded UPDATE and INSERT; '
	. 'reads of other regions\' rows and unpinned reads see the local replica');
is($us->safe_psql('postgres', "SELECT balance, (SELECT count(*) FROM accounts WHERE id = 4) FROM accounts WHERE id = 1"),
	'10|0', 'ROLLBACK leaves nothing here');
is($eu->safe_psql('postgres', "SELECT balance, (SELECT count(*) FROM accounts WHERE id = 4) FROM accounts WHERE id = 1"),
	'10|0', 'nor at the home');

# Without a forwarded write to eu-west1 the same reads are local.
is($us->safe_psql('postgres', q{
	BEGIN;
	UPDATE accounts SET balance = 21 WHERE id = 2;
	SELECT balance FROM accounts WHERE id = 1;
	SELECT balance FROM accounts WHERE id = 2;
	ROLLBACK;
}), "10\n21", 'a transaction that wrote to ap-east1 only reads eu-west1\'s rows here, ap-east1\'s there');

# Two remote parts: a key found in no local row is looked for in both.
is($us->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO accounts VALUES (5, 'emil', 50, 'eu-west1');
	INSERT INTO accounts VALUES (6, 'fred', 60, 'ap-east1');
	SELECT owner FROM accounts WHERE id = 6;
	SELECT owner FROM accounts WHERE id = 5;
	SELECT count(*), max(owner) FROM accounts WHERE id = 6;
	SELECT count(*) FROM accounts WHERE id = 7;
	ROLLBACK;
}), "fred\nemil\n1|fred\n0", 'a row inserted in this transaction at either region is found by primary key, '
	. 'by an aggregate too');

# REGIONAL BY TABLE.
is($us->safe_psql('postgres', q{
	BEGIN;
	UPDATE eu_cfg SET v = '2' WHERE k = 'a';
	SELECT v FROM eu_cfg WHERE k = 'a';
	SELECT string_agg(k || '=' || v, ',') FROM eu_cfg;
	INSERT INTO eu_cfg VALUES ('b', '3');
	SELECT count(*) FROM eu_cfg;
	COMMIT;
}), "2\na=2\n2", 'a REGIONAL BY TABLE table homed where the transaction wrote is read there');
is($us->safe_psql('postgres', "SELECT string_agg(k || '=' || v, ',' ORDER BY k) FROM eu_cfg"), 'a=2,b=3',
	'and after COMMIT the local replica has it (read-your-writes)');

# Prepared statements: a generic plan made before the first forwarded write
# of the transaction is replanned; one made during it decides when it runs.
is($us->safe_psql('postgres', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE bal(int) AS SELECT balance FROM accounts WHERE id = $1;
	PREPARE cnt(locality.region) AS SELECT count(*) FROM accounts WHERE region = $1;
	EXECUTE bal(1);
	BEGIN;
	EXECUTE bal(1);
	EXECUTE cnt('eu-west1');
	UPDATE accounts SET balance = 12 WHERE id = 1;
	INSERT INTO accounts VALUES (8, 'hugo', 80, 'eu-west1');
	EXECUTE bal(1);
	EXECUTE bal(8);
	EXECUTE cnt('eu-west1');
	ROLLBACK;
	EXECUTE bal(1);
	EXECUTE cnt('eu-west1');
	BEGIN;
	EXECUTE bal(1);
	UPDATE accounts SET balance = 13 WHERE id = 1;
	EXECUTE bal(1);
	ROLLBACK;
	EXECUTE bal(1);
}), "10\n10\n1\n12\n80\n2\n10\n1\n10\n13\n10",
	'a prepared statement (generic plan) run before and after a forwarded write in one transaction');

# A plan made inside such a transaction, run outside one, reads here only,
# also when it finds no row (no cross-region call: enforce_home_region).
is($us->safe_psql('postgres', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE rich(int) AS SELECT owner FROM accounts WHERE id = $1 AND balance > 1000;
	BEGIN;
	UPDATE accounts SET balance = 1001 WHERE id = 1;
	EXECUTE rich(1);
	ROLLBACK;
	SET locality.enforce_home_region = on;
	EXECUTE rich(1);
	SELECT 'none';
}), "anna\nnone", 'a pinned read that finds nothing here does not go looking elsewhere');

# PL/pgSQL caches its plans too; SELECT INTO STRICT counts one row.
$us->safe_psql('postgres', q{
	CREATE FUNCTION balance_of(k int) RETURNS int LANGUAGE plpgsql AS $$
	DECLARE b int;
	BEGIN
		SELECT balance INTO STRICT b FROM accounts WHERE id = k;
		RETURN b;
	END $$;
	CREATE FUNCTION locked_balance_of(k int) RETURNS int LANGUAGE plpgsql AS $$
	DECLARE b int;
	BEGIN
		SELECT balance INTO STRICT b FROM accounts WHERE id = k FOR UPDATE;
		RETURN b;
	END $$;
});
is($us->safe_psql('postgres', q{
	SELECT balance_of(1);
	BEGIN;
	SELECT balance_of(1);
	UPDATE accounts SET balance = 14 WHERE id = 1;
	SELECT balance_of(1);
	SELECT locked_balance_of(1);
	ROLLBACK;
	SELECT balance_of(1);
}), "10\n10\n14\n14\n10", 'a PL/pgSQL function\'s cached read follows the transaction\'s forwarded write');

# A cursor WITH HOLD over a pinned read is read again into its store at
# COMMIT (the executor is rewound), still in the remote part.
is($us->safe_psql('postgres', q{
	BEGIN;
	UPDATE accounts SET balance = 15 WHERE id = 1;
	INSERT INTO accounts VALUES (9, 'ida', 90, 'eu-west1');
	DECLARE c CURSOR WITH HOLD FOR SELECT id, balance FROM accounts WHERE region = 'eu-west1' ORDER BY id;
	FETCH 1 FROM c;
	COMMIT;
	FETCH ALL FROM c;
	CLOSE c;
}), "1|15\n9|90", 'a holdable cursor keeps the rows read in the remote part');
$us->safe_psql('postgres', "UPDATE accounts SET balance = 10 WHERE id = 1; DELETE FROM accounts WHERE id = 9");

# EXPLAIN.
my $plain = $us->safe_psql('postgres', "EXPLAIN (COSTS OFF) SELECT balance FROM accounts WHERE id = 1");
unlike($plain, qr/Locality/, 'outside such a transaction a read keeps the normal plan');
my $explain = $us->safe_psql('postgres', q{
	BEGIN;
	UPDATE accounts SET balance = 16 WHERE id = 1;
	EXPLAIN (COSTS OFF) SELECT balance FROM accounts WHERE id = 1;
	EXPLAIN (COSTS OFF) SELECT v FROM eu_cfg WHERE k = 'a';
	EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT balance FROM accounts WHERE region = 'eu-west1' AND id = 1;
	ROLLBACK;
});
like($explain,
	qr/Custom Scan \(LocalityForward\)\n\s+Target Region: home of the row \(looked up by primary key at run time\), in this transaction's remote part there once it has forwarded writes there; else this region's replica\n\s+Remote SQL: SELECT balance FROM accounts WHERE \(id = 1\)\n\s+->  Index Scan using accounts_pkey on accounts/,
	'EXPLAIN of a read pinned by primary key inside the transaction shows Target Region and Remote SQL');
like($explain, qr/Target Region: eu-west1, in this transaction's remote part.*\n\s+Remote SQL: SELECT v FROM eu_cfg WHERE \(k = 'a'::text\)/,
	'EXPLAIN of a REGIONAL BY TABLE read');
like($explain, qr/Custom Scan \(LocalityForward\) \(actual rows=1 loops=1\)\n\s+Target Region: eu-west1,.*\n\s+Remote SQL: .*\n\s+Regions Reached: eu-west1/,
	'EXPLAIN ANALYZE shows the region reached');

# SELECT ... FOR UPDATE of a join.
my $locked_at = sub {
	my ($node, $id) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) = 0 FROM (SELECT 1 FROM accounts WHERE id = $id FOR UPDATE SKIP LOCKED) s");
};
my $bg = $us->background_psql('postgres');
$bg->query_safe("BEGIN");
is($bg->query_safe(q{SELECT a.owner, r.rate FROM accounts a JOIN rates r ON r.id = a.id
	WHERE a.region = 'eu-west1' AND a.id = 1 FOR UPDATE OF a}), 'anna|5',
	'a locking join pinned to eu-west1 by a region qual returns its rows');
is($locked_at->($eu, 1), 't', 'and locks the row at its home');
is($locked_at->($us, 1), 'f', 'not the local copy');
$bg->query_safe("COMMIT");
$bg->quit;
is($locked_at->($eu, 1), 'f', 'COMMIT releases it');
like($us->safe_psql('postgres', q{EXPLAIN (COSTS OFF) SELECT a.owner FROM accounts a JOIN rates r ON r.id = a.id
	WHERE a.region = 'eu-west1' FOR UPDATE}),
	qr/Custom Scan \(LocalityForward\)\n\s+Target Region: eu-west1\n\s+Remote SQL: SELECT a\.owner FROM .*accounts a JOIN rates r.*'eu-west1'.* FOR UPDATE/,
	'EXPLAIN of a locking join routed home');
is($us->safe_psql('postgres', q{SELECT a.owner, n.note FROM accounts a JOIN notes n ON n.id = a.id
	WHERE a.region = 'us-east1' FOR UPDATE}), 'carl|n3', 'a locking join of rows homed here runs here');
is($us->safe_psql('postgres', q{SELECT a.owner, n.note FROM accounts a JOIN notes n ON n.id = a.id
	WHERE a.id = 1 FOR UPDATE OF n}), 'anna|n1', 'locking only an unmanaged table runs here');
like(error_of($us, q{SELECT a.owner FROM accounts a JOIN rates r ON r.id = a.id WHERE a.id = 1 FOR UPDATE}),
	qr/^0A000: cannot lock rows of "accounts" in a join without a region qual: they may be homed in other regions/,
	'a locking join of REGIONAL BY ROW rows without a region qual is refused');
like(error_of($us, q{SELECT 1 FROM accounts a JOIN accounts b ON b.id = a.id + 1
	WHERE a.region = 'eu-west1' AND b.region = 'ap-east1' FOR SHARE}),
	qr/^0A000: cannot lock rows of "accounts" in a join with rows homed in another region/,
	'rows of two regions in one locking join are refused');
like(error_of($us, q{SELECT 1 FROM accounts a JOIN eu_cfg c ON true WHERE a.region = 'us-east1' FOR UPDATE}),
	qr/^0A000: cannot lock rows of "accounts" in a join with rows homed in another region/,
	'rows homed here and a REGIONAL BY TABLE table homed elsewhere: refused');
like(error_of($us, q{SELECT 1 FROM accounts a JOIN notes n ON n.id = a.id WHERE a.region = 'eu-west1' FOR UPDATE OF a}),
	qr/^0A000: cannot lock rows of "accounts" at their home region in a join with table "notes"/,
	'a locking join that would have to read an unmanaged table at the home is refused');
is($locked_at->($us, 1), 'f', 'no lock is left on the local copy');

wait_all();
my $rows = "SELECT string_agg(id || ':' || owner || ':' || balance || ':' || region, ',' ORDER BY id) FROM accounts";
my $want = $us->safe_psql('postgres', $rows);
is($want, '1:anna:10:eu-west1,2:bob:20:ap-east1,3:carl:30:us-east1', 'only the committed writes are left');
is($eu->safe_psql('postgres', $rows), $want, 'eu-west1 holds the same rows');
is($ap->safe_psql('postgres', $rows), $want, 'ap-east1 holds the same rows');

done_testing();
