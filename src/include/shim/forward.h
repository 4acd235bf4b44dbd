/*
 * forward.h -- routing writes to their home region: the planner hook that
 * decides (src/shim/router.c), the CustomScan that runs a statement at the
 * home primary (src/shim/forward.c), and read-your-writes
 * (src/shim/read_your_writes.c).
 */
#ifndef LOCALITY_SHIM_FORWARD_H
#define LOCALITY_SHIM_FORWARD_H

#include "postgres.h"

#include "access/xlogdefs.h"
#include "libpq-fe.h"
#include "nodes/execnodes.h"
#include "nodes/params.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"

#include "shim/catalog.h"

/* How the forward node finds its target region(s). */
typedef enum LocalityRouteKind
{
	ROUTE_STATIC = 1,			/* regions fixed at plan time */
	ROUTE_REGION_EXPR,			/* region column value known at run time */
	ROUTE_KEY_LOOKUP,			/* primary key: the row's home in the replica */
	ROUTE_FANOUT,				/* every region, each with its region qual */
	ROUTE_PER_ROW				/* INSERT: each row to its home (forward_rows.c) */
} LocalityRouteKind;

/* What the router hands the forward node. */
typedef struct LocalityRoute
{
	LocalityRouteKind kind;
	Oid			relid;
	AttrNumber	region_attno;	/* REGIONAL BY ROW column, else 0 */
	Oid			region_eq_op;	/* = on locality.region */
	List	   *region_ids;		/* ROUTE_STATIC: Integer region ids */
	Query	   *query;			/* the statement to deparse (copy) */
	Node	   *region_expr;	/* ROUTE_REGION_EXPR */
	List	   *key_exprs;		/* ROUTE_KEY_LOOKUP: values of the key columns */
	List	   *key_attnos;		/* ... and their attribute numbers (Integer) */
	Plan	   *local_plan;		/* the local plan, for rows homed here */
	List	   *returning;		/* RETURNING target list (Query's) */
	bool		pinned_read;	/* plain SELECT: remote only in a transaction that
								 * forwarded to the target (else local_plan) */

	/*
	 * A fanned-out locking read with ORDER BY / LIMIT / OFFSET: every region
	 * returns its first limit + offset rows in order; the node merges them
	 * here and applies the statement's own ORDER BY, OFFSET and LIMIT.
	 */
	bool		merge;
	List	   *sort_cols;		/* Integer: output column numbers (1-based) */
	List	   *sort_ops;		/* Integer: sort operators */
	List	   *sort_colls;		/* Integer: collations */
	List	   *sort_nulls;		/* Integer: nulls first */
	Node	   *limit_offset;	/* the statement's OFFSET (NULL: none) */
	Node	   *limit_count;	/* the statement's LIMIT (NULL: none) */
} LocalityRoute;

/* forward.c */
extern Plan *LocalityMakeForwardPlan(LocalityRoute *route);
extern void LocalityInitForward(void);
extern int	LocalityForwardDepth;	/* GUC locality.forward_depth */
extern int	LocalityExecutorDepth(void);

/* forward.c, for forward_rows.c */
extern Query *LocalityReplaceParams(Query *query, ParamListInfo params);
extern char *LocalityOneLine(const char *sql);

/*
 * forward_rows.c: the Row Router under an INSERT's ModifyTable (per-row
 * routing), and what the Forward node above asks it.
 */
typedef struct LocalityRoutedRow
{
	int64		ordinal;		/* input position of the inserted row */
	int			nvalues;
	char	  **values;			/* RETURNING columns as text (NULL: null) */
} LocalityRoutedRow;

extern bool LocalityMakeRowRouter(LocalityRoute *route, Plan *modify);
extern char *LocalityPerRowSql(Query *original, ParamListInfo params);
extern int64 LocalityRowRouterPosition(PlanState *modify);
extern LocalityRoutedRow *LocalityRowRouterReturned(PlanState *modify, int *n);
extern List *LocalityRowRouterRegions(PlanState *modify);
extern void LocalityInitForwardRows(void);

/* copy_route.c: COPY FROM into REGIONAL BY ROW tables routed per row. */
extern void LocalityInitCopyRoute(void);

/* router.c */
extern void LocalityInitRouter(void);

/*
 * router.c: the transaction forwards its first statement to a region, so
 * cached plans of reads planned as purely local are replanned (pinned reads).
 */
extern void LocalityForwardingBegins(void);

/* router.c: a plan starts running (reads planned after a forwarding write). */
extern void LocalityStatementStarts(void);

/* forward.c: true while the forward node looks a row's home up here. */
extern bool LocalityLookingUpHome;

/*
 * dist_xact.c: a forwarded statement inside the caller's transaction at
 * region.  With one_shot (a top-level autocommit statement, nothing else in
 * the transaction), BEGIN, the statement and COMMIT go in one round trip.
 * Returns the statement's result (PQclear it); remote errors are raised.
 */
extern PGresult *LocalityForwardStatement(const LocalityRegion *region, const char *sql,
										  bool one_shot);

/*
 * dist_xact.c: a forwarded statement sent without waiting, so that several
 * regions work at once.  nrows 0: sql once; otherwise sql is prepared once
 * and run for each of nrows rows of nparams text values (values[row *
 * nparams + i], NULL for SQL NULL), all in one round trip.  Collect returns
 * one result per run (PQclear each) and the first remote error in *error
 * (NULL if none), which the caller raises with LocalityForwardRaise once
 * every call it sent has been collected.
 */
typedef struct LocalityForwardCall LocalityForwardCall;
extern LocalityForwardCall *LocalityForwardSend(const LocalityRegion *region, const char *sql,
												int nparams, int nrows,
												const char *const *values);
extern PGresult **LocalityForwardCollect(LocalityForwardCall *call, int *nresults,
										 PGresult **error);
extern void LocalityForwardRaise(LocalityForwardCall *call, PGresult *error) pg_attribute_noreturn();

/*
 * dist_xact.c: the regions the current transaction has forwarded statements
 * to (its remote parts), for reads pinned there (router.c, forward.c).
 */
extern bool LocalityForwardedTo(LocalityRegionId region);
extern List *LocalityForwardedRegions(void);

/* dist_xact.c: GUC locality.synchronous_forward_commit */
extern bool LocalitySynchronousForwardCommit;

/* read_your_writes.c */
extern bool LocalityReadYourWrites;
extern void LocalityNoteRemoteCommit(LocalityRegionId region, XLogRecPtr lsn);
extern void LocalityInitReadYourWrites(void);

#endif							/* LOCALITY_SHIM_FORWARD_H */
