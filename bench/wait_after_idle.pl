# bench/wait_after_idle.pl -- how long locality.wait_for_replication() and a
# read-your-writes read take right after a forwarded two-phase commit on an
# otherwise idle cluster.  Run it with bench/wait_after_idle.sh.
#
# Three regions on this machine.  ITERATIONS times: the cluster idles IDLE_S
# seconds (pg_sleep), then us-east1 commits a transaction that writes a row
# homed here and one homed in eu-west1 (PREPARE TRANSACTION there, local
# commit, COMMIT PREPARED), then, on us-east1, times
#   wait   : SELECT locality.wait_for_replication(NULL, '60s')
#   ryw    : (a fresh transaction first) a read of the table, which waits until
#            eu-west1's commit is applied here (locality.read_your_writes)
# in one session kept open (its connections to the other regions are made
# once, as in a pooled application), and, before the wait, how far each
# source's WAL insert position is ahead of its flush position (bytes the
# walsender cannot decode yet).  Reports each iteration and the median / max
# per measure.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use LocalityCluster;

my $n = $ENV{ITERATIONS} // 10;
my $idle = $ENV{IDLE_S} // 3;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1 ap-east1));
my ($us, $eu, $ap) = @nodes;
LocalityCluster::join_regions(@nodes);
$us->safe_psql('postgres',
	"CREATE TABLE w (id bigserial PRIMARY KEY, v text) WITH (locality = 'REGIONAL BY ROW')");
ok(LocalityCluster::drain(@nodes), 'drained');

my $session = $us->background_psql('postgres');
$session->query_safe(q{SELECT locality.wait_for_replication(NULL, '60s')});	# connects
my (@wait, @ryw);
for my $i (1 .. $n)
{
	$us->safe_psql('postgres', "SELECT pg_sleep($idle)");
	$us->safe_psql('postgres', q{
		BEGIN;
		INSERT INTO w (v, region) VALUES ('here', 'us-east1');
		INSERT INTO w (v, region) VALUES ('there', 'eu-west1');
		COMMIT;
	});
	my $gap = join(' ', map {
		$_->name . '=' . $_->safe_psql('postgres',
			'SELECT pg_current_wal_insert_lsn() - pg_current_wal_flush_lsn()')
	} ($eu, $ap));
	my $t0 = time;
	my $ok = $session->query_safe(q{SELECT locality.wait_for_replication(NULL, '60s')});
	my $t1 = time;
	$session->query_safe(q{SELECT count(*) FROM w WHERE region = 'eu-west1'});
	my $t2 = time;
	push @wait, ($t1 - $t0) * 1000;
	push @ryw, ($t2 - $t1) * 1000;
	diag(sprintf('iteration %2d: wait_for_replication %8.1f ms (%s), ryw read %6.1f ms; insert-flush gap %s',
		$i, $wait[-1], $ok, $ryw[-1], $gap));
}

sub median { my @s = sort { $a <=> $b } @_; return $s[ int($#s / 2) ]; }
sub max { my @s = sort { $a <=> $b } @_; return $s[-1]; }
diag(sprintf('wait_for_replication: median %.1f ms, max %.1f ms over %d', median(@wait), max(@wait), $n));
diag(sprintf('read-your-writes read: median %.1f ms, max %.1f ms', median(@ryw), max(@ryw)));
$session->quit;
ok(1, 'measured');
done_testing();
