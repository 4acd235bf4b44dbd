/*
 * copy_route.c -- COPY FROM into a REGIONAL BY ROW table sends each row to
 * its home region; into a REGIONAL BY TABLE table homed elsewhere, every
 * row to the table's home.
 *
 * A ProcessUtility hook (chained) turns `COPY t FROM ...` into: COPY into a
 * temporary table with t's columns but its generated ones (no constraints),
 * then `INSERT INTO t (those columns) SELECT ... FROM` it,
 * which the router routes per row (forward_rows.c: rows homed here are
 * inserted here, the others go home in batches, every region at once), then
 * the temporary table is dropped.  The INSERT fills the other columns as the
 * COPY would have: defaults and identity values evaluated here, generated
 * columns computed.  The command tag is the COPY's.  GLOBAL tables, tables
 * homed here and locality.route_writes = off keep the plain COPY, under the
 * safety net.
 *
 * Invariant protected: a regionally homed row is only modified at its home.
 */
#include "postgres.h"

#include "access/table.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "catalog/namespace.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/forward.h"
#include "shim/restore.h"
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

/* How a routed COPY runs: the staging table's shape and the INSERT's columns. */
typedef struct CopyPlan
{
	char	   *columns;		/* the columns the COPY fills, quoted */
	bool		override;		/* it fills an identity GENERATED ALWAYS column */
	char	   *alter;			/* ALTER TABLE subcommands for the staging table */
} CopyPlan;

/* ColumnRef names in a raw WHERE expression (their last field). */
static bool
CollectColumnRefs(Node *node, List **names)
{
	if (node == NULL)
		return false;
	if (IsA(node, ColumnRef))
	{
		Node	   *last = llast(((ColumnRef *) node)->fields);

		if (IsA(last, String))
			*names = lappend(*names, last);
		return false;
	}
	return raw_expression_tree_walker(node, CollectColumnRefs, (void *) names);
}

/* True when relid (REGIONAL BY ROW or REGIONAL BY TABLE) may hold rows homed elsewhere. */
static bool
RoutableCopyTarget(Oid relid)
{
	const LocalityTable *table;
	int			nregions;

	if (!LocalityRouteWrites || !LocalityIsInstalled() || !LocalityIsManagedTable(relid))
		return false;
	/* A restore loading the table's rows, every region's: they stay here. */
	if (LocalityTableAwaitsRestore(relid))
		return false;
	table = LocalityFindTable(relid);
	if (table == NULL || LocalityFindRegionByName(LocalityGatewayRegion()) == NULL)
		return false;
	(void) LocalityRegions(&nregions);
	if (nregions < 2)
		return false;
	if (table->spec.kind == LOCALITY_REGIONAL_BY_TABLE)
	{
		const LocalityRegion *home = table->spec.in_primary_region ?
			LocalityPrimaryRegion() : LocalityFindRegionByName(table->spec.region);

		return home != NULL && !home->is_local;
	}
	return table->spec.kind == LOCALITY_REGIONAL_BY_ROW;
}

/*
 * PlanCopy: how COPY stmt into relid is routed, false when it keeps the
 * plain COPY (not routed, or a column list COPY itself refuses: it then
 * raises its own error before reading a row).
 *
 * The staging table has the target's columns without its generated ones
 * (COPY never fills those) and without NOT NULL (the INSERT into the target
 * checks it, naming the target).  The INSERT names only the columns the
 * COPY fills, so the others get what a local COPY gives them, evaluated
 * here: defaults, serial and identity values (from this region's residue
 * class, SPEC.md section 3, as for any INSERT ... SELECT routed per row),
 * and generated columns are computed from the row (here, or by the home
 * for rows inserted there).
 */
static bool
PlanCopy(Oid relid, CopyStmt *stmt, CopyPlan *plan)
{
	Relation	rel;
	TupleDesc	desc;
	StringInfoData cols;
	StringInfoData alter;
	List	   *listed = NIL;	/* column names the COPY fills */
	List	   *where_refs = NIL;
	ListCell   *lc;
	bool		ok = true;
	int			i;

	if (!RoutableCopyTarget(relid))
		return false;
	initStringInfo(&cols);
	initStringInfo(&alter);
	plan->override = false;
	rel = table_open(relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	foreach(lc, stmt->attlist)
	{
		char	   *name = strVal(lfirst(lc));
		AttrNumber	attno = InvalidAttrNumber;

		for (i = 0; i < desc->natts; i++)
			if (!TupleDescAttr(desc, i)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(desc, i)->attname), name) == 0)
				attno = i + 1;
		/* Unknown, generated or twice: COPY's own error. */
		if (attno == InvalidAttrNumber || TupleDescAttr(desc, attno - 1)->attgenerated ||
			list_member(listed, lfirst(lc)))
			ok = false;
		listed = lappend(listed, lfirst(lc));
	}
	for (i = 0; ok && i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Node	   *name = (Node *) makeString(NameStr(att->attname));

		if (att->attisdropped)
			continue;
		if (att->attgenerated)
		{
			appendStringInfo(&alter, "%sDROP COLUMN %s", alter.len > 0 ? ", " : "",
							 quote_identifier(NameStr(att->attname)));
			continue;
		}
		if (att->attnotnull)
			appendStringInfo(&alter, "%sALTER COLUMN %s DROP NOT NULL",
							 alter.len > 0 ? ", " : "",
							 quote_identifier(NameStr(att->attname)));
		if (stmt->attlist != NIL && !list_member(listed, name))
			continue;
		if (stmt->attlist == NIL)
			listed = lappend(listed, name);
		if (att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
			plan->override = true;
	}
	/* INSERT's column order: the COPY's. */
	foreach(lc, listed)
		appendStringInfo(&cols, "%s%s", cols.len > 0 ? ", " : "",
						 quote_identifier(strVal(lfirst(lc))));

	/*
	 * COPY's WHERE sees every column, defaults filled in; the staging table
	 * has the listed ones only (the INSERT fills the others afterwards).
	 */
	(void) CollectColumnRefs(stmt->whereClause, &where_refs);
	foreach(lc, where_refs)
	{
		char	   *name = strVal(lfirst(lc));

		for (i = 0; ok && i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (att->attisdropped || strcmp(NameStr(att->attname), name) != 0 ||
				list_member(listed, lfirst(lc)))
				continue;
			if (att->attgenerated)
				ok = false;		/* COPY's own error */
			else
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot route COPY FROM into \"%s\" with a WHERE condition on "
								"column \"%s\", which the COPY does not fill",
								RelationGetRelationName(rel), name),
						 errdetail("Rows homed in other regions are copied through a staging "
								   "table holding the columns the COPY fills."),
						 errhint("List column \"%s\" in the COPY, or drop the WHERE condition.",
								 name)));
		}
	}
	table_close(rel, AccessShareLock);
	plan->columns = cols.data;
	plan->alter = alter.data;
	return ok && cols.len > 0;
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
CopyRouted(PlannedStmt *pstmt, Oid relid, const CopyPlan *plan,
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
	Run(psprintf("CREATE TEMPORARY TABLE %s (LIKE %s)", quote_identifier(staging), target));
	if (plan->alter[0] != '\0')
		Run(psprintf("ALTER TABLE pg_temp.%s %s", quote_identifier(staging), plan->alter));
	SPI_finish();

	copy->relation = makeRangeVar("pg_temp", staging, -1);
	NextProcessUtility(copy_pstmt, queryString, false, context, params, queryEnv, dest, qc);

	SPI_connect();
	Run(psprintf("INSERT INTO %s (%s) %sSELECT %s FROM pg_temp.%s", target, plan->columns,
				 plan->override ? "OVERRIDING SYSTEM VALUE " : "", plan->columns,
				 quote_identifier(staging)));
	Run(psprintf("DROP TABLE pg_temp.%s", quote_identifier(staging)));
	SPI_finish();
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
		CopyPlan	plan;

		if (OidIsValid(relid) && PlanCopy(relid, stmt, &plan))
		{
			CopyRouted(pstmt, relid, &plan, queryString, context, params, queryEnv, dest, qc);
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
