/*
 * breaker.h -- the gate every call from a client backend to another region
 * passes (src/shim/breaker.c): locality.enforce_home_region, and one circuit
 * breaker per (database, region) in shared memory, with the figures of the
 * view locality.region_status.
 *
 * remote.c asks LocalityRegionCallBegin before it connects or sends, and
 * reports each outcome with LocalityRegionCallEnd.  Local reads and writes
 * never come here.  Background workers (apply, initial sync, recovery of
 * in-doubt transactions) pass freely and are not counted: they have their
 * own retry and status, and must keep working for the region to heal.
 */
#ifndef LOCALITY_SHIM_BREAKER_H
#define LOCALITY_SHIM_BREAKER_H

#include "postgres.h"

/* GUCs (SPEC.md section 1). */
extern int	LocalityBreakerFailureThreshold;
extern int	LocalityBreakerResetTimeoutMs;
extern bool LocalityEnforceHomeRegion;

/*
 * LocalityRegionCallBegin: a call to region is about to connect or send.
 * Raises 55000 naming the region under locality.enforce_home_region, and
 * 08006 `region "x" is unavailable` (since when and why) while its breaker
 * is open.  Never raises while holding a lock.
 */
extern void LocalityRegionCallBegin(const char *region);

/*
 * LocalityRegionCallEnd: the call's outcome.  reached is false when it
 * could not connect, timed out or lost the connection (why says how); a
 * remote SQL error still reached the region.  rtt_us >= 0 is the round trip
 * of a successful statement.  Never raises: commit and abort paths call it.
 */
extern void LocalityRegionCallEnd(const char *region, bool reached, const char *why,
								  int64 rtt_us);

/* Defines the settings; when preloading, also asks for shared memory. */
extern void LocalityInitBreaker(void);

#endif							/* LOCALITY_SHIM_BREAKER_H */
