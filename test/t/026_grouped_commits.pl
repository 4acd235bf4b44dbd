# Grouped commits (src/shim/apply.c): under a backlog, an apply worker commits
# consecutive source transactions of the same millisecond in one local
# transaction.  Every applied row must still carry its own source
# transaction's commit millisecond and origin (the derived stamp conflicts are
# decided by), nothing may be lost or applied twice, locality.apply_group_size
# = 1 turns it off, and after an apply error the transactions before the
# failing one are committed (visible) while it keeps failing.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1));
my ($us, $eu) = @nodes;
LocalityCluster::join_regions(@nodes);

sub drain { ok(LocalityCluster::drain($eu), 'eu-west1 applied everything us-east1 committed') }

my $rows = 2000;
$us->safe_psql('postgres', qq{
	CREATE TABLE t (id int PRIMARY KEY, n int NOT NULL DEFAULT 0)
		WITH (locality = 'REGIONAL BY TABLE IN "us-east1"');
	CREATE TABLE g (id int PRIMARY KEY, n int NOT NULL DEFAULT 0) WITH (locality = 'GLOBAL');
	CREATE TABLE t2 (id int PRIMARY KEY, v text)
		WITH (locality = 'REGIONAL BY TABLE IN "us-east1"');
	INSERT INTO t SELECT i FROM generate_series(1, $rows) i;
	INSERT INTO g SELECT i FROM generate_series(1, $rows) i;
	-- One transaction per row: many commit in the same millisecond.
	CREATE PROCEDURE bump(tbl regclass, lo int, hi int) LANGUAGE plpgsql AS \$\$
	BEGIN
		FOR i IN lo..hi LOOP
			EXECUTE format('UPDATE %s SET n = n + 1 WHERE id = \$1', tbl) USING i;
			COMMIT;
		END LOOP;
	END \$\$;
	-- ... then one that eu-west1 will fail to apply, microseconds later.
	CREATE PROCEDURE bump_then_fail(n int) LANGUAGE plpgsql AS \$\$
	BEGIN
		CALL bump('t', 1, n);
		INSERT INTO t2 VALUES (1, 'needs column v');
		COMMIT;
	END \$\$;
});
drain();

# bump_backlog($table): $rows single-row transactions on us-east1 while
# eu-west1 does not apply, then the backlog is applied at once.
sub bump_backlog
{
	my ($table) = @_;
	$eu->safe_psql('postgres', "SELECT locality.pause_replication('us-east1')");
	$us->safe_psql('postgres', "SET synchronous_commit = off; CALL bump('$table', 1, $rows)");
	$eu->safe_psql('postgres', "SELECT locality.resume_replication('us-east1')");
	drain();
}

# Each row's commit millisecond and origin region, as the derived stamp reads them.
sub stamps_of
{
	my ($node, $table) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT string_agg(id || ':' || n || ':' ||
				to_char(date_trunc('milliseconds', pg_xact_commit_timestamp(xmin)), 'YYYYMMDDHH24MISSMS'),
				',' ORDER BY id)
		FROM $table});
}

sub local_commits
{
	my ($node, $table) = @_;
	return $node->safe_psql('postgres', "SELECT count(DISTINCT xmin::text) FROM $table");
}

for my $table (qw(t g))
{
	bump_backlog($table);
	is(stamps_of($eu, $table), stamps_of($us, $table),
		"$table: every applied row has its source transaction's value and commit millisecond");
	is($us->safe_psql('postgres', "SELECT count(DISTINCT xmin::text) FROM $table"), $rows,
		"$table: $rows source transactions");
	my $commits = local_commits($eu, $table);
	cmp_ok($commits, '<', $rows, "$table: applied in fewer local commits ($commits)");
}
is($eu->safe_psql('postgres', q{SELECT count(*) FROM locality.conflicts}), '0',
	'grouping raised no conflict');

# locality.apply_group_size = 1: one local commit per source transaction.
$eu->safe_psql('postgres', 'ALTER SYSTEM SET locality.apply_group_size = 1; SELECT pg_reload_conf()');
bump_backlog('t');
is(local_commits($eu, 't'), $rows, 'apply_group_size = 1: one local commit per source transaction');
is(stamps_of($eu, 't'), stamps_of($us, 't'), 'and the same rows and stamps');
$eu->safe_psql('postgres', 'ALTER SYSTEM RESET locality.apply_group_size; SELECT pg_reload_conf()');

# An apply error: the transactions before the failing one are applied while
# it fails (they are not held back in its group), then it heals.  A trigger
# slows eu-west1's apply of t down, so that the stream is always ahead of it
# and the failing transaction's group holds the ones of its millisecond.
$eu->safe_psql('postgres', q{
	SET locality.remote_apply = on;
	ALTER TABLE t2 RENAME COLUMN v TO w;
	CREATE FUNCTION slow_apply() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_sleep(0.001); RETURN NEW; END $$;
	CREATE TRIGGER slow_apply BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION slow_apply();
	ALTER TABLE t ENABLE ALWAYS TRIGGER slow_apply;
});
$eu->safe_psql('postgres', "SELECT locality.pause_replication('us-east1')");
my $before = $eu->safe_psql('postgres', 'SELECT sum(n) FROM t');
$us->safe_psql('postgres', 'SET synchronous_commit = off; CALL bump_then_fail(200)');
$eu->safe_psql('postgres', "SELECT locality.resume_replication('us-east1')");
ok($eu->poll_query_until('postgres',
	q{SELECT last_error LIKE '%column "v"%does not exist here%' FROM locality.replication_status WHERE source_region = 'us-east1'}),
	'the failing transaction shows in last_error');
ok($eu->poll_query_until('postgres', "SELECT sum(n) = $before + 200 FROM t"),
	'the 200 transactions before it are applied while it fails');
# By the first retry: it commits them one by one up to the failing one.
my $failures = () = slurp_file($eu->logfile) =~
	/ERROR:  column "v" of table "public.t2" replicated from region "us-east1" does not exist here/g;
cmp_ok($failures, '<=', 2, "applied by the first retry ($failures failed attempts so far)");
is($eu->safe_psql('postgres', q{SELECT last_error IS NOT NULL FROM locality.replication_status WHERE source_region = 'us-east1'}),
	't', 'and it still fails');
$eu->safe_psql('postgres',
	'SET locality.remote_apply = on; DROP TRIGGER slow_apply ON t; ALTER TABLE t2 RENAME COLUMN w TO v');
drain();
is($eu->safe_psql('postgres', 'SELECT v FROM t2 WHERE id = 1'), 'needs column v', 'healed: applied, not skipped');
is(stamps_of($eu, 't'), stamps_of($us, 't'), 'nothing lost or applied twice');

done_testing();
