/*
 * shippable.c -- what a statement shipped whole to another region may read,
 * and evaluating here what it may not.
 *
 * The Forward node (forward.c) sends a statement deparsed to the home, which
 * plans it against its own objects.  Managed tables are alike everywhere,
 * built-in functions too, and so (by assumption: the managed tables' types
 * need them) are functions of extensions.  A table that is not managed (or
 * a temporary one) exists only here or holds other rows at the home; a
 * function that is no extension's may be missing there, differ, or read
 * such a table.  A part of the statement that reads one is evaluated here,
 * once, and shipped as a constant, when that gives what running the
 * statement here would: an uncorrelated subquery (PostgreSQL runs it once,
 * as an initplan, anyway; `col IN (SELECT ...)` becomes `col = ANY (the
 * array read here)`) or an expression that refers to no column of the
 * statement's rows and calls no volatile function.  Anything else (a
 * correlated subquery, a join with such a table, a volatile function over
 * the rows) makes the statement unshippable: INSERTs are then routed per
 * row (their source is read here), other statements fail with 0A000.
 *
 * Invariant protected: a forwarded statement gives what it gives locally at
 * the home, reading what this server's statement would read.
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/dependency.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "rewrite/rewriteManip.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/ruleutils.h"

#include "shim.h"
#include "shim/catalog.h"
#include "shim/shippable.h"

/* What the walkers found first: a table that is not managed, or a function. */
typedef struct Offender
{
	Oid			relid;
	Oid			funcid;
} Offender;

typedef enum FoldMode
{
	FOLD_EVALUATE,				/* evaluate here, replace by the value */
	FOLD_NULL,					/* replace by a null constant (checking) */
	FOLD_KEEP					/* leave as it is (EXPLAIN without running) */
} FoldMode;

typedef struct FoldContext
{
	FoldMode	mode;
	int			nfolded;
} FoldContext;

/* True for a built-in function or one that belongs to an extension. */
static bool
FunctionShippable(Oid funcid)
{
	if (funcid < FirstNormalObjectId)
		return true;
	return OidIsValid(getExtensionOfObject(ProcedureRelationId, funcid));
}

static bool
CheckFunction(Oid funcid, void *context)
{
	Offender   *offender = context;

	if (FunctionShippable(funcid))
		return false;
	offender->funcid = funcid;
	return true;
}

/* True when node reads a table that is not managed or calls such a function. */
static bool
FindOffender(Node *node, Offender *offender)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, FindOffender, offender,
								 QTW_EXAMINE_RTES_BEFORE);
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION && !LocalityIsManagedTable(rte->relid))
		{
			offender->relid = rte->relid;
			return true;
		}
		return false;
	}
	if (check_functions_in_node(node, CheckFunction, offender))
		return true;
	return expression_tree_walker(node, FindOffender, offender);
}

static bool
Unshippable(Node *node)
{
	Offender	offender = {InvalidOid, InvalidOid};

	return FindOffender(node, &offender);
}

/*
 * HasPlaceholder: node holds something only meaningful in its place (a
 * CASE's test value, DEFAULT, a planner parameter, an aggregate or window
 * function of the statement itself).
 */
static bool
HasPlaceholder(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, CaseTestExpr) || IsA(node, SetToDefault) || IsA(node, CoerceToDomainValue) ||
		IsA(node, NextValueExpr) ||
		(IsA(node, Param) && ((Param *) node)->paramkind != PARAM_EXTERN))
		return true;
	if (IsA(node, Query))
		return false;			/* a subquery's own */
	return expression_tree_walker(node, HasPlaceholder, context);
}

/* True for the nodes of a target list, join tree and the like: not values. */
static bool
IsStructure(Node *node)
{
	switch (nodeTag(node))
	{
		case T_List:
		case T_IntList:
		case T_OidList:
		case T_TargetEntry:
		case T_FromExpr:
		case T_JoinExpr:
		case T_RangeTblRef:
		case T_CaseWhen:
		case T_OnConflictExpr:
		case T_Query:
			return true;
		default:
			return false;
	}
}

/*
 * EvaluableHere: node (a value of the statement's top level) gives the same
 * when evaluated once here as where it stands.
 */
static bool
EvaluableHere(Node *node)
{
	if (contain_vars_of_level(node, 0) || HasPlaceholder(node, NULL) ||
		contain_aggs_of_level(node, 0) || contain_windowfuncs(node))
		return false;
	if (IsA(node, SubLink))
	{
		SubLinkType type = ((SubLink *) node)->subLinkType;

		/* Uncorrelated: run once (an initplan) wherever it stands. */
		return type == EXPR_SUBLINK || type == EXISTS_SUBLINK || type == ARRAY_SUBLINK ||
			type == ANY_SUBLINK || type == ALL_SUBLINK;
	}
	return !contain_volatile_functions(node);
}

/* Runs `SELECT expr` here; its value as a constant. */
static Const *
EvaluateHere(Expr *expr)
{
	Query	   *query = makeNode(Query);
	Oid			type = exprType((Node *) expr);
	int32		typmod = exprTypmod((Node *) expr);
	Oid			collation = exprCollation((Node *) expr);
	int16		typlen;
	bool		typbyval;
	char	   *sql;
	Datum		value = (Datum) 0;
	bool		isnull = true;

	query->commandType = CMD_SELECT;
	query->querySource = QSRC_ORIGINAL;
	query->canSetTag = true;
	query->jointree = makeFromExpr(NIL, NULL);
	query->targetList = list_make1(makeTargetEntry((Expr *) copyObject(expr), 1,
												   pstrdup("value"), false));
	query->hasSubLinks = checkExprHasSubLink((Node *) expr);
	sql = pg_get_querydef(query, false);
	get_typlenbyval(type, &typlen, &typbyval);

	/* With the statement's snapshot, as its initplan would run. */
	SPI_connect();
	if (SPI_execute(sql, true, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "pg_locality: could not evaluate \"%s\"", sql);
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		value = SPI_datumTransfer(value, typbyval, typlen);
	SPI_finish();
	return makeConst(type, typmod, collation, typlen, value, isnull, typbyval);
}

/*
 * AsArrayComparison: `x op ANY|ALL (SELECT y ...)` as `x op ANY|ALL
 * (ARRAY(SELECT y ...))`, which gives the same (NULLs included) and whose
 * subquery can be evaluated here when x is a column of the rows; NULL when
 * sublink has another shape.
 */
static Node *
AsArrayComparison(SubLink *sublink)
{
	OpExpr	   *op;
	Node	   *right;
	Oid			elemtype;
	Oid			arraytype;
	SubLink    *array;
	ScalarArrayOpExpr *saop;

	if ((sublink->subLinkType != ANY_SUBLINK && sublink->subLinkType != ALL_SUBLINK) ||
		sublink->testexpr == NULL || !IsA(sublink->testexpr, OpExpr))
		return NULL;
	op = (OpExpr *) sublink->testexpr;
	if (list_length(op->args) != 2 || op->opresulttype != BOOLOID || op->opretset)
		return NULL;
	right = lsecond(op->args);
	if (!IsA(right, Param) || ((Param *) right)->paramkind != PARAM_SUBLINK ||
		contain_vars_of_level(right, 0))
		return NULL;
	elemtype = ((Param *) right)->paramtype;
	arraytype = get_array_type(elemtype);
	if (!OidIsValid(arraytype))
		return NULL;
	array = makeNode(SubLink);
	array->subLinkType = ARRAY_SUBLINK;
	array->subLinkId = 0;
	array->testexpr = NULL;
	array->operName = NIL;
	array->subselect = copyObject(sublink->subselect);
	array->location = -1;
	saop = makeNode(ScalarArrayOpExpr);
	saop->opno = op->opno;
	saop->opfuncid = op->opfuncid;
	saop->useOr = sublink->subLinkType == ANY_SUBLINK;
	saop->inputcollid = op->inputcollid;
	saop->args = list_make2(copyObject(linitial(op->args)), array);
	saop->location = -1;
	return (Node *) saop;
}

static Node *
Fold(Node *node, FoldContext *context)
{
	if (node == NULL)
		return NULL;
	/* An identity's next value: DEFAULT, drawn by the home (no privilege needed). */
	if (IsA(node, NextValueExpr))
	{
		SetToDefault *def = makeNode(SetToDefault);

		def->typeId = ((NextValueExpr *) node)->typeId;
		def->typeMod = -1;
		def->collation = InvalidOid;
		def->location = -1;
		return (Node *) def;
	}
	if (IsA(node, Query))
		return node;			/* a subquery's parts are not evaluated alone */
	if (IsA(node, SubLink) && contain_vars_of_level(((SubLink *) node)->testexpr, 0) &&
		Unshippable(node))
	{
		Node	   *rewritten = AsArrayComparison((SubLink *) node);

		if (rewritten != NULL)
			node = rewritten;
	}
	if (!IsStructure(node) && Unshippable(node) && EvaluableHere(node))
	{
		context->nfolded++;
		switch (context->mode)
		{
			case FOLD_EVALUATE:
				return (Node *) EvaluateHere((Expr *) node);
			case FOLD_NULL:
				return (Node *) makeNullConst(exprType(node), exprTypmod(node),
											  exprCollation(node));
			case FOLD_KEEP:
				return node;
		}
	}
	return expression_tree_mutator(node, Fold, context);
}

/* query with its top-level values folded (mode); a copy. */
static Query *
FoldQuery(Query *query, FoldMode mode, int *nfolded)
{
	FoldContext context;
	ListCell   *lc;

	context.mode = mode;
	context.nfolded = 0;
	query = copyObject(query);
	query->targetList = (List *) Fold((Node *) query->targetList, &context);
	query->returningList = (List *) Fold((Node *) query->returningList, &context);
	query->jointree = (FromExpr *) Fold((Node *) query->jointree, &context);
	query->onConflict = (OnConflictExpr *) Fold((Node *) query->onConflict, &context);
	foreach(lc, query->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_VALUES)
			rte->values_lists = (List *) Fold((Node *) rte->values_lists, &context);
	}
	if (nfolded != NULL)
		*nfolded = context.nfolded;
	return query;
}

/*
 * LocalityShippableQuery: see shippable.h.
 */
Query *
LocalityShippableQuery(Query *query, bool evaluate, const char *raise_for, int *nfolded)
{
	Offender	offender = {InvalidOid, InvalidOid};
	Query	   *checked = FoldQuery(query, FOLD_NULL, NULL);

	if (FindOffender((Node *) checked, &offender))
	{
		if (raise_for == NULL)
			return NULL;
		if (OidIsValid(offender.relid))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot forward a write to \"%s\" that reads table \"%s\"",
							raise_for, get_rel_name(offender.relid)),
					 errdetail("The statement runs at the home region, where \"%s\" is not "
							   "managed by pg_locality: it may not exist there or hold other "
							   "rows.", get_rel_name(offender.relid)),
					 errhint("Read \"%s\" in a subquery that does not refer to the rows being "
							 "written (it is then evaluated here), or in a statement of its "
							 "own, or make it a managed table.",
							 get_rel_name(offender.relid))));
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot forward a write to \"%s\" that calls function %s",
						raise_for, format_procedure(offender.funcid)),
				 errdetail("The statement runs at the home region, where a function that "
						   "belongs to no extension may not exist or may differ."),
				 errhint("Call it with arguments that do not refer to the rows being written "
						 "and mark it STABLE or IMMUTABLE (it is then evaluated here), or "
						 "compute the value in a statement of its own.")));
	}
	/* Only checking (the router): the query itself will do. */
	if (!evaluate && nfolded == NULL)
		return query;
	return FoldQuery(query, evaluate ? FOLD_EVALUATE : FOLD_KEEP, nfolded);
}
