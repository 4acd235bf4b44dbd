# Region management across three real servers: add_region installs the
# extension and copies the catalog, every change reaches every region in one
# distributed transaction or none, errors carry SPEC.md's SQLSTATEs, and
# prepared transactions left in doubt are resolved by recovery.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes;
for my $name (qw(us-east1 eu-west1 ap-east1))
{
	my $node = LocalityCluster::new_region($name);
	$node->start;
	push @nodes, $node;
}
my ($us, $eu, $ap) = @nodes;
# Only us-east1 has the extension to begin with: add_region installs it elsewhere.
$us->safe_psql('postgres', 'CREATE EXTENSION pg_locality');
my %conn = map { $_->name => LocalityCluster::connstr($_) } @nodes;

*error_of = \&LocalityCluster::error_of;

sub regions_on
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT string_agg(region || CASE WHEN is_primary THEN '*' ELSE '' END, ',' ORDER BY id) FROM locality.regions");
}

like(error_of($us, "SELECT locality.add_region('eu-west1', '$conn{'eu-west1'}')"),
	qr/^55000: the first region added on this server must be its own region "us-east1"/,
	'the first region added must be the server\'s own');
like(error_of($us, "SELECT locality.add_region('us-east1', '$conn{'eu-west1'}')"),
	qr/^22023: the server at conninfo of region "us-east1" is in region "eu-west1"/,
	'add_region checks the region the server reports');
like(error_of($us, "SELECT locality.add_region('US_East', '$conn{'us-east1'}')"),
	qr/^22023: invalid region name "US_East"/, 'invalid region name is 22023');
like(error_of($us, "BEGIN; SELECT locality.add_region('us-east1', '$conn{'us-east1'}')"),
	qr/^25001: /, 'add_region refuses a transaction block');

$us->safe_psql('postgres', "SELECT locality.add_region('us-east1', '$conn{'us-east1'}')");
is(regions_on($us), 'us-east1*', 'own region added as the primary region');
is($us->safe_psql('postgres', 'SELECT locality.gateway_region()'), 'us-east1',
	'gateway_region() resolves through the catalog');

$us->safe_psql('postgres', "SELECT locality.add_region('eu-west1', '$conn{'eu-west1'}')");
is($eu->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'pg_locality'"),
	'0.1', 'add_region installed the extension on the new region');
is(regions_on($eu), 'us-east1*,eu-west1', 'the new region received the catalog');

# Any region can add the next one.
$eu->safe_psql('postgres', "SELECT locality.add_region('ap-east1', '$conn{'ap-east1'}')");
is(regions_on($_), 'us-east1*,eu-west1,ap-east1', 'all three regions everywhere on ' . $_->name)
  for @nodes;
like(error_of($ap, "SELECT locality.add_region('eu-west1', '$conn{'eu-west1'}')"),
	qr/^42710: region "eu-west1" already exists/, 'a region added twice is 42710');
like(error_of($ap, "SELECT locality.drop_region('nowhere')"),
	qr/^42704: region "nowhere" does not exist/, 'unknown region is 42704');

# set_primary_region runs everywhere, and inside a transaction it obeys ROLLBACK.
$ap->safe_psql('postgres', "BEGIN; SELECT locality.set_primary_region('ap-east1'); ROLLBACK;");
is(regions_on($_), 'us-east1*,eu-west1,ap-east1', 'rolled-back primary change left ' . $_->name . ' alone')
  for @nodes;
$ap->safe_psql('postgres', "SELECT locality.set_primary_region('eu-west1')");
is(regions_on($_), 'us-east1,eu-west1*,ap-east1', 'primary moved on ' . $_->name) for @nodes;
like(error_of($us, "SELECT locality.drop_region('eu-west1')"),
	qr/^2BP01: cannot drop the primary region "eu-west1"/, 'dropping the primary region is 2BP01');

# All or nothing: with ap-east1 down, a change fails and changes nobody.
$ap->stop;
like(error_of($us, "SELECT locality.set_primary_region('us-east1')"),
	qr/^08006: region "ap-east1" is unavailable/, 'an unreachable region fails the change with 08006');
is(regions_on($_), 'us-east1,eu-west1*,ap-east1', 'nothing changed on ' . $_->name) for ($us, $eu);
is($eu->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'), '0',
	'no prepared transaction left behind on eu-west1');
$ap->start;
$us->safe_psql('postgres', "SELECT locality.set_primary_region('us-east1')");
is(regions_on($_), 'us-east1*,eu-west1,ap-east1', 'after ap-east1 is back the change lands on ' . $_->name)
  for @nodes;

# Privileges: only superusers and locality_admin change regions; conninfo is hidden.
# Roles are per server: create them everywhere (calls to other regions run as the caller).
$_->safe_psql('postgres', q{
	CREATE ROLE app LOGIN;
	CREATE ROLE ops LOGIN IN ROLE locality_admin;
}) for @nodes;
like(error_of($us, "SET ROLE app; SELECT locality.set_primary_region('eu-west1')"),
	qr/^42501: permission denied/, 'a plain role cannot change regions');
like(error_of($us, "SET ROLE app; SELECT conninfo FROM locality.region_catalog"),
	qr/^42501: permission denied/, 'a plain role cannot read conninfo');
is($us->safe_psql('postgres', "SET ROLE app; SELECT count(*) FROM locality.regions"), '3',
	'a plain role can read locality.regions');
like(error_of($us, "SET ROLE ops; SELECT locality.drop_region('ap-east1')"),
	qr/^$/, 'a locality_admin member can drop a region');
is(regions_on($_), 'us-east1*,eu-west1', 'ap-east1 dropped on ' . $_->name) for ($us, $eu);

# What replicated with ap-east1 goes away: the origin of its changes at once,
# the slot that fed it once the dropped server no longer reads from it.
$us->safe_psql('postgres', "ALTER SYSTEM SET locality.maintenance_naptime = '200ms'; SELECT pg_reload_conf()");
ok($us->poll_query_until('postgres',
	q{SELECT count(*) = 0 FROM pg_replication_origin WHERE roname = 'pg_locality_ap-east1'}),
	'the replication origin of ap-east1 is dropped');
$ap->stop;
ok($us->poll_query_until('postgres',
	q{SELECT count(*) = 1 FROM pg_replication_slots WHERE slot_name LIKE 'pg_locality_r%'}),
	'the slot that fed ap-east1 is dropped, the one feeding eu-west1 stays');

# Recovery of prepared transactions left in doubt by a coordinator crash:
# one with a recorded commit decision, one without (its coordinator is gone).
$eu->safe_psql('postgres', q{
	CREATE TABLE in_doubt (id int);
	BEGIN; INSERT INTO in_doubt VALUES (1); PREPARE TRANSACTION 'locality_us-east1_3_1';
	BEGIN; INSERT INTO in_doubt VALUES (2); PREPARE TRANSACTION 'locality_us-east1_4_1';
});
$us->safe_psql('postgres', q{
	INSERT INTO locality.dist_transactions (gid, region_id)
	SELECT 'locality_us-east1_3_1', id FROM locality.region_catalog WHERE name = 'eu-west1';
});
# The maintenance worker resolves them without anyone asking.
ok($eu->poll_query_until('postgres', 'SELECT count(*) = 0 FROM pg_prepared_xacts'),
	'the maintenance worker resolved both in-doubt transactions');
is($eu->safe_psql('postgres', 'SELECT string_agg(id::text, \',\') FROM in_doubt'), '1',
	'the decided one committed, the undecided one rolled back');
is($us->safe_psql('postgres', 'SELECT locality.recover_prepared_transactions()'), '0',
	'a manual recovery afterwards finds nothing to do');

done_testing();
