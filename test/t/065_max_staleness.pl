# locality.max_staleness: a local read of rows another region writes fails
# with 55000, naming the region and its lag, while this server's replica of
# that region is older than the setting; tables with no rows from there, and
# unmanaged tables, are not affected.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1));
my ($us, $eu) = @nodes;
LocalityCluster::join_regions(@nodes);
$us->safe_psql('postgres', q{
	CREATE TABLE g (id int PRIMARY KEY) WITH (locality = 'GLOBAL');
	CREATE TABLE mine (id int PRIMARY KEY) WITH (locality = 'REGIONAL BY TABLE IN "us-east1"');
	CREATE TABLE plain (id int PRIMARY KEY);
});
is($us->safe_psql('postgres', "SELECT locality.wait_for_replication(NULL, '60s')"), 't', 'set up');

# Every new session of database postgres on us-east1 reads under the guard.
$us->safe_psql('postgres', "ALTER DATABASE postgres SET locality.max_staleness = '500ms'");
my $guarded = 'SELECT count(*) FROM g';
ok($us->poll_query_until('postgres', $guarded, '0'), 'a fresh replica can be read under max_staleness');

$us->safe_psql('postgres', "SELECT locality.pause_replication('eu-west1')");
$eu->safe_psql('postgres', 'INSERT INTO g VALUES (1)');
# Wait until the replica is older than the setting and the read fails.
my $error = '';
my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
until (($error = LocalityCluster::error_of($us, $guarded)) ne '' || time > $deadline)
{
	usleep(100_000);
}
like($error, qr/^55000: the replica of region "eu-west1" is \d+ ms behind/,
	'a stale replica of eu-west1 fails the read with 55000, naming the region and its lag');
is($us->safe_psql('postgres', 'SELECT count(*) FROM mine'), '0',
	'a table with no rows from eu-west1 is still readable');
is($us->safe_psql('postgres', 'SELECT count(*) FROM plain'), '0',
	'an unmanaged table is still readable');
is($us->safe_psql('postgres', 'SET locality.max_staleness = 0; SELECT count(*) FROM g'), '0',
	'without the setting the read is local and stale');

$us->safe_psql('postgres', "SELECT locality.resume_replication('eu-west1')");
ok($us->poll_query_until('postgres', $guarded, '1'), 'after catching up the read works and sees the row');

done_testing();
