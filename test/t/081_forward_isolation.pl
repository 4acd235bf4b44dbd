# Forwarded writes and regional isolation, privileges and crash recovery:
# a region that is down fails forwarded writes with 08006 and opens its
# breaker, after which they fail at once; locality.enforce_home_region turns
# a forwarded write into 55000; the remote statement runs as the calling
# role (42501 when the role may not write the table at the home; 28000,
# not a breaker failure, when the home refuses the role's login); and a
# coordinator that crashes after its local commit, before COMMIT PREPARED
# reached the home, has the home's prepared transaction committed by the
# resolver after restart.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1 ap-east1));
my ($us, $eu, $ap) = @nodes;
LocalityCluster::join_regions(@nodes);
*error_of = \&LocalityCluster::error_of;

*failure = \&LocalityCluster::failure_of;

$us->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v text) WITH (locality = 'REGIONAL BY ROW');
});
$_->poll_query_until('postgres', "SELECT count(*) = 1 FROM locality.tables") for @nodes;

# The calling role at the home: alice may insert here but not at eu-west1.
for my $n (@nodes)
{
	$n->safe_psql('postgres', q{
		CREATE ROLE alice LOGIN;
		SET locality.remote_apply = 'on';
		GRANT SELECT, INSERT ON t TO alice;
	});
}
$eu->safe_psql('postgres', "SET locality.remote_apply = 'on'; REVOKE INSERT ON t FROM alice");
is(error_of($us, "SET ROLE alice; INSERT INTO t VALUES (1, 'a', 'ap-east1')"), '',
	'alice can write a row homed at ap-east1 through us-east1');
like(error_of($us, "SET ROLE alice; INSERT INTO t VALUES (2, 'b', 'eu-west1')"),
	qr/^42501: permission denied for table t/,
	'where alice has no privilege at the home, the forwarded write fails with 42501');
is($eu->safe_psql('postgres', "SELECT count(*) FROM t"), '0', 'and nothing was written there');

# enforce_home_region: a forwarded write is a cross-region call.
like(error_of($us, "SET locality.enforce_home_region = on; INSERT INTO t VALUES (3, 'c', 'eu-west1')"),
	qr/^55000: statement needs region "eu-west1", but locality.enforce_home_region is on/,
	'enforce_home_region turns a forwarded write into 55000 naming the region');
is(error_of($us, "SET locality.enforce_home_region = on; INSERT INTO t VALUES (4, 'd', 'us-east1')"), '',
	'a local write is fine under enforce_home_region');

# Crash of the coordinator after its local commit, before COMMIT PREPARED:
# the commit waits for a synchronous standby that does not exist, so it is
# durable here while the home still holds the prepared transaction.
$us->safe_psql('postgres', "ALTER SYSTEM SET synchronous_standby_names = 'nobody'; SELECT pg_reload_conf()");
$us->poll_query_until('postgres', "SELECT current_setting('synchronous_standby_names') = 'nobody'");
my $bg = $us->background_psql('postgres', on_error_stop => 0);
$bg->query_until(qr/started/, q{
	\echo started
	BEGIN;
	INSERT INTO t VALUES (10, 'local part', 'us-east1');
	INSERT INTO t VALUES (11, 'remote part', 'eu-west1');
	COMMIT;
});
ok($us->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event = 'SyncRep'"),
	'the coordinator has committed locally and waits');
is($eu->safe_psql('postgres', "SELECT count(*) FROM pg_prepared_xacts"), '1',
	'the home holds the prepared transaction');
LocalityCluster::kill9_and_restart($us);
eval { $bg->quit; };
$us->safe_psql('postgres', "ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf()");
ok($eu->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_prepared_xacts"),
	'after the restart the resolver finishes the prepared transaction');
is($eu->safe_psql('postgres', "SELECT v FROM t WHERE id = 11"), 'remote part',
	'it committed it, as the coordinator had decided');
is($us->safe_psql('postgres', "SELECT v FROM t WHERE id = 10"), 'local part',
	'and the local part is there');

# A role the home refuses to log in: the server answered, so the region is
# reachable.  Each forwarded write fails with the server's 28000, and the
# breaker, which counts region failures only, stays closed for every role.
for my $n (@nodes)
{
	$n->safe_psql('postgres', q{
		CREATE ROLE nologin_at_eu LOGIN;
		SET locality.remote_apply = 'on';
		GRANT SELECT, INSERT ON t TO nologin_at_eu;
	});
}
$eu->safe_psql('postgres', "ALTER ROLE nologin_at_eu NOLOGIN");
for my $try (1 .. 5)
{
	like(failure($us, "SET ROLE nologin_at_eu; INSERT INTO t VALUES (40 + $try, 'x', 'eu-west1')"),
		qr/^28000: role "nologin_at_eu" is not permitted to log in$/,
		"forwarded write $try of a role the home refuses: 28000 with the server's message");
}
is($us->safe_psql('postgres',
		"SELECT reachable, breaker, last_error IS NULL FROM locality.region_status WHERE region = 'eu-west1'"),
	't|closed|t', 'the refusals did not count against eu-west1: reachable, breaker closed');
is(error_of($us, "INSERT INTO t VALUES (46, 'y', 'eu-west1')"), '',
	"another role's forwarded write to eu-west1 still works");
is($eu->safe_psql('postgres', "SELECT string_agg(id::text, ',' ORDER BY id) FROM t WHERE id BETWEEN 41 AND 46"),
	'46', 'only that write reached eu-west1');

# A region that is down: 08006, then the open breaker fails at once.
$us->safe_psql('postgres', "ALTER SYSTEM SET locality.breaker_reset_timeout = '1h'; SELECT pg_reload_conf()");
$us->poll_query_until('postgres', "SELECT current_setting('locality.breaker_reset_timeout') = '1h'");
$ap->stop('fast');
for my $try (1 .. 3)
{
	like(failure($us, "INSERT INTO t VALUES (20 + $try, 'x', 'ap-east1')"),
		qr/^08006: region "ap-east1" is unavailable\n.*(Connection refused|connection to server)/,
		"forwarded write $try to a region that is down: 08006 with libpq's reason");
}
like(failure($us, "INSERT INTO t VALUES (30, 'x', 'ap-east1')"),
	qr/^08006: region "ap-east1" is unavailable\nIts circuit breaker has been open since/,
	'once the breaker is open, a forwarded write fails at once saying so');
is(error_of($us, "INSERT INTO t VALUES (31, 'here', 'us-east1')"), '',
	'local writes go on while the breaker is open');
is(error_of($us, "INSERT INTO t VALUES (32, 'there', 'eu-west1')"), '',
	'and so do writes forwarded to other regions');

done_testing();
