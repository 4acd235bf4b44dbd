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
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"

#include "shim/catalog.h"

/* How the forward node finds its target region(s). */
typedef enum LocalityRouteKind
{
	ROUTE_STATIC = 1,			/* regions fixed at plan time */
	ROUTE_REGION_EXPR,			/* region column value known at run time */
	ROUTE_KEY_LOOKUP,			/* primary key: the row's home in the replica */
	ROUTE_FANOUT				/* every region, each with its region qual */
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
} LocalityRoute;

/* forward.c */
extern Plan *LocalityMakeForwardPlan(LocalityRoute *route);
extern void LocalityInitForward(void);
extern int	LocalityForwardDepth;	/* GUC locality.forward_depth */
extern int	LocalityExecutorDepth(void);

/* router.c */
extern void LocalityInitRouter(void);

/*
 * dist_xact.c: a forwarded statement inside the caller's transaction at
 * region.  With one_shot (a top-level autocommit statement, nothing else in
 * the transaction), BEGIN, the statement and COMMIT go in one round trip.
 * Returns the statement's result (PQclear it); remote errors are raised.
 */
extern PGresult *LocalityForwardStatement(const LocalityRegion *region, const char *sql,
										  bool one_shot);

/* dist_xact.c: GUC locality.synchronous_forward_commit */
extern bool LocalitySynchronousForwardCommit;

/* read_your_writes.c */
extern bool LocalityReadYourWrites;
extern void LocalityNoteRemoteCommit(LocalityRegionId region, XLogRecPtr lsn);
extern void LocalityInitReadYourWrites(void);

#endif							/* LOCALITY_SHIM_FORWARD_H */
