# GLOBAL tables converge (ARCHITECTURE.md invariants, SPEC.md section 5):
# three regions issue thousands of random inserts, updates, deletes and CRDT
# increments at the same time, on the same keys, while each region pauses
# and resumes applying the others' changes at random points.  Once writes
# stop and replication drains, every region holds identical rows; counters
# equal the exact sums of the increments this test made (kept here, in
# Perl); each set holds exactly the elements added and not removed; and in
# the last_write_wins_column table each region's own column holds the last
# value that region wrote, although the others updated the same rows
# concurrently.
#
# The run is random: its seed is printed; LOCALITY_SEED=<seed> replays the
# same operations (their interleaving with replication is the machine's).
# Two cases it found are replayed deterministically first.
#
# Rows that are deleted and inserted again (the churn rows) must also end
# with identical CRDT states, and with exactly the figures the definition of
# docs/conflicts.md section 5 gives: a counter is the sum of every increment
# (and inserted value) no delete of the key observed, a set holds every
# element added that no delete observed.  Which statements took effect, and
# what each DELETE observed, are known only at run time: every such
# statement returns a line (RETURNING) saying so, and this test adds up the
# increments itself; from each DELETE it takes the state it removed (its
# RETURNING), whose slots say how much of each region's increments it
# observed.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my $seed = $ENV{LOCALITY_SEED} // int(rand(2**31));
srand($seed);
diag("090_global_convergence: LOCALITY_SEED=$seed");

my $ROUNDS      = 10;     # each: one script per region, run at the same time
my $OPS         = 200;    # data operations per script: 10 * 3 * 200 = 6,000
my $PAUSE_EVERY = 120;    # on average one pause or resume per this many operations
my @COUNTER_IDS = 1 .. 8;       # never deleted: exact counter sums
my @CHURN_IDS   = 101 .. 124;   # inserted, updated, deleted by everyone

my @names = qw(us-east1 eu-west1 ap-east1);
my @nodes = LocalityCluster::start_regions(@names);
LocalityCluster::join_regions(@nodes);
my $us = $nodes[0];

$us->safe_psql('postgres', q{
	CREATE TABLE row_lww (id int PRIMARY KEY, a int NOT NULL DEFAULT 0, b text,
	                      p locality.pncounter NOT NULL DEFAULT '0',
	                      g locality.gcounter NOT NULL DEFAULT '0',
	                      s locality.orset NOT NULL DEFAULT '{}') WITH (locality = 'GLOBAL');
	CREATE TABLE col_lww (id int PRIMARY KEY, r1 int NOT NULL DEFAULT 0, r2 int NOT NULL DEFAULT 0,
	                      r3 int NOT NULL DEFAULT 0, note text,
	                      p locality.pncounter NOT NULL DEFAULT '0',
	                      g locality.gcounter NOT NULL DEFAULT '0',
	                      s locality.orset NOT NULL DEFAULT '{}') WITH (locality = 'GLOBAL');
	SELECT locality.set_conflict_resolution('row_lww', 'last_write_wins');
	SELECT locality.set_conflict_resolution('col_lww', 'last_write_wins_column');
});
for my $node (@nodes)
{
	ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 2 FROM locality.replication_status WHERE state = 'streaming'}),
		$node->name . ' streams from both other regions');
	is($node->safe_psql('postgres',
		q{SELECT string_agg(table_name || '=' || conflict_resolution, ' ' ORDER BY table_name::text) FROM locality.tables}),
		'col_lww=last_write_wins_column row_lww=last_write_wins', 'conflict modes on ' . $node->name);
}

# Two cases the random run below found, replayed deterministically first.
# A remote write that loses on its plain columns but changes a merged column
# rewrites the local row in its apply transaction; the next change from the
# same region must still be decided against the winner's stamp, not applied
# as if the row were that region's own.  us-east1 increments, then updates
# (or deletes); ap-east1, without having seen either, updates later.  The
# later update wins everywhere.  eu-west1 receives ap-east1's update first.
my ($eu, $ap) = @nodes[ 1, 2 ];
$us->safe_psql('postgres', q{INSERT INTO row_lww (id, a, b) VALUES (901, 0, 'start'), (902, 0, 'start')});
ok(LocalityCluster::drain(@nodes), 'rows 901 and 902 everywhere');
$_->safe_psql('postgres', q{SELECT locality.pause_replication('us-east1')}) for ($eu, $ap);
$us->safe_psql('postgres', q{UPDATE row_lww SET p = p + 1 WHERE id IN (901, 902)});
$us->safe_psql('postgres', q{UPDATE row_lww SET a = 1, b = 'us-east1' WHERE id = 901});
$us->safe_psql('postgres', q{DELETE FROM row_lww WHERE id = 902});
$ap->safe_psql('postgres', q{UPDATE row_lww SET a = 2, b = 'ap-east1' WHERE id IN (901, 902)});
is($eu->safe_psql('postgres', q{SELECT locality.wait_for_replication('ap-east1', '60s')}), 't',
	'eu-west1 applied the update of ap-east1');
$_->safe_psql('postgres', q{SELECT locality.resume_replication('us-east1')}) for ($eu, $ap);
ok(LocalityCluster::drain(@nodes), 'drained after the two cases');
for my $node (@nodes)
{
	is($node->safe_psql('postgres', q{SELECT id, a, b FROM row_lww WHERE id > 900 ORDER BY id}),
		"901|2|ap-east1\n902|2|ap-east1",
		'the later update of ap-east1 wins over an earlier update and an earlier delete on ' . $node->name);
}
is($us->safe_psql('postgres', q{SELECT p::bigint FROM row_lww WHERE id = 901}), '1',
	'the losing increment is kept');

# The expected state of the counter rows: $exp{table}{id} = { p, g,
# live => { element => 1 }, r => [ last value written by region 0, 1, 2 ] }.
# Each region inserts its share of the counter rows with initial values,
# credited to it.
my %exp;
for my $t (qw(row_lww col_lww))
{
	for my $id (@COUNTER_IDS)
	{
		my $i = $id % 3;
		$nodes[$i]->safe_psql('postgres',
			"INSERT INTO $t (id, p, g, s) VALUES ($id, '$id', '$id', '{$names[$i].init}')");
		$exp{$t}{$id} = { p => $id, g => $id, live => { "$names[$i].init" => $i }, r => [ 0, 0, 0 ] };
	}
}
ok(LocalityCluster::drain(@nodes), 'counter rows replicated');

# Operations.  Every write writes a value never written before ($v), so an
# update always changes what it touches.
my ($v, $ops) = (0, 0);
my %paused;    # $paused{$i}{$j}: region $i does not apply region $j's changes

# counter_op($i, $t): an operation of region $i on a counter row of $t.
sub counter_op
{
	my ($i, $t) = @_;
	my $id = $COUNTER_IDS[ int rand @COUNTER_IDS ];
	my $e  = $exp{$t}{$id};
	my $x  = rand;
	$v++;
	if ($x < 0.25)
	{
		my $n = 1 + int rand 9;
		if (rand() < 0.5)
		{
			$e->{p} += $n;
			return "UPDATE $t SET p = p + $n WHERE id = $id";
		}
		$e->{p} -= $n;
		return "UPDATE $t SET p = p - $n WHERE id = $id";
	}
	if ($x < 0.40)
	{
		my ($n, $m) = (int rand 10, 1 + int rand 5);
		$e->{g} += $n;
		$e->{p} += $m;
		return "UPDATE $t SET g = g + $n, p = p + $m WHERE id = $id";
	}
	my @mine = sort grep { $e->{live}{$_} == $i } keys %{ $e->{live} };
	if ($x < 0.50 && @mine)
	{
		# Only the region that added an element removes it: its remove has
		# observed the add, and no other region adds the same element.
		my $el = $mine[ int rand @mine ];
		delete $e->{live}{$el};
		return "UPDATE $t SET s = locality.remove(s, '$el') WHERE id = $id";
	}
	if ($x < 0.62)
	{
		my $el = "$names[$i].$v";
		$e->{live}{$el} = $i;
		return "UPDATE $t SET s = locality.add(s, '$el') WHERE id = $id";
	}
	# A plain-column write, concurrent with the other regions' writes and
	# increments of the same row.
	if ($t eq 'row_lww')
	{
		return "UPDATE row_lww SET a = $v, b = '$names[$i]' WHERE id = $id" if rand() < 0.7;
		$e->{p} += 1;
		return "UPDATE row_lww SET a = $v, p = p + 1 WHERE id = $id";
	}
	# col_lww: region $i writes only its own column r<$i+1> of these rows.
	my $col = 'r' . ($i + 1);
	$e->{r}[$i] = $v;
	return "UPDATE col_lww SET $col = $v WHERE id = $id" if rand() < 0.7;
	$e->{g} += 1;
	return "UPDATE col_lww SET $col = $v, g = g + 1 WHERE id = $id";
}

# What the churn statements did: $churn{"opN"} = { t, id, region, what,
# n }, what being 'insert' (p = n, element "$region.n"), 'upsert' (p + 1 and
# g + 1 when it updated), 'decrement_add' (p - 2, element), 'g3' (g + 3) or
# 'delete'.  Filled in from each statement's RETURNING line after the round.
my %churn;
my $churn_op = 0;

# churn_op($i, $t): an operation of region $i on a churn row of $t: any
# region inserts, updates, increments and deletes any of them.  Statements
# that change CRDT state return 'opN' (and more) when they took effect.
sub churn_op
{
	my ($i, $t) = @_;
	my $id = $CHURN_IDS[ int rand @CHURN_IDS ];
	my $x  = rand;
	my $r  = $names[$i];
	$v++;
	my $op = 'op' . ++$churn_op;
	my $track = sub { $churn{$op} = { t => $t, id => $id, region => $i, what => $_[0], n => $v }; };
	my ($cols, $vals, $set);
	if ($t eq 'row_lww')
	{
		($cols, $vals, $set) = ('a, b', "$v, '$r'", "a = $v, b = '$r.$v'");
	}
	else
	{
		my $col = (qw(r1 r2 r3 note))[ int rand 4 ];
		($cols, $vals, $set) = ('r1, r2, note', "$v, $v, '$r'", $col eq 'note' ? "note = '$r.$v'" : "$col = $v");
	}
	if ($x < 0.25)
	{
		$track->('insert');
		return "INSERT INTO $t (id, $cols, p, s) VALUES ($id, $vals, '$v', '{$r.$v}') ON CONFLICT (id) DO NOTHING"
		  . " RETURNING '$op'";
	}
	if ($x < 0.35)
	{
		$track->('upsert');
		return "INSERT INTO $t (id, $cols) VALUES ($id, $vals) ON CONFLICT (id) DO UPDATE SET p = $t.p + 1, g = $t.g + 1"
		  . " RETURNING '$op' || chr(9) || (xmax = 0)::text";
	}
	return "UPDATE $t SET $set WHERE id = $id" if $x < 0.55;
	if ($x < 0.65)
	{
		$track->('decrement_add');
		return "UPDATE $t SET p = p - 2, s = locality.add(s, '$r.$v') WHERE id = $id RETURNING '$op'";
	}
	if ($x < 0.75)
	{
		$track->('g3');
		return "UPDATE $t SET $set, g = g + 3 WHERE id = $id RETURNING '$op'";
	}
	$track->('delete');
	return "DELETE FROM $t WHERE id = $id RETURNING '$op' || chr(9) || p::text || chr(9) || g::text || chr(9) || s::text";
}

# script($i): one round's statements of region $i, one transaction each,
# with pauses and resumes of its apply streams at random points.
sub script
{
	my ($i) = @_;
	my @sql = ('SET synchronous_commit = off');
	for (1 .. $OPS)
	{
		if (rand() < 1 / $PAUSE_EVERY)
		{
			my $j = ($i + 1 + int rand 2) % 3;
			my $fn = $paused{$i}{$j} ? 'resume_replication' : 'pause_replication';
			$paused{$i}{$j} = !$paused{$i}{$j};
			push @sql, "SELECT locality.$fn('$names[$j]')";
		}
		my $t = rand() < 0.5 ? 'row_lww' : 'col_lww';
		push @sql, rand() < 0.5 ? churn_op($i, $t) : counter_op($i, $t);
		$ops++;
	}
	return join(";\n", @sql) . ";\n";
}

my $pauses = 0;
for my $round (1 .. $ROUNDS)
{
	my @jobs = map { [ $nodes[$_], script($_) ] } 0 .. 2;
	$pauses += () = join('', map { $_->[1] } @jobs) =~ /pause_replication/g;
	for my $out (LocalityCluster::psql_concurrently(@jobs))
	{
		for my $line (grep { /^op\d+/ } split /\n/, $out)
		{
			my ($op, @rest) = split /\t/, $line;
			die "unknown statement $op" unless $churn{$op};
			$churn{$op}{done} = 1;
			$churn{$op}{returned} = \@rest;
		}
	}
}
note("$ops data operations in $ROUNDS rounds, $pauses pauses");
cmp_ok($ops, '>=', 5000, "at least 5,000 operations ($ops)");

# Resume whatever is still paused, then drain everywhere.
for my $i (0 .. 2)
{
	for my $j (sort keys %{ $paused{$i} // {} })
	{
		$nodes[$i]->safe_psql('postgres', "SELECT locality.resume_replication('$names[$j]')")
		  if $paused{$i}{$j};
	}
}
ok(LocalityCluster::drain(@nodes), 'replication drained on every region');
for my $node (@nodes)
{
	is($node->safe_psql('postgres',
		q{SELECT count(*) FROM locality.replication_status WHERE state <> 'streaming' OR last_error IS NOT NULL}),
		'0', 'every stream of ' . $node->name . ' streams without error');
}

# The run did make conflicts (else it would prove nothing).
my %kinds;
for my $node (@nodes)
{
	for my $line (split /\n/, $node->safe_psql('postgres',
		q{SELECT table_name::text || ' ' || kind, count(*) FROM locality.conflicts GROUP BY 1 ORDER BY 1}))
	{
		my ($k, $n) = split /\|/, $line;
		$kinds{$k} += $n;
	}
}
note("conflicts: " . join(', ', map { "$_ $kinds{$_}" } sort keys %kinds));
cmp_ok((grep { /^row_lww update_origin_differs/ } keys %kinds), '>', 0,
	'concurrent updates of the same row_lww rows met');
cmp_ok((grep { /^col_lww update_origin_differs/ } keys %kinds), '>', 0,
	'concurrent updates of the same col_lww rows met');

# 1. Identical rows everywhere.
# same_everywhere($what, $sql): every region answers $sql (rows starting with
# an id) as us-east1 does; on a difference, shows the first ten ids that differ.
sub same_everywhere
{
	my ($what, $sql) = @_;
	my @ref = split /\n/, $us->safe_psql('postgres', $sql);
	my %ref = map { (split /\|/)[0] => $_ } @ref;
	for my $node (@nodes[ 1, 2 ])
	{
		my @got = split /\n/, $node->safe_psql('postgres', $sql);
		my %got = map { (split /\|/)[0] => $_ } @got;
		my @diff = grep { ($ref{$_} // '') ne ($got{$_} // '') } sort { $a <=> $b } keys %{ { %ref, %got } };
		ok(!@diff, "$what: " . $node->name . ' holds the same ' . scalar(@got) . ' rows as us-east1 ('
			. scalar(@ref) . ')')
		  or diag(join "\n", map { "id $_: us-east1 " . ($ref{$_} // '(none)') . "\n      "
				. $node->name . ' ' . ($got{$_} // '(none)') } @diff[ 0 .. ($#diff < 9 ? $#diff : 9) ]);
	}
}
same_everywhere('row_lww keys and plain columns', 'SELECT id, a, b FROM row_lww ORDER BY id');
same_everywhere('col_lww keys and plain columns', 'SELECT id, r1, r2, r3, note FROM col_lww ORDER BY id');
for my $t (qw(row_lww col_lww))
{
	same_everywhere("$t CRDT states of the counter rows",
		"SELECT id, p::text, g::text, s::text FROM $t WHERE id < 100 ORDER BY id");
	same_everywhere("$t CRDT states of the rows also deleted and inserted again",
		"SELECT id, p::text, g::text, s::text FROM $t WHERE id BETWEEN 100 AND 900 ORDER BY id");
}

# 2. Counters equal the exact sums of the increments; each set holds what
# was added and not removed.
for my $t (qw(row_lww col_lww))
{
	my $expected = join "\n", map {
		my $e = $exp{$t}{$_};
		join '|', $_, $e->{p}, $e->{g}, '{' . join(',', sort keys %{ $e->{live} }) . '}'
	} @COUNTER_IDS;
	for my $node (@nodes)
	{
		is($node->safe_psql('postgres',
			qq{SELECT id, p::bigint, g::bigint, array(SELECT e FROM unnest(locality.elements(s)) e ORDER BY e COLLATE "C")
			   FROM $t WHERE id < 100 ORDER BY id}),
			$expected, "$t: exact counter sums and set elements on " . $node->name);
	}
}

# 2b. The churn rows: counters equal the exact sums of the increments (and
# inserted values) that no delete observed; sets hold exactly the elements
# added that no delete observed (docs/conflicts.md section 5).
# counter_slots($text): { region => [ count, decrements ] } of a counter's
# full text form; floors are not needed (a delete's floor is its count).
sub counter_slots
{
	my ($text) = @_;
	my %slots;
	my ($body) = $text =~ /^\{(.*)\}$/ or die "not a counter: $text";
	for my $slot (grep { length } split /,/, $body)
	{
		my ($r, $up, $down) = $slot =~ /^([a-z][\w-]*):(\d+)(?:-(\d+))?(?:\/\d+(?:-\d+)?)?$/
		  or die "not a slot: $slot";
		$slots{$r} = [ $up, $down // 0 ];
	}
	return \%slots;
}
# set_elements($text): the elements of an orset's full text form.
sub set_elements
{
	my ($text) = @_;
	my ($body) = $text =~ /^\{(?:\|[^|]*\|)?(.*)\}$/ or die "not an orset: $text";
	return map { (split /@/)[0] } grep { length } split /,/, $body;
}
my $deletes_done = 0;
for my $t (qw(row_lww col_lww))
{
	# Per key: what each region added up ({p}{up|down}{region}, {g}{up}{region}),
	# the elements added, and the highest counts any delete observed.
	my %key;
	for my $op (sort { substr($a, 2) <=> substr($b, 2) } keys %churn)
	{
		my $c = $churn{$op};
		next unless $c->{t} eq $t && $c->{done};
		my $k = $key{ $c->{id} } //= {};
		my $r = $names[ $c->{region} ];
		if ($c->{what} eq 'insert')
		{
			$k->{p}{up}{$r} += $c->{n};
			$k->{added}{"$r.$c->{n}"} = 1;
		}
		elsif ($c->{what} eq 'upsert')
		{
			next if $c->{returned}[0] eq 'true';    # inserted: both counters '0'
			$k->{p}{up}{$r} += 1;
			$k->{g}{up}{$r} += 1;
		}
		elsif ($c->{what} eq 'decrement_add')
		{
			$k->{p}{down}{$r} += 2;
			$k->{added}{"$r.$c->{n}"} = 1;
		}
		elsif ($c->{what} eq 'g3')
		{
			$k->{g}{up}{$r} += 3;
		}
		else
		{
			my ($p, $g, $s) = @{ $c->{returned} };
			$deletes_done++;
			for my $pair ([ p => $p ], [ g => $g ])
			{
				my ($col, $text) = @$pair;
				my $slots = counter_slots($text);
				for my $reg (keys %$slots)
				{
					for my $half (0, 1)
					{
						my $h = (qw(up down))[$half];
						$k->{$col}{"floor_$h"}{$reg} = $slots->{$reg}[$half]
						  if $slots->{$reg}[$half] > ($k->{$col}{"floor_$h"}{$reg} // 0);
					}
				}
			}
			$k->{observed}{$_} = 1 for set_elements($s);
		}
	}
	my @ids = split /\n/, $us->safe_psql('postgres', "SELECT id FROM $t WHERE id BETWEEN 100 AND 900 ORDER BY id");
	my $expected = join "\n", map {
		my $k = $key{$_} // {};
		my %sum;
		for my $col (qw(p g))
		{
			$sum{$col} = 0;
			for my $r (@names)
			{
				$sum{$col} += ($k->{$col}{up}{$r} // 0) - ($k->{$col}{floor_up}{$r} // 0);
				$sum{$col} -= ($k->{$col}{down}{$r} // 0) - ($k->{$col}{floor_down}{$r} // 0);
			}
		}
		my @live = sort grep { !$k->{observed}{$_} } keys %{ $k->{added} // {} };
		join '|', $_, $sum{p}, $sum{g}, '{' . join(',', @live) . '}'
	} @ids;
	note("$t churn rows (id|p|g|elements): " . join(' ', (split /\n/, $expected)[ 0 .. 3 ]));
	for my $node (@nodes)
	{
		is($node->safe_psql('postgres',
			qq{SELECT id, p::bigint, g::bigint, array(SELECT e FROM unnest(locality.elements(s)) e ORDER BY e COLLATE "C")
			   FROM $t WHERE id BETWEEN 100 AND 900 ORDER BY id}),
			$expected, "$t: the churn rows' counters are the exact sums of what no delete observed, on " . $node->name);
	}
}
note("churn: $deletes_done deletes took effect");
cmp_ok($deletes_done, '>', 100, 'many churn rows were deleted (and inserted again)');

# 3. last_write_wins_column: concurrent updates of different columns of the
# same row all survive; each region's own column holds its last write.
my $expected_cols = join "\n",
  map { my $id = $_; join '|', $id, @{ $exp{col_lww}{$id}{r} } } @COUNTER_IDS;
for my $node (@nodes)
{
	is($node->safe_psql('postgres', 'SELECT id, r1, r2, r3 FROM col_lww WHERE id < 100 ORDER BY id'),
		$expected_cols, 'col_lww: every region\'s last column write survives on ' . $node->name);
}

diag("090_global_convergence: LOCALITY_SEED=$seed") unless Test::More->builder->is_passing;
done_testing();
