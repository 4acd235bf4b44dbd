# Rehoming a row of a REGIONAL BY ROW table: `UPDATE t SET region = 'x'`
# runs at the row's old home and region x owns the row once it has applied
# that change.  Writes that reach a region which no longer owns the row go
# to its new home (never applied at the old one, never lost): from a region
# whose copy is stale, at a new home that has not applied the rehoming yet,
# and from a statement that waited for the rehoming transaction's row lock.
# A region receiving the new home's first write before the old home's
# rehoming ends with the same row as every other region.  Stale copies are
# made with locality.pause_replication, so no timing is involved.
use strict;
use warnings;
use IPC::Run;
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

# everywhere($sql): the result on each region, joined by " / ".
sub everywhere
{
	my ($sql) = @_;
	return join(' / ', map { $_->safe_psql('postgres', $sql) } @nodes);
}

# in_background($node, $sql): runs $sql in its own psql; ->finish waits.
sub in_background
{
	my ($node, $sql) = @_;
	my %run = (out => '', err => '');
	$run{h} = IPC::Run::start(
		[ 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d',
		  LocalityCluster::connstr($node), '-c', $sql ],
		'>', \$run{out}, '2>', \$run{err});
	return \%run;
}

$us->safe_psql('postgres', q{
	CREATE TABLE items (id int PRIMARY KEY, v int NOT NULL) WITH (locality = 'REGIONAL BY ROW');
});
$_->poll_query_until('postgres', "SELECT count(*) = 1 FROM locality.tables") for @nodes;
$us->safe_psql('postgres', "INSERT INTO items SELECT g, 0 FROM generate_series(1, 6) g");
wait_all();
is(everywhere("SELECT string_agg(DISTINCT region::text, ',') FROM items"),
	'us-east1 / us-east1 / us-east1', 'six rows homed in us-east1, on every region');

# 1. Rehoming at the old home.
is($us->safe_psql('postgres', "UPDATE items SET region = 'eu-west1' WHERE id = 1 RETURNING id, region"),
	'1|eu-west1', 'UPDATE ... SET region at the home moves the row and returns it');
wait_all();
is(everywhere("SELECT region FROM items WHERE id = 1"), 'eu-west1 / eu-west1 / eu-west1',
	'the row is homed in eu-west1 on every region');
is($eu->safe_psql('postgres',
	"SET locality.enforce_home_region = on; UPDATE items SET v = 11 WHERE id = 1 RETURNING v"),
	'11', 'the new home writes the row locally (enforce_home_region allows no remote call)');
like(error_of($us, "SET locality.enforce_home_region = on; UPDATE items SET v = 12 WHERE id = 1"),
	qr/^55000: .*"eu-west1"/, 'the old home forwards writes of the row to eu-west1');
is($us->safe_psql('postgres', "UPDATE items SET v = v + 1 WHERE id = 1 RETURNING v, region"),
	'12|eu-west1', 'a write of the row at the old home runs at the new home');
wait_all();
is(everywhere("SELECT v || ':' || region FROM items WHERE id = 1"),
	'12:eu-west1 / 12:eu-west1 / 12:eu-west1', 'every region holds the new home\'s row');

# 2. Rehoming issued at the new home: forwarded to the old home, executed there.
is($ap->safe_psql('postgres', "UPDATE items SET region = 'ap-east1' WHERE id = 2 RETURNING id, region"),
	'2|ap-east1', 'rehoming issued at ap-east1 runs at us-east1 and returns the moved row');
is($ap->safe_psql('postgres',
	"SET locality.enforce_home_region = on; UPDATE items SET v = 22 WHERE id = 2 RETURNING region"),
	'ap-east1', 'right after it (read-your-writes), ap-east1 writes the row locally');

# 3. The issuing region's copy is stale: ap-east1 has not seen row 3 move.
$ap->safe_psql('postgres', "SELECT locality.pause_replication('us-east1')");
$us->safe_psql('postgres', "UPDATE items SET region = 'eu-west1' WHERE id = 3");
$eu->poll_query_until('postgres', "SELECT region = 'eu-west1' FROM items WHERE id = 3")
  or die 'eu-west1 did not apply the rehoming';
is($ap->safe_psql('postgres', "SET locality.read_your_writes = off; SELECT region FROM items WHERE id = 3"),
	'us-east1', 'ap-east1 still sees row 3 homed in us-east1');
is($ap->safe_psql('postgres', "SET locality.read_your_writes = off; UPDATE items SET v = 33 WHERE id = 3 RETURNING v, region"),
	'33|eu-west1', 'its UPDATE by key goes to us-east1, which redirects it to eu-west1');
is($eu->safe_psql('postgres', "SELECT v FROM items WHERE id = 3"), '33', 'applied at the new home');
$us->poll_query_until('postgres', "SELECT v = 33 FROM items WHERE id = 3")
  or die 'us-east1 did not get the new home\'s write';
$ap->safe_psql('postgres', "SELECT locality.resume_replication('us-east1')");

# 4. The new home has not applied the rehoming when a forwarded write arrives.
$eu->safe_psql('postgres', "SELECT locality.pause_replication('us-east1')");
$us->safe_psql('postgres', "UPDATE items SET region = 'eu-west1' WHERE id = 4");
$ap->poll_query_until('postgres', "SELECT region = 'eu-west1' FROM items WHERE id = 4")
  or die 'ap-east1 did not apply the rehoming';
# eu-west1 waits at most half its forward_timeout, so the caller gets its error.
$eu->safe_psql('postgres', "ALTER SYSTEM SET locality.forward_timeout = '600ms'; SELECT pg_reload_conf()");
like(error_of($ap, "UPDATE items SET v = 44 WHERE id = 4"),
	qr/^55000: the replica of region "us-east1" has not applied the rehoming of a row to this region yet/,
	'eu-west1 waits for the rehoming (bounded by forward_timeout) instead of sending the write back');
is(everywhere("SET locality.read_your_writes = off; SELECT v FROM items WHERE id = 4"), '0 / 0 / 0',
	'the failed write changed nothing anywhere');
$eu->safe_psql('postgres', "ALTER SYSTEM RESET locality.forward_timeout; SELECT pg_reload_conf()");
my $bg = in_background($ap, "UPDATE items SET v = 44 WHERE id = 4 RETURNING v, region");
$eu->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Extension' AND query LIKE '%v = 44%'")
  or die 'the forwarded write is not waiting at eu-west1';
$eu->safe_psql('postgres', "SELECT locality.resume_replication('us-east1')");
$bg->{h}->finish;
is($bg->{out}, "44|eu-west1\n", 'once eu-west1 has applied the rehoming, it runs the write itself');
wait_all();
is(everywhere("SELECT v || ':' || region FROM items WHERE id = 4"),
	'44:eu-west1 / 44:eu-west1 / 44:eu-west1', 'every region holds the written row');

# 5. A write by key that waited for the rehoming transaction's row lock at
# the old home follows the row to its new home.
$us->safe_psql('postgres',
	"BEGIN; UPDATE items SET region = 'eu-west1' WHERE id = 5; PREPARE TRANSACTION 'rehome5'");
$bg = in_background($ap, "UPDATE items SET v = v + 55 WHERE id = 5 RETURNING v, region");
$us->poll_query_until('postgres',
	"SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%v + 55%'")
  or die 'the forwarded write is not waiting for the row lock';
$us->safe_psql('postgres', "COMMIT PREPARED 'rehome5'");
$bg->{h}->finish;
is($bg->{out} . $bg->{err}, "55|eu-west1\n",
	'it is redirected to eu-west1 and counts one row (neither refused at us-east1 nor lost)');
wait_all();
is(everywhere("SELECT v || ':' || region FROM items WHERE id = 5"),
	'55:eu-west1 / 55:eu-west1 / 55:eu-west1', 'every region holds the redirected write');

# 6. A row rehomed while its new home writes it: ap-east1 receives eu-west1's
# write before us-east1's rehoming (separate streams) and still ends alike.
$ap->safe_psql('postgres', "SELECT locality.pause_replication('us-east1')");
$us->safe_psql('postgres', "UPDATE items SET region = 'eu-west1', v = 60 WHERE id = 6");
$eu->poll_query_until('postgres', "SELECT region = 'eu-west1' FROM items WHERE id = 6")
  or die 'eu-west1 did not apply the rehoming';
$eu->safe_psql('postgres', "SET locality.enforce_home_region = on; UPDATE items SET v = 66 WHERE id = 6");
$ap->poll_query_until('postgres', "SELECT v = 66 FROM items WHERE id = 6")
  or die 'ap-east1 did not apply eu-west1\'s write';
$ap->safe_psql('postgres', "SELECT locality.resume_replication('us-east1')");
wait_all();
is(everywhere("SELECT v || ':' || region FROM items WHERE id = 6"),
	'66:eu-west1 / 66:eu-west1 / 66:eu-west1',
	'the late rehoming does not overwrite the new home\'s write anywhere');
is($ap->safe_psql('postgres',
	"SELECT string_agg(kind || ':' || resolution || ':' || remote_region, ' ' ORDER BY remote_commit_ts DESC) "
	. "FROM locality.conflicts WHERE table_name = 'items'::regclass AND remote_tuple->>'id' = '6'"),
	'update_origin_differs:apply_remote:eu-west1 update_origin_differs:keep_local:us-east1',
	'ap-east1 logged both changes of the race: the new home\'s write applied, the late rehoming not');

is(everywhere("SELECT string_agg(id || '=' || v || ':' || region, ' ' ORDER BY id) FROM items"),
	join(' / ', ('1=12:eu-west1 2=22:ap-east1 3=33:eu-west1 4=44:eu-west1 5=55:eu-west1 6=66:eu-west1') x 3),
	'all regions hold identical rows');

done_testing();
