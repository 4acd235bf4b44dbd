/*
 * stamps.c -- this server's hybrid logical clock (one in shared memory) and
 * the stamps and tombstones that causal last-write-wins on GLOBAL tables
 * needs (docs/conflicts.md sections 1-3 and 8).
 *
 *   local write to a GLOBAL table --internal statement trigger--> mark
 *   pre-commit: stamp = hlc now() --> locality.commit_stamps[xid]
 *   decoder BEGIN: hlc = commit_stamps[txn xid]  --> other regions
 *   apply BEGIN: hlc update(remote hlc) (refused when too far ahead)
 *   apply commit: commit_stamps[apply xid] = remote stamp
 *   conflict: local row's stamp = commit_stamps[xmin]
 *   DELETE of a GLOBAL row (local: row trigger; applied: apply.c)
 *         --> locality.tombstones[relid, key] = deleting xid
 *
 * Nothing here runs for a table that is not GLOBAL: the triggers exist on
 * GLOBAL tables only, and the transaction callback returns at once unless
 * one of them (or the apply worker) marked the transaction.
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
#include "shim/stamps.h"

/* The clock, shared by every backend and worker of the server. */
typedef struct HlcShared
{
	LWLock	   *lock;
	LocalityHlc clock;
} HlcShared;

static HlcShared *Hlc = NULL;

int			LocalityMaxClockSkew = 500;
static int	StampRetention = 86400;	/* seconds */

/* This transaction wrote a GLOBAL table: stamp it at pre-commit. */
static bool WroteGlobal = false;
/* ... with this stamp (the apply worker's remote one) instead of now(). */
static bool HaveAppliedStamp = false;
static LocalityHlcStamp AppliedStamp;

static TimestampTz LastCleanup = 0;

/* Plans of the per-row writes, prepared once per backend (ExecuteSaved). */
static SPIPlanPtr TombstonePlan = NULL;
static SPIPlanPtr ColumnVersionsPlan = NULL;
static SPIPlanPtr TombstoneColumnsPlan = NULL;
static SPIPlanPtr RowStampPlan = NULL;

/* Physical milliseconds since 1970 of this server's clock. */
static uint64
PhysicalMs(void)
{
	return (uint64) (GetCurrentTimestamp() / 1000 + LOCALITY_HLC_UNIX_MS_AT_PG_EPOCH);
}

static void
CheckClock(void)
{
	if (Hlc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_locality must be in shared_preload_libraries")));
}

/* now(): a stamp for a local commit. */
static uint64
HlcNow(void)
{
	LocalityStatus status;
	uint64		stamp = 0;
	bool		ok;

	CheckClock();
	LocalityInitStatus(&status);
	LWLockAcquire(Hlc->lock, LW_EXCLUSIVE);
	ok = locality_hlc_now(&Hlc->clock, PhysicalMs(), &stamp, &status);
	LWLockRelease(Hlc->lock);
	if (!ok)
		LocalityRaiseStatus(&status, NULL);
	return stamp;
}

void
LocalityHlcObserve(uint64 hlc)
{
	LocalityStatus status;
	bool		ok;

	if (hlc == 0)
		return;
	CheckClock();
	LocalityInitStatus(&status);
	LWLockAcquire(Hlc->lock, LW_EXCLUSIVE);
	ok = locality_hlc_update(&Hlc->clock, hlc, PhysicalMs(), (uint64) LocalityMaxClockSkew,
							 NULL, &status);
	LWLockRelease(Hlc->lock);
	if (!ok)
		LocalityRaiseStatus(&status, NULL);
}

void
LocalityStampApplied(LocalityHlcStamp stamp)
{
	WroteGlobal = true;
	HaveAppliedStamp = true;
	AppliedStamp = stamp;
}

/* The full transaction id of xid, a recent one (not older than 2^31). */
static int64
FullXid(TransactionId xid)
{
	FullTransactionId next = ReadNextFullTransactionId();
	uint32		epoch = EpochFromFullTransactionId(next);

	if (xid > XidFromFullTransactionId(next) && epoch > 0)
		epoch--;
	return (int64) (((uint64) epoch << 32) | xid);
}

static Oid
LocalityTableOid(const char *name)
{
	Oid			nsp = get_namespace_oid("locality", true);

	return OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;
}

/*
 * ExecuteSaved runs sql (which names every object schema-qualified) with a
 * plan prepared once per backend, as the owner of the extension's tables:
 * the writes of the triggers and of apply, once per row, must not re-plan.
 */
static void
ExecuteSaved(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes, Datum *values,
			 const char *nulls)
{
	Oid			owner;
	Oid			save_userid;
	int			save_sec_context;
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(LocalityTableOid("commit_stamps")));
	int			rc = 0;

	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension \"pg_locality\" is not installed in this database")));
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);

	SPI_connect();
	if (*plan == NULL)
	{
		SPIPlanPtr	prepared = SPI_prepare(sql, nargs, argtypes);

		if (prepared == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		SPI_keepplan(prepared);
		*plan = prepared;
	}
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		rc = SPI_execute_plan(*plan, values, nulls, false, 0);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed for \"%s\": %s", sql, SPI_result_code_string(rc));
	SPI_finish();
}

/* Inserts (xid, stamp) into commit_stamps, bypassing SQL (pre-commit). */
static void
InsertStamp(Relation rel, int64 xid, LocalityHlcStamp stamp, TimestampTz at)
{
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	HeapTuple	tuple;

	values[0] = Int64GetDatum(xid);
	values[1] = Int64GetDatum((int64) stamp.hlc);
	values[2] = Int16GetDatum((int16) stamp.region_id);
	values[3] = TimestampTzGetDatum(at);
	tuple = heap_form_tuple(RelationGetDescr(rel), values, nulls);
	CatalogTupleInsert(rel, tuple);
	heap_freetuple(tuple);
}

/*
 * RecordStamp stamps the committing transaction: now() for a local one, the
 * remote stamp for an applied one; the row is keyed by the transaction and
 * by each committed subtransaction, since a row version's xmin may be one.
 */
static void
RecordStamp(void)
{
	LocalityHlcStamp stamp;
	Oid			relid = LocalityTableOid("commit_stamps");
	Relation	rel;
	TransactionId *children;
	int			nchildren;
	int			i;
	TimestampTz at = GetCurrentTimestamp();

	if (!OidIsValid(relid) || !TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return;
	if (HaveAppliedStamp)
		stamp = AppliedStamp;
	else
	{
		stamp.region_id = (uint16) LocalityLocalRegion()->id;
		/* As late as possible: after everything this transaction observed. */
		stamp.hlc = HlcNow();
	}
	rel = table_open(relid, RowExclusiveLock);
	InsertStamp(rel, (int64) U64FromFullTransactionId(GetTopFullTransactionId()), stamp, at);
	nchildren = xactGetCommittedChildren(&children);
	for (i = 0; i < nchildren; i++)
		InsertStamp(rel, FullXid(children[i]), stamp, at);
	table_close(rel, RowExclusiveLock);
}

static void
StampXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (WroteGlobal)
				RecordStamp();
			WroteGlobal = false;
			HaveAppliedStamp = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			WroteGlobal = false;
			HaveAppliedStamp = false;
			break;
		default:
			break;
	}
}

void
LocalityInitStamps(void)
{
	DefineCustomIntVariable("locality.max_clock_skew",
							"How far ahead of this server's clock another region's "
							"stamps may be before their changes wait.",
							"Changes stamped further ahead are refused (retried) until "
							"this clock has caught up to within the bound.",
							&LocalityMaxClockSkew, 500, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("locality.stamp_retention",
							"How long stamps and tombstones of GLOBAL tables are kept.",
							"A change concurrent with a delete or write older than this "
							"is decided by commit timestamps instead.",
							&StampRetention, 86400, 60, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	RegisterXactCallback(StampXactCallback, NULL);
	if (process_shared_preload_libraries_in_progress)
		LocalityShmemArea("pg_locality clock", sizeof(HlcShared), (void **) &Hlc);
}

/*
 * FindStampByFullXid: the row of commit_stamps for xid.  SnapshotAny: the
 * writer is known committed (its row version is visible, or the output
 * plugin decodes its commit), and the output plugin's historic snapshot
 * could not see a row its transaction wrote at pre-commit.
 */
static bool
FindStampByFullXid(int64 xid, LocalityHlcStamp *stamp)
{
	Oid			relid = LocalityTableOid("commit_stamps");
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	bool		found = false;

	if (!OidIsValid(relid))
		return false;
	rel = table_open(relid, AccessShareLock);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(xid));
	scan = systable_beginscan(rel, RelationGetPrimaryKeyIndex(rel), true, SnapshotAny, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;

		stamp->hlc = (uint64) DatumGetInt64(heap_getattr(tuple, 2, RelationGetDescr(rel), &isnull));
		stamp->region_id = (uint16) DatumGetInt16(heap_getattr(tuple, 3, RelationGetDescr(rel),
																&isnull));
		found = true;
		break;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

bool
LocalityFindStamp(TransactionId xid, LocalityHlcStamp *stamp)
{
	if (!TransactionIdIsNormal(xid))
		return false;
	return FindStampByFullXid(FullXid(xid), stamp);
}

LocalityHlcStamp
LocalityStampFromTime(TimestampTz ts, int16 region_id)
{
	LocalityHlcStamp stamp;

	stamp.hlc = ((uint64) (ts / 1000 + LOCALITY_HLC_UNIX_MS_AT_PG_EPOCH)) << LOCALITY_HLC_LOGICAL_BITS;
	stamp.region_id = (uint16) region_id;
	return stamp;
}

int16
LocalityRegionOfOrigin(RepOriginId origin)
{
	char	   *name;
	const LocalityRegion *region;

	if (origin == InvalidRepOriginId)
		return LocalityLocalRegion()->id;
	if (!replorigin_by_oid(origin, true, &name) || strncmp(name, "pg_locality_", 12) != 0)
		return 0;
	region = LocalityFindRegionByName(name + 12);
	return region ? region->id : 0;
}

/* The stamp kept for the version of key written by xid, if any. */
static bool
FindKeptRowStamp(Relation rel, const char *key, TransactionId xid, LocalityHlcStamp *stamp)
{
	Oid			relid = LocalityTableOid("row_stamps");
	Relation	kept;
	SysScanDesc scan;
	ScanKeyData keys[2];
	HeapTuple	tuple;
	bool		found = false;

	if (!OidIsValid(relid) || !TransactionIdIsNormal(xid))
		return false;
	kept = table_open(relid, AccessShareLock);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationGetRelid(rel)));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(key));
	scan = systable_beginscan(kept, RelationGetPrimaryKeyIndex(kept), true, GetActiveSnapshot(),
							  2, keys);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		TupleDesc	desc = RelationGetDescr(kept);

		if (DatumGetInt64(heap_getattr(tuple, 3, desc, &isnull)) == FullXid(xid))
		{
			stamp->hlc = (uint64) DatumGetInt64(heap_getattr(tuple, 4, desc, &isnull));
			stamp->region_id = (uint16) DatumGetInt16(heap_getattr(tuple, 5, desc, &isnull));
			found = true;
		}
	}
	systable_endscan(scan);
	table_close(kept, AccessShareLock);
	return found;
}

void
LocalityKeepRowStamp(Relation rel, const char *key, LocalityHlcStamp stamp)
{
	Oid			argtypes[5] = {OIDOID, TEXTOID, INT8OID, INT8OID, INT2OID};
	Datum		values[5];

	values[0] = ObjectIdGetDatum(RelationGetRelid(rel));
	values[1] = CStringGetTextDatum(key);
	values[2] = Int64GetDatum((int64) U64FromFullTransactionId(GetTopFullTransactionId()));
	values[3] = Int64GetDatum((int64) stamp.hlc);
	values[4] = Int16GetDatum((int16) stamp.region_id);
	ExecuteSaved(&RowStampPlan,
				 "INSERT INTO locality.row_stamps (relid, key, xid, hlc, region_id) "
				 "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (relid, key) DO UPDATE "
				 "SET xid = excluded.xid, hlc = excluded.hlc, region_id = excluded.region_id",
				 5, argtypes, values, NULL);
}

LocalityHlcStamp
LocalityRowStamp(Relation rel, TupleTableSlot *slot, bool global)
{
	TransactionId xmin;
	bool		isnull;
	LocalityHlcStamp stamp;
	TimestampTz ts;
	RepOriginId origin;

	xmin = DatumGetTransactionId(slot_getsysattr(slot, MinTransactionIdAttributeNumber, &isnull));
	if (!isnull && global && FindKeptRowStamp(rel, LocalityRowKey(rel, slot), xmin, &stamp))
		return stamp;
	if (!isnull && LocalityFindStamp(xmin, &stamp))
		return stamp;
	/* Unstamped: older than the stamps kept (or frozen), or not GLOBAL. */
	if (!isnull && TransactionIdIsNormal(xmin) && TransactionIdGetCommitTsData(xmin, &ts, &origin))
		return LocalityStampFromTime(ts, LocalityRegionOfOrigin(origin));
	stamp.hlc = 0;
	stamp.region_id = 0;
	return stamp;
}

char *
LocalityRowKey(Relation rel, TupleTableSlot *slot)
{
	Oid			index = RelationGetReplicaIndex(rel);
	Relation	idx;
	StringInfoData buf;
	int			i;

	if (!OidIsValid(index))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has no primary key or replica identity index",
						RelationGetRelationName(rel))));
	idx = index_open(index, AccessShareLock);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < idx->rd_index->indnkeyatts; i++)
	{
		AttrNumber	att = idx->rd_index->indkey.values[i];
		bool		isnull;
		Datum		value = slot_getattr(slot, att, &isnull);

		if (i > 0)
			appendStringInfoChar(&buf, ',');
		if (isnull)
			appendStringInfoString(&buf, "null");
		else
		{
			Oid			output;
			bool		varlena;

			getTypeOutputInfo(TupleDescAttr(RelationGetDescr(rel), att - 1)->atttypid,
							  &output, &varlena);
			escape_json(&buf, OidOutputFunctionCall(output, value));
		}
	}
	appendStringInfoChar(&buf, ']');
	index_close(idx, AccessShareLock);
	return buf.data;
}

/* last_write_wins_column on a GLOBAL table. */
static bool
IsColumnModeTable(Oid relid)
{
	const LocalityTable *table = LocalityFindTable(relid);

	return table != NULL && table->spec.kind == LOCALITY_GLOBAL &&
		strcmp(table->conflict_resolution, "last_write_wins_column") == 0;
}

static void ColumnXids(Relation rel, const char *key, TupleTableSlot *slot, int64 *xids);

bool
LocalityFindTombstone(Relation rel, const char *key, LocalityHlcStamp *stamp, char ***values,
					  int64 **xids)
{
	Oid			relid = LocalityTableOid("tombstones");
	Relation	tomb;
	SysScanDesc scan;
	ScanKeyData keys[2];
	HeapTuple	tuple;
	int64		xid = 0;
	bool		found = false;

	*values = NULL;
	*xids = NULL;
	if (!OidIsValid(relid))
		return false;
	tomb = table_open(relid, AccessShareLock);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationGetRelid(rel)));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(key));
	scan = systable_beginscan(tomb, RelationGetPrimaryKeyIndex(tomb), true, GetActiveSnapshot(),
							  2, keys);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		TupleDesc	desc = RelationGetDescr(tomb);
		bool		isnull;
		bool		vnull;
		bool		xnull;
		Datum		vdatum = heap_getattr(tuple, 4, desc, &vnull);
		Datum		xdatum = heap_getattr(tuple, 5, desc, &xnull);
		int			natts = RelationGetDescr(rel)->natts;

		xid = DatumGetInt64(heap_getattr(tuple, 3, desc, &isnull));
		found = true;
		if (!vnull && !xnull)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			n;
			int			i;

			*values = palloc0(sizeof(char *) * Max(natts, 1));
			*xids = palloc0(sizeof(int64) * Max(natts, 1));
			deconstruct_array(DatumGetArrayTypeP(vdatum), TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &nulls, &n);
			for (i = 0; i < n && i < natts; i++)
				(*values)[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
			deconstruct_array(DatumGetArrayTypeP(xdatum), INT8OID, 8, FLOAT8PASSBYVAL,
							  TYPALIGN_DOUBLE, &elems, &nulls, &n);
			for (i = 0; i < n && i < natts; i++)
				(*xids)[i] = nulls[i] ? 0 : DatumGetInt64(elems[i]);
		}
	}
	systable_endscan(scan);
	table_close(tomb, AccessShareLock);
	if (!found)
		return false;
	/* The deleting transaction's stamp; gone with it after the retention. */
	if (!FindStampByFullXid(xid, stamp))
	{
		*values = NULL;
		*xids = NULL;
		return false;
	}
	return true;
}

void
LocalityRecordTombstone(Relation rel, const char *key, TupleTableSlot *deleted)
{
	Oid			argtypes[5] = {OIDOID, TEXTOID, INT8OID, TEXTARRAYOID, INT8ARRAYOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', 'n', 'n'};

	values[0] = ObjectIdGetDatum(RelationGetRelid(rel));
	values[1] = CStringGetTextDatum(key);
	values[2] = Int64GetDatum((int64) U64FromFullTransactionId(GetTopFullTransactionId()));
	if (deleted != NULL && IsColumnModeTable(RelationGetRelid(rel)))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		Datum	   *texts = palloc(sizeof(Datum) * Max(desc->natts, 1));
		bool	   *tnulls = palloc(sizeof(bool) * Max(desc->natts, 1));
		int64	   *xids = palloc(sizeof(int64) * Max(desc->natts, 1));
		Datum	   *xelems = palloc(sizeof(Datum) * Max(desc->natts, 1));
		int			dims[1] = {desc->natts};
		int			lbs[1] = {1};
		int			i;

		ColumnXids(rel, key, deleted, xids);
		slot_getallattrs(deleted);
		for (i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute attr = TupleDescAttr(desc, i);

			tnulls[i] = attr->attisdropped || deleted->tts_isnull[i];
			texts[i] = (Datum) 0;
			if (!tnulls[i])
			{
				Oid			output;
				bool		varlena;

				getTypeOutputInfo(attr->atttypid, &output, &varlena);
				texts[i] = CStringGetTextDatum(OidOutputFunctionCall(output, deleted->tts_values[i]));
			}
			xelems[i] = Int64GetDatum(xids[i]);
		}
		values[3] = PointerGetDatum(construct_md_array(texts, tnulls, 1, dims, lbs, TEXTOID, -1,
													   false, TYPALIGN_INT));
		values[4] = PointerGetDatum(construct_array(xelems, desc->natts, INT8OID, 8,
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		nulls[3] = nulls[4] = ' ';
	}
	/* A delete of what is not here keeps the columns an earlier tombstone kept. */
	ExecuteSaved(&TombstonePlan,
				 "INSERT INTO locality.tombstones (relid, key, xid, row_values, column_xids) "
				 "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (relid, key) DO UPDATE "
				 "SET xid = excluded.xid, "
				 "    row_values = coalesce(excluded.row_values, tombstones.row_values), "
				 "    column_xids = coalesce(excluded.column_xids, tombstones.column_xids)",
				 5, argtypes, values, nulls);
}

void
LocalityMergeIntoTombstone(Relation rel, const char *key, char **values, const int64 *xids)
{
	Oid			argtypes[4] = {OIDOID, TEXTOID, TEXTARRAYOID, INT8ARRAYOID};
	Datum		args[4];
	int			natts = RelationGetDescr(rel)->natts;
	Datum	   *texts = palloc(sizeof(Datum) * Max(natts, 1));
	bool	   *tnulls = palloc(sizeof(bool) * Max(natts, 1));
	Datum	   *xelems = palloc(sizeof(Datum) * Max(natts, 1));
	int			dims[1] = {natts};
	int			lbs[1] = {1};
	int			i;

	for (i = 0; i < natts; i++)
	{
		tnulls[i] = values[i] == NULL;
		texts[i] = values[i] ? CStringGetTextDatum(values[i]) : (Datum) 0;
		xelems[i] = Int64GetDatum(xids[i]);
	}
	args[0] = ObjectIdGetDatum(RelationGetRelid(rel));
	args[1] = CStringGetTextDatum(key);
	args[2] = PointerGetDatum(construct_md_array(texts, tnulls, 1, dims, lbs, TEXTOID, -1,
												 false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(xelems, natts, INT8OID, 8, FLOAT8PASSBYVAL,
											  TYPALIGN_DOUBLE));
	ExecuteSaved(&TombstoneColumnsPlan,
				 "UPDATE locality.tombstones SET row_values = $3, column_xids = $4 "
				 "WHERE relid = $1 AND key = $2",
				 4, argtypes, args, NULL);
}

PG_FUNCTION_INFO_V1(locality_global_write);
PG_FUNCTION_INFO_V1(locality_global_delete);
PG_FUNCTION_INFO_V1(locality_hlc_current);

/* locality_global_write: statement trigger on a GLOBAL table, marks the transaction. */
Datum
locality_global_write(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "locality._global_write() is a trigger");
	WroteGlobal = true;
	return PointerGetDatum(NULL);
}

/* locality_global_delete: row trigger BEFORE DELETE, records the tombstone. */
Datum
locality_global_delete(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "locality._global_delete() is a row trigger");
	WroteGlobal = true;
	LocalityRecordTombstone(trigdata->tg_relation,
							LocalityRowKey(trigdata->tg_relation, trigdata->tg_trigslot),
							trigdata->tg_trigslot);
	return PointerGetDatum(trigdata->tg_trigtuple);
}

/* locality.hlc_now(): the last stamp of this server's clock. */
Datum
locality_hlc_current(PG_FUNCTION_ARGS)
{
	uint64		last;

	CheckClock();
	LWLockAcquire(Hlc->lock, LW_SHARED);
	last = Hlc->clock.last;
	LWLockRelease(Hlc->lock);
	PG_RETURN_INT64((int64) last);
}

static Oid
TriggerFunction(const char *name)
{
	return LookupFuncName(list_make2(makeString("locality"), makeString(pstrdup(name))), 0,
						  NULL, false);
}

/* Creates one internal trigger on relid, dropped with the extension too. */
static void
CreateInternalTrigger(Oid relid, const char *name, Oid func, bool row, int16 events)
{
	CreateTrigStmt *stmt = makeNode(CreateTrigStmt);
	ObjectAddress trigger;
	ObjectAddress extension;

	stmt->trigname = (char *) name;
	stmt->row = row;
	stmt->timing = TRIGGER_TYPE_BEFORE;
	stmt->events = events;
	trigger = CreateTrigger(stmt, NULL, relid, InvalidOid, InvalidOid, InvalidOid, func,
							InvalidOid, NULL, true, false);
	ObjectAddressSet(extension, ExtensionRelationId, get_extension_oid("pg_locality", false));
	recordDependencyOn(&trigger, &extension, DEPENDENCY_AUTO);
}

void
LocalitySetGlobalTriggers(Oid relid, bool global)
{
	Oid			fns[3] = {TriggerFunction("_global_write"), TriggerFunction("_global_delete"),
	TriggerFunction("_global_update_columns")};
	Oid			existing[3] = {InvalidOid, InvalidOid, InvalidOid};
	bool		wanted[3];
	const LocalityTable *table = LocalityFindTable(relid);
	Relation	pg_trigger = table_open(TriggerRelationId, AccessShareLock);
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	int			i;

	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(pg_trigger, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_trigger trig = (Form_pg_trigger) GETSTRUCT(tuple);

		for (i = 0; i < 3; i++)
			if (trig->tgfoid == fns[i])
				existing[i] = trig->oid;
	}
	systable_endscan(scan);
	table_close(pg_trigger, AccessShareLock);

	wanted[0] = wanted[1] = global;
	/* Column versions are kept only for tables resolved column by column. */
	wanted[2] = global && table != NULL &&
		strcmp(table->conflict_resolution, "last_write_wins_column") == 0;
	for (i = 0; i < 3; i++)
	{
		if (wanted[i] && !OidIsValid(existing[i]))
		{
			if (i == 0)
				CreateInternalTrigger(relid, "locality_global_write", fns[i], false,
									  TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE);
			else if (i == 1)
				CreateInternalTrigger(relid, "locality_global_delete", fns[i], true,
									  TRIGGER_TYPE_DELETE);
			else
				CreateInternalTrigger(relid, "locality_global_update_columns", fns[i], true,
									  TRIGGER_TYPE_UPDATE);
		}
		else if (!wanted[i] && OidIsValid(existing[i]))
		{
			ObjectAddress trigger;

			ObjectAddressSet(trigger, TriggerRelationId, existing[i]);
			performDeletion(&trigger, DROP_RESTRICT, PERFORM_DELETION_INTERNAL);
		}
	}
	CommandCounterIncrement();
}

/* ---- Column versions (last_write_wins_column) ---- */

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
	Oid			relid = LocalityTableOid("column_versions");
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
	ExecuteSaved(&ColumnVersionsPlan,
				 /* No ON CONFLICT on a user catalog table (095_column_versions_decoding.sql);
				  * the writers of a key hold its row's lock. */
				 "WITH u AS (UPDATE locality.column_versions SET row_xid = $3, xids = $4 "
				 "           WHERE relid = $1 AND key = $2 RETURNING 1) "
				 "INSERT INTO locality.column_versions (relid, key, row_xid, xids) "
				 "SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM u)",
				 4, argtypes, values, NULL);
}

/*
 * ColumnXids: per column of the row version in slot, the full id of the
 * transaction that last wrote it: from column_versions when it describes
 * this version, else the version's writer for every column.
 */
static void
ColumnXids(Relation rel, const char *key, TupleTableSlot *slot, int64 *xids)
{
	int			natts = RelationGetDescr(rel)->natts;
	bool		isnull;
	TransactionId xmin = DatumGetTransactionId(slot_getsysattr(slot, MinTransactionIdAttributeNumber,
															   &isnull));
	int64		writer = (!isnull && TransactionIdIsNormal(xmin)) ? FullXid(xmin) : 0;
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
	int64		writer = (!isnull && TransactionIdIsNormal(xmin)) ? FullXid(xmin) : 0;
	int			i;

	ColumnXids(rel, LocalityRowKey(rel, local), local, xids);
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
		 */
		if (xids[i] == writer && writer != 0 && writer != MyFullXidIfAny() &&
			FindStampByFullXid(writer, &stamps[i]))
			continue;
		if (xids[i] == writer || xids[i] == 0)
			stamps[i] = row_stamp;
		else
			stamps[i] = LocalityStampOfFullXid(xids[i]);
	}
}

LocalityHlcStamp
LocalityStampOfFullXid(int64 xid)
{
	LocalityHlcStamp stamp;
	TimestampTz ts;
	RepOriginId origin;

	if (xid != 0 && FindStampByFullXid(xid, &stamp))
		return stamp;
	/* Unstamped (a row copied by initial sync, or older than the stamps kept). */
	if (xid != 0 && TransactionIdIsNormal((TransactionId) xid) &&
		TransactionIdGetCommitTsData((TransactionId) xid, &ts, &origin))
		return LocalityStampFromTime(ts, LocalityRegionOfOrigin(origin));
	stamp.hlc = 0;
	stamp.region_id = 0;
	return stamp;
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

	lookup.row_xid = FullXid(xid);
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
	ColumnXids(rel, LocalityRowKey(rel, trigdata->tg_trigslot), trigdata->tg_trigslot, xids);
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
	WroteGlobal = true;
	return PointerGetDatum(trigdata->tg_newtuple);
}

/*
 * LocalityCleanupConflictState deletes the stamps and tombstones older than
 * locality.stamp_retention, at most once a minute (the apply worker calls
 * it inside a transaction).
 */
void
LocalityCleanupConflictState(void)
{
	TimestampTz now = GetCurrentTimestamp();
	Oid			argtypes[1] = {INTERVALOID};
	Datum		values[1];

	if (!TimestampDifferenceExceeds(LastCleanup, now, 60 * 1000))
		return;
	LastCleanup = now;
	values[0] = DirectFunctionCall3(interval_in, CStringGetDatum(psprintf("%d s", StampRetention)),
									ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	SPI_connect();
	LocalityCatalogExecute("SELECT locality.cleanup_conflict_state($1)", 1, argtypes, values, NULL);
	SPI_finish();
}
