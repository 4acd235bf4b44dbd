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
 * LocalityHlcObserve: the apply worker's clock update before applying a
 * remote transaction stamped hlc (0: unstamped, ignored); 55000 when hlc is
 * more than locality.max_clock_skew ahead of this server's clock.
 */
extern void LocalityHlcObserve(uint64 hlc);

#endif							/* LOCALITY_SHIM_HLC_CLOCK_H */
