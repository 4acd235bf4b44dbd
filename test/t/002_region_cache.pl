# Every backend caches the LOCALITY catalog; a change committed by one
# backend reaches a long-lived other backend's cache by its next statement:
# regions added, renamed and dropped, this server's own region, managed
# tables, and the extension itself being created, dropped and re-created.
# No waiting: the invalidation is sent before the commit returns.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my ($node) = LocalityCluster::start_regions('us-east1');
my $conninfo = LocalityCluster::connstr($node);

# region_or_error(name): the name through locality.region, or the SQLSTATE
# of the error, so the long-lived session survives failures.
my $helpers = q{
CREATE FUNCTION region_or_error(name text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN name::locality.region::text;
EXCEPTION WHEN others THEN
    RETURN SQLSTATE;
END $$;
CREATE FUNCTION gateway_or_error() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    RETURN locality.gateway_region()::text;
EXCEPTION WHEN others THEN
    RETURN SQLSTATE;
END $$;
};
$node->safe_psql('postgres', $helpers);

# add_region($db, $id, $name): a catalog row, as add_region will write it.
sub add_region
{
	my ($db, $id, $name) = @_;
	$node->safe_psql($db,
		"INSERT INTO locality.region_catalog (id, name, conninfo) VALUES ($id, '$name', '$conninfo')");
}

my $session = $node->background_psql('postgres');

# Load the cache while the catalog is empty.
is($session->query_safe("SELECT region_or_error('us-east1')"), '42704',
	'no region yet: unknown (and now cached)');
is($session->query_safe('SELECT gateway_or_error()'), '55000',
	"no region yet: this server's region has not been added");

add_region('postgres', 1, 'us-east1');
is($session->query_safe("SELECT region_or_error('us-east1')"), 'us-east1',
	'a region added by another session resolves');
is($session->query_safe('SELECT gateway_or_error()'), 'us-east1',
	"gateway_region() sees this server's region added by another session");
is($session->query_safe("SELECT region_or_error('eu-west1')"), '42704',
	'a region not added yet is unknown');

add_region('postgres', 2, 'eu-west1');
is($session->query_safe("SELECT region_or_error('eu-west1')"), 'eu-west1',
	'a second region added by another session resolves');

$session->query_safe(
	"CREATE TABLE homes (id int PRIMARY KEY, region locality.region); "
	  . "INSERT INTO homes VALUES (1, 'eu-west1')");
$node->safe_psql('postgres',
	"UPDATE locality.region_catalog SET name = 'eu-west2' WHERE name = 'eu-west1'");
is($session->query_safe('SELECT region FROM homes'), 'eu-west2',
	'a stored value prints the name another session renamed its region to');
is($session->query_safe("SELECT region_or_error('eu-west1')"), '42704',
	'the old name of a renamed region is unknown');

$node->safe_psql('postgres', "DELETE FROM locality.region_catalog WHERE name = 'eu-west2'");
is($session->query_safe('SELECT region FROM homes'), '<dropped region 2>',
	'a stored value of a region another session dropped prints as dropped');

# A transaction that rolls back leaves other caches as they were.
$node->safe_psql('postgres',
	"BEGIN; INSERT INTO locality.region_catalog (id, name, conninfo) "
	  . "VALUES (3, 'ap-east1', 'x'); ROLLBACK");
is($session->query_safe("SELECT region_or_error('ap-east1')"), '42704',
	'a region added by a rolled back transaction stays unknown');

# Managed tables, seen through LocalityIsManagedTable (the hooks' test), in a
# database where pg_locality is not installed yet.
$node->safe_psql('postgres', 'CREATE DATABASE plain');
my $is_managed = q{CREATE FUNCTION is_managed(oid) RETURNS boolean
    LANGUAGE C STRICT AS '$libdir/pg_locality', 'locality_is_managed_table'};
$node->safe_psql('plain', $is_managed);
$node->safe_psql('plain', 'CREATE TABLE t (id int PRIMARY KEY)');

my $plain = $node->background_psql('plain');
is($plain->query_safe("SELECT is_managed('t'::regclass)"), 'f',
	'without pg_locality no table is managed (and that is cached)');

$node->safe_psql('plain', 'CREATE EXTENSION pg_locality');
add_region('plain', 1, 'us-east1');
$node->safe_psql('plain',
	"INSERT INTO locality.table_catalog (relid, kind) VALUES ('t', 'GLOBAL')");
is($plain->query_safe("SELECT is_managed('t'::regclass)"), 't',
	'a table managed once another session installed pg_locality');
is($plain->query_safe("SELECT is_managed('pg_class'::regclass)"), 'f',
	'other tables stay unmanaged');

$node->safe_psql('plain', 'DELETE FROM locality.table_catalog');
is($plain->query_safe("SELECT is_managed('t'::regclass)"), 'f',
	'a table another session removed from the catalog is no longer managed');

$node->safe_psql('plain',
	"INSERT INTO locality.table_catalog (relid, kind) VALUES ('t', 'GLOBAL')");
is($plain->query_safe("SELECT is_managed('t'::regclass)"), 't', 'managed again');

$node->safe_psql('plain', 'DROP EXTENSION pg_locality CASCADE');
is($plain->query_safe("SELECT is_managed('t'::regclass)"), 'f',
	'no table is managed once another session dropped pg_locality');

$node->safe_psql('plain', 'CREATE EXTENSION pg_locality');
add_region('plain', 4, 'us-east1');
$node->safe_psql('plain',
	"INSERT INTO locality.table_catalog (relid, kind) VALUES ('t', 'GLOBAL')");
is($plain->query_safe("SELECT is_managed('t'::regclass)"), 't',
	'managed again after another session re-created pg_locality');
$plain->query_safe($helpers);
is($plain->query_safe("SELECT region_or_error('us-east1')"), 'us-east1',
	'the re-created catalog resolves names');
is($plain->query_safe("SELECT gateway_or_error()"), 'us-east1',
	"and this server's region");

$plain->quit;
$session->quit;
done_testing();
