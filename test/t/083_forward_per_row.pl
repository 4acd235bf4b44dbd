# Per-row routing of INSERTs whose rows have several homes: multi-row
# VALUES for several regions and INSERT ... SELECT into a REGIONAL BY ROW
# table send each row to its home (batched per region), insert local rows
# here, sum the row counts, return RETURNING rows in input order, apply
# ON CONFLICT per row as at the home, and fail as a whole on any error;
# COPY FROM too.
# Statements for every region (UPDATE/DELETE without a region qual) run at
# all regions at once.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1 ap-east1));
my ($us, $eu, $ap) = @nodes;
LocalityCluster::join_regions(@nodes);
*error_of = \&LocalityCluster::error_of;

sub wait_all
{
	for my $n (@nodes)
	{
		$n->safe_psql('postgres', 'SELECT locality.wait_for_replication()');
	}
}

$us->safe_psql('postgres', q{
	CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int NOT NULL DEFAULT 0
		CHECK (qty >= 0)) WITH (locality = 'REGIONAL BY ROW');
});
$_->poll_query_until('postgres', "SELECT count(*) = 1 FROM locality.tables") for @nodes;
# A local staging table that exists only on us-east1.
$us->safe_psql('postgres', q{
	CREATE TABLE staging (id int, name text, region locality.region);
	INSERT INTO staging SELECT g, 'bulk' || g,
		(ARRAY['us-east1', 'eu-west1', 'ap-east1'])[g % 3 + 1]::locality.region
	  FROM generate_series(1001, 3500) g;
});
$eu->safe_psql('postgres', "INSERT INTO items VALUES (0, 'warmup', 0)");
wait_all();


# Multi-row VALUES with rows for all three regions, RETURNING in input order.
is($us->safe_psql('postgres', q{
	INSERT INTO items VALUES (3, 'c', 1, 'ap-east1'), (1, 'a', 1, 'eu-west1'),
		(2, 'b', 1, 'us-east1'), (4, 'd', 1, 'eu-west1')
	RETURNING id, name, region}),
	"3|c|ap-east1\n1|a|eu-west1\n2|b|us-east1\n4|d|eu-west1",
	'multi-row INSERT for three regions returns its rows in input order');
is($eu->safe_psql('postgres', "SELECT string_agg(id::text, ',' ORDER BY id) FROM items WHERE id BETWEEN 1 AND 4 AND region = 'eu-west1'"),
	'1,4', 'eu-west1 has its rows at once (committed at the home when the statement returned)');
is($ap->safe_psql('postgres', "SELECT string_agg(id::text, ',' ORDER BY id) FROM items WHERE id BETWEEN 1 AND 4 AND region = 'ap-east1'"),
	'3', 'ap-east1 has its row');
is($us->safe_psql('postgres', "SELECT string_agg(id::text, ',' ORDER BY id) FROM items WHERE region = 'us-east1'"),
	'2', 'the local row is inserted here');

# The row count is the sum over regions (in PL/pgSQL too).
$us->safe_psql('postgres', q{
	CREATE FUNCTION ins_count(a int, b int, c int) RETURNS int LANGUAGE plpgsql AS $$
	DECLARE n int;
	BEGIN
		INSERT INTO items VALUES (a, 'e', 0, 'eu-west1'), (b, 'f', 0, 'ap-east1'), (c, 'g', 0, 'us-east1')
			ON CONFLICT DO NOTHING;
		GET DIAGNOSTICS n = ROW_COUNT;
		RETURN n;
	END $$;
});
is($us->safe_psql('postgres', "SELECT ins_count(5, 6, 7)"), '3',
	'the row count sums every region\'s rows');
is($us->safe_psql('postgres', "SELECT ins_count(5, 8, 7)"), '1',
	'and counts only the rows inserted (ON CONFLICT DO NOTHING at each home)');

# INSERT ... SELECT from a table that exists only here, more rows than one batch.
is($us->safe_psql('postgres',
	"INSERT INTO items (id, name, region) SELECT id, name, region FROM staging ORDER BY id"),
	'', 'INSERT ... SELECT of 2500 rows for three regions');
is($us->safe_psql('postgres', "SELECT count(*) FROM items WHERE id > 1000"), '2500',
	'read-your-writes: every routed row is visible here');
is($eu->safe_psql('postgres', "SELECT count(*), min(id), max(id) FROM items WHERE id > 1000 AND region = 'eu-west1'"),
	'833|1003|3499', 'eu-west1 holds its 833 rows (more than one batch)');
is($ap->safe_psql('postgres', "SELECT count(*) FROM items WHERE id > 1000 AND region = 'ap-east1'"),
	'834', 'ap-east1 holds its 834 rows');

# INSERT ... SELECT with RETURNING: input (source) order.
$us->safe_psql('postgres', q{
	CREATE TABLE staging2 (n int, id int, name text, region locality.region);
	INSERT INTO staging2 VALUES (1, 20, 'x', 'eu-west1'), (2, 21, 'y', 'us-east1'),
		(3, 22, 'z', 'ap-east1'), (4, 23, 'w', 'us-east1'), (5, 24, 'v', 'eu-west1');
});
is($us->safe_psql('postgres',
	"INSERT INTO items (id, name, region) SELECT id, name, region FROM staging2 ORDER BY n DESC RETURNING id"),
	"24\n23\n22\n21\n20", 'INSERT ... SELECT RETURNING follows the source order');

# ON CONFLICT per row at the home.
is($us->safe_psql('postgres', q{
	INSERT INTO items VALUES (1, 'a-dup', 0, 'eu-west1'), (30, 'new-eu', 0, 'eu-west1'),
		(2, 'b-dup', 0, 'us-east1'), (31, 'new-us', 0, 'us-east1'), (3, 'c-dup', 0, 'ap-east1')
	ON CONFLICT DO NOTHING RETURNING id}),
	"30\n31", 'ON CONFLICT DO NOTHING skips existing rows at each home; RETURNING only the new ones');
is($us->safe_psql('postgres', q{
	INSERT INTO items VALUES (3, 'c', 5, 'ap-east1'), (32, 'n', 5, 'ap-east1'), (1, 'a', 5, 'eu-west1'),
		(2, 'b', 5, 'us-east1')
	ON CONFLICT (id) DO UPDATE SET qty = items.qty + excluded.qty RETURNING id, qty}),
	"3|6\n32|5\n1|6\n2|6", 'ON CONFLICT DO UPDATE per row at each home, in input order');

# Errors: the home's error with its SQLSTATE and detail; nothing stays anywhere.
like(error_of($us, q{
	INSERT INTO items VALUES (40, 'ok-us', 0, 'us-east1'), (41, 'ok-ap', 0, 'ap-east1'),
		(1, 'dup', 0, 'eu-west1')}),
	qr/^23505: duplicate key value violates unique constraint "items_pkey"/,
	'a duplicate key at the home fails the statement with 23505');
is($us->safe_psql('postgres', "SELECT count(*) FROM items WHERE id IN (40, 41)"), '0',
	'the local row of the failed statement is not kept');
is($ap->safe_psql('postgres', "SELECT count(*) FROM items WHERE id IN (40, 41)"), '0',
	'nor the row sent to another region');
is($ap->safe_psql('postgres', "SELECT count(*) FROM pg_prepared_xacts"), '0',
	'no prepared transaction is left behind');
like(error_of($us, "INSERT INTO items VALUES (42, 'neg', -1, 'ap-east1'), (43, 'x', 0, 'eu-west1')"),
	qr/^23514: new row for relation "items" violates check constraint/,
	'a check violation at the home: 23514');

# Inside a transaction: rolled back with it, committed with it.
$us->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO items VALUES (50, 'rb', 0, 'eu-west1'), (51, 'rb', 0, 'ap-east1'), (52, 'rb', 0, 'us-east1');
	ROLLBACK;
});
is($eu->safe_psql('postgres', "SELECT count(*) FROM items WHERE id BETWEEN 50 AND 52"), '0',
	'ROLLBACK undoes the routed rows');
$us->safe_psql('postgres', q{
	BEGIN;
	INSERT INTO items VALUES (53, 'tx', 0, 'eu-west1'), (54, 'tx', 0, 'ap-east1'), (55, 'tx', 0, 'us-east1');
	SAVEPOINT s;
	INSERT INTO items VALUES (56, 'sp', 0, 'eu-west1'), (57, 'sp', 0, 'us-east1');
	ROLLBACK TO SAVEPOINT s;
	COMMIT;
});
is($eu->safe_psql('postgres', "SELECT string_agg(id::text, ',' ORDER BY id) FROM items WHERE id BETWEEN 53 AND 57 AND region = 'eu-west1'"),
	'53', 'COMMIT keeps the routed rows, ROLLBACK TO SAVEPOINT drops the later ones');
is($ap->safe_psql('postgres', "SELECT string_agg(id::text, ',' ORDER BY id) FROM items WHERE id BETWEEN 53 AND 57 AND region = 'ap-east1'"),
	'54', 'at every home');

# A generic plan of a prepared multi-row INSERT routes each row per execution.
is($us->safe_psql('postgres', q{
	SET plan_cache_mode = force_generic_plan;
	PREPARE two(int, locality.region, int, locality.region) AS
		INSERT INTO items VALUES ($1, 'p', 0, $2), ($3, 'p', 0, $4) RETURNING id, region;
	EXECUTE two(60, 'eu-west1', 61, 'ap-east1');
	EXECUTE two(62, 'us-east1', 63, 'eu-west1');
}), "60|eu-west1\n61|ap-east1\n62|us-east1\n63|eu-west1", 'a generic plan routes its parameters\' rows');

# EXPLAIN and EXPLAIN ANALYZE of the per-row plan.
like($us->safe_psql('postgres',
	"EXPLAIN (COSTS OFF) INSERT INTO items VALUES (70, 'x', 0, 'eu-west1'), (71, 'y', 0, 'ap-east1')"),
	qr/Custom Scan \(LocalityForward\)\n\s+Target Region: home of each row \(at run time\)\n\s+Remote SQL \(per row\): INSERT INTO items \(id, name, qty, region\) VALUES \(\$1, \$2, \$3, \$4\)\n\s+->  Insert on items\n\s+->  Custom Scan \(LocalityRowRouter\)/,
	'EXPLAIN shows the per-row plan and its remote statement');
like($us->safe_psql('postgres',
	"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) INSERT INTO items SELECT id + 10000, name, 0, region FROM staging WHERE id < 1010"),
	qr/Regions Reached: eu-west1, ap-east1.*Rows Here: 3\n\s+Rows Forwarded: eu-west1 3, ap-east1 3/s,
	'EXPLAIN ANALYZE counts the rows inserted here and sent to each region');

# Unchanged: a multi-row INSERT of local rows keeps the normal plan.
unlike($us->safe_psql('postgres',
	"EXPLAIN (COSTS OFF) INSERT INTO items VALUES (80, 'x', 0, 'us-east1'), (81, 'y', 0, 'us-east1')"),
	qr/Locality/, 'rows all homed here: the normal plan');

# COPY FROM with rows for every region: each row goes home.
$us->safe_psql('postgres',
	"COPY items (id, name, region) FROM stdin;\n90\tcopy-eu\teu-west1\n91\tcopy-us\tus-east1\n92\tcopy-ap\tap-east1\n\\.\n");
is($eu->safe_psql('postgres', "SELECT string_agg(id || ':' || name, ',') FROM items WHERE id BETWEEN 90 AND 99 AND region = 'eu-west1'"),
	'90:copy-eu', 'COPY FROM: the eu-west1 row is at its home');
is($ap->safe_psql('postgres', "SELECT string_agg(id || ':' || name, ',') FROM items WHERE id BETWEEN 90 AND 99 AND region = 'ap-east1'"),
	'92:copy-ap', 'COPY FROM: the ap-east1 row is at its home');
$us->safe_psql('postgres', "COPY items (id, name) FROM stdin;\n94\tcopy-default\n\\.\n");
is($us->safe_psql('postgres', "SELECT string_agg(id || ':' || region, ',' ORDER BY id) FROM items WHERE id BETWEEN 90 AND 99 AND region = 'us-east1'"),
	'91:us-east1,94:us-east1', 'COPY FROM: local rows and rows with the default region are inserted here');
like(error_of($us, "COPY items (id, name, region) FROM stdin;\n95\tnew\tus-east1\n90\tdup\teu-west1\n\\.\n"),
	qr/^23505: duplicate key value violates unique constraint "items_pkey"/,
	'COPY FROM: a duplicate key at the home fails the COPY with 23505');
is($us->safe_psql('postgres', "SELECT count(*) FROM items WHERE id = 95"), '0',
	'and keeps none of its rows');
is($us->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname LIKE 'locality_copy_%'"), '0',
	'no staging table is left behind');

# Fan-out (UPDATE/DELETE without a region qual) runs at every region at once:
# with eu-west1's part blocked on a row lock (held by a prepared
# transaction), ap-east1's part has already run and holds its row.
$eu->safe_psql('postgres', q{
	BEGIN;
	UPDATE items SET qty = qty WHERE id = 1;
	PREPARE TRANSACTION 'hold_eu';
});
my $bg = $us->background_psql('postgres');
$bg->query_safe("SET locality.forward_timeout = '300s'");
$bg->query_until(qr/started/, q{
	\echo started
	UPDATE items SET qty = qty + 1000 WHERE name IN ('a', 'b', 'c') AND id < 10;
	\echo done
});
ok($ap->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM (SELECT 1 FROM items WHERE id = 3 FOR UPDATE SKIP LOCKED) s"),
	'fan-out: ap-east1 has run its part while eu-west1\'s part waits for a lock');
is($us->safe_psql('postgres', "SELECT qty FROM items WHERE id = 3"), '6',
	'and nothing is committed before every region has answered');
$eu->safe_psql('postgres', "COMMIT PREPARED 'hold_eu'");
$bg->query_until(qr/done/, '');
$bg->quit;
is($us->safe_psql('postgres', "SELECT string_agg(qty::text, ',' ORDER BY id) FROM items WHERE id IN (1, 2, 3)"),
	'1006,1006,1006', 'the fan-out updated each region\'s row once');
is($us->safe_psql('postgres',
	"UPDATE items SET qty = qty - 1000 WHERE name IN ('a', 'b', 'c') AND id < 10 RETURNING id, qty"),
	"1|6\n3|6\n2|6", 'fan-out RETURNING combines every region\'s rows (remote regions first, then here)');
like(error_of($us, "UPDATE items SET qty = -1 WHERE name IN ('a', 'c') AND id < 10"),
	qr/^23514: new row for relation "items" violates check constraint/,
	'an error at two regions at once is raised once, with its SQLSTATE');
is($us->safe_psql('postgres', "SELECT string_agg(qty::text, ',' ORDER BY id) FROM items WHERE id IN (1, 3)"),
	'6,6', 'and changes nothing');
is($eu->safe_psql('postgres', "SELECT count(*) FROM pg_prepared_xacts"), '0',
	'no prepared transaction is left behind');

# SELECT ... FOR UPDATE/SHARE of a row homed elsewhere locks it at its home,
# in the transaction's remote part, so a later UPDATE there sees the lock held.
my $locked_at = sub {
	my ($node, $id) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) = 0 FROM (SELECT 1 FROM items WHERE id = $id FOR UPDATE SKIP LOCKED) s");
};
my $bg2 = $us->background_psql('postgres');
$bg2->query_safe("BEGIN");
is($bg2->query_safe("SELECT name, qty FROM items WHERE id = 1 FOR UPDATE"), 'a|6',
	'SELECT ... FOR UPDATE by primary key of a row homed in eu-west1 returns it');
is($locked_at->($eu, 1), 't', 'and the row is locked at its home');
is($bg2->query_safe("SELECT name FROM items WHERE region = 'ap-east1' AND id = 3 FOR SHARE"), 'c',
	'SELECT ... FOR SHARE with a region qual');
is($locked_at->($ap, 3), 't', 'locks at ap-east1');
$bg2->query_safe("UPDATE items SET qty = qty + 1 WHERE id = 1");
$bg2->query_safe("COMMIT");
$bg2->quit;
is($locked_at->($eu, 1), 'f', 'COMMIT releases the locks at the home');
is($eu->safe_psql('postgres', "SELECT qty FROM items WHERE id = 1"), '7',
	'and the UPDATE in the same transaction committed there');
like($us->safe_psql('postgres', "EXPLAIN (COSTS OFF) SELECT name FROM items WHERE id = 1 FOR UPDATE"),
	qr/Custom Scan \(LocalityForward\)\n\s+Target Region: home of the row \(looked up by primary key at run time\)\n\s+Remote SQL: SELECT name FROM items WHERE \(id = 1\) FOR UPDATE/,
	'EXPLAIN of a routed SELECT ... FOR UPDATE');
unlike($us->safe_psql('postgres', "EXPLAIN (COSTS OFF) SELECT name FROM items WHERE region = 'us-east1' AND id = 2 FOR UPDATE"),
	qr/Locality/, 'a locking read of local rows keeps the normal plan');
is($us->safe_psql('postgres', "SELECT name FROM items WHERE id = 2 FOR UPDATE"), 'b',
	'a locking read by primary key of a local row runs here');

wait_all();
my $rows = "SELECT string_agg(id || ':' || name || ':' || qty || ':' || region, ',' ORDER BY id) FROM items";
my $want = $us->safe_psql('postgres', $rows);
is($eu->safe_psql('postgres', $rows), $want, 'eu-west1 holds the same rows');
is($ap->safe_psql('postgres', $rows), $want, 'ap-east1 holds the same rows');

done_testing();
