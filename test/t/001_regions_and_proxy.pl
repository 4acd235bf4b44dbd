# Three regions report three different gateway regions; a missing or invalid
# locality.region starts the server but fails on use with 55000; the latency
# proxy adds the configured delay and almost nothing of its own.
use strict;
use warnings;
use IPC::Run;
use List::Util qw(sum);
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @regions = LocalityCluster::start_regions(qw(us-east1 eu-west1 ap-east1));

# gateway_region() answers from the catalog: add each server's own region.
for my $node (@regions)
{
	my $conninfo = LocalityCluster::connstr($node);
	$node->safe_psql('postgres',
		"INSERT INTO locality.region_catalog (id, name, conninfo, is_primary) "
		  . "VALUES (1, current_setting('locality.region'), '$conninfo', true)");
}

my @names = map { $_->safe_psql('postgres', 'SELECT locality.gateway_region()') } @regions;
is_deeply(\@names, [qw(us-east1 eu-west1 ap-east1)], 'each region reports its own gateway region');

# A bad locality.region: the server starts, use of the region fails with 55000.
for my $case ([ 'unset', undef, qr/locality\.region is not set/ ],
	[ 'invalid', 'Bad_Region', qr/locality\.region is set to an invalid region name "Bad_Region"/ ])
{
	my ($label, $value, $pattern) = @$case;
	my $node = LocalityCluster::new_region("bad-$label", region => $value);
	$node->start;
	is($node->safe_psql('postgres', 'SELECT 1'), '1', "server with $label locality.region starts");
	$node->safe_psql('postgres', 'CREATE EXTENSION pg_locality');
	my ($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT locality.gateway_region()");
	isnt($ret, 0, "$label locality.region: gateway_region() fails");
	like($err, qr/ERROR:  55000: /, "$label locality.region: SQLSTATE 55000");
	like($err, $pattern, "$label locality.region: the error names the setting");
	$node->stop;
}

# CREATE EXTENSION names a missing prerequisite setting.
{
	my $node = LocalityCluster::new_region('no-2pc', conf => "max_prepared_transactions = 0\n");
	$node->start;
	my ($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nCREATE EXTENSION pg_locality");
	like($err, qr/ERROR:  55000: pg_locality requires max_prepared_transactions/,
		'CREATE EXTENSION names max_prepared_transactions when it is 0');
	$node->stop;
}

# median_query_ms($port, $n): median client-side time of SELECT 1 over one
# connection to 127.0.0.1:$port, as psql's \timing measures it.
sub median_query_ms
{
	my ($port, $n) = @_;
	my $script = "\\timing on\n" . ("SELECT 1;\n" x $n);
	my ($out, $err);
	IPC::Run::run([ 'psql', '-X', '-q', '-h', '127.0.0.1', '-p', $port, '-d', 'postgres' ],
		'<', \$script, '>', \$out, '2>', \$err) or die "psql failed: $err";
	my @ms = sort { $a <=> $b } ($out =~ /^Time: ([0-9.]+) ms/mg);
	die "no timings in: $out" unless @ms == $n;
	return $ms[ int($n / 2) ];
}

my $target = $regions[1];
my $direct = median_query_ms($target->port, 21);

my $fast = LocalityCluster::start_proxy($target, delay_ms => 0);
my $through_fast = median_query_ms($fast->port, 21);
$fast->stop;
cmp_ok($through_fast - $direct, '<', 2.0,
	"proxy at zero delay adds < 2 ms (direct $direct ms, proxied $through_fast ms)");

my $slow = LocalityCluster::start_proxy($target, delay_ms => 50);
my $through_slow = median_query_ms($slow->port, 7);
$slow->stop;
cmp_ok($through_slow, '>=', 99, "a round trip through a 50 ms proxy takes at least 100 ms ($through_slow ms)");
cmp_ok($through_slow, '<', 150, "a round trip through a 50 ms proxy takes about 100 ms ($through_slow ms)");

done_testing();
