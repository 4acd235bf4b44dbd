# Grouped commits (apply.c, locality.apply_group_size) against conflicts:
# a receiver (eu-west1) applies same-millisecond groups of us-east1's
# transactions while it also holds conflicting writes of its own (later) and
# of a third region (ap-east1, earlier and concurrent).  Each scenario runs
# twice on fresh tables, once with grouping (apply_group_size = 64) and once
# without (1); after draining, every region must hold identical rows, and
# the rows of the two runs must be the same: a group decides every conflict
# as its members would one by one.
#
# The scenarios: GLOBAL last_write_wins (a second write to a row whose first
# write lost, a delete and re-insert of a key), last_write_wins_column (a
# second write to a column an earlier member took while the row kept a
# later local stamp), CRDT columns with a delete and re-insert of the key in
# one group, a unique non-key column, REGIONAL BY ROW new-key insert races,
# a group whose last inserts' deferred tombstone check runs when a later
# transaction begins (tomb), and members sent in several messages (big: no
# change may be applied outside a transaction, none twice).  Only
# transactions whose stamp is derived can be grouped (a delete, an update
# in column mode store theirs): those are groups of one.  The statements
# that should share a local commit are run in "chunks", each started right
# after a millisecond boundary, each transaction with a mark (table marks)
# that eu-west1 applies 5 ms slower, so the stream runs ahead of it; a chunk
# eu-west1 still applied in more than one commit is retried on fresh tables
# (at most 4 times).  How many local commits were used is printed.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1 ap-east1));
my ($us, $eu, $ap) = @nodes;
LocalityCluster::join_regions(@nodes);
for my $node (@nodes)
{
	$node->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM locality.replication_status WHERE state = 'streaming'})
	  or die $node->name . ' does not stream';
}

sub drain
{
	LocalityCluster::drain(@nodes) or die 'replication did not drain';
}

sub set_pause
{
	my ($target, $source, $pause) = @_;
	my $fn = $pause ? 'pause_replication' : 'resume_replication';
	$target->safe_psql('postgres', "SELECT locality.$fn('" . $source->name . "')");
	return unless $pause;
	$target->poll_query_until('postgres', "SELECT state = 'paused' FROM locality.replication_status WHERE source_region = '"
		  . $source->name . "'") or die 'replication did not pause';
}

# The paths that must see a same-millisecond group: eu-west1 and ap-east1
# from us-east1, us-east1 from ap-east1 (ap-east1's write is concurrent).
my @paused = ([ $eu, $us ], [ $ap, $us ], [ $us, $ap ]);

# burst($tag, $chunks): runs each chunk's statements on us-east1 as one
# transaction each (synchronous_commit off), each chunk right after a
# millisecond boundary.  Each transaction also inserts a mark (tag, chunk,
# n) into marks, so that the receiver's local commits per chunk show.
sub burst
{
	my ($tag, $chunks, $raw) = @_;
	# First a few transactions of their own, while the apply catches up.
	my $body = join('', map { "INSERT INTO marks VALUES ('$tag', " . (1000 + $_) . ", 0); COMMIT;\n" } 1 .. 5);
	for my $c (0 .. $#$chunks)
	{
		# A new millisecond: after a transaction whose stamp was stored (a
		# delete), every other one of its millisecond stores its stamp too.
		$body .= "t0 := date_trunc('milliseconds', clock_timestamp());\n"
		  . "LOOP EXIT WHEN date_trunc('milliseconds', clock_timestamp()) > t0; END LOOP;\n";
		my $n = 0;
		# The mark first: a transaction's last change is the scenario's
		# (a GLOBAL insert then stays pending at its commit, CheckPendingInserts).
		$body .= "INSERT INTO marks VALUES ('$tag', $c, " . $n++ . "); $_; COMMIT;\n" for @{ $chunks->[$c] };
	}
	$body .= $raw if $raw;
	$us->safe_psql('postgres', "SET synchronous_commit = off; DO \$\$ DECLARE t0 timestamptz; BEGIN\n$body END \$\$");
}

# split_chunks($tag): chunks that us-east1 committed over more than one
# millisecond, and that eu-west1 applied in more than one local commit.
sub split_chunks
{
	my ($tag) = @_;
	my $q = q{SELECT count(*) FROM (SELECT chunk FROM marks WHERE tag = '%s'
		GROUP BY chunk HAVING count(DISTINCT %s) > 1) s};
	return (
		$us->safe_psql('postgres',
			sprintf($q, $tag, q{date_trunc('milliseconds', pg_xact_commit_timestamp(xmin))})),
		$eu->safe_psql('postgres', sprintf($q, $tag, 'xmin::text')));
}

sub rows_everywhere { LocalityCluster::same_everywhere(\@nodes, @_) }

my %saved;

# run($s, $size): scenario $s on fresh tables, apply_group_size $size;
# returns the final rows (those of us-east1, compared with the others).
sub run
{
	my ($s, $size) = @_;
	for my $attempt (1 .. 4)
	{
		my $t = "$s->{name}_${size}_$attempt";
		my $sub = sub { my $sql = shift; $sql =~ s/%T/$t/g; return $sql; };
		$us->safe_psql('postgres', $sub->($s->{create}));
		$_->poll_query_until('postgres', "SELECT count(*) = 1 FROM locality.tables WHERE table_name::text = '$t'"
			  . ($s->{mode} ? " AND conflict_resolution = '$s->{mode}'" : ''))
		  or die "$t did not reach " . $_->name
		  for @nodes;
		$us->safe_psql('postgres', $sub->($s->{init})) if $s->{init};
		drain();
		my $outside_before = () = slurp_file($eu->logfile) =~ /sent a change outside a transaction/g;
		my %node = (us => $us, eu => $eu, ap => $ap);
		my @pauses = (@paused, map { [ $node{ $_->[0] }, $node{ $_->[1] } ] } @{ $s->{pause} // [] });
		set_pause(@$_, 1) for @pauses;
		$eu->safe_psql('postgres', $sub->($s->{eu_before})) if $s->{eu_before};
		if ($s->{ap})
		{
			$ap->safe_psql('postgres', $sub->($s->{ap}));
			$eu->safe_psql('postgres', "SELECT locality.wait_for_replication('ap-east1', '60s')") eq 't'
			  or die 'eu-west1 did not apply ap-east1';
		}
		burst($t, [ map { [ map { $sub->($_) } @$_ ] } @{ $s->{burst} } ], $s->{raw} ? $sub->($s->{raw}) : undef);
		$eu->safe_psql('postgres', $sub->($s->{eu})) if $s->{eu};
		$us->safe_psql('postgres', $sub->($s->{us_after})) if $s->{us_after};
		set_pause(@$_, 0) for @pauses;
		drain();
		my ($ms_split, $split) = split_chunks($t);
		if ($size > 1 && $split > 0 && $attempt < 4 && !$s->{no_retry})
		{
			note("$t: $split chunk(s) applied in more than one commit ($ms_split over two milliseconds at the source): again on fresh tables");
			next;
		}
		my $rows = rows_everywhere($sub->($s->{rows}), "$s->{name}, apply_group_size $size");
		my ($sources, $locals) = split /\|/, $eu->safe_psql('postgres',
			"SELECT count(*), count(DISTINCT xmin::text) FROM marks WHERE tag = '$t'");
		my $commits = "$sources source transactions in $locals local commits";
		$saved{$size}{sources} += $sources;
		$saved{$size}{locals} += $locals;
		my $stored = $us->safe_psql('postgres', "SELECT count(*) FROM marks m JOIN locality.commit_stamps c ON c.xid = m.xmin::text::bigint WHERE m.tag = '$t'");
		diag("$t on eu-west1: $commits ($stored with a stored stamp) ($split chunk(s) split, $ms_split over two milliseconds at the source); conflicts logged: "
			  . $eu->safe_psql('postgres', "SELECT count(*) FROM locality.conflicts WHERE table_name::text = '$t'"));
		if ($s->{name} eq 'big')
		{
			is($eu->safe_psql('postgres', "SELECT count(*) FROM locality.conflicts WHERE table_name::text = '$t'"),
				'0', "big, apply_group_size $size: no conflict (no member applied twice)");
			my $outside = () = slurp_file($eu->logfile) =~ /sent a change outside a transaction/g;
			is($outside - $outside_before, 0, "big, apply_group_size $size: no change applied outside a transaction");
		}
		diag($eu->safe_psql('postgres', "SELECT kind, resolution, local_tuple, remote_tuple, local_hlc, remote_hlc FROM locality.conflicts WHERE table_name::text = '$t' ORDER BY 1, 3, 4"))
		  if $ENV{GROUP_DEBUG};
		return $rows;
	}
}

# Each chunk of more than one transaction holds only transactions whose
# stamp is derived (the source stores none: no delete, no update in column
# mode), the ones a group may hold; a delete, or an update in column mode,
# is a chunk of its own.
my @scenarios = (
	{
		name => 'lww',
		create => q{CREATE TABLE %T (id int PRIMARY KEY, v text, w text) WITH (locality = 'GLOBAL')},
		init => q{INSERT INTO %T SELECT i, 'init', 'init' FROM generate_series(1, 8) i},
		ap => q{UPDATE %T SET w = 'ap' WHERE id IN (1, 4)},
		burst => [
			# Row 1: both lose to eu-west1's later write (the second one to
			# the row the group's first write left with a kept stamp); row 4
			# wins over ap-east1's earlier one, twice.
			[ q{UPDATE %T SET v = 'us1' WHERE id = 1}, q{UPDATE %T SET v = 'us2', w = 'us2' WHERE id = 1},
			  q{UPDATE %T SET v = 'us3' WHERE id = 4}, q{UPDATE %T SET w = 'us4' WHERE id = 4} ],
			# Row 3: deleted, then inserted again and updated in one group
			# (over eu-west1's later update); row 9: inserted and updated
			# (over eu-west1's later insert of the key).
			[ q{DELETE FROM %T WHERE id = 3} ],
			[ q{INSERT INTO %T VALUES (3, 'us6', 'us6')}, q{UPDATE %T SET v = 'us7' WHERE id = 3},
			  q{INSERT INTO %T VALUES (9, 'us9', 'us9')}, q{UPDATE %T SET w = 'us10' WHERE id = 9} ],
			[ q{UPDATE %T SET v = 'us8' WHERE id = 2}, q{UPDATE %T SET w = 'us8' WHERE id = 6} ],
			[ q{DELETE FROM %T WHERE id = 2} ],
		],
		eu => q{UPDATE %T SET v = 'eu', w = 'eu' WHERE id IN (1, 2); UPDATE %T SET w = 'eu' WHERE id = 3;
			DELETE FROM %T WHERE id = 5; INSERT INTO %T VALUES (9, 'eu', 'eu')},
		rows => q{SELECT string_agg(id || ':' || v || ':' || w, ' ' ORDER BY id) FROM %T},
	},
	{
		name => 'col',
		mode => 'last_write_wins_column',
		create => q{CREATE TABLE %T (id int PRIMARY KEY, a text, b text, x text) WITH (locality = 'GLOBAL');
			SELECT locality.set_conflict_resolution('%T', 'last_write_wins_column')},
		init => q{INSERT INTO %T SELECT i, 'init', 'init', 'init' FROM generate_series(1, 4) i},
		ap => q{UPDATE %T SET x = 'ap' WHERE id = 1; INSERT INTO %T VALUES (6, 'ap', 'ap', 'ap')},
		burst => [
			# Row 1: one transaction takes b while a loses to eu-west1's
			# later write (the row keeps that stamp), then writes b again.
			[ q{UPDATE %T SET a = 'us1', b = 'us1' WHERE id = 1; UPDATE %T SET b = 'us2' WHERE id = 1} ],
			[ q{UPDATE %T SET x = 'us3' WHERE id = 1} ],
			# Inserts are the writes in column mode whose stamps are derived.
			[ q{INSERT INTO %T VALUES (5, 'us5', 'us5', 'us5')}, q{INSERT INTO %T VALUES (6, 'us6', 'us6', 'us6')},
			  q{INSERT INTO %T VALUES (7, 'us7', 'us7', 'us7')} ],
			[ q{UPDATE %T SET b = 'us8' WHERE id = 5} ],
			[ q{UPDATE %T SET a = 'us9' WHERE id = 3} ],
		],
		eu => q{UPDATE %T SET a = 'eu' WHERE id IN (1, 3); INSERT INTO %T VALUES (5, 'eu', 'eu', 'eu')},
		rows => q{SELECT string_agg(id || ':' || a || ':' || b || ':' || x, ' ' ORDER BY id) FROM %T},
	},
	{
		name => 'crdt',
		create => q{CREATE TABLE %T (id int PRIMARY KEY, v text,
			p locality.pncounter NOT NULL DEFAULT '0', s locality.orset NOT NULL DEFAULT '{}')
			WITH (locality = 'GLOBAL')},
		init => q{INSERT INTO %T (id, v, p, s) SELECT i, 'init', '10', '{a}' FROM generate_series(1, 3) i},
		ap => q{UPDATE %T SET p = p + 100, s = locality.add(s, 'ap') WHERE id IN (1, 2)},
		burst => [
			[ q{UPDATE %T SET p = p + 1, s = locality.add(s, 'u1') WHERE id = 1},
			  q{UPDATE %T SET p = p - 3, s = locality.remove(s, 'a') WHERE id = 2},
			  q{UPDATE %T SET p = p + 4, v = 'us' WHERE id = 2} ],
			# Key 1 deleted (its stamp is stored: a group of its own), then
			# inserted again and incremented in one group.
			[ q{DELETE FROM %T WHERE id = 1} ],
			[ q{INSERT INTO %T (id, v, p, s) VALUES (1, 'us', '5', '{u2}')},
			  q{UPDATE %T SET p = p + 2, s = locality.add(s, 'u3') WHERE id = 1},
			  q{UPDATE %T SET p = p + 3, v = 'us2' WHERE id = 1} ],
			[ q{DELETE FROM %T WHERE id = 3} ],
			[ q{INSERT INTO %T (id, v, p, s) VALUES (3, 'us', '7', '{u4}')},
			  q{UPDATE %T SET p = p + 1 WHERE id = 3} ],
		],
		eu => q{UPDATE %T SET p = p + 1000, s = locality.add(s, 'eu') WHERE id IN (1, 2, 3)},
		rows => q{SELECT string_agg(id || ':' || v || ':' || p::bigint || ':' || s::text, ' ' ORDER BY id) FROM %T},
	},
	{
		name => 'uniq',
		create => q{CREATE TABLE %T (id int PRIMARY KEY, email text UNIQUE, v text) WITH (locality = 'GLOBAL')},
		init => q{INSERT INTO %T VALUES (1, 'e1', 'init'), (2, 'e2', 'init'), (3, 'e3', 'init')},
		ap => q{UPDATE %T SET email = 'x' WHERE id = 3},
		burst => [
			[ q{UPDATE %T SET email = 'x' WHERE id = 1}, q{UPDATE %T SET email = 'y' WHERE id = 1},
			  q{INSERT INTO %T VALUES (4, 'x', 'us')} ],
			[ q{INSERT INTO %T VALUES (5, 'p', 'us')}, q{UPDATE %T SET email = 'q' WHERE id = 5},
			  q{INSERT INTO %T VALUES (6, 'p', 'us')}, q{UPDATE %T SET v = 'us2' WHERE id = 6} ],
		],
		eu => q{UPDATE %T SET email = 'y' WHERE id = 2; INSERT INTO %T VALUES (7, 'q', 'eu')},
		rows => q{SELECT string_agg(id || ':' || email || ':' || v, ' ' ORDER BY id) FROM %T},
	},
	{
		# The deferred tombstone check of a group's last inserts runs when
		# the next transaction, of a later stamp, begins: it must decide
		# them with their own stamp (us-east1 inserts keys eu-west1 deleted
		# later, before us-east1's next transaction).
		name => 'tomb',
		pause => [ [ 'us', 'eu' ] ],
		create => q{CREATE TABLE %T (id int PRIMARY KEY, v text) WITH (locality = 'GLOBAL')},
		init => q{INSERT INTO %T VALUES (100, 'init')},
		eu_before => q{INSERT INTO %T VALUES (1, 'eu'), (2, 'eu'), (3, 'eu')},
		burst => [
			[ q{INSERT INTO %T VALUES (1, 'us')}, q{INSERT INTO %T VALUES (2, 'us')},
			  q{INSERT INTO %T VALUES (3, 'us')} ],
		],
		eu => q{DELETE FROM %T WHERE id IN (1, 2, 3)},
		us_after => q{UPDATE %T SET v = 'us' WHERE id = 100},
		rows => q{SELECT string_agg(id || ':' || v, ' ' ORDER BY id) FROM %T},
	},
	{
		# A member too large for one message of the stream: the group must
		# not be committed between its messages (no complete message
		# buffered, or the worker's every-256-messages work).
		name => 'big',
		create => q{CREATE TABLE %T (id int PRIMARY KEY, v text) WITH (locality = 'GLOBAL');
			ALTER TABLE %T ALTER COLUMN v SET STORAGE EXTERNAL},
		burst => [],
		no_retry => 1,
		# 30 times: a small transaction, then in the same millisecond one
		# of two rows of 70 kB (several messages of the stream), made in a
		# second session (dblink) before and committed right after.
		raw => q{
			PERFORM dblink_connect('big', 'CONNSTR');
			PERFORM dblink_exec('big', 'SET synchronous_commit = off');
			-- First a row of 1.5 MB: the receiver's buffer grows to hold it,
			-- so that later reads take several messages at once.
			INSERT INTO %T VALUES (1, repeat('y', 1500000));
			COMMIT;
			FOR c IN 1 .. 30 LOOP
				PERFORM dblink_exec('big', 'BEGIN');
				PERFORM dblink_exec('big', format('INSERT INTO marks VALUES (%L, %s, 1)', '%T', c));
				PERFORM dblink_exec('big', format(
					'INSERT INTO %T SELECT %s + i, repeat(''x'', 70000) FROM generate_series(1, 2) i', c * 10));
				t0 := date_trunc('milliseconds', clock_timestamp());
				LOOP EXIT WHEN date_trunc('milliseconds', clock_timestamp()) > t0; END LOOP;
				INSERT INTO marks VALUES ('%T', c, 0);
				INSERT INTO %T VALUES (c * 10, 'small');
				COMMIT;
				PERFORM dblink_exec('big', 'COMMIT');
			END LOOP;
			PERFORM dblink_disconnect('big');
		},
		rows => q{SELECT string_agg(id || ':' || md5(v), ' ' ORDER BY id) FROM %T},
	},
	{
		name => 'rbr',
		create => q{CREATE TABLE %T (id int PRIMARY KEY, v text) WITH (locality = 'REGIONAL BY ROW')},
		init => q{INSERT INTO %T (id, v) VALUES (100, 'init')},
		ap => q{INSERT INTO %T (id, v) VALUES (1, 'ap'), (3, 'ap')},
		burst => [
			[ q{INSERT INTO %T (id, v) VALUES (1, 'us')}, q{UPDATE %T SET v = 'us2' WHERE id = 1},
			  q{INSERT INTO %T (id, v) VALUES (2, 'us')}, q{UPDATE %T SET v = 'us2' WHERE id = 2} ],
			[ q{INSERT INTO %T (id, v) VALUES (3, 'us')}, q{INSERT INTO %T (id, v) VALUES (4, 'us')},
			  q{UPDATE %T SET v = 'us4' WHERE id = 4}, q{UPDATE %T SET v = 'us5' WHERE id = 100} ],
		],
		eu => q{INSERT INTO %T (id, v) VALUES (2, 'eu'), (4, 'eu')},
		rows => q{SELECT string_agg(id || ':' || v || ':' || region, ' ' ORDER BY id) FROM %T},
	},
);

$us->safe_psql('postgres', q{CREATE TABLE marks (tag text, chunk int, n int, PRIMARY KEY (tag, chunk, n))
	WITH (locality = 'REGIONAL BY TABLE IN "us-east1"')});
$us->safe_psql('postgres', 'SET locality.remote_apply = on; CREATE EXTENSION dblink');
$_->{raw} =~ s/CONNSTR/LocalityCluster::connstr($us)/e for grep { $_->{raw} } @scenarios;
$eu->poll_query_until('postgres', q{SELECT count(*) = 1 FROM locality.tables WHERE table_name::text = 'marks'})
  or die 'marks did not reach eu-west1';
# eu-west1 applies a mark 5 ms slower: the stream is ahead of its apply, so
# that a burst's transactions are buffered together (as under a backlog).
$eu->safe_psql('postgres', q{
	SET locality.remote_apply = on;
	CREATE FUNCTION slow_apply() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_sleep(0.005); RETURN NEW; END $$;
	CREATE TRIGGER slow_apply BEFORE INSERT ON marks FOR EACH ROW EXECUTE FUNCTION slow_apply();
	ALTER TABLE marks ENABLE ALWAYS TRIGGER slow_apply;
});
my @only = split /,/, ($ENV{GROUP_SCENARIOS} // '');
@scenarios = grep { my $n = $_->{name}; !@only || grep { $_ eq $n } @only } @scenarios;

my %result;
for my $size (64, 1)
{
	for my $node (@nodes)
	{
		$node->safe_psql('postgres',
			"ALTER SYSTEM SET locality.apply_group_size = $size; SELECT pg_reload_conf()");
	}
	drain();
	$result{$size}{ $_->{name} } = run($_, $size) for @scenarios;
}
cmp_ok($saved{64}{locals}, '<', $saved{64}{sources},
	"apply_group_size 64: eu-west1 applied $saved{64}{sources} source transactions in $saved{64}{locals} local commits");
is($saved{1}{locals}, $saved{1}{sources},
	"apply_group_size 1: eu-west1 applied $saved{1}{sources} source transactions in as many local commits");
for my $s (@scenarios)
{
	is($result{64}{ $s->{name} }, $result{1}{ $s->{name} },
		"$s->{name}: grouped apply ends with the rows per-transaction apply ends with");
	diag("$s->{name}: $result{1}{ $s->{name} }");
}

done_testing();
