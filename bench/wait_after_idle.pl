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
# Then ITERATIONS times the same commit followed at once by the read alone
# (no wait_for_replication first): what read-your-writes costs by itself.
# in one session kept open (its connections to the other regions are made
# once, as in a pooled application), and, before the wait, how far each
# source's WAL insert position is ahead of its flush position (bytes the
# walsender cannot decode yet).  Reports each iteration and the median / max
# per measure.
#
# Then BOUNDARY_ITERATIONS times (default 3): eu-west1 commits a transaction
# sized so that its WAL ends exactly at a page boundary (as test/t/021 does),
# and us-east1 times wait_for_replication('eu-west1', '60s').  Before the
# fix of that case the waiter's target lay past the next page's header,
# which the stream reaches only once eu-west1 writes and flushes more WAL.
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

# idle_then_commit: $idle s of quiet, then one transaction writing a local
# row and a row forwarded to eu-west1 (two-phase).
sub idle_then_commit
{
	$us->safe_psql('postgres', "SELECT pg_sleep($idle)");
	$us->safe_psql('postgres', q{
		BEGIN;
		INSERT INTO w (v, region) VALUES ('here', 'us-east1');
		INSERT INTO w (v, region) VALUES ('there', 'eu-west1');
		COMMIT;
	});
}

my $session = $us->background_psql('postgres');
$session->query_safe(q{SELECT locality.wait_for_replication(NULL, '60s')});	# connects
my (@wait, @ryw);
for my $i (1 .. $n)
{
	idle_then_commit();
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

# Read-your-writes alone: the same commit, then at once the read (no
# wait_for_replication before it), which waits for eu-west1's commit.
my @ryw_alone;
for my $i (1 .. $n)
{
	idle_then_commit();
	my $t0 = time;
	$session->query_safe(q{SELECT count(*) FROM w WHERE region = 'eu-west1'});
	push @ryw_alone, (time - $t0) * 1000;
	diag(sprintf('iteration %2d: read-your-writes read right after the commit %8.1f ms',
		$i, $ryw_alone[-1]));
}

# WAL ending at a page boundary on eu-west1 (see test/t/021_wait_for_replication.pl).
my $nb = $ENV{BOUNDARY_ITERATIONS} // 3;
my $source = $eu->background_psql('postgres');
my $page = $source->query_safe(q{SELECT current_setting('wal_block_size')});
sub position { $source->query_safe(q{SELECT pg_current_wal_insert_lsn() - '0/0'}) }
sub commit_message
{
	my ($len) = @_;
	$source->query_safe('BEGIN');
	$source->query_safe("SELECT pg_logical_emit_message(true, 'p', repeat('x', $len))");
	$source->query_safe('COMMIT');
}
sub align_to_page
{
	for my $attempt (1 .. 30)
	{
		my $before = position();
		commit_message(300);
		my $after = position();
		next if int($before / $page) != int($after / $page);
		my $message = 24 + 5 + 24 + 2 + 300;
		$message += (8 - $message % 8) % 8;
		my $commit = $after - $before - $message;
		my $len = $page - $after % $page - $commit - 55;
		if ($len < 300)
		{
			commit_message(1000);
			next;
		}
		commit_message($len);
		my ($offset, $flushed) = split /\|/, $source->query_safe(
			q{SELECT (pg_current_wal_insert_lsn() - '0/0') % current_setting('wal_block_size')::int,
			         pg_current_wal_flush_lsn() = pg_current_wal_insert_lsn() - 24});
		return 1 if $offset == 24 && $flushed eq 't';
	}
	return 0;
}
my @boundary;
for my $i (1 .. $nb)
{
	$us->safe_psql('postgres', "SELECT pg_sleep($idle)");
	next unless align_to_page();
	my $t0 = time;
	my $ok = $session->query_safe(q{SELECT locality.wait_for_replication('eu-west1', '60s')});
	push @boundary, (time - $t0) * 1000;
	diag(sprintf('page boundary %d: wait_for_replication %8.1f ms (%s)', $i, $boundary[-1], $ok));
}
$source->quit;
$session->quit;

sub median { my @s = sort { $a <=> $b } @_; return $s[ int($#s / 2) ]; }
sub max { my @s = sort { $a <=> $b } @_; return $s[-1]; }
diag(sprintf('wait_for_replication: median %.1f ms, max %.1f ms over %d', median(@wait), max(@wait), $n));
diag(sprintf('read-your-writes read: median %.1f ms, max %.1f ms', median(@ryw), max(@ryw)));
diag(sprintf('read-your-writes read right after the commit: median %.1f ms, max %.1f ms over %d',
	median(@ryw_alone), max(@ryw_alone), $n));
diag(sprintf('page boundary: median %.1f ms, max %.1f ms over %d', median(@boundary), max(@boundary), scalar @boundary))
  if @boundary;
ok(1, 'measured');
done_testing();
