# Routing edges: COPY FROM into tables with identity and generated columns
# and into a REGIONAL BY TABLE table homed elsewhere; identity values of a
# forwarded INSERT; statements shipped whole that read what only this
# server has (tables that are not managed, temporary tables, functions that
# belong to no extension): evaluated here when they do not depend on the
# rows, refused with 0A000 otherwise; and the login of the forwarded session
# taken from the user mapping of foreign server "locality_<region>".
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1 ap-east1));
my ($us, $eu, $ap) = @nodes;
LocalityCluster::join_regions(@nodes);
*error_of = \&LocalityCluster::error_of;

sub wait_all
{
	$_->safe_psql('postgres', 'SELECT locality.wait_for_replication()') for @nodes;
}

$us->safe_psql('postgres', q{
	CREATE TABLE gen (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, qty int NOT NULL,
		price int NOT NULL DEFAULT 10, total int GENERATED ALWAYS AS (qty * price) STORED)
		WITH (locality = 'REGIONAL BY ROW');
	CREATE TABLE eu_tab (id serial PRIMARY KEY, v text NOT NULL,
		len int GENERATED ALWAYS AS (length(v)) STORED)
		WITH (locality = 'REGIONAL BY TABLE IN "eu-west1"');
	CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int NOT NULL DEFAULT 0)
		WITH (locality = 'REGIONAL BY ROW');
});
$_->poll_query_until('postgres', "SELECT count(*) = 3 FROM locality.tables") for @nodes;
$eu->safe_psql('postgres', "INSERT INTO items VALUES (0, 'warmup', 0)");
wait_all();

# --- 1. COPY FROM: identity, generated columns, REGIONAL BY TABLE ---------

$us->safe_psql('postgres',
	"COPY gen (qty, region) FROM stdin;\n1\tus-east1\n2\teu-west1\n3\tap-east1\n4\teu-west1\n\\.\n");
is($eu->safe_psql('postgres', "SELECT string_agg(qty || ':' || total, ',' ORDER BY qty) FROM gen WHERE region = 'eu-west1'"),
	'2:20,4:40', 'COPY into a table with identity and generated columns: rows at their home, generated column computed');
wait_all();
is($us->safe_psql('postgres', "SELECT count(DISTINCT id), max(id) = (SELECT last_value FROM gen_id_seq) FROM gen"),
	'4|t', 'every row, sent home or not, drew its identity here, as a local COPY would');
is($eu->safe_psql('postgres', "SELECT is_called FROM gen_id_seq"), 'f',
	'and not from the home\'s sequence');
$us->safe_psql('postgres', "COPY gen (id, qty, price, region) FROM stdin;\n900\t5\t3\tap-east1\n\\.\n");
is($ap->safe_psql('postgres', "SELECT id, total FROM gen WHERE id = 900"), '900|15',
	'COPY naming an identity GENERATED ALWAYS column keeps the given value (as COPY does)');
like(error_of($us, "COPY gen (qty, region) FROM stdin;\n7\tus-east1\n\\N\teu-west1\n\\.\n"),
	qr/^23502: null value in column "qty" of relation "gen" violates not-null constraint/,
	'a NULL in a NOT NULL column fails naming the target table');
like(error_of($us, "COPY gen (total, region) FROM stdin;\n7\tus-east1\n\\.\n"),
	qr/^42P10: column "total" is a generated column/,
	'COPY naming a generated column fails as COPY does');
like(error_of($us, "COPY gen (qty, region) FROM stdin WHERE price > 5;\n7\tus-east1\n\\.\n"),
	qr/^0A000: cannot route COPY FROM into "gen" with a WHERE condition on column "price"/,
	'a WHERE on a column the COPY does not fill is refused with 0A000');
$us->safe_psql('postgres', "COPY gen (qty, region) FROM stdin WHERE qty > 5;\n6\teu-west1\n1\teu-west1\n\\.\n");
is($eu->safe_psql('postgres', "SELECT string_agg(qty::text, ',' ORDER BY qty) FROM gen WHERE region = 'eu-west1'"),
	'2,4,6', 'COPY ... WHERE on a listed column filters before routing');

$us->safe_psql('postgres', "COPY eu_tab (v) FROM stdin;\nalpha\nbe\n\\.\n");
is($eu->safe_psql('postgres', "SELECT string_agg(v || ':' || len, ',' ORDER BY v) FROM eu_tab"),
	'alpha:5,be:2', 'COPY into a REGIONAL BY TABLE table homed elsewhere: every row at the home');
is($us->safe_psql('postgres', "SELECT last_value FROM eu_tab_id_seq"),
	$eu->safe_psql('postgres', "SELECT max(id) FROM eu_tab"),
	'its serial values were drawn here');
$us->safe_psql('postgres', "CREATE TABLE words (w text)");
$us->safe_psql('postgres', "INSERT INTO words VALUES ('gamma'), ('delta')");
is($us->safe_psql('postgres', "INSERT INTO eu_tab (v) SELECT w FROM words ORDER BY w RETURNING v, len"),
	"delta|5\ngamma|5", 'INSERT ... SELECT from a table only here into a REGIONAL BY TABLE table homed elsewhere');
is($eu->safe_psql('postgres', "SELECT count(*) FROM eu_tab"), '4', 'its rows are at the home');
is($us->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname LIKE 'locality_copy_%'"), '0',
	'no staging table is left behind');

# A generated region column: each row's home computed from the row, here.
for my $n (@nodes)
{
	$n->safe_psql('postgres', q{
		SET locality.remote_apply = 'on';
		CREATE FUNCTION zone_home(zone text) RETURNS locality.region LANGUAGE sql IMMUTABLE
			AS $$SELECT (CASE zone WHEN 'eu' THEN 'eu-west1' WHEN 'ap' THEN 'ap-east1'
				ELSE 'us-east1' END)::locality.region$$;
	});
}
$us->safe_psql('postgres', q{
	CREATE TABLE zoned (id int PRIMARY KEY, zone text NOT NULL,
		home locality.region NOT NULL GENERATED ALWAYS AS (zone_home(zone)) STORED)
		WITH (locality = 'REGIONAL BY ROW AS home');
});
$_->poll_query_until('postgres', "SELECT count(*) = 4 FROM locality.tables") for @nodes;
is($us->safe_psql('postgres', "INSERT INTO zoned (id, zone) VALUES (1, 'eu') RETURNING home"),
	'eu-west1', 'INSERT into a table with a generated region column goes to the computed home');
$us->safe_psql('postgres', "COPY zoned (id, zone) FROM stdin;\n2\tap\n3\tus\n4\teu\n\\.\n");
is($eu->safe_psql('postgres', "SELECT string_agg(id::text, ',' ORDER BY id) FROM zoned WHERE home = 'eu-west1'"), '1,4',
	'COPY into it: eu-west1 has its rows');
is($ap->safe_psql('postgres', "SELECT string_agg(id::text, ',' ORDER BY id) FROM zoned WHERE home = 'ap-east1'"), '2',
	'ap-east1 has its row');
is($us->safe_psql('postgres', "SELECT string_agg(id::text, ',' ORDER BY id) FROM zoned WHERE home = 'us-east1'"), '3',
	'and the local row is here');

# A forwarded single-row INSERT into an identity GENERATED ALWAYS column:
# the home draws the value (DEFAULT), from its own residue class.
is($us->safe_psql('postgres', "INSERT INTO gen (qty, region) VALUES (8, 'eu-west1') RETURNING total"),
	'80', 'a forwarded INSERT into a table with an identity GENERATED ALWAYS column');
is($eu->safe_psql('postgres', "SELECT id = (SELECT last_value FROM gen_id_seq) FROM gen WHERE qty = 8"),
	't', 'the home drew its identity value');
like($us->safe_psql('postgres', "EXPLAIN (COSTS OFF) INSERT INTO gen (qty, region) VALUES (9, 'eu-west1')"),
	qr/Remote SQL: INSERT INTO gen \(id, qty, price, region\) VALUES \(DEFAULT, 9, 10,/,
	'EXPLAIN shows DEFAULT for the identity column');

# --- 2. Statements shipped whole that read what only this server has -------

# local_cfg exists on both servers, with other rows: a local table.
$us->safe_psql('postgres', "CREATE TABLE local_cfg (k text PRIMARY KEY, v int); INSERT INTO local_cfg VALUES ('bonus', 7)");
$eu->safe_psql('postgres', "CREATE TABLE local_cfg (k text PRIMARY KEY, v int); INSERT INTO local_cfg VALUES ('bonus', 100)");
$us->safe_psql('postgres', q{
	INSERT INTO items VALUES (1, 'a', 1, 'eu-west1'), (2, 'b', 1, 'eu-west1'), (3, 'bonus', 1, 'eu-west1');
});
wait_all();

$us->safe_psql('postgres', "UPDATE items SET qty = (SELECT v FROM local_cfg WHERE k = 'bonus') WHERE id = 1");
is($eu->safe_psql('postgres', "SELECT qty FROM items WHERE id = 1"), '7',
	'an uncorrelated subquery on a local table is evaluated here, not at the home');
like($us->safe_psql('postgres', "EXPLAIN (COSTS OFF) UPDATE items SET qty = (SELECT v FROM local_cfg WHERE k = 'bonus') WHERE id = 1"),
	qr/Evaluated Here: 1/, 'EXPLAIN counts the expressions evaluated here');
like(error_of($us, "UPDATE items SET qty = (SELECT v FROM local_cfg c WHERE c.k = items.name) WHERE id = 3"),
	qr/^0A000: cannot forward a write to "items" that reads table "local_cfg"/,
	'a correlated subquery on a local table is refused with 0A000');
is($eu->safe_psql('postgres', "SELECT qty FROM items WHERE id = 3"), '1', 'and changes nothing');
like(error_of($us, "UPDATE items SET qty = 0 FROM local_cfg WHERE items.name = local_cfg.k AND items.id = 3"),
	qr/^0A000: cannot forward a write to "items" that reads table "local_cfg"/,
	'a join with a local table is refused with 0A000');

# A temporary table exists only in this session.
$us->safe_psql('postgres', q{
	CREATE TEMP TABLE gone (id int);
	INSERT INTO gone VALUES (2);
	DELETE FROM items WHERE region = 'eu-west1' AND id = (SELECT id FROM gone);
});
is($eu->safe_psql('postgres', "SELECT count(*) FROM items WHERE id = 2"), '0',
	'a temporary table read by a forwarded DELETE is read here');

# `col IN (SELECT ... FROM a local table)`, run at every region: the list is
# read here and shipped as an array.
$us->safe_psql('postgres', q{
	CREATE TEMP TABLE picks (id int);
	INSERT INTO picks VALUES (3), (0);
	UPDATE items SET qty = 42 WHERE id IN (SELECT id FROM picks);
});
is($eu->safe_psql('postgres', "SELECT string_agg(id || ':' || qty, ',' ORDER BY id) FROM items WHERE qty = 42"),
	'0:42,3:42', 'col IN (subquery on a temporary table) sent to every region as the list read here');

# Functions that belong to no extension: evaluated here when they can be.
for my $n ($us, $eu)
{
	$n->safe_psql('postgres', q{
		SET locality.remote_apply = 'on';
		CREATE FUNCTION bonus() RETURNS int STABLE LANGUAGE sql AS $$SELECT v FROM local_cfg WHERE k = 'bonus'$$;
		CREATE FUNCTION plus_bonus(int) RETURNS int STABLE LANGUAGE sql AS $$SELECT $1 + bonus()$$;
	});
}
$us->safe_psql('postgres', "UPDATE items SET qty = bonus() + 1 WHERE id = 1");
is($eu->safe_psql('postgres', "SELECT qty FROM items WHERE id = 1"), '8',
	'a stable function that belongs to no extension is evaluated here');
like(error_of($us, "UPDATE items SET qty = plus_bonus(qty) WHERE id = 1"),
	qr/^0A000: cannot forward a write to "items" that calls function plus_bonus\(integer\)/,
	'such a function over the row\'s columns is refused with 0A000');

# An INSERT that reads a local table goes row by row (its values computed here).
$us->safe_psql('postgres', "INSERT INTO items VALUES (50, 'x', (SELECT v FROM local_cfg WHERE k = 'bonus'), 'eu-west1')");
is($eu->safe_psql('postgres', "SELECT qty FROM items WHERE id = 50"), '7',
	'an INSERT with a subquery on a local table computes its row here');

# --- 3. The forwarded session's login from a user mapping -----------------

for my $n (@nodes)
{
	$n->safe_psql('postgres', q{
		SET locality.remote_apply = 'on';
		CREATE ROLE alice LOGIN PASSWORD 'alice-pw';
		CREATE ROLE bob LOGIN;
		CREATE ROLE carol LOGIN;
		GRANT SELECT, INSERT, UPDATE ON items TO alice, bob, carol;
	});
}
# eu-west1 asks alice for her password.
my $hba = $eu->data_dir . '/pg_hba.conf';
my $conf = PostgreSQL::Test::Utils::slurp_file($hba);
open(my $fh, '>', $hba) or die $!;
print $fh "host all alice 127.0.0.1/32 scram-sha-256\n" . $conf;
close $fh;
$eu->reload;

like(error_of($us, "SET ROLE alice; INSERT INTO items VALUES (60, 'a', 0, 'eu-west1')"),
	qr/^28P01: fe_sendauth: no password supplied/,
	'without a user mapping the forwarded session has no password: 28P01 (the region answered)');
$us->safe_psql('postgres', q{
	CREATE FOREIGN DATA WRAPPER locality_login;
	CREATE SERVER "locality_eu-west1" FOREIGN DATA WRAPPER locality_login;
	CREATE USER MAPPING FOR alice SERVER "locality_eu-west1" OPTIONS (password 'alice-pw');
});
is($us->safe_psql('postgres', "SET ROLE alice; INSERT INTO items VALUES (60, 'a', 0, 'eu-west1') RETURNING current_user"),
	'alice', 'with the user mapping\'s password the forwarded write runs at the home as alice');

# A mapping to another login needs the region to check its password.
$us->safe_psql('postgres', "CREATE USER MAPPING FOR bob SERVER \"locality_eu-west1\" OPTIONS (user 'carol')");
like(error_of($us, "SET ROLE bob; INSERT INTO items VALUES (61, 'b', 0, 'eu-west1')"),
	qr/^2F003: password is required/,
	'a mapping to a login the region does not ask a password for is refused');
$us->safe_psql('postgres', "ALTER USER MAPPING FOR bob SERVER \"locality_eu-west1\" OPTIONS (SET user 'alice', ADD password 'alice-pw')");
is($us->safe_psql('postgres', "SET ROLE bob; INSERT INTO items VALUES (61, 'b', 0, 'eu-west1') RETURNING current_user"),
	'alice', 'a mapping with the password of another login runs the write as that login');
# No mapping for carol: her own name, no password (eu-west1 trusts carol).
is($us->safe_psql('postgres', "SET ROLE carol; INSERT INTO items VALUES (62, 'c', 0, 'eu-west1') RETURNING current_user"),
	'carol', 'a role without a mapping logs in with its own name, as before');
unlike($us->safe_psql('postgres', "SELECT string_agg(coalesce(last_error, ''), ' ') FROM locality.region_status"),
	qr/alice-pw/, 'the password shows nowhere');

done_testing();
