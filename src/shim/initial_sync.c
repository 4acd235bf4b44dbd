/*
 * initial_sync.c -- copies the rows a source region owns into this region
 * when replication from it starts, and when a table becomes managed later.
 *
 * No change may fall between the copy and the stream (pgEdge Spock's issue
 * 392 is what that bug looks like).  So every copy reads the source at a
 * snapshot exported by a logical slot's creation, whose consistent point P
 * splits the history exactly: what committed before P is in the snapshot,
 * what commits after comes through the stream.
 *  - When the apply worker creates its slot on the source, every managed
 *    table is copied at that slot's snapshot; streaming starts at P.
 *  - A table that becomes managed later is copied at the snapshot of a
 *    temporary slot created at that moment; stream changes to it that
 *    committed before that slot's P are skipped (they are in the copy).
 * Each table's copy runs inside the local transaction that also records it
 * in locality.sync_state, so a crash repeats it rather than half-doing it.
 *
 * A copy never waits for a lock while it holds one in another region: a
 * schema change takes its locks region by region in one distributed
 * transaction, so a copy holding the source's table while waiting for this
 * region's (or the reverse) would wait on it across servers, where no
 * deadlock detector sees the cycle.  So the copy takes this region's lock
 * first and the source's second, both without waiting, and between batches
 * gives both up when someone waits for them: it raises 55P03 (a yield), the
 * apply worker aborts its transaction, hangs up (the source's cursor and
 * snapshot go with the connection) and starts again after a short backoff,
 * at a new snapshot.  Nothing of an abandoned copy is kept, here or in
 * sync_state, so the next attempt is a first one.
 *
 * A source owns: REGIONAL BY ROW rows homed there; REGIONAL BY TABLE tables
 * homed there; GLOBAL rows whose last version was written there (commit
 * origin 0, or unknown for rows older than commit timestamps).
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/fmgrprotos.h"
#include "utils/pg_lsn.h"
#include "utils/rel.h"

#include "shim.h"
#include "shim/apply.h"
#include "shim/catalog.h"
#include "shim/initial_sync.h"
#include "shim/remote.h"
#include "shim/replication.h"

#define FETCH_ROWS 2000

/* Per table: synced from this source, and from which source LSN on. */
typedef struct SyncedTable
{
	Oid			relid;
	XLogRecPtr	lsn;
} SyncedTable;

static LocalityRegion Source;
static const char *SourceUser;
static ApplySlot *Slot;
static HTAB *Synced = NULL;
static MemoryContext SyncContext = NULL;	/* the pending lists, per round */

/* Consecutive yields (backoff), and whether the last error asked to copy. */
static int	Yields = 0;
static bool CopyFirst = false;

static void LoadSynced(void);

/*
 * LocalitySyncInit prepares syncing from source and loads what
 * locality.sync_state says is done.  Call inside a transaction.
 */
void
LocalitySyncInit(const LocalityRegion *source, const char *user, ApplySlot *slot)
{
	Source = *source;
	Source.conninfo = MemoryContextStrdup(TopMemoryContext, source->conninfo);
	SourceUser = MemoryContextStrdup(TopMemoryContext, user);
	Slot = slot;
	SyncContext = AllocSetContextCreate(TopMemoryContext, "pg_locality sync",
										ALLOCSET_SMALL_SIZES);
	LoadSynced();
}

/* (Re)loads the tables locality.sync_state says are done.  In a transaction. */
static void
LoadSynced(void)
{
	HASHCTL		ctl;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	uint64		i;
	uint64		n;

	if (Synced != NULL)
		hash_destroy(Synced);
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(SyncedTable);
	ctl.hcxt = TopMemoryContext;
	Synced = hash_create("pg_locality synced tables", 64, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	values[0] = CStringGetTextDatum(Source.name);
	SPI_connect();
	n = LocalityCatalogExecute("SELECT relid::pg_catalog.oid, sync_lsn FROM locality.sync_state "
							   "WHERE source_region = $1 AND phase = 'done'",
							   1, argtypes, values, NULL);
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));
		SyncedTable *entry = hash_search(Synced, &relid, HASH_ENTER, NULL);

		entry->lsn = DatumGetLSN(SPI_getbinval(SPI_tuptable->vals[i],
											   SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_finish();
}

/* The WHERE clause selecting the rows source owns, or NULL for none. */
static char *
OwnedRowsFilter(const LocalityTable *table)
{
	switch (table->spec.kind)
	{
		case LOCALITY_REGIONAL_BY_ROW:
			return psprintf("%s::pg_catalog.text = %s",
							quote_identifier(table->spec.column),
							quote_literal_cstr(Source.name));
		case LOCALITY_REGIONAL_BY_TABLE:
			{
				const LocalityRegion *primary = LocalityPrimaryRegion();
				const char *home = table->spec.in_primary_region ?
					(primary ? primary->name : "") : table->spec.region;

				return strcmp(home, Source.name) == 0 ? pstrdup("true") : NULL;
			}
		default:
			return pstrdup("coalesce((pg_catalog.pg_xact_commit_timestamp_origin(xmin)).roident, 0) = 0");
	}
}

/* Publishes progress for locality.sync_progress. */
static void
ReportProgress(const char *table, int64 copied, int64 estimate, bool copying)
{
	LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
	strlcpy(Slot->sync_table, copying ? table : "", sizeof(Slot->sync_table));
	Slot->sync_rows_copied = copied;
	Slot->sync_rows_estimate = estimate;
	LWLockRelease(LocalityReplication->lock);
}

/* Runs sql on conn, raising its error. */
static PGresult *
Run(PGconn *conn, const char *sql)
{
	return LocalityRemoteExec(conn, sql, Source.name);
}

/*
 * Yield gives the copy of table up (see the top): 55P03, which the apply
 * worker takes as "abort, hang up, start again after a backoff".
 */
static void
Yield(const char *table, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("initial copy of table %s from region \"%s\" gives way to a concurrent lock",
					table, Source.name),
			 errdetail_internal("%s", why),
			 errhint("The copy starts again at a new snapshot; locality.sync_progress shows it.")));
}

/*
 * True when a session of this region waits for a lock on relid that the
 * copy's RowExclusiveLock blocks.
 */
static bool
LocalWaiters(Oid relid)
{
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		values[2];
	bool		waiting;

	values[0] = ObjectIdGetDatum(MyDatabaseId);
	values[1] = ObjectIdGetDatum(relid);
	SPI_connect();
	waiting = LocalityCatalogExecute("SELECT 1 FROM pg_catalog.pg_locks "
									 "WHERE locktype = 'relation' AND database = $1 "
									 "AND relation = $2 AND NOT granted AND mode IN "
									 "('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', "
									 "'AccessExclusiveLock') LIMIT 1",
									 2, argtypes, values, NULL) > 0;
	SPI_finish();
	return waiting;
}

/*
 * CopyTable copies the rows of relid that the source owns, read at the
 * snapshot of conn's transaction, through the apply path (so an existing
 * row is a logged insert_exists conflict, not an error).  Returns the rows
 * copied, or -1 when relid is not a managed table (any more).  Raises 55P03
 * (a yield) rather than wait for a lock.
 */
static int64
CopyTable(PGconn *conn, Oid relid)
{
	const LocalityTable *table;
	Relation	rel;
	char	   *filter;
	char	   *qualified;
	char	   *literal;
	char	   *fetch;
	StringInfoData columns;
	char	  **names;
	int			natts = 0;
	int64		copied = 0;
	int64		estimate;
	PGresult   *res;
	bool		stale;
	int			i;

	/*
	 * This region's lock first (the one the copy's inserts take, kept to the
	 * end of the transaction), then the source's; neither waited for.
	 */
	if (!ConditionalLockRelationOid(relid, RowExclusiveLock))
	{
		char	   *name = get_rel_name(relid);

		Yield(name ? quote_identifier(name) : psprintf("%u", relid),
			  "A session of this region holds or waits for a conflicting lock on it.");
	}
	rel = try_table_open(relid, NoLock);
	if (rel == NULL)
		return -1;				/* dropped meanwhile */
	table = LocalityFindTable(relid);
	if (table == NULL)
	{
		table_close(rel, NoLock);
		return -1;
	}
	filter = OwnedRowsFilter(table);
	qualified = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
										   RelationGetRelationName(rel));
	literal = quote_literal_cstr(qualified);
	if (filter == NULL)
	{
		table_close(rel, NoLock);
		return 0;				/* the source owns none of its rows */
	}

	/*
	 * The source's lock, in a subtransaction: rolling it back at the end
	 * releases the lock while the snapshot lives on for the next table.
	 * NOWAIT: 55P03 when someone there holds or waits for a conflicting lock.
	 */
	PQclear(Run(conn, "SAVEPOINT locality_sync"));
	PQclear(Run(conn, psprintf("LOCK TABLE ONLY %s IN ACCESS SHARE MODE NOWAIT", qualified)));

	/* A rewrite committed after the snapshot would hide every row from it. */
	res = Run(conn, psprintf("SELECT c.relfilenode = pg_catalog.pg_relation_filenode(c.oid) "
							 "FROM pg_catalog.pg_class c WHERE c.oid = %s::pg_catalog.regclass",
							 literal));
	stale = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "f") == 0;
	PQclear(res);
	if (stale)
		Yield(qualified, "The source rewrote the table after the copy's snapshot.");

	/*
	 * The source's columns, as its stream would send them: apply maps them by
	 * name and gives columns only this region has their default.
	 */
	res = Run(conn, psprintf("SELECT attname FROM pg_catalog.pg_attribute "
							 "WHERE attrelid = %s::pg_catalog.regclass AND attnum > 0 "
							 "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
							 literal));
	names = palloc(sizeof(char *) * Max(PQntuples(res), 1));
	initStringInfo(&columns);
	for (i = 0; i < PQntuples(res); i++)
	{
		names[natts] = pstrdup(PQgetvalue(res, i, 0));
		appendStringInfo(&columns, "%s%s", natts ? ", " : "", quote_identifier(names[natts]));
		natts++;
	}
	PQclear(res);
	LocalityApplyDefineRelation(0, get_namespace_name(RelationGetNamespace(rel)),
								RelationGetRelationName(rel), natts, names);
	table_close(rel, NoLock);

	res = Run(conn, psprintf("SELECT reltuples::bigint FROM pg_catalog.pg_class WHERE oid = %s::pg_catalog.regclass",
							 literal));
	estimate = PQntuples(res) == 1 ? Max(atol(PQgetvalue(res, 0, 0)), 0) : 0;
	PQclear(res);
	ReportProgress(qualified, 0, estimate, true);

	PQclear(Run(conn, psprintf("DECLARE locality_sync NO SCROLL CURSOR FOR SELECT %s FROM ONLY %s WHERE %s",
							   columns.data, qualified, filter)));

	/* Each batch comes with whether a schema change there waits for the copy. */
	fetch = psprintf("FETCH " CppAsString2(FETCH_ROWS) " FROM locality_sync; "
					 "SELECT pg_catalog.count(*) FROM pg_catalog.pg_locks "
					 "WHERE locktype = 'relation' AND database = (SELECT oid FROM pg_catalog.pg_database "
					 "WHERE datname = pg_catalog.current_database()) "
					 "AND relation = %s::pg_catalog.regclass AND mode = 'AccessExclusiveLock' "
					 "AND NOT granted", literal);
	for (;;)
	{
		int			row;
		int			nresults;
		PGresult  **results;
		bool		remote_waiters;
		const char **values = palloc(sizeof(char *) * Max(natts, 1));

		results = LocalityRemoteExecMulti(conn, fetch, Source.name, &nresults);
		for (i = 0; i < nresults; i++)
		{
			if (PQresultStatus(results[i]) != PGRES_TUPLES_OK)
			{
				PGresult   *failed = results[i];
				int			j;

				for (j = 0; j < nresults; j++)
				{
					if (j != i)
						PQclear(results[j]);
				}
				LocalityRemoteRaise(failed, conn, Source.name);
			}
		}
		if (nresults != 2)
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("region \"%s\" answered a batch of the initial copy with %d results",
							Source.name, nresults)));
		res = results[0];
		remote_waiters = PQntuples(results[1]) == 1 && atol(PQgetvalue(results[1], 0, 0)) > 0;
		PQclear(results[1]);
		if (PQntuples(res) == 0)
		{
			PQclear(res);
			break;
		}
		for (row = 0; row < PQntuples(res); row++)
		{
			for (i = 0; i < natts; i++)
				values[i] = PQgetisnull(res, row, i) ? NULL : PQgetvalue(res, row, i);
			LocalityApplyInsertRow(0, natts, values);
			copied++;
		}
		PQclear(res);
		ReportProgress(qualified, copied, estimate, true);
		CHECK_FOR_INTERRUPTS();
		if (remote_waiters)
			Yield(qualified, psprintf("A session of region \"%s\" waits for a lock on it.",
									  Source.name));
		if (LocalWaiters(relid))
			Yield(qualified, "A session of this region waits for a lock on it.");
	}
	/* Closes the cursor and releases the source's lock. */
	PQclear(Run(conn, "ROLLBACK TO SAVEPOINT locality_sync"));
	PQclear(Run(conn, "RELEASE SAVEPOINT locality_sync"));
	ReportProgress(qualified, copied, estimate, false);
	return copied;
}

/* Records relid as synced from the source as of lsn (in this transaction). */
static void
RecordSynced(Oid relid, XLogRecPtr lsn, int64 rows)
{
	Oid			argtypes[4] = {OIDOID, TEXTOID, LSNOID, INT8OID};
	Datum		values[4];
	SyncedTable *entry;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(Source.name);
	values[2] = LSNGetDatum(lsn);
	values[3] = Int64GetDatum(rows);
	SPI_connect();
	LocalityCatalogExecute("DELETE FROM locality.sync_state "
						   "WHERE relid = $1::pg_catalog.regclass AND source_region = $2",
						   2, argtypes, values, NULL);
	LocalityCatalogExecute("INSERT INTO locality.sync_state "
						   "(relid, source_region, phase, sync_lsn, rows_copied, synced_at) "
						   "VALUES ($1::pg_catalog.regclass, $2, 'done', $3, $4, pg_catalog.now())",
						   4, argtypes, values, NULL);
	SPI_finish();
	entry = hash_search(Synced, &relid, HASH_ENTER, NULL);
	entry->lsn = lsn;
}

/*
 * The managed tables of this database not copied from the source yet, in
 * SyncContext (call in a transaction).
 */
static List *
PendingTables(void)
{
	List	   *relids = NIL;
	uint64		n;
	uint64		i;

	MemoryContextReset(SyncContext);
	SPI_connect();
	n = LocalityCatalogExecute("SELECT relid::pg_catalog.oid FROM locality.table_catalog ORDER BY 1",
							   0, NULL, NULL, NULL);
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, 1, &isnull));

		if (hash_search(Synced, &relid, HASH_FIND, NULL) == NULL)
		{
			MemoryContext old = MemoryContextSwitchTo(SyncContext);

			relids = lappend_oid(relids, relid);
			MemoryContextSwitchTo(old);
		}
	}
	SPI_finish();
	return relids;
}

/*
 * CopyAt copies tables (a list of relids) at snapshot, each in its own
 * local transaction that records it as of lsn, so no lock of one is held
 * while copying the next.  Call in a transaction: it commits it.
 */
static void
CopyAt(List *tables, const char *snapshot, XLogRecPtr lsn)
{
	PGconn	   *conn = LocalityConnectTo(Source.conninfo, Source.name);
	ListCell   *lc;

	PG_TRY();
	{
		PQclear(Run(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
		PQclear(Run(conn, psprintf("SET TRANSACTION SNAPSHOT %s", quote_literal_cstr(snapshot))));
		foreach(lc, tables)
		{
			Oid			relid = lfirst_oid(lc);
			int64		rows;

			if (!IsTransactionState())
				StartTransactionCommand();
			rows = CopyTable(conn, relid);
			if (rows >= 0)
				RecordSynced(relid, lsn, rows);
			LocalityApplyFinish();
			CommitTransactionCommand();
			Yields = 0;
		}
		if (IsTransactionState())
			CommitTransactionCommand();
	}
	PG_FINALLY();
	{
		PQfinish(conn);			/* ends the source's read-only transaction */
	}
	PG_END_TRY();
}

/*
 * LocalitySyncAtSlotCreation copies every managed table not yet synced,
 * at the snapshot the main slot's creation exported (consistent point
 * lsn).  The replication connection must stay idle meanwhile.  A table
 * whose copy gives way is copied later at a snapshot of its own
 * (LocalitySyncPending): its sync LSN is then that snapshot's.
 */
void
LocalitySyncAtSlotCreation(const char *snapshot, XLogRecPtr lsn)
{
	List	   *pending;

	StartTransactionCommand();
	pending = PendingTables();
	if (pending == NIL)
	{
		CommitTransactionCommand();
		return;
	}
	LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
	Slot->state = APPLY_SYNCING;
	LWLockRelease(LocalityReplication->lock);
	CopyAt(pending, snapshot, lsn);
}

/* A one-table list in SyncContext. */
static List *
list_make1_oid_cxt(Oid relid)
{
	MemoryContext old = MemoryContextSwitchTo(SyncContext);
	List	   *list = list_make1_oid(relid);

	MemoryContextSwitchTo(old);
	return list;
}

/* Numbers the temporary slots of SyncNow. */
static uint32 SyncSlotCounter = 0;

/*
 * SyncNow copies relid at the snapshot of a new temporary slot on the
 * source; its consistent point becomes the table's sync LSN.  Call outside
 * a transaction.
 */
static void
SyncNow(Oid relid)
{
	PGconn	   *repl;

	StartTransactionCommand();
	repl = LocalityConnectReplication(Source.conninfo, Source.name, SourceUser);
	PG_TRY();
	{
		PGresult   *res;
		char	   *snapshot;
		XLogRecPtr	lsn;

		/*
		 * A name used once per worker: the walsender of the previous sync
		 * may still be exiting, holding its temporary slot.
		 */
		res = PQexec(repl, psprintf("CREATE_REPLICATION_SLOT pg_locality_sync_%d_%u TEMPORARY "
									"LOGICAL pg_locality (SNAPSHOT 'export')",
									MyProcPid, ++SyncSlotCounter));
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not create a sync slot on region \"%s\"", Source.name),
					 errdetail_internal("%s", PQresultErrorMessage(res))));
		lsn = DatumGetLSN(DirectFunctionCall1(pg_lsn_in, CStringGetDatum(PQgetvalue(res, 0, 1))));
		snapshot = pstrdup(PQgetvalue(res, 0, 2));
		PQclear(res);
		/* (The list outlives the transactions CopyAt commits.) */
		CopyAt(list_make1_oid_cxt(relid), snapshot, lsn);
	}
	PG_FINALLY();
	{
		PQfinish(repl);			/* drops the temporary slot */
	}
	PG_END_TRY();
}

/*
 * LocalitySyncPending copies managed tables that became managed since
 * streaming started, or whose copy a crash or a yield interrupted (call
 * between transactions).
 */
void
LocalitySyncPending(void)
{
	List	   *pending;
	ListCell   *lc;

	StartTransactionCommand();
	pending = PendingTables();
	CommitTransactionCommand();
	foreach(lc, pending)
		SyncNow(lfirst_oid(lc));
}

/*
 * LocalitySyncSkip: true when a change to relid from the source transaction
 * committed at commit_lsn is already in the table's copy.  A managed table
 * not copied yet is not copied here, inside the applying transaction: the
 * slot a copy creates waits for the source's running transactions, one of
 * which could be waiting for a lock this transaction holds.  Instead the
 * transaction is given up; the worker copies the table in a transaction
 * of its own and streams this one again (LocalitySyncRetryDelay).
 */
bool
LocalitySyncSkip(Oid relid, XLogRecPtr commit_lsn)
{
	SyncedTable *entry = hash_search(Synced, &relid, HASH_FIND, NULL);

	if (entry == NULL)
	{
		char	   *name = get_rel_name(relid);

		CopyFirst = true;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s is not copied from region \"%s\" yet",
						name ? quote_identifier(name) : psprintf("%u", relid), Source.name),
				 errdetail("A change to it arrived before its initial copy: the copy comes first.")));
	}
	return commit_lsn < entry->lsn;
}

/*
 * LocalitySyncRetryDelay: for an error that gave a copy up (a yield) or
 * asked for one first, the milliseconds to wait before streaming again
 * (growing while yields repeat); -1 for any other error.
 */
int
LocalitySyncRetryDelay(const ErrorData *edata)
{
	bool		copy_first = CopyFirst;

	CopyFirst = false;
	if (!copy_first && edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE)
		return -1;
	return Min(50 << Min(Yields++, 6), 2000);
}

/*
 * LocalitySyncAfterRetry forgets what a given-up attempt left behind: the
 * tables it recorded in an aborted transaction, its progress line.  Call
 * outside a transaction, after the abort.
 */
void
LocalitySyncAfterRetry(void)
{
	ReportProgress("", 0, 0, false);
	StartTransactionCommand();
	LoadSynced();
	CommitTransactionCommand();
}
