/*
 * forward_rows.c -- per-row routing of INSERT ... VALUES with rows for
 * several regions and of INSERT ... SELECT into a REGIONAL BY ROW table.
 *
 * The router (router.c) puts the Row Router custom scan between the INSERT's
 * ModifyTable and its source plan, and the Forward node (forward.c) above
 * the ModifyTable.  The source already yields rows in the table's column
 * layout (defaults filled in), so the Row Router reads each row's region
 * column: a row homed here goes up to the ModifyTable (the normal local
 * insert: triggers, constraints, ON CONFLICT, the safety net); any other
 * row joins its home region's batch.  A batch runs at its home as the INSERT
 * prepared once (the row's values as parameters, the statement's ON
 * CONFLICT and RETURNING kept) and executed once per row, pipelined: one
 * round trip per region and batch, every region working at once.  Running
 * each row as its own execution keeps ON CONFLICT and RETURNING exactly
 * per row, and each RETURNING row its input position, so the Forward node
 * returns local and remote rows in input order (SPEC.md section 4).
 *
 * Invariant protected: a regionally homed row is only modified at its home.
 */
#include "postgres.h"

#include "access/table.h"
#include "access/tupdesc.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/builtins.h"
#include "utils/ruleutils.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/forward.h"
#include "shim/shippable.h"
#include "shim/remote.h"

/* Rows per region sent in one pipeline (one round trip). */
#define ROW_BATCH 1000

/* One region's rows waiting to be sent, and the batch in flight. */
typedef struct RegionBatch
{
	LocalityRegionId id;
	char		name[LOCALITY_REGION_NAME_MAX + 1];
	MemoryContext cxt;			/* the queued rows' values */
	int			nrows;
	char	  **values;			/* nrows * nparams */
	int64	   *ordinals;		/* input positions of the queued rows */
	LocalityForwardCall *call;	/* in flight, or NULL */
	int			call_rows;
	int64	   *call_ordinals;
	int64		forwarded;		/* rows sent so far (EXPLAIN ANALYZE) */
} RegionBatch;

typedef struct RowRouterState
{
	CustomScanState css;
	Oid			relid;
	AttrNumber	region_attno;	/* 0: a REGIONAL BY TABLE table ... */
	LocalityRegionId home;		/* ... whose rows all go to home */
	ExprState  *region_gen;		/* a generated region column's expression */
	Query	   *query;
	char	   *sql;			/* the per-row statement */
	int			nparams;
	AttrNumber *attnos;			/* source column of each parameter */
	FmgrInfo   *out;			/* their output functions */
	RegionBatch *batches;
	int			nbatches;
	int64		next_ordinal;
	int64		current;		/* input position of the row last passed up */
	int64		local_rows;
	bool		done;
	LocalityRoutedRow *remote;	/* RETURNING rows of remote rows */
	int			nremote;
	int			remote_size;
} RowRouterState;

static Node *CreateRowRouterState(CustomScan *cscan);
static void BeginRowRouter(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *ExecRowRouter(CustomScanState *node);
static void EndRowRouter(CustomScanState *node);
static void ReScanRowRouter(CustomScanState *node);
static void ExplainRowRouter(CustomScanState *node, List *ancestors, ExplainState *es);

static CustomScanMethods RowRouterScanMethods = {
	"LocalityRowRouter",
	CreateRowRouterState
};

static CustomExecMethods RowRouterExecMethods = {
	.CustomName = "LocalityRowRouter",
	.BeginCustomScan = BeginRowRouter,
	.ExecCustomScan = ExecRowRouter,
	.EndCustomScan = EndRowRouter,
	.ReScanCustomScan = ReScanRowRouter,
	.ExplainCustomScan = ExplainRowRouter
};

/*
 * PerRowQuery: the statement each remote row runs, the INSERT with
 * the row's columns as parameters $1..$n and nothing to read, as a Query
 * (external parameters of the original replaced by their values).  *attnos
 * gets the column of each parameter.
 */
static Query *
PerRowQuery(Query *original, ParamListInfo params, List **attnos)
{
	Query	   *query = LocalityReplaceParams((Query *) copyObject(original), params);
	Relation	rel;
	bool		identity_always = false;
	ListCell   *lc;
	int			n = 0;

	*attnos = NIL;
	rel = table_open(rt_fetch(query->resultRelation, query->rtable)->relid, NoLock);
	foreach(lc, query->targetList)
	{
		TargetEntry *tle = lfirst(lc);
		Param	   *param;

		if (tle->resjunk)
			continue;
		param = makeNode(Param);
		param->paramkind = PARAM_EXTERN;
		param->paramid = ++n;
		param->paramtype = exprType((Node *) tle->expr);
		param->paramtypmod = exprTypmod((Node *) tle->expr);
		param->paramcollid = exprCollation((Node *) tle->expr);
		param->location = -1;
		tle->expr = (Expr *) param;
		*attnos = lappend_int(*attnos, tle->resno);
		if (TupleDescAttr(RelationGetDescr(rel), tle->resno - 1)->attidentity ==
			ATTRIBUTE_IDENTITY_ALWAYS)
			identity_always = true;
	}
	table_close(rel, NoLock);
	/* The values were computed here (an identity's too): nothing left to read. */
	if (identity_always)
		query->override = OVERRIDING_SYSTEM_VALUE;
	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_SUBQUERY || rte->rtekind == RTE_VALUES)
		{
			rte->rtekind = RTE_RESULT;
			rte->subquery = NULL;
			rte->values_lists = NIL;
		}
	}
	query->jointree->fromlist = NIL;
	query->jointree->quals = NULL;
	query->cteList = NIL;
	return query;
}

/* LocalityPerRowSql: the remote statement of a per-row INSERT, one line. */
char *
LocalityPerRowSql(Query *original, ParamListInfo params)
{
	List	   *attnos;
	Query	   *query = PerRowQuery(original, params, &attnos);

	query = LocalityShippableQuery(query, false,
								   get_rel_name(rt_fetch(query->resultRelation,
														 query->rtable)->relid), NULL);
	return LocalityOneLine(pg_get_querydef(query, false));
}

/*
 * LocalityMakeRowRouter puts the Row Router between the INSERT's
 * ModifyTable (modify) and its source plan.  False when the plan is not
 * the shape it expects (the statement then runs locally, under the net).
 */
bool
LocalityMakeRowRouter(LocalityRoute *route, Plan *modify)
{
	CustomScan *cscan;
	Plan	   *source;
	List	   *tlist = NIL;
	List	   *scan_tlist = NIL;
	ListCell   *lc;

	if (!IsA(modify, ModifyTable) || outerPlan(modify) == NULL)
		return false;
	source = outerPlan(modify);
	foreach(lc, source->targetlist)
	{
		TargetEntry *tle = lfirst(lc);
		Node	   *expr = (Node *) tle->expr;

		scan_tlist = lappend(scan_tlist,
							 makeTargetEntry((Expr *) makeVarFromTargetEntry(OUTER_VAR, tle),
											 tle->resno, tle->resname, tle->resjunk));
		/*
		 * A dropped or generated column's NULL stays a constant: the
		 * ModifyTable checks that it is one (ExecCheckPlanOutput).
		 */
		if (IsA(expr, Const) && ((Const *) expr)->constisnull)
		{
			tlist = lappend(tlist, makeTargetEntry((Expr *) copyObject(expr), tle->resno,
												   tle->resname, tle->resjunk));
			continue;
		}
		tlist = lappend(tlist,
						makeTargetEntry((Expr *) makeVar(INDEX_VAR, tle->resno, exprType(expr),
														 exprTypmod(expr), exprCollation(expr),
														 0),
										tle->resno, tle->resname, tle->resjunk));
	}
	cscan = makeNode(CustomScan);
	cscan->scan.plan.targetlist = tlist;
	cscan->scan.plan.startup_cost = source->startup_cost;
	cscan->scan.plan.total_cost = source->total_cost;
	cscan->scan.plan.plan_rows = source->plan_rows;
	cscan->scan.plan.plan_width = source->plan_width;
	cscan->scan.plan.lefttree = source;
	cscan->scan.scanrelid = 0;
	cscan->custom_scan_tlist = scan_tlist;
	cscan->methods = &RowRouterScanMethods;
	/* A REGIONAL BY TABLE table (no region column): every row to its home. */
	cscan->custom_private = list_make4(makeInteger((int) route->relid),
									   makeInteger(route->region_attno),
									   route->query,
									   makeInteger(route->region_attno == InvalidAttrNumber &&
												   route->region_ids != NIL ?
												   intVal(linitial(route->region_ids)) :
												   InvalidLocalityRegionId));
	outerPlan(modify) = (Plan *) cscan;
	return true;
}

static Node *
CreateRowRouterState(CustomScan *cscan)
{
	RowRouterState *state = (RowRouterState *) newNode(sizeof(RowRouterState),
													   T_CustomScanState);

	state->css.methods = &RowRouterExecMethods;
	state->relid = (Oid) intVal(linitial(cscan->custom_private));
	state->region_attno = intVal(lsecond(cscan->custom_private));
	state->query = lthird(cscan->custom_private);
	state->home = intVal(lfourth(cscan->custom_private));
	return (Node *) state;
}

static void
BeginRowRouter(CustomScanState *node, EState *estate, int eflags)
{
	RowRouterState *state = (RowRouterState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	List	   *attnos;
	ListCell   *lc;
	int			i = 0;
	int			count;
	const LocalityRegion *regions;

	outerPlanState(node) = ExecInitNode(outerPlan(cscan), estate, eflags);
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	if (state->region_attno != InvalidAttrNumber &&
		get_attgenerated(state->relid, state->region_attno))
	{
		Relation	rel = table_open(state->relid, NoLock);
		Expr	   *expr = (Expr *) build_column_default(rel, state->region_attno);

		table_close(rel, NoLock);
		if (expr == NULL)
			elog(ERROR, "pg_locality: no generation expression for the region column of %u",
				 state->relid);
		state->region_gen = ExecPrepareExpr(expr, estate);
	}
	/* What the statement reads here besides its rows is evaluated here. */
	state->sql = LocalityOneLine(pg_get_querydef(LocalityShippableQuery(PerRowQuery(state->query,
																				  estate->es_param_list_info,
																				  &attnos),
																	  true,
																	  get_rel_name(state->relid),
																	  NULL), false));
	state->nparams = list_length(attnos);
	state->attnos = palloc(sizeof(AttrNumber) * Max(state->nparams, 1));
	state->out = palloc(sizeof(FmgrInfo) * Max(state->nparams, 1));
	foreach(lc, attnos)
	{
		AttrNumber	attno = lfirst_int(lc);
		Oid			typoutput;
		bool		isvarlena;
		Form_pg_attribute att = TupleDescAttr(node->ss.ss_ScanTupleSlot->tts_tupleDescriptor,
											  attno - 1);

		state->attnos[i] = attno;
		getTypeOutputInfo(att->atttypid, &typoutput, &isvarlena);
		fmgr_info(typoutput, &state->out[i]);
		i++;
	}
	regions = LocalityRegions(&count);
	state->batches = palloc0(sizeof(RegionBatch) * count);
	for (i = 0; i < count; i++)
	{
		RegionBatch *batch = &state->batches[state->nbatches];

		if (regions[i].is_local)
			continue;
		batch->id = regions[i].id;
		strlcpy(batch->name, regions[i].name, sizeof(batch->name));
		batch->cxt = AllocSetContextCreate(estate->es_query_cxt, "pg_locality row batch",
										   ALLOCSET_DEFAULT_SIZES);
		batch->values = palloc(sizeof(char *) * ROW_BATCH * Max(state->nparams, 1));
		batch->ordinals = palloc(sizeof(int64) * ROW_BATCH);
		batch->call_ordinals = palloc(sizeof(int64) * ROW_BATCH);
		state->nbatches++;
	}
}

/* Keeps the RETURNING row of res (one remote row's answer) with its position. */
static void
KeepReturned(RowRouterState *state, PGresult *res, int64 ordinal)
{
	MemoryContext old = MemoryContextSwitchTo(state->css.ss.ps.state->es_query_cxt);
	int			row;

	for (row = 0; row < PQntuples(res); row++)
	{
		LocalityRoutedRow *out;
		int			col;

		if (state->nremote == state->remote_size)
		{
			state->remote_size = Max(64, state->remote_size * 2);
			state->remote = state->remote == NULL ?
				palloc(sizeof(LocalityRoutedRow) * state->remote_size) :
				repalloc(state->remote, sizeof(LocalityRoutedRow) * state->remote_size);
		}
		out = &state->remote[state->nremote++];
		out->ordinal = ordinal;
		out->values = palloc(sizeof(char *) * Max(PQnfields(res), 1));
		out->nvalues = PQnfields(res);
		for (col = 0; col < PQnfields(res); col++)
			out->values[col] = PQgetisnull(res, row, col) ? NULL :
				pstrdup(PQgetvalue(res, row, col));
	}
	MemoryContextSwitchTo(old);
}

/*
 * Collect waits for batch's call in flight and keeps its count and rows;
 * the first remote error is left in *error (raised by the caller once every
 * region is collected) or raised at once when error is NULL.
 */
static void
Collect(RowRouterState *state, RegionBatch *batch, PGresult **error)
{
	EState	   *estate = state->css.ss.ps.state;
	LocalityForwardCall *call = batch->call;
	PGresult  **results;
	PGresult   *failed;
	int			n;
	int			i;

	if (call == NULL)
		return;
	batch->call = NULL;
	results = LocalityForwardCollect(call, &n, &failed);
	for (i = 0; i < n; i++)
	{
		PGresult   *res = results[i];

		if (res == NULL)
			continue;
		if (failed == NULL && PQcmdTuples(res)[0] != '\0')
			estate->es_processed += strtoul(PQcmdTuples(res), NULL, 10);
		if (failed == NULL && PQresultStatus(res) == PGRES_TUPLES_OK && i < batch->call_rows)
			KeepReturned(state, res, batch->call_ordinals[i]);
		PQclear(res);
	}
	if (failed != NULL)
	{
		if (error == NULL)
			LocalityForwardRaise(call, failed);
		if (*error == NULL)
		{
			*error = failed;
			return;
		}
		PQclear(failed);
	}
}

/* Sends batch's queued rows (after collecting its previous call). */
static void
Send(RowRouterState *state, RegionBatch *batch)
{
	const LocalityRegion *region;

	if (batch->nrows == 0)
		return;
	Collect(state, batch, NULL);
	region = LocalityFindRegionById(batch->id);
	if (region == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("region \"%s\" does not exist", batch->name)));
	batch->call = LocalityForwardSend(region, state->sql, state->nparams, batch->nrows,
									  (const char *const *) batch->values);
	memcpy(batch->call_ordinals, batch->ordinals, sizeof(int64) * batch->nrows);
	batch->call_rows = batch->nrows;
	batch->forwarded += batch->nrows;
	batch->nrows = 0;
	MemoryContextReset(batch->cxt);
}

/* Queues slot's row (at input position ordinal) for region id. */
static void
Queue(RowRouterState *state, TupleTableSlot *slot, LocalityRegionId id, int64 ordinal)
{
	RegionBatch *batch = NULL;
	MemoryContext old;
	int			i;

	for (i = 0; i < state->nbatches; i++)
		if (state->batches[i].id == id)
			batch = &state->batches[i];
	Assert(batch != NULL);
	old = MemoryContextSwitchTo(batch->cxt);
	for (i = 0; i < state->nparams; i++)
	{
		AttrNumber	attno = state->attnos[i];

		batch->values[batch->nrows * state->nparams + i] = slot->tts_isnull[attno - 1] ? NULL :
			OutputFunctionCall(&state->out[i], slot->tts_values[attno - 1]);
	}
	MemoryContextSwitchTo(old);
	batch->ordinals[batch->nrows++] = ordinal;
	if (batch->nrows == ROW_BATCH)
		Send(state, batch);
}

/* At the end of the input: sends every region's rest, then collects all. */
static void
Finish(RowRouterState *state)
{
	PGresult   *error = NULL;
	LocalityForwardCall *failed_call = NULL;
	const LocalityRegion **regions = palloc(sizeof(LocalityRegion *) * Max(state->nbatches, 1));
	int			nregions = 0;
	int			i;

	/* A new session opens its connections to all those regions at once. */
	for (i = 0; i < state->nbatches; i++)
	{
		const LocalityRegion *region = state->batches[i].nrows > 0 ?
			LocalityFindRegionById(state->batches[i].id) : NULL;

		if (region != NULL)
			regions[nregions++] = region;
	}
	LocalityRemoteConnectAll(regions, nregions);
	for (i = 0; i < state->nbatches; i++)
		Send(state, &state->batches[i]);
	for (i = 0; i < state->nbatches; i++)
	{
		LocalityForwardCall *call = state->batches[i].call;
		PGresult   *before = error;

		Collect(state, &state->batches[i], &error);
		if (before == NULL && error != NULL)
			failed_call = call;
	}
	if (error != NULL)
		LocalityForwardRaise(failed_call, error);
}

static TupleTableSlot *
ExecRowRouter(CustomScanState *node)
{
	RowRouterState *state = (RowRouterState *) node;
	LocalityRegionId local_id = LocalityLocalRegion()->id;

	while (!state->done)
	{
		TupleTableSlot *slot = ExecProcNode(outerPlanState(node));
		int64		ordinal;
		bool		isnull;
		Datum		value;
		int			i;
		bool		remote = false;

		if (TupIsNull(slot))
		{
			state->done = true;
			Finish(state);
			break;
		}
		ordinal = state->next_ordinal++;
		if (state->region_attno == InvalidAttrNumber)
		{
			value = Int16GetDatum(state->home);
			isnull = false;
		}
		else if (state->region_gen != NULL)
		{
			/* As the insert will compute it (ExecComputeStoredGenerated). */
			ExprContext *econtext = GetPerTupleExprContext(node->ss.ps.state);

			slot_getallattrs(slot);
			econtext->ecxt_scantuple = slot;
			value = ExecEvalExprSwitchContext(state->region_gen, econtext, &isnull);
		}
		else
			value = slot_getattr(slot, state->region_attno, &isnull);
		/* NULL: the local insert raises the not-null violation. */
		if (!isnull && DatumGetInt16(value) != local_id)
		{
			for (i = 0; i < state->nbatches; i++)
				if (state->batches[i].id == DatumGetInt16(value))
					remote = true;
		}
		if (!remote)
		{
			/* Here, or a region that no longer exists: the net judges it. */
			state->current = ordinal;
			state->local_rows++;
			return slot;
		}
		slot_getallattrs(slot);
		Queue(state, slot, DatumGetInt16(value), ordinal);
	}
	return NULL;
}

static void
EndRowRouter(CustomScanState *node)
{
	ExecEndNode(outerPlanState(node));
}

static void
ReScanRowRouter(CustomScanState *node)
{
	elog(ERROR, "pg_locality: a routed INSERT cannot be rescanned");
}

static void
ExplainRowRouter(CustomScanState *node, List *ancestors, ExplainState *es)
{
	RowRouterState *state = (RowRouterState *) node;

	if (state->region_attno == InvalidAttrNumber)
	{
		const LocalityRegion *home = LocalityFindRegionById(state->home);

		ExplainPropertyText("Home Region", home ? home->name : "?", es);
	}
	else
		ExplainPropertyText("Region Column",
							quote_identifier(get_attname(state->relid, state->region_attno,
														 false)),
							es);
	if (es->analyze && state->batches != NULL)
	{
		StringInfoData names;
		int			i;

		initStringInfo(&names);
		for (i = 0; i < state->nbatches; i++)
			if (state->batches[i].forwarded > 0)
				appendStringInfo(&names, "%s%s " INT64_FORMAT, names.len > 0 ? ", " : "",
								 state->batches[i].name, state->batches[i].forwarded);
		ExplainPropertyInteger("Rows Here", NULL, state->local_rows, es);
		ExplainPropertyText("Rows Forwarded", names.len > 0 ? names.data : "none", es);
	}
}

/* The Row Router under modify (the ModifyTable's state), or NULL. */
static RowRouterState *
FindRowRouter(PlanState *modify)
{
	PlanState  *child = modify ? outerPlanState(modify) : NULL;

	if (child == NULL || !IsA(child, CustomScanState) ||
		((CustomScanState *) child)->methods != &RowRouterExecMethods)
		return NULL;
	return (RowRouterState *) child;
}

/* LocalityRowRouterPosition: input position of the row last inserted here. */
int64
LocalityRowRouterPosition(PlanState *modify)
{
	RowRouterState *state = FindRowRouter(modify);

	return state ? state->current : 0;
}

/* LocalityRowRouterReturned: RETURNING rows of the rows inserted elsewhere. */
LocalityRoutedRow *
LocalityRowRouterReturned(PlanState *modify, int *n)
{
	RowRouterState *state = FindRowRouter(modify);

	*n = state ? state->nremote : 0;
	return state ? state->remote : NULL;
}

/* LocalityRowRouterRegions: names of the regions rows were sent to. */
List *
LocalityRowRouterRegions(PlanState *modify)
{
	RowRouterState *state = FindRowRouter(modify);
	List	   *names = NIL;
	int			i;

	for (i = 0; state != NULL && i < state->nbatches; i++)
		if (state->batches[i].forwarded > 0)
			names = lappend(names, pstrdup(state->batches[i].name));
	return names;
}

void
LocalityInitForwardRows(void)
{
	RegisterCustomScanMethods(&RowRouterScanMethods);
	LocalityInitCopyRoute();
}
