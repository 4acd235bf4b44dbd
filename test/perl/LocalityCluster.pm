# LocalityCluster.pm -- the multi-region test cluster helper for TAP tests.
#
# Starts N PostgreSQL servers, one per region, each configured like a
# pg_locality region's primary (scripts/server_conf.sh) and listening on
# 127.0.0.1, on top of PostgreSQL::Test::Cluster.  Puts a latency proxy
# (latency_proxy.pl: a delaying TCP relay, since there is no netem here)
# in front of any server, so traffic between two regions can be made slow.
#
#   my @r = LocalityCluster::start_regions(qw(us-east1 eu-west1 ap-east1));
#   my $proxy = LocalityCluster::start_proxy($r[1], delay_ms => 50);
#   ... connect to 127.0.0.1:$proxy->{port} ...
#   $proxy->stop;
package LocalityCluster;

use strict;
use warnings;

use Cwd qw(abs_path);
use IPC::Run;
use File::Basename qw(dirname);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Time::HiRes qw(usleep time);

my $here = dirname(abs_path(__FILE__));
my $top  = abs_path("$here/../..");

# server_conf($region): the postgresql.conf lines of a region's primary.
sub server_conf
{
	my ($region) = @_;
	my $bindir = `pg_config --bindir`;
	chomp $bindir;
	my $conf = `'$top/scripts/server_conf.sh' '$region' '$bindir'`;
	die "server_conf.sh failed" if $? != 0;
	return $conf;
}

# new_region($name, %opts): an initialised, not yet started server for region
# $name.  opts: region => value for locality.region (default $name; undef to
# leave it unset), conf => extra postgresql.conf text.
sub new_region
{
	my ($name, %opts) = @_;
	my $region = exists $opts{region} ? $opts{region} : $name;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 'logical');
	my $conf = server_conf(defined $region ? $region : 'unset');
	$conf =~ s/^locality\.region.*\n//m unless defined $region;
	$node->append_conf('postgresql.conf', $conf);
	$node->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'\n");
	$node->append_conf('postgresql.conf', $opts{conf}) if $opts{conf};
	# Replication and forwarding connect over TCP as the test's OS user.
	$node->append_conf('pg_hba.conf',
		"host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n");
	return $node;
}

# start_regions(@names): one started server per region, pg_locality created
# in database postgres.
sub start_regions
{
	my @nodes;
	for my $name (@_)
	{
		my $node = new_region($name);
		$node->start;
		$node->safe_psql('postgres', 'CREATE EXTENSION pg_locality');
		push @nodes, $node;
	}
	return @nodes;
}

# join_regions(@nodes): adds every node's region, from the first node (whose
# own region comes first and becomes the primary region).
sub join_regions
{
	my @nodes = @_;
	$nodes[0]->safe_psql('postgres',
		"SELECT locality.add_region('" . $_->name . "', '" . connstr($_) . "')")
	  for @nodes;
}

# error_of($node, $sql): "SQLSTATE: message" of the error $sql raises on
# $node, '' when it raises none.
sub error_of
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	return '' if $ret == 0;
	my ($line) = $err =~ /ERROR:  (\w{5}: [^\n]*)/;
	return $line // $err;
}

# failure_of($node, $sql, with_hint => 1): the error $sql raises on $node
# as its ERROR and DETAIL lines (with with_hint, also HINT, and each line's
# tab-indented continuation lines), joined by newlines; '' when it raises
# none.
sub failure_of
{
	my ($node, $sql, %opt) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	return '' if $ret == 0;
	my @lines = $opt{with_hint}
	  ? $err =~ /^(?:psql:\S+ )?(?:ERROR|DETAIL|HINT):  ([^\n]*(?:\n\t[^\n]*)*)/mg
	  : $err =~ /^(?:psql:\S+ )?(?:ERROR|DETAIL):  ([^\n]*)/mg;
	return join("\n", @lines);
}

# pgbench_latencies($node, $dir, $name, $script, $n): runs $script (SQL
# text) with pgbench on $node, 5 warm-up transactions then $n logged ones,
# one client; returns the logged latencies in ms, sorted.  For bench/.
sub pgbench_latencies
{
	my ($node, $dir, $name, $script, $n) = @_;
	my $file = "$dir/$name.sql";
	open(my $fh, '>', $file) or die "cannot write $file: $!";
	print $fh $script;
	close $fh;
	$node->command_ok([ 'pgbench', '-n', '-c', '1', '-t', '5', '-f', $file, connstr($node) ],
		"$name warm-up");
	$node->command_ok([ 'pgbench', '-n', '-c', '1', '-t', $n, '-f', $file, '-l', '--log-prefix',
		"$dir/log_$name", connstr($node) ], "$name run");
	my @lat;
	for my $log (glob("$dir/log_$name.*"))
	{
		open(my $lf, '<', $log) or die "cannot read $log: $!";
		while (<$lf>) { my @f = split; push @lat, $f[2] / 1000.0; }
	}
	return sort { $a <=> $b } @lat;
}

# kill9_and_restart($node): kill -9 of the postmaster, as a crash would;
# waits until it and every child are gone, then starts the server again.
# The children are those of this postmaster (taken before the kill), not
# every process named after the region: another test's cluster may use
# the same region names.
sub kill9_and_restart
{
	my ($node) = @_;
	my $pid  = $node->{_pid};
	my @children = split /\s+/, `pgrep -P $pid`;
	$node->kill9;
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	while (grep({ $_ ne '' && kill(0, $_) } ($pid, @children)) && time < $deadline)
	{
		usleep(100_000);
	}
	$node->start;
}

# drain(@nodes): waits on every node until it has applied everything the
# other regions had committed when it was asked (wait_for_replication);
# true when every node drained within 120 s.
sub drain
{
	my @nodes = @_;
	my $ok = 1;
	for my $node (@nodes)
	{
		$ok = 0 unless $node->safe_psql('postgres',
			"SELECT locality.wait_for_replication(NULL, '120s')") eq 't';
	}
	return $ok;
}

# same_everywhere(\@nodes, $sql, $label): $sql gives on every other node
# what it gives on the first (one is() each, "<label>: <node> equals
# <first>"); returns the first node's answer.
sub same_everywhere
{
	my ($nodes, $sql, $label) = @_;
	my @got = map { $_->safe_psql('postgres', $sql) } @$nodes;
	Test::More::is($got[$_], $got[0], "$label: " . $nodes->[$_]->name . ' equals ' . $nodes->[0]->name)
	  for 1 .. $#got;
	return $got[0];
}

# psql_concurrently([$node, $sql], ...): runs each script in its own psql
# process (autocommit, ON_ERROR_STOP), all at once, and waits for all of
# them.  Dies with the script's stderr when one fails.  Returns the
# outputs, in the order given.  For tests that need many statements
# issued from several regions at the same time without a process each.
sub psql_concurrently
{
	my @jobs = @_;
	my $dir  = PostgreSQL::Test::Utils::tempdir();
	my @runs;
	for my $i (0 .. $#jobs)
	{
		my ($node, $sql) = @{ $jobs[$i] };
		my %run = (node => $node, file => "$dir/script$i.sql", out => "$dir/out$i", err => "$dir/err$i");
		open my $fh, '>', $run{file} or die "cannot write $run{file}: $!";
		print $fh $sql;
		close $fh;
		$run{h} = IPC::Run::start(
			[ 'psql', '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', connstr($node), '-f', $run{file} ],
			'<', \undef, '>', $run{out}, '2>', $run{err},
			IPC::Run::timeout(4 * $PostgreSQL::Test::Utils::timeout_default));
		push @runs, \%run;
	}
	my @outputs;
	for my $run (@runs)
	{
		my $ok = eval { $run->{h}->finish };
		my $err = PostgreSQL::Test::Utils::slurp_file($run->{err});
		die 'psql on ' . $run->{node}->name . " failed: $err" unless $ok && $run->{h}->result == 0;
		push @outputs, PostgreSQL::Test::Utils::slurp_file($run->{out});
	}
	return @outputs;
}

# connstr($node, %opts): a libpq conninfo reaching $node over TCP, through
# port => $p instead of the server's own port when given.
sub connstr
{
	my ($node, %opts) = @_;
	my $port = $opts{port} // $node->port;
	my $db   = $opts{dbname} // 'postgres';
	return "host=127.0.0.1 port=$port dbname=$db";
}

# start_proxy($node, delay_ms => D, log => 1, hold_pattern => P): a latency
# proxy in front of $node.  Returns an object with {port}, {pid} and ->stop;
# with log, the proxy logs every chunk it relays (->round_trips, ->log_lines,
# ->clear_log); with hold_pattern, ->hold makes it keep a client's chunk
# containing P (and what that client sends next) from the server until
# ->release.
sub start_proxy
{
	my ($node, %opts) = @_;
	my $delay = $opts{delay_ms} // 0;
	my $tmp = PostgreSQL::Test::Utils::tempdir();
	my $ready = "$tmp/proxy.ready";
	my $log = $opts{log} ? "$tmp/proxy.log" : undef;
	my $hold_file = "$tmp/proxy.hold";
	my @hold = defined $opts{hold_pattern}
	  ? ('--hold-file' => $hold_file, '--hold-pattern' => $opts{hold_pattern}) : ();
	my $pid = fork();
	die "fork failed: $!" unless defined $pid;
	if ($pid == 0)
	{
		exec($^X, "$here/latency_proxy.pl",
			'--target' => '127.0.0.1:' . $node->port,
			'--delay-ms' => $delay,
			'--ready-file' => $ready, @hold,
			($log ? ('--log' => $log) : ())) or die "exec failed: $!";
	}
	my $deadline = time + $PostgreSQL::Test::Utils::timeout_default;
	until (-s $ready)
	{
		die "latency proxy did not start" if time > $deadline;
		usleep(10_000);
	}
	open my $fh, '<', $ready or die;
	my ($port) = split ' ', scalar <$fh>;
	close $fh;
	return bless { port => $port, pid => $pid, delay_ms => $delay, log => $log,
		hold_file => $hold_file },
	  'LocalityCluster::Proxy';
}

package LocalityCluster::Proxy;

sub port { $_[0]{port} }

# log_lines: the chunks logged so far, each [time, conn, dir, bytes, what].
sub log_lines
{
	my ($self) = @_;
	die "proxy started without log" unless $self->{log};
	open my $fh, '<', $self->{log} or return ();
	my @lines = map { chomp; [ split / /, $_, 5 ] } <$fh>;
	close $fh;
	return @lines;
}

# clear_log: forget what was logged so far.
sub clear_log
{
	my ($self) = @_;
	die "proxy started without log" unless $self->{log};
	open my $fh, '>', $self->{log} or die "cannot truncate $self->{log}: $!";
	close $fh;
}

# round_trips: { conn => n } where n counts the runs of client chunks that a
# run of server chunks answered, for each connection in the log.
sub round_trips
{
	my ($self) = @_;
	my (%n, %last);
	for my $l ($self->log_lines)
	{
		my ($conn, $dir) = ($l->[1], $l->[2]);
		$n{$conn} //= 0;
		$n{$conn}++ if $dir eq 's' && ($last{$conn} // '') eq 'c';
		$last{$conn} = $dir;
	}
	return \%n;
}

# hold/release: see start_proxy's hold_pattern.
sub hold
{
	my ($self) = @_;
	open my $fh, '>', $self->{hold_file} or die "cannot write $self->{hold_file}: $!";
	close $fh;
}

sub release { unlink $_[0]{hold_file} }

sub stop
{
	my ($self) = @_;
	return unless $self->{pid};
	kill 'TERM', $self->{pid};
	waitpid($self->{pid}, 0);
	$self->{pid} = undef;
}

sub DESTROY { $_[0]->stop }

1;
