# The row-level safety net (ARCHITECTURE.md's first invariant): a write that
# reaches the executor here for a row homed in another region fails with
# 55000, on every write path (INSERT, ON CONFLICT, UPDATE, DELETE, COPY FROM,
# MERGE, PL/pgSQL, SQL functions, prepared statements, triggers' own DML,
# foreign-key cascades), for REGIONAL BY ROW rows and REGIONAL BY TABLE
# tables; TRUNCATE of a REGIONAL BY ROW table is refused.  The same paths
# pass for rows homed here, an UPDATE that rehomes a local row passes at the
# old home, and replication (apply workers, initial sync of a region joining
# later) still delivers every row everywhere.
#
# Writes run with locality.route_writes = off, so the router (which sends
# writes home) leaves them here: what this tests is the net under it.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my ($us, $eu) = LocalityCluster::start_regions(qw(us-east1 eu-west1));
LocalityCluster::join_regions($us, $eu);
my @nodes = ($us, $eu);

sub drain
{
	for my $node (@nodes)
	{
		is($node->safe_psql('postgres', "SELECT locality.wait_for_replication(NULL, '60s')"), 't',
			'replication drained on ' . $node->name);
	}
}

# here($node, $sql): runs $sql on $node with the router out of the way.
sub here
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', "SET locality.route_writes = off;\n$sql");
}

# refused($node, $sql): the "SQLSTATE: message" $sql raises on $node.
sub refused
{
	my ($node, $sql) = @_;
	return LocalityCluster::error_of($node, "SET locality.route_writes = off;\n$sql");
}

my $eu_row = qr/^55000: row of table "users" is homed in region "eu-west1"$/;
my $eu_table = qr/^55000: row of table "promos" is homed in region "eu-west1"$/;

$us->safe_psql('postgres', q{
	CREATE TABLE users (id int PRIMARY KEY, name text) WITH (locality = 'REGIONAL BY ROW');
	CREATE TABLE promos (code text PRIMARY KEY, pct int) WITH (locality = 'REGIONAL BY TABLE IN "eu-west1"');
	CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users ON DELETE CASCADE,
	                     region locality.region NOT NULL DEFAULT locality.gateway_region())
	    WITH (locality = 'REGIONAL BY ROW');
});
# Unmanaged, on each region: a trigger on it writes users.
for my $node (@nodes)
{
	$node->safe_psql('postgres', q{
		CREATE TABLE audit (id int PRIMARY KEY, user_id int);
		CREATE FUNCTION audit_touches_user() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN UPDATE users SET name = name || '+' WHERE id = NEW.user_id; RETURN NEW; END $$;
		CREATE TRIGGER audit_touches_user AFTER INSERT ON audit
		    FOR EACH ROW EXECUTE FUNCTION audit_touches_user();
		CREATE FUNCTION rename_user(i int, n text) RETURNS void LANGUAGE sql
		    AS $$ UPDATE users SET name = n WHERE id = i $$;
	});
}
ok($us->poll_query_until('postgres', q{SELECT count(*) = 1 FROM locality.replication_status WHERE state = 'streaming'}),
	'us-east1 streams from eu-west1');

# Rows homed in each region, written at their homes.
$eu->safe_psql('postgres', q{
	INSERT INTO users VALUES (1, 'eve'), (2, 'emil'), (3, 'erin');
	INSERT INTO orders VALUES (1, 1);
	INSERT INTO promos VALUES ('WINTER', 10);
});
$us->safe_psql('postgres', q{
	INSERT INTO users VALUES (11, 'uma'), (12, 'ulf'), (13, 'ute');
	INSERT INTO orders VALUES (11, 11);
});
drain();

# --- Rows homed in eu-west1, written at us-east1: every path is refused ---
like(refused($us, "INSERT INTO users VALUES (20, 'x', 'eu-west1')"), $eu_row, 'INSERT of a row homed elsewhere');
like(refused($us, "INSERT INTO users VALUES (1, 'x') ON CONFLICT (id) DO UPDATE SET name = excluded.name"),
	$eu_row, 'INSERT ... ON CONFLICT DO UPDATE of a row homed elsewhere');
like(refused($us, "UPDATE users SET name = 'x' WHERE id = 1"), $eu_row, 'UPDATE');
like(refused($us, "UPDATE users SET region = 'us-east1' WHERE id = 1"), $eu_row,
	'UPDATE pulling a row homed elsewhere here');
like(refused($us, 'DELETE FROM users WHERE id = 2'), $eu_row, 'DELETE');
like(refused($us, "COPY users FROM stdin;\n21\tcopied\teu-west1\n\\.\n"), $eu_row, 'COPY FROM');
like(refused($us, q{MERGE INTO users u USING (VALUES (1, 'm')) s(id, name) ON u.id = s.id
	WHEN MATCHED THEN UPDATE SET name = s.name WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.name)}),
	$eu_row, 'MERGE, matched');
like(refused($us, q{MERGE INTO users u USING (VALUES (22, 'm', 'eu-west1'::locality.region)) s(id, name, r) ON u.id = s.id
	WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.name, s.r)}),
	$eu_row, 'MERGE, not matched');
like(refused($us, q{DO $$ BEGIN EXECUTE format('DELETE FROM %I WHERE id = %s', 'users', 3); END $$}),
	$eu_row, 'PL/pgSQL, dynamic SQL');
like(refused($us, "SELECT rename_user(1, 'x')"), $eu_row, 'SQL function');
like(refused($us, "PREPARE ren(int) AS UPDATE users SET name = 'x' WHERE id = \$1;\nEXECUTE ren(1)"),
	$eu_row, 'prepared statement');
like(refused($us, 'INSERT INTO audit VALUES (1, 1)'), $eu_row, "a trigger's own DML");
like(refused($us, 'DELETE FROM users WHERE id = 11 OR id = 1'), $eu_row,
	'a statement touching local and remote rows fails whole');
like(refused($us, "INSERT INTO promos VALUES ('SPRING', 5)"), $eu_table, 'REGIONAL BY TABLE: INSERT');
like(refused($us, 'UPDATE promos SET pct = 50'), $eu_table, 'REGIONAL BY TABLE: UPDATE');
like(refused($us, 'DELETE FROM promos'), $eu_table, 'REGIONAL BY TABLE: DELETE');
like(refused($us, 'TRUNCATE promos'), qr/^55000: table "promos" is homed in region "eu-west1"$/,
	'REGIONAL BY TABLE: TRUNCATE away from its home');
like(refused($_, 'TRUNCATE orders'), qr/^55000: cannot truncate REGIONAL BY ROW table "orders"$/,
	'TRUNCATE of a REGIONAL BY ROW table on ' . $_->name) for @nodes;
like(refused($eu, 'DELETE FROM users WHERE id = 11'),
	qr/^55000: row of table "users" is homed in region "us-east1"$/, 'and the other way round');

# A foreign-key cascade would delete the child rows homed elsewhere.
$us->safe_psql('postgres', "INSERT INTO users VALUES (14, 'ugo'); INSERT INTO orders VALUES (14, 14)");
drain();
$eu->safe_psql('postgres', 'INSERT INTO orders VALUES (15, 14)');    # eu's order of us's user
drain();
like(refused($us, 'DELETE FROM users WHERE id = 14'),
	qr/^55000: row of table "orders" is homed in region "eu-west1"$/, 'a cascade to rows homed elsewhere');

# The error's detail, hint and fields.
my ($ret, $out, $err) = $us->psql('postgres',
	"SET locality.route_writes = off;\n\\set VERBOSITY verbose\nUPDATE users SET name = 'x' WHERE id = 1");
like($err, qr/DETAIL:  UPDATE of a row of a REGIONAL BY ROW table runs only at the row's home region \(the old row's column "region"\); this server is region "us-east1"\./,
	'detail names the column and this region');
like($err, qr/HINT:  Run the statement on region "eu-west1"'s primary\./, 'hint names the home');
like($err, qr/TABLE NAME:  users.*COLUMN NAME:  region/s, 'table and column fields are set');

is($us->safe_psql('postgres', 'SELECT string_agg(id || name || region, \',\' ORDER BY id) FROM users WHERE id < 10'),
	'1eveeu-west1,2emileu-west1,3erineu-west1', 'no row homed in eu-west1 changed on us-east1');
is($us->safe_psql('postgres', 'SELECT count(*) FROM promos'), '1', 'nor the REGIONAL BY TABLE table');

# --- Rows homed here: the same paths pass ---
here($us, q{
	INSERT INTO users VALUES (30, 'new');
	INSERT INTO users VALUES (11, 'upsert') ON CONFLICT (id) DO UPDATE SET name = excluded.name;
	UPDATE users SET name = 'updated' WHERE id = 12;
	DELETE FROM users WHERE id = 13;
	COPY users (id, name) FROM stdin;
31	copied
\.
	MERGE INTO users u USING (VALUES (31, 'merged'), (32, 'merged')) s(id, name) ON u.id = s.id
	    WHEN MATCHED THEN UPDATE SET name = s.name WHEN NOT MATCHED THEN INSERT VALUES (s.id, s.name);
	DO $$ BEGIN EXECUTE format('UPDATE %I SET name = %L WHERE id = 30', 'users', 'dynamic'); END $$;
	SELECT rename_user(32, 'by function');
	PREPARE ren(int) AS UPDATE users SET name = name || '!' WHERE id = $1;
	EXECUTE ren(11);
	INSERT INTO audit VALUES (2, 12);
	UPDATE users SET region = 'eu-west1' WHERE id = 12;
});
is($us->safe_psql('postgres', 'SELECT string_agg(id || name || region, \',\' ORDER BY id) FROM users WHERE id > 10'),
	'11upsert!us-east1,12updated+eu-west1,14ugous-east1,30dynamicus-east1,31mergedus-east1,32by functionus-east1',
	'every path wrote the local rows; the rehome of row 12 passed at its old home');
$eu->safe_psql('postgres', q{INSERT INTO promos VALUES ('SPRING', 5); UPDATE promos SET pct = 20 WHERE code = 'WINTER'});

# --- Replication delivers rows homed elsewhere (apply workers pass the net) ---
drain();
my $all = 'SELECT string_agg(id || name || region, \',\' ORDER BY id) FROM users';
is($eu->safe_psql('postgres', $all), $us->safe_psql('postgres', $all), 'users are the same on both regions');
is($us->safe_psql('postgres', 'SELECT string_agg(code || pct, \',\' ORDER BY code) FROM promos'), 'SPRING5,WINTER20',
	'us-east1 applied the writes of the REGIONAL BY TABLE table');
# Row 12 now lives in eu-west1: eu-west1 writes it, us-east1 no longer can.
$eu->safe_psql('postgres', "UPDATE users SET name = 'rehomed' WHERE id = 12");
like(refused($us, "UPDATE users SET name = 'x' WHERE id = 12"), $eu_row, 'the rehomed row is refused at its old home');
drain();
is($us->safe_psql('postgres', 'SELECT name FROM users WHERE id = 12'), 'rehomed', 'its new home writes it');

# --- A region joining later: initial sync copies rows homed elsewhere, and
# the catalog it receives installs the net there ---
my ($ap) = LocalityCluster::start_regions(qw(ap-east1));
$us->safe_psql('postgres', "SELECT locality.add_region('ap-east1', '" . LocalityCluster::connstr($ap) . "')");
push @nodes, $ap;
ok($ap->poll_query_until('postgres', "SELECT count(*) = 2 FROM locality.sync_progress WHERE phase = 'done' AND table_name = 'users'::regclass"),
	'ap-east1 synced users from both regions')
	or diag($ap->safe_psql('postgres', 'SELECT * FROM locality.sync_progress'));
drain();
is($ap->safe_psql('postgres', $all), $us->safe_psql('postgres', $all), 'ap-east1 holds every user row');
is($ap->safe_psql('postgres',
	q{SELECT count(*) FROM pg_trigger WHERE tgfoid = 'locality._home_guard()'::regprocedure AND tgisinternal}),
	'6', 'ap-east1 carries the safety net on its three regional tables');
like(refused($ap, "UPDATE users SET name = 'x' WHERE id = 11"),
	qr/^55000: row of table "users" is homed in region "us-east1"$/, 'and refuses rows homed elsewhere');
here($ap, "INSERT INTO users VALUES (40, 'from ap')");
drain();
is($us->safe_psql('postgres', 'SELECT region FROM users WHERE id = 40'), 'ap-east1', "ap-east1's own rows travel");

# --- Back to GLOBAL: the net goes, multi-primary writes pass everywhere ---
$us->safe_psql('postgres', q{SELECT locality.set_locality('promos', 'GLOBAL')});
is($_->safe_psql('postgres',
	q{SELECT count(*) FROM pg_trigger WHERE tgrelid = 'promos'::regclass AND tgisinternal
	  AND tgfoid = 'locality._home_guard()'::regprocedure}), '0',
	'no safety-net trigger left on the GLOBAL table on ' . $_->name) for @nodes;
here($us, "INSERT INTO promos VALUES ('SUMMER', 1)");
drain();
is($eu->safe_psql('postgres', "SELECT pct FROM promos WHERE code = 'SUMMER'"), '1', 'a GLOBAL write from us-east1');

done_testing();
