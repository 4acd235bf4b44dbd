/*
 * dist_xact.c -- one distributed transaction across regions for catalog
 * changes and schema changes of managed tables.
 *
 * Work is sent to a region at once (so its errors surface in the statement
 * that caused them), inside a remote transaction opened on first use and
 * mirroring the local savepoints.  At local pre-commit the decision is
 * recorded in locality.dist_transactions (committed with the local
 * transaction) and every participant is PREPAREd; after the local commit
 * every participant gets COMMIT PREPARED.  Any failure before the local
 * commit, and any local abort, rolls every participant back.  A participant
 * left prepared by a crash of either side is resolved by
 * LocalityRecoverPreparedTransactions(): commit when the decision row
 * exists, roll back when the coordinating transaction ended without one.
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "access/xlogdefs.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "catalog/pg_type.h"
#include "storage/procarray.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/pg_lsn.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/dist_xact.h"
#include "shim/forward.h"
#include "shim/pending_commits.h"
#include "shim/remote.h"
#include "shim/replication.h"

/* A region taking part in the current distributed transaction. */
typedef struct Participant
{
	LocalityRegionId region_id;
	char		name[LOCALITY_REGION_NAME_MAX + 1];
	PGconn	   *conn;
	int			depth;			/* remote (sub)transaction nesting we opened */
	char	   *search_path;	/* last search_path sent in this transaction */
	bool		prepared;
	bool		broken;			/* a savepoint rollback failed: state unknown */
	bool		ddl;			/* propagated DDL/catalog work (always 2PC) */
	bool		forwarded;		/* forwarded DML (read-your-writes after commit) */
	bool		committed;		/* committed in one phase at pre-commit */
	TransactionId remote_xid;	/* read with PREPARE when the commit is asynchronous */
	char		gid[96];
} Participant;

static List *Participants = NIL;	/* in TopTransactionContext */

/*
 * GUC locality.synchronous_forward_commit: wait for COMMIT PREPARED of
 * forwarded work before COMMIT returns.  Off (the default): send it and go
 * on; the decision is already durable here, the resolver finishes it if the
 * answer never comes, reads on this server wait for it (pending_commits.c)
 * and this session's next statement to the region runs after it on the
 * same connection.
 */
bool		LocalitySynchronousForwardCommit = false;

/* gids committed by this backend whose decision rows can be removed. */
static List *CommittedGids = NIL;	/* in TopMemoryContext */

/* The participant of region in this transaction, or NULL. */
static Participant *
FindParticipant(const LocalityRegion *region)
{
	ListCell   *lc;

	foreach(lc, Participants)
	{
		Participant *p = lfirst(lc);

		if (p->region_id == region->id)
			return p;
	}
	return NULL;
}

/*
 * NewParticipant connects to region for this transaction; the caller adds
 * it with AddParticipant once its remote side is ready, so an error before
 * that leaves nothing for the abort path to touch.  forward: for forwarded
 * statements, which may go behind a commit still in flight on the
 * connection.
 */
static Participant *
NewParticipant(const LocalityRegion *region, bool forward)
{
	Participant *p = MemoryContextAllocZero(TopTransactionContext, sizeof(Participant));

	p->region_id = region->id;
	strlcpy(p->name, region->name, sizeof(p->name));
	p->conn = forward ? LocalityRemoteForwardConnection(region) : LocalityRemoteConnection(region);
	return p;
}

static Participant *
AddParticipant(Participant *p)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

	Participants = lappend(Participants, p);
	MemoryContextSwitchTo(old);
	return p;
}

/* The participant of region in this transaction, created on first use. */
static Participant *
ForwardParticipant(const LocalityRegion *region)
{
	Participant *p = FindParticipant(region);

	return p != NULL ? p : AddParticipant(NewParticipant(region, true));
}

/* The participant entry for region, opening its remote transaction. */
static Participant *
JoinParticipant(const LocalityRegion *region)
{
	Participant *p = FindParticipant(region);

	if (p != NULL)
		return p;
	p = NewParticipant(region, false);
	LocalityRemoteCommand(p->conn, "START TRANSACTION ISOLATION LEVEL READ COMMITTED",
						  p->name);
	p->depth = 1;
	return AddParticipant(p);
}

/*
 * RequireOpen raises 08006 when p's connection was closed after a failure
 * earlier in this transaction: its remote transaction is gone.
 */
static void
RequireOpen(Participant *p)
{
	if (!LocalityRemoteIsOpen(p->conn))
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("region \"%s\" is unavailable", p->name),
				 errdetail("The connection to it was lost earlier in this transaction.")));
}

/* Opens remote savepoints down to the current local nesting level. */
static void
MatchNesting(Participant *p)
{
	int			level = GetCurrentTransactionNestLevel();

	while (p->depth < level)
	{
		char		sql[64];

		snprintf(sql, sizeof(sql), "SAVEPOINT locality_s%d", p->depth + 1);
		LocalityRemoteCommand(p->conn, sql, p->name);
		p->depth++;
	}
}

/* Sends the caller's search_path when it differs from the last one sent. */
static void
MatchSearchPath(Participant *p)
{
	const char *path = GetConfigOption("search_path", false, false);
	const char *params[1];
	MemoryContext old;

	if (p->search_path != NULL && strcmp(p->search_path, path) == 0)
		return;
	params[0] = path;
	PQclear(LocalityRemoteExecParams(p->conn,
									 "SELECT pg_catalog.set_config('search_path', $1, true)",
									 1, params, p->name));
	old = MemoryContextSwitchTo(TopTransactionContext);
	p->search_path = pstrdup(path);
	MemoryContextSwitchTo(old);
}

/*
 * LocalityPropagateTo runs sql on region in the current distributed
 * transaction; a remote error is raised here.
 */
void
LocalityPropagateTo(const LocalityRegion *region, const char *sql)
{
	Participant *p;

	if (LocalityIsRemoteApply())
		return;
	if (region->is_local)
		elog(ERROR, "pg_locality: cannot propagate to this server's own region");

	p = JoinParticipant(region);
	p->ddl = true;
	RequireOpen(p);
	MatchNesting(p);
	MatchSearchPath(p);
	LocalityRemoteCommand(p->conn, sql, p->name);
}

/*
 * LocalityPropagateToAll runs sql on every other region in the catalog.
 */
void
LocalityPropagateToAll(const char *sql)
{
	int			count;
	const LocalityRegion *regions;
	int			i;

	if (LocalityIsRemoteApply())
		return;
	/* The entries stay readable for the transaction, across rebuilds. */
	regions = LocalityRegions(&count);
	for (i = 0; i < count; i++)
	{
		if (!regions[i].is_local)
			LocalityPropagateTo(&regions[i], sql);
	}
}


/* The isolation level of the caller's transaction, for the remote one. */
static const char *
IsolationLevelSql(void)
{
	switch (XactIsoLevel)
	{
		case XACT_SERIALIZABLE:
			return "SERIALIZABLE";
		case XACT_REPEATABLE_READ:
			return "REPEATABLE READ";
		default:
			return "READ COMMITTED";
	}
}

/* Parses the text of LOCALITY_WAL_END_SQL (0 when it is not a position). */
static XLogRecPtr
ParseLsn(PGresult *res)
{
	uint32		hi,
				lo;

	if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
		sscanf(PQgetvalue(res, 0, 0), "%X/%X", &hi, &lo) != 2)
		return InvalidXLogRecPtr;
	return ((uint64) hi << 32) | lo;
}

/*
 * Statements a forwarded session runs first: the forwarding depth (so the
 * home does not forward in a loop) and the caller's search_path.
 */
static void
AppendSessionSettings(StringInfo sql, Participant *p)
{
	const char *path = GetConfigOption("search_path", false, false);

	appendStringInfo(sql, "SELECT pg_catalog.set_config('locality.forward_depth', '%d', true), "
					 "pg_catalog.set_config('search_path', %s, true);",
					 LocalityForwardDepth + 1, quote_literal_cstr(path));
	if (p != NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		p->search_path = pstrdup(path);
		MemoryContextSwitchTo(old);
	}
}

/*
 * WaitSql: the statement that makes the home wait for this server's commits
 * to region still in flight (pending_commits.c), possibly sent by other
 * sessions, before a forwarded statement runs there; NULL when there are
 * none (one shared-memory read) or when waiting cannot help: a remote
 * transaction already open (depth > 0) with a transaction snapshot.
 * Without it another session's statement could reach the home before
 * COMMIT PREPARED of a commit that already returned here.
 */
static char *
WaitSql(const LocalityRegion *region, int depth)
{
	char	   *xids;

	if (depth > 0 && IsolationUsesXactSnapshot())
		return NULL;
	xids = LocalityPendingCommitXidArray(region->id);
	if (xids == NULL)
		return NULL;
	return psprintf("SELECT locality._wait_for_xacts('%s')", xids);
}

static PGresult *ForwardPipelined(const LocalityRegion *region, const char *sql);
static PGresult *ForwardOneShotPipelined(PGconn *conn, const LocalityRegion *region,
										 const char *sql);

/*
 * ForwardedResult: the statement's result of a forwarded call, or its
 * error raised (after ending a one-shot remote transaction the error left
 * open); a one-shot call's commit position is noted for read-your-writes.
 */
static PGresult *
ForwardedResult(const LocalityRegion *region, PGconn *conn, PGresult *result, PGresult *error,
				bool one_shot, XLogRecPtr commit_lsn)
{
	if (error != NULL)
	{
		if (result)
			PQclear(result);
		if (one_shot && PQtransactionStatus(conn) == PQTRANS_INERROR)
			(void) LocalityRemoteTryCommand(conn, "ROLLBACK", region->name, false);
		LocalityRemoteRaise(error, conn, region->name);
	}
	if (result == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("region \"%s\" returned no result for a forwarded statement",
						region->name)));
	if (one_shot)
		LocalityNoteRemoteCommit(region->id, commit_lsn);
	return result;
}

/*
 * LocalityForwardStatement runs sql at region inside the caller's
 * transaction and returns the statement's result.  Everything the remote
 * side needs first (BEGIN, savepoints, settings) goes in the same round
 * trip.  one_shot: the caller is an autocommit statement with nothing else
 * to do, so COMMIT goes in that round trip too (one phase, one round trip).
 */
PGresult *
LocalityForwardStatement(const LocalityRegion *region, const char *sql, bool one_shot)
{
	StringInfoData buf;
	Participant *p = NULL;
	PGconn	   *conn;
	PGresult  **results;
	int			nresults;
	int			stmt_index;
	int			i;
	PGresult   *error = NULL;
	PGresult   *result = NULL;
	XLogRecPtr	commit_lsn = InvalidXLogRecPtr;

	initStringInfo(&buf);
	if (one_shot)
	{
		conn = LocalityRemoteForwardConnection(region);
		if (LocalityRemoteCommitPending(conn) || LocalityPendingCommitXidArray(region->id) != NULL)
			return ForwardOneShotPipelined(conn, region, sql);
		appendStringInfo(&buf, "START TRANSACTION ISOLATION LEVEL %s;", IsolationLevelSql());
		AppendSessionSettings(&buf, NULL);
		stmt_index = 2;
		appendStringInfo(&buf, "%s;COMMIT;SELECT " LOCALITY_WAL_END_SQL, sql);
	}
	else
	{
		int			level = GetCurrentTransactionNestLevel();
		const char *path = GetConfigOption("search_path", false, false);

		p = ForwardParticipant(region);
		RequireOpen(p);
		conn = p->conn;
		/* Behind a commit in flight (on the connection or not): one pipeline. */
		if (LocalityRemoteCommitPending(conn) || WaitSql(region, p->depth) != NULL)
			return ForwardPipelined(region, sql);
		if (p->depth == 0)
		{
			appendStringInfo(&buf, "START TRANSACTION ISOLATION LEVEL %s;", IsolationLevelSql());
			p->depth = 1;
			p->search_path = NULL;
		}
		while (p->depth < level)
		{
			appendStringInfo(&buf, "SAVEPOINT locality_s%d;", p->depth + 1);
			p->depth++;
		}
		if (!p->forwarded || p->search_path == NULL || strcmp(p->search_path, path) != 0)
			AppendSessionSettings(&buf, p);
		if (!p->forwarded)
			LocalityForwardingBegins();
		p->forwarded = true;
		appendStringInfoString(&buf, sql);
		stmt_index = -1;		/* the last result */
	}

	results = LocalityRemoteExecMulti(conn, buf.data, region->name, &nresults);
	if (stmt_index < 0)
		stmt_index = nresults - 1;
	for (i = 0; i < nresults; i++)
	{
		ExecStatusType st = PQresultStatus(results[i]);

		if (error == NULL && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
			error = results[i];
		else if (i == stmt_index && error == NULL)
			result = results[i];
		else
		{
			if (one_shot && i == nresults - 1 && error == NULL)
				commit_lsn = ParseLsn(results[i]);
			PQclear(results[i]);
		}
	}
	return ForwardedResult(region, conn, result, error, one_shot, commit_lsn);
}

/*
 * Forwarded calls sent without waiting (LocalityForwardSend/Collect): the
 * same remote transaction as LocalityForwardStatement, its opening
 * statements and the statement itself sent as one pipeline.
 */
struct LocalityForwardCall
{
	Participant *p;
	int			npre;			/* opening statements before the statement */
	int			nsteps;
	int			presync;		/* the wait before START TRANSACTION, or -1 */
};


LocalityForwardCall *
LocalityForwardSend(const LocalityRegion *region, const char *sql, int nparams, int nrows,
					const char *const *values)
{
	Participant *p = ForwardParticipant(region);
	int			level = GetCurrentTransactionNestLevel();
	const char *path = GetConfigOption("search_path", false, false);
	LocalityPipelineStep *steps;
	LocalityForwardCall *call = palloc0(sizeof(LocalityForwardCall));
	int			n = 0;
	int			row;
	char	   *wait;

	RequireOpen(p);
	wait = WaitSql(region, p->depth);
	steps = palloc0(sizeof(LocalityPipelineStep) * (level + 5 + nrows));
	call->presync = -1;
	if (p->depth == 0)
	{
		/*
		 * A transaction snapshot is taken by the first statement: wait in a
		 * transaction of its own before (its failure is left to the check
		 * below, which then fails in the transaction).
		 */
		if (wait != NULL && IsolationUsesXactSnapshot())
		{
			call->presync = n;
			steps[n].sql = wait;
			steps[n++].sync = true;
		}
		steps[n++].sql = psprintf("START TRANSACTION ISOLATION LEVEL %s", IsolationLevelSql());
		p->depth = 1;
		p->search_path = NULL;
	}
	while (p->depth < level)
	{
		steps[n++].sql = psprintf("SAVEPOINT locality_s%d", p->depth + 1);
		p->depth++;
	}
	/* READ COMMITTED: wait here; else check the snapshot sees them. */
	if (wait != NULL)
		steps[n++].sql = wait;
	if (!p->forwarded || p->search_path == NULL || strcmp(p->search_path, path) != 0)
	{
		StringInfoData settings;

		initStringInfo(&settings);
		AppendSessionSettings(&settings, p);
		steps[n++].sql = settings.data;
	}
	if (!p->forwarded)
		LocalityForwardingBegins();
	p->forwarded = true;
	call->p = p;
	call->npre = n;
	if (nrows == 0)
		steps[n++].sql = sql;
	else
	{
		steps[n].sql = sql;
		steps[n++].prepare = true;
		call->npre = n;
		for (row = 0; row < nrows; row++)
		{
			steps[n].nparams = nparams;
			steps[n++].params = values + (Size) row * nparams;
		}
	}
	call->nsteps = n;
	LocalityRemotePipelineSend(p->conn, n, steps, p->name);
	pfree(steps);
	return call;
}

PGresult  **
LocalityForwardCollect(LocalityForwardCall *call, int *nresults, PGresult **error)
{
	Participant *p = call->p;
	PGresult  **results;
	int			i;

	*error = NULL;
	RequireOpen(p);
	results = LocalityRemotePipelineCollect(p->conn, call->nsteps, p->name);
	for (i = 0; i < call->nsteps; i++)
	{
		ExecStatusType st = results[i] ? PQresultStatus(results[i]) : PGRES_FATAL_ERROR;

		/* The check in the transaction decides whether the wait failing matters. */
		if (i == call->presync && results[i] != NULL)
		{
			PQclear(results[i]);
			results[i] = NULL;
		}
		else if (*error == NULL && st == PGRES_FATAL_ERROR && results[i] != NULL)
		{
			*error = results[i];
			results[i] = NULL;
		}
		else if (i < call->npre && results[i] != NULL)
		{
			PQclear(results[i]);
			results[i] = NULL;
		}
	}
	*nresults = call->nsteps - call->npre;
	return results + call->npre;
}

void
LocalityForwardRaise(LocalityForwardCall *call, PGresult *error)
{
	LocalityRemoteRaise(error, call->p->conn, call->p->name);
}

/*
 * LocalityForwardedTo: true when the current transaction has forwarded a
 * statement to region (InvalidLocalityRegionId: to any region), so that
 * its remote part there holds this transaction's uncommitted work.  Costs a
 * test of an empty list in transactions that forwarded nothing.
 */
bool
LocalityForwardedTo(LocalityRegionId region)
{
	ListCell   *lc;

	foreach(lc, Participants)
	{
		Participant *p = lfirst(lc);

		if (p->forwarded && !p->committed &&
			(region == InvalidLocalityRegionId || p->region_id == region))
			return true;
	}
	return false;
}

/* LocalityForwardedRegions: the ids of those regions (an integer list). */
List *
LocalityForwardedRegions(void)
{
	List	   *ids = NIL;
	ListCell   *lc;

	foreach(lc, Participants)
	{
		Participant *p = lfirst(lc);

		if (p->forwarded && !p->committed)
			ids = lappend_int(ids, p->region_id);
	}
	return ids;
}

/*
 * ForwardPipelined is LocalityForwardStatement in a transaction when the
 * connection still owes the answer to a commit: the statement is sent
 * behind it (so it runs after that commit at the region), in the same
 * round trip, and the commit's answer is read first.  Also when commits to
 * the region sent by other sessions are in flight: the wait for them goes
 * first (LocalityForwardSend).
 */
static PGresult *
ForwardPipelined(const LocalityRegion *region, const char *sql)
{
	LocalityForwardCall *call = LocalityForwardSend(region, sql, 0, 0, NULL);
	PGresult   *error;
	int			n;
	PGresult  **results = LocalityForwardCollect(call, &n, &error);

	if (error != NULL)
	{
		if (n == 1 && results[0] != NULL)
			PQclear(results[0]);
		LocalityForwardRaise(call, error);
	}
	if (n != 1 || results[0] == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("region \"%s\" returned no result for a forwarded statement",
						region->name)));
	return results[0];
}

/*
 * ForwardOneShotPipelined is the one-shot LocalityForwardStatement behind a
 * commit still in flight on conn, or after commits to the region in flight
 * from other sessions (the wait for them first, as in LocalityForwardSend):
 * the same statements as one pipeline.
 */
static PGresult *
ForwardOneShotPipelined(PGconn *conn, const LocalityRegion *region, const char *sql)
{
	StringInfoData settings;
	LocalityPipelineStep steps[7];
	PGresult  **results;
	PGresult   *error = NULL;
	PGresult   *result = NULL;
	XLogRecPtr	commit_lsn = InvalidXLogRecPtr;
	char	   *wait = WaitSql(region, 0);
	int			presync = -1;
	int			stmt;
	int			n = 0;
	int			i;

	memset(steps, 0, sizeof(steps));
	initStringInfo(&settings);
	AppendSessionSettings(&settings, NULL);
	if (wait != NULL && IsolationUsesXactSnapshot())
	{
		presync = n;
		steps[n].sql = wait;
		steps[n++].sync = true;
	}
	steps[n++].sql = psprintf("START TRANSACTION ISOLATION LEVEL %s", IsolationLevelSql());
	if (wait != NULL)
		steps[n++].sql = wait;
	steps[n++].sql = settings.data;
	stmt = n;
	steps[n++].sql = sql;
	steps[n++].sql = "COMMIT";
	steps[n++].sql = "SELECT " LOCALITY_WAL_END_SQL;
	LocalityRemotePipelineSend(conn, n, steps, region->name);
	results = LocalityRemotePipelineCollect(conn, n, region->name);
	for (i = 0; i < n; i++)
	{
		ExecStatusType st = results[i] ? PQresultStatus(results[i]) : PGRES_FATAL_ERROR;

		if (i == presync)
		{
			/* the check in the transaction decides whether this failing matters */
			if (results[i])
				PQclear(results[i]);
		}
		else if (error == NULL && st == PGRES_FATAL_ERROR && results[i] != NULL)
			error = results[i];
		else if (i == stmt && error == NULL)
			result = results[i];
		else
		{
			if (i == n - 1 && error == NULL)
				commit_lsn = ParseLsn(results[i]);
			if (results[i])
				PQclear(results[i]);
		}
	}
	return ForwardedResult(region, conn, result, error, true, commit_lsn);
}

/* Removes decision rows of gids this backend saw committed everywhere. */
static void
ForgetCommittedGids(void)
{
	ListCell   *lc;

	foreach(lc, CommittedGids)
	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		values[1];

		values[0] = CStringGetTextDatum((char *) lfirst(lc));
		LocalityCatalogExecute("DELETE FROM locality.dist_transactions WHERE gid = $1",
							   1, argtypes, values, NULL);
	}
	list_free_deep(CommittedGids);
	CommittedGids = NIL;
}

/*
 * CommitOnePhase commits p's remote transaction at local pre-commit (p is
 * the only participant and nothing was written here, so there is nothing to
 * agree on); a failure aborts the local transaction.
 */
static void
CommitOnePhase(Participant *p)
{
	PGresult  **results;
	int			n;
	int			i;
	PGresult   *error = NULL;
	bool		committed;

	if (p->broken)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("cannot commit: the transaction's state on region \"%s\" is unknown",
						p->name),
				 errdetail("Rolling back to a savepoint failed there.")));
	RequireOpen(p);
	results = LocalityRemoteExecMulti(p->conn, "COMMIT;SELECT " LOCALITY_WAL_END_SQL,
									  p->name, &n);
	committed = n >= 1 && PQresultStatus(results[0]) == PGRES_COMMAND_OK &&
		strcmp(PQcmdStatus(results[0]), "COMMIT") == 0;
	if (committed)
	{
		p->committed = true;
		if (n >= 2)
			LocalityNoteRemoteCommit(p->region_id, ParseLsn(results[1]));
	}
	for (i = 0; i < n; i++)
	{
		if (error == NULL && PQresultStatus(results[i]) == PGRES_FATAL_ERROR)
			error = results[i];
		else
			PQclear(results[i]);
	}
	if (error != NULL)
		LocalityRemoteRaise(error, p->conn, p->name);
	if (!committed)
		ereport(ERROR,
				(errcode(ERRCODE_TRANSACTION_ROLLBACK),
				 errmsg("the transaction was rolled back on region \"%s\"", p->name)));
}

/* True when p's COMMIT PREPARED is sent without waiting for it. */
static bool
AsyncCommit(Participant *p)
{
	return p->forwarded && !p->ddl && !LocalitySynchronousForwardCommit;
}

/*
 * SendPrepare sends p's PREPARE TRANSACTION without waiting for the answer
 * (PrepareParticipants sends to every participant first, then collects), as
 * a pipeline.  With an asynchronous commit the remote xid is read first, in
 * the same round trip (pending_commits.c tracks the commit by it; no xid
 * when it wrote nothing there); a transaction with an xid also writes a
 * LOCALITY_COMMIT_MARK message, so its commit reaches this server's apply
 * worker even if it only locked rows.  Returns the number of steps sent.
 */
static int
SendPrepare(Participant *p)
{
	LocalityPipelineStep steps[2];
	int			n = 0;

	memset(steps, 0, sizeof(steps));
	if (AsyncCommit(p))
		steps[n++].sql = psprintf("SELECT x, CASE WHEN x IS NOT NULL THEN "
								  "pg_catalog.pg_logical_emit_message(true, '%s', '') END "
								  "FROM (SELECT pg_catalog.pg_current_xact_id_if_assigned() AS x) s",
								  LOCALITY_COMMIT_MARK);
	steps[n++].sql = psprintf("PREPARE TRANSACTION '%s'", p->gid);
	LocalityRemotePipelineSend(p->conn, n, steps, p->name);
	return n;
}

/*
 * CollectPrepare reads the answer to SendPrepare's n steps: true when p is
 * prepared; otherwise *error gets the remote error (the caller raises it
 * with LocalityRemoteRaise) or stays NULL when the region rolled the
 * transaction back without one.  Unreachability raises 08006.
 */
static bool
CollectPrepare(Participant *p, int n, PGresult **error)
{
	PGresult  **results = LocalityRemotePipelineCollect(p->conn, n, p->name);
	uint64		fxid = 0;
	bool		prepared = false;
	int			i;

	*error = NULL;
	for (i = 0; i < n; i++)
	{
		ExecStatusType st = results[i] ? PQresultStatus(results[i]) : PGRES_FATAL_ERROR;

		if (*error == NULL && st == PGRES_FATAL_ERROR && results[i] != NULL)
		{
			*error = results[i];
			continue;
		}
		if (i == 0 && n == 2 && st == PGRES_TUPLES_OK && PQntuples(results[i]) == 1 &&
			!PQgetisnull(results[i], 0, 0))
			(void) sscanf(PQgetvalue(results[i], 0, 0), UINT64_FORMAT, &fxid);
		/* An aborted remote transaction answers PREPARE with ROLLBACK. */
		if (i == n - 1 && st == PGRES_COMMAND_OK &&
			strcmp(PQcmdStatus(results[i]), "PREPARE TRANSACTION") == 0)
			prepared = true;
		if (results[i])
			PQclear(results[i]);
	}
	if (prepared)
		p->remote_xid = XidFromFullTransactionId(FullTransactionIdFromU64(fxid));
	return prepared && *error == NULL;
}

/*
 * PrepareAll sends PREPARE TRANSACTION to every participant, then collects
 * every answer, so the prepare phase takes one round trip to the slowest
 * region rather than the sum.  Every answer is read before any failure is
 * raised, so each participant is either prepared (p->prepared: the abort
 * path sends ROLLBACK PREPARED) or not (ROLLBACK), never unknown with its
 * PREPARE still in flight.  The first failure, in participant order, is
 * raised; the local transaction then aborts and rolls every one back.
 */
static void
PrepareAll(void)
{
	int			count = list_length(Participants);
	int		   *nsteps = palloc0(sizeof(int) * count);
	ErrorData  *volatile failure = NULL;
	PGresult   *remote_error = NULL;
	Participant *failed = NULL;
	Participant *remote_failed = NULL;
	MemoryContext cxt = CurrentMemoryContext;
	ListCell   *lc;
	int			i;

	/* Send to all; a region that cannot be reached stops the sending. */
	i = 0;
	foreach(lc, Participants)
	{
		Participant *p = lfirst(lc);

		PG_TRY();
		{
			nsteps[i] = SendPrepare(p);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(cxt);
			failure = CopyErrorData();
			FlushErrorState();
		}
		PG_END_TRY();
		if (failure != NULL)
			break;
		i++;
	}

	/* Collect from every one sent to. */
	i = 0;
	foreach(lc, Participants)
	{
		Participant *p = lfirst(lc);
		PGresult   *error = NULL;
		volatile bool prepared = false;

		if (nsteps[i] == 0)
			break;
		PG_TRY();
		{
			prepared = CollectPrepare(p, nsteps[i], &error);
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(cxt);
			if (failure == NULL)
				failure = CopyErrorData();
			FlushErrorState();
		}
		PG_END_TRY();
		p->prepared = prepared;
		if (!prepared && error != NULL && remote_error == NULL)
		{
			remote_error = error;
			remote_failed = p;
		}
		else if (error != NULL)
			PQclear(error);
		else if (!prepared && failed == NULL)
			failed = p;
		i++;
	}
	if (failure != NULL)
	{
		if (remote_error != NULL)
			PQclear(remote_error);
		ReThrowError(failure);
	}
	if (remote_error != NULL)
		LocalityRemoteRaise(remote_error, remote_failed->conn, remote_failed->name);
	if (failed != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_TRANSACTION_ROLLBACK),
				 errmsg("the transaction was rolled back on region \"%s\"", failed->name)));
}

/*
 * PrepareParticipants records the decision rows and PREPAREs every
 * participant (local pre-commit).  Any error aborts the local transaction,
 * whose abort path rolls the participants back.
 */
static void
PrepareParticipants(void)
{
	ListCell   *lc;
	int			n = 0;
	const char *local;
	FullTransactionId fxid;

	/* One forwarded participant and no local write: one phase. */
	if (list_length(Participants) == 1)
	{
		Participant *p = linitial(Participants);

		if (!p->ddl && !TransactionIdIsValid(GetTopTransactionIdIfAny()))
		{
			CommitOnePhase(p);
			return;
		}
	}
	local = LocalityGatewayRegion();
	fxid = GetTopFullTransactionId();
	SPI_connect();
	ForgetCommittedGids();
	foreach(lc, Participants)
	{
		Participant *p = lfirst(lc);
		Oid			argtypes[2] = {TEXTOID, INT2OID};
		Datum		values[2];

		snprintf(p->gid, sizeof(p->gid), "locality_%s_" UINT64_FORMAT "_%d",
				 local, U64FromFullTransactionId(fxid), ++n);
		values[0] = CStringGetTextDatum(p->gid);
		values[1] = Int16GetDatum(p->region_id);
		LocalityCatalogExecute("INSERT INTO locality.dist_transactions (gid, region_id) "
							   "VALUES ($1, $2)", 2, argtypes, values, NULL);
	}
	SPI_finish();

	foreach(lc, Participants)
	{
		Participant *p = lfirst(lc);

		if (p->broken)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("cannot commit: the transaction's state on region \"%s\" is unknown",
							p->name),
					 errdetail("Rolling back to a savepoint failed there.")));
		RequireOpen(p);
	}
	PrepareAll();
}

/*
 * FinishCommit reads p's answer to the COMMIT PREPARED sent by
 * CommitParticipants (sent: it went out; n: 1, or 2 with the commit
 * position for read-your-writes); false when p has not confirmed it.
 */
static bool
FinishCommit(Participant *p, bool sent, int n)
{
	PGresult   *results[2] = {NULL, NULL};
	bool		ok;

	ok = sent && LocalityRemoteTryPipelineCollect(p->conn, n, results, p->name);
	if (ok && PQresultStatus(results[0]) != PGRES_COMMAND_OK)
	{
		ereport(WARNING,
				(errmsg("could not run \"COMMIT PREPARED '%s'\" on region \"%s\"", p->gid,
						p->name),
				 errdetail_internal("%s", PQresultErrorMessage(results[0]))));
		ok = false;
	}
	if (ok && n == 2)
	{
		XLogRecPtr	lsn = ParseLsn(results[1]);

		LocalityNoteRemoteCommit(p->region_id, lsn);
		if (lsn != InvalidXLogRecPtr)
			LocalityPendingCommitDone(p->region_id, p->gid);
	}
	if (results[0])
		PQclear(results[0]);
	if (results[1])
		PQclear(results[1]);
	return ok;
}

/*
 * After the local commit: COMMIT PREPARED everywhere (recovery retries).
 * Sent to every participant before any answer is read, so the commit
 * phase takes as long as the slowest region, not the sum; a forwarded
 * participant's is not waited for at all unless
 * locality.synchronous_forward_commit is on (AsyncCommit).
 */
static void
CommitParticipants(void)
{
	int			count = list_length(Participants);
	bool	   *waiting = palloc0(sizeof(bool) * count);
	bool	   *sent = palloc0(sizeof(bool) * count);
	ListCell   *lc;
	int			i = 0;

	foreach(lc, Participants)
	{
		Participant *p = lfirst(lc);
		char	   *sqls[2];

		i = foreach_current_index(lc);
		if (p->committed)
			continue;

		/*
		 * Not waiting for the answer (LocalityRemotePendingDone gets it),
		 * once reads here know to wait for it.  With no room to track it,
		 * wait as the synchronous path does.
		 */
		if (AsyncCommit(p) && LocalityRemoteIsOpen(p->conn) &&
			(!TransactionIdIsValid(p->remote_xid) ||
			 LocalityPendingCommitAdd(p->region_id, p->remote_xid, p->gid)) &&
			LocalityRemoteCommitAsync(p->conn, p->gid, p->name))
			continue;
		/* With the commit position for read-your-writes, one round trip. */
		sqls[0] = psprintf("COMMIT PREPARED '%s'", p->gid);
		sqls[1] = "SELECT " LOCALITY_WAL_END_SQL;
		waiting[i] = true;
		sent[i] = LocalityRemoteIsOpen(p->conn) &&
			LocalityRemoteTryPipelineSend(p->conn, p->forwarded ? 2 : 1,
										  (const char *const *) sqls, p->name);
	}
	foreach(lc, Participants)
	{
		Participant *p = lfirst(lc);

		i = foreach_current_index(lc);
		if (!waiting[i])
			continue;
		if (FinishCommit(p, sent[i], p->forwarded ? 2 : 1))
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			CommittedGids = lappend(CommittedGids, pstrdup(p->gid));
			MemoryContextSwitchTo(old);
		}
		else
		{
			ereport(WARNING,
					(errmsg("region \"%s\" has not confirmed the commit yet", p->name),
					 errdetail("Prepared transaction %s will be committed by "
							   "locality.recover_prepared_transactions().", p->gid)));
			if (LocalityRemoteIsOpen(p->conn))
				LocalityRemoteForget(p->conn);
		}
	}
}

/*
 * LocalityRemotePendingDone gets the answer to a COMMIT PREPARED sent
 * without waiting (remote.c): commit is its result (NULL when the region
 * could not be reached), lsn the commit position read after it.  Reads
 * here wait for the commit's pending entry until its position is known.
 */
void
LocalityRemotePendingDone(LocalityRegionId region_id, const char *region, const char *gid,
						  PGresult *commit, PGresult *lsn)
{
	XLogRecPtr	position = lsn != NULL ? ParseLsn(lsn) : InvalidXLogRecPtr;
	const char *state = commit != NULL ? PQresultErrorField(commit, PG_DIAG_SQLSTATE) : NULL;

	if (commit != NULL && PQresultStatus(commit) == PGRES_COMMAND_OK)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		LocalityNoteRemoteCommit(region_id, position);
		if (position != InvalidXLogRecPtr)
			LocalityPendingCommitDone(region_id, gid);
		CommittedGids = lappend(CommittedGids, pstrdup(gid));
		MemoryContextSwitchTo(old);
		return;
	}
	/* No longer prepared there: the resolver finished it before us. */
	if (state != NULL && strcmp(state, "42704") == 0 && position != InvalidXLogRecPtr)
	{
		LocalityNoteRemoteCommit(region_id, position);
		LocalityPendingCommitDone(region_id, gid);
		return;
	}
	ereport(WARNING,
			(errmsg("region \"%s\" has not confirmed the commit yet", region),
			 errdetail("Prepared transaction %s will be committed by "
					   "locality.recover_prepared_transactions().", gid)));
}

/* On local abort: roll back every participant, whatever state it is in. */
static void
AbortParticipants(void)
{
	ListCell   *lc;

	foreach(lc, Participants)
	{
		Participant *p = lfirst(lc);
		bool		ok;

		/* Closed after a failure: its remote transaction died with it. */
		if (p->committed || !LocalityRemoteIsOpen(p->conn))
			continue;
		if (PQstatus(p->conn) != CONNECTION_OK)
		{
			LocalityRemoteForget(p->conn);
			continue;
		}
		if (p->prepared)
		{
			char		sql[128];

			snprintf(sql, sizeof(sql), "ROLLBACK PREPARED '%s'", p->gid);
			ok = LocalityRemoteTryCommand(p->conn, sql, p->name, true);
		}
		else if (PQtransactionStatus(p->conn) == PQTRANS_ACTIVE)
			ok = false;			/* a statement is still running: drop the session */
		else
			ok = LocalityRemoteTryCommand(p->conn, "ROLLBACK", p->name, false);
		if (!ok)
			LocalityRemoteForget(p->conn);
	}
}

static void
DistXactCallback(XactEvent event, void *arg)
{
	if (Participants == NIL)
		return;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			PrepareParticipants();
			return;
		case XACT_EVENT_PRE_PREPARE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot PREPARE a transaction that changed other regions")));
			return;
		case XACT_EVENT_COMMIT:
			CommitParticipants();
			break;
		case XACT_EVENT_ABORT:
			AbortParticipants();
			break;
		default:
			return;
	}
	Participants = NIL;			/* TopTransactionContext goes away */
}

static void
DistSubXactCallback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	ListCell   *lc;
	int			level;

	if (Participants == NIL)
		return;
	if (event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB)
		return;

	level = GetCurrentTransactionNestLevel();
	foreach(lc, Participants)
	{
		Participant *p = lfirst(lc);
		char		sql[96];

		if (p->depth < level)
			continue;
		if (!LocalityRemoteIsOpen(p->conn))
		{
			p->broken = true;
			continue;
		}
		if (event == SUBXACT_EVENT_COMMIT_SUB)
		{
			snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT locality_s%d", level);
			LocalityRemoteCommand(p->conn, sql, p->name);
		}
		else
		{
			snprintf(sql, sizeof(sql),
					 "ROLLBACK TO SAVEPOINT locality_s%d; RELEASE SAVEPOINT locality_s%d",
					 level, level);
			/* No ERROR inside subtransaction abort: fail the commit instead. */
			if (PQtransactionStatus(p->conn) == PQTRANS_ACTIVE ||
				!LocalityRemoteTryCommand(p->conn, sql, p->name, true))
				p->broken = true;
		}
		p->depth = level - 1;
		p->search_path = NULL;	/* the rollback may have undone a set_config */
	}
}

/*
 * ForgetFinishedPending clears the pending entries (listed before prepared,
 * the region's prepared transactions) that are no longer prepared there:
 * they ended before the list was read, so the region's position read now
 * covers their commit, and reads wait for that instead.
 */
static void
ForgetFinishedPending(const LocalityRegion *region, PGconn *conn, List *pending,
					  PGresult *prepared)
{
	ListCell   *lc;
	XLogRecPtr	lsn = InvalidXLogRecPtr;

	foreach(lc, pending)
	{
		const char *gid = lfirst(lc);
		bool		listed = false;
		int			row;

		for (row = 0; row < PQntuples(prepared) && !listed; row++)
			listed = strcmp(PQgetvalue(prepared, row, 0), gid) == 0;
		if (listed)
			continue;
		if (lsn == InvalidXLogRecPtr)
		{
			PGresult   *res = LocalityRemoteExec(conn, "SELECT " LOCALITY_WAL_END_SQL,
												 region->name);

			lsn = ParseLsn(res);
			PQclear(res);
			if (lsn == InvalidXLogRecPtr)
				return;
			LocalityNoteRemoteCommit(region->id, lsn);
		}
		LocalityPendingCommitDone(region->id, gid);
	}
}

/*
 * LocalityRecoverPreparedTransactions resolves, on every other region, the
 * prepared transactions this server coordinated and no longer drives.
 */
int
LocalityRecoverPreparedTransactions(void)
{
	int			count;
	const LocalityRegion *regions = LocalityRegions(&count);
	const char *local = LocalityGatewayRegion();
	char	   *prefix = psprintf("locality_%s_", local);
	int			resolved = 0;
	int			i;

	SPI_connect();
	for (i = 0; i < count; i++)
	{
		PGconn	   *conn;
		PGresult   *res;
		const char *params[1];
		int			row;

		List	   *pending;

		if (regions[i].is_local)
			continue;
		/* Commits in flight from this server, listed before the region's list. */
		pending = LocalityPendingCommitGids(regions[i].id);
		conn = LocalityRemoteConnection(&regions[i]);
		params[0] = prefix;
		res = LocalityRemoteExecParams(conn,
									   "SELECT gid FROM pg_catalog.pg_prepared_xacts "
									   "WHERE database = pg_catalog.current_database() "
									   "AND starts_with(gid, $1)",
									   1, params, regions[i].name);
		for (row = 0; row < PQntuples(res); row++)
		{
			const char *gid = PQgetvalue(res, row, 0);
			Oid			argtypes[2] = {TEXTOID, INT2OID};
			Datum		values[2];
			uint64		fxid = 0;
			bool		decided;
			char		sql[128];

			values[0] = CStringGetTextDatum(gid);
			values[1] = Int16GetDatum(regions[i].id);
			decided = LocalityCatalogExecute("SELECT 1 FROM locality.dist_transactions "
											 "WHERE gid = $1 AND region_id = $2",
											 2, argtypes, values, NULL) > 0;
			/* Its COMMIT PREPARED is on its way: not ours to send. */
			if (decided && LocalityPendingCommitInFlight(regions[i].id, gid,
														 LocalityForwardTimeoutMs))
				continue;
			if (!decided)
			{
				/* Still in flight here?  Then it is not ours to decide yet. */
				if (sscanf(gid + strlen(prefix), UINT64_FORMAT, &fxid) == 1 &&
					TransactionIdIsInProgress(XidFromFullTransactionId(FullTransactionIdFromU64(fxid))))
					continue;
			}
			snprintf(sql, sizeof(sql), "%s PREPARED '%s'",
					 decided ? "COMMIT" : "ROLLBACK", gid);
			LocalityRemoteCommand(conn, sql, regions[i].name);
			ereport(LOG, (errmsg("pg_locality: %s prepared transaction %s on region \"%s\"",
								 decided ? "committed" : "rolled back", gid, regions[i].name)));
			resolved++;
		}

		/*
		 * Decision rows whose prepared transaction is gone are done.  Young
		 * rows are kept: their PREPARE may have raced with our list.
		 */
		{
			Oid			argtypes[2] = {INT2OID, TEXTARRAYOID};
			Datum		values[2];
			Datum	   *gids = palloc(sizeof(Datum) * Max(PQntuples(res), 1));

			for (row = 0; row < PQntuples(res); row++)
				gids[row] = CStringGetTextDatum(PQgetvalue(res, row, 0));
			values[0] = Int16GetDatum(regions[i].id);
			values[1] = PointerGetDatum(construct_array(gids, PQntuples(res), TEXTOID,
														-1, false, TYPALIGN_INT));
			LocalityCatalogExecute("DELETE FROM locality.dist_transactions "
								   "WHERE region_id = $1 AND gid <> ALL ($2) "
								   "AND created_at < pg_catalog.now() - interval '10 minutes'",
								   2, argtypes, values, NULL);
		}
		ForgetFinishedPending(&regions[i], conn, pending, res);
		PQclear(res);
	}
	SPI_finish();
	return resolved;
}

PG_FUNCTION_INFO_V1(locality_recover_prepared_transactions);

/*
 * locality_recover_prepared_transactions is
 * locality.recover_prepared_transactions(): resolves in-doubt prepared
 * transactions this server coordinated; returns how many.
 */
Datum
locality_recover_prepared_transactions(PG_FUNCTION_ARGS)
{
	LocalityCheckRegionAdmin();
	PG_RETURN_INT32(LocalityRecoverPreparedTransactions());
}

/*
 * LocalityInitDistXact registers locality.remote_apply and the callbacks.
 */
void
LocalityInitDistXact(void)
{
	LocalityDefinePeerGucs();
	DefineCustomBoolVariable("locality.synchronous_forward_commit",
							 "COMMIT of a two-phase transaction waits until the regions it "
							 "forwarded writes to have committed them.",
							 NULL,
							 &LocalitySynchronousForwardCommit,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	RegisterXactCallback(DistXactCallback, NULL);
	RegisterSubXactCallback(DistSubXactCallback, NULL);
}
