# What a new session's first forwarded write costs on the wire, counted in
# round trips through a logging latency proxy (latency_proxy.pl --log):
# libpq's SSL probe (sslmode=prefer, the default, against a server without
# SSL), the startup exchange, and one round trip for the statement, whose
# START TRANSACTION, session settings (forward depth, search_path), COMMIT
# and commit position go in the same message.  The connection's settings
# (locality.remote_apply, application_name) travel in the startup packet.
# A conninfo with sslmode=disable saves the probe; the next statement of
# the session costs one round trip.  Counts and an order, not timings.
# A statement at several regions opens its connections at once.
use strict;
use warnings;
use PostgreSQL::Test::Utils;
use Test::More;
use LocalityCluster;

my @nodes = LocalityCluster::start_regions(qw(us-east1 eu-west1 ap-east1));
my ($us, $eu, $ap) = @nodes;
# A delay, so that what is sent before an answer comes back shows in order.
my $eu_proxy = LocalityCluster::start_proxy($eu, delay_ms => 50, log => 1);
my $ap_proxy = LocalityCluster::start_proxy($ap, delay_ms => 50, log => 1);
$us->safe_psql('postgres', "SELECT locality.add_region('us-east1', '" . LocalityCluster::connstr($us) . "')");
$us->safe_psql('postgres', "SELECT locality.add_region('eu-west1', '"
	  . LocalityCluster::connstr($eu, port => $eu_proxy->port) . "')");
$us->safe_psql('postgres', "SELECT locality.add_region('ap-east1', '"
	  . LocalityCluster::connstr($ap, port => $ap_proxy->port) . " sslmode=disable')");
$us->safe_psql('postgres',
	"CREATE TABLE fwd (id bigserial PRIMARY KEY, v text) WITH (locality = 'REGIONAL BY ROW')");
$_->poll_query_until('postgres', "SELECT count(*) = 1 FROM locality.tables") for @nodes;
# Let every region start streaming the table, so that only the session
# under test opens connections while we count.
$us->safe_psql('postgres', "INSERT INTO fwd (v, region) VALUES ('warm', '$_')") for qw(eu-west1 ap-east1);
$_->safe_psql('postgres', 'SELECT locality.wait_for_replication()') for @nodes;

# round_trips($proxy, $sql): runs $sql in a new session on us-east1 and
# returns the round trips of each client connection it opened through
# $proxy ("n" or "n,m"; replication connections of the apply workers, which
# stream all the time, are left out), and what those connections sent.
sub round_trips
{
	my ($proxy, $sql) = @_;
	$proxy->clear_log;
	$us->safe_psql('postgres', $sql);
	my %new;
	for my $l ($proxy->log_lines)
	{
		$new{ $l->[1] } //= $l->[4] =~ /^(SSLRequest|Startup)$/ ? 1 : 0;
		$new{ $l->[1] } = 0 if $l->[4] eq 'Startup(replication)';
	}
	my $rt = $proxy->round_trips;
	my @conns = sort { $a <=> $b } grep { $new{$_} } keys %$rt;
	my @sent = map { "$_->[1]:$_->[4]" } grep { $_->[2] eq 'c' && $new{ $_->[1] } } $proxy->log_lines;
	diag(join("\n", map { join(' ', @$_) } $proxy->log_lines)) if $ENV{SHOW_PROXY_LOG};
	return (join(',', map { $rt->{$_} } @conns), join(' ', @sent));
}

my $insert_eu = "INSERT INTO fwd (v, region) VALUES ('x', 'eu-west1')";
my ($n, $sent) = round_trips($eu_proxy, $insert_eu);
is($n, '3', "a new session's first forwarded autocommit INSERT: 3 round trips (SSL probe, startup, statement)");
like($sent, qr/^(\d+):SSLRequest \1:Startup \1:Q$/, 'what it sent: SSL probe, startup packet, one query message')
  or diag($sent);

($n, $sent) = round_trips($eu_proxy, "$insert_eu; $insert_eu");
is($n, '4', 'a second forwarded statement of the session costs one more round trip');

($n, $sent) = round_trips($ap_proxy, "INSERT INTO fwd (v, region) VALUES ('x', 'ap-east1')");
is($n, '2', 'with sslmode=disable in the conninfo: 2 round trips (startup, statement)');
like($sent, qr/^(\d+):Startup \1:Q$/, 'no SSL probe') or diag($sent);

# A statement at every region (an UPDATE without a region qual) opens the
# session's connections to all of them at once: ap-east1's startup packet
# goes out before eu-west1's SSL probe has been answered (sequentially, it
# would wait until eu-west1's connection were open and its statement sent).
$_->clear_log for ($eu_proxy, $ap_proxy);
$us->safe_psql('postgres', "UPDATE fwd SET v = 'everywhere' WHERE v = 'x'");
my @eu_log = grep { $_->[2] eq 'c' } $eu_proxy->log_lines;
my @ap_log = grep { $_->[2] eq 'c' } $ap_proxy->log_lines;
my ($eu_ssl) = grep { $_->[4] eq 'SSLRequest' } @eu_log;
my ($eu_startup) = grep { $_->[4] eq 'Startup' } @eu_log;
my ($ap_startup) = grep { $_->[4] eq 'Startup' } @ap_log;
ok($eu_ssl && $eu_startup && $ap_startup, 'the UPDATE opened a connection to each region')
  or diag(join("\n", map { join(' ', @$_) } @eu_log, @ap_log));
ok($eu_startup && $ap_startup && $ap_startup->[0] < $eu_startup->[0],
	"both connections were opened at once: ap-east1's startup went out before eu-west1's SSL probe came back")
  or diag(join("\n", map { join(' ', @$_) } @eu_log, @ap_log));
ok($eu->poll_query_until('postgres',
		"SELECT count(*) = 3 FROM fwd WHERE v = 'everywhere' AND region = 'eu-west1'")
	  && $ap->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM fwd WHERE v = 'everywhere' AND region = 'ap-east1'"),
	'the UPDATE ran at both homes');

is($eu->safe_psql('postgres', "SELECT count(*) FROM fwd WHERE region = 'eu-west1'"), '4',
	'every forwarded row is at its home');
$_->stop for ($eu_proxy, $ap_proxy);
done_testing();
