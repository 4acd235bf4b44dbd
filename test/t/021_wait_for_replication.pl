# locality.wait_for_replication() on an idle source returns once everything
# the source wrote is processed, also when the source's WAL ends exactly at
# a page boundary: pg_current_wal_insert_lsn() then names the position after
# the next page's header, where no record ends, so the stream never got
# there until the source wrote and flushed more WAL (on an idle server, the
# bgwriter's next standby snapshot: 15 s and more away).  The waiter now
# takes the page's start.  It waits with a timeout of 1 s, far below what
# the source would take on its own: "true" means the position was
# reachable, not that it was fast.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my ($us, $eu) = LocalityCluster::start_regions(qw(us-east1 eu-west1));
LocalityCluster::join_regions($us, $eu);
$us->safe_psql('postgres',
	q{CREATE TABLE w (id int PRIMARY KEY, v text) WITH (locality = 'REGIONAL BY ROW')});
ok(LocalityCluster::drain($us, $eu), 'both regions drained');

# One session each, kept open: no connection set-up writes WAL meanwhile.
my $waiter = $us->background_psql('postgres');
my $source = $eu->background_psql('postgres');
is($waiter->query_safe(q{SELECT locality.wait_for_replication('eu-west1', '60s')}), 't',
	'the waiter is connected to eu-west1 and caught up');

# --- WAL ending at a page boundary -----------------------------------------
# A transaction whose commit record ends exactly at the end of a page: its
# logical message is sized for that, from the sizes the previous attempt
# showed (others may write WAL meanwhile: then try again).
my $page = $source->query_safe(q{SELECT current_setting('wal_block_size')});
sub position { $source->query_safe(q{SELECT pg_current_wal_insert_lsn() - '0/0'}) }
sub commit_message
{
	my ($len) = @_;
	$source->query_safe('BEGIN');
	$source->query_safe("SELECT pg_logical_emit_message(true, 'p', repeat('x', $len))");
	$source->query_safe('COMMIT');
}
my $aligned = 0;
for my $attempt (1 .. 30)
{
	# Calibrate: a 300-byte message and its commit, on one page.
	my $before = position();
	commit_message(300);
	my $after = position();
	next if int($before / $page) != int($after / $page);
	# The message record is 24 (header) + 5 (data header) + 24 (message
	# header) + 2 (prefix) + length bytes, 8-aligned; the rest is the commit.
	my $message = 24 + 5 + 24 + 2 + 300;
	$message += (8 - $message % 8) % 8;
	my $commit = $after - $before - $message;
	my $room = $page - $after % $page;
	my $len = $room - $commit - 55;
	if ($len < 300)
	{
		commit_message(1000);    # too close to the page's end: move on
		next;
	}
	commit_message($len);
	my ($offset, $flushed) = split /\|/, $source->query_safe(
		q{SELECT (pg_current_wal_insert_lsn() - '0/0') % current_setting('wal_block_size')::int,
		         pg_current_wal_flush_lsn() = pg_current_wal_insert_lsn() - 24});
	if ($offset == 24 && $flushed eq 't')
	{
		$aligned = 1;
		last;
	}
}
ok($aligned, 'eu-west1\'s WAL ends at a page boundary, flushed');
is($waiter->query_safe(q{SELECT locality.wait_for_replication('eu-west1', '1s')}), 't',
	'wait_for_replication gets to a source position at a page boundary');

# Read-your-writes uses the same position: a forwarded write is read back.
$waiter->query_safe(q{INSERT INTO w VALUES (1, 'forwarded', 'eu-west1')});
is($waiter->query_safe(q{SELECT v FROM w WHERE id = 1}), 'forwarded',
	'a forwarded write is read back');

$waiter->quit;
$source->quit;
done_testing();
