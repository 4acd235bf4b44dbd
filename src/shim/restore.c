/*
 * restore.c -- managed tables coming back from pg_dump, and what DROP
 * EXTENSION pg_locality must not leave behind (docs/operations.md, "Backup
 * and restore" and "Removing pg_locality").
 *
 * pg_dump keeps the catalog's rows (locality.region_catalog, table_catalog,
 * merge_functions are extension configuration tables) but never the
 * internal triggers that carry each managed table's locality: the safety
 * net of REGIONAL tables (safety_net.c) and the triggers of GLOBAL ones
 * (global_triggers.c).  A restore creates the extension, then the tables,
 * then loads the data (catalog rows included), then builds indexes and
 * constraints.  So a managed table without its triggers is one whose data
 * is still being loaded by a restore:
 *   - COPY into it is not routed to other regions (copy_route.c asks), the
 *     rows homed elsewhere are the restored replica of those regions;
 *   - its first schema change (the post-data ALTER TABLE ... ADD CONSTRAINT
 *     ... PRIMARY KEY every managed table has, or an index) runs here only,
 *     not on the other regions, which have it already, and gives the table
 *     its triggers back (ddl.c asks);
 *   - locality.finish_restore() does the same for every managed table at
 *     once, for restores that skip the post-data section.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/dist_xact.h"
#include "shim/global_triggers.h"
#include "shim/restore.h"
#include "shim/safety_net.h"

/* The OID of function locality.<name>() (no arguments), InvalidOid if absent. */
static Oid
LocalityFunction(const char *name)
{
	return LookupFuncName(list_make2(makeString("locality"), makeString(pstrdup(name))),
						  0, NULL, true);
}

/* True when relid has a trigger calling funcoid. */
static bool
HasTriggerCalling(Oid relid, Oid funcoid)
{
	Relation	tgrel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	tgrel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(tgrel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (!found && HeapTupleIsValid(tuple = systable_getnext(scan)))
		found = ((Form_pg_trigger) GETSTRUCT(tuple))->tgfoid == funcoid;
	systable_endscan(scan);
	table_close(tgrel, AccessShareLock);
	return found;
}

bool
LocalityTableAwaitsRestore(Oid relid)
{
	const LocalityTable *table = LocalityFindTable(relid);
	Oid			funcoid;

	if (table == NULL)
		return false;
	/* Every regional table has the safety net, every GLOBAL one _global_write. */
	funcoid = LocalityFunction(table->spec.kind == LOCALITY_GLOBAL ?
							   "_global_write" : "_home_guard");
	return OidIsValid(funcoid) && !HasTriggerCalling(relid, funcoid);
}

void
LocalityFinishTableRestore(Oid relid)
{
	const LocalityTable *table = LocalityFindTable(relid);
	int			kind;

	if (table == NULL)
		return;
	kind = table->spec.kind;
	LocalitySetHomeGuard(relid, kind);
	LocalitySetGlobalTriggers(relid, kind == LOCALITY_GLOBAL);
	ereport(DEBUG1,
			(errmsg("pg_locality gave restored table \"%s\" its triggers",
					get_rel_name(relid))));
}

PG_FUNCTION_INFO_V1(locality_finish_restore);

/*
 * locality_finish_restore is locality.finish_restore(): gives every managed
 * table that lacks them its internal triggers; returns how many tables it
 * changed.  Idempotent.
 */
Datum
locality_finish_restore(PG_FUNCTION_ARGS)
{
	List	   *relids = NIL;
	ListCell   *lc;
	int			changed = 0;
	uint64		n;

	LocalityCheckRegionAdmin();
	SPI_connect();
	n = LocalityCatalogExecute("SELECT relid::pg_catalog.oid FROM locality.table_catalog "
							   "ORDER BY 1", 0, NULL, NULL, NULL);
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		value = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1,
										  &isnull);

		relids = lappend_oid(relids, DatumGetObjectId(value));
	}
	SPI_finish();

	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);

		if (!LocalityTableAwaitsRestore(relid))
			continue;
		LocalityFinishTableRestore(relid);
		changed++;
	}
	PG_RETURN_INT32(changed);
}

/* Rows of locality.dist_transactions (SPI connected). */
static uint64
CountDecisions(void)
{
	return LocalityCatalogExecute("SELECT 1 FROM locality.dist_transactions", 0, NULL, NULL,
								  NULL);
}

static void
RecoverPrepared(void *arg)
{
	(void) LocalityRecoverPreparedTransactions();
}

/*
 * FinishDecisions lets the resolver finish the distributed transactions
 * this server decided (their prepared parts on other regions) and removes
 * the decision rows of finished ones; NULL when none is left, else why.
 */
static char *
FinishDecisions(void)
{
	char	   *why = LocalityTryInSubxact(RecoverPrepared, NULL);

	if (why == NULL)
	{
		uint64		left;

		SPI_connect();
		left = CountDecisions();
		SPI_finish();
		if (left > 0)
			why = psprintf("%llu remain after recovery", (unsigned long long) left);
	}
	return why;
}

void
LocalityCheckExtensionDrop(void)
{
	uint64		prepared;
	uint64		decided;
	char	   *first = NULL;
	char	   *why;

	if (!LocalityIsInstalled())
		return;
	SPI_connect();
	prepared = LocalityCatalogExecute("SELECT gid FROM pg_catalog.pg_prepared_xacts "
									  "WHERE database = pg_catalog.current_database() "
									  "AND gid LIKE 'locality\\_%' ORDER BY prepared",
									  0, NULL, NULL, NULL);
	if (prepared > 0)
		first = pstrdup(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	decided = CountDecisions();
	SPI_finish();

	/* A prepared part here holds its locks and awaits another region's word. */
	if (prepared > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot drop extension pg_locality while %llu of its prepared "
						"transactions exist in this database",
						(unsigned long long) prepared),
				 errdetail("Prepared transaction \"%s\" awaits its coordinator's decision.",
						   first),
				 errhint("Run SELECT locality.recover_prepared_transactions() on the regions "
						 "that coordinated them, then drop the extension.")));

	/*
	 * Decision rows are the only record that this server's prepared parts
	 * elsewhere must commit: finish them (most are finished already, the
	 * rows only wait to be removed) before they go with the extension.
	 */
	if (decided > 0 && (why = FinishDecisions()) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("cannot drop extension pg_locality while this database has "
						"distributed transactions to finish on other regions"),
				 errdetail("Recovering them failed: %s", why),
				 errhint("Make the other regions reachable and run "
						 "SELECT locality.recover_prepared_transactions(), then drop the "
						 "extension.")));
}
