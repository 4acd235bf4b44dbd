/*
 * global_triggers.c -- the internal triggers of a GLOBAL table: a statement
 * trigger that marks the transaction for a commit stamp (stamps.c), a row
 * trigger that records the tombstone of a deleted row (tombstones.c), a row
 * trigger that continues a tombstone's CRDT state on INSERT, and,
 * in last_write_wins_column mode, the row trigger of column_versions.c; in
 * the other modes a row trigger on UPDATE that makes an unchanged TOASTed
 * value travel in full.  Only GLOBAL tables have them, so other tables pay
 * nothing.
 */
#include "postgres.h"

#include "access/commit_ts.h"
#include "access/detoast.h"
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
#include "shim/crdt.h"
#include "shim/global_triggers.h"
#include "shim/stamps.h"
#include "shim/tombstones.h"

PG_FUNCTION_INFO_V1(locality_global_write);
PG_FUNCTION_INFO_V1(locality_global_delete);
PG_FUNCTION_INFO_V1(locality_global_update_toast);
PG_FUNCTION_INFO_V1(locality_global_insert);

/* locality_global_write: statement trigger on a GLOBAL table, marks the transaction. */
Datum
locality_global_write(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "locality._global_write() is a trigger");
	LocalityMarkGlobalWrite();
	return PointerGetDatum(NULL);
}

/* locality_global_delete: row trigger BEFORE DELETE, records the tombstone. */
Datum
locality_global_delete(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "locality._global_delete() is a row trigger");
	LocalityMarkGlobalWrite();
	{
		Relation	rel = trigdata->tg_relation;
		char	   *key = LocalityRowKey(rel, trigdata->tg_trigslot);
		int		   *kinds = LocalityCrdtKinds(RelationGetDescr(rel));
		bytea	  **crdt = NULL;

		/*
		 * The key's CRDT state with everything this delete observed reset
		 * (docs/conflicts.md section 5), merged with what an older tombstone
		 * kept; the output plugin sends it with the DELETE.
		 */
		if (kinds != NULL)
		{
			bytea	  **kept = LocalityTombstoneCrdt(rel, key);
			int			i;

			crdt = LocalityCrdtValues(trigdata->tg_trigslot, kinds);
			for (i = 0; i < RelationGetDescr(rel)->natts; i++)
			{
				if (kinds[i] == 0)
					continue;
				if (crdt[i] != NULL)
					crdt[i] = LocalityCrdtReset(kinds[i], crdt[i]);
				if (kept != NULL && kept[i] != NULL)
					crdt[i] = crdt[i] == NULL ? kept[i] : LocalityCrdtMerge(kinds[i], crdt[i], kept[i]);
			}
		}
		LocalityRecordTombstone(rel, key, trigdata->tg_trigslot, crdt);
	}
	return PointerGetDatum(trigdata->tg_trigtuple);
}

/*
 * locality_global_insert: row trigger BEFORE INSERT.  An insert of a key
 * whose tombstone keeps CRDT state continues that state (docs/conflicts.md
 * section 5): each CRDT column becomes the kept state plus the inserted
 * value, credited to this region, as the other regions will merge it.
 */
Datum
locality_global_insert(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	int		   *kinds;
	bytea	  **kept;
	bytea	  **inserted;
	Datum	   *values;
	bool	   *nulls;
	bool	   *replace;
	int			i;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "locality._global_insert() is a row trigger");
	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);
	kinds = LocalityCrdtKinds(desc);
	if (kinds == NULL || !OidIsValid(RelationGetReplicaIndex(rel)))
		return PointerGetDatum(trigdata->tg_trigtuple);
	kept = LocalityTombstoneCrdt(rel, LocalityRowKey(rel, trigdata->tg_trigslot));
	if (kept == NULL)
		return PointerGetDatum(trigdata->tg_trigtuple);
	inserted = LocalityCrdtValues(trigdata->tg_trigslot, kinds);
	values = palloc0(sizeof(Datum) * desc->natts);
	nulls = palloc0(sizeof(bool) * desc->natts);
	replace = palloc0(sizeof(bool) * desc->natts);
	for (i = 0; i < desc->natts; i++)
	{
		if (kinds[i] == 0 || kept[i] == NULL)
			continue;
		replace[i] = true;
		/* A NULL takes the kept state, as a merge with it would. */
		values[i] = PointerGetDatum(inserted[i] == NULL ? kept[i] :
									LocalityCrdtContinue(kinds[i], kept[i], inserted[i]));
	}
	return PointerGetDatum(heap_modify_tuple(trigdata->tg_trigtuple, desc, values, nulls, replace));
}

/*
 * locality_global_update_toast: row trigger BEFORE UPDATE of a GLOBAL table
 * resolved row by row.  A TOASTed value the update leaves unchanged would
 * be decoded as "unchanged" ('u': its chunks are not in the WAL), and a
 * receiver would keep its own value for it even when this row wins there,
 * while a concurrent update of that column wins nowhere else: regions
 * diverge (docs/conflicts.md section 3).  The value is copied out of its
 * TOAST pointer, so the update stores it again and the output plugin sends
 * it in full.
 */
Datum
locality_global_update_toast(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	newtuple;
	TupleDesc	desc;
	int		   *cols;
	Datum	   *values;
	bool	   *isnull;
	int			n = 0;
	int			i;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		elog(ERROR, "locality._global_update_toast() is a row trigger on UPDATE");
	newtuple = trigdata->tg_newtuple;
	if (!HeapTupleHasExternal(newtuple))
		return PointerGetDatum(newtuple);
	desc = RelationGetDescr(trigdata->tg_relation);
	cols = palloc(sizeof(int) * desc->natts);
	values = palloc(sizeof(Datum) * desc->natts);
	isnull = palloc(sizeof(bool) * desc->natts);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		bool		null;
		Datum		value;

		if (attr->attisdropped || attr->attlen != -1)
			continue;
		value = heap_getattr(newtuple, i + 1, desc, &null);
		if (null || !VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(value)))
			continue;
		cols[n] = i + 1;
		/* Still compressed if it was: stored again, TOASTed anew when large. */
		values[n] = PointerGetDatum(detoast_external_attr((struct varlena *) DatumGetPointer(value)));
		isnull[n] = false;
		n++;
	}
	if (n == 0)
		return PointerGetDatum(newtuple);
	return PointerGetDatum(heap_modify_tuple_by_cols(newtuple, desc, n, cols, values, isnull));
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
	Oid			fns[5] = {TriggerFunction("_global_write"), TriggerFunction("_global_delete"),
	TriggerFunction("_global_update_columns"), TriggerFunction("_global_update_toast"),
	TriggerFunction("_global_insert")};
	Oid			existing[5] = {InvalidOid, InvalidOid, InvalidOid, InvalidOid, InvalidOid};
	bool		wanted[5];
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

		for (i = 0; i < 5; i++)
			if (trig->tgfoid == fns[i])
				existing[i] = trig->oid;
	}
	systable_endscan(scan);
	table_close(pg_trigger, AccessShareLock);

	wanted[0] = wanted[1] = global;
	/* Column versions are kept only for tables resolved column by column. */
	wanted[2] = global && table != NULL &&
		strcmp(table->conflict_resolution, "last_write_wins_column") == 0;
	/* There an unsent column means "not written"; in the other modes it must travel. */
	wanted[3] = global && !wanted[2];
	/* An INSERT continues the CRDT state its key's tombstone kept. */
	wanted[4] = global;
	for (i = 0; i < 5; i++)
	{
		if (wanted[i] && !OidIsValid(existing[i]))
		{
			if (i == 0)
				CreateInternalTrigger(relid, "locality_global_write", fns[i], false,
									  TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE);
			else if (i == 1)
				CreateInternalTrigger(relid, "locality_global_delete", fns[i], true,
									  TRIGGER_TYPE_DELETE);
			else if (i == 2)
				CreateInternalTrigger(relid, "locality_global_update_columns", fns[i], true,
									  TRIGGER_TYPE_UPDATE);
			else if (i == 3)
				CreateInternalTrigger(relid, "locality_global_update_toast", fns[i], true,
									  TRIGGER_TYPE_UPDATE);
			else
				CreateInternalTrigger(relid, "locality_global_insert", fns[i], true,
									  TRIGGER_TYPE_INSERT);
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
