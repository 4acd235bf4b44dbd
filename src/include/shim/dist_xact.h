/*
 * dist_xact.h -- distributed transactions across regions for catalog
 * changes and schema changes of managed tables (src/shim/dist_xact.c).
 *
 * Work sent with LocalityPropagate*() runs at once on the remote region,
 * inside a remote transaction opened on first use and tied to the caller's
 * local transaction: at local pre-commit every remote participant is
 * PREPAREd and the decision is recorded in locality.dist_transactions inside
 * the local transaction; after the local commit every participant gets
 * COMMIT PREPARED.  A local abort (or a failure anywhere before the local
 * commit) rolls back every participant.  A participant left prepared by a
 * crash is resolved by LocalityRecoverPreparedTransactions().
 */
#ifndef LOCALITY_SHIM_DIST_XACT_H
#define LOCALITY_SHIM_DIST_XACT_H

#include "postgres.h"

#include "shim/catalog.h"

/*
 * LocalityPropagateToAll: runs sql on every region in the catalog except
 * this one, in the current distributed transaction.  A remote error is
 * raised here with the remote SQLSTATE, message, detail and hint, and a
 * context line naming the region.  Does nothing while
 * LocalityIsRemoteApply() (the statement itself came from another region).
 */
extern void LocalityPropagateToAll(const char *sql);

/* The same for one region (which must not be this server's). */
extern void LocalityPropagateTo(const LocalityRegion *region, const char *sql);

/*
 * True in a session opened by another region to apply propagated work:
 * hooks must apply it locally and never propagate it again (peer_secret.c).
 */
extern bool LocalityIsRemoteApply(void);

/* peer_secret.c: the token of this server's sessions on other regions. */
extern const char *LocalityPeerToken(void);
extern void LocalityEnsurePeerSecret(void);
extern char *LocalityPeerSecretSql(void);
extern void LocalityDefinePeerGucs(void);

/* Registers the transaction callbacks and the locality.remote_apply GUC. */
extern void LocalityInitDistXact(void);

/*
 * Resolves prepared transactions this server coordinated on every region:
 * commit where the decision is recorded, roll back where the coordinator's
 * transaction ended without one.  Returns how many it resolved.
 */
extern int	LocalityRecoverPreparedTransactions(void);

#endif							/* LOCALITY_SHIM_DIST_XACT_H */
