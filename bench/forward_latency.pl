# bench/forward_latency.pl -- bench (c) of issue 6: the latency of forwarded writes, as a
# multiple of the simulated WAN round trip.  Run it with bench/forward_latency.sh.
#
# Two regions on this machine: us-east1 reaches eu-west1 only through the latency proxy
# (test/perl/latency_proxy.pl) with one-way delay D ms, so one round trip costs 2D.  From
# us-east1, pgbench runs, one client, one statement after another:
#   single : autocommit INSERT of a row homed in eu-west1 (forwarded; BEGIN, the INSERT,
#            COMMIT and the commit position go in one round trip)
#   twophase: BEGIN; INSERT of a row homed here; INSERT of a row homed in eu-west1; COMMIT
#            (two participants: PREPARE TRANSACTION at eu-west1, local commit, COMMIT PREPARED
#            sent and not waited for: the default locality.synchronous_forward_commit = off)
#   twophase_sync: the same with locality.synchronous_forward_commit = on (COMMIT also waits
#            for COMMIT PREPARED; no target)
# and reports the median (and p90) latency per transaction from pgbench's per-transaction log,
# divided by 2D.  Targets (issue 6): single <= 1.10, twophase <= 2.10.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my $delay = $ENV{DELAY_MS} // 25;
my $n = $ENV{TRANSACTIONS} // 200;

my $us = LocalityCluster::new_region('us-east1');
my $eu = LocalityCluster::new_region('eu-west1');
$_->start for ($us, $eu);
$_->safe_psql('postgres', 'CREATE EXTENSION pg_locality') for ($us, $eu);
my $proxy = LocalityCluster::start_proxy($eu, delay_ms => $delay);
$us->safe_psql('postgres', "SELECT locality.add_region('us-east1', '" . LocalityCluster::connstr($us) . "')");
$us->safe_psql('postgres',
	"SELECT locality.add_region('eu-west1', '" . LocalityCluster::connstr($eu, port => $proxy->port) . "')");
$us->safe_psql('postgres',
	"CREATE TABLE fwd (id bigserial PRIMARY KEY, v text) WITH (locality = 'REGIONAL BY ROW')");
$eu->poll_query_until('postgres', "SELECT count(*) = 1 FROM locality.tables");

my $dir = PostgreSQL::Test::Utils::tempdir();
my %scripts = (
	single => "INSERT INTO fwd (v, region) VALUES ('x', 'eu-west1');\n",
	twophase => "BEGIN;\nINSERT INTO fwd (v, region) VALUES ('here', 'us-east1');\n"
	  . "INSERT INTO fwd (v, region) VALUES ('there', 'eu-west1');\nCOMMIT;\n",
	twophase_sync => "SET locality.synchronous_forward_commit = on;\nBEGIN;\n"
	  . "INSERT INTO fwd (v, region) VALUES ('here', 'us-east1');\n"
	  . "INSERT INTO fwd (v, region) VALUES ('there', 'eu-west1');\nCOMMIT;\n");
my %target = (single => 1.10, twophase => 2.10);
my @lines;
for my $kind (qw(single twophase twophase_sync))
{
	my @lat = LocalityCluster::pgbench_latencies($us, $dir, $kind, $scripts{$kind}, $n);
	my $median = $lat[ int(@lat / 2) ];
	my $p90 = $lat[ int(@lat * 0.9) ];
	my $ratio = $median / (2 * $delay);
	my $line = sprintf("%-14s d=%d ms  n=%d  median %.2f ms  p90 %.2f ms  median/2d = %.3f (%s)",
		$kind, $delay, scalar(@lat), $median, $p90, $ratio,
		defined $target{$kind} ? sprintf('target <= %.2f', $target{$kind}) : 'no target');
	diag($line);
	push @lines, $line;
}
$eu->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_prepared_xacts");
is($eu->safe_psql('postgres', "SELECT count(*) FROM fwd WHERE region = 'eu-west1'"), 3 * ($n + 5),
	'every forwarded row is at its home');
if ($ENV{RESULTS_FILE})
{
	open(my $out, '>>', $ENV{RESULTS_FILE}) or die;
	print $out "$_\n" for @lines;
	close $out;
}
$proxy->stop;
done_testing();
