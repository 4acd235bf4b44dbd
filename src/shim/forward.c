/*
 * forward.c -- the Forward custom scan: runs a write at its home region's
 * primary and returns what the home returned (row count, RETURNING rows,
 * errors with their SQLSTATE, detail and hint).
 *
 * router.c (the planner hook) builds the node for INSERT, UPDATE and DELETE
 * on REGIONAL BY ROW / REGIONAL BY TABLE tables whose rows may live in
 * another region.  Where the router cannot know the home at plan time (a
 * parameter, a primary key to look up in the local replica, no region qual
 * at all) the node carries the normal local plan as its child and runs it
 * for the rows homed here.  The remote statement is the query deparsed by
 * ruleutils with parameters replaced by their values, so the home plans it
 * itself, and runs in the caller's transaction (dist_xact.c) as the calling
 * role (remote.c's connection per (region, role)).  The same node runs
 * locking reads at their home (at every home, merging ORDER BY / LIMIT /
 * OFFSET here, when they are not pinned to one: GatherMerged), and pinned reads (a plain SELECT that runs in
 * the transaction's remote part only when the transaction forwarded writes
 * to its region by the time it runs; StartPinnedRead).
 *
 * Invariant protected: a regionally homed row is only modified at its home.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "tcop/pquery.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/tuplesort.h"
#include "utils/tuplestore.h"

#include "shim.h"
#include "shim/breaker.h"
#include "shim/catalog.h"
#include "shim/forward.h"
#include "shim/rehome.h"
#include "shim/remote.h"
#include "shim/shippable.h"

/* GUC locality.forward_depth: set by the forwarder in the home's session. */
int			LocalityForwardDepth = 0;

/* How deep a statement may be forwarded again (rehomed rows): no loops. */
#define MAX_FORWARD_DEPTH 2

/* Executor nesting depth: 1 while the top-level statement runs. */
static int	ExecutorDepth = 0;
static ExecutorRun_hook_type PrevExecutorRun = NULL;
static ExecutorFinish_hook_type PrevExecutorFinish = NULL;

/* custom_private positions */
enum
{
	PRIV_KIND = 0,
	PRIV_RELID,
	PRIV_REGION_ATTNO,
	PRIV_REGION_EQ_OP,
	PRIV_REGION_IDS,
	PRIV_QUERY,
	PRIV_KEY_ATTNOS,
	PRIV_HAS_LOCAL,
	PRIV_PINNED_READ,
	PRIV_MERGE,					/* fanned-out locking read: merged here */
	PRIV_SORT_COLS,
	PRIV_SORT_OPS,
	PRIV_SORT_COLLS,
	PRIV_SORT_NULLS
};

/* True while LookupHome reads the local replica (router.c plans it local). */
bool		LocalityLookingUpHome = false;

typedef struct ForwardState
{
	CustomScanState css;
	LocalityRouteKind kind;
	Oid			relid;
	AttrNumber	region_attno;
	Oid			region_eq_op;
	List	   *region_ids;
	Query	   *query;
	List	   *key_attnos;
	PlanState  *local_ps;		/* the local plan, when there is one */
	ExprState  *region_state;	/* ROUTE_REGION_EXPR */
	List	   *key_states;		/* ROUTE_KEY_LOOKUP */
	bool		pinned_read;	/* plain SELECT (router.c PlanRead) */
	bool		read_remote;	/* ... that ran in the remote part */
	bool		started;
	bool		run_local;
	uint64		processed_before;	/* es_processed before the local plan ran */
	Tuplestorestate *rows;		/* RETURNING rows from remote regions */
	TupleTableSlot *row_slot;	/* builds rows (virtual) */
	TupleTableSlot *out_slot;	/* returns them (minimal tuples) */
	List	   *targets;		/* region names reached (EXPLAIN ANALYZE) */
	double		remote_ms;
	struct OrderedRow *ordered; /* ROUTE_PER_ROW: RETURNING rows, input order */
	int			nordered;
	int			next_ordered;
	Query	   *shipped;		/* query as shipped: parameters and what is
								 * read here replaced by values */
	int			nfolded;		/* expressions evaluated here */
	bool		merge;			/* PRIV_MERGE */
	List	   *sort_cols;
	List	   *sort_ops;
	List	   *sort_colls;
	List	   *sort_nulls;
	ExprState  *offset_state;	/* the statement's OFFSET, or NULL */
	ExprState  *count_state;	/* ... and LIMIT */
	int64		offset;			/* rows still to skip */
	int64		count;			/* rows still to return (-1: all) */
	Tuplesortstate *sorted;		/* merged rows, in ORDER BY order */
} ForwardState;

/* A RETURNING row of a per-row INSERT and its input position. */
typedef struct OrderedRow
{
	int64		ordinal;
	MinimalTuple tuple;
} OrderedRow;

static Node *CreateForwardState(CustomScan *cscan);
static void BeginForward(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *ExecForward(CustomScanState *node);
static void EndForward(CustomScanState *node);
static void ReScanForward(CustomScanState *node);
static void ExplainForward(CustomScanState *node, List *ancestors, ExplainState *es);

static CustomScanMethods ForwardScanMethods = {
	"LocalityForward",
	CreateForwardState
};

static CustomExecMethods ForwardExecMethods = {
	.CustomName = "LocalityForward",
	.BeginCustomScan = BeginForward,
	.ExecCustomScan = ExecForward,
	.EndCustomScan = EndForward,
	.ReScanCustomScan = ReScanForward,
	.ExplainCustomScan = ExplainForward
};

/*
 * LocalityMakeForwardPlan builds the Forward node for route, in its final
 * (post-setrefs) form: it becomes the statement's top plan node.
 */
Plan *
LocalityMakeForwardPlan(LocalityRoute *route)
{
	CustomScan *cscan = makeNode(CustomScan);
	List	   *scan_tlist = NIL;
	List	   *tlist = NIL;
	ListCell   *lc;
	AttrNumber	resno = 1;

	foreach(lc, route->returning)
	{
		TargetEntry *tle = lfirst(lc);
		Expr	   *expr = tle->expr;

		scan_tlist = lappend(scan_tlist,
							 makeTargetEntry((Expr *) copyObject(expr), resno,
											 tle->resname ? pstrdup(tle->resname) : NULL,
											 false));
		/* ORDER BY columns of a merged locking read: the junk filter drops them. */
		tlist = lappend(tlist,
						makeTargetEntry((Expr *) makeVar(INDEX_VAR, resno,
														 exprType((Node *) expr),
														 exprTypmod((Node *) expr),
														 exprCollation((Node *) expr), 0),
										resno,
										tle->resname ? pstrdup(tle->resname) : NULL,
										tle->resjunk));
		resno++;
	}
	cscan->scan.plan.targetlist = tlist;
	cscan->scan.plan.startup_cost = 100.0;
	cscan->scan.plan.total_cost = 100.0;
	cscan->scan.plan.plan_rows = 1;
	cscan->scan.plan.plan_width = 0;
	cscan->scan.scanrelid = 0;
	cscan->custom_scan_tlist = scan_tlist;
	cscan->flags = 0;
	cscan->methods = &ForwardScanMethods;
	cscan->custom_private = list_make5(makeInteger(route->kind),
									   makeInteger((int) route->relid),
									   makeInteger(route->region_attno),
									   makeInteger((int) route->region_eq_op),
									   route->region_ids);
	cscan->custom_private = lappend(cscan->custom_private, route->query);
	cscan->custom_private = lappend(cscan->custom_private, route->key_attnos);
	cscan->custom_private = lappend(cscan->custom_private,
									makeInteger(route->local_plan != NULL));
	cscan->custom_private = lappend(cscan->custom_private, makeInteger(route->pinned_read));
	cscan->custom_private = lappend(cscan->custom_private, makeInteger(route->merge));
	cscan->custom_private = lappend(cscan->custom_private, route->sort_cols);
	cscan->custom_private = lappend(cscan->custom_private, route->sort_ops);
	cscan->custom_private = lappend(cscan->custom_private, route->sort_colls);
	cscan->custom_private = lappend(cscan->custom_private, route->sort_nulls);
	if (route->merge)
		cscan->custom_exprs = list_make2(route->limit_offset, route->limit_count);
	else if (route->kind == ROUTE_REGION_EXPR)
		cscan->custom_exprs = list_make1(route->region_expr);
	else if (route->kind == ROUTE_KEY_LOOKUP)
		cscan->custom_exprs = route->key_exprs;
	if (route->local_plan != NULL)
		cscan->custom_plans = list_make1(route->local_plan);
	return (Plan *) cscan;
}

static Node *
CreateForwardState(CustomScan *cscan)
{
	ForwardState *state = (ForwardState *) newNode(sizeof(ForwardState), T_CustomScanState);

	state->css.methods = &ForwardExecMethods;
	state->kind = intVal(list_nth(cscan->custom_private, PRIV_KIND));
	state->relid = (Oid) intVal(list_nth(cscan->custom_private, PRIV_RELID));
	state->region_attno = intVal(list_nth(cscan->custom_private, PRIV_REGION_ATTNO));
	state->region_eq_op = (Oid) intVal(list_nth(cscan->custom_private, PRIV_REGION_EQ_OP));
	state->region_ids = list_nth(cscan->custom_private, PRIV_REGION_IDS);
	state->query = list_nth(cscan->custom_private, PRIV_QUERY);
	state->key_attnos = list_nth(cscan->custom_private, PRIV_KEY_ATTNOS);
	state->pinned_read = intVal(list_nth(cscan->custom_private, PRIV_PINNED_READ)) != 0;
	state->merge = intVal(list_nth(cscan->custom_private, PRIV_MERGE)) != 0;
	state->sort_cols = list_nth(cscan->custom_private, PRIV_SORT_COLS);
	state->sort_ops = list_nth(cscan->custom_private, PRIV_SORT_OPS);
	state->sort_colls = list_nth(cscan->custom_private, PRIV_SORT_COLLS);
	state->sort_nulls = list_nth(cscan->custom_private, PRIV_SORT_NULLS);
	return (Node *) state;
}

static void
BeginForward(CustomScanState *node, EState *estate, int eflags)
{
	ForwardState *state = (ForwardState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;

	if (cscan->custom_plans != NIL)
	{
		state->local_ps = ExecInitNode(linitial(cscan->custom_plans), estate, eflags);
		node->custom_ps = list_make1(state->local_ps);
	}
	if (state->merge)
	{
		state->offset_state = ExecInitExpr(linitial(cscan->custom_exprs), &node->ss.ps);
		state->count_state = ExecInitExpr(lsecond(cscan->custom_exprs), &node->ss.ps);
	}
	else if (state->kind == ROUTE_REGION_EXPR)
		state->region_state = ExecInitExpr(linitial(cscan->custom_exprs), &node->ss.ps);
	else if (state->kind == ROUTE_KEY_LOOKUP)
		state->key_states = ExecInitExprList(cscan->custom_exprs, &node->ss.ps);
}

/* Replaces external parameters by constants holding their values. */
typedef struct ParamContext
{
	ParamListInfo params;
} ParamContext;

static Node *
ReplaceParams(Node *node, ParamContext *context)
{
	if (node == NULL)
		return NULL;
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXTERN &&
		context->params != NULL)
	{
		Param	   *param = (Param *) node;
		ParamListInfo params = context->params;
		ParamExternData prmdata;
		ParamExternData *prm = NULL;
		int16		typlen;
		bool		typbyval;

		if (param->paramid > 0 && param->paramid <= params->numParams)
		{
			if (params->paramFetch != NULL)
				prm = params->paramFetch(params, param->paramid, false, &prmdata);
			else
				prm = &params->params[param->paramid - 1];
		}
		if (prm == NULL || !OidIsValid(prm->ptype))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_PARAMETER),
					 errmsg("no value found for parameter %d", param->paramid)));
		get_typlenbyval(param->paramtype, &typlen, &typbyval);
		return (Node *) makeConst(param->paramtype, param->paramtypmod, param->paramcollid,
								  typlen,
								  prm->isnull ? (Datum) 0 : datumCopy(prm->value, typbyval, typlen),
								  prm->isnull, typbyval);
	}
	if (IsA(node, Query))
		return (Node *) query_tree_mutator((Query *) node, ReplaceParams, context, 0);
	return expression_tree_mutator(node, ReplaceParams, context);
}

/* LocalityReplaceParams: query with external parameters replaced by values. */
Query *
LocalityReplaceParams(Query *query, ParamListInfo params)
{
	ParamContext context;

	context.params = params;
	return (Query *) ReplaceParams((Node *) query, &context);
}

/*
 * OneLine collapses ruleutils' line breaks and indentation outside quoted
 * literals and identifiers, so the remote SQL reads as one line.
 */
static char *
OneLine(const char *sql)
{
	StringInfoData out;
	char		quote = 0;
	bool		space = false;
	const char *c;

	initStringInfo(&out);
	for (c = sql; *c; c++)
	{
		if (quote == 0 && (*c == ' ' || *c == '\n' || *c == '\t'))
		{
			space = out.len > 0;
			continue;
		}
		if (space)
		{
			/* no space after an opening or before a closing parenthesis */
			if (!(out.data[out.len - 1] == '(' || (quote == 0 && *c == ')')))
				appendStringInfoChar(&out, ' ');
			space = false;
		}
		if (quote == 0 && (*c == '\'' || *c == '"'))
			quote = *c;
		else if (quote != 0 && *c == quote)
			quote = 0;
		appendStringInfoChar(&out, *c);
	}
	return out.data;
}

char *
LocalityOneLine(const char *sql)
{
	return OneLine(sql);
}

/*
 * DeparseFor: the statement to run at region (InvalidLocalityRegionId: as
 * it is; otherwise with `region column = region` added to its quals).
 */
static char *
DeparseFor(ForwardState *state, EState *estate, LocalityRegionId region)
{
	Query	   *query;

	if (state->shipped == NULL)
	{
		ParamContext context;
		MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);

		/*
		 * Once per execution: what only this server has is read here (not
		 * when EXPLAIN only shows the plan).
		 */
		context.params = estate->es_param_list_info;
		query = (Query *) ReplaceParams((Node *) copyObject(state->query), &context);
		state->shipped = LocalityShippableQuery(query,
												!(estate->es_top_eflags & EXEC_FLAG_EXPLAIN_ONLY),
												get_rel_name(state->relid), &state->nfolded);
		MemoryContextSwitchTo(old);
	}
	query = copyObject(state->shipped);
	if (region != InvalidLocalityRegionId)
	{
		Oid			argtype = get_atttype(state->relid, state->region_attno);
		/* A locking SELECT (router.c) reads its one table. */
		Var		   *var = makeVar(query->resultRelation > 0 ? query->resultRelation : 1,
								  state->region_attno, argtype, -1, InvalidOid, 0);
		Const	   *value = makeConst(argtype, -1, InvalidOid, 2, Int16GetDatum(region),
									  false, true);
		Expr	   *qual = make_opclause(state->region_eq_op, BOOLOID, false,
										 (Expr *) var, (Expr *) value, InvalidOid, InvalidOid);

		if (query->jointree->quals == NULL)
			query->jointree->quals = (Node *) qual;
		else
			query->jointree->quals = (Node *) make_andclause(list_make2(query->jointree->quals,
																		qual));
	}
	return OneLine(pg_get_querydef(query, false));
}

/*
 * OneShot: the statement is a top-level autocommit INSERT/UPDATE/DELETE, so
 * its remote transaction can commit in the same round trip.
 */
static bool
OneShot(void)
{
	if (IsTransactionBlock() || ExecutorDepth != 1 || ActivePortal == NULL)
		return false;
	if (TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return false;
	switch (ActivePortal->commandTag)
	{
		case CMDTAG_INSERT:
		case CMDTAG_UPDATE:
		case CMDTAG_DELETE:
			return true;
		default:
			return false;
	}
}

/* No forwarding loops: a statement is forwarded at most twice. */
static void
CheckForwardDepth(const LocalityRegion *region)
{
	if (LocalityForwardDepth >= MAX_FORWARD_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not route the statement: its rows moved to region \"%s\" while it "
						"was being forwarded", region->name),
				 errhint("Retry the transaction.")));
}

static void AddResult(ForwardState *state, EState *estate, const LocalityRegion *region,
					  PGresult *res);

/* Runs the statement at region; adds its rows and count. */
static void
RunAt(ForwardState *state, EState *estate, const LocalityRegion *region,
	  LocalityRegionId qual_region, bool one_shot)
{
	char	   *sql = DeparseFor(state, estate, qual_region);
	PGresult   *res;
	TimestampTz start = GetCurrentTimestamp();

	CheckForwardDepth(region);
	res = LocalityForwardStatement(region, sql, one_shot);
	state->remote_ms += (double) (GetCurrentTimestamp() - start) / 1000.0;
	AddResult(state, estate, region, res);
}

/*
 * RunAtAll runs the statement at every region of remote (ids) at once:
 * sent to all, then collected from each, so the statement takes as long as
 * the slowest region, not the sum.  A remote error is raised once every
 * region has answered (the first one, in region order).
 */
static void
RunAtAll(ForwardState *state, EState *estate, List *remote, bool with_qual)
{
	int			n = list_length(remote);
	LocalityForwardCall **calls = palloc(sizeof(LocalityForwardCall *) * n);
	const LocalityRegion **regions = palloc(sizeof(LocalityRegion *) * n);
	TimestampTz start = GetCurrentTimestamp();
	PGresult   *error = NULL;
	LocalityForwardCall *failed = NULL;
	ListCell   *lc;
	int			i = 0;

	foreach(lc, remote)
	{
		LocalityRegionId id = lfirst_int(lc);

		regions[i] = LocalityFindRegionById(id);
		if (regions[i] == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("region with id %d does not exist", id)));
		CheckForwardDepth(regions[i]);
		i++;
	}
	/* A new session opens its connections to all of them at once. */
	LocalityRemoteConnectAll(regions, n);
	i = 0;
	foreach(lc, remote)
	{
		LocalityRegionId id = lfirst_int(lc);

		calls[i] = LocalityForwardSend(regions[i],
									   DeparseFor(state, estate,
												  with_qual ? id : InvalidLocalityRegionId),
									   0, 0, NULL);
		i++;
	}
	for (i = 0; i < n; i++)
	{
		PGresult   *failure;
		int			nresults;
		PGresult  **results = LocalityForwardCollect(calls[i], &nresults, &failure);

		if (failure != NULL && error == NULL)
		{
			error = failure;
			failed = calls[i];
		}
		else if (failure != NULL)
			PQclear(failure);
		if (nresults == 1 && results[0] != NULL)
		{
			if (error == NULL)
				AddResult(state, estate, regions[i], results[0]);
			else
				PQclear(results[0]);
		}
	}
	state->remote_ms += (double) (GetCurrentTimestamp() - start) / 1000.0;
	if (error != NULL)
		LocalityForwardRaise(failed, error);
}

/* Adds res's count and RETURNING rows (region's answer); frees res. */
static void
AddResult(ForwardState *state, EState *estate, const LocalityRegion *region, PGresult *res)
{
	TupleDesc	tupdesc = state->css.ss.ss_ScanTupleSlot->tts_tupleDescriptor;

	state->targets = lappend(state->targets, pstrdup(region->name));
	/* A SELECT's rows are counted by the executor as they are returned. */
	if (state->query->commandType != CMD_SELECT && PQcmdTuples(res)[0] != '\0')
		estate->es_processed += strtoul(PQcmdTuples(res), NULL, 10);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
	{
		int			row;
		int			natts = tupdesc->natts;
		TupleTableSlot *slot = state->row_slot;
		MemoryContext old;

		if (state->rows == NULL)
		{
			old = MemoryContextSwitchTo(estate->es_query_cxt);
			state->rows = tuplestore_begin_heap(false, false, work_mem);
			MemoryContextSwitchTo(old);
		}
		PG_TRY();
		{
			if (PQnfields(res) != natts)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("region \"%s\" returned %d columns, expected %d",
								region->name, PQnfields(res), natts)));
			for (row = 0; row < PQntuples(res); row++)
			{
				int			col;

				ExecClearTuple(slot);
				for (col = 0; col < natts; col++)
				{
					Form_pg_attribute att = TupleDescAttr(tupdesc, col);
					Oid			infunc;
					Oid			ioparam;

					if (PQgetisnull(res, row, col))
					{
						slot->tts_values[col] = (Datum) 0;
						slot->tts_isnull[col] = true;
						continue;
					}
					getTypeInputInfo(att->atttypid, &infunc, &ioparam);
					slot->tts_values[col] = OidInputFunctionCall(infunc,
																 PQgetvalue(res, row, col),
																 ioparam, att->atttypmod);
					slot->tts_isnull[col] = false;
				}
				ExecStoreVirtualTuple(slot);
				tuplestore_puttupleslot(state->rows, slot);
			}
		}
		PG_FINALLY();
		{
			PQclear(res);
		}
		PG_END_TRY();
	}
	else
		PQclear(res);
}

/*
 * The row's home in the local replica (ROUTE_KEY_LOOKUP), or invalid.
 * fresh: with a new
 * snapshot (READ COMMITTED), to see a rehoming that committed while this
 * statement waited.
 */
static LocalityRegionId
LookupHome(ForwardState *state, bool *found, bool fresh)
{
	StringInfoData sql;
	int			nkeys = list_length(state->key_attnos);
	Oid		   *types = palloc(sizeof(Oid) * nkeys);
	Datum	   *values = palloc(sizeof(Datum) * nkeys);
	char	   *nulls = palloc(nkeys + 1);
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;
	ListCell   *lc1,
			   *lc2;
	int			i = 0;
	LocalityRegionId home = InvalidLocalityRegionId;
	char	   *relname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(state->relid)),
													 get_rel_name(state->relid));

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s FROM ONLY %s WHERE ",
					 quote_identifier(get_attname(state->relid, state->region_attno, false)),
					 relname);
	forboth(lc1, state->key_attnos, lc2, state->key_states)
	{
		AttrNumber	attno = intVal(lfirst(lc1));
		ExprState  *expr = lfirst(lc2);
		bool		isnull;

		types[i] = exprType((Node *) expr->expr);
		values[i] = ExecEvalExpr(expr, econtext, &isnull);
		nulls[i] = isnull ? 'n' : ' ';
		appendStringInfo(&sql, "%s%s = $%d", i > 0 ? " AND " : "",
						 quote_identifier(get_attname(state->relid, attno, false)), i + 1);
		i++;
	}
	nulls[i] = '\0';
	*found = false;
	SPI_connect();
	/* The local replica, never a pinned read of its own. */
	LocalityLookingUpHome = true;
	PG_TRY();
	{
		if (SPI_execute_with_args(sql.data, nkeys, types, values, nulls, !fresh, 1) ==
			SPI_OK_SELECT && SPI_processed == 1)
		{
			bool		isnull;
			Datum		value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											  &isnull);

			if (!isnull)
			{
				home = DatumGetInt16(value);
				*found = true;
			}
		}
	}
	PG_FINALLY();
	{
		LocalityLookingUpHome = false;
	}
	PG_END_TRY();
	SPI_finish();
	return home;
}

/*
 * AwaitRehomedRow: a forwarded statement reached this region, whose copy of
 * the row names home while the sender's copy names this region.  Either
 * this region moved the row to home (its copy is the newer one), or home
 * moved it here and this region has not applied that yet.  Waits until
 * the replica of home here has caught up with home, then looks again: the
 * row is then either here or really at home.  Costs a round trip to home
 * and only ever happens on a redirect.
 */
static LocalityRegionId
AwaitRehomedRow(ForwardState *state, LocalityRegionId home, bool *found)
{
	const LocalityRegion *region = LocalityFindRegionById(home);

	EState	   *estate = state->css.ss.ps.state;

	if (region == NULL)
		return home;
	LocalityAwaitOwnership(region);

	/*
	 * Under READ COMMITTED the local plan (not started yet) reads with a
	 * snapshot that sees what was applied meanwhile.
	 */
	if (!IsolationUsesXactSnapshot())
	{
		Snapshot	fresh = RegisterSnapshot(GetLatestSnapshot());

		UnregisterSnapshot(estate->es_snapshot);
		estate->es_snapshot = fresh;
	}
	return LookupHome(state, found, true);
}

/*
 * FollowRehomedRow: the local plan of a statement by primary key changed no
 * row: under READ COMMITTED the row may have been rehomed by a transaction
 * it waited for (the local plan carries `region = here`, so it skipped the
 * moved row).  Looks again with a new snapshot and, when the row lives
 * elsewhere now, runs the statement at its new home.  True when it did.
 */
static bool
FollowRehomedRow(ForwardState *state)
{
	EState	   *estate = state->css.ss.ps.state;
	const LocalityRegion *region;
	bool		found;
	LocalityRegionId home;

	/* Not for a plain read: it reads where it decided to, nowhere else. */
	if (state->kind != ROUTE_KEY_LOOKUP || state->pinned_read ||
		estate->es_processed != state->processed_before || IsolationUsesXactSnapshot())
		return false;
	home = LookupHome(state, &found, true);
	if (!found || home == LocalityLocalRegion()->id ||
		(region = LocalityFindRegionById(home)) == NULL)
		return false;
	RunAt(state, estate, region, InvalidLocalityRegionId, false);
	return state->rows != NULL;
}

/*
 * SimpleRead: query returns the matching rows themselves, so the answers of
 * several regions (each with its region qual) add up to the answer.
 */
static bool
SimpleRead(Query *query)
{
	return !query->hasAggs && query->groupClause == NIL && query->groupingSets == NIL &&
		query->havingQual == NULL && !query->hasWindowFuncs && query->distinctClause == NIL &&
		query->limitCount == NULL && query->limitOffset == NULL;
}

/*
 * ProbeRemoteParts: the region, among those this transaction forwarded to,
 * that holds the row of the key (ROUTE_KEY_LOOKUP) homed there, or invalid.
 * One round trip per region; only for a key not found here, in a
 * transaction with several remote parts, read by an aggregate or the like.
 */
static LocalityRegionId
ProbeRemoteParts(ForwardState *state)
{
	StringInfoData sql;
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;
	ListCell   *lc1,
			   *lc2;
	const char *column = get_attname(state->relid, state->region_attno, false);
	int			i = 0;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT 1 FROM ONLY %s WHERE ",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(state->relid)),
												get_rel_name(state->relid)));
	forboth(lc1, state->key_attnos, lc2, state->key_states)
	{
		ExprState  *expr = lfirst(lc2);
		Oid			type = exprType((Node *) expr->expr);
		bool		isnull;
		Datum		value = ExecEvalExpr(expr, econtext, &isnull);
		Oid			out;
		bool		varlena;

		if (isnull)
			return InvalidLocalityRegionId;
		getTypeOutputInfo(type, &out, &varlena);
		appendStringInfo(&sql, "%s%s = %s::%s", i++ > 0 ? " AND " : "",
						 quote_identifier(get_attname(state->relid, intVal(lfirst(lc1)), false)),
						 quote_literal_cstr(OidOutputFunctionCall(out, value)),
						 format_type_be(type));
	}
	foreach(lc1, LocalityForwardedRegions())
	{
		const LocalityRegion *region = LocalityFindRegionById(lfirst_int(lc1));
		char	   *probe;
		PGresult   *res;
		bool		here;

		if (region == NULL)
			continue;
		probe = psprintf("%s AND %s = %s", sql.data, quote_identifier(column),
						 quote_literal_cstr(region->name));
		CheckForwardDepth(region);
		res = LocalityForwardStatement(region, probe, false);
		here = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0;
		PQclear(res);
		if (here)
			return region->id;
	}
	return InvalidLocalityRegionId;
}

/*
 * StartPinnedRead: a plain SELECT pinned to one region's rows (router.c
 * PlanRead) runs in the transaction's remote part at that region when the
 * transaction has forwarded statements there, so it sees their uncommitted
 * effects; otherwise (always, outside such a transaction) the local plan
 * reads the local replica.  A row looked up by primary key and not found
 * here may be one the transaction inserted elsewhere: it is looked for in
 * every remote part, each with its region qual.
 */
static void
StartPinnedRead(ForwardState *state)
{
	EState	   *estate = state->css.ss.ps.state;
	LocalityRegionId local_id;
	LocalityRegionId target = InvalidLocalityRegionId;
	List	   *remote = NIL;
	bool		with_qual = false;

	state->run_local = true;
	if (!LocalityForwardedTo(InvalidLocalityRegionId))
		return;
	local_id = LocalityLocalRegion()->id;
	switch (state->kind)
	{
		case ROUTE_STATIC:
			target = intVal(linitial(state->region_ids));
			break;
		case ROUTE_REGION_EXPR:
			{
				bool		isnull;
				Datum		value = ExecEvalExpr(state->region_state,
												 state->css.ss.ps.ps_ExprContext, &isnull);

				if (!isnull)
					target = DatumGetInt16(value);
			}
			break;
		case ROUTE_KEY_LOOKUP:
			{
				bool		found;
				LocalityRegionId home = LookupHome(state, &found, false);

				if (found)
					target = home;
				else if (list_length(LocalityForwardedRegions()) == 1 || SimpleRead(state->query))
				{
					remote = LocalityForwardedRegions();
					with_qual = true;
				}
				else
				{
					/* Each remote part would answer an aggregate: find the one. */
					target = ProbeRemoteParts(state);
					with_qual = true;
				}
			}
			break;
		default:
			return;
	}
	if (target != InvalidLocalityRegionId && target != local_id && LocalityForwardedTo(target))
		remote = list_make1_int(target);
	if (remote == NIL)
		return;
	state->run_local = false;
	state->read_remote = true;
	if (list_length(remote) > 1)
		RunAtAll(state, estate, remote, with_qual);
	else
	{
		const LocalityRegion *region = LocalityFindRegionById(linitial_int(remote));

		if (region == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("region with id %d does not exist", linitial_int(remote))));
		RunAt(state, estate, region, with_qual ? region->id : InvalidLocalityRegionId, false);
	}
}

/* Decides where the statement runs, and runs the remote parts. */
static void
StartForward(ForwardState *state)
{
	EState	   *estate = state->css.ss.ps.state;
	const LocalityRegion *local = LocalityLocalRegion();
	LocalityRegionId local_id = local->id;
	List	   *remote = NIL;	/* region ids */
	bool		with_qual = false;
	bool		local_too = false;
	ListCell   *lc;

	state->row_slot = MakeSingleTupleTableSlot(state->css.ss.ss_ScanTupleSlot->tts_tupleDescriptor,
											   &TTSOpsVirtual);
	state->out_slot = MakeSingleTupleTableSlot(state->css.ss.ss_ScanTupleSlot->tts_tupleDescriptor,
											   &TTSOpsMinimalTuple);
	if (state->pinned_read)
	{
		StartPinnedRead(state);
		state->run_local = state->run_local && state->local_ps != NULL;
		return;
	}
	switch (state->kind)
	{
		case ROUTE_STATIC:
			foreach(lc, state->region_ids)
			{
				if (intVal(lfirst(lc)) == local_id)
					local_too = true;
				else
					remote = lappend_int(remote, intVal(lfirst(lc)));
			}
			break;
		case ROUTE_REGION_EXPR:
			{
				bool		isnull;
				Datum		value = ExecEvalExpr(state->region_state,
												 state->css.ss.ps.ps_ExprContext, &isnull);

				/* NULL: the local plan raises the not-null violation. */
				if (isnull || DatumGetInt16(value) == local_id)
					local_too = true;
				else
					remote = lappend_int(remote, DatumGetInt16(value));
			}
			break;
		case ROUTE_KEY_LOOKUP:
			{
				bool		found;
				LocalityRegionId home = LookupHome(state, &found, false);

				if (found && home != local_id && LocalityForwardDepth > 0)
					home = AwaitRehomedRow(state, home, &found);
				if (found && home == local_id)
					local_too = true;
				else if (found)
					remote = lappend_int(remote, home);
				else if (LocalityForwardDepth == 0)
				{
					/* Not here yet (or gone): look at every other region. */
					int			count;
					const LocalityRegion *regions = LocalityRegions(&count);
					int			i;

					for (i = 0; i < count; i++)
						if (!regions[i].is_local)
							remote = lappend_int(remote, regions[i].id);
					with_qual = true;
				}
			}
			break;
		case ROUTE_FANOUT:
			{
				int			count;
				const LocalityRegion *regions = LocalityRegions(&count);
				int			i;

				local_too = true;
				if (LocalityForwardDepth == 0)
					for (i = 0; i < count; i++)
						if (!regions[i].is_local)
							remote = lappend_int(remote, regions[i].id);
				with_qual = true;
			}
			break;
		case ROUTE_PER_ROW:
			/* The Row Router under the local plan sends rows home. */
			local_too = true;
			break;
	}

	/* Several regions: all at once. */
	if (list_length(remote) > 1)
	{
		RunAtAll(state, estate, remote, with_qual);
		remote = NIL;
	}
	foreach(lc, remote)
	{
		LocalityRegionId id = lfirst_int(lc);
		const LocalityRegion *region = LocalityFindRegionById(id);

		if (region == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("region with id %d does not exist", id)));
		RunAt(state, estate, region, with_qual ? id : InvalidLocalityRegionId,
			  list_length(remote) == 1 && !local_too && OneShot());
	}
	state->run_local = local_too && state->local_ps != NULL;
	state->processed_before = estate->es_processed;
}

static int
CompareOrdered(const void *a, const void *b)
{
	int64		x = ((const OrderedRow *) a)->ordinal;
	int64		y = ((const OrderedRow *) b)->ordinal;

	return x < y ? -1 : x > y ? 1 : 0;
}

/*
 * GatherPerRow runs a per-row INSERT's local plan (which sends the other
 * rows home) and puts every RETURNING row, local or remote, in input order.
 */
static void
GatherPerRow(ForwardState *state)
{
	EState	   *estate = state->css.ss.ps.state;
	TupleDesc	tupdesc = state->css.ss.ss_ScanTupleSlot->tts_tupleDescriptor;
	MemoryContext old;
	LocalityRoutedRow *remote;
	int			nremote;
	int			size = 64;
	int			i;

	old = MemoryContextSwitchTo(estate->es_query_cxt);
	state->ordered = palloc(sizeof(OrderedRow) * size);
	MemoryContextSwitchTo(old);
	for (;;)
	{
		TupleTableSlot *local = ExecProcNode(state->local_ps);

		if (TupIsNull(local))
			break;
		old = MemoryContextSwitchTo(estate->es_query_cxt);
		if (state->nordered == size)
		{
			size *= 2;
			state->ordered = repalloc(state->ordered, sizeof(OrderedRow) * size);
		}
		state->ordered[state->nordered].ordinal = LocalityRowRouterPosition(state->local_ps);
		state->ordered[state->nordered++].tuple = ExecCopySlotMinimalTuple(local);
		MemoryContextSwitchTo(old);
	}
	remote = LocalityRowRouterReturned(state->local_ps, &nremote);
	old = MemoryContextSwitchTo(estate->es_query_cxt);
	if (state->nordered + nremote > size)
	{
		size = state->nordered + nremote;
		state->ordered = repalloc(state->ordered, sizeof(OrderedRow) * size);
	}
	for (i = 0; i < nremote; i++)
	{
		TupleTableSlot *slot = state->row_slot;
		int			col;

		if (remote[i].nvalues != tupdesc->natts)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("a region returned %d columns, expected %d",
							remote[i].nvalues, tupdesc->natts)));
		ExecClearTuple(slot);
		for (col = 0; col < tupdesc->natts; col++)
		{
			Form_pg_attribute att = TupleDescAttr(tupdesc, col);
			Oid			infunc;
			Oid			ioparam;

			slot->tts_isnull[col] = remote[i].values[col] == NULL;
			slot->tts_values[col] = (Datum) 0;
			if (slot->tts_isnull[col])
				continue;
			getTypeInputInfo(att->atttypid, &infunc, &ioparam);
			slot->tts_values[col] = OidInputFunctionCall(infunc, remote[i].values[col],
														 ioparam, att->atttypmod);
		}
		ExecStoreVirtualTuple(slot);
		state->ordered[state->nordered].ordinal = remote[i].ordinal;
		state->ordered[state->nordered++].tuple = ExecCopySlotMinimalTuple(slot);
	}
	if (state->nordered > 1)
		qsort(state->ordered, state->nordered, sizeof(OrderedRow), CompareOrdered);
	state->targets = LocalityRowRouterRegions(state->local_ps);
	MemoryContextSwitchTo(old);
}

/* One row count of OFFSET or LIMIT: none (NULL or absent) gives dflt. */
static int64
EvalRowCount(ExprState *expr, ExprContext *econtext, int64 dflt, int sqlstate,
			 const char *clause)
{
	bool		isnull;
	Datum		value;
	int64		count;

	if (expr == NULL)
		return dflt;
	value = ExecEvalExprSwitchContext(expr, econtext, &isnull);
	if (isnull)
		return dflt;
	count = DatumGetInt64(value);
	if (count < 0)
		ereport(ERROR,
				(errcode(sqlstate),
				 errmsg("%s must not be negative", clause)));
	return count;
}

/*
 * MergeLimits evaluates the statement's OFFSET and LIMIT, as nodeLimit.c
 * does (NULL: none; negative: an error), before any region runs it.
 */
static void
MergeLimits(ForwardState *state)
{
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;

	state->offset = EvalRowCount(state->offset_state, econtext, 0,
								 ERRCODE_INVALID_ROW_COUNT_IN_RESULT_OFFSET_CLAUSE, "OFFSET");
	state->count = EvalRowCount(state->count_state, econtext, -1,
								ERRCODE_INVALID_ROW_COUNT_IN_LIMIT_CLAUSE, "LIMIT");
}

/* The local plan's next row, its junk (row mark) columns dropped; NULL at the end. */
static TupleTableSlot *
NextLocalRow(ForwardState *state)
{
	TupleTableSlot *local = ExecProcNode(state->local_ps);
	int			natts = state->css.ss.ss_ScanTupleSlot->tts_tupleDescriptor->natts;

	if (TupIsNull(local))
		return NULL;
	if (local->tts_tupleDescriptor->natts == natts)
		return local;
	slot_getsomeattrs(local, natts);
	ExecClearTuple(state->row_slot);
	memcpy(state->row_slot->tts_values, local->tts_values, sizeof(Datum) * natts);
	memcpy(state->row_slot->tts_isnull, local->tts_isnull, sizeof(bool) * natts);
	return ExecStoreVirtualTuple(state->row_slot);
}

/*
 * GatherMerged: every region's rows (remote ones in state->rows, then the
 * local plan's) sorted by the statement's ORDER BY, or all kept in
 * state->rows when it has none.
 */
static void
GatherMerged(ForwardState *state)
{
	EState	   *estate = state->css.ss.ps.state;
	TupleDesc	tupdesc = state->css.ss.ss_ScanTupleSlot->tts_tupleDescriptor;
	int			nkeys = list_length(state->sort_cols);
	TupleTableSlot *slot;
	MemoryContext old;

	old = MemoryContextSwitchTo(estate->es_query_cxt);
	if (state->rows == NULL)
		state->rows = tuplestore_begin_heap(false, false, work_mem);
	if (nkeys > 0)
	{
		AttrNumber *cols = palloc(sizeof(AttrNumber) * nkeys);
		Oid		   *ops = palloc(sizeof(Oid) * nkeys);
		Oid		   *colls = palloc(sizeof(Oid) * nkeys);
		bool	   *nulls = palloc(sizeof(bool) * nkeys);
		int			i;

		for (i = 0; i < nkeys; i++)
		{
			cols[i] = intVal(list_nth(state->sort_cols, i));
			ops[i] = (Oid) intVal(list_nth(state->sort_ops, i));
			colls[i] = (Oid) intVal(list_nth(state->sort_colls, i));
			nulls[i] = intVal(list_nth(state->sort_nulls, i)) != 0;
		}
		state->sorted = tuplesort_begin_heap(tupdesc, nkeys, cols, ops, colls, nulls,
											 work_mem, NULL, TUPLESORT_NONE);
	}
	MemoryContextSwitchTo(old);
	if (state->sorted != NULL)
		while (tuplestore_gettupleslot(state->rows, true, false, state->out_slot))
			tuplesort_puttupleslot(state->sorted, state->out_slot);
	if (state->run_local)
	{
		while ((slot = NextLocalRow(state)) != NULL)
		{
			if (state->sorted != NULL)
				tuplesort_puttupleslot(state->sorted, slot);
			else
				tuplestore_puttupleslot(state->rows, slot);
		}
		state->run_local = false;
	}
	if (state->sorted != NULL)
		tuplesort_performsort(state->sorted);
}

/* The next merged row after OFFSET, within LIMIT; an empty slot at the end. */
static TupleTableSlot *
NextMerged(ForwardState *state)
{
	for (;;)
	{
		bool		got;

		if (state->count == 0)
			return ExecClearTuple(state->css.ss.ss_ScanTupleSlot);
		if (state->sorted != NULL)
			got = tuplesort_gettupleslot(state->sorted, true, false, state->out_slot, NULL);
		else
			got = tuplestore_gettupleslot(state->rows, true, false, state->out_slot);
		if (!got)
			return ExecClearTuple(state->css.ss.ss_ScanTupleSlot);
		if (state->offset > 0)
		{
			state->offset--;
			continue;
		}
		if (state->count > 0)
			state->count--;
		return state->out_slot;
	}
}

static TupleTableSlot *
ExecForward(CustomScanState *node)
{
	ForwardState *state = (ForwardState *) node;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;

	if (!state->started)
	{
		state->started = true;
		if (state->merge)
			MergeLimits(state);
		StartForward(state);
		if (state->kind == ROUTE_PER_ROW)
		{
			state->run_local = false;
			GatherPerRow(state);
		}
		if (state->merge)
			GatherMerged(state);
	}
	if (state->merge)
		return NextMerged(state);
	if (state->kind == ROUTE_PER_ROW)
	{
		if (state->next_ordered < state->nordered)
			return ExecStoreMinimalTuple(state->ordered[state->next_ordered++].tuple,
										 state->out_slot, false);
		return ExecClearTuple(slot);
	}
	if (state->rows != NULL && tuplestore_gettupleslot(state->rows, true, false, state->out_slot))
		return state->out_slot;
	if (state->run_local)
	{
		TupleTableSlot *local = ExecProcNode(state->local_ps);

		/* A locking SELECT's plan also returns its junk (row mark) columns. */
		if (!TupIsNull(local) &&
			local->tts_tupleDescriptor->natts > slot->tts_tupleDescriptor->natts)
		{
			int			natts = slot->tts_tupleDescriptor->natts;

			slot_getsomeattrs(local, natts);
			ExecClearTuple(state->row_slot);
			memcpy(state->row_slot->tts_values, local->tts_values, sizeof(Datum) * natts);
			memcpy(state->row_slot->tts_isnull, local->tts_isnull, sizeof(bool) * natts);
			return ExecStoreVirtualTuple(state->row_slot);
		}
		if (!TupIsNull(local))
			return local;
		state->run_local = false;
		if (FollowRehomedRow(state) &&
			tuplestore_gettupleslot(state->rows, true, false, state->out_slot))
			return state->out_slot;
	}
	return ExecClearTuple(slot);
}

static void
EndForward(CustomScanState *node)
{
	ForwardState *state = (ForwardState *) node;

	if (state->local_ps != NULL)
		ExecEndNode(state->local_ps);
	if (state->rows != NULL)
		tuplestore_end(state->rows);
	if (state->sorted != NULL)
		tuplesort_end(state->sorted);
	if (state->row_slot != NULL)
		ExecDropSingleTupleTableSlot(state->row_slot);
	if (state->out_slot != NULL)
		ExecDropSingleTupleTableSlot(state->out_slot);
}

static void
ReScanForward(CustomScanState *node)
{
	ForwardState *state = (ForwardState *) node;

	/* A pinned read (a WITH HOLD cursor is rewound at commit) reads again. */
	if (state->pinned_read)
	{
		if (!state->started)
			return;
		if (state->read_remote)
		{
			if (state->rows != NULL)
				tuplestore_rescan(state->rows);
			return;
		}
		if (state->local_ps != NULL)
		{
			ExecReScan(state->local_ps);
			state->run_local = true;
		}
		return;
	}
	elog(ERROR, "pg_locality: a forwarded statement cannot be rescanned");
}

/*
 * ExplainPinnedRead: where a pinned read goes, and the SQL it sends there
 * when the transaction has forwarded statements to that region.
 */
static void
ExplainPinnedRead(ForwardState *state, ExplainState *es)
{
	const char *target;
	ListCell   *lc;
	StringInfoData names;

	switch (state->kind)
	{
		case ROUTE_STATIC:
			{
				const LocalityRegion *region =
					LocalityFindRegionById(intVal(linitial(state->region_ids)));

				target = region ? region->name : "?";
			}
			break;
		case ROUTE_REGION_EXPR:
			target = "region of the qual (at run time)";
			break;
		default:
			target = "home of the row (looked up by primary key at run time)";
			break;
	}
	ExplainPropertyText("Target Region",
						psprintf("%s, in this transaction's remote part there once it has "
								 "forwarded writes there; else this region's replica", target),
						es);
	ExplainPropertyText("Remote SQL",
						DeparseFor(state, state->css.ss.ps.state, InvalidLocalityRegionId), es);
	if (es->analyze && state->started)
	{
		initStringInfo(&names);
		foreach(lc, state->targets)
			appendStringInfo(&names, "%s%s", names.len > 0 ? ", " : "", (char *) lfirst(lc));
		ExplainPropertyText("Regions Reached", names.len > 0 ? names.data : "none", es);
		if (es->timing)
			ExplainPropertyFloat("Remote Time", "ms", state->remote_ms, 3, es);
	}
}

/* EXPLAIN: Target Region(s) and Remote SQL, and the remote time. */
static void
ExplainForward(CustomScanState *node, List *ancestors, ExplainState *es)
{
	ForwardState *state = (ForwardState *) node;
	const char *target;
	StringInfoData names;
	ListCell   *lc;

	if (state->pinned_read)
	{
		ExplainPinnedRead(state, es);
		return;
	}
	switch (state->kind)
	{
		case ROUTE_STATIC:
			initStringInfo(&names);
			foreach(lc, state->region_ids)
			{
				const LocalityRegion *region = LocalityFindRegionById(intVal(lfirst(lc)));

				appendStringInfo(&names, "%s%s", names.len > 0 ? ", " : "",
								 region ? region->name : "?");
			}
			target = names.data;
			break;
		case ROUTE_REGION_EXPR:
			target = state->query->commandType == CMD_INSERT ?
				"region of the inserted row (at run time)" : "region of the qual (at run time)";
			break;
		case ROUTE_KEY_LOOKUP:
			target = "home of the row (looked up by primary key at run time)";
			break;
		case ROUTE_PER_ROW:
			target = "home of each row (at run time)";
			break;
		default:
			target = "every region";
			/* A locking read names them: each locks the rows it homes. */
			if (state->query->commandType == CMD_SELECT)
			{
				int			count;
				const LocalityRegion *regions = LocalityRegions(&count);
				int			i;

				initStringInfo(&names);
				for (i = 0; i < count; i++)
					appendStringInfo(&names, "%s%s", i > 0 ? ", " : "", regions[i].name);
				target = psprintf("every region (%s)", names.data);
			}
			break;
	}
	ExplainPropertyText("Target Region", target, es);
	if (state->kind == ROUTE_FANOUT || state->kind == ROUTE_KEY_LOOKUP)
	{
		/* Show the statement a region gets, for one region. */
		ExplainPropertyText("Remote SQL",
							DeparseFor(state, node->ss.ps.state, InvalidLocalityRegionId), es);
		if (state->kind == ROUTE_FANOUT)
			ExplainPropertyText("Remote Qual",
								psprintf("%s = <each region>",
										 quote_identifier(get_attname(state->relid,
																	  state->region_attno,
																	  false))), es);
		if (state->merge)
			ExplainPropertyText("Merged Here",
								psprintf("%s%s%s",
										 state->sort_cols != NIL ? "ORDER BY" : "",
										 state->offset_state != NULL ?
										 (state->sort_cols != NIL ? ", OFFSET" : "OFFSET") : "",
										 state->count_state != NULL ?
										 (state->sort_cols != NIL || state->offset_state != NULL ?
										  ", LIMIT" : "LIMIT") : ""), es);
	}
	else if (state->kind == ROUTE_PER_ROW)
		ExplainPropertyText("Remote SQL (per row)",
							LocalityPerRowSql(state->query,
											  node->ss.ps.state->es_param_list_info), es);
	else
		ExplainPropertyText("Remote SQL",
							DeparseFor(state, node->ss.ps.state, InvalidLocalityRegionId), es);
	if (state->nfolded > 0)
		ExplainPropertyInteger("Evaluated Here", NULL, state->nfolded, es);
	if (es->analyze && state->started)
	{
		initStringInfo(&names);
		foreach(lc, state->targets)
			appendStringInfo(&names, "%s%s", names.len > 0 ? ", " : "", (char *) lfirst(lc));
		ExplainPropertyText("Regions Reached", names.len > 0 ? names.data : "none", es);
		if (es->timing && state->kind != ROUTE_PER_ROW)
			ExplainPropertyFloat("Remote Time", "ms", state->remote_ms, 3, es);
	}
}

/* Executor nesting, for OneShot. */
static void
ForwardExecutorRun(QueryDesc *queryDesc, ScanDirection direction, uint64 count,
				   bool execute_once)
{
	ExecutorDepth++;
	PG_TRY();
	{
		if (PrevExecutorRun)
			PrevExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		ExecutorDepth--;
	}
	PG_END_TRY();
}

static void
ForwardExecutorFinish(QueryDesc *queryDesc)
{
	ExecutorDepth++;
	PG_TRY();
	{
		if (PrevExecutorFinish)
			PrevExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		ExecutorDepth--;
	}
	PG_END_TRY();
}

int
LocalityExecutorDepth(void)
{
	return ExecutorDepth;
}

/*
 * LocalityInitForward registers the router, read-your-writes, the custom
 * scan, locality.forward_depth and the executor nesting hooks (preloading).
 */
void
LocalityInitForward(void)
{
	LocalityInitRouter();
	LocalityInitReadYourWrites();
	RegisterCustomScanMethods(&ForwardScanMethods);
	LocalityInitForwardRows();
	DefineCustomIntVariable("locality.forward_depth",
							"Set by pg_locality in sessions that run forwarded statements.",
							NULL,
							&LocalityForwardDepth,
							0, 0, 16,
							PGC_USERSET,
							GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);
	PrevExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = ForwardExecutorRun;
	PrevExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = ForwardExecutorFinish;
}
