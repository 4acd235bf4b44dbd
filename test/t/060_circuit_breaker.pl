# Regional isolation across three real servers: calls to a region that went
# down fail with 08006 and libpq's reason until locality.breaker_failure_threshold
# consecutive failures open its circuit breaker; then calls fail at once,
# saying since when and why, without trying to connect (the region's own
# connection log proves it); after locality.breaker_reset_timeout one trial
# call closes it again.  A remote SQL error is not a failure, local work never
# waits on a breaker, and locality.enforce_home_region = on turns any
# cross-region call of a client into 55000 naming the region, while the
# background workers that keep regions in step go on.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1 ap-east1));
my ($us, $eu, $ap) = @nodes;
LocalityCluster::join_regions(@nodes);
*error_of = \&LocalityCluster::error_of;

# failure($node, $sql): LocalityCluster::failure_of, with HINT lines.
sub failure { LocalityCluster::failure_of(@_, with_hint => 1) }

# status_of($region): "reachable|breaker" on us-east1.
sub status_of
{
	my ($region) = @_;
	return $us->safe_psql('postgres',
		"SELECT reachable, breaker FROM locality.region_status WHERE region = '$region'");
}

# set_us_conf($setting, $value): ALTER SYSTEM on us-east1 and wait until a
# new session sees it (reloads are asynchronous).
sub set_us_conf
{
	my ($setting, $value) = @_;
	$us->safe_psql('postgres', "ALTER SYSTEM SET $setting = '$value'; SELECT pg_reload_conf()");
	ok($us->poll_query_until('postgres', "SELECT current_setting('$setting') = '$value'"),
		"$setting = $value took effect");
}

my $move_to_eu = "SELECT locality.set_primary_region('eu-west1')";
my $move_to_us = "SELECT locality.set_primary_region('us-east1')";
my $primary_sql = 'SELECT region FROM locality.regions WHERE is_primary';

# Keep an opened breaker open until the test says otherwise, and keep
# us-east1's background maintenance (which calls every region) out of the
# connection counts below.
set_us_conf('locality.breaker_reset_timeout', '1h');
set_us_conf('locality.maintenance_naptime', '1h');
is($us->safe_psql('postgres', 'SHOW locality.breaker_failure_threshold'), '3',
	'locality.breaker_failure_threshold defaults to 3');
is($us->safe_psql('postgres', 'SHOW locality.enforce_home_region'), 'off',
	'locality.enforce_home_region defaults to off');

# --- Every region reachable; round trips are measured ---------------------
$us->safe_psql('postgres', $move_to_eu);
$us->safe_psql('postgres', $move_to_us);
is($us->safe_psql('postgres',
		q{SELECT string_agg(region || '|' || reachable || '|' || coalesce(breaker, '-') || '|' ||
		                    (rtt_ms > 0)::text || '|' || (last_error IS NULL)::text, ',' ORDER BY region::text)
		    FROM locality.region_status WHERE breaker IS NOT NULL}),
	'ap-east1|true|closed|true|true,eu-west1|true|closed|true|true',
	'region_status: every other region reachable, breaker closed, a round trip, no error');
is($us->safe_psql('postgres',
		q{SELECT reachable || '|' || (breaker IS NULL) || '|' || (rtt_ms IS NULL)
		    FROM locality.region_status WHERE region = 'us-east1'}),
	'true|true|true', 'this server\'s own region is reachable and has no breaker');

# --- A remote SQL error is an answer, not a failure -----------------------
$us->safe_psql('postgres',
	q{CREATE TABLE items (id int PRIMARY KEY, name text) WITH (locality = 'GLOBAL')});
# us-east1's copy of items from the other regions must be done before
# ap-east1 goes down: an unfinished copy reconnects when it comes back, which
# the count of connections below would mistake for a forwarded call.
ok($us->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM locality.sync_progress WHERE phase = 'done' AND table_name = 'items'::regclass"),
	'us-east1 has copied items from both other regions');
$ap->safe_psql('postgres', 'CREATE TABLE clash (id int)');    # local to ap-east1
for my $try (1 .. 4)
{
	like(error_of($us, 'CREATE INDEX clash ON items (name)'),
		qr/^42P07: relation "clash" already exists/,
		"remote SQL error $try comes back with its SQLSTATE");
}
is(status_of('ap-east1'), 't|closed', 'remote SQL errors do not open the breaker');
is($us->safe_psql('postgres', q{SELECT last_error IS NULL FROM locality.region_status
                                 WHERE region = 'ap-east1'}),
	't', 'and are not availability errors');

# --- ap-east1 goes down ----------------------------------------------------
$ap->stop('fast');

for my $try (1 .. 2)
{
	like(failure($us, $move_to_eu),
		qr/^08006: region "ap-east1" is unavailable\nconnection to server at .*Connection refused/s,
		"call $try to the dead region fails with 08006 and libpq's reason");
	is(status_of('ap-east1'), 't|closed', "after $try failures the breaker is still closed");
}
like($us->safe_psql('postgres', q{SELECT last_error || '|' || (last_error_at > now() - interval '1 hour')
                                    FROM locality.region_status WHERE region = 'ap-east1'}),
	qr/Connection refused.*\|true$/s, 'region_status shows the last error and when');

like(failure($us, $move_to_eu),
	qr/^08006: region "ap-east1" is unavailable\nconnection to server at .*Connection refused/s,
	'the third call still tries, and fails');
is(status_of('ap-east1'), 'f|open', 'three consecutive failures open the breaker');
is(status_of('eu-west1'), 't|closed', 'the region that answered stays closed');

my $open_error = failure($us, $move_to_eu);
like($open_error,
	qr/^08006: region "ap-east1" is unavailable\nIts circuit breaker has been open since \d{4}-\d\d-\d\d [\d:.]+\S*, after 3 failed calls; last error: connection to server at .*Connection refused/s,
	'the next call fails at once: 08006, since when and why');
like($open_error, qr/\nOne trial call goes through at \d{4}-/, 'and says when calls are tried again');

# Local work never waits on a breaker.
is($us->safe_psql('postgres', q{
	CREATE TABLE scratch (id int PRIMARY KEY);
	INSERT INTO scratch VALUES (1), (2);
	SELECT (SELECT count(*) FROM scratch) || '|' || (SELECT count(*) FROM items)}),
	'2|0', 'local reads and writes go on while the breaker is open');

# The region comes back, but the breaker is still open: calls keep failing
# at once, and not one of them reaches the region.
$ap->append_conf('postgresql.conf', "log_connections = on\n");
$ap->start;
my $log_offset = -s $ap->logfile;
is($ap->safe_psql('postgres', 'SELECT 1'), '1', 'ap-east1 is back');
for my $try (1 .. 2)
{
	like(failure($us, $move_to_eu),
		qr/^08006: region "ap-east1" is unavailable\nIts circuit breaker has been open since/,
		"call $try while open fails though the region is up");
}
my $client_connections = sub {
	my $log = slurp_file($ap->logfile, $log_offset);
	my @hits = $log =~ /(?<!replication )connection authorized: [^\n]*application_name=pg_locality us-east1/g;
	return scalar @hits;
};
is($client_connections->(), 0, 'no call while open tried to connect to the region');
is($us->safe_psql('postgres', $primary_sql), 'us-east1', 'and none took effect');

# --- After the reset timeout, one trial closes it --------------------------
set_us_conf('locality.breaker_reset_timeout', '1s');
ok($us->poll_query_until('postgres',
		"SELECT breaker = 'half-open' FROM locality.region_status WHERE region = 'ap-east1'"),
	'after locality.breaker_reset_timeout the breaker is half-open');
is(status_of('ap-east1'), 'f|half-open', 'half-open is not reachable yet');
$us->safe_psql('postgres', $move_to_eu);
is(status_of('ap-east1'), 't|closed', 'the trial call succeeded and closed the breaker');
ok($client_connections->() >= 1, 'the trial did connect to the region');
is(join(',', map { $_->safe_psql('postgres', $primary_sql) } @nodes),
	'eu-west1,eu-west1,eu-west1', 'the call that closed it took effect everywhere');
$us->safe_psql('postgres', $move_to_us);
ok($us->safe_psql('postgres',
		"SELECT rtt_ms > 0 FROM locality.region_status WHERE region = 'ap-east1'"),
	'round trips are measured again');

# --- A failed trial opens it again with a new since -----------------------
# since($error): the "open since" timestamp of a breaker error.
sub since
{
	my ($error) = @_;
	my ($ts) = $error =~ /open since (\S+ \S+), after/;
	return $ts // '';
}
set_us_conf('locality.breaker_reset_timeout', '1h');
set_us_conf('locality.breaker_failure_threshold', '1');
$ap->stop('fast');
like(failure($us, $move_to_eu), qr/Connection refused/, 'with threshold 1, one failure ...');
is(status_of('ap-east1'), 'f|open', '... opens the breaker');
my $first_since = since(failure($us, $move_to_eu));
isnt($first_since, '', 'a rejected call says since when');
set_us_conf('locality.breaker_reset_timeout', '1s');
ok($us->poll_query_until('postgres',
		"SELECT breaker = 'half-open' FROM locality.region_status WHERE region = 'ap-east1'"),
	'half-open after the reset timeout');
like(failure($us, $move_to_eu), qr/^08006: .*\nconnection to server at .*Connection refused/s,
	'the trial tries the region, which is still down');
# No call is made between the failed trial and the rejected call below, so
# the breaker cannot have gone half-open in between.
set_us_conf('locality.breaker_reset_timeout', '1h');
my $second_since = since(failure($us, $move_to_eu));
is($us->safe_psql('postgres', "SELECT '$second_since'::timestamptz > '$first_since'::timestamptz"),
	't', 'the failed trial opened it again with a new since');
$ap->start;
set_us_conf('locality.breaker_reset_timeout', '1s');
ok($us->poll_query_until('postgres',
		"SELECT breaker = 'half-open' FROM locality.region_status WHERE region = 'ap-east1'"),
	'half-open again after the reset timeout');
$us->safe_psql('postgres', $move_to_eu);
$us->safe_psql('postgres', $move_to_us);
is(status_of('ap-east1'), 't|closed', 'and a successful trial closes it');
set_us_conf('locality.breaker_failure_threshold', '3');

# --- locality.enforce_home_region ------------------------------------------
is(error_of($us, "SET locality.enforce_home_region = on; $move_to_eu"),
	'55000: statement needs region "eu-west1", but locality.enforce_home_region is on',
	'enforce_home_region: a cross-region call is 55000 naming the region');
like(failure($us, "SET locality.enforce_home_region = on; CREATE INDEX items_name ON items (name)"),
	qr/^55000: statement needs region "eu-west1".*\nThis server is in region "us-east1".*\nRun the statement on a server of region "eu-west1"/s,
	'schema changes of managed tables too, with detail and hint');
is($us->safe_psql('postgres', q{
	SET locality.enforce_home_region = on;
	INSERT INTO scratch VALUES (3);
	SELECT (SELECT count(*) FROM scratch) || '|' || (SELECT count(*) FROM items)}),
	'3|0', 'local reads and writes are allowed under enforce_home_region');
is($us->safe_psql('postgres', $primary_sql), 'us-east1', 'nothing changed anywhere');
is(status_of('eu-west1'), 't|closed', 'refusals are not breaker failures');

# Server-wide on ap-east1: its background workers still sync and apply.
$ap->safe_psql('postgres',
	"ALTER SYSTEM SET locality.enforce_home_region = on; SELECT pg_reload_conf()");
ok($ap->poll_query_until('postgres', "SELECT current_setting('locality.enforce_home_region') = 'on'"),
	'enforce_home_region on for every session of ap-east1');
$us->safe_psql('postgres', q{
	CREATE TABLE notes (id int PRIMARY KEY, body text);
	INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 50) i;
	SELECT locality.set_locality('notes', 'GLOBAL');
	INSERT INTO items VALUES (1, 'from us');
});
ok($ap->poll_query_until('postgres',
		"SELECT (SELECT count(*) FROM notes) = 50 AND (SELECT count(*) FROM items) = 1"),
	'initial sync and apply on ap-east1 are not refused');
like(error_of($ap, $move_to_eu), qr/^55000: statement needs region "us-east1"/,
	'while its clients are');

done_testing();
