/*
 * copy_route.c -- COPY FROM into a REGIONAL BY ROW table sends each row to
 * its home region.
 *
 * A ProcessUtility hook (chained) turns `COPY t FROM ...` into: COPY into a
 * temporary table shaped like t (its defaults included, so columns missing
 * from the input get t's defaults, evaluated here as a local COPY would),
 * then `INSERT INTO t SELECT ... FROM` it, which the router routes per row
 * (forward_rows.c: rows homed here are inserted here, the others go home in
 * batches, every region at once), then the temporary table is dropped.  The
 * command tag is the COPY's.  Tables the staging cannot reproduce exactly
 * (generated or identity columns), REGIONAL BY TABLE tables and
 * locality.route_writes = off keep the plain COPY, under the safety net.
 *
 * Invariant protected: a regionally homed row is only modified at its home.
 */
#include "postgres.h"

#include "access/table.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "catalog/namespace.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/forward.h"
#include "shim/safety_net.h"

static ProcessUtility_hook_type PrevProcessUtility = NULL;

static void
NextProcessUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	if (PrevProcessUtility)
		PrevProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv,
								dest, qc);
}

/*
 * RoutedColumns: the quoted, comma-separated columns of a REGIONAL BY ROW
 * table relid whose COPY is routed, or NULL when it keeps the plain COPY.
 */
static char *
RoutedColumns(Oid relid)
{
	const LocalityTable *table;
	Relation	rel;
	TupleDesc	desc;
	StringInfoData cols;
	int			nregions;
	int			i;
	bool		plain = false;

	if (!LocalityRouteWrites || !LocalityIsInstalled() || !LocalityIsManagedTable(relid))
		return NULL;
	table = LocalityFindTable(relid);
	if (table == NULL || table->spec.kind != LOCALITY_REGIONAL_BY_ROW ||
		LocalityFindRegionByName(LocalityGatewayRegion()) == NULL)
		return NULL;
	(void) LocalityRegions(&nregions);
	if (nregions < 2)
		return NULL;
	initStringInfo(&cols);
	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (att->attgenerated || att->attidentity)
			plain = true;
		appendStringInfo(&cols, "%s%s", cols.len > 0 ? ", " : "",
						 quote_identifier(NameStr(att->attname)));
	}
	table_close(rel, AccessShareLock);
	return plain ? NULL : cols.data;
}

/* Runs sql through SPI (errors propagate). */
static void
Run(const char *sql)
{
	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "pg_locality: could not run \"%s\"", sql);
}

/*
 * CopyRouted runs stmt (COPY relid FROM ...) through a temporary table and
 * a per-row routed INSERT ... SELECT.
 */
static void
CopyRouted(PlannedStmt *pstmt, CopyStmt *stmt, Oid relid, const char *columns,
		   const char *queryString, ProcessUtilityContext context, ParamListInfo params,
		   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	char	   *staging = psprintf("locality_copy_%u", relid);
	char	   *target = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													get_rel_name(relid));
	PlannedStmt *copy_pstmt = copyObject(pstmt);
	CopyStmt   *copy = (CopyStmt *) copy_pstmt->utilityStmt;

	SPI_connect();
	Run(psprintf("DROP TABLE IF EXISTS pg_temp.%s", quote_identifier(staging)));
	Run(psprintf("CREATE TEMPORARY TABLE %s (LIKE %s INCLUDING DEFAULTS)",
				 quote_identifier(staging), target));
	SPI_finish();

	copy->relation = makeRangeVar("pg_temp", staging, -1);
	NextProcessUtility(copy_pstmt, queryString, false, context, params, queryEnv, dest, qc);

	SPI_connect();
	Run(psprintf("INSERT INTO %s (%s) SELECT %s FROM pg_temp.%s", target, columns, columns,
				 quote_identifier(staging)));
	Run(psprintf("DROP TABLE pg_temp.%s", quote_identifier(staging)));
	SPI_finish();
	(void) stmt;
}

static void
LocalityCopyUtility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
					ProcessUtilityContext context, ParamListInfo params,
					QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (IsA(parsetree, CopyStmt) && ((CopyStmt *) parsetree)->is_from &&
		((CopyStmt *) parsetree)->relation != NULL && ((CopyStmt *) parsetree)->query == NULL)
	{
		CopyStmt   *stmt = (CopyStmt *) parsetree;
		Oid			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
		char	   *columns = OidIsValid(relid) ? RoutedColumns(relid) : NULL;

		if (columns != NULL)
		{
			CopyRouted(pstmt, stmt, relid, columns, queryString, context, params, queryEnv,
					   dest, qc);
			return;
		}
	}
	NextProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

/*
 * LocalityInitCopyRoute chains the ProcessUtility hook that routes COPY FROM.
 */
void
LocalityInitCopyRoute(void)
{
	PrevProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = LocalityCopyUtility;
}
