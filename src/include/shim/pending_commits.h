/*
 * pending_commits.h -- forwarded commits whose second phase is in flight
 * (src/shim/pending_commits.c).
 *
 * With locality.synchronous_forward_commit = off (the default), COMMIT of a
 * two-phase transaction returns once the decision is durable here and
 * COMMIT PREPARED is sent to each home, not awaited; the home's commit
 * position is not known yet.  Before COMMIT returns, one entry per home
 * {region, remote xid, gid} goes into shared memory; read-your-writes
 * (read_your_writes.c) makes every later local read of rows homed there wait
 * while an entry that existed when the read started remains, and every
 * later statement forwarded there by any session first waits at the home
 * for the entries' remote xids (LocalityPendingCommitXidArray).  An entry is
 * cleared by the home's apply worker when it applies the commit of that xid
 * (the stream's BEGIN carries it), by the committing backend when it reads
 * the answer (after recording the commit position), or by the resolver once
 * the prepared transaction is gone from the home (after recording the
 * home's position then).
 */
#ifndef LOCALITY_SHIM_PENDING_COMMITS_H
#define LOCALITY_SHIM_PENDING_COMMITS_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "shim/catalog.h"

/*
 * Prefix of the transactional logical message a tracked remote transaction
 * writes before PREPARE, so its commit reaches every replica's stream even
 * without managed changes (decoder.c).
 */
#define LOCALITY_COMMIT_MARK "pg_locality_commit"

/*
 * Records a pending commit of gid (remote transaction xid) at region; false
 * when shared memory is not there or the table is full (then the caller
 * waits for COMMIT PREPARED instead).  Never raises.
 */
extern bool LocalityPendingCommitAdd(LocalityRegionId region, TransactionId xid, const char *gid);

/* Clears the entry of gid at region (its outcome is known here).  Never raises. */
extern void LocalityPendingCommitDone(LocalityRegionId region, const char *gid);

/*
 * The apply worker of region applied the commit of the remote transaction
 * xid: clears its entry.  Never raises.
 */
extern void LocalityPendingCommitApplied(LocalityRegionId region, TransactionId xid);

/*
 * The horizon of a read starting now: entries recorded before it have a
 * smaller sequence number; 0 when there are none at all (nothing to wait for).
 * *seen: whether any entry was ever recorded (since server start).  No lock
 * taken while none ever was.
 */
extern uint64 LocalityPendingCommitHorizon(bool *seen);

/* True while an entry of region recorded before horizon remains. */
extern bool LocalityPendingCommitBefore(LocalityRegionId region, uint64 horizon);

/* The gids (palloc'd strings) of this database's entries at region (resolver). */
extern List *LocalityPendingCommitGids(LocalityRegionId region);

/*
 * True when gid at region was recorded less than max_age_ms ago: its
 * COMMIT PREPARED is on its way, the resolver leaves it alone.
 */
extern bool LocalityPendingCommitInFlight(LocalityRegionId region, const char *gid,
										  int max_age_ms);

/*
 * The remote xids of this database's entries at region as the text of an
 * xid[] ('{1,2}', palloc'd), or NULL when there are none: a forwarded
 * statement to region then first runs locality._wait_for_xacts on them at
 * the home, in the same round trip (dist_xact.c), so it runs after those
 * commits even when another session sent them.  Costs one shared-memory
 * read when no entry exists at all.  Never raises (but on out of memory).
 */
extern char *LocalityPendingCommitXidArray(LocalityRegionId region);

/* Registers the shared memory (while preloading). */
extern void LocalityInitPendingCommits(void);

#endif							/* LOCALITY_SHIM_PENDING_COMMITS_H */
