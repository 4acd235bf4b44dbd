/*
 * router.c -- the planner hook that decides where a write runs.
 *
 * For INSERT, UPDATE and DELETE on a REGIONAL BY ROW or REGIONAL BY TABLE
 * table, the router finds the target region(s) at plan time where it can:
 * a REGIONAL BY TABLE table's home; the region column's value in an
 * INSERT (a constant, a bound parameter, locality.gateway_region()); an
 * equality qual on the region column.  A local target gets the normal plan,
 * untouched.  Otherwise the statement's top node becomes the Forward custom
 * scan (forward.c), which carries the local plan as its child where part of
 * the decision waits for run time (a parameter of a generic plan, the home
 * of a row looked up by primary key, or no region qual at all: every region
 * with its own region qual).
 *
 * Any other table costs one cached lookup (LocalityIsManagedTable).
 * locality.route_writes = off (safety_net.c) turns the router off.
 * An INSERT whose rows' homes are known only per row (multi-row VALUES for
 * several regions, INSERT ... SELECT) gets forward_rows.c's Row Router
 * under its ModifyTable: rows homed here are inserted here, the others
 * go home in batches.  Data-modifying WITH is planned locally; the row-level
 * safety net refuses a row homed elsewhere.
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_operator.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/clauses.h"
#include "optimizer/planner.h"
#include "parser/parse_oper.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/forward.h"
#include "shim/safety_net.h"

static planner_hook_type PrevPlanner = NULL;

/* What the router knows about a region value. */
typedef enum RegionValue
{
	RV_UNKNOWN,					/* depends on the rows (Vars) or cannot tell */
	RV_CONST,					/* a known region */
	RV_RUNTIME					/* computable before the statement runs */
} RegionValue;

static PlannedStmt *
NextPlanner(Query *parse, const char *query_string, int cursorOptions, ParamListInfo boundParams)
{
	if (PrevPlanner)
		return PrevPlanner(parse, query_string, cursorOptions, boundParams);
	return standard_planner(parse, query_string, cursorOptions, boundParams);
}

/* True for locality.gateway_region(). */
static bool
IsGatewayRegionCall(Node *node)
{
	FuncExpr   *func;
	char	   *name;
	char	   *nsp;

	if (!IsA(node, FuncExpr))
		return false;
	func = (FuncExpr *) node;
	if (func->args != NIL)
		return false;
	name = get_func_name(func->funcid);
	nsp = get_namespace_name(get_func_namespace(func->funcid));
	return name != NULL && nsp != NULL && strcmp(name, "gateway_region") == 0 &&
		strcmp(nsp, "locality") == 0;
}

/*
 * ClassifyRegion: what expr (a value of the region column) is at plan time.
 * RV_CONST sets *id; RV_RUNTIME sets *runtime to the expression to evaluate
 * at run time.
 */
static RegionValue
ClassifyRegion(Node *expr, ParamListInfo boundParams, LocalityRegionId *id, Node **runtime)
{
	PlannerInfo *root = makeNode(PlannerInfo);
	PlannerGlobal *glob = makeNode(PlannerGlobal);
	Node	   *folded;

	glob->boundParams = boundParams;
	root->glob = glob;
	root->query_level = 1;
	folded = eval_const_expressions(root, copyObject(expr));
	while (IsA(folded, RelabelType))
		folded = (Node *) ((RelabelType *) folded)->arg;
	if (IsA(folded, Const))
	{
		if (((Const *) folded)->constisnull)
			return RV_UNKNOWN;	/* the local plan raises the not-null error */
		*id = DatumGetInt16(((Const *) folded)->constvalue);
		return RV_CONST;
	}
	if (IsGatewayRegionCall(folded))
	{
		*id = LocalityLocalRegion()->id;
		return RV_CONST;
	}
	if (contain_var_clause(folded) || contain_volatile_functions(folded) ||
		checkExprHasSubLink(folded) || contain_subplans(folded))
		return RV_UNKNOWN;
	fix_opfuncids(folded);
	*runtime = folded;
	return RV_RUNTIME;
}

/* Strips binary-compatible relabelling. */
static Node *
StripRelabel(Node *node)
{
	while (node != NULL && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	return node;
}

/*
 * EqualityOperand: when clause is `Var(rel, attno) = expr` (either side)
 * with an operator named "=", the other side; else NULL.
 */
static Node *
EqualityOperand(Node *clause, Index rel, AttrNumber attno)
{
	OpExpr	   *op;
	Node	   *left;
	Node	   *right;
	char	   *name;

	if (!IsA(clause, OpExpr))
		return NULL;
	op = (OpExpr *) clause;
	if (list_length(op->args) != 2)
		return NULL;
	name = get_opname(op->opno);
	if (name == NULL || strcmp(name, "=") != 0)
		return NULL;
	left = StripRelabel(linitial(op->args));
	right = StripRelabel(lsecond(op->args));
	if (IsA(left, Var) && ((Var *) left)->varno == rel && ((Var *) left)->varattno == attno &&
		((Var *) left)->varlevelsup == 0)
		return lsecond(op->args);
	if (IsA(right, Var) && ((Var *) right)->varno == rel && ((Var *) right)->varattno == attno &&
		((Var *) right)->varlevelsup == 0)
		return linitial(op->args);
	return NULL;
}

/* True when expr can be evaluated before the statement runs. */
static bool
IsRunTimeConstant(Node *expr)
{
	return !contain_var_clause(expr) && !contain_volatile_functions(expr) &&
		!checkExprHasSubLink(expr) && !contain_subplans(expr);
}

/*
 * KeyValues: when quals pin every primary key column of relid to a value,
 * the values and attnos (in key order); false otherwise.
 */
static bool
KeyValues(Query *parse, Oid relid, List **exprs, List **attnos)
{
	Relation	rel = table_open(relid, NoLock);
	Bitmapset  *pk = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	List	   *quals = make_ands_implicit((Expr *) parse->jointree->quals);
	int			member = -1;

	table_close(rel, NoLock);
	*exprs = NIL;
	*attnos = NIL;
	if (pk == NULL)
		return false;
	while ((member = bms_next_member(pk, member)) >= 0)
	{
		AttrNumber	attno = member + FirstLowInvalidHeapAttributeNumber;
		ListCell   *lc;
		Node	   *value = NULL;

		foreach(lc, quals)
		{
			Node	   *operand = EqualityOperand(lfirst(lc), parse->resultRelation, attno);

			if (operand != NULL && IsRunTimeConstant(operand))
			{
				value = operand;
				break;
			}
		}
		if (value == NULL)
			return false;
		value = copyObject(value);
		fix_opfuncids(value);
		*exprs = lappend(*exprs, value);
		*attnos = lappend(*attnos, makeInteger(attno));
	}
	return true;
}

/*
 * RequireForwardable: a forwarded statement runs at the home against the
 * home's tables, so it may only read tables every region has alike.
 */
static void
RequireForwardable(Query *parse, Oid relid)
{
	ListCell   *lc;

	foreach(lc, parse->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_RELATION && rte->relid != relid &&
			!LocalityIsManagedTable(rte->relid))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot forward a write to \"%s\" that reads table \"%s\"",
							get_rel_name(relid), get_rel_name(rte->relid)),
					 errdetail("The statement must run at the row's home region, where \"%s\" "
							   "is not managed by pg_locality.", get_rel_name(rte->relid))));
	}
}

/* Adds `region column = this region` to the statement's quals. */
static void
AddLocalRegionQual(Query *parse, AttrNumber attno, Oid type, Oid eqop)
{
	Var		   *var = makeVar(parse->resultRelation, attno, type, -1, InvalidOid, 0);
	Const	   *value = makeConst(type, -1, InvalidOid, 2,
								  Int16GetDatum(LocalityLocalRegion()->id), false, true);
	Expr	   *qual = make_opclause(eqop, BOOLOID, false, (Expr *) var, (Expr *) value,
									 InvalidOid, InvalidOid);

	fix_opfuncids((Node *) qual);
	if (parse->jointree->quals == NULL)
		parse->jointree->quals = (Node *) qual;
	else
		parse->jointree->quals = (Node *) make_andclause(list_make2(parse->jointree->quals, qual));
}

/*
 * RoutePerRow: an INSERT whose rows' homes are only known as the rows are
 * made (multi-row VALUES for several regions, INSERT ... SELECT, a value
 * computed by a volatile function): each row goes home at run time
 * (forward_rows.c).
 */
static bool
RoutePerRow(LocalityRoute *route)
{
	route->kind = ROUTE_PER_ROW;
	return true;
}

/*
 * AddRowRouter puts forward_rows.c's Row Router under the planned INSERT;
 * false when the plan has another shape (it then runs here, under the net).
 */
static bool
AddRowRouter(LocalityRoute *route, PlannedStmt *planned)
{
	return LocalityMakeRowRouter(route, planned->planTree);
}

/*
 * RouteRegionalByRow fills route for a statement on a REGIONAL BY ROW
 * table; false when the statement runs locally, untouched.
 */
static bool
RouteRegionalByRow(Query *parse, ParamListInfo boundParams, LocalityRoute *route,
				   bool *add_local_qual)
{
	LocalityRegionId local_id = LocalityLocalRegion()->id;
	LocalityRegionId id = InvalidLocalityRegionId;
	Node	   *runtime = NULL;
	RegionValue kind = RV_UNKNOWN;

	if (parse->commandType == CMD_INSERT)
	{
		TargetEntry *tle = NULL;
		ListCell   *lc;
		Node	   *expr;

		foreach(lc, parse->targetList)
		{
			if (((TargetEntry *) lfirst(lc))->resno == route->region_attno)
				tle = lfirst(lc);
		}
		if (tle == NULL)
			return false;
		expr = StripRelabel((Node *) tle->expr);
		if (IsA(expr, Var) && ((Var *) expr)->varlevelsup == 0 &&
			rt_fetch(((Var *) expr)->varno, parse->rtable)->rtekind == RTE_VALUES)
		{
			RangeTblEntry *values = rt_fetch(((Var *) expr)->varno, parse->rtable);
			int			column = ((Var *) expr)->varattno;
			LocalityRegionId first = InvalidLocalityRegionId;

			/* Multi-row VALUES: every row for one region, else row by row. */

			foreach(lc, values->values_lists)
			{
				Node	   *cell = list_nth(lfirst(lc), column - 1);
				LocalityRegionId row_id;
				Node	   *ignored;

				if (ClassifyRegion(cell, boundParams, &row_id, &ignored) != RV_CONST)
					return RoutePerRow(route);
				if (first == InvalidLocalityRegionId)
					first = row_id;
				else if (row_id != first)
					return RoutePerRow(route);
			}
			id = first;
			kind = RV_CONST;
		}
		else
			kind = ClassifyRegion((Node *) tle->expr, boundParams, &id, &runtime);
		if (kind == RV_UNKNOWN)
			return RoutePerRow(route);
		if (kind == RV_CONST && id == local_id)
			return false;
	}
	else
	{
		List	   *quals = make_ands_implicit((Expr *) parse->jointree->quals);
		ListCell   *lc;

		foreach(lc, quals)
		{
			Node	   *operand = EqualityOperand(lfirst(lc), parse->resultRelation,
												  route->region_attno);

			if (operand == NULL)
				continue;
			kind = ClassifyRegion(operand, boundParams, &id, &runtime);
			if (kind != RV_UNKNOWN)
				break;
		}
		if (kind == RV_CONST && id == local_id)
			return false;
		if (kind == RV_UNKNOWN)
		{
			if (KeyValues(parse, route->relid, &route->key_exprs, &route->key_attnos))
			{
				/*
				 * The local plan only touches the row while it is homed
				 * here: one rehomed by a transaction it waited for is then
				 * followed to its new home (forward.c), not refused.
				 */
				route->kind = ROUTE_KEY_LOOKUP;
				*add_local_qual = true;
			}
			else
			{
				route->kind = ROUTE_FANOUT;
				*add_local_qual = true;
			}
			return true;
		}
	}
	if (kind == RV_CONST)
	{
		route->kind = ROUTE_STATIC;
		route->region_ids = list_make1(makeInteger(id));
	}
	else
	{
		route->kind = ROUTE_REGION_EXPR;
		route->region_expr = runtime;
	}
	return true;
}

/*
 * RoutableTable: relid's catalog entry when it is a regional table and this
 * server's region and at least one other are in the catalog; else NULL.
 */
static const LocalityTable *
RoutableTable(Oid relid)
{
	const LocalityTable *table = LocalityFindTable(relid);
	int			nregions;

	if (table == NULL ||
		(table->spec.kind != LOCALITY_REGIONAL_BY_ROW &&
		 table->spec.kind != LOCALITY_REGIONAL_BY_TABLE) ||
		LocalityFindRegionByName(LocalityGatewayRegion()) == NULL)
		return NULL;
	(void) LocalityRegions(&nregions);
	return nregions >= 2 ? table : NULL;
}

/*
 * StartRoute fills route for table; a REGIONAL BY TABLE table homed
 * elsewhere is a static route to its home.  False when the statement stays
 * local: a REGIONAL BY TABLE table homed here (or with no home found).
 */
static bool
StartRoute(const LocalityTable *table, LocalityRoute *route)
{
	memset(route, 0, sizeof(*route));
	route->relid = table->relid;
	if (table->spec.kind == LOCALITY_REGIONAL_BY_TABLE)
	{
		const LocalityRegion *home = table->spec.in_primary_region ?
			LocalityPrimaryRegion() : LocalityFindRegionByName(table->spec.region);

		if (home == NULL || home->is_local)
			return false;
		route->kind = ROUTE_STATIC;
		route->region_ids = list_make1(makeInteger(home->id));
	}
	return true;
}

/*
 * PlanLockingRead: SELECT ... FOR UPDATE/SHARE of one REGIONAL table runs
 * at the rows' home when the router can pin it there (a REGIONAL BY TABLE
 * table homed elsewhere, a region qual, or every primary key column: the
 * home looked up in the local replica), so locks are taken where the
 * writes happen (SPEC.md section 4).  Anything else is planned as usual
 * (it locks the local copy).
 */
static PlannedStmt *
PlanLockingRead(Query *parse, const char *query_string, int cursorOptions,
				ParamListInfo boundParams)
{
	RangeTblEntry *rte;
	const LocalityTable *table;
	LocalityRoute route;
	PlannedStmt *result;
	Query		probe;
	ListCell   *lc;

	/*
	 * Not the foreign-key checks' own locking reads (run as the table owner,
	 * InLocalUserIdChange): they keep checking the local copy.
	 */
	if (list_length(parse->rtable) != 1 || parse->hasSubLinks || parse->cteList != NIL ||
		parse->setOperations != NULL || parse->hasTargetSRFs ||
		InLocalUserIdChange() || InSecurityRestrictedOperation() ||
		(cursorOptions & CURSOR_OPT_SCROLL) ||
		!LocalityRouteWrites || !LocalityIsInstalled())
		return NextPlanner(parse, query_string, cursorOptions, boundParams);
	rte = linitial(parse->rtable);
	if (rte->rtekind != RTE_RELATION || !LocalityIsManagedTable(rte->relid))
		return NextPlanner(parse, query_string, cursorOptions, boundParams);
	table = RoutableTable(rte->relid);
	if (table == NULL || !StartRoute(table, &route))
		return NextPlanner(parse, query_string, cursorOptions, boundParams);
	if (table->spec.kind == LOCALITY_REGIONAL_BY_ROW)
	{
		Oid			type;
		bool		add_local_qual = false;

		route.region_attno = get_attnum(rte->relid, table->spec.column);
		if (route.region_attno == InvalidAttrNumber)
			return NextPlanner(parse, query_string, cursorOptions, boundParams);
		type = get_atttype(rte->relid, route.region_attno);
		route.region_eq_op = OpernameGetOprid(list_make1(makeString("=")), type, type);
		/* The UPDATE/DELETE rules, with the one table as the target. */
		probe = *parse;
		probe.commandType = CMD_UPDATE;
		probe.resultRelation = 1;
		if (!RouteRegionalByRow(&probe, boundParams, &route, &add_local_qual) ||
			route.kind == ROUTE_FANOUT)
			return NextPlanner(parse, query_string, cursorOptions, boundParams);
	}

	route.query = copyObject(parse);
	/* The rows the client gets: the visible columns. */
	foreach(lc, route.query->targetList)
	{
		TargetEntry *tle = lfirst(lc);

		if (!tle->resjunk)
			route.returning = lappend(route.returning, tle);
	}
	result = NextPlanner(parse, query_string, cursorOptions, boundParams);
	if (route.kind != ROUTE_STATIC)
		route.local_plan = result->planTree;
	result->planTree = LocalityMakeForwardPlan(&route);
	return result;
}

static PlannedStmt *
LocalityPlanner(Query *parse, const char *query_string, int cursorOptions,
				ParamListInfo boundParams)
{
	RangeTblEntry *rte;
	const LocalityTable *table;
	LocalityRoute route;
	bool		add_local_qual = false;
	PlannedStmt *result;
	Query	   *copy;

	if (parse->commandType == CMD_SELECT && parse->rowMarks != NIL)
		return PlanLockingRead(parse, query_string, cursorOptions, boundParams);
	if ((parse->commandType != CMD_INSERT && parse->commandType != CMD_UPDATE &&
		 parse->commandType != CMD_DELETE) || parse->resultRelation <= 0 ||
		!LocalityRouteWrites || !LocalityIsInstalled())
		return NextPlanner(parse, query_string, cursorOptions, boundParams);
	rte = rt_fetch(parse->resultRelation, parse->rtable);
	if (!LocalityIsManagedTable(rte->relid))
		return NextPlanner(parse, query_string, cursorOptions, boundParams);
	table = RoutableTable(rte->relid);
	if (table == NULL || parse->hasModifyingCTE || !StartRoute(table, &route))
		return NextPlanner(parse, query_string, cursorOptions, boundParams);
	if (table->spec.kind == LOCALITY_REGIONAL_BY_ROW)
	{
		Oid			type;

		route.region_attno = get_attnum(rte->relid, table->spec.column);
		if (route.region_attno == InvalidAttrNumber)
			return NextPlanner(parse, query_string, cursorOptions, boundParams);
		type = get_atttype(rte->relid, route.region_attno);
		route.region_eq_op = OpernameGetOprid(list_make1(makeString("=")), type, type);
		if (!RouteRegionalByRow(parse, boundParams, &route, &add_local_qual))
			return NextPlanner(parse, query_string, cursorOptions, boundParams);
	}

	/* A per-row INSERT reads its source here; its rows go home as values. */
	if (route.kind != ROUTE_PER_ROW)
		RequireForwardable(parse, rte->relid);
	copy = copyObject(parse);
	route.query = copy;
	route.returning = copy->returningList;
	if (add_local_qual)
		AddLocalRegionQual(parse, route.region_attno,
						   get_atttype(rte->relid, route.region_attno), route.region_eq_op);
	result = NextPlanner(parse, query_string, cursorOptions, boundParams);
	if (route.kind == ROUTE_PER_ROW && !AddRowRouter(&route, result))
		return result;
	if (route.kind != ROUTE_STATIC)
		route.local_plan = result->planTree;
	result->planTree = LocalityMakeForwardPlan(&route);
	return result;
}

/*
 * LocalityInitRouter chains the planner hook.
 */
void
LocalityInitRouter(void)
{
	PrevPlanner = planner_hook;
	planner_hook = LocalityPlanner;
}
