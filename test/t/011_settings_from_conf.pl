# Every pg_locality setting written in postgresql.conf takes effect when the
# server starts, not only after a reload: _PG_init defines all of them before
# it reserves the "locality." prefix (MarkGUCPrefixReserved removes, with a
# WARNING, every placeholder of the prefix not yet defined).
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

# Non-default values, one per setting pg_locality defines.
my %settings = (
	'locality.forward_timeout'            => '7s',
	'locality.read_your_writes'           => 'off',
	'locality.max_staleness'              => '9s',
	'locality.enforce_home_region'        => 'on',
	'locality.max_clock_skew'             => '300ms',
	'locality.breaker_failure_threshold'  => '5',
	'locality.breaker_reset_timeout'      => '20s',
	'locality.maintenance_naptime'        => '11s',
	'locality.synchronous_forward_commit' => 'on',
	'locality.route_writes'               => 'off',
	'locality.stamp_retention'            => '2h',
	'locality.apply_group_size'           => '8',);

my $node = LocalityCluster::new_region('us-east1',
	conf => join('', map { "$_ = '$settings{$_}'\n" } sort keys %settings));
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_locality');

my $defined = $node->safe_psql('postgres',
	q{SELECT string_agg(name, ',' ORDER BY name) FROM pg_settings WHERE name LIKE 'locality.%'
	  AND name NOT IN ('locality.region', 'locality.health_port', 'locality.remote_apply')});
is($defined, join(',', sort keys %settings), 'the test sets every setting pg_locality defines');

for my $name (sort keys %settings)
{
	is($node->safe_psql('postgres', "SHOW $name"), $settings{$name}, "$name from postgresql.conf");
}
unlike(slurp_file($node->logfile), qr/invalid configuration parameter name "locality\./,
	'no locality setting was dropped at start');

done_testing();
