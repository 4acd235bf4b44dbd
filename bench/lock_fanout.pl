# bench/lock_fanout.pl -- statements that reach every region: a fanned-out locking read and
# a fanned-out UPDATE, whose two-phase commit has two remote participants.  Run it with
# bench/lock_fanout.sh.
#
# Three regions on this machine: us-east1 reaches eu-west1 and ap-east1 only through latency
# proxies (test/perl/latency_proxy.pl) with one-way delay D ms each, so one round trip costs
# 2D.  From us-east1, pgbench runs, one client, one transaction after another:
#   lock_fanout : BEGIN; SELECT ... FOR UPDATE without a region qual (every region locks the
#                 rows it homes, sent to both remotes at once); COMMIT (PREPARE TRANSACTION at
#                 both remotes, COMMIT PREPARED not waited for)
#   update_fanout: autocommit UPDATE without a region qual (every region updates its rows);
#                 commit as above
#   update_sync : the same with locality.synchronous_forward_commit = on (COMMIT also waits
#                 for COMMIT PREPARED at both remotes)
# and reports the median (and p90) latency per transaction, divided by 2D.  With the
# participants prepared one after the other the prepare phase costs 2 x 2D, with PREPARE sent
# to both before reading either answer 2D (and the same for a synchronous COMMIT PREPARED).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my $delay = $ENV{DELAY_MS} // 25;
my $n = $ENV{TRANSACTIONS} // 50;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1 ap-east1));
my ($us, $eu, $ap) = @nodes;
my $eu_proxy = LocalityCluster::start_proxy($eu, delay_ms => $delay);
my $ap_proxy = LocalityCluster::start_proxy($ap, delay_ms => $delay);
$us->safe_psql('postgres', "SELECT locality.add_region('" . $_->[0]->name . "', '"
	  . LocalityCluster::connstr($_->[0], %{ $_->[1] }) . "')")
  for ([ $us, {} ], [ $eu, { port => $eu_proxy->port } ], [ $ap, { port => $ap_proxy->port } ]);
$us->safe_psql('postgres',
	"CREATE TABLE acct (id int PRIMARY KEY, n int NOT NULL) WITH (locality = 'REGIONAL BY ROW')");
$_->poll_query_until('postgres', "SELECT count(*) = 1 FROM locality.tables") for @nodes;
$us->safe_psql('postgres', "INSERT INTO acct VALUES (1, 0), (2, 0)");
$eu->safe_psql('postgres', "INSERT INTO acct VALUES (3, 0), (4, 0)");
$ap->safe_psql('postgres', "INSERT INTO acct VALUES (5, 0), (6, 0)");
$_->safe_psql('postgres', 'SELECT locality.wait_for_replication()') for @nodes;

my $dir = PostgreSQL::Test::Utils::tempdir();
my %scripts = (
	lock_fanout => "BEGIN;\nSELECT id FROM acct WHERE n >= 0 FOR UPDATE;\nCOMMIT;\n",
	update_fanout => "UPDATE acct SET n = n + 1 WHERE n >= 0;\n",
	update_sync => "SET locality.synchronous_forward_commit = on;\n"
	  . "UPDATE acct SET n = n + 1 WHERE n >= 0;\n");
my @lines;
for my $kind (qw(lock_fanout update_fanout update_sync))
{
	my @lat = LocalityCluster::pgbench_latencies($us, $dir, $kind, $scripts{$kind}, $n);
	my $median = $lat[ int(@lat / 2) ];
	my $p90 = $lat[ int(@lat * 0.9) ];
	my $line = sprintf("%-14s d=%d ms  n=%d  median %.2f ms  p90 %.2f ms  median/2d = %.3f",
		$kind, $delay, scalar(@lat), $median, $p90, $median / (2 * $delay));
	diag($line);
	push @lines, $line;
}
$_->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_prepared_xacts") for ($eu, $ap);
if ($ENV{RESULTS_FILE})
{
	open(my $out, '>>', $ENV{RESULTS_FILE}) or die;
	print $out "$_\n" for @lines;
	close $out;
}
$_->stop for ($eu_proxy, $ap_proxy);
done_testing();
