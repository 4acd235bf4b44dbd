/*
 * stamps.c -- the commit stamps of transactions that wrote GLOBAL tables,
 * and the stamp of a row version, for causal last-write-wins
 * (docs/conflicts.md sections 2-3 and 8).
 *
 *   local write to a GLOBAL table --internal trigger (global_triggers.c)--> mark
 *   pre-commit: clock not ahead of physical time --> nothing stored: the
 *                 stamp is the commit timestamp's ms (and origin), "derived"
 *               else stamp = hlc now() --> locality.commit_stamps[xid]
 *   decoder BEGIN: hlc = commit_stamps[txn xid], or 0: derive from commit time
 *   apply: hlc update(remote stamp) before commit (hlc_clock.c)
 *   apply commit: commit_stamps[apply xid] = remote stamp, unless the
 *                 remote commit time and origin this commit records give it
 *   conflict: local row's stamp = row_stamps[key] or commit_stamps[xmin],
 *             else derived from xmin's commit timestamp and origin
 *
 * docs/conflicts.md section 8 ("derived stamps") has the argument.
 *
 * Tombstones (tombstones.c) and per-column writers (column_versions.c) are
 * keyed by the same transaction ids.  Nothing here runs for a table that
 * is not GLOBAL: the transaction callback returns at once unless a trigger
 * or the apply worker marked the transaction.
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
#include "shim/hlc_clock.h"
#include "shim/stamps.h"

static int	StampRetention = 86400;	/* seconds */

/* This transaction wrote a GLOBAL table: stamp it at pre-commit. */
static bool WroteGlobal = false;
/* ... with this stamp (the apply worker's remote one) instead of now(). */
static bool HaveAppliedStamp = false;
static LocalityHlcStamp AppliedStamp;
static bool AppliedObserved = false;	/* the clock has observed it */

/*
 * Rows keyed by this transaction's id (a tombstone, column versions, a kept
 * row stamp) need its stamp stored: cleanup ages them out with it, and a
 * kept row stamp is looked for only when the writer's stamp is stored.
 */
static bool StoreStamp = false;

/* A local commit with a derived stamp: the clock reading at pre-commit (0: none). */
static uint64 DerivedFloor = 0;

static TimestampTz LastCleanup = 0;

/* Plan of the per-row write of row_stamps, prepared once per backend. */
static SPIPlanPtr RowStampPlan = NULL;

void
LocalityStampApplied(LocalityHlcStamp stamp)
{
	WroteGlobal = true;
	HaveAppliedStamp = true;
	AppliedStamp = stamp;
	/*
	 * Causality (docs/conflicts.md C2): the clock passes the stamp before
	 * this transaction commits.  BEGIN observes a stored stamp; a derived one
	 * (BEGIN's hlc 0) is observed here, at the first change to a GLOBAL table.
	 */
	if (!AppliedObserved)
	{
		LocalityHlcObserve(stamp.hlc);
		AppliedObserved = true;
	}
}

void
LocalityStoreStamp(void)
{
	StoreStamp = true;
}

/* The full transaction id of xid, a recent one (not older than 2^31). */
int64
LocalityFullXid(TransactionId xid)
{
	FullTransactionId next = ReadNextFullTransactionId();
	uint32		epoch = EpochFromFullTransactionId(next);

	if (xid > XidFromFullTransactionId(next) && epoch > 0)
		epoch--;
	return (int64) (((uint64) epoch << 32) | xid);
}

/* Marks the current transaction as one that wrote a GLOBAL table. */
void
LocalityMarkGlobalWrite(void)
{
	WroteGlobal = true;
}

Oid
LocalityExtensionTableOid(const char *name)
{
	Oid			nsp = get_namespace_oid("locality", true);

	return OidIsValid(nsp) ? get_relname_relid(name, nsp) : InvalidOid;
}

/*
 * LocalityExecuteSaved runs sql (which names every object schema-qualified) with a
 * plan prepared once per backend, as the owner of the extension's tables:
 * the writes of the triggers and of apply, once per row, must not re-plan.
 */
void
LocalityExecuteSaved(SPIPlanPtr *plan, const char *sql, int nargs, Oid *argtypes, Datum *values,
			 const char *nulls)
{
	Oid			owner;
	Oid			save_userid;
	int			save_sec_context;
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(LocalityExtensionTableOid("commit_stamps")));
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
 * AppliedStampIsDerived: the applied transaction's stamp is the one its
 * commit record gives: the remote commit time (replorigin_session_origin_timestamp,
 * which becomes this commit's timestamp) and the sender's region (its origin).
 */
static bool
AppliedStampIsDerived(LocalityHlcStamp stamp)
{
	if (replorigin_session_origin == InvalidRepOriginId ||
		replorigin_session_origin == DoNotReplicateId ||
		replorigin_session_origin_timestamp == 0)
		return false;
	return stamp.hlc == locality_hlc_of_commit_time(replorigin_session_origin_timestamp) &&
		stamp.region_id == (uint16) LocalityRegionOfOrigin(replorigin_session_origin);
}

/*
 * RecordStamp stamps the committing transaction: now() for a local one, the
 * remote stamp for an applied one; the row is keyed by the transaction and
 * by each committed subtransaction, since a row version's xmin may be one.
 * Nothing is stored when the commit timestamp and origin give the stamp
 * (docs/conflicts.md section 8): a local commit whose clock has not run
 * ahead of physical time, an applied one whose remote stamp is derived.
 * Prepared transactions always store theirs (their commit comes later).
 */
static void
RecordStamp(bool prepare)
{
	LocalityHlcStamp stamp;
	Oid			relid = LocalityExtensionTableOid("commit_stamps");
	Relation	rel;
	TransactionId *children;
	int			nchildren;
	int			i;
	TimestampTz at = GetCurrentTimestamp();

	if (!OidIsValid(relid) || !TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return;
	if (HaveAppliedStamp)
	{
		stamp = AppliedStamp;
		if (!StoreStamp && !prepare && AppliedStampIsDerived(stamp))
			return;
	}
	else
	{
		stamp.region_id = (uint16) LocalityLocalRegion()->id;
		/* As late as possible: after everything this transaction observed. */
		if (StoreStamp || prepare || replorigin_session_origin != InvalidRepOriginId)
			stamp.hlc = LocalityHlcNow();
		else
		{
			bool		derived;

			stamp.hlc = LocalityHlcCommit(&derived);
			if (derived)
			{
				DerivedFloor = stamp.hlc;
				return;
			}
		}
	}
	rel = table_open(relid, RowExclusiveLock);
	InsertStamp(rel, (int64) U64FromFullTransactionId(GetTopFullTransactionId()), stamp, at);
	nchildren = xactGetCommittedChildren(&children);
	for (i = 0; i < nchildren; i++)
		InsertStamp(rel, LocalityFullXid(children[i]), stamp, at);
	table_close(rel, RowExclusiveLock);
}

/*
 * WitnessDerived, at commit: the clock passes the derived stamp, now that
 * the commit timestamp is known.  A stamp below the pre-commit reading means
 * the system clock stepped back in between (docs/conflicts.md section 8).
 */
static void
WitnessDerived(void)
{
	uint64		hlc = locality_hlc_of_commit_time(GetCurrentTransactionStopTimestamp());

	LocalityHlcWitness(hlc);
	if (hlc < DerivedFloor)
		ereport(LOG,
				(errmsg("system clock went back %llu ms during a commit",
						(unsigned long long) (LOCALITY_HLC_PHYSICAL_MS(DerivedFloor) -
											  LOCALITY_HLC_PHYSICAL_MS(hlc))),
				 errdetail("The commit's stamp, taken from its commit timestamp, is below the clock read at pre-commit.")));
}

static void
ResetStampState(void)
{
	WroteGlobal = false;
	HaveAppliedStamp = false;
	AppliedObserved = false;
	StoreStamp = false;
	DerivedFloor = 0;
}

static void
StampXactCallback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (WroteGlobal)
				RecordStamp(event == XACT_EVENT_PRE_PREPARE);
			break;
		case XACT_EVENT_COMMIT:
			if (DerivedFloor != 0)
				WitnessDerived();
			ResetStampState();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			ResetStampState();
			break;
		default:
			break;
	}
}

void
LocalityInitStamps(void)
{
	DefineCustomIntVariable("locality.stamp_retention",
							"How long stamps and tombstones of GLOBAL tables are kept.",
							"A change concurrent with a delete or write older than this "
							"is decided by commit timestamps instead.",
							&StampRetention, 86400, 60, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	RegisterXactCallback(StampXactCallback, NULL);
	LocalityInitHlcClock();
}

/*
 * LocalityFindStoredStamp: the row of commit_stamps for xid.  SnapshotAny: the
 * writer is known committed (its row version is visible, or the output
 * plugin decodes its commit), and the output plugin's historic snapshot
 * could not see a row its transaction wrote at pre-commit.
 */
bool
LocalityFindStoredStamp(int64 xid, LocalityHlcStamp *stamp)
{
	Oid			relid = LocalityExtensionTableOid("commit_stamps");
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

/*
 * DerivedStamp: the stamp of a committed transaction from its commit
 * timestamp and origin; false when unknown (in progress, aborted, frozen or
 * older than the commit timestamps kept, or not a recent full xid).
 */
static bool
DerivedStamp(int64 full_xid, LocalityHlcStamp *stamp)
{
	TransactionId xid = (TransactionId) full_xid;
	TimestampTz ts;
	RepOriginId origin;

	if (!TransactionIdIsNormal(xid) || LocalityFullXid(xid) != full_xid)
		return false;
	if (!TransactionIdGetCommitTsData(xid, &ts, &origin) || ts == 0)
		return false;
	*stamp = LocalityStampFromTime(ts, LocalityRegionOfOrigin(origin));
	return true;
}

/*
 * Committed transactions known to have no stored stamp, with their derived
 * one (per backend, direct-mapped by full xid).  Both are final once a
 * transaction has committed: its commit_stamps row can only be written at
 * its own pre-commit, and its commit timestamp never changes.  A run of
 * applied changes to rows written by one transaction (a bulk load, then
 * updates) then costs no index probe per change.
 */
#define DERIVED_CACHE_SIZE 64
typedef struct DerivedCacheEntry
{
	int64		xid;			/* 0: empty */
	LocalityHlcStamp stamp;
} DerivedCacheEntry;
static DerivedCacheEntry DerivedCache[DERIVED_CACHE_SIZE];

/*
 * LookupStamp: xid's stamp, *stored telling whether it came from
 * commit_stamps.  The commit timestamp is read first: when it exists the
 * transaction has committed, so a stored stamp, written before that, is
 * already there to find, and its absence can be cached.
 */
static bool
LookupStamp(int64 xid, LocalityHlcStamp *stamp, bool *stored)
{
	DerivedCacheEntry *entry = &DerivedCache[(uint64) xid % DERIVED_CACHE_SIZE];
	LocalityHlcStamp derived;
	bool		have_derived;

	*stored = false;
	if (xid != 0 && entry->xid == xid)
	{
		*stamp = entry->stamp;
		return true;
	}
	/*
	 * Written earlier by this applied transaction (an earlier change of the
	 * source transaction, or of one committed with it: apply.c's grouped
	 * commits): the stamp it will commit with, as a reader will find it.
	 */
	if (HaveAppliedStamp && TransactionIdIsNormal((TransactionId) xid) &&
		LocalityFullXid((TransactionId) xid) == xid &&
		TransactionIdIsCurrentTransactionId((TransactionId) xid))
	{
		*stamp = AppliedStamp;
		*stored = StoreStamp;
		return true;
	}
	have_derived = DerivedStamp(xid, &derived);
	if (LocalityFindStoredStamp(xid, stamp))
	{
		*stored = true;
		return true;
	}
	if (!have_derived)
		return false;
	entry->xid = xid;
	entry->stamp = derived;
	*stamp = derived;
	return true;
}

bool
LocalityFindStampByFullXid(int64 xid, LocalityHlcStamp *stamp)
{
	bool		stored;

	return LookupStamp(xid, stamp, &stored);
}

bool
LocalityFindStamp(TransactionId xid, LocalityHlcStamp *stamp)
{
	if (!TransactionIdIsNormal(xid))
		return false;
	return LocalityFindStampByFullXid(LocalityFullXid(xid), stamp);
}

LocalityHlcStamp
LocalityStampFromTime(TimestampTz ts, int16 region_id)
{
	LocalityHlcStamp stamp;

	stamp.hlc = locality_hlc_of_commit_time(ts);
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
	Oid			relid = LocalityExtensionTableOid("row_stamps");
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

		if (DatumGetInt64(heap_getattr(tuple, 3, desc, &isnull)) == LocalityFullXid(xid))
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
	LocalityExecuteSaved(&RowStampPlan,
				 "INSERT INTO locality.row_stamps (relid, key, xid, hlc, region_id) "
				 "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (relid, key) DO UPDATE "
				 "SET xid = excluded.xid, hlc = excluded.hlc, region_id = excluded.region_id",
				 5, argtypes, values, NULL);
	/* LocalityRowStamp looks for a kept stamp only when the writer's is stored. */
	WroteGlobal = true;
	StoreStamp = true;
}

/*
 * LocalityRowStamp: a kept row stamp exists only for a version whose writer
 * stored its stamp (LocalityKeepRowStamp), so an ordinary version costs a
 * commit timestamp lookup and a probe of commit_stamps (a miss), or nothing
 * when its writer is in the cache of derived stamps.
 */
LocalityHlcStamp
LocalityRowStamp(Relation rel, TupleTableSlot *slot, bool global)
{
	TransactionId xmin;
	bool		isnull;
	LocalityHlcStamp stamp;

	xmin = DatumGetTransactionId(slot_getsysattr(slot, MinTransactionIdAttributeNumber, &isnull));
	if (!isnull && TransactionIdIsNormal(xmin))
	{
		bool		stored;

		/* Derived; or unstamped: older than the stamps kept, or not GLOBAL. */
		if (LookupStamp(LocalityFullXid(xmin), &stamp, &stored))
		{
			LocalityHlcStamp kept;

			if (stored && global && FindKeptRowStamp(rel, LocalityRowKey(rel, slot), xmin, &kept))
				return kept;
			return stamp;
		}
	}
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

LocalityHlcStamp
LocalityStampOfFullXid(int64 xid)
{
	LocalityHlcStamp stamp;

	/* Stored or derived (a row copied by initial sync, or older than the stamps kept). */
	if (xid != 0 && LocalityFindStampByFullXid(xid, &stamp))
		return stamp;
	stamp.hlc = 0;
	stamp.region_id = 0;
	return stamp;
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
