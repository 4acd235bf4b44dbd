/*
 * tombstones.c -- what causal last-write-wins remembers of a deleted row
 * of a GLOBAL table: locality.tombstones[relid, key] = the deleting
 * transaction (whose commit stamp orders the delete against concurrent
 * writes), and in last_write_wins_column mode the deleted row's columns
 * and their writers (docs/conflicts.md section 3), and the CRDT state of
 * the key (section 5).  Written by the delete
 * trigger (global_triggers.c) and by the apply worker (apply.c).
 */
#include "postgres.h"

#include "access/commit_ts.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
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
#include "parser/parse_relation.h"
#include "replication/origin.h"
#include "storage/lmgr.h"
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
#include "shim/crdt.h"
#include "shim/stamps.h"
#include "shim/tombstones.h"

/* Plans of the per-row writes, prepared once per backend (LocalityExecuteSaved). */
static SPIPlanPtr TombstonePlan = NULL;

static SPIPlanPtr TombstoneColumnsPlan = NULL;

static SPIPlanPtr TombstoneCrdtPlan = NULL;

static SPIPlanPtr TombstoneLockPlan = NULL;


/* last_write_wins_column on a GLOBAL table. */
static bool
IsColumnModeTable(Oid relid)
{
	const LocalityTable *table = LocalityFindTable(relid);

	return table != NULL && table->spec.kind == LOCALITY_GLOBAL &&
		strcmp(table->conflict_resolution, "last_write_wins_column") == 0;
}

/*
 * BeginTombstoneScan: a scan of the tombstone of key in rel (at most one
 * row), under the active snapshot; *tomb is opened here and closed by the
 * caller after systable_endscan.
 */
static SysScanDesc
BeginTombstoneScan(Relation rel, const char *key, Oid relid, Relation *tomb)
{
	ScanKeyData keys[2];

	*tomb = table_open(relid, AccessShareLock);
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationGetRelid(rel)));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(key));
	return systable_beginscan(*tomb, RelationGetPrimaryKeyIndex(*tomb), true,
							  GetActiveSnapshot(), 2, keys);
}

bool
LocalityRelationHasTombstones(Relation rel)
{
	Oid			relid = LocalityExtensionTableOid("tombstones");
	Relation	tomb;
	SysScanDesc scan;
	ScanKeyData key;
	SnapshotData dirty;
	bool		found;

	if (!OidIsValid(relid))
		return false;
	/* Dirty: a tombstone being written counts (docs/conflicts.md section 8, the key race). */
	InitDirtySnapshot(dirty);
	tomb = table_open(relid, AccessShareLock);
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(RelationGetRelid(rel)));
	scan = systable_beginscan(tomb, RelationGetPrimaryKeyIndex(tomb), true, &dirty, 1, &key);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	table_close(tomb, AccessShareLock);
	return found;
}

/*
 * The tombstone of key in rel seen through a dirty snapshot, as
 * RelationFindReplTupleByIndex looks for a row: every version committed or
 * written by a transaction in progress.  While one is being inserted by
 * another transaction (its xmin in progress: a delete of the key deciding
 * now), wait for that transaction to end and look again.  A version whose
 * deleter or updater is in progress counts as there: it was committed, and
 * LocalityFindTombstone decides under a snapshot taken after this.
 */
bool
LocalityAwaitTombstone(Relation rel, const char *key)
{
	Oid			relid = LocalityExtensionTableOid("tombstones");
	ScanKeyData keys[2];
	SnapshotData dirty;
	Relation	tomb;
	SysScanDesc scan;
	TransactionId xwait;
	bool		found;

	if (!OidIsValid(relid))
		return false;
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationGetRelid(rel)));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_TEXTEQ, CStringGetTextDatum(key));
	InitDirtySnapshot(dirty);
	tomb = table_open(relid, AccessShareLock);
	for (;;)
	{
		found = false;
		xwait = InvalidTransactionId;
		scan = systable_beginscan(tomb, RelationGetPrimaryKeyIndex(tomb), true, &dirty, 2, keys);
		while (HeapTupleIsValid(systable_getnext(scan)))
		{
			/* Set by HeapTupleSatisfiesDirty for the version returned; never this transaction. */
			if (TransactionIdIsValid(dirty.xmin))
			{
				xwait = dirty.xmin;
				break;
			}
			found = true;
		}
		systable_endscan(scan);
		if (!TransactionIdIsValid(xwait))
			break;
		XactLockTableWait(xwait, NULL, NULL, XLTW_None);
		CHECK_FOR_INTERRUPTS();
	}
	table_close(tomb, AccessShareLock);
	return found;
}

bool
LocalityFindTombstone(Relation rel, const char *key, LocalityHlcStamp *stamp, char ***values,
					  int64 **xids)
{
	Oid			relid = LocalityExtensionTableOid("tombstones");
	Relation	tomb;
	SysScanDesc scan;
	HeapTuple	tuple;
	int64		xid = 0;
	bool		found = false;

	*values = NULL;
	*xids = NULL;
	if (!OidIsValid(relid))
		return false;
	scan = BeginTombstoneScan(rel, key, relid, &tomb);
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
	if (!LocalityFindStampByFullXid(xid, stamp))
	{
		*values = NULL;
		*xids = NULL;
		return false;
	}
	return true;
}

/* The CRDT states crdt[natts] (NULL entries for other columns) as a bytea[]. */
static Datum
CrdtArray(Relation rel, bytea **crdt)
{
	int			natts = RelationGetDescr(rel)->natts;
	Datum	   *elems = palloc(sizeof(Datum) * Max(natts, 1));
	bool	   *enulls = palloc(sizeof(bool) * Max(natts, 1));
	int			dims[1] = {natts};
	int			lbs[1] = {1};
	int			i;

	for (i = 0; i < natts; i++)
	{
		enulls[i] = crdt[i] == NULL;
		elems[i] = crdt[i] == NULL ? (Datum) 0 :
			PointerGetDatum(pg_detoast_datum_copy((struct varlena *) crdt[i]));
	}
	return PointerGetDatum(construct_md_array(elems, enulls, 1, dims, lbs, BYTEAOID, -1, false,
											  TYPALIGN_INT));
}

bytea **
LocalityTombstoneCrdt(Relation rel, const char *key)
{
	Oid			relid = LocalityExtensionTableOid("tombstones");
	Relation	tomb;
	SysScanDesc scan;
	HeapTuple	tuple;
	bytea	  **crdt = NULL;

	if (!OidIsValid(relid))
		return NULL;
	scan = BeginTombstoneScan(rel, key, relid, &tomb);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		TupleDesc	desc = RelationGetDescr(tomb);
		AttrNumber	att = attnameAttNum(tomb, "crdt_values", false);
		bool		isnull;
		Datum		datum = heap_getattr(tuple, att, desc, &isnull);

		if (!isnull)
		{
			int			natts = RelationGetDescr(rel)->natts;
			Datum	   *elems;
			bool	   *enulls;
			int			n;
			int			i;

			crdt = palloc0(sizeof(bytea *) * Max(natts, 1));
			deconstruct_array(DatumGetArrayTypeP(datum), BYTEAOID, -1, false, TYPALIGN_INT,
							  &elems, &enulls, &n);
			for (i = 0; i < n && i < natts; i++)
				crdt[i] = enulls[i] ? NULL :
					(bytea *) pg_detoast_datum_copy((struct varlena *) DatumGetPointer(elems[i]));
		}
	}
	systable_endscan(scan);
	table_close(tomb, AccessShareLock);
	return crdt;
}

void
LocalitySetTombstoneCrdt(Relation rel, const char *key, bytea **crdt)
{
	Oid			argtypes[3] = {OIDOID, TEXTOID, BYTEAARRAYOID};
	Datum		args[3];

	args[0] = ObjectIdGetDatum(RelationGetRelid(rel));
	args[1] = CStringGetTextDatum(key);
	args[2] = CrdtArray(rel, crdt);
	LocalityExecuteSaved(&TombstoneCrdtPlan,
				 "UPDATE locality.tombstones SET crdt_values = locality._merge_crdt_values(relid, crdt_values, $3) "
				 "WHERE relid = $1 AND key = $2",
				 3, argtypes, args, NULL);
}

void
LocalityLockTombstone(Relation rel, const char *key)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		args[2];

	args[0] = ObjectIdGetDatum(RelationGetRelid(rel));
	args[1] = CStringGetTextDatum(key);
	LocalityExecuteSaved(&TombstoneLockPlan,
				 "SELECT 1 FROM locality.tombstones WHERE relid = $1 AND key = $2 FOR UPDATE",
				 2, argtypes, args, NULL);
}

void
LocalityRecordTombstone(Relation rel, const char *key, TupleTableSlot *deleted, bytea **crdt)
{
	Oid			argtypes[6] = {OIDOID, TEXTOID, INT8OID, TEXTARRAYOID, INT8ARRAYOID, BYTEAARRAYOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', 'n', 'n', 'n'};

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

		LocalityColumnXids(rel, key, deleted, xids);
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
	if (crdt != NULL)
	{
		values[5] = CrdtArray(rel, crdt);
		nulls[5] = ' ';
	}
	LocalityStoreStamp();		/* cleanup ages the tombstone out with it */
	/* A delete of what is not here keeps the columns an earlier tombstone kept. */
	LocalityExecuteSaved(&TombstonePlan,
				 "INSERT INTO locality.tombstones (relid, key, xid, row_values, column_xids, crdt_values) "
				 "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (relid, key) DO UPDATE "
				 "SET xid = excluded.xid, "
				 "    row_values = coalesce(excluded.row_values, tombstones.row_values), "
				 "    column_xids = coalesce(excluded.column_xids, tombstones.column_xids), "
				 "    crdt_values = locality._merge_crdt_values(excluded.relid, tombstones.crdt_values, "
				 "                                              excluded.crdt_values)",
				 6, argtypes, values, nulls);
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
	LocalityExecuteSaved(&TombstoneColumnsPlan,
				 "UPDATE locality.tombstones SET row_values = $3, column_xids = $4 "
				 "WHERE relid = $1 AND key = $2",
				 4, argtypes, args, NULL);
}

/*
 * locality._merge_crdt_values(relid, a bytea[], b bytea[]): the per-column
 * join of two CRDT states of a key of relid (tombstones.crdt_values), so a
 * tombstone's state is merged in the UPDATE itself, on the latest version
 * of its row: two transactions merging into one tombstone (two apply
 * workers, or one and a local delete) each add their state, neither writes
 * over the other's.
 */
PG_FUNCTION_INFO_V1(locality_merge_crdt_values);
Datum
locality_merge_crdt_values(PG_FUNCTION_ARGS)
{
	Relation	rel;
	int		   *kinds;
	int			natts;
	Datum	   *ae;
	Datum	   *be;
	bool	   *an;
	bool	   *bn;
	int			na;
	int			nb;
	Datum	   *out;
	bool	   *onulls;
	int			dims[1];
	int			lbs[1] = {1};
	int			i;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
	{
		if (PG_ARGISNULL(1) && PG_ARGISNULL(2))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_ARGISNULL(1) ? PG_GETARG_DATUM(2) : PG_GETARG_DATUM(1));
	}
	rel = relation_open(PG_GETARG_OID(0), AccessShareLock);
	kinds = LocalityCrdtKinds(RelationGetDescr(rel));
	natts = RelationGetDescr(rel)->natts;
	relation_close(rel, AccessShareLock);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), BYTEAOID, -1, false, TYPALIGN_INT, &ae, &an, &na);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), BYTEAOID, -1, false, TYPALIGN_INT, &be, &bn, &nb);
	dims[0] = Max(na, nb);
	out = palloc0(sizeof(Datum) * Max(dims[0], 1));
	onulls = palloc0(sizeof(bool) * Max(dims[0], 1));
	for (i = 0; i < dims[0]; i++)
	{
		bool		ha = i < na && !an[i];
		bool		hb = i < nb && !bn[i];

		onulls[i] = !ha && !hb;
		if (ha && hb && i < natts && kinds != NULL && kinds[i] != 0)
			out[i] = PointerGetDatum(LocalityCrdtMerge(kinds[i],
													   (bytea *) PG_DETOAST_DATUM_PACKED(ae[i]),
													   (bytea *) PG_DETOAST_DATUM_PACKED(be[i])));
		else if (hb)
			out[i] = be[i];		/* the newer one, for a column no longer a CRDT */
		else if (ha)
			out[i] = ae[i];
	}
	PG_RETURN_ARRAYTYPE_P(construct_md_array(out, onulls, 1, dims, lbs, BYTEAOID, -1, false,
											 TYPALIGN_INT));
}
