/*
 * remote.h -- libpq connections from a backend to other regions' primaries
 * (src/shim/remote.c).
 *
 * One connection per (region, role) per backend, cached.  Connect, send and
 * receive are non-blocking and wait on the latch, so query cancel and
 * backend termination work, and each call is bounded by
 * locality.forward_timeout.  The remote session runs as the current role.
 */
#ifndef LOCALITY_SHIM_REMOTE_H
#define LOCALITY_SHIM_REMOTE_H

#include "postgres.h"

#include "libpq-fe.h"
#include "shim/catalog.h"

/* Timeout of one remote call in ms (GUC locality.forward_timeout). */
extern int	LocalityForwardTimeoutMs;

/*
 * LocalityRemoteConnection: the cached connection to region as the current
 * role, connecting when there is none (08006 `region "x" is unavailable`
 * when it cannot).
 */
extern PGconn *LocalityRemoteConnection(const LocalityRegion *region);

/*
 * LocalityRemoteConnectAll: makes sure the current role has a cached
 * connection to each of regions[0..n), opening the missing ones at the same
 * time (a statement at several regions); raises the first failure as
 * LocalityRemoteConnection would, once every region has answered.
 */
extern void LocalityRemoteConnectAll(const LocalityRegion *const *regions, int n);

/*
 * LocalityConnectTo: a new, uncached connection to conninfo as the current
 * role (add_region uses it before the region is in the catalog).  Close it
 * with PQfinish.  label names the target in errors.
 */
extern PGconn *LocalityConnectTo(const char *conninfo, const char *label);

/* A logical replication connection (replication=database) to conninfo as user. */
extern PGconn *LocalityConnectReplication(const char *conninfo, const char *label,
										  const char *user);

/*
 * LocalityRemoteExec: runs sql on conn and returns its result (PQclear it),
 * or raises the remote error with its SQLSTATE, message, detail and hint,
 * and a context line `on region "x"`.
 */
extern PGresult *LocalityRemoteExec(PGconn *conn, const char *sql, const char *label);

/* The same with text parameters $1..$n. */
extern PGresult *LocalityRemoteExecParams(PGconn *conn, const char *sql, int nparams,
										  const char *const *params, const char *label);

/*
 * LocalityRemoteTryCommand: runs sql without raising and without processing
 * interrupts, for commit and abort paths; false (and a WARNING when warn) on
 * failure.
 */
extern bool LocalityRemoteTryCommand(PGconn *conn, const char *sql, const char *label,
									 bool warn);

/*
 * LocalityRemoteExecMulti: sends sql (several statements: one round trip)
 * and returns every result (PQclear each), raising only when the region
 * cannot be reached; LocalityRemoteRaise raises one result's remote error.
 */
extern PGresult **LocalityRemoteExecMulti(PGconn *conn, const char *sql, const char *label,
										  int *nresults);
extern void LocalityRemoteRaise(PGresult *res, PGconn *conn, const char *label) pg_attribute_noreturn();

/* The same, returning the last result (or NULL when unreachable). */
extern PGresult *LocalityRemoteTryExec(PGconn *conn, const char *sql, const char *label);

/* Each statement its own transaction, one round trip; never raises. */
extern bool LocalityRemoteTryPipeline(PGconn *conn, int n, const char *const *sqls,
									  PGresult **results, const char *label);

/*
 * Its two halves: sent without waiting, then the answers read (results[i]
 * as above); never raise; false when the region could not be reached (the
 * caller then drops the connection).  Several regions' commits at once.
 */
extern bool LocalityRemoteTryPipelineSend(PGconn *conn, int n, const char *const *sqls,
										  const char *label);
extern bool LocalityRemoteTryPipelineCollect(PGconn *conn, int n, PGresult **results,
											 const char *label);

/*
 * LocalityRemoteCommitAsync: COMMIT PREPARED 'gid' (and a read of the
 * commit position) sent on conn without waiting; the answer goes to
 * LocalityRemotePendingDone (dist_xact.c; NULL results when it failed).
 * The connection stays the region's: anything else run on it reads that
 * answer first (so it also runs after the commit there), except a pipeline
 * (LocalityRemotePipelineSend), which is sent behind the commit at once and
 * whose collect reads the answer first.  LocalityRemoteCommitPending: conn
 * still owes such an answer.  LocalityRemotePollCommits reads the answers
 * that have arrived, without waiting.
 */
extern bool LocalityRemoteCommitAsync(PGconn *conn, const char *gid, const char *label);
extern bool LocalityRemoteCommitPending(PGconn *conn);
extern void LocalityRemotePollCommits(void);
extern void LocalityRemotePendingDone(LocalityRegionId region_id, const char *region,
									  const char *gid, PGresult *commit, PGresult *lsn);

/*
 * LocalityRemoteForwardConnection: LocalityRemoteConnection without waiting
 * for a commit's answer still in flight (forwarded statements pipeline
 * behind it).
 */
extern PGconn *LocalityRemoteForwardConnection(const LocalityRegion *region);

/* Runs sql and discards the result (errors as above). */
extern void LocalityRemoteCommand(PGconn *conn, const char *sql, const char *label);

/* True until conn is closed by LocalityRemoteForget (then it is freed). */
extern bool LocalityRemoteIsOpen(PGconn *conn);

/*
 * Drops a cached connection that failed (broken or in an unknown state) and
 * closes it; an uncached one (LocalityConnectTo) stays for its caller to close.
 */
extern void LocalityRemoteForget(PGconn *conn);

/*
 * One statement of a pipeline (LocalityRemotePipelineSend): sql with nparams
 * text parameters; prepare: parse sql as the unnamed prepared statement;
 * sql NULL: execute the unnamed prepared statement with params.
 */
typedef struct LocalityPipelineStep
{
	const char *sql;
	bool		prepare;
	int			nparams;
	const char *const *params;
	bool		sync;			/* a sync after it: the next step starts a new transaction */
} LocalityPipelineStep;

/*
 * LocalityRemotePipelineSend sends every step and a sync on conn in libpq
 * pipeline mode, without waiting for any answer (one round trip when
 * collected), so several regions can work at once.  Raises 08006 when the
 * region cannot be reached (the connection is dropped).
 * LocalityRemotePipelineCollect then waits for the answers: results[i] is
 * step i's last result (PGRES_PIPELINE_ABORTED after an earlier error);
 * remote SQL errors are left to the caller, unreachability raises 08006.
 */
extern void LocalityRemotePipelineSend(PGconn *conn, int n, const LocalityPipelineStep *steps,
									   const char *label);
extern PGresult **LocalityRemotePipelineCollect(PGconn *conn, int n, const char *label);

extern void LocalityInitRemote(void);

#endif							/* LOCALITY_SHIM_REMOTE_H */
