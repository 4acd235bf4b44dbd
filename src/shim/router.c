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
 *
 * Reads: SELECT ... FOR UPDATE/SHARE runs at the home of the rows it locks
 * when they are pinned to one region; a one-table one that cannot be runs at
 * every region, each locking the rows it homes (PlanLockingFanout), and a
 * join that cannot be is refused (PlanLockingRead, PlanLockingJoin); a
 * plain SELECT pinned to one region's rows runs in the transaction's remote
 * part there when the transaction has forwarded writes to it (PlanRead: the
 * pinned reads of SPEC.md section 4).
 */
#include "postgres.h"

#include "access/table.h"
#include "access/transam.h"
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
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/forward.h"
#include "shim/safety_net.h"
#include "shim/shippable.h"

static planner_hook_type PrevPlanner = NULL;

/*
 * Set from planning a statement that may forward until a statement starts
 * running.  A SQL function plans its whole body before it runs the first
 * statement, and those plans are in no plan cache: a read planned after a
 * write that may be the transaction's first forwarded one gets the Forward
 * node and decides when it runs (PlanRead).
 */
static bool ForwardPlannedNotRun = false;

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

/* Adds `region column = this region` to the statement's quals. */
static void
AddLocalRegionQual(Query *parse, AttrNumber attno, Oid type, Oid eqop)
{
	/* A locking SELECT (PlanLockingFanout) reads its one table. */
	Var		   *var = makeVar(parse->resultRelation > 0 ? parse->resultRelation : 1, attno, type,
							  -1, InvalidOid, 0);
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

/* True for INSERT ... SELECT (the rows come from a subquery). */
static bool
HasSubquerySource(Query *parse)
{
	ListCell   *lc;

	foreach(lc, parse->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_SUBQUERY)
			return true;
	}
	return false;
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
		/* A generated region column: computed from each row (forward_rows.c). */
		if (tle == NULL)
			return get_attgenerated(route->relid, route->region_attno) ?
				RoutePerRow(route) : false;
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

/* The home of a REGIONAL BY TABLE table (NULL when not found). */
static const LocalityRegion *
TableHome(const LocalityTable *table)
{
	return table->spec.in_primary_region ?
		LocalityPrimaryRegion() : LocalityFindRegionByName(table->spec.region);
}

/*
 * FindRemoteRegional: a REGIONAL table in node (a subquery) whose rows may be
 * homed elsewhere; sets *relid.
 */
static bool
FindRemoteRegional(Node *node, Oid *relid)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;
		const LocalityTable *table;
		const LocalityRegion *home;

		if (rte->rtekind != RTE_RELATION || !LocalityIsManagedTable(rte->relid) ||
			(table = RoutableTable(rte->relid)) == NULL)
			return false;
		if (table->spec.kind == LOCALITY_REGIONAL_BY_TABLE &&
			(home = TableHome(table)) != NULL && home->is_local)
			return false;
		*relid = rte->relid;
		return true;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, FindRemoteRegional, relid,
								 QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, FindRemoteRegional, relid);
}

/* FindUnmanaged: a table in node that pg_locality does not manage. */
static bool
FindUnmanaged(Node *node, Oid *relid)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION && rte->relid >= FirstNormalObjectId &&
			!LocalityIsManagedTable(rte->relid))
		{
			*relid = rte->relid;
			return true;
		}
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, FindUnmanaged, relid, QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, FindUnmanaged, relid);
}

/* Adds the quals of node's inner joins, and their inputs', to *quals. */
static void
CollectInnerQuals(Node *node, List **quals)
{
	if (node == NULL)
		return;
	if (IsA(node, FromExpr))
	{
		FromExpr   *from = (FromExpr *) node;
		ListCell   *lc;

		*quals = list_concat(*quals, make_ands_implicit((Expr *) from->quals));
		foreach(lc, from->fromlist)
			CollectInnerQuals(lfirst(lc), quals);
	}
	else if (IsA(node, JoinExpr) && ((JoinExpr *) node)->jointype == JOIN_INNER)
	{
		JoinExpr   *join = (JoinExpr *) node;

		*quals = list_concat(*quals, make_ands_implicit((Expr *) join->quals));
		CollectInnerQuals(join->larg, quals);
		CollectInnerQuals(join->rarg, quals);
	}
}

/* 0A000 for a locking join that cannot run at one home. */
static void
RefuseLockingJoin(const char *message, Oid relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg(message, get_rel_name(relid)),
			 errdetail("SELECT ... FOR UPDATE/SHARE of a join runs at one region: every REGIONAL "
					   "table it locks must be pinned to that region, by a region qual "
					   "(region = constant or parameter) or as a REGIONAL BY TABLE table "
					   "homed there, and every table it reads must be managed by pg_locality."),
			 errhint("Lock the rows of one table by primary key or region qual in a statement of "
					 "their own, or name only tables homed here in FOR UPDATE OF.")));
}

/* The region column of a REGIONAL BY ROW table and its = operator, into route. */
static bool
SetRegionColumn(LocalityRoute *route, Oid relid, const LocalityTable *table)
{
	Oid			type;

	route->region_attno = get_attnum(relid, table->spec.column);
	if (route->region_attno == InvalidAttrNumber)
		return false;
	type = get_atttype(relid, route->region_attno);
	route->region_eq_op = OpernameGetOprid(list_make1(makeString("=")), type, type);
	return true;
}

/*
 * PinOneTableRead: the region(s) of a one-table read of a REGIONAL BY ROW
 * table, by the UPDATE/DELETE rules with the table as the target; false
 * when it cannot be pinned (it would fan out).
 */
static bool
PinOneTableRead(Query *parse, ParamListInfo boundParams, LocalityRoute *route)
{
	Query		probe = *parse;
	bool		add_local_qual = false;

	probe.commandType = CMD_UPDATE;
	probe.resultRelation = 1;
	return RouteRegionalByRow(&probe, boundParams, route, &add_local_qual) &&
		route->kind != ROUTE_FANOUT;
}

/*
 * PlanReadAt: the plan of a read routed by route: a Forward node returning
 * the visible columns, over the local plan when the target is decided at
 * run time (or, for a pinned read, may stay here).
 */
static PlannedStmt *
PlanReadAt(LocalityRoute *route, Query *parse, const char *query_string, int cursorOptions,
		   ParamListInfo boundParams)
{
	PlannedStmt *result;
	ListCell   *lc;

	route->query = copyObject(parse);
	foreach(lc, route->query->targetList)
	{
		TargetEntry *tle = lfirst(lc);

		if (!tle->resjunk)
			route->returning = lappend(route->returning, tle);
	}
	result = NextPlanner(parse, query_string, cursorOptions, boundParams);
	if (route->kind != ROUTE_STATIC || route->pinned_read)
		route->local_plan = result->planTree;
	result->planTree = LocalityMakeForwardPlan(route);
	if (!route->pinned_read)
		ForwardPlannedNotRun = true;
	return result;
}

/*
 * PlanLockingJoin: SELECT ... FOR UPDATE/SHARE over several tables.  Locks
 * on rows homed elsewhere must be taken at their home, so: when every
 * REGIONAL table it locks is pinned to one other region, the statement runs
 * there (like a one-table locking read); when they are all pinned here (or it
 * locks no REGIONAL table), it is planned as usual; anything else fails with
 * 0A000 rather than locking local copies of rows homed elsewhere.
 */
static PlannedStmt *
PlanLockingJoin(Query *parse, const char *query_string, int cursorOptions,
				ParamListInfo boundParams)
{
	LocalityRegionId local_id = InvalidLocalityRegionId;
	LocalityRegionId target = InvalidLocalityRegionId;
	Oid			target_rel = InvalidOid;
	Oid			inner;
	Oid			local_rel = InvalidOid;
	Node	   *runtime = NULL;
	int			nregional = 0;
	List	   *quals = NIL;
	LocalityRoute route;
	ListCell   *lc;

	CollectInnerQuals((Node *) parse->jointree, &quals);
	foreach(lc, parse->rowMarks)
	{
		RowMarkClause *rc = lfirst(lc);
		RangeTblEntry *rte = rt_fetch(rc->rti, parse->rtable);
		const LocalityTable *table;
		LocalityRegionId id = InvalidLocalityRegionId;

		if (rte->rtekind == RTE_SUBQUERY)
		{
			if (FindRemoteRegional((Node *) rte->subquery, &inner))
				RefuseLockingJoin("cannot lock rows of \"%s\" through a subquery or view in a "
								  "join: they may be homed in another region", inner);
			continue;
		}
		if (rte->rtekind != RTE_RELATION || !LocalityIsManagedTable(rte->relid) ||
			(table = RoutableTable(rte->relid)) == NULL)
			continue;
		nregional++;
		local_id = LocalityLocalRegion()->id;
		if (table->spec.kind == LOCALITY_REGIONAL_BY_TABLE)
		{
			const LocalityRegion *home = TableHome(table);

			if (home == NULL)
				continue;
			id = home->id;
		}
		else
		{
			AttrNumber	attno = get_attnum(rte->relid, table->spec.column);
			ListCell   *lq;
			RegionValue kind = RV_UNKNOWN;
			Node	   *expr = NULL;

			foreach(lq, quals)
			{
				Node	   *operand = EqualityOperand(lfirst(lq), rc->rti, attno);

				if (operand == NULL)
					continue;
				kind = ClassifyRegion(operand, boundParams, &id, &expr);
				if (kind != RV_UNKNOWN)
					break;
			}
			if (kind == RV_UNKNOWN)
				RefuseLockingJoin("cannot lock rows of \"%s\" in a join without a region qual: "
								  "they may be homed in other regions", rte->relid);
			if (kind == RV_RUNTIME)
			{
				if (runtime != NULL)
					RefuseLockingJoin("cannot lock rows of \"%s\" in a join whose region is "
									  "known only at run time, with another such table",
									  rte->relid);
				runtime = expr;
				target_rel = rte->relid;
				continue;
			}
		}
		if (id == local_id)
			local_rel = rte->relid;
		else if (target == InvalidLocalityRegionId)
		{
			target = id;
			target_rel = rte->relid;
		}
		else if (id != target)
			RefuseLockingJoin("cannot lock rows of \"%s\" in a join with rows homed in another "
							  "region", rte->relid);
	}
	if (target == InvalidLocalityRegionId && runtime == NULL)
		return NextPlanner(parse, query_string, cursorOptions, boundParams);
	if (OidIsValid(local_rel))
		RefuseLockingJoin("cannot lock rows of \"%s\" in a join with rows homed in another region",
						  local_rel);
	if (runtime != NULL && nregional > 1)
		RefuseLockingJoin("cannot lock rows of \"%s\" in a join whose region is known only at "
						  "run time, with another REGIONAL table", target_rel);
	/* It runs at the home, which must read the same tables. */
	if (query_tree_walker(parse, FindUnmanaged, &inner, QTW_EXAMINE_RTES_BEFORE))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot lock rows of \"%s\" at their home region in a join with table "
						"\"%s\"", get_rel_name(target_rel), get_rel_name(inner)),
				 errdetail("The statement must run at the rows' home region, where \"%s\" is not "
						   "managed by pg_locality.", get_rel_name(inner)),
				 errhint("Lock the rows of \"%s\" in a statement of their own.",
						 get_rel_name(target_rel))));

	memset(&route, 0, sizeof(route));
	route.relid = target_rel;
	if (runtime != NULL)
	{
		route.kind = ROUTE_REGION_EXPR;
		route.region_expr = runtime;
	}
	else
	{
		route.kind = ROUTE_STATIC;
		route.region_ids = list_make1(makeInteger(target));
	}
	return PlanReadAt(&route, parse, query_string, cursorOptions, boundParams);
}

/* 0A000 for a one-table locking read that cannot lock its rows at their homes. */
static void
RefuseLockingRead(const char *message, Oid relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg(message, get_rel_name(relid)),
			 errdetail("Locks on rows homed in another region are taken at their home: a "
					   "SELECT ... FOR UPDATE/SHARE that may lock rows of several regions runs "
					   "at each of them with that region's qual, which this statement does not "
					   "allow."),
			 errhint("Add a region qual (region = constant or parameter) or the full primary "
					 "key, so the statement runs at one region.")));
}

/* offset + count (int8), or count when there is no offset. */
static Node *
RegionLimit(Node *count, Node *offset)
{
	Oid			plus;
	Expr	   *sum;

	if (offset == NULL)
		return count;
	plus = OpernameGetOprid(list_make1(makeString("+")), INT8OID, INT8OID);
	sum = make_opclause(plus, INT8OID, false, (Expr *) copyObject(count),
						(Expr *) copyObject(offset), InvalidOid, InvalidOid);
	fix_opfuncids((Node *) sum);
	return (Node *) sum;
}

/*
 * PlanLockingFanout: SELECT ... FOR UPDATE/SHARE of one REGIONAL BY ROW
 * table that nothing pins to one region.  The statement runs at every other
 * region with that region's qual added, each home locking the rows it homes
 * (in the caller's transaction, as the caller's role: forward.c RunAtAll),
 * and here with this region's qual for the rows homed here; the rows are
 * returned together.  NOWAIT and SKIP LOCKED apply at each home as they
 * would here.
 *
 * ORDER BY / LIMIT / OFFSET: each region runs the statement with its ORDER
 * BY and LIMIT limit + offset (no OFFSET), so it returns, and locks, the
 * rows that can be in the result among its own; the node merges them here
 * and applies ORDER BY, OFFSET and LIMIT (forward.c).  Rows a region locked
 * that the final LIMIT cuts stay locked until the transaction ends: at most
 * (regions - 1) * (limit + offset) more rows than a one-region run locks.
 * ORDER BY columns that are not selected are fetched as extra columns and
 * dropped by the executor's junk filter.  FETCH ... WITH TIES and a LIMIT
 * or OFFSET that depends on a subquery are refused (0A000).
 */
static PlannedStmt *
PlanLockingFanout(LocalityRoute *route, Query *parse, const char *query_string,
				  int cursorOptions, ParamListInfo boundParams)
{
	PlannedStmt *result;
	ListCell   *lc;
	Query	   *shipped;
	Node	   *region_limit;

	if (LocalityShippableQuery(parse, false, NULL, NULL) == NULL)
		RefuseLockingRead("cannot lock rows of \"%s\" without a region qual in a statement that "
						  "reads what only this region has", route->relid);
	if (parse->limitOption == LIMIT_OPTION_WITH_TIES)
		RefuseLockingRead("cannot lock rows of \"%s\" with FETCH ... WITH TIES without a region "
						  "qual: they may be homed in several regions", route->relid);
	if ((parse->limitCount != NULL && !IsRunTimeConstant(parse->limitCount)) ||
		(parse->limitOffset != NULL && !IsRunTimeConstant(parse->limitOffset)))
		RefuseLockingRead("cannot lock rows of \"%s\" with a LIMIT or OFFSET computed by a "
						  "subquery without a region qual: they may be homed in several regions",
						  route->relid);
	shipped = copyObject(parse);
	route->merge = parse->sortClause != NIL || parse->limitCount != NULL ||
		parse->limitOffset != NULL;
	if (route->merge)
	{
		/* Every region: its first limit + offset rows, in order. */
		region_limit = parse->limitCount != NULL ?
			RegionLimit(parse->limitCount, parse->limitOffset) : NULL;
		route->limit_count = copyObject(parse->limitCount);
		route->limit_offset = copyObject(parse->limitOffset);
		if (route->limit_count != NULL)
			fix_opfuncids(route->limit_count);
		if (route->limit_offset != NULL)
			fix_opfuncids(route->limit_offset);
		shipped->limitCount = copyObject(region_limit);
		shipped->limitOffset = NULL;
		parse->limitCount = region_limit;
		parse->limitOffset = NULL;
	}
	/* The node returns the selected columns, then ORDER BY's others (junk). */
	foreach(lc, shipped->targetList)
	{
		TargetEntry *tle = lfirst(lc);

		if (tle->resjunk && !route->merge)
			continue;
		route->returning = lappend(route->returning, tle);
	}
	foreach(lc, shipped->sortClause)
	{
		SortGroupClause *sort = lfirst(lc);
		TargetEntry *tle = get_sortgroupclause_tle(sort, shipped->targetList);
		int			column = -1;
		ListCell   *lr;

		foreach(lr, route->returning)
		{
			if (lfirst(lr) == tle)
				column = foreach_current_index(lr);
		}
		if (column < 0)
			RefuseLockingRead("cannot lock rows of \"%s\" in this order without a region qual: "
							  "they may be homed in several regions", route->relid);
		route->sort_cols = lappend(route->sort_cols, makeInteger(column + 1));
		route->sort_ops = lappend(route->sort_ops, makeInteger((int) sort->sortop));
		route->sort_colls = lappend(route->sort_colls,
									makeInteger((int) exprCollation((Node *) tle->expr)));
		route->sort_nulls = lappend(route->sort_nulls, makeInteger(sort->nulls_first));
	}
	/* The regions return the junk ones too: shipped as selected columns. */
	route->query = copyObject(shipped);
	foreach(lc, route->query->targetList)
	{
		TargetEntry *tle = lfirst(lc);

		if (tle->resjunk && route->merge)
			tle->resjunk = false;
	}
	AddLocalRegionQual(parse, route->region_attno, get_atttype(route->relid, route->region_attno),
					   route->region_eq_op);
	result = NextPlanner(parse, query_string, cursorOptions, boundParams);
	route->local_plan = result->planTree;
	result->planTree = LocalityMakeForwardPlan(route);
	ForwardPlannedNotRun = true;
	return result;
}

/*
 * PlanLockingRead: SELECT ... FOR UPDATE/SHARE of one REGIONAL table runs
 * where its rows are homed, so locks are taken where the writes happen
 * (SPEC.md section 4): at the home when the router can pin it there (a
 * REGIONAL BY TABLE table homed elsewhere, a region qual, or every primary
 * key column: the home looked up in the local replica); at every region,
 * each for its own rows, when it cannot (PlanLockingFanout); as usual when
 * every row it can lock is homed here.  A statement that would have to
 * lock rows homed elsewhere here is refused (0A000).
 */
static PlannedStmt *
PlanLockingRead(Query *parse, const char *query_string, int cursorOptions,
				ParamListInfo boundParams)
{
	RangeTblEntry *rte;
	const LocalityTable *table;
	LocalityRoute route;
	Oid			inner;

	/*
	 * Not the foreign-key checks' own locking reads (run as the table owner,
	 * InLocalUserIdChange): they keep checking the local copy.
	 */
	if (InLocalUserIdChange() || InSecurityRestrictedOperation() ||
		!LocalityRouteWrites || !LocalityIsInstalled())
		return NextPlanner(parse, query_string, cursorOptions, boundParams);
	if (list_length(parse->rtable) > 1 && !(cursorOptions & CURSOR_OPT_SCROLL))
		return PlanLockingJoin(parse, query_string, cursorOptions, boundParams);
	if (list_length(parse->rtable) != 1 || (cursorOptions & CURSOR_OPT_SCROLL))
		return NextPlanner(parse, query_string, cursorOptions, boundParams);
	rte = linitial(parse->rtable);
	if (rte->rtekind == RTE_SUBQUERY && LocalityForwardDepth == 0 &&
		FindRemoteRegional((Node *) rte->subquery, &inner))
		RefuseLockingRead("cannot lock rows of \"%s\" through a subquery or view: they may be "
						  "homed in another region", inner);
	if (rte->rtekind != RTE_RELATION || !LocalityIsManagedTable(rte->relid))
		return NextPlanner(parse, query_string, cursorOptions, boundParams);
	table = RoutableTable(rte->relid);
	if (table == NULL || !StartRoute(table, &route))
		return NextPlanner(parse, query_string, cursorOptions, boundParams);
	if (table->spec.kind == LOCALITY_REGIONAL_BY_ROW)
	{
		Query		probe = *parse;
		bool		add_local_qual = false;

		if (!SetRegionColumn(&route, rte->relid, table))
			return NextPlanner(parse, query_string, cursorOptions, boundParams);
		probe.commandType = CMD_UPDATE;
		probe.resultRelation = 1;
		/* Pinned here: the normal plan, at no cost. */
		if (!RouteRegionalByRow(&probe, boundParams, &route, &add_local_qual))
			return NextPlanner(parse, query_string, cursorOptions, boundParams);
		/*
		 * Not in a session running a forwarded statement (a trigger's own
		 * read at the home): it would not forward again, and keeps the
		 * normal plan.
		 */
		if (route.kind == ROUTE_FANOUT && LocalityForwardDepth > 0)
			return NextPlanner(parse, query_string, cursorOptions, boundParams);
		if (route.kind == ROUTE_FANOUT)
		{
			if (parse->hasSubLinks || parse->hasTargetSRFs || parse->cteList != NIL ||
				parse->setOperations != NULL)
				RefuseLockingRead("cannot lock rows of \"%s\" without a region qual in a "
								  "statement with a subquery or set-returning function: they may "
								  "be homed in several regions", rte->relid);
			return PlanLockingFanout(&route, parse, query_string, cursorOptions, boundParams);
		}
	}

	/* It runs at the home, which must be able to read all it reads. */
	if (LocalityShippableQuery(parse, false, NULL, NULL) == NULL)
		RefuseLockingRead("cannot lock rows of \"%s\" at their home region in a statement that "
						  "reads what only this region has", rte->relid);
	return PlanReadAt(&route, parse, query_string, cursorOptions, boundParams);
}

/*
 * NestedLockAllowed: a FOR UPDATE/SHARE nested in a plain SELECT may lock
 * relid (range table entry rti of q) here: an unrouted table, a REGIONAL
 * BY TABLE table homed here, a region qual naming this region; also, as
 * before, one whose home is known only at run time (a region qual with a
 * parameter, every primary key column).  False when its rows are certainly
 * homed elsewhere (a REGIONAL BY TABLE table or a region qual naming
 * another region) or may be homed anywhere (no pin at all).
 */
static bool
NestedLockAllowed(Query *q, Index rti, Oid relid, ParamListInfo boundParams)
{
	const LocalityTable *table = RoutableTable(relid);
	const LocalityRegion *home;
	AttrNumber	attno;
	List	   *quals = NIL;
	ListCell   *lc;
	Query		probe;
	List	   *exprs;
	List	   *attnos;

	if (table == NULL)
		return true;
	if (table->spec.kind == LOCALITY_REGIONAL_BY_TABLE)
		return (home = TableHome(table)) == NULL || home->is_local;
	attno = get_attnum(relid, table->spec.column);
	CollectInnerQuals((Node *) q->jointree, &quals);
	foreach(lc, quals)
	{
		Node	   *operand = EqualityOperand(lfirst(lc), rti, attno);
		LocalityRegionId id;
		Node	   *runtime;

		if (operand == NULL)
			continue;
		switch (ClassifyRegion(operand, boundParams, &id, &runtime))
		{
			case RV_CONST:
				return id == LocalityLocalRegion()->id;
			case RV_RUNTIME:
				return true;
			default:
				break;
		}
	}
	probe = *q;
	probe.resultRelation = rti;
	return KeyValues(&probe, relid, &exprs, &attnos);
}

/* 0A000 for FOR UPDATE/SHARE nested in a plain statement (RefuseNestedLocking). */
static void
RefuseNested(Oid relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("cannot lock rows of \"%s\" in a subquery or WITH query: they may be homed "
					"in another region", get_rel_name(relid)),
			 errdetail("Locks on rows homed in another region are taken at their home, which a "
					   "FOR UPDATE/SHARE inside a subquery, WITH query or view cannot do."),
			 errhint("Lock the rows in a SELECT ... FOR UPDATE of their own (it runs at their "
					 "homes), or add a region qual naming this region.")));
}

static bool
NestedLockingWalker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		Query	   *q = (Query *) node;
		ListCell   *lc;
		Oid			inner;

		foreach(lc, q->rowMarks)
		{
			RowMarkClause *rc = lfirst(lc);
			RangeTblEntry *rte = rt_fetch(rc->rti, q->rtable);

			if (rte->rtekind == RTE_SUBQUERY &&
				FindRemoteRegional((Node *) rte->subquery, &inner))
				RefuseNested(inner);
			if (rte->rtekind == RTE_RELATION && LocalityIsManagedTable(rte->relid) &&
				!NestedLockAllowed(q, rc->rti, rte->relid, (ParamListInfo) context))
				RefuseNested(rte->relid);
		}
		return query_tree_walker(q, NestedLockingWalker, context, 0);
	}
	return expression_tree_walker(node, NestedLockingWalker, context);
}

/*
 * RefuseNestedLocking: a plain SELECT whose subquery, WITH query or view
 * has FOR UPDATE/SHARE of a REGIONAL table whose rows may be homed
 * elsewhere would lock their local copies: refused (0A000).  Costs a walk
 * of the query only when it has subqueries.
 */
static void
RefuseNestedLocking(Query *parse, ParamListInfo boundParams)
{
	ListCell   *lc;
	bool		nested = parse->hasSubLinks || parse->cteList != NIL;

	foreach(lc, parse->rtable)
	{
		if (((RangeTblEntry *) lfirst(lc))->rtekind == RTE_SUBQUERY)
			nested = true;
	}
	if (!nested || !LocalityRouteWrites || LocalityForwardDepth > 0 || InLocalUserIdChange() ||
		InSecurityRestrictedOperation() || !LocalityIsInstalled())
		return;
	(void) query_tree_walker(parse, NestedLockingWalker, boundParams, 0);
}

/*
 * Pinned reads (SPEC.md section 4): inside a transaction that has forwarded
 * writes to region X, a plain SELECT of one REGIONAL table pinned to rows
 * homed in X runs in the transaction's remote part at X, so it sees the
 * transaction's own uncommitted writes there.
 *
 * Whether the transaction has forwarded anything is known only when the
 * plan runs, and plans are cached (PREPARE, PL/pgSQL).  So a SELECT planned
 * while the transaction has forwarded something gets the Forward node with
 * the local plan as its child, and it decides when it runs: remote only
 * when the transaction has forwarded to the target region by then (forward.c).
 * A SELECT planned before that (the common case: no forwarded writes) keeps
 * the normal plan, untouched, with one more invalidation item naming no
 * real object; the transaction's first forwarded statement invalidates those
 * plans (LocalityForwardingBegins), so a cached plan cannot stay local
 * when it should not.  Reads without forwarded writes pay nothing at run time.
 */

/* Set when a plan carrying the invalidation item may still be cached. */
static bool LocalReadPlansCached = false;

/* LocalityStatementStarts: a plan starts running (ExecutorStart). */
void
LocalityStatementStarts(void)
{
	ForwardPlannedNotRun = false;
}

/* The invalidation item's hash: pg_proc's key 0, which no function has. */
static uint32
LocalReadHash(void)
{
	static uint32 hash = 0;

	if (hash == 0)
		hash = GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(InvalidOid));
	return hash;
}

/* Marks result as a read planned local because nothing was forwarded yet. */
static PlannedStmt *
MarkLocalRead(PlannedStmt *result)
{
	PlanInvalItem *item = makeNode(PlanInvalItem);

	item->cacheId = PROCOID;
	item->hashValue = LocalReadHash();
	result->invalItems = lappend(result->invalItems, item);
	LocalReadPlansCached = true;
	return result;
}

/*
 * LocalityForwardingBegins: the transaction is about to forward its first
 * statement to a region; cached plans of reads marked by MarkLocalRead are
 * invalidated (in this backend only) and replanned at their next use.
 */
void
LocalityForwardingBegins(void)
{
	if (!LocalReadPlansCached)
		return;
	LocalReadPlansCached = false;
	CallSyscacheCallbacks(PROCOID, LocalReadHash());
}

/* True for a function that may not exist at another region. */
static bool
IsUnshippableFunction(Oid funcid, void *context)
{
	Oid			nsp;

	if (funcid < FirstNormalObjectId)
		return false;
	nsp = get_func_namespace(funcid);
	return !OidIsValid(nsp) || nsp != get_namespace_oid("locality", true);
}

static bool
ContainsUnshippable(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, IsUnshippableFunction, context))
		return true;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, ContainsUnshippable, context, 0);
	return expression_tree_walker(node, ContainsUnshippable, context);
}

/*
 * PlanRead: a SELECT without FOR UPDATE/SHARE.  Normal plan, except for a
 * single-table read of a REGIONAL table in a transaction that has forwarded
 * statements (see above).  Joins, subqueries, CTEs, set operations, scroll
 * cursors and reads calling functions that are not built in stay local.
 */
static PlannedStmt *
PlanRead(Query *parse, const char *query_string, int cursorOptions,
		 ParamListInfo boundParams)
{
	RangeTblEntry *rte;
	const LocalityTable *table;
	LocalityRoute route;

	if (list_length(parse->rtable) != 1 || !LocalityRouteWrites || LocalityForwardDepth > 0 ||
		LocalityLookingUpHome || !LocalityIsInstalled())
		return NextPlanner(parse, query_string, cursorOptions, boundParams);
	rte = linitial(parse->rtable);
	if (rte->rtekind != RTE_RELATION || !LocalityIsManagedTable(rte->relid))
		return NextPlanner(parse, query_string, cursorOptions, boundParams);
	table = LocalityFindTable(rte->relid);
	if (table == NULL || (table->spec.kind != LOCALITY_REGIONAL_BY_ROW &&
						  table->spec.kind != LOCALITY_REGIONAL_BY_TABLE))
		return NextPlanner(parse, query_string, cursorOptions, boundParams);
	if (!LocalityForwardedTo(InvalidLocalityRegionId) && !ForwardPlannedNotRun)
		return MarkLocalRead(NextPlanner(parse, query_string, cursorOptions, boundParams));
	if (RoutableTable(rte->relid) == NULL)
		return NextPlanner(parse, query_string, cursorOptions, boundParams);

	if (parse->hasSubLinks || parse->cteList != NIL || parse->setOperations != NULL ||
		parse->hasTargetSRFs || parse->hasModifyingCTE || (cursorOptions & CURSOR_OPT_SCROLL) ||
		InSecurityRestrictedOperation() || !StartRoute(table, &route) ||
		query_tree_walker(parse, ContainsUnshippable, NULL, 0))
		return NextPlanner(parse, query_string, cursorOptions, boundParams);
	if (table->spec.kind == LOCALITY_REGIONAL_BY_ROW &&
		(!SetRegionColumn(&route, rte->relid, table) ||
		 !PinOneTableRead(parse, boundParams, &route)))
		return NextPlanner(parse, query_string, cursorOptions, boundParams);

	route.pinned_read = true;
	return PlanReadAt(&route, parse, query_string, cursorOptions, boundParams);
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
	if (parse->commandType == CMD_SELECT)
	{
		RefuseNestedLocking(parse, boundParams);
		return PlanRead(parse, query_string, cursorOptions, boundParams);
	}
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
	if (table->spec.kind == LOCALITY_REGIONAL_BY_ROW &&
		(!SetRegionColumn(&route, rte->relid, table) ||
		 !RouteRegionalByRow(parse, boundParams, &route, &add_local_qual)))
		return NextPlanner(parse, query_string, cursorOptions, boundParams);

	/*
	 * A per-row INSERT reads its source here; its rows go home as values.
	 * So does any INSERT ... SELECT, and an INSERT that reads what only this
	 * server has.  Other statements are shipped whole: what they read here
	 * must be evaluable here (shippable.c), else 0A000.
	 */
	if (route.kind != ROUTE_PER_ROW && parse->commandType == CMD_INSERT &&
		(HasSubquerySource(parse) || LocalityShippableQuery(parse, false, NULL, NULL) == NULL))
		route.kind = ROUTE_PER_ROW;
	else if (route.kind != ROUTE_PER_ROW)
		(void) LocalityShippableQuery(parse, false, get_rel_name(rte->relid), NULL);
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
	ForwardPlannedNotRun = true;
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
