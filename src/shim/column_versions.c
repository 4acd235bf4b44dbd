/*
 * column_versions.c -- last_write_wins_column: per row version of a GLOBAL
 * table in that mode, the transaction that last wrote each column
 * (locality.column_versions, a user catalog table so the output plugin can
 * read it: 095_column_versions_decoding.sql).  The UPDATE row trigger
 * records them for local writes, the apply worker for applied ones, and
 * the output plugin sends only the columns a transaction wrote.
 */
#include "postgres.h"

#include "access/commit_ts.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "replication/origin.h"
#include "storage/lwlock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/column_versions.h"
#include "shim/stamps.h"

/* Plan of the per-row write, prepared once per backend (LocalityExecuteSaved). */
static SPIPlanPtr ColumnVersionsPlan = NULL;


/* The current transaction's full id, as stamps and versions store it. */
static int64
MyFullXid(void)
{
	return (int64) U64FromFullTransactionId(GetTopFullTransactionId());
}

/* The same, 0 when the transaction has none yet. */
static int64
MyFullXidIfAny(void)
{
	FullTransactionId fxid = GetTopFullTransactionIdIfAny();

	return FullTransactionIdIsValid(fxid) ? (int64) U64FromFullTransactionId(fxid) : 0;
}

/*
 * ScanColumnVersions visits the column_versions rows of key in rel under
 * snapshot, calling visit for each (row_xid, xids[natts]).
 */
typedef bool (*ColumnVersionVisitor) (int64 row_xid, const int64 *xids, int n, void *arg);

static void
ScanColumnVersions(Relation rel, const char *key, Snapshot snapshot,
				   ColumnVersionVisitor visit, void *arg)
{
	Oid			relid = LocalityExtensionTableOid("column_versions");
	Relation	versions;
	SysScanDesc scan;
	ScanKeyData keys[2];
	HeapTuple	tuple;

	if (!OidIsValid(relid))
		return;
	versions = table_open(relid, AccessShareLock);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationGetRelid(rel)));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(key));
	scan = systable_beginscan(versions, RelationGetPrimaryKeyIndex(versions), true, snapshot,
							  2, keys);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		TupleDesc	desc = RelationGetDescr(versions);
		int64		row_xid = DatumGetInt64(heap_getattr(tuple, 3, desc, &isnull));
		ArrayType  *array = DatumGetArrayTypeP(heap_getattr(tuple, 4, desc, &isnull));
		Datum	   *elems;
		bool	   *nulls;
		int			n;
		int64	   *xids;
		int			i;

		deconstruct_array(array, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
		xids = palloc(sizeof(int64) * Max(n, 1));
		for (i = 0; i < n; i++)
			xids[i] = nulls[i] ? 0 : DatumGetInt64(elems[i]);
		if (!visit(row_xid, xids, n, arg))
			break;
	}
	systable_endscan(scan);
	table_close(versions, AccessShareLock);
}

typedef struct VersionLookup
{
	int64		want_row_xid;	/* 0: take the (only visible) row */
	int			natts;
	int64	   *xids;
	bool		found;
} VersionLookup;

static bool
TakeVersion(int64 row_xid, const int64 *xids, int n, void *arg)
{
	VersionLookup *lookup = arg;
	int			i;

	if (lookup->want_row_xid != 0 && row_xid != lookup->want_row_xid)
		return true;
	for (i = 0; i < lookup->natts; i++)
		lookup->xids[i] = i < n ? xids[i] : 0;
	lookup->found = true;
	return false;
}

/* Upserts the versions of key: row_xid's row version, xids[natts]. */
static void
WriteColumnVersions(Relation rel, const char *key, int64 row_xid, const int64 *xids, int natts)
{
	Oid			argtypes[4] = {OIDOID, TEXTOID, INT8OID, INT8ARRAYOID};
	Datum		values[4];
	Datum	   *elems = palloc(sizeof(Datum) * Max(natts, 1));
	int			i;

	for (i = 0; i < natts; i++)
		elems[i] = Int64GetDatum(xids[i]);
	values[0] = ObjectIdGetDatum(RelationGetRelid(rel));
	values[1] = CStringGetTextDatum(key);
	values[2] = Int64GetDatum(row_xid);
	values[3] = PointerGetDatum(construct_array(elems, natts, INT8OID, 8, FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	LocalityStoreStamp();		/* cleanup ages the versions out with it */
	LocalityExecuteSaved(&ColumnVersionsPlan,
				 /* No ON CONFLICT on a user catalog table (095_column_versions_decoding.sql);
				  * the writers of a key hold its row's lock. */
				 "WITH u AS (UPDATE locality.column_versions SET row_xid = $3, xids = $4 "
				 "           WHERE relid = $1 AND key = $2 RETURNING 1) "
				 "INSERT INTO locality.column_versions (relid, key, row_xid, xids) "
				 "SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM u)",
				 4, argtypes, values, NULL);
}

/*
 * LocalityColumnXids: per column of the row version in slot, the full id of the
 * transaction that last wrote it: from column_versions when it describes
 * this version, else the version's writer for every column.
 */
void
LocalityColumnXids(Relation rel, const char *key, TupleTableSlot *slot, int64 *xids)
{
	int			natts = RelationGetDescr(rel)->natts;
	bool		isnull;
	TransactionId xmin = DatumGetTransactionId(slot_getsysattr(slot, MinTransactionIdAttributeNumber,
															   &isnull));
	int64		writer = (!isnull && TransactionIdIsNormal(xmin)) ? LocalityFullXid(xmin) : 0;
	VersionLookup lookup;
	int			i;

	/*
	 * Valid for this version only: written by its writer, or earlier in this
	 * transaction.  A fresh snapshot: the version (locked by the caller, an
	 * update's row trigger or the apply worker) may have been committed by
	 * another transaction after the statement's snapshot was taken, with its
	 * column_versions row.
	 */
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());

	lookup.want_row_xid = writer;
	lookup.natts = natts;
	lookup.xids = xids;
	lookup.found = false;
	if (writer != 0)
		ScanColumnVersions(rel, key, snapshot, TakeVersion, &lookup);
	if (!lookup.found && MyFullXidIfAny() != 0)
	{
		lookup.want_row_xid = MyFullXidIfAny();
		ScanColumnVersions(rel, key, snapshot, TakeVersion, &lookup);
	}
	UnregisterSnapshot(snapshot);
	if (!lookup.found)
		for (i = 0; i < natts; i++)
			xids[i] = writer;
}

void
LocalityColumnStamps(Relation rel, TupleTableSlot *local, LocalityHlcStamp row_stamp,
					 LocalityHlcStamp *stamps, int64 *xids)
{
	int			natts = RelationGetDescr(rel)->natts;
	bool		isnull;
	TransactionId xmin = DatumGetTransactionId(slot_getsysattr(local, MinTransactionIdAttributeNumber,
															   &isnull));
	int64		writer = (!isnull && TransactionIdIsNormal(xmin)) ? LocalityFullXid(xmin) : 0;
	int			i;

	LocalityColumnXids(rel, LocalityRowKey(rel, local), local, xids);
	for (i = 0; i < natts; i++)
	{
		/*
		 * The version's own writer: its commit stamp, not a kept row stamp.
		 * The row stamp an apply transaction keeps when the local side won
		 * (WriteOverRow) is the winner's, later than the remote columns it
		 * took, which are the writer's: they must stay comparable with the
		 * remote's own stamp, else a later write of the same column by the
		 * same remote region loses against the winner of another column.
		 * Unknown (in progress here, or unstamped): the row's stamp.
		 * Written earlier by this apply transaction (an earlier change of
		 * the source transaction, or of its group): the applied stamp it
		 * will commit with (stamps.c, LookupStamp), as once committed; not
		 * the kept row stamp, else the sender's second write of a column it
		 * took over a row that kept a later local stamp loses to that stamp
		 * here only (027_grouped_commits_conflicts, scenario col).
		 */
		if (xids[i] == writer && writer != 0 &&
			LocalityFindStampByFullXid(writer, &stamps[i]))
			continue;
		if (xids[i] == writer || xids[i] == 0)
			stamps[i] = row_stamp;
		else
			stamps[i] = LocalityStampOfFullXid(xids[i]);
	}
}

void
LocalityRecordColumnVersions(Relation rel, const char *key, const int64 *xids)
{
	WriteColumnVersions(rel, key, MyFullXid(), xids, RelationGetDescr(rel)->natts);
}

int64
LocalityCurrentFullXid(void)
{
	return MyFullXid();
}

typedef struct WrittenLookup
{
	int64		row_xid;
	int			natts;
	bool	   *written;
	bool		found;
} WrittenLookup;

static bool
MarkWritten(int64 row_xid, const int64 *xids, int n, void *arg)
{
	WrittenLookup *lookup = arg;
	int			i;

	if (row_xid != lookup->row_xid)
		return true;
	for (i = 0; i < lookup->natts && i < n; i++)
		if (xids[i] == row_xid)
			lookup->written[i] = true;
	lookup->found = true;
	return true;				/* every version the transaction wrote */
}

bool
LocalityColumnsWrittenBy(Relation rel, TupleTableSlot *slot, TransactionId xid, bool *written)
{
	WrittenLookup lookup;

	lookup.row_xid = LocalityFullXid(xid);
	lookup.natts = RelationGetDescr(rel)->natts;
	lookup.written = written;
	lookup.found = false;
	ScanColumnVersions(rel, LocalityRowKey(rel, slot), SnapshotAny, MarkWritten, &lookup);
	return lookup.found;
}

PG_FUNCTION_INFO_V1(locality_global_update_columns);

/*
 * locality_global_update_columns: row trigger BEFORE UPDATE of a table in
 * last_write_wins_column mode: the columns this update changes are now
 * this transaction's, the others keep their writers.
 */
Datum
locality_global_update_columns(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	int64	   *xids;
	char	   *key;
	int64		me;
	int			i;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		elog(ERROR, "locality._global_update_columns() is a row trigger on UPDATE");
	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);
	xids = palloc(sizeof(int64) * Max(desc->natts, 1));
	key = LocalityRowKey(rel, trigdata->tg_newslot);
	me = MyFullXid();
	LocalityColumnXids(rel, LocalityRowKey(rel, trigdata->tg_trigslot), trigdata->tg_trigslot, xids);
	slot_getallattrs(trigdata->tg_trigslot);
	slot_getallattrs(trigdata->tg_newslot);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		TupleTableSlot *a = trigdata->tg_trigslot;
		TupleTableSlot *b = trigdata->tg_newslot;
		bool		equal;

		if (attr->attisdropped)
			continue;
		if (a->tts_isnull[i] || b->tts_isnull[i])
			equal = a->tts_isnull[i] && b->tts_isnull[i];
		else
			equal = datum_image_eq(a->tts_values[i], b->tts_values[i], attr->attbyval, attr->attlen);
		if (!equal)
			xids[i] = me;
	}
	WriteColumnVersions(rel, key, me, xids, desc->natts);
	LocalityMarkGlobalWrite();
	return PointerGetDatum(trigdata->tg_newtuple);
}
