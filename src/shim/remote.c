/*
 * remote.c -- libpq connections from a backend to other regions' primaries.
 *
 * Used by DDL propagation (dist_xact.c) and region management (regions.c).
 * One connection per (region, role) per backend, cached for the life of the
 * backend.  Connecting, sending and receiving never block in libpq: we wait
 * on the latch and the socket, so query cancel and backend termination work
 * while a remote region is slow, and every call is bounded by
 * locality.forward_timeout.  The remote session runs as the current role
 * (never a stored login; its password, and optionally another login, from
 * the role's user mapping for foreign server "locality_<region>" when there
 * is one) with locality.remote_apply on, so hooks on the remote side apply
 * what it receives and do not send it on again.
 *
 * Every connect and every statement of a client backend first passes the
 * region's gate (breaker.c: enforce_home_region, circuit breaker) and then
 * reports whether it reached the region.  Replication connections and the
 * commit/abort paths are never refused: they must run for a region to heal.
 */
#include "postgres.h"

#include <limits.h>

#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "shim.h"
#include "shim/breaker.h"
#include "shim/dist_xact.h"
#include "shim/remote.h"
#include "shim/replication.h"

int			LocalityForwardTimeoutMs = 5000;

/* Region r's logins come from the user mappings of foreign server "locality_r". */
#define LOCALITY_SERVER_PREFIX "locality_"

/* Cache key and entry: one connection per (region, role). */
typedef struct RemoteKey
{
	LocalityRegionId region_id;
	Oid			role_id;
} RemoteKey;

typedef struct RemoteEntry
{
	RemoteKey	key;
	PGconn	   *conn;			/* idle, ready for the next statement */
	char		name[LOCALITY_REGION_NAME_MAX + 1];
	/*
	 * conn still owes the answer to a pipelined COMMIT PREPARED of gid
	 * (LocalityRemoteCommitAsync): pending is conn then.  queued: a pipeline
	 * was sent behind it (its collect reads the commit's answer first).
	 */
	PGconn	   *pending;
	bool		queued;
	char		pending_gid[96];
	TimestampTz pending_since;
} RemoteEntry;

static HTAB *RemoteCache = NULL;

/* Milliseconds left until deadline. */
static long
MsUntil(TimestampTz deadline)
{
	return TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
}

static TimestampTz
DeadlineFromNow(void)
{
	return TimestampTzPlusMilliseconds(GetCurrentTimestamp(), LocalityForwardTimeoutMs);
}

/*
 * WaitForSocket waits until conn's socket is ready for what libpq needs, the
 * latch is set, or deadline passes (returns false then).  Interrupts are
 * processed only when interruptible.
 */
static bool
WaitForSocket(PGconn *conn, bool for_write, TimestampTz deadline, bool interruptible)
{
	for (;;)
	{
		long		timeout = MsUntil(deadline);
		int			rc;

		if (timeout <= 0)
			return false;
		rc = WaitLatchOrSocket(MyLatch,
							   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH |
							   (for_write ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE),
							   PQsocket(conn), timeout, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			if (interruptible)
				CHECK_FOR_INTERRUPTS();
			else if (InterruptPending)
				return true;	/* let the caller clean up, then interrupt */
		}
		if (rc & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
			return true;
	}
}

/*
 * Raises 08006 `region "label" is unavailable` with libpq's reason; counts
 * it as a failed call of label's circuit breaker when counted.
 */
static void
RaiseUnavailable(PGconn *conn, const char *label, const char *why, bool counted)
{
	char	   *reason = pstrdup(why ? why : (conn ? PQerrorMessage(conn) : "unknown error"));
	size_t		len = strlen(reason);

	/* libpq messages end with a newline */
	while (len > 0 && (reason[len - 1] == '\n' || reason[len - 1] == ' '))
		reason[--len] = '\0';
	if (counted)
		LocalityRegionCallEnd(label, false, reason, -1);
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("region \"%s\" is unavailable", label),
			 errdetail_internal("%s", reason)));
}

/*
 * RaiseIfRefused: when the server itself refused the connection (libpq's
 * text msg holds its ErrorResponse: authentication failed, no such role or
 * database, too many connections), the region is there: the call counts as
 * having reached it, and the server's error is raised with its SQLSTATE
 * (28000, 28P01, 3D000, 53300, ...), message, detail and hint; so is a
 * server's request for a password libpq did not have (needs_password,
 * 28P01 with libpq's text).  A region
 * that refuses one role must not open the circuit breaker for every role.
 * Returns when msg is no such refusal.
 */
static void
RaiseIfRefused(const char *msg, bool needs_password, const char *label, const char *user)
{
	LocalityStatus refusal;

	/* The server asked for a password libpq did not have: it is there. */
	if (needs_password)
	{
		const char *text = strstr(msg, "failed: ");
		size_t		len;

		memset(&refusal, 0, sizeof(refusal));
		strlcpy(refusal.sqlstate, "28P01", sizeof(refusal.sqlstate));
		strlcpy(refusal.message, text ? text + strlen("failed: ") : msg, sizeof(refusal.message));
		len = strlen(refusal.message);
		while (len > 0 && (refusal.message[len - 1] == '\n' || refusal.message[len - 1] == ' '))
			refusal.message[--len] = '\0';
	}
	else if (!locality_login_refusal(msg, &refusal))
		return;
	LocalityRegionCallEnd(label, true, NULL, -1);
	ereport(ERROR,
			(errcode(MAKE_SQLSTATE(refusal.sqlstate[0], refusal.sqlstate[1], refusal.sqlstate[2],
								   refusal.sqlstate[3], refusal.sqlstate[4])),
			 errmsg_internal("%s", refusal.message),
			 refusal.detail[0] ? errdetail_internal("%s", refusal.detail) : 0,
			 refusal.hint[0] ? errhint("%s", refusal.hint) : 0,
			 errcontext("connecting to region \"%s\" as role \"%s\"", label, user)));
}

/*
 * A connection being opened.  Several are opened at once when a statement
 * needs several regions (LocalityRemoteConnectAll), so that the session's
 * first statement waits for the slowest handshake, not for their sum.
 */
typedef struct PendingConnect
{
	PGconn	   *conn;
	const char *label;
	const char *role;			/* the role it is for, named in errors */
	PostgresPollingStatusType state;	/* PQconnectPoll's last answer */
	char	   *failure;		/* why it failed (NULL while it has not) */
	bool		needs_password;
} PendingConnect;

/*
 * ConnectStart starts opening a connection to conninfo for role, logging
 * in as user with password (NULL: none), a replication connection when
 * replication; never raises but for out of
 * memory: a failure is left in pc->failure.  The caller has passed the
 * region's gate (LocalityRegionCallBegin).
 */
static void
ConnectStart(PendingConnect *pc, const char *conninfo, const char *label, bool replication,
			 const char *user, const char *password, const char *role, const char *token)
{
	const char *keywords[7];
	const char *values[7];
	int			n;
	char		appname[NAMEDATALEN + 16];

	memset(pc, 0, sizeof(*pc));
	pc->label = label;
	pc->role = role;
	pc->state = PGRES_POLLING_WRITING;
	snprintf(appname, sizeof(appname), "pg_locality %s",
			 LocalityRegionSetting ? LocalityRegionSetting : "");
	/*
	 * Everything the remote session needs goes in the startup packet, so
	 * opening it costs the startup exchange and nothing more (plus what the
	 * conninfo asks for: libpq's SSL probe under sslmode=prefer, the
	 * default, and an authentication exchange).
	 */
	keywords[0] = "dbname";
	values[0] = conninfo;
	keywords[1] = "user";
	values[1] = user;
	keywords[2] = "application_name";
	values[2] = appname;
	/* locality.remote_apply: apply here, never propagate again */
	keywords[3] = "options";
	values[3] = psprintf("-c locality.remote_apply=%s", token);
	n = 4;
	if (password != NULL)
	{
		keywords[n] = "password";
		values[n++] = password;
	}
	if (replication)
	{
		keywords[n] = "replication";
		values[n++] = "database";
	}
	keywords[n] = NULL;
	values[n] = NULL;

	pc->conn = PQconnectStartParams(keywords, values, true);
	if (pc->conn == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	if (PQstatus(pc->conn) == CONNECTION_BAD)
	{
		pc->failure = pstrdup(PQerrorMessage(pc->conn));
		PQfinish(pc->conn);
		pc->conn = NULL;
		return;
	}
	/* A server's refusal then carries its SQLSTATE (RaiseIfRefused). */
	PQsetErrorVerbosity(pc->conn, PQERRORS_VERBOSE);
}

/* Drops every connection of pcs[0..n) still being opened. */
static void
ConnectAbandon(PendingConnect *pcs, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		if (pcs[i].conn != NULL && pcs[i].state != PGRES_POLLING_OK)
		{
			PQfinish(pcs[i].conn);
			pcs[i].conn = NULL;
		}
	}
}

/*
 * ConnectWait drives every connection of pcs[0..n) until it is open or has
 * failed (pc->failure), all bounded by locality.forward_timeout.  Not
 * interruptible while libpq holds half-open connections: a query cancel or
 * die drops them all first.
 */
static void
ConnectWait(PendingConnect *pcs, int n)
{
	TimestampTz deadline = DeadlineFromNow();
	WaitEvent  *events = palloc(sizeof(WaitEvent) * (n + 2));

	for (;;)
	{
		WaitEventSet *set;
		long		timeout = MsUntil(deadline);
		int			waiting = 0;
		int			nevents;
		int			i;

		for (i = 0; i < n; i++)
		{
			PendingConnect *pc = &pcs[i];

			if (pc->failure != NULL || pc->state == PGRES_POLLING_OK)
				continue;
			if (pc->state == PGRES_POLLING_FAILED)
			{
				pc->failure = pstrdup(PQerrorMessage(pc->conn));
				pc->needs_password = PQconnectionNeedsPassword(pc->conn);
				PQfinish(pc->conn);
				pc->conn = NULL;
				continue;
			}
			if (timeout <= 0)
			{
				pc->failure = psprintf("no connection within locality.forward_timeout (%d ms)",
									   LocalityForwardTimeoutMs);
				PQfinish(pc->conn);
				pc->conn = NULL;
				continue;
			}
			waiting++;
		}
		if (waiting == 0)
			break;

		/* libpq may change sockets (next host, SSL fallback): a new set each time. */
		set = CreateWaitEventSet(CurrentMemoryContext, waiting + 2);
		AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
		AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
		for (i = 0; i < n; i++)
		{
			PendingConnect *pc = &pcs[i];

			if (pc->failure != NULL || pc->state == PGRES_POLLING_OK)
				continue;
			AddWaitEventToSet(set, pc->state == PGRES_POLLING_WRITING ?
							  WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE,
							  PQsocket(pc->conn), NULL, pc);
		}
		nevents = WaitEventSetWait(set, timeout, events, waiting + 2, PG_WAIT_EXTENSION);
		FreeWaitEventSet(set);
		for (i = 0; i < nevents; i++)
		{
			if (events[i].events & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				if (InterruptPending)
				{
					ConnectAbandon(pcs, n);
					CHECK_FOR_INTERRUPTS();
					ereport(ERROR,
							(errcode(ERRCODE_QUERY_CANCELED),
							 errmsg("connecting to another region was interrupted")));
				}
			}
			else if (events[i].user_data != NULL)
			{
				PendingConnect *pc = events[i].user_data;

				pc->state = PQconnectPoll(pc->conn);
			}
		}
	}
	pfree(events);
}

/*
 * ConnectOutcome: pc's connection ready for use (non-blocking, libpq's
 * texts terse again: statements' errors come as PGresults), or NULL with
 * pc->failure set.
 */
static PGconn *
ConnectOutcome(PendingConnect *pc)
{
	if (pc->failure != NULL)
		return NULL;
	PQsetErrorVerbosity(pc->conn, PQERRORS_DEFAULT);
	if (PQsetnonblocking(pc->conn, 1) != 0)
	{
		PQfinish(pc->conn);
		pc->conn = NULL;
		pc->failure = pstrdup("cannot make the connection non-blocking");
		return NULL;
	}
	return pc->conn;
}

/*
 * ConnectRaise raises pc's failure: the server's own error when it refused
 * the login (RaiseIfRefused), else 08006; counted by the region's breaker
 * when counted.
 */
static void
ConnectRaise(PendingConnect *pc, bool counted)
{
	if (counted)
		RaiseIfRefused(pc->failure, pc->needs_password, pc->label, pc->role);
	RaiseUnavailable(NULL, pc->label, pc->failure, counted);
}

/*
 * Connect opens a new connection to conninfo for role (logging in as user,
 * with password unless NULL), bounded by locality.forward_timeout; a
 * replication connection when replication.
 */
static PGconn *
Connect(const char *conninfo, const char *label, bool replication, const char *user,
		const char *password, const char *role, const char *token)
{
	PendingConnect pc;
	PGconn	   *conn;

	/* Replication connections (apply, initial sync) are never refused. */
	if (!replication)
		LocalityRegionCallBegin(label);
	ConnectStart(&pc, conninfo, label, replication, user, password, role, token);
	ConnectWait(&pc, 1);
	conn = ConnectOutcome(&pc);
	if (conn == NULL)
		ConnectRaise(&pc, !replication);
	if (!replication)
		LocalityRegionCallEnd(label, true, NULL, -1);
	return conn;
}

/*
 * MappedLogin: when foreign server "locality_<region>" exists and has a
 * user mapping for the current role (or PUBLIC), its `user` and `password`
 * options (each only when set) in *user and *password; true then.  Neither
 * is ever shown: not in errors, not in the application name.
 */
static bool
MappedLogin(const char *region, char **user, char **password)
{
	ForeignServer *server;
	HeapTuple	tuple;
	UserMapping *mapping;
	ListCell   *lc;

	/* Client sessions only: background workers keep their own login. */
	if (MyBackendType != B_BACKEND)
		return false;
	server = GetForeignServerByName(psprintf("%s%s", LOCALITY_SERVER_PREFIX, region), true);
	if (server == NULL)
		return false;
	tuple = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(GetUserId()),
							ObjectIdGetDatum(server->serverid));
	if (!HeapTupleIsValid(tuple))
		tuple = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
								ObjectIdGetDatum(server->serverid));
	if (!HeapTupleIsValid(tuple))
		return false;
	ReleaseSysCache(tuple);
	mapping = GetUserMapping(GetUserId(), server->serverid);
	foreach(lc, mapping->options)
	{
		DefElem    *option = lfirst(lc);

		if (strcmp(option->defname, "user") == 0)
			*user = defGetString(option);
		else if (strcmp(option->defname, "password") == 0)
			*password = defGetString(option);
	}
	return true;
}

/*
 * CheckMappedLogin: a mapping to another login is only believed when the
 * region checked its password (as postgres_fdw): else a role could name any
 * login at a region that trusts its network.  Closes conn and raises then.
 */
static void
CheckMappedLogin(PGconn *conn, const char *label, bool mapped, const char *user,
				 const char *role)
{
	if (mapped && strcmp(user, role) != 0 && !superuser() && !PQconnectionUsedPassword(conn))
	{
		PQfinish(conn);
		ereport(ERROR,
				(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
				 errmsg("password is required"),
				 errdetail("Region \"%s\" did not ask for the password of \"%s\", the login "
						   "the user mapping of server \"%s%s\" gives role \"%s\".",
						   label, user, LOCALITY_SERVER_PREFIX, label, role),
				 errhint("Make region \"%s\" authenticate \"%s\" by password.", label, user)));
	}
}

/*
 * LocalityConnectTo opens a new, uncached connection to conninfo as the
 * current role: with the login of the user mapping for server
 * "locality_<label>" when there is one (MappedLogin), else with the role's
 * name and no password (libpq's passfile, or the region's trust).
 */
PGconn *
LocalityConnectTo(const char *conninfo, const char *label)
{
	char	   *role = GetUserNameFromId(GetUserId(), false);
	char	   *user = role;
	char	   *password = NULL;
	bool		mapped = MappedLogin(label, &user, &password);
	PGconn	   *conn = Connect(conninfo, label, false, user, password, role,
							   LocalityPeerToken());

	CheckMappedLogin(conn, label, mapped, user, role);
	return conn;
}

/*
 * LocalityConnectReplication opens a logical replication connection
 * (replication=database) to conninfo as user (callable outside a
 * transaction, as apply workers do between transactions).
 */
PGconn *
LocalityConnectReplication(const char *conninfo, const char *label, const char *user)
{
	return Connect(conninfo, label, true, user, NULL, user, "on");	/* a walsender runs no DDL */
}

/* Cancels whatever conn is running and drops it (its state is unknown). */
static void
CancelAndForget(PGconn *conn)
{
	PGcancel   *cancel = PQgetCancel(conn);
	char		errbuf[256];

	if (cancel)
	{
		(void) PQcancel(cancel, errbuf, sizeof(errbuf));
		PQfreeCancel(cancel);
	}
	LocalityRemoteForget(conn);
}

/*
 * ReportAnswered: conn answered a statement sent at start.  An answer, even
 * a remote SQL error, means the region is there; unless it is libpq's own
 * error for a connection that broke mid-statement.
 */
static void
ReportAnswered(PGconn *conn, const char *label, TimestampTz start)
{
	if (PQstatus(conn) == CONNECTION_BAD)
		LocalityRegionCallEnd(label, false, PQerrorMessage(conn), -1);
	else
		LocalityRegionCallEnd(label, true, NULL, GetCurrentTimestamp() - start);
}

/* The next result of conn, waiting for it (non-interruptible); *ok false on failure. */
static PGresult *NextResult(PGconn *conn, TimestampTz deadline, bool *ok);
static bool ReadPipelineResults(PGconn *conn, int n, PGresult **results,
								TimestampTz deadline);

/* How many entries have a commit in flight (to skip the scans when none). */
static int	NumPending = 0;

/*
 * FinishPending reads the answer to entry's pipelined COMMIT PREPARED: at
 * once when wait, otherwise only if it has arrived (false if not; false
 * too when it could not be read).  The
 * connection stays entry's (leaving pipeline mode unless a pipeline was
 * sent behind the commit).  When the answer cannot be read, the connection
 * is closed unless keep (a caller holds it and fails on it, or a pipeline
 * was sent behind it).  Never raises.
 */
static bool
FinishPending(RemoteEntry *entry, bool wait, bool keep)
{
	PGconn	   *conn = entry->pending;
	TimestampTz deadline = DeadlineFromNow();
	PGresult   *results[2] = {NULL, NULL};
	bool		ok = true;
	int			i;

	if (conn == NULL)
		return true;
	if (!wait)
	{
		if (!PQconsumeInput(conn))
			ok = false;
		else if (PQisBusy(conn))
			return false;
	}
	if (ok)
		ok = ReadPipelineResults(conn, 2, results, deadline);
	if (ok && !entry->queued && !PQexitPipelineMode(conn))
		ok = false;
	entry->pending = NULL;
	NumPending--;
	keep = keep || entry->queued;
	entry->queued = false;
	LocalityRemotePendingDone(entry->key.region_id, entry->name, entry->pending_gid,
							  ok ? results[0] : NULL, ok ? results[1] : NULL);
	for (i = 0; i < 2; i++)
		if (results[i])
			PQclear(results[i]);
	LocalityRegionCallEnd(entry->name, ok, ok ? NULL : "no answer to a pipelined commit", -1);
	if (!ok && !keep && entry->conn == conn)
	{
		entry->conn = NULL;
		PQfinish(conn);
	}
	return ok;
}

/* The cache entry whose connection is conn, or NULL. */
static RemoteEntry *
EntryOf(PGconn *conn)
{
	HASH_SEQ_STATUS scan;
	RemoteEntry *e;

	if (RemoteCache == NULL || conn == NULL)
		return NULL;
	hash_seq_init(&scan, RemoteCache);
	while ((e = hash_seq_search(&scan)) != NULL)
	{
		if (e->conn == conn)
		{
			hash_seq_term(&scan);
			return e;
		}
	}
	return NULL;
}

/*
 * Settle: before conn runs anything else, the commit it still owes an
 * answer to is finished (its answer comes first on the connection anyway);
 * false when that answer could not be read (the connection is then unusable).
 */
static bool
Settle(PGconn *conn)
{
	RemoteEntry *entry;

	if (NumPending == 0)
		return true;
	entry = EntryOf(conn);
	if (entry != NULL && entry->pending == conn)
		return FinishPending(entry, true, true);
	return true;
}

/*
 * LocalityRemoteCommitAsync sends COMMIT PREPARED 'gid' and a read of the
 * commit position on conn (pipelined) without waiting for the answer.  The
 * connection stays the region's: whatever it runs next comes after the
 * commit at the region, and reads the commit's answer first
 * (LocalityRemotePendingDone in dist_xact.c gets it).  Never raises; false
 * when it could not even be sent.
 */
bool
LocalityRemoteCommitAsync(PGconn *conn, const char *gid, const char *label)
{
	RemoteEntry *entry;
	char		sql[160];
	bool		ok;
	TimestampTz deadline = DeadlineFromNow();

	if (PQstatus(conn) != CONNECTION_OK || (entry = EntryOf(conn)) == NULL)
		return false;
	if (entry->pending != NULL)
		(void) FinishPending(entry, true, true);
	snprintf(sql, sizeof(sql), "COMMIT PREPARED '%s'", gid);
	ok = PQenterPipelineMode(conn) &&
		PQsendQueryParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0) && PQpipelineSync(conn) &&
		PQsendQueryParams(conn, "SELECT " LOCALITY_WAL_END_SQL, 0, NULL, NULL,
						  NULL, NULL, 0) && PQpipelineSync(conn);
	while (ok)
	{
		int			flushed = PQflush(conn);

		if (flushed == 0)
			break;
		if (flushed < 0 || !WaitForSocket(conn, true, deadline, false))
			ok = false;
	}
	if (!ok)
		return false;
	entry->pending = conn;
	entry->queued = false;
	NumPending++;
	strlcpy(entry->pending_gid, gid, sizeof(entry->pending_gid));
	entry->pending_since = GetCurrentTimestamp();
	return true;
}

/*
 * LocalityRemotePollCommits reads the answers of commits in flight that
 * have arrived, without waiting for the others.  Never raises.
 */
void
LocalityRemotePollCommits(void)
{
	HASH_SEQ_STATUS scan;
	RemoteEntry *entry;

	if (RemoteCache == NULL || NumPending == 0)
		return;
	hash_seq_init(&scan, RemoteCache);
	while ((entry = hash_seq_search(&scan)) != NULL)
	{
		if (entry->pending != NULL)
			(void) FinishPending(entry, false, false);
	}
}

/* True while conn owes the answer to a commit sent without waiting. */
bool
LocalityRemoteCommitPending(PGconn *conn)
{
	RemoteEntry *entry;

	if (NumPending == 0)
		return false;
	entry = EntryOf(conn);
	return entry != NULL && entry->pending == conn;
}

/* The cache entry of region for the current role, created when missing. */
static RemoteEntry *
EntryFor(const LocalityRegion *region)
{
	RemoteKey	key;
	RemoteEntry *entry;
	bool		found;

	if (RemoteCache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(RemoteKey);
		ctl.entrysize = sizeof(RemoteEntry);
		ctl.hcxt = TopMemoryContext;
		RemoteCache = hash_create("pg_locality remote connections", 16, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.region_id = region->id;
	key.role_id = GetUserId();
	entry = hash_search(RemoteCache, &key, HASH_ENTER, &found);
	if (!found)
	{
		entry->conn = NULL;
		entry->pending = NULL;
		entry->queued = false;
		strlcpy(entry->name, region->name, sizeof(entry->name));
	}
	return entry;
}

/* entry's connection, (re)connecting when there is none or it broke. */
static PGconn *
EntryConnection(RemoteEntry *entry, const LocalityRegion *region)
{
	if (entry->conn != NULL && entry->pending == NULL && PQstatus(entry->conn) != CONNECTION_OK)
	{
		PQfinish(entry->conn);
		entry->conn = NULL;
	}
	if (entry->conn == NULL)
		entry->conn = LocalityConnectTo(region->conninfo, region->name);
	return entry->conn;
}

/*
 * LocalityRemoteForwardConnection is LocalityRemoteConnection for
 * forwarded statements, which send a pipeline behind a commit still in
 * flight instead of waiting for its answer (LocalityRemoteCommitPending).
 */
PGconn *
LocalityRemoteForwardConnection(const LocalityRegion *region)
{
	RemoteEntry *entry = EntryFor(region);

	if (entry->pending != NULL)
		(void) FinishPending(entry, false, false);
	return EntryConnection(entry, region);
}

/*
 * LocalityRemoteConnection returns the cached connection to region for the
 * current role, (re)connecting when there is none or it broke.
 */
PGconn *
LocalityRemoteConnection(const LocalityRegion *region)
{
	RemoteEntry *entry = EntryFor(region);

	/* A commit's answer still on its way: read it first. */
	if (entry->pending != NULL)
		(void) FinishPending(entry, true, false);
	return EntryConnection(entry, region);
}

/*
 * LocalityRemoteConnectAll makes sure the current role has a cached
 * connection to each of regions[0..n), opening the missing ones at the same
 * time: a statement that needs several regions waits for the slowest
 * handshake, not for their sum.  Each region passes its gate and has its
 * outcome counted as one connect does; once all are done, the first
 * failure (in the order given) is raised as LocalityRemoteConnection would
 * raise it, the connections that did open staying cached.  Logins come
 * from the user mappings as for LocalityConnectTo.
 */
void
LocalityRemoteConnectAll(const LocalityRegion *const *regions, int n)
{
	PendingConnect *pcs = palloc0(sizeof(PendingConnect) * Max(n, 1));
	RemoteEntry **entries = palloc0(sizeof(RemoteEntry *) * Max(n, 1));
	char	   *role = GetUserNameFromId(GetUserId(), false);
	char	  **users = palloc0(sizeof(char *) * Max(n, 1));
	bool	   *mapped = palloc0(sizeof(bool) * Max(n, 1));
	int			bad_login = -1;
	const char *token = NULL;
	int			missing = 0;
	int			started = 0;
	PendingConnect *first_failure = NULL;
	int			i;

	for (i = 0; i < n; i++)
	{
		int			j;

		entries[i] = EntryFor(regions[i]);
		for (j = 0; j < i; j++)
			if (entries[j] == entries[i])
				entries[i] = NULL;	/* the same region twice */
		if (entries[i] == NULL)
			continue;
		/* As LocalityRemoteForwardConnection: a commit in flight keeps its conn. */
		if (entries[i]->pending != NULL)
			(void) FinishPending(entries[i], false, false);
		if (entries[i]->conn != NULL && entries[i]->pending == NULL &&
			PQstatus(entries[i]->conn) != CONNECTION_OK)
		{
			PQfinish(entries[i]->conn);
			entries[i]->conn = NULL;
		}
		if (entries[i]->conn == NULL)
			missing++;
	}
	/* One missing connection is opened when it is first used. */
	if (missing < 2)
		return;
	token = LocalityPeerToken();

	/* Open breakers refuse here, before anything is started. */
	for (i = 0; i < n; i++)
		if (entries[i] != NULL && entries[i]->conn == NULL)
			LocalityRegionCallBegin(regions[i]->name);
	for (i = 0; i < n; i++)
		pcs[i].state = PGRES_POLLING_OK;	/* nothing to open */
	PG_TRY();
	{
		for (i = 0; i < n; i++)
		{
			char	   *password = NULL;

			if (entries[i] == NULL || entries[i]->conn != NULL)
				continue;
			users[i] = role;
			mapped[i] = MappedLogin(regions[i]->name, &users[i], &password);
			ConnectStart(&pcs[i], regions[i]->conninfo, regions[i]->name, false, users[i],
						 password, role, token);
			started = i + 1;
		}
		ConnectWait(pcs, n);
	}
	PG_CATCH();
	{
		ConnectAbandon(pcs, started);
		PG_RE_THROW();
	}
	PG_END_TRY();

	for (i = 0; i < n; i++)
	{
		PendingConnect *pc = &pcs[i];
		LocalityStatus refusal;

		if (entries[i] == NULL || entries[i]->conn != NULL)
			continue;
		if (ConnectOutcome(pc) != NULL)
		{
			LocalityRegionCallEnd(pc->label, true, NULL, -1);
			/* A login the region did not check is not kept (CheckMappedLogin). */
			if (mapped[i] && strcmp(users[i], role) != 0 && !superuser() &&
				!PQconnectionUsedPassword(pc->conn))
			{
				if (bad_login < 0)
					bad_login = i;
				else
					PQfinish(pc->conn);
			}
			else
				entries[i]->conn = pc->conn;
		}
		else if (first_failure == NULL)
			first_failure = pc;		/* counted when raised */
		else
			LocalityRegionCallEnd(pc->label,
								  pc->needs_password ||
								  locality_login_refusal(pc->failure, &refusal),
								  pc->failure, -1);
	}
	if (first_failure != NULL)
	{
		if (bad_login >= 0)
			PQfinish(pcs[bad_login].conn);
		ConnectRaise(first_failure, true);
	}
	if (bad_login >= 0)
		CheckMappedLogin(pcs[bad_login].conn, pcs[bad_login].label, true, users[bad_login], role);
}

/*
 * LocalityRemoteIsOpen is true while conn is a cached connection, that is
 * until LocalityRemoteForget closes it (after which it must not be used).
 */
bool
LocalityRemoteIsOpen(PGconn *conn)
{
	HASH_SEQ_STATUS scan;
	RemoteEntry *entry;

	if (RemoteCache == NULL || conn == NULL)
		return false;
	hash_seq_init(&scan, RemoteCache);
	while ((entry = hash_seq_search(&scan)) != NULL)
	{
		if (entry->conn == conn)
		{
			hash_seq_term(&scan);
			return true;
		}
	}
	return false;
}

/*
 * LocalityRemoteForget drops conn from the cache and closes it; a
 * connection the cache does not hold (LocalityConnectTo's) is left to its
 * caller.
 */
void
LocalityRemoteForget(PGconn *conn)
{
	HASH_SEQ_STATUS scan;
	RemoteEntry *entry;
	bool		cached = false;

	if (RemoteCache != NULL)
	{
		hash_seq_init(&scan, RemoteCache);
		while ((entry = hash_seq_search(&scan)) != NULL)
		{
			if (entry->conn == conn)
			{
				entry->conn = NULL;
				cached = true;
			}
			if (entry->pending == conn)
			{
				/* Its answer is lost: the resolver and the apply worker finish it. */
				entry->pending = NULL;
				entry->queued = false;
				NumPending--;
				LocalityRemotePendingDone(entry->key.region_id, entry->name, entry->pending_gid,
										  NULL, NULL);
				cached = true;
			}
		}
	}

	/*
	 * Only the cache's own connections are closed here: one from
	 * LocalityConnectTo belongs to its caller, who closes it (closing it here
	 * too freed it twice when a remote call on it failed).
	 */
	if (cached)
		PQfinish(conn);
}

/*
 * SendAndWait sends sql and collects its results; the last one is returned
 * (NULL with *timed_out set when the deadline passed).  Interruptible calls
 * let query cancel abort the wait (the caller's abort path cleans up).
 */
static PGresult *
SendAndWait(PGconn *conn, const char *sql, int nparams, const char *const *params,
			TimestampTz deadline, bool interruptible, bool *timed_out, bool *send_failed)
{
	PGresult   *last = NULL;
	int			sent;

	*timed_out = false;
	*send_failed = false;
	if (nparams > 0)
		sent = PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	else
		sent = PQsendQuery(conn, sql);
	if (!sent)
	{
		*send_failed = true;
		return NULL;
	}

	/* Flush what libpq buffered, then read every result. */
	for (;;)
	{
		int			flushed = PQflush(conn);

		if (flushed == 0)
			break;
		if (flushed < 0 || !WaitForSocket(conn, true, deadline, interruptible))
		{
			*send_failed = flushed < 0;
			*timed_out = flushed >= 0;
			return NULL;
		}
	}
	for (;;)
	{
		PGresult   *res;

		while (PQisBusy(conn))
		{
			if (!WaitForSocket(conn, false, deadline, interruptible))
			{
				*timed_out = true;
				if (last)
					PQclear(last);
				return NULL;
			}
			if (!PQconsumeInput(conn))
			{
				*send_failed = true;
				if (last)
					PQclear(last);
				return NULL;
			}
		}
		res = PQgetResult(conn);
		if (res == NULL)
			break;
		if (last)
			PQclear(last);
		last = res;
	}
	return last;
}

/*
 * RaiseRemoteError raises res's error with the remote SQLSTATE, message,
 * detail and hint, and a context line naming the region.  Frees res.
 */
static void
RaiseRemoteError(PGresult *res, PGconn *conn, const char *label)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	char	   *message = pstrdup(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) ?
								  PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) :
								  PQerrorMessage(conn));
	const char *d = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
	const char *h = PQresultErrorField(res, PG_DIAG_MESSAGE_HINT);
	char	   *detail = d ? pstrdup(d) : NULL;
	char	   *hint = h ? pstrdup(h) : NULL;
	int			code = ERRCODE_CONNECTION_FAILURE;

	if (state != NULL && strlen(state) == 5)
		code = MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4]);
	PQclear(res);
	ereport(ERROR,
			(errcode(code),
			 errmsg_internal("%s", message),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0,
			 errcontext("on region \"%s\"", label)));
}

/*
 * LocalityRemoteExecParams runs sql with text parameters on conn, returning
 * its result or raising the remote error.  A connection that times out or
 * breaks is closed and forgotten (its remote transaction is gone).
 */
PGresult *
LocalityRemoteExecParams(PGconn *conn, const char *sql, int nparams,
						 const char *const *params, const char *label)
{
	bool		timed_out;
	bool		send_failed;
	PGresult   *res;
	ExecStatusType status;
	TimestampTz start;

	if (!Settle(conn))
	{
		LocalityRemoteForget(conn);
		RaiseUnavailable(NULL, label, "no answer to the commit sent before", false);
	}
	LocalityRegionCallBegin(label);
	start = GetCurrentTimestamp();
	res = SendAndWait(conn, sql, nparams, params, DeadlineFromNow(), true,
					  &timed_out, &send_failed);
	if (res == NULL)
	{
		char	   *why;

		if (timed_out)
			why = psprintf("no answer within locality.forward_timeout (%d ms)",
						   LocalityForwardTimeoutMs);
		else
			why = pstrdup(PQerrorMessage(conn));
		if (timed_out)
			CancelAndForget(conn);
		else
			LocalityRemoteForget(conn);
		RaiseUnavailable(NULL, label, why, true);
	}
	ReportAnswered(conn, label, start);
	status = PQresultStatus(res);
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
		RaiseRemoteError(res, conn, label);
	return res;
}

/*
 * LocalityRemoteRaise raises res's remote error (SQLSTATE, message, detail,
 * hint, context naming the region) and frees res.
 */
void
LocalityRemoteRaise(PGresult *res, PGconn *conn, const char *label)
{
	RaiseRemoteError(res, conn, label);
	pg_unreachable();
}

/*
 * LocalityRemoteExecMulti sends sql (which may hold several statements, all
 * sent in one round trip) and returns every result in order, *nresults set,
 * without raising remote SQL errors (the caller looks at each result).
 * Connection failures and timeouts raise 08006 as LocalityRemoteExecParams.
 */
PGresult  **
LocalityRemoteExecMulti(PGconn *conn, const char *sql, const char *label, int *nresults)
{
	TimestampTz deadline = DeadlineFromNow();
	TimestampTz start;
	PGresult  **results;
	int			n = 0;
	int			size = 8;
	const char *why = NULL;

	if (!Settle(conn))
	{
		LocalityRemoteForget(conn);
		RaiseUnavailable(NULL, label, "no answer to the commit sent before", false);
	}
	LocalityRegionCallBegin(label);
	start = GetCurrentTimestamp();
	results = palloc(sizeof(PGresult *) * size);
	if (!PQsendQuery(conn, sql))
		why = pstrdup(PQerrorMessage(conn));
	while (why == NULL)
	{
		int			flushed = PQflush(conn);

		if (flushed == 0)
			break;
		if (flushed < 0)
			why = pstrdup(PQerrorMessage(conn));
		else if (!WaitForSocket(conn, true, deadline, false))
			why = psprintf("no answer within locality.forward_timeout (%d ms)",
						   LocalityForwardTimeoutMs);
	}
	while (why == NULL)
	{
		PGresult   *res;

		/* Query cancel: the remote session's state is unknown, drop it. */
		if (InterruptPending)
		{
			while (n > 0)
				PQclear(results[--n]);
			CancelAndForget(conn);
			LocalityRegionCallEnd(label, true, NULL, -1);
			CHECK_FOR_INTERRUPTS();
		}
		if (PQisBusy(conn))
		{
			if (!WaitForSocket(conn, false, deadline, false))
				why = psprintf("no answer within locality.forward_timeout (%d ms)",
							   LocalityForwardTimeoutMs);
			else if (!PQconsumeInput(conn))
				why = pstrdup(PQerrorMessage(conn));
			continue;
		}
		res = PQgetResult(conn);
		if (res == NULL)
			break;
		if (n == size)
		{
			size *= 2;
			results = repalloc(results, sizeof(PGresult *) * size);
		}
		results[n++] = res;
	}
	if (why != NULL)
	{
		while (n > 0)
			PQclear(results[--n]);
		CancelAndForget(conn);
		RaiseUnavailable(NULL, label, why, true);
	}
	ReportAnswered(conn, label, start);
	*nresults = n;
	return results;
}

PGresult *
LocalityRemoteExec(PGconn *conn, const char *sql, const char *label)
{
	return LocalityRemoteExecParams(conn, sql, 0, NULL, label);
}

void
LocalityRemoteCommand(PGconn *conn, const char *sql, const char *label)
{
	PQclear(LocalityRemoteExec(conn, sql, label));
}

/*
 * LocalityRemoteTryCommand runs sql without raising and without processing
 * interrupts (for abort and commit paths, where raising is not allowed).
 * Returns true when it succeeded; otherwise logs a WARNING when warn.
 */
bool
LocalityRemoteTryCommand(PGconn *conn, const char *sql, const char *label, bool warn)
{
	bool		timed_out;
	bool		send_failed;
	PGresult   *res;
	bool		ok;

	if (!Settle(conn))
		return false;
	if (PQstatus(conn) != CONNECTION_OK)
		return false;
	res = SendAndWait(conn, sql, 0, NULL, DeadlineFromNow(), false,
					  &timed_out, &send_failed);
	/* Counted, never refused: commit and abort must reach the region. */
	LocalityRegionCallEnd(label, res != NULL && PQstatus(conn) != CONNECTION_BAD,
						  timed_out ? "no answer within locality.forward_timeout" :
						  PQerrorMessage(conn), -1);
	ok = res != NULL && PQresultStatus(res) == PGRES_COMMAND_OK;
	if (!ok && warn)
		ereport(WARNING,
				(errmsg("could not run \"%s\" on region \"%s\"", sql, label),
				 errdetail_internal("%s", res ? PQresultErrorMessage(res) :
									timed_out ? "no answer within locality.forward_timeout" :
									PQerrorMessage(conn))));
	if (res)
		PQclear(res);
	return ok;
}

/*
 * LocalityRemoteTryExec is LocalityRemoteTryCommand returning the last
 * result (NULL when the region could not be reached); never raises.
 */
PGresult *
LocalityRemoteTryExec(PGconn *conn, const char *sql, const char *label)
{
	bool		timed_out;
	bool		send_failed;
	PGresult   *res;

	if (!Settle(conn))
		return NULL;
	if (PQstatus(conn) != CONNECTION_OK)
		return NULL;
	res = SendAndWait(conn, sql, 0, NULL, DeadlineFromNow(), false,
					  &timed_out, &send_failed);
	LocalityRegionCallEnd(label, res != NULL && PQstatus(conn) != CONNECTION_BAD,
						  timed_out ? "no answer within locality.forward_timeout" :
						  PQerrorMessage(conn), -1);
	return res;
}

/* The next result of conn, waiting for it (non-interruptible); *ok false on failure. */
static PGresult *
NextResult(PGconn *conn, TimestampTz deadline, bool *ok)
{
	while (PQisBusy(conn))
	{
		if (!WaitForSocket(conn, false, deadline, false) || !PQconsumeInput(conn))
		{
			*ok = false;
			return NULL;
		}
	}
	return PQgetResult(conn);
}

/*
 * ReadPipelineResults reads the answers of n pipelined statements, each
 * followed by its sync: results[i] gets statement i's last result.  False
 * when the connection failed or the answers did not have that shape.
 */
static bool
ReadPipelineResults(PGconn *conn, int n, PGresult **results, TimestampTz deadline)
{
	bool		ok = true;
	int			i;

	for (i = 0; i < n && ok; i++)
	{
		PGresult   *res;

		while ((res = NextResult(conn, deadline, &ok)) != NULL)
		{
			if (results[i])
				PQclear(results[i]);
			results[i] = res;
		}
		if (!ok)
			break;
		res = NextResult(conn, deadline, &ok);
		if (res == NULL || PQresultStatus(res) != PGRES_PIPELINE_SYNC)
			ok = false;
		if (res)
			PQclear(res);
	}
	return ok;
}

/*
 * LocalityRemoteTryPipeline runs each of the n statements as its own
 * transaction, all in one round trip (libpq pipeline mode, a sync after
 * each), for commit paths: COMMIT PREPARED cannot share a query string.
 * results[i] is statement i's last result or NULL.  Never raises; false
 * when the region could not be reached.  LocalityRemoteTryPipelineSend and
 * LocalityRemoteTryPipelineCollect are its two halves, so that several
 * regions can be sent theirs before any answer is read.
 */
bool
LocalityRemoteTryPipeline(PGconn *conn, int n, const char *const *sqls, PGresult **results,
						  const char *label)
{
	int			i;

	if (!LocalityRemoteTryPipelineSend(conn, n, sqls, label))
	{
		for (i = 0; i < n; i++)
			results[i] = NULL;
		return false;
	}
	return LocalityRemoteTryPipelineCollect(conn, n, results, label);
}

bool
LocalityRemoteTryPipelineSend(PGconn *conn, int n, const char *const *sqls, const char *label)
{
	TimestampTz deadline = DeadlineFromNow();
	bool		ok = true;
	int			i;

	if (!Settle(conn))
		return false;
	if (PQstatus(conn) != CONNECTION_OK || !PQenterPipelineMode(conn))
		return false;
	for (i = 0; i < n && ok; i++)
		ok = PQsendQueryParams(conn, sqls[i], 0, NULL, NULL, NULL, NULL, 0) &&
			PQpipelineSync(conn);
	while (ok)
	{
		int			flushed = PQflush(conn);

		if (flushed == 0)
			break;
		if (flushed < 0 || !WaitForSocket(conn, true, deadline, false))
			ok = false;
	}
	if (!ok)
		LocalityRegionCallEnd(label, false, "no answer to a pipelined commit", -1);
	return ok;
}

bool
LocalityRemoteTryPipelineCollect(PGconn *conn, int n, PGresult **results, const char *label)
{
	TimestampTz deadline = DeadlineFromNow();
	bool		ok;
	int			i;

	for (i = 0; i < n; i++)
		results[i] = NULL;
	ok = ReadPipelineResults(conn, n, results, deadline);
	if (!ok || !PQexitPipelineMode(conn))
	{
		ok = false;
		for (i = 0; i < n; i++)
		{
			if (results[i])
				PQclear(results[i]);
			results[i] = NULL;
		}
	}
	LocalityRegionCallEnd(label, ok, ok ? NULL : "no answer to a pipelined commit", -1);
	return ok;
}

/*
 * Pipelines: several statements sent at once and collected later, so that
 * a batch of rows costs one round trip and several regions work at the same
 * time (forward_rows.c, fan-out in forward.c).
 */

/* Drops conn after a query cancel or die, then processes the interrupt. */
static void
DropForInterrupt(PGconn *conn, const char *label)
{
	CancelAndForget(conn);
	LocalityRegionCallEnd(label, true, NULL, -1);
	CHECK_FOR_INTERRUPTS();
}

/*
 * PipelineWait waits until conn can be written (for_write) or read, reading
 * whatever arrives meanwhile so neither side's buffers fill up; the reason
 * when it failed or the deadline passed, else NULL.
 */
static const char *
PipelineWait(PGconn *conn, bool for_write, TimestampTz deadline, const char *label)
{
	long		timeout = MsUntil(deadline);
	int			rc;

	if (timeout <= 0)
		return psprintf("no answer within locality.forward_timeout (%d ms)",
						LocalityForwardTimeoutMs);
	rc = WaitLatchOrSocket(MyLatch,
						   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | WL_SOCKET_READABLE |
						   (for_write ? WL_SOCKET_WRITEABLE : 0),
						   PQsocket(conn), timeout, PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		if (InterruptPending)
			DropForInterrupt(conn, label);
	}
	if ((rc & WL_SOCKET_READABLE) && !PQconsumeInput(conn))
		return pstrdup(PQerrorMessage(conn));
	return NULL;
}

/* Sends what libpq buffered for conn; the reason when it failed, else NULL. */
static const char *
PipelineFlush(PGconn *conn, TimestampTz deadline, const char *label)
{
	for (;;)
	{
		int			flushed = PQflush(conn);
		const char *why;

		if (flushed == 0)
			return NULL;
		if (flushed < 0)
			return pstrdup(PQerrorMessage(conn));
		if ((why = PipelineWait(conn, true, deadline, label)) != NULL)
			return why;
	}
}

/* Gives up on conn: cancel, drop it, raise 08006. */
static void
PipelineFail(PGconn *conn, const char *label, const char *why)
{
	CancelAndForget(conn);
	RaiseUnavailable(NULL, label, why, true);
}

/*
 * LocalityRemotePipelineSend sends steps and a sync on conn without waiting
 * for answers.
 */
void
LocalityRemotePipelineSend(PGconn *conn, int n, const LocalityPipelineStep *steps,
						   const char *label)
{
	TimestampTz deadline = DeadlineFromNow();
	const char *why = NULL;
	int			i;

	LocalityRegionCallBegin(label);
	if (NumPending > 0)
	{
		RemoteEntry *entry = EntryOf(conn);

		/* Behind a commit in flight: the collect reads its answer first. */
		if (entry != NULL && entry->pending == conn)
			entry->queued = true;
	}
	if (!PQenterPipelineMode(conn))
		why = pstrdup(PQerrorMessage(conn));
	for (i = 0; i < n && why == NULL; i++)
	{
		const LocalityPipelineStep *step = &steps[i];
		int			sent;

		if (step->prepare)
			sent = PQsendPrepare(conn, "", step->sql, 0, NULL);
		else if (step->sql != NULL)
			sent = PQsendQueryParams(conn, step->sql, step->nparams, NULL, step->params,
									 NULL, NULL, 0);
		else
			sent = PQsendQueryPrepared(conn, "", step->nparams, step->params, NULL, NULL, 0);
		if (sent && step->sync)
			sent = PQpipelineSync(conn);
		if (!sent)
			why = pstrdup(PQerrorMessage(conn));
		/* A long batch: keep the data moving both ways as it is queued. */
		else if (i % 256 == 255)
			why = PipelineFlush(conn, deadline, label);
	}
	if (why == NULL && !PQpipelineSync(conn))
		why = pstrdup(PQerrorMessage(conn));
	if (why == NULL)
		why = PipelineFlush(conn, deadline, label);
	if (why != NULL)
		PipelineFail(conn, label, why);
}

/*
 * LocalityRemotePipelineCollect waits for the answers to the n steps sent by
 * LocalityRemotePipelineSend and returns each step's last result.
 */
PGresult  **
LocalityRemotePipelineCollect(PGconn *conn, int n, const char *label)
{
	TimestampTz deadline = DeadlineFromNow();
	PGresult  **results = palloc0(sizeof(PGresult *) * Max(n, 1));
	const char *why = NULL;
	PGresult   *res;
	int			i;

	if (!Settle(conn))
		why = "no answer to the commit sent before this statement";
	for (i = 0; i <= n && why == NULL; i++)
	{
		for (;;)
		{
			while (why == NULL && PQisBusy(conn))
				why = PipelineWait(conn, false, deadline, label);
			if (why != NULL)
				break;
			res = PQgetResult(conn);
			if (i == n)
			{
				/* after the last step: the sync */
				if (res == NULL || PQresultStatus(res) != PGRES_PIPELINE_SYNC)
					why = "the region did not answer the pipeline's sync";
				if (res)
					PQclear(res);
				break;
			}
			if (res == NULL)
				break;
			/* the sync of a step sent with one (step->sync) */
			if (PQresultStatus(res) == PGRES_PIPELINE_SYNC)
			{
				PQclear(res);
				continue;
			}
			if (results[i])
				PQclear(results[i]);
			results[i] = res;
		}
	}
	if (why == NULL && !PQexitPipelineMode(conn))
		why = pstrdup(PQerrorMessage(conn));
	if (why != NULL)
	{
		for (i = 0; i < n; i++)
			if (results[i])
				PQclear(results[i]);
		PipelineFail(conn, label, why);
	}
	if (PQstatus(conn) == CONNECTION_BAD)
		LocalityRegionCallEnd(label, false, PQerrorMessage(conn), -1);
	else
		LocalityRegionCallEnd(label, true, NULL, -1);
	return results;
}

/*
 * LocalityInitRemote registers locality.forward_timeout.
 */
void
LocalityInitRemote(void)
{
	DefineCustomIntVariable("locality.forward_timeout",
							"Time limit of one call to another region (connect or statement).",
							NULL,
							&LocalityForwardTimeoutMs,
							5000, 1, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}
