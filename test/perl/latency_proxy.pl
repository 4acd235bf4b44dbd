#!/usr/bin/perl
# latency_proxy.pl -- a TCP relay on 127.0.0.1 that delays every byte by a
# fixed one-way delay, to simulate the WAN between two regions (this kernel
# has no netem).
#
#   latency_proxy.pl --target 127.0.0.1:5433 --delay-ms 35 \
#                    [--listen 127.0.0.1:0] [--ready-file FILE] [--log FILE]
#                    [--hold-file FILE --hold-pattern TEXT]
#
# Each chunk read from one side is written to the other side delay-ms after it
# was read, in order, in both directions.  Chunks are pipelined (a chunk's
# delay starts when it arrives), so the link behaves like a long wire: one-way
# latency D, round trip 2D, no bandwidth limit.  The TCP handshake itself is
# local.  Once listening it writes "PORT PID" to --ready-file.  SIGTERM or
# SIGINT stops it.
#
# --log FILE appends one line per chunk read, as it is read:
#   TIME CONN DIR BYTES WHAT
# CONN numbers the relayed connections from 1, DIR is "c" (client to server)
# or "s" (server to client), WHAT names the protocol messages the chunk
# starts with, as far as it can tell (SSLRequest, Startup, Q, P, B, E, S, ...;
# "?" when it cannot).  One round trip of a connection is a run of "c"
# chunks answered by a run of "s" chunks (LocalityCluster::Proxy->round_trips).
# While --hold-file exists, a chunk from a client containing --hold-pattern
# (and whatever that client sends after it) is held, not passed on, until
# the file is removed: e.g. one statement in flight kept from reaching the
# server, deterministically, while other connections go on.
use strict;
use warnings;
use Getopt::Long;
use IO::Select;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time);
use Errno qw(EAGAIN EWOULDBLOCK EINTR);

my ($listen, $target, $delay_ms, $ready_file, $log_file) = ('127.0.0.1:0', undef, 0, undef, undef);
my ($hold_file, $hold_pattern);
GetOptions(
	'listen=s'       => \$listen,
	'target=s'       => \$target,
	'delay-ms=f'     => \$delay_ms,
	'ready-file=s'   => \$ready_file,
	'log=s'          => \$log_file,
	'hold-file=s'    => \$hold_file,
	'hold-pattern=s' => \$hold_pattern) or die "usage: $0 --target HOST:PORT --delay-ms N\n";
die "--target is required\n" unless $target;
my ($lhost, $lport) = split /:/, $listen;
die "only loopback addresses may be used\n"
  unless $lhost eq '127.0.0.1' || $lhost eq 'localhost';
my $delay = $delay_ms / 1000.0;
my $held = 0;    # chunks held (due time infinite)
my $forever = 9**9**9;

my $listener = IO::Socket::INET->new(
	LocalAddr => $lhost,
	LocalPort => $lport,
	Listen    => 128,
	ReuseAddr => 1,
	Blocking  => 0) or die "cannot listen on $listen: $!\n";

my $running = 1;
$SIG{TERM} = $SIG{INT} = sub { $running = 0 };
$SIG{PIPE} = 'IGNORE';

my $log;
if ($log_file)
{
	open $log, '>>', $log_file or die "cannot write $log_file: $!\n";
	$log->autoflush(1);
}

# what($bytes): the protocol messages a chunk starts with, best effort (a
# chunk may end inside a message, and TLS traffic is opaque).
sub what
{
	my ($buf) = @_;
	my $len = length $buf;
	return 'N' if $buf eq 'N';
	return 'S' if $buf eq 'S';
	if ($len >= 8 && unpack('N', $buf) == $len)
	{
		my $code = unpack('N', substr($buf, 4, 4));
		return 'SSLRequest' if $code == 80877103;
		return 'GSSENCRequest' if $code == 80877104;
		return 'CancelRequest' if $code == 80877102;
		return ($buf =~ /\0replication\0/ ? 'Startup(replication)' : 'Startup') if $code == 196608;
	}
	my @types;
	my $pos = 0;
	while ($pos + 5 <= $len && @types < 40)
	{
		my $type = substr($buf, $pos, 1);
		my $mlen = unpack('N', substr($buf, $pos + 1, 4));
		last unless $type =~ /^[A-Za-z0-9]$/ && $mlen >= 4;
		push @types, $type;
		$pos += 1 + $mlen;
	}
	push @types, '?' if $pos < $len;
	return join(',', @types);
}

my $next_conn = 1;

if ($ready_file)
{
	open my $fh, '>', "$ready_file.tmp" or die "cannot write $ready_file: $!\n";
	print $fh $listener->sockport, " $$\n";
	close $fh;
	rename "$ready_file.tmp", $ready_file or die "cannot rename: $!\n";
}

# One entry per socket: its peer, and the chunks waiting to be written to it
# as [due time, bytes]; bytes undef means "shut down writing".
my %end;
my $select = IO::Select->new($listener);

sub add_pair
{
	my ($a, $b) = @_;
	for my $s ($a, $b)
	{
		$s->blocking(0);
		setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
		$select->add($s);
	}
	my $conn = $next_conn++;
	# dir: what reading from this socket carries ($a is the client)
	$end{$a} = { sock => $a, peer => $b, queue => [], eof_in => 0, closed_out => 0,
		conn => $conn, dir => 'c', client => 1 };
	$end{$b} = { sock => $b, peer => $a, queue => [], eof_in => 0, closed_out => 0,
		conn => $conn, dir => 's' };
}

sub drop_pair
{
	my ($s) = @_;
	my $e = $end{$s} or return;
	for my $x ($s, $e->{peer})
	{
		next unless $end{$x};
		$select->remove($x);
		close $x;
		delete $end{$x};
	}
}

while ($running)
{
	# Sleep until the next chunk is due or a socket is readable.
	my $now = time;
	my $timeout = $held ? 0.05 : 0.5;

	# The hold is over: what it kept goes on at once (it waited long enough).
	if ($held && !-e $hold_file)
	{
		for my $e (values %end)
		{
			$_->[0] = $now for grep { $_->[0] == $forever } @{ $e->{queue} };
		}
		$held = 0;
	}
	for my $e (values %end)
	{
		next unless @{ $e->{queue} };
		my $wait = $e->{queue}[0][0] - $now;
		$timeout = $wait if $wait < $timeout;
	}
	$timeout = 0 if $timeout < 0;
	my @readable = $select->can_read($timeout);

	for my $s (@readable)
	{
		if ($s == $listener)
		{
			while (my $client = $listener->accept)
			{
				my $server = IO::Socket::INET->new(PeerAddr => $target, Proto => 'tcp');
				if (!$server)
				{
					print STDERR "latency_proxy: cannot reach $target: $!\n";
					close $client;
					next;
				}
				add_pair($client, $server);
			}
			next;
		}
		my $e = $end{$s} or next;
		my $n = sysread($s, my $buf, 65536);
		if (!defined $n)
		{
			next if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
			drop_pair($s);
			next;
		}
		my $peer = $end{ $e->{peer} };
		if ($n == 0)
		{
			# Pass the end of the stream on, delayed like data.
			$select->remove($s);
			$e->{eof_in} = 1;
			push @{ $peer->{queue} }, [ time + $delay, undef ];
			next;
		}
		printf $log "%.6f %d %s %d %s\n", time, $e->{conn}, $e->{dir}, $n, what($buf) if $log;
		my $due = time + $delay;
		if ($e->{client} && defined $hold_pattern)
		{
			my $q = $peer->{queue};
			if ((@$q && $q->[-1][0] == $forever)
				|| (index($buf, $hold_pattern) >= 0 && -e $hold_file))
			{
				$due = $forever;
				$held++;
			}
		}
		push @{ $peer->{queue} }, [ $due, $buf ];
	}

	# Write every chunk that is due.
	$now = time;
	for my $key (keys %end)
	{
		my $e = $end{$key} or next;
		while (@{ $e->{queue} } && $e->{queue}[0][0] <= $now)
		{
			my $chunk = $e->{queue}[0];
			if (!defined $chunk->[1])
			{
				shutdown($e->{sock}, 1);
				$e->{closed_out} = 1;
				shift @{ $e->{queue} };
				last;
			}
			my $w = syswrite($e->{sock}, $chunk->[1]);
			if (!defined $w)
			{
				last if $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
				drop_pair($e->{sock});
				last;
			}
			substr($chunk->[1], 0, $w, '');
			last if length $chunk->[1];    # socket full: try again later
			shift @{ $e->{queue} };
		}
		next unless $end{$key};
		my $peer = $end{ $e->{peer} };
		drop_pair($e->{sock})
		  if $e->{closed_out} && $peer && $peer->{closed_out};
	}
}

close $_ for map { $_->{sock} } values %end;
close $listener;
exit 0;
