/*
 * safety_net.c -- the row-level safety net of ARCHITECTURE.md's first
 * invariant: a row of a REGIONAL BY ROW table, and every row of a REGIONAL
 * BY TABLE table, is only ever written at its home region's primary (by a
 * local statement there or a forwarded one) or by replication.
 *
 * The router sends most writes home before they reach the executor; this is
 * what catches whatever slips past it, on every write path at once: plain
 * and prepared statements, PL/pgSQL and SQL functions, triggers' own DML,
 * foreign-key cascades, INSERT ... ON CONFLICT, MERGE, COPY FROM.  Each
 * regional table carries two internal triggers calling locality._home_guard():
 *   - AFTER INSERT OR UPDATE OR DELETE, FOR EACH ROW: the row's home (the
 *     region column of the NEW row for INSERT, of the OLD row for UPDATE and
 *     DELETE; the table's home for REGIONAL BY TABLE) must be this region.
 *     So an UPDATE that rehomes a local row elsewhere passes (at the old
 *     home, as SPEC.md section 4 wants) and one that pulls a row homed
 *     elsewhere here does not.  AFTER, not BEFORE: a BEFORE ROW UPDATE
 *     trigger makes PostgreSQL lock every row first (an extra WAL record per
 *     row), it sees the row before other BEFORE triggers have changed it,
 *     and it would turn COPY's multi-row inserts into single ones.
 *     No WHEN clause (e.g. WHEN (OLD.region <> locality.gateway_region()),
 *     which PostgreSQL evaluates when the row is written and then queues no
 *     event for a row homed here): PostgreSQL reads the clause back from
 *     pg_trigger and prepares it once per statement, which costs more than
 *     the queued event of a single-row statement (callgrind, pgbench TPC-B:
 *     17,000 instructions per transaction more than without the clause; the
 *     event costs ~7,500), and single-row writes are the common case.
 *   - BEFORE TRUNCATE, FOR EACH STATEMENT: TRUNCATE of a REGIONAL BY ROW
 *     table is refused everywhere (its rows have several homes, and one
 *     region removing them would race with the others' writes); TRUNCATE of
 *     a REGIONAL BY TABLE table only at its home (it replicates from there).
 * Triggers fire only while session_replication_role is origin or local, so
 * apply workers and initial sync (replica) pass, as PostgreSQL's own apply
 * does.  Unmanaged and GLOBAL tables carry no trigger: no cost at all.
 *
 * The triggers are created by LocalitySetHomeGuard whenever a table's
 * locality is written on a region (set_locality, the three DDL doors, the
 * catalog a joining region receives) and dropped when the table becomes
 * GLOBAL.  They are internal triggers: psql's \d and pg_dump leave them out,
 * only a superuser can disable them, and DROP TRIGGER is refused.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_trigger.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/safety_net.h"

#define GUARD_ROW_TRIGGER "locality_home_guard"
#define GUARD_TRUNCATE_TRIGGER "locality_truncate_guard"

bool		LocalityRouteWrites = true;

/*
 * The region column's number for the last REGIONAL BY ROW table checked:
 * a statement writes one table, so one entry saves a syscache lookup per
 * row.  Keyed by the column's name too (AS <column> may change it), reset
 * by any invalidation of the table.
 */
static Oid	CachedRelid = InvalidOid;
static char CachedColumn[NAMEDATALEN];
static AttrNumber CachedAttnum = InvalidAttrNumber;

static void
GuardRelcacheCallback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == CachedRelid)
		CachedRelid = InvalidOid;
}

/*
 * LocalityInitSafetyNet registers locality.route_writes and the cache's
 * invalidation callback.
 */
void
LocalityInitSafetyNet(void)
{
	DefineCustomBoolVariable("locality.route_writes",
							 "Routes writes to regional tables to the rows' home regions.",
							 "Off: such writes run here, and rows homed in another region "
							 "are refused by the safety net.",
							 &LocalityRouteWrites,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	CacheRegisterRelcacheCallback(GuardRelcacheCallback, (Datum) 0);
}

/* RegionAttnum: the number of table's region column in rel. */
static AttrNumber
RegionAttnum(Relation rel, const LocalityTable *table)
{
	Oid			relid = RelationGetRelid(rel);

	if (relid != CachedRelid || strcmp(CachedColumn, table->spec.column) != 0)
	{
		CachedRelid = InvalidOid;
		CachedAttnum = get_attnum(relid, table->spec.column);
		if (CachedAttnum == InvalidAttrNumber)
			elog(ERROR, "region column \"%s\" of table \"%s\" does not exist",
				 table->spec.column, RelationGetRelationName(rel));
		strlcpy(CachedColumn, table->spec.column, sizeof(CachedColumn));
		CachedRelid = relid;
	}
	return CachedAttnum;
}

/* The home region of a REGIONAL BY TABLE table, or NULL when it has none. */
static const LocalityRegion *
TableHome(const LocalityTable *table)
{
	if (table->spec.in_primary_region)
		return LocalityPrimaryRegion();
	return LocalityFindRegionByName(table->spec.region);
}

/* The name a region id prints as, also when its region was dropped. */
static const char *
RegionName(LocalityRegionId id)
{
	const LocalityRegion *region = LocalityFindRegionById(id);

	return region != NULL ? region->name : psprintf("<dropped region %d>", (int) id);
}

/* The statement kind of a row trigger event, for messages. */
static const char *
EventName(TriggerEvent event)
{
	if (TRIGGER_FIRED_BY_INSERT(event))
		return "INSERT";
	if (TRIGGER_FIRED_BY_UPDATE(event))
		return "UPDATE";
	return "DELETE";
}

/*
 * RefuseTruncate: TRUNCATE of a REGIONAL BY ROW table, or of a REGIONAL BY
 * TABLE table away from its home (55000).
 */
static void
RefuseTruncate(Relation rel, const LocalityTable *table, const LocalityRegion *local)
{
	const char *relname = RelationGetRelationName(rel);
	const LocalityRegion *home;

	if (table->spec.kind == LOCALITY_REGIONAL_BY_ROW)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot truncate REGIONAL BY ROW table \"%s\"", relname),
				 errdetail("Its rows are homed in several regions, and only a row's home "
						   "region removes it: one region emptying the table would race with "
						   "the others' writes."),
				 errhint("Delete the rows with DELETE, or make the table REGIONAL BY TABLE "
						 "and truncate it at its home region."),
				 errtable(rel)));

	home = TableHome(table);
	if (home != NULL && home->id == local->id)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("table \"%s\" is homed in region \"%s\"", relname,
					home != NULL ? home->name : "?"),
			 errdetail("A REGIONAL BY TABLE table is written, and truncated, only at its home "
					   "region; this server is region \"%s\".", local->name),
			 errhint("Truncate it on region \"%s\"'s primary.",
					 home != NULL ? home->name : "?"),
			 errtable(rel)));
}

/*
 * RefuseRow raises the safety net's error for a row homed in region home
 * (named home_name), written by event here.
 */
static void
RefuseRow(Relation rel, const LocalityTable *table, AttrNumber attnum,
		  const char *home_name, const LocalityRegion *local, TriggerEvent event)
{
	const char *relname = RelationGetRelationName(rel);

	if (table->spec.kind == LOCALITY_REGIONAL_BY_ROW)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("row of table \"%s\" is homed in region \"%s\"", relname, home_name),
				 errdetail("%s of a row of a REGIONAL BY ROW table runs only at the row's home "
						   "region (the %s row's column \"%s\"); this server is region \"%s\".",
						   EventName(event), TRIGGER_FIRED_BY_INSERT(event) ? "new" : "old",
						   table->spec.column, local->name),
				 errhint("Run the statement on region \"%s\"'s primary.", home_name),
				 errtablecol(rel, attnum)));
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("row of table \"%s\" is homed in region \"%s\"", relname, home_name),
			 errdetail("%s of a row of a REGIONAL BY TABLE table runs only at the table's home "
					   "region; this server is region \"%s\".", EventName(event), local->name),
			 errhint("Run the statement on region \"%s\"'s primary.", home_name),
			 errtable(rel)));
}

PG_FUNCTION_INFO_V1(locality_home_guard);

/*
 * locality_home_guard is the trigger function locality._home_guard() (see
 * the file header).  Hot path: one hash lookup, one attribute read and an
 * integer comparison per row.
 */
Datum
locality_home_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	const LocalityTable *table;
	const LocalityRegion *local;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("locality._home_guard() must be called as a trigger")));

	rel = trigdata->tg_relation;
	table = LocalityFindTable(RelationGetRelid(rel));
	/* No longer regional in this transaction: the trigger goes at its end. */
	if (table == NULL || table->spec.kind == LOCALITY_GLOBAL)
		return PointerGetDatum(NULL);
	local = LocalityLocalRegion();

	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
		RefuseTruncate(rel, table, local);
	else if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		return PointerGetDatum(NULL);
	else if (table->spec.kind == LOCALITY_REGIONAL_BY_TABLE)
	{
		const LocalityRegion *home = TableHome(table);

		if (home == NULL || home->id != local->id)
			RefuseRow(rel, table, InvalidAttrNumber,
					  home != NULL ? home->name : "?", local, trigdata->tg_event);
	}
	else
	{
		/* tg_trigtuple: the new row of an INSERT, the old one otherwise. */
		AttrNumber	attnum = RegionAttnum(rel, table);
		bool		isnull;
		Datum		value = heap_getattr(trigdata->tg_trigtuple, attnum,
										 RelationGetDescr(rel), &isnull);

		/* The column is NOT NULL; a null never got written. */
		if (!isnull && DatumGetInt16(value) != local->id)
			RefuseRow(rel, table, attnum, RegionName(DatumGetInt16(value)), local,
					  trigdata->tg_event);
	}
	return PointerGetDatum(NULL);
}

/* --- Installing and removing the triggers -------------------------------- */

/* The OID of locality._home_guard(), or InvalidOid when it does not exist. */
static Oid
GuardFunction(bool missing_ok)
{
	return LookupFuncName(list_make2(makeString("locality"), makeString("_home_guard")),
						  0, NULL, missing_ok);
}

/*
 * FindGuards: the safety-net triggers on relid (OIDs appended to *oids),
 * and which of the two there are.
 */
static void
FindGuards(Oid relid, Oid funcoid, List **oids, bool *have_row, bool *have_truncate)
{
	Relation	tgrel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;

	*have_row = *have_truncate = false;
	tgrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_trigger trigger = (Form_pg_trigger) GETSTRUCT(tuple);

		if (trigger->tgfoid != funcoid)
			continue;
		if (oids != NULL)
			*oids = lappend_oid(*oids, trigger->oid);
		if (TRIGGER_FOR_ROW(trigger->tgtype))
			*have_row = true;
		else
			*have_truncate = true;
	}
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);
}

/* CreateGuard creates one of the two internal triggers on relid. */
static void
CreateGuard(Oid relid, Oid funcoid, bool row)
{
	CreateTrigStmt *stmt = makeNode(CreateTrigStmt);

	stmt->trigname = row ? GUARD_ROW_TRIGGER : GUARD_TRUNCATE_TRIGGER;
	stmt->relation = makeRangeVar(get_namespace_name(get_rel_namespace(relid)),
								  get_rel_name(relid), -1);
	stmt->funcname = list_make2(makeString("locality"), makeString("_home_guard"));
	stmt->row = row;
	stmt->timing = row ? TRIGGER_TYPE_AFTER : TRIGGER_TYPE_BEFORE;
	stmt->events = row ? (TRIGGER_TYPE_INSERT | TRIGGER_TYPE_UPDATE | TRIGGER_TYPE_DELETE) :
		TRIGGER_TYPE_TRUNCATE;
	/* Internal: named <name>_<oid>, hidden from \d and pg_dump, no ACL check. */
	(void) CreateTrigger(stmt, NULL, relid, InvalidOid, InvalidOid, InvalidOid, funcoid,
						 InvalidOid, NULL, true, false);
}

/*
 * LocalitySetHomeGuard makes relid carry the safety net's triggers exactly
 * when kind is regional.
 */
void
LocalitySetHomeGuard(Oid relid, int kind)
{
	bool		wanted = (kind == LOCALITY_REGIONAL_BY_ROW ||
						  kind == LOCALITY_REGIONAL_BY_TABLE);
	Oid			funcoid = GuardFunction(false);
	List	   *oids = NIL;
	bool		have_row;
	bool		have_truncate;
	ListCell   *lc;

	FindGuards(relid, funcoid, &oids, &have_row, &have_truncate);
	if (wanted)
	{
		if (!have_row)
			CreateGuard(relid, funcoid, true);
		if (!have_truncate)
			CreateGuard(relid, funcoid, false);
	}
	else
	{
		foreach(lc, oids)
		{
			ObjectAddress trigger;

			ObjectAddressSet(trigger, TriggerRelationId, lfirst_oid(lc));
			performDeletion(&trigger, DROP_RESTRICT, PERFORM_DELETION_INTERNAL);
		}
	}
	CommandCounterIncrement();
}

/*
 * LocalityCheckGuardDrop refuses DROP TRIGGER of a safety-net trigger
 * (2BP01): it goes when the table stops being regional.
 */
void
LocalityCheckGuardDrop(Node *dropstmt)
{
	DropStmt   *stmt = (DropStmt *) dropstmt;
	Oid			funcoid;
	ListCell   *lc;

	if (!IsA(dropstmt, DropStmt) || stmt->removeType != OBJECT_TRIGGER ||
		!LocalityIsInstalled())
		return;
	funcoid = GuardFunction(true);
	if (!OidIsValid(funcoid))
		return;

	foreach(lc, stmt->objects)
	{
		Relation	rel = NULL;
		ObjectAddress address;
		Relation	tgrel;
		ScanKeyData key;
		SysScanDesc scan;
		HeapTuple	tuple;
		bool		guard = false;
		char	   *relname;

		/* The lock DROP TRIGGER takes next anyway. */
		address = get_object_address(OBJECT_TRIGGER, lfirst(lc), &rel,
									 AccessExclusiveLock, stmt->missing_ok);
		if (!OidIsValid(address.objectId))
		{
			if (rel != NULL)
				table_close(rel, NoLock);
			continue;
		}

		tgrel = table_open(TriggerRelationId, AccessShareLock);
		ScanKeyInit(&key, Anum_pg_trigger_oid, BTEqualStrategyNumber, F_OIDEQ,
					ObjectIdGetDatum(address.objectId));
		scan = systable_beginscan(tgrel, TriggerOidIndexId, true, NULL, 1, &key);
		tuple = systable_getnext(scan);
		if (HeapTupleIsValid(tuple))
			guard = ((Form_pg_trigger) GETSTRUCT(tuple))->tgfoid == funcoid;
		systable_endscan(scan);
		table_close(tgrel, AccessShareLock);

		relname = rel != NULL ? pstrdup(RelationGetRelationName(rel)) : "?";
		if (rel != NULL)
			table_close(rel, NoLock);
		if (guard)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot drop trigger \"%s\" on table \"%s\"",
							strVal(llast((List *) lfirst(lc))), relname),
					 errdetail("It is pg_locality's safety net, which keeps rows homed in other "
							   "regions from being written here."),
					 errhint("It goes when the table stops being regional "
							 "(locality.set_locality(..., 'GLOBAL')).")));
	}
}
