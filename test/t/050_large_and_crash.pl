# A one-million-row transaction replicates without either side holding it
# in memory (the sender's reorder buffer spills it to disk; the receiver
# applies it change by change), and kill -9 of an apply worker mid-stream
# loses nothing and applies nothing twice.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my $us = LocalityCluster::new_region('us-east1');
# eu-west1 survives a killed child: the postmaster resets and recovers.
my $eu = LocalityCluster::new_region('eu-west1', conf => "restart_after_crash = on\n");
$_->start for ($us, $eu);
$us->safe_psql('postgres', 'CREATE EXTENSION pg_locality');
LocalityCluster::join_regions($us, $eu);
$us->safe_psql('postgres', q{
	CREATE TABLE big (id bigint PRIMARY KEY, md5 text, n int) WITH (locality = 'GLOBAL');
	CREATE TABLE counters (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0) WITH (locality = 'GLOBAL');
	INSERT INTO counters SELECT i FROM generate_series(1, 50) i;
});
is($eu->safe_psql('postgres', "SELECT locality.wait_for_replication(NULL, '60s')"), 't', 'set up');

# One transaction, one million rows.
$us->safe_psql('postgres',
	'INSERT INTO big SELECT i, md5(i::text), i % 1000 FROM generate_series(1, 1000000) i');
is($eu->safe_psql('postgres', "SELECT locality.wait_for_replication('us-east1', '600s')"), 't',
	'the million-row transaction drained');
is($eu->safe_psql('postgres', 'SELECT count(*), sum(n) FROM big'), '1000000|499500000',
	'every row arrived');
cmp_ok($us->safe_psql('postgres',
	q{SELECT spill_bytes FROM pg_stat_replication_slots WHERE slot_name LIKE 'pg_locality_r%'}),
	'>', 0, 'the sender spilled the transaction to disk instead of holding it');
my $apply_pid = $eu->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_locality apply'});
open(my $status, '<', "/proc/$apply_pid/status") or die "no /proc/$apply_pid/status";
my ($peak_kb) = join('', <$status>) =~ /^VmHWM:\s+(\d+) kB/m;
close $status;
cmp_ok($peak_kb, '<', 100_000, "the apply worker's peak memory stayed small ($peak_kb kB)");

# kill -9 of the apply worker while increments stream in.
my $bg = $us->background_psql('postgres');
$bg->query_until(qr/started/, q{
	\echo started
	DO $$ BEGIN FOR i IN 1..2000 LOOP UPDATE counters SET n = n + 1 WHERE id = 1 + i % 50; COMMIT; END LOOP; END $$;
	\echo done
});
ok($eu->poll_query_until('postgres', 'SELECT sum(n) > 300 FROM counters'), 'increments flowing');
$apply_pid = $eu->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_locality apply'});
kill 'KILL', $apply_pid;
$bg->query_until(qr/done/, '');
$bg->quit;
ok($eu->poll_query_until('postgres', 'SELECT true'), 'eu-west1 is back after the reset');
is($eu->safe_psql('postgres', "SELECT locality.wait_for_replication('us-east1', '120s')"), 't',
	'drained after the kill');
is($eu->safe_psql('postgres', 'SELECT sum(n) FROM counters'), '2000',
	'every increment applied exactly once');
is($eu->safe_psql('postgres', 'SELECT count(*) FROM big'), '1000000', 'nothing lost in the reset');

# kill -9 of the sending server mid-stream: what it committed arrives once.
my $bg2 = $us->background_psql('postgres', on_error_stop => 0);
$bg2->query_until(qr/started/, q{
	\echo started
	DO $$ BEGIN FOR i IN 1..100000 LOOP UPDATE counters SET n = n + 1 WHERE id = 1 + i % 50; COMMIT; END LOOP; END $$;
});
ok($eu->poll_query_until('postgres', 'SELECT sum(n) > 2300 FROM counters'), 'increments flowing again');
# Read just before the kill: the receiver drains what is left while the
# sender restarts, so a read after the restart may already be complete.
my $at_kill = $eu->safe_psql('postgres', 'SELECT sum(n) FROM counters');
LocalityCluster::kill9_and_restart($us);
eval { $bg2->quit };
is($eu->safe_psql('postgres', "SELECT locality.wait_for_replication('us-east1', '120s')"), 't',
	'drained after the sender came back');
my $committed = $us->safe_psql('postgres', 'SELECT sum(n) FROM counters');
cmp_ok($committed, '>', 2300, "the sender committed increments before it was killed ($committed)");
cmp_ok($at_kill, '<', $committed, "the sender was still committing when it died ($at_kill applied just before)");
is($eu->safe_psql('postgres', 'SELECT sum(n) FROM counters'), $committed,
	'the receiver holds exactly what the sender committed');

done_testing();
