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
 * The copy runs inside the local transaction that also records it in
 * locality.sync_state, so a crash repeats it rather than half-doing it.
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

/*
 * LocalitySyncInit prepares syncing from source and loads what
 * locality.sync_state says is done.  Call inside a transaction.
 */
void
LocalitySyncInit(const LocalityRegion *source, const char *user, ApplySlot *slot)
{
	HASHCTL		ctl;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	uint64		i;
	uint64		n;

	Source = *source;
	Source.conninfo = MemoryContextStrdup(TopMemoryContext, source->conninfo);
	SourceUser = MemoryContextStrdup(TopMemoryContext, user);
	Slot = slot;
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(SyncedTable);
	ctl.hcxt = TopMemoryContext;
	Synced = hash_create("pg_locality synced tables", 64, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	values[0] = CStringGetTextDatum(source->name);
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
 * CopyTable copies the rows of relid that the source owns, read at
 * snapshot, through the apply path (so an existing row is a logged
 * insert_exists conflict, not an error).  Returns the rows copied.
 */
static int64
CopyTable(PGconn *conn, Oid relid)
{
	const LocalityTable *table = LocalityFindTable(relid);
	Relation	rel;
	char	   *filter;
	char	   *qualified;
	StringInfoData columns;
	char	  **names;
	int			natts = 0;
	int64		copied = 0;
	int64		estimate;
	PGresult   *res;
	int			i;

	if (table == NULL || (filter = OwnedRowsFilter(table)) == NULL)
		return 0;

	rel = table_open(relid, AccessShareLock);
	qualified = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
										   RelationGetRelationName(rel));

	/*
	 * The source's columns, as its stream would send them: apply maps them by
	 * name and gives columns only this region has their default.
	 */
	res = Run(conn, psprintf("SELECT attname FROM pg_catalog.pg_attribute "
							 "WHERE attrelid = %s::pg_catalog.regclass AND attnum > 0 "
							 "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
							 quote_literal_cstr(qualified)));
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
	table_close(rel, AccessShareLock);

	res = Run(conn, psprintf("SELECT reltuples::bigint FROM pg_catalog.pg_class WHERE oid = %s::pg_catalog.regclass",
							 quote_literal_cstr(qualified)));
	estimate = PQntuples(res) == 1 ? Max(atol(PQgetvalue(res, 0, 0)), 0) : 0;
	PQclear(res);
	ReportProgress(qualified, 0, estimate, true);

	PQclear(Run(conn, psprintf("DECLARE locality_sync NO SCROLL CURSOR FOR SELECT %s FROM ONLY %s WHERE %s",
							   columns.data, qualified, filter)));
	for (;;)
	{
		int			row;
		const char **values = palloc(sizeof(char *) * Max(natts, 1));

		res = Run(conn, "FETCH " CppAsString2(FETCH_ROWS) " FROM locality_sync");
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
	}
	PQclear(Run(conn, "CLOSE locality_sync"));
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

/* The managed tables of this database. */
static List *
ManagedTables(void)
{
	List	   *relids = NIL;
	uint64		n;
	uint64		i;

	SPI_connect();
	n = LocalityCatalogExecute("SELECT relid::pg_catalog.oid FROM locality.table_catalog ORDER BY 1",
							   0, NULL, NULL, NULL);
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		MemoryContext old = MemoryContextSwitchTo(CurTransactionContext);

		relids = lappend_oid(relids, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
																	SPI_tuptable->tupdesc,
																	1, &isnull)));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return relids;
}

/* Copies tables (a list of relids) at snapshot, recording them as of lsn. */
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

			RecordSynced(relid, lsn, CopyTable(conn, relid));
		}
		PQclear(Run(conn, "COMMIT"));
	}
	PG_FINALLY();
	{
		PQfinish(conn);
	}
	PG_END_TRY();
}

/*
 * LocalitySyncAtSlotCreation copies every managed table not yet synced,
 * at the snapshot the main slot's creation exported (consistent point
 * lsn).  The replication connection must stay idle meanwhile.
 */
void
LocalitySyncAtSlotCreation(const char *snapshot, XLogRecPtr lsn)
{
	List	   *pending = NIL;
	ListCell   *lc;

	StartTransactionCommand();
	foreach(lc, ManagedTables())
	{
		if (hash_search(Synced, &lfirst_oid(lc), HASH_FIND, NULL) == NULL)
			pending = lappend_oid(pending, lfirst_oid(lc));
	}
	if (pending != NIL)
	{
		LWLockAcquire(LocalityReplication->lock, LW_EXCLUSIVE);
		Slot->state = APPLY_SYNCING;
		LWLockRelease(LocalityReplication->lock);
		CopyAt(pending, snapshot, lsn);
	}
	LocalityApplyFinish();
	CommitTransactionCommand();
}

/* Numbers the temporary slots of SyncNow. */
static uint32 SyncSlotCounter = 0;

/*
 * SyncNow copies relid at the snapshot of a new temporary slot on the
 * source; its consistent point becomes the table's sync LSN.
 */
static void
SyncNow(Oid relid)
{
	PGconn	   *repl = LocalityConnectReplication(Source.conninfo, Source.name, SourceUser);

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
		CopyAt(list_make1_oid(relid), snapshot, lsn);
	}
	PG_FINALLY();
	{
		PQfinish(repl);			/* drops the temporary slot */
	}
	PG_END_TRY();
}

/*
 * LocalitySyncPending copies managed tables that became managed since
 * streaming started (call between transactions).
 */
void
LocalitySyncPending(void)
{
	ListCell   *lc;

	StartTransactionCommand();
	foreach(lc, ManagedTables())
	{
		if (hash_search(Synced, &lfirst_oid(lc), HASH_FIND, NULL) == NULL)
			SyncNow(lfirst_oid(lc));
	}
	LocalityApplyFinish();
	CommitTransactionCommand();
}

/*
 * LocalitySyncSkip: true when a change to relid from the source transaction
 * committed at commit_lsn is already in the table's copy.  A managed table
 * not synced yet is synced first (its copy then covers this change).
 */
bool
LocalitySyncSkip(Oid relid, XLogRecPtr commit_lsn)
{
	SyncedTable *entry = hash_search(Synced, &relid, HASH_FIND, NULL);

	if (entry == NULL)
	{
		SyncNow(relid);
		entry = hash_search(Synced, &relid, HASH_FIND, NULL);
	}
	return entry != NULL && commit_lsn < entry->lsn;
}
