/*
 * hlc_clock.h -- this server's hybrid logical clock in shared memory
 * (src/shim/hlc_clock.c).
 */
#ifndef LOCALITY_SHIM_HLC_CLOCK_H
#define LOCALITY_SHIM_HLC_CLOCK_H

#include "postgres.h"

#include "locality_core.h"

/* GUC locality.max_clock_skew, milliseconds. */
extern int	LocalityMaxClockSkew;

/* Settings and shared memory (from LocalityInitStamps). */
extern void LocalityInitHlcClock(void);

/* now(): a stamp for a local commit, later than every stamp seen. */
extern uint64 LocalityHlcNow(void);

/*
 * LocalityHlcCommit: the stamp of a local commit.  *derived: the commit
 * timestamp stands for it (its millisecond, at least the value returned),
 * nothing to store; else a stamp from now(), to be stored
 * (docs/conflicts.md section 8).
 */
extern uint64 LocalityHlcCommit(bool *derived);

/* LocalityHlcWitness: the clock passes hlc, a derived stamp known at commit. */
extern void LocalityHlcWitness(uint64 hlc);

/*
 * LocalityHlcObserve: the apply worker's clock update before applying a
 * remote transaction stamped hlc (0: unstamped, ignored); 55000 when hlc is
 * more than locality.max_clock_skew ahead of this server's clock.
 */
extern void LocalityHlcObserve(uint64 hlc);

#endif							/* LOCALITY_SHIM_HLC_CLOCK_H */
