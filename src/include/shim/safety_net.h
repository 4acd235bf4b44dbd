/*
 * safety_net.h -- the row-level safety net of ARCHITECTURE.md's first
 * invariant (src/shim/safety_net.c): a row of a REGIONAL BY ROW table, or
 * of a REGIONAL BY TABLE table, is only written at its home region (or by
 * replication).  Whatever write reaches the executor here for a row homed
 * elsewhere fails with 55000.
 */
#ifndef LOCALITY_SHIM_SAFETY_NET_H
#define LOCALITY_SHIM_SAFETY_NET_H

#include "postgres.h"

/*
 * GUC locality.route_writes (superuser, default on).  Off: the router
 * leaves writes to regional tables alone, so they run here and the safety
 * net refuses the rows homed elsewhere (tests of the safety net, and a
 * switch for a DBA who distrusts forwarding).  The router must honour it.
 */
extern bool LocalityRouteWrites;

/*
 * LocalitySetHomeGuard installs the safety net's triggers on table relid
 * when kind (a LocalityKind) is REGIONAL BY ROW or REGIONAL BY TABLE, and
 * removes them otherwise.  Idempotent; call whenever a table's locality is
 * written (set_locality on every region, the catalog a joining region
 * receives).
 */
extern void LocalitySetHomeGuard(Oid relid, int kind);

/*
 * LocalityCheckGuardDrop raises 2BP01 when a DROP TRIGGER statement names
 * a safety-net trigger (ddl.c's ProcessUtility hook calls it).
 */
extern void LocalityCheckGuardDrop(Node *dropstmt);

/* Registers locality.route_writes and the cache callback (_PG_init). */
extern void LocalityInitSafetyNet(void);

#endif							/* LOCALITY_SHIM_SAFETY_NET_H */
