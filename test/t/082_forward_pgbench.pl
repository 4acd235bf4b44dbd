# pgbench's TPC-B script, unchanged, in all three regions at once against a
# REGIONAL BY ROW pgbench_accounts whose rows are homed in all three: every
# account update of a row homed elsewhere is forwarded to its home (found by
# primary key in the local replica) inside the two-phase transaction that
# also writes the local tellers, branches and history.  Afterwards every
# region holds the same accounts, and their balances add up to every
# region's history.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1 ap-east1));
my ($us, $eu, $ap) = @nodes;
LocalityCluster::join_regions(@nodes);

sub wait_all
{
	$_->safe_psql('postgres', 'SELECT locality.wait_for_replication()') for @nodes;
}

for my $n (@nodes)
{
	$n->command_ok([ 'pgbench', '-i', '-s', '1', '-q', $n->connstr('postgres') ],
		'pgbench -i on ' . $n->name);
}
$_->safe_psql('postgres', 'TRUNCATE pgbench_accounts') for ($eu, $ap);
$us->safe_psql('postgres', "ALTER TABLE pgbench_accounts SET (locality = 'REGIONAL BY ROW')");
for my $n ($eu, $ap)
{
	ok($n->poll_query_until('postgres', 'SELECT count(*) = 100000 FROM pgbench_accounts'),
		$n->name . ' has every account');
}
# Home a third of the accounts in each region (rehomed at their old home).
$us->safe_psql('postgres', "UPDATE pgbench_accounts SET region = 'eu-west1' WHERE aid % 3 = 1");
$us->safe_psql('postgres', "UPDATE pgbench_accounts SET region = 'ap-east1' WHERE aid % 3 = 2");
wait_all();
is($ap->safe_psql('postgres', 'SELECT region, count(*) FROM pgbench_accounts GROUP BY 1 ORDER BY 1'),
	"us-east1|33333\neu-west1|33334\nap-east1|33333", 'accounts are homed in all three regions');

my @runs;
for my $n (@nodes)
{
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'pgbench', '-n', '-c', '2', '-t', '40', $n->connstr('postgres') ],
		'>', \$out, '2>', \$err);
	push @runs, [ $n, $h, \$out, \$err ];
}
for my $run (@runs)
{
	my ($n, $h, $out, $err) = @$run;
	$h->finish;
	is($h->result(0), 0, 'pgbench finished without error on ' . $n->name)
	  or diag($$err);
	like($$out, qr/number of transactions actually processed: 80\/80/,
		'every transaction was processed on ' . $n->name);
}
wait_all();

my $rows = 'SELECT count(*) || \'|\' || sum(abalance) || \'|\' || '
  . "md5(string_agg(aid || ':' || abalance || ':' || region, ',' ORDER BY aid)) FROM pgbench_accounts";
my $want = $us->safe_psql('postgres', $rows);
is($eu->safe_psql('postgres', $rows), $want, 'eu-west1 holds the same accounts as us-east1');
is($ap->safe_psql('postgres', $rows), $want, 'ap-east1 holds the same accounts as us-east1');
my $deltas = 0;
$deltas += $_->safe_psql('postgres', 'SELECT coalesce(sum(delta), 0) FROM pgbench_history') for @nodes;
is($us->safe_psql('postgres', 'SELECT sum(abalance) FROM pgbench_accounts'), $deltas,
	'the balances add up to every region\'s history: no update lost or applied twice');
my $forwarded = 0;
for my $n (@nodes)
{
	$forwarded += $n->safe_psql('postgres',
		"SELECT count(*) FROM pgbench_history h JOIN pgbench_accounts a USING (aid) "
		  . "WHERE a.region <> locality.gateway_region()");
}
cmp_ok($forwarded, '>', 0, 'some of the updates were forwarded');

done_testing();
